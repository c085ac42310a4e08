//! The handle the coordinator uses to drive compute workers.

use crate::worker::ComputeWorker;
use riffle_expr::{EvalError, RelExpr};
use riffle_repr::{Diff, GlobalId, Row, Timestamp};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What a peek reads.
#[derive(Clone, Debug)]
pub enum PeekTarget {
    /// A maintained collection's arrangement, read directly, each row put through `plan`'s
    /// maps, filters and projections on the worker (`RelExpr::eval_read`), so only the rows
    /// the query returns are copied and sent.
    Collection {
        /// The collection.
        id: GlobalId,
        /// A plan whose [`RelExpr::as_simple_read`] is `id`.
        plan: RelExpr,
        /// Values the plan's filters fix for the collection's first columns: the read starts
        /// at the first row at or after them and stops after the last row that has them.
        seek: Option<Row>,
    },
    /// A plan, rendered as a transient dataflow that is torn down after the read.
    Plan(RelExpr),
    /// The rows of `collection` whose index key equals `key`, found by seeking in the index's
    /// arrangement (a point lookup, no scan).
    Index {
        /// The index.
        index: GlobalId,
        /// The indexed collection (whose errors the read reports).
        collection: GlobalId,
        /// The key to look up.
        key: Row,
    },
}

/// The rows of a peek (with multiplicities), or why they cannot be read (the evaluation error
/// the collection holds, among others).
pub type PeekResult = Result<Vec<(Row, Diff)>, ReadError>;

/// What a worker reports for a subscription: its updates with times in [previous upper, upper),
/// and that upper. An error ends the subscription.
pub(crate) type SubscribeSender = tokio::sync::mpsc::UnboundedSender<(usize, Result<(Vec<(Row, Timestamp, Diff)>, Timestamp), ReadError>)>;

/// One step of a subscription: the changes `(time, diff, row)` at times before `progress`, in
/// time order, and `progress`, before which every change has now been delivered.
#[derive(Debug)]
pub struct SubscribeBatch {
    /// The changes, in time order.
    pub updates: Vec<(Timestamp, Diff, Row)>,
    /// All changes at earlier times are complete.
    pub progress: Timestamp,
}

/// A subscription's batches; an error ends the stream.
pub type SubscribeReceiver = tokio::sync::mpsc::UnboundedReceiver<Result<SubscribeBatch, ReadError>>;

pub(crate) type PeekReply = tokio::sync::mpsc::UnboundedSender<PeekResult>;

/// A command, broadcast to every worker in the same order.
#[derive(Clone)]
pub(crate) enum Command {
    CreateTable {
        id: GlobalId,
        retain: Timestamp,
    },
    Subscribe {
        id: u64,
        plan: RelExpr,
        as_of: Timestamp,
        snapshot: bool,
        sender: SubscribeSender,
    },
    /// No collection folds history past this time while it is set (a transaction's
    /// snapshot, see [`ComputeController::hold_reads`]).
    HoldReads {
        ts: Option<Timestamp>,
    },
    DropSubscribe {
        id: u64,
    },
    CreateView {
        id: GlobalId,
        plan: RelExpr,
        retain: Timestamp,
        refresh: Option<riffle_repr::RefreshSchedule>,
        /// `EXPECTED GROUP SIZE`: grouped `min`/`max`/top-k are maintained hierarchically.
        group_size: Option<u64>,
    },
    CreateIndex {
        id: GlobalId,
        on: GlobalId,
        keys: Vec<usize>,
    },
    Drop {
        id: GlobalId,
    },
    /// Updates at `ts`; each worker gets its own share (see [`ComputeController::deal`]). The
    /// inputs stay at `ts`, so that more updates can follow at the same time (a group of
    /// writes, or a snapshot loaded in chunks); an `AdvanceTo` closes it.
    Load {
        ts: Timestamp,
        updates: Vec<(GlobalId, Row, Diff)>,
    },
    AdvanceTo {
        ts: Timestamp,
    },
    Peek {
        target: PeekTarget,
        ts: Timestamp,
        reply: PeekReply,
    },
    /// Test-only: makes worker 0 build a dataflow whose operator panics when scheduled.
    Panic,
    Shutdown,
}

/// Why a read (a peek or a subscription) could not be answered.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ReadError {
    /// The collection holds an evaluation error at the read time.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// A relation the read needs was dropped (a concurrent `DROP`) before the read finished.
    #[error("relation {0} was dropped while the query ran")]
    Dropped(GlobalId),
    /// A compute worker failed while the read ran, or the workers were restarted after the
    /// read's time was chosen; the read can be repeated once they are rebuilt.
    #[error("compute restarted after a worker failed: {0}")]
    Restarted(String),
    /// The read names something the workers never installed (a bug).
    #[error("{0} is not installed")]
    NotInstalled(GlobalId),
}

/// Whether the current generation of workers is running, and how many generations there
/// have been (one per start: the first, and one per rebuild after a worker failed).
#[derive(Clone, Debug, Default)]
pub struct Health {
    /// Counts worker starts; 1 for the first.
    pub generation: u64,
    /// Why this generation's workers stopped (a panic's message), if they did.
    pub failure: Option<String>,
    /// Why the previous generation stopped, once there has been a restart.
    pub last_failure: Option<String>,
}

/// One generation of timely workers: the channels to them, their threads and progress.
struct Instance {
    generation: u64,
    senders: Vec<crossbeam_channel::Sender<Command>>,
    /// The worker threads, to wake them when a command arrives instead of waiting out their park.
    threads: Arc<Mutex<Vec<Option<std::thread::Thread>>>>,
    guards: Option<timely::communication::WorkerGuards<()>>,
    /// Per worker: every input before this time has been processed by all its dataflows.
    processed: Arc<Vec<std::sync::atomic::AtomicU64>>,
}

impl Instance {
    /// Starts `workers` timely worker threads in this process. A worker that panics is caught
    /// at the top of its thread and reported through `health` (the others are stopped and
    /// replaced by [`ComputeController::restart`]).
    fn start(
        workers: usize,
        generation: u64,
        introspection: Arc<crate::introspect::Introspection>,
        health: Arc<tokio::sync::watch::Sender<Health>>,
    ) -> Result<Self, String> {
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..workers {
            let (tx, rx) = crossbeam_channel::unbounded();
            senders.push(tx);
            receivers.push(Some(rx));
        }
        let receivers = Arc::new(Mutex::new(receivers));
        let threads = Arc::new(Mutex::new(vec![None; workers]));
        let registered = threads.clone();
        let processed: Arc<Vec<std::sync::atomic::AtomicU64>> = Arc::new((0..workers).map(|_| Default::default()).collect());
        let report = processed.clone();
        let guards = timely::execute(timely::Config::process(workers), move |worker| {
            let rx = receivers.lock().expect("receivers lock")[worker.index()]
                .take()
                .expect("one receiver per worker");
            registered.lock().expect("threads lock")[worker.index()] = Some(std::thread::current());
            let index = worker.index();
            let run =
                std::panic::AssertUnwindSafe(|| ComputeWorker::new(&mut *worker, report.clone(), index, introspection.clone()).run(rx));
            let outcome = std::panic::catch_unwind(run);
            // Timely steps a worker until its dataflows complete once this closure returns;
            // after a shutdown or a failure they never would (a failed peer reports no more
            // progress), so they are dropped here.
            for dataflow in worker.installed_dataflows() {
                worker.drop_dataflow(dataflow);
            }
            if let Err(panic) = outcome {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a compute worker panicked".into());
                tracing::error!(worker = index, generation, panic = %message, "compute worker failed");
                health.send_modify(|h| {
                    if h.generation == generation && h.failure.is_none() {
                        h.failure = Some(message);
                    }
                });
            }
        })?;
        Ok(Instance {
            generation,
            senders,
            threads,
            guards: Some(guards),
            processed,
        })
    }

    /// Wakes every worker to take the commands just sent.
    fn unpark(&self) {
        for thread in self.threads.lock().expect("threads lock").iter().flatten() {
            thread.unpark();
        }
    }

    /// Stops the workers and waits for their threads (a panicked one has already stopped).
    fn stop(&mut self) {
        for tx in &self.senders {
            let _ = tx.send(Command::Shutdown);
        }
        self.unpark();
        drop(self.guards.take());
    }
}

/// Owns the timely workers; every method broadcasts one command.
///
/// Broadcasts hold a lock so that every worker sees commands in one order, even when
/// sessions issue peeks concurrently: workers must build their dataflows identically.
///
/// The workers can be replaced ([`ComputeController::restart`]): when one panics, the adapter
/// starts a new generation and reinstalls every collection from the durable log. Reads in
/// flight on the failed generation, and reads of times before the rebuild, answer
/// [`ReadError::Restarted`] instead of waiting forever or reading a rebuilt collection at a
/// time it no longer distinguishes.
pub struct ComputeController {
    instance: Mutex<Instance>,
    workers: usize,
    /// What the workers publish about their dataflows (see `introspect`).
    introspection: Arc<crate::introspect::Introspection>,
    health: Arc<tokio::sync::watch::Sender<Health>>,
    /// The time the current generation's collections were reloaded at (earlier times are
    /// folded into it, so reads before it cannot be answered); `Timestamp::MAX` while they are
    /// being reloaded.
    rebuilt_at: std::sync::atomic::AtomicU64,
    /// Read holds by id, and the next id.
    holds: Mutex<(u64, BTreeMap<u64, Timestamp>)>,
}

/// A time reads still need: while any is held, no collection folds its history past the
/// earliest (a transaction reads every statement at its snapshot). Dropped, it releases.
pub struct ReadHold {
    id: u64,
    ts: Timestamp,
    controller: std::sync::Weak<ComputeController>,
}

impl ReadHold {
    /// The held time.
    pub fn ts(&self) -> Timestamp {
        self.ts
    }
}

impl std::fmt::Debug for ReadHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReadHold({})", self.ts)
    }
}

impl Drop for ReadHold {
    fn drop(&mut self) {
        if let Some(controller) = self.controller.upgrade() {
            let mut holds = controller.holds.lock().expect("holds lock");
            holds.1.remove(&self.id);
            controller.broadcast(Command::HoldReads {
                ts: holds.1.values().min().copied(),
            });
        }
    }
}

impl ComputeController {
    /// Holds `ts` readable: until the returned hold is dropped, no collection folds its history
    /// past the earliest held time (reads at `ts` see exactly the state at `ts`).
    pub fn hold_reads(self: &Arc<Self>, ts: Timestamp) -> ReadHold {
        let mut holds = self.holds.lock().expect("holds lock");
        let id = holds.0;
        holds.0 += 1;
        holds.1.insert(id, ts);
        self.broadcast(Command::HoldReads {
            ts: holds.1.values().min().copied(),
        });
        ReadHold {
            id,
            ts,
            controller: Arc::downgrade(self),
        }
    }

    /// Starts `workers` timely worker threads in this process.
    pub fn start(workers: usize) -> Result<Self, String> {
        let workers = workers.max(1);
        let introspection = Arc::new(crate::introspect::Introspection::new(workers));
        let health = Arc::new(
            tokio::sync::watch::channel(Health {
                generation: 1,
                ..Health::default()
            })
            .0,
        );
        let instance = Instance::start(workers, 1, introspection.clone(), health.clone())?;
        Ok(ComputeController {
            instance: Mutex::new(instance),
            workers,
            introspection,
            health,
            rebuilt_at: Default::default(),
            holds: Default::default(),
        })
    }

    /// The number of timely workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Whether the workers run, and their generation; `changed()` on the receiver wakes on a
    /// failure and on a restart.
    pub fn health(&self) -> tokio::sync::watch::Receiver<Health> {
        self.health.subscribe()
    }

    /// Stops the current workers (all of them: a failed worker leaves its peers waiting on
    /// progress it will never report) and starts a new generation with nothing installed.
    /// Every read is refused until the caller has reinstalled the collections, loaded their
    /// contents and said from when they are readable ([`ComputeController::readable_from`]).
    pub fn restart(&self) -> Result<(), String> {
        // Locks in the order `hold_reads` takes them: holds, then the instance.
        let holds = self.holds.lock().expect("holds lock");
        let mut instance = self.instance.lock().expect("instance lock");
        instance.stop();
        let generation = instance.generation + 1;
        self.rebuilt_at.store(Timestamp::MAX, std::sync::atomic::Ordering::Release);
        *instance = Instance::start(self.workers, generation, self.introspection.clone(), self.health.clone())?;
        let held = holds.1.values().min().copied();
        for tx in &instance.senders {
            let _ = tx.send(Command::HoldReads { ts: held });
        }
        self.health.send_modify(|h| {
            h.generation = generation;
            h.last_failure = h.failure.take().or(h.last_failure.take());
        });
        Ok(())
    }

    /// After a restart: the rebuilt collections hold their contents from `ts` on (earlier
    /// history is folded into it), so reads at `ts` or later are answered again.
    pub fn readable_from(&self, ts: Timestamp) {
        self.rebuilt_at.store(ts, std::sync::atomic::Ordering::Release);
    }

    /// Test-only failure injection: the next step of worker 0 panics inside a dataflow
    /// operator, as a bug in an operator would.
    pub fn inject_panic(&self) {
        self.broadcast(Command::Panic);
    }

    /// What the workers last published about their dataflows, arrangements and frontiers.
    pub fn introspection(&self) -> Vec<crate::introspect::WorkerStats> {
        self.introspection.snapshot()
    }

    /// Sends `cmd` to every worker of the current generation; returns that generation.
    fn broadcast(&self, cmd: Command) -> u64 {
        let instance = self.instance.lock().expect("instance lock");
        for tx in instance.senders.iter() {
            // A worker only stops at shutdown or when it panicked, which `health` reports.
            let _ = tx.send(cmd.clone());
        }
        instance.unpark();
        instance.generation
    }

    /// Sends each worker its own share of `updates` (the i-th update to worker i mod n;
    /// differential exchanges them by key later), moved rather than cloned.
    fn deal(&self, updates: Vec<(GlobalId, Row, Diff)>, command: impl Fn(Vec<(GlobalId, Row, Diff)>) -> Command) {
        let instance = self.instance.lock().expect("instance lock");
        let n = instance.senders.len().max(1);
        let shares = if n == 1 {
            vec![updates]
        } else {
            let mut shares: Vec<Vec<_>> = (0..n).map(|_| Vec::with_capacity(updates.len() / n + 1)).collect();
            for (i, u) in updates.into_iter().enumerate() {
                shares[i % n].push(u);
            }
            shares
        };
        for (tx, share) in instance.senders.iter().zip(shares) {
            let _ = tx.send(command(share));
        }
        instance.unpark();
    }

    /// Waits until generation `generation` fails or is replaced; the reason.
    async fn lost(&self, generation: u64) -> ReadError {
        let mut health = self.health.subscribe();
        let reason = match health.wait_for(|h| h.generation != generation || h.failure.is_some()).await {
            Ok(h) => h.failure.clone().unwrap_or_else(|| "the workers were restarted".into()),
            Err(_) => "the workers stopped".into(),
        };
        ReadError::Restarted(reason)
    }

    /// Refuses a read at `ts` that the current generation cannot answer: while its workers
    /// are down, or before the time its collections were reloaded at.
    fn check_readable(&self, ts: Timestamp) -> Result<(), ReadError> {
        if let Some(failure) = &self.health.borrow().failure {
            return Err(ReadError::Restarted(failure.clone()));
        }
        let rebuilt_at = self.rebuilt_at.load(std::sync::atomic::Ordering::Acquire);
        if ts < rebuilt_at {
            return Err(ReadError::Restarted(format!(
                "the read time {ts} is before the rebuild at {rebuilt_at}"
            )));
        }
        Ok(())
    }

    /// Installs a table's input and arrangement, keeping `retain` milliseconds of history
    /// readable (`AS OF`).
    pub fn create_table(&self, id: GlobalId, retain: Timestamp) {
        self.broadcast(Command::CreateTable { id, retain });
    }

    /// Installs a materialized view's dataflow, keeping `retain` milliseconds of history;
    /// `group_size`: the view's `EXPECTED GROUP SIZE`.
    pub fn create_view(
        &self,
        id: GlobalId,
        plan: RelExpr,
        retain: Timestamp,
        refresh: Option<riffle_repr::RefreshSchedule>,
        group_size: Option<u64>,
    ) {
        self.broadcast(Command::CreateView {
            id,
            plan,
            retain,
            refresh,
            group_size,
        });
    }

    /// Installs an index: an arrangement of `on` by `keys`, with `on`'s history retention.
    pub fn create_index(&self, id: GlobalId, on: GlobalId, keys: Vec<usize>) {
        self.broadcast(Command::CreateIndex { id, on, keys });
    }

    /// Drops a collection's dataflow and arrangement.
    pub fn drop_collection(&self, id: GlobalId) {
        self.broadcast(Command::Drop { id });
    }

    /// Feeds updates at `ts` without advancing the inputs past it: call repeatedly to load a
    /// large snapshot in chunks, then `advance_to(ts + 1)`.
    pub fn load(&self, ts: Timestamp, updates: Vec<(GlobalId, Row, Diff)>) {
        self.deal(updates, |updates| Command::Load { ts, updates });
    }

    /// Moves every input to `ts` without data.
    pub fn advance_to(&self, ts: Timestamp) {
        self.broadcast(Command::AdvanceTo { ts });
    }

    /// Streams the changes of a plan from `as_of` on (its contents at `as_of` first, with
    /// `snapshot`). Workers report their own parts with their progress; this merges them and
    /// releases a time only once every worker has passed it, so each batch is complete and in
    /// order. Dropping the receiver ends the subscription and its dataflow.
    pub fn subscribe(self: &Arc<Self>, plan: RelExpr, as_of: Timestamp, snapshot: bool) -> SubscribeReceiver {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (out_tx, out_rx) = tokio::sync::mpsc::unbounded_channel();
        if let Err(e) = self.check_readable(as_of) {
            let _ = out_tx.send(Err(e));
            return out_rx;
        }
        let generation = self.broadcast(Command::Subscribe {
            id,
            plan,
            as_of,
            snapshot,
            sender: tx,
        });
        let controller = self.clone();
        let workers = self.workers;
        tokio::spawn(async move {
            let mut uppers = vec![0 as Timestamp; workers];
            let mut released: Timestamp = 0;
            let mut pending: BTreeMap<Timestamp, BTreeMap<Row, Diff>> = BTreeMap::new();
            let lost = controller.lost(generation);
            tokio::pin!(lost);
            loop {
                let (worker, update) = tokio::select! {
                    next = rx.recv() => match next {
                        Some(next) => next,
                        None => break,
                    },
                    reason = &mut lost => {
                        // The workers holding this subscription's dataflow are gone.
                        let _ = out_tx.send(Err(reason));
                        return;
                    }
                };
                let (updates, upper) = match update {
                    Ok(u) => u,
                    Err(e) => {
                        let _ = out_tx.send(Err(e));
                        break;
                    }
                };
                for (row, t, d) in updates {
                    *pending.entry(t).or_default().entry(row).or_insert(0) += d;
                }
                uppers[worker] = uppers[worker].max(upper);
                let frontier = uppers.iter().copied().min().unwrap_or(0);
                if frontier <= released {
                    continue;
                }
                released = frontier;
                let ready: Vec<Timestamp> = pending.range(..frontier).map(|(t, _)| *t).collect();
                let mut batch = Vec::new();
                for t in ready {
                    for (row, d) in pending.remove(&t).unwrap_or_default() {
                        if d != 0 {
                            batch.push((t, d, row));
                        }
                    }
                }
                if out_tx
                    .send(Ok(SubscribeBatch {
                        updates: batch,
                        progress: frontier,
                    }))
                    .is_err()
                {
                    break;
                }
                if out_tx.is_closed() {
                    break;
                }
            }
            controller.broadcast(Command::DropSubscribe { id });
        });
        out_rx
    }

    /// The time before which every input has been processed by every maintained dataflow
    /// (for backpressure: ingestion waits for this to pass what it wrote).
    pub fn processed(&self) -> Timestamp {
        self.instance
            .lock()
            .expect("instance lock")
            .processed
            .iter()
            .map(|p| p.load(std::sync::atomic::Ordering::Acquire))
            .min()
            .unwrap_or(0)
    }

    /// Reads a collection, or computes a plan, as of `ts`.
    pub async fn peek(&self, target: PeekTarget, ts: Timestamp) -> PeekResult {
        self.check_readable(ts)?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let generation = self.broadcast(Command::Peek { target, ts, reply: tx });
        let lost = self.lost(generation);
        tokio::pin!(lost);
        let mut merged: BTreeMap<Row, Diff> = BTreeMap::new();
        let mut error = None;
        for _ in 0..self.workers {
            let reply = tokio::select! {
                reply = rx.recv() => reply,
                reason = &mut lost => return Err(reason),
            };
            match reply {
                Some(Ok(rows)) => {
                    for (row, diff) in rows {
                        *merged.entry(row).or_insert(0) += diff;
                    }
                }
                // An evaluation error from one worker is the answer unless another worker
                // knows the read cannot be answered at all.
                Some(Err(e @ ReadError::Eval(_))) => error = Some(e),
                Some(Err(e)) => return Err(e),
                None => return Err(self.lost(generation).await),
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        Ok(merged.into_iter().filter(|(_, d)| *d != 0).collect())
    }
}

impl Drop for ComputeController {
    fn drop(&mut self) {
        if let Ok(mut instance) = self.instance.lock() {
            instance.stop();
        }
    }
}
