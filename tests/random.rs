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

use riffle_tests::TestServer;
use tokio_postgres::{Client, NoTls};

/// A small deterministic generator (xorshift64*), so a seed reproduces a run anywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn int_value(rng: &mut Rng) -> String {
    if rng.chance(15) {
        "NULL".into()
    } else {
        rng.below(6).to_string()
    }
}

fn text_value(rng: &mut Rng) -> String {
    if rng.chance(15) {
        "NULL".into()
    } else {
        format!("'{}'", rng.pick(&["x", "y", "z", ""]))
    }
}

fn row(rng: &mut Rng, id: u64) -> String {
    format!("({id}, {}, {}, {})", int_value(rng), int_value(rng), text_value(rng))
}

fn predicate(rng: &mut Rng, t: &str) -> String {
    match rng.below(6) {
        0 => format!("{t}.a > {}", rng.below(5)),
        1 => format!("{t}.b IS NULL"),
        2 => format!("{t}.s = '{}'", rng.pick(&["x", "y", ""])),
        3 => format!("{t}.a = {t}.b"),
        4 => format!("({t}.a < 3 OR {t}.s <> 'z')"),
        _ => format!("coalesce({t}.b, 0) + {t}.a <= 4"),
    }
}

/// A random query over tables t1(id, a, b, s) and t2(id, a, b, s).
///
/// Set operations combine columns of one type: where PostgreSQL deduplicates numerically equal
/// values of different scales (2 and 2.00) it keeps whichever it met first, which no
/// maintained view can reproduce, so such queries would compare arbitrary choices.
fn query(rng: &mut Rng) -> String {
    match rng.below(12) {
        0 => format!("SELECT a, b, s FROM t1 WHERE {}", predicate(rng, "t1")),
        1 => format!(
            "SELECT t1.s, {}(t1.b) AS agg, count(*) AS n FROM t1 {} JOIN t2 ON t1.a = t2.a GROUP BY t1.s",
            rng.pick(&["sum", "min", "max", "count", "avg"]),
            rng.pick(&["", "LEFT"])
        ),
        2 => format!(
            "SELECT a, count(DISTINCT s) AS nd, sum(b) AS sb FROM t{} GROUP BY a HAVING count(*) > {}",
            1 + rng.below(2),
            rng.below(3)
        ),
        3 => format!(
            "SELECT DISTINCT t1.a, t2.s FROM t1, t2 WHERE t1.b = t2.a AND {}",
            predicate(rng, "t2")
        ),
        4 => format!(
            "SELECT id, a FROM t1 WHERE a {} (SELECT b FROM t2 WHERE {})",
            rng.pick(&["IN", "NOT IN"]),
            predicate(rng, "t2")
        ),
        5 => format!(
            "SELECT id FROM t1 WHERE {}EXISTS (SELECT 1 FROM t2 WHERE t2.a = t1.a AND {})",
            rng.pick(&["", "NOT "]),
            predicate(rng, "t2")
        ),
        6 => {
            "SELECT id, (SELECT count(*) FROM t2 WHERE t2.b = t1.b) AS c, (SELECT max(t2.s) FROM t2 WHERE t2.a = t1.a) AS m FROM t1".into()
        }
        7 => format!(
            "SELECT id, a, {}() OVER (PARTITION BY a ORDER BY b, id) AS r FROM t1",
            rng.pick(&["row_number", "rank", "dense_rank"])
        ),
        8 => format!(
            "SELECT id, a, b FROM (SELECT id, a, b, row_number() OVER (PARTITION BY a ORDER BY b {} NULLS LAST, id) AS r FROM t{}) x WHERE r <= {}",
            rng.pick(&["ASC", "DESC"]),
            1 + rng.below(2),
            1 + rng.below(3)
        ),
        9 => format!(
            "SELECT min(b) AS lo, max(s) AS hi, bool_or(a > 2) AS any_big{} FROM t{} WHERE {}",
            rng.pick(&["", ", count(*) AS n", ", sum(a) AS sa"]),
            1 + rng.below(2),
            predicate(rng, "t1").replace("t1.", "")
        ),
        10 => format!(
            "SELECT id, b, s FROM t{} ORDER BY b {} NULLS FIRST, id LIMIT {} OFFSET {}",
            1 + rng.below(2),
            rng.pick(&["ASC", "DESC"]),
            1 + rng.below(4),
            rng.below(2)
        ),
        _ => format!(
            "SELECT s, a FROM t1 WHERE {} {} SELECT s, a FROM t2",
            predicate(rng, "t1"),
            rng.pick(&["UNION", "UNION ALL", "EXCEPT", "INTERSECT ALL"])
        ),
    }
}

/// A random batch of writes to one table.
fn writes(rng: &mut Rng, next_id: &mut u64) -> Vec<String> {
    let t = rng.pick(&["t1", "t2"]);
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(3) {
        out.push(match rng.below(4) {
            0 | 1 => {
                let rows: Vec<String> = (0..1 + rng.below(4))
                    .map(|_| {
                        *next_id += 1;
                        row(rng, *next_id)
                    })
                    .collect();
                format!("INSERT INTO {t} VALUES {}", rows.join(", "))
            }
            2 => format!(
                "UPDATE {t} SET b = {}, s = {} WHERE {}",
                int_value(rng),
                text_value(rng),
                predicate(rng, t)
            ),
            _ => format!("DELETE FROM {t} WHERE {}", predicate(rng, t)),
        });
    }
    out
}

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
