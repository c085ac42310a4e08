//! The loop each timely worker runs: apply commands, step dataflows, answer peeks.

use crate::controller::{Command, PeekReply, PeekTarget, ReadError, SubscribeSender};
use crate::hierarchical::Buckets;
use crate::introspect::{self, ArrangementKind, ArrangementStats, DataflowStats, Introspection, Measured, WorkerStats};
use crate::render::{Delay, ErrTrace, Index, IndexTrace, RenderContext, RowTrace, Traces};
use crate::spines::{arrange_keyed, arrange_rows};
use differential_dataflow::input::InputSession;
use differential_dataflow::trace::cursor::{cursor_list, BatchCursor, BatchKey, Cursor, Navigable};
use differential_dataflow::trace::implementations::BatchContainer;
use differential_dataflow::trace::TraceReader;
use riffle_expr::{EvalError, RelExpr};
use riffle_repr::{Diff, GlobalId, Row, RowRef, Timestamp};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use timely::dataflow::ProbeHandle;
use timely::progress::frontier::AntichainRef;
use timely::progress::Antichain;
use timely::worker::Worker;

mod subscribe;
use subscribe::{Pending, Subscription};

/// The longest a worker parks with nothing to do (statistics are published every 200 ms).
const IDLE_PARK: Duration = Duration::from_millis(20);

/// A worker loop iteration longer than this (beyond its park) is logged at debug level.
const SLOW_STEP: Duration = Duration::from_millis(5);

struct PendingPeek {
    ts: Timestamp,
    rows: RowTrace,
    errs: ErrTrace,
    transient: Option<usize>,
    /// A point lookup: the index arrangement and the key to seek.
    lookup: Option<(IndexTrace, Row)>,
    /// A direct read's maps, filters and projections, applied to each row read, and the
    /// leading column values it fixes (where the read starts and stops).
    read: Option<(RelExpr, Option<Row>)>,
    /// The collections and indexes the peek reads. Dropping one seals its trace (differential
    /// closes a trace whose writer goes away), which would make an unfinished read look
    /// complete: such a peek is answered with an error instead.
    reads: Vec<GlobalId>,
    reply: PeekReply,
}

/// One worker's state: inputs for tables, traces for every maintained collection.
pub struct ComputeWorker<'w> {
    worker: &'w mut Worker,
    inputs: BTreeMap<GlobalId, (InputSession<Timestamp, Row, Diff>, InputSession<Timestamp, EvalError, Diff>)>,
    traces: BTreeMap<GlobalId, (RowTrace, ErrTrace)>,
    indexes: BTreeMap<GlobalId, Index>,
    /// The dataflows (by timely index) reading each index's arrangement. A dropped index
    /// whose arrangement is still read keeps its dataflow, in `retired`, until the last
    /// reader is dropped.
    index_readers: BTreeMap<GlobalId, Vec<usize>>,
    retired: BTreeMap<GlobalId, usize>,
    dataflows: BTreeMap<GlobalId, usize>,
    /// How much history (milliseconds before the read time) each collection keeps readable.
    retain: BTreeMap<GlobalId, Timestamp>,
    /// The earliest time a transaction still reads at: nothing folds history past it.
    hold: Option<Timestamp>,
    /// How far each collection's and index's trace has folded its history (its logical
    /// compaction, which only moves forward).
    since: BTreeMap<GlobalId, Timestamp>,
    time: Timestamp,
    peeks: Vec<PendingPeek>,
    subscriptions: Vec<Subscription>,
    /// Where this worker reports how far its dataflows have processed their inputs.
    processed: Arc<Vec<AtomicU64>>,
    index: usize,
    /// Where this worker publishes its statistics, and when it next does.
    introspection: Arc<Introspection>,
    next_publish: std::time::Instant,
    /// Updates each maintained collection's dataflow has fed its arrangement (tables: written).
    updates: BTreeMap<GlobalId, Rc<Cell<u64>>>,
    /// Names of installed dataflows, by timely's index.
    dataflow_names: BTreeMap<usize, String>,
}

impl<'w> ComputeWorker<'w> {
    /// A worker with nothing installed.
    pub fn new(worker: &'w mut Worker, processed: Arc<Vec<AtomicU64>>, index: usize, introspection: Arc<Introspection>) -> Self {
        ComputeWorker {
            worker,
            inputs: BTreeMap::new(),
            traces: BTreeMap::new(),
            indexes: BTreeMap::new(),
            index_readers: BTreeMap::new(),
            retired: BTreeMap::new(),
            dataflows: BTreeMap::new(),
            retain: BTreeMap::new(),
            hold: None,
            since: BTreeMap::new(),
            time: 0,
            peeks: Vec::new(),
            subscriptions: Vec::new(),
            processed,
            index,
            introspection,
            next_publish: std::time::Instant::now(),
            updates: BTreeMap::new(),
            dataflow_names: BTreeMap::new(),
        }
    }

    /// Runs until the controller shuts the worker down.
    pub fn run(mut self, commands: crossbeam_channel::Receiver<Command>) {
        loop {
            loop {
                match commands.try_recv() {
                    Ok(Command::Shutdown) | Err(crossbeam_channel::TryRecvError::Disconnected) => return,
                    Ok(cmd) => self.handle(cmd),
                    Err(crossbeam_channel::TryRecvError::Empty) => break,
                }
            }
            // A peek of data already there is answered before parking.
            self.process_peeks();
            // Commands unpark the worker (`ComputeController::broadcast`), and so do messages
            // from other workers, and a step with work to do does not park: parking only
            // bounds how late the periodic work runs.
            let park = if self.peeks.is_empty() {
                IDLE_PARK
            } else {
                Duration::from_micros(100)
            };
            let started = std::time::Instant::now();
            self.worker.step_or_park(Some(park));
            let stepped = started.elapsed();
            self.process_peeks();
            self.process_subscriptions();
            self.report_processed();
            self.publish_stats();
            let took = started.elapsed();
            // A long step delays every dataflow on this worker (and so freshness): say which part.
            if took > SLOW_STEP && stepped > park {
                tracing::debug!(
                    worker = self.index,
                    step_ms = stepped.as_secs_f64() * 1e3,
                    rest_ms = (took - stepped).as_secs_f64() * 1e3,
                    "slow worker step"
                );
            }
        }
    }

    fn handle(&mut self, cmd: Command) {
        if !matches!(cmd, Command::Load { .. } | Command::AdvanceTo { .. } | Command::Peek { .. }) {
            // The set of dataflows changes: publish it at the end of this loop iteration.
            self.next_publish = std::time::Instant::now();
        }
        match cmd {
            Command::CreateTable { id, retain } => {
                self.create_table(id);
                self.retain.insert(id, retain);
            }
            Command::CreateView {
                id,
                plan,
                retain,
                refresh,
                group_size,
            } => {
                // A scheduled view sees its inputs' changes at refresh times only (and, when it
                // starts, everything up to the latest complete time, which reads use).
                let start = self.time.saturating_sub(1);
                let delay = refresh.map(|r| std::rc::Rc::new(move |t: Timestamp| r.round_up(start, t)) as Delay);
                let name = format!("view {id}");
                let (index, rows, errs, updates) = self.render_arranged(&name, &plan, delay, None, group_size);
                self.traces.insert(id, (rows, errs));
                self.dataflows.insert(id, index);
                self.dataflow_names.insert(index, name);
                self.updates.insert(id, updates);
                self.retain.insert(id, retain);
            }
            Command::CreateIndex { id, on, keys } => {
                let index = self.worker.next_dataflow_index();
                let Some((rows, _)) = self.traces.get_mut(&on) else {
                    return;
                };
                let name = format!("index {id}");
                let index_keys = keys.clone();
                let updates = Rc::new(Cell::new(0));
                let counter = updates.clone();
                let trace = self.worker.dataflow_named::<Timestamp, _, _>(&name, |scope| {
                    let pairs = rows
                        .import(scope)
                        .as_collection(move |row: &RowRef, _| (row.project(&keys), row.to_owned()))
                        .inspect(move |_| counter.set(counter.get() + 1));
                    arrange_keyed(pairs, "ArrangeByKey").trace
                });
                self.indexes.insert(
                    id,
                    Index {
                        on,
                        keys: index_keys,
                        trace,
                    },
                );
                self.dataflows.insert(id, index);
                self.dataflow_names.insert(index, name);
                self.updates.insert(id, updates);
                self.retain.insert(id, self.retain.get(&on).copied().unwrap_or(0));
            }
            Command::Drop { id } => {
                self.end_subscriptions_reading(id);
                self.inputs.remove(&id);
                self.traces.remove(&id);
                self.indexes.remove(&id);
                self.retain.remove(&id);
                self.since.remove(&id);
                self.updates.remove(&id);
                if let Some(index) = self.dataflows.remove(&id) {
                    if self.index_readers.get(&id).is_some_and(|r| !r.is_empty()) {
                        self.retired.insert(id, index);
                    } else {
                        self.dataflow_names.remove(&index);
                        self.drop_dataflow(index);
                    }
                }
            }
            Command::Load { ts, updates } => self.feed(ts, updates),
            Command::AdvanceTo { ts } => self.advance_to(ts),
            Command::Peek { target, ts, reply } => self.start_peek(target, ts, reply),
            Command::Subscribe {
                id,
                plan,
                as_of,
                snapshot,
                sender,
            } => {
                if let Some(missing) = self.missing_input(&plan) {
                    let _ = sender.send((self.worker.index(), Err(ReadError::Dropped(missing))));
                    return;
                }
                let reads = plan.depends_on();
                let as_of = self.read_time(as_of, &reads);
                let (dataflow, rows, errs, probe) = self.render_streamed("subscribe", &plan);
                self.subscriptions.push(Subscription {
                    reads,
                    id,
                    rows,
                    errs,
                    probe,
                    dataflow,
                    reported: as_of + 1,
                    as_of,
                    snapshot_pending: Some(snapshot),
                    sender,
                });
            }
            Command::HoldReads { ts } => self.hold = ts,
            Command::DropSubscribe { id } => {
                if let Some(pos) = self.subscriptions.iter().position(|s| s.id == id) {
                    let sub = self.subscriptions.swap_remove(pos);
                    let dataflow = sub.dataflow;
                    drop(sub);
                    self.drop_dataflow(dataflow);
                }
            }
            Command::Panic => {
                if self.worker.index() == 0 {
                    self.install_failing_dataflow();
                }
            }
            Command::Shutdown => {}
        }
    }

    /// Feeds this worker's share of a write's updates (the controller deals them out).
    fn feed(&mut self, ts: Timestamp, updates: Vec<(GlobalId, Row, Diff)>) {
        for (id, row, diff) in updates {
            if let Some((input, _)) = self.inputs.get_mut(&id) {
                input.advance_to(ts.max(*input.time()));
                input.update(row, diff);
                if let Some(n) = self.updates.get(&id) {
                    n.set(n.get() + 1);
                }
            }
        }
    }

    /// Renders a plan as its own dataflow with its rows and errors arranged; returns the
    /// dataflow's index (to drop it later) and the two traces.
    /// Also returns a counter of the updates fed into the arrangements.
    /// `as_of`: a transient query's read time (see [`RenderContext::as_of`]); `group_size`: a
    /// view's `EXPECTED GROUP SIZE` (see [`RenderContext::buckets`]).
    fn render_arranged(
        &mut self,
        name: &str,
        plan: &RelExpr,
        delay: Option<Delay>,
        as_of: Option<Timestamp>,
        group_size: Option<u64>,
    ) -> (usize, RowTrace, ErrTrace, Rc<Cell<u64>>) {
        let index = self.worker.next_dataflow_index();
        let traces = &mut self.traces;
        let worker_index = self.worker.index();
        let updates = Rc::new(Cell::new(0));
        let (rows_counter, errs_counter) = (updates.clone(), updates.clone());
        let indexes = &mut self.indexes;
        let (rows, errs, read) = self.worker.dataflow_named::<Timestamp, _, _>(name, |scope| {
            let mut cx = RenderContext::new(scope, Traces { rows: traces, indexes }, worker_index);
            cx.delay = delay;
            cx.as_of = as_of;
            cx.buckets = if as_of.is_some() {
                Buckets::none()
            } else {
                Buckets::for_view(group_size)
            };
            let (rows, errs) = cx.render(plan);
            (
                arrange_rows(rows.inspect(move |_| rows_counter.set(rows_counter.get() + 1)), "ArrangeBySelf").trace,
                errs.inspect(move |_| errs_counter.set(errs_counter.get() + 1))
                    .arrange_by_self()
                    .trace,
                cx.imported_indexes,
            )
        });
        self.add_index_readers(index, read);
        (index, rows, errs, updates)
    }

    /// Publishes this worker's statistics every `PUBLISH_EVERY`, measuring every arrangement
    /// (see `introspect`).
    fn publish_stats(&mut self) {
        let now = std::time::Instant::now();
        if now < self.next_publish {
            return;
        }
        self.next_publish = now + introspect::PUBLISH_EVERY;
        let stats =
            |id: GlobalId, kind: ArrangementKind, m: Measured, (since, upper): (Option<Timestamp>, Option<Timestamp>)| ArrangementStats {
                id,
                kind,
                records: m.records,
                batches: m.batches,
                bytes: m.bytes,
                since,
                upper,
            };
        let mut arrangements = Vec::new();
        for (id, (rows, errs)) in self.traces.iter_mut() {
            arrangements.push(stats(
                *id,
                ArrangementKind::Rows,
                introspect::measure_rows(rows),
                introspect::frontiers(rows),
            ));
            arrangements.push(stats(
                *id,
                ArrangementKind::Errors,
                introspect::measure_errors(errs),
                introspect::frontiers(errs),
            ));
        }
        for (id, Index { trace, .. }) in self.indexes.iter_mut() {
            arrangements.push(stats(
                *id,
                ArrangementKind::Index,
                introspect::measure_index(trace),
                introspect::frontiers(trace),
            ));
        }
        // The indexes whose arrangements a dataflow reads.
        let reads = |dataflow: usize| -> Vec<GlobalId> {
            self.index_readers
                .iter()
                .filter(|(_, r)| r.contains(&dataflow))
                .map(|(id, _)| *id)
                .collect()
        };
        let mut dataflows: Vec<DataflowStats> = self
            .dataflows
            .iter()
            .map(|(id, index)| DataflowStats {
                index: *index,
                name: self.dataflow_names.get(index).cloned().unwrap_or_default(),
                object: Some(*id),
                updates: self.updates.get(id).map_or(0, |n| n.get()),
                reads_indexes: reads(*index),
            })
            .collect();
        dataflows.extend(self.subscriptions.iter().map(|s| DataflowStats {
            index: s.dataflow,
            name: format!("subscribe {}", s.id),
            object: None,
            updates: 0,
            reads_indexes: reads(s.dataflow),
        }));
        dataflows.extend(self.peeks.iter().filter_map(|p| p.transient).map(|index| DataflowStats {
            index,
            name: "peek".to_string(),
            object: None,
            updates: 0,
            reads_indexes: reads(index),
        }));
        // A dropped index still read by some view: listed until its last reader goes.
        dataflows.extend(self.retired.iter().map(|(id, index)| DataflowStats {
            index: *index,
            name: format!("index {id} (dropped, still read)"),
            object: None,
            updates: 0,
            reads_indexes: Vec::new(),
        }));
        dataflows.sort_by_key(|d| d.index);
        self.introspection.publish(WorkerStats {
            worker: self.worker.index(),
            input_time: self.time,
            arrangements,
            dataflows,
            measured_at: Some(std::time::SystemTime::now()),
        });
    }

    /// Publishes the least upper frontier of every maintained arrangement.
    fn report_processed(&mut self) {
        let mut least = self.time;
        let mut upper = Antichain::new();
        for (rows, errs) in self.traces.values_mut() {
            rows.read_upper(&mut upper);
            least = least.min(upper.elements().first().copied().unwrap_or(Timestamp::MAX));
            errs.read_upper(&mut upper);
            least = least.min(upper.elements().first().copied().unwrap_or(Timestamp::MAX));
        }
        for Index { trace, .. } in self.indexes.values_mut() {
            trace.read_upper(&mut upper);
            least = least.min(upper.elements().first().copied().unwrap_or(Timestamp::MAX));
        }
        self.processed[self.index].store(least, Ordering::Release);
    }

    /// Renders a plan as its own dataflow whose output updates are collected as they are
    /// produced, with a probe on their progress (for SUBSCRIBE).
    fn render_streamed(&mut self, name: &str, plan: &RelExpr) -> (usize, Pending<Row>, Pending<EvalError>, ProbeHandle<Timestamp>) {
        let index = self.worker.next_dataflow_index();
        let traces = &mut self.traces;
        let worker_index = self.worker.index();
        let rows: Pending<Row> = Default::default();
        let errs: Pending<EvalError> = Default::default();
        let probe = ProbeHandle::new();
        let (r, e) = (rows.clone(), errs.clone());
        let indexes = &mut self.indexes;
        let read = self.worker.dataflow_named::<Timestamp, _, _>(name, |scope| {
            let mut cx = RenderContext::new(scope, Traces { rows: traces, indexes }, worker_index);
            let (rows, errs) = cx.render(plan);
            rows.inspect(move |u| r.borrow_mut().push(u.clone())).probe_with(&probe);
            errs.inspect(move |u| e.borrow_mut().push(u.clone())).probe_with(&probe);
            cx.imported_indexes
        });
        self.add_index_readers(index, read);
        (index, rows, errs, probe)
    }

    /// An input of `plan` that is not installed (a concurrent DROP removed it after planning).
    fn missing_input(&self, plan: &RelExpr) -> Option<GlobalId> {
        plan.depends_on().into_iter().find(|id| !self.traces.contains_key(id))
    }

    fn create_table(&mut self, id: GlobalId) {
        let index = self.worker.next_dataflow_index();
        let name = format!("table {id}");
        let mut rows_in = InputSession::new();
        let mut errs_in = InputSession::new();
        let (rows, errs) = self.worker.dataflow_named::<Timestamp, _, _>(&name, |scope| {
            (
                arrange_rows(rows_in.to_collection(scope), "ArrangeBySelf").trace,
                errs_in.to_collection(scope).arrange_by_self().trace,
            )
        });
        rows_in.advance_to(self.time);
        errs_in.advance_to(self.time);
        rows_in.flush();
        errs_in.flush();
        self.inputs.insert(id, (rows_in, errs_in));
        self.traces.insert(id, (rows, errs));
        self.dataflows.insert(id, index);
        self.dataflow_names.insert(index, name);
        self.updates.insert(id, Rc::new(Cell::new(0)));
    }

    /// Moves every input to `ts` and lets arrangements forget history before it.
    fn advance_to(&mut self, ts: Timestamp) {
        if ts <= self.time {
            return;
        }
        self.time = ts;
        for (rows, errs) in self.inputs.values_mut() {
            rows.advance_to(ts);
            errs.advance_to(ts);
            rows.flush();
            errs.flush();
        }
        // Reads happen at the latest complete time, ts - 1, or up to a collection's retention
        // before it (`AS OF`); older history is folded together (logical compaction).
        //
        // Reads take every batch and filter by time, so batches may merge up to ts - 1
        // (physical compaction): held back with the history, every time step's batch would
        // wait unmerged, one more per write, and each frontier read walks them all. But never
        // past what the trace holds (its upper): the arrangement has not yet seen this advance
        // (that happens when the worker next steps), and a handle whose physical compaction is
        // beyond the trace's upper cannot ask for the batches it holds. Every import clones
        // this handle's frontiers, and differential's join asserts that they are within the
        // trace's batches (a transient join over an index arranged in the same loop iteration
        // as an advance panicked the worker); `batches_through` answers `None` past the upper,
        // which a peek would have read as "no rows".
        // Logical compaction only moves forward: a read hold set after a trace was compacted
        // past its time leaves the trace where it is, and reads move up to it (`read_time`).
        let (retain, hold, since) = (&self.retain, self.hold, &mut self.since);
        let mut since = |id: &GlobalId| {
            let applied = since.entry(*id).or_default();
            *applied = (*applied).max(compaction_frontier(ts, retain, hold, id));
            [*applied]
        };
        for (id, (rows, errs)) in self.traces.iter_mut() {
            let since = since(id);
            compact(rows, &since, ts - 1);
            compact(errs, &since, ts - 1);
        }
        for (id, Index { trace, .. }) in self.indexes.iter_mut() {
            compact(trace, &since(id), ts - 1);
        }
    }

    /// The time a read chosen at `ts` over `ids` happens at: `ts`, or the latest of their
    /// compaction frontiers where that is later.
    ///
    /// The coordinator picks a read's time and sends the read after letting go of its lock,
    /// while the log writer may send writes and advances meanwhile: by the time a worker takes
    /// the read, the collections may have folded history up to a later time (`advance_to`'s
    /// logical compaction), and a trace compacted past the read time cannot answer for it
    /// (updates before it may have moved after it; a transient join then produced rows with
    /// negative counts). Reading at the compaction frontier instead still includes every write
    /// acknowledged before the read was chosen, which is all a read promises. Every worker
    /// takes commands in one order, so every worker computes the same time.
    fn read_time(&self, ts: Timestamp, ids: &[GlobalId]) -> Timestamp {
        ids.iter()
            .map(|id| self.since.get(id).copied().unwrap_or(0))
            .fold(ts, Timestamp::max)
    }

    fn start_peek(&mut self, target: PeekTarget, ts: Timestamp, reply: PeekReply) {
        let ts = match &target {
            PeekTarget::Collection { id, .. } => self.read_time(ts, &[*id]),
            PeekTarget::Index { index, collection, .. } => self.read_time(ts, &[*index, *collection]),
            PeekTarget::Plan(plan) => self.read_time(ts, &plan.depends_on()),
        };
        match target {
            PeekTarget::Collection { id, plan, seek } => match self.traces.get(&id) {
                Some((rows, errs)) => self.peeks.push(PendingPeek {
                    ts,
                    rows: rows.clone(),
                    errs: errs.clone(),
                    transient: None,
                    lookup: None,
                    read: Some((plan, seek)),
                    reads: vec![id],
                    reply,
                }),
                None => {
                    let _ = reply.send(Err(ReadError::NotInstalled(id)));
                }
            },
            PeekTarget::Index { index, collection, key } => match (self.indexes.get(&index), self.traces.get(&collection)) {
                (Some(Index { trace, .. }), Some((rows, errs))) => self.peeks.push(PendingPeek {
                    ts,
                    rows: rows.clone(),
                    errs: errs.clone(),
                    transient: None,
                    lookup: Some((trace.clone(), key)),
                    read: None,
                    reads: vec![index, collection],
                    reply,
                }),
                _ => {
                    let _ = reply.send(Err(ReadError::NotInstalled(index)));
                }
            },
            PeekTarget::Plan(plan) => {
                // A concurrent DROP may have removed an input after the query was planned.
                if let Some(missing) = self.missing_input(&plan) {
                    let _ = reply.send(Err(ReadError::Dropped(missing)));
                    return;
                }
                let (index, rows, errs, _) = self.render_arranged("peek", &plan, None, Some(ts), None);
                self.peeks.push(PendingPeek {
                    ts,
                    rows,
                    errs,
                    transient: Some(index),
                    lookup: None,
                    read: None,
                    reads: plan.depends_on(),
                    reply,
                });
            }
        }
    }

    fn process_peeks(&mut self) {
        let mut i = 0;
        while i < self.peeks.len() {
            let ts = self.peeks[i].ts;
            let peek = &mut self.peeks[i];
            let rows_ready = match &mut peek.lookup {
                Some((index, _)) => ready(index, ts),
                None => ready(&mut peek.rows, ts),
            };
            if rows_ready && ready(&mut peek.errs, ts) {
                let mut peek = self.peeks.swap_remove(i);
                let dropped = peek
                    .reads
                    .iter()
                    .find(|id| !self.traces.contains_key(id) && !self.indexes.contains_key(id));
                let result = match dropped {
                    Some(id) => Err(ReadError::Dropped(*id)),
                    None => {
                        let errs = read_at(&mut peek.errs, peek.ts, |e: &EvalError| e.clone());
                        match (errs.into_iter().next(), &mut peek.lookup) {
                            (Some((e, _)), _) => Err(e.into()),
                            (None, Some((index, key))) => Ok(read_key(index, key, peek.ts)),
                            (None, None) => read_through(&mut peek.rows, peek.ts, peek.read.as_ref()).map_err(ReadError::from),
                        }
                    }
                };
                let _ = peek.reply.send(result);
                if let Some(index) = peek.transient {
                    drop(peek.rows);
                    drop(peek.errs);
                    self.drop_dataflow(index);
                }
            } else {
                i += 1;
            }
        }
    }
}

impl ComputeWorker<'_> {
    /// Test-only failure injection (`Command::Panic`): a dataflow whose one operator panics the
    /// first time it runs, inside `step` like any operator bug.
    fn install_failing_dataflow(&mut self) {
        use timely::dataflow::operators::generic::operator::source;
        self.worker.dataflow_named::<Timestamp, _, _>("failpoint", |scope| {
            source::<_, timely::container::CapacityContainerBuilder<Vec<()>>, _, _>(scope, "Failpoint", |capability, _info| {
                move |_output| {
                    let _held = &capability;
                    panic!("failpoint: a dataflow operator panicked")
                }
            });
        });
    }

    /// Drops a dataflow, and with it every retired index that only it still read.
    fn drop_dataflow(&mut self, dataflow: usize) {
        self.worker.drop_dataflow(dataflow);
        for readers in self.index_readers.values_mut() {
            readers.retain(|d| *d != dataflow);
        }
        self.index_readers.retain(|_, readers| !readers.is_empty());
        let unread: Vec<GlobalId> = self
            .retired
            .keys()
            .filter(|id| !self.index_readers.contains_key(id))
            .copied()
            .collect();
        for id in unread {
            if let Some(index) = self.retired.remove(&id) {
                self.dataflow_names.remove(&index);
                self.drop_dataflow(index);
            }
        }
    }

    /// Notes that `dataflow` reads the arrangements of `indexes`.
    fn add_index_readers(&mut self, dataflow: usize, indexes: Vec<GlobalId>) {
        for id in indexes {
            self.index_readers.entry(id).or_default().push(dataflow);
        }
    }
}

/// How far collection `id` folds its history once the inputs are at `time`: the latest
/// complete time, `time - 1`, less the collection's retention (`RETAIN HISTORY FOR`), and
/// never past a held read time (a transaction's snapshot).
fn compaction_frontier(time: Timestamp, retain: &BTreeMap<GlobalId, Timestamp>, hold: Option<Timestamp>, id: &GlobalId) -> Timestamp {
    let frontier = time.saturating_sub(1).saturating_sub(retain.get(id).copied().unwrap_or(0));
    hold.map_or(frontier, |h| frontier.min(h))
}

/// Lets a trace fold history before `since` together (logical compaction) and merge its
/// batches up to `merge_to`, or up to its upper where that is earlier (physical compaction: a
/// handle's physical frontier must stay within the batches the trace holds, see
/// `ComputeWorker::advance_to`).
fn compact<Tr: TraceReader<Time = Timestamp>>(trace: &mut Tr, since: &[Timestamp], merge_to: Timestamp) {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let merge_to = [upper.first().map_or(merge_to, |u| merge_to.min(*u))];
    trace.set_logical_compaction(AntichainRef::new(since));
    trace.set_physical_compaction(AntichainRef::new(&merge_to));
}

/// Whether a trace holds every update at or before `ts`.
fn ready<Tr: TraceReader<Time = Timestamp>>(trace: &mut Tr, ts: Timestamp) -> bool {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    !upper.less_equal(&ts)
}

/// The rows under one key of an index, as of `ts`: a seek, not a scan.
fn read_key(trace: &mut IndexTrace, key: &Row, ts: Timestamp) -> Vec<(Row, Diff)> {
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let Some(batches) = trace.batches_through(upper.borrow()) else {
        return Vec::new();
    };
    let (mut cursor, storage) = cursor_list(batches);
    cursor.seek_key(&storage, key);
    let mut out = Vec::new();
    if cursor.get_key(&storage) == Some(&**key) {
        while cursor.val_valid(&storage) {
            let mut count: Diff = 0;
            cursor.map_times(&storage, |t, d| {
                if *t <= ts {
                    count += *d;
                }
            });
            if count != 0 {
                out.push((cursor.val(&storage).to_owned(), count));
            }
            cursor.step_val(&storage);
        }
    }
    out
}

/// The rows of a row trace as of `ts`, consolidated, each put through `read`'s maps, filters
/// and projections (see `RelExpr::eval_read`): only the rows it keeps are copied. With a seek
/// prefix, only the rows that start with it are visited.
fn read_through(trace: &mut RowTrace, ts: Timestamp, read: Option<&(RelExpr, Option<Row>)>) -> Result<Vec<(Row, Diff)>, EvalError> {
    let Some((plan, seek)) = read else {
        return Ok(read_at(trace, ts, |row: &RowRef| row.to_owned()));
    };
    let mut out = Vec::new();
    let mut failed = None;
    // The first row at or after the prefix, then rows while they start with it.
    let seek = seek
        .as_ref()
        .map(|prefix| (&**prefix, move |row: &RowRef| starts_with(row, prefix)));
    for_each_at(trace, ts, seek, |row, count| {
        if failed.is_none() {
            match plan.eval_read(row) {
                Ok(Some(r)) => out.push((r, count)),
                Ok(None) => {}
                Err(e) => failed = Some(e),
            }
        }
    });
    failed.map_or(Ok(out), Err)
}

/// Whether `row`'s first columns equal `prefix`'s, by value (as rows order: column by
/// column, a prefix before every row that extends it).
fn starts_with(row: &RowRef, prefix: &RowRef) -> bool {
    let mut columns = row.iter();
    prefix
        .iter()
        .all(|p| columns.next().is_some_and(|d| d.cmp(&p) == std::cmp::Ordering::Equal))
}

/// The contents of a trace (keys only: a row trace or an error trace) as of `ts`,
/// consolidated, each record copied out by `owned`.
fn read_at<Tr, K>(trace: &mut Tr, ts: Timestamp, owned: impl Fn(BatchKey<'_, Tr>) -> K) -> Vec<(K, Diff)>
where
    Tr: TraceReader<Time = Timestamp, Batch: Navigable>,
    for<'a> BatchCursor<Tr>: Cursor<Time = Timestamp, TimeGat<'a> = &'a Timestamp, DiffGat<'a> = &'a Diff>,
{
    let mut out = Vec::new();
    for_each_at(trace, ts, None::<(_, fn(BatchKey<'_, Tr>) -> bool)>, |k, count| {
        out.push((owned(k), count))
    });
    out
}

/// Calls `f` with each record of a trace (keys only: a row trace or an error trace) and its
/// count as of `ts`, where not zero; with `seek = (start, within)`, only from the first record
/// at or after `start`, while `within` holds.
fn for_each_at<'k, Tr, W>(trace: &mut Tr, ts: Timestamp, seek: Option<(BatchKey<'k, Tr>, W)>, mut f: impl FnMut(BatchKey<'_, Tr>, Diff))
where
    Tr: TraceReader<Time = Timestamp, Batch: Navigable>,
    for<'a> BatchCursor<Tr>: Cursor<Time = Timestamp, TimeGat<'a> = &'a Timestamp, DiffGat<'a> = &'a Diff>,
    W: for<'a> Fn(BatchKey<'a, Tr>) -> bool,
{
    let mut upper = Antichain::new();
    trace.read_upper(&mut upper);
    let Some(batches) = trace.batches_through(upper.borrow()) else {
        return;
    };
    let (mut cursor, storage) = cursor_list(batches);
    if let Some((start, _)) = &seek {
        cursor.seek_key(&storage, <BatchCursor<Tr> as Cursor>::KeyContainer::reborrow(*start));
    }
    while cursor.key_valid(&storage) {
        if seek.as_ref().is_some_and(|(_, within)| !within(cursor.key(&storage))) {
            break;
        }
        let mut count: Diff = 0;
        while cursor.val_valid(&storage) {
            cursor.map_times(&storage, |t, d| {
                if *t <= ts {
                    count += *d;
                }
            });
            cursor.step_val(&storage);
        }
        if count != 0 {
            f(cursor.key(&storage), count);
        }
        cursor.step_key(&storage);
    }
}
