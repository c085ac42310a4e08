//! One Kafka source's ingestion thread.
//!
//! Exactly once: the thread assigns partitions itself (no consumer group, no broker-side
//! commits) starting at the offsets stored with the data, and each batch goes to the
//! [`SourceWriter`] together with the next offset of every partition it covers; the writer
//! stores rows and offsets in one atomic RocksDB batch. After a crash the source resumes at
//! exactly the stored offsets: a record is either in the log with its offset or in neither.
//!
//! Backpressure: the thread reads at most one bounded batch ahead of the dataflows
//! ([`SourceWriter::wait_processed`]), and librdkafka's prefetch queue is capped, so a fast
//! topic cannot grow memory without bound.

use crate::decode::{Decoded, Decoder, Record};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use riffle_repr::{Datum, Diff, GlobalId, Row, Timestamp};
use riffle_sql::source::{KafkaConnection, SourceDesc, StartOffset};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// The most records, and bytes, one batch holds.
const MAX_BATCH_RECORDS: usize = 20_000;
const MAX_BATCH_BYTES: usize = 8 << 20;
/// How long a batch may wait for more records once it has one.
const BATCH_LINGER: Duration = Duration::from_millis(5);

/// A decoded batch of one source, to be made durable and visible atomically.
#[derive(Debug, Default)]
pub struct SourceBatch {
    /// Changes to the source's collection.
    pub updates: Vec<(Row, Diff)>,
    /// Rows for `riffle_source_errors`: (source, partition, offset, error, raw bytes).
    pub errors: Vec<Row>,
    /// The next offset to read per partition, after this batch.
    pub offsets: Vec<(i32, i64)>,
}

/// Where a source's batches go (implemented by the adapter).
pub trait SourceWriter: Send + Sync + 'static {
    /// Durably appends a batch and its offsets in one write, feeds it to the dataflows, and
    /// returns its timestamp.
    fn append(&self, source: GlobalId, batch: SourceBatch) -> Result<Timestamp, String>;
    /// Blocks until the dataflows have processed every input up to `ts`, or `stop` is set.
    fn wait_processed(&self, ts: Timestamp, stop: &AtomicBool);
}

/// Progress of one partition.
#[derive(Clone, Debug, Default)]
pub struct PartitionProgress {
    /// The next offset the source will read (everything before it is ingested).
    pub next_offset: i64,
    /// The partition's high watermark as of the last fetch (-1: not known yet).
    pub high_watermark: i64,
}

/// What `riffle_source_progress` shows of a source.
#[derive(Clone, Debug, Default)]
pub struct SourceStatus {
    /// Per partition.
    pub partitions: BTreeMap<i32, PartitionProgress>,
    /// Records ingested since the server started.
    pub records: u64,
    /// Records that failed to decode since the server started.
    pub errors: u64,
    /// "starting", "running", "waiting for topic", or the last client error.
    pub state: String,
}

/// A running source; dropping it tells the thread to stop (it exits at its next poll,
/// without being waited for: the caller may hold the lock a batch append needs).
pub struct SourceHandle {
    stop: Arc<AtomicBool>,
    /// Live progress.
    pub status: Arc<Mutex<SourceStatus>>,
}

impl Drop for SourceHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The librdkafka settings of a connection.
pub fn client_config(conn: &KafkaConnection) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &conn.brokers);
    for (k, v) in &conn.options {
        config.set(k, v);
    }
    config
}

/// What a source needs to start.
pub struct SourceStart {
    /// The source's id.
    pub id: GlobalId,
    /// Its name (for logs and error rows).
    pub name: String,
    /// What to read.
    pub desc: SourceDesc,
    /// Stored next offsets per partition.
    pub offsets: BTreeMap<i32, i64>,
    /// ENVELOPE UPSERT: the current row of every key (rebuilt from the replayed log).
    pub upsert: HashMap<Datum, Row>,
}

/// Starts a source's ingestion thread.
pub fn start_source(start: SourceStart, writer: Arc<dyn SourceWriter>) -> Result<SourceHandle, String> {
    let decoder = Decoder::new(&start.desc)?;
    let stop = Arc::new(AtomicBool::new(false));
    let status = Arc::new(Mutex::new(SourceStatus {
        state: "starting".into(),
        partitions: start
            .offsets
            .iter()
            .map(|(p, o)| {
                (
                    *p,
                    PartitionProgress {
                        next_offset: *o,
                        high_watermark: -1,
                    },
                )
            })
            .collect(),
        ..Default::default()
    }));
    let mut ingest = Ingest {
        decoder,
        start,
        writer,
        stop: stop.clone(),
        status: status.clone(),
    };
    std::thread::Builder::new()
        .name(format!("source-{}", ingest.start.name))
        .spawn(move || ingest.run())
        .map_err(|e| e.to_string())?;
    Ok(SourceHandle { stop, status })
}

struct Ingest {
    decoder: Decoder,
    start: SourceStart,
    writer: Arc<dyn SourceWriter>,
    stop: Arc<AtomicBool>,
    status: Arc<Mutex<SourceStatus>>,
}

impl Ingest {
    fn set_state(&self, state: impl Into<String>) {
        self.status.lock().expect("status lock").state = state.into();
    }

    fn run(&mut self) {
        let name = self.start.name.clone();
        let consumer: BaseConsumer = match client_config(&self.start.desc.connection)
            // Required by librdkafka for a consumer; no group is joined (partitions are
            // assigned, not subscribed) and nothing is committed to the broker.
            .set("group.id", format!("riffle-source-{}", self.start.id.0))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("queued.max.messages.kbytes", "16384")
            .set("fetch.wait.max.ms", "50")
            .create()
        {
            Ok(c) => c,
            Err(e) => {
                warn!(source = %name, error = %e, "cannot create a Kafka consumer");
                self.set_state(format!("error: {e}"));
                return;
            }
        };
        let topic = self.start.desc.topic.clone();
        let mut next: BTreeMap<i32, i64> = self.start.offsets.clone();
        let mut assigned = 0usize;
        let mut last_metadata = Instant::now() - Duration::from_secs(60);
        info!(source = %name, topic = %topic, "source starting");
        while !self.stop.load(Ordering::SeqCst) {
            // Partitions, including ones added later.
            if last_metadata.elapsed() > Duration::from_secs(2) || assigned == 0 {
                last_metadata = Instant::now();
                match consumer.fetch_metadata(Some(&topic), Duration::from_secs(5)) {
                    Ok(md) => {
                        let partitions: Vec<i32> = md
                            .topics()
                            .iter()
                            .filter(|t| t.name() == topic && t.error().is_none())
                            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                            .collect();
                        if partitions.is_empty() {
                            self.set_state("waiting for topic");
                            std::thread::sleep(Duration::from_millis(500));
                            continue;
                        }
                        if partitions.len() != assigned {
                            if let Err(e) = self.assign(&consumer, &partitions, &next) {
                                self.set_state(format!("error: {e}"));
                                std::thread::sleep(Duration::from_secs(1));
                                continue;
                            }
                            info!(source = %name, partitions = partitions.len(), "assigned partitions");
                            assigned = partitions.len();
                        }
                        self.set_state("running");
                    }
                    Err(e) => {
                        self.set_state(format!("error: {e}"));
                        std::thread::sleep(Duration::from_millis(500));
                        continue;
                    }
                }
            }
            let batch = self.read_batch(&consumer, &mut next);
            self.update_watermarks(&consumer, &topic);
            let Some(batch) = batch else { continue };
            let (records, errors) = (batch.updates.len() as u64, batch.errors.len() as u64);
            match self.writer.append(self.start.id, batch) {
                Ok(ts) => {
                    {
                        let mut status = self.status.lock().expect("status lock");
                        status.records += records;
                        status.errors += errors;
                        for (p, o) in &next {
                            status.partitions.entry(*p).or_default().next_offset = *o;
                        }
                    }
                    self.writer.wait_processed(ts, &self.stop);
                }
                Err(e) => {
                    // The batch is not stored; its offsets are not either, so a restart
                    // re-reads it. Stop rather than skip.
                    warn!(source = %name, error = %e, "cannot store a source batch; the source stops");
                    self.set_state(format!("error: {e}"));
                    return;
                }
            }
        }
        info!(source = %name, "source stopped");
    }

    fn assign(&self, consumer: &BaseConsumer, partitions: &[i32], next: &BTreeMap<i32, i64>) -> Result<(), String> {
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            let offset = match (next.get(&p), &self.start.desc.start) {
                (Some(o), _) => Offset::Offset(*o),
                (None, StartOffset::Earliest) => Offset::Beginning,
                (None, StartOffset::Latest) => Offset::End,
                (None, StartOffset::Offsets(list)) => list.get(p as usize).map_or(Offset::Beginning, |o| Offset::Offset(*o)),
            };
            tpl.add_partition_offset(&self.start.desc.topic, p, offset)
                .map_err(|e| e.to_string())?;
        }
        consumer.assign(&tpl).map_err(|e| e.to_string())
    }

    /// Polls up to a batch of records and decodes them; None when nothing arrived.
    fn read_batch(&mut self, consumer: &BaseConsumer, next: &mut BTreeMap<i32, i64>) -> Option<SourceBatch> {
        let mut batch = SourceBatch::default();
        let mut bytes = 0;
        let mut count = 0;
        let mut deadline: Option<Instant> = None;
        let mut touched = Vec::new();
        while count < MAX_BATCH_RECORDS && bytes < MAX_BATCH_BYTES {
            let timeout = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_millis(100),
            };
            let msg = match consumer.poll(timeout) {
                None => break,
                Some(Err(e)) => {
                    self.set_state(format!("error: {e}"));
                    break;
                }
                Some(Ok(m)) => m,
            };
            deadline.get_or_insert_with(|| Instant::now() + BATCH_LINGER);
            let (partition, offset) = (msg.partition(), msg.offset());
            // A record before the stored offset was already ingested (a re-assignment).
            if next.get(&partition).is_some_and(|n| offset < *n) {
                continue;
            }
            count += 1;
            bytes += msg.payload().map_or(0, |p| p.len()) + msg.key().map_or(0, |k| k.len());
            let record = Record {
                key: msg.key(),
                payload: msg.payload(),
                partition,
                offset,
                timestamp_ms: msg.timestamp().to_millis(),
            };
            match self.decoder.decode(&record) {
                Ok(Decoded::Changes(changes)) => batch.updates.extend(changes),
                Ok(Decoded::Upsert { key, row }) => {
                    let old = match &row {
                        Some(r) => self.start.upsert.insert(key, r.clone()),
                        None => self.start.upsert.remove(&key),
                    };
                    if let Some(old) = old {
                        batch.updates.push((old, -1));
                    }
                    if let Some(row) = row {
                        batch.updates.push((row, 1));
                    }
                }
                Ok(Decoded::Skip) => {}
                Err(error) => {
                    batch.errors.push(Row::new(vec![
                        Datum::String(self.start.name.clone()),
                        Datum::Int32(partition),
                        Datum::Int64(offset),
                        Datum::String(error),
                        record.payload.map_or(Datum::Null, |p| Datum::Bytes(p.to_vec())),
                    ]));
                }
            }
            next.insert(partition, offset + 1);
            if !touched.contains(&partition) {
                touched.push(partition);
            }
        }
        if count == 0 {
            return None;
        }
        batch.offsets = touched.into_iter().map(|p| (p, next[&p])).collect();
        Some(batch)
    }

    /// High watermarks as librdkafka saw them in fetch responses (no extra broker request,
    /// and right where a broker's offset lookups are not).
    fn update_watermarks(&self, consumer: &BaseConsumer, topic: &str) {
        let Ok(topic_c) = std::ffi::CString::new(topic) else { return };
        let mut status = self.status.lock().expect("status lock");
        let partitions: Vec<i32> = consumer
            .assignment()
            .map(|a| a.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default();
        for p in partitions {
            let (mut low, mut high) = (-1i64, -1i64);
            // SAFETY: the client pointer is valid while `consumer` lives; the topic is a valid
            // NUL-terminated string; the out-pointers are to live locals.
            let err = unsafe {
                rdkafka::bindings::rd_kafka_get_watermark_offsets(consumer.client().native_ptr(), topic_c.as_ptr(), p, &mut low, &mut high)
            };
            let entry = status.partitions.entry(p).or_default();
            if err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 {
                entry.high_watermark = high;
            }
        }
    }
}
