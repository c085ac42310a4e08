//! Errors returned to clients, each with its SQLSTATE.

use riffle_compute::ReadError;
use riffle_expr::EvalError;
use riffle_repr::strconv::ParseError;
use riffle_sql::PlanError;

/// An error answering a statement.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// Planning failed.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Evaluating an expression failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The durable store failed.
    #[error(transparent)]
    Durable(#[from] riffle_durable::DurableError),
    /// A read the compute workers could not answer (see [`riffle_compute::ReadError`]).
    #[error(transparent)]
    Read(#[from] riffle_compute::ReadError),
    /// A compute worker failed (a bug).
    #[error("internal error: {0}")]
    Internal(String),
    /// SHOW/SET of a variable that does not exist.
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnknownVariable(String),
    /// A write to, or DROP of, one of the system's own objects.
    #[error("cannot modify system object \"{0}\"")]
    SystemObject(String),
    /// An external system (Kafka) refused.
    #[error("{0}")]
    Storage(String),
    /// A file named in a statement cannot be read.
    #[error("{0}")]
    File(String),
    /// COPY data that cannot be read or written in its format.
    #[error(transparent)]
    Copy(#[from] riffle_copy::CopyError),
    /// A model file that cannot be loaded.
    #[error("{0}")]
    Model(String),
    /// An `AS OF` time outside the retained history.
    #[error("AS OF {0}")]
    InvalidAsOf(String),
    /// A bad value for a session variable.
    #[error("invalid value for parameter \"{0}\": \"{1}\"")]
    InvalidVariable(String, String),
    /// The client cancelled the statement (a CancelRequest: psql's Ctrl-C).
    #[error("canceling statement due to user request")]
    Canceled,
    /// The client ended a COPY FROM STDIN with CopyFail.
    #[error("COPY from stdin failed: {0}")]
    CopyFailed(String),
    /// A message the protocol does not allow at this point.
    #[error("{0}")]
    ProtocolViolation(String),
    /// A statement that cannot run where it was sent (SUBSCRIBE in a multi-statement query).
    #[error("{0}")]
    Unsupported(String),
    /// Something the statement may not do (42501): a server file it may not read or write.
    #[error("{0}")]
    PermissionDenied(String),
    /// A write giving two rows equal values in a PRIMARY KEY or UNIQUE constraint.
    #[error("duplicate key value violates unique constraint \"{0}\"")]
    UniqueViolation(String),
    /// A statement in a transaction block that already failed.
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    /// A write or DDL statement in a READ ONLY transaction block (the statement's name).
    #[error("cannot execute {0} in a read-only transaction")]
    ReadOnlyTransaction(&'static str),
    /// A role that does not exist.
    #[error("role \"{0}\" does not exist")]
    UnknownRole(String),
    /// CREATE ROLE of a name taken.
    #[error("role \"{0}\" already exists")]
    RoleExists(String),
    /// DROP ROLE of a role that owns objects or holds privileges.
    #[error("role \"{0}\" cannot be dropped because some objects depend on it")]
    RoleInUse(String),
    /// A role name reserved by the system, or a predefined role.
    #[error("role name \"{0}\" is reserved")]
    ReservedRole(String),
    /// COMMIT of a block that read a relation someone else wrote after its snapshot.
    #[error("could not serialize access due to concurrent update")]
    SerializationFailure,
}

impl AdapterError {
    /// The PostgreSQL SQLSTATE for this error. Exhaustive on purpose: a new error variant
    /// cannot compile without choosing its code.
    pub fn code(&self) -> &'static str {
        match self {
            AdapterError::Plan(p) => match p {
                PlanError::Parse(_) | PlanError::Syntax(_) => "42601",
                PlanError::UnknownRelation(_) | PlanError::MissingFrom(_) => "42P01",
                PlanError::UnknownColumn(_) => "42703",
                PlanError::AmbiguousColumn(_) => "42702",
                PlanError::UnknownFunction(_) => "42883",
                PlanError::UnknownType(_) => "42704",
                PlanError::TypeMismatch(_) => "42804",
                PlanError::Grouping(_) => "42803",
                PlanError::WindowingError(_) => "42P20",
                PlanError::AlreadyExists(_) => "42P07",
                PlanError::DependentObjects(_) => "2BP01",
                PlanError::WrongObjectType(..) => "42809",
                PlanError::Unsupported(_) => "0A000",
                PlanError::TooDeep(_) => "54001",
                PlanError::InvalidParameter(_) => "42P10",
                PlanError::InvalidValue(_) => "22023",
                PlanError::UnknownObject(..) => "42704",
                PlanError::UnknownParameter(_) => "42P02",
                PlanError::InvalidTableDefinition(_) => "42P16",
                PlanError::InvalidGrant(_) => "0LP01",
                PlanError::Eval(e) => eval_code(e),
            },
            AdapterError::Eval(e) => eval_code(e),
            AdapterError::Read(r) => match r {
                ReadError::Eval(e) => eval_code(e),
                ReadError::Dropped(_) => "42P01",
                // PostgreSQL's code for "another server process crashed": the statement
                // can be repeated once the workers are rebuilt.
                ReadError::Restarted(_) => "57P02",
                ReadError::NotInstalled(_) => "XX000",
            },
            // PostgreSQL's disk_full, data_corrupted and io_error.
            AdapterError::Durable(e) if e.is_disk_full() => "53100",
            AdapterError::Durable(riffle_durable::DurableError::Corrupt(_)) => "XX001",
            AdapterError::Durable(riffle_durable::DurableError::Rocks(_)) => "58030",
            AdapterError::SystemObject(_) => "42501",
            AdapterError::Storage(_) => "58000",
            AdapterError::File(_) => "58P01",
            AdapterError::Copy(riffle_copy::CopyError::BadInput(_)) => "22P04",
            AdapterError::Copy(riffle_copy::CopyError::Unsupported(_)) => "22023",
            AdapterError::Model(_) => "22023",
            AdapterError::Internal(_) => "XX000",
            AdapterError::UnknownVariable(_) => "42704",
            AdapterError::InvalidVariable(..) | AdapterError::InvalidAsOf(_) => "22023",
            AdapterError::Canceled | AdapterError::CopyFailed(_) => "57014",
            AdapterError::ProtocolViolation(_) => "08P01",
            AdapterError::Unsupported(_) => "0A000",
            AdapterError::UniqueViolation(_) => "23505",
            AdapterError::PermissionDenied(_) => "42501",
            AdapterError::InFailedTransaction => "25P02",
            AdapterError::ReadOnlyTransaction(_) => "25006",
            AdapterError::SerializationFailure => "40001",
            AdapterError::UnknownRole(_) => "42704",
            AdapterError::RoleExists(_) => "42710",
            AdapterError::RoleInUse(_) => "2BP01",
            AdapterError::ReservedRole(_) => "42939",
        }
    }
}

fn eval_code(e: &EvalError) -> &'static str {
    match e {
        EvalError::DivisionByZero => "22012",
        EvalError::OutOfRange(_) | EvalError::NumericFieldOverflow => "22003",
        EvalError::StringTooLong(_) => "22001",
        EvalError::Parse(p) => match p {
            ParseError::OutOfRange { .. } => "22003",
            ParseError::DateTimeOutOfRange { .. } => "22008",
            ParseError::InvalidSyntax { .. } if p.is_datetime() => "22007",
            ParseError::InvalidSyntax { .. } => "22P02",
        },
        EvalError::InvalidArgument(_) => "22023",
        EvalError::InvalidRegex(_) => "2201B",
        EvalError::FeatureNotSupported(_) => "0A000",
        EvalError::InvalidCast { .. } => "42846",
        EvalError::NotNullViolation { .. } => "23502",
        EvalError::CheckViolation { .. } => "23514",
        EvalError::MultipleRowsFromSubquery => "21000",
    }
}
