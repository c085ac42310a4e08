//! Real PostgreSQL clients against the real server: tokio-postgres (binary results and typed
//! parameters), psql (simple protocol), psycopg 3 (extended protocol) and JDBC.

use riffle_tests::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn tokio_postgres_types_params_and_errors() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (b boolean, s smallint, i integer, g bigint, r real, d double precision, n numeric(10,2),
                             txt text, v varchar(10), y bytea, j jsonb);
             CREATE MATERIALIZED VIEW agg AS SELECT count(*) AS n, sum(g) AS total FROM t",
        )
        .await
        .unwrap();
    let stmt = client
        .prepare("INSERT INTO t (b, s, i, g, r, d, txt, v, y) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .await
        .unwrap();
    let types: Vec<String> = stmt.params().iter().map(|t| t.name().to_string()).collect();
    assert_eq!(
        types,
        ["bool", "int2", "int4", "int8", "float4", "float8", "text", "varchar", "bytea"]
    );
    let n = client
        .execute(
            &stmt,
            &[
                &true,
                &7i16,
                &42i32,
                &9_000_000_000i64,
                &1.5f32,
                &2.25f64,
                &"hello",
                &"var",
                &vec![1u8, 2, 255],
            ],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    client
        .execute("INSERT INTO t (g, n, j) VALUES ($1, 12.5, '{\"k\": [1, 2]}')", &[&1i64])
        .await
        .unwrap();

    // Binary-format results, decoded by tokio-postgres' own FromSql impls.
    let row = client
        .query_one("SELECT b, s, i, g, r, d, txt, v, y FROM t WHERE i = $1", &[&42i32])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i16>(1), 7);
    assert_eq!(row.get::<_, i32>(2), 42);
    assert_eq!(row.get::<_, i64>(3), 9_000_000_000);
    assert_eq!(row.get::<_, f32>(4), 1.5);
    assert_eq!(row.get::<_, f64>(5), 2.25);
    assert_eq!(row.get::<_, &str>(6), "hello");
    assert_eq!(row.get::<_, &str>(7), "var");
    assert_eq!(row.get::<_, Vec<u8>>(8), vec![1, 2, 255]);
    let cols: Vec<String> = row.columns().iter().map(|c| c.type_().name().to_string()).collect();
    assert_eq!(
        cols,
        ["bool", "int2", "int4", "int8", "float4", "float8", "text", "varchar", "bytea"]
    );

    // Values without binary decoders in tokio-postgres come back as text through simple_query.
    let rows = client.simple_query("SELECT n, j FROM t WHERE g = 1").await.unwrap();
    let first = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => Some((r.get(0).unwrap().to_string(), r.get(1).unwrap().to_string())),
        _ => None,
    });
    assert_eq!(first, Some(("12.50".to_string(), "{\"k\": [1, 2]}".to_string())));

    let row = client.query_one("SELECT n, total FROM agg", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);

    // Errors carry SQLSTATEs, and the session goes on.
    let err = client.query("SELECT * FROM missing", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42P01");
    let err = client.query("SELECT 1/0", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "22012");
    let err = client.execute("INSERT INTO t (s) VALUES ('x')", &[]).await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "22P02");
    let row = client.query_one("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
}

#[test]
fn psql_simple_protocol() {
    let server = TestServer::start();
    let out = server
        .psql()
        .args(["-v", "ON_ERROR_STOP=0", "-At"])
        .args(["-c", "CREATE TABLE p (a int, b text)"])
        .args(["-c", "INSERT INTO p VALUES (1, 'one'), (2, 'two')"])
        .args(["-c", "CREATE MATERIALIZED VIEW pv AS SELECT b, a * 10 AS a10 FROM p"])
        .args(["-c", "SELECT * FROM pv ORDER BY a10"])
        .args(["-c", "SELECT nope"])
        .args(["-c", "\\dt"])
        .args(["-c", "SELECT count(*) FROM p"])
        .output()
        .expect("run psql (apt-get install postgresql-client)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("one|10\ntwo|20\n"), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("column \"nope\" does not exist"), "stderr: {stderr}");
    assert!(stdout.contains("public|p|table|riffle\n"), "\\dt lists the table: {stdout}");
    assert!(stdout.trim_end().ends_with('2'), "session continued after the error: {stdout}");
}

#[test]
fn psycopg_extended_protocol() {
    let server = TestServer::start();
    riffle_tests::run_python("psycopg_test.py", &[&server.port.to_string()]);
}

#[test]
fn jdbc_driver() {
    let server = TestServer::start();
    riffle_tests::run_java("JdbcTest", &[&server.port.to_string()]);
}

/// SUBSCRIBE streams a view's changes over COPY-out (psycopg's `copy()`): the snapshot, then
/// each change as it happens, one row per CopyData message (`mz_timestamp`, `mz_diff`, columns).
#[test]
fn subscribe_streams_changes() {
    let server = TestServer::start();
    riffle_tests::run_python("subscribe_test.py", &[&server.port.to_string()]);
}

/// SUBSCRIBE through the extended protocol (tokio-postgres' `copy_out` prepares, binds and
/// executes it), starting AS OF a retained past time: the snapshot at that time, the changes
/// since, then live changes, until a cancel request ends it and the connection carries on.
#[tokio::test(flavor = "multi_thread")]
async fn tokio_postgres_subscribe_as_of_and_cancel() {
    use futures::StreamExt;
    let server = TestServer::start_with(&["--test-clock"]);
    let client = server.connect().await;
    client
        .batch_execute(
            "SET riffle_test_clock = 1000;
             CREATE TABLE t (k text, v integer) WITH (RETAIN HISTORY FOR '1 hour');
             INSERT INTO t VALUES ('a', 1);
             SET riffle_test_clock = 2000;
             UPDATE t SET v = 2 WHERE k = 'a';",
        )
        .await
        .unwrap();
    let watcher = server.connect().await;
    let stream = watcher.copy_out("SUBSCRIBE t AS OF 1500 WITH (PROGRESS)").await.unwrap();
    let mut stream = Box::pin(stream);
    let mut lines: Vec<String> = Vec::new();
    let mut next_line = async || -> String {
        let bytes = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
            .await
            .expect("a row within 20 s")
            .expect("stream open")
            .expect("no error");
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    // Snapshot at 1500, then the update at 2001, each followed by progress rows.
    while !lines.iter().any(|l| l.starts_with("2001\tf\t1\t")) {
        let line = next_line().await;
        if !line.contains("\tt\t") {
            lines.push(line);
        }
    }
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(sorted, ["1500\tf\t1\ta\t1\n", "2001\tf\t-1\ta\t1\n", "2001\tf\t1\ta\t2\n"]);
    // A live change arrives too.
    client
        .batch_execute("SET riffle_test_clock = 3000; INSERT INTO t VALUES ('b', 3)")
        .await
        .unwrap();
    loop {
        let line = next_line().await;
        if line.starts_with("3001\tf\t1\tb\t3") {
            break;
        }
        assert!(line.contains("\tt\t"), "unexpected {line:?}");
    }
    // Cancel ends the stream with 57014, and the connection is usable afterwards.
    watcher.cancel_token().cancel_query(tokio_postgres::NoTls).await.unwrap();
    let err = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
            .await
            .expect("cancel within 20 s")
        {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => panic!("stream ended without the cancel error"),
        }
    };
    assert_eq!(err.code().map(|c| c.code()), Some("57014"), "{err}");
    drop(stream);
    let row = watcher.query_one("SELECT count(*) FROM t", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
    // AS OF before the table's retained history is refused with 22023 before streaming.
    let err = watcher.copy_out("SUBSCRIBE t AS OF 10").await.err().expect("refused");
    assert_eq!(err.code().map(|c| c.code()), Some("22023"), "{err}");
}

/// A SUBSCRIBE whose relation is dropped while it streams ends with 42P01, as a SELECT caught
/// by the same DROP does (rather than streaming nothing forever), directly, through a view, and
/// through a materialized view dropped by CASCADE; the session goes on.
#[tokio::test(flavor = "multi_thread")]
async fn subscribe_ends_with_42p01_when_its_relation_is_dropped() {
    use futures::StreamExt;
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE t (a int);
             INSERT INTO t VALUES (1);
             CREATE MATERIALIZED VIEW mv AS SELECT count(*) FROM t;",
        )
        .await
        .unwrap();
    let mut streams = Vec::new();
    let mut watchers = Vec::new();
    for query in ["SUBSCRIBE t", "SUBSCRIBE (SELECT a + 1 FROM t)", "SUBSCRIBE mv"] {
        let watcher = server.connect().await;
        let mut stream = Box::pin(watcher.copy_out(query).await.unwrap());
        // The snapshot's one row arrives first.
        let first = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next()).await;
        assert!(matches!(first, Ok(Some(Ok(_)))), "{query}: {first:?}");
        streams.push((query, stream));
        watchers.push(watcher);
    }
    client.batch_execute("DROP TABLE t CASCADE").await.unwrap();
    for (query, mut stream) in streams {
        let end = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
            .await
            .unwrap_or_else(|_| panic!("{query}: still streaming 20 s after the DROP"));
        let err = match end {
            Some(Err(e)) => e,
            other => panic!("{query}: expected an error, got {other:?}"),
        };
        let code = err.as_db_error().map(|e| e.code().code().to_string());
        assert_eq!(code.as_deref(), Some("42P01"), "{query}: {err}");
    }
    for watcher in &watchers {
        assert_eq!(watcher.query_one("SELECT 1", &[]).await.unwrap().get::<_, i32>(0), 1);
    }
}
