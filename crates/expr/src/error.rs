//! Errors raised while evaluating expressions.

use riffle_repr::strconv::ParseError;
use serde::{Deserialize, Serialize};

/// An error produced by evaluating a scalar expression on a row.
///
/// Serializable and ordered so that dataflows can carry errors as data: a view whose
/// definition fails on some row reports the error when read, as Materialize does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum EvalError {
    /// Division (or modulo) by zero.
    #[error("division by zero")]
    DivisionByZero,
    /// A value does not fit its type (`integer out of range`).
    #[error("{0} out of range")]
    OutOfRange(String),
    /// A numeric value exceeds its declared precision.
    #[error("numeric field overflow")]
    NumericFieldOverflow,
    /// A string is longer than its declared `varchar(n)`.
    #[error("value too long for type character varying({0})")]
    StringTooLong(u32),
    /// Text that does not parse as the target type.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// An argument outside a function's domain (`sqrt(-1)`, bad `date_trunc` unit).
    #[error("{0}")]
    InvalidArgument(String),
    /// A valid request PostgreSQL also refuses as not supported (0A000).
    #[error("{0}")]
    FeatureNotSupported(String),
    /// An invalid regular expression.
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
    /// A cast that PostgreSQL does not define.
    #[error("cannot cast type {from} to {to}")]
    InvalidCast {
        /// Source type name.
        from: String,
        /// Target type name.
        to: String,
    },
    /// A value violating a NOT NULL column.
    #[error("null value in column \"{column}\" of relation \"{relation}\" violates not-null constraint")]
    NotNullViolation {
        /// Column name.
        column: String,
        /// Table name.
        relation: String,
    },
    /// A row for which a CHECK constraint is false.
    #[error("new row for relation \"{relation}\" violates check constraint \"{constraint}\"")]
    CheckViolation {
        /// Table name.
        relation: String,
        /// Constraint name.
        constraint: String,
    },
    /// A scalar subquery returned more than one row.
    #[error("more than one row returned by a subquery used as an expression")]
    MultipleRowsFromSubquery,
}
