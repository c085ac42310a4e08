//! SQL types.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The type of a SQL value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScalarType {
    /// `boolean`
    Bool,
    /// `smallint`
    Int16,
    /// `integer`
    Int32,
    /// `bigint`
    Int64,
    /// `real`
    Float32,
    /// `double precision`
    Float64,
    /// `numeric[(p, s)]`
    Numeric {
        /// Declared (precision, scale), if any.
        typmod: Option<(u32, u32)>,
    },
    /// `text`
    String,
    /// `varchar[(n)]`
    VarChar {
        /// Declared maximum length in characters.
        max_len: Option<u32>,
    },
    /// `bytea`
    Bytes,
    /// `date`
    Date,
    /// `timestamp` (without time zone)
    Timestamp,
    /// `timestamptz`
    TimestampTz,
    /// `interval`
    Interval,
    /// `jsonb`
    Jsonb,
    /// The type of an untyped literal (`'abc'`, `NULL`) before context gives it one.
    Unknown,
    /// A one-dimensional array of the element type.
    Array(Box<ScalarType>),
}

impl ScalarType {
    /// Unconstrained numeric.
    pub const NUMERIC: ScalarType = ScalarType::Numeric { typmod: None };

    /// The SQL name PostgreSQL prints for this type (as in `pg_typeof`).
    pub fn name(&self) -> &'static str {
        match self {
            ScalarType::Bool => "boolean",
            ScalarType::Int16 => "smallint",
            ScalarType::Int32 => "integer",
            ScalarType::Int64 => "bigint",
            ScalarType::Float32 => "real",
            ScalarType::Float64 => "double precision",
            ScalarType::Numeric { .. } => "numeric",
            ScalarType::String => "text",
            ScalarType::VarChar { .. } => "character varying",
            ScalarType::Bytes => "bytea",
            ScalarType::Date => "date",
            ScalarType::Timestamp => "timestamp without time zone",
            ScalarType::TimestampTz => "timestamp with time zone",
            ScalarType::Interval => "interval",
            ScalarType::Jsonb => "jsonb",
            ScalarType::Unknown => "unknown",
            ScalarType::Array(elem) => match **elem {
                ScalarType::Bool => "boolean[]",
                ScalarType::Int16 => "smallint[]",
                ScalarType::Int32 => "integer[]",
                ScalarType::Int64 => "bigint[]",
                ScalarType::Float32 => "real[]",
                ScalarType::Float64 => "double precision[]",
                ScalarType::Numeric { .. } => "numeric[]",
                ScalarType::VarChar { .. } => "character varying[]",
                ScalarType::Date => "date[]",
                ScalarType::Timestamp => "timestamp without time zone[]",
                ScalarType::TimestampTz => "timestamp with time zone[]",
                ScalarType::Interval => "interval[]",
                ScalarType::Jsonb => "jsonb[]",
                ScalarType::Bytes => "bytea[]",
                _ => "text[]",
            },
        }
    }

    /// The type with its modifiers removed (`varchar(10)` → `varchar`).
    pub fn without_modifiers(&self) -> ScalarType {
        match self {
            ScalarType::Numeric { .. } => ScalarType::NUMERIC,
            ScalarType::VarChar { .. } => ScalarType::VarChar { max_len: None },
            ScalarType::Array(e) => ScalarType::Array(Box::new(e.without_modifiers())),
            other => other.clone(),
        }
    }

    /// True for the string category (text, varchar, unknown literals).
    pub fn is_string_like(&self) -> bool {
        matches!(self, ScalarType::String | ScalarType::VarChar { .. } | ScalarType::Unknown)
    }

    /// True for integer types.
    pub fn is_integer(&self) -> bool {
        matches!(self, ScalarType::Int16 | ScalarType::Int32 | ScalarType::Int64)
    }

    /// True for the numeric category (integers, numeric, floats).
    pub fn is_numeric(&self) -> bool {
        self.is_integer() || matches!(self, ScalarType::Numeric { .. } | ScalarType::Float32 | ScalarType::Float64)
    }

    /// Rank in PostgreSQL's implicit-cast ladder for numbers (higher wins).
    pub fn numeric_rank(&self) -> Option<u8> {
        Some(match self {
            ScalarType::Int16 => 1,
            ScalarType::Int32 => 2,
            ScalarType::Int64 => 3,
            ScalarType::Numeric { .. } => 4,
            ScalarType::Float32 => 5,
            ScalarType::Float64 => 6,
            _ => return None,
        })
    }
}

impl fmt::Display for ScalarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScalarType::Numeric { typmod: Some((p, s)) } => write!(f, "numeric({p},{s})"),
            ScalarType::VarChar { max_len: Some(n) } => write!(f, "character varying({n})"),
            other => f.write_str(other.name()),
        }
    }
}
