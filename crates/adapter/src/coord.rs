//! The coordinator: the one place where statements are sequenced.

use crate::catalog::{Catalog, StoredItem};
use crate::{AdapterError, Session};
use riffle_compute::{ComputeController, PeekTarget};
use riffle_durable::Durable;
use riffle_expr::{EvalError, RelExpr, RowSetFinishing, ScalarExpr};
use riffle_repr::{ColumnType, Datum, Diff, GlobalId, RelationDesc, Row, ScalarType, Timestamp};
use riffle_sql::{CatalogItem, DropKind, ItemKind, Params, Plan, PlanContext, PlanError, SessionCatalog, Statement};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Mutex;
use tracing::info;

/// The result of a statement.
#[derive(Debug)]
pub enum ExecuteResponse {
    /// A result set.
    Rows {
        /// Columns.
        desc: RelationDesc,
        /// Rows, in order.
        rows: Vec<Row>,
        /// Command tag verb ("SELECT", "SHOW").
        tag: &'static str,
    },
    /// A command with a completion tag (`INSERT 0 3`, `CREATE TABLE`).
    Command {
        /// The tag.
        tag: String,
    },
    /// `COPY … TO STDOUT`: the rows to send in COPY-out messages.
    CopyOut {
        /// Columns.
        desc: RelationDesc,
        /// Rows, in order.
        rows: Vec<Row>,
        /// Format and options.
        options: riffle_copy::Options,
    },
    /// `COPY table FROM STDIN`: the client sends the data next, then [`Adapter::copy_in`]
    /// writes it.
    CopyIn {
        /// The table.
        table: GlobalId,
        /// How the data becomes rows.
        copy: crate::copy::CopyIn,
    },
    /// A running SUBSCRIBE: its columns (before `mz_timestamp`, `mz_diff`) and its batches.
    Subscribe {
        /// Columns of the watched query.
        desc: RelationDesc,
        /// Batches of changes until the receiver is dropped.
        rx: riffle_compute::SubscribeReceiver,
        /// Emit `mz_progressed` rows.
        progress: bool,
    },
}

/// How the server runs: compute workers, where time comes from, how much history to keep.
#[derive(Clone, Debug)]
pub struct Config {
    /// Timely worker threads.
    pub workers: usize,
    /// The clock.
    pub clock: Clock,
    /// Default history kept readable with `AS OF` for tables and materialized views, in
    /// milliseconds (`RETAIN HISTORY FOR` overrides it per object).
    pub retain_history: Timestamp,
    /// Testing only: `SET riffle_failpoint = …` injects failures.
    pub failpoints: bool,
}

/// The state the coordinator sequences access to.
pub(crate) struct Coordinator {
    pub(crate) catalog: Catalog,
    pub(crate) durable: Arc<Durable>,
    /// The log writer: table and source writes go through it (group commit).
    pub(crate) committer: crate::commit::Committer,
    /// Timestamp of the latest write or tick; reads happen at this time.
    pub(crate) last_ts: Timestamp,
    pub(crate) clock: Clock,
    retain_default: Timestamp,
    /// The first time each stored collection can be read at (its creation, or recovery).
    pub(crate) readable_from: std::collections::BTreeMap<GlobalId, Timestamp>,
    /// Running sources' ingestion threads.
    pub(crate) sources: std::collections::BTreeMap<GlobalId, riffle_storage::source::SourceHandle>,
    /// Running sinks' tasks.
    pub(crate) sinks: std::collections::BTreeMap<GlobalId, tokio::task::JoinHandle<()>>,
    /// Recovered updates after the earliest sink's resume time, applied at their own times
    /// once the sinks have subscribed (`Adapter::start`).
    pub(crate) pending_tail: Vec<(Timestamp, Vec<(GlobalId, Row, Diff)>)>,
    /// Recovered contents of ENVELOPE UPSERT sources, to seed their key state.
    pub(crate) recovered_upsert: std::collections::BTreeMap<GlobalId, Vec<(Row, Diff)>>,
    /// Trained models retrained on a schedule: milliseconds between runs, and when the last
    /// scheduled run started (so that a failing one waits its interval too).
    retrain_every: std::collections::BTreeMap<GlobalId, (u64, Timestamp)>,
    /// Trained models retrained after their training query's rows change by a fraction.
    pub(crate) retrain_change: std::collections::BTreeMap<GlobalId, ChangeWatch>,
    /// Whether `SET riffle_failpoint` may inject failures (a test-only server flag).
    failpoints: bool,
}

/// `RETRAIN AFTER CHANGE`: the fraction, the training query, the rows changed since the last
/// run (counted by a subscription to the query) and the counting task.
pub(crate) struct ChangeWatch {
    fraction: f64,
    plan: RelExpr,
    changed: Arc<std::sync::atomic::AtomicU64>,
    pub(crate) task: Option<tokio::task::JoinHandle<()>>,
}

/// The shared entry point for sessions.
pub struct Adapter {
    pub(crate) coord: Arc<Mutex<Coordinator>>,
    pub(crate) compute: Arc<ComputeController>,
}

/// Updates per chunk when recovery streams a log into the dataflows.
pub(crate) const RECOVERY_CHUNK: usize = 100_000;

/// The wall clock, milliseconds since the epoch (logical time's unit).
pub(crate) fn now_ms() -> Timestamp {
    chrono::Utc::now().timestamp_millis().max(0) as u64
}

/// Where the coordinator's notion of "now" comes from.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// The wall clock (milliseconds since the epoch).
    Wall,
    /// A clock that only moves when a test sets it (`SET riffle_test_clock = …`), so that tests
    /// drive time deterministically instead of sleeping.
    Test(Timestamp),
}

impl Clock {
    pub(crate) fn now(&self) -> Timestamp {
        match self {
            Clock::Wall => now_ms(),
            Clock::Test(t) => *t,
        }
    }
}

impl Adapter {
    /// Takes the coordinator, with its latest time caught up with the log writer's (which may
    /// have moved writes to later timestamps than proposed), so that reads at it include
    /// every acknowledged write.
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, Coordinator> {
        let mut coord = self.coord.lock().await;
        coord.catch_up();
        coord
    }

    /// Opens the data directory, restores the catalog and replays every table's log into
    /// freshly installed dataflows. Returns once recovery is complete.
    pub fn open(data_dir: &Path, config: Config) -> Result<Self, AdapterError> {
        std::fs::create_dir_all(data_dir).map_err(|e| AdapterError::Internal(format!("cannot create {}: {e}", data_dir.display())))?;
        let durable = Arc::new(Durable::open(&data_dir.join("db"))?);
        let compute = Arc::new(ComputeController::start(config.workers).map_err(AdapterError::Internal)?);
        let committer = crate::commit::Committer::start(durable.clone(), compute.clone(), matches!(config.clock, Clock::Wall))?;
        let mut coord = Coordinator {
            catalog: Catalog::with_compute(compute.clone()),
            durable,
            committer,
            last_ts: 0,
            clock: config.clock,
            retain_default: config.retain_history,
            readable_from: Default::default(),
            sources: Default::default(),
            sinks: Default::default(),
            pending_tail: Vec::new(),
            recovered_upsert: Default::default(),
            retrain_every: Default::default(),
            retrain_change: Default::default(),
            failpoints: config.failpoints,
        };
        let mut stored = coord.durable.load_catalog()?;
        // System tables first: user dataflows may read them (views that call models import
        // riffle_model_current).
        stored.sort_by_key(|(id, _)| (!id.is_system(), id.0));
        info!(items = stored.len(), "recovering catalog");
        let mut logged = Vec::new();
        for (id, bytes) in stored {
            let stored: StoredItem =
                serde_json::from_slice(&bytes).map_err(|e| AdapterError::Internal(format!("corrupt catalog entry {id}: {e}")))?;
            let stmt = riffle_sql::parse(&stored.create_sql)?
                .into_iter()
                .next()
                .ok_or_else(|| AdapterError::Internal("empty catalog entry".into()))?;
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
        info!(ts = coord.last_ts, "recovery complete");
        Ok(Adapter {
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
            crate::sources::start_source(&mut coord, self, item)?;
        }
        Ok(())
    }

    /// Moves logical time to the clock's "now" when no write did: temporal filters retract
    /// rows as time passes even with no new input. Called every tick by the server.
    pub async fn tick(&self) {
        let due = {
            let mut coord = self.lock().await;
            coord.advance();
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

    /// Plans a statement without running it: parameter types and result columns.
    pub async fn describe(
        &self,
        stmt: &Statement,
        param_types: &[Option<ScalarType>],
    ) -> Result<(Vec<ScalarType>, Option<RelationDesc>), AdapterError> {
        let coord = self.coord.lock().await;
        let params = Params {
            types: param_types.to_vec(),
            values: None,
        };
        let (plan, types) = riffle_sql::plan(&coord.catalog, stmt, context(riffle_repr::zone::Zone::Utc), &params)?;
        let desc = match plan {
            Plan::Select { desc, .. } | Plan::Rows { desc, .. } => Some(desc),
            Plan::Subscribe { .. } => None,
            Plan::ShowVariable { name } => Some(RelationDesc::empty().with_column(name, ColumnType::nullable(ScalarType::String))),
            Plan::Explain { .. } => Some(explain_desc()),
            _ => None,
        };
        Ok((types, desc))
    }

    /// Reads a training query at `ts` and fits the model on a blocking thread.
    async fn train_model(
        &self,
        name: &str,
        plan: &riffle_sql::TrainPlan,
        ts: Timestamp,
        status: Arc<std::sync::Mutex<crate::models::TrainingStatus>>,
    ) -> Result<(Vec<u8>, crate::models::TrainingRun), AdapterError> {
        let (params, _) = crate::models::train_params(&plan.options)?;
        let algorithm = riffle_models::train::Algorithm::from_name(&plan.algorithm)
            .ok_or_else(|| AdapterError::Model(format!("unknown algorithm {}", plan.algorithm)))?;
        let rows = self.read(plan.plan.clone(), ts).await?;
        let (features, targets, skipped) = crate::models::training_data(plan, &rows)?;
        info!(
            model = name,
            algorithm = algorithm.name(),
            rows = features.len(),
            skipped,
            epochs = params.epochs,
            "training"
        );
        let started = std::time::Instant::now();
        let p = params.clone();
        {
            let mut s = status.lock().expect("training status");
            s.rows = features.len();
            s.epochs = params.epochs;
        }
        let trained = tokio::task::spawn_blocking(move || {
            riffle_models::train::train_with_progress(algorithm, &features, &targets, &p, &|epoch, loss| {
                let mut s = status.lock().expect("training status");
                s.epoch = epoch;
                s.loss = Some(loss);
            })
        })
        .await
        .map_err(|e| AdapterError::Internal(format!("training panicked: {e}")))?
        .map_err(|e| AdapterError::Model(e.to_string()))?;
        info!(model = name, seconds = started.elapsed().as_secs_f64(), metrics = ?trained.metrics, "trained");
        let run = crate::models::TrainingRun {
            algorithm: algorithm.name().to_string(),
            query: plan.query.clone(),
            read_at: ts,
            params,
            metrics: trained.metrics.clone(),
            key_metric: trained.key_metric.0.clone(),
            higher_is_better: trained.key_metric.1,
            train_rows: trained.train_rows,
            validation_rows: trained.validation_rows,
            skipped_rows: skipped,
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok((trained.bytes, run))
    }

    /// Writes a COPY's rows (read from the client's data by a [`crate::copy::CopyReader`] as it
    /// arrived, or from a file) into `table`, all at one timestamp; returns the row count once
    /// they are durable.
    pub async fn copy_in(&self, table: GlobalId, rows: Vec<Row>) -> Result<u64, AdapterError> {
        let mut coord = self.lock().await;
        coord.check_writable(table)?;
        let (n, pending) = coord.copy_rows_in(table, rows)?;
        drop(coord);
        pending.wait().await?;
        Ok(n as u64)
    }

    /// Runs one statement.
    pub async fn execute(&self, session: &mut Session, stmt: &Statement, params: &Params) -> Result<ExecuteResponse, AdapterError> {
        let start = std::time::Instant::now();
        let result = self.execute_inner(session, stmt, params).await;
        crate::metrics::Metrics::get()
            .statement_seconds
            .with_label_values(&[crate::metrics::statement_kind(stmt)])
            .observe(start.elapsed().as_secs_f64());
        result
    }

    async fn execute_inner(&self, session: &mut Session, stmt: &Statement, params: &Params) -> Result<ExecuteResponse, AdapterError> {
        let mut coord = self.lock().await;
        let (plan, _) = riffle_sql::plan(&coord.catalog, stmt, context(session.zone()), params)?;
        let command = |tag: &str| Ok(ExecuteResponse::Command { tag: tag.to_string() });
        match plan {
            Plan::Select {
                plan,
                finishing,
                desc,
                as_of,
            } => {
                let ts = match as_of {
                    Some(t) => coord.check_as_of(&plan, t, false)?,
                    None => coord.last_ts,
                };
                let lookup = index_lookup(&coord.catalog, &plan);
                drop(coord);
                let rows = match lookup {
                    // A point lookup: seek the index, then apply the query's steps to the hits.
                    Some(target) => {
                        tracing::debug!(?target, "point lookup through an index");
                        let hits = self.compute.peek(target, ts).await?;
                        expand(eval_over(&plan, hits)?)?
                    }
                    None => self.read(plan, ts).await?,
                };
                Ok(ExecuteResponse::Rows {
                    desc,
                    rows: finish(&finishing, rows),
                    tag: "SELECT",
                })
            }
            Plan::CopyTo {
                plan,
                finishing,
                desc,
                target,
                options,
            } => {
                let ts = coord.last_ts;
                drop(coord);
                let rows = finish(&finishing, self.read(plan, ts).await?);
                match target {
                    riffle_sql::CopyTarget::Client => Ok(ExecuteResponse::CopyOut { desc, rows, options }),
                    riffle_sql::CopyTarget::File(path) => {
                        let chunks = crate::copy::encode(&desc, &rows, &options, &session.zone())?;
                        std::fs::write(&path, chunks.concat())
                            .map_err(|e| AdapterError::File(format!("could not write file \"{path}\": {e}")))?;
                        info!(path, rows = rows.len(), format = options.format.name(), "COPY TO file");
                        command(&format!("COPY {}", rows.len()))
                    }
                }
            }
            Plan::CopyFrom {
                table,
                columns,
                defaults,
                source,
                options,
                payload,
            } => {
                coord.check_writable(table)?;
                let types = coord
                    .catalog
                    .get_by_id(table)
                    .map(|i| i.desc.types.iter().map(|t| t.scalar_type.clone()).collect())
                    .unwrap_or_default();
                let copy = crate::copy::CopyIn {
                    columns,
                    types,
                    defaults,
                    options,
                };
                // Read the input without the coordinator's lock (other statements go on meanwhile).
                drop(coord);
                let data = match (source, payload) {
                    (riffle_sql::CopyTarget::File(path), _) => {
                        std::fs::read(&path).map_err(|e| AdapterError::File(format!("could not open file \"{path}\" for reading: {e}")))?
                    }
                    (riffle_sql::CopyTarget::Client, Some(inline)) => inline.into_bytes(),
                    (riffle_sql::CopyTarget::Client, None) => return Ok(ExecuteResponse::CopyIn { table, copy }),
                };
                let n = self.copy_in(table, copy.rows(&data, &session.zone())?).await?;
                command(&format!("COPY {n}"))
            }
            Plan::Subscribe {
                plan,
                desc,
                snapshot,
                progress,
                as_of,
            } => {
                let ts = match as_of {
                    Some(t) => coord.check_as_of(&plan, t, true)?,
                    None => coord.last_ts,
                };
                drop(coord);
                let rx = self.compute.subscribe(plan, ts, snapshot);
                Ok(ExecuteResponse::Subscribe { desc, rx, progress })
            }
            Plan::Rows { desc, rows, tag } => Ok(ExecuteResponse::Rows { desc, rows, tag }),
            Plan::Explain { lines } => Ok(ExecuteResponse::Rows {
                desc: explain_desc(),
                rows: lines.into_iter().map(|l| Row::new(vec![Datum::String(l)])).collect(),
                tag: "EXPLAIN",
            }),
            Plan::CreateTable {
                ref name, if_not_exists, ..
            }
            | Plan::CreateView {
                ref name, if_not_exists, ..
            }
            | Plan::CreateIndex {
                ref name, if_not_exists, ..
            }
            | Plan::CreateConnection {
                ref name, if_not_exists, ..
            }
            | Plan::CreateSource {
                ref name, if_not_exists, ..
            }
            | Plan::CreateSink {
                ref name, if_not_exists, ..
            } if coord.catalog.get(name).is_some() => {
                let existing = coord.catalog.get(name).expect("checked");
                let replaceable = matches!(
                    (&plan, &existing.kind),
                    (
                        Plan::CreateView {
                            or_replace: true,
                            materialized: false,
                            ..
                        },
                        ItemKind::View { .. }
                    )
                );
                if replaceable {
                    let id = existing.id;
                    if !coord.catalog.dependents(id).is_empty() {
                        return Err(PlanError::DependentObjects(format!("view {name}")).into());
                    }
                    let tag = create_tag(&plan);
                    coord.durable.drop_items(&[id])?;
                    coord.catalog.remove(id);
                    let item = coord.item_from_plan(id, plan, stmt.to_string())?;
                    coord.persist(&item)?;
                    coord.catalog.insert(item);
                    return command(tag);
                }
                if if_not_exists {
                    info!(name = %name, "relation already exists, skipping");
                    return command(create_tag(&plan));
                }
                Err(PlanError::AlreadyExists(name.clone()).into())
            }
            plan @ (Plan::CreateTable { .. }
            | Plan::CreateView { .. }
            | Plan::CreateIndex { .. }
            | Plan::CreateConnection { .. }
            | Plan::CreateSource { .. }
            | Plan::CreateSink { .. }) => {
                let tag = create_tag(&plan);
                let id = coord.catalog.allocate_id();
                let item = coord.item_from_plan(id, plan, stmt.to_string())?;
                // A sink checks its producer before anything is stored.
                if let ItemKind::Sink(desc) = &item.kind {
                    riffle_storage::sink::SinkProducer::new(desc)
                        .map_err(|e| AdapterError::Storage(format!("cannot create a Kafka producer: {e}")))?;
                }
                coord.persist(&item)?;
                coord.install(&self.compute, &item);
                coord.catalog.insert(item.clone());
                match item.kind {
                    ItemKind::Source(_) => crate::sources::start_source(&mut coord, self, &item)?,
                    ItemKind::Sink(_) => {
                        let ts = coord.last_ts;
                        crate::sources::start_sink(&mut coord, &self.compute, &item, ts, true)?
                    }
                    _ => {}
                }
                command(tag)
            }
            Plan::CreateModel {
                name,
                or_replace,
                if_not_exists,
                path,
                format,
                config,
                train,
            } => {
                let exists = |coord: &Coordinator| -> Result<Option<CatalogItem>, AdapterError> {
                    match coord.catalog.get(&name) {
                        Some(item) if matches!(item.kind, ItemKind::Model(_)) && or_replace => Ok(Some(item.clone())),
                        Some(_) => Err(PlanError::AlreadyExists(name.clone()).into()),
                        None => Ok(None),
                    }
                };
                if if_not_exists && matches!(coord.catalog.get(&name).map(|i| &i.kind), Some(ItemKind::Model(_))) {
                    return command("CREATE MODEL");
                }
                exists(&coord)?;
                let (bytes, format, training) = match &train {
                    None => {
                        let bytes = match std::path::Path::new(&path) {
                            p if p.exists() => {
                                riffle_models::read_model(p, format.as_deref()).map_err(|e| AdapterError::Model(e.to_string()))?
                            }
                            _ => {
                                return Err(AdapterError::File(format!(
                                    "could not read model file \"{path}\": no such file or folder"
                                )))
                            }
                        };
                        let format = format.unwrap_or_else(|| riffle_models::detect_format(&bytes).to_string());
                        (bytes, format, None)
                    }
                    Some(tp) => {
                        // Read and train without holding the coordinator: other sessions go on.
                        let ts = coord.last_ts;
                        if coord.catalog.training.contains_key(&name) {
                            return Err(AdapterError::Model(format!("model \"{name}\" is already training")));
                        }
                        let status = Arc::new(std::sync::Mutex::new(crate::models::TrainingStatus {
                            algorithm: tp.algorithm.clone(),
                            started_at: chrono::Utc::now().timestamp_micros(),
                            ..Default::default()
                        }));
                        coord.catalog.training.insert(name.clone(), status.clone());
                        drop(coord);
                        let result = self.train_model(&name, tp, ts, status).await;
                        coord = self.lock().await;
                        coord.catalog.training.remove(&name);
                        let (bytes, run) = result?;
                        (bytes, "safetensors".to_string(), Some(run))
                    }
                };
                let existing = exists(&coord)?;
                let model =
                    riffle_models::Model::load(&bytes, &format, config.as_deref()).map_err(|e| AdapterError::Model(e.to_string()))?;
                let (id, version) = match &existing {
                    Some(CatalogItem {
                        id,
                        kind: ItemKind::Model(_),
                        ..
                    }) => (*id, coord.catalog.model_versions(*id).last().map_or(1, |m| m.version + 1)),
                    _ => (coord.catalog.allocate_id(), 1),
                };
                let created_at = chrono::Utc::now().timestamp_micros();
                // A retrained version replaces the current one only when its validation metric
                // is not worse; otherwise it is kept for inspection.
                let promoted = match (&training, &existing) {
                    (Some(run), Some(item)) => crate::models::not_worse(run, coord.catalog.current_model_meta(item.id)),
                    _ => true,
                };
                let meta = crate::models::VersionMeta {
                    version,
                    format: format.clone(),
                    sha256: model.sha256.clone(),
                    created_at,
                    promoted,
                    training,
                };
                coord.durable.put_model(id, version, created_at, &bytes)?;
                coord.durable.put_model_meta(
                    id,
                    version,
                    &serde_json::to_vec(&meta).map_err(|e| AdapterError::Internal(e.to_string()))?,
                )?;
                coord.catalog.add_model_version(id, meta);
                if !promoted {
                    info!(model = %name, version, "trained version not promoted: its validation metric is worse");
                    return command("CREATE MODEL");
                }
                // The version change is data: views scoring with this model join with it and
                // re-score their rows when it changes.
                let versions = GlobalId::system(riffle_compute::MODEL_VERSIONS);
                let version_row = |v: u64| Row::new(vec![Datum::String(name.clone()), Datum::Int64(v as i64)]);
                let mut changes = vec![(versions, version_row(version), 1)];
                if let Some(CatalogItem {
                    kind: ItemKind::Model(d), ..
                }) = &existing
                {
                    changes.push((versions, version_row(d.version), -1));
                }
                let item = CatalogItem {
                    id,
                    name: name.clone(),
                    desc: RelationDesc::empty(),
                    kind: ItemKind::Model(crate::models::describe(&model, &format, version, created_at)),
                    create_sql: stmt.to_string(),
                    depends_on: train.as_ref().map(|t| t.depends_on.clone()).unwrap_or_default(),
                    retain_history: None,
                };
                if existing.is_some() {
                    coord.catalog.remove(id);
                }
                coord.persist(&item)?;
                coord.catalog.insert(item);
                coord.note_retrain(id, train.as_ref())?;
                coord.watch_training_changes(&self.compute);
                crate::models::registry().insert(&name, version, model);
                coord.write(changes).wait().await?;
                info!(model = %name, version, "model created");
                command("CREATE MODEL")
            }
            Plan::Drop {
                kind,
                names,
                if_exists,
                cascade,
            } => {
                coord.drop_objects(&self.compute, kind, &names, if_exists, cascade)?;
                command(match kind {
                    DropKind::Table => "DROP TABLE",
                    DropKind::View => "DROP VIEW",
                    DropKind::MaterializedView => "DROP MATERIALIZED VIEW",
                    DropKind::Index => "DROP INDEX",
                    DropKind::Connection => "DROP CONNECTION",
                    DropKind::Source => "DROP SOURCE",
                    DropKind::Sink => "DROP SINK",
                    DropKind::Model => "DROP MODEL",
                })
            }
            Plan::Insert { table, source } => {
                coord.check_writable(table)?;
                let ts = coord.last_ts;
                let rows = match eval_constant(&source) {
                    Some(rows) => rows?,
                    None => self.read_unlocked(source, ts).await?,
                };
                let n: i64 = rows.iter().map(|(_, d)| *d).sum();
                let updates = coord.check_rows(table, rows)?;
                if !updates.is_empty() {
                    let pending = coord.write(updates);
                    drop(coord);
                    pending.wait().await?;
                }
                command(&format!("INSERT 0 {n}"))
            }
            Plan::ReadThenWrite {
                table,
                selection,
                assignments,
                tag,
            } => {
                coord.check_writable(table)?;
                let ts = coord.last_ts;
                let old = self.read_unlocked(selection, ts).await?;
                let n: i64 = old.iter().map(|(_, d)| *d).sum();
                let mut updates: Vec<(Row, Diff)> = old.iter().map(|(r, d)| (r.clone(), -d)).collect();
                if let Some(assign) = &assignments {
                    let mut new = Vec::with_capacity(old.len());
                    for (row, d) in &old {
                        let datums = assign.iter().map(|e| e.eval_on(row)).collect::<Result<Vec<_>, _>>()?;
                        new.push((Row::new(datums), *d));
                    }
                    updates.extend(coord.check_rows(table, new)?.into_iter().map(|(_, r, d)| (r, d)));
                }
                let updates: Vec<_> = updates.into_iter().map(|(r, d)| (table, r, d)).collect();
                if !updates.is_empty() {
                    let pending = coord.write(updates);
                    drop(coord);
                    pending.wait().await?;
                }
                command(&format!("{tag} {n}"))
            }
            Plan::SetVariable { name, value } if name == "riffle_test_clock" => {
                let Clock::Test(current) = coord.clock else {
                    return Err(AdapterError::InvalidVariable(
                        name,
                        "riffle_test_clock requires starting riffle with --test-clock".into(),
                    ));
                };
                let text = value.unwrap_or_default();
                let ms = match text.parse::<u64>() {
                    Ok(ms) => ms,
                    Err(_) => (riffle_repr::strconv::parse_timestamp(&text, true).map_err(EvalError::from)? / 1000).max(0) as u64,
                };
                if ms < current {
                    return Err(AdapterError::InvalidVariable(
                        name,
                        format!("the test clock only moves forward (it is at {current} ms)"),
                    ));
                }
                coord.clock = Clock::Test(ms);
                coord.advance();
                command("SET")
            }
            Plan::SetVariable { name, value } if name == "riffle_failpoint" => {
                if !coord.failpoints {
                    return Err(AdapterError::UnknownVariable(name));
                }
                match value.as_deref() {
                    Some("compute_panic") => self.compute.inject_panic(),
                    _ => return Err(AdapterError::InvalidVariable(name, value.unwrap_or_default())),
                }
                command("SET")
            }
            Plan::SetVariable { name, value } => {
                session.set(&name, value)?;
                command("SET")
            }
            Plan::ShowVariable { name } => {
                let value = session.get(&name)?;
                Ok(ExecuteResponse::Rows {
                    desc: RelationDesc::empty().with_column(name, ColumnType::nullable(ScalarType::String)),
                    rows: vec![Row::new(vec![Datum::String(value)])],
                    tag: "SHOW",
                })
            }
            Plan::StartTransaction => command("BEGIN"),
            Plan::Commit => command("COMMIT"),
            Plan::Rollback => command("ROLLBACK"),
            Plan::NoOp { tag } => command(tag),
        }
    }

    /// Reads a plan at `ts`: straight from an arrangement when the plan is a stored
    /// collection (possibly filtered or projected), else through a transient dataflow.
    async fn read(&self, plan: RelExpr, ts: Timestamp) -> Result<Vec<Row>, AdapterError> {
        expand(self.read_unlocked(plan, ts).await?)
    }

    async fn read_unlocked(&self, plan: RelExpr, ts: Timestamp) -> Result<Vec<(Row, Diff)>, AdapterError> {
        if let Some(rows) = eval_constant(&plan) {
            return Ok(rows?);
        }
        if let Some(id) = plan.as_simple_read() {
            // The workers apply the plan's steps as they read, and send only what passes.
            let seek = seek_prefix(&plan);
            return Ok(self.compute.peek(PeekTarget::Collection { id, plan, seek }, ts).await?);
        }
        Ok(self.compute.peek(PeekTarget::Plan(plan), ts).await?)
    }
}

impl Coordinator {
    fn item_from_plan(&mut self, id: GlobalId, plan: Plan, create_sql: String) -> Result<CatalogItem, AdapterError> {
        Ok(match plan {
            Plan::CreateTable {
                name,
                desc,
                table,
                retain_history,
                ..
            } => CatalogItem {
                id,
                name,
                desc,
                kind: ItemKind::Table(table),
                create_sql,
                depends_on: vec![],
                retain_history,
            },
            Plan::CreateView {
                name,
                desc,
                plan,
                materialized,
                depends_on,
                retain_history,
                refresh,
                group_size,
                ..
            } => CatalogItem {
                id,
                name,
                desc,
                kind: if materialized {
                    ItemKind::MaterializedView { plan, refresh, group_size }
                } else {
                    ItemKind::View { plan }
                },
                create_sql,
                depends_on,
                retain_history,
            },
            Plan::CreateConnection { name, connection, .. } => CatalogItem {
                id,
                name,
                desc: RelationDesc::empty(),
                kind: ItemKind::Connection(connection),
                create_sql,
                depends_on: vec![],
                retain_history: None,
            },
            Plan::CreateSource { name, desc, source, .. } => CatalogItem {
                id,
                name,
                desc,
                depends_on: vec![source.connection_id],
                kind: ItemKind::Source(source),
                create_sql,
                retain_history: None,
            },
            Plan::CreateSink { name, sink, .. } => CatalogItem {
                id,
                name,
                desc: RelationDesc::empty(),
                depends_on: vec![sink.connection_id, sink.from],
                kind: ItemKind::Sink(sink),
                create_sql,
                retain_history: None,
            },
            Plan::CreateModel {
                name,
                format,
                config,
                train,
                ..
            } => {
                // The current version: the newest promoted one (every version before version
                // documents existed was promoted).
                let metas: Vec<crate::models::VersionMeta> = self
                    .durable
                    .model_metas(id)?
                    .into_iter()
                    .filter_map(|(_, m)| serde_json::from_slice(&m).ok())
                    .collect();
                let current = metas.iter().filter(|m| m.promoted).map(|m| m.version).max();
                let (version, created_at, bytes) = match current {
                    Some(v) => {
                        let (created_at, bytes) = self
                            .durable
                            .model_version(id, v)?
                            .ok_or_else(|| AdapterError::Internal(format!("model {name} has no stored version {v}")))?;
                        (v, created_at, bytes)
                    }
                    None => self
                        .durable
                        .latest_model(id)?
                        .ok_or_else(|| AdapterError::Internal(format!("model {name} has no stored version")))?,
                };
                for m in metas {
                    self.catalog.add_model_version(id, m);
                }
                self.note_retrain(id, train.as_ref())?;
                let format = if train.is_some() {
                    "safetensors".to_string()
                } else {
                    format.unwrap_or_else(|| riffle_models::detect_format(&bytes).to_string())
                };
                let model =
                    riffle_models::Model::load(&bytes, &format, config.as_deref()).map_err(|e| AdapterError::Model(e.to_string()))?;
                let desc = crate::models::describe(&model, &format, version, created_at);
                crate::models::registry().insert(&name, version, model);
                CatalogItem {
                    id,
                    name,
                    desc: RelationDesc::empty(),
                    kind: ItemKind::Model(desc),
                    create_sql,
                    depends_on: train.map(|t| t.depends_on).unwrap_or_default(),
                    retain_history: None,
                }
            }
            Plan::CreateIndex { name, on, keys, .. } => CatalogItem {
                id,
                name,
                desc: RelationDesc::empty(),
                kind: ItemKind::Index { on, keys },
                create_sql,
                depends_on: vec![on],
                retain_history: None,
            },
            other => return Err(AdapterError::Internal(format!("not a catalog item: {other:?}"))),
        })
    }

    fn persist(&self, item: &CatalogItem) -> Result<(), AdapterError> {
        let bytes = serde_json::to_vec(&StoredItem {
            create_sql: item.create_sql.clone(),
        })
        .map_err(|e| AdapterError::Internal(e.to_string()))?;
        self.durable.put_catalog(item.id, &bytes)?;
        Ok(())
    }

    /// Checks a COPY's rows and queues them as one write; returns the row count and the
    /// write's acknowledgement (all rows at one timestamp, or none).
    fn copy_rows_in(&mut self, table: GlobalId, rows: Vec<Row>) -> Result<(usize, crate::commit::Pending), AdapterError> {
        let n = rows.len();
        let updates = self.check_rows(table, rows.into_iter().map(|r| (r, 1)).collect())?;
        let pending = self.write(updates);
        info!(%table, rows = n, "COPY FROM");
        Ok((n, pending))
    }

    /// Notes a trained model's retraining schedule.
    fn note_retrain(&mut self, id: GlobalId, train: Option<&riffle_sql::TrainPlan>) -> Result<(), AdapterError> {
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
        let ts = self.last_ts;
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
        let now = self.last_ts;
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

    /// Applies NOT NULL constraints to rows about to enter a table.
    fn check_rows(&self, table: GlobalId, rows: Vec<(Row, Diff)>) -> Result<Vec<(GlobalId, Row, Diff)>, AdapterError> {
        let item = self
            .catalog
            .get_by_id(table)
            .ok_or_else(|| AdapterError::Internal(format!("table {table} vanished")))?;
        let types = &item.desc.types;
        for (row, _) in &rows {
            let mut arity = 0;
            for (i, d) in row.iter().enumerate() {
                arity += 1;
                if types.get(i).is_some_and(|t| d.is_null() && !t.nullable) {
                    return Err(EvalError::NotNullViolation {
                        column: item.desc.names[i].clone(),
                        relation: item.name.clone(),
                    }
                    .into());
                }
            }
            if arity != types.len() {
                return Err(AdapterError::Internal(format!("a row of {arity} columns for table {}", item.name)));
            }
        }
        Ok(rows.into_iter().map(|(r, d)| (table, r, d)).collect())
    }

    /// Installs an item's dataflow (views need none: they are inlined where read) and notes
    /// from when it can be read.
    pub(crate) fn install(&mut self, compute: &ComputeController, item: &CatalogItem) {
        let retain = item.retain_history.unwrap_or(self.retain_default);
        match &item.kind {
            ItemKind::Table(_) | ItemKind::Source(_) => compute.create_table(item.id, retain),
            ItemKind::MaterializedView { plan, refresh, group_size } => {
                compute.create_view(item.id, plan.clone(), retain, *refresh, *group_size)
            }
            ItemKind::Index { on, keys } => compute.create_index(item.id, *on, keys.clone()),
            ItemKind::View { .. } | ItemKind::Connection(_) | ItemKind::Sink(_) | ItemKind::Model(_) => return,
        }
        self.readable_from.insert(item.id, self.last_ts);
    }

    /// The catalog items of some kinds, in creation order.
    pub(crate) fn items_where(&self, kind: impl Fn(&ItemKind) -> bool) -> Vec<CatalogItem> {
        self.catalog.items().into_iter().filter(|i| kind(&i.kind)).cloned().collect()
    }

    /// How much history a stored collection keeps (an index: its collection's).
    fn retention(&self, id: GlobalId) -> Timestamp {
        match self.catalog.get_by_id(id) {
            Some(CatalogItem {
                kind: ItemKind::Index { on, .. },
                ..
            }) => self.retention(*on),
            Some(item) => item.retain_history.unwrap_or(self.retain_default),
            None => 0,
        }
    }

    /// The earliest time every stored collection `plan` reads is still readable at.
    fn since(&self, plan: &RelExpr) -> Timestamp {
        plan.depends_on()
            .into_iter()
            .map(|id| {
                let from = self.readable_from.get(&id).copied().unwrap_or(self.last_ts);
                from.max(self.last_ts.saturating_sub(self.retention(id)))
            })
            .max()
            .unwrap_or(0)
    }

    /// Checks an `AS OF` time against what `plan`'s inputs retain. A SELECT may not read
    /// the future; a SUBSCRIBE may start there (it waits for the time to come).
    fn check_as_of(&self, plan: &RelExpr, ts: Timestamp, future_ok: bool) -> Result<Timestamp, AdapterError> {
        let since = self.since(plan);
        if ts < since {
            return Err(AdapterError::InvalidAsOf(format!(
                "time {ts} is no longer retained by every input: history starts at {since} (see RETAIN HISTORY FOR and --retain-history)"
            )));
        }
        if ts > self.last_ts && !future_ok {
            return Err(AdapterError::InvalidAsOf(format!(
                "time {ts} is in the future: the latest complete time is {}",
                self.last_ts
            )));
        }
        Ok(ts)
    }

    /// Advances every input to the clock's time, making it the read time (after the writes
    /// already queued for the log).
    pub(crate) fn advance(&mut self) {
        let now = self.clock.now();
        if now > self.last_ts {
            self.committer.advance_to(now + 1);
            self.last_ts = now;
        }
    }

    /// Assigns a timestamp and queues the write for the log writer, which logs it durably
    /// (grouped with concurrent writes) and then feeds the dataflows. The write is acknowledged
    /// once the returned `Pending` resolves; release the coordinator before waiting on it so
    /// other statements can join the group.
    fn write(&mut self, updates: Vec<(GlobalId, Row, Diff)>) -> crate::commit::Pending {
        self.write_with_offsets(updates, Vec::new())
    }

    /// The latest time, caught up with the timestamps the log writer gave writes.
    fn catch_up(&mut self) {
        self.last_ts = self.last_ts.max(self.committer.last_assigned());
    }

    /// Like `write`, storing sources' next offsets in the same durable batch.
    pub(crate) fn write_with_offsets(
        &mut self,
        updates: Vec<(GlobalId, Row, Diff)>,
        offsets: Vec<(GlobalId, i32, i64)>,
    ) -> crate::commit::Pending {
        // Writes in the same millisecond share its timestamp (the log writer may move a write
        // to a later one, see `commit`); the final one comes with the acknowledgement.
        let ts = self.last_ts.max(self.clock.now());
        let mut per: std::collections::BTreeMap<GlobalId, u64> = Default::default();
        for (id, _, _) in &updates {
            *per.entry(*id).or_default() += 1;
        }
        let rows_by_object = per
            .into_iter()
            .filter_map(|(id, n)| self.catalog.get_by_id(id).map(|item| (item.name.clone(), n)))
            .collect();
        let pending = self.committer.write(crate::commit::Write {
            ts,
            updates,
            offsets,
            rows_by_object,
        });
        self.last_ts = ts;
        pending
    }

    /// Refuses writes to the system's own tables.
    fn check_writable(&self, table: GlobalId) -> Result<(), AdapterError> {
        if table.is_system() {
            let name = self.catalog.get_by_id(table).map_or_else(|| table.to_string(), |i| i.name.clone());
            return Err(AdapterError::SystemObject(name));
        }
        Ok(())
    }

    /// Creates the system tables on first start: `riffle_source_errors` (s1) and
    /// `riffle_model_current` (s2).
    fn ensure_system_tables(&mut self, compute: &ComputeController) -> Result<(), AdapterError> {
        for (id, sql) in [
            (crate::sources::ERRORS_TABLE_ID, crate::sources::errors_table_sql()),
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

    fn drop_objects(
        &mut self,
        compute: &ComputeController,
        kind: DropKind,
        names: &[String],
        if_exists: bool,
        cascade: bool,
    ) -> Result<(), AdapterError> {
        let mut to_drop: Vec<GlobalId> = Vec::new();
        for name in names {
            let Some(item) = self.catalog.get(name) else {
                if if_exists {
                    info!(name = %name, "object does not exist, skipping");
                    continue;
                }
                return Err(match kind {
                    DropKind::Table | DropKind::View | DropKind::MaterializedView | DropKind::Index => {
                        PlanError::UnknownRelation(name.clone())
                    }
                    DropKind::Connection => PlanError::UnknownObject("connection", name.clone()),
                    DropKind::Source => PlanError::UnknownObject("source", name.clone()),
                    DropKind::Sink => PlanError::UnknownObject("sink", name.clone()),
                    DropKind::Model => PlanError::UnknownObject("model", name.clone()),
                }
                .into());
            };
            let matches = matches!(
                (kind, &item.kind),
                (DropKind::Table, ItemKind::Table(_))
                    | (DropKind::View, ItemKind::View { .. })
                    | (DropKind::MaterializedView, ItemKind::MaterializedView { .. })
                    | (DropKind::Index, ItemKind::Index { .. })
                    | (DropKind::Connection, ItemKind::Connection(_))
                    | (DropKind::Source, ItemKind::Source(_))
                    | (DropKind::Sink, ItemKind::Sink(_))
                    | (DropKind::Model, ItemKind::Model(_))
            );
            if item.id.is_system() {
                return Err(AdapterError::SystemObject(name.clone()));
            }
            if !matches {
                let noun = match kind {
                    DropKind::Table => "table",
                    DropKind::View => "view",
                    DropKind::MaterializedView => "materialized view",
                    DropKind::Index => "index",
                    DropKind::Connection => "connection",
                    DropKind::Source => "source",
                    DropKind::Sink => "sink",
                    DropKind::Model => "model",
                };
                return Err(PlanError::WrongObjectType(name.clone(), noun).into());
            }
            // Collect dependents (depth-first), refusing without CASCADE unless they are indexes.
            let mut stack = vec![item.id];
            while let Some(id) = stack.pop() {
                if to_drop.contains(&id) {
                    continue;
                }
                to_drop.push(id);
                for dep in self.catalog.dependents(id) {
                    let dep_item = self.catalog.get_by_id(dep).expect("dependent exists");
                    let is_index = matches!(dep_item.kind, ItemKind::Index { .. });
                    if !cascade && !is_index && !to_drop.contains(&dep) {
                        let me = self.catalog.get_by_id(id).expect("exists");
                        return Err(PlanError::DependentObjects(format!("{} {}", me.kind.noun(), me.name)).into());
                    }
                    stack.push(dep);
                }
            }
        }
        // Dependents first, so no dataflow outlives what it reads.
        to_drop.sort_by(|a, b| b.cmp(a));
        self.durable.drop_items(&to_drop)?;
        let mut dropped_versions = Vec::new();
        for id in to_drop {
            if let Some(item) = self.catalog.remove(id) {
                match &item.kind {
                    ItemKind::View { .. } | ItemKind::Connection(_) => {}
                    ItemKind::Model(m) => {
                        let row = Row::new(vec![Datum::String(item.name.clone()), Datum::Int64(m.version as i64)]);
                        dropped_versions.push((GlobalId::system(riffle_compute::MODEL_VERSIONS), row, -1));
                        crate::models::registry().remove(&item.name);
                    }
                    ItemKind::Sink(_) => {
                        if let Some(task) = self.sinks.remove(&id) {
                            task.abort();
                        }
                    }
                    ItemKind::Source(_) => {
                        // Stops the ingestion thread (it exits at its next poll).
                        self.sources.remove(&id);
                        self.catalog.source_status.remove(&id);
                        compute.drop_collection(id);
                    }
                    _ => compute.drop_collection(id),
                }
                info!(name = %item.name, "dropped {}", item.kind.noun());
            }
        }
        // Dropped models leave riffle_model_current (nothing reads them any more).
        if !dropped_versions.is_empty() {
            self.write(dropped_versions).wait_blocking()?;
        }
        Ok(())
    }
}

/// Rows with multiplicities expanded; a negative multiplicity is a bug.
fn expand(rows: Vec<(Row, Diff)>) -> Result<Vec<Row>, AdapterError> {
    let mut out = Vec::new();
    for (row, diff) in rows {
        if diff < 0 {
            return Err(AdapterError::Internal(format!("negative multiplicity {diff} for {row:?}")));
        }
        for _ in 0..diff {
            out.push(row.clone());
        }
    }
    Ok(out)
}

/// A point lookup for a query that filters a stored collection on every key column of one of
/// its indexes with `column = constant`: the index arrangement answers it with a seek.
fn index_lookup(catalog: &Catalog, plan: &RelExpr) -> Option<PeekTarget> {
    let collection = plan.as_simple_read()?;
    let equal = constant_equalities(plan);
    catalog.items().into_iter().find_map(|item| match &item.kind {
        ItemKind::Index { on, keys } if *on == collection => {
            let key: Option<Row> = keys
                .iter()
                .map(|k| equal.iter().find(|(c, _)| c == k).map(|(_, d)| d.clone()))
                .collect();
            key.map(|key| PeekTarget::Index {
                index: item.id,
                collection,
                key,
            })
        }
        _ => None,
    })
}

/// The `column = constant` filters (non-NULL constants) of a direct read, on the read
/// collection's own columns: those below every projection (a Map only appends columns).
fn constant_equalities(plan: &RelExpr) -> Vec<(usize, Datum)> {
    let mut chain = Vec::new();
    let mut node = plan;
    while let RelExpr::Map { input, .. } | RelExpr::Filter { input, .. } | RelExpr::Project { input, .. } = node {
        chain.push(node);
        node = input;
    }
    let mut equal = Vec::new();
    for step in chain.iter().rev() {
        match step {
            RelExpr::Filter { predicates, .. } => {
                for p in predicates {
                    if let ScalarExpr::Call {
                        func: riffle_expr::Func::Eq,
                        args,
                    } = p
                    {
                        match (&args[0], &args[1]) {
                            (ScalarExpr::Column(c), ScalarExpr::Literal(d)) | (ScalarExpr::Literal(d), ScalarExpr::Column(c))
                                if !d.is_null() =>
                            {
                                equal.push((*c, d.clone()))
                            }
                            _ => {}
                        }
                    }
                }
            }
            RelExpr::Map { .. } => {}
            _ => break,
        }
    }
    equal
}

/// The leading columns a direct read fixes to constants (`WHERE a = 1 AND b = 'x'` for a
/// collection whose first columns are `a, b`), as a row: its arrangement, ordered by whole
/// rows, keeps the matching rows together from the first row at or after this prefix.
fn seek_prefix(plan: &RelExpr) -> Option<Row> {
    let equal = constant_equalities(plan);
    let prefix: Vec<Datum> = (0..)
        .map_while(|c| equal.iter().find(|(col, _)| *col == c).map(|(_, d)| d.clone()))
        .collect();
    (!prefix.is_empty()).then(|| Row::new(prefix))
}

fn create_tag(plan: &Plan) -> &'static str {
    match plan {
        Plan::CreateConnection { .. } => "CREATE CONNECTION",
        Plan::CreateSource { .. } => "CREATE SOURCE",
        Plan::CreateSink { .. } => "CREATE SINK",
        Plan::CreateTable { .. } => "CREATE TABLE",
        Plan::CreateView { materialized: true, .. } => "CREATE MATERIALIZED VIEW",
        Plan::CreateView { .. } => "CREATE VIEW",
        _ => "CREATE INDEX",
    }
}

fn context(zone: riffle_repr::zone::Zone) -> PlanContext {
    PlanContext {
        zone,
        now_micros: chrono::Utc::now().timestamp_micros(),
        in_view: false,
    }
}

fn explain_desc() -> RelationDesc {
    RelationDesc::empty().with_column("QUERY PLAN", ColumnType::nullable(ScalarType::String))
}

fn finish(finishing: &RowSetFinishing, rows: Vec<Row>) -> Vec<Row> {
    finishing.finish(rows)
}

/// Evaluates a plan made only of constants, maps, filters and projections, without a dataflow.
fn eval_constant(plan: &RelExpr) -> Option<Result<Vec<(Row, Diff)>, EvalError>> {
    match plan {
        RelExpr::Constant { rows, .. } => Some(Ok(rows.clone())),
        RelExpr::Map { input, .. } | RelExpr::Filter { input, .. } | RelExpr::Project { input, .. } => {
            let base = match eval_constant(input)? {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            Some(eval_over(plan, base))
        }
        _ => None,
    }
}

/// Applies the map/filter/project steps above a collection read to its rows.
fn eval_over(plan: &RelExpr, base: Vec<(Row, Diff)>) -> Result<Vec<(Row, Diff)>, EvalError> {
    let mut out = Vec::with_capacity(base.len());
    for (row, d) in base {
        if let Some(r) = plan.eval_read(&row)? {
            out.push((r, d));
        }
    }
    Ok(out)
}
