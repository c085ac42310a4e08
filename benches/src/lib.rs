//! Helpers shared by the benchmark binaries: loading rows and summarising latencies.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
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

/// Runs `sql` (a `COPY … FROM STDIN`) with `data` as its input; returns the rows copied.
pub async fn copy_in(client: &Client, sql: &str, data: String) -> u64 {
    use futures::SinkExt;
    let sink = client.copy_in(sql).await.expect("COPY");
    let mut sink = Box::pin(sink);
    sink.send(bytes::Bytes::from(data)).await.expect("COPY data");
    sink.as_mut().finish().await.expect("COPY acknowledged")
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

/// Creates `topic` with `partitions` partitions and produces `(key, payload)` records to it,
/// round-robin over the partitions, waiting for every acknowledgement; returns the payload bytes.
pub async fn produce(broker: &str, topic: &str, partitions: i32, records: impl Iterator<Item = (Option<String>, String)>) -> usize {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new().set("bootstrap.servers", broker).create().unwrap();
    for r in admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap()
    {
        r.unwrap();
    }
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let mut bytes = 0;
    let mut pending = Vec::new();
    for (i, (key, payload)) in records.enumerate() {
        bytes += payload.len();
        let mut r: FutureRecord<'_, String, String> = FutureRecord::to(topic).partition(i as i32 % partitions).payload(&payload);
        if let Some(k) = &key {
            r = r.key(k);
        }
        pending.push(p.send_result(r).map_err(|(e, _)| e).unwrap());
        if pending.len() >= 100_000 {
            for d in pending.drain(..) {
                d.await.unwrap().map_err(|(e, _)| e).unwrap();
            }
        }
    }
    for d in pending {
        d.await.unwrap().map_err(|(e, _)| e).unwrap();
    }
    bytes
}

/// Peak resident memory of a process (its `VmHWM`), bytes; 0 where /proc does not say.
pub fn peak_rss(pid: u32) -> u64 {
    proc_status_kb(pid, "VmHWM:") * 1024
}

/// CPU time a process has used so far (user + system), seconds; 0 where /proc does not say.
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// CPU time (user + system) of a process's threads whose name starts with `prefix`, seconds:
/// `timely:work` for the dataflow workers, the engine proper (no wire, COPY parsing or log).
pub fn threads_cpu_seconds(pid: u32, prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.starts_with(prefix)))
        .map(|task| stat_cpu_seconds(&std::fs::read_to_string(task.path().join("stat")).unwrap_or_default()))
        .sum()
}

/// utime + stime of a /proc `stat` line, seconds.
fn stat_cpu_seconds(stat: &str) -> f64 {
    // Fields after the command name (which is in parentheses and may hold spaces): utime and
    // stime are the 12th and 13th, in clock ticks.
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Clock ticks are USER_HZ, which Linux fixes at 100 for user space.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// Current resident memory of a process (its `VmRSS`), bytes; 0 where /proc does not say.
pub fn rss(pid: u32) -> u64 {
    proc_status_kb(pid, "VmRSS:") * 1024
}

/// A `… kB` field of /proc/PID/status.
fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
}
