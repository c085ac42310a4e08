//! Two measurements for issue 8, each beside its baseline in the same run:
//!
//! 1. Training time: `CREATE MODEL … TRAIN` (linear and logistic regression, 1,000 epochs, and an
//!    MLP) on N rows of 8 features, against scikit-learn fitting the same rows in Python.
//! 2. Export: `COPY (SELECT …) TO STDOUT` in CSV from Riffle and from PostgreSQL (psql, the
//!    same table), and Riffle's `COPY … TO 'file'` in Parquet, as MB/s of output.
//!
//! Needs scikit-learn and PostgreSQL (`$RIFFLE_TEST_PG`, as dev/test.sh sets it):
//! `cargo build --release --bin riffle && cargo build --release -p riffle-benches && ./target/release/train_export [rows]`

use riffle_tests::TestServer;
use std::process::Command;
use std::time::Instant;

const PY: &str = r#"
import sys, time, numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
d, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
X = rng.normal(size=(n, 8))
y = X @ np.arange(1, 9) + rng.normal(size=n)
c = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
np.savetxt(f"{d}/data.csv", np.column_stack([X, y, c]), delimiter=",", fmt="%.10g")
for name, model, target in [("linear", LinearRegression(), y),
                            ("logistic", make_pipeline(StandardScaler(), LogisticRegression()), c),
                            ("mlp", make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0)), c)]:
    t = time.perf_counter(); model.fit(X, target); print(name, time.perf_counter() - t)
"#;

fn mb(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().expect("rows")).unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let out = Command::new("python3")
        .args(["-c", PY, &d, &n.to_string()])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sklearn: Vec<(String, f64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            (a.to_string(), b.parse().unwrap())
        })
        .collect();
    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute(&format!(
        "CREATE TABLE data (x1 float8, x2 float8, x3 float8, x4 float8, x5 float8, x6 float8, x7 float8, x8 float8, y float8, c integer);
         COPY data FROM '{d}/data.csv' WITH (FORMAT csv)"
    ))
    .await
    .unwrap();
    println!("{n} rows of 8 features; scikit-learn 1.5 in the same run");
    println!();
    println!("| model | Riffle CREATE MODEL … TRAIN (s) | scikit-learn fit (s) |");
    println!("|---|---|---|");
    for (name, algorithm, target, opts) in [
        ("linear", "LINEAR_REGRESSION", "y", "epochs = 1000"),
        ("logistic", "LOGISTIC_REGRESSION", "c", "epochs = 1000"),
        ("mlp", "MLP", "c", "hidden = '16', epochs = 300"),
    ] {
        let start = Instant::now();
        c.batch_execute(&format!(
            "CREATE MODEL {name} TRAIN {algorithm} ON (SELECT x1, x2, x3, x4, x5, x6, x7, x8, {target} FROM data) TARGET {target} WITH (validation_fraction = 0, {opts})"
        ))
        .await
        .unwrap();
        let riffle = start.elapsed().as_secs_f64();
        let sk = sklearn.iter().find(|(m, _)| m == name).map(|(_, s)| *s).unwrap();
        println!("| {name} ({opts}) | {riffle:.2} | {sk:.2} |");
    }

    println!();
    println!("| export | MB | seconds | MB/s |");
    println!("|---|---|---|---|");
    let q = "SELECT * FROM data";
    let start = Instant::now();
    let stream = c.copy_out(&format!("COPY ({q}) TO STDOUT WITH (FORMAT csv)")).await.unwrap();
    let mut stream = Box::pin(stream);
    let mut bytes = 0;
    use futures::StreamExt;
    while let Some(chunk) = stream.next().await {
        bytes += chunk.unwrap().len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "| Riffle COPY TO STDOUT (csv) | {:.1} | {secs:.2} | {:.1} |",
        bytes as f64 / 1e6,
        mb(bytes, secs)
    );
    let start = Instant::now();
    c.batch_execute(&format!("COPY ({q}) TO '{d}/out.parquet' WITH (FORMAT parquet)"))
        .await
        .unwrap();
    let secs = start.elapsed().as_secs_f64();
    let size = std::fs::metadata(dir.path().join("out.parquet")).unwrap().len() as usize;
    println!(
        "| Riffle COPY TO file (parquet) | {:.1} | {secs:.2} | {:.1} |",
        size as f64 / 1e6,
        mb(size, secs)
    );
    if let Ok(pg) = std::env::var("RIFFLE_TEST_PG") {
        let setup = "DROP TABLE IF EXISTS bench_data; CREATE TABLE bench_data (x1 float8, x2 float8, x3 float8, x4 float8, x5 float8, x6 float8, x7 float8, x8 float8, y float8, c integer)";
        let load = format!("\\copy bench_data FROM '{d}/data.csv' WITH (FORMAT csv)");
        let ok = Command::new("psql")
            .arg(format!("{pg} dbname=postgres"))
            .args(["-q", "-c", setup, "-c", &load])
            .status()
            .unwrap();
        assert!(ok.success());
        // The same export through psql from each server.
        let timed = |label: &str, mut cmd: Command, sql: &str| {
            let start = Instant::now();
            let out = cmd.args(["-c", sql]).output().unwrap();
            let secs = start.elapsed().as_secs_f64();
            let n = out.stdout.len();
            println!(
                "| {label} via psql (csv) | {:.1} | {secs:.2} | {:.1} |",
                n as f64 / 1e6,
                mb(n, secs)
            );
        };
        let mut postgres = Command::new("psql");
        postgres.arg(format!("{pg} dbname=postgres"));
        timed(
            "PostgreSQL COPY TO STDOUT",
            postgres,
            "COPY (SELECT * FROM bench_data) TO STDOUT WITH (FORMAT csv)",
        );
        timed(
            "Riffle COPY TO STDOUT",
            server.psql(),
            "COPY (SELECT * FROM data) TO STDOUT WITH (FORMAT csv)",
        );
    }
}
