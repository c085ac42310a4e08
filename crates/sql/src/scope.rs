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
        let matches: Vec<usize> = self
            .items
            .iter()
            .enumerate()
            .filter(|(_, it)| it.name == name && table.map_or(!it.hidden, |t| it.table.as_deref() == Some(t)))
            .map(|(i, _)| i)
            .collect();
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
