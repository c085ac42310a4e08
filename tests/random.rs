//! Randomized differential test: random schemas and random queries from the supported grammar (joins,
//! aggregates, subqueries, window functions, NULLs) become materialized views in Riffle,
//! created before and between random batches of INSERT/UPDATE/DELETE that both Riffle and
//! PostgreSQL apply. After every batch each view must equal the same query on PostgreSQL.
//! Every other view is created `WITH (EXPECTED GROUP SIZE 100000)`, so grouped min/max/top-k
//! are also checked through their bucketed (hierarchical) form.
//!
//! CI runs a fixed seed. A longer run: `RIFFLE_RANDOM_SEED=<n> RIFFLE_RANDOM_ROUNDS=<n>
//! cargo test -p riffle-tests --test random -- --nocapture`. A mismatch prints the seed, the
//! query and the statements so far; turn it into an .slt regression under tests/slt.

use riffle_tests::generate::{query, writes, Rng};
use riffle_tests::TestServer;
use tokio_postgres::{Client, NoTls};

async fn connect(conn: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(conn, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

async fn rows(client: &Client, sql: &str) -> Result<Vec<String>, String> {
    riffle_tests::sorted_rows(client, sql).await
}

#[tokio::test(flavor = "multi_thread")]
async fn views_match_postgres_under_random_writes() {
    let Ok(pg_base) = std::env::var("RIFFLE_TEST_PG") else {
        eprintln!("RIFFLE_TEST_PG is not set; skipping (dev/test.sh sets it)");
        return;
    };
    let seed: u64 = std::env::var("RIFFLE_RANDOM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261125);
    let rounds: u64 = std::env::var("RIFFLE_RANDOM_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    for round in 0..rounds {
        let round_seed = seed.wrapping_add(round).max(1);
        let mut rng = Rng(round_seed);
        let server = TestServer::start();
        let riffle = connect(&server.conn_str()).await;
        let admin = connect(&format!("{pg_base} dbname=postgres")).await;
        let db = format!("random_{}", round);
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db}")).await.unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {db} TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"))
            .await
            .unwrap();
        let pg = connect(&format!("{pg_base} dbname={db}")).await;
        let mut log = Vec::new();
        let run_both = async |sql: String, log: &mut Vec<String>| {
            log.push(sql.clone());
            let r = riffle.batch_execute(&sql).await.map_err(|e| e.to_string());
            let p = pg.batch_execute(&sql).await.map_err(|e| e.to_string());
            assert_eq!(r.is_ok(), p.is_ok(), "seed {round_seed}: `{sql}` riffle: {r:?} postgres: {p:?}");
        };
        for t in ["t1", "t2"] {
            // A random schema: the value columns' types vary per table and round.
            let b_type = rng.pick(&["integer", "bigint", "smallint", "numeric(10,2)"]);
            let s_type = rng.pick(&["text", "varchar(8)"]);
            run_both(
                format!("CREATE TABLE {t} (id integer NOT NULL, a integer, b {b_type}, s {s_type})"),
                &mut log,
            )
            .await;
        }
        // Indexes on join and filter columns: views whose joins match one read its arrangement.
        let mut indexes = Vec::new();
        for (t, c) in [("t1", "a"), ("t1", "b"), ("t2", "a"), ("t2", "b")] {
            if rng.below(2) == 0 {
                let name = format!("{t}_{c}_idx");
                run_both(format!("CREATE INDEX {name} ON {t} ({c})"), &mut log).await;
                indexes.push(name);
            }
        }
        let mut next_id = 0;
        let mut views: Vec<(String, String)> = Vec::new();
        for batch in 0..12 {
            // Halfway, an index some views read may go: they must go on being maintained.
            if batch == 6 && !indexes.is_empty() && rng.below(2) == 0 {
                let name = indexes.swap_remove(rng.below(indexes.len() as u64) as usize);
                run_both(format!("DROP INDEX {name}"), &mut log).await;
            }
            if batch % 3 == 0 {
                for _ in 0..3 {
                    let q = query(&mut rng);
                    let name = format!("v{}", views.len());
                    // Every other view reduces its groups' min/max/top-k in buckets.
                    let options = if views.len() % 2 == 1 {
                        "WITH (EXPECTED GROUP SIZE 100000)"
                    } else {
                        ""
                    };
                    match riffle
                        .batch_execute(&format!("CREATE MATERIALIZED VIEW {name} {options} AS {q}"))
                        .await
                    {
                        Ok(()) => views.push((name, q)),
                        Err(e) => panic!(
                            "seed {round_seed}: CREATE MATERIALIZED VIEW failed for `{q}`: {:?}",
                            e.as_db_error().map(|d| d.message())
                        ),
                    }
                }
            }
            for w in writes(&mut rng, &mut next_id) {
                run_both(w, &mut log).await;
            }
            for (name, q) in &views {
                let maintained = rows(&riffle, &format!("SELECT * FROM {name}")).await;
                let expected = rows(&pg, q).await;
                assert_eq!(
                    maintained,
                    expected,
                    "seed {round_seed}, batch {batch}: view `{q}` differs from PostgreSQL\nstatements so far:\n{}",
                    log.join(";\n")
                );
            }
        }
        eprintln!("seed {round_seed}: {} views checked over 12 batches", views.len());
    }
}
