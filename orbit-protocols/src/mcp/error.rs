//! [`McpError`]: how a tool call, resource read or prompt fails, and its
//! [`Class`], the word an agent (or a test) tells failures apart by. A
//! failed tool is a tool result with `isError` whose text starts with the
//! class (`timeout: no reply within 300 ms`); a failed resource read or
//! prompt is a JSON-RPC error carrying the class in `data`. Both are made
//! here, from [`McpError::class`], the one place an [`ErrorKind`] meets MCP.

use crate::keyspace::view::ViewError;
use crate::sql::{Code, SqlError};
use orbit_shared::ErrorKind;
use rmcp::ErrorData;
use rmcp::model::{ContentBlock, IntoContents};
use std::fmt;

/// Why a tool, resource or prompt failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The actor gateway's failure: a timeout, a full mailbox, the node
    /// shutting down, storage, an unknown kind or method...
    #[error(transparent)]
    Gateway(#[from] orbit_shared::Error),
    /// A SQL statement's failure; its text ends with the SQLSTATE.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// Reading or writing a Redis key.
    #[error(transparent)]
    Keyspace(#[from] ViewError),
    /// The work ran past the server's `[mcp] timeout`.
    #[error("no result within {after_ms} ms; ask for less (a smaller count or limit)")]
    TimedOut { after_ms: u64 },
    #[error(
        "the result is {size} bytes, over this server's limit of {limit} bytes; ask for fewer items \
         (max_items, count or limit) or a narrower pattern"
    )]
    TooLarge { size: usize, limit: usize },
    #[error("at most {limit} keys per call")]
    TooManyKeys { limit: usize },
    /// `what` changes data, and the server is read-only.
    #[error(
        "{what} changes data and this Orbit MCP server is read-only. An operator can allow writes with \
         `[mcp] read_only = false` in the node's config (ORBIT__MCP__READ_ONLY=false)."
    )]
    ReadOnly { what: String },
    #[error("unknown actor kind '{kind}' (see list_actor_kinds)")]
    UnknownKind { kind: String },
    #[error("kind '{kind}' has no method '{method}' (see list_actor_kinds)")]
    UnknownMethod { kind: String, method: String },
    #[error("table \"{name}\" does not exist (see sql_list_tables)")]
    NoSuchTable { name: String },
    #[error("bad database '{db}' in {uri}")]
    BadDatabase { db: String, uri: String },
    #[error("bad escape in '{segment}'")]
    BadEscape { segment: String },
    #[error("'{segment}' is not UTF-8")]
    NotUtf8 { segment: String },
    /// A reminder's `period` or `delay` that is not a duration.
    #[error(transparent)]
    Duration(#[from] crate::reminders::InvalidDuration),
    /// A `remind` call whose period, `once` and delay do not fit together.
    #[error("{reason}")]
    BadSchedule { reason: &'static str },
    #[error("cannot encode the result: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What an agent can do about a failure: retry later (`Timeout`,
/// `Unavailable`), change its request (`InvalidArgument`, `NotFound`,
/// `WrongType`, `TooLarge`), ask an operator (`ReadOnly`,
/// `Unauthenticated`), or report it (`Internal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    InvalidArgument,
    NotFound,
    WrongType,
    TooLarge,
    ReadOnly,
    Timeout,
    Unavailable,
    Unauthenticated,
    Internal,
}

impl Class {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::InvalidArgument => "invalid_argument",
            Class::NotFound => "not_found",
            Class::WrongType => "wrong_type",
            Class::TooLarge => "too_large",
            Class::ReadOnly => "read_only",
            Class::Timeout => "timeout",
            Class::Unavailable => "unavailable",
            Class::Unauthenticated => "unauthenticated",
            Class::Internal => "internal",
        }
    }

    /// Whether the request is at fault (as opposed to the server or the
    /// moment): JSON-RPC's invalid params.
    fn request_at_fault(self) -> bool {
        matches!(self, Class::InvalidArgument | Class::NotFound | Class::WrongType | Class::TooLarge)
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ErrorKind> for Class {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::NotFound => Class::NotFound,
            ErrorKind::InvalidArgument => Class::InvalidArgument,
            ErrorKind::WrongType => Class::WrongType,
            ErrorKind::Unavailable => Class::Unavailable,
            ErrorKind::Timeout => Class::Timeout,
            ErrorKind::Unauthenticated => Class::Unauthenticated,
            ErrorKind::Internal => Class::Internal,
        }
    }
}

impl McpError {
    /// The class of this failure: a gateway's by its [`ErrorKind`] (a full
    /// mailbox, a shutdown or a storage failure is `unavailable`, a timeout
    /// `timeout`), however it arrived (directly, through SQL or through a
    /// Redis key).
    pub fn class(&self) -> Class {
        let kind = match self {
            McpError::ReadOnly { .. } => return Class::ReadOnly,
            McpError::Sql(e) if e.code == Code::ReadOnlySqlTransaction => return Class::ReadOnly,
            McpError::TooLarge { .. } | McpError::TooManyKeys { .. } => return Class::TooLarge,
            McpError::Gateway(e) => e.kind(),
            McpError::Sql(e) => e.code.kind(),
            McpError::Keyspace(e) => e.kind(),
            McpError::TimedOut { .. } => ErrorKind::Timeout,
            McpError::UnknownKind { .. } | McpError::UnknownMethod { .. } | McpError::NoSuchTable { .. } => {
                ErrorKind::NotFound
            }
            McpError::BadDatabase { .. }
            | McpError::BadEscape { .. }
            | McpError::NotUtf8 { .. }
            | McpError::Duration(_)
            | McpError::BadSchedule { .. } => ErrorKind::InvalidArgument,
            McpError::Encode(_) => ErrorKind::Internal,
        };
        Class::from(kind)
    }

    /// The text an agent reads: the class, then what happened.
    fn text(&self) -> String {
        format!("{}: {self}", self.class())
    }
}

/// A failed tool: rmcp makes `Err(McpError)` of a tool a result with
/// `isError: true` and this text, so an agent can read it and act.
impl IntoContents for McpError {
    fn into_contents(self) -> Vec<ContentBlock> {
        vec![ContentBlock::text(self.text())]
    }
}

/// A failed resource read or prompt, which MCP can only answer with a
/// JSON-RPC error: invalid params when the request is at fault, otherwise
/// internal; the class travels in `data` too.
impl From<McpError> for ErrorData {
    fn from(e: McpError) -> Self {
        let class = e.class();
        let data = Some(serde_json::json!({ "class": class.as_str() }));
        if class.request_at_fault() {
            ErrorData::invalid_params(e.text(), data)
        } else {
            ErrorData::internal_error(e.text(), data)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_shared::{ActorId, Error};
    use rmcp::handler::server::tool::IntoCallToolResult;
    use rmcp::model::{CallToolResponse, ErrorCode};
    use serde_json::json;

    fn mailbox_full() -> Error {
        Error::MailboxFull { actor: ActorId::new("turnstile", bytes::Bytes::from_static(b"k")), capacity: 1 }
    }

    #[test]
    fn every_error_kind_has_its_class() {
        let classes = [
            (ErrorKind::NotFound, "not_found"),
            (ErrorKind::InvalidArgument, "invalid_argument"),
            (ErrorKind::WrongType, "wrong_type"),
            (ErrorKind::Unavailable, "unavailable"),
            (ErrorKind::Timeout, "timeout"),
            (ErrorKind::Unauthenticated, "unauthenticated"),
            (ErrorKind::Internal, "internal"),
        ];
        for (kind, class) in classes {
            assert_eq!(Class::from(kind).as_str(), class);
        }
    }

    #[test]
    fn gateway_failures_keep_their_class_however_they_arrive() {
        let cases = [
            (McpError::from(Error::Timeout { after_ms: 300 }), Class::Timeout),
            (McpError::from(mailbox_full()), Class::Unavailable),
            (McpError::from(Error::ShuttingDown), Class::Unavailable),
            (McpError::from(Error::Storage { reason: "disk full".into() }), Class::Unavailable),
            (McpError::from(SqlError::from(Error::Timeout { after_ms: 300 })), Class::Timeout),
            (McpError::from(SqlError::from(mailbox_full())), Class::Unavailable),
            (McpError::from(SqlError::from(Error::ShuttingDown)), Class::Unavailable),
            (McpError::from(ViewError::from(Error::Timeout { after_ms: 300 })), Class::Timeout),
            (McpError::from(ViewError::from(mailbox_full())), Class::Unavailable),
            (McpError::from(Error::UnknownKind { kind: "nope".into() }), Class::NotFound),
            (McpError::TimedOut { after_ms: 10_000 }, Class::Timeout),
            (McpError::ReadOnly { what: "kv_set".into() }, Class::ReadOnly),
        ];
        for (error, class) in cases {
            assert_eq!(error.class(), class, "{error}");
        }
    }

    #[test]
    fn a_failed_tool_is_an_error_result_that_starts_with_its_class() {
        let failed: Result<rmcp::Json<serde_json::Value>, McpError> =
            Err(Error::Timeout { after_ms: 300 }.into());
        let Ok(CallToolResponse::Complete(result)) = failed.into_call_tool_result() else {
            panic!("a failed tool is a tool result, not a protocol error")
        };
        assert_eq!(result.is_error, Some(true));
        let text: Vec<&str> =
            result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.as_str()).collect();
        assert_eq!(text, ["timeout: no reply within 300 ms"]);
        let busy = McpError::from(mailbox_full()).text();
        assert_eq!(busy, "unavailable: mailbox of turnstile/k is full (1 waiting calls)");
    }

    #[test]
    fn a_failed_resource_read_is_a_json_rpc_error_with_its_class() {
        let closing = ErrorData::from(McpError::from(Error::ShuttingDown));
        assert_eq!(closing.code, ErrorCode::INTERNAL_ERROR);
        assert_eq!(closing.message, "unavailable: the node is shutting down");
        assert_eq!(closing.data, Some(json!({ "class": "unavailable" })));
        let missing = ErrorData::from(McpError::NoSuchTable { name: "t".into() });
        assert_eq!(missing.code, ErrorCode::INVALID_PARAMS);
        assert_eq!(missing.data, Some(json!({ "class": "not_found" })));
    }
}
