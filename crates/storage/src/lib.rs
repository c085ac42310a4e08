//! Storage layer: Kafka sources and sinks.
//!
//! - [`decode`]: records → rows, per format and envelope (no broker needed; unit-tested).
//! - [`source`]: the ingestion thread of one source: assigns every partition itself (no
//!   consumer group), decodes, and hands each batch with its next offsets to a
//!   [`source::SourceWriter`], which the adapter implements by appending rows and offsets in one
//!   RocksDB batch; then waits for the dataflows to catch up (backpressure).
//! - [`sink`]: encodes a relation's changes as JSON change records and produces them.
#![warn(missing_docs)]

pub mod decode;
pub mod sink;
pub mod source;
