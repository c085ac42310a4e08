//! CREATE and DROP of catalog items: tables, views, materialized views, indexes, connections,
//! sources and sinks (models are in `models.rs`).
//!
//! Creating an item stores its definition durably, installs its dataflow and adds it to the
//! catalog, in that order; a source or sink is started last. Dropping removes dependents
//! first, so that no dataflow outlives what it reads.

use super::{command, Adapter, Coordinator, Guard};
use crate::{AdapterError, ExecuteResponse};
use riffle_compute::ComputeController;
use riffle_repr::{Datum, GlobalId, Row};
use riffle_sql::{CatalogItem, DropKind, DropPlan, ItemKind, Plan, PlanError, SessionCatalog, Statement};
use tracing::info;

impl Adapter {
    /// CREATE TABLE, [MATERIALIZED] VIEW, INDEX, CONNECTION, SOURCE and SINK.
    pub(super) fn sequence_create(
        &self,
        mut coord: Guard<'_>,
        stmt: &Statement,
        plan: Plan,
        owner: &str,
    ) -> Result<ExecuteResponse, AdapterError> {
        let (name, if_not_exists) = match &plan {
            Plan::CreateTable { name, if_not_exists, .. }
            | Plan::CreateView { name, if_not_exists, .. }
            | Plan::CreateIndex { name, if_not_exists, .. }
            | Plan::CreateConnection { name, if_not_exists, .. }
            | Plan::CreateSource { name, if_not_exists, .. }
            | Plan::CreateSink { name, if_not_exists, .. } => (name.clone(), *if_not_exists),
            other => return Err(AdapterError::Internal(format!("not a CREATE: {other:?}"))),
        };
        let tag = create_tag(&plan);
        if let Some(existing) = coord.catalog.get(&name) {
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
                coord.durable.drop_items(&[id])?;
                coord.catalog.remove(id);
                let item = coord.item_from_plan(id, plan, stmt.to_string())?;
                coord.persist(&item)?;
                coord.catalog.insert(item);
                return Ok(command(tag));
            }
            if if_not_exists {
                info!(name = %name, "relation already exists, skipping");
                return Ok(command(tag));
            }
            return Err(PlanError::AlreadyExists(name).into());
        }
        let id = coord.catalog.allocate_id();
        let item = coord.item_from_plan(id, plan, stmt.to_string())?;
        // A sink checks its producer before anything is stored.
        if let ItemKind::Sink(desc) = &item.kind {
            riffle_storage::sink::SinkProducer::new(desc)
                .map_err(|e| AdapterError::Storage(format!("cannot create a Kafka producer: {e}")))?;
        }
        coord.record_owner(id, owner)?;
        coord.persist(&item)?;
        coord.install(&self.compute, &item);
        coord.catalog.insert(item.clone());
        match item.kind {
            ItemKind::Source(_) => self.start_source(&mut coord, &item)?,
            ItemKind::Sink(_) => {
                let ts = coord.timestamps.read_ts();
                coord.start_sink(&self.compute, &item, ts, true)?
            }
            _ => {}
        }
        Ok(command(tag))
    }

    /// DROP of any kind of item, with CASCADE or IF EXISTS.
    pub(super) fn sequence_drop(&self, mut coord: Guard<'_>, drop: DropPlan) -> Result<ExecuteResponse, AdapterError> {
        let DropPlan {
            kind,
            names,
            if_exists,
            cascade,
        } = drop;
        coord.drop_objects(&self.compute, kind, &names, if_exists, cascade)?;
        Ok(command(match kind {
            DropKind::Table => "DROP TABLE",
            DropKind::View => "DROP VIEW",
            DropKind::MaterializedView => "DROP MATERIALIZED VIEW",
            DropKind::Index => "DROP INDEX",
            DropKind::Connection => "DROP CONNECTION",
            DropKind::Source => "DROP SOURCE",
            DropKind::Sink => "DROP SINK",
            DropKind::Model => "DROP MODEL",
        }))
    }
}

impl Coordinator {
    /// The catalog item a CREATE plan describes, with id `id` (a new one, or the stored one
    /// at recovery).
    pub(super) fn item_from_plan(&mut self, id: GlobalId, plan: Plan, create_sql: String) -> Result<CatalogItem, AdapterError> {
        match CatalogItem::from_plan(id, plan, create_sql.clone()) {
            Ok(item) => Ok(item),
            Err(Plan::CreateModel(model)) => self.stored_model_item(id, model, create_sql),
            Err(other) => Err(AdapterError::Internal(format!("not a catalog item: {other:?}"))),
        }
    }

    /// Drops the named items and everything that depends on them (with `cascade`; indexes
    /// always go with their relation).
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
        // Privileges go first: an id left without them after a crash has the bootstrap
        // superuser as owner, never a dropped item's grants.
        self.change_access(|a| {
            a.dropped(&to_drop);
            Ok(())
        })?;
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
