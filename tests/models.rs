//! Models made by scikit-learn (exported with skl2onnx) scored by Riffle, compared with
//! scikit-learn's own predictions on the same rows.

use riffle_models::{Label, Model, Output};
use std::path::PathBuf;
use std::process::Command;

/// Runs tests/models/make_sklearn_models.py into a fresh directory; None (skipped with a note)
/// when scikit-learn is not installed, unless $RIFFLE_REQUIRE_SKLEARN is set (dev/test.sh).
fn sklearn_models() -> Option<(tempfile::TempDir, serde_json::Value)> {
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/make_sklearn_models.py");
    let out = Command::new("python3").arg(&script).arg(dir.path()).output().expect("python3");
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if std::env::var("RIFFLE_REQUIRE_SKLEARN").is_err() && err.contains("ModuleNotFoundError") {
            eprintln!("note: scikit-learn/skl2onnx not installed; model tests skipped (dev/test.sh installs them)");
            return None;
        }
        panic!("make_sklearn_models.py failed:\n{err}");
    }
    let expected = serde_json::from_str(&std::fs::read_to_string(dir.path().join("expected.json")).unwrap()).unwrap();
    Some((dir, expected))
}

fn label_json(l: &Label) -> serde_json::Value {
    match l {
        Label::Int(i) => serde_json::json!(i),
        Label::String(s) => serde_json::json!(s),
    }
}

#[test]
fn scikit_learn_models_agree_with_scikit_learn() {
    let Some((dir, expected)) = sklearn_models() else { return };
    for (name, e) in expected["models"].as_object().unwrap() {
        let bytes = std::fs::read(dir.path().join(format!("{name}.onnx"))).unwrap();
        let model = Model::load(&bytes, "onnx").unwrap_or_else(|err| panic!("{name}: {err}"));
        let rows: Vec<Vec<f64>> = e["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
            .collect();
        let scores = model.score(&rows).unwrap_or_else(|err| panic!("{name}: {err}"));
        let predict = e["predict"].as_array().unwrap();
        match (&model.signature.output, e["kind"].as_str().unwrap()) {
            (Output::Regression, "regressor") => {
                for (i, (got, want)) in scores.values.iter().zip(predict).enumerate() {
                    let want = want.as_f64().unwrap();
                    // ONNX computes in float32: compare with a relative tolerance.
                    assert!((got - want).abs() <= 1e-3 * want.abs().max(1.0), "{name} row {i}: {got} vs {want}");
                }
                assert_eq!(scores.values.len(), predict.len(), "{name}");
            }
            (Output::Classification { labels }, "classifier") => {
                let classes: Vec<serde_json::Value> = labels.iter().map(label_json).collect();
                assert_eq!(&classes, e["classes"].as_array().unwrap(), "{name}: class order");
                let got: Vec<serde_json::Value> = scores.labels.iter().map(label_json).collect();
                assert_eq!(&got, predict, "{name}: labels");
                for (i, (got, want)) in scores.probabilities.iter().zip(e["proba"].as_array().unwrap()).enumerate() {
                    for (g, w) in got.iter().zip(want.as_array().unwrap()) {
                        let w = w.as_f64().unwrap();
                        assert!((g - w).abs() < 1e-4, "{name} row {i}: probabilities {got:?} vs {want:?}");
                    }
                }
            }
            (sig, kind) => panic!("{name}: signature {sig:?} for a {kind}"),
        }
        eprintln!("{name}: {} rows agree ({:?})", rows.len(), model.signature.operators);
    }
}

#[test]
fn corrupt_and_unsupported_models_are_refused() {
    let err = Model::load(b"definitely not protobuf \xff\xff", "onnx").unwrap_err();
    assert!(err.to_string().contains("invalid model"), "{err}");
    let err = Model::load(b"", "safetensors").unwrap_err();
    assert!(err.to_string().contains("unsupported"), "{err}");
}
