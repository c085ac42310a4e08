//! COPY against the real server: text and CSV byte for byte as PostgreSQL writes them, COPY-in
//! from clients, and the export formats read back by independent readers (pyarrow, pandas,
//! scikit-learn's load_svmlight_file).

use futures::{SinkExt, StreamExt};
use riffle_tests::TestServer;
use std::process::Command;

const SETUP: &str = "CREATE TABLE things (id integer NOT NULL, name text, price numeric(10,2), score double precision, ok boolean, day date, at timestamptz, tags text[]);
INSERT INTO things VALUES
  (1, 'plain', 12.50, 0.25, true, '2026-01-02', '2026-01-02 03:04:05+00', ARRAY['a', 'b']),
  (2, '', NULL, -1.5, false, NULL, NULL, ARRAY[]::text[]),
  (3, NULL, 0.00, 1e100, NULL, '1999-12-31', '2026-06-30 23:59:59.5+00', NULL),
  (4, 'tab\there, comma, \"quotes\"', 99999999.99, 3.141592653589793, true, '2026-02-28', '2026-01-01 00:00:00+00', ARRAY['x y', 'z,w']),
  (5, 'back\\slash and
newline', -0.01, 0, false, '2026-03-01', '2026-03-01 12:00:00+00', ARRAY[NULL, 'q']),
  (6, E'a real\ttab, a \\N and a CR\r', 1.10, 2.5, true, '2000-02-29', '1970-01-01 00:00:00+00', ARRAY['\\', '\"'])";

async fn copy_out(c: &tokio_postgres::Client, sql: &str) -> Vec<u8> {
    let stream = c.copy_out(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut stream = Box::pin(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

async fn copy_in(c: &tokio_postgres::Client, sql: &str, data: &[u8]) -> Result<u64, tokio_postgres::Error> {
    let sink = c.copy_in(sql).await?;
    let mut sink = Box::pin(sink);
    sink.send(bytes::Bytes::copy_from_slice(data)).await?;
    sink.as_mut().finish().await
}

/// The same COPY statements against PostgreSQL and Riffle give the same bytes.
#[tokio::test(flavor = "multi_thread")]
async fn copy_out_matches_postgres_byte_for_byte() {
    let Ok(pg_base) = std::env::var("RIFFLE_TEST_PG") else {
        eprintln!("RIFFLE_TEST_PG is not set; skipping (dev/test.sh sets it)");
        return;
    };
    let (pg, conn) = tokio_postgres::connect(&format!("{pg_base} dbname=postgres"), tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    let db = format!("riffle_copy_{}", std::process::id());
    pg.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).await.unwrap();
    pg.batch_execute(&format!("CREATE DATABASE {db}")).await.unwrap();
    let (pg, conn) = tokio_postgres::connect(&format!("{pg_base} dbname={db}"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    pg.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
    pg.batch_execute(SETUP).await.unwrap();
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute(SETUP).await.unwrap();
    for sql in [
        "COPY things TO STDOUT",
        "COPY (SELECT * FROM things ORDER BY id) TO STDOUT",
        "COPY (SELECT * FROM things ORDER BY id) TO STDOUT WITH (FORMAT csv)",
        "COPY (SELECT * FROM things ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)",
        "COPY (SELECT id, name FROM things ORDER BY id) TO STDOUT WITH (FORMAT csv, DELIMITER ';', NULL 'NULL', QUOTE '''')",
        "COPY (SELECT id, name, tags FROM things ORDER BY id) TO STDOUT WITH (DELIMITER '|', NULL '')",
        "COPY (SELECT id, name, price, score, ok FROM things ORDER BY id) TO STDOUT WITH (FORMAT binary)",
        "COPY (SELECT id * 2 AS twice, upper(name) FROM things WHERE id > 2 ORDER BY id DESC) TO STDOUT WITH (FORMAT csv, HEADER true)",
    ] {
        let sorted = |b: Vec<u8>| {
            if sql.starts_with("COPY things") {
                let mut lines: Vec<&str> = std::str::from_utf8(&b).unwrap().lines().collect();
                lines.sort();
                lines.join("\n").into_bytes()
            } else {
                b
            }
        };
        let want = sorted(copy_out(&pg, sql).await);
        let got = sorted(copy_out(&c, sql).await);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "{sql}: Riffle's bytes differ from PostgreSQL's"
        );
    }
    // What PostgreSQL wrote, Riffle reads back (text and CSV), and the tables agree.
    let text = copy_out(&pg, "COPY things TO STDOUT").await;
    let csv = copy_out(&pg, "COPY things TO STDOUT WITH (FORMAT csv, HEADER)").await;
    for t in ["t2", "t3"] {
        c.batch_execute(&SETUP[..SETUP.find(';').unwrap()].replace("things", t))
            .await
            .unwrap();
    }
    assert_eq!(copy_in(&c, "COPY t2 FROM STDIN", &text).await.unwrap(), 6);
    assert_eq!(copy_in(&c, "COPY t3 FROM STDIN WITH (FORMAT csv, HEADER)", &csv).await.unwrap(), 6);
    for t in ["t2", "t3"] {
        let back = copy_out(&c, &format!("COPY (SELECT * FROM {t} ORDER BY id) TO STDOUT")).await;
        let orig = copy_out(&pg, "COPY (SELECT * FROM things ORDER BY id) TO STDOUT").await;
        assert_eq!(String::from_utf8_lossy(&back), String::from_utf8_lossy(&orig), "{t}");
    }
    drop(pg);
}

/// COPY FROM STDIN from psql (`\copy`) and tokio-postgres: defaults for columns not named,
/// all-or-nothing on a bad line, views follow at once.
#[tokio::test(flavor = "multi_thread")]
async fn copy_in_from_clients() {
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE events (id integer NOT NULL, kind text, n integer DEFAULT 7, note text);
         CREATE MATERIALIZED VIEW per_kind AS SELECT kind, count(*) AS c, sum(n) AS n FROM events GROUP BY kind",
    )
    .await
    .unwrap();
    let n = copy_in(&c, "COPY events (id, kind) FROM STDIN", b"1\tclick\n2\tview\n3\tclick\n")
        .await
        .unwrap();
    assert_eq!(n, 3);
    let rows = riffle_tests::sorted_rows(&c, "SELECT kind, c, n FROM per_kind").await.unwrap();
    assert_eq!(rows, vec!["click|2|14", "view|1|7"]);
    // A bad line: nothing from this COPY is written, and the error says where.
    let err = copy_in(&c, "COPY events FROM STDIN WITH (FORMAT csv)", b"4,buy,1,\n5,buy,notanumber,\n")
        .await
        .unwrap_err();
    let db = err.as_db_error().expect("a database error");
    assert_eq!(db.code().code(), "22P02", "{db}");
    let err = copy_in(&c, "COPY events FROM STDIN WITH (FORMAT csv)", b"6,buy\n")
        .await
        .unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "22P04", "{err}");
    let err = copy_in(&c, "COPY events FROM STDIN", b"\\N\tbuy\t1\tx\n").await.unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "23502", "{err}");
    let count: i64 = c.query_one("SELECT count(*) FROM events", &[]).await.unwrap().get(0);
    assert_eq!(count, 3);
    // psql's \copy reads a client-side file and sends it as COPY FROM STDIN.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("more.csv");
    std::fs::write(&csv, "id,kind,n,note\n10,buy,2,\"said \"\"hi\"\", left\"\n11,buy,3,\n").unwrap();
    let out = server
        .psql()
        .args(["-v", "ON_ERROR_STOP=1"])
        .arg("-c")
        .arg(format!("\\copy events FROM '{}' WITH (FORMAT csv, HEADER)", csv.display()))
        .arg("-c")
        .arg("COPY (SELECT id, note FROM events WHERE id >= 10 ORDER BY id) TO STDOUT WITH (FORMAT csv)")
        .output()
        .expect("psql");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("COPY 2"), "{stdout}");
    assert!(stdout.contains("10,\"said \"\"hi\"\", left\"\n11,\n"), "{stdout}");
    let rows = riffle_tests::sorted_rows(&c, "SELECT kind, c, n FROM per_kind").await.unwrap();
    assert_eq!(rows, vec!["buy|2|5", "click|2|14", "view|1|7"]);
    // Defaults: `now()` is the statement's time, one value for every row it writes (as in
    // PostgreSQL); a default that fails fails the COPY whose rows take it, and only those.
    c.batch_execute("CREATE TABLE stamped (id integer, at timestamptz DEFAULT now(), bad integer DEFAULT 1/0)")
        .await
        .unwrap();
    let lines: String = (0..2000).map(|i| format!("{i}\t0\n")).collect();
    assert_eq!(
        copy_in(&c, "COPY stamped (id, bad) FROM STDIN", lines.as_bytes()).await.unwrap(),
        2000
    );
    let stamps: i64 = c.query_one("SELECT count(DISTINCT at) FROM stamped", &[]).await.unwrap().get(0);
    assert_eq!(stamps, 1);
    let err = copy_in(&c, "COPY stamped (id, at) FROM STDIN", b"1\t2020-01-01\n")
        .await
        .unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "22012", "{err}");
    assert_eq!(copy_in(&c, "COPY stamped (id, at) FROM STDIN", b"").await.unwrap(), 0);
    drop(c);
}

/// COPY FROM STDIN is read as its messages arrive: a large input in messages that cut lines
/// (and multi-byte characters) anywhere loads whole; a bad line deep inside one fails all of it.
#[tokio::test(flavor = "multi_thread")]
async fn copy_in_reads_messages_as_they_come() {
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE t (id bigint NOT NULL, name text, at timestamp)")
        .await
        .unwrap();
    let lines: String = (0..50_000)
        .map(|i| format!("{i}\tnäme\\t{i}\t2026-01-01 00:00:{:02}\n", i % 60))
        .collect();
    let sink = c.copy_in("COPY t FROM STDIN").await.unwrap();
    let mut sink = Box::pin(sink);
    for piece in lines.as_bytes().chunks(997) {
        sink.send(bytes::Bytes::copy_from_slice(piece)).await.unwrap();
    }
    assert_eq!(sink.as_mut().finish().await.unwrap(), 50_000);
    let row = c
        .query_one("SELECT count(*), sum(id)::text, count(DISTINCT name), min(name) FROM t", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 50_000);
    assert_eq!(row.get::<_, String>(1), "1249975000");
    assert_eq!(row.get::<_, i64>(2), 50_000);
    assert_eq!(row.get::<_, String>(3), "näme\t0");
    // Line 30,001 is bad: nothing of this COPY is written, and the error names the line.
    let bad: String = (0..40_000)
        .map(|i| {
            if i == 30_000 {
                "x\ty\tz\n".to_string()
            } else {
                format!("{i}\ta\t\\N\n")
            }
        })
        .collect();
    let sink = c.copy_in("COPY t FROM STDIN").await.unwrap();
    let mut sink = Box::pin(sink);
    for piece in bad.as_bytes().chunks(4096) {
        sink.send(bytes::Bytes::copy_from_slice(piece)).await.unwrap();
    }
    let err = sink.as_mut().finish().await.unwrap_err();
    let db = err.as_db_error().expect("a database error");
    assert_eq!(db.code().code(), "22P02", "{db}");
    let count: i64 = c.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get(0);
    assert_eq!(count, 50_000);
    // The connection is usable after the failed COPY.
    assert_eq!(copy_in(&c, "COPY t FROM STDIN", b"-1\tlast\t\\N").await.unwrap(), 1);
}

const READ_BACK: &str = r#"
import json, sys
import pyarrow.parquet as pq, pyarrow.ipc as ipc, pandas as pd
from sklearn.datasets import load_svmlight_file
d = sys.argv[1]
out = {}
t = pq.read_table(f"{d}/x.parquet")
out["parquet_schema"] = {f.name: str(f.type) for f in t.schema}
out["parquet"] = t.to_pylist()
a = ipc.open_file(f"{d}/x.arrow").read_all()
out["arrow_schema"] = {f.name: str(f.type) for f in a.schema}
out["arrow_rows"] = a.num_rows
c = pd.read_csv(f"{d}/x.csv")
out["csv_columns"] = list(c.columns)
out["csv_score_sum"] = float(c["score"].sum())
j = pd.read_json(f"{d}/x.jsonl", lines=True)
out["jsonl_ids"] = [int(v) for v in j["id"]]
out["jsonl_first_vec"] = j["vec"][0]
X, y = load_svmlight_file(f"{d}/x.svm")
out["svm_shape"] = list(X.shape)
out["svm_labels"] = [float(v) for v in y]
out["svm_dense"] = X.toarray().tolist()
print(json.dumps(out, default=str))
"#;

/// COPY (query) TO 'file' in every export format, read by pyarrow, pandas and scikit-learn;
/// COPY FROM a Parquet file pyarrow wrote and a CSV pandas wrote; Parquet over COPY-out.
#[tokio::test(flavor = "multi_thread")]
async fn export_formats_are_read_by_independent_readers() {
    if Command::new("python3")
        .args(["-c", "import pyarrow, pandas, sklearn"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        if std::env::var("RIFFLE_REQUIRE_SKLEARN").is_ok() {
            panic!("pyarrow/pandas/scikit-learn are required (dev/deps.sh test installs them)");
        }
        eprintln!("note: pyarrow/pandas/scikit-learn not installed; export test skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE train (id integer, label integer, score double precision, price numeric(10,2), name text, at timestamptz, vec real[]);
         INSERT INTO train VALUES
           (1, 1, 0.5, 10.25, 'a', '2026-01-01 00:00:00+00', ARRAY[1.5, 0, 2]),
           (2, 0, -1.25, NULL, NULL, NULL, ARRAY[0, 0, 0]),
           (3, 1, 2, 3.00, 'c, \"d\"', '2026-05-05 05:05:05+00', ARRAY[0, 4, 0])",
    )
    .await
    .unwrap();
    let q = "SELECT id, label, score, price, name, at, vec FROM train ORDER BY id";
    for (file, opts) in [
        ("x.parquet", "FORMAT parquet"),
        ("x.arrow", "FORMAT arrow"),
        ("x.csv", "FORMAT csv, HEADER"),
        ("x.jsonl", "FORMAT jsonl"),
    ] {
        let tag = c.execute(&format!("COPY ({q}) TO '{d}/{file}' WITH ({opts})"), &[]).await.unwrap();
        assert_eq!(tag, 3, "{file}");
    }
    c.batch_execute(&format!(
        "COPY (SELECT label, score, vec FROM train ORDER BY id) TO '{d}/x.svm' WITH (FORMAT libsvm)"
    ))
    .await
    .unwrap();
    let out = Command::new("python3").args(["-c", READ_BACK, &d]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["parquet_schema"],
        serde_json::json!({"id": "int32", "label": "int32", "score": "double", "price": "decimal128(10, 2)",
                           "name": "string", "at": "timestamp[us, tz=UTC]", "vec": "list<item: float>"})
    );
    let p = &v["parquet"];
    assert_eq!(p[0]["score"], 0.5);
    assert_eq!(p[0]["price"], "10.25");
    assert_eq!(p[2]["name"], "c, \"d\"");
    assert_eq!(p[1]["name"], serde_json::Value::Null);
    assert_eq!(p[0]["at"], "2026-01-01 00:00:00+00:00");
    assert_eq!(p[2]["vec"], serde_json::json!([0.0, 4.0, 0.0]));
    assert_eq!(v["arrow_schema"], v["parquet_schema"]);
    assert_eq!(v["arrow_rows"], 3);
    assert_eq!(
        v["csv_columns"],
        serde_json::json!(["id", "label", "score", "price", "name", "at", "vec"])
    );
    assert_eq!(v["csv_score_sum"], 1.25);
    assert_eq!(v["jsonl_ids"], serde_json::json!([1, 2, 3]));
    assert_eq!(v["jsonl_first_vec"], serde_json::json!([1.5, 0, 2]));
    assert_eq!(v["svm_shape"], serde_json::json!([3, 4]));
    assert_eq!(v["svm_labels"], serde_json::json!([1.0, 0.0, 1.0]));
    assert_eq!(
        v["svm_dense"],
        serde_json::json!([[0.5, 1.5, 0.0, 2.0], [-1.25, 0.0, 0.0, 0.0], [2.0, 0.0, 4.0, 0.0]])
    );
    // Parquet over COPY-out (what psql's \copy … TO 'file' WITH (FORMAT parquet) receives).
    let bytes = copy_out(&c, &format!("COPY ({q}) TO STDOUT WITH (FORMAT parquet)")).await;
    std::fs::write(dir.path().join("client.parquet"), &bytes).unwrap();
    let rows = Command::new("python3")
        .args([
            "-c",
            "import sys, pyarrow.parquet as pq; print(pq.read_table(sys.argv[1]).num_rows)",
        ])
        .arg(dir.path().join("client.parquet"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&rows.stdout).trim(), "3");
    // Back in: a Parquet file pyarrow wrote (its own types, cast to the table's), a CSV from pandas.
    let write = r#"
import sys, pyarrow as pa, pyarrow.parquet as pq, pandas as pd
d = sys.argv[1]
t = pa.table({"id": pa.array([7, 8], pa.int64()), "score": [0.75, None], "name": ["p", "q"],
              "vec": pa.array([[1.0, 2.0], [3.0]], pa.list_(pa.float64()))})
pq.write_table(t, f"{d}/in.parquet")
pd.DataFrame({"id": [9], "score": [1.5], "name": ["from pandas"], "vec": ["{0.5}"]}).to_csv(f"{d}/in.csv", index=False)
"#;
    let out = Command::new("python3").args(["-c", write, &d]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    c.batch_execute(&format!(
        "CREATE TABLE back (id integer, score real, name text, vec real[], added text DEFAULT 'yes');
         COPY back (id, score, name, vec) FROM '{d}/in.parquet' WITH (FORMAT parquet);
         COPY back (id, score, name, vec) FROM '{d}/in.csv' WITH (FORMAT csv, HEADER)"
    ))
    .await
    .unwrap();
    let rows = riffle_tests::sorted_rows(&c, "SELECT id, score, name, vec, added FROM back")
        .await
        .unwrap();
    assert_eq!(rows, vec!["7|0.75|p|{1,2}|yes", "8|NULL|q|{3}|yes", "9|1.5|from pandas|{0.5}|yes"]);
    // Errors: unreadable files, a file that is not Parquet, an unknown format, binary to a file.
    for (sql, code) in [
        (format!("COPY back FROM '{d}/missing.csv' WITH (FORMAT csv)"), "58P01"),
        (format!("COPY back FROM '{d}/in.csv' WITH (FORMAT parquet)"), "22P04"),
        (format!("COPY back TO '{d}/x.bin' WITH (FORMAT binary)"), "22023"),
        ("COPY back TO STDOUT WITH (FORMAT excel)".to_string(), "22023"),
        (format!("COPY back FROM '{d}/x.jsonl' WITH (FORMAT jsonl)"), "0A000"),
        (
            "COPY (SELECT label FROM train) TO STDOUT WITH (FORMAT libsvm, HEADER)".to_string(),
            "22023",
        ),
    ] {
        let err = c.batch_execute(&sql).await.unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some(code), "{sql}: {err}");
    }
}

/// Server files a statement may not touch: special files are not read (nothing endless or
/// slow ties the server up), the data directory is never written (through `..` too), and a
/// file whose data does not fit the table is refused without quoting it.
#[tokio::test(flavor = "multi_thread")]
async fn server_files_are_guarded() {
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE t (a integer, b text)").await.unwrap();
    let code = |e: tokio_postgres::Error| e.code().map(|c| c.code().to_string()).unwrap_or_default();
    let err = c.batch_execute("COPY t FROM '/dev/zero'").await.unwrap_err();
    assert_eq!(code(err), "42501");
    let inside = server.data_dir.join("db").join("stolen.csv");
    let err = c
        .batch_execute(&format!("COPY (SELECT 1) TO '{}' WITH (FORMAT csv)", inside.display()))
        .await
        .unwrap_err();
    assert_eq!(code(err), "42501");
    let sneaky = format!("{}/db/../db/x.csv", server.data_dir.display());
    let err = c.batch_execute(&format!("COPY (SELECT 1) TO '{sneaky}'")).await.unwrap_err();
    assert_eq!(code(err), "42501");
    assert!(!inside.exists());
    // A file with data that does not fit: refused, and not quoted.
    let secret = server.data_dir.with_extension("secret.txt");
    std::fs::write(&secret, "hunter2\tsecret-value\n").unwrap();
    let err = c.batch_execute(&format!("COPY t FROM '{}'", secret.display())).await.unwrap_err();
    let message = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
    assert_eq!(code(err), "22P04");
    assert!(!message.contains("hunter2") && !message.contains("secret-value"), "{message}");
    // A regular file outside the data directory is read and written as before.
    let out = server.data_dir.with_extension("out.csv");
    c.batch_execute(&format!("COPY (SELECT 7, 'x') TO '{}' WITH (FORMAT csv)", out.display()))
        .await
        .unwrap();
    c.batch_execute(&format!("COPY t FROM '{}' WITH (FORMAT csv)", out.display()))
        .await
        .unwrap();
    assert_eq!(c.query_one("SELECT count(*) FROM t", &[]).await.unwrap().get::<_, i64>(0), 1);
    let _ = std::fs::remove_file(secret);
    let _ = std::fs::remove_file(out);
}
