//! Statement planning: the entry point from an AST to a [`Plan`].

use crate::scope::Scope;
use crate::{CatalogItem, ItemKind, PlanError, SessionCatalog, TableDesc};
use riffle_expr::{RelExpr, RowSetFinishing, ScalarExpr};
use riffle_repr::{ColumnType, Datum, GlobalId, RefreshSchedule, RelationDesc, Row, ScalarType};
use sqlparser::ast::{self, ObjectType};

/// What kind of object a DROP names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropKind {
    /// DROP TABLE
    Table,
    /// DROP VIEW
    View,
    /// DROP MATERIALIZED VIEW
    MaterializedView,
    /// DROP INDEX
    Index,
    /// DROP CONNECTION
    Connection,
    /// DROP SOURCE
    Source,
    /// DROP SINK
    Sink,
    /// DROP MODEL
    Model,
}

/// What a SHOW lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowKind {
    /// SHOW TABLES
    Tables,
    /// SHOW VIEWS
    Views,
    /// SHOW MATERIALIZED VIEWS
    MaterializedViews,
    /// SHOW INDEXES
    Indexes,
    /// SHOW CONNECTIONS
    Connections,
    /// SHOW SOURCES
    Sources,
    /// SHOW SINKS
    Sinks,
    /// SHOW MODELS
    Models,
}

/// A planned statement, ready for the coordinator to sequence.
#[derive(Clone, Debug)]
pub enum Plan {
    /// CREATE TABLE
    CreateTable {
        /// Table name.
        name: String,
        /// Columns.
        desc: RelationDesc,
        /// Defaults and other table metadata.
        table: TableDesc,
        /// IF NOT EXISTS was given.
        if_not_exists: bool,
        /// `WITH (RETAIN HISTORY FOR …)`: how long past states stay readable with AS OF, in
        /// milliseconds (None: the server's default).
        retain_history: Option<u64>,
    },
    /// CREATE [MATERIALIZED] VIEW
    CreateView {
        /// View name.
        name: String,
        /// Columns.
        desc: RelationDesc,
        /// Definition.
        plan: RelExpr,
        /// Maintained by a dataflow.
        materialized: bool,
        /// IF NOT EXISTS was given.
        if_not_exists: bool,
        /// OR REPLACE was given.
        or_replace: bool,
        /// Every catalog item the definition names (views included).
        depends_on: Vec<GlobalId>,
        /// `WITH (RETAIN HISTORY FOR …)`, in milliseconds (None: the server's default).
        retain_history: Option<u64>,
        /// `WITH (REFRESH EVERY …)`: changes are applied on a schedule, not as they happen.
        refresh: Option<RefreshSchedule>,
        /// `WITH (EXPECTED GROUP SIZE n)`: the rows a group of its reductions may reach; their
        /// `min`/`max`/top-k are then maintained hierarchically (see riffle-compute).
        group_size: Option<u64>,
    },
    /// CREATE INDEX
    CreateIndex {
        /// Index name.
        name: String,
        /// Indexed collection.
        on: GlobalId,
        /// Key columns.
        keys: Vec<usize>,
        /// IF NOT EXISTS was given.
        if_not_exists: bool,
    },
    /// CREATE CONNECTION
    CreateConnection {
        /// Name.
        name: String,
        /// IF NOT EXISTS was given.
        if_not_exists: bool,
        /// The connection.
        connection: crate::source::KafkaConnection,
    },
    /// CREATE SOURCE
    CreateSource {
        /// Name.
        name: String,
        /// IF NOT EXISTS was given.
        if_not_exists: bool,
        /// Output columns.
        desc: RelationDesc,
        /// What to ingest and how.
        source: crate::source::SourceDesc,
    },
    /// CREATE SINK
    CreateSink {
        /// Name.
        name: String,
        /// IF NOT EXISTS was given.
        if_not_exists: bool,
        /// What to write and where.
        sink: crate::source::SinkDesc,
    },
    /// CREATE [OR REPLACE] MODEL: the adapter reads and checks the file.
    CreateModel(CreateModelPlan),
    /// DROP …
    Drop(DropPlan),
    /// INSERT: rows to add to a table, computed by `source` in table column order.
    Insert {
        /// Target table.
        table: GlobalId,
        /// Rows to insert.
        source: RelExpr,
    },
    /// UPDATE or DELETE: read matching rows, then retract them (and insert replacements).
    ReadThenWrite(ReadThenWritePlan),
    /// A query.
    Select(SelectPlan),
    /// `COPY … TO`: a query's rows out, to the client or a server file.
    CopyTo(CopyToPlan),
    /// `COPY table FROM`: rows into a table, from the client or a server file.
    CopyFrom(CopyFromPlan),
    /// SUBSCRIBE: stream a query's changes.
    Subscribe(SubscribePlan),
    /// A query answered from constant rows (SHOW and catalog listings).
    Rows {
        /// Result columns.
        desc: RelationDesc,
        /// The rows.
        rows: Vec<Row>,
        /// Command tag for CommandComplete.
        tag: &'static str,
    },
    /// CREATE ROLE | USER.
    CreateRole(crate::RolePlan),
    /// ALTER ROLE … [WITH] options (the attributes it names).
    AlterRole(crate::RolePlan),
    /// DROP ROLE | USER [IF EXISTS] names.
    DropRoles {
        /// The roles.
        names: Vec<String>,
        /// IF EXISTS was given.
        if_exists: bool,
    },
    /// GRANT privileges ON objects TO roles.
    Grant(crate::GrantPlan),
    /// REVOKE privileges ON objects FROM roles.
    Revoke(crate::GrantPlan),
    /// GRANT role TO member.
    GrantRole(crate::MembershipPlan),
    /// REVOKE role FROM member.
    RevokeRole(crate::MembershipPlan),
    /// SET ROLE name | NONE, SET SESSION AUTHORIZATION name | DEFAULT (None: the session's
    /// own role again).
    SetRole(Option<String>),
    /// SET name = value
    SetVariable {
        /// Variable name.
        name: String,
        /// New value (None: DEFAULT).
        value: Option<String>,
    },
    /// SHOW name
    ShowVariable {
        /// Variable name.
        name: String,
    },
    /// BEGIN / START TRANSACTION [READ ONLY | READ WRITE] [ISOLATION LEVEL …] (every
    /// level runs serializably).
    StartTransaction {
        /// READ ONLY: writes and DDL in the block are refused (25006).
        read_only: bool,
    },
    /// SET TRANSACTION READ ONLY | READ WRITE [ISOLATION LEVEL …], for the open block.
    SetTransaction {
        /// The access mode named, if any.
        read_only: Option<bool>,
    },
    /// COMMIT
    Commit,
    /// ROLLBACK
    Rollback,
    /// EXPLAIN: the plan, as text lines.
    Explain {
        /// The lines.
        lines: Vec<String>,
    },
    /// A statement accepted and ignored for client compatibility (DISCARD, …).
    NoOp {
        /// Command tag.
        tag: &'static str,
    },
}

/// CREATE [OR REPLACE] MODEL: the adapter reads and checks the file.
#[derive(Clone, Debug)]
pub struct CreateModelPlan {
    /// Name.
    pub name: String,
    /// OR REPLACE.
    pub or_replace: bool,
    /// IF NOT EXISTS.
    pub if_not_exists: bool,
    /// The file on the server.
    pub path: String,
    /// "onnx", "safetensors" or "hf-bert"; None: known from the file.
    pub format: Option<String>,
    /// The JSON description of a safetensors model (`WITH (config = '…')`).
    pub config: Option<String>,
    /// `TRAIN …`: fit the model to a query's rows instead of reading a file.
    pub train: Option<TrainPlan>,
}

/// DROP …
#[derive(Clone, Debug)]
pub struct DropPlan {
    /// Kind named by the statement.
    pub kind: DropKind,
    /// Names.
    pub names: Vec<String>,
    /// IF EXISTS was given.
    pub if_exists: bool,
    /// CASCADE was given.
    pub cascade: bool,
}

/// UPDATE or DELETE: read matching rows, then retract them (and insert replacements).
#[derive(Clone, Debug)]
pub struct ReadThenWritePlan {
    /// Target table.
    pub table: GlobalId,
    /// The current rows to change.
    pub selection: RelExpr,
    /// For UPDATE: the new row, as expressions over the old one.
    pub assignments: Option<Vec<ScalarExpr>>,
    /// Command tag ("UPDATE" or "DELETE").
    pub tag: &'static str,
}

/// A query.
#[derive(Clone, Debug)]
pub struct SelectPlan {
    /// What to compute.
    pub plan: RelExpr,
    /// Ordering, limit and final projection.
    pub finishing: RowSetFinishing,
    /// Result columns.
    pub desc: RelationDesc,
    /// `AS OF`: the time to read at, milliseconds since the epoch (None: now).
    pub as_of: Option<u64>,
}

/// `COPY … TO`: a query's rows out, to the client or a server file.
#[derive(Clone, Debug)]
pub struct CopyToPlan {
    /// What to compute.
    pub plan: RelExpr,
    /// Ordering, limit and final projection.
    pub finishing: RowSetFinishing,
    /// Columns written.
    pub desc: RelationDesc,
    /// Where the rows go.
    pub target: crate::copy::CopyTarget,
    /// Format and its options.
    pub options: riffle_copy::Options,
}

/// `COPY table FROM`: rows into a table, from the client or a server file.
#[derive(Clone, Debug)]
pub struct CopyFromPlan {
    /// The table.
    pub table: GlobalId,
    /// The table columns the input's fields fill, in input order; the others take their
    /// defaults.
    pub columns: Vec<usize>,
    /// Each table column's default (None: NULL).
    pub defaults: Vec<Option<ScalarExpr>>,
    /// Where the rows come from.
    pub source: crate::copy::CopyTarget,
    /// Format and its options.
    pub options: riffle_copy::Options,
    /// Data given inline after the statement (a script's `COPY … FROM STDIN;` lines).
    pub payload: Option<String>,
}

/// SUBSCRIBE: stream a query's changes.
#[derive(Clone, Debug)]
pub struct SubscribePlan {
    /// What to watch, projected to its output columns.
    pub plan: RelExpr,
    /// Output columns (before `mz_timestamp`, `mz_diff`).
    pub desc: RelationDesc,
    /// Start with the current contents.
    pub snapshot: bool,
    /// Emit `mz_progressed` rows as time advances.
    pub progress: bool,
    /// Start from this retained time instead of now.
    pub as_of: Option<u64>,
}

/// Per-statement context: the statement time and where the statement appears.
#[derive(Clone, Debug)]
pub struct PlanContext {
    /// `now()` for this statement, microseconds since the epoch.
    pub now_micros: i64,
    /// Planning a view body: non-deterministic functions are refused.
    pub in_view: bool,
    /// The session's TimeZone, for timestamptz literals without an offset.
    pub zone: riffle_repr::zone::Zone,
    /// `current_user`: the role the session acts as (SET ROLE changes it).
    pub current_user: String,
    /// `session_user`: the role the client authenticated as.
    pub session_user: String,
}

impl Default for PlanContext {
    fn default() -> Self {
        PlanContext {
            now_micros: 0,
            in_view: false,
            zone: riffle_repr::zone::Zone::Utc,
            current_user: "riffle".into(),
            session_user: "riffle".into(),
        }
    }
}

/// Bound parameter values (extended protocol), or none while describing a statement.
#[derive(Clone, Debug, Default)]
pub struct Params {
    /// Types the client declared (None: infer).
    pub types: Vec<Option<ScalarType>>,
    /// Values, once bound.
    pub values: Option<Vec<Datum>>,
}

/// The planner of one statement: what it reads (the catalog, the statement's context, bound
/// parameter values) and what it learns while planning. Every method that learns something
/// takes `&mut self`, so the state below changes only where a signature says it may.
pub struct Planner<'a> {
    pub(crate) catalog: &'a dyn SessionCatalog,
    pub(crate) ctx: PlanContext,
    /// Parameter types: declared by the client, or inferred where a `$n` is first used.
    pub(crate) param_types: Vec<Option<ScalarType>>,
    pub(crate) param_values: Option<Vec<Datum>>,
    /// WITH bindings in scope, innermost last.
    pub(crate) ctes: Vec<(String, RelExpr, Scope)>,
    /// Catalog items the statement reads (a view's dependencies).
    pub(crate) deps: Vec<GlobalId>,
    /// Set when a column of an enclosing query is referenced (a correlated subquery); saved
    /// and restored around each subquery by `plan_subquery_relation`.
    pub(crate) correlated: bool,
    /// Next id for a WITH RECURSIVE binding.
    pub(crate) next_local: u64,
}

/// The outer rows (`D`) a correlated subquery's SELECT cross-joins into its FROM, with their
/// scope (see "Subqueries" in docs/architecture.md).
pub(crate) type OuterRows = (RelExpr, Scope);

/// The options of `CREATE MODEL … TRAIN` (lower case; multi-word ones as written).
const TRAIN_OPTIONS: &[&str] = &[
    "epochs",
    "learning_rate",
    "l2",
    "validation_fraction",
    "seed",
    "hidden",
    "task",
    "retrain every",
    "retrain after change",
];

/// What `CREATE MODEL … TRAIN` fits: the query's rows, one column the target and the others
/// the features.
#[derive(Clone, Debug)]
pub struct TrainPlan {
    /// `LINEAR_REGRESSION`, `LOGISTIC_REGRESSION` or `MLP` (upper case).
    pub algorithm: String,
    /// The training query.
    pub plan: RelExpr,
    /// Its columns.
    pub desc: RelationDesc,
    /// The target column.
    pub target: usize,
    /// The query's text, as recorded with each training run.
    pub query: String,
    /// Training options (`epochs`, `learning_rate`, `l2`, `validation_fraction`, `seed`,
    /// `hidden`, `task`, `retrain every`, `retrain after change`), as written.
    pub options: Vec<(String, Option<String>)>,
    /// Every catalog item the query reads (for lineage).
    pub depends_on: Vec<GlobalId>,
}

impl Planner<'_> {
    fn plan_training(&self, spec: &crate::TrainSpec, options: Vec<(String, Option<String>)>) -> Result<TrainPlan, PlanError> {
        let algorithm = spec.algorithm.to_ascii_uppercase();
        if !["LINEAR_REGRESSION", "LOGISTIC_REGRESSION", "MLP"].contains(&algorithm.as_str()) {
            return Err(PlanError::InvalidValue(format!(
                "unknown training algorithm {} (LINEAR_REGRESSION, LOGISTIC_REGRESSION, MLP)",
                spec.algorithm
            )));
        }
        let mut planner = self.clone_shallow();
        let planned = planner.plan_query(&spec.query)?;
        let desc = planned.scope.desc();
        let plan = RelExpr::Project {
            input: Box::new(planned.expr),
            outputs: planned.finishing.project.clone(),
        };
        let target = desc
            .names
            .iter()
            .position(|n| n == &spec.target)
            .ok_or_else(|| PlanError::UnknownColumn(format!("{}\" of the training query", spec.target)))?;
        if desc.arity() < 2 {
            return Err(PlanError::InvalidValue(
                "the training query needs a target and at least one feature column".into(),
            ));
        }
        for (i, (name, t)) in desc.iter().enumerate() {
            let ok = match &t.scalar_type {
                _ if i == target => !matches!(t.scalar_type, ScalarType::Array(_) | ScalarType::Jsonb | ScalarType::Bytes),
                ScalarType::Array(e) => e.is_numeric(),
                s => s.is_numeric() || *s == ScalarType::Bool,
            };
            if !ok {
                return Err(PlanError::TypeMismatch(format!(
                    "training feature \"{name}\" is {}: features must be numbers, booleans or arrays of numbers",
                    t.scalar_type
                )));
            }
        }
        let depends_on = planner.deps.clone();
        Ok(TrainPlan {
            algorithm,
            plan,
            desc,
            target,
            query: spec.query.to_string(),
            options,
            depends_on,
        })
    }
}

/// Plans one statement. Returns the plan and the (inferred) types of its parameters.
pub fn plan(
    catalog: &dyn SessionCatalog,
    stmt: &crate::Statement,
    ctx: PlanContext,
    params: &Params,
) -> Result<(Plan, Vec<ScalarType>), PlanError> {
    let mut planner = Planner::new(catalog, ctx, params.types.clone(), params.values.clone());
    let plan = match stmt {
        crate::Statement::Sql(stmt) => planner.plan_statement(stmt)?,
        crate::Statement::AsOf { query, as_of } => {
            let Plan::Select(SelectPlan { plan, finishing, desc, .. }) = planner.plan_statement(&ast::Statement::Query(query.clone()))?
            else {
                unreachable!("a query plans as a SELECT")
            };
            Plan::Select(SelectPlan {
                plan,
                finishing,
                desc,
                as_of: Some(planner.plan_time(as_of, "AS OF")?),
            })
        }
        crate::Statement::CreateConnection(c) => planner.plan_create_connection(c)?,
        crate::Statement::CreateSource(c) => planner.plan_create_source(c)?,
        crate::Statement::CreateSink(c) => planner.plan_create_sink(c)?,
        crate::Statement::DropObjects {
            kind,
            names,
            if_exists,
            cascade,
        } => Plan::Drop(DropPlan {
            kind: match kind {
                crate::ObjectKind::Connection => DropKind::Connection,
                crate::ObjectKind::Source => DropKind::Source,
                crate::ObjectKind::Sink => DropKind::Sink,
                crate::ObjectKind::Model => DropKind::Model,
            },
            names: names.clone(),
            if_exists: *if_exists,
            cascade: *cascade,
        }),
        crate::Statement::Show(kind) => planner.show_objects(match kind {
            crate::ObjectKind::Connection => ShowKind::Connections,
            crate::ObjectKind::Source => ShowKind::Sources,
            crate::ObjectKind::Sink => ShowKind::Sinks,
            crate::ObjectKind::Model => ShowKind::Models,
        }),
        crate::Statement::CreateModel(c) => {
            let mut format = None;
            let mut config = None;
            let mut train_options = Vec::new();
            for (k, v) in &c.options {
                match (k.as_str(), v) {
                    ("format", Some(v)) if c.train.is_none() => format = Some(v.to_ascii_lowercase()),
                    ("config", Some(v)) if c.train.is_none() => config = Some(v.clone()),
                    (k, v) if c.train.is_some() && TRAIN_OPTIONS.contains(&k) => train_options.push((k.to_string(), v.clone())),
                    (other, _) => return Err(PlanError::InvalidValue(format!("unknown model option {other}"))),
                }
            }
            let train = match &c.train {
                None => None,
                Some(spec) => Some(planner.plan_training(spec, train_options)?),
            };
            Plan::CreateModel(CreateModelPlan {
                name: c.name.clone(),
                or_replace: c.or_replace,
                if_not_exists: c.if_not_exists,
                path: c.path.clone(),
                format,
                config,
                train,
            })
        }
        crate::Statement::Subscribe(sub) => {
            let Plan::Select(SelectPlan { plan, finishing, desc, .. }) =
                planner.plan_statement(&ast::Statement::Query(sub.query.clone()))?
            else {
                unreachable!("a query plans as a SELECT")
            };
            if !finishing.order_by.is_empty() || finishing.limit.is_some() || finishing.offset > 0 {
                return Err(PlanError::unsupported(
                    "ORDER BY, LIMIT or OFFSET in SUBSCRIBE (wrap the query in a view with a top-k instead)",
                ));
            }
            Plan::Subscribe(SubscribePlan {
                plan: RelExpr::Project {
                    input: Box::new(plan),
                    outputs: finishing.project,
                },
                desc,
                snapshot: sub.snapshot,
                progress: sub.progress,
                as_of: sub.as_of.as_ref().map(|t| planner.plan_time(t, "AS OF")).transpose()?,
            })
        }
    };
    let types = planner
        .param_types
        .iter()
        .map(|t| t.clone().unwrap_or(ScalarType::String))
        .collect();
    Ok((plan, types))
}

/// The access mode among a transaction's modes: Some(true) for READ ONLY.
fn read_only(modes: &[ast::TransactionMode]) -> Option<bool> {
    modes.iter().rev().find_map(|m| match m {
        ast::TransactionMode::AccessMode(ast::TransactionAccessMode::ReadOnly) => Some(true),
        ast::TransactionMode::AccessMode(ast::TransactionAccessMode::ReadWrite) => Some(false),
        ast::TransactionMode::IsolationLevel(_) => None,
    })
}

pub(crate) fn object_name(name: &ast::ObjectName) -> Result<String, PlanError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_else(|| p.to_string()))
        .collect();
    match parts.as_slice() {
        [n] => Ok(n.clone()),
        [s, n] if s == "public" => Ok(n.clone()),
        _ => Err(PlanError::InvalidParameter(format!(
            "schema-qualified name {name} is not supported; use schema public"
        ))),
    }
}

impl<'a> Planner<'a> {
    fn plan_statement(&mut self, stmt: &ast::Statement) -> Result<Plan, PlanError> {
        use ast::Statement;
        match stmt {
            Statement::Query(q) => {
                let planned = self.plan_query(q)?;
                let desc = planned.scope.desc();
                Ok(Plan::Select(SelectPlan {
                    plan: planned.expr,
                    finishing: planned.finishing,
                    desc,
                    as_of: None,
                }))
            }
            Statement::CreateTable(ct) => self.plan_create_table(ct),
            Statement::CreateView(cv) => self.plan_create_view(cv),
            Statement::CreateIndex(ci) => self.plan_create_index(ci),
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => {
                if matches!(object_type, ObjectType::Role | ObjectType::User) {
                    return Ok(Plan::DropRoles {
                        names: self.role_names(names)?,
                        if_exists: *if_exists,
                    });
                }
                let kind = match object_type {
                    ObjectType::Table => DropKind::Table,
                    ObjectType::View => DropKind::View,
                    ObjectType::MaterializedView => DropKind::MaterializedView,
                    ObjectType::Index => DropKind::Index,
                    other => return Err(PlanError::unsupported(format!("DROP {other}"))),
                };
                let names = names.iter().map(object_name).collect::<Result<_, _>>()?;
                Ok(Plan::Drop(DropPlan {
                    kind,
                    names,
                    if_exists: *if_exists,
                    cascade: *cascade,
                }))
            }
            Statement::CreateRole(c) => self.plan_create_role(c),
            Statement::AlterRole { name, operation } => self.plan_alter_role(name, operation),
            Statement::Grant(g) => Ok(Plan::Grant(self.plan_grant(&g.privileges, g.objects.as_ref(), &g.grantees)?)),
            Statement::Revoke(r) => Ok(Plan::Revoke(self.plan_grant(&r.privileges, r.objects.as_ref(), &r.grantees)?)),
            Statement::GrantRole(g) => Ok(Plan::GrantRole(self.plan_membership(&g.roles, &g.grantees)?)),
            Statement::RevokeRole(r) => Ok(Plan::RevokeRole(self.plan_membership(&r.roles, &r.grantees)?)),
            Statement::Reset(r) => match &r.reset {
                ast::Reset::SessionAuthorization => Ok(Plan::SetRole(None)),
                ast::Reset::ConfigurationParameter(name) if name.to_string().eq_ignore_ascii_case("role") => Ok(Plan::SetRole(None)),
                ast::Reset::ConfigurationParameter(name) => Ok(Plan::SetVariable {
                    name: name.to_string().to_ascii_lowercase(),
                    value: None,
                }),
                ast::Reset::ALL => Err(PlanError::unsupported("RESET ALL")),
            },
            Statement::Insert(ins) => self.plan_insert(ins),
            Statement::Copy {
                source,
                to,
                target,
                options,
                legacy_options,
                payload,
            } => self.plan_copy(
                source,
                *to,
                target,
                options,
                legacy_options,
                payload.as_ref().map(|p| p.data.clone()),
            ),
            Statement::Update(up) => self.plan_update(up),
            Statement::Delete(del) => self.plan_delete(del),
            Statement::Set(set) => self.plan_set(set),
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(|i| i.value.to_ascii_lowercase()).collect::<Vec<_>>().join(" ");
                self.plan_show(&name)
            }
            Statement::ShowTables { .. } => Ok(self.show_objects(ShowKind::Tables)),
            Statement::ShowViews { materialized, .. } => Ok(self.show_objects(if *materialized {
                ShowKind::MaterializedViews
            } else {
                ShowKind::Views
            })),
            Statement::ShowColumns { show_options, .. } => {
                let name = show_options
                    .show_in
                    .as_ref()
                    .and_then(|i| i.parent_name.as_ref())
                    .ok_or_else(|| PlanError::Syntax("SHOW COLUMNS requires FROM <relation>".into()))?;
                self.show_columns(&object_name(name)?)
            }
            Statement::StartTransaction { modes, .. } => Ok(Plan::StartTransaction {
                read_only: read_only(modes).unwrap_or(false),
            }),
            Statement::Commit { .. } => Ok(Plan::Commit),
            Statement::Rollback { savepoint: None, .. } => Ok(Plan::Rollback),
            // Not a whole ROLLBACK: refused rather than rolling back the whole block.
            Statement::Rollback { savepoint: Some(_), .. } => Err(PlanError::unsupported("ROLLBACK TO SAVEPOINT")),
            Statement::Savepoint { .. } => Err(PlanError::unsupported("SAVEPOINT")),
            Statement::ReleaseSavepoint { .. } => Err(PlanError::unsupported("RELEASE SAVEPOINT")),
            Statement::Discard { .. } => Ok(Plan::NoOp { tag: "DISCARD ALL" }),
            Statement::Explain { statement, .. } => {
                let inner = self.plan_statement(statement)?;
                let name_of = |id: GlobalId| self.catalog.get_by_id(id).map_or_else(|| id.to_string(), |i| i.name.clone());
                // The index a join input will read (compute's rule: `RelExpr::join_input_index_key`).
                let index_for = |on: GlobalId, columns: &[usize]| {
                    self.catalog.items().into_iter().find_map(|i| match &i.kind {
                        crate::ItemKind::Index { on: o, keys } if *o == on && keys.as_slice() == columns => Some(i.name.clone()),
                        _ => None,
                    })
                };
                let lines = match inner {
                    Plan::Select(SelectPlan { plan, finishing, .. }) => {
                        let read = match plan.as_simple_read() {
                            Some(id) => format!("-- answered by reading the arrangement of {} (no dataflow)", name_of(id)),
                            None => "-- rendered as a transient dataflow, dropped after the read".to_string(),
                        };
                        let mut lines = vec![read];
                        if !finishing.order_by.is_empty() || finishing.limit.is_some() || finishing.offset > 0 {
                            lines.push(format!(
                                "Finish order=({:?}) limit={:?} offset={}",
                                finishing.order_by.iter().map(|o| o.column).collect::<Vec<_>>(),
                                finishing.limit,
                                finishing.offset
                            ));
                        }
                        lines.extend(plan.explain_with_indexes(&name_of, &index_for));
                        lines
                    }
                    Plan::CreateView {
                        plan,
                        materialized: true,
                        refresh,
                        ..
                    } => {
                        let mut lines = vec!["-- maintained dataflow; result arranged by row".to_string()];
                        // A scheduled view delays its inputs, so its joins arrange their own.
                        match refresh {
                            Some(_) => lines.extend(plan.explain(&name_of)),
                            None => lines.extend(plan.explain_with_indexes(&name_of, &index_for)),
                        }
                        lines
                    }
                    Plan::CreateView { plan, .. } => plan.explain_with_indexes(&name_of, &index_for),
                    other => vec![format!("{other:?}")],
                };
                Ok(Plan::Explain { lines })
            }
            other => {
                let text = other.to_string();
                let words: Vec<&str> = text.split_whitespace().take(2).collect();
                Err(PlanError::unsupported(words.join(" ")))
            }
        }
    }

    fn plan_set(&self, set: &ast::Set) -> Result<Plan, PlanError> {
        match set {
            ast::Set::SingleAssignment { variable, values, .. } => {
                let name = variable.to_string().to_ascii_lowercase();
                let value = values
                    .iter()
                    .map(|v| match v {
                        ast::Expr::Value(v) => match &v.value {
                            ast::Value::SingleQuotedString(s) => s.clone(),
                            other => other.to_string(),
                        },
                        ast::Expr::Identifier(i) => i.value.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let value = if value.eq_ignore_ascii_case("default") { None } else { Some(value) };
                Ok(Plan::SetVariable { name, value })
            }
            ast::Set::SetTimeZone { value, .. } => {
                let v = match value {
                    ast::Expr::Value(v) => match &v.value {
                        ast::Value::SingleQuotedString(s) => s.clone(),
                        other => other.to_string(),
                    },
                    other => other.to_string(),
                };
                Ok(Plan::SetVariable {
                    name: "timezone".into(),
                    value: Some(v),
                })
            }
            ast::Set::SetNames { .. } | ast::Set::SetNamesDefault { .. } => Ok(Plan::NoOp { tag: "SET" }),
            ast::Set::SetRole { role_name, .. } => Ok(crate::roles::set_role(role_name.as_ref())),
            ast::Set::SetSessionAuthorization(p) => Ok(crate::roles::set_role(match &p.kind {
                ast::SetSessionAuthorizationParamKind::User(u) => Some(u),
                ast::SetSessionAuthorizationParamKind::Default => None,
            })),
            ast::Set::SetTransaction { modes, .. } => Ok(Plan::SetTransaction {
                read_only: read_only(modes),
            }),
            other => Err(PlanError::unsupported(format!("{other}"))),
        }
    }

    fn plan_show(&self, name: &str) -> Result<Plan, PlanError> {
        match name {
            "tables" => Ok(self.show_objects(ShowKind::Tables)),
            "views" => Ok(self.show_objects(ShowKind::Views)),
            "materialized views" => Ok(self.show_objects(ShowKind::MaterializedViews)),
            "indexes" => Ok(self.show_objects(ShowKind::Indexes)),
            _ => Ok(Plan::ShowVariable { name: name.to_string() }),
        }
    }

    fn show_objects(&self, kind: ShowKind) -> Plan {
        let text = |s: &str| Datum::String(s.to_string());
        let mut rows = Vec::new();
        let mut desc = RelationDesc::empty().with_column("name", ColumnType::nullable(ScalarType::String));
        if kind == ShowKind::Indexes {
            desc = desc
                .with_column("on", ColumnType::nullable(ScalarType::String))
                .with_column("key", ColumnType::nullable(ScalarType::String));
        }
        let mut items: Vec<&CatalogItem> = self.catalog.items().into_iter().filter(|i| !i.is_system()).collect();
        items.sort_by(|a, b| a.name.cmp(&b.name));
        for item in items {
            match (&item.kind, kind) {
                (ItemKind::Table(_), ShowKind::Tables)
                | (ItemKind::View { .. }, ShowKind::Views)
                | (ItemKind::MaterializedView { .. }, ShowKind::MaterializedViews)
                | (ItemKind::Connection(_), ShowKind::Connections)
                | (ItemKind::Source(_), ShowKind::Sources)
                | (ItemKind::Sink(_), ShowKind::Sinks)
                | (ItemKind::Model(_), ShowKind::Models) => rows.push(Row::new(vec![text(&item.name)])),
                (ItemKind::Index { on, keys }, ShowKind::Indexes) => {
                    let on_item = self.catalog.get_by_id(*on);
                    let on_name = on_item.map_or(String::new(), |i| i.name.clone());
                    let key = keys
                        .iter()
                        .map(|k| on_item.and_then(|i| i.desc.names.get(*k).cloned()).unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(", ");
                    rows.push(Row::new(vec![text(&item.name), text(&on_name), text(&key)]));
                }
                _ => {}
            }
        }
        Plan::Rows { desc, rows, tag: "SHOW" }
    }

    /// SHOW COLUMNS FROM t: name, nullability and type of each column.
    fn show_columns(&self, name: &str) -> Result<Plan, PlanError> {
        let item = self.catalog.get(name).ok_or_else(|| PlanError::UnknownRelation(name.to_string()))?;
        let text = |s: &str| Datum::String(s.to_string());
        let desc = RelationDesc::empty()
            .with_column("name", ColumnType::nullable(ScalarType::String))
            .with_column("nullable", ColumnType::nullable(ScalarType::Bool))
            .with_column("type", ColumnType::nullable(ScalarType::String));
        let rows = item
            .desc
            .iter()
            .map(|(n, t)| Row::new(vec![text(n), Datum::Bool(t.nullable), text(&t.scalar_type.to_string())]))
            .collect();
        Ok(Plan::Rows { desc, rows, tag: "SHOW" })
    }

    pub(crate) fn clone_shallow(&self) -> Planner<'_> {
        Planner::new(self.catalog, self.ctx.clone(), Vec::new(), None)
    }

    pub(crate) fn new(
        catalog: &'a dyn SessionCatalog,
        ctx: PlanContext,
        param_types: Vec<Option<ScalarType>>,
        param_values: Option<Vec<Datum>>,
    ) -> Planner<'a> {
        Planner {
            catalog,
            ctx,
            param_types,
            param_values,
            ctes: Vec::new(),
            deps: Vec::new(),
            correlated: false,
            next_local: 0,
        }
    }
}
