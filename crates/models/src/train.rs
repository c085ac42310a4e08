//! Training in the database: linear regression, logistic regression and MLPs fitted with
//! candle (autograd + Adam, full batch, f64), written out as the dense safetensors models of
//! [`crate::dense`] so that a trained model is scored like any other.
//!
//! Features are standardized (mean 0, variance 1 over the training rows, as scikit-learn's
//! StandardScaler) and regression targets too; the L2 penalty applies to the weights of the
//! standardized features. The scaling is folded back into the first and last layers when the
//! model is written, so the stored model reads raw features. A deterministic split (by `seed`)
//! keeps `validation_fraction` of the rows out of training for the metrics.

use crate::{Label, ModelError};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer;
use std::collections::BTreeMap;

/// What to fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Least squares (+ L2).
    LinearRegression,
    /// Binary or multinomial logistic regression (+ L2).
    LogisticRegression,
    /// A multi-layer perceptron (ReLU), a regressor or a classifier by its target.
    Mlp,
}

impl Algorithm {
    /// From the SQL name (`LINEAR_REGRESSION`, `LOGISTIC_REGRESSION`, `MLP`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name.to_ascii_uppercase().as_str() {
            "LINEAR_REGRESSION" | "LINEAR_REG" => Algorithm::LinearRegression,
            "LOGISTIC_REGRESSION" | "LOGISTIC_REG" => Algorithm::LogisticRegression,
            "MLP" => Algorithm::Mlp,
            _ => return None,
        })
    }

    /// Its SQL name.
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::LinearRegression => "LINEAR_REGRESSION",
            Algorithm::LogisticRegression => "LOGISTIC_REGRESSION",
            Algorithm::Mlp => "MLP",
        }
    }
}

/// Training options (`WITH (…)`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    /// Full-batch optimizer steps.
    pub epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// L2 penalty: `l2 / 2 · Σ w²` added to the mean loss.
    pub l2: f64,
    /// Share of rows held out for the validation metrics (0: metrics on the training rows).
    pub validation_fraction: f64,
    /// Seed of the split and of an MLP's initial weights.
    pub seed: u64,
    /// MLP hidden layer widths.
    pub hidden: Vec<usize>,
    /// MLP: "classification" or "regression" (default: classification for integer, boolean and
    /// text targets, regression for the others).
    pub task: Option<String>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            epochs: 1000,
            learning_rate: 0.05,
            l2: 0.0,
            validation_fraction: 0.2,
            seed: 42,
            hidden: vec![16],
            task: None,
        }
    }
}

/// A target value.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub enum Target {
    /// A number (regression, or an integer class).
    Number(f64),
    /// An integer class label.
    Int(i64),
    /// A text class label.
    Text(String),
}

/// The outcome of a training run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Trained {
    /// The model, as a dense safetensors file with its description in the metadata.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Validation metrics: loss and, for regression, r2 and mae; for classification, accuracy,
    /// log_loss and (binary) auc.
    pub metrics: BTreeMap<String, f64>,
    /// The metric that decides promotion, and whether higher is better.
    pub key_metric: (String, bool),
    /// Rows used for training and for validation.
    pub train_rows: usize,
    /// Rows held out.
    pub validation_rows: usize,
}

fn err(e: candle_core::Error) -> ModelError {
    ModelError::Eval(format!("training: {e}"))
}

/// splitmix64: a small deterministic generator for the split and initial weights.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Fits `algorithm` to `features` (one row of numbers per example) and `targets`.
pub fn train(algorithm: Algorithm, features: &[Vec<f64>], targets: &[Target], params: &Params) -> Result<Trained, ModelError> {
    train_with_progress(algorithm, features, targets, params, &|_, _| {})
}

/// [`train`], calling `progress(epoch, training loss)` about a hundred times along the way.
pub fn train_with_progress(
    algorithm: Algorithm,
    features: &[Vec<f64>],
    targets: &[Target],
    params: &Params,
    progress: &dyn Fn(usize, f64),
) -> Result<Trained, ModelError> {
    let n = features.len();
    if n < 2 {
        return Err(ModelError::Invalid(format!("training needs at least 2 rows, got {n}")));
    }
    let width = features[0].len();
    if width == 0 || features.iter().any(|r| r.len() != width) {
        return Err(ModelError::Invalid(
            "every training row needs the same, non-zero number of features".into(),
        ));
    }
    if features.iter().flatten().any(|v| !v.is_finite()) {
        return Err(ModelError::Invalid(
            "training features must be finite numbers (filter NULLs out)".into(),
        ));
    }
    let classify = match (algorithm, params.task.as_deref()) {
        (Algorithm::LinearRegression, _) => false,
        (Algorithm::LogisticRegression, _) => true,
        (Algorithm::Mlp, Some("classification")) => true,
        (Algorithm::Mlp, Some("regression")) => false,
        (Algorithm::Mlp, Some(other)) => return Err(ModelError::Invalid(format!("task '{other}' (classification or regression)"))),
        (Algorithm::Mlp, None) => !targets.iter().all(|t| matches!(t, Target::Number(_))),
    };
    // Classes, sorted (scikit-learn's order), and each row's class index.
    let (labels, y): (Option<Vec<Label>>, Vec<f64>) = if classify {
        let mut classes: Vec<Target> = Vec::new();
        for t in targets {
            if !classes.contains(t) {
                classes.push(t.clone());
            }
        }
        classes.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        if classes.len() < 2 {
            return Err(ModelError::Invalid(
                "classification needs at least two classes in the target".into(),
            ));
        }
        let y = targets
            .iter()
            .map(|t| classes.iter().position(|c| c == t).expect("seen") as f64)
            .collect();
        let labels = classes
            .into_iter()
            .map(|c| match c {
                Target::Int(i) => Label::Int(i),
                Target::Number(v) if v.fract() == 0.0 => Label::Int(v as i64),
                Target::Number(v) => Label::String(v.to_string()),
                Target::Text(s) => Label::String(s),
            })
            .collect();
        (Some(labels), y)
    } else {
        let y: Result<Vec<f64>, ModelError> = targets
            .iter()
            .map(|t| match t {
                Target::Number(v) if v.is_finite() => Ok(*v),
                Target::Int(i) => Ok(*i as f64),
                _ => Err(ModelError::Invalid("a regression target must be a finite number".into())),
            })
            .collect();
        (None, y?)
    };
    // The split: a seeded shuffle, the last `validation_fraction` held out.
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng(params.seed);
    for i in (1..n).rev() {
        order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
    }
    let held = ((n as f64) * params.validation_fraction.clamp(0.0, 0.9)).round() as usize;
    let held = if params.validation_fraction > 0.0 { held.max(1) } else { 0 };
    let (train_idx, valid_idx) = order.split_at(n - held);
    let mut train_idx = train_idx.to_vec();
    train_idx.sort_unstable();
    let valid_idx: Vec<usize> = if valid_idx.is_empty() {
        train_idx.clone()
    } else {
        valid_idx.to_vec()
    };

    // Standardize features (and a regression target) over the training rows.
    let mean: Vec<f64> = (0..width)
        .map(|j| train_idx.iter().map(|&i| features[i][j]).sum::<f64>() / train_idx.len() as f64)
        .collect();
    let std: Vec<f64> = (0..width)
        .map(|j| {
            let v = train_idx.iter().map(|&i| (features[i][j] - mean[j]).powi(2)).sum::<f64>() / train_idx.len() as f64;
            if v > 0.0 {
                v.sqrt()
            } else {
                1.0
            }
        })
        .collect();
    let (ym, ys) = if classify {
        (0.0, 1.0)
    } else {
        let m = train_idx.iter().map(|&i| y[i]).sum::<f64>() / train_idx.len() as f64;
        let v = train_idx.iter().map(|&i| (y[i] - m).powi(2)).sum::<f64>() / train_idx.len() as f64;
        (m, if v > 0.0 { v.sqrt() } else { 1.0 })
    };
    // The process's device: the CPU, or the GPU `--device cuda` chose in a `cuda` build.
    let dev = crate::device();
    let matrix = |idx: &[usize]| -> Result<Tensor, ModelError> {
        let flat: Vec<f64> = idx
            .iter()
            .flat_map(|&i| {
                features[i]
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (v - mean[j]) / std[j])
                    .collect::<Vec<_>>()
            })
            .collect();
        Tensor::from_vec(flat, (idx.len(), width), &dev).map_err(err)
    };
    let x = matrix(&train_idx)?;
    let classes = labels.as_ref().map_or(0, |l| l.len());
    let outputs = if classes > 2 { classes } else { 1 };

    // Layers: [width → hidden… → outputs]; linear models have one layer, zero-initialized.
    let mut sizes = vec![width];
    if algorithm == Algorithm::Mlp {
        sizes.extend(params.hidden.iter().copied().filter(|h| *h > 0));
    }
    sizes.push(outputs);
    let mut vars = Vec::new();
    for k in 0..sizes.len() - 1 {
        let (fan_in, fan_out) = (sizes[k], sizes[k + 1]);
        let w: Vec<f64> = if algorithm == Algorithm::Mlp {
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
            (0..fan_in * fan_out).map(|_| (rng.unit() * 2.0 - 1.0) * limit).collect()
        } else {
            vec![0.0; fan_in * fan_out]
        };
        let w = Var::from_tensor(&Tensor::from_vec(w, (fan_in, fan_out), &dev).map_err(err)?).map_err(err)?;
        let b = Var::from_tensor(&Tensor::zeros(fan_out, DType::F64, &dev).map_err(err)?).map_err(err)?;
        vars.push((w, b));
    }
    let forward = |x: &Tensor| -> Result<Tensor, candle_core::Error> {
        let mut h = x.clone();
        for (k, (w, b)) in vars.iter().enumerate() {
            h = h.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            if k + 1 < vars.len() {
                h = h.relu()?;
            }
        }
        Ok(h)
    };
    let target_of = |idx: &[usize]| -> Result<Tensor, ModelError> {
        if classes > 2 {
            let mut onehot = vec![0.0; idx.len() * classes];
            for (r, &i) in idx.iter().enumerate() {
                onehot[r * classes + y[i] as usize] = 1.0;
            }
            Tensor::from_vec(onehot, (idx.len(), classes), &dev).map_err(err)
        } else {
            let v: Vec<f64> = idx.iter().map(|&i| (y[i] - ym) / ys).collect();
            Tensor::from_vec(v, (idx.len(), 1), &dev).map_err(err)
        }
    };
    let loss_of = |logits: &Tensor, t: &Tensor| -> Result<Tensor, candle_core::Error> {
        if !classify {
            return (logits - t)?.sqr()?.mean_all();
        }
        if classes > 2 {
            let logp = candle_nn::ops::log_softmax(logits, 1)?;
            return (logp * t)?.sum(1)?.neg()?.mean_all();
        }
        // Binary cross-entropy with logits: max(z, 0) − z·t + log(1 + e^−|z|).
        let relu = logits.relu()?;
        let soft = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
        ((relu - (logits * t)?)? + soft)?.mean_all()
    };
    let t = target_of(&train_idx)?;
    let mut opt = candle_nn::AdamW::new(
        vars.iter().flat_map(|(w, b)| [w.clone(), b.clone()]).collect(),
        candle_nn::ParamsAdamW {
            lr: params.learning_rate,
            weight_decay: 0.0,
            ..Default::default()
        },
    )
    .map_err(err)?;
    let every = (params.epochs / 100).max(1);
    for epoch in 0..params.epochs.max(1) {
        let mut loss = loss_of(&forward(&x).map_err(err)?, &t).map_err(err)?;
        if epoch % every == 0 || epoch + 1 == params.epochs {
            progress(epoch + 1, loss.to_scalar::<f64>().map_err(err)?);
        }
        if params.l2 > 0.0 {
            for (w, _) in &vars {
                loss = (loss
                    + w.as_tensor()
                        .sqr()
                        .and_then(|s| s.sum_all())
                        .and_then(|s| s.affine(params.l2 / 2.0, 0.0))
                        .map_err(err)?)
                .map_err(err)?;
            }
        }
        opt.backward_step(&loss).map_err(err)?;
    }

    // Metrics on the validation rows (in original units).
    let xv = matrix(&valid_idx)?;
    let logits = forward(&xv).map_err(err)?;
    let valid_loss = loss_of(&logits, &target_of(&valid_idx)?)
        .and_then(|l| l.to_scalar::<f64>())
        .map_err(err)?;
    let out: Vec<Vec<f64>> = logits.to_vec2().map_err(err)?;
    let mut metrics = BTreeMap::new();
    metrics.insert("loss".to_string(), valid_loss);
    let key_metric = if classify {
        let probs: Vec<Vec<f64>> = out.iter().map(|r| crate::dense::probabilities(r)).collect();
        let truth: Vec<usize> = valid_idx.iter().map(|&i| y[i] as usize).collect();
        let correct = probs
            .iter()
            .zip(&truth)
            .filter(|(p, t)| p.iter().enumerate().fold(0, |b, (i, v)| if *v > p[b] { i } else { b }) == **t)
            .count();
        metrics.insert("accuracy".into(), correct as f64 / truth.len() as f64);
        let log_loss = probs.iter().zip(&truth).map(|(p, t)| -(p[*t].clamp(1e-15, 1.0)).ln()).sum::<f64>() / truth.len() as f64;
        metrics.insert("log_loss".into(), log_loss);
        if classes == 2 {
            if let Some(auc) = auc(&probs.iter().map(|p| p[1]).collect::<Vec<_>>(), &truth) {
                metrics.insert("auc".into(), auc);
            }
        }
        ("accuracy".to_string(), true)
    } else {
        let pred: Vec<f64> = out.iter().map(|r| r[0] * ys + ym).collect();
        let truth: Vec<f64> = valid_idx.iter().map(|&i| y[i]).collect();
        let mean_t = truth.iter().sum::<f64>() / truth.len() as f64;
        let ss_res: f64 = pred.iter().zip(&truth).map(|(p, t)| (p - t).powi(2)).sum();
        let ss_tot: f64 = truth.iter().map(|t| (t - mean_t).powi(2)).sum();
        metrics.insert("r2".into(), if ss_tot > 0.0 { 1.0 - ss_res / ss_tot } else { 0.0 });
        metrics.insert(
            "mae".into(),
            pred.iter().zip(&truth).map(|(p, t)| (p - t).abs()).sum::<f64>() / truth.len() as f64,
        );
        ("r2".to_string(), true)
    };

    // Fold the scaling back in: the first layer reads raw features, the last gives raw targets.
    let mut layers: Vec<(Vec<Vec<f64>>, Vec<f64>)> = Vec::new();
    for (w, b) in &vars {
        layers.push((w.as_tensor().to_vec2().map_err(err)?, b.as_tensor().to_vec1().map_err(err)?));
    }
    {
        let (w, b) = &mut layers[0];
        for (j, row) in w.iter_mut().enumerate() {
            for (o, v) in row.iter_mut().enumerate() {
                b[o] -= *v * mean[j] / std[j];
                *v /= std[j];
            }
        }
    }
    if !classify {
        let (w, b) = layers.last_mut().expect("a layer");
        for row in w.iter_mut() {
            for v in row.iter_mut() {
                *v *= ys;
            }
        }
        for v in b.iter_mut() {
            *v = *v * ys + ym;
        }
    }
    let bytes = write_dense(algorithm, &layers, labels.as_deref())?;
    Ok(Trained {
        bytes,
        metrics,
        key_metric,
        train_rows: train_idx.len(),
        validation_rows: if held == 0 { 0 } else { valid_idx.len() },
    })
}

/// Area under the ROC curve (ties count half).
fn auc(scores: &[f64], truth: &[usize]) -> Option<f64> {
    let pos: Vec<f64> = scores.iter().zip(truth).filter(|(_, t)| **t == 1).map(|(s, _)| *s).collect();
    let neg: Vec<f64> = scores.iter().zip(truth).filter(|(_, t)| **t == 0).map(|(s, _)| *s).collect();
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for p in &pos {
        for q in &neg {
            wins += if p > q {
                1.0
            } else if p == q {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(wins / (pos.len() * neg.len()) as f64)
}

/// Writes layers as a dense safetensors model ([`crate::dense`]).
fn write_dense(algorithm: Algorithm, layers: &[(Vec<Vec<f64>>, Vec<f64>)], labels: Option<&[Label]>) -> Result<Vec<u8>, ModelError> {
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    let mut weights = Vec::new();
    let mut biases = Vec::new();
    for (k, (w, b)) in layers.iter().enumerate() {
        let (rows, cols) = (w.len(), w.first().map_or(0, |r| r.len()));
        let flat: Vec<f64> = w.iter().flatten().copied().collect();
        tensors.push((format!("w{k}"), Tensor::from_vec(flat, (rows, cols), &Device::Cpu).map_err(err)?));
        tensors.push((format!("b{k}"), Tensor::from_vec(b.clone(), cols, &Device::Cpu).map_err(err)?));
        weights.push(format!("w{k}"));
        biases.push(format!("b{k}"));
    }
    let kind = match (algorithm, labels) {
        (Algorithm::Mlp, _) => "mlp",
        (_, Some(_)) => "logistic",
        (_, None) => "linear",
    };
    let classes: Option<Vec<serde_json::Value>> = labels.map(|l| {
        l.iter()
            .map(|c| match c {
                Label::Int(i) => serde_json::json!(i),
                Label::String(s) => serde_json::json!(s),
            })
            .collect()
    });
    let description = serde_json::json!({
        "kind": kind, "weights": weights, "biases": biases, "activation": "relu", "classes": classes,
    });
    let mut metadata = std::collections::HashMap::new();
    metadata.insert("riffle".to_string(), description.to_string());
    let path = std::env::temp_dir().join(format!(
        "riffle-train-{}-{:?}.safetensors",
        std::process::id(),
        std::thread::current().id()
    ));
    candle_core::safetensors::save(&tensors.iter().cloned().collect::<std::collections::HashMap<_, _>>(), &path).map_err(err)?;
    // candle's save has no metadata: rewrite the header with it.
    let raw = std::fs::read(&path).map_err(|e| ModelError::Eval(e.to_string()))?;
    let _ = std::fs::remove_file(&path);
    with_metadata(&raw, &metadata)
}

/// A safetensors file with `metadata` in its header.
fn with_metadata(raw: &[u8], metadata: &std::collections::HashMap<String, String>) -> Result<Vec<u8>, ModelError> {
    let bad = || ModelError::Eval("writing the trained model".into());
    let len = u64::from_le_bytes(raw.get(..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(raw.get(8..8 + len).ok_or_else(bad)?).map_err(|_| bad())?;
    header["__metadata__"] = serde_json::to_value(metadata).map_err(|_| bad())?;
    let mut text = header.to_string().into_bytes();
    while text.len() % 8 != 0 {
        text.push(b' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text);
    out.extend_from_slice(&raw[8 + len..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_known_answers() {
        let mut rng = Rng(7);
        let x: Vec<Vec<f64>> = (0..200).map(|_| vec![rng.unit() * 10.0, rng.unit() * 4.0 - 2.0]).collect();
        // y = 3·x0 − 2·x1 + 5, exactly.
        let y: Vec<Target> = x.iter().map(|r| Target::Number(3.0 * r[0] - 2.0 * r[1] + 5.0)).collect();
        let t = train(Algorithm::LinearRegression, &x, &y, &Params::default()).unwrap();
        assert!(t.metrics["r2"] > 0.9999, "{:?}", t.metrics);
        let m = crate::Model::load(&t.bytes, "safetensors", None).unwrap();
        let s = m.score(&[vec![1.0, 1.0], vec![0.0, 0.0]]).unwrap();
        assert!(
            (s.values[0] - 6.0).abs() < 1e-3 && (s.values[1] - 5.0).abs() < 1e-3,
            "{:?}",
            s.values
        );
        // Separable classes by x0 > 5, labels as text.
        let c: Vec<Target> = x
            .iter()
            .map(|r| Target::Text(if r[0] > 5.0 { "hi" } else { "lo" }.into()))
            .collect();
        let t = train(Algorithm::LogisticRegression, &x, &c, &Params::default()).unwrap();
        assert!(t.metrics["accuracy"] > 0.95 && t.metrics["auc"] > 0.99, "{:?}", t.metrics);
        let m = crate::Model::load(&t.bytes, "safetensors", None).unwrap();
        let s = m.score(&[vec![9.0, 0.0], vec![1.0, 0.0]]).unwrap();
        assert_eq!(s.labels, vec![Label::String("hi".into()), Label::String("lo".into())]);
        // Three classes, with an MLP.
        let k: Vec<Target> = x.iter().map(|r| Target::Int((r[0] / 3.4) as i64)).collect();
        let p = Params {
            epochs: 400,
            ..Params::default()
        };
        let t = train(Algorithm::Mlp, &x, &k, &p).unwrap();
        assert!(t.metrics["accuracy"] > 0.9, "{:?}", t.metrics);
        // Deterministic: the same inputs give the same bytes.
        assert_eq!(train(Algorithm::Mlp, &x, &k, &p).unwrap().bytes, t.bytes);
    }
}
