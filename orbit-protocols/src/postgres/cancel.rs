//! Statement cancellation: a client's `CancelRequest` (sent on a new
//! connection with the pid and secret key of `BackendKeyData`) interrupts
//! the statement its connection is running, which fails with SQLSTATE 57014
//! as in PostgreSQL.
//!
//! After authentication each connection registers with the front door's
//! pgwire [`ConnectionManager`], whose cancel handler fires the connection's
//! [`ConnectionHandle`]. The handle is kept under Orbit's own key in the
//! connection's session extensions, not where pgwire's query loop looks for
//! it: pgwire would drop the statement's future wherever it stands,
//! including in the middle of a COMMIT. Instead each statement takes a
//! [`Cancel`] and the engine waits for it only while the statement stages
//! its work in its transaction (`Engine::in_transaction`): what a cancelled
//! statement did is then rolled back, or fails its block, like any other
//! error. COMMIT and DDL, which write at once, always run to their end.

use crate::sql::exec::Cancel;
use pgwire::api::{ClientInfo, ConnectionGuard, ConnectionHandle, ConnectionManager};
use std::sync::Arc;

/// A connection's registration: its cancel handle, and the guard that
/// unregisters it when the connection ends (with its session extensions).
struct Registration {
    handle: Arc<ConnectionHandle>,
    _guard: ConnectionGuard,
}

/// Registers an authenticated connection under its pid and secret key.
pub(crate) fn register<C: ClientInfo>(client: &C, manager: &Arc<ConnectionManager>) {
    let (pid, secret_key) = client.pid_and_secret_key();
    let (handle, guard) = manager.register(pid, secret_key);
    client.session_extensions().insert(Registration { handle, _guard: guard });
}

/// The cancel signal of the statement the connection starts now; a cancel
/// that arrived before this call does not reach it.
pub(crate) async fn start_statement<C: ClientInfo>(client: &C) -> Cancel {
    let handle = client.session_extensions().get::<Registration>().map(|r| r.handle.clone());
    match handle {
        Some(handle) => Cancel::new(handle.start_query().await),
        None => Cancel::never(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn a_fired_handle_cancels_and_stays_cancelled() {
        let handle = ConnectionHandle::new();
        let mut cancel = Cancel::new(handle.start_query().await);
        assert!(cancel.requested().now_or_never().is_none());
        assert!(handle.cancel().await);
        assert!(cancel.requested().now_or_never().is_some());
        assert!(cancel.requested().now_or_never().is_some(), "a cancel is not forgotten");
    }

    #[tokio::test]
    async fn a_replaced_or_dropped_sender_is_no_cancel() {
        let handle = ConnectionHandle::new();
        let mut cancel = Cancel::new(handle.start_query().await);
        let _next = handle.start_query().await; // replaces the first sender
        assert!(cancel.requested().now_or_never().is_none());
        assert!(cancel.requested().now_or_never().is_none());
        assert!(Cancel::never().requested().now_or_never().is_none());
    }
}
