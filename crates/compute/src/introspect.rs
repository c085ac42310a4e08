//! What each worker publishes about its dataflows, arrangements and frontiers, for the
//! introspection relations (`riffle_dataflows`, `riffle_arrangement_sizes`, `riffle_frontiers`)
//! and the Prometheus endpoint.
//!
//! Workers publish a fresh [`WorkerStats`] every [`PUBLISH_EVERY`] (and at once when a dataflow
//! is created or dropped), measuring every arrangement as they do: update counts come from each
//! batch's length; bytes are the allocations of each batch's containers for row arrangements
//! (rows live in one buffer per batch, see `spines`) and estimated from a sample of each batch
//! for error arrangements, so a measurement costs O(batches) however large an arrangement grows
//! and never stalls the worker.

use crate::render::{IndexTrace, RowTrace};
use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::trace::cursor::{Cursor, Navigable};
use differential_dataflow::trace::implementations::ord_neu::Upds;
use differential_dataflow::trace::implementations::spine_fueled::SpineBatch;
use differential_dataflow::trace::implementations::{KeySpine, OffsetList};
use differential_dataflow::trace::TraceReader;
use riffle_expr::EvalError;
use riffle_repr::{Diff, GlobalId, Timestamp};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use timely::progress::Antichain;

/// How often a worker publishes its statistics.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// Which of a collection's arrangements a statistic is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ArrangementKind {
    /// The collection's rows, arranged by the whole row.
    Rows,
    /// The collection's evaluation errors.
    Errors,
    /// An index: rows arranged by the index's key columns.
    Index,
}

impl ArrangementKind {
    /// The name shown in introspection relations.
    pub fn name(self) -> &'static str {
        match self {
            ArrangementKind::Rows => "rows",
            ArrangementKind::Errors => "errors",
            ArrangementKind::Index => "index",
        }
    }
}

/// One arrangement on one worker.
#[derive(Clone, Debug)]
pub struct ArrangementStats {
    /// The table, view or index the arrangement maintains.
    pub id: GlobalId,
    /// Which arrangement of it.
    pub kind: ArrangementKind,
    /// Updates `(data, time, diff)` held.
    pub records: u64,
    /// Batches in the trace.
    pub batches: u64,
    /// Estimated bytes held (keys, values and their heap data, times and diffs).
    pub bytes: u64,
    /// Reads are possible at this time or later (the logical compaction frontier).
    pub since: Option<Timestamp>,
    /// Every update before this time is in the arrangement; `None` once it is complete forever.
    pub upper: Option<Timestamp>,
}

impl ArrangementStats {
    /// How far the arrangement trails its worker's inputs (which are all at `input_time`),
    /// milliseconds; 0 once it is complete forever.
    pub fn lag(&self, input_time: Timestamp) -> Timestamp {
        self.upper.map_or(0, |u| input_time.saturating_sub(u))
    }
}

/// A dataflow on one worker.
#[derive(Clone, Debug)]
pub struct DataflowStats {
    /// Timely's index of the dataflow.
    pub index: usize,
    /// Its name: `table u1`, `view u3`, `index u4`, `subscribe 7`, `peek`.
    pub name: String,
    /// The collection it maintains, if any.
    pub object: Option<GlobalId>,
    /// Updates it has fed into its output arrangements (for tables: updates written).
    pub updates: u64,
    /// The indexes whose arrangements it reads instead of building its own (joins on an
    /// indexed collection's key columns).
    pub reads_indexes: Vec<GlobalId>,
}

/// Everything one worker published.
#[derive(Clone, Debug, Default)]
pub struct WorkerStats {
    /// The worker's index.
    pub worker: usize,
    /// Every input of this worker has advanced to this time.
    pub input_time: Timestamp,
    /// Arrangements of tables, views and indexes.
    pub arrangements: Vec<ArrangementStats>,
    /// Installed dataflows.
    pub dataflows: Vec<DataflowStats>,
    /// When these statistics were taken (`None` before the worker's first publication).
    pub measured_at: Option<SystemTime>,
}

/// The statistics of every worker, shared with the controller.
pub struct Introspection {
    workers: Vec<Mutex<WorkerStats>>,
}

impl Introspection {
    pub(crate) fn new(workers: usize) -> Self {
        Introspection {
            workers: (0..workers).map(|_| Mutex::new(WorkerStats::default())).collect(),
        }
    }

    pub(crate) fn publish(&self, stats: WorkerStats) {
        let worker = stats.worker;
        *self.workers[worker].lock().expect("introspection lock") = stats;
    }

    /// The latest statistics of every worker.
    pub fn snapshot(&self) -> Vec<WorkerStats> {
        self.workers.iter().map(|w| w.lock().expect("introspection lock").clone()).collect()
    }
}

/// What a measurement found: updates, batches, bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Measured {
    pub records: u64,
    pub batches: u64,
    pub bytes: u64,
}

/// The bytes each update costs besides its data: a time and a diff.
const UPDATE_BYTES: usize = std::mem::size_of::<(Timestamp, Diff)>();

/// Updates walked per batch to estimate its bytes per update.
const SAMPLE: u64 = 256;

/// Counts a trace's updates exactly (each batch knows its length) and estimates its bytes from
/// the first `SAMPLE` updates of each batch, so a measurement costs O(batches), not O(updates),
/// and never stalls the worker however large the arrangement is.
fn measure<B, C>(batches: Vec<B>, mut sample: impl FnMut(&mut C, &B) -> (u64, u64)) -> Measured
where
    B: SpineBatch + Navigable<Cursor = C>,
{
    let mut m = Measured {
        batches: batches.len() as u64,
        ..Measured::default()
    };
    for batch in &batches {
        let len = SpineBatch::len(batch) as u64;
        let (records, bytes) = sample(&mut batch.cursor(), batch);
        m.records += len;
        if records > 0 {
            m.bytes += len * bytes / records;
        }
    }
    m.bytes += m.records * UPDATE_BYTES as u64;
    m
}

/// Measures an error arrangement (`KeySpine` of errors). Errors are rare and small: each
/// counts its inline size, their message strings are not walked.
pub(crate) fn measure_errors(trace: &mut TraceAgent<KeySpine<EvalError, Timestamp, Diff>>) -> Measured {
    let Some(batches) = trace.batches_through(Antichain::new().borrow()) else {
        return Measured::default();
    };
    measure(batches, |cursor, batch| {
        let (mut records, mut bytes) = (0, 0);
        while cursor.key_valid(batch) && records < SAMPLE {
            let mut updates = 0;
            while cursor.val_valid(batch) {
                cursor.map_times(batch, |_, _| updates += 1);
                cursor.step_val(batch);
            }
            // The key is stored once however many updates it has.
            bytes += std::mem::size_of::<EvalError>() as u64;
            records += updates;
            cursor.step_key(batch);
        }
        (records, bytes)
    })
}

/// Heap bytes of a list of offsets.
fn offsets_size(offsets: &OffsetList) -> usize {
    4 * offsets.smol.capacity() + 8 * offsets.chonk.capacity()
}

/// Heap bytes of a batch's times and diffs and their offsets.
fn updates_size(upds: &Upds<OffsetList, Vec<Timestamp>, Vec<Diff>>) -> usize {
    offsets_size(&upds.offs)
        + std::mem::size_of::<Timestamp>() * upds.times.capacity()
        + std::mem::size_of::<Diff>() * upds.diffs.capacity()
}

/// Measures a row arrangement exactly: each batch's length and the bytes `bytes` finds
/// allocated for it.
fn measure_buffers<Tr, B>(trace: &mut Tr, bytes: impl Fn(&B) -> usize) -> Measured
where
    Tr: TraceReader<Time = Timestamp, Batch = std::rc::Rc<B>>,
    B: SpineBatch,
{
    let Some(batches) = trace.batches_through(Antichain::new().borrow()) else {
        return Measured::default();
    };
    let mut m = Measured {
        batches: batches.len() as u64,
        ..Measured::default()
    };
    for batch in &batches {
        m.records += SpineBatch::len(&**batch) as u64;
        m.bytes += bytes(batch) as u64;
    }
    m
}

/// Measures a collection's rows: each batch's row buffer, offsets, times and diffs.
pub(crate) fn measure_rows(trace: &mut RowTrace) -> Measured {
    measure_buffers(trace, |batch| batch.storage.keys.heap_size() + updates_size(&batch.storage.upds))
}

/// Measures an index: each batch's key and value rows, offsets, times and diffs.
pub(crate) fn measure_index(trace: &mut IndexTrace) -> Measured {
    measure_buffers(trace, |batch| {
        let storage = &batch.storage;
        storage.keys.heap_size() + storage.vals.vals.heap_size() + offsets_size(&storage.vals.offs) + updates_size(&storage.upds)
    })
}

/// A trace's logical compaction frontier (`since`) and upper frontier, as their first elements
/// (times are totally ordered; `None` for the empty frontier).
pub(crate) fn frontiers<Tr: TraceReader<Time = Timestamp>>(trace: &mut Tr) -> (Option<Timestamp>, Option<Timestamp>) {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let since = trace.get_logical_compaction().first().copied();
    (since, upper.elements().first().copied())
}
