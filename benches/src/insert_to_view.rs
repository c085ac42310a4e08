//! How long one INSERT takes to become visible in a materialized join + aggregate view over
//! 1,000,000 rows, against re-running the same query from scratch.
//!
//! `cargo build --release --bin riffle && cargo run --release -p riffle-benches --bin insert_to_view [rows]`
//! Starts the release `riffle` binary on a temporary data directory and prints a table.

use riffle_benches::{load, ms, percentile};
use riffle_tests::TestServer;
use std::time::Instant;

const VIEW_QUERY: &str = "SELECT c.segment, count(*) AS orders, sum(o.amount) AS revenue \
                          FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.segment";

#[tokio::main]
async fn main() {
    let rows: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let customers = 10_000;
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE customers (id bigint NOT NULL, segment text); CREATE TABLE orders (id bigint NOT NULL, customer_id bigint, amount bigint)")
        .await
        .unwrap();
    let load_start = Instant::now();
    load(&client, "customers", customers, |i| format!("({i}, 'seg{}')", i % 20)).await;
    load(&client, "orders", rows, |i| format!("({i}, {}, {})", i % customers, i % 97)).await;
    let load_time = load_start.elapsed();
    let create = Instant::now();
    client
        .batch_execute(&format!("CREATE MATERIALIZED VIEW seg_revenue AS {VIEW_QUERY}"))
        .await
        .unwrap();
    // The first read waits for the view's initial computation.
    client.query("SELECT * FROM seg_revenue", &[]).await.unwrap();
    let create_time = create.elapsed();

    // Incremental: insert one order, read the view until the change is visible.
    let mut incremental = Vec::new();
    for i in 0..50i64 {
        let id = rows as i64 + i;
        let start = Instant::now();
        client.execute("INSERT INTO orders VALUES ($1, 7, 1000000)", &[&id]).await.unwrap();
        loop {
            let row = client
                .query_one("SELECT orders FROM seg_revenue WHERE segment = 'seg7'", &[])
                .await
                .unwrap();
            let n: i64 = row.get(0);
            if n as usize == rows / 20 + (i as usize) + 1 {
                break;
            }
        }
        incremental.push(start.elapsed());
    }
    // From scratch: the same query as an ad-hoc SELECT (a transient dataflow over the tables).
    let mut scratch = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let result = client.query(VIEW_QUERY, &[]).await.unwrap();
        assert_eq!(result.len(), 20);
        scratch.push(start.elapsed());
    }
    let inc_p50 = percentile(&mut incremental, 0.5);
    let inc_p99 = percentile(&mut incremental, 0.99);
    let scratch_p50 = percentile(&mut scratch, 0.5);
    println!("| measurement | value |");
    println!("|---|---|");
    println!("| rows in orders / customers | {rows} / {customers} |");
    println!(
        "| bulk load (INSERT VALUES, 10k rows per statement) | {:.1} s |",
        load_time.as_secs_f64()
    );
    println!("| CREATE MATERIALIZED VIEW + first read | {} |", ms(create_time));
    println!("| INSERT → visible in view, p50 (50 runs) | {} |", ms(inc_p50));
    println!("| INSERT → visible in view, p99 (50 runs) | {} |", ms(inc_p99));
    println!("| same query from scratch, p50 (5 runs) | {} |", ms(scratch_p50));
    println!(
        "| ratio from-scratch / incremental (p50) | {:.0}x |",
        scratch_p50.as_secs_f64() / inc_p50.as_secs_f64()
    );
}
