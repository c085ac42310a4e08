//! Models: loading and batch scoring.
//!
//! A model is loaded once from its stored bytes ([`Model::load`]) and then scores whole batches
//! of feature rows ([`Model::score`]): one pass per operator over the batch, never one model call
//! per row.
//!
//! ONNX models made by scikit-learn (skl2onnx) use the ONNX-ML operators, which candle-onnx does
//! not implement; Riffle evaluates them natively ([`mlops`]): LinearRegressor, LinearClassifier,
//! TreeEnsembleRegressor, TreeEnsembleClassifier, Scaler, Normalizer, Imputer, with the
//! plumbing skl2onnx emits around them (ZipMap, Cast, Identity, Concat). A graph of standard
//! operators only (a PyTorch export) is evaluated by candle-onnx. Anything else is refused when
//! the model is created, naming the operator.
//!
//! Sentence-embedding BERTs in the Hugging Face folder layout ([`bert`]) embed batches of texts.
//!
//! Tensor work runs on the process's [`device`]: the CPU, or with the `cuda` feature a GPU
//! chosen by the server's `--device` flag.
#![warn(missing_docs)]

pub mod bert;
pub mod dense;
pub mod mlops;
pub mod train;

use candle_onnx::onnx::ModelProto;
use prost::Message;
use sha2::Digest;

/// Why a model cannot be loaded or scored.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The bytes are not a model of the stated format.
    #[error("invalid model: {0}")]
    Invalid(String),
    /// The model uses something Riffle does not evaluate.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// Scoring failed (wrong number of features, …).
    #[error("model evaluation failed: {0}")]
    Eval(String),
}

/// A class label, as the model names its classes.
#[derive(Clone, Debug, PartialEq)]
pub enum Label {
    /// Integer class labels.
    Int(i64),
    /// String class labels.
    String(String),
}

/// What a model predicts.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// One number per row.
    Regression,
    /// A class per row, with probabilities in `labels` order.
    Classification {
        /// The classes.
        labels: Vec<Label>,
    },
    /// An embedding (a vector of `dim` float4s) per text.
    Embedding {
        /// Width of the vectors.
        dim: usize,
    },
}

/// A model's interface, as `riffle_models` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    /// Number of input features.
    pub inputs: usize,
    /// What it predicts.
    pub output: Output,
    /// The operators it runs, in graph order.
    pub operators: Vec<String>,
}

/// The scores of one batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scores {
    /// Regression: the value per row.
    pub values: Vec<f64>,
    /// Classification: the label per row.
    pub labels: Vec<Label>,
    /// Classification: the class probabilities per row, in the signature's label order.
    pub probabilities: Vec<Vec<f64>>,
}

enum Engine {
    /// A sentence-embedding BERT.
    Bert(Box<bert::Bert>),
    /// Linear, logistic or MLP from safetensors.
    Dense(dense::Dense),
    /// ONNX-ML operators, evaluated natively.
    Ml(mlops::Graph),
    /// Standard operators, evaluated by candle-onnx.
    Candle {
        model: Box<ModelProto>,
        input: String,
        output: String,
    },
}

/// A loaded model.
pub struct Model {
    engine: Engine,
    /// Its interface.
    pub signature: Signature,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: String,
    /// Batches scored and rows in them, since loading (`riffle_models` shows them).
    pub batches: std::sync::atomic::AtomicU64,
    /// Rows scored since loading.
    pub rows: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("signature", &self.signature)
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// Reads what `CREATE MODEL … FROM 'path'` names: a model file, or a Hugging Face model folder
/// (packed into one blob, see [`bert::pack_folder`]).
pub fn read_model(path: &std::path::Path, format: Option<&str>) -> Result<Vec<u8>, ModelError> {
    if path.is_dir() || format.is_some_and(|f| f.eq_ignore_ascii_case("hf-bert")) {
        return bert::pack_folder(path);
    }
    std::fs::read(path).map_err(|e| ModelError::Invalid(format!("could not read model file \"{}\": {e}", path.display())))
}

/// The format of stored model bytes, when CREATE MODEL did not state it: a packed folder is
/// "hf-bert", a file that parses as safetensors is "safetensors", anything else "onnx".
pub fn detect_format(bytes: &[u8]) -> &'static str {
    if bert::is_packed(bytes) {
        "hf-bert"
    } else if safetensors::SafeTensors::read_metadata(bytes).is_ok() {
        "safetensors"
    } else {
        "onnx"
    }
}

/// The hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Model {
    /// Loads a model of `format` ("onnx", or "safetensors" with its JSON description in
    /// `config` or the file's metadata) from its bytes, checking that it can be evaluated.
    pub fn load(bytes: &[u8], format: &str, config: Option<&str>) -> Result<Model, ModelError> {
        if format.eq_ignore_ascii_case("hf-bert") {
            let b = bert::Bert::load(bytes, &device())?;
            let signature = Signature {
                inputs: 1,
                output: Output::Embedding { dim: b.dim },
                operators: vec!["BertModel".into(), b.pooling_name().into()],
            };
            return Ok(Model {
                engine: Engine::Bert(Box::new(b)),
                signature,
                sha256: sha256_hex(bytes),
                batches: Default::default(),
                rows: Default::default(),
            });
        }
        if format.eq_ignore_ascii_case("safetensors") {
            let (dense, signature) = dense::Dense::load(bytes, config)?;
            return Ok(Model {
                engine: Engine::Dense(dense),
                signature,
                sha256: sha256_hex(bytes),
                batches: Default::default(),
                rows: Default::default(),
            });
        }
        if !format.eq_ignore_ascii_case("onnx") {
            return Err(ModelError::Unsupported(format!(
                "format '{format}' (supported: 'onnx', 'safetensors', 'hf-bert')"
            )));
        }
        let proto = ModelProto::decode(bytes).map_err(|e| ModelError::Invalid(format!("not an ONNX model: {e}")))?;
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| ModelError::Invalid("the ONNX model has no graph".into()))?;
        if graph.node.is_empty() {
            return Err(ModelError::Invalid("the ONNX graph has no operators".into()));
        }
        let sha256 = sha256_hex(bytes);
        let has_ml = graph.node.iter().any(|n| n.domain == "ai.onnx.ml");
        if has_ml {
            let g = mlops::Graph::from_proto(graph)?;
            let signature = g.signature();
            return Ok(Model {
                engine: Engine::Ml(g),
                signature,
                sha256,
                batches: Default::default(),
                rows: Default::default(),
            });
        }
        // Standard operators only: candle-onnx. Check each is one candle-onnx knows.
        for n in &graph.node {
            if !CANDLE_OPS.contains(&n.op_type.as_str()) {
                return Err(ModelError::Unsupported(format!("ONNX operator {} is not supported", n.op_type)));
            }
        }
        let input = graph
            .input
            .iter()
            .find(|i| !graph.initializer.iter().any(|t| t.name == i.name))
            .ok_or_else(|| ModelError::Invalid("the graph has no input".into()))?;
        let inputs =
            mlops::feature_count(input).ok_or_else(|| ModelError::Invalid(format!("input {} has no fixed feature count", input.name)))?;
        let output = graph
            .output
            .first()
            .ok_or_else(|| ModelError::Invalid("the graph has no output".into()))?;
        let width = mlops::feature_count(output).unwrap_or(1);
        let signature = Signature {
            inputs,
            output: if width == 1 {
                Output::Regression
            } else {
                Output::Classification {
                    labels: (0..width as i64).map(Label::Int).collect(),
                }
            },
            operators: graph.node.iter().map(|n| n.op_type.clone()).collect(),
        };
        Ok(Model {
            engine: Engine::Candle {
                input: input.name.clone(),
                output: output.name.clone(),
                model: Box::new(proto),
            },
            signature,
            sha256,
            batches: Default::default(),
            rows: Default::default(),
        })
    }

    /// A text model's token ids for `text`.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        match &self.engine {
            Engine::Bert(b) => b.tokenize(text),
            _ => Err(ModelError::Eval("this model has no tokenizer".into())),
        }
    }

    /// Embeds a batch of texts (a sentence-embedding model only).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let Engine::Bert(b) = &self.engine else {
            return Err(ModelError::Eval("this model predicts from numeric features: use predict()".into()));
        };
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.rows.fetch_add(texts.len() as u64, std::sync::atomic::Ordering::Relaxed);
        b.embed(texts)
    }

    /// Scores a batch of rows of `signature.inputs` features each.
    pub fn score(&self, rows: &[Vec<f64>]) -> Result<Scores, ModelError> {
        for r in rows {
            if r.len() != self.signature.inputs {
                return Err(ModelError::Eval(format!(
                    "expected {} features, got {}",
                    self.signature.inputs,
                    r.len()
                )));
            }
        }
        if rows.is_empty() {
            return Ok(Scores::default());
        }
        self.batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.rows.fetch_add(rows.len() as u64, std::sync::atomic::Ordering::Relaxed);
        match &self.engine {
            Engine::Bert(_) => Err(ModelError::Eval("a sentence-embedding model embeds text: use embed()".into())),
            Engine::Dense(d) => d.score(rows),
            Engine::Ml(g) => g.score(rows),
            Engine::Candle { model, input, output } => {
                let flat: Vec<f32> = rows.iter().flatten().map(|v| *v as f32).collect();
                let t = candle_core::Tensor::from_vec(flat, (rows.len(), self.signature.inputs), &candle_core::Device::Cpu)
                    .map_err(|e| ModelError::Eval(e.to_string()))?;
                let mut inputs = std::collections::HashMap::new();
                inputs.insert(input.clone(), t);
                let out = candle_onnx::simple_eval(model, inputs).map_err(|e| ModelError::Eval(e.to_string()))?;
                let y = out.get(output).ok_or_else(|| ModelError::Eval(format!("no output {output}")))?;
                let y = y
                    .to_dtype(candle_core::DType::F64)
                    .and_then(|y| y.flatten_all())
                    .and_then(|y| y.to_vec1::<f64>())
                    .map_err(|e| ModelError::Eval(e.to_string()))?;
                let width = y.len() / rows.len();
                let mut scores = Scores::default();
                for row in y.chunks(width) {
                    if width == 1 {
                        scores.values.push(row[0]);
                    } else {
                        let best = row.iter().enumerate().fold(0, |b, (i, v)| if *v > row[b] { i } else { b });
                        scores.labels.push(Label::Int(best as i64));
                        scores.probabilities.push(row.to_vec());
                    }
                }
                Ok(scores)
            }
        }
    }
}

static DEVICE: std::sync::OnceLock<candle_core::Device> = std::sync::OnceLock::new();

/// Chooses the device models are loaded onto: "cpu", or "cuda" / "cuda:N" in a build with the
/// `cuda` feature. Call once at startup, before any model loads.
pub fn set_device(name: &str) -> Result<(), ModelError> {
    let device = match name {
        "cpu" => candle_core::Device::Cpu,
        cuda if cuda == "cuda" || cuda.starts_with("cuda:") => {
            let ordinal = match cuda.strip_prefix("cuda:") {
                Some(n) => n.parse().map_err(|_| ModelError::Invalid(format!("bad device {name:?}")))?,
                None => 0,
            };
            if !cfg!(feature = "cuda") {
                return Err(ModelError::Unsupported(format!(
                    "device {name:?}: this riffle was built without the `cuda` feature"
                )));
            }
            candle_core::Device::new_cuda(ordinal).map_err(|e| ModelError::Unsupported(format!("device {name:?}: {e}")))?
        }
        _ => return Err(ModelError::Invalid(format!("unknown device {name:?} (cpu, cuda, cuda:N)"))),
    };
    DEVICE
        .set(device)
        .map_err(|_| ModelError::Invalid("the model device was already chosen".into()))
}

/// The device models run on (the CPU unless [`set_device`] chose another).
pub fn device() -> candle_core::Device {
    DEVICE.get().cloned().unwrap_or(candle_core::Device::Cpu)
}

/// Standard ONNX operators candle-onnx evaluates (a PyTorch MLP or linear export).
const CANDLE_OPS: &[&str] = &[
    "Add",
    "Sub",
    "Mul",
    "Div",
    "MatMul",
    "Gemm",
    "Relu",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "LogSoftmax",
    "Exp",
    "Log",
    "Sqrt",
    "Reshape",
    "Flatten",
    "Transpose",
    "Concat",
    "Unsqueeze",
    "Squeeze",
    "Gather",
    "Constant",
    "Identity",
    "Cast",
    "Clip",
    "LeakyRelu",
    "Gelu",
    "Erf",
    "Pow",
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ArgMax",
    "Shape",
    "Where",
    "Equal",
    "Neg",
    "Abs",
    "Max",
    "Min",
    "Sign",
    "Slice",
    "Expand",
    "LayerNormalization",
    "Dropout",
];
