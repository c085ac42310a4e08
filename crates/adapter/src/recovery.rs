//! Bringing the dataflows back from the durable log: at start-up, and again whenever a compute
//! worker fails while the server runs (self-healing).
//!
//! Both follow the same steps: install every stored collection's dataflow (system tables
//! first), replay every table's and source's log into them, restart sinks where their durable
//! progress says they stopped, then let the log writer go on after the recovered time.
//!
//! A rebuild after a failure differs in three ways. The catalog is already in memory, so it is
//! reinstalled rather than parsed. The log writer is paused for the duration
//! ([`crate::commit::Committer::pause`]): every write acknowledged before the pause is in the
//! log and so in the replay; writes that arrive meanwhile wait for the coordinator (held by the
//! rebuild) or in the writer's queue, and none is lost or fed twice. And reads that were in
//! flight on the failed workers, or that chose their time before the rebuild, are answered
//! with `ReadError::Restarted` (SQLSTATE 57P02) by the compute controller; sessions stay
//! connected and can repeat the statement.

use crate::commit::Paused;
use crate::coord::{Adapter, Coordinator, RECOVERY_CHUNK};
use crate::metrics::Metrics;
use crate::AdapterError;
use riffle_compute::ComputeController;
use riffle_repr::{Diff, GlobalId, Row, Timestamp};
use riffle_sql::{ItemKind, SessionCatalog};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::{info, warn};

impl Coordinator {
    /// Replays the logs of `logged` (tables and sources, in install order) into the freshly
    /// installed dataflows and makes the replay time the latest time, no earlier than
    /// `not_before`.
    ///
    /// Without sinks every log is one snapshot at the largest logged time (or now), streamed
    /// into the dataflows in chunks. Sinks resume where they stopped: history from the
    /// earliest sink's progress on is kept for [`Coordinator::resume`] to apply at its own
    /// times (after the sinks subscribe), everything before it as one snapshot.
    /// `seed_upsert`: keep ENVELOPE UPSERT sources' contents to seed their key state (only at
    /// start-up: a rebuild leaves the running sources alone).
    pub(crate) fn replay_logs(
        &mut self,
        compute: &ComputeController,
        logged: Vec<GlobalId>,
        not_before: Timestamp,
        seed_upsert: bool,
    ) -> Result<(), AdapterError> {
        let mut history_from = Timestamp::MAX;
        for item in self.catalog.items() {
            if let ItemKind::Sink(_) = item.kind {
                if let Some(p) = self.durable.sink_progress(item.id)? {
                    history_from = history_from.min(p);
                }
            }
        }
        let mut max_ts = 0;
        let mut snapshot = Vec::new();
        let mut tail: BTreeMap<Timestamp, Vec<(GlobalId, Row, Diff)>> = Default::default();
        let streaming = history_from == Timestamp::MAX;
        let mut streamed = 0;
        let snapshot_ts = if streaming {
            let mut t = self.clock.now().max(not_before);
            for id in &logged {
                t = t.max(self.durable.log_max_ts(*id)?.unwrap_or(0));
            }
            t
        } else {
            0
        };
        for id in logged {
            let name = self.catalog.get_by_id(id).map(|i| i.name.clone()).unwrap_or_default();
            let upsert = matches!(
                self.catalog.get_by_id(id).map(|i| &i.kind),
                Some(ItemKind::Source(s)) if s.envelope == riffle_sql::source::Envelope::Upsert
            );
            if streaming && !(upsert && seed_upsert) {
                let mut updates = 0;
                let records = self.durable.replay_chunks(
                    id,
                    RECOVERY_CHUNK,
                    |chunk| {
                        updates += chunk.len();
                        compute.load(snapshot_ts, chunk.into_iter().map(|(r, d)| (id, r, d)).collect());
                    },
                    |n| info!(relation = %name, records = n, "replaying log"),
                )?;
                info!(relation = %name, records, updates, "replayed log");
                streamed += updates;
                continue;
            }
            let replayed = self
                .durable
                .replay(id, history_from, |n| info!(relation = %name, records = n, "replaying log"))?;
            info!(relation = %name, records = replayed.records, rows = replayed.rows.len(), "replayed log");
            max_ts = max_ts.max(replayed.max_ts);
            if upsert && seed_upsert {
                let mut all: Vec<(Row, Diff)> = replayed.rows.clone();
                all.extend(replayed.tail.iter().flat_map(|(_, u)| u.iter().cloned()));
                self.recovered_upsert.insert(id, all);
            }
            snapshot.extend(replayed.rows.into_iter().map(|(row, diff)| (id, row, diff)));
            for (ts, updates) in replayed.tail {
                tail.entry(ts).or_default().extend(updates.into_iter().map(|(r, d)| (id, r, d)));
            }
        }
        let ts = if streaming { snapshot_ts.max(max_ts) } else { history_from };
        // History from before a restart is not kept (beyond what sinks need).
        for t in self.readable_from.values_mut() {
            *t = ts;
        }
        let rows = snapshot.len() + streamed;
        compute.write(ts, snapshot);
        self.last_ts = ts;
        self.pending_tail = tail.into_iter().collect();
        info!(rows, ts, "replayed every log");
        Ok(())
    }

    /// After a replay: subscribes the sinks where they stopped, applies the history kept for
    /// them at its own times, then closes every time up to the latest (no earlier than
    /// `not_before`) and lets writes through the log writer follow it: `paused`, after a
    /// rebuild, is lifted with that time.
    pub(crate) fn resume(
        &mut self,
        compute: &Arc<ComputeController>,
        paused: Option<Paused>,
        not_before: Timestamp,
    ) -> Result<(), AdapterError> {
        let sinks = self.items_where(|k| matches!(k, ItemKind::Sink(_)));
        for item in &sinks {
            let resume = self.durable.sink_progress(item.id)?;
            let (as_of, snapshot) = match resume {
                Some(p) => (p, false),
                None => (self.last_ts, true),
            };
            crate::sources::start_sink(self, compute, item, as_of, snapshot)?;
        }
        for (ts, updates) in std::mem::take(&mut self.pending_tail) {
            compute.write(ts, updates);
            self.last_ts = self.last_ts.max(ts);
        }
        if self.last_ts < not_before {
            compute.advance_to(not_before);
            self.last_ts = not_before;
        }
        // Recovery closed every time up to here directly; from now on writes (through the log
        // writer) come after it.
        let recovered = self.last_ts + 1;
        match paused {
            Some(paused) => paused.resume(recovered),
            None => self.committer.advance_to(recovered),
        }
        self.advance();
        self.watch_training_changes(compute);
        Ok(())
    }
}

impl Adapter {
    /// Rebuilds the compute workers after one failed: every session's statements wait
    /// (the coordinator is held), reads in flight on the failed workers get an error, and
    /// every maintained collection is reinstalled and reloaded from the durable log, as at
    /// start-up. Progress is logged; `riffle_compute_restarts_total` counts rebuilds.
    pub async fn heal(&self) -> Result<(), AdapterError> {
        let started = std::time::Instant::now();
        let mut coord = self.lock().await;
        let reason = self.compute.health().borrow().failure.clone().unwrap_or_default();
        warn!(reason = %reason, "a compute worker failed: rebuilding every dataflow from the durable log");
        let paused = coord
            .committer
            .pause()
            .await
            .ok_or_else(|| AdapterError::Internal("the log writer stopped".into()))?;
        // The rebuild closes every time up to one no earlier than any acknowledged write.
        let at = paused.last.max(coord.last_ts).max(coord.clock.now());
        // Sinks and change counters subscribed to the failed workers; they start again below.
        for (_, task) in std::mem::take(&mut coord.sinks) {
            task.abort();
        }
        for watch in coord.retrain_change.values_mut() {
            if let Some(task) = watch.task.take() {
                task.abort();
            }
        }
        let compute = self.compute.clone();
        let coord = &mut *coord;
        tokio::task::block_in_place(|| -> Result<(), AdapterError> {
            compute.restart().map_err(AdapterError::Internal)?;
            let mut items = coord.items_where(|_| true);
            items.sort_by_key(|item| (!item.id.is_system(), item.id.0));
            let mut logged = Vec::new();
            for item in &items {
                if matches!(item.kind, ItemKind::Table(_) | ItemKind::Source(_)) {
                    logged.push(item.id);
                }
                coord.install(&compute, item);
            }
            info!(collections = items.len(), "reinstalled every dataflow");
            coord.replay_logs(&compute, logged, at, false)?;
            // With sinks the replay starts at the earliest sink's progress, before `at`, and
            // the history after it follows at its own times (`resume`).
            compute.readable_from(coord.last_ts);
            Ok(())
        })?;
        coord.resume(&compute, Some(paused), at)?;
        Metrics::get().compute_restarts.inc();
        info!(
            seconds = started.elapsed().as_secs_f64(),
            generation = compute.health().borrow().generation,
            "compute rebuilt"
        );
        Ok(())
    }

    /// Watches the compute workers and rebuilds them whenever one fails (see
    /// [`Adapter::heal`]). A rebuild that fails is retried after a pause.
    pub fn spawn_healer(self: &Arc<Self>) {
        let adapter = self.clone();
        tokio::spawn(async move {
            let mut health = adapter.compute.health();
            loop {
                if health.wait_for(|h| h.failure.is_some()).await.is_err() {
                    return;
                }
                if let Err(e) = adapter.heal().await {
                    tracing::error!(error = %e, "rebuilding the compute workers failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        });
    }
}
