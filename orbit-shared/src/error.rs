//! [`Error`]: every failure an invocation can end with, and [`ErrorKind`], the
//! coarse class each front door maps to its wire (RESP text, SQLSTATE, gRPC
//! status, MCP error).

use crate::ActorId;
use serde::{Deserialize, Serialize};

/// The class of an error, stable across protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    NotFound,
    InvalidArgument,
    WrongType,
    Unavailable,
    Timeout,
    Unauthenticated,
    Internal,
}

impl ErrorKind {
    /// A short snake_case label, used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::WrongType => "wrong_type",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Why an invocation failed. Travels over gRPC intact, so a client sees the
/// same variant the node produced.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Error {
    #[error("unknown actor kind '{kind}'")]
    UnknownKind { kind: String },
    #[error("actor kind '{kind}' has no method '{method}'")]
    UnknownMethod { kind: String, method: String },
    #[error("invalid arguments for '{method}': {reason}")]
    InvalidArguments { method: String, reason: String },
    #[error("invalid actor id: {reason}")]
    InvalidActorId { reason: String },
    #[error("mailbox of {actor} is full ({capacity} waiting calls)")]
    MailboxFull { actor: ActorId, capacity: usize },
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error("no reply within {after_ms} ms")]
    Timeout { after_ms: u64 },
    #[error("storage failure: {reason}")]
    Storage { reason: String },
    /// The actor's stored state was written by code with a newer
    /// `STATE_VERSION` than this node runs (e.g. mid rolling upgrade, or
    /// after a rollback). Nothing is changed; a node running newer code can
    /// serve the actor.
    #[error(
        "stored state of {actor} is version {stored}, newer than this code's version {current}: refusing to load it (no data was changed)"
    )]
    StateVersionTooNew { actor: ActorId, stored: u32, current: u32 },
    /// A call into an actor whose turn is already waiting, up the same
    /// call chain, on this call (`A -> B -> A`): it would wait for a turn
    /// that cannot end, so it is answered at once.
    #[error("call cycle {cycle}: the call waits for a turn held by its own caller, which would deadlock")]
    CallCycle { cycle: String },
    /// An error a handler returned on purpose (e.g. an overflow).
    #[error("{message}")]
    Actor { kind: ErrorKind, message: String },
    #[error("cannot reach the node: {reason}")]
    Unreachable { reason: String },
    /// The node does not lead the actor's partition; `leader` is the gRPC
    /// address of the node that does, when known.
    #[error("partition {partition} is led by {}", leader.as_deref().unwrap_or("no node yet"))]
    NotLeader { partition: u16, leader: Option<String> },
    /// An atomic call group or batch whose actors live in different
    /// partitions of a multi-node cluster.
    #[error("the keys of an atomic operation are in different partitions")]
    CrossPartition,
    /// An operation this gateway does not offer: `what` names it and
    /// where it is offered instead.
    #[error("not supported: {what}")]
    Unsupported { what: String },
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::UnknownKind { .. } | Error::UnknownMethod { .. } => ErrorKind::NotFound,
            Error::InvalidArguments { .. }
            | Error::InvalidActorId { .. }
            | Error::CrossPartition
            | Error::CallCycle { .. }
            | Error::Unsupported { .. } => ErrorKind::InvalidArgument,
            Error::MailboxFull { .. }
            | Error::ShuttingDown
            | Error::Storage { .. }
            | Error::StateVersionTooNew { .. }
            | Error::Unreachable { .. }
            | Error::NotLeader { .. } => ErrorKind::Unavailable,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Actor { kind, .. } => *kind,
            Error::Internal { .. } => ErrorKind::Internal,
        }
    }

    /// A handler's rejection of its input.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Actor { kind: ErrorKind::InvalidArgument, message: message.into() }
    }
}
