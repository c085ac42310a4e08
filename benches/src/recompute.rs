//! Recompute vs. incremental: as a table grows step by step, how long until each system
//! answers two views with a small new batch included. Riffle maintains them; PostgreSQL 15 either
//! refreshes materialized views (`REFRESH MATERIALIZED VIEW`) or runs the queries; DuckDB
//! (from pip, driven by `benches/recompute_duckdb.py`) runs the queries. All in one run, on
//! the same rows.
//!
//! ```sh
//! eval "$(dev/pg.sh)"; export RIFFLE_TEST_PG; pip install duckdb
//! cargo build --release --bin riffle && cargo build --release -p riffle-benches
//! ./target/release/recompute [--batch 100000] [--batches 10] [--delta 1000] [--csv docs/bench/recompute.csv]
//! ```
//!
//! Views: `seg_revenue` (orders joined with 10,000 customers, grouped into 20 segments) and
//! `user_totals` (count and sum per customer, 10,000 groups). Each step first grows the table
//! by `--batch` rows (not timed), then writes `--delta` more rows — the change a live system
//! sees — and times that: the load (COPY for Riffle and PostgreSQL, `INSERT … SELECT FROM
//! range()` in-process for DuckDB) and the answer (both views read with every row counted).

use riffle_tests::TestServer;
use std::fmt::Write as _;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

const CUSTOMERS: usize = 10_000;
const SEG_REVENUE: &str = "SELECT c.segment, count(*) AS orders, sum(o.amount) AS revenue FROM orders o JOIN customers c ON o.customer_id = c.id GROUP BY c.segment";
const USER_TOTALS: &str = "SELECT customer_id, count(*) AS n, sum(amount) AS total FROM orders GROUP BY customer_id";

fn copy_text(from: usize, to: usize) -> String {
    let mut text = String::new();
    for i in from..to {
        let _ = writeln!(text, "{i}\t{}\t{}", i % CUSTOMERS, (i * 7) % 1000);
    }
    text
}

async fn copy(client: &Client, table: &str, text: String) {
    riffle_benches::copy_in(client, &format!("COPY {table} FROM STDIN"), text).await;
}

async fn setup(client: &Client, materialized: bool) {
    let customers: String = (0..CUSTOMERS).map(|i| format!("{i}\tseg{}\n", i % 20)).collect();
    client
        .batch_execute("CREATE TABLE customers (id bigint NOT NULL, segment text); CREATE TABLE orders (id bigint NOT NULL, customer_id bigint, amount bigint)")
        .await
        .unwrap();
    copy(client, "customers", customers).await;
    if materialized {
        client
            .batch_execute(&format!(
                "CREATE MATERIALIZED VIEW seg_revenue AS {SEG_REVENUE}; CREATE MATERIALIZED VIEW user_totals AS {USER_TOTALS}"
            ))
            .await
            .unwrap();
    }
}

/// Reads both answers whole, as a dashboard would, and totals the orders each counted (each
/// must equal the rows loaded).
async fn read_counts(client: &Client, seg: &str, users: &str) -> (i64, i64) {
    let total = |rows: Vec<tokio_postgres::Row>, col: usize| rows.iter().map(|r| r.get::<_, i64>(col)).sum::<i64>();
    let a = total(client.query(seg, &[]).await.unwrap(), 1);
    let b = total(client.query(users, &[]).await.unwrap(), 1);
    (a, b)
}

struct Step {
    rows: usize,
    load: Duration,
    answer: Duration,
}

/// Row ids of step `b`: the growth `[from, mid)` (untimed) and the timed delta `[mid, to)`.
fn step_ranges(b: usize, batch: usize, delta: usize) -> (usize, usize, usize) {
    let from = b * (batch + delta);
    (from, from + batch, from + batch + delta)
}

async fn riffle(batch: usize, batches: usize, delta: usize) -> Vec<Step> {
    let server = TestServer::start();
    let client = server.connect().await;
    setup(&client, true).await;
    let mut steps = Vec::new();
    for b in 0..batches {
        let (from, mid, to) = step_ranges(b, batch, delta);
        copy(&client, "orders", copy_text(from, mid)).await;
        read_counts(&client, "SELECT * FROM seg_revenue", "SELECT * FROM user_totals").await;
        let start = Instant::now();
        copy(&client, "orders", copy_text(mid, to)).await;
        let loaded = Instant::now();
        let counts = read_counts(&client, "SELECT * FROM seg_revenue", "SELECT * FROM user_totals").await;
        assert_eq!(counts, (to as i64, to as i64));
        steps.push(Step {
            rows: to,
            load: loaded - start,
            answer: loaded.elapsed(),
        });
    }
    steps
}

async fn postgres(pg: &str, batch: usize, batches: usize, delta: usize, refresh: bool) -> Vec<Step> {
    let (admin, conn) = tokio_postgres::connect(&format!("{pg} dbname=postgres"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin.batch_execute("DROP DATABASE IF EXISTS riffle_recompute").await.unwrap();
    admin.batch_execute("CREATE DATABASE riffle_recompute").await.unwrap();
    let (client, conn) = tokio_postgres::connect(&format!("{pg} dbname=riffle_recompute"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    setup(&client, refresh).await;
    let mut steps = Vec::new();
    for b in 0..batches {
        let (from, mid, to) = step_ranges(b, batch, delta);
        copy(&client, "orders", copy_text(from, mid)).await;
        client.batch_execute("ANALYZE orders").await.unwrap();
        let start = Instant::now();
        copy(&client, "orders", copy_text(mid, to)).await;
        let loaded = Instant::now();
        let counts = if refresh {
            client
                .batch_execute("REFRESH MATERIALIZED VIEW seg_revenue; REFRESH MATERIALIZED VIEW user_totals")
                .await
                .unwrap();
            read_counts(&client, "SELECT * FROM seg_revenue", "SELECT * FROM user_totals").await
        } else {
            read_counts(&client, SEG_REVENUE, USER_TOTALS).await
        };
        assert_eq!(counts, (to as i64, to as i64));
        steps.push(Step {
            rows: to,
            load: loaded - start,
            answer: loaded.elapsed(),
        });
    }
    drop(client);
    let _ = admin.batch_execute("DROP DATABASE IF EXISTS riffle_recompute").await;
    steps
}

/// DuckDB through `benches/recompute_duckdb.py`: one line `rows,load_s,answer_s` per batch.
fn duckdb(batch: usize, batches: usize, delta: usize) -> Option<Vec<Step>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/recompute_duckdb.py");
    let out = std::process::Command::new("python3")
        .args([script, &batch.to_string(), &batches.to_string(), &delta.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("duckdb: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                Some(Step {
                    rows: f.first()?.parse().ok()?,
                    load: Duration::from_secs_f64(f.get(1)?.parse().ok()?),
                    answer: Duration::from_secs_f64(f.get(2)?.parse().ok()?),
                })
            })
            .collect(),
    )
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// Recompute vs. incremental: the same views in Riffle, PostgreSQL and DuckDB as data grows
/// (see the module docs).
#[derive(clap::Parser)]
#[command(name = "recompute")]
struct Args {
    /// Rows added to the table per step.
    #[arg(long, default_value_t = 100_000)]
    batch: usize,
    /// Steps.
    #[arg(long, default_value_t = 10)]
    batches: usize,
    /// New rows after each step whose fresh answer is timed.
    #[arg(long, default_value_t = 1000)]
    delta: usize,
    /// Write the table as CSV to this file.
    #[arg(long)]
    csv: Option<String>,
}

#[tokio::main]
async fn main() {
    let Args {
        batch,
        batches,
        delta,
        csv: csv_path,
    } = <Args as clap::Parser>::parse();
    let mut systems: Vec<(&str, Vec<Step>)> = vec![("Riffle (maintained)", riffle(batch, batches, delta).await)];
    match std::env::var("RIFFLE_TEST_PG") {
        Ok(pg) => {
            systems.push((
                "PostgreSQL REFRESH MATERIALIZED VIEW",
                postgres(&pg, batch, batches, delta, true).await,
            ));
            systems.push(("PostgreSQL query", postgres(&pg, batch, batches, delta, false).await));
        }
        Err(_) => eprintln!("RIFFLE_TEST_PG is not set (eval \"$(dev/pg.sh)\"); PostgreSQL left out"),
    }
    match duckdb(batch, batches, delta) {
        Some(steps) => systems.push(("DuckDB query", steps)),
        None => eprintln!("DuckDB left out (pip install duckdb)"),
    }
    let header: Vec<&str> = systems.iter().map(|(n, _)| *n).collect();
    println!("Time to a fresh answer of both views after {delta} new rows, as the table grows by {batch} rows a step (ms, load + answer):");
    println!();
    println!("| rows | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(header.len()));
    let mut csv = String::from("system,rows,load_ms,answer_ms\n");
    for i in 0..batches {
        let cells: Vec<String> = systems
            .iter()
            .map(|(_, steps)| steps.get(i).map_or("-".into(), |s| format!("{} + {}", ms(s.load), ms(s.answer))))
            .collect();
        println!("| {} | {} |", step_ranges(i, batch, delta).2, cells.join(" | "));
    }
    for (name, steps) in &systems {
        for s in steps {
            let _ = writeln!(csv, "{name},{},{},{}", s.rows, ms(s.load), ms(s.answer));
        }
    }
    if let Some(path) = csv_path {
        std::fs::write(&path, csv).expect("write the CSV");
        eprintln!("wrote {path}");
    }
}
