//! Rebuilding the compute workers after one failed, while the server runs (self-healing).
//!
//! A rebuild follows the start-up steps of `bootstrap.rs`, with three differences. The catalog
//! is already in memory, so it is reinstalled rather than parsed. The log writer is paused for
//! the duration ([`crate::commit::Committer::pause`]): every write acknowledged before the
//! pause is in the log and so in the replay; writes that arrive meanwhile wait for the
//! coordinator (held by the rebuild) or in the writer's queue, and none is lost or fed twice.
//! And reads that were in flight on the failed workers, or that chose their time before the
//! rebuild, are answered with `ReadError::Restarted` (SQLSTATE 57P02) by the compute
//! controller; sessions stay connected and can repeat the statement.

use super::Adapter;
use crate::metrics::Metrics;
use crate::AdapterError;
use riffle_sql::ItemKind;
use std::sync::Arc;
use tracing::{info, warn};

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
        let at = paused.last.max(coord.timestamps.read_ts()).max(coord.timestamps.now());
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
            compute.readable_from(coord.timestamps.read_ts());
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
