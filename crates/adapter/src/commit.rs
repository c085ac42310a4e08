//! Group commit: one thread writes every table and source update to the durable log, taking
//! all writes that queued up while the previous synced write ran into one synced RocksDB batch,
//! then hands them to the dataflows in timestamp order.
//!
//! The coordinator proposes a write's timestamp under its lock (the clock's "now", or its last
//! one if later) and enqueues it ([`Committer::write`]), then releases the lock and waits for
//! the [`Pending`] acknowledgement, which carries the write's final timestamp. Other
//! statements proceed meanwhile, so N sessions inserting at once share one `fsync` instead of
//! queueing for N. Order is kept because the queue is FIFO; logical time advances (ticks) go
//! through the same queue, so they never overtake a write.
//!
//! Which timestamp each write finally gets, and when a time is closed, is the rule in
//! [`crate::timestamp`]; this file is the mechanics around it: the queue, the synced batch,
//! feeding the dataflows and the acknowledgements.

use crate::error::AdapterError;
use crate::metrics::Metrics;
use crate::timestamp::OpenTime;
use riffle_compute::ComputeController;
use riffle_durable::{Durable, DurableError};
use riffle_repr::{Diff, GlobalId, Row, Timestamp};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Writes taken into one synced batch at most; `RIFFLE_MAX_WRITE_GROUP=1` turns grouping off
/// (for measuring what it gains: benches/src/concurrent_writes.rs).
fn max_group() -> usize {
    std::env::var("RIFFLE_MAX_WRITE_GROUP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256usize)
        .max(1)
}

/// One table or source write: its proposed timestamp, its updates, sources' next offsets, and
/// rows per object name (for `riffle_rows_ingested_total`).
pub(crate) struct Write {
    pub ts: Timestamp,
    pub updates: Vec<(GlobalId, Row, Diff)>,
    pub offsets: Vec<(GlobalId, i32, i64)>,
    pub rows_by_object: Vec<(String, u64)>,
}

type Reply = tokio::sync::oneshot::Sender<Result<Timestamp, DurableError>>;

enum Request {
    Write(Write, Reply),
    Advance(Timestamp),
    /// Stop feeding the dataflows (see [`Committer::pause`]).
    Pause(tokio::sync::oneshot::Sender<Paused>),
    /// Answered once every earlier write has its final timestamp (see [`Committer::barrier`]).
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// The log writer, stopped between two groups while the compute workers are rebuilt: every
/// write enqueued before the pause is durable and was fed to the old workers; writes enqueued
/// since wait (their clients too) until [`Paused::resume`].
pub(crate) struct Paused {
    /// Every write so far has a timestamp at or before this one.
    pub(crate) last: Timestamp,
    resume: mpsc::Sender<Timestamp>,
}

impl Paused {
    /// Lets the writer go on, with every time before `from` closed: it advances the (new)
    /// dataflows' inputs to `from`, and later writes get `from` or a later timestamp.
    pub(crate) fn resume(self, from: Timestamp) {
        let _ = self.resume.send(from);
    }
}

/// The acknowledgement of an enqueued write: resolves, with the write's final timestamp, once
/// it is durable and handed to the dataflows.
#[must_use = "a write is acknowledged only once its Pending resolves"]
pub(crate) struct Pending(tokio::sync::oneshot::Receiver<Result<Timestamp, DurableError>>);

impl Pending {
    /// Waits for the write to be durable; its final timestamp.
    pub(crate) async fn wait(self) -> Result<Timestamp, AdapterError> {
        match self.0.await {
            Ok(r) => Ok(r?),
            // The reply was dropped unanswered: the writer is gone.
            Err(_) => Err(AdapterError::Internal("the log writer stopped".into())),
        }
    }

    /// Waits from a thread outside the async runtime, or for rare writes (DDL) where blocking
    /// a runtime thread for one synced write is fine.
    pub(crate) fn wait_blocking(self) -> Result<Timestamp, AdapterError> {
        futures::executor::block_on(self.wait())
    }
}

/// The handle to the log-writer thread.
pub(crate) struct Committer {
    tx: mpsc::Sender<Request>,
}

impl Committer {
    /// Starts the log-writer thread, which gives writes their final timestamps with `time`
    /// (from [`crate::timestamp::Timestamps::open_time`]).
    pub(crate) fn start(durable: Arc<Durable>, compute: Arc<ComputeController>, time: OpenTime) -> Result<Self, AdapterError> {
        let (tx, rx) = mpsc::channel();
        let writer = LogWriter { durable, compute, time };
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| AdapterError::Internal(format!("starting the log writer: {e}")))?;
        Ok(Committer { tx })
    }

    /// Enqueues a write; its proposed timestamp must not be below any earlier one's.
    pub(crate) fn write(&self, write: Write) -> Pending {
        let (reply, rx) = tokio::sync::oneshot::channel();
        // If the writer is gone the request, and its reply with it, is dropped: the `Pending`
        // then answers that the writer stopped.
        let _ = self.tx.send(Request::Write(write, reply));
        Pending(rx)
    }

    /// Advances every input to `ts` once the writes enqueued before are through.
    pub(crate) fn advance_to(&self, ts: Timestamp) {
        let _ = self.tx.send(Request::Advance(ts));
    }

    /// Resolves once every write enqueued before has its final timestamp published (durable
    /// and fed, or failed): after it, [`crate::timestamp::Timestamps::catch_up`] makes the
    /// read timestamp cover all of them. A write proposed at a time the writer had already
    /// closed is moved to a later one, so without this a read at the read timestamp could miss
    /// a write proposed before it; a read that decides what a write retracts (UPDATE,
    /// DELETE, a transaction's snapshot) must not.
    pub(crate) async fn barrier(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.tx.send(Request::Barrier(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Stops the writer once the writes enqueued before are durable and fed, so that the
    /// durable log holds exactly what the dataflows were given; None if the writer is gone.
    pub(crate) async fn pause(&self) -> Option<Paused> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx.send(Request::Pause(tx)).ok()?;
        rx.await.ok()
    }
}

/// The log-writer thread's state.
struct LogWriter {
    durable: Arc<Durable>,
    compute: Arc<ComputeController>,
    time: OpenTime,
}

impl LogWriter {
    fn run(mut self, rx: mpsc::Receiver<Request>) {
        let max_group = max_group();
        loop {
            // With a timestamp open, wait only until the clock passes it, then close it.
            let first = if let Some(wait) = self.time.until_due() {
                match rx.recv_timeout(wait) {
                    Ok(r) => r,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.close_if_past();
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match rx.recv() {
                    Ok(r) => r,
                    Err(_) => return,
                }
            };
            // A pause ends the group: what came before it is committed first.
            let mut pause = None;
            let mut group = Vec::new();
            match first {
                Request::Pause(reply) => pause = Some(reply),
                other => group.push(other),
            }
            while pause.is_none() && group.len() < max_group {
                match rx.try_recv() {
                    Ok(Request::Pause(reply)) => pause = Some(reply),
                    Ok(r) => group.push(r),
                    Err(_) => break,
                }
            }
            if !group.is_empty() {
                self.commit(group);
            }
            if let Some(reply) = pause {
                self.pause(reply);
            }
            self.close_if_past();
        }
    }

    /// Gives each write of the group its final timestamp, makes them durable in one synced
    /// batch, feeds them to the dataflows in order and acknowledges them.
    fn commit(&mut self, group: Vec<Request>) {
        // Final timestamps, walking the group in order (an advance moves later writes on).
        // Pauses end a group before it is committed (`run`).
        let stamps = self.time.assign(group.iter().filter_map(|r| match r {
            Request::Write(w, _) => Some(Ok(w.ts)),
            Request::Advance(t) => Some(Err(*t)),
            Request::Pause(_) | Request::Barrier(_) => None,
        }));
        let writes: Vec<(Timestamp, &[(GlobalId, Row, Diff)], &[(GlobalId, i32, i64)])> = group
            .iter()
            .filter_map(|r| match r {
                Request::Write(w, _) => Some((w.updates.as_slice(), w.offsets.as_slice())),
                Request::Advance(_) | Request::Pause(_) | Request::Barrier(_) => None,
            })
            .zip(&stamps)
            .map(|((updates, offsets), ts)| (*ts, updates, offsets))
            .collect();
        let result = if writes.is_empty() {
            Ok(())
        } else {
            let start = Instant::now();
            let r = self.durable.append_group(&writes);
            let took = start.elapsed();
            if took > Duration::from_millis(5) {
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
        if result.is_ok() {
            if let Some(last) = stamps.last() {
                self.time.publish(*last);
            }
        }
        let mut stamps = stamps.into_iter();
        for request in group {
            match request {
                Request::Write(w, reply) => {
                    let ts = stamps.next().expect("a timestamp per write");
                    let outcome = match &result {
                        Ok(()) => {
                            for (name, n) in &w.rows_by_object {
                                Metrics::get().rows_ingested.with_label_values(&[name.as_str()]).inc_by(*n);
                            }
                            self.feed(ts, w.updates);
                            Ok(ts)
                        }
                        Err(e) => Err(e.clone()),
                    };
                    let _ = reply.send(outcome);
                }
                Request::Advance(t) => self.advance(t),
                Request::Pause(reply) => self.pause(reply),
                Request::Barrier(reply) => {
                    let _ = reply.send(());
                }
            }
        }
    }

    /// Waits, feeding nothing, until the pause is lifted; then closes every time before the
    /// time it was lifted with.
    fn pause(&mut self, reply: tokio::sync::oneshot::Sender<Paused>) {
        let (resume, resumed) = mpsc::channel();
        let last = self.time.last();
        if reply.send(Paused { last, resume }).is_err() {
            return;
        }
        tracing::info!(last, "log writer paused while the compute workers are rebuilt");
        // A dropped `Paused` (the rebuild failed) lets the writer go on as it was.
        if let Ok(from) = resumed.recv() {
            if let Some(t) = self.time.resume(from) {
                self.compute.advance_to(t);
            }
        }
    }

    /// Feeds a write at `ts` (not below the first open time), closing the open time first if
    /// `ts` is later.
    fn feed(&mut self, ts: Timestamp, updates: Vec<(GlobalId, Row, Diff)>) {
        if let Some(t) = self.time.fed(ts) {
            self.compute.advance_to(t);
        }
        self.compute.load(ts, updates);
    }

    /// Closes every time before `t`.
    fn advance(&mut self, t: Timestamp) {
        if let Some(t) = self.time.advance(t) {
            self.compute.advance_to(t);
        }
    }

    /// Closes the open time once the clock has passed it.
    fn close_if_past(&mut self) {
        if let Some(t) = self.time.close_due() {
            self.compute.advance_to(t);
        }
    }
}
