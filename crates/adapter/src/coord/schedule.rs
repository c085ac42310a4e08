//! Ticks and schedules: what happens because time passes rather than because a client asked.
//!
//! Every tick (`--tick-ms`) moves logical time to the clock when no write did, so that
//! temporal filters retract rows with no new input, and starts the retraining runs that are
//! due: `RETRAIN EVERY` after its interval since the last run read its data, `RETRAIN AFTER
//! CHANGE` once the training query's rows changed by the given fraction (counted by a
//! subscription to the query).

use super::{Adapter, Coordinator};
use crate::{AdapterError, Session};
use riffle_compute::ComputeController;
use riffle_expr::RelExpr;
use riffle_repr::{GlobalId, Timestamp};
use riffle_sql::{Params, SessionCatalog, Statement};
use std::sync::Arc;
use tracing::info;

/// `RETRAIN AFTER CHANGE`: the fraction, the training query, the rows changed since the last
/// run (counted by a subscription to the query) and the counting task.
pub(crate) struct ChangeWatch {
    fraction: f64,
    plan: RelExpr,
    changed: Arc<std::sync::atomic::AtomicU64>,
    pub(crate) task: Option<tokio::task::JoinHandle<()>>,
}

impl Adapter {
    /// Moves logical time to the clock's "now" when no write did: temporal filters retract
    /// rows as time passes even with no new input. Called every tick by the server.
    pub async fn tick(&self) {
        let due = {
            let mut coord = self.lock().await;
            coord.tick();
            let mut due = coord.retrain_due();
            due.sort();
            due.dedup();
            due
        };
        for (name, sql) in due {
            self.retrain(&name, &sql).await;
        }
    }

    /// Runs a trained model's statement again as `CREATE OR REPLACE` (`RETRAIN EVERY`): a new
    /// version, promoted if its validation metric is not worse.
    async fn retrain(&self, name: &str, create_sql: &str) {
        let stmt = match riffle_sql::parse(create_sql).map(|mut s| s.pop()) {
            Ok(Some(Statement::CreateModel(mut c))) => {
                c.or_replace = true;
                c.if_not_exists = false;
                Statement::CreateModel(c)
            }
            other => {
                tracing::warn!(model = name, ?other, "cannot retrain: the stored statement is not CREATE MODEL");
                return;
            }
        };
        info!(model = name, "retraining on schedule");
        let mut session = Session::new();
        if let Err(e) = self.execute(&mut session, &stmt, &Params::default()).await {
            tracing::warn!(model = name, error = %e, "scheduled retraining failed");
        }
    }
}

impl Coordinator {
    /// Notes a trained model's retraining schedule.
    pub(super) fn note_retrain(&mut self, id: GlobalId, train: Option<&riffle_sql::TrainPlan>) -> Result<(), AdapterError> {
        self.retrain_every.remove(&id);
        if let Some(task) = self.retrain_change.remove(&id).and_then(|w| w.task) {
            task.abort();
        }
        if let Some(t) = train {
            let retrain = crate::models::train_params(&t.options)?.1;
            if let Some(every) = retrain.every {
                self.retrain_every.insert(id, (every, 0));
            }
            if let Some(fraction) = retrain.after_change {
                self.retrain_change.insert(
                    id,
                    ChangeWatch {
                        fraction,
                        plan: t.plan.clone(),
                        changed: Default::default(),
                        task: None,
                    },
                );
            }
        }
        Ok(())
    }

    /// Starts counting the changes of each `RETRAIN AFTER CHANGE` model's training query (a
    /// subscription from now on, without the snapshot): per timestamp, the larger of rows
    /// inserted and rows deleted, so an updated row counts once.
    pub(crate) fn watch_training_changes(&mut self, compute: &Arc<ComputeController>) {
        let ts = self.timestamps.read_ts();
        for watch in self.retrain_change.values_mut().filter(|w| w.task.is_none()) {
            let mut rx = compute.subscribe(watch.plan.clone(), ts, false);
            let counter = watch.changed.clone();
            watch.task = Some(tokio::spawn(async move {
                use std::sync::atomic::Ordering::Relaxed;
                while let Some(Ok(batch)) = rx.recv().await {
                    let mut per_time: std::collections::BTreeMap<Timestamp, (u64, u64)> = Default::default();
                    for (t, d, _) in &batch.updates {
                        let e = per_time.entry(*t).or_default();
                        if *d > 0 {
                            e.0 += d.unsigned_abs();
                        } else {
                            e.1 += d.unsigned_abs();
                        }
                    }
                    counter.fetch_add(per_time.values().map(|(i, d)| (*i).max(*d)).sum(), Relaxed);
                }
            }));
        }
    }

    /// The models whose last training run read their data at least their interval ago.
    fn retrain_due(&mut self) -> Vec<(String, String)> {
        let now = self.timestamps.read_ts();
        let mut due = Vec::new();
        self.retrain_change.retain(|id, w| {
            let keep = self.catalog.get_by_id(*id).is_some();
            if !keep {
                if let Some(t) = w.task.take() {
                    t.abort();
                }
            }
            keep
        });
        for (id, ChangeWatch { fraction, changed, .. }) in &self.retrain_change {
            let Some(item) = self.catalog.get_by_id(*id) else { continue };
            let rows = self
                .catalog
                .model_versions(*id)
                .iter()
                .rev()
                .find_map(|m| m.training.as_ref().map(|t| t.train_rows + t.validation_rows + t.skipped_rows))
                .unwrap_or(0)
                .max(1);
            let n = changed.load(std::sync::atomic::Ordering::Relaxed);
            if n as f64 >= fraction * rows as f64 {
                info!(model = %item.name, changed = n, rows, "training data changed past its threshold");
                changed.store(0, std::sync::atomic::Ordering::Relaxed);
                due.push((item.name.clone(), item.create_sql.clone()));
            }
        }
        self.retrain_every.retain(|id, _| self.catalog.get_by_id(*id).is_some());
        for (id, (every, attempted)) in self.retrain_every.iter_mut() {
            let Some(item) = self.catalog.get_by_id(*id) else { continue };
            let last = self
                .catalog
                .model_versions(*id)
                .iter()
                .filter_map(|m| m.training.as_ref().map(|t| t.read_at))
                .max()
                .unwrap_or(0)
                .max(*attempted);
            if now >= last.saturating_add(*every) {
                *attempted = now;
                due.push((item.name.clone(), item.create_sql.clone()));
            }
        }
        due
    }
}
