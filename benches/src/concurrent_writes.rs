//! Concurrent writers: single-row INSERTs from many connections at once, each acknowledged
//! after its synced durable write. Shows what group commit buys (one `fsync` for every write
//! that queued up during the previous one): the same runs with grouping off
//! (`RIFFLE_MAX_WRITE_GROUP=1`, one sync per statement) and on, in one invocation.
//!
//! ```sh
//! cargo build --release --bin riffle && cargo build --release -p riffle-benches
//! ./target/release/concurrent_writes [seconds per run]
//! ```

use riffle_benches::{ms, percentile};
use riffle_tests::TestServer;
use std::time::{Duration, Instant};

async fn run(server: &TestServer, table: &str, clients: usize, seconds: u64) -> (f64, Vec<Duration>) {
    let admin = server.connect().await;
    admin
        .batch_execute(&format!(
            "CREATE TABLE {table} (id bigint, client bigint); CREATE MATERIALIZED VIEW {table}_n AS SELECT client, count(*) AS n FROM {table} GROUP BY client"
        ))
        .await
        .unwrap();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let conn = server.connect().await;
        let table = table.to_string();
        tasks.push(tokio::spawn(async move {
            let stmt = conn.prepare(&format!("INSERT INTO {table} VALUES ($1, $2)")).await.unwrap();
            let mut acks = Vec::new();
            let mut i = 0i64;
            while Instant::now() < deadline {
                let t = Instant::now();
                conn.execute(&stmt, &[&i, &(c as i64)]).await.unwrap();
                acks.push(t.elapsed());
                i += 1;
            }
            acks
        }));
    }
    let mut acks = Vec::new();
    for t in tasks {
        acks.extend(t.await.unwrap());
    }
    let rate = acks.len() as f64 / start.elapsed().as_secs_f64();
    let n: i64 = admin
        .query_one(&format!("SELECT sum(n)::bigint FROM {table}_n"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n as usize, acks.len(), "every acknowledged insert is in the view");
    (rate, acks)
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args().nth(1).map_or(5, |s| s.parse().expect("seconds"));
    println!("single-row INSERTs (prepared), {seconds} s per run, one timely worker");
    println!();
    println!("| group commit | clients | INSERTs/s | ack p50 | ack p99 |");
    println!("|---|---|---|---|---|");
    for (label, group) in [("off", "1"), ("on", "256")] {
        std::env::set_var("RIFFLE_MAX_WRITE_GROUP", group);
        let server = TestServer::start();
        for (i, clients) in [1usize, 4, 16, 64].into_iter().enumerate() {
            let (rate, mut acks) = run(&server, &format!("w{i}"), clients, seconds).await;
            println!(
                "| {label} | {clients} | {rate:.0} | {} | {} |",
                ms(percentile(&mut acks, 0.5)),
                ms(percentile(&mut acks, 0.99))
            );
        }
    }
}
