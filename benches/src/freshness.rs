//! Freshness: latency from an INSERT to its change arriving at a SUBSCRIBE client, at fixed
//! input rates.
//!
//! Inserter connections send multi-row INSERTs on a fixed schedule (`rows per statement` ×
//! statements/s = the target rate). Each row carries the time it was *scheduled* to be sent
//! (not when it actually went out, so a stalled sender shows up as latency instead of hiding it),
//! and a subscriber on a materialized view over the table measures, for every row, the time from
//! that schedule to the row's arrival in its COPY stream. Acknowledgement latency (the INSERT's
//! round trip: the synced RocksDB write plus the dataflow input) is reported alongside, and so
//! is each row's latency from its statement's acknowledgement to its arrival ("after ack", the
//! issue's definition of freshness; 0 when the row arrived before the client saw the ack).
//!
//! With `--feed kafka` the rows are produced instead to a Kafka topic (groups of 10 records on
//! the same schedule, each acknowledged by the broker) read by a JSON source under the view, so
//! freshness is from the scheduled produce to the subscriber; "ack" is then the broker's.
//!
//! `cargo build --release --bin riffle && cargo build --release -p riffle-benches && ./target/release/freshness [--seconds 10] [--feed insert|kafka] [--csv FILE]`
//! (`FRESHNESS_TRACE=ms` logs every row, send and acknowledgement later than `ms`, to find stalls.)
//! (`--csv` also writes `rate,achieved,p50_ms,p99_ms,p999_ms,after_ack_p50_ms,after_ack_p99_ms,after_ack_p999_ms`
//! per rate, for `benches/plot.py freshness`; `--rates 1000,10000` picks the rates.)

use futures::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
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
    /// From each row's statement's acknowledgement to the row's arrival.
    after_ack: Vec<Duration>,
    acks: Vec<Duration>,
    /// Rows the broker never delivered (Kafka feed only).
    lost: usize,
}

/// Where rows are written: INSERTs into a table, or records produced to a topic read by a
/// Kafka source (the broker's address).
#[derive(Clone)]
enum Feed {
    Insert,
    Kafka(String),
}

async fn run(server: &TestServer, run_no: usize, rate: usize, rows_per_stmt: usize, senders: usize, seconds: u64, feed: &Feed) -> Run {
    let table = format!("events_{run_no}");
    let view = format!("doubled_{run_no}");
    let admin = server.connect().await;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis();
    let topic = format!("freshness_{stamp}_{run_no}");
    let create = match feed {
        Feed::Insert => format!("CREATE TABLE {table} (id bigint, sent_us bigint, amount bigint)"),
        Feed::Kafka(broker) => {
            // An empty topic first, so that the source starts at its beginning.
            riffle_benches::produce(broker, &topic, 1, std::iter::empty()).await;
            format!(
                "CREATE SOURCE {table} (id bigint, sent_us bigint, amount bigint) FROM KAFKA CONNECTION k (TOPIC '{topic}') FORMAT JSON"
            )
        }
    };
    admin
        .batch_execute(&format!(
            "{create};
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
    // FRESHNESS_TRACE=ms logs every row, send and acknowledgement later than that (default 50).
    let trace_ms: Option<i64> = std::env::var("FRESHNESS_TRACE").ok().map(|v| v.parse().unwrap_or(50));
    let subscriber = tokio::spawn(async move {
        let mut stream = Box::pin(stream);
        while let Ok(Some(Ok(bytes))) = tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
            let arrived = now_us();
            let line = std::str::from_utf8(&bytes).unwrap();
            let sent: i64 = line.split('\t').nth(3).unwrap().parse().unwrap();
            let mut seen = seen.lock().unwrap();
            if trace_ms.is_some_and(|t| (arrived - sent) > t * 1000) {
                // The row's logical time (its write's timestamp, ms) splits the delay into
                // before the write was timestamped and after.
                let logical_ms: i64 = line.split('\t').next().and_then(|t| t.parse().ok()).unwrap_or(0);
                eprintln!(
                    "late row at {} ms: {} ms ({} ms to its write's timestamp, {} ms after)",
                    (arrived / 1000) % 100_000,
                    (arrived - sent) / 1000,
                    logical_ms - sent / 1000,
                    arrived / 1000 - logical_ms
                );
            }
            let id: usize = line.split('\t').nth(2).unwrap().parse().unwrap();
            seen.push((id, arrived, Duration::from_micros((arrived - sent).max(0) as u64)));
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
        let topic = topic.clone();
        let producer: Option<FutureProducer> = match feed {
            Feed::Insert => None,
            Feed::Kafka(broker) => Some(
                ClientConfig::new()
                    .set("bootstrap.servers", broker)
                    .set("linger.ms", "0")
                    .create()
                    .unwrap(),
            ),
        };
        tasks.push(tokio::spawn(async move {
            let offset = period.mul_f64(s as f64 / senders as f64);
            let mut acks = Vec::with_capacity(per_sender);
            let mut acked_at = Vec::with_capacity(per_sender);
            // When this sender's previous statement was acknowledged (µs), for FRESHNESS_TRACE.
            let mut last_ack_us = 0i64;
            for k in 0..per_sender {
                let due = offset + period * k as u32;
                tokio::time::sleep_until((start + due).into()).await;
                let scheduled_us = start_us + due.as_micros() as i64;
                let ids = (0..rows_per_stmt).map(|r| ((s * per_sender + k) * rows_per_stmt + r, r));
                let sent = Instant::now();
                let send_late_ms = (now_us() - scheduled_us) / 1000;
                if trace_ms.is_some_and(|t| send_late_ms > t) {
                    eprintln!(
                        "late send at {} ms: {send_late_ms} ms after its schedule (sender {s}; its previous ack came {} ms after this schedule)",
                        (now_us() / 1000) % 100_000,
                        (last_ack_us - scheduled_us) / 1000
                    );
                }
                match &producer {
                    None => {
                        let values: Vec<String> = ids.map(|(id, r)| format!("({id}, {scheduled_us}, {r})")).collect();
                        conn.batch_execute(&format!("INSERT INTO {table} VALUES {}", values.join(",")))
                            .await
                            .unwrap();
                    }
                    Some(p) => {
                        let payloads: Vec<String> = ids
                            .map(|(id, r)| format!(r#"{{"id": {id}, "sent_us": {scheduled_us}, "amount": {r}}}"#))
                            .collect();
                        let sends: Vec<_> = payloads
                            .iter()
                            .map(|payload| {
                                let record: FutureRecord<'_, (), String> = FutureRecord::to(&topic).payload(payload);
                                p.send_result(record).map_err(|(e, _)| e).unwrap()
                            })
                            .collect();
                        for d in sends {
                            d.await.unwrap().map_err(|(e, _)| e).unwrap();
                        }
                    }
                }
                let ack = sent.elapsed();
                last_ack_us = now_us();
                acked_at.push(last_ack_us);
                if trace_ms.is_some_and(|t| ack.as_millis() as i64 > t) {
                    eprintln!(
                        "slow ack at {} ms: {} ms (sent {} ms after its schedule)",
                        (now_us() / 1000) % 100_000,
                        ack.as_millis(),
                        (now_us() - ack.as_micros() as i64 - scheduled_us) / 1000
                    );
                }
                acks.push(ack);
            }
            (acks, acked_at)
        }));
    }
    let mut acks = Vec::new();
    // When each statement was acknowledged, by statement number (`s * per_sender + k`).
    let mut acked_at = Vec::new();
    for t in tasks {
        let (a, at) = t.await.unwrap();
        acks.extend(a);
        acked_at.extend(at);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let sent_rows = acks.len() * rows_per_stmt;
    let lost = match feed {
        Feed::Insert => {
            let _ = tokio::time::timeout(Duration::from_secs(30), subscriber).await;
            0
        }
        Feed::Kafka(_) => {
            // The test broker (Tansu, in memory) skips a few records for consumers reading the
            // tail while producers write; a plain librdkafka consumer loses the same (see
            // docs/performance.md). Wait for what reached the source instead.
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut in_view = 0;
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(500)).await;
                in_view = admin
                    .query_one(&format!("SELECT count(*) FROM {view}"), &[])
                    .await
                    .unwrap()
                    .get::<_, i64>(0) as usize;
                if freshness.lock().unwrap().len() >= in_view {
                    break;
                }
            }
            subscriber.abort();
            sent_rows - in_view
        }
    };
    let seen = std::mem::take(&mut *freshness.lock().unwrap());
    assert_eq!(seen.len() + lost, sent_rows, "every row in the view reaches the subscriber");
    let after_ack = seen
        .iter()
        .map(|(id, arrived, _)| Duration::from_micros((arrived - acked_at[id / rows_per_stmt]).max(0) as u64))
        .collect();
    Run {
        rate,
        achieved: sent_rows as f64 / elapsed,
        freshness: seen.into_iter().map(|(_, _, d)| d).collect(),
        after_ack,
        acks,
        lost,
    }
}

/// Freshness: from an acknowledged INSERT (or a Kafka produce) to the change at a SUBSCRIBE
/// client, at fixed input rates (see the module docs).
#[derive(clap::Parser)]
#[command(name = "freshness")]
struct Args {
    /// Seconds per rate.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// How rows reach the server (kafka needs RIFFLE_TEST_KAFKA: eval "$(dev/kafka.sh)").
    #[arg(long, default_value = "insert", value_parser = ["insert", "kafka"])]
    feed: String,
    /// Input rates in rows per second, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 5_000, 10_000, 20_000])]
    rates: Vec<usize>,
    /// Write the per-rate latencies as CSV to this file.
    #[arg(long)]
    csv: Option<String>,
}

#[tokio::main]
async fn main() {
    let args = <Args as clap::Parser>::parse();
    let seconds = args.seconds;
    let feed = match args.feed.as_str() {
        "kafka" => {
            Feed::Kafka(std::env::var("RIFFLE_TEST_KAFKA").expect("--feed kafka needs RIFFLE_TEST_KAFKA (eval \"$(dev/kafka.sh)\")"))
        }
        _ => Feed::Insert,
    };
    let server = TestServer::start();
    if let Feed::Kafka(broker) = &feed {
        let c = server.connect().await;
        c.batch_execute(&format!("CREATE CONNECTION k TO KAFKA (BROKER '{broker}')"))
            .await
            .unwrap();
    }
    let (rows_per_stmt, senders) = (10, 4);
    let mut runs = Vec::new();
    let rates = args.rates.clone();
    for (i, rate) in rates.into_iter().enumerate() {
        runs.push(run(&server, i, rate, rows_per_stmt, senders, seconds, &feed).await);
    }
    let how = match feed {
        Feed::Insert => "rows per INSERT, 4 inserting connections",
        Feed::Kafka(_) => "records per produced group, 4 producers, a JSON Kafka source",
    };
    println!("{rows_per_stmt} {how}, {senders} senders, {seconds} s per rate, SUBSCRIBE on a materialized view");
    println!();
    println!(
        "| target rows/s | achieved rows/s | freshness p50 | p99 | p99.9 | max | after ack p50 | after ack p99 | after ack p99.9 | ack p50 | ack p99 | rows not delivered by the broker |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut csv = String::from("rate,achieved,p50_ms,p99_ms,p999_ms,after_ack_p50_ms,after_ack_p99_ms,after_ack_p999_ms\n");
    for mut r in runs {
        let q = |f: &mut Vec<Duration>, p: f64| percentile(f, p).as_secs_f64() * 1e3;
        csv.push_str(&format!(
            "{},{:.0},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3}\n",
            r.rate,
            r.achieved,
            q(&mut r.freshness, 0.5),
            q(&mut r.freshness, 0.99),
            q(&mut r.freshness, 0.999),
            q(&mut r.after_ack, 0.5),
            q(&mut r.after_ack, 0.99),
            q(&mut r.after_ack, 0.999)
        ));
        println!(
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.rate,
            r.achieved,
            ms(percentile(&mut r.freshness, 0.5)),
            ms(percentile(&mut r.freshness, 0.99)),
            ms(percentile(&mut r.freshness, 0.999)),
            ms(percentile(&mut r.freshness, 1.0)),
            ms(percentile(&mut r.after_ack, 0.5)),
            ms(percentile(&mut r.after_ack, 0.99)),
            ms(percentile(&mut r.after_ack, 0.999)),
            ms(percentile(&mut r.acks, 0.5)),
            ms(percentile(&mut r.acks, 0.99)),
            r.lost,
        );
    }
    if let Some(path) = args.csv {
        std::fs::write(&path, csv).expect("write the CSV");
        eprintln!("wrote {path}");
    }
}
