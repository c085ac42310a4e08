//! SQL values.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

macro_rules! float_wrapper {
    ($name:ident, $t:ty, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Ordered and hashed as PostgreSQL compares floats: NaN equals NaN and sorts above
        /// every other value, and -0 equals 0.
        #[derive(Clone, Copy, Debug, Serialize, Deserialize)]
        pub struct $name(pub $t);

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other) == Ordering::Equal
            }
        }
        impl Eq for $name {}
        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> Ordering {
                match (self.0.is_nan(), other.0.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal),
                }
            }
        }
        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                let canonical = if self.0.is_nan() {
                    <$t>::NAN
                } else if self.0 == 0.0 {
                    0.0
                } else {
                    self.0
                };
                canonical.to_bits().hash(state)
            }
        }
    };
}

float_wrapper!(F32, f32, "A `real` value.");
float_wrapper!(F64, f64, "A `double precision` value.");

/// An `interval`: months, days and microseconds kept apart, as PostgreSQL does, because a
/// month has no fixed number of days and a day no fixed number of seconds across DST.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Interval {
    /// Whole months.
    pub months: i32,
    /// Whole days.
    pub days: i32,
    /// Microseconds.
    pub micros: i64,
}

impl Interval {
    /// Microseconds in a day, as interval comparison counts them.
    pub const MICROS_PER_DAY: i64 = 86_400_000_000;

    /// The interval's length with a month counted as 30 days, as PostgreSQL compares them.
    pub fn total_micros(&self) -> i128 {
        (self.months as i128 * 30 + self.days as i128) * Self::MICROS_PER_DAY as i128 + self.micros as i128
    }
}

impl PartialEq for Interval {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Interval {}
impl PartialOrd for Interval {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Interval {
    fn cmp(&self, other: &Self) -> Ordering {
        self.total_micros().cmp(&other.total_micros())
    }
}
impl Hash for Interval {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.total_micros().hash(state)
    }
}

/// One SQL value.
///
/// The derived order is used for arrangement keys and DISTINCT; SQL comparison semantics
/// (NULL handling, cross-type numeric comparison) live in the expression evaluator.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Datum {
    /// SQL NULL.
    Null,
    /// `boolean`
    Bool(bool),
    /// `smallint`
    Int16(i16),
    /// `integer`
    Int32(i32),
    /// `bigint`
    Int64(i64),
    /// `real`
    Float32(F32),
    /// `double precision`
    Float64(F64),
    /// `numeric`, serialized as its text (bincode cannot read rust_decimal's default form,
    /// which accepts either a string or a number).
    Numeric(#[serde(with = "rust_decimal::serde::str")] Decimal),
    /// `text` / `varchar`
    String(String),
    /// `bytea`
    Bytes(Vec<u8>),
    /// `date`: days since 1970-01-01.
    Date(i32),
    /// `timestamp`: microseconds since 1970-01-01 00:00:00.
    Timestamp(i64),
    /// `timestamptz`: microseconds since 1970-01-01 00:00:00 UTC.
    TimestampTz(i64),
    /// `interval`
    Interval(Interval),
    /// `jsonb`, held in its canonical text form (sorted keys, normalized spacing).
    Jsonb(String),
    /// A one-dimensional array (`float4[]`, `text[]`, …); elements may be NULL.
    Array(Vec<Datum>),
}

impl Datum {
    /// True for SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// The boolean inside, or None for NULL or another type.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Datum::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Convenience constructor for `double precision`.
    pub fn f64(v: f64) -> Datum {
        Datum::Float64(F64(v))
    }
}

impl Datum {
    /// Bytes this datum owns on the heap.
    pub fn heap_size(&self) -> usize {
        match self {
            Datum::String(s) | Datum::Jsonb(s) => s.capacity(),
            Datum::Bytes(b) => b.capacity(),
            Datum::Array(a) => a.capacity() * std::mem::size_of::<Datum>() + a.iter().map(Datum::heap_size).sum::<usize>(),
            _ => 0,
        }
    }
}
