//! Planning errors.

use riffle_expr::EvalError;

/// Why a statement could not be planned. Each variant maps to one SQLSTATE in the adapter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The text is not valid SQL (42601).
    #[error("{0}")]
    Parse(String),
    /// A relation that does not exist (42P01).
    #[error("relation \"{0}\" does not exist")]
    UnknownRelation(String),
    /// A qualifier naming no FROM item (42P01).
    #[error("{0}")]
    MissingFrom(String),
    /// A column that does not exist (42703).
    #[error("column \"{0}\" does not exist")]
    UnknownColumn(String),
    /// A column name matching several columns (42702).
    #[error("column reference \"{0}\" is ambiguous")]
    AmbiguousColumn(String),
    /// A function or operator with no matching signature (42883).
    #[error("{0}")]
    UnknownFunction(String),
    /// A type that does not exist (42704).
    #[error("type \"{0}\" does not exist")]
    UnknownType(String),
    /// Values of the wrong type (42804).
    #[error("{0}")]
    TypeMismatch(String),
    /// A column used outside GROUP BY (42803), or another grouping mistake.
    #[error("{0}")]
    Grouping(String),
    /// A window function where none is allowed (42P20).
    #[error("{0}")]
    WindowingError(String),
    /// An object that already exists (42P07).
    #[error("relation \"{0}\" already exists")]
    AlreadyExists(String),
    /// Objects depend on the one being dropped (2BP01).
    #[error("cannot drop {0} because other objects depend on it")]
    DependentObjects(String),
    /// The object exists but is the wrong kind (42809).
    #[error("\"{0}\" is not a {1}")]
    WrongObjectType(String, &'static str),
    /// Valid SQL that Riffle does not support yet (0A000).
    #[error("{0} is not supported")]
    Unsupported(String),
    /// An expression nested deeper than the limit (54001, PostgreSQL's "stack depth limit
    /// exceeded"); see `depth::MAX_EXPR_DEPTH`.
    #[error("stack depth limit exceeded: expressions may nest at most {0} levels deep")]
    TooDeep(usize),
    /// A bad value in the statement itself, such as a non-constant LIMIT (22023 / 42601).
    #[error("{0}")]
    InvalidParameter(String),
    /// A named object (connection, source, sink) that does not exist (42704).
    #[error("{0} \"{1}\" does not exist")]
    UnknownObject(&'static str, String),
    /// A bad value for an option or clause (`RETAIN HISTORY FOR`, `AS OF`, `WITH (…)`) (22023).
    #[error("{0}")]
    InvalidValue(String),
    /// Evaluating a constant at plan time failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// Too many or too few values in an INSERT (42601).
    #[error("{0}")]
    Syntax(String),
    /// A table definition PostgreSQL refuses, such as two primary keys (42P16).
    #[error("{0}")]
    InvalidTableDefinition(String),
    /// A privilege that does not exist for the object's kind (0LP01).
    #[error("{0}")]
    InvalidGrant(String),
    /// A parameter `$n` whose value was not supplied (08P01 / 42P02).
    #[error("there is no parameter ${0}")]
    UnknownParameter(usize),
}

impl PlanError {
    /// Shorthand for an unsupported-feature error.
    pub fn unsupported(what: impl Into<String>) -> Self {
        PlanError::Unsupported(what.into())
    }
}
