//! Group commit: one thread writes every table and source update to the durable log, taking
//! all writes that queued up while the previous synced write ran into one synced RocksDB batch,
//! then hands them to the dataflows in timestamp order.
//!
//! The coordinator assigns a write's timestamp under its lock and enqueues it
//! ([`Committer::write`]), then releases the lock and waits for the [`Pending`] acknowledgement.
//! Other statements proceed meanwhile, so N sessions inserting at once share one `fsync`
//! instead of queueing for N. Order is kept because the queue is FIFO and timestamps are
//! assigned in enqueue order; logical time advances (ticks) go through the same queue, so they
//! never overtake a write. A read at the latest timestamp may name a write still in the queue:
//! the peek waits until the dataflows have it, which is after it is durable, so nothing is
//! visible before it is durable.

use crate::error::AdapterError;
use crate::metrics::Metrics;
use riffle_compute::ComputeController;
use riffle_durable::Durable;
use riffle_repr::{Diff, GlobalId, Row, Timestamp};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

/// Writes taken into one synced batch at most; `RIFFLE_MAX_WRITE_GROUP=1` turns grouping off
/// (for measuring what it gains: benches/src/concurrent_writes.rs).
fn max_group() -> usize {
    std::env::var("RIFFLE_MAX_WRITE_GROUP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256usize)
        .max(1)
}

/// One table or source write: its updates, sources' next offsets, and rows per object name
/// (for `riffle_rows_ingested_total`).
pub(crate) struct Write {
    pub ts: Timestamp,
    pub updates: Vec<(GlobalId, Row, Diff)>,
    pub offsets: Vec<(GlobalId, i32, i64)>,
    pub rows_by_object: Vec<(String, u64)>,
}

enum Request {
    Write(Write, tokio::sync::oneshot::Sender<Result<(), String>>),
    Advance(Timestamp),
}

/// The acknowledgement of an enqueued write: resolves once it is durable and handed to the
/// dataflows.
#[must_use = "a write is acknowledged only once its Pending resolves"]
pub(crate) struct Pending(tokio::sync::oneshot::Receiver<Result<(), String>>);

impl Pending {
    /// Waits for the write to be durable.
    pub(crate) async fn wait(self) -> Result<(), AdapterError> {
        match self.0.await {
            Ok(r) => r.map_err(AdapterError::Internal),
            Err(_) => Err(AdapterError::Internal("the log writer stopped".into())),
        }
    }

    /// Waits from a thread outside the async runtime, or for rare writes (DDL) where blocking
    /// a runtime thread for one synced write is fine.
    pub(crate) fn wait_blocking(self) -> Result<(), AdapterError> {
        futures::executor::block_on(self.wait())
    }
}

/// The handle to the log-writer thread.
pub(crate) struct Committer {
    tx: mpsc::Sender<Request>,
}

impl Committer {
    /// Starts the log-writer thread.
    pub(crate) fn start(durable: Arc<Durable>, compute: Arc<ComputeController>) -> Result<Self, AdapterError> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || run(rx, &durable, &compute))
            .map_err(|e| AdapterError::Internal(format!("starting the log writer: {e}")))?;
        Ok(Committer { tx })
    }

    /// Enqueues a write; its timestamp must be larger than every earlier one's.
    pub(crate) fn write(&self, write: Write) -> Pending {
        let (reply, rx) = tokio::sync::oneshot::channel();
        if let Err(mpsc::SendError(Request::Write(_, reply))) = self.tx.send(Request::Write(write, reply)) {
            let _ = reply.send(Err("the log writer stopped".into()));
        }
        Pending(rx)
    }

    /// Advances every input to `ts` once the writes enqueued before are through.
    pub(crate) fn advance_to(&self, ts: Timestamp) {
        let _ = self.tx.send(Request::Advance(ts));
    }
}

fn run(rx: mpsc::Receiver<Request>, durable: &Durable, compute: &ComputeController) {
    let max_group = max_group();
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < max_group {
            match rx.try_recv() {
                Ok(r) => group.push(r),
                Err(_) => break,
            }
        }
        let writes: Vec<(Timestamp, &[(GlobalId, Row, Diff)], &[(GlobalId, i32, i64)])> = group
            .iter()
            .filter_map(|r| match r {
                Request::Write(w, _) => Some((w.ts, w.updates.as_slice(), w.offsets.as_slice())),
                Request::Advance(_) => None,
            })
            .collect();
        let result = if writes.is_empty() {
            Ok(())
        } else {
            let start = Instant::now();
            let r = durable.append_group(&writes).map_err(|e| e.to_string());
            let took = start.elapsed();
            if took > std::time::Duration::from_millis(5) {
                tracing::debug!(writes = writes.len(), ms = took.as_secs_f64() * 1e3, "slow durable write");
            }
            let m = Metrics::get();
            m.writes.inc();
            m.write_seconds.observe(took.as_secs_f64());
            m.writes_per_sync.observe(writes.len() as f64);
            r
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, writes = writes.len(), "durable write failed");
        }
        drop(writes);
        for request in group {
            match request {
                Request::Write(w, reply) => {
                    if result.is_ok() {
                        for (name, n) in &w.rows_by_object {
                            Metrics::get().rows_ingested.with_label_values(&[name.as_str()]).inc_by(*n);
                        }
                        compute.write(w.ts, w.updates);
                    }
                    let _ = reply.send(result.clone());
                }
                Request::Advance(ts) => compute.advance_to(ts),
            }
        }
    }
}
