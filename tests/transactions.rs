//! Transaction blocks seen by several clients at once: a block reads one snapshot, nobody
//! sees part of a block, the first of two conflicting blocks to commit wins (40001 for the
//! other, and the table stays consistent), blind inserts never conflict, and a client that
//! goes away mid-block leaves nothing behind. (Single-client semantics are in
//! tests/slt/transactions.slt, checked against PostgreSQL.)

use futures::StreamExt;
use riffle_tests::TestServer;
use std::time::Duration;

async fn count(c: &tokio_postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_block_reads_one_snapshot_and_its_own_writes() {
    let server = TestServer::start();
    let (a, b) = (server.connect().await, server.connect().await);
    a.batch_execute("CREATE TABLE t (k int, v int); INSERT INTO t VALUES (1, 1), (2, 2)")
        .await
        .unwrap();
    a.batch_execute("BEGIN").await.unwrap();
    assert_eq!(count(&a, "SELECT count(*) FROM t").await, 2);
    b.batch_execute("INSERT INTO t VALUES (3, 3)").await.unwrap();
    // Long enough for compaction to have passed the snapshot, were it not held.
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.batch_execute("INSERT INTO t VALUES (4, 4)").await.unwrap();
    assert_eq!(count(&a, "SELECT count(*) FROM t").await, 2, "the snapshot moved");
    a.batch_execute("INSERT INTO t VALUES (9, 9)").await.unwrap();
    assert_eq!(count(&a, "SELECT count(*) FROM t").await, 3, "own write not seen");
    assert_eq!(count(&b, "SELECT count(*) FROM t").await, 4, "uncommitted write seen outside");
    // The block read t, which b wrote after its snapshot: its write cannot commit (the count
    // it saw is stale), and it leaves nothing.
    let err = a.batch_execute("COMMIT").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("40001"), "{err}");
    assert_eq!(count(&a, "SELECT count(*) FROM t").await, 4);
    // Without a concurrent write the same block commits.
    a.batch_execute("BEGIN").await.unwrap();
    assert_eq!(count(&a, "SELECT count(*) FROM t").await, 4);
    a.batch_execute("INSERT INTO t VALUES (9, 9); COMMIT").await.unwrap();
    assert_eq!(count(&b, "SELECT count(*) FROM t").await, 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn nobody_sees_part_of_a_block() {
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE t (k int); CREATE MATERIALIZED VIEW n AS SELECT count(*) AS n FROM t")
        .await
        .unwrap();
    let watcher = server.connect().await;
    let mut stream = Box::pin(watcher.copy_out("SUBSCRIBE t WITH (SNAPSHOT = false)").await.unwrap());
    c.batch_execute("BEGIN; INSERT INTO t VALUES (1); INSERT INTO t VALUES (2), (3); DELETE FROM t WHERE k = 2")
        .await
        .unwrap();
    assert_eq!(count(&watcher_client(&server).await, "SELECT n FROM n").await, 0);
    c.batch_execute("COMMIT").await.unwrap();
    let mut seen: Vec<(String, String)> = Vec::new();
    while seen.len() < 2 {
        let line = tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .expect("changes within 20 s")
            .expect("stream open")
            .expect("no error");
        let line = String::from_utf8(line.to_vec()).unwrap();
        let fields: Vec<&str> = line.trim_end().split('\t').collect();
        seen.push((fields[0].to_string(), fields[2].to_string()));
    }
    // The net effect (1 and 3 inserted, 2 never) at one timestamp.
    assert_eq!(seen[0].0, seen[1].0, "one timestamp for the block: {seen:?}");
    let mut rows: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
    rows.sort();
    assert_eq!(rows, ["1", "3"]);
    assert_eq!(count(&c, "SELECT n FROM n").await, 2);
}

async fn watcher_client(server: &TestServer) -> tokio_postgres::Client {
    server.connect().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_of_two_conflicting_blocks_wins() {
    let server = TestServer::start();
    let (a, b) = (server.connect().await, server.connect().await);
    a.batch_execute("CREATE TABLE acct (id int, balance int); INSERT INTO acct VALUES (1, 100), (2, 100)")
        .await
        .unwrap();
    a.batch_execute("BEGIN; UPDATE acct SET balance = balance - 10 WHERE id = 1")
        .await
        .unwrap();
    b.batch_execute("BEGIN; UPDATE acct SET balance = balance - 20 WHERE id = 1; COMMIT")
        .await
        .unwrap();
    let err = a.batch_execute("COMMIT").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("40001"), "{err}");
    // b's update alone, and no row retracted twice.
    let rows = a.query("SELECT id, balance FROM acct ORDER BY id", &[]).await.unwrap();
    let rows: Vec<(i32, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(rows, [(1, 80), (2, 100)]);
    // The session goes on, out of the block.
    a.batch_execute("UPDATE acct SET balance = 0 WHERE id = 2").await.unwrap();
    assert_eq!(count(&b, "SELECT sum(balance)::bigint FROM acct").await, 80);
}

#[tokio::test(flavor = "multi_thread")]
async fn blind_inserts_never_conflict() {
    let server = TestServer::start();
    let (a, b) = (server.connect().await, server.connect().await);
    a.batch_execute("CREATE TABLE log (k int)").await.unwrap();
    a.batch_execute("BEGIN; INSERT INTO log VALUES (1)").await.unwrap();
    b.batch_execute("BEGIN; INSERT INTO log VALUES (2); COMMIT").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(count(&a, "SELECT count(*) FROM log").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_goes_away_mid_block_leaves_nothing() {
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE t (k int)").await.unwrap();
    {
        let gone = server.connect().await;
        gone.batch_execute("BEGIN; INSERT INTO t VALUES (1), (2)").await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count(&c, "SELECT count(*) FROM t").await, 0);
    // COPY FROM STDIN inside a block is buffered with the rest.
    c.batch_execute("BEGIN").await.unwrap();
    let sink = c.copy_in("COPY t FROM STDIN").await.unwrap();
    futures::pin_mut!(sink);
    use futures::SinkExt;
    sink.send(bytes::Bytes::from_static(b"7\n8\n")).await.unwrap();
    assert_eq!(sink.as_mut().finish().await.unwrap(), 2);
    assert_eq!(count(&c, "SELECT count(*) FROM t").await, 2);
    assert_eq!(count(&server.connect().await, "SELECT count(*) FROM t").await, 0);
    c.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM t").await, 0);
}

/// `idle_in_transaction_session_timeout`: a block left idle longer is rolled back (its writes
/// never appear) and its connection is closed with 25P03 at its next message; a block that
/// keeps talking, or a session outside a block, is not touched.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_block_times_out() {
    let server = TestServer::start();
    let (a, b) = (server.connect().await, server.connect().await);
    b.batch_execute("CREATE TABLE t (k int)").await.unwrap();
    let err = a
        .batch_execute("SET idle_in_transaction_session_timeout = 'soon'")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("22023"));
    a.batch_execute("SET idle_in_transaction_session_timeout = '400ms'").await.unwrap();
    // Busy in a block, and idle outside one: neither times out.
    a.batch_execute("BEGIN; INSERT INTO t VALUES (1)").await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        a.batch_execute("SELECT 1").await.unwrap();
    }
    a.batch_execute("COMMIT").await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(count(&a, "SELECT count(*) FROM t").await, 1);
    // Idle in a block: rolled back and closed.
    a.batch_execute("BEGIN; INSERT INTO t VALUES (2)").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let err = a.batch_execute("COMMIT").await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("25P03"), "{err}");
    assert!(
        a.is_closed() || a.batch_execute("SELECT 1").await.is_err(),
        "the connection stays open"
    );
    assert_eq!(count(&b, "SELECT count(*) FROM t").await, 1, "the idle block's write was kept");
}
