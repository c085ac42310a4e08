//! Opening a data directory: the catalog, then every log replayed into fresh dataflows, then
//! sinks resumed where they stopped. `heal.rs` runs the same steps again when a compute worker
//! fails while the server runs.
//!
//! The steps: every stored item is planned again from its `CREATE` statement and installed
//! (system tables first: user dataflows may read them); every table's and source's log is
//! replayed into the dataflows ([`Coordinator::replay_logs`]); the system tables are created
//! on first start; then [`Adapter::start`] resumes sinks at their durable progress, applies the
//! history kept for them at its own times, lets the log writer go on after the recovered time
//! ([`Coordinator::resume`]) and starts the sources.

use super::{Adapter, Config, Coordinator};
use crate::access::Access;
use crate::catalog::{Catalog, StoredItem};
use crate::commit::{Committer, Paused};
use crate::timestamp::Timestamps;
use crate::AdapterError;
use riffle_compute::ComputeController;
use riffle_durable::{Durable, DurableError};
use riffle_repr::{Diff, GlobalId, Row, Timestamp};
use riffle_sql::{ItemKind, Params, PlanContext, SessionCatalog};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Mutex;
use tracing::info;

/// Updates per chunk when recovery streams a log into the dataflows.
const RECOVERY_CHUNK: usize = 100_000;

impl Adapter {
    /// Opens the data directory, restores the catalog and replays every table's log into
    /// freshly installed dataflows. Returns once recovery is complete.
    pub fn open(data_dir: &Path, config: Config) -> Result<Self, AdapterError> {
        std::fs::create_dir_all(data_dir).map_err(|e| AdapterError::Internal(format!("cannot create {}: {e}", data_dir.display())))?;
        let durable = Arc::new(Durable::open(&data_dir.join("db"))?);
        let compute = Arc::new(ComputeController::start(config.workers).map_err(AdapterError::Internal)?);
        let timestamps = Timestamps::new(config.clock);
        let committer = Committer::start(durable.clone(), compute.clone(), timestamps.open_time())?;
        let mut coord = Coordinator {
            catalog: Catalog::with_compute(compute.clone()),
            durable,
            committer,
            timestamps,
            retain_default: config.retain_history,
            readable_from: Default::default(),
            sources: Default::default(),
            sinks: Default::default(),
            pending_tail: Vec::new(),
            recovered_upsert: Default::default(),
            retrain_every: Default::default(),
            retrain_change: Default::default(),
            failpoints: config.failpoints,
            write_seq: 0,
            last_write_seq: Default::default(),
            data_dir: std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf()),
        };
        *coord.catalog.access.write().expect("access lock") = open_access(&coord.durable, config.password.as_deref())?;
        let mut stored = coord.durable.load_catalog()?;
        // System tables first: user dataflows may read them (views that call models import
        // riffle_model_current).
        stored.sort_by_key(|(id, _)| (!id.is_system(), id.0));
        info!(items = stored.len(), "recovering catalog");
        let mut logged = Vec::new();
        for (id, bytes) in stored {
            let stored: StoredItem =
                serde_json::from_slice(&bytes).map_err(|e| DurableError::Corrupt(format!("catalog entry {id}: {e}")))?;
            let stmt = riffle_sql::parse(&stored.create_sql)?
                .into_iter()
                .next()
                .ok_or_else(|| DurableError::Corrupt(format!("catalog entry {id} holds no statement")))?;
            let (plan, _) = riffle_sql::plan(&coord.catalog, &stmt, PlanContext::default(), &Params::default())?;
            let item = coord.item_from_plan(id, plan, stored.create_sql)?;
            if matches!(item.kind, ItemKind::Table(_) | ItemKind::Source(_)) {
                logged.push(id);
            }
            coord.install(&compute, &item);
            coord.catalog.insert(item);
        }
        coord.replay_logs(&compute, logged, 0, true)?;
        coord.ensure_system_tables(&compute)?;
        info!(ts = coord.timestamps.read_ts(), "recovery complete");
        Ok(Adapter {
            access: coord.catalog.access.clone(),
            coord: Arc::new(Mutex::new(coord)),
            compute,
        })
    }

    /// Starts what runs in the background: sinks (subscribed where they stopped), then the
    /// recovered history after that point, then sources. Call once, inside the runtime,
    /// before serving.
    pub async fn start(&self) -> Result<(), AdapterError> {
        let mut coord = self.lock().await;
        coord.resume(&self.compute, None, 0)?;
        let sources = coord.items_where(|k| matches!(k, ItemKind::Source(_)));
        for item in &sources {
            self.start_source(&mut coord, item)?;
        }
        Ok(())
    }
}

/// The role catalog: a fresh data directory's (the bootstrap superuser, with `password` if one
/// is given, which turns password authentication on for good), or the stored one. A password
/// given to a data directory that has none yet turns authentication on; one given to a data
/// directory that already requires passwords is ignored (change it with ALTER ROLE).
fn open_access(durable: &Durable, password: Option<&str>) -> Result<Access, AdapterError> {
    let Some(bytes) = durable.access()? else {
        let access = Access::bootstrap(password);
        durable.put_access(&access.to_bytes())?;
        if access.password_auth {
            info!("initialised with a password for the superuser riffle: clients authenticate with SCRAM-SHA-256");
        }
        return Ok(access);
    };
    let mut access = Access::from_bytes(&bytes).map_err(DurableError::Corrupt)?;
    match password {
        Some(p) if !access.password_auth => {
            access.set_bootstrap_password(p);
            durable.put_access(&access.to_bytes())?;
            info!("the superuser riffle now has the given password: clients authenticate with SCRAM-SHA-256 from now on");
        }
        Some(_) => {
            info!("this data directory already requires passwords: the bootstrap password given is ignored (ALTER ROLE changes one)")
        }
        None => {}
    }
    Ok(access)
}

impl Coordinator {
    /// Creates the system tables on first start: `riffle_source_errors` (s1) and
    /// `riffle_model_current` (s2).
    fn ensure_system_tables(&mut self, compute: &ComputeController) -> Result<(), AdapterError> {
        for (id, sql) in [
            (super::sources::ERRORS_TABLE_ID, super::sources::errors_table_sql()),
            (
                GlobalId::system(riffle_compute::MODEL_VERSIONS),
                // All history kept (it is a few rows): a query AS OF a past time must pair its rows
                // with the model versions current then, not fold them forward.
                "CREATE TABLE riffle_model_current (name text, version bigint) WITH (RETAIN HISTORY FOR '1000 years')".to_string(),
            ),
        ] {
            if self.catalog.get_by_id(id).is_some() {
                continue;
            }
            let stmt = riffle_sql::parse(&sql)?.remove(0);
            let (plan, _) = riffle_sql::plan(&self.catalog, &stmt, PlanContext::default(), &Params::default())?;
            let item = self.item_from_plan(id, plan, sql)?;
            self.persist(&item)?;
            self.install(compute, &item);
            self.catalog.insert(item);
        }
        Ok(())
    }

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
            let mut t = self.timestamps.now().max(not_before);
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
        compute.load(ts, snapshot);
        compute.advance_to(ts + 1);
        self.timestamps.recovered(ts);
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
                None => (self.timestamps.read_ts(), true),
            };
            self.start_sink(compute, item, as_of, snapshot)?;
        }
        let mut last = self.timestamps.read_ts();
        for (ts, updates) in std::mem::take(&mut self.pending_tail) {
            compute.load(ts, updates);
            compute.advance_to(ts + 1);
            last = last.max(ts);
        }
        if last < not_before {
            compute.advance_to(not_before);
            last = not_before;
        }
        self.timestamps.recovered(last);
        // Recovery closed every time up to here directly; from now on writes (through the log
        // writer) come after it.
        let recovered = last + 1;
        match paused {
            Some(paused) => paused.resume(recovered),
            None => self.committer.advance_to(recovered),
        }
        self.tick();
        self.watch_training_changes(compute);
        Ok(())
    }
}
