//! Descriptions of connections, sources and sinks: what the planner produces from
//! `CREATE CONNECTION`, `CREATE SOURCE` and `CREATE SINK`, and what the storage layer runs.
//! Plain data, so that they can be stored in the catalog and tested without a broker.

use riffle_repr::{GlobalId, RelationDesc};
use serde::{Deserialize, Serialize};

/// `CREATE CONNECTION … TO KAFKA (BROKER '…', …)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KafkaConnection {
    /// Bootstrap servers, comma separated.
    pub brokers: String,
    /// Further librdkafka client settings (`security.protocol`, `sasl.mechanism`, …).
    pub options: Vec<(String, String)>,
}

/// How record values (and keys) are decoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Format {
    /// JSON: one `data jsonb` column, or the declared columns read from an object's fields.
    Json,
    /// CSV, one record per message, with `columns` fields; `header`: a message equal to the
    /// column names is a header and is skipped.
    Csv {
        /// Number of fields.
        columns: usize,
        /// The topic carries header records.
        header: bool,
    },
    /// Avro with the given writer schema (JSON text); Confluent framing is recognised.
    Avro {
        /// The schema.
        schema: String,
    },
    /// UTF-8 text: one `text` column.
    Text,
    /// Raw bytes: one `data bytea` column.
    Bytes,
}

/// How decoded records become changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Envelope {
    /// Every record is an insert.
    None,
    /// The latest value per key; a null value deletes the key.
    Upsert,
    /// Debezium change records: `before` is retracted, `after` inserted.
    Debezium,
}

/// Where a source starts reading partitions it has no stored offset for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StartOffset {
    /// The earliest retained record (the default).
    Earliest,
    /// Only records produced after the source is created.
    Latest,
    /// `START OFFSET (o0, o1, …)`: per partition, in partition order (others: earliest).
    Offsets(Vec<i64>),
}

/// Metadata columns a source appends (`INCLUDE …`), in this order after the value columns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Include {
    /// The record key, as the first column (`key`, or the name given with AS).
    pub key: Option<String>,
    /// `partition integer`.
    pub partition: Option<String>,
    /// `offset bigint`.
    pub offset: Option<String>,
    /// `timestamp timestamptz`: the record's Kafka timestamp.
    pub timestamp: Option<String>,
}

/// A Kafka source, fully planned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceDesc {
    /// The connection's catalog id.
    pub connection_id: GlobalId,
    /// The connection, resolved when planned.
    pub connection: KafkaConnection,
    /// The topic.
    pub topic: String,
    /// Value format.
    pub format: Format,
    /// Key format (the key column's type follows it: bytea for BYTES, jsonb for JSON, else text).
    pub key_format: Format,
    /// Envelope.
    pub envelope: Envelope,
    /// Metadata columns.
    pub include: Include,
    /// Where to start.
    pub start: StartOffset,
    /// The columns decoded from each value (before the metadata columns are added).
    pub value_desc: RelationDesc,
}

/// What a sink writes for each change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SinkEnvelope {
    /// `{"before": …, "after": …}` change records.
    Debezium,
    /// The latest row per key as the value, a tombstone (null value) on delete.
    Upsert,
}

/// A Kafka sink, fully planned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinkDesc {
    /// The relation whose changes are written.
    pub from: GlobalId,
    /// The connection's catalog id.
    pub connection_id: GlobalId,
    /// The connection, resolved when planned.
    pub connection: KafkaConnection,
    /// The topic written to.
    pub topic: String,
    /// Envelope.
    pub envelope: SinkEnvelope,
    /// Key columns (indexes into the relation); the message key is their JSON object.
    pub key: Vec<usize>,
    /// The relation's columns.
    pub desc: RelationDesc,
}

impl SourceDesc {
    /// The source's output columns: key, value columns, then partition, offset, timestamp.
    pub fn output_desc(&self) -> RelationDesc {
        use riffle_repr::{ColumnType, ScalarType};
        let mut desc = RelationDesc::empty();
        if let Some(name) = &self.include.key {
            let typ = match self.key_format {
                Format::Bytes => ScalarType::Bytes,
                Format::Json => ScalarType::Jsonb,
                _ => ScalarType::String,
            };
            desc = desc.with_column(name.clone(), ColumnType::nullable(typ));
        }
        for (name, typ) in self.value_desc.iter() {
            desc = desc.with_column(name.clone(), typ.clone());
        }
        for (col, typ) in [
            (&self.include.partition, ScalarType::Int32),
            (&self.include.offset, ScalarType::Int64),
            (&self.include.timestamp, ScalarType::TimestampTz),
        ] {
            if let Some(name) = col {
                desc = desc.with_column(name.clone(), ColumnType::nullable(typ));
            }
        }
        desc
    }
}
