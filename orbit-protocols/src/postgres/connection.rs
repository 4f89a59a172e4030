//! One client connection, from the TLS negotiation to its close: the
//! `max_connections` limit, pgwire's message dispatch, and the drain on
//! shutdown.
//!
//! The loop is pgwire's own (`process_socket_messages!` in
//! `pgwire::tokio::server`, 0.42), rebuilt from its public parts
//! (`negotiate_tls`, `process_message`, `process_error`): pgwire's
//! `process_socket` can only be stopped by dropping it, which would cut the
//! statement in flight, a COMMIT included, before its reply is written.
//! Here shutdown is looked at only between requests. Invariant: a request
//! that has begun runs to its end and its reply is written before the
//! connection closes.
//!
//! - A request is open from its first message to its end: a simple Query
//!   is one message; an extended-protocol batch runs from its first Parse,
//!   Bind, Describe, Execute, Close or Flush to its Sync (its replies are
//!   buffered until then, `coalesce.rs`), and so does a batch that failed
//!   (pgwire's `AwaitingSync`); a COPY FROM STDIN runs to its CopyDone or
//!   CopyFail. While one is open the loop keeps reading and running.
//! - Between requests, once shutdown has begun, the connection gets FATAL
//!   57P01 `terminating connection due to administrator command` (what
//!   PostgreSQL's fast shutdown sends) and closes; an open transaction
//!   block is rolled back, as when any client goes away.
//! - Between requests, notifications for the session's LISTENs (none while
//!   its transaction block is open) are sent as NotificationResponses.
//! - A connection over `max_connections` is answered as PostgreSQL answers
//!   it: after the TLS negotiation, its startup message gets FATAL 53300
//!   `sorry, too many clients already` and the connection closes. A
//!   CancelRequest, which comes on a connection of its own, is still served.
//! - In a cluster, a connection reaching a node that does not lead the SQL
//!   data is carried, bytes as they come, to the node that does ([`carry`]).

use crate::sql::exec::notify::Mailbox;
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::{ClientInfo, ErrorHandler, PgWireConnectionState, PgWireServerHandlers};
use pgwire::error::{ErrorInfo, SEVERITY_FATAL};
use pgwire::messages::response::NotificationResponse;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::server::{negotiate_tls, process_error, process_message};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

/// How long a client may take from connecting to being authenticated
/// (pgwire's limit).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What the loop does next.
enum Next {
    Message(PgWireFrontendMessage),
    /// Shutdown has begun and no request is open.
    Shutdown,
    /// Notifications wait and no request is open.
    Notifications,
    /// The client hung up, sent what is not a message, or did not finish
    /// its startup in time.
    End,
}

/// Serves one connection until the client leaves, or until shutdown finds
/// it between requests. `slot`: its place under `max_connections`, held
/// until it closes; `None` refuses the connection at its startup message.
pub(super) async fn run<H: PgWireServerHandlers>(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    handlers: H,
    mailbox: Arc<Mailbox>,
    slot: Option<OwnedSemaphorePermit>,
    shutdown: CancellationToken,
) {
    if let Err(e) = serve(stream, tls, handlers, &mailbox, slot.is_some(), &shutdown).await {
        tracing::debug!(error = %e, "PostgreSQL connection ended");
    }
    drop(slot);
}

async fn serve<H: PgWireServerHandlers>(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    handlers: H,
    mailbox: &Mailbox,
    admitted: bool,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    let startup_timeout = tokio::time::sleep(STARTUP_TIMEOUT);
    tokio::pin!(startup_timeout);
    // Answers an SSLRequest (`S` with a certificate, `N` without) and runs
    // the TLS handshake.
    let negotiated = tokio::select! {
        () = &mut startup_timeout => return Ok(()),
        () = shutdown.cancelled() => return Ok(()),
        socket = negotiate_tls(stream, tls) => socket?,
    };
    // `None`: a client opening with TLS directly to a node without a certificate.
    let Some(mut socket) = negotiated else { return Ok(()) };
    let startup = handlers.startup_handler();
    let simple = handlers.simple_query_handler();
    let extended = handlers.extended_query_handler();
    let copy = handlers.copy_handler();
    let cancel = handlers.cancel_handler();
    let errors = handlers.error_handler();
    // Inside an extended-protocol batch: from its first message to its Sync.
    let mut batch = false;
    loop {
        let state = socket.state();
        let starting = matches!(
            state,
            PgWireConnectionState::AwaitingStartup | PgWireConnectionState::AuthenticationInProgress
        );
        let open = batch
            || matches!(
                state,
                PgWireConnectionState::CopyInProgress(_) | PgWireConnectionState::AwaitingSync
            );
        if !starting {
            mailbox.set_pid(socket.pid_and_secret_key().0);
        }
        let next = tokio::select! {
            biased;
            () = shutdown.cancelled(), if !open => Next::Shutdown,
            () = &mut startup_timeout, if starting => Next::End,
            // The client first: a stream of notifications never keeps
            // its requests (an UNLISTEN) waiting.
            message = socket.next() => match message {
                Some(Ok(message)) => Next::Message(message),
                _ => Next::End,
            },
            () = mailbox.ready(), if !open && !starting => Next::Notifications,
        };
        let message = match next {
            Next::End | Next::Message(PgWireFrontendMessage::Terminate(_)) => return Ok(()),
            Next::Shutdown => {
                let message = "terminating connection due to administrator command";
                return fatal(&mut socket, "57P01", message).await;
            }
            Next::Notifications => {
                for n in mailbox.take() {
                    let response = NotificationResponse::new(n.pid, n.channel, n.payload);
                    socket.feed(PgWireBackendMessage::NotificationResponse(response)).await?;
                }
                socket.flush().await?;
                continue;
            }
            Next::Message(PgWireFrontendMessage::Startup(_)) if !admitted => {
                return fatal(&mut socket, "53300", "sorry, too many clients already").await;
            }
            Next::Message(message) => message,
        };
        let extended_query = match socket.state() {
            PgWireConnectionState::CopyInProgress(extended_query) => extended_query,
            _ => message.is_extended_query(),
        };
        let cancel_request = matches!(message, PgWireFrontendMessage::CancelRequest(_));
        batch = match &message {
            PgWireFrontendMessage::Sync(_) | PgWireFrontendMessage::Query(_) => false,
            other => batch || other.is_extended_query(),
        };
        let processed = process_message(
            message,
            &mut socket,
            startup.clone(),
            simple.clone(),
            extended.clone(),
            copy.clone(),
            cancel.clone(),
        )
        .await;
        if let Err(mut error) = processed {
            errors.on_error(&socket, &mut error);
            let is_fatal = error.is_fatal();
            // Writes the error (and ReadyForQuery outside a batch) and flushes.
            process_error(&mut socket, error, extended_query).await?;
            if is_fatal {
                return Ok(());
            }
        }
        // `process_message` has answered and closed a CancelRequest's connection.
        if cancel_request {
            return Ok(());
        }
    }
}

/// How long a carried connection stays open once shutdown has begun, for
/// the request in flight to get its answer.
const CARRY_GRACE: Duration = Duration::from_secs(2);

/// Carries a connection's bytes both ways to the node that serves its
/// session ([`orbit_shared::ActorGateway::postgres_tunnel`]), which does
/// the TLS negotiation, authentication and every statement, until either
/// side closes; on shutdown, after [`CARRY_GRACE`].
pub(super) async fn carry(
    mut stream: TcpStream,
    mut tunnel: tokio::io::DuplexStream,
    shutdown: CancellationToken,
) {
    let carried = tokio::io::copy_bidirectional(&mut stream, &mut tunnel);
    tokio::pin!(carried);
    let ended = tokio::select! {
        ended = &mut carried => Some(ended),
        () = shutdown.cancelled() => None,
    };
    let ended = match ended {
        Some(ended) => ended,
        None => match tokio::time::timeout(CARRY_GRACE, carried).await {
            Ok(ended) => ended,
            Err(_) => return,
        },
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "carried PostgreSQL connection ended");
    }
}

/// Sends a FATAL ErrorResponse and closes the connection, as PostgreSQL
/// ends a session it refuses or terminates.
async fn fatal<S>(socket: &mut S, code: &str, message: &str) -> std::io::Result<()>
where
    S: Sink<PgWireBackendMessage, Error = std::io::Error> + Unpin,
{
    let error = ErrorInfo::new(SEVERITY_FATAL.to_owned(), code.to_owned(), message.to_owned());
    socket.send(PgWireBackendMessage::ErrorResponse(error.into())).await?;
    socket.close().await
}
