//! Freshness: latency from an INSERT to its change arriving at a SUBSCRIBE client, at fixed
//! input rates.
//!
//! Inserter connections send multi-row INSERTs on a fixed schedule (`rows per statement` ×
//! statements/s = the target rate). Each row carries the time it was *scheduled* to be sent
//! (not when it actually went out, so a stalled sender shows up as latency instead of hiding it),
//! and a subscriber on a materialized view over the table measures, for every row, the time from
//! that schedule to the row's arrival in its COPY stream. Acknowledgement latency (the INSERT's
//! round trip: the synced RocksDB write plus the dataflow input) is reported alongside.
//!
//! `cargo build --release --bin riffle && cargo build --release -p riffle-benches && ./target/release/freshness [seconds] [CSV]`
//! (with a CSV path, also `rate,achieved,p50_ms,p99_ms,p999_ms` per rate, for `benches/plot.py freshness`).

use futures::StreamExt;
use riffle_benches::{ms, percentile};
use riffle_tests::TestServer;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_micros() as i64
}

struct Run {
    rate: usize,
    achieved: f64,
    freshness: Vec<Duration>,
    acks: Vec<Duration>,
}

async fn run(server: &TestServer, run_no: usize, rate: usize, rows_per_stmt: usize, senders: usize, seconds: u64) -> Run {
    let table = format!("events_{run_no}");
    let view = format!("doubled_{run_no}");
    let admin = server.connect().await;
    admin
        .batch_execute(&format!(
            "CREATE TABLE {table} (id bigint, sent_us bigint, amount bigint);
             CREATE MATERIALIZED VIEW {view} AS SELECT id, sent_us, amount * 2 AS doubled FROM {table} WHERE amount >= 0"
        ))
        .await
        .unwrap();

    // The subscriber: every row's latency from its scheduled send time to its arrival.
    let watcher = server.connect().await;
    let stream = watcher
        .copy_out(&format!("SUBSCRIBE {view} WITH (SNAPSHOT = false)"))
        .await
        .unwrap();
    let freshness = Arc::new(Mutex::new(Vec::new()));
    let expected = rate * seconds as usize;
    let seen = freshness.clone();
    let subscriber = tokio::spawn(async move {
        let mut stream = Box::pin(stream);
        while let Ok(Some(Ok(bytes))) = tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
            let arrived = now_us();
            let line = std::str::from_utf8(&bytes).unwrap();
            let sent: i64 = line.split('\t').nth(3).unwrap().parse().unwrap();
            let mut seen = seen.lock().unwrap();
            if std::env::var("FRESHNESS_TRACE").is_ok() && (arrived - sent) > 50_000 {
                eprintln!("late row at {} ms: {} ms", (arrived / 1000) % 100_000, (arrived - sent) / 1000);
            }
            seen.push(Duration::from_micros((arrived - sent).max(0) as u64));
            if seen.len() >= expected {
                break;
            }
        }
    });

    // Senders: each sends every `period`, offset so that statements are evenly spread.
    let stmts_per_sec = rate as f64 / rows_per_stmt as f64;
    let period = Duration::from_secs_f64(senders as f64 / stmts_per_sec);
    let per_sender = (stmts_per_sec * seconds as f64 / senders as f64).round() as usize;
    let start = Instant::now() + Duration::from_millis(200);
    let start_us = now_us() + 200_000;
    let mut tasks = Vec::new();
    for s in 0..senders {
        let conn = server.connect().await;
        let table = table.clone();
        tasks.push(tokio::spawn(async move {
            let offset = period.mul_f64(s as f64 / senders as f64);
            let mut acks = Vec::with_capacity(per_sender);
            for k in 0..per_sender {
                let due = offset + period * k as u32;
                tokio::time::sleep_until((start + due).into()).await;
                let scheduled_us = start_us + due.as_micros() as i64;
                let values: Vec<String> = (0..rows_per_stmt)
                    .map(|r| format!("({}, {scheduled_us}, {})", (s * per_sender + k) * rows_per_stmt + r, r))
                    .collect();
                let sent = Instant::now();
                conn.batch_execute(&format!("INSERT INTO {table} VALUES {}", values.join(",")))
                    .await
                    .unwrap();
                acks.push(sent.elapsed());
            }
            acks
        }));
    }
    let mut acks = Vec::new();
    for t in tasks {
        acks.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let sent_rows = acks.len() * rows_per_stmt;
    let _ = tokio::time::timeout(Duration::from_secs(30), subscriber).await;
    let freshness = std::mem::take(&mut *freshness.lock().unwrap());
    assert_eq!(freshness.len(), sent_rows, "every inserted row reaches the subscriber");
    Run {
        rate,
        achieved: sent_rows as f64 / elapsed,
        freshness,
        acks,
    }
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::args().nth(1).map(|s| s.parse().expect("seconds")).unwrap_or(10);
    let server = TestServer::start();
    let (rows_per_stmt, senders) = (10, 4);
    let mut runs = Vec::new();
    for (i, rate) in [1_000usize, 5_000, 10_000].into_iter().enumerate() {
        runs.push(run(&server, i, rate, rows_per_stmt, senders, seconds).await);
    }
    println!("{rows_per_stmt} rows per INSERT, {senders} inserting connections, {seconds} s per rate, SUBSCRIBE on a materialized view");
    println!();
    println!("| target rows/s | achieved rows/s | freshness p50 | p99 | p99.9 | max | INSERT ack p50 | ack p99 |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut csv = String::from("rate,achieved,p50_ms,p99_ms,p999_ms\n");
    for mut r in runs {
        let q = |f: &mut Vec<Duration>, p: f64| percentile(f, p).as_secs_f64() * 1e3;
        csv.push_str(&format!(
            "{},{:.0},{:.3},{:.3},{:.3}\n",
            r.rate,
            r.achieved,
            q(&mut r.freshness, 0.5),
            q(&mut r.freshness, 0.99),
            q(&mut r.freshness, 0.999)
        ));
        println!(
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            r.rate,
            r.achieved,
            ms(percentile(&mut r.freshness, 0.5)),
            ms(percentile(&mut r.freshness, 0.99)),
            ms(percentile(&mut r.freshness, 0.999)),
            ms(percentile(&mut r.freshness, 1.0)),
            ms(percentile(&mut r.acks, 0.5)),
            ms(percentile(&mut r.acks, 0.99)),
        );
    }
    if let Some(path) = std::env::args().nth(2) {
        std::fs::write(&path, csv).expect("write the CSV");
        eprintln!("wrote {path}");
    }
}
