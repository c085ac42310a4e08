//! Evaluating a map's expressions over a batch of rows, so that model calls (`predict`) score
//! the whole batch with one call to the model instead of one call per row.

use crate::{EvalError, Func, ScalarExpr};
use riffle_repr::{Datum, Row};

/// The most rows one model call scores.
pub const MAX_BATCH: usize = 4096;

/// The model a function calls, if it is a model call (`predict`, `predict_proba`, `embed`).
pub fn model_of(func: &Func) -> Option<&str> {
    match func {
        Func::Predict { model, .. } | Func::Embed { model } => Some(model),
        _ => None,
    }
}

/// The models an expression calls, in first-call order.
pub fn models_called(e: &ScalarExpr, out: &mut Vec<String>) {
    e.visit(&mut |x| {
        if let ScalarExpr::Call { func, .. } = x {
            if let Some(model) = model_of(func) {
                if !out.iter().any(|m| m == model) {
                    out.push(model.to_string());
                }
            }
        }
    });
}

/// Whether an expression calls a model.
pub fn calls_model(e: &ScalarExpr) -> bool {
    let mut found = false;
    e.visit(&mut |x| {
        if let ScalarExpr::Call { func, .. } = x {
            found |= model_of(func).is_some();
        }
    });
    found
}

/// A model call hoisted out of an expression: the function and its arguments.
type Hoisted = (Func, Vec<ScalarExpr>);

/// Replaces the model calls that are always evaluated (reached through function arguments
/// only, not inside CASE, AND, OR or COALESCE, which evaluate lazily) by columns `base`,
/// `base + 1`, …, collecting the calls in `calls`.
fn hoist(e: &ScalarExpr, base: usize, calls: &mut Vec<Hoisted>) -> ScalarExpr {
    match e {
        ScalarExpr::Call { func, args } if model_of(func).is_some() && !args.iter().any(calls_model) => {
            calls.push((func.clone(), args.clone()));
            ScalarExpr::Column(base + calls.len() - 1)
        }
        ScalarExpr::Call { func, args } => ScalarExpr::Call {
            func: func.clone(),
            args: args.iter().map(|a| hoist(a, base, calls)).collect(),
        },
        other => other.clone(),
    }
}

/// The text `embed` reads from a datum (text as is, anything else as it prints).
pub fn text_input(d: &Datum) -> String {
    match d {
        Datum::String(s) => s.clone(),
        other => riffle_repr::strconv::format_datum(other).unwrap_or_default(),
    }
}

/// The inputs of one model call for a batch of rows.
enum Inputs {
    Features(Vec<Vec<f64>>),
    Texts(Vec<String>),
}

impl Inputs {
    fn for_call(func: &Func) -> Inputs {
        match func {
            Func::Embed { .. } => Inputs::Texts(Vec::new()),
            _ => Inputs::Features(Vec::new()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Inputs::Features(f) => f.len(),
            Inputs::Texts(t) => t.len(),
        }
    }

    /// Adds one row's arguments; false when the call is NULL for this row.
    fn push(&mut self, args: &[Datum]) -> bool {
        match self {
            Inputs::Features(rows) => match features(args) {
                Some(f) => rows.push(f),
                None => return false,
            },
            Inputs::Texts(texts) => match args {
                [d] if !d.is_null() => texts.push(text_input(d)),
                _ => return false,
            },
        }
        true
    }

    /// Scores the inputs with bounded model calls: one result per input, in order.
    fn score(&self, scorer: &dyn crate::scoring::Scorer, func: &Func, version: Option<u64>) -> Vec<Result<Datum, String>> {
        match (self, func) {
            (Inputs::Features(rows), Func::Predict { model, proba }) => {
                call_chunked(rows, |chunk| scorer.score(model, version, chunk, *proba))
            }
            (Inputs::Texts(texts), Func::Embed { model }) => {
                // Embedding is costly: each distinct text once (a constant query text is
                // embedded once per batch, not once per row).
                let mut distinct: Vec<&str> = Vec::new();
                let mut seen: std::collections::HashMap<&str, usize> = Default::default();
                let slots: Vec<usize> = texts
                    .iter()
                    .map(|t| {
                        *seen.entry(t.as_str()).or_insert_with(|| {
                            distinct.push(t.as_str());
                            distinct.len() - 1
                        })
                    })
                    .collect();
                let vectors = call_chunked(&distinct, |chunk| scorer.embed(model, version, chunk));
                slots.into_iter().map(|i| vectors[i].clone()).collect()
            }
            _ => (0..self.len()).map(|_| Err(format!("{func:?} is not a model call"))).collect(),
        }
    }
}

/// Calls a model over `items` in chunks of at most [`MAX_BATCH`]. When a chunk fails, its
/// items are tried one by one, so that only the rows the model cannot score carry the error.
fn call_chunked<T>(items: &[T], call: impl Fn(&[T]) -> Result<Vec<Datum>, String>) -> Vec<Result<Datum, String>> {
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(MAX_BATCH) {
        match call(chunk) {
            Ok(values) if values.len() == chunk.len() => out.extend(values.into_iter().map(Ok)),
            Ok(values) => out.extend(
                chunk
                    .iter()
                    .map(|_| Err(format!("the model returned {} results for {} rows", values.len(), chunk.len()))),
            ),
            Err(e) if chunk.len() == 1 => out.push(Err(e)),
            Err(_) => out.extend(chunk.iter().map(|item| {
                call(std::slice::from_ref(item)).and_then(|mut v| v.pop().ok_or_else(|| "the model returned no result".to_string()))
            })),
        }
    }
    out
}

/// The features of one row for a model call (None when any is NULL: the prediction is NULL).
pub fn features(args: &[Datum]) -> Option<Vec<f64>> {
    let items: Vec<Datum> = match args {
        [Datum::Array(items)] => items.clone(),
        _ => args.to_vec(),
    };
    if items.iter().any(|d| d.is_null()) {
        return None;
    }
    Some(items.iter().map(crate::func::as_f64).collect())
}

/// Like [`eval_map_batch`], for rows that end with the version of each model in `models`
/// (appended by a join with the models' current versions): those columns are removed, and rows
/// are scored by the version they carry, so that replacing a model retracts the rows scored by
/// the old version (scored again, identically) and inserts them scored by the new one.
pub fn eval_map_batch_versioned(scalars: &[ScalarExpr], models: &[String], rows: Vec<Row>) -> Vec<Result<Row, EvalError>> {
    let k = models.len();
    let mut groups: std::collections::BTreeMap<Vec<Option<u64>>, Vec<(usize, Row)>> = Default::default();
    let n = rows.len();
    for (i, row) in rows.into_iter().enumerate() {
        let mut datums = row.unpack();
        let versions: Vec<Option<u64>> = datums
            .split_off(datums.len().saturating_sub(k))
            .iter()
            .map(|d| match d {
                Datum::Int64(v) => Some(*v as u64),
                _ => None,
            })
            .collect();
        groups.entry(versions).or_default().push((i, Row::new(datums)));
    }
    let mut out: Vec<Option<Result<Row, EvalError>>> = (0..n).map(|_| None).collect();
    for (versions, members) in groups {
        let pinned: Vec<(String, Option<u64>)> = models.iter().cloned().zip(versions).collect();
        let (idx, rows): (Vec<usize>, Vec<Row>) = members.into_iter().unzip();
        for (i, r) in idx.into_iter().zip(eval_batch(scalars, rows, &pinned)) {
            out[i] = Some(r);
        }
    }
    out.into_iter().map(|r| r.expect("every row evaluated")).collect()
}

/// Evaluates `scalars` (each may read the ones before it, as in `RelExpr::Map`) over `rows`,
/// appending their values to each row. Model calls score all rows of the batch at once.
pub fn eval_map_batch(scalars: &[ScalarExpr], rows: Vec<Row>) -> Vec<Result<Row, EvalError>> {
    eval_batch(scalars, rows, &[])
}

fn eval_batch(scalars: &[ScalarExpr], rows: Vec<Row>, pinned: &[(String, Option<u64>)]) -> Vec<Result<Row, EvalError>> {
    let mut rows: Vec<Result<Vec<Datum>, EvalError>> = rows.into_iter().map(|r| Ok(r.unpack())).collect();
    for s in scalars {
        let width = match rows.iter().find_map(|r| r.as_ref().ok()) {
            Some(r) => r.len(),
            None => break,
        };
        let mut calls = Vec::new();
        let rewritten = hoist(s, width, &mut calls);
        // Each hoisted call: features per row, one scorer call for the batch.
        let mut values: Vec<Vec<Datum>> = vec![Vec::with_capacity(calls.len()); rows.len()];
        for (func, args) in &calls {
            let model = model_of(func).expect("hoisted calls are model calls");
            let mut batch = Inputs::for_call(func);
            let mut slots = Vec::with_capacity(rows.len());
            for (i, row) in rows.iter_mut().enumerate() {
                let Ok(datums) = row else {
                    slots.push(None);
                    continue;
                };
                let evaluated: Result<Vec<Datum>, EvalError> = args.iter().map(|a| a.eval(datums)).collect();
                match evaluated {
                    Err(e) => {
                        *row = Err(e);
                        slots.push(None);
                    }
                    Ok(args) => {
                        let k = batch.len();
                        if batch.push(&args) {
                            slots.push(Some(k));
                        } else {
                            values[i].push(Datum::Null);
                            slots.push(None);
                        }
                    }
                }
            }
            let scored: Vec<Result<Datum, EvalError>> = match crate::scoring::scorer() {
                _ if batch.len() == 0 => Vec::new(),
                Some(scorer) => {
                    let version = pinned.iter().find(|(m, _)| m == model).and_then(|(_, v)| *v);
                    batch
                        .score(scorer, func, version)
                        .into_iter()
                        .map(|r| r.map_err(EvalError::InvalidArgument))
                        .collect()
                }
                None => (0..batch.len())
                    .map(|_| Err(EvalError::InvalidArgument("models are not available in this process".into())))
                    .collect(),
            };
            for (i, slot) in slots.into_iter().enumerate() {
                let Some(k) = slot else { continue };
                match &scored[k] {
                    Ok(v) => values[i].push(v.clone()),
                    Err(e) => rows[i] = Err(e.clone()),
                }
            }
        }
        for (row, extra) in rows.iter_mut().zip(values) {
            let Ok(datums) = row else { continue };
            datums.extend(extra);
            let v = rewritten.eval(datums);
            datums.truncate(width);
            match v {
                Ok(v) => datums.push(v),
                Err(e) => *row = Err(e),
            }
        }
    }
    rows.into_iter().map(|r| r.map(Row::new)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::{set_scorer, Scorer};
    use riffle_repr::F64;

    /// Doubles its one feature; fails on negative features (the whole call, like a model that
    /// rejects a batch), and counts its calls.
    struct Doubler(std::sync::atomic::AtomicUsize);

    impl Scorer for Doubler {
        fn score(&self, _model: &str, _version: Option<u64>, rows: &[Vec<f64>], _proba: bool) -> Result<Vec<Datum>, String> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if rows.iter().any(|r| r[0] < 0.0) {
                return Err("negative feature".into());
            }
            Ok(rows.iter().map(|r| Datum::Float64(F64(r[0] * 2.0))).collect())
        }

        fn embed(&self, _model: &str, _version: Option<u64>, texts: &[&str]) -> Result<Vec<Datum>, String> {
            Ok(texts.iter().map(|t| Datum::Int64(t.len() as i64)).collect())
        }
    }

    #[test]
    fn a_failing_row_fails_alone_and_batches_stay_whole() {
        static SCORER: std::sync::OnceLock<()> = std::sync::OnceLock::new();
        SCORER.get_or_init(|| set_scorer(Box::new(Doubler(Default::default()))));
        let predict = ScalarExpr::Call {
            func: Func::Predict {
                model: "m".into(),
                proba: false,
            },
            args: vec![ScalarExpr::Column(0)],
        };
        let rows: Vec<Row> = [1.0, -1.0, 3.0].iter().map(|v| Row::new(vec![Datum::Float64(F64(*v))])).collect();
        let out = eval_map_batch(std::slice::from_ref(&predict), rows);
        assert_eq!(out[0].as_ref().unwrap().get(1), Datum::Float64(F64(2.0)));
        assert!(
            matches!(&out[1], Err(EvalError::InvalidArgument(m)) if m == "negative feature"),
            "{:?}",
            out[1]
        );
        assert_eq!(out[2].as_ref().unwrap().get(1), Datum::Float64(F64(6.0)));
        // Texts: each distinct one once.
        let embed = ScalarExpr::Call {
            func: Func::Embed { model: "e".into() },
            args: vec![ScalarExpr::Column(0)],
        };
        let rows: Vec<Row> = ["ab", "abc", "ab", ""]
            .iter()
            .map(|t| Row::new(vec![Datum::String(t.to_string())]))
            .collect();
        let out: Vec<Datum> = eval_map_batch(&[embed], rows)
            .into_iter()
            .map(|r| r.unwrap().get(1).to_datum())
            .collect();
        assert_eq!(out, vec![Datum::Int64(2), Datum::Int64(3), Datum::Int64(2), Datum::Int64(0)]);
    }
}
