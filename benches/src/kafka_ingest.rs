//! Ingest throughput from Kafka into a materialized view.
//!
//! Pre-produces N JSON records to a 4-partition topic, then creates a source (typed JSON
//! columns) and a materialized view over it (count and sum per key) and measures the time until
//! the view has counted every record: records/s and MB/s end to end (fetch, decode, the durable
//! RocksDB write with offsets, the dataflow). The same for FORMAT BYTES (no decoding) and for
//! typed JSON with ENVELOPE UPSERT (a key per record group).
//!
//! Needs a broker: `eval "$(dev/kafka.sh)"` (sets RIFFLE_TEST_KAFKA), then
//! `cargo build --release --bin riffle && cargo build --release -p riffle-benches && ./target/release/kafka_ingest [records]`

use riffle_tests::TestServer;
use std::time::{Duration, Instant};

async fn produce(broker: &str, topic: &str, n: usize, keyed: bool) -> usize {
    let records = (0..n).map(|i| {
        let payload = format!(
            r#"{{"id": {i}, "user_id": {}, "amount": {}, "kind": "purchase"}}"#,
            i % 10_000,
            i % 997
        );
        (keyed.then(|| format!("k{}", i % 50_000)), payload)
    });
    riffle_benches::produce(broker, topic, 4, records).await
}

async fn measure(
    server: &TestServer,
    broker: &str,
    name: &str,
    n: usize,
    source_sql: &str,
    view_sql: &str,
    expect: i64,
    keyed: bool,
) -> (String, f64, f64) {
    let topic = format!(
        "bench_{name}_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let bytes = produce(broker, &topic, n, keyed).await;
    let c = server.connect().await;
    let start = Instant::now();
    c.batch_execute(&source_sql.replace("{topic}", &topic).replace("{name}", name))
        .await
        .unwrap();
    c.batch_execute(&view_sql.replace("{name}", name)).await.unwrap();
    let deadline = start + Duration::from_secs(600);
    loop {
        let done: i64 = c
            .query_one(&format!("SELECT coalesce(sum(n), 0)::bigint FROM {name}_v"), &[])
            .await
            .unwrap()
            .get(0);
        if done >= expect {
            break;
        }
        assert!(Instant::now() < deadline, "{name}: only {done} of {expect} after 10 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    (name.to_string(), n as f64 / secs, bytes as f64 / secs / 1e6)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().expect("records")).unwrap_or(1_000_000);
    let broker = std::env::var("RIFFLE_TEST_KAFKA").expect("set RIFFLE_TEST_KAFKA (eval \"$(dev/kafka.sh)\")");
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute(&format!("CREATE CONNECTION k TO KAFKA (BROKER '{broker}')"))
        .await
        .unwrap();
    let upsert_view = format!(
        // Done when every key (50,000 of them) holds its last record.
        "CREATE MATERIALIZED VIEW {{name}}_v AS SELECT count(*) AS n FROM {{name}} WHERE id >= {}",
        n.saturating_sub(50_000)
    );
    let typed = "CREATE SOURCE {name} (id bigint, user_id bigint, amount bigint, kind text) FROM KAFKA CONNECTION k (TOPIC '{topic}')";
    let cases = [
        (
            "json",
            format!("{typed} FORMAT JSON"),
            "CREATE MATERIALIZED VIEW {name}_v AS SELECT user_id, count(*) AS n, sum(amount) AS total FROM {name} GROUP BY user_id"
                .to_string(),
            n as i64,
            false,
        ),
        (
            "bytes",
            "CREATE SOURCE {name} FROM KAFKA CONNECTION k (TOPIC '{topic}') FORMAT BYTES INCLUDE PARTITION".to_string(),
            "CREATE MATERIALIZED VIEW {name}_v AS SELECT partition, count(*) AS n FROM {name} GROUP BY partition".to_string(),
            n as i64,
            false,
        ),
        (
            "upsert",
            format!("{typed} KEY FORMAT TEXT VALUE FORMAT JSON INCLUDE OFFSET ENVELOPE UPSERT"),
            upsert_view,
            n.min(50_000) as i64,
            true,
        ),
    ];
    let mut results = Vec::new();
    for (name, source, view, expect, keyed) in &cases {
        results.push(measure(&server, &broker, name, n, source, view, *expect, *keyed).await);
    }
    println!("{n} records per run, 4 partitions, one timely worker, broker and Riffle on the same machine");
    println!();
    println!("| source | records/s | MB/s (payload) |");
    println!("|---|---|---|");
    for (name, rps, mbps) in results {
        println!("| {name} | {rps:.0} | {mbps:.1} |");
    }
}
