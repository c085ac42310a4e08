//! SQLite's sqllogictest corpus (tests/sqlite/select1–5) ad hoc, Riffle beside PostgreSQL 15 in
//! one run: each file's statements, then every query timed one after another on one
//! connection, each answer checked against the file. select5's joins of four to sixty-four
//! 10-row tables are where join order decides everything: written FROM order built cross
//! products for seconds to minutes per query before Riffle ordered joins from the join graph.
//!
//! ```sh
//! eval "$(dev/pg.sh)"; export RIFFLE_TEST_PG
//! cargo build --release --bin riffle && cargo build --release -p riffle-benches
//! ./target/release/sqlite_corpus [--workers 1] [--files select4,select5] [--csv docs/bench/sqlite_corpus.csv]
//! ```

use riffle_benches::{ms, percentile};
use riffle_tests::sqllogic::{check, created_table, parse, Record};
use riffle_tests::TestServer;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

async fn rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect()
}

/// Runs one file on `client`: its statements untimed, then each query timed and checked.
async fn run_file(client: &Client, path: &PathBuf) -> Vec<Duration> {
    let text = std::fs::read_to_string(path).expect("corpus file");
    let mut times = Vec::new();
    let mut tables = Vec::new();
    for record in parse(&text) {
        match record {
            Record::Statement { sql, .. } => {
                client.batch_execute(&sql).await.unwrap_or_else(|e| panic!("`{sql}`: {e}"));
                tables.extend(created_table(&sql));
            }
            Record::Query(q) => {
                let start = Instant::now();
                let answer = rows(client, &q.sql).await;
                times.push(start.elapsed());
                if let Err(e) = check(&q, &answer) {
                    panic!("{}:{}: {e}", path.display(), q.line);
                }
            }
        }
    }
    for t in tables {
        client.batch_execute(&format!("DROP TABLE {t} CASCADE")).await.unwrap();
    }
    times
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let workers = arg("--workers").unwrap_or_else(|| "1".into());
    let files = arg("--files").unwrap_or_else(|| "select1,select2,select3,select4,select5".into());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/sqlite");
    let files: Vec<(String, PathBuf)> = files.split(',').map(|f| (f.to_string(), dir.join(format!("{f}.test")))).collect();

    let server = TestServer::start_with(&["--workers", &workers]);
    let riffle = server.connect().await;
    let pg = match std::env::var("RIFFLE_TEST_PG") {
        Ok(base) => {
            let (admin, conn) = tokio_postgres::connect(&format!("{base} dbname=postgres"), NoTls)
                .await
                .expect("PostgreSQL");
            tokio::spawn(conn);
            admin.batch_execute("DROP DATABASE IF EXISTS sqlite_corpus").await.unwrap();
            admin.batch_execute("CREATE DATABASE sqlite_corpus").await.unwrap();
            let (client, conn) = tokio_postgres::connect(&format!("{base} dbname=sqlite_corpus"), NoTls)
                .await
                .expect("PostgreSQL");
            tokio::spawn(conn);
            Some(client)
        }
        Err(_) => {
            eprintln!("RIFFLE_TEST_PG is not set: Riffle only");
            None
        }
    };
    let mut csv = String::from("file,system,queries,total_s,p50_ms,p99_ms,max_ms\n");
    println!(
        "{:<8} {:<11} {:>7} {:>9} {:>8} {:>8} {:>9}",
        "file", "system", "queries", "total s", "p50 ms", "p99 ms", "max ms"
    );
    for (name, path) in &files {
        let mut systems: Vec<(&str, &Client)> = vec![("riffle", &riffle)];
        if let Some(pg) = &pg {
            systems.push(("postgresql", pg));
        }
        for (system, client) in systems {
            let mut times = run_file(client, path).await;
            let total: Duration = times.iter().sum();
            let (p50, p99) = (percentile(&mut times, 0.5), percentile(&mut times, 0.99));
            let max = times.iter().max().copied().unwrap_or_default();
            println!(
                "{name:<8} {system:<11} {:>7} {:>9.2} {:>8} {:>8} {:>9}",
                times.len(),
                total.as_secs_f64(),
                ms(p50),
                ms(p99),
                ms(max)
            );
            csv.push_str(&format!(
                "{name},{system},{},{:.3},{:.3},{:.3},{:.3}\n",
                times.len(),
                total.as_secs_f64(),
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3,
                max.as_secs_f64() * 1e3
            ));
        }
    }
    if let Some(path) = arg("--csv") {
        std::fs::write(&path, csv).expect("write CSV");
        eprintln!("wrote {path}");
    }
}
