//! Name resolution: which column an identifier refers to.

use crate::PlanError;
use riffle_repr::{ColumnType, RelationDesc};

/// One column visible to expressions.
#[derive(Clone, Debug)]
pub struct ScopeItem {
    /// The table name or alias qualifying the column, if any.
    pub table: Option<String>,
    /// The column name.
    pub name: String,
    /// The column type.
    pub typ: ColumnType,
    /// Hidden from `*` and from unqualified lookup (the right side of a USING join).
    pub hidden: bool,
    /// A column of an enclosing query, visible to a correlated subquery: found only when no
    /// column of the subquery itself matches, and never part of `*`.
    pub outer: bool,
}

/// The columns of a relation as expressions see them, in column order.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// The columns.
    pub items: Vec<ScopeItem>,
}

impl Scope {
    /// A scope over a relation's columns, qualified by `table`.
    pub fn from_desc(table: Option<&str>, desc: &RelationDesc) -> Self {
        Scope {
            items: desc
                .iter()
                .map(|(name, typ)| ScopeItem {
                    table: table.map(str::to_string),
                    name: name.clone(),
                    typ: typ.clone(),
                    hidden: false,
                    outer: false,
                })
                .collect(),
        }
    }

    /// The columns of `self` followed by those of `other` (a join).
    pub fn concat(mut self, other: Scope) -> Self {
        self.items.extend(other.items);
        self
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Finds the column `table.name` (or `name`), erroring on unknown or ambiguous names.
    pub fn resolve(&self, table: Option<&str>, name: &str) -> Result<usize, PlanError> {
        let find = |outer: bool| -> Vec<usize> {
            self.items
                .iter()
                .enumerate()
                .filter(|(_, it)| it.outer == outer && it.name == name && table.map_or(!it.hidden, |t| it.table.as_deref() == Some(t)))
                .map(|(i, _)| i)
                .collect()
        };
        let mut matches = find(false);
        if matches.is_empty() {
            matches = find(true);
        }
        match matches.as_slice() {
            [i] => Ok(*i),
            [] => {
                let full = match table {
                    Some(t) if !self.items.iter().any(|it| it.table.as_deref() == Some(t)) => {
                        return Err(PlanError::UnknownRelation(format!("missing FROM-clause entry for table \"{t}\"")).into_missing_from())
                    }
                    Some(t) => format!("{t}.{name}"),
                    None => name.to_string(),
                };
                Err(PlanError::UnknownColumn(full))
            }
            _ => Err(PlanError::AmbiguousColumn(name.to_string())),
        }
    }

    /// The same columns, seen from inside a subquery: all of them become outer columns.
    pub fn as_outer(&self) -> Scope {
        Scope {
            items: self.items.iter().map(|i| ScopeItem { outer: true, ..i.clone() }).collect(),
        }
    }

    /// The scope's columns as a relation description.
    pub fn desc(&self) -> RelationDesc {
        RelationDesc {
            names: self.items.iter().map(|i| i.name.clone()).collect(),
            types: self.items.iter().map(|i| i.typ.clone()).collect(),
        }
    }
}

impl PlanError {
    /// PostgreSQL reports a qualifier naming no FROM item as 42P01 with this wording.
    fn into_missing_from(self) -> PlanError {
        match self {
            PlanError::UnknownRelation(msg) => PlanError::MissingFrom(msg),
            other => other,
        }
    }
}
