//! The public SQLite sqllogictest corpus (`tests/sqlite/select1–5.test`: thousands of plain
//! SELECTs, multi-way joins of up to sixty-four tables) against the real `riffle` binary, as a new
//! user would run it: all five files back to back on one long-lived server, once with one
//! timely worker and once with two.
//!
//! Every query runs ad hoc and must give the file's answer (values, or their count and MD5
//! hash, formatted as SQLite's runner does: `R` columns with three decimals, NULL as `NULL`,
//! the empty string as `(empty)`). Each query without ORDER BY/LIMIT is then also created as a
//! materialized view, which must equal the ad hoc answer. The latest `LIVE_VIEWS` views stay
//! alive, so every query runs beside a hundred maintained dataflows over the same tables and
//! views are created and dropped throughout; at the end of each file its tables are dropped
//! with CASCADE. (Keeping every view of a file alive, thousands, passed too, but then each
//! statement pays timely's progress work for every live dataflow: select4 took six minutes on
//! one worker, and longer on two.) Any error, wrong answer, or
//! statement slower than `STATEMENT_CAP` fails the run, and so does the whole run taking
//! longer than `RUN_CAP`.
//!
//! `RIFFLE_CORPUS_FILES=select4,select5` runs some files only; `RIFFLE_CORPUS_VIEWS=0` skips
//! the materialized views.

use libtest_mimic::{Arguments, Failed, Trial};
use riffle_tests::sqllogic::{check, created_table, parse, Record};
use riffle_tests::TestServer;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, SimpleQueryMessage};

/// The longest any one statement may take.
const STATEMENT_CAP: Duration = Duration::from_secs(30);
/// Materialized views kept alive at once (see the module docs).
const LIVE_VIEWS: usize = 100;
/// The longest one server's run over every file may take.
const RUN_CAP: Duration = Duration::from_secs(20 * 60);

/// Runs one statement with the cap; its rows as text (NULL as None).
async fn run(client: &Client, sql: &str) -> Result<Vec<Vec<Option<String>>>, String> {
    let messages = tokio::time::timeout(STATEMENT_CAP, client.simple_query(sql))
        .await
        .map_err(|_| format!("took longer than {STATEMENT_CAP:?}"))?
        .map_err(|e| match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        })?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect())
}

/// What one file's run counted.
#[derive(Default)]
struct Tally {
    queries: usize,
    views: usize,
}

/// Runs one file on `client`; the views it creates are named with `prefix`.
async fn run_file(client: &Client, path: &Path, views: bool) -> Result<Tally, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy().to_string();
    let mut tally = Tally::default();
    let mut tables = Vec::new();
    let mut live = std::collections::VecDeque::new();
    for record in parse(&text) {
        match record {
            Record::Statement { sql, line } => {
                run(client, &sql).await.map_err(|e| format!("{name}:{line}: `{sql}`: {e}"))?;
                tables.extend(created_table(&sql));
            }
            Record::Query(q) => {
                let rows = run(client, &q.sql)
                    .await
                    .map_err(|e| format!("{name}:{}: `{}`: {e}", q.line, q.sql))?;
                check(&q, &rows).map_err(|e| format!("{name}:{}: `{}`: {e}", q.line, q.sql))?;
                tally.queries += 1;
                let lower = q.sql.to_ascii_lowercase();
                if views && !lower.contains("order by") && !lower.contains("limit") {
                    let view = format!("corpus_{}", tally.queries);
                    // Columns named by position: the corpus repeats output names (`abs(a),
                    // abs(b-c)`), which a view, as in PostgreSQL, may not.
                    let columns: Vec<String> = (1..=q.types.len()).map(|i| format!("c{i}")).collect();
                    run(
                        client,
                        &format!("CREATE MATERIALIZED VIEW {view} ({}) AS {}", columns.join(", "), q.sql),
                    )
                    .await
                    .map_err(|e| format!("{name}:{}: as a materialized view: `{}`: {e}", q.line, q.sql))?;
                    let maintained = run(client, &format!("SELECT * FROM {view}"))
                        .await
                        .map_err(|e| format!("{name}:{}: reading the view: {e}", q.line))?;
                    let (mut a, mut b) = (maintained.clone(), rows.clone());
                    a.sort();
                    b.sort();
                    if a != b {
                        return Err(format!(
                            "{name}:{}: the materialized view of `{}` differs from the query:\n  view: {a:?}\n  query: {b:?}",
                            q.line, q.sql
                        ));
                    }
                    tally.views += 1;
                    live.push_back(view);
                    if live.len() > LIVE_VIEWS {
                        let oldest = live.pop_front().expect("views are live");
                        run(client, &format!("DROP MATERIALIZED VIEW {oldest}"))
                            .await
                            .map_err(|e| format!("{name}: dropping {oldest}: {e}"))?;
                    }
                }
            }
        }
    }
    for table in tables {
        run(client, &format!("DROP TABLE {table} CASCADE"))
            .await
            .map_err(|e| format!("{name}: dropping {table}: {e}"))?;
    }
    Ok(tally)
}

/// Every selected file on one server with `workers` timely workers.
async fn run_corpus(workers: usize, files: Vec<PathBuf>) -> Result<(), Failed> {
    let server = TestServer::start_with(&["--workers", &workers.to_string()]);
    let client = server.connect().await;
    let views = std::env::var("RIFFLE_CORPUS_VIEWS").map_or(true, |v| v != "0");
    let started = Instant::now();
    for file in files {
        let file_started = Instant::now();
        let remaining = RUN_CAP.saturating_sub(started.elapsed());
        let tally = tokio::time::timeout(remaining, run_file(&client, &file, views))
            .await
            .map_err(|_| format!("the corpus took longer than {RUN_CAP:?}"))??;
        eprintln!(
            "corpus ({workers} worker(s)): {}: {} queries, {} materialized views, {:.1} s",
            file.display(),
            tally.queries,
            tally.views,
            file_started.elapsed().as_secs_f64()
        );
    }
    // The server is still answering (no worker was lost on the way).
    run(&client, "SELECT 1").await?;
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sqlite");
    let only = std::env::var("RIFFLE_CORPUS_FILES").ok();
    let files: Vec<PathBuf> = (1..=5)
        .map(|i| format!("select{i}"))
        .filter(|name| only.as_ref().is_none_or(|o| o.split(',').any(|f| f.trim() == name)))
        .map(|name| dir.join(format!("{name}.test")))
        .collect();
    let trials = [1, 2]
        .into_iter()
        .map(|workers| {
            let files = files.clone();
            Trial::test(format!("sqlite_corpus::workers_{workers}"), move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(run_corpus(workers, files))
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
