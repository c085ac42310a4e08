//! Helpers shared by the benchmark binaries: loading rows and summarising latencies.

use std::time::Duration;
use tokio_postgres::Client;

/// The `p`-quantile (0.0–1.0) of the samples (sorts them).
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 - 1.0) * p).round() as usize]
}

/// A duration in milliseconds, for the result tables.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// Inserts `rows` rows into `table`, 10,000 per statement; `row(i)` renders row `i` as `(…)`.
pub async fn load(client: &Client, table: &str, rows: usize, row: impl Fn(usize) -> String) {
    for chunk in (0..rows).collect::<Vec<_>>().chunks(10_000) {
        let values: Vec<String> = chunk.iter().map(|i| row(*i)).collect();
        client
            .batch_execute(&format!("INSERT INTO {table} VALUES {}", values.join(",")))
            .await
            .unwrap();
    }
}
