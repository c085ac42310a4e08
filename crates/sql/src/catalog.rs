//! The planner's view of the catalog.

use crate::Plan;
use riffle_expr::{RelExpr, ScalarExpr};
use riffle_repr::{GlobalId, RelationDesc};
use serde::{Deserialize, Serialize};

/// What kind of object a catalog item is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ItemKind {
    /// A table: rows come from INSERT/UPDATE/DELETE.
    Table(TableDesc),
    /// A view: its plan is inlined wherever it is read.
    View {
        /// The view's definition.
        plan: RelExpr,
    },
    /// A materialized view: maintained by a dataflow, read from its arrangement.
    MaterializedView {
        /// The view's definition.
        plan: RelExpr,
        /// `REFRESH EVERY`: its changes are applied on this schedule.
        refresh: Option<riffle_repr::RefreshSchedule>,
        /// `EXPECTED GROUP SIZE`: how large a group of its reductions may grow.
        group_size: Option<u64>,
    },
    /// An index: an arrangement of a table or view by key columns.
    Index {
        /// The indexed collection.
        on: GlobalId,
        /// Key columns of the indexed collection.
        keys: Vec<usize>,
    },
    /// A connection to a Kafka cluster.
    Connection(crate::source::KafkaConnection),
    /// A source: rows ingested from a Kafka topic (read like a table, written only by ingestion).
    Source(crate::source::SourceDesc),
    /// A sink: a relation's changes written to a Kafka topic.
    Sink(crate::source::SinkDesc),
    /// A model: `predict('name', …)` scores with its current version.
    Model(ModelDesc),
}

/// What predicting with a model returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelOutput {
    /// A number per row (float8).
    Regression,
    /// A class per row: integer labels (bigint).
    IntClasses(usize),
    /// A class per row: string labels (text).
    StringClasses(usize),
    /// An embedding of this width per text (float4[]).
    Embedding(usize),
}

/// A model as the planner sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelDesc {
    /// "onnx".
    pub format: String,
    /// Number of input features.
    pub inputs: usize,
    /// What it predicts.
    pub output: ModelOutput,
    /// Current version (1, 2, …).
    pub version: u64,
    /// SHA-256 of the current version's bytes.
    pub sha256: String,
    /// The operators it runs.
    pub operators: Vec<String>,
    /// When the current version was created (microseconds since the epoch).
    pub created_at: i64,
}

impl ItemKind {
    /// The SQL noun for this kind, as used in messages and listings.
    pub fn noun(&self) -> &'static str {
        match self {
            ItemKind::Table(_) => "table",
            ItemKind::View { .. } => "view",
            ItemKind::MaterializedView { .. } => "materialized view",
            ItemKind::Index { .. } => "index",
            ItemKind::Connection(_) => "connection",
            ItemKind::Source(_) => "source",
            ItemKind::Sink(_) => "sink",
            ItemKind::Model(_) => "model",
        }
    }
}

/// Tables the system creates and writes (`riffle_source_errors`): readable like any table,
/// not listed with the user's tables, not writable.
pub const SYSTEM_TABLES: &[&str] = &["riffle_source_errors", "riffle_model_current"];

impl CatalogItem {
    /// Whether this is one of the system's own tables.
    pub fn is_system(&self) -> bool {
        SYSTEM_TABLES.contains(&self.name.as_str())
    }
}

/// Table-specific metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableDesc {
    /// Default value of each column (`None`: NULL).
    pub defaults: Vec<Option<ScalarExpr>>,
    /// CHECK constraints, checked on every row written.
    #[serde(default)]
    pub checks: Vec<CheckConstraint>,
    /// PRIMARY KEY (first, if any) and UNIQUE constraints, checked on every row written.
    #[serde(default)]
    pub keys: Vec<UniqueKey>,
}

/// A PRIMARY KEY or UNIQUE constraint: no two rows may have equal values in all its columns
/// (23505); rows with a NULL in them never conflict, as in PostgreSQL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UniqueKey {
    /// Its name (PostgreSQL's default: `<table>_pkey`, `<table>_<columns>_key`).
    pub name: String,
    /// Column positions.
    pub columns: Vec<usize>,
}

/// A CHECK constraint: a row for which its expression is false is refused (23514); true and
/// NULL pass, as in PostgreSQL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckConstraint {
    /// Its name (PostgreSQL's default: `<table>_<column>_check`, or `<table>_check`).
    pub name: String,
    /// A boolean expression over the table's columns.
    pub expr: ScalarExpr,
}

/// One named object in the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogItem {
    /// Stable identifier.
    pub id: GlobalId,
    /// Name (schema `public` is implied).
    pub name: String,
    /// Columns (empty for indexes).
    pub desc: RelationDesc,
    /// The kind and its definition.
    pub kind: ItemKind,
    /// The SQL text that created it, replayed at startup.
    pub create_sql: String,
    /// Items this one reads (for DROP ... CASCADE and dependency errors).
    pub depends_on: Vec<GlobalId>,
    /// `RETAIN HISTORY FOR`, in milliseconds (None: the server's default; indexes follow the
    /// indexed collection).
    pub retain_history: Option<u64>,
}

impl CatalogItem {
    /// The item a CREATE plan of a table, view, index, connection, source or sink describes,
    /// with id `id`; any other plan is handed back (a model's item needs its stored versions,
    /// which only the adapter has).
    pub fn from_plan(id: GlobalId, plan: Plan, create_sql: String) -> Result<CatalogItem, Plan> {
        let item = |name, desc, kind, depends_on, retain_history| CatalogItem {
            id,
            name,
            desc,
            kind,
            create_sql,
            depends_on,
            retain_history,
        };
        Ok(match plan {
            Plan::CreateTable {
                name,
                desc,
                table,
                retain_history,
                ..
            } => item(name, desc, ItemKind::Table(table), vec![], retain_history),
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
            } => {
                let kind = if materialized {
                    ItemKind::MaterializedView { plan, refresh, group_size }
                } else {
                    ItemKind::View { plan }
                };
                item(name, desc, kind, depends_on, retain_history)
            }
            Plan::CreateConnection { name, connection, .. } => {
                item(name, RelationDesc::empty(), ItemKind::Connection(connection), vec![], None)
            }
            Plan::CreateSource { name, desc, source, .. } => {
                let depends_on = vec![source.connection_id];
                item(name, desc, ItemKind::Source(source), depends_on, None)
            }
            Plan::CreateSink { name, sink, .. } => {
                let depends_on = vec![sink.connection_id, sink.from];
                item(name, RelationDesc::empty(), ItemKind::Sink(sink), depends_on, None)
            }
            Plan::CreateIndex { name, on, keys, .. } => item(name, RelationDesc::empty(), ItemKind::Index { on, keys }, vec![on], None),
            other => return Err(other),
        })
    }
}

/// Read access to the catalog during planning.
pub trait SessionCatalog {
    /// Looks an item up by (case-folded) name.
    fn get(&self, name: &str) -> Option<&CatalogItem>;
    /// Looks an item up by id.
    fn get_by_id(&self, id: GlobalId) -> Option<&CatalogItem>;
    /// Every item, in creation order.
    fn items(&self) -> Vec<&CatalogItem>;
    /// A system relation whose rows come from outside the catalog (`riffle_source_progress`),
    /// computed when a query is planned.
    fn system_rows(&self, _name: &str) -> Option<(RelationDesc, Vec<riffle_repr::Row>)> {
        None
    }
}
