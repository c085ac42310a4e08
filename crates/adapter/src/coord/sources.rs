//! Running sources: the adapter's side of the storage layer's ingestion threads.
//!
//! Each source runs on its own thread (in `riffle_storage`), decodes what it reads and hands
//! batches to a [`SourceWriter`]; ours writes them through the coordinator and the log writer
//! like table writes, with the source's next offsets in the same durable batch, so that a
//! restart resumes exactly after what was acknowledged. Undecodable records go to
//! `riffle_source_errors`.

use super::{Adapter, Coordinator};
use crate::AdapterError;
use riffle_compute::ComputeController;
use riffle_repr::{GlobalId, Row, Timestamp};
use riffle_sql::source::Envelope;
use riffle_sql::{CatalogItem, ItemKind, SessionCatalog};
use riffle_storage::source::{SourceBatch, SourceStart, SourceWriter};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

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

impl Adapter {
    /// Starts a source's ingestion thread from its stored offsets.
    pub(super) fn start_source(&self, coord: &mut Coordinator, item: &CatalogItem) -> Result<(), AdapterError> {
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
            coord: self.coord.clone(),
            compute: self.compute.clone(),
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
}
