//! CREATE MODEL: a model read from a file, or trained on a query's rows, becomes a new version.
//!
//! Each version is stored durably (bytes and a metadata document). A trained version replaces
//! the current one only when its validation metric is not worse. The current version of every
//! model is also data, a row in `riffle_model_current`, so that views scoring with a model
//! re-score their rows when it changes. Model formats, training data and metadata are in
//! [`crate::models`]; scheduled retraining is in `schedule.rs`.

use super::{command, Adapter, Coordinator, Guard};
use crate::models::{TrainingRun, TrainingStatus, VersionMeta};
use crate::{AdapterError, ExecuteResponse};
use riffle_durable::DurableError;
use riffle_repr::{Datum, GlobalId, RelationDesc, Row, Timestamp};
use riffle_sql::{CatalogItem, CreateModelPlan, ItemKind, PlanError, SessionCatalog, Statement, TrainPlan};
use std::sync::Arc;
use tracing::info;

/// A model's new version before it is stored: its bytes, format and training run.
struct NewVersion {
    bytes: Vec<u8>,
    format: String,
    training: Option<TrainingRun>,
}

/// A stored version: whether it became current, and the changes to `riffle_model_current`
/// that say so (written by the caller once the coordinator can be released).
struct Added {
    name: String,
    version: u64,
    promoted: bool,
    changes: Vec<(GlobalId, Row, riffle_repr::Diff)>,
}

impl Adapter {
    /// CREATE [OR REPLACE] MODEL … FROM 'file' or … TRAIN …: stores a new version and, if it
    /// is promoted, makes it the one every view scores with.
    pub(super) async fn sequence_create_model(
        &self,
        mut coord: Guard<'_>,
        stmt: &Statement,
        plan: CreateModelPlan,
        owner: &str,
    ) -> Result<ExecuteResponse, AdapterError> {
        if plan.if_not_exists && matches!(coord.catalog.get(&plan.name).map(|i| &i.kind), Some(ItemKind::Model(_))) {
            return Ok(command("CREATE MODEL"));
        }
        coord.replaced_model(&plan)?;
        let new = match &plan.train {
            None => read_model_file(&plan.path, plan.format.clone())?,
            Some(train) => {
                let (retaken, new) = self.train(coord, &plan.name, train).await;
                coord = retaken;
                new?
            }
        };
        // Checked again: the catalog may have changed while the model trained.
        let existing = coord.replaced_model(&plan)?;
        let new_model = existing.is_none();
        let Added {
            name,
            version,
            promoted,
            changes,
        } = coord.add_model_version(existing, &plan, stmt, new)?;
        if let Some(id) = coord.catalog.get(&name).map(|i| i.id).filter(|_| new_model) {
            coord.record_owner(id, owner)?;
        }
        if !promoted {
            info!(model = %name, version, "trained version not promoted: its validation metric is worse");
            return Ok(command("CREATE MODEL"));
        }
        coord.watch_training_changes(&self.compute);
        coord.write(changes).wait().await?;
        info!(model = %name, version, "model created");
        Ok(command("CREATE MODEL"))
    }

    /// Trains a model on its query's rows without holding the coordinator (other sessions go
    /// on; `riffle_training` shows the progress); returns the coordinator, taken again.
    async fn train<'a>(&'a self, mut coord: Guard<'a>, name: &str, plan: &TrainPlan) -> (Guard<'a>, Result<NewVersion, AdapterError>) {
        let ts = coord.timestamps.read_ts();
        if coord.catalog.training.contains_key(name) {
            return (coord, Err(AdapterError::Model(format!("model \"{name}\" is already training"))));
        }
        let status = Arc::new(std::sync::Mutex::new(TrainingStatus {
            algorithm: plan.algorithm.clone(),
            started_at: chrono::Utc::now().timestamp_micros(),
            ..Default::default()
        }));
        coord.catalog.training.insert(name.to_string(), status.clone());
        drop(coord);
        let result = self.train_model(name, plan, ts, status).await;
        let mut coord = self.lock().await;
        coord.catalog.training.remove(name);
        let new = result.map(|(bytes, run)| NewVersion {
            bytes,
            format: "safetensors".to_string(),
            training: Some(run),
        });
        (coord, new)
    }

    /// Reads a training query at `ts` and fits the model on a blocking thread.
    pub(super) async fn train_model(
        &self,
        name: &str,
        plan: &TrainPlan,
        ts: Timestamp,
        status: Arc<std::sync::Mutex<TrainingStatus>>,
    ) -> Result<(Vec<u8>, TrainingRun), AdapterError> {
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
        let run = TrainingRun {
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
}

impl Coordinator {
    /// The model this statement replaces (with OR REPLACE), None for a new one; an error if
    /// the name is taken otherwise.
    fn replaced_model(&self, plan: &CreateModelPlan) -> Result<Option<CatalogItem>, AdapterError> {
        match self.catalog.get(&plan.name) {
            Some(item) if matches!(item.kind, ItemKind::Model(_)) && plan.or_replace => Ok(Some(item.clone())),
            Some(_) => Err(PlanError::AlreadyExists(plan.name.clone()).into()),
            None => Ok(None),
        }
    }

    /// Stores a new version of a model and, if promoted, makes it current in the catalog and
    /// the model registry.
    fn add_model_version(
        &mut self,
        existing: Option<CatalogItem>,
        plan: &CreateModelPlan,
        stmt: &Statement,
        new: NewVersion,
    ) -> Result<Added, AdapterError> {
        let name = plan.name.clone();
        let model =
            riffle_models::Model::load(&new.bytes, &new.format, plan.config.as_deref()).map_err(|e| AdapterError::Model(e.to_string()))?;
        let (id, version) = match &existing {
            Some(item) => (item.id, self.catalog.model_versions(item.id).last().map_or(1, |m| m.version + 1)),
            None => (self.catalog.allocate_id(), 1),
        };
        let created_at = chrono::Utc::now().timestamp_micros();
        // A retrained version replaces the current one only when its validation metric
        // is not worse; otherwise it is kept for inspection.
        let promoted = match (&new.training, &existing) {
            (Some(run), Some(item)) => crate::models::not_worse(run, self.catalog.current_model_meta(item.id)),
            _ => true,
        };
        let meta = VersionMeta {
            version,
            format: new.format.clone(),
            sha256: model.sha256.clone(),
            created_at,
            promoted,
            training: new.training,
        };
        self.durable.put_model(id, version, created_at, &new.bytes)?;
        self.durable.put_model_meta(
            id,
            version,
            &serde_json::to_vec(&meta).map_err(|e| AdapterError::Internal(e.to_string()))?,
        )?;
        self.catalog.add_model_version(id, meta);
        if !promoted {
            return Ok(Added {
                name,
                version,
                promoted: false,
                changes: Vec::new(),
            });
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
            kind: ItemKind::Model(crate::models::describe(&model, &new.format, version, created_at)),
            create_sql: stmt.to_string(),
            depends_on: plan.train.as_ref().map(|t| t.depends_on.clone()).unwrap_or_default(),
            retain_history: None,
        };
        if existing.is_some() {
            self.catalog.remove(id);
        }
        self.persist(&item)?;
        self.catalog.insert(item);
        self.note_retrain(id, plan.train.as_ref())?;
        crate::models::registry().insert(&name, version, model);
        Ok(Added {
            name,
            version,
            promoted: true,
            changes,
        })
    }

    /// A stored model's catalog item at recovery: its current version (the newest promoted
    /// one; every version stored before version documents existed was promoted) loaded into
    /// the model registry.
    pub(super) fn stored_model_item(
        &mut self,
        id: GlobalId,
        plan: CreateModelPlan,
        create_sql: String,
    ) -> Result<CatalogItem, AdapterError> {
        let CreateModelPlan {
            name,
            format,
            config,
            train,
            ..
        } = plan;
        let metas: Vec<VersionMeta> = self
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
                    .ok_or_else(|| DurableError::Corrupt(format!("model {name} has no stored version {v}")))?;
                (v, created_at, bytes)
            }
            None => self
                .durable
                .latest_model(id)?
                .ok_or_else(|| DurableError::Corrupt(format!("model {name} has no stored version")))?,
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
        let model = riffle_models::Model::load(&bytes, &format, config.as_deref()).map_err(|e| AdapterError::Model(e.to_string()))?;
        let desc = crate::models::describe(&model, &format, version, created_at);
        crate::models::registry().insert(&name, version, model);
        Ok(CatalogItem {
            id,
            name,
            desc: RelationDesc::empty(),
            kind: ItemKind::Model(desc),
            create_sql,
            depends_on: train.map(|t| t.depends_on).unwrap_or_default(),
            retain_history: None,
        })
    }
}

/// A model file on the server, in the format named or detected from its bytes.
fn read_model_file(path: &str, format: Option<String>) -> Result<NewVersion, AdapterError> {
    let p = std::path::Path::new(path);
    if !p.exists() {
        return Err(AdapterError::File(format!(
            "could not read model file \"{path}\": no such file or folder"
        )));
    }
    crate::server_files::check_readable(path, true)?;
    let bytes = riffle_models::read_model(p, format.as_deref()).map_err(|e| AdapterError::Model(e.to_string()))?;
    let format = format.unwrap_or_else(|| riffle_models::detect_format(&bytes).to_string());
    Ok(NewVersion {
        bytes,
        format,
        training: None,
    })
}
