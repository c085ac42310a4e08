//! Running sources and sinks: the adapter's side of the storage layer.

use crate::coord::{Adapter, Coordinator};
use crate::AdapterError;
use riffle_compute::ComputeController;
use riffle_expr::RelExpr;
use riffle_repr::{GlobalId, Row, Timestamp};
use riffle_sql::source::Envelope;
use riffle_sql::{CatalogItem, ItemKind, SessionCatalog};
use riffle_storage::source::{SourceBatch, SourceStart, SourceWriter};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::{info, warn};

/// The table every source's undecodable records go to.
pub(crate) const ERRORS_TABLE: &str = "riffle_source_errors";
/// Its id (system objects have their own id space).
pub(crate) const ERRORS_TABLE_ID: GlobalId = GlobalId::system(1);

pub(crate) fn errors_table_sql() -> String {
    format!("CREATE TABLE {ERRORS_TABLE} (source text, \"partition\" integer, \"offset\" bigint, error text, raw bytea)")
}

/// Appends source batches through the coordinator.
struct Writer {
    coord: Arc<Mutex<Coordinator>>,
    compute: Arc<ComputeController>,
}

impl SourceWriter for Writer {
    fn append(&self, source: GlobalId, batch: SourceBatch) -> Result<Timestamp, String> {
        // Called from the source's own thread, never from the async runtime.
        let mut coord = self.coord.blocking_lock();
        if coord.catalog.get_by_id(source).is_none() {
            return Err("the source was dropped".into());
        }
        let mut updates: Vec<(GlobalId, Row, riffle_repr::Diff)> = batch.updates.into_iter().map(|(r, d)| (source, r, d)).collect();
        updates.extend(batch.errors.into_iter().map(|r| (ERRORS_TABLE_ID, r, 1)));
        let offsets: Vec<(GlobalId, i32, i64)> = batch.offsets.iter().map(|(p, o)| (source, *p, *o)).collect();
        let pending = coord.write_with_offsets(updates, offsets);
        drop(coord);
        pending.wait_blocking().map_err(|e| e.to_string())
    }

    fn wait_processed(&self, ts: Timestamp, stop: &AtomicBool) {
        while self.compute.processed() <= ts && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}

/// Starts a source's ingestion thread from its stored offsets.
pub(crate) fn start_source(coord: &mut Coordinator, adapter: &Adapter, item: &CatalogItem) -> Result<(), AdapterError> {
    let ItemKind::Source(desc) = &item.kind else {
        return Ok(());
    };
    let offsets = coord.durable.source_offsets(item.id)?.into_iter().collect();
    let mut upsert = HashMap::new();
    if desc.envelope == Envelope::Upsert {
        let mut counts: HashMap<Row, i64> = HashMap::new();
        for (row, d) in coord.recovered_upsert.remove(&item.id).unwrap_or_default() {
            *counts.entry(row).or_insert(0) += d;
        }
        for (row, d) in counts {
            if d > 0 {
                upsert.insert(row.get(0).to_datum(), row);
            }
        }
    }
    let writer = Arc::new(Writer {
        coord: adapter.coord.clone(),
        compute: adapter.compute.clone(),
    });
    let handle = riffle_storage::source::start_source(
        SourceStart {
            id: item.id,
            name: item.name.clone(),
            desc: desc.clone(),
            offsets,
            upsert,
        },
        writer,
    )
    .map_err(AdapterError::Storage)?;
    coord.catalog.source_status.insert(item.id, handle.status.clone());
    coord.sources.insert(item.id, handle);
    Ok(())
}

/// Starts a sink: a subscription to its relation from `as_of` whose changes are produced to
/// Kafka; after each acknowledged batch the sink's progress is stored.
pub(crate) fn start_sink(
    coord: &mut Coordinator,
    compute: &Arc<ComputeController>,
    item: &CatalogItem,
    as_of: Timestamp,
    snapshot: bool,
) -> Result<(), AdapterError> {
    let ItemKind::Sink(desc) = &item.kind else {
        return Ok(());
    };
    let plan = match coord.catalog.get_by_id(desc.from).map(|i| &i.kind) {
        Some(ItemKind::View { plan }) => plan.clone(),
        Some(_) => RelExpr::Get {
            id: desc.from,
            arity: desc.desc.arity(),
        },
        None => return Err(AdapterError::Internal(format!("sink {} reads a missing relation", item.name))),
    };
    let producer = riffle_storage::sink::SinkProducer::new(desc).map_err(AdapterError::Storage)?;
    let mut rx = compute.subscribe(plan, as_of, snapshot);
    let durable = coord.durable.clone();
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
    coord.sinks.insert(item.id, task);
    Ok(())
}
