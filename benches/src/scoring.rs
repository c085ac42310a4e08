//! Model scoring throughput inside a materialized view: rows/s for a scikit-learn model
//! (exported to ONNX) scored batched (the `predict` operator scores each message at once) and
//! one row at a time (the same call inside CASE, which evaluates per row), next to onnxruntime
//! scoring the same rows in Python, all in the same run.
//!
//! Needs scikit-learn, skl2onnx and onnxruntime (`pip install onnxruntime`):
//! `cargo build --release --bin riffle && cargo build --release -p riffle-benches && ./target/release/scoring [rows]`

use riffle_benches::load;
use riffle_tests::TestServer;
use std::process::Command;
use std::time::Instant;

const PY: &str = r#"
import sys, time, numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from skl2onnx import to_onnx
import onnxruntime as ort
rng = np.random.default_rng(0)
X = rng.normal(size=(2000, 4)).astype(np.float32)
y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
n = int(sys.argv[2])
rows = rng.normal(size=(n, 4)).astype(np.float32)
for name, model in [("logreg", LogisticRegression()), ("forest", RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0))]:
    model.fit(X, y)
    onx = to_onnx(model, X[:1], target_opset={"": 17, "ai.onnx.ml": 3}, options={id(model): {"zipmap": False}})
    path = f"{sys.argv[1]}/{name}.onnx"
    open(path, "wb").write(onx.SerializeToString())
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    start = time.perf_counter(); sess.run(None, {"X": rows}); batched = time.perf_counter() - start
    k = min(n, 20000)
    start = time.perf_counter()
    for i in range(k): sess.run(None, {"X": rows[i:i+1]})
    single = (time.perf_counter() - start) * n / k
    print(name, n / batched, n / single)
np.savetxt(f"{sys.argv[1]}/rows.csv", rows, delimiter=",", fmt="%.6f")
"#;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().expect("rows")).unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY)
        .arg(dir.path())
        .arg(n.to_string())
        .output()
        .expect("python3");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    let python: Vec<(String, f64, f64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let p: Vec<&str> = l.split_whitespace().collect();
            (p[0].to_string(), p[1].parse().unwrap(), p[2].parse().unwrap())
        })
        .collect();
    let rows: Vec<String> = std::fs::read_to_string(dir.path().join("rows.csv"))
        .unwrap()
        .lines()
        .map(|l| format!("({l})"))
        .collect();
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE x (a real, b real, c real, d real)").await.unwrap();
    load(&c, "x", n, |i| rows[i].clone()).await;
    println!(
        "{n} rows of 4 features, scored once per view; onnxruntime {} in the same run",
        "1.20 (Python)"
    );
    println!();
    println!("| model | Riffle batched rows/s | Riffle one row at a time rows/s | onnxruntime batched rows/s | onnxruntime one row per call rows/s |");
    println!("|---|---|---|---|---|");
    for (name, ort_batched, ort_single) in python {
        c.batch_execute(&format!(
            "CREATE MODEL {name} FROM '{}'",
            dir.path().join(format!("{name}.onnx")).display()
        ))
        .await
        .unwrap();
        let mut rates = Vec::new();
        for (label, expr) in [
            ("batched", format!("predict('{name}', a, b, c, d)")),
            // Inside CASE the call is evaluated per row (CASE is lazy), a model call per row.
            ("single", format!("CASE WHEN a IS NOT NULL THEN predict('{name}', a, b, c, d) END")),
        ] {
            let view = format!("{name}_{label}");
            let start = Instant::now();
            c.batch_execute(&format!("CREATE MATERIALIZED VIEW {view} AS SELECT {expr} AS p FROM x"))
                .await
                .unwrap();
            let counted: i64 = c.query_one(&format!("SELECT count(p) FROM {view}"), &[]).await.unwrap().get(0);
            assert_eq!(counted as usize, n);
            rates.push(n as f64 / start.elapsed().as_secs_f64());
            c.batch_execute(&format!("DROP MATERIALIZED VIEW {view}")).await.unwrap();
        }
        println!(
            "| {name} | {:.0} | {:.0} | {ort_batched:.0} | {ort_single:.0} |",
            rates[0], rates[1]
        );
    }
}
