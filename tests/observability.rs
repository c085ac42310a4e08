//! Observability against the real binary: the introspection relations (`riffle_dataflows`,
//! `riffle_arrangement_sizes`, `riffle_frontiers`) over SQL, and the Prometheus endpoint
//! (`--metrics-listen`) over HTTP.

use riffle_tests::{free_port, TestServer};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// `GET path` over plain HTTP/1.0; the status line and the body.
fn http_get(port: u16, path: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics endpoint");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// Polls `check` (statistics are published every 200 ms) until it holds or 20 s pass.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match check().await {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn introspection_relations_and_metrics_endpoint() {
    let metrics_port = free_port();
    let listen = format!("127.0.0.1:{metrics_port}");
    let server = TestServer::start_with(&["--workers", "2", "--metrics-listen", &listen]);
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE obs (k bigint, v text);
         CREATE MATERIALIZED VIEW obs_counts AS SELECT k % 10 AS g, count(*) AS n FROM obs GROUP BY k % 10;
         CREATE INDEX obs_counts_g ON obs_counts (g);",
    )
    .await
    .unwrap();
    let values: Vec<String> = (0..1000).map(|k| format!("({k}, 'value {k}')")).collect();
    c.batch_execute(&format!("INSERT INTO obs VALUES {}", values.join(",")))
        .await
        .unwrap();
    c.batch_execute("DELETE FROM obs WHERE k < 100").await.unwrap();
    // The view has caught up once this read returns.
    let n: i64 = c.query_one("SELECT sum(n)::bigint FROM obs_counts", &[]).await.unwrap().get(0);
    assert_eq!(n, 900);

    // riffle_dataflows: one dataflow per table, view and index on every worker, with the
    // updates each fed its arrangement.
    eventually("dataflows", || async {
        let rows = riffle_tests::sorted_rows(
            &c,
            "SELECT object, kind, count(DISTINCT worker), sum(updates) FROM riffle_dataflows WHERE object LIKE 'obs%' GROUP BY object, kind",
        )
        .await?;
        // The table: 1,000 inserts and 100 deletes; the view: each of the 10 groups inserted
        // once, then retracted and inserted again by the delete; the index follows the view.
        let want = vec!["obs_counts_g|index|2|30", "obs_counts|materialized view|2|30", "obs|table|2|1100"];
        if rows == want {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;

    // riffle_arrangement_sizes counts the updates an arrangement holds, which batches not yet
    // merged keep apart: the table holds its 1,000 inserts and 100 retractions (900 once its
    // batches have merged), the view and its index their 10 groups' 30 updates (10 inserted,
    // then each retracted and inserted again; 10 once merged); sizes are non-zero.
    eventually("arrangement sizes", || async {
        let rows = riffle_tests::sorted_rows(
            &c,
            "SELECT object, arrangement, sum(records) BETWEEN (CASE WHEN object = 'obs' THEN 900 ELSE 10 END) \
                                                    AND (CASE WHEN object = 'obs' THEN 1100 ELSE 30 END), \
                    sum(bytes) > 0 FROM riffle_arrangement_sizes \
             WHERE object IN ('obs', 'obs_counts', 'obs_counts_g') AND arrangement <> 'errors' GROUP BY object, arrangement",
        )
        .await?;
        let want = vec!["obs_counts_g|index|t|t", "obs_counts|rows|t|t", "obs|rows|t|t"];
        if rows == want {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;
    let per_row: i64 = c
        .query_one(
            "SELECT (sum(bytes) / sum(records))::bigint FROM riffle_arrangement_sizes WHERE object = 'obs' AND arrangement = 'rows'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // Two datums' bytes with their text, an offset, a time and a diff: tens of bytes, not
    // kilobytes.
    assert!((24..1000).contains(&per_row), "bytes per row {per_row}");

    // riffle_frontiers: every collection has caught up with its inputs.
    eventually("frontiers", || async {
        let rows = riffle_tests::sorted_rows(
            &c,
            "SELECT object, bool_and(upper IS NOT NULL AND upper <= input_time AND since < upper AND lag_ms >= 0) FROM riffle_frontiers \
             WHERE object LIKE 'obs%' GROUP BY object",
        )
        .await?;
        let want = vec!["obs_counts_g|t", "obs_counts|t", "obs|t"];
        if rows == want {
            Ok(())
        } else {
            Err(format!("{rows:?}"))
        }
    })
    .await;

    // The Prometheus endpoint.
    let (status, body) = http_get(metrics_port, "/metrics");
    assert!(status.contains("200"), "{status}");
    assert_eq!(sample(&body, "riffle_rows_ingested_total{object=\"obs\"}"), Some(1100.0), "{body}");
    assert!(sample(&body, "riffle_writes_total").unwrap_or(0.0) >= 2.0);
    assert!(
        sample(&body, "riffle_statement_seconds_count{statement=\"insert\"}").is_some(),
        "{body}"
    );
    assert!(body.contains("riffle_write_seconds_bucket"), "{body}");
    assert!(sample(&body, "process_resident_memory_bytes").unwrap_or(0.0) > 1e6, "{body}");
    eventually("metrics from the workers", || async {
        let (_, body) = http_get(metrics_port, "/metrics");
        let records = sample(
            &body,
            "riffle_arrangement_records{kind=\"materialized view\",object=\"obs_counts\"}",
        );
        let updates = sample(&body, "riffle_dataflow_updates_total{kind=\"table\",object=\"obs\"}");
        let lag = sample(&body, "riffle_frontier_lag_ms{kind=\"materialized view\",object=\"obs_counts\"}");
        match (records, updates, lag) {
            (Some(r), Some(1100.0), Some(l)) if (10.0..=30.0).contains(&r) && l >= 0.0 => Ok(()),
            other => Err(format!("{other:?}\n{body}")),
        }
    })
    .await;
    let (status, _) = http_get(metrics_port, "/nothing");
    assert!(status.contains("404"), "{status}");

    // Dropped objects leave both.
    c.batch_execute("DROP MATERIALIZED VIEW obs_counts CASCADE").await.unwrap();
    eventually("dropped view", || async {
        let n: i64 = c
            .query_one("SELECT count(*) FROM riffle_dataflows WHERE object LIKE 'obs_counts%'", &[])
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        let (_, body) = http_get(metrics_port, "/metrics");
        if n == 0 && !body.contains("object=\"obs_counts\"") {
            Ok(())
        } else {
            Err(format!("{n} dataflows left"))
        }
    })
    .await;
}

/// A join on an indexed collection's key reads the index's arrangement (riffle_dataflows
/// names it); the views keep being maintained after the index is dropped (its dataflow runs on
/// until the last of them is dropped), and a view created after the drop builds its own
/// arrangement.
#[tokio::test(flavor = "multi_thread")]
async fn joins_read_index_arrangements() {
    let server = TestServer::start_with(&["--workers", "2"]);
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE cust (id bigint, name text);
         CREATE TABLE ord (cust_id bigint, amount bigint);
         CREATE INDEX cust_id ON cust (id);
         CREATE MATERIALIZED VIEW totals AS SELECT c.name, sum(o.amount) AS total FROM ord o JOIN cust c ON o.cust_id = c.id GROUP BY c.name;
         CREATE MATERIALIZED VIEW by_amount AS SELECT o.amount, c.name FROM ord o JOIN cust c ON o.amount = c.id;
         INSERT INTO cust VALUES (1, 'ann'), (2, 'bob'), (NULL, 'nobody');
         INSERT INTO ord VALUES (1, 10), (1, 5), (2, 7), (NULL, 1);",
    )
    .await
    .unwrap();
    let reads = |view: &'static str| {
        let c = &c;
        async move {
            riffle_tests::sorted_rows(
                c,
                &format!("SELECT DISTINCT coalesce(reads_indexes, '-') FROM riffle_dataflows WHERE object = '{view}'"),
            )
            .await
        }
    };
    // Both views join on cust.id, the index's key: both read its arrangement.
    eventually("views read the index", || async {
        let (a, b) = (reads("totals").await?, reads("by_amount").await?);
        if a == ["cust_id"] && b == ["cust_id"] {
            Ok(())
        } else {
            Err(format!("{a:?} {b:?}"))
        }
    })
    .await;
    let rows = riffle_tests::sorted_rows(&c, "SELECT * FROM totals").await.unwrap();
    assert_eq!(rows, ["ann|15", "bob|7"]);
    let rows = riffle_tests::sorted_rows(&c, "SELECT * FROM by_amount").await.unwrap();
    assert_eq!(rows, ["1|ann"]);

    // Dropping the index leaves the views maintained from its (retired) arrangement.
    c.batch_execute("DROP INDEX cust_id; INSERT INTO cust VALUES (7, 'cy'); INSERT INTO ord VALUES (7, 2);")
        .await
        .unwrap();
    let rows = riffle_tests::sorted_rows(&c, "SELECT * FROM totals").await.unwrap();
    assert_eq!(rows, ["ann|15", "bob|7", "cy|2"]);
    let rows = riffle_tests::sorted_rows(&c, "SELECT * FROM by_amount").await.unwrap();
    assert_eq!(rows, ["1|ann", "2|bob", "7|cy"]);
    // A view created now builds its own arrangement.
    c.batch_execute("CREATE MATERIALIZED VIEW later AS SELECT c.name FROM ord o JOIN cust c ON o.cust_id = c.id")
        .await
        .unwrap();
    eventually("a new view reads no index", || async {
        let r = reads("later").await?;
        if r == ["-"] {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
    let retired = || async {
        c.query_one(
            "SELECT count(*) FROM riffle_dataflows WHERE name LIKE 'index % (dropped, still read)'",
            &[],
        )
        .await
        .map_err(|e| e.to_string())
        .map(|r| r.get::<_, i64>(0))
    };
    // The dropped index's dataflow runs on (once per worker) while the two views read it …
    eventually("the retired index is listed", || async {
        match retired().await? {
            2 => Ok(()),
            n => Err(format!("{n} retired index dataflows")),
        }
    })
    .await;
    c.batch_execute("DROP MATERIALIZED VIEW totals; DROP MATERIALIZED VIEW by_amount")
        .await
        .unwrap();
    // … and is dropped with the last of them.
    eventually("the retired index is gone", || async {
        match retired().await? {
            0 => Ok(()),
            n => Err(format!("{n} retired index dataflows")),
        }
    })
    .await;
    let rows = riffle_tests::sorted_rows(&c, "SELECT * FROM later").await.unwrap();
    assert_eq!(rows, ["ann", "ann", "bob", "cy"]);
}
