//! [`ActorGateway`]: the seam between front doors and the actor system.
//!
//! Front doors (gRPC, RESP, PostgreSQL, MCP) translate their protocol into
//! invocations and call this trait. The node implements it for local use; the
//! `orbit-client` crate implements it for a remote node, so a front door can
//! run inside the node or beside it.

use crate::{ActorId, Error, Invocation, Reply};
use std::future::Future;

pub trait ActorGateway: Send + Sync + 'static {
    /// Calls `invocation.method` on the actor `id`, activating it if needed.
    fn invoke(
        &self,
        id: ActorId,
        invocation: Invocation,
    ) -> impl Future<Output = Result<Reply, Error>> + Send;
}
