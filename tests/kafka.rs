//! Kafka sources and sinks against a real Kafka-protocol broker (Tansu, started by
//! dev/kafka.sh, address in $RIFFLE_TEST_KAFKA) and the real server.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use riffle_tests::TestServer;
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// The broker, or None (the test is skipped with a note) when $RIFFLE_TEST_KAFKA is unset.
fn broker() -> Option<String> {
    match std::env::var("RIFFLE_TEST_KAFKA") {
        Ok(b) if !b.is_empty() => Some(b),
        _ => {
            eprintln!("note: RIFFLE_TEST_KAFKA is not set; Kafka tests are skipped (dev/test.sh starts a broker)");
            None
        }
    }
}

/// A topic name no other test (or earlier run against the same broker) uses.
fn topic(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}_{nanos}")
}

async fn create_topic(broker: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", broker).create().unwrap();
    let result = admin
        .create_topics(&[NewTopic::new(name, partitions, TopicReplication::Fixed(1))], &AdminOptions::new())
        .await
        .unwrap();
    for r in result {
        r.unwrap();
    }
}

fn producer(broker: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("linger.ms", "0")
        .create()
        .unwrap()
}

/// Produces records (partition, key, value) and waits for each acknowledgement.
async fn produce(p: &FutureProducer, topic: &str, records: &[(i32, Option<&[u8]>, Option<&[u8]>)]) {
    for (partition, key, value) in records {
        let mut r: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).partition(*partition);
        if let Some(k) = key {
            r = r.key(*k);
        }
        if let Some(v) = value {
            r = r.payload(*v);
        }
        p.send(r, Duration::from_secs(10)).await.map_err(|(e, _)| e).unwrap();
    }
}

/// Polls a query until its rows (as text, sorted) equal `expected`, or fails after 30 s.
async fn wait_rows(client: &Client, sql: &str, expected: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last = rows(client, sql).await;
        if last == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sql}\nexpected {expected:?}\n     got {last:?}");
}

/// A query's rows, each as its columns' text joined by `|`, sorted.
async fn rows(client: &Client, sql: &str) -> Vec<String> {
    riffle_tests::sorted_rows(client, sql).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn json_source_typed_columns_errors_and_progress() {
    let Some(broker) = broker() else { return };
    let t = topic("json");
    create_topic(&broker, &t, 2).await;
    let p = producer(&broker);
    produce(
        &p,
        &t,
        &[
            (0, None, Some(br#"{"id": 1, "name": "a", "score": 0.5}"#)),
            (1, None, Some(br#"{"id": 2, "name": "b", "score": 1.5}"#)),
            (0, None, Some(b"{not json")),
            (1, None, Some(br#"{"id": "three", "name": "c"}"#)),
            (0, None, Some(br#"{"id": 4, "name": null}"#)),
        ],
    )
    .await;
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute(&format!(
        "CREATE CONNECTION k TO KAFKA (BROKER '{broker}');
         CREATE SOURCE events (id bigint, name text, score double precision)
           FROM KAFKA CONNECTION k (TOPIC '{t}') FORMAT JSON INCLUDE PARTITION, OFFSET;
         CREATE SOURCE raw FROM KAFKA CONNECTION k (TOPIC '{t}') FORMAT BYTES;
         CREATE MATERIALIZED VIEW per_partition AS SELECT partition, count(*) AS n FROM events GROUP BY partition"
    ))
    .await
    .unwrap();
    wait_rows(
        &c,
        "SELECT id, name, score, partition, \"offset\" FROM events",
        &["1|a|0.5|0|0", "2|b|1.5|1|0", "4|NULL|NULL|0|2"],
    )
    .await;
    wait_rows(&c, "SELECT * FROM per_partition", &["0|2", "1|1"]).await;
    // Bad records are kept with their position, error and bytes; the rest flowed on.
    wait_rows(
        &c,
        "SELECT source, partition, \"offset\", error LIKE '%invalid JSON%' OR error LIKE '%column id%', encode(raw, 'escape') FROM riffle_source_errors",
        &["events|0|1|t|{not json", r#"events|1|1|t|{"id": "three", "name": "c"}"#],
    )
    .await;
    wait_rows(&c, "SELECT count(*) FROM raw", &["5"]).await;
    wait_rows(
        &c,
        "SELECT source, partition, \"offset\", high_watermark, lag, records, errors, state FROM riffle_source_progress WHERE source = 'events'",
        &["events|0|3|3|0|3|2|running", "events|1|2|2|0|3|2|running"],
    )
    .await;
    // Sources are read-only and their errors table too.
    let err = c.batch_execute("INSERT INTO events VALUES (9, 'x', 1)").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42809", "{err}");
    let err = c.batch_execute("DELETE FROM riffle_source_errors").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42501", "{err}");
    // Errors: unknown connection, missing TOPIC, bad format options.
    for (sql, code) in [
        (
            format!("CREATE SOURCE x FROM KAFKA CONNECTION nope (TOPIC '{t}') FORMAT JSON"),
            "42704",
        ),
        (
            "CREATE SOURCE x FROM KAFKA CONNECTION k (PARTITIONS 3) FORMAT JSON".to_string(),
            "22023",
        ),
        (
            format!("CREATE SOURCE x FROM KAFKA CONNECTION k (TOPIC '{t}') FORMAT CSV WITH HEADER"),
            "22023",
        ),
        (
            format!("CREATE SOURCE x FROM KAFKA CONNECTION k (TOPIC '{t}') FORMAT JSON ENVELOPE DEBEZIUM"),
            "22023",
        ),
        (
            format!("CREATE SOURCE x (a int) FROM KAFKA CONNECTION k (TOPIC '{t}') FORMAT JSON INCLUDE OFFSET ENVELOPE DEBEZIUM"),
            "22023",
        ),
        (
            format!("CREATE SOURCE x FROM KAFKA CONNECTION k (TOPIC '{t}') FORMAT PROTOBUF"),
            "42601",
        ),
    ] {
        let err = c.batch_execute(&sql).await.unwrap_err();
        assert_eq!(err.code().unwrap().code(), code, "{sql}: {err}");
    }
    c.batch_execute("DROP SOURCE raw").await.unwrap();
    let err = c.batch_execute("DROP CONNECTION k").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "2BP01", "{err}");
    c.batch_execute("DROP CONNECTION k CASCADE").await.unwrap();
    assert!(rows(&c, "SHOW SOURCES").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn formats_csv_text_bytes_avro_and_jsonb() {
    let Some(broker) = broker() else { return };
    let p = producer(&broker);
    let (csv_h, csv_n, text, avro, json) = (topic("csvh"), topic("csvn"), topic("text"), topic("avro"), topic("jsonb"));
    for t in [&csv_h, &csv_n, &text, &avro, &json] {
        create_topic(&broker, t, 1).await;
    }
    produce(
        &p,
        &csv_h,
        &[(0, None, Some(b"id,name")), (0, None, Some(b"1,\"x, y\"")), (0, None, Some(b"2,z"))],
    )
    .await;
    produce(&p, &csv_n, &[(0, None, Some(b"a,b,c")), (0, None, Some(b"only,two"))]).await;
    produce(&p, &text, &[(0, Some(b"k1"), Some("héllo".as_bytes()))]).await;
    let schema = r#"{"type": "record", "name": "r", "fields": [
        {"name": "id", "type": "long"}, {"name": "label", "type": ["null", "string"]},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}"#;
    let parsed = apache_avro::Schema::parse_str(schema).unwrap();
    let record = |id: i64, label: Option<&str>| {
        use apache_avro::types::Value as V;
        let label = match label {
            Some(l) => V::Union(1, Box::new(V::String(l.into()))),
            None => V::Union(0, Box::new(V::Null)),
        };
        apache_avro::to_avro_datum(
            &parsed,
            V::Record(vec![
                ("id".into(), V::Long(id)),
                ("label".into(), label),
                ("at".into(), V::TimestampMillis(1_700_000_000_000)),
            ]),
        )
        .unwrap()
    };
    let raw = record(1, Some("one"));
    let mut framed = vec![0u8, 0, 0, 0, 7];
    framed.extend(record(2, None));
    produce(
        &p,
        &avro,
        &[(0, None, Some(&raw)), (0, None, Some(&framed)), (0, None, Some(b"\x01"))],
    )
    .await;
    produce(&p, &json, &[(0, None, Some(br#"{"a": {"b": [1, 2]}}"#))]).await;

    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute(&format!(
        "CREATE CONNECTION k TO KAFKA (BROKER '{broker}');
         CREATE SOURCE csv_h (id integer, name text) FROM KAFKA CONNECTION k (TOPIC '{csv_h}') FORMAT CSV WITH HEADER;
         CREATE SOURCE csv_n FROM KAFKA CONNECTION k (TOPIC '{csv_n}') FORMAT CSV WITH 3 COLUMNS;
         CREATE SOURCE txt FROM KAFKA CONNECTION k (TOPIC '{text}') FORMAT TEXT INCLUDE KEY, TIMESTAMP AS ts;
         CREATE SOURCE av FROM KAFKA CONNECTION k (TOPIC '{avro}') FORMAT AVRO USING SCHEMA '{}';
         CREATE SOURCE js FROM KAFKA CONNECTION k (TOPIC '{json}') FORMAT JSON;
         CREATE SOURCE from_one FROM KAFKA CONNECTION k (TOPIC '{csv_n}', START OFFSET (1)) FORMAT TEXT INCLUDE OFFSET",
        schema.replace('\'', "''")
    ))
    .await
    .unwrap();
    wait_rows(&c, "SELECT * FROM csv_h", &["1|x, y", "2|z"]).await;
    wait_rows(&c, "SELECT column1, column2, column3 FROM csv_n", &["a|b|c"]).await;
    wait_rows(&c, "SELECT key, text, ts IS NOT NULL FROM txt", &["k1|héllo|t"]).await;
    wait_rows(
        &c,
        "SELECT id, label, at FROM av",
        &["1|one|2023-11-14 22:13:20+00", "2|NULL|2023-11-14 22:13:20+00"],
    )
    .await;
    wait_rows(&c, "SELECT data -> 'a' -> 'b' ->> 1 FROM js", &["2"]).await;
    wait_rows(&c, "SELECT text, \"offset\" FROM from_one", &["only,two|1"]).await;
    wait_rows(
        &c,
        "SELECT source, \"offset\" FROM riffle_source_errors",
        &[&format!("av|2"), &format!("csv_n|1")],
    )
    .await;
    let cols = rows(
        &c,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'av'",
    )
    .await;
    assert_eq!(cols, ["at|timestamp with time zone", "id|bigint", "label|text"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn upsert_and_debezium_envelopes() {
    let Some(broker) = broker() else { return };
    let p = producer(&broker);
    let (up, dbz) = (topic("upsert"), topic("debezium"));
    create_topic(&broker, &up, 1).await;
    create_topic(&broker, &dbz, 1).await;
    produce(
        &p,
        &up,
        &[
            (0, Some(b"u1"), Some(br#"{"plan": "free", "seats": 1}"#)),
            (0, Some(b"u2"), Some(br#"{"plan": "pro", "seats": 5}"#)),
            (0, Some(b"u1"), Some(br#"{"plan": "team", "seats": 3}"#)),
            (0, Some(b"u2"), None),
            (0, None, Some(br#"{"plan": "x"}"#)),
        ],
    )
    .await;
    produce(
        &p,
        &dbz,
        &[
            (0, None, Some(br#"{"before": null, "after": {"id": 1, "v": "a"}, "op": "c"}"#)),
            (0, None, Some(br#"{"before": null, "after": {"id": 2, "v": "b"}, "op": "c"}"#)),
            (
                0,
                None,
                Some(br#"{"payload": {"before": {"id": 1, "v": "a"}, "after": {"id": 1, "v": "A"}, "op": "u"}}"#),
            ),
            (0, None, Some(br#"{"before": {"id": 2, "v": "b"}, "after": null, "op": "d"}"#)),
            (0, None, None),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]);
    let c = server.connect().await;
    c.batch_execute(&format!(
        "CREATE CONNECTION k TO KAFKA (BROKER '{broker}');
         CREATE SOURCE accounts (plan text, seats integer) FROM KAFKA CONNECTION k (TOPIC '{up}')
           KEY FORMAT TEXT VALUE FORMAT JSON ENVELOPE UPSERT;
         CREATE SOURCE items (id integer, v text) FROM KAFKA CONNECTION k (TOPIC '{dbz}') FORMAT JSON ENVELOPE DEBEZIUM;
         CREATE MATERIALIZED VIEW seats AS SELECT sum(seats) AS seats FROM accounts"
    ))
    .await
    .unwrap();
    wait_rows(&c, "SELECT * FROM accounts", &["u1|team|3"]).await;
    wait_rows(&c, "SELECT * FROM seats", &["3"]).await;
    wait_rows(&c, "SELECT * FROM items", &["1|A"]).await;
    wait_rows(
        &c,
        "SELECT count(*) FROM riffle_source_errors WHERE error LIKE '%needs a record key%'",
        &["1"],
    )
    .await;
    // The upsert state survives a restart: a later update replaces the recovered row.
    server.kill9();
    let server = TestServer::start_in(dir.path(), &[]);
    let c = server.connect().await;
    wait_rows(&c, "SELECT * FROM accounts", &["u1|team|3"]).await;
    produce(&p, &up, &[(0, Some(b"u1"), Some(br#"{"plan": "enterprise", "seats": 10}"#))]).await;
    wait_rows(&c, "SELECT * FROM accounts", &["u1|enterprise|10"]).await;
    wait_rows(&c, "SELECT * FROM seats", &["10"]).await;
}

/// Every record exactly once across kill -9 in the middle of ingestion.
#[tokio::test(flavor = "multi_thread")]
async fn exactly_once_across_kill_dash_nine() {
    let Some(broker) = broker() else { return };
    let t = topic("eo");
    create_topic(&broker, &t, 3).await;
    let p = producer(&broker);
    let total = 30_000;
    let payloads: Vec<(i32, Vec<u8>)> = (0..total)
        .map(|i| ((i % 3) as i32, format!(r#"{{"id": {i}}}"#).into_bytes()))
        .collect();
    let mut pending = Vec::new();
    for (partition, payload) in &payloads {
        let r: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&t).partition(*partition).payload(payload);
        pending.push(p.send_result(r).map_err(|(e, _)| e).unwrap());
    }
    for d in pending {
        d.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]);
    let c = server.connect().await;
    c.batch_execute(&format!(
        "CREATE CONNECTION k TO KAFKA (BROKER '{broker}');
         CREATE SOURCE s (id bigint) FROM KAFKA CONNECTION k (TOPIC '{t}') FORMAT JSON;
         CREATE MATERIALIZED VIEW stats AS SELECT count(*) AS n, count(DISTINCT id) AS d FROM s"
    ))
    .await
    .unwrap();
    // Kill as soon as some, not all, records are in.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = c.query_one("SELECT n FROM stats", &[]).await.map(|r| r.get(0)).unwrap_or(0);
        if n > 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill9();
    let server = TestServer::start_in(dir.path(), &[]);
    let c = server.connect().await;
    wait_rows(&c, "SELECT n, d FROM stats", &[&format!("{total}|{total}")]).await;
    // And it keeps going.
    produce(&p, &t, &[(1, None, Some(br#"{"id": -1}"#))]).await;
    wait_rows(&c, "SELECT n, d FROM stats", &[&format!("{}|{}", total + 1, total + 1)]).await;
}

/// Reads every record of a topic's partition 0 from the start: (key, value).
fn consume_all(broker: &str, topic: &str, expect: usize) -> Vec<(Option<String>, Option<String>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", "riffle-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push((
                m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                m.payload().map(|v| String::from_utf8_lossy(v).into_owned()),
            )),
            Some(Err(e)) => panic!("consume: {e}"),
            None if out.len() >= expect => break,
            None => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn sinks_debezium_and_upsert_resume_after_restart() {
    let Some(broker) = broker() else { return };
    let (out_dbz, out_up) = (topic("sink_dbz"), topic("sink_up"));
    create_topic(&broker, &out_dbz, 1).await;
    create_topic(&broker, &out_up, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]);
    let c = server.connect().await;
    c.batch_execute(&format!(
        "CREATE CONNECTION k TO KAFKA (BROKER '{broker}');
         CREATE TABLE scores (id integer, score integer);
         INSERT INTO scores VALUES (1, 10);
         CREATE MATERIALIZED VIEW alerts AS SELECT id, score FROM scores WHERE score < 50;
         CREATE SINK alerts_dbz FROM alerts INTO KAFKA CONNECTION k (TOPIC '{out_dbz}') KEY (id) FORMAT JSON ENVELOPE DEBEZIUM;
         CREATE SINK alerts_up FROM alerts INTO KAFKA CONNECTION k (TOPIC '{out_up}') KEY (id) FORMAT JSON ENVELOPE UPSERT;
         INSERT INTO scores VALUES (2, 20);
         UPDATE scores SET score = 15 WHERE id = 1;
         DELETE FROM scores WHERE id = 2;"
    ))
    .await
    .unwrap();
    let dbz = consume_all(&broker, &out_dbz, 4);
    let values: Vec<String> = dbz.iter().map(|(_, v)| v.clone().unwrap()).collect();
    assert_eq!(
        values,
        [
            r#"{"after":{"id":1,"score":10},"before":null}"#,
            r#"{"after":{"id":2,"score":20},"before":null}"#,
            r#"{"after":{"id":1,"score":15},"before":{"id":1,"score":10}}"#,
            r#"{"after":null,"before":{"id":2,"score":20}}"#,
        ]
    );
    assert_eq!(dbz[0].0.as_deref(), Some(r#"{"id":1}"#));
    let up = consume_all(&broker, &out_up, 4);
    assert_eq!(
        up.last().unwrap(),
        &(Some(r#"{"id":2}"#.to_string()), None),
        "a delete is a tombstone"
    );
    // Restart: nothing already written is written again; new changes follow.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill9();
    let mut server = TestServer::start_in(dir.path(), &["--failpoints"]);
    server.expect_compute_failures = true;
    let c = server.connect().await;
    c.batch_execute("INSERT INTO scores VALUES (3, 30)").await.unwrap();
    let dbz = consume_all(&broker, &out_dbz, 5);
    assert_eq!(dbz.len(), 5, "{dbz:?}");
    assert_eq!(dbz[4].1.as_deref(), Some(r#"{"after":{"id":3,"score":30},"before":null}"#));
    // A compute worker fails and every dataflow is rebuilt while the server runs: the sinks
    // resume from their stored progress too, writing nothing twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.batch_execute("SET riffle_failpoint = 'compute_panic'").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains("compute rebuilt") {
        assert!(Instant::now() < deadline, "the compute workers were not rebuilt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.batch_execute("INSERT INTO scores VALUES (4, 40)").await.unwrap();
    let dbz = consume_all(&broker, &out_dbz, 6);
    assert_eq!(dbz.len(), 6, "{dbz:?}");
    assert_eq!(dbz[5].1.as_deref(), Some(r#"{"after":{"id":4,"score":40},"before":null}"#));
    let err = c
        .batch_execute(&format!(
            "CREATE SINK bad FROM alerts INTO KAFKA CONNECTION k (TOPIC '{out_up}') FORMAT JSON ENVELOPE UPSERT"
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "22023", "{err}");
}

/// A source created before its topic exists waits for it (shown in riffle_source_progress)
/// and ingests once it appears. (Partitions added later are found the same way, by the
/// metadata refresh every 2 s; neither Tansu nor librdkafka's mock cluster implements
/// CreatePartitions, so that path is not exercised here.)
#[tokio::test(flavor = "multi_thread")]
async fn source_waits_for_its_topic() {
    let Some(broker) = broker() else { return };
    let t = topic("later");
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute(&format!(
        "CREATE CONNECTION k TO KAFKA (BROKER '{broker}');
         CREATE SOURCE s (id bigint) FROM KAFKA CONNECTION k (TOPIC '{t}') FORMAT JSON INCLUDE PARTITION"
    ))
    .await
    .unwrap();
    wait_rows(&c, "SELECT state FROM riffle_source_progress", &["waiting for topic"]).await;
    create_topic(&broker, &t, 2).await;
    let p = producer(&broker);
    produce(&p, &t, &[(0, None, Some(br#"{"id": 1}"#)), (1, None, Some(br#"{"id": 2}"#))]).await;
    wait_rows(&c, "SELECT id, partition FROM s", &["1|0", "2|1"]).await;
}

/// examples/ml-monitoring/kafka: its setup.sql and generate.py, against the broker. The
/// maintained quality view equals the same query run from scratch, and the alerts sink's topic,
/// read as a compacted topic (latest value per key, tombstones delete), equals the alerts view.
#[tokio::test(flavor = "multi_thread")]
async fn ml_monitoring_over_kafka() {
    let Some(broker) = broker() else { return };
    let suffix = format!(
        "_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/ml-monitoring/kafka");
    let mut sql = std::fs::read_to_string(format!("{dir}/setup.sql"))
        .unwrap()
        .replace(":'broker'", &format!("'{broker}'"));
    for t in ["leads", "predictions", "conversions", "accuracy-alerts"] {
        sql = sql.replace(&format!("(TOPIC '{t}')"), &format!("(TOPIC '{t}{suffix}')"));
    }
    create_topic(&broker, &format!("accuracy-alerts{suffix}"), 1).await;
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute(&sql).await.unwrap();
    let generate = |args: &[&str]| {
        let out = std::process::Command::new("python3")
            .arg(format!("{dir}/generate.py"))
            .args([
                "--broker",
                &broker,
                "--suffix",
                &suffix,
                "--rate",
                "2000",
                "--conversion-delay",
                "0.1",
            ])
            .args(args)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "generate.py failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("generate.py prints its counts")
    };
    let a = generate(&["--leads", "200", "--model", "m1"]);
    let b = generate(&["--leads", "50", "--model", "m2", "--first-id", "1001", "--flip", "--seed", "3"]);
    let produced = |t: &str| a[t].as_i64().unwrap() + b[t].as_i64().unwrap();
    // Everything produced is in before the answers are compared.
    for t in ["leads", "predictions", "conversions"] {
        wait_rows(&c, &format!("SELECT count(*) FROM {t}"), &[&produced(t).to_string()]).await;
    }
    wait_rows(&c, "SELECT model, leads FROM model_quality_3h", &["m1|200", "m2|50"]).await;
    let scratch = "SELECT model, count(*), avg(CASE WHEN predicted = converted THEN 1.0 ELSE 0.0 END) FROM (
        SELECT DISTINCT ON (p.lead_id) p.lead_id, p.model, p.score > 0.5 AS predicted,
               EXISTS (SELECT 1 FROM conversions c WHERE c.lead_id = p.lead_id) AS converted
        FROM predictions p JOIN leads l ON l.lead_id = p.lead_id ORDER BY p.lead_id, p.predicted_at DESC) s GROUP BY model";
    let expected = rows(&c, scratch).await;
    wait_rows(
        &c,
        "SELECT model, leads, accuracy FROM model_quality_3h",
        &expected.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    // m2's model is broken on purpose: it raises an alert, which reaches the sink's topic.
    let alerts = rows(&c, "SELECT model FROM accuracy_alerts").await;
    assert!(alerts.contains(&"m2".to_string()), "{alerts:?}");
    let records = consume_all(&broker, &format!("accuracy-alerts{suffix}"), 1);
    let mut state = std::collections::BTreeMap::new();
    for (key, value) in records {
        match value {
            Some(v) => state.insert(key.unwrap(), v),
            None => state.remove(&key.unwrap()),
        };
    }
    let sunk: Vec<String> = state
        .keys()
        .map(|k| {
            serde_json::from_str::<serde_json::Value>(k).unwrap()["model"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(sunk, alerts);
}
