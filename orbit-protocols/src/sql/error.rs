//! [`SqlError`]: how a statement fails, as PostgreSQL's SQLSTATE ([`Code`])
//! and message. Every failure the engine raises is one of these; errors
//! from the actor gateway map to a SQLSTATE class by their [`ErrorKind`]
//! (unavailable 53, timeout and shutdown 57, ...), and errors from
//! DataFusion once, in [`From<DataFusionError>`]. Orbit's own errors raised
//! inside DataFusion (in functions and table scans) travel there as
//! [`DataFusionError::External`] and come back out unchanged.

use datafusion::error::DataFusionError;
use orbit_shared::ErrorKind;

/// The SQLSTATEs Orbit answers with, named as in PostgreSQL's
/// `errcodes.txt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    ConnectionFailure,
    ProtocolViolation,
    FeatureNotSupported,
    CardinalityViolation,
    StringDataRightTruncation,
    NumericValueOutOfRange,
    InvalidDatetimeFormat,
    DatetimeFieldOverflow,
    DivisionByZero,
    InvalidParameterValue,
    InvalidRowCountInLimitClause,
    SequenceGeneratorLimitExceeded,
    CharacterNotInRepertoire,
    InvalidTextRepresentation,
    InvalidBinaryRepresentation,
    BadCopyFileFormat,
    NotNullViolation,
    UniqueViolation,
    ForeignKeyViolation,
    CheckViolation,
    ActiveSqlTransaction,
    NoActiveSqlTransaction,
    InvalidSavepoint,
    UndefinedPreparedStatement,
    ReadOnlySqlTransaction,
    InFailedSqlTransaction,
    InvalidAuthorization,
    DependentObjectsStillExist,
    ExternalRoutineException,
    InvalidSchemaName,
    TransactionRollback,
    SerializationFailure,
    DeadlockDetected,
    SyntaxError,
    WrongObjectType,
    UndefinedColumn,
    UndefinedFunction,
    UndefinedTable,
    UndefinedParameter,
    UndefinedObject,
    InvalidName,
    DuplicateColumn,
    DuplicateTable,
    DuplicateObject,
    DuplicatePreparedStatement,
    AmbiguousColumn,
    DatatypeMismatch,
    InvalidColumnReference,
    InvalidTableDefinition,
    InvalidObjectDefinition,
    InvalidForeignKey,
    GeneratedAlways,
    InsufficientResources,
    TooManyConnections,
    ProgramLimitExceeded,
    ObjectNotInPrerequisiteState,
    CantChangeRuntimeParam,
    LockNotAvailable,
    QueryCanceled,
    AdminShutdown,
    IoError,
    Internal,
}

impl Code {
    /// Every code, for reading a SQLSTATE back.
    const ALL: [Code; 62] = [
        Code::ConnectionFailure,
        Code::ProtocolViolation,
        Code::FeatureNotSupported,
        Code::CardinalityViolation,
        Code::StringDataRightTruncation,
        Code::NumericValueOutOfRange,
        Code::InvalidDatetimeFormat,
        Code::DatetimeFieldOverflow,
        Code::DivisionByZero,
        Code::InvalidParameterValue,
        Code::InvalidRowCountInLimitClause,
        Code::SequenceGeneratorLimitExceeded,
        Code::CharacterNotInRepertoire,
        Code::InvalidTextRepresentation,
        Code::InvalidBinaryRepresentation,
        Code::BadCopyFileFormat,
        Code::NotNullViolation,
        Code::UniqueViolation,
        Code::ForeignKeyViolation,
        Code::CheckViolation,
        Code::ActiveSqlTransaction,
        Code::NoActiveSqlTransaction,
        Code::InvalidSavepoint,
        Code::UndefinedPreparedStatement,
        Code::ReadOnlySqlTransaction,
        Code::InFailedSqlTransaction,
        Code::InvalidAuthorization,
        Code::DependentObjectsStillExist,
        Code::ExternalRoutineException,
        Code::InvalidSchemaName,
        Code::TransactionRollback,
        Code::SerializationFailure,
        Code::DeadlockDetected,
        Code::SyntaxError,
        Code::WrongObjectType,
        Code::UndefinedColumn,
        Code::UndefinedFunction,
        Code::UndefinedTable,
        Code::UndefinedParameter,
        Code::UndefinedObject,
        Code::InvalidName,
        Code::DuplicateColumn,
        Code::DuplicateTable,
        Code::DuplicateObject,
        Code::DuplicatePreparedStatement,
        Code::AmbiguousColumn,
        Code::DatatypeMismatch,
        Code::InvalidColumnReference,
        Code::InvalidTableDefinition,
        Code::InvalidObjectDefinition,
        Code::InvalidForeignKey,
        Code::GeneratedAlways,
        Code::InsufficientResources,
        Code::TooManyConnections,
        Code::ProgramLimitExceeded,
        Code::ObjectNotInPrerequisiteState,
        Code::CantChangeRuntimeParam,
        Code::LockNotAvailable,
        Code::QueryCanceled,
        Code::AdminShutdown,
        Code::IoError,
        Code::Internal,
    ];

    /// The code whose five characters are `sqlstate`.
    pub fn from_sqlstate(sqlstate: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|code| code.as_str() == sqlstate)
    }

    /// The five characters on the wire.
    pub fn as_str(self) -> &'static str {
        use Code::*;
        match self {
            ConnectionFailure => "08006",
            ProtocolViolation => "08P01",
            FeatureNotSupported => "0A000",
            CardinalityViolation => "21000",
            StringDataRightTruncation => "22001",
            NumericValueOutOfRange => "22003",
            InvalidDatetimeFormat => "22007",
            DatetimeFieldOverflow => "22008",
            DivisionByZero => "22012",
            InvalidParameterValue => "22023",
            InvalidRowCountInLimitClause => "2201W",
            SequenceGeneratorLimitExceeded => "2200H",
            CharacterNotInRepertoire => "22021",
            InvalidTextRepresentation => "22P02",
            InvalidBinaryRepresentation => "22P03",
            BadCopyFileFormat => "22P04",
            NotNullViolation => "23502",
            UniqueViolation => "23505",
            ForeignKeyViolation => "23503",
            CheckViolation => "23514",
            ActiveSqlTransaction => "25001",
            NoActiveSqlTransaction => "25P01",
            InvalidSavepoint => "3B001",
            UndefinedPreparedStatement => "26000",
            ReadOnlySqlTransaction => "25006",
            InFailedSqlTransaction => "25P02",
            InvalidAuthorization => "28000",
            DependentObjectsStillExist => "2BP01",
            ExternalRoutineException => "38000",
            InvalidSchemaName => "3F000",
            TransactionRollback => "40000",
            SerializationFailure => "40001",
            DeadlockDetected => "40P01",
            SyntaxError => "42601",
            WrongObjectType => "42809",
            UndefinedColumn => "42703",
            UndefinedFunction => "42883",
            UndefinedTable => "42P01",
            UndefinedParameter => "42P02",
            UndefinedObject => "42704",
            InvalidName => "42602",
            DuplicateColumn => "42701",
            DuplicateTable => "42P07",
            DuplicateObject => "42710",
            DuplicatePreparedStatement => "42P05",
            AmbiguousColumn => "42702",
            DatatypeMismatch => "42804",
            InvalidColumnReference => "42P10",
            InvalidTableDefinition => "42P16",
            InvalidObjectDefinition => "42P17",
            InvalidForeignKey => "42830",
            GeneratedAlways => "428C9",
            InsufficientResources => "53000",
            TooManyConnections => "53300",
            ProgramLimitExceeded => "54000",
            ObjectNotInPrerequisiteState => "55000",
            CantChangeRuntimeParam => "55P02",
            LockNotAvailable => "55P03",
            QueryCanceled => "57014",
            AdminShutdown => "57P01",
            IoError => "58030",
            Internal => "XX000",
        }
    }

    /// The class of a gateway error of `kind`.
    pub fn of_kind(kind: ErrorKind) -> Code {
        match kind {
            ErrorKind::NotFound => Code::UndefinedObject,
            ErrorKind::InvalidArgument => Code::InvalidParameterValue,
            ErrorKind::WrongType => Code::WrongObjectType,
            ErrorKind::Unavailable => Code::InsufficientResources,
            ErrorKind::Timeout => Code::QueryCanceled,
            ErrorKind::Unauthenticated => Code::InvalidAuthorization,
            _ => Code::Internal,
        }
    }

    /// The class of failure this SQLSTATE reports, for front doors that
    /// speak in classes rather than codes (MCP): a timeout, the server
    /// unable to serve now (retry later), a missing object, and so on; a
    /// fault of the statement is an invalid argument.
    pub fn kind(self) -> ErrorKind {
        use Code::*;
        match self {
            QueryCanceled => ErrorKind::Timeout,
            ConnectionFailure
            | InsufficientResources
            | TooManyConnections
            | AdminShutdown
            | IoError
            | LockNotAvailable
            | DeadlockDetected
            | TransactionRollback
            | SerializationFailure => ErrorKind::Unavailable,
            UndefinedColumn | UndefinedFunction | UndefinedTable | UndefinedParameter | UndefinedObject
            | InvalidSchemaName => ErrorKind::NotFound,
            WrongObjectType | DatatypeMismatch => ErrorKind::WrongType,
            InvalidAuthorization => ErrorKind::Unauthenticated,
            Internal => ErrorKind::Internal,
            _ => ErrorKind::InvalidArgument,
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A statement's failure: SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (SQLSTATE {code})")]
pub struct SqlError {
    pub code: Code,
    pub message: String,
}

impl SqlError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        SqlError { code, message: message.into() }
    }

    /// This error, to be raised inside DataFusion (a function, a scan) and
    /// recovered unchanged when the query fails.
    pub fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }
}

pub(crate) type Result<T> = std::result::Result<T, SqlError>;

pub(crate) fn error(code: Code, message: impl Into<String>) -> SqlError {
    SqlError::new(code, message)
}

pub(crate) fn unsupported(what: impl std::fmt::Display) -> SqlError {
    error(Code::FeatureNotSupported, format!("{what} is not supported by Orbit yet"))
}

/// The error of a statement the client cancelled.
pub(crate) fn cancelled() -> SqlError {
    error(Code::QueryCanceled, "canceling statement due to user request")
}

/// The error for statements in a failed transaction block.
pub(crate) fn aborted() -> SqlError {
    error(
        Code::InFailedSqlTransaction,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

impl From<crate::sql::types::ValueError> for SqlError {
    fn from(e: crate::sql::types::ValueError) -> Self {
        SqlError { code: e.code, message: e.message }
    }
}

/// A gateway error by its class: a full mailbox or an unavailable store is
/// 53000, a timeout 57014, a node shutting down 57P01, a node that no
/// longer leads the SQL data 40001 (the transaction may be retried, on a new
/// connection, where the data is led now).
impl From<orbit_shared::Error> for SqlError {
    fn from(e: orbit_shared::Error) -> Self {
        let code = match &e {
            orbit_shared::Error::ShuttingDown => Code::AdminShutdown,
            orbit_shared::Error::NotLeader { .. } => Code::SerializationFailure,
            orbit_shared::Error::Storage { .. } => Code::IoError,
            orbit_shared::Error::Unsupported { .. } => Code::FeatureNotSupported,
            other => Code::of_kind(other.kind()),
        };
        SqlError { code, message: e.to_string() }
    }
}

/// A Redis key read (`orbit_redis`): a gateway failure keeps its SQLSTATE,
/// the rest map by their class.
impl From<crate::keyspace::view::ViewError> for SqlError {
    fn from(e: crate::keyspace::view::ViewError) -> Self {
        match e {
            crate::keyspace::view::ViewError::Gateway(gateway) => gateway.into(),
            other => SqlError { code: Code::of_kind(other.kind()), message: other.to_string() },
        }
    }
}

impl From<DataFusionError> for SqlError {
    fn from(e: DataFusionError) -> Self {
        from_datafusion(e)
    }
}

/// DataFusion's own errors by variant (and, for planning and Arrow errors,
/// which carry only text, by their text); Orbit's, raised inside it, as
/// they were raised.
fn from_datafusion(e: DataFusionError) -> SqlError {
    use datafusion::common::SchemaError;
    let root = e.find_root();
    match root {
        DataFusionError::External(inner) => {
            if let Some(sql) = inner.downcast_ref::<SqlError>() {
                return sql.clone();
            }
            if let Some(gateway) = inner.downcast_ref::<orbit_shared::Error>() {
                return gateway.clone().into();
            }
            error(Code::Internal, inner.to_string())
        }
        DataFusionError::SchemaError(e, _) => match e.as_ref() {
            SchemaError::FieldNotFound { field, .. } => {
                error(Code::UndefinedColumn, format!("column \"{}\" does not exist", field.name))
            }
            SchemaError::AmbiguousReference { field } => {
                error(Code::AmbiguousColumn, format!("column reference \"{}\" is ambiguous", field.name))
            }
            other => error(Code::UndefinedTable, other.to_string()),
        },
        DataFusionError::SQL(e, _) => error(Code::SyntaxError, format!("syntax error: {e}")),
        DataFusionError::NotImplemented(m) => unsupported(m),
        DataFusionError::ArrowError(e, _) => {
            let message = e.to_string();
            if message.contains("Divide by zero") {
                error(Code::DivisionByZero, "division by zero")
            } else if message.contains("Cast error") || message.contains("Cannot cast") {
                error(Code::InvalidTextRepresentation, message)
            } else if message.contains("overflow") {
                error(Code::NumericValueOutOfRange, message)
            } else {
                error(Code::Internal, message)
            }
        }
        DataFusionError::Plan(m) => {
            if let Some(rest) = m.strip_prefix("table '").and_then(|r| r.split_once("' not found")) {
                let name = rest.0.rsplit('.').next().unwrap_or(rest.0);
                error(Code::UndefinedTable, format!("relation \"{name}\" does not exist"))
            } else if m.contains("Invalid function") || m.contains("No function matches") {
                error(Code::UndefinedFunction, m.clone())
            } else if m.contains("Cannot infer common") || m.contains("cannot be coerced") {
                error(Code::DatatypeMismatch, m.clone())
            } else {
                error(Code::SyntaxError, m.clone())
            }
        }
        DataFusionError::Execution(m) if m.starts_with("cannot get array length") => {
            error(Code::InvalidParameterValue, m.clone())
        }
        other => {
            let message = other.to_string();
            if message.contains("Divide by zero") || message.contains("division by zero") {
                error(Code::DivisionByZero, "division by zero")
            } else {
                error(Code::Internal, message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sqlstate_reads_back_as_its_code() {
        for code in Code::ALL {
            assert_eq!(Code::from_sqlstate(code.as_str()), Some(code));
        }
        assert_eq!(Code::from_sqlstate("40001"), Some(Code::SerializationFailure));
        assert_eq!(Code::from_sqlstate("99999"), None);
        let deposed = orbit_shared::Error::NotLeader { partition: 0, leader: None };
        assert_eq!(SqlError::from(deposed).code, Code::SerializationFailure);
    }

    #[test]
    fn gateway_errors_map_to_their_class() {
        let timeout: SqlError = orbit_shared::Error::Timeout { after_ms: 5 }.into();
        assert_eq!(timeout.code.as_str(), "57014");
        let full: SqlError = orbit_shared::Error::MailboxFull {
            actor: orbit_shared::ActorId::new("counter", bytes::Bytes::from_static(b"a")),
            capacity: 1,
        }
        .into();
        assert_eq!(full.code.as_str(), "53000");
        let closing: SqlError = orbit_shared::Error::ShuttingDown.into();
        assert_eq!(closing.code.as_str(), "57P01");
    }

    #[test]
    fn the_class_of_a_kinds_code_is_that_kind() {
        use ErrorKind::*;
        for kind in [NotFound, InvalidArgument, WrongType, Unavailable, Timeout, Unauthenticated, Internal] {
            assert_eq!(Code::of_kind(kind).kind(), kind, "{kind:?}");
        }
        assert_eq!(Code::AdminShutdown.kind(), Unavailable);
        assert_eq!(Code::SyntaxError.kind(), InvalidArgument);
    }

    #[test]
    fn orbit_errors_raised_inside_datafusion_come_back_unchanged() {
        let raised = error(Code::InvalidTextRepresentation, "invalid input syntax for type uuid: \"x\"");
        let wrapped = DataFusionError::Context("scan".into(), Box::new(raised.clone().into_datafusion()));
        assert_eq!(SqlError::from(wrapped), raised);
        let gateway = orbit_shared::Error::Timeout { after_ms: 7 };
        let wrapped = DataFusionError::External(Box::new(gateway.clone()));
        assert_eq!(SqlError::from(wrapped), SqlError::from(gateway));
    }
}
