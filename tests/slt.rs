//! Runs every `tests/slt/*.slt` file twice: against the real `riffle` binary over pgwire, and
//! against a real PostgreSQL (`$RIFFLE_TEST_PG`, a libpq connection string without dbname).
//! Both must produce the expected output written in the file, so they agree with each other.
//!
//! Against Riffle every query is also checked for incremental = from scratch: it is created
//! as a materialized view, compared with the query's own answer, kept alive, and compared
//! again after every later INSERT/UPDATE/DELETE in the file.
//!
//! `RIFFLE_SLT_COMPLETE=1` rewrites the files with the output Riffle produces.
//!
//! Riffle runs with `--test-clock`: logical time only moves with writes and with
//! `SET riffle_test_clock = '…'`, so temporal filters are tested without sleeping. Files named
//! `riffle_*.slt` hold Riffle-only SQL and skip the PostgreSQL run.

use async_trait::async_trait;
use libtest_mimic::{Arguments, Failed, Trial};
use riffle_tests::TestServer;
use sqllogictest::{DBOutput, DefaultColumnType};
use std::path::{Path, PathBuf};
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

#[derive(Debug)]
struct DbError {
    message: String,
    sqlstate: Option<String>,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for DbError {}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => DbError {
                message: db.message().to_string(),
                sqlstate: Some(db.code().code().to_string()),
            },
            None => DbError {
                message: e.to_string(),
                sqlstate: None,
            },
        }
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Engine {
    Riffle,
    /// Riffle with two timely workers: data is partitioned and exchanged between them.
    RiffleTwoWorkers,
    Postgres,
}

struct Db {
    client: Client,
    engine: Engine,
    materialized: Vec<String>,
    checks: Vec<(String, String)>,
    next_check: usize,
    /// A transaction block is open (BEGIN … COMMIT/ROLLBACK).
    in_block: bool,
}

type Rows = Vec<Vec<String>>;

async fn query(client: &Client, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
    let messages = client.simple_query(sql).await?;
    let mut rows: Rows = Vec::new();
    let mut width = None;
    let mut count = 0;
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(cols) => width = Some(cols.len()),
            SimpleQueryMessage::Row(row) => {
                width = Some(row.len());
                rows.push(
                    (0..row.len())
                        .map(|i| match row.get(i) {
                            None => "NULL".to_string(),
                            Some("") => "(empty)".to_string(),
                            Some(v) => v.to_string(),
                        })
                        .collect(),
                );
            }
            SimpleQueryMessage::CommandComplete(n) => count = n,
            _ => {}
        }
    }
    Ok(match width {
        Some(w) => DBOutput::Rows {
            types: vec![DefaultColumnType::Any; w],
            rows,
        },
        None => DBOutput::StatementComplete(count),
    })
}

fn rows_of(out: DBOutput<DefaultColumnType>) -> Rows {
    match out {
        DBOutput::Rows { mut rows, .. } => {
            rows.sort();
            rows
        }
        _ => Vec::new(),
    }
}

fn first_word(sql: &str) -> String {
    sql.trim_start()
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

impl Db {
    async fn drop_checks(&mut self) -> Result<(), DbError> {
        for (name, _) in std::mem::take(&mut self.checks) {
            query(&self.client, &format!("DROP MATERIALIZED VIEW IF EXISTS {name}")).await?;
        }
        Ok(())
    }

    /// Compares each live check view with its query run from scratch.
    async fn verify_checks(&mut self, after: &str) -> Result<(), DbError> {
        for (name, sql) in &self.checks {
            let fresh = match query(&self.client, sql).await {
                Ok(out) => rows_of(out),
                Err(_) => continue,
            };
            let maintained = rows_of(query(&self.client, &format!("SELECT * FROM {name}")).await?);
            if fresh != maintained {
                return Err(DbError {
                    message: format!(
                        "materialized view of `{sql}` diverged from the query after `{after}`:\n  maintained: {maintained:?}\n  from scratch: {fresh:?}"
                    ),
                    sqlstate: None,
                });
            }
        }
        Ok(())
    }

    async fn run_riffle(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let word = first_word(sql);
        match word.as_str() {
            "select" | "with" | "values" => {
                let out = query(&self.client, sql).await?;
                let lower = sql.to_ascii_lowercase();
                // Inside a transaction block the check views would be the test's own DDL in
                // the user's block (refused in a READ ONLY one): they are made outside blocks.
                let checkable = !self.in_block && !lower.contains("limit") && !lower.contains("now()") && !lower.contains("current_");
                if checkable {
                    let name = format!("slt_check_{}", self.next_check);
                    self.next_check += 1;
                    let body = sql.trim().trim_end_matches(';');
                    if query(&self.client, &format!("CREATE MATERIALIZED VIEW {name} AS {body}"))
                        .await
                        .is_ok()
                    {
                        self.checks.push((name, body.to_string()));
                        self.verify_checks(sql).await?;
                    }
                }
                Ok(out)
            }
            "insert" | "update" | "delete" => {
                let out = query(&self.client, sql).await?;
                self.verify_checks(sql).await?;
                Ok(out)
            }
            _ => {
                match word.as_str() {
                    "begin" | "start" => self.in_block = true,
                    "commit" | "rollback" | "end" | "abort" => {
                        // The block ends first: a failed one refuses everything else.
                        let out = query(&self.client, sql).await;
                        self.in_block = false;
                        self.drop_checks().await?;
                        return out;
                    }
                    _ => {}
                }
                if self.in_block {
                    return query(&self.client, sql).await;
                }
                self.drop_checks().await?;
                query(&self.client, sql).await
            }
        }
    }

    async fn run_postgres(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        let mv = regex::Regex::new(r"(?is)^\s*create\s+materialized\s+view\s+(if\s+not\s+exists\s+)?(\w+)").unwrap();
        let drop_mv = regex::Regex::new(r"(?is)^\s*drop\s+materialized\s+view").unwrap();
        let index = regex::Regex::new(r"(?is)^\s*create\s+index\s+.*?\son\s+(\w+)").unwrap();
        if let Some(c) = mv.captures(sql) {
            // PostgreSQL's materialized views are snapshots; a plain view has the semantics
            // Riffle maintains (always equal to the query).
            self.materialized.push(c[2].to_string());
            let rewritten = mv.replace(sql, "CREATE VIEW $1$2");
            return query(&self.client, &rewritten).await;
        }
        if drop_mv.is_match(sql) {
            return query(&self.client, &drop_mv.replace(sql, "DROP VIEW")).await;
        }
        if let Some(c) = index.captures(sql) {
            if self.materialized.contains(&c[1].to_string()) {
                return Ok(DBOutput::StatementComplete(0));
            }
        }
        query(&self.client, sql).await
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DbError> {
        match self.engine {
            Engine::Riffle | Engine::RiffleTwoWorkers => self.run_riffle(sql).await,
            Engine::Postgres => self.run_postgres(sql).await,
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        match self.engine {
            Engine::Riffle | Engine::RiffleTwoWorkers => "riffle",
            Engine::Postgres => "postgres",
        }
    }

    fn error_sql_state(err: &DbError) -> Option<String> {
        err.sqlstate.clone()
    }
}

async fn connect(conn_str: &str) -> Result<Client, DbError> {
    let (client, conn) = tokio_postgres::connect(conn_str, NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

async fn run_file(path: PathBuf, engine: Engine) -> Result<(), Failed> {
    let (conn_str, _server) = match engine {
        Engine::Riffle => {
            let server = TestServer::start_with(&["--test-clock"]);
            (server.conn_str(), Some(server))
        }
        Engine::RiffleTwoWorkers => {
            let server = TestServer::start_with(&["--workers", "2", "--test-clock"]);
            (server.conn_str(), Some(server))
        }
        Engine::Postgres => {
            let base = std::env::var("RIFFLE_TEST_PG").map_err(|_| "RIFFLE_TEST_PG is not set")?;
            let db = format!("slt_{}", path.file_stem().unwrap().to_string_lossy().replace('-', "_"));
            let admin = connect(&format!("{base} dbname=postgres"))
                .await
                .map_err(|e| format!("connect to PostgreSQL: {e}"))?;
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
                .await
                .map_err(|e| e.to_string())?;
            admin
                .batch_execute(&format!(
                    "CREATE DATABASE {db} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
                ))
                .await
                .map_err(|e| e.to_string())?;
            (format!("{base} dbname={db} options='-c TimeZone=UTC'"), None)
        }
    };
    let make = move || {
        let conn_str = conn_str.clone();
        async move {
            let client = connect(&conn_str).await?;
            Ok::<_, DbError>(Db {
                client,
                engine,
                materialized: Vec::new(),
                checks: Vec::new(),
                next_check: 0,
                in_block: false,
            })
        }
    };
    let mut runner = sqllogictest::Runner::new(make);
    runner.add_label(if engine == Engine::Postgres { "postgres" } else { "riffle" });
    runner.with_column_validator(|_, _| true);
    if engine == Engine::Riffle && std::env::var("RIFFLE_SLT_COMPLETE").is_ok() {
        let validator = |normalizer: sqllogictest::Normalizer, actual: &[Vec<String>], expected: &[String]| {
            sqllogictest::default_validator(normalizer, actual, expected)
        };
        runner
            .update_test_file(
                &path,
                "\t",
                validator,
                sqllogictest::default_normalizer,
                sqllogictest::default_column_validator,
            )
            .await
            .map_err(|e| e.to_string())?;
        return Ok(());
    }
    runner
        .run_file_async(&path)
        .await
        .map_err(|e| Failed::from(e.display(true).to_string()))
}

fn main() {
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    let have_pg = std::env::var("RIFFLE_TEST_PG").is_ok();
    if !have_pg {
        eprintln!("note: RIFFLE_TEST_PG is not set; the PostgreSQL comparison runs are ignored (dev/test.sh sets it)");
    }
    let mut trials = Vec::new();
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().to_string();
        for engine in [Engine::Riffle, Engine::RiffleTwoWorkers, Engine::Postgres] {
            let file = file.clone();
            let label = match engine {
                Engine::Riffle => "riffle",
                Engine::RiffleTwoWorkers => "riffle-2-workers",
                Engine::Postgres => "postgres",
            };
            let trial = Trial::test(format!("{label}::{name}"), move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(run_file(file, engine))
            });
            // `riffle_*.slt` files test Riffle's own SQL (mz_now(), TUMBLE, …): no PostgreSQL run.
            if engine == Engine::Postgres && name.starts_with("riffle_") {
                continue;
            }
            trials.push(trial.with_ignored_flag(engine == Engine::Postgres && !have_pg));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
