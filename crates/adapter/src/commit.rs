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
//! Writes within one millisecond share its timestamp, so logical time never runs ahead of the
//! clock however many writes arrive (one timestamp per write would move it a millisecond per
//! write: 10,000 writes a second put it 9 seconds ahead every second, and temporal filters
//! would expire rows as they arrive). The writer keeps the latest timestamp *open* (the
//! dataflows' inputs not advanced past it) until the clock passes it, then closes it; a write
//! proposed at a timestamp already closed is moved to the first open one. Reads use
//! [`Committer::last_assigned`] (or later), so they include every acknowledged write, and wait
//! at most until that millisecond is over. With the test clock (which stands still) every group
//! closes its timestamp at once.

use crate::coord::now_ms;
use crate::error::AdapterError;
use crate::metrics::Metrics;
use riffle_compute::ComputeController;
use riffle_durable::Durable;
use riffle_repr::{Diff, GlobalId, Row, Timestamp};
use std::sync::atomic::{AtomicU64, Ordering};
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

type Reply = tokio::sync::oneshot::Sender<Result<Timestamp, String>>;

enum Request {
    Write(Write, Reply),
    Advance(Timestamp),
    /// Stop feeding the dataflows (see [`Committer::pause`]).
    Pause(tokio::sync::oneshot::Sender<Paused>),
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
pub(crate) struct Pending(tokio::sync::oneshot::Receiver<Result<Timestamp, String>>);

impl Pending {
    /// Waits for the write to be durable; its final timestamp.
    pub(crate) async fn wait(self) -> Result<Timestamp, AdapterError> {
        match self.0.await {
            Ok(r) => r.map_err(AdapterError::Internal),
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
    /// The largest timestamp given to a write (published before the write is acknowledged).
    assigned: Arc<AtomicU64>,
}

impl Committer {
    /// Starts the log-writer thread. `wall_clock`: timestamps are the wall clock's
    /// milliseconds (else a test clock that only moves when told, so nothing is held open).
    pub(crate) fn start(durable: Arc<Durable>, compute: Arc<ComputeController>, wall_clock: bool) -> Result<Self, AdapterError> {
        let (tx, rx) = mpsc::channel();
        let assigned = Arc::new(AtomicU64::new(0));
        let writer = LogWriter {
            durable,
            compute,
            assigned: assigned.clone(),
            wall_clock,
            first_open: 0,
            open: false,
        };
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| AdapterError::Internal(format!("starting the log writer: {e}")))?;
        Ok(Committer { tx, assigned })
    }

    /// The largest timestamp any write has been given: a read at it (or later) includes every
    /// acknowledged write.
    pub(crate) fn last_assigned(&self) -> Timestamp {
        self.assigned.load(Ordering::Acquire)
    }

    /// Enqueues a write; its proposed timestamp must not be below any earlier one's.
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
    assigned: Arc<AtomicU64>,
    wall_clock: bool,
    /// Writes get this timestamp or later: every earlier one is closed.
    first_open: Timestamp,
    /// Writes were fed at `first_open` and it is not closed yet.
    open: bool,
}

impl LogWriter {
    fn run(mut self, rx: mpsc::Receiver<Request>) {
        let max_group = max_group();
        loop {
            // With a timestamp open, wait only until the clock passes it, then close it.
            let first = if self.open {
                let wait = Duration::from_millis((self.first_open + 1).saturating_sub(now_ms())).max(Duration::from_micros(100));
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
        let mut first_open = self.first_open;
        let mut stamps = Vec::with_capacity(group.len());
        for r in &group {
            match r {
                Request::Write(w, _) => {
                    let ts = w.ts.max(first_open);
                    first_open = ts;
                    stamps.push(ts);
                }
                Request::Advance(t) => first_open = first_open.max(*t),
                // Pauses end a group before it is committed (`run`).
                Request::Pause(_) => {}
            }
        }
        let writes: Vec<(Timestamp, &[(GlobalId, Row, Diff)], &[(GlobalId, i32, i64)])> = group
            .iter()
            .filter_map(|r| match r {
                Request::Write(w, _) => Some((w.updates.as_slice(), w.offsets.as_slice())),
                Request::Advance(_) | Request::Pause(_) => None,
            })
            .zip(&stamps)
            .map(|((updates, offsets), ts)| (*ts, updates, offsets))
            .collect();
        let result = if writes.is_empty() {
            Ok(())
        } else {
            let start = Instant::now();
            let r = self.durable.append_group(&writes).map_err(|e| e.to_string());
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
                self.assigned.fetch_max(*last, Ordering::AcqRel);
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
            }
        }
    }

    /// Waits, feeding nothing, until the pause is lifted; then closes every time before the
    /// time it was lifted with.
    fn pause(&mut self, reply: tokio::sync::oneshot::Sender<Paused>) {
        let (resume, resumed) = mpsc::channel();
        let last = self.first_open.max(self.assigned.load(Ordering::Acquire));
        if reply.send(Paused { last, resume }).is_err() {
            return;
        }
        tracing::info!(last, "log writer paused while the compute workers are rebuilt");
        // A dropped `Paused` (the rebuild failed) lets the writer go on as it was.
        if let Ok(from) = resumed.recv() {
            self.open = false;
            self.advance(from);
        }
    }

    /// Feeds a write at `ts` (not below `first_open`), closing the open timestamp if `ts` is
    /// later.
    fn feed(&mut self, ts: Timestamp, updates: Vec<(GlobalId, Row, Diff)>) {
        if self.open && self.first_open < ts {
            self.compute.advance_to(ts);
        }
        self.compute.load(ts, updates);
        self.open = true;
        self.first_open = ts;
    }

    /// Closes every timestamp before `t` (the open one, `first_open`, too if `t` is later).
    fn advance(&mut self, t: Timestamp) {
        if t > self.first_open {
            self.compute.advance_to(t);
            self.first_open = t;
            self.open = false;
        }
    }

    /// Closes the open timestamp once the clock has passed it (at once with the test clock).
    fn close_if_past(&mut self) {
        if self.open && (!self.wall_clock || now_ms() > self.first_open) {
            self.advance(self.first_open + 1);
        }
    }
}
