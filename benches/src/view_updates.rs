//! Update latency of maintained views against recomputing them, for a multi-way join view, a
//! window-function view (issue 4's benchmark table), and a global `max`/`min` beside a count and
//! a top 10 of the whole table (the hierarchical reductions of issue 9).
//!
//! `cargo build --release --bin riffle && cargo run --release -p riffle-benches --bin view_updates [orders]`
//! Starts the release `riffle` binary on a temporary data directory and prints a table.

use riffle_benches::{load, ms, percentile};
use riffle_tests::TestServer;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// A view to measure: created with `options`, probed by `probe` (one bigint that every
/// `insert(i)` changes).
struct Case {
    name: String,
    options: String,
    query: String,
    probe: String,
    insert: Box<dyn Fn(i64) -> String>,
}

/// Times `runs` single-row inserts, each followed by the read that must see it, and `scratch`
/// runs of the view's query from scratch.
async fn measure(client: &Client, case: &Case, runs: i64, scratch_runs: usize) -> (String, Duration, Duration, Duration) {
    let Case {
        name,
        options,
        query,
        probe,
        insert,
    } = case;
    client
        .batch_execute(&format!("CREATE MATERIALIZED VIEW {name} {options} AS {query}"))
        .await
        .unwrap();
    client.query(probe, &[]).await.unwrap();
    let mut incremental = Vec::new();
    for i in 0..runs {
        let before: i64 = client.query_one(probe, &[]).await.unwrap().get(0);
        let start = Instant::now();
        client.batch_execute(&insert(i)).await.unwrap();
        let after: i64 = client.query_one(probe, &[]).await.unwrap().get(0);
        incremental.push(start.elapsed());
        assert_ne!(before, after, "{name}: the insert must change the probe");
    }
    let mut scratch = Vec::new();
    for _ in 0..scratch_runs {
        let start = Instant::now();
        client.query(query.as_str(), &[]).await.unwrap();
        scratch.push(start.elapsed());
    }
    // Every view on the table does its work on each insert (one worker): the next view's
    // latency must not include this one's.
    client.batch_execute(&format!("DROP MATERIALIZED VIEW {name}")).await.unwrap();
    (
        format!("{name} {options}").trim().to_string(),
        percentile(&mut incremental, 0.5),
        percentile(&mut incremental, 0.99),
        percentile(&mut scratch, 0.5),
    )
}

#[tokio::main]
async fn main() {
    let orders: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(300_000);
    let (customers, products) = (10_000, 1_000);
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE customers (id bigint NOT NULL, region text);
             CREATE TABLE products (id bigint NOT NULL, category text);
             CREATE TABLE orders (id bigint NOT NULL, customer_id bigint, product_id bigint, qty bigint)",
        )
        .await
        .unwrap();
    load(&client, "customers", customers, |i| format!("({i}, 'r{}')", i % 8)).await;
    load(&client, "products", products, |i| format!("({i}, 'c{}')", i % 16)).await;
    let load_start = Instant::now();
    load(&client, "orders", orders, |i| {
        format!("({i}, {}, {}, {})", i % customers, (i * 7) % products, i % 50)
    })
    .await;
    let load_time = load_start.elapsed();

    let next_id = orders as i64;
    // Each insert must change the probe's value; ids stay unique across cases.
    let case = |name: &str, options: &str, query: &str, probe: String, insert: Box<dyn Fn(i64) -> String>| Case {
        name: name.into(),
        options: options.into(),
        query: query.into(),
        probe,
        insert,
    };
    let half_max = "SELECT product_id % 2 AS half, max(id) AS top, count(*) AS n FROM orders GROUP BY 1";
    let cases = vec![
        case(
            "region_category",
            "",
            "SELECT c.region, p.category, sum(o.qty) AS qty, count(*) AS n FROM orders o JOIN customers c ON o.customer_id = c.id JOIN products p ON o.product_id = p.id GROUP BY c.region, p.category",
            "SELECT n FROM region_category WHERE region = 'r3' AND category = 'c5'".into(),
            Box::new(move |i| format!("INSERT INTO orders VALUES ({}, 3, 5, 1)", next_id + i)),
        ),
        case(
            "top_order",
            "",
            "SELECT customer_id, id, qty FROM (SELECT customer_id, id, qty, row_number() OVER (PARTITION BY customer_id ORDER BY qty DESC, id) AS rn FROM orders) x WHERE rn = 1",
            "SELECT qty FROM top_order WHERE customer_id = 7".into(),
            Box::new(move |i| format!("INSERT INTO orders VALUES ({}, 7, 1, {})", next_id + 1000 + i, 100 + i)),
        ),
        // Aggregates over the whole table: one group of every order.
        case(
            "latest_order",
            "",
            "SELECT max(id) AS last_id, min(qty) AS min_qty, count(*) AS n FROM orders",
            "SELECT last_id FROM latest_order".into(),
            Box::new(move |i| format!("INSERT INTO orders VALUES ({}, 9, 2, 1)", next_id + 2000 + i)),
        ),
        case(
            "top10_qty",
            "",
            "SELECT id, qty FROM orders ORDER BY qty DESC, id LIMIT 10",
            "SELECT max(qty) FROM top10_qty".into(),
            Box::new(move |i| format!("INSERT INTO orders VALUES ({}, 11, 3, {})", next_id + 3000 + i, 1000 + i)),
        ),
        // Two groups of half the orders each (distinct ids: a group holds 150,000 values),
        // reduced directly and in buckets.
        case(
            "half_max",
            "",
            half_max,
            "SELECT top FROM half_max WHERE half = 1".into(),
            Box::new(move |i| format!("INSERT INTO orders VALUES ({}, 13, 3, 1)", next_id + 100_000 + i)),
        ),
        case(
            "half_max_b",
            "WITH (EXPECTED GROUP SIZE 200000)",
            half_max,
            "SELECT top FROM half_max_b WHERE half = 1".into(),
            Box::new(move |i| format!("INSERT INTO orders VALUES ({}, 13, 3, 1)", next_id + 200_000 + i)),
        ),
    ];
    let mut results = Vec::new();
    for c in &cases {
        results.push(measure(&client, c, 30, 3).await);
    }
    println!(
        "orders: {orders}, customers: {customers}, products: {products}, load: {:.1} s",
        load_time.as_secs_f64()
    );
    println!();
    println!("| view | INSERT → visible p50 | p99 | recompute from scratch p50 | ratio |");
    println!("|---|---|---|---|---|");
    for (name, p50, p99, scratch) in results {
        println!(
            "| {name} | {} | {} | {} | {:.0}x |",
            ms(p50),
            ms(p99),
            ms(scratch),
            scratch.as_secs_f64() / p50.as_secs_f64()
        );
    }
}
