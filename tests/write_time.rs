//! Logical time under write load, against the real binary on the wall clock: writes in one
//! millisecond share its timestamp, so however many writes arrive, logical time stays with
//! the clock (one timestamp per write once put it a second ahead for every thousand writes,
//! and a temporal filter then expired rows as they arrived). Reads still see every
//! acknowledged write.

use riffle_tests::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn time_keeps_to_the_clock_under_many_writes() {
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute(
        "CREATE TABLE hits (n bigint);
         CREATE TABLE probe (t timestamptz);
         CREATE MATERIALIZED VIEW recent AS SELECT t FROM probe WHERE mz_now() <= t + INTERVAL '3 seconds';",
    )
    .await
    .unwrap();
    // 16 connections × 400 single-row INSERTs, as fast as they are acknowledged.
    let mut tasks = Vec::new();
    for w in 0..16i64 {
        let conn = server.connect().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..400i64 {
                conn.execute("INSERT INTO hits VALUES ($1)", &[&(w * 1000 + i)]).await.unwrap();
                // Each writer reads its own write back now and then.
                if i % 100 == 99 {
                    let n: i64 = conn
                        .query_one("SELECT count(*) FROM hits WHERE n = $1", &[&(w * 1000 + i)])
                        .await
                        .unwrap()
                        .get(0);
                    assert_eq!(n, 1, "an acknowledged write is visible to its writer");
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n: i64 = c.query_one("SELECT count(*) FROM hits", &[]).await.unwrap().get(0);
    assert_eq!(n, 6400);
    // A row stamped with the wall clock now is inside a 3-second window of logical time.
    c.batch_execute("INSERT INTO probe VALUES (now())").await.unwrap();
    let rows = riffle_tests::sorted_rows(&c, "SELECT count(*) FROM recent").await.unwrap();
    assert_eq!(rows, ["1"], "logical time ran ahead of the clock");
}

/// An ad hoc query reads its snapshot as one time, however many writes made it: `avg`'s
/// displayed scale is PostgreSQL's for the whole input (over one row of 2 it is
/// 2.00000000000000000000, over two 2.0000000000000000, equal values that rows compare equal),
/// also when the input is read through an index.
#[tokio::test(flavor = "multi_thread")]
async fn ad_hoc_reads_see_one_snapshot() {
    let server = TestServer::start_with(&["--test-clock"]);
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE sc (x integer, c numeric(10,2))").await.unwrap();
    for _ in 0..3 {
        c.batch_execute("INSERT INTO sc VALUES (2, 1.50)").await.unwrap();
    }
    let rows = riffle_tests::sorted_rows(&c, "SELECT avg(x), avg(c), sum(c) FROM sc")
        .await
        .unwrap();
    assert_eq!(rows, vec!["2.0000000000000000|1.5000000000000000|4.50"]);
    c.batch_execute("CREATE INDEX sc_x ON sc (x)").await.unwrap();
    let rows = riffle_tests::sorted_rows(&c, "SELECT a.x, avg(b.c) FROM sc a JOIN sc b ON a.x = b.x GROUP BY a.x")
        .await
        .unwrap();
    assert_eq!(rows, vec!["2|1.5000000000000000"]);
}
