//! A statement's cancel signal: the engine waits for it only while the
//! statement stages its work in its transaction, so a cancel rolls back what
//! the statement did (or fails its block) and never cuts a COMMIT. Which
//! client request fires it is the front door's business (PostgreSQL's
//! CancelRequest: `postgres/cancel.rs`).

use futures::channel::oneshot;

/// One statement's cancel signal (or one query string's, whose statements
/// share it).
#[derive(Debug)]
pub(crate) struct Cancel {
    /// `None`: nothing can cancel the statement.
    receiver: Option<oneshot::Receiver<()>>,
    /// The client asked to cancel.
    requested: bool,
}

impl Cancel {
    /// A signal that fires when `receiver` receives.
    pub fn new(receiver: oneshot::Receiver<()>) -> Self {
        Cancel { receiver: Some(receiver), requested: false }
    }

    /// A signal that never fires (MCP's SQL, which has no CancelRequest).
    pub fn never() -> Self {
        Cancel { receiver: None, requested: false }
    }

    /// Resolves when the client asks to cancel; after that, at once.
    pub async fn requested(&mut self) {
        if self.requested {
            return;
        }
        let Some(receiver) = self.receiver.as_mut() else { return std::future::pending::<()>().await };
        match receiver.await {
            Ok(()) => self.requested = true,
            // The sender was replaced or dropped (the connection moved on
            // or closed): that is no cancel.
            Err(_) => {
                self.receiver = None;
                std::future::pending::<()>().await;
            }
        }
    }
}
