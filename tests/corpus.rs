//! The public SQLite sqllogictest corpus (`tests/sqlite/select1–5.test`: thousands of plain
//! SELECTs, multi-way joins up to twenty tables) against the real `riffle` binary, as a new
//! user would run it: all five files back to back on one long-lived server, once with one
//! timely worker and once with two.
//!
//! Every query runs ad hoc and must give the file's answer (values, or their count and MD5
//! hash, formatted as SQLite's runner does: `R` columns with three decimals, NULL as `NULL`,
//! the empty string as `(empty)`). Each query without ORDER BY/LIMIT is then also created as a
//! materialized view, which must equal the ad hoc answer. The latest `LIVE_VIEWS` views stay
//! alive (so every query runs beside twenty maintained dataflows reading the same tables,
//! and views are created and dropped all the time); older ones are dropped, and at the end of
//! each file its tables are dropped with CASCADE. (Keeping all of a file's thousands of views
//! alive measures timely's per-dataflow progress work on every tick rather than correctness:
//! the files write nothing after their queries start.) Any error, wrong answer, or statement slower than
//! `STATEMENT_CAP` fails the run, and so does the whole run taking longer than `RUN_CAP`.
//!
//! `RIFFLE_CORPUS_FILES=select4,select5` runs some files only; `RIFFLE_CORPUS_VIEWS=0` skips
//! the materialized views.

use libtest_mimic::{Arguments, Failed, Trial};
use riffle_tests::TestServer;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, SimpleQueryMessage};

/// The longest any one statement may take.
const STATEMENT_CAP: Duration = Duration::from_secs(30);
/// Materialized views kept alive at once (see the module docs).
const LIVE_VIEWS: usize = 20;
/// The longest one server's run over every file may take.
const RUN_CAP: Duration = Duration::from_secs(25 * 60);

/// One record of a `.test` file.
enum Record {
    Statement { sql: String, line: usize },
    Query(Query),
}

struct Query {
    sql: String,
    line: usize,
    types: Vec<char>,
    sort: Sort,
    expected: Expected,
}

#[derive(Clone, Copy, PartialEq)]
enum Sort {
    No,
    Rows,
    Values,
}

enum Expected {
    Values(Vec<String>),
    Hash { count: usize, md5: String },
}

/// Reads the records of a SQLite sqllogictest file (only what select1–5 use: `statement ok`,
/// `query <types> <sort> [label]`, `hash-threshold`).
fn parse(text: &str) -> Vec<Record> {
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first().copied() {
            Some("statement") => {
                let start = i + 1;
                i += 1;
                let mut sql = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    sql.push(lines[i]);
                    i += 1;
                }
                records.push(Record::Statement {
                    sql: sql.join("\n"),
                    line: start,
                });
            }
            Some("query") => {
                let start = i + 1;
                let types = words.get(1).map(|t| t.chars().collect()).unwrap_or_default();
                let sort = match words.get(2).copied() {
                    Some("rowsort") => Sort::Rows,
                    Some("valuesort") => Sort::Values,
                    _ => Sort::No,
                };
                i += 1;
                let mut sql = Vec::new();
                while i < lines.len() && lines[i].trim_end() != "----" {
                    sql.push(lines[i]);
                    i += 1;
                }
                i += 1;
                let mut results = Vec::new();
                while i < lines.len() && !lines[i].trim().is_empty() {
                    results.push(lines[i].trim_end().to_string());
                    i += 1;
                }
                let hashed = results.len() == 1 && results[0].contains(" values hashing to ");
                let expected = if hashed {
                    let mut parts = results[0].split(" values hashing to ");
                    let count = parts.next().and_then(|n| n.trim().parse().ok()).unwrap_or(usize::MAX);
                    Expected::Hash {
                        count,
                        md5: parts.next().unwrap_or_default().trim().to_string(),
                    }
                } else {
                    Expected::Values(results)
                };
                records.push(Record::Query(Query {
                    sql: sql.join("\n"),
                    line: start,
                    types,
                    sort,
                    expected,
                }));
            }
            _ => i += 1,
        }
    }
    records
}

/// A result value as SQLite's runner prints it for the column's declared type.
fn format_value(value: Option<&str>, ty: char) -> String {
    let Some(v) = value else {
        return "NULL".into();
    };
    match ty {
        'R' => match v.parse::<f64>() {
            Ok(f) => format!("{f:.3}"),
            Err(_) => v.to_string(),
        },
        'I' => match v.parse::<i64>() {
            Ok(n) => n.to_string(),
            // SQLite's runner reads an `I` column as an integer, truncating.
            Err(_) => v
                .parse::<f64>()
                .map(|f| (f.trunc() as i64).to_string())
                .unwrap_or_else(|_| v.to_string()),
        },
        _ if v.is_empty() => "(empty)".into(),
        _ => v.chars().map(|c| if (' '..='~').contains(&c) { c } else { '@' }).collect(),
    }
}

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

/// The values of `rows` in the order the query's sort mode compares them.
fn values(rows: &[Vec<Option<String>>], types: &[char], sort: Sort) -> Vec<String> {
    let mut rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(i, v)| format_value(v.as_deref(), types.get(i).copied().unwrap_or('T')))
                .collect()
        })
        .collect();
    if sort == Sort::Rows {
        rows.sort();
    }
    let mut flat: Vec<String> = rows.into_iter().flatten().collect();
    if sort == Sort::Values {
        flat.sort();
    }
    flat
}

fn check(q: &Query, rows: &[Vec<Option<String>>]) -> Result<(), String> {
    let got = values(rows, &q.types, q.sort);
    match &q.expected {
        Expected::Values(want) if *want == got => Ok(()),
        Expected::Values(want) => Err(format!("expected {want:?}, got {got:?}")),
        Expected::Hash { count, md5 } => {
            let mut text = String::new();
            for v in &got {
                text.push_str(v);
                text.push('\n');
            }
            let hash = format!("{:x}", md5::compute(text.as_bytes()));
            if got.len() == *count && hash == *md5 {
                Ok(())
            } else {
                Err(format!(
                    "expected {count} values hashing to {md5}, got {} values hashing to {hash}",
                    got.len()
                ))
            }
        }
    }
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
                let words: Vec<&str> = sql.split_whitespace().collect();
                if words.len() > 2 && words[0].eq_ignore_ascii_case("create") && words[1].eq_ignore_ascii_case("table") {
                    tables.push(words[2].split('(').next().unwrap_or_default().to_string());
                }
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
