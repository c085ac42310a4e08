//! Never down. Self-healing compute: a dataflow operator panics (the test-only failpoint
//! `SET riffle_failpoint = 'compute_panic'`, which the server allows only with `--failpoints`)
//! while sessions write and read. The server must notice, answer the reads in flight with
//! 57P02, rebuild its timely workers and every dataflow from the durable log, and go on: the
//! same sessions stay connected, no acknowledged write is lost or applied twice, and every
//! view, index and subscription-free read is correct afterwards. And statements too deeply
//! nested for a stack are refused with an error instead of aborting the server.

use riffle_tests::{sorted_rows, TestServer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `sql` until it answers something other than 57P02 (the compute workers were
/// rebuilding), for at most a minute.
async fn retrying(client: &tokio_postgres::Client, sql: &str) -> Result<Vec<String>, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match sorted_rows(client, sql).await {
            Err(e) if e.starts_with("57P02") && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// Waits until the server's log says the workers were rebuilt `times` times.
async fn rebuilt(server: &TestServer, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.log().matches("compute rebuilt").count() < times {
        assert!(Instant::now() < deadline, "the compute workers were not rebuilt:\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_dataflow_is_survived() {
    for workers in ["1", "2"] {
        let mut server = TestServer::start_with(&["--failpoints", "--workers", workers]);
        server.expect_compute_failures = true;
        let client = server.connect().await;
        client
            .batch_execute(
                "CREATE TABLE events (id bigint NOT NULL, bucket bigint, v bigint);
                 CREATE TABLE buckets (bucket bigint, label text);
                 INSERT INTO buckets VALUES (0, 'zero'), (1, 'one'), (2, 'two');
                 CREATE INDEX events_bucket ON events (bucket);
                 CREATE MATERIALIZED VIEW per_bucket AS
                   SELECT b.label, count(*) AS n, sum(e.v) AS total
                   FROM events e JOIN buckets b ON e.bucket = b.bucket GROUP BY b.label;
                 CREATE INDEX per_bucket_label ON per_bucket (label);",
            )
            .await
            .unwrap();

        // Writers insert throughout; each records the ids acknowledged to it.
        let acked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for w in 0..2i64 {
            let c = server.connect().await;
            let (acked, stop) = (acked.clone(), stop.clone());
            writers.push(tokio::spawn(async move {
                let mut i = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    let id = w * 1_000_000 + i;
                    let insert = c
                        .execute("INSERT INTO events VALUES ($1, $2, $3)", &[&id, &(id % 3), &(id % 100)])
                        .await;
                    match insert {
                        Ok(_) => acked.lock().unwrap().push(id),
                        Err(e) => panic!("a write was refused while the workers were rebuilt: {e}"),
                    }
                    i += 1;
                }
            }));
        }
        // A reader keeps a transient join in flight; it may be told to repeat (57P02), never
        // anything else.
        let reader = {
            let c = server.connect().await;
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut restarted = 0;
                while !stop.load(Ordering::Relaxed) {
                    match sorted_rows(
                        &c,
                        "SELECT b.label, count(*) FROM events e JOIN buckets b ON e.bucket = b.bucket GROUP BY b.label",
                    )
                    .await
                    {
                        Ok(_) => {}
                        Err(e) if e.starts_with("57P02") => restarted += 1,
                        Err(e) => panic!("a read in flight failed with {e}"),
                    }
                }
                restarted
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.batch_execute("SET riffle_failpoint = 'compute_panic'").await.unwrap();
        rebuilt(&server, 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Twice: the rebuilt workers heal too.
        client.batch_execute("SET riffle_failpoint = 'compute_panic'").await.unwrap();
        rebuilt(&server, 2).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.await.unwrap();
        }
        let _told_to_repeat = reader.await.unwrap();

        // The same session that set the failpoint is still connected and sees everything.
        let acked = acked.lock().unwrap().clone();
        let count = retrying(&client, "SELECT count(*), count(DISTINCT id) FROM events").await.unwrap();
        assert_eq!(
            count,
            vec![format!("{}|{}", acked.len(), acked.len())],
            "workers {workers}: acknowledged writes lost or duplicated"
        );
        let maintained = retrying(&client, "SELECT label, n, total FROM per_bucket").await.unwrap();
        let fresh = retrying(
            &client,
            "SELECT b.label, count(*), sum(e.v) FROM events e JOIN buckets b ON e.bucket = b.bucket GROUP BY b.label",
        )
        .await
        .unwrap();
        assert_eq!(
            maintained, fresh,
            "workers {workers}: the view differs from its query after the rebuild"
        );
        assert_eq!(
            retrying(&client, "SELECT n FROM per_bucket WHERE label = 'one'").await.unwrap(),
            retrying(&client, "SELECT count(*) FROM events WHERE bucket = 1").await.unwrap(),
            "workers {workers}: the index on the view"
        );
        // New writes and new views after the rebuild are maintained.
        client.batch_execute("INSERT INTO events VALUES (-1, 2, 1000)").await.unwrap();
        client
            .batch_execute("CREATE MATERIALIZED VIEW big AS SELECT id FROM events WHERE v >= 1000")
            .await
            .unwrap();
        assert_eq!(retrying(&client, "SELECT * FROM big").await.unwrap(), vec!["-1"]);
        assert_eq!(
            retrying(&client, "SELECT total FROM per_bucket WHERE label = 'two'").await.unwrap(),
            retrying(&client, "SELECT sum(v) FROM events WHERE bucket = 2").await.unwrap()
        );
        assert!(server.log().contains("compute worker failed"), "the failure was logged");
        assert_eq!(
            retrying(&client, "SELECT workers, generation, status, last_failure FROM riffle_compute")
                .await
                .unwrap(),
            vec![format!("{workers}|3|running|failpoint: a dataflow operator panicked")]
        );
        server.kill9();
    }
}

#[tokio::test]
async fn the_failpoint_needs_the_flag() {
    let server = TestServer::start();
    let client = server.connect().await;
    let err = client.batch_execute("SET riffle_failpoint = 'compute_panic'").await.unwrap_err();
    assert_eq!(err.as_db_error().map(|e| e.code().code()), Some("42704"), "{err}");
    assert_eq!(sorted_rows(&client, "SELECT 1").await.unwrap(), vec!["1"]);
}

/// Statements nested too deeply for any thread's stack (sqlparser builds an operator chain as
/// a left-deep tree as long as the chain) are refused with 54001; the server stays up, and
/// chains within the limit, AND/OR included, are answered.
#[tokio::test]
async fn deep_expressions_are_refused_not_fatal() {
    let server = TestServer::start();
    let client = server.connect().await;
    let plus = |n: usize| format!("SELECT {}", vec!["1"; n].join(" + "));
    assert_eq!(sorted_rows(&client, &plus(900)).await.unwrap(), vec!["900"]);
    for sql in [
        plus(5_000),
        plus(200_000),
        format!("SELECT 1 WHERE {}", vec!["true"; 100_000].join(" AND ")),
        format!("SELECT 1{}", "::int".repeat(50_000)),
    ] {
        let err = sorted_rows(&client, &sql).await.unwrap_err();
        assert!(err.starts_with("54001: stack depth limit exceeded"), "{err}");
    }
    let or_chain = (0..900).map(|i| format!("x = {i}")).collect::<Vec<_>>().join(" OR ");
    assert_eq!(
        sorted_rows(
            &client,
            &format!("SELECT count(*) FROM generate_series(1, 2000) AS g(x) WHERE {or_chain}")
        )
        .await
        .unwrap(),
        vec!["899"]
    );
    assert_eq!(sorted_rows(&client, "SELECT 1").await.unwrap(), vec!["1"]);
}

/// Without authentication the server serves loopback only, unless the operator says
/// `--auth trust`; it says so in its log either way.
#[test]
fn an_exposed_address_needs_auth_trust() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(riffle_tests::riffle_bin())
        .args(["--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env_remove("RIFFLE_AUTH")
        .output()
        .expect("run riffle");
    assert!(!out.status.success(), "riffle served 0.0.0.0 without --auth trust");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("refusing to serve 0.0.0.0:0 without authentication"), "{log}");
    let server = TestServer::start_with(&["--auth", "trust"]);
    assert!(server.log().contains("no authentication"), "{}", server.log());
}
