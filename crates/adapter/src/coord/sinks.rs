//! Running sinks: a subscription to the sink's relation whose changes are produced to Kafka,
//! with the sink's progress stored durably after each acknowledged batch, so that a restart
//! resumes where the broker's acknowledgements stopped (no change lost, none sent twice within
//! the progress granularity).

use super::Coordinator;
use crate::AdapterError;
use riffle_compute::ComputeController;
use riffle_expr::RelExpr;
use riffle_repr::Timestamp;
use riffle_sql::{CatalogItem, ItemKind, SessionCatalog};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

impl Coordinator {
    /// Starts a sink: a subscription to its relation from `as_of` whose changes are produced to
    /// Kafka; after each acknowledged batch the sink's progress is stored.
    pub(super) fn start_sink(
        &mut self,
        compute: &Arc<ComputeController>,
        item: &CatalogItem,
        as_of: Timestamp,
        snapshot: bool,
    ) -> Result<(), AdapterError> {
        let ItemKind::Sink(desc) = &item.kind else {
            return Ok(());
        };
        let plan = match self.catalog.get_by_id(desc.from).map(|i| &i.kind) {
            Some(ItemKind::View { plan }) => plan.clone(),
            Some(_) => RelExpr::Get {
                id: desc.from,
                arity: desc.desc.arity(),
            },
            None => return Err(AdapterError::Internal(format!("sink {} reads a missing relation", item.name))),
        };
        let producer = riffle_storage::sink::SinkProducer::new(desc).map_err(AdapterError::Storage)?;
        let mut rx = compute.subscribe(plan, as_of, snapshot);
        let durable = self.durable.clone();
        let (id, name) = (item.id, item.name.clone());
        info!(sink = %name, as_of, snapshot, "sink starting");
        let task = tokio::spawn(async move {
            let mut written: Option<Timestamp> = None;
            while let Some(batch) = rx.recv().await {
                let batch = match batch {
                    Ok(b) => b,
                    Err(e) => {
                        warn!(sink = %name, error = %e, "the sink's relation failed to evaluate; the sink stops");
                        return;
                    }
                };
                if !batch.updates.is_empty() {
                    let mut backoff = Duration::from_millis(100);
                    loop {
                        match producer.write(&batch.updates).await {
                            Ok(n) => {
                                tracing::debug!(sink = %name, records = n, "sink wrote");
                                break;
                            }
                            Err(e) => {
                                warn!(sink = %name, error = %e, "sink write failed; retrying");
                                tokio::time::sleep(backoff).await;
                                backoff = (backoff * 2).min(Duration::from_secs(10));
                            }
                        }
                    }
                }
                // Every change before `progress` is acknowledged by the broker.
                let through = batch.progress.saturating_sub(1);
                let stale = written.is_none_or(|w| through >= w + 1000);
                if (!batch.updates.is_empty() || stale) && through >= as_of {
                    if let Err(e) = durable.put_sink_progress(id, through) {
                        warn!(sink = %name, error = %e, "cannot store sink progress");
                    }
                    written = Some(through);
                }
            }
        });
        self.sinks.insert(item.id, task);
        Ok(())
    }
}
