//! Loaded models: the registry `predict(…)` scores through, and CREATE/DROP MODEL.

use crate::AdapterError;
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

    fn tokenize(&self, model: &str, text: &str) -> Result<Vec<u32>, String> {
        let m = self.0.get(model, None).ok_or_else(|| not_loaded(model, None))?;
        m.tokenize(text).map_err(|e| e.to_string())
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

/// How a trained model is retrained (`WITH (RETRAIN EVERY '…')`, `RETRAIN AFTER CHANGE n%`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Retrain {
    /// Milliseconds between runs.
    pub every: Option<u64>,
    /// Retrain once this fraction of the training query's rows has changed.
    pub after_change: Option<f64>,
}

/// The training options of `CREATE MODEL … TRAIN … WITH (…)`.
pub(crate) fn train_params(options: &[(String, Option<String>)]) -> Result<(riffle_models::train::Params, Retrain), AdapterError> {
    let mut p = riffle_models::train::Params::default();
    let mut retrain = Retrain::default();
    let bad = |k: &str, v: &str| AdapterError::Model(format!("invalid value for training option {k}: '{v}'"));
    for (k, v) in options {
        let v = v.clone().unwrap_or_default();
        match k.as_str() {
            "epochs" => p.epochs = v.parse().map_err(|_| bad(k, &v))?,
            "learning_rate" => p.learning_rate = v.parse().map_err(|_| bad(k, &v))?,
            "l2" => p.l2 = v.parse().map_err(|_| bad(k, &v))?,
            "validation_fraction" => {
                p.validation_fraction = v.parse().map_err(|_| bad(k, &v))?;
                if !(0.0..0.9).contains(&p.validation_fraction) {
                    return Err(bad(k, &v));
                }
            }
            "seed" => p.seed = v.parse().map_err(|_| bad(k, &v))?,
            "hidden" => {
                p.hidden = v
                    .split(',')
                    .map(|h| h.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad(k, &v))?
            }
            "task" => p.task = Some(v.to_ascii_lowercase()),
            "retrain every" => {
                let i = riffle_repr::strconv::parse_interval(&v).map_err(|_| bad(k, &v))?;
                let ms = i.total_micros() / 1000;
                if ms <= 0 {
                    return Err(bad(k, &v));
                }
                retrain.every = Some(ms as u64);
            }
            "retrain after change" => {
                let pct: f64 = v.trim_end_matches('%').trim().parse().map_err(|_| bad(k, &v))?;
                if !(pct > 0.0 && pct.is_finite()) {
                    return Err(bad(k, &v));
                }
                retrain.after_change = Some(pct / 100.0);
            }
            other => return Err(AdapterError::Model(format!("unknown training option {other}"))),
        }
    }
    Ok((p, retrain))
}

/// A training query's rows as features and targets. Arrays are flattened into features; rows
/// with a NULL anywhere are left out (and counted).
pub(crate) fn training_data(
    plan: &riffle_sql::TrainPlan,
    rows: &[riffle_repr::Row],
) -> Result<(Vec<Vec<f64>>, Vec<riffle_models::train::Target>, usize), AdapterError> {
    use riffle_models::train::Target;
    let mut features = Vec::with_capacity(rows.len());
    let mut targets = Vec::with_capacity(rows.len());
    let mut skipped = 0;
    'rows: for row in rows {
        let datums = row.unpack();
        if datums.iter().any(|d| d.is_null()) {
            skipped += 1;
            continue;
        }
        let mut f = Vec::new();
        for (i, d) in datums.iter().enumerate() {
            if i == plan.target {
                continue;
            }
            match d {
                Datum::Array(items) => {
                    for item in items {
                        if item.is_null() {
                            skipped += 1;
                            continue 'rows;
                        }
                        f.push(riffle_expr::as_f64(item));
                    }
                }
                Datum::Bool(b) => f.push(*b as u8 as f64),
                other => f.push(riffle_expr::as_f64(other)),
            }
        }
        let t = match &datums[plan.target] {
            Datum::String(s) => Target::Text(s.clone()),
            Datum::Bool(b) => Target::Int(*b as i64),
            d @ (Datum::Int16(_) | Datum::Int32(_) | Datum::Int64(_)) => Target::Int(riffle_expr::as_f64(d) as i64),
            other => Target::Number(riffle_expr::as_f64(other)),
        };
        features.push(f);
        targets.push(t);
    }
    Ok((features, targets, skipped))
}

/// A training run in progress (`riffle_training_progress`).
#[derive(Clone, Debug, Default)]
pub(crate) struct TrainingStatus {
    pub algorithm: String,
    pub rows: usize,
    pub epoch: usize,
    pub epochs: usize,
    pub loss: Option<f64>,
    /// Microseconds since the epoch.
    pub started_at: i64,
}

/// One training run, as stored with the version it made.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct TrainingRun {
    pub algorithm: String,
    pub query: String,
    /// The logical time the training rows were read at (`SELECT … AS OF` reproduces them
    /// while within retention).
    pub read_at: u64,
    pub params: riffle_models::train::Params,
    pub metrics: std::collections::BTreeMap<String, f64>,
    pub key_metric: String,
    pub higher_is_better: bool,
    pub train_rows: usize,
    pub validation_rows: usize,
    pub skipped_rows: usize,
    pub seconds: f64,
}

/// What is known of one stored version of a model.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct VersionMeta {
    pub version: u64,
    pub format: String,
    pub sha256: String,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Made current (a retrained version whose validation metric was worse is not).
    pub promoted: bool,
    pub training: Option<TrainingRun>,
}

/// Whether a new run's key metric is at least as good as the current version's.
pub(crate) fn not_worse(run: &TrainingRun, current: Option<&VersionMeta>) -> bool {
    let Some(old) = current.and_then(|c| c.training.as_ref()) else {
        return true;
    };
    match (run.metrics.get(&run.key_metric), old.metrics.get(&run.key_metric)) {
        (Some(new), Some(old)) if run.higher_is_better => new >= old,
        (Some(new), Some(old)) => new <= old,
        _ => true,
    }
}
