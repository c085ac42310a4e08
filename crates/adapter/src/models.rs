//! Loaded models: the registry `predict(…)` scores through, and CREATE/DROP MODEL.

use riffle_models::{Label, Model, Output};
use riffle_repr::{Datum, F32, F64};
use riffle_sql::{ModelDesc, ModelOutput};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

/// Every loaded model version, and the current version of each model.
#[derive(Default)]
pub(crate) struct Registry {
    models: RwLock<HashMap<(String, u64), Arc<Model>>>,
    current: RwLock<HashMap<String, u64>>,
}

/// The process's registry (also installed as `riffle_expr`'s scorer).
pub(crate) fn registry() -> &'static Arc<Registry> {
    static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let r = Arc::new(Registry::default());
        riffle_expr::scoring::set_scorer(Box::new(Handle(r.clone())));
        r
    })
}

impl Registry {
    /// Loads `version` of `name` and makes it current. Older versions stay loaded: rows scored
    /// by them are retracted by scoring them again.
    pub(crate) fn insert(&self, name: &str, version: u64, model: Model) {
        self.models
            .write()
            .expect("models lock")
            .insert((name.to_string(), version), Arc::new(model));
        self.current.write().expect("models lock").insert(name.to_string(), version);
    }

    fn get(&self, name: &str, version: Option<u64>) -> Option<Arc<Model>> {
        let version = match version {
            Some(v) => v,
            None => *self.current.read().expect("models lock").get(name)?,
        };
        self.models.read().expect("models lock").get(&(name.to_string(), version)).cloned()
    }

    /// Batches and rows a model has scored since it was loaded.
    pub(crate) fn usage(&self, name: &str) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.models
            .read()
            .expect("models lock")
            .iter()
            .filter(|((n, _), _)| n == name)
            .fold((0, 0), |(b, r), (_, m)| (b + m.batches.load(Relaxed), r + m.rows.load(Relaxed)))
    }

    pub(crate) fn remove(&self, name: &str) {
        self.models.write().expect("models lock").retain(|(n, _), _| n != name);
        self.current.write().expect("models lock").remove(name);
    }
}

struct Handle(Arc<Registry>);

impl riffle_expr::scoring::Scorer for Handle {
    fn score(&self, model: &str, version: Option<u64>, rows: &[Vec<f64>], proba: bool) -> Result<Vec<Datum>, String> {
        let m = self.0.get(model, version).ok_or_else(|| not_loaded(model, version))?;
        let scores = m.score(rows).map_err(|e| e.to_string())?;
        Ok(if proba {
            scores
                .probabilities
                .into_iter()
                .map(|p| Datum::Array(p.into_iter().map(|v| Datum::Float64(F64(v))).collect()))
                .collect()
        } else if scores.labels.is_empty() {
            scores.values.into_iter().map(|v| Datum::Float64(F64(v))).collect()
        } else {
            scores
                .labels
                .into_iter()
                .map(|l| match l {
                    Label::Int(i) => Datum::Int64(i),
                    Label::String(s) => Datum::String(s),
                })
                .collect()
        })
    }

    fn embed(&self, model: &str, version: Option<u64>, texts: &[&str]) -> Result<Vec<Datum>, String> {
        let m = self.0.get(model, version).ok_or_else(|| not_loaded(model, version))?;
        let vectors = m.embed(texts).map_err(|e| e.to_string())?;
        Ok(vectors
            .into_iter()
            .map(|v| Datum::Array(v.into_iter().map(|x| Datum::Float32(F32(x))).collect()))
            .collect())
    }
}

fn not_loaded(model: &str, version: Option<u64>) -> String {
    match version {
        Some(v) => format!("version {v} of model \"{model}\" is not loaded"),
        None => format!("model \"{model}\" is not loaded"),
    }
}

/// The planner's view of a loaded model.
pub(crate) fn describe(model: &Model, format: &str, version: u64, created_at: i64) -> ModelDesc {
    let output = match &model.signature.output {
        Output::Regression => ModelOutput::Regression,
        Output::Classification { labels } if labels.iter().all(|l| matches!(l, Label::Int(_))) => ModelOutput::IntClasses(labels.len()),
        Output::Classification { labels } => ModelOutput::StringClasses(labels.len()),
        Output::Embedding { dim } => ModelOutput::Embedding(*dim),
    };
    ModelDesc {
        format: format.to_string(),
        inputs: model.signature.inputs,
        output,
        version,
        sha256: model.sha256.clone(),
        operators: model.signature.operators.clone(),
        created_at,
    }
}
