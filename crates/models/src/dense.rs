//! Linear, logistic and MLP models from safetensors weights and a small JSON description,
//! evaluated with candle.
//!
//! The description (the file's `__metadata__["riffle"]`, or `WITH (config = '…')`):
//!
//! ```json
//! {"kind": "linear" | "logistic" | "mlp",
//!  "weights": ["w0", "w1"], "biases": ["b0", "b1"],   // tensor names, layer by layer
//!  "activation": "relu" | "tanh" | "logistic" | "identity",   // MLP hidden layers
//!  "classes": [0, 1] | ["no", "yes"]}                  // absent: a regressor
//! ```
//!
//! Each weight is `[inputs, outputs]` (scikit-learn's `coefs_` layout; for a linear or logistic
//! model, `coef_.T`), each bias `[outputs]`. A classifier's last layer has one output (binary:
//! the positive class's logit) or one per class (softmax).

use crate::{Label, ModelError, Output, Scores, Signature};
use candle_core::{DType, Tensor};

#[derive(serde::Deserialize)]
struct Config {
    kind: String,
    #[serde(default)]
    weights: Vec<String>,
    #[serde(default)]
    biases: Vec<String>,
    #[serde(default)]
    activation: Option<String>,
    #[serde(default)]
    classes: Option<Vec<serde_json::Value>>,
}

/// Class probabilities from a classifier's last layer: one logit (binary: the positive class)
/// through the logistic function, or one per class through softmax.
pub(crate) fn probabilities(logits: &[f64]) -> Vec<f64> {
    if logits.len() == 1 {
        let p = 1.0 / (1.0 + (-logits[0]).exp());
        return vec![1.0 - p, p];
    }
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// A dense network: layers of `x · W + b`.
pub struct Dense {
    layers: Vec<(Tensor, Tensor)>,
    activation: String,
    labels: Option<Vec<Label>>,
    inputs: usize,
}

fn invalid(e: impl std::fmt::Display) -> ModelError {
    ModelError::Invalid(e.to_string())
}

impl Dense {
    /// Reads the weights and the description (`config`, else the file's metadata).
    pub fn load(bytes: &[u8], config: Option<&str>) -> Result<(Dense, Signature), ModelError> {
        let metadata = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| invalid(format!("not a safetensors file: {e}")))?
            .1;
        let text = match config {
            Some(c) => c.to_string(),
            None => metadata.metadata().as_ref().and_then(|m| m.get("riffle").cloned()).ok_or_else(|| {
                invalid("a safetensors model needs its description: WITH (config = '{\"kind\": …}') or metadata key \"riffle\"")
            })?,
        };
        let config: Config = serde_json::from_str(&text).map_err(|e| invalid(format!("model description: {e}")))?;
        let tensors = candle_core::safetensors::load_buffer(bytes, &crate::device()).map_err(invalid)?;
        let names: Vec<String> = if config.weights.is_empty() {
            vec!["weight".into()]
        } else {
            config.weights.clone()
        };
        let biases: Vec<String> = if config.biases.is_empty() {
            names.iter().map(|w| w.replace("weight", "bias")).collect()
        } else {
            config.biases.clone()
        };
        if names.len() != biases.len() {
            return Err(invalid("as many biases as weights are needed"));
        }
        let mut layers = Vec::new();
        let mut width: Option<usize> = None;
        let mut inputs = 0;
        for (w, b) in names.iter().zip(&biases) {
            let weight = tensors
                .get(w)
                .ok_or_else(|| invalid(format!("no tensor {w}")))?
                .to_dtype(DType::F64)
                .map_err(invalid)?;
            let (rows, cols) = weight
                .dims2()
                .map_err(|_| invalid(format!("{w} must be 2-dimensional [inputs, outputs]")))?;
            if let Some(prev) = width {
                if prev != rows {
                    return Err(invalid(format!("{w} takes {rows} inputs but the layer before gives {prev}")));
                }
            } else {
                inputs = rows;
            }
            let bias = match tensors.get(b) {
                Some(t) => t.to_dtype(DType::F64).and_then(|t| t.flatten_all()).map_err(invalid)?,
                None => Tensor::zeros(cols, DType::F64, &crate::device()).map_err(invalid)?,
            };
            if bias.dims1().map_err(invalid)? != cols {
                return Err(invalid(format!("{b} must have {cols} values")));
            }
            width = Some(cols);
            layers.push((weight, bias));
        }
        let outputs = width.unwrap_or(0);
        let labels = config.classes.as_ref().map(|c| {
            c.iter()
                .map(|v| match v {
                    serde_json::Value::Number(n) => Label::Int(n.as_i64().unwrap_or_default()),
                    other => Label::String(other.as_str().map_or_else(|| other.to_string(), str::to_string)),
                })
                .collect::<Vec<_>>()
        });
        match (config.kind.as_str(), &labels) {
            ("linear", None) | ("mlp", _) => {}
            ("logistic", Some(_)) => {}
            ("logistic", None) => return Err(invalid("a logistic model needs \"classes\"")),
            ("linear", Some(_)) => return Err(invalid("a linear model is a regressor; use \"logistic\" for classes")),
            (other, _) => return Err(ModelError::Unsupported(format!("model kind {other} (linear, logistic, mlp)"))),
        }
        if config.kind != "mlp" && layers.len() != 1 {
            return Err(invalid(format!("a {} model has one layer", config.kind)));
        }
        match &labels {
            Some(l) if !(outputs == l.len() || (outputs == 1 && l.len() == 2)) => {
                return Err(invalid(format!("{} outputs for {} classes", outputs, l.len())))
            }
            None if outputs != 1 => return Err(invalid(format!("a regressor has one output, not {outputs}"))),
            _ => {}
        }
        let activation = config.activation.clone().unwrap_or_else(|| "relu".into());
        if !["relu", "tanh", "logistic", "identity"].contains(&activation.as_str()) {
            return Err(ModelError::Unsupported(format!("activation {activation}")));
        }
        let signature = Signature {
            inputs,
            output: match &labels {
                Some(l) => Output::Classification { labels: l.clone() },
                None => Output::Regression,
            },
            operators: vec![format!("{} ({} layers, candle)", config.kind, layers.len())],
        };
        Ok((
            Dense {
                layers,
                activation,
                labels,
                inputs,
            },
            signature,
        ))
    }

    /// Scores a batch with one matrix product per layer.
    pub fn score(&self, rows: &[Vec<f64>]) -> Result<Scores, ModelError> {
        let eval = |e: candle_core::Error| ModelError::Eval(e.to_string());
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let mut x = Tensor::from_vec(flat, (rows.len(), self.inputs), &crate::device()).map_err(eval)?;
        for (i, (w, b)) in self.layers.iter().enumerate() {
            x = x.matmul(w).and_then(|y| y.broadcast_add(b)).map_err(eval)?;
            if i + 1 < self.layers.len() {
                x = match self.activation.as_str() {
                    "relu" => x.relu(),
                    "tanh" => x.tanh(),
                    "logistic" => x.neg().and_then(|n| n.exp()).and_then(|e| e + 1.0).and_then(|d| d.recip()),
                    _ => Ok(x),
                }
                .map_err(eval)?;
            }
        }
        let out: Vec<Vec<f64>> = x.to_vec2().map_err(eval)?;
        let mut scores = Scores::default();
        match &self.labels {
            None => scores.values = out.into_iter().map(|r| r[0]).collect(),
            Some(labels) => {
                for r in out {
                    let probs = probabilities(&r);
                    let best = probs.iter().enumerate().fold(0, |b, (i, v)| if *v > probs[b] { i } else { b });
                    scores.labels.push(labels[best].clone());
                    scores.probabilities.push(probs);
                }
            }
        }
        Ok(scores)
    }
}
