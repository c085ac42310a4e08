//! Relation descriptions and object identifiers.

use crate::ScalarType;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifies a durable catalog object (table, view, index) for the life of the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GlobalId(pub u64);

impl GlobalId {
    /// System objects (`riffle_source_errors`) have ids from here on, so that they never take
    /// a user id: `s1`, `s2`, … as printed.
    pub const SYSTEM_BASE: u64 = 1 << 62;

    /// The `n`th system id.
    pub const fn system(n: u64) -> Self {
        GlobalId(Self::SYSTEM_BASE + n)
    }

    /// Whether this is a system object's id.
    pub fn is_system(&self) -> bool {
        self.0 >= Self::SYSTEM_BASE
    }
}

impl fmt::Display for GlobalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_system() {
            write!(f, "s{}", self.0 - Self::SYSTEM_BASE)
        } else {
            write!(f, "u{}", self.0)
        }
    }
}

/// The type of a column: a scalar type plus nullability.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnType {
    /// The SQL type.
    pub scalar_type: ScalarType,
    /// Whether the column may hold NULL.
    pub nullable: bool,
}

impl ColumnType {
    /// A nullable column of the given type.
    pub fn nullable(scalar_type: ScalarType) -> Self {
        ColumnType {
            scalar_type,
            nullable: true,
        }
    }
}

/// Names and types of a relation's columns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RelationDesc {
    /// Column names, in order (may repeat, as in SQL result sets).
    pub names: Vec<String>,
    /// Column types, parallel to `names`.
    pub types: Vec<ColumnType>,
}

impl RelationDesc {
    /// An empty description.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Appends a column.
    pub fn with_column(mut self, name: impl Into<String>, typ: ColumnType) -> Self {
        self.names.push(name.into());
        self.types.push(typ);
        self
    }

    /// Number of columns.
    pub fn arity(&self) -> usize {
        self.types.len()
    }

    /// Iterates over (name, type) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &ColumnType)> {
        self.names.iter().zip(self.types.iter())
    }
}
