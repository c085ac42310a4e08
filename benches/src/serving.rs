//! Serving a feature view: keyed lookups on an indexed materialized view (p50/p99 latency, and
//! queries/s with concurrent clients), and filtered reads of the table that no index serves (on
//! its first column, a seek; on another, a scan).
//!
//! `cargo build --release --bin riffle && cargo run --release -p riffle-benches --bin serving`

use riffle_benches::{load, ms, percentile};
use riffle_tests::TestServer;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let (events, users) = (200_000usize, 10_000usize);
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE events (user_id bigint, amount bigint)")
        .await
        .unwrap();
    load(&client, "events", events, |i| format!("({}, {})", i % users, i % 100)).await;
    client
        .batch_execute(
            "CREATE MATERIALIZED VIEW user_features AS SELECT user_id, count(*) AS n, sum(amount) AS total FROM events GROUP BY user_id;
             CREATE INDEX user_features_user ON user_features (user_id)",
        )
        .await
        .unwrap();
    let lookup = client
        .prepare("SELECT n, total FROM user_features WHERE user_id = $1")
        .await
        .unwrap();
    client.query_one(&lookup, &[&0i64]).await.unwrap();

    // Sequential lookups.
    let mut latencies = Vec::new();
    for i in 0..2000i64 {
        let start = Instant::now();
        let row = client.query_one(&lookup, &[&(i * 7 % users as i64)]).await.unwrap();
        latencies.push(start.elapsed());
        assert!(row.get::<_, i64>(0) > 0);
    }
    // Concurrent clients for a fixed time.
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut tasks = Vec::new();
    for c in 0..8i64 {
        let conn = server.connect().await;
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let stmt = conn.prepare("SELECT n, total FROM user_features WHERE user_id = $1").await.unwrap();
            let mut i = c;
            while Instant::now() < deadline {
                conn.query_one(&stmt, &[&(i % 10_000)]).await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
                i += 13;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let qps = done.load(Ordering::Relaxed) as f64 / 5.0;

    // Filtered reads of the table, which no index serves: on its first column the workers
    // seek to the rows (the arrangement is ordered by whole rows), on another they scan.
    let seek = client.prepare("SELECT amount FROM events WHERE user_id = $1").await.unwrap();
    let scan = client.prepare("SELECT user_id FROM events WHERE amount = $1").await.unwrap();
    let (mut seeks, mut scans) = (Vec::new(), Vec::new());
    for i in 0..50i64 {
        let start = Instant::now();
        let rows = client.query(&seek, &[&(i * 31 % users as i64)]).await.unwrap();
        seeks.push(start.elapsed());
        assert_eq!(rows.len(), events / users);
        let start = Instant::now();
        let rows = client.query(&scan, &[&(i % 100)]).await.unwrap();
        scans.push(start.elapsed());
        assert_eq!(rows.len(), events / 100);
    }

    println!("| measurement | value |");
    println!("|---|---|");
    println!("| events / users | {events} / {users} |");
    println!(
        "| keyed lookup on indexed view, p50 (2000 sequential) | {} |",
        ms(percentile(&mut latencies, 0.5))
    );
    println!("| keyed lookup on indexed view, p99 | {} |", ms(percentile(&mut latencies, 0.99)));
    println!("| keyed lookups/s, 8 concurrent clients | {qps:.0} |");
    println!(
        "| read by the table's first column ({events} rows, no index: a seek), p50 / p99 | {} / {} |",
        ms(percentile(&mut seeks, 0.5)),
        ms(percentile(&mut seeks, 0.99))
    );
    println!(
        "| read filtering another column (a scan of {events} rows), p50 / p99 | {} / {} |",
        ms(percentile(&mut scans, 0.5)),
        ms(percentile(&mut scans, 0.99))
    );
}
