//! Prometheus metrics: what the coordinator counts as statements run, and what the compute
//! workers and sources publish, read when the endpoint is scraped.
//!
//! Counters and histograms the coordinator updates live in one process-wide [`Registry`]
//! ([`Metrics::get`]). The per-collection families (`riffle_view_updates_total`,
//! `riffle_frontier_lag_ms`, `riffle_arrangement_*`, `riffle_source_*`) are refilled from the
//! workers' latest statistics on each scrape ([`render`]), so dropped objects leave the output.

use crate::catalog::Catalog;
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};
use riffle_compute::introspect::{ArrangementKind, WorkerStats};
use riffle_repr::GlobalId;
use riffle_sql::SessionCatalog;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The process's metric families.
pub struct Metrics {
    registry: Registry,
    /// Rows written to each table or source (after the durable write).
    pub rows_ingested: IntCounterVec,
    /// Durable writes, and how long each took (the synced RocksDB write).
    pub writes: IntCounter,
    /// Time of each durable write, seconds.
    pub write_seconds: prometheus::Histogram,
    /// Statements' writes taken into each synced write (group commit).
    pub writes_per_sync: prometheus::Histogram,
    /// Statement latency by kind (`select`, `insert`, `create`, …), seconds.
    pub statement_seconds: HistogramVec,
    /// Rebuilds of the compute workers after one failed.
    pub compute_restarts: IntCounter,
    view_updates: IntCounterVec,
    frontier_lag: IntGaugeVec,
    arrangement_records: IntGaugeVec,
    arrangement_bytes: IntGaugeVec,
    source_lag: IntGaugeVec,
    source_records: IntCounterVec,
}

/// Buckets from 50 µs to about 26 s, doubling.
fn latency_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.000_05, 2.0, 20).expect("valid buckets")
}

impl Metrics {
    /// The process's metrics, registered on first use.
    pub fn get() -> &'static Metrics {
        static METRICS: OnceLock<Metrics> = OnceLock::new();
        METRICS.get_or_init(Metrics::new)
    }

    fn new() -> Metrics {
        let registry = Registry::new();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let writes = IntCounter::new("riffle_writes_total", "Durable writes (synced RocksDB write batches)").expect("valid metric");
        registry.register(Box::new(writes.clone())).expect("unique metric");
        let compute_restarts = IntCounter::new(
            "riffle_compute_restarts_total",
            "Rebuilds of the compute workers (and every dataflow, from the durable log) after a worker failed",
        )
        .expect("valid metric");
        registry.register(Box::new(compute_restarts.clone())).expect("unique metric");
        let write_seconds = prometheus::Histogram::with_opts(
            HistogramOpts::new("riffle_write_seconds", "Time of each durable write (synced RocksDB batch), seconds")
                .buckets(latency_buckets()),
        )
        .expect("valid metric");
        registry.register(Box::new(write_seconds.clone())).expect("unique metric");
        let writes_per_sync = prometheus::Histogram::with_opts(
            HistogramOpts::new(
                "riffle_writes_per_sync",
                "Writes (statements, source batches) taken into each synced write: group commit",
            )
            .buckets(prometheus::exponential_buckets(1.0, 2.0, 9).expect("valid buckets")),
        )
        .expect("valid metric");
        registry.register(Box::new(writes_per_sync.clone())).expect("unique metric");
        let statement_seconds = HistogramVec::new(
            HistogramOpts::new(
                "riffle_statement_seconds",
                "Statement latency from planning to the complete answer, seconds",
            )
            .buckets(latency_buckets()),
            &["statement"],
        )
        .expect("valid metric");
        registry.register(Box::new(statement_seconds.clone())).expect("unique metric");
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
            .expect("unique metric");
        Metrics {
            rows_ingested: counter_vec("riffle_rows_ingested_total", "Updates written to a table or source", &["object"]),
            writes,
            write_seconds,
            writes_per_sync,
            statement_seconds,
            compute_restarts,
            view_updates: counter_vec(
                "riffle_dataflow_updates_total",
                "Updates a dataflow fed into its collection's arrangements (tables: updates written), summed over workers",
                &["object", "kind"],
            ),
            frontier_lag: gauge_vec(
                "riffle_frontier_lag_ms",
                "How far a collection's frontier trails its inputs' time, milliseconds (largest over workers)",
                &["object", "kind"],
            ),
            arrangement_records: gauge_vec(
                "riffle_arrangement_records",
                "Updates held in a collection's arrangements, summed over workers",
                &["object", "kind"],
            ),
            arrangement_bytes: gauge_vec(
                "riffle_arrangement_bytes",
                "Estimated bytes held in a collection's arrangements, summed over workers",
                &["object", "kind"],
            ),
            source_lag: gauge_vec(
                "riffle_source_lag_records",
                "Records a source's partition trails the broker's high watermark by",
                &["source", "partition"],
            ),
            source_records: counter_vec("riffle_source_records_total", "Records a source has ingested", &["source"]),
            registry,
        }
    }
}

/// The label for a statement's kind in `riffle_statement_seconds`.
pub(crate) fn statement_kind(stmt: &riffle_sql::Statement) -> &'static str {
    use sqlparser::ast::Statement as S;
    match stmt {
        riffle_sql::Statement::Sql(s) => match s {
            S::Query { .. } => "select",
            S::Insert { .. } => "insert",
            S::Update { .. } => "update",
            S::Delete { .. } => "delete",
            S::Copy { .. } => "copy",
            S::Drop { .. } => "drop",
            S::Explain { .. } | S::ExplainTable { .. } => "explain",
            S::Set { .. } | S::ShowVariable { .. } | S::ShowTables { .. } | S::ShowColumns { .. } => "set_show",
            S::CreateTable { .. } | S::CreateView { .. } | S::CreateIndex { .. } => "create",
            _ => "other",
        },
        riffle_sql::Statement::AsOf { .. } => "select",
        riffle_sql::Statement::Subscribe(_) => "subscribe",
        riffle_sql::Statement::DropObjects { .. } => "drop",
        riffle_sql::Statement::Show(_) => "set_show",
        riffle_sql::Statement::CreateConnection(_)
        | riffle_sql::Statement::CreateSource(_)
        | riffle_sql::Statement::CreateSink(_)
        | riffle_sql::Statement::CreateModel(_) => "create",
    }
}

/// The Prometheus text exposition of every metric, with the per-collection families filled
/// from the workers' latest statistics and the sources' status, named from the catalog.
pub(crate) fn render(catalog: &Catalog, stats: &[WorkerStats]) -> String {
    let m = Metrics::get();
    let label = |id: GlobalId| match catalog.get_by_id(id) {
        Some(item) => (item.name.clone(), item.kind.noun().to_string()),
        None => (id.to_string(), String::new()),
    };
    let mut updates: BTreeMap<GlobalId, u64> = BTreeMap::new();
    let mut lag: BTreeMap<GlobalId, u64> = BTreeMap::new();
    let mut records: BTreeMap<GlobalId, u64> = BTreeMap::new();
    let mut bytes: BTreeMap<GlobalId, u64> = BTreeMap::new();
    for w in stats {
        for d in &w.dataflows {
            if let Some(id) = d.object {
                *updates.entry(id).or_default() += d.updates;
            }
        }
        for a in &w.arrangements {
            *records.entry(a.id).or_default() += a.records;
            *bytes.entry(a.id).or_default() += a.bytes;
            if a.kind != ArrangementKind::Errors {
                let e = lag.entry(a.id).or_default();
                *e = (*e).max(a.lag(w.input_time));
            }
        }
    }
    m.view_updates.reset();
    for (id, n) in updates {
        let (name, kind) = label(id);
        m.view_updates.with_label_values(&[name.as_str(), kind.as_str()]).inc_by(n);
    }
    for (family, values) in [
        (&m.frontier_lag, &lag),
        (&m.arrangement_records, &records),
        (&m.arrangement_bytes, &bytes),
    ] {
        family.reset();
        for (id, v) in values {
            let (name, kind) = label(*id);
            family.with_label_values(&[name.as_str(), kind.as_str()]).set(*v as i64);
        }
    }
    m.source_lag.reset();
    m.source_records.reset();
    for (id, status) in &catalog.source_status {
        let (name, _) = label(*id);
        let s = status.lock().expect("status lock").clone();
        m.source_records.with_label_values(&[name.as_str()]).inc_by(s.records);
        for (p, progress) in &s.partitions {
            if progress.high_watermark >= 0 {
                let l = (progress.high_watermark - progress.next_offset).max(0);
                m.source_lag.with_label_values(&[name.as_str(), p.to_string().as_str()]).set(l);
            }
        }
    }
    let mut out = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if let Err(e) = encoder.encode(&m.registry.gather(), &mut out) {
        tracing::warn!(error = %e, "encoding metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Serves `GET /metrics` (Prometheus text format) on `addr` from a thread of its own, each
/// scrape answered by `scrape` (`Adapter::metrics_text`); returns the address it bound
/// (useful with port 0).
pub fn serve_metrics(addr: &str, scrape: impl Fn() -> String + Send + 'static) -> Result<std::net::SocketAddr, String> {
    let server = tiny_http::Server::http(addr).map_err(|e| format!("binding the metrics endpoint {addr}: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| format!("the metrics endpoint {addr} is not an IP address"))?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let response = match (request.method(), request.url()) {
                    (tiny_http::Method::Get, "/metrics") => {
                        let body = scrape();
                        let header =
                            tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"text/plain; version=0.0.4"[..]).expect("valid header");
                        tiny_http::Response::from_string(body).with_header(header)
                    }
                    _ => tiny_http::Response::from_string("not found; metrics are at /metrics\n").with_status_code(404),
                };
                if let Err(e) = request.respond(response) {
                    tracing::debug!(error = %e, "answering a metrics request");
                }
            }
        })
        .map_err(|e| format!("starting the metrics thread: {e}"))?;
    Ok(bound)
}
