//! Kafka sinks: a relation's changes as JSON records.
//!
//! The adapter subscribes to the relation and hands every completed time's changes to
//! [`SinkProducer::write`], which produces them and waits until the broker has acknowledged
//! all of them; only then does the adapter record the time as the sink's durable progress.
//! After a restart the sink resumes from that time, so a change is written again only if the
//! server died between the broker's acknowledgement and the progress write (at-least-once;
//! with ENVELOPE UPSERT a repeat is harmless).

use crate::source::client_config;
use rdkafka::producer::{FutureProducer, FutureRecord};
use riffle_repr::{Datum, Diff, RelationDesc, Row, Timestamp};
use riffle_sql::source::{SinkDesc, SinkEnvelope};
use std::collections::BTreeMap;
use std::time::Duration;

/// A Kafka producer for one sink.
pub struct SinkProducer {
    producer: FutureProducer,
    desc: SinkDesc,
}

/// A datum as JSON: numbers and booleans natively, jsonb as its value, everything else in
/// PostgreSQL's text form.
pub fn datum_to_json(d: &Datum) -> serde_json::Value {
    use serde_json::Value as J;
    match d {
        Datum::Null => J::Null,
        Datum::Bool(b) => J::Bool(*b),
        Datum::Int16(v) => J::from(*v),
        Datum::Int32(v) => J::from(*v),
        Datum::Int64(v) => J::from(*v),
        Datum::Float32(v) if v.0.is_finite() => J::from(v.0 as f64),
        Datum::Float64(v) if v.0.is_finite() => J::from(v.0),
        Datum::Numeric(n) => serde_json::from_str(&n.to_string()).unwrap_or_else(|_| J::String(n.to_string())),
        Datum::Jsonb(s) => serde_json::from_str(s).unwrap_or_else(|_| J::String(s.clone())),
        Datum::Array(items) => J::Array(items.iter().map(datum_to_json).collect()),
        other => J::String(riffle_repr::strconv::format_datum(other).unwrap_or_default()),
    }
}

/// A row as a JSON object keyed by column name.
pub fn row_to_json(desc: &RelationDesc, row: &Row) -> serde_json::Value {
    serde_json::Value::Object(desc.names.iter().cloned().zip(row.unpack().iter().map(datum_to_json)).collect())
}

/// The Kafka records (key, value) for one time's changes.
pub fn encode(desc: &SinkDesc, updates: &[(Timestamp, Diff, Row)]) -> Vec<(Option<String>, Option<String>)> {
    let key_of = |row: &Row| -> Option<serde_json::Value> {
        if desc.key.is_empty() {
            return None;
        }
        Some(serde_json::Value::Object(
            desc.key
                .iter()
                .map(|k| (desc.desc.names[*k].clone(), datum_to_json(&row.get(*k).to_datum())))
                .collect(),
        ))
    };
    // Per key (or per row when there is none): what leaves and what arrives at this time.
    let mut changes: BTreeMap<String, (Option<serde_json::Value>, Vec<Row>, Vec<Row>)> = BTreeMap::new();
    for (_, diff, row) in updates {
        let key = key_of(row);
        let group = match &key {
            Some(k) => k.to_string(),
            None => format!("{row:?}"),
        };
        let entry = changes.entry(group).or_insert_with(|| (key, Vec::new(), Vec::new()));
        for _ in 0..diff.unsigned_abs() {
            if *diff < 0 {
                entry.1.push(row.clone());
            } else {
                entry.2.push(row.clone());
            }
        }
    }
    let mut out = Vec::new();
    for (_, (key, before, after)) in changes {
        let key_text = key.as_ref().map(|k| k.to_string());
        match desc.envelope {
            SinkEnvelope::Upsert => {
                // The key's latest row, or a tombstone.
                let value = after.last().map(|r| row_to_json(&desc.desc, r).to_string());
                out.push((key_text, value));
            }
            SinkEnvelope::Debezium => {
                let n = before.len().max(after.len());
                for i in 0..n {
                    let b = before.get(i).map_or(serde_json::Value::Null, |r| row_to_json(&desc.desc, r));
                    let a = after.get(i).map_or(serde_json::Value::Null, |r| row_to_json(&desc.desc, r));
                    out.push((key_text.clone(), Some(serde_json::json!({"before": b, "after": a}).to_string())));
                }
            }
        }
    }
    out
}

impl SinkProducer {
    /// A producer for `desc` (idempotent, acks from all replicas).
    pub fn new(desc: &SinkDesc) -> Result<Self, String> {
        let producer: FutureProducer = client_config(&desc.connection)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("message.timeout.ms", "30000")
            .create()
            .map_err(|e| e.to_string())?;
        Ok(SinkProducer {
            producer,
            desc: desc.clone(),
        })
    }

    /// Produces the changes of one or more completed times and waits for every
    /// acknowledgement.
    pub async fn write(&self, updates: &[(Timestamp, Diff, Row)]) -> Result<usize, String> {
        let mut by_time: BTreeMap<Timestamp, Vec<(Timestamp, Diff, Row)>> = BTreeMap::new();
        for u in updates {
            by_time.entry(u.0).or_default().push(u.clone());
        }
        let mut pending = Vec::new();
        for (_, changes) in by_time {
            for (key, value) in encode(&self.desc, &changes) {
                let mut record: FutureRecord<'_, String, String> = FutureRecord::to(&self.desc.topic);
                if let Some(k) = &key {
                    record = record.key(k);
                }
                if let Some(v) = &value {
                    record = record.payload(v);
                }
                pending.push(self.producer.send_result(record).map_err(|(e, _)| e.to_string())?);
            }
        }
        let n = pending.len();
        for delivery in pending {
            match tokio::time::timeout(Duration::from_secs(60), delivery).await {
                Ok(Ok(Ok(_))) => {}
                Ok(Ok(Err((e, _)))) => return Err(e.to_string()),
                Ok(Err(_)) => return Err("the producer was dropped".into()),
                Err(_) => return Err("timed out waiting for the broker to acknowledge".into()),
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use riffle_repr::{ColumnType, GlobalId, ScalarType};
    use riffle_sql::source::KafkaConnection;

    fn sink(envelope: SinkEnvelope, key: Vec<usize>) -> SinkDesc {
        SinkDesc {
            from: GlobalId(1),
            connection_id: GlobalId(2),
            connection: KafkaConnection {
                brokers: "x".into(),
                options: vec![],
            },
            topic: "out".into(),
            envelope,
            key,
            desc: RelationDesc::empty()
                .with_column("id", ColumnType::nullable(ScalarType::Int32))
                .with_column("v", ColumnType::nullable(ScalarType::String)),
        }
    }

    fn row(id: i32, v: &str) -> Row {
        Row::new(vec![Datum::Int32(id), Datum::String(v.into())])
    }

    #[test]
    fn debezium_pairs_updates_by_key() {
        let out = encode(
            &sink(SinkEnvelope::Debezium, vec![0]),
            &[(5, -1, row(1, "a")), (5, 1, row(1, "b")), (5, 1, row(2, "c"))],
        );
        assert_eq!(
            out,
            vec![
                (
                    Some(r#"{"id":1}"#.into()),
                    Some(r#"{"after":{"id":1,"v":"b"},"before":{"id":1,"v":"a"}}"#.into())
                ),
                (
                    Some(r#"{"id":2}"#.into()),
                    Some(r#"{"after":{"id":2,"v":"c"},"before":null}"#.into())
                ),
            ]
        );
    }

    #[test]
    fn upsert_writes_latest_or_tombstone() {
        let out = encode(
            &sink(SinkEnvelope::Upsert, vec![0]),
            &[(5, -1, row(1, "a")), (5, 1, row(1, "b")), (5, -1, row(2, "c"))],
        );
        assert_eq!(
            out,
            vec![
                (Some(r#"{"id":1}"#.into()), Some(r#"{"id":1,"v":"b"}"#.into())),
                (Some(r#"{"id":2}"#.into()), None),
            ]
        );
    }
}
