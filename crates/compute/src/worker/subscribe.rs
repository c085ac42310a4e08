//! Subscriptions on one worker: each SUBSCRIBE's dataflow, what it has reported, and the
//! reports the controller merges across workers (`ComputeController::subscribe`).

use super::*;

/// The updates a subscription's dataflow has produced and not yet reported.
pub(super) type Pending<D> = Rc<RefCell<Vec<(D, Timestamp, Diff)>>>;

/// A subscription's dataflow on this worker and how far it has been reported.
///
/// The dataflow's output is not arranged: an `inspect` copies each update into `rows`/`errs`
/// and a probe says which times are complete, so a report costs only the updates it sends.
pub(super) struct Subscription {
    pub(super) id: u64,
    pub(super) rows: Pending<Row>,
    pub(super) errs: Pending<EvalError>,
    pub(super) probe: ProbeHandle<Timestamp>,
    pub(super) dataflow: usize,
    /// Updates before this time have been sent (or folded into the snapshot).
    pub(super) reported: Timestamp,
    pub(super) as_of: Timestamp,
    pub(super) snapshot_pending: Option<bool>,
    pub(super) sender: SubscribeSender,
    /// The stored collections it reads: dropping one ends it with `ReadError::Dropped`, as a
    /// peek of a dropped collection is answered.
    pub(super) reads: Vec<GlobalId>,
}

impl ComputeWorker<'_> {
    /// Ends every subscription that reads `dropped` with `ReadError::Dropped` (42P01).
    pub(super) fn end_subscriptions_reading(&mut self, dropped: GlobalId) {
        let me = self.worker.index();
        let mut i = 0;
        while i < self.subscriptions.len() {
            if self.subscriptions[i].reads.contains(&dropped) {
                let sub = self.subscriptions.swap_remove(i);
                let _ = sub.sender.send((me, Err(ReadError::Dropped(dropped))));
                let dataflow = sub.dataflow;
                drop(sub);
                self.drop_dataflow(dataflow);
            } else {
                i += 1;
            }
        }
    }

    /// Sends each subscription the updates completed since its last report: those before the
    /// probe's frontier. The first report is the snapshot: everything at or before `as_of`,
    /// folded to `as_of` (or dropped without SNAPSHOT).
    pub(super) fn process_subscriptions(&mut self) {
        let me = self.worker.index();
        let mut finished = Vec::new();
        for (i, sub) in self.subscriptions.iter_mut().enumerate() {
            let upper = sub.probe.with_frontier(|f| f.first().copied()).unwrap_or(Timestamp::MAX);
            if upper <= sub.as_of || (upper <= sub.reported && sub.snapshot_pending.is_none()) {
                continue;
            }
            if let Some((e, _, _)) = sub.errs.borrow().iter().find(|(_, t, _)| *t < upper) {
                let _ = sub.sender.send((me, Err(e.clone().into())));
                finished.push(i);
                continue;
            }
            let snapshot = sub.snapshot_pending.take();
            let mut done: BTreeMap<(Timestamp, Row), Diff> = BTreeMap::new();
            sub.rows.borrow_mut().retain(|(row, t, d)| {
                if *t >= upper {
                    return true;
                }
                if *t > sub.as_of {
                    *done.entry((*t, row.clone())).or_insert(0) += d;
                } else if snapshot != Some(false) {
                    *done.entry((sub.as_of, row.clone())).or_insert(0) += d;
                }
                false
            });
            let updates = done.into_iter().filter(|(_, d)| *d != 0).map(|((t, row), d)| (row, t, d)).collect();
            sub.reported = upper;
            if sub.sender.send((me, Ok((updates, upper)))).is_err() {
                finished.push(i);
            }
        }
        for i in finished.into_iter().rev() {
            let sub = self.subscriptions.swap_remove(i);
            let dataflow = sub.dataflow;
            drop(sub);
            self.drop_dataflow(dataflow);
        }
    }
}
