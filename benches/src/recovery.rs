//! Recovery: time from starting `riffle` on a data directory with N updates in its log until
//! it serves a read of a materialized view over them.
//!
//! ```sh
//! cargo build --release --bin riffle && cargo build --release -p riffle-benches
//! ./target/release/recovery 1000000 10000000
//! ```
//!
//! For each N: a fresh server, a table `events (id, user_id, amount)` with a view counting and
//! summing per user (10,000 users), N rows loaded with COPY (100,000 per statement, each one
//! durable write), the process killed with SIGKILL; then a new process on the same directory,
//! timed until it accepts connections (log replayed, dataflows installed) and until the view
//! answers. Peak RSS of the recovering process is reported too.

use riffle_benches::peak_rss;
use riffle_tests::TestServer;
use std::fmt::Write as _;
use std::time::Instant;

const CHUNK: usize = 100_000;
const USERS: usize = 10_000;

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1_000_000] } else { sizes };
    println!("| updates in the log | load (COPY) | start → accepting connections | start → view answers | rows/s replayed | peak RSS |");
    println!("|---|---|---|---|---|---|");
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let mut server = TestServer::start_in(dir.path(), &[]);
        let client = server.connect().await;
        client
            .batch_execute(
                "CREATE TABLE events (id bigint NOT NULL, user_id bigint, amount bigint);
                 CREATE MATERIALIZED VIEW per_user AS SELECT user_id, count(*) AS n, sum(amount) AS total FROM events GROUP BY user_id",
            )
            .await
            .unwrap();
        let load = Instant::now();
        let mut id = 0;
        while id < n {
            let mut text = String::new();
            for i in id..(id + CHUNK).min(n) {
                let _ = writeln!(text, "{i}\t{}\t{}", i % USERS, i % 1000);
            }
            riffle_benches::copy_in(&client, "COPY events FROM STDIN", text).await;
            id += CHUNK;
        }
        let loaded = load.elapsed();
        drop(client);
        server.kill9();
        let start = Instant::now();
        let server = TestServer::start_in(dir.path(), &[]);
        let accepting = start.elapsed();
        let client = server.connect().await;
        let count: i64 = client.query_one("SELECT sum(n)::bigint FROM per_user", &[]).await.unwrap().get(0);
        let answered = start.elapsed();
        assert_eq!(count as usize, n, "every acknowledged row is back");
        println!(
            "| {n} | {:.1} s | {:.2} s | {:.2} s | {:.0} | {} MB |",
            loaded.as_secs_f64(),
            accepting.as_secs_f64(),
            answered.as_secs_f64(),
            n as f64 / answered.as_secs_f64(),
            server.pid().map_or(0, peak_rss) / 1_000_000
        );
    }
}
