//! Shared arrangements: views joining a large table on its key, with and without an index on
//! that key. With the index, each view's join reads the index's arrangement; without it, each
//! view arranges the whole table again.
//!
//! ```sh
//! cargo build --release --bin riffle && cargo build --release -p riffle-benches
//! ./target/release/shared_arrangements 1000000 4     # dimension rows, views
//! ```
//!
//! For each setting: a fresh server, `dim (id, name, segment)` with N rows and `fact (dim_id,
//! amount)` with 100,000; then V materialized views `SELECT d.segment, sum(f.amount + i) FROM
//! fact f JOIN dim d ON f.dim_id = d.id GROUP BY d.segment`, each timed until it answers, with
//! the server's resident memory after each; then 10,000 new fact rows and 10,000 updated dim
//! rows, timed until the last view reflects them.

use riffle_benches::rss;
use riffle_tests::TestServer;
use std::time::Instant;

/// Runs `sql`, then reads `view`: the time until the view reflects the statement.
async fn timed(c: &tokio_postgres::Client, sql: &str, view: &str) -> std::time::Duration {
    let start = Instant::now();
    c.batch_execute(sql).await.unwrap();
    c.query_one(&format!("SELECT count(*) FROM {view}"), &[]).await.unwrap();
    start.elapsed()
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let dim_rows = args.first().copied().unwrap_or(1_000_000);
    let views = args.get(1).copied().unwrap_or(4);
    println!("{dim_rows} dim rows, 100,000 fact rows, {views} views joining fact to dim on dim.id");
    println!();
    println!("| index on dim (id) | view | ready after CREATE | server RSS after |");
    println!("|---|---|---|---|");
    let mut summary = Vec::new();
    for indexed in [false, true] {
        let server = TestServer::start();
        let pid = server.pid().expect("server pid");
        let c = server.connect().await;
        c.batch_execute(&format!(
            "CREATE TABLE dim (id bigint, name text, segment int);
             CREATE TABLE fact (dim_id bigint, amount bigint);
             INSERT INTO dim SELECT g, 'customer name ' || g, (g % 50)::int FROM generate_series(1, {dim_rows}) AS g;
             INSERT INTO fact SELECT g % {dim_rows}, g FROM generate_series(1, 100000) AS g;"
        ))
        .await
        .unwrap();
        if indexed {
            c.batch_execute("CREATE INDEX dim_id ON dim (id)").await.unwrap();
        }
        c.query_one("SELECT count(*) FROM dim", &[]).await.unwrap();
        let label = if indexed { "yes" } else { "no" };
        println!("| {label} | (tables loaded) | | {} |", mb(rss(pid)));
        let start_all = Instant::now();
        for i in 1..=views {
            let sql = format!(
                "CREATE MATERIALIZED VIEW v{i} AS SELECT d.segment, sum(f.amount + {i}) AS s FROM fact f JOIN dim d ON f.dim_id = d.id GROUP BY d.segment"
            );
            let took = timed(&c, &sql, &format!("v{i}")).await;
            println!("| {label} | v{i} | {:.0} ms | {} |", took.as_secs_f64() * 1e3, mb(rss(pid)));
        }
        let created = start_all.elapsed();
        let last = format!("v{views}");
        let facts = timed(
            &c,
            &format!("INSERT INTO fact SELECT g % {dim_rows}, g FROM generate_series(1, 10000) AS g"),
            &last,
        )
        .await;
        let every = (dim_rows / 10_000).max(1);
        let dims = timed(&c, &format!("UPDATE dim SET segment = segment + 1 WHERE id % {every} = 0"), &last).await;
        let reads: i64 = c
            .query_one("SELECT count(*) FROM riffle_dataflows WHERE reads_indexes = 'dim_id'", &[])
            .await
            .unwrap()
            .get(0);
        summary.push((label, created, facts, dims, rss(pid), reads));
    }
    println!();
    println!("| index on dim (id) | all views created | 10,000 fact inserts → last view | 10,000 dim updates → last view | final RSS | dataflows reading the index |");
    println!("|---|---|---|---|---|---|");
    for (label, created, facts, dims, rss, reads) in summary {
        println!(
            "| {label} | {:.0} ms | {:.0} ms | {:.0} ms | {} | {reads} |",
            created.as_secs_f64() * 1e3,
            facts.as_secs_f64() * 1e3,
            dims.as_secs_f64() * 1e3,
            mb(rss)
        );
    }
}
