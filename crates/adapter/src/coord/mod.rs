//! The coordinator: the one place where statements are sequenced.
//!
//! A statement is planned against the catalog ([`riffle_sql::plan`]) and its [`Plan`] handed
//! to [`Adapter::sequence`], a thin dispatch to one `sequence_*` function per kind of plan.
//! Those live in files by kind:
//!
//! | file            | plans and duties                                                        |
//! |-----------------|-------------------------------------------------------------------------|
//! | `read.rs`       | SELECT, EXPLAIN, SUBSCRIBE; how a read is answered (fast paths, AS OF)   |
//! | `dml.rs`        | INSERT, UPDATE/DELETE, COPY FROM's rows: checks, then the log writer    |
//! | `copy.rs`       | COPY TO and COPY FROM (client or server file)                           |
//! | `ddl.rs`        | CREATE and DROP of tables, views, indexes, connections, sources, sinks |
//! | `models.rs`     | CREATE MODEL: loading a file, or training on a query's rows             |
//! | `schedule.rs`   | ticks and scheduled retraining (`RETRAIN EVERY`, `AFTER CHANGE`)        |
//! | `variables.rs`  | SET and SHOW, including the test clock and failpoints                   |
//! | `txn.rs`        | BEGIN, COMMIT, ROLLBACK; reads and writes inside a transaction block    |
//! | `sources.rs`    | running sources (ingestion threads writing through the log writer)      |
//! | `sinks.rs`      | running sinks (subscriptions produced to Kafka, with durable progress)  |
//! | `bootstrap.rs`  | opening a data directory: catalog, log replay, resuming sinks           |
//! | `heal.rs`       | rebuilding the compute workers after one failed                         |
//! | `introspect.rs` | Prometheus metrics read from the catalog and the workers                |
//!
//! The coordinator's state sits behind one async mutex. A statement takes it, reads and changes
//! the catalog, chooses its timestamps ([`crate::timestamp`]) and queues its writes, then
//! releases it before waiting on anything slow: a read's answer from the workers, a write's
//! synced acknowledgement, a model's training. Modules outside `coord` (catalog, log writer,
//! timestamps, metrics, models, copy codecs, sessions, errors) never reach back into it.

mod authorize;
mod bootstrap;
mod copy;
mod ddl;
mod dml;
mod heal;
mod introspect;
mod models;
mod read;
mod schedule;
mod sinks;
mod sources;
mod txn;
mod variables;

use crate::catalog::{Catalog, StoredItem};
use crate::commit::{Committer, Pending, Write};
use crate::timestamp::{Clock, Timestamps};
use crate::{AdapterError, ExecuteResponse, Session};
use riffle_compute::ComputeController;
use riffle_durable::Durable;
use riffle_repr::{ColumnType, Diff, GlobalId, RelationDesc, Row, ScalarType, Timestamp};
use riffle_sql::{CatalogItem, ItemKind, Params, Plan, PlanContext, SessionCatalog, Statement};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{Mutex, MutexGuard};

pub(crate) use schedule::ChangeWatch;

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
    /// The bootstrap superuser's password (`RIFFLE_PASSWORD`, `--password-file`): set when a
    /// data directory is initialised, or first started with one; it turns password
    /// authentication on for good.
    pub password: Option<String>,
}

/// The state the coordinator sequences access to.
pub(crate) struct Coordinator {
    pub(crate) catalog: Catalog,
    pub(crate) durable: Arc<Durable>,
    /// The log writer: table and source writes go through it (group commit).
    pub(crate) committer: Committer,
    /// Read and write timestamps, and ticks.
    pub(crate) timestamps: Timestamps,
    retain_default: Timestamp,
    /// The first time each stored collection can be read at (its creation, or recovery).
    pub(crate) readable_from: BTreeMap<GlobalId, Timestamp>,
    /// Running sources' ingestion threads.
    pub(crate) sources: BTreeMap<GlobalId, riffle_storage::source::SourceHandle>,
    /// Running sinks' tasks.
    pub(crate) sinks: BTreeMap<GlobalId, tokio::task::JoinHandle<()>>,
    /// Recovered updates after the earliest sink's resume time, applied at their own times
    /// once the sinks have subscribed (`Adapter::start`).
    pub(crate) pending_tail: Vec<(Timestamp, Vec<(GlobalId, Row, Diff)>)>,
    /// Recovered contents of ENVELOPE UPSERT sources, to seed their key state.
    pub(crate) recovered_upsert: BTreeMap<GlobalId, Vec<(Row, Diff)>>,
    /// Trained models retrained on a schedule: milliseconds between runs, and when the last
    /// scheduled run started (so that a failing one waits its interval too).
    pub(crate) retrain_every: BTreeMap<GlobalId, (u64, Timestamp)>,
    /// Trained models retrained after their training query's rows change by a fraction.
    pub(crate) retrain_change: BTreeMap<GlobalId, ChangeWatch>,
    /// Whether `SET riffle_failpoint` may inject failures (a test-only server flag).
    pub(crate) failpoints: bool,
    /// Writes proposed so far, and for each table and source the count when it was last
    /// written: a transaction that read a relation written after its snapshot cannot commit.
    pub(crate) write_seq: u64,
    pub(crate) last_write_seq: BTreeMap<GlobalId, u64>,
    /// The data directory, where statements never write server files.
    pub(crate) data_dir: std::path::PathBuf,
}

/// The shared entry point for sessions.
pub struct Adapter {
    pub(crate) coord: Arc<Mutex<Coordinator>>,
    pub(crate) compute: Arc<ComputeController>,
    /// The role catalog (also the coordinator's, through its catalog): logins read it without
    /// waiting for the coordinator.
    pub(crate) access: Arc<std::sync::RwLock<crate::access::Access>>,
}

/// The coordinator, taken by one statement.
pub(crate) type Guard<'a> = MutexGuard<'a, Coordinator>;

impl Adapter {
    /// Takes the coordinator, with its read timestamp caught up with the log writer's (which
    /// may have moved writes to later timestamps than proposed), so that reads at it include
    /// every acknowledged write.
    pub(crate) async fn lock(&self) -> Guard<'_> {
        let mut coord = self.coord.lock().await;
        coord.timestamps.catch_up();
        coord
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
        let (plan, types) = riffle_sql::plan(&coord.catalog, stmt, PlanContext::default(), &params)?;
        let desc = match plan {
            Plan::Select(s) => Some(s.desc),
            Plan::Rows { desc, .. } => Some(desc),
            Plan::Subscribe { .. } => None,
            Plan::ShowVariable { name } => Some(RelationDesc::empty().with_column(name, ColumnType::nullable(ScalarType::String))),
            Plan::Explain { .. } => Some(read::explain_desc()),
            _ => None,
        };
        Ok((types, desc))
    }

    /// Runs one statement.
    pub async fn execute(&self, session: &mut Session, stmt: &Statement, params: &Params) -> Result<ExecuteResponse, AdapterError> {
        let start = std::time::Instant::now();
        session.statements += 1;
        let result = self.plan_and_sequence(session, stmt, params).await;
        crate::metrics::Metrics::get()
            .statement_seconds
            .with_label_values(&[crate::metrics::statement_kind(stmt)])
            .observe(start.elapsed().as_secs_f64());
        result
    }

    async fn plan_and_sequence(&self, session: &mut Session, stmt: &Statement, params: &Params) -> Result<ExecuteResponse, AdapterError> {
        let coord = self.lock().await;
        let resolving = authorize::Resolving::new(&coord.catalog);
        let planned = riffle_sql::plan(&resolving, stmt, context(session), params);
        let resolved = resolving.resolved();
        let planned = planned.map_err(AdapterError::from).and_then(|(plan, _)| {
            coord.authorize(session, &plan, &resolved)?;
            Ok(plan)
        });
        // A failed transaction block hears only its end.
        let ends_block = matches!(planned, Ok(Plan::Commit | Plan::Rollback));
        if session.txn.as_ref().is_some_and(|t| t.failed) && !ends_block {
            return Err(AdapterError::InFailedTransaction);
        }
        let result = match planned {
            Ok(plan) => match (session.txn.as_ref().is_some_and(|t| t.read_only), writes(&plan)) {
                (true, Some(what)) => Err(AdapterError::ReadOnlyTransaction(what)),
                _ => self.sequence(coord, session, stmt, plan).await,
            },
            Err(e) => Err(e),
        };
        if result.is_err() {
            if let Some(txn) = session.txn.as_mut() {
                txn.failed = true;
            }
        }
        result
    }

    /// Carries out a plan, with the coordinator taken: one function per kind of plan.
    async fn sequence(
        &self,
        coord: Guard<'_>,
        session: &mut Session,
        stmt: &Statement,
        plan: Plan,
    ) -> Result<ExecuteResponse, AdapterError> {
        match plan {
            Plan::Select(select) => self.sequence_select(coord, session, select).await,
            Plan::Explain { lines } => Ok(read::explain(lines)),
            Plan::Subscribe(subscribe) => self.sequence_subscribe(coord, subscribe),
            Plan::Rows { desc, rows, tag } => Ok(ExecuteResponse::Rows { desc, rows, tag }),
            Plan::CopyTo(copy) => self.sequence_copy_to(coord, session, copy).await,
            Plan::CopyFrom(copy) => self.sequence_copy_from(coord, session, copy).await,
            Plan::Insert { table, source } => self.sequence_insert(coord, session, table, source).await,
            Plan::ReadThenWrite(plan) => self.sequence_read_then_write(coord, session, plan).await,
            plan @ (Plan::CreateTable { .. }
            | Plan::CreateView { .. }
            | Plan::CreateIndex { .. }
            | Plan::CreateConnection { .. }
            | Plan::CreateSource { .. }
            | Plan::CreateSink { .. }) => self.sequence_create(coord, stmt, plan, &session.current_user),
            Plan::CreateModel(model) => self.sequence_create_model(coord, stmt, model, &session.current_user).await,
            plan @ (Plan::CreateRole(_)
            | Plan::AlterRole(_)
            | Plan::DropRoles { .. }
            | Plan::Grant(_)
            | Plan::Revoke(_)
            | Plan::GrantRole(_)
            | Plan::RevokeRole(_)
            | Plan::SetRole(_)) => self.sequence_access(coord, session, plan),
            Plan::Drop(drop) => self.sequence_drop(coord, drop),
            Plan::SetVariable { name, value } => self.sequence_set(coord, session, name, value),
            Plan::ShowVariable { name } => variables::sequence_show(session, name),
            Plan::StartTransaction { read_only } => Ok(self.sequence_begin(session, read_only)),
            Plan::SetTransaction { read_only } => Ok(self.sequence_set_transaction(session, read_only)),
            Plan::Commit => self.sequence_commit(coord, session).await,
            Plan::Rollback => Ok(self.sequence_rollback(session)),
            Plan::NoOp { tag } => Ok(command(tag)),
        }
    }
}

impl Coordinator {
    /// Stores an item's definition in the durable catalog.
    pub(crate) fn persist(&self, item: &CatalogItem) -> Result<(), AdapterError> {
        let bytes = serde_json::to_vec(&StoredItem {
            create_sql: item.create_sql.clone(),
        })
        .map_err(|e| AdapterError::Internal(e.to_string()))?;
        self.durable.put_catalog(item.id, &bytes)?;
        Ok(())
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
        self.readable_from.insert(item.id, self.timestamps.read_ts());
    }

    /// The catalog items of some kinds, in creation order.
    pub(crate) fn items_where(&self, kind: impl Fn(&ItemKind) -> bool) -> Vec<CatalogItem> {
        self.catalog.items().into_iter().filter(|i| kind(&i.kind)).cloned().collect()
    }

    /// Waits until every write proposed so far has its final timestamp, then catches the read
    /// timestamp up with them: a read at it then sees all of them (see `Committer::barrier`).
    /// For reads that decide what a write retracts or whether a key is taken.
    pub(crate) async fn settle(&mut self) {
        self.committer.barrier().await;
        self.timestamps.catch_up();
    }

    /// Moves time to the clock's "now" if no write did (see [`Timestamps::tick`]).
    pub(crate) fn tick(&mut self) {
        if let Some(close) = self.timestamps.tick() {
            self.committer.advance_to(close);
        }
    }

    /// Proposes a timestamp and queues the write for the log writer, which logs it durably
    /// (grouped with concurrent writes) and then feeds the dataflows. The write is acknowledged
    /// once the returned `Pending` resolves; release the coordinator before waiting on it so
    /// other statements can join the group.
    pub(crate) fn write(&mut self, updates: Vec<(GlobalId, Row, Diff)>) -> Pending {
        self.write_with_offsets(updates, Vec::new())
    }

    /// Like `write`, storing sources' next offsets in the same durable batch.
    pub(crate) fn write_with_offsets(&mut self, updates: Vec<(GlobalId, Row, Diff)>, offsets: Vec<(GlobalId, i32, i64)>) -> Pending {
        let ts = self.timestamps.propose_write();
        self.write_seq += 1;
        let mut per: BTreeMap<GlobalId, u64> = Default::default();
        for (id, _, _) in &updates {
            *per.entry(*id).or_default() += 1;
        }
        for id in per.keys() {
            self.last_write_seq.insert(*id, self.write_seq);
        }
        let rows_by_object = per
            .into_iter()
            .filter_map(|(id, n)| self.catalog.get_by_id(id).map(|item| (item.name.clone(), n)))
            .collect();
        self.committer.write(Write {
            ts,
            updates,
            offsets,
            rows_by_object,
        })
    }
}

/// The statement a plan writes with (for "cannot execute … in a read-only transaction"), or
/// None for a plan that changes nothing stored.
fn writes(plan: &Plan) -> Option<&'static str> {
    Some(match plan {
        Plan::Insert { .. } => "INSERT",
        Plan::ReadThenWrite(p) => p.tag,
        Plan::CopyFrom(_) => "COPY FROM",
        Plan::CreateTable { .. } => "CREATE TABLE",
        Plan::CreateView { .. } => "CREATE VIEW",
        Plan::CreateIndex { .. } => "CREATE INDEX",
        Plan::CreateConnection { .. } => "CREATE CONNECTION",
        Plan::CreateSource { .. } => "CREATE SOURCE",
        Plan::CreateSink { .. } => "CREATE SINK",
        Plan::CreateModel(_) => "CREATE MODEL",
        Plan::Drop(_) => "DROP",
        Plan::CreateRole(_) => "CREATE ROLE",
        Plan::AlterRole(_) => "ALTER ROLE",
        Plan::DropRoles { .. } => "DROP ROLE",
        Plan::Grant(_) | Plan::GrantRole(_) => "GRANT",
        Plan::Revoke(_) | Plan::RevokeRole(_) => "REVOKE",
        Plan::Select(_)
        | Plan::Subscribe(_)
        | Plan::CopyTo(_)
        | Plan::Rows { .. }
        | Plan::Explain { .. }
        | Plan::SetVariable { .. }
        | Plan::ShowVariable { .. }
        | Plan::StartTransaction { .. }
        | Plan::SetTransaction { .. }
        | Plan::Commit
        | Plan::Rollback
        | Plan::SetRole(_)
        | Plan::NoOp { .. } => return None,
    })
}

/// A command's completion tag as a response.
fn command(tag: &str) -> ExecuteResponse {
    ExecuteResponse::Command { tag: tag.to_string() }
}

/// What the planner needs to know of the session and the moment.
fn context(session: &Session) -> PlanContext {
    PlanContext {
        zone: session.zone(),
        current_user: session.current_user.clone(),
        session_user: session.session_user.clone(),
        now_micros: chrono::Utc::now().timestamp_micros(),
        in_view: false,
    }
}
