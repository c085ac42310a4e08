//! The ONNX-ML operators scikit-learn's converters emit, evaluated natively over a batch.
//!
//! Semantics follow the ONNX-ML operator specification as onnxruntime implements it (binary
//! classifiers with one score column produce `[-s, s]` before the post transform, and so on);
//! tests compare every supported model kind with scikit-learn's own predictions.

use crate::{Label, ModelError, Output, Scores, Signature};
use candle_onnx::onnx::{AttributeProto, GraphProto, NodeProto, TensorProto, ValueInfoProto};
use std::collections::HashMap;

/// A value flowing between operators: a batch of rows, or a label per row.
#[derive(Clone, Debug)]
enum Value {
    /// `rows × cols`, row-major.
    Matrix {
        cols: usize,
        data: Vec<f64>,
    },
    Labels(Vec<Label>),
}

impl Value {
    fn matrix(&self, what: &str) -> Result<(usize, &[f64]), ModelError> {
        match self {
            Value::Matrix { cols, data } => Ok((*cols, data)),
            Value::Labels(_) => Err(ModelError::Eval(format!("{what} expects numbers, got labels"))),
        }
    }
}

/// The number of features of an input or output: its second dimension.
pub(crate) fn feature_count(v: &ValueInfoProto) -> Option<usize> {
    use candle_onnx::onnx::tensor_shape_proto::dimension::Value as D;
    use candle_onnx::onnx::type_proto::Value as T;
    let T::TensorType(t) = v.r#type.as_ref()?.value.as_ref()? else {
        return None;
    };
    let dims = &t.shape.as_ref()?.dim;
    match dims.get(1).and_then(|d| d.value.as_ref()) {
        Some(D::DimValue(n)) if *n > 0 => Some(*n as usize),
        _ if dims.len() == 1 => Some(1),
        _ => None,
    }
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn floats(node: &NodeProto, name: &str) -> Vec<f64> {
    match attr(node, name) {
        None => Vec::new(),
        Some(a) if !a.floats.is_empty() => a.floats.iter().map(|v| *v as f64).collect(),
        Some(a) => a.t.as_ref().map(tensor_f64).unwrap_or_default(),
    }
}

/// Floats from `name`, or from `name_as_tensor` (how newer opsets store doubles).
fn floats_or_tensor(node: &NodeProto, name: &str) -> Vec<f64> {
    let v = floats(node, name);
    if v.is_empty() {
        floats(node, &format!("{name}_as_tensor"))
    } else {
        v
    }
}

fn tensor_f64(t: &TensorProto) -> Vec<f64> {
    if !t.double_data.is_empty() {
        return t.double_data.clone();
    }
    if !t.float_data.is_empty() {
        return t.float_data.iter().map(|v| *v as f64).collect();
    }
    if !t.int64_data.is_empty() {
        return t.int64_data.iter().map(|v| *v as f64).collect();
    }
    if !t.int32_data.is_empty() {
        return t.int32_data.iter().map(|v| *v as f64).collect();
    }
    // raw_data: little-endian, by data_type (1 = float, 6 = int32, 7 = int64, 11 = double).
    match t.data_type {
        7 => t
            .raw_data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
            .collect(),
        6 => t
            .raw_data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64)
            .collect(),
        11 => t
            .raw_data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
        _ => t
            .raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64)
            .collect(),
    }
}

fn ints(node: &NodeProto, name: &str) -> Vec<i64> {
    attr(node, name).map(|a| a.ints.clone()).unwrap_or_default()
}

fn int(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn string(node: &NodeProto, name: &str) -> Option<String> {
    attr(node, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

fn strings(node: &NodeProto, name: &str) -> Vec<String> {
    attr(node, name)
        .map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
        .unwrap_or_default()
}

fn class_labels(node: &NodeProto) -> Vec<Label> {
    let s = strings(node, "classlabels_strings");
    if !s.is_empty() {
        return s.into_iter().map(Label::String).collect();
    }
    ints(node, "classlabels_ints")
        .into_iter()
        .chain(ints(node, "classlabels_int64s"))
        .map(Label::Int)
        .collect()
}

/// The ONNX-ML post transforms.
#[derive(Clone, Copy, Debug)]
enum Post {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
    Probit,
}

fn post(node: &NodeProto) -> Result<Post, ModelError> {
    Ok(match string(node, "post_transform").as_deref().unwrap_or("NONE") {
        "NONE" => Post::None,
        "LOGISTIC" => Post::Logistic,
        "SOFTMAX" => Post::Softmax,
        "SOFTMAX_ZERO" => Post::SoftmaxZero,
        "PROBIT" => Post::Probit,
        other => return Err(ModelError::Unsupported(format!("post_transform {other}"))),
    })
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, as onnxruntime's
/// `ComputeProbit` uses an approximation too).
fn probit(p: f64) -> f64 {
    let sign = if p < 0.5 { -1.0 } else { 1.0 };
    let q = if p < 0.5 { p } else { 1.0 - p };
    let t = (-2.0 * q.max(1e-300).ln()).sqrt();
    let num = 2.515517 + 0.802853 * t + 0.010328 * t * t;
    let den = 1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t;
    sign * (t - num / den)
}

fn apply_post(p: Post, row: &mut [f64]) {
    match p {
        Post::None => {}
        Post::Logistic => row.iter_mut().for_each(|v| *v = sigmoid(*v)),
        Post::Probit => row.iter_mut().for_each(|v| *v = probit(*v)),
        Post::Softmax | Post::SoftmaxZero => {
            let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for v in row.iter_mut() {
                if matches!(p, Post::SoftmaxZero) && *v == 0.0 {
                    continue;
                }
                *v = (*v - max).exp();
                sum += *v;
            }
            if sum > 0.0 {
                row.iter_mut().for_each(|v| *v /= sum);
            }
        }
    }
}

fn argmax(row: &[f64]) -> usize {
    row.iter().enumerate().fold(0, |best, (i, v)| if *v > row[best] { i } else { best })
}

/// One tree ensemble, flattened for traversal.
#[derive(Clone, Debug)]
struct Trees {
    /// Per node: feature, threshold, mode, true child index, false child index, missing→true.
    nodes: Vec<(usize, f64, Mode, usize, usize, bool)>,
    /// The root node index of each tree.
    roots: Vec<usize>,
    /// Per node: leaf weights (target or class, weight).
    leaf_weights: Vec<Vec<(usize, f64)>>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

impl Trees {
    fn from_node(node: &NodeProto, prefix: &str) -> Result<Trees, ModelError> {
        let tree_ids = ints(node, "nodes_treeids");
        let node_ids = ints(node, "nodes_nodeids");
        let features = ints(node, "nodes_featureids");
        let values = floats_or_tensor(node, "nodes_values");
        let modes = strings(node, "nodes_modes");
        let trues = ints(node, "nodes_truenodeids");
        let falses = ints(node, "nodes_falsenodeids");
        let missing = ints(node, "nodes_missing_value_tracks_true");
        let n = tree_ids.len();
        if [node_ids.len(), features.len(), modes.len(), trues.len(), falses.len()]
            .iter()
            .any(|l| *l != n)
            || values.len() != n
        {
            return Err(ModelError::Invalid(format!("{}: inconsistent node attributes", node.op_type)));
        }
        let index: HashMap<(i64, i64), usize> = (0..n).map(|i| ((tree_ids[i], node_ids[i]), i)).collect();
        let mut nodes = Vec::with_capacity(n);
        let mut roots = Vec::new();
        for i in 0..n {
            let mode = match modes[i].as_str() {
                "BRANCH_LEQ" => Mode::Leq,
                "BRANCH_LT" => Mode::Lt,
                "BRANCH_GTE" => Mode::Gte,
                "BRANCH_GT" => Mode::Gt,
                "BRANCH_EQ" => Mode::Eq,
                "BRANCH_NEQ" => Mode::Neq,
                "LEAF" => Mode::Leaf,
                other => return Err(ModelError::Unsupported(format!("tree node mode {other}"))),
            };
            let child = |id: i64| -> Result<usize, ModelError> {
                if mode == Mode::Leaf {
                    return Ok(0);
                }
                index
                    .get(&(tree_ids[i], id))
                    .copied()
                    .ok_or_else(|| ModelError::Invalid(format!("tree {} has no node {id}", tree_ids[i])))
            };
            nodes.push((
                features[i].max(0) as usize,
                values[i],
                mode,
                child(trues[i])?,
                child(falses[i])?,
                missing.get(i).is_some_and(|m| *m != 0),
            ));
            if node_ids[i] == 0 {
                roots.push(i);
            }
        }
        let t_tree = ints(node, &format!("{prefix}_treeids"));
        let t_node = ints(node, &format!("{prefix}_nodeids"));
        let t_id = ints(node, &format!("{prefix}_ids"));
        let t_w = floats_or_tensor(node, &format!("{prefix}_weights"));
        if t_tree.len() != t_node.len() || t_tree.len() != t_id.len() || t_tree.len() != t_w.len() {
            return Err(ModelError::Invalid(format!("{}: inconsistent leaf attributes", node.op_type)));
        }
        let mut leaf_weights = vec![Vec::new(); n];
        for k in 0..t_tree.len() {
            let i = *index
                .get(&(t_tree[k], t_node[k]))
                .ok_or_else(|| ModelError::Invalid(format!("leaf weight for a missing node {}", t_node[k])))?;
            leaf_weights[i].push((t_id[k].max(0) as usize, t_w[k]));
        }
        Ok(Trees {
            nodes,
            roots,
            leaf_weights,
        })
    }

    /// Adds every tree's leaf weights for row `x` into `acc`.
    fn accumulate(&self, x: &[f64], acc: &mut [f64]) -> Result<(), ModelError> {
        for &root in &self.roots {
            let mut i = root;
            let mut steps = 0;
            loop {
                let (f, v, mode, t, e, missing_true) = self.nodes[i];
                if mode == Mode::Leaf {
                    for (target, w) in &self.leaf_weights[i] {
                        if let Some(a) = acc.get_mut(*target) {
                            *a += w;
                        }
                    }
                    break;
                }
                let xv = *x.get(f).ok_or_else(|| ModelError::Eval(format!("feature {f} out of range")))?;
                let go_true = if xv.is_nan() {
                    missing_true
                } else {
                    match mode {
                        Mode::Leq => xv <= v,
                        Mode::Lt => xv < v,
                        Mode::Gte => xv >= v,
                        Mode::Gt => xv > v,
                        Mode::Eq => xv == v,
                        Mode::Neq => xv != v,
                        Mode::Leaf => unreachable!(),
                    }
                };
                i = if go_true { t } else { e };
                steps += 1;
                if steps > self.nodes.len() {
                    return Err(ModelError::Invalid("a tree has a cycle".into()));
                }
            }
        }
        Ok(())
    }
}

/// An operator, prepared for evaluation.
#[derive(Clone, Debug)]
enum Op {
    LinearRegressor {
        coefficients: Vec<f64>,
        intercepts: Vec<f64>,
        targets: usize,
        post: Post,
    },
    LinearClassifier {
        coefficients: Vec<f64>,
        intercepts: Vec<f64>,
        labels: Vec<Label>,
        post: Post,
    },
    TreeRegressor {
        trees: Trees,
        targets: usize,
        base: Vec<f64>,
        average: bool,
        post: Post,
    },
    TreeClassifier {
        trees: Trees,
        labels: Vec<Label>,
        base: Vec<f64>,
        post: Post,
        binary: bool,
        positive: bool,
    },
    Scaler {
        offset: Vec<f64>,
        scale: Vec<f64>,
    },
    Normalizer {
        norm: String,
    },
    Imputer {
        values: Vec<f64>,
        replaced: f64,
    },
    Identity,
    Concat,
    /// ArrayFeatureExtractor, or Gather along axis 1: the columns at the indices (a constant).
    SelectColumns,
    /// OneHotEncoder over integer categories: each input column becomes one 0/1 column per
    /// category (row-major, as ONNX's [N, C, categories] flattened).
    OneHot {
        categories: Vec<i64>,
        /// Unknown categories give all zeros (else an error).
        zeros: bool,
    },
    /// Reshape to [-1, k] where k is the input's width: nothing to do for a matrix.
    Reshape,
    /// Elementwise arithmetic with broadcasting of a constant row (MinMaxScaler emits Mul/Add).
    Arith(char),
}

/// A graph of ONNX-ML operators.
#[derive(Clone, Debug)]
pub struct Graph {
    input: String,
    inputs: usize,
    /// Constant tensors (initializers), flattened.
    constants: HashMap<String, Vec<f64>>,
    nodes: Vec<(Op, Vec<String>, Vec<String>, String)>,
    /// The graph outputs that carry the label (or value) and the probabilities.
    label_output: String,
    proba_output: Option<String>,
    output: Output,
}

impl Graph {
    /// Prepares a graph, refusing operators Riffle does not evaluate.
    pub fn from_proto(g: &GraphProto) -> Result<Graph, ModelError> {
        let real_inputs: Vec<&ValueInfoProto> = g.input.iter().filter(|i| !g.initializer.iter().any(|t| t.name == i.name)).collect();
        let [input] = real_inputs.as_slice() else {
            return Err(ModelError::Unsupported(format!(
                "{} graph inputs (Riffle passes the features as one float tensor)",
                real_inputs.len()
            )));
        };
        let inputs = feature_count(input).ok_or_else(|| ModelError::Invalid(format!("input {} has no fixed feature count", input.name)))?;
        let mut nodes = Vec::new();
        let mut output = Output::Regression;
        for n in &g.node {
            let op = match (n.domain.as_str(), n.op_type.as_str()) {
                ("ai.onnx.ml", "LinearRegressor") => Op::LinearRegressor {
                    coefficients: floats(n, "coefficients"),
                    intercepts: floats(n, "intercepts"),
                    targets: int(n, "targets", 1).max(1) as usize,
                    post: post(n)?,
                },
                ("ai.onnx.ml", "LinearClassifier") => {
                    let labels = class_labels(n);
                    output = Output::Classification { labels: labels.clone() };
                    Op::LinearClassifier {
                        coefficients: floats(n, "coefficients"),
                        intercepts: floats(n, "intercepts"),
                        labels,
                        post: post(n)?,
                    }
                }
                ("ai.onnx.ml", "TreeEnsembleRegressor") => {
                    let aggregate = string(n, "aggregate_function").unwrap_or_else(|| "SUM".into());
                    if aggregate != "SUM" && aggregate != "AVERAGE" {
                        return Err(ModelError::Unsupported(format!(
                            "TreeEnsembleRegressor aggregate_function {aggregate}"
                        )));
                    }
                    let trees = Trees::from_node(n, "target")?;
                    Op::TreeRegressor {
                        targets: int(n, "n_targets", 1).max(1) as usize,
                        base: floats_or_tensor(n, "base_values"),
                        average: aggregate == "AVERAGE",
                        post: post(n)?,
                        trees,
                    }
                }
                ("ai.onnx.ml", "TreeEnsembleClassifier") => {
                    let labels = class_labels(n);
                    output = Output::Classification { labels: labels.clone() };
                    let trees = Trees::from_node(n, "class")?;
                    let ids: std::collections::BTreeSet<usize> = trees.leaf_weights.iter().flatten().map(|(c, _)| *c).collect();
                    let positive = trees.leaf_weights.iter().flatten().all(|(_, w)| *w >= 0.0);
                    Op::TreeClassifier {
                        binary: labels.len() == 2 && ids.len() == 1,
                        positive,
                        base: floats_or_tensor(n, "base_values"),
                        post: post(n)?,
                        labels,
                        trees,
                    }
                }
                ("ai.onnx.ml", "Scaler") => Op::Scaler {
                    offset: floats(n, "offset"),
                    scale: floats(n, "scale"),
                },
                ("ai.onnx.ml", "Normalizer") => Op::Normalizer {
                    norm: string(n, "norm").unwrap_or_else(|| "MAX".into()),
                },
                ("ai.onnx.ml", "Imputer") => Op::Imputer {
                    values: floats(n, "imputed_value_floats"),
                    replaced: attr(n, "replaced_value_float").map_or(f64::NAN, |a| a.f as f64),
                },
                // ZipMap turns probabilities into maps; Riffle keeps them as a tensor.
                ("ai.onnx.ml", "ZipMap") | ("", "Cast") | ("", "Identity") => Op::Identity,
                ("ai.onnx.ml", "ArrayFeatureExtractor") => Op::SelectColumns,
                ("", "Gather") if int(n, "axis", 0) == 1 => Op::SelectColumns,
                ("ai.onnx.ml", "OneHotEncoder") => {
                    if !strings(n, "cats_strings").is_empty() {
                        return Err(ModelError::Unsupported(
                            "OneHotEncoder over string categories (Riffle passes numeric features)".into(),
                        ));
                    }
                    Op::OneHot {
                        categories: ints(n, "cats_int64s"),
                        zeros: int(n, "zeros", 1) != 0,
                    }
                }
                ("", "Reshape") => Op::Reshape,
                ("", "Concat") if int(n, "axis", 1) == 1 => Op::Concat,
                ("", "Add") => Op::Arith('+'),
                ("", "Sub") => Op::Arith('-'),
                ("", "Mul") => Op::Arith('*'),
                ("", "Div") => Op::Arith('/'),
                (domain, op) => {
                    let domain = if domain.is_empty() { "ai.onnx" } else { domain };
                    return Err(ModelError::Unsupported(format!(
                        "ONNX operator {op} (domain {domain}) is not supported; supported: LinearRegressor, LinearClassifier, TreeEnsembleRegressor, TreeEnsembleClassifier, Scaler, Normalizer, Imputer, OneHotEncoder, ArrayFeatureExtractor, ZipMap, Cast, Identity, Concat, Gather (axis 1), Reshape"
                    )));
                }
            };
            nodes.push((op, n.input.clone(), n.output.clone(), n.op_type.clone()));
        }
        // Outputs: a label (or value) and, for classifiers, probabilities.
        let outs: Vec<&str> = g.output.iter().map(|o| o.name.as_str()).collect();
        let label_output = outs
            .first()
            .ok_or_else(|| ModelError::Invalid("the graph has no output".into()))?
            .to_string();
        let proba_output = outs.get(1).map(|s| s.to_string());
        Ok(Graph {
            input: input.name.clone(),
            inputs,
            constants: g.initializer.iter().map(|t| (t.name.clone(), tensor_f64(t))).collect(),
            nodes,
            label_output,
            proba_output,
            output,
        })
    }

    /// The graph's interface.
    pub fn signature(&self) -> Signature {
        Signature {
            inputs: self.inputs,
            output: self.output.clone(),
            operators: self.nodes.iter().map(|(_, _, _, name)| name.clone()).collect(),
        }
    }

    /// Scores a batch: every operator runs once over all rows.
    pub fn score(&self, rows: &[Vec<f64>]) -> Result<Scores, ModelError> {
        let n = rows.len();
        let mut env: HashMap<&str, Value> = HashMap::new();
        env.insert(
            &self.input,
            Value::Matrix {
                cols: self.inputs,
                data: rows.iter().flatten().copied().collect(),
            },
        );
        for (name, values) in &self.constants {
            env.insert(
                name,
                Value::Matrix {
                    cols: 0,
                    data: values.clone(),
                },
            );
        }
        for (op, inputs, outputs, name) in &self.nodes {
            let get = |i: usize| -> Result<&Value, ModelError> {
                inputs
                    .get(i)
                    .and_then(|k| env.get(k.as_str()))
                    .ok_or_else(|| ModelError::Eval(format!("{name}: missing input {i}")))
            };
            let results: Vec<Value> = match op {
                Op::Identity => vec![get(0)?.clone()],
                Op::SelectColumns => {
                    let (cols, x) = get(0)?.matrix(name)?;
                    let (_, idx) = get(1)?.matrix(name)?;
                    let idx: Vec<usize> = idx.iter().map(|i| *i as usize).collect();
                    if let Some(bad) = idx.iter().find(|i| **i >= cols) {
                        return Err(ModelError::Eval(format!("{name}: column {bad} of {cols}")));
                    }
                    let mut data = Vec::with_capacity(n * idx.len());
                    for r in 0..n {
                        data.extend(idx.iter().map(|i| x[r * cols + i]));
                    }
                    vec![Value::Matrix { cols: idx.len(), data }]
                }
                Op::OneHot { categories, zeros } => {
                    let (cols, x) = get(0)?.matrix(name)?;
                    let k = categories.len();
                    let mut data = vec![0.0; x.len() * k];
                    for (j, v) in x.iter().enumerate() {
                        match categories.iter().position(|c| *c as f64 == *v) {
                            Some(p) => data[j * k + p] = 1.0,
                            None if *zeros => {}
                            None => return Err(ModelError::Eval(format!("{name}: unknown category {v}"))),
                        }
                    }
                    vec![Value::Matrix { cols: cols * k, data }]
                }
                Op::Reshape => vec![get(0)?.clone()],
                Op::Concat => {
                    let parts = (0..inputs.len()).map(|i| get(i)?.matrix(name)).collect::<Result<Vec<_>, _>>()?;
                    let cols: usize = parts.iter().map(|(c, _)| c).sum();
                    let mut data = Vec::with_capacity(n * cols);
                    for r in 0..n {
                        for (c, d) in &parts {
                            data.extend_from_slice(&d[r * c..(r + 1) * c]);
                        }
                    }
                    vec![Value::Matrix { cols, data }]
                }
                Op::Arith(sym) => {
                    let (a, b) = (get(0)?, get(1)?);
                    // A constant (cols == 0) is broadcast along the other side's rows.
                    let ((cols, x), (bc, y)) = match (a.matrix(name)?, b.matrix(name)?) {
                        ((0, x), (c, y)) if c > 0 => ((c, y), (0, x)),
                        other => other,
                    };
                    let swapped = matches!(a, Value::Matrix { cols: 0, .. }) && bc == 0 && cols > 0;
                    let at = |k: usize| -> f64 {
                        if bc == 0 {
                            if y.len() == 1 {
                                y[0]
                            } else {
                                y.get(k % cols.max(1)).copied().unwrap_or(0.0)
                            }
                        } else {
                            y.get(k).copied().unwrap_or(0.0)
                        }
                    };
                    let data = x
                        .iter()
                        .enumerate()
                        .map(|(k, v)| {
                            let (l, r) = if swapped { (at(k), *v) } else { (*v, at(k)) };
                            match sym {
                                '+' => l + r,
                                '-' => l - r,
                                '*' => l * r,
                                _ => l / r,
                            }
                        })
                        .collect();
                    vec![Value::Matrix { cols, data }]
                }
                Op::Scaler { offset, scale } => {
                    let (cols, x) = get(0)?.matrix(name)?;
                    let at = |v: &[f64], j: usize, default: f64| if v.len() == 1 { v[0] } else { v.get(j).copied().unwrap_or(default) };
                    let data = x
                        .iter()
                        .enumerate()
                        .map(|(k, v)| (v - at(offset, k % cols, 0.0)) * at(scale, k % cols, 1.0))
                        .collect();
                    vec![Value::Matrix { cols, data }]
                }
                Op::Imputer { values, replaced } => {
                    let (cols, x) = get(0)?.matrix(name)?;
                    let data = x
                        .iter()
                        .enumerate()
                        .map(|(k, v)| {
                            let missing = if replaced.is_nan() { v.is_nan() } else { v == replaced };
                            if missing {
                                if values.len() == 1 {
                                    values[0]
                                } else {
                                    values.get(k % cols).copied().unwrap_or(*v)
                                }
                            } else {
                                *v
                            }
                        })
                        .collect();
                    vec![Value::Matrix { cols, data }]
                }
                Op::Normalizer { norm } => {
                    let (cols, x) = get(0)?.matrix(name)?;
                    let mut data = x.to_vec();
                    for row in data.chunks_mut(cols.max(1)) {
                        let d = match norm.as_str() {
                            "L1" => row.iter().map(|v| v.abs()).sum::<f64>(),
                            "L2" => row.iter().map(|v| v * v).sum::<f64>().sqrt(),
                            _ => row.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                        };
                        if d != 0.0 {
                            row.iter_mut().for_each(|v| *v /= d);
                        }
                    }
                    vec![Value::Matrix { cols, data }]
                }
                Op::LinearRegressor {
                    coefficients,
                    intercepts,
                    targets,
                    post,
                } => {
                    let (cols, x) = get(0)?.matrix(name)?;
                    check_len(name, coefficients.len(), targets * cols)?;
                    let mut data = Vec::with_capacity(n * targets);
                    for r in 0..n {
                        let mut row: Vec<f64> = (0..*targets)
                            .map(|t| {
                                dot(&x[r * cols..(r + 1) * cols], &coefficients[t * cols..(t + 1) * cols])
                                    + intercepts.get(t).copied().unwrap_or(0.0)
                            })
                            .collect();
                        apply_post(*post, &mut row);
                        data.extend(row);
                    }
                    vec![Value::Matrix { cols: *targets, data }]
                }
                Op::LinearClassifier {
                    coefficients,
                    intercepts,
                    labels,
                    post,
                } => {
                    let (cols, x) = get(0)?.matrix(name)?;
                    let targets = coefficients.len() / cols.max(1);
                    check_len(name, coefficients.len(), targets * cols)?;
                    let classes = labels.len();
                    let mut out_labels = Vec::with_capacity(n);
                    let mut data = Vec::with_capacity(n * classes);
                    for r in 0..n {
                        let mut row: Vec<f64> = (0..targets)
                            .map(|t| {
                                dot(&x[r * cols..(r + 1) * cols], &coefficients[t * cols..(t + 1) * cols])
                                    + intercepts.get(t).copied().unwrap_or(0.0)
                            })
                            .collect();
                        if targets == 1 && classes == 2 {
                            // Binary with one score column: scores are [-s, s].
                            let s = row[0];
                            out_labels.push(labels[usize::from(s > 0.0)].clone());
                            row = vec![-s, s];
                            apply_post(*post, &mut row);
                        } else {
                            apply_post(*post, &mut row);
                            out_labels.push(
                                labels
                                    .get(argmax(&row))
                                    .cloned()
                                    .ok_or_else(|| ModelError::Eval(format!("{name}: no class labels")))?,
                            );
                        }
                        data.extend(row);
                    }
                    let cols = data.len() / n.max(1);
                    vec![Value::Labels(out_labels), Value::Matrix { cols, data }]
                }
                Op::TreeRegressor {
                    trees,
                    targets,
                    base,
                    average,
                    post,
                } => {
                    let (cols, x) = get(0)?.matrix(name)?;
                    let mut data = Vec::with_capacity(n * targets);
                    for r in 0..n {
                        let mut acc = vec![0.0; *targets];
                        trees.accumulate(&x[r * cols..(r + 1) * cols], &mut acc)?;
                        if *average && !trees.roots.is_empty() {
                            acc.iter_mut().for_each(|v| *v /= trees.roots.len() as f64);
                        }
                        for (t, v) in acc.iter_mut().enumerate() {
                            *v += base.get(t).copied().unwrap_or(0.0);
                        }
                        apply_post(*post, &mut acc);
                        data.extend(acc);
                    }
                    vec![Value::Matrix { cols: *targets, data }]
                }
                Op::TreeClassifier {
                    trees,
                    labels,
                    base,
                    post,
                    binary,
                    positive,
                } => {
                    let (cols, x) = get(0)?.matrix(name)?;
                    let classes = labels.len();
                    let mut out_labels = Vec::with_capacity(n);
                    let mut data = Vec::with_capacity(n * classes);
                    for r in 0..n {
                        let mut acc = vec![0.0; classes.max(1)];
                        trees.accumulate(&x[r * cols..(r + 1) * cols], &mut acc)?;
                        for (c, v) in acc.iter_mut().enumerate() {
                            *v += base.get(c).copied().unwrap_or(0.0);
                        }
                        let row = if *binary {
                            // One score column for two classes (onnxruntime's binary case).
                            let s = acc.iter().sum::<f64>();
                            let mut row = if *positive && matches!(post, Post::None) {
                                vec![1.0 - s, s]
                            } else {
                                vec![-s, s]
                            };
                            let positive_class = if *positive && matches!(post, Post::None) {
                                s > 0.5
                            } else {
                                s > 0.0
                            };
                            out_labels.push(labels[usize::from(positive_class)].clone());
                            if !(*positive && matches!(post, Post::None)) {
                                apply_post(*post, &mut row);
                            }
                            row
                        } else {
                            apply_post(*post, &mut acc);
                            out_labels.push(
                                labels
                                    .get(argmax(&acc))
                                    .cloned()
                                    .ok_or_else(|| ModelError::Eval(format!("{name}: no class labels")))?,
                            );
                            acc
                        };
                        data.extend(row);
                    }
                    let cols = data.len() / n.max(1);
                    vec![Value::Labels(out_labels), Value::Matrix { cols, data }]
                }
            };
            for (name, value) in outputs.iter().zip(results) {
                env.insert(name.as_str(), value);
            }
        }
        let mut scores = Scores::default();
        let first = env
            .get(self.label_output.as_str())
            .ok_or_else(|| ModelError::Eval(format!("output {} was not computed", self.label_output)))?;
        match first {
            Value::Labels(l) => scores.labels = l.clone(),
            Value::Matrix { cols, data } => scores.values = data.chunks(*cols.max(&1)).map(|r| r[0]).collect(),
        }
        if let Some(p) = &self.proba_output {
            if let Some(Value::Matrix { cols, data }) = env.get(p.as_str()) {
                scores.probabilities = data.chunks(*cols.max(&1)).map(|r| r.to_vec()).collect();
            }
        }
        Ok(scores)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn check_len(name: &str, got: usize, want: usize) -> Result<(), ModelError> {
    if got == want {
        Ok(())
    } else {
        Err(ModelError::Eval(format!("{name}: {got} coefficients for {want} weights")))
    }
}
