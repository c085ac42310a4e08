//! The in-memory catalog, persisted through the durable store.

use riffle_repr::{ColumnType, Datum, GlobalId, RelationDesc, Row, ScalarType};
use riffle_sql::{CatalogItem, SessionCatalog};
use riffle_storage::source::SourceStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

/// What is stored per catalog item: its id and the SQL that recreates it.
///
/// Plans are not stored: at startup each item is re-planned from its SQL, so a change to
/// the plan representation never strands an old data directory.
#[derive(Serialize, Deserialize)]
pub struct StoredItem {
    /// The statement that created the item.
    pub create_sql: String,
}

/// Catalog items by id and by name.
#[derive(Default)]
pub struct Catalog {
    items: BTreeMap<GlobalId, CatalogItem>,
    by_name: BTreeMap<String, GlobalId>,
    next_id: u64,
    /// Live progress of running sources (for `riffle_source_progress`).
    pub source_status: BTreeMap<GlobalId, Arc<Mutex<SourceStatus>>>,
    /// Training runs in progress, by model name (`riffle_training_progress`).
    pub(crate) training: BTreeMap<String, Arc<Mutex<crate::models::TrainingStatus>>>,
    /// Every stored version of each model (for `riffle_model_versions` and promotion).
    model_versions: BTreeMap<GlobalId, Vec<crate::models::VersionMeta>>,
    /// The compute workers, whose published statistics answer `riffle_dataflows`,
    /// `riffle_arrangement_sizes` and `riffle_frontiers`.
    pub(crate) compute: Option<Arc<riffle_compute::ComputeController>>,
    /// Roles and privileges (shared with the adapter, which authenticates from it without
    /// taking the coordinator).
    pub(crate) access: Arc<RwLock<crate::access::Access>>,
}

impl Catalog {
    /// An empty catalog whose introspection relations read `compute`'s statistics.
    pub(crate) fn with_compute(compute: Arc<riffle_compute::ComputeController>) -> Self {
        Catalog {
            compute: Some(compute),
            ..Catalog::default()
        }
    }

    /// Records a stored version of a model.
    pub(crate) fn add_model_version(&mut self, id: GlobalId, meta: crate::models::VersionMeta) {
        let versions = self.model_versions.entry(id).or_default();
        versions.retain(|m| m.version != meta.version);
        versions.push(meta);
        versions.sort_by_key(|m| m.version);
    }

    /// The stored versions of a model, oldest first.
    pub(crate) fn model_versions(&self, id: GlobalId) -> &[crate::models::VersionMeta] {
        self.model_versions.get(&id).map_or(&[], |v| v.as_slice())
    }

    /// The document of a model's current version.
    pub(crate) fn current_model_meta(&self, id: GlobalId) -> Option<&crate::models::VersionMeta> {
        let current = match &self.items.get(&id)?.kind {
            riffle_sql::ItemKind::Model(d) => d.version,
            _ => return None,
        };
        self.model_versions(id).iter().find(|m| m.version == current)
    }

    /// `riffle_model_versions`: every stored version of every model, with its training run.
    fn model_versions_rows(&self) -> (RelationDesc, Vec<Row>) {
        let desc = columns(&[
            ("name", ScalarType::String),
            ("version", ScalarType::Int64),
            ("current", ScalarType::Bool),
            ("promoted", ScalarType::Bool),
            ("format", ScalarType::String),
            ("sha256", ScalarType::String),
            ("created_at", ScalarType::TimestampTz),
            ("algorithm", ScalarType::String),
            ("metrics", ScalarType::Jsonb),
            ("train_rows", ScalarType::Int64),
            ("validation_rows", ScalarType::Int64),
            ("read_at", ScalarType::Int64),
            ("training_query", ScalarType::String),
            ("seconds", ScalarType::Float64),
        ]);
        let mut rows = Vec::new();
        for (id, versions) in &self.model_versions {
            let Some(item) = self.items.get(id) else { continue };
            let current = match &item.kind {
                riffle_sql::ItemKind::Model(d) => d.version,
                _ => continue,
            };
            for m in versions {
                let t = m.training.as_ref();
                let metrics = t.map(|t| {
                    let v = serde_json::to_value(&t.metrics).unwrap_or_default();
                    let mut s = String::new();
                    riffle_repr::strconv::write_jsonb(&mut s, &v);
                    s
                });
                rows.push(Row::new(vec![
                    Datum::String(item.name.clone()),
                    Datum::Int64(m.version as i64),
                    Datum::Bool(m.version == current),
                    Datum::Bool(m.promoted),
                    Datum::String(m.format.clone()),
                    Datum::String(m.sha256.clone()),
                    Datum::TimestampTz(m.created_at),
                    t.map_or(Datum::Null, |t| Datum::String(t.algorithm.clone())),
                    metrics.map_or(Datum::Null, Datum::Jsonb),
                    t.map_or(Datum::Null, |t| Datum::Int64(t.train_rows as i64)),
                    t.map_or(Datum::Null, |t| Datum::Int64(t.validation_rows as i64)),
                    t.map_or(Datum::Null, |t| Datum::Int64(t.read_at as i64)),
                    t.map_or(Datum::Null, |t| Datum::String(t.query.clone())),
                    t.map_or(Datum::Null, |t| Datum::Float64(riffle_repr::F64(t.seconds))),
                ]));
            }
        }
        (desc, rows)
    }

    /// `riffle_lineage`: for every object, each object it reads, directly (depth 1) or through
    /// others, down to tables and sources. A view that calls a model, and a trained model's
    /// training query, count as reads.
    fn lineage_rows(&self) -> (RelationDesc, Vec<Row>) {
        let desc = columns(&[
            ("object", ScalarType::String),
            ("object_type", ScalarType::String),
            ("reads", ScalarType::String),
            ("reads_type", ScalarType::String),
            ("depth", ScalarType::Int32),
        ]);
        let mut rows = Vec::new();
        for item in self.items.values() {
            if item.id.is_system() {
                continue;
            }
            // Breadth first, each object at the depth it is first reached.
            let mut seen: BTreeMap<GlobalId, i32> = BTreeMap::new();
            let mut frontier: Vec<GlobalId> = item.depends_on.clone();
            let mut depth = 1;
            while !frontier.is_empty() {
                let mut next = Vec::new();
                for id in frontier {
                    if id == item.id || seen.contains_key(&id) {
                        continue;
                    }
                    seen.insert(id, depth);
                    if let Some(dep) = self.items.get(&id) {
                        next.extend(dep.depends_on.iter().copied());
                    }
                }
                frontier = next;
                depth += 1;
            }
            let mut reached: Vec<(i32, &CatalogItem)> = seen
                .iter()
                .filter_map(|(id, d)| self.items.get(id).filter(|i| !i.id.is_system()).map(|i| (*d, i)))
                .collect();
            reached.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
            for (d, dep) in reached {
                rows.push(Row::new(vec![
                    Datum::String(item.name.clone()),
                    Datum::String(item.kind.noun().to_string()),
                    Datum::String(dep.name.clone()),
                    Datum::String(dep.kind.noun().to_string()),
                    Datum::Int32(d),
                ]));
            }
        }
        (desc, rows)
    }

    /// Allocates an id for a new item.
    pub fn allocate_id(&mut self) -> GlobalId {
        self.next_id += 1;
        GlobalId(self.next_id)
    }

    /// Adds an item.
    pub fn insert(&mut self, item: CatalogItem) {
        if !item.id.is_system() {
            self.next_id = self.next_id.max(item.id.0);
        }
        self.by_name.insert(item.name.clone(), item.id);
        self.items.insert(item.id, item);
    }

    /// Removes an item.
    pub fn remove(&mut self, id: GlobalId) -> Option<CatalogItem> {
        let item = self.items.remove(&id)?;
        self.by_name.remove(&item.name);
        Some(item)
    }

    /// Items that read `id` directly (views, materialized views, indexes).
    pub fn dependents(&self, id: GlobalId) -> Vec<GlobalId> {
        self.items.values().filter(|i| i.depends_on.contains(&id)).map(|i| i.id).collect()
    }
}

/// Nullable columns of the given names and types.
fn columns(cols: &[(&str, ScalarType)]) -> RelationDesc {
    cols.iter().fold(RelationDesc::empty(), |d, (n, t)| {
        d.with_column(*n, ColumnType::nullable(t.clone()))
    })
}

impl Catalog {
    /// The name of a collection the workers report on, and its kind.
    fn describe_object(&self, id: GlobalId) -> (Datum, Datum) {
        match self.items.get(&id) {
            Some(item) => (Datum::String(item.name.clone()), Datum::String(item.kind.noun().to_string())),
            None => (Datum::String(id.to_string()), Datum::Null),
        }
    }

    /// `riffle_dataflows`, `riffle_arrangement_sizes`, `riffle_frontiers`: what each compute
    /// worker last published (at most `introspect::PUBLISH_EVERY` old, see `measured_at`).
    fn introspection_rows(&self, name: &str) -> Option<(RelationDesc, Vec<Row>)> {
        use ScalarType::{Int32, Int64, String as Text, TimestampTz};
        let stats = || self.compute.as_ref().map(|c| c.introspection()).unwrap_or_default();
        let time = |t: Option<u64>| t.map_or(Datum::Null, |t| Datum::Int64(t as i64));
        match name {
            "riffle_dataflows" => {
                let desc = columns(&[
                    ("id", Int64),
                    ("worker", Int32),
                    ("name", Text),
                    ("object", Text),
                    ("kind", Text),
                    ("updates", Int64),
                    ("reads_indexes", Text),
                ]);
                let mut rows = Vec::new();
                for w in stats() {
                    for d in &w.dataflows {
                        let reads = d
                            .reads_indexes
                            .iter()
                            .map(|id| self.get_by_id(*id).map_or_else(|| id.to_string(), |i| i.name.clone()))
                            .collect::<Vec<_>>();
                        let (object, kind) = match d.object {
                            Some(id) => self.describe_object(id),
                            None => (Datum::Null, Datum::String(d.name.split(' ').next().unwrap_or_default().to_string())),
                        };
                        rows.push(Row::new(vec![
                            Datum::Int64(d.index as i64),
                            Datum::Int32(w.worker as i32),
                            Datum::String(d.name.clone()),
                            object,
                            kind,
                            Datum::Int64(d.updates as i64),
                            if reads.is_empty() {
                                Datum::Null
                            } else {
                                Datum::String(reads.join(", "))
                            },
                        ]));
                    }
                }
                Some((desc, rows))
            }
            "riffle_arrangement_sizes" => {
                let desc = columns(&[
                    ("object", Text),
                    ("kind", Text),
                    ("arrangement", Text),
                    ("worker", Int32),
                    ("records", Int64),
                    ("batches", Int64),
                    ("bytes", Int64),
                    ("measured_at", TimestampTz),
                ]);
                let mut rows = Vec::new();
                for w in stats() {
                    let measured_at = w.measured_at.map_or(Datum::Null, |t| {
                        let micros = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
                        Datum::TimestampTz(micros)
                    });
                    for a in &w.arrangements {
                        let (object, kind) = self.describe_object(a.id);
                        rows.push(Row::new(vec![
                            object,
                            kind,
                            Datum::String(a.kind.name().to_string()),
                            Datum::Int32(w.worker as i32),
                            Datum::Int64(a.records as i64),
                            Datum::Int64(a.batches as i64),
                            Datum::Int64(a.bytes as i64),
                            measured_at.clone(),
                        ]));
                    }
                }
                Some((desc, rows))
            }
            "riffle_compute" => {
                // The compute workers' generation: 1 until a worker fails and they are rebuilt
                // (see docs/operations.md).
                let desc = columns(&[("workers", Int32), ("generation", Int64), ("status", Text), ("last_failure", Text)]);
                let Some(compute) = self.compute.as_ref() else {
                    return Some((desc, Vec::new()));
                };
                let health = compute.health().borrow().clone();
                let text = |t: Option<String>| t.map_or(Datum::Null, Datum::String);
                let row = Row::new(vec![
                    Datum::Int32(compute.workers() as i32),
                    Datum::Int64(health.generation as i64),
                    Datum::String(if health.failure.is_some() { "rebuilding" } else { "running" }.into()),
                    text(health.failure.or(health.last_failure)),
                ]);
                Some((desc, vec![row]))
            }
            "riffle_frontiers" => {
                let desc = columns(&[
                    ("object", Text),
                    ("kind", Text),
                    ("worker", Int32),
                    ("since", Int64),
                    ("upper", Int64),
                    ("input_time", Int64),
                    ("lag_ms", Int64),
                ]);
                let mut rows = Vec::new();
                for w in stats() {
                    for a in w
                        .arrangements
                        .iter()
                        .filter(|a| a.kind != riffle_compute::introspect::ArrangementKind::Errors)
                    {
                        let (object, kind) = self.describe_object(a.id);
                        rows.push(Row::new(vec![
                            object,
                            kind,
                            Datum::Int32(w.worker as i32),
                            time(a.since),
                            time(a.upper),
                            Datum::Int64(w.input_time as i64),
                            Datum::Int64(a.lag(w.input_time) as i64),
                        ]));
                    }
                }
                Some((desc, rows))
            }
            _ => None,
        }
    }

    /// `riffle_models`: every model's current version and interface.
    fn models_rows(&self) -> (RelationDesc, Vec<Row>) {
        let desc = columns(&[
            ("name", ScalarType::String),
            ("version", ScalarType::Int64),
            ("format", ScalarType::String),
            ("inputs", ScalarType::Int32),
            ("output", ScalarType::String),
            ("operators", ScalarType::String),
            ("sha256", ScalarType::String),
            ("created_at", ScalarType::TimestampTz),
            ("batches_scored", ScalarType::Int64),
            ("rows_scored", ScalarType::Int64),
        ]);
        let rows = self
            .items
            .values()
            .filter_map(|item| match &item.kind {
                riffle_sql::ItemKind::Model(m) => {
                    let (batches, rows) = crate::models::registry().usage(&item.name);
                    Some(Row::new(vec![
                        Datum::String(item.name.clone()),
                        Datum::Int64(m.version as i64),
                        Datum::String(m.format.clone()),
                        Datum::Int32(m.inputs as i32),
                        Datum::String(match m.output {
                            riffle_sql::ModelOutput::Regression => "float8".to_string(),
                            riffle_sql::ModelOutput::IntClasses(n) => format!("bigint class of {n}"),
                            riffle_sql::ModelOutput::StringClasses(n) => format!("text class of {n}"),
                            riffle_sql::ModelOutput::Embedding(n) => format!("real[{n}] embedding"),
                        }),
                        Datum::String(m.operators.join(", ")),
                        Datum::String(m.sha256.clone()),
                        Datum::TimestampTz(m.created_at),
                        Datum::Int64(batches as i64),
                        Datum::Int64(rows as i64),
                    ]))
                }
                _ => None,
            })
            .collect();
        (desc, rows)
    }
}

impl SessionCatalog for Catalog {
    fn get(&self, name: &str) -> Option<&CatalogItem> {
        self.by_name.get(name).and_then(|id| self.items.get(id))
    }

    fn get_by_id(&self, id: GlobalId) -> Option<&CatalogItem> {
        self.items.get(&id)
    }

    fn items(&self) -> Vec<&CatalogItem> {
        self.items.values().collect()
    }

    fn system_rows(&self, name: &str) -> Option<(RelationDesc, Vec<Row>)> {
        if let Some(found) = crate::access::catalog_rows(&self.access.read().expect("access lock"), name) {
            return Some(found);
        }
        if let Some(found) = self.introspection_rows(name) {
            return Some(found);
        }
        if name == "riffle_models" {
            return Some(self.models_rows());
        }
        if name == "riffle_model_versions" {
            return Some(self.model_versions_rows());
        }
        if name == "riffle_lineage" {
            return Some(self.lineage_rows());
        }
        if name == "riffle_training_progress" {
            let desc = columns(&[
                ("model", ScalarType::String),
                ("algorithm", ScalarType::String),
                ("rows", ScalarType::Int64),
                ("epoch", ScalarType::Int64),
                ("epochs", ScalarType::Int64),
                ("loss", ScalarType::Float64),
                ("started_at", ScalarType::TimestampTz),
            ]);
            let rows = self
                .training
                .iter()
                .map(|(name, s)| {
                    let s = s.lock().expect("training status").clone();
                    Row::new(vec![
                        Datum::String(name.clone()),
                        Datum::String(s.algorithm),
                        Datum::Int64(s.rows as i64),
                        Datum::Int64(s.epoch as i64),
                        Datum::Int64(s.epochs as i64),
                        s.loss.map_or(Datum::Null, |l| Datum::Float64(riffle_repr::F64(l))),
                        Datum::TimestampTz(s.started_at),
                    ])
                })
                .collect();
            return Some((desc, rows));
        }
        if name != "riffle_source_progress" {
            return None;
        }
        let desc = columns(&[
            ("source", ScalarType::String),
            ("partition", ScalarType::Int32),
            ("offset", ScalarType::Int64),
            ("high_watermark", ScalarType::Int64),
            ("lag", ScalarType::Int64),
            ("records", ScalarType::Int64),
            ("errors", ScalarType::Int64),
            ("state", ScalarType::String),
        ]);
        let mut rows = Vec::new();
        for (id, status) in &self.source_status {
            let Some(item) = self.items.get(id) else { continue };
            let s = status.lock().expect("status lock").clone();
            let common = |partition: Datum, offset: Datum, hw: Datum, lag: Datum| {
                Row::new(vec![
                    Datum::String(item.name.clone()),
                    partition,
                    offset,
                    hw,
                    lag,
                    Datum::Int64(s.records as i64),
                    Datum::Int64(s.errors as i64),
                    Datum::String(s.state.clone()),
                ])
            };
            if s.partitions.is_empty() {
                rows.push(common(Datum::Null, Datum::Null, Datum::Null, Datum::Null));
            }
            for (p, progress) in &s.partitions {
                let (hw, lag) = if progress.high_watermark >= 0 {
                    (
                        Datum::Int64(progress.high_watermark),
                        Datum::Int64((progress.high_watermark - progress.next_offset).max(0)),
                    )
                } else {
                    (Datum::Null, Datum::Null)
                };
                rows.push(common(Datum::Int32(*p), Datum::Int64(progress.next_offset), hw, lag));
            }
        }
        Some((desc, rows))
    }
}
