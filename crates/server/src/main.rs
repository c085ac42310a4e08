//! Server layer: the `riffle` binary. Parses flags, sets up logging, recovers the data
//! directory and serves the PostgreSQL protocol.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use std::sync::Arc;
use tracing::info;

/// mimalloc instead of glibc's malloc: rows are allocated and freed per update in the
/// dataflows, and glibc's free-list consolidation was a third of a worker's time in Nexmark q0
/// (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the `mi_option_e` enum of v3's `mimalloc.h`; the Rust
/// bindings do not name it). The `purge_delay_is_mimallocs` test checks the number.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Returns freed memory to the OS after 100 ms instead of mimalloc v3's 1 s. Arrangements free
/// their batches' row buffers (megabytes each) as merges complete; held for a second, freed
/// buffers that do not fit the next requests raised peak memory by up to a third in Nexmark,
/// while v2's 10 ms made the worker fault the same pages back in, costing up to a fifth more
/// CPU in q4/q5 (docs/performance.md). An explicit `MIMALLOC_PURGE_DELAY` still wins.
fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a plain integer option; mimalloc allows this at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 100) };
    }
}

/// A streaming SQL database: PostgreSQL wire protocol, incrementally maintained views.
#[derive(Parser, Debug)]
#[command(name = "riffle", version)]
struct Args {
    /// Address to serve the PostgreSQL protocol on.
    #[arg(long, default_value = "127.0.0.1:6875", env = "RIFFLE_LISTEN")]
    listen: String,
    /// Directory holding the RocksDB log and catalog.
    #[arg(long, default_value = "riffle-data", env = "RIFFLE_DATA_DIR")]
    data_dir: PathBuf,
    /// Number of timely dataflow worker threads.
    #[arg(long, default_value_t = 1, env = "RIFFLE_WORKERS")]
    workers: usize,
    /// How often logical time advances without writes, so that temporal filters retract rows
    /// as the clock passes them (milliseconds).
    #[arg(long, default_value_t = 1000, env = "RIFFLE_TICK_MS")]
    tick_ms: u64,
    /// History kept readable with `SELECT … AS OF` and `SUBSCRIBE … AS OF` for tables and
    /// materialized views that do not say `WITH (RETAIN HISTORY FOR …)` (an interval:
    /// `0`, `30 seconds`, `1 hour`). More history costs memory for collections that change.
    #[arg(long, default_value = "0", env = "RIFFLE_RETAIN_HISTORY", value_parser = parse_retention)]
    retain_history: u64,
    /// Where models run: `cpu`, or `cuda` / `cuda:N` in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu", env = "RIFFLE_DEVICE")]
    device: String,
    /// Serve Prometheus metrics at `http://ADDRESS/metrics` (for example `127.0.0.1:6876`).
    #[arg(long, env = "RIFFLE_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// `trust`: serve an address other hosts can reach without passwords (every client that
    /// reaches it connects, as a superuser). Needed only for a data directory that has no
    /// password; see docs/security.md.
    #[arg(long, env = "RIFFLE_AUTH", value_enum)]
    auth: Option<Auth>,
    /// The superuser `riffle`'s password, set when the data directory is initialised (or
    /// first started with one); from then on every client authenticates with SCRAM-SHA-256.
    #[arg(long, env = "RIFFLE_PASSWORD", hide_env_values = true, conflicts_with = "password_file")]
    password: Option<String>,
    /// A file holding the superuser's password (its first line), as `--password`.
    #[arg(long, env = "RIFFLE_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
    /// TLS certificate chain (PEM) for client connections.
    #[arg(long, env = "RIFFLE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "RIFFLE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Refuse connections that do not use TLS.
    #[arg(long, env = "RIFFLE_TLS_REQUIRED", requires = "tls_cert")]
    tls_required: bool,
    /// A CA (PEM): clients must present a certificate it signed.
    #[arg(long, env = "RIFFLE_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Testing only: time stands still until `SET riffle_test_clock = '<timestamp>'` moves it.
    #[arg(long)]
    test_clock: bool,
    /// Testing only: allows `SET riffle_failpoint = 'compute_panic'`, which makes a dataflow
    /// operator panic (to test that the server rebuilds its compute workers).
    #[arg(long, hide = true)]
    failpoints: bool,
}

/// Client authentication methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Auth {
    /// No authentication.
    Trust,
}

/// The bootstrap password from `--password` / `RIFFLE_PASSWORD` or the first line of
/// `--password-file`.
fn bootstrap_password(args: &Args) -> anyhow::Result<Option<String>> {
    let password = match (&args.password, &args.password_file) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading the password file {}", file.display()))?;
            Some(text.lines().next().unwrap_or_default().to_string())
        }
        (None, None) => None,
    };
    match password {
        Some(p) if p.is_empty() => anyhow::bail!("the bootstrap password is empty"),
        other => Ok(other),
    }
}

/// Refuses to serve an address other hosts can reach without authentication unless the
/// operator said `--auth trust`; warns whenever there is no authentication.
fn check_exposure(listen: &str, auth: Option<Auth>) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<std::net::SocketAddr> = listen
        .to_socket_addrs()
        .with_context(|| format!("resolving the listen address {listen}"))?
        .collect();
    let loopback = !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback());
    if !loopback && auth != Some(Auth::Trust) {
        anyhow::bail!(
            "refusing to serve {listen} without authentication: any client that reaches it would connect as a superuser. \
             Serve 127.0.0.1, or say --auth trust (RIFFLE_AUTH=trust) to accept that (see docs/security.md)"
        );
    }
    tracing::warn!(
        address = listen,
        "no authentication: every client that reaches {listen} connects as a superuser (docs/security.md)"
    );
    Ok(())
}

/// An interval in PostgreSQL's syntax, as milliseconds.
fn parse_retention(s: &str) -> Result<u64, String> {
    let i = riffle_repr::strconv::parse_interval(s).map_err(|e| e.to_string())?;
    u64::try_from(i.total_micros() / 1000).map_err(|_| "the retention must not be negative".to_string())
}

/// Stack for every thread that plans or renders statements: the planner, optimizer and
/// dataflow rendering recurse over a statement's expression and join trees, which the SQLite
/// corpus's twenty-table joins (forty `AND`ed equalities) make deep enough to overflow the
/// 2 MiB default of a debug build.
const THREAD_STACK: usize = 16 << 20;

fn main() -> anyhow::Result<()> {
    // Timely spawns its worker threads with the standard library's default size, which this
    // variable sets; nothing has spawned a thread yet.
    if std::env::var_os("RUST_MIN_STACK").is_none() {
        // The process is still single-threaded: nothing reads the environment concurrently.
        std::env::set_var("RUST_MIN_STACK", THREAD_STACK.to_string());
    }
    tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();
    let password = bootstrap_password(&args)?;
    info!(data_dir = %args.data_dir.display(), workers = args.workers, "starting riffle {}", env!("CARGO_PKG_VERSION"));
    riffle_adapter::set_model_device(&args.device).context("choosing the model device")?;
    let clock = if args.test_clock {
        riffle_adapter::Clock::Test(0)
    } else {
        riffle_adapter::Clock::Wall
    };
    let config = riffle_adapter::Config {
        workers: args.workers,
        clock,
        retain_history: args.retain_history,
        failpoints: args.failpoints,
        password,
    };
    let adapter = Arc::new(riffle_adapter::Adapter::open(&args.data_dir, config).context("recovering the data directory")?);
    if adapter.password_auth() {
        info!("clients authenticate with SCRAM-SHA-256 passwords");
    } else {
        check_exposure(&args.listen, args.auth)?;
    }
    let security = riffle_pgwire::Security {
        tls: args
            .tls_cert
            .clone()
            .zip(args.tls_key.clone())
            .map(|(cert, key)| riffle_pgwire::TlsConfig {
                cert,
                key,
                client_ca: args.tls_client_ca.clone(),
            }),
        tls_required: args.tls_required,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(THREAD_STACK)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        adapter.start().await.context("starting sources and sinks")?;
        adapter.spawn_healer();
        if let Some(addr) = &args.metrics_listen {
            let (scraped, runtime) = (adapter.clone(), tokio::runtime::Handle::current());
            let bound = riffle_adapter::metrics::serve_metrics(addr, move || runtime.block_on(scraped.metrics_text()))
                .map_err(anyhow::Error::msg)?;
            info!(address = %bound, "serving Prometheus metrics at /metrics");
        }
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        info!(address = %listener.local_addr()?, tls = security.tls.is_some(), tls_required = security.tls_required, "listening for PostgreSQL connections");
        let ticker = adapter.clone();
        let tick = std::time::Duration::from_millis(args.tick_ms.max(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
                ticker.tick().await;
            }
        });
        tokio::select! {
            r = riffle_pgwire::serve(listener, adapter, security) => r.context("serving"),
            _ = tokio::signal::ctrl_c() => {
                info!("shutting down");
                Ok(())
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::MI_OPTION_PURGE_DELAY;

    /// The option number set in `tune_allocator` is mimalloc's purge delay: the only option
    /// defaulting to 1000 (ms) in v3, and it reads back what is set.
    #[test]
    fn purge_delay_is_mimallocs() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads and sets a plain integer option.
        unsafe {
            assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 1000);
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10);
            assert_eq!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY), 10);
            // Its neighbours are not delays.
            assert_ne!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY - 1), 1000);
            assert_ne!(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY + 1), 1000);
        }
    }
}
