//! Test support: run the real `riffle` binary on a free port with its own data directory.

pub mod generate;
pub mod sqllogic;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The `riffle` binary under test: `$RIFFLE_BIN`, else the one next to this test in target/.
pub fn riffle_bin() -> PathBuf {
    if let Ok(p) = std::env::var("RIFFLE_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // Tests live in target/<profile>/deps/, binaries (benches) in target/<profile>/.
    let dir = exe.parent().expect("executable directory");
    let candidates = [dir.join("riffle"), dir.parent().map(|p| p.join("riffle")).unwrap_or_default()];
    candidates.iter().find(|p| p.exists()).cloned().unwrap_or_else(|| {
        panic!(
            "riffle binary not found next to {}: build it first with `cargo build --bin riffle`",
            exe.display()
        )
    })
}

/// The client programs the tests run (tests/clients: Python, Java).
pub fn clients_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/clients"))
}

/// Runs the Python client `tests/clients/<script>` with `args`; panics unless it succeeds.
pub fn run_python(script: &str, args: &[&str]) {
    let out = Command::new("python3")
        .arg(clients_dir().join(script))
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compiles `tests/clients/java/<class>.java` against the PostgreSQL JDBC driver
/// (`$RIFFLE_JDBC_JAR`, else Debian's) and runs it with `args`; panics unless it succeeds.
pub fn run_java(class: &str, args: &[&str]) {
    let jar = std::env::var("RIFFLE_JDBC_JAR").unwrap_or_else(|_| "/usr/share/java/postgresql.jar".into());
    assert!(Path::new(&jar).exists(), "{jar} missing: apt-get install libpostgresql-jdbc-java");
    let build = tempfile::tempdir().expect("temp dir");
    let javac = Command::new("javac")
        .args(["-cp", &jar, "-d"])
        .arg(build.path())
        .arg(clients_dir().join(format!("java/{class}.java")))
        .output()
        .expect("run javac");
    assert!(javac.status.success(), "javac: {}", String::from_utf8_lossy(&javac.stderr));
    let out = Command::new("java")
        .args(["-cp", &format!("{}:{jar}", build.path().display()), class])
        .args(args)
        .output()
        .expect("run java");
    assert!(
        out.status.success(),
        "{class} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range
/// (32768 and up on Linux). A port from that range (what binding port 0 gives) can be taken
/// by any client socket before the server binds it, and a connection to it while nothing
/// listens can connect to itself (TCP simultaneous open): the readiness check then succeeds
/// against no server and the test's first real connection is reset.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const LOW: u16 = 20_000;
    const SPAN: u16 = 12_000;
    // Test binaries run one after another, but their tests run in parallel: each process
    // starts at its own offset and walks the range.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % SPAN as u32) as u16;
    loop {
        let offset = start.wrapping_add(NEXT.fetch_add(7, Ordering::Relaxed)) % SPAN;
        let port = LOW + offset;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A running `riffle` process, killed when dropped.
pub struct TestServer {
    child: Option<Child>,
    /// The port it serves on.
    pub port: u16,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Where its standard error (its log) goes.
    pub log_path: PathBuf,
    /// Whether the test means a compute worker to fail (a failpoint). Otherwise a worker
    /// failure in the log fails the test when the server is dropped: the server heals itself,
    /// so a panic would otherwise go unnoticed.
    pub expect_compute_failures: bool,
    _tmp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server with a fresh data directory.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with a fresh data directory and extra flags (`--workers 2`).
    pub fn start_with(args: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut s = Self::start_in(tmp.path(), args);
        s._tmp = Some(tmp);
        s
    }

    /// Starts a server on an existing data directory (for restart tests).
    pub fn start_in(data_dir: &Path, extra_args: &[&str]) -> Self {
        let port = free_port();
        let log_path = data_dir.with_extension(format!("{port}.log"));
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = Command::new(riffle_bin())
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra_args)
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn riffle");
        let server = TestServer {
            child: Some(child),
            port,
            data_dir: data_dir.to_path_buf(),
            log_path,
            expect_compute_failures: false,
            _tmp: None,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("riffle did not start listening on port {}", self.port);
    }

    /// A `psql` command connected to this server (add `-c`/`-f` and run it).
    pub fn psql(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new("psql");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "riffle", "-d", "riffle"]);
        cmd
    }

    /// A libpq-style connection string.
    pub fn conn_str(&self) -> String {
        format!("host=127.0.0.1 port={} user=riffle dbname=riffle", self.port)
    }

    /// Connects with tokio-postgres, driving the connection on a background task.
    pub async fn connect(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.conn_str(), tokio_postgres::NoTls)
            .await
            .expect("connect to riffle");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }

    /// The server process's id (None once killed).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Sends SIGKILL and waits for the process to die.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl TestServer {
    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Lines of the log that report a compute worker failure (a panic in a dataflow).
    pub fn compute_failures(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains("compute worker failed") || l.contains("panicked at"))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
        if !self.expect_compute_failures && !std::thread::panicking() {
            let failures = self.compute_failures();
            assert!(
                failures.is_empty(),
                "a compute worker failed (the server rebuilt its dataflows, but this is a bug):\n{}",
                failures.join("\n")
            );
        }
    }
}

/// A query's rows through the simple protocol, each as its columns' text joined by `|` (NULL as
/// `NULL`), sorted; an error as `SQLSTATE: message`.
pub async fn sorted_rows(client: &tokio_postgres::Client, sql: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = client
        .simple_query(sql)
        .await
        .map_err(|e| {
            e.as_db_error()
                .map_or(e.to_string(), |d| format!("{}: {}", d.code().code(), d.message()))
        })?
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            ),
            _ => None,
        })
        .collect();
    out.sort();
    Ok(out)
}
