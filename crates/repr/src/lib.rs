//! Data layer: the values Riffle stores and computes on.
//!
//! Every other crate speaks in these types: a [`Datum`] is one SQL value, a [`Row`] is a
//! tuple of datums, a [`ScalarType`] is a SQL type and a [`RelationDesc`] names and types the
//! columns of a relation. [`strconv`] holds the PostgreSQL text formats, used both for wire
//! output and for casts from text, so that the two can never disagree.
#![warn(missing_docs)]

mod datum;
pub mod refresh;
mod relation;
mod row;
mod scalar;
pub mod strconv;
pub mod zone;

pub use datum::{Datum, Interval, F32, F64};
pub use refresh::RefreshSchedule;
pub use relation::{ColumnType, GlobalId, RelationDesc};
pub use row::{ArrayRef, DatumIter, DatumRef, MalformedRow, Row, RowPacker, RowRef, RowVec};
pub use scalar::ScalarType;

/// Logical time of the system: milliseconds since the Unix epoch, assigned by the coordinator.
pub type Timestamp = u64;

/// Multiplicity change of an update.
pub type Diff = i64;
