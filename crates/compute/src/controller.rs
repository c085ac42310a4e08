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

/// The rows of a peek (with multiplicities), or the evaluation error the collection holds.
pub type PeekResult = Result<Vec<(Row, Diff)>, EvalError>;

/// What a worker reports for a subscription: its updates with times in [previous upper, upper),
/// and that upper. An error ends the subscription.
pub(crate) type SubscribeSender = tokio::sync::mpsc::UnboundedSender<(usize, Result<(Vec<(Row, Timestamp, Diff)>, Timestamp), EvalError>)>;

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
pub type SubscribeReceiver = tokio::sync::mpsc::UnboundedReceiver<Result<SubscribeBatch, EvalError>>;

pub(crate) type PeekReply = tokio::sync::mpsc::UnboundedSender<Result<PeekResult, String>>;

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
    /// Each worker gets its own share of the updates (see [`ComputeController::deal`]).
    Write {
        ts: Timestamp,
        updates: Vec<(GlobalId, Row, Diff)>,
    },
    /// Like `Write` but leaves the inputs at `ts`, so that more updates can follow at the same
    /// time (recovery loads a snapshot in chunks); an `AdvanceTo` completes it.
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
    Shutdown,
}

/// Owns the timely workers; every method broadcasts one command.
///
/// Broadcasts hold a lock so that every worker sees commands in one order, even when
/// sessions issue peeks concurrently: workers must build their dataflows identically.
pub struct ComputeController {
    senders: Mutex<Vec<crossbeam_channel::Sender<Command>>>,
    /// The worker threads, to wake them when a command arrives instead of waiting out their park.
    threads: Arc<Mutex<Vec<Option<std::thread::Thread>>>>,
    workers: usize,
    guards: Mutex<Option<timely::communication::WorkerGuards<()>>>,
    /// Per worker: every input before this time has been processed by all its dataflows.
    processed: Arc<Vec<std::sync::atomic::AtomicU64>>,
    /// What the workers publish about their dataflows (see `introspect`).
    introspection: Arc<crate::introspect::Introspection>,
}

impl ComputeController {
    /// Starts `workers` timely worker threads in this process.
    pub fn start(workers: usize) -> Result<Self, String> {
        let workers = workers.max(1);
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
        let introspection = Arc::new(crate::introspect::Introspection::new(workers));
        let published = introspection.clone();
        let guards = timely::execute(timely::Config::process(workers), move |worker| {
            let rx = receivers.lock().expect("receivers lock")[worker.index()]
                .take()
                .expect("one receiver per worker");
            registered.lock().expect("threads lock")[worker.index()] = Some(std::thread::current());
            let index = worker.index();
            ComputeWorker::new(worker, report.clone(), index, published.clone()).run(rx);
        })?;
        Ok(ComputeController {
            senders: Mutex::new(senders),
            threads,
            workers,
            guards: Mutex::new(Some(guards)),
            processed,
            introspection,
        })
    }

    /// What the workers last published about their dataflows, arrangements and frontiers.
    pub fn introspection(&self) -> Vec<crate::introspect::WorkerStats> {
        self.introspection.snapshot()
    }

    fn broadcast(&self, cmd: Command) {
        let senders = self.senders.lock().expect("senders lock");
        for tx in senders.iter() {
            // A worker only stops at shutdown, so a failed send means it panicked; the peek
            // that follows reports it.
            let _ = tx.send(cmd.clone());
        }
        self.unpark_workers();
    }

    /// Wakes every worker to take the commands just sent.
    fn unpark_workers(&self) {
        for thread in self.threads.lock().expect("threads lock").iter().flatten() {
            thread.unpark();
        }
    }

    /// Sends each worker its own share of `updates` (the i-th update to worker i mod n;
    /// differential exchanges them by key later), moved rather than cloned.
    fn deal(&self, updates: Vec<(GlobalId, Row, Diff)>, command: impl Fn(Vec<(GlobalId, Row, Diff)>) -> Command) {
        let senders = self.senders.lock().expect("senders lock");
        let n = senders.len().max(1);
        let shares = if n == 1 {
            vec![updates]
        } else {
            let mut shares: Vec<Vec<_>> = (0..n).map(|_| Vec::with_capacity(updates.len() / n + 1)).collect();
            for (i, u) in updates.into_iter().enumerate() {
                shares[i % n].push(u);
            }
            shares
        };
        for (tx, share) in senders.iter().zip(shares) {
            let _ = tx.send(command(share));
        }
        self.unpark_workers();
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

    /// Applies table updates at `ts` and closes that time.
    pub fn write(&self, ts: Timestamp, updates: Vec<(GlobalId, Row, Diff)>) {
        self.deal(updates, |updates| Command::Write { ts, updates });
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
        self.broadcast(Command::Subscribe {
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
            while let Some((worker, update)) = rx.recv().await {
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
        self.processed
            .iter()
            .map(|p| p.load(std::sync::atomic::Ordering::Acquire))
            .min()
            .unwrap_or(0)
    }

    /// Reads a collection, or computes a plan, as of `ts`.
    pub async fn peek(&self, target: PeekTarget, ts: Timestamp) -> Result<PeekResult, String> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        self.broadcast(Command::Peek { target, ts, reply: tx });
        let mut merged: BTreeMap<Row, Diff> = BTreeMap::new();
        let mut error = None;
        for _ in 0..self.workers {
            match rx.recv().await {
                Some(Ok(Ok(rows))) => {
                    for (row, diff) in rows {
                        *merged.entry(row).or_insert(0) += diff;
                    }
                }
                Some(Ok(Err(e))) => error = Some(e),
                Some(Err(msg)) => return Err(msg),
                None => return Err("compute worker stopped".into()),
            }
        }
        if let Some(e) = error {
            return Ok(Err(e));
        }
        Ok(Ok(merged.into_iter().filter(|(_, d)| *d != 0).collect()))
    }
}

impl Drop for ComputeController {
    fn drop(&mut self) {
        self.broadcast(Command::Shutdown);
        if let Ok(mut guards) = self.guards.lock() {
            drop(guards.take());
        }
    }
}
