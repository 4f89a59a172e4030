//! Typed actor interfaces, shared by the server (which implements them) and
//! clients (which call them). An interface is a marker type naming the kind;
//! each message is a serde type naming its method and reply.

use serde::{Serialize, de::DeserializeOwned};

/// The public face of an actor kind.
pub trait ActorInterface: Send + Sync + 'static {
    /// The kind name actors of this interface are registered and addressed by.
    const KIND: &'static str;
}

/// One method of an actor interface, as a serde type of its arguments.
pub trait Message: Serialize + DeserializeOwned + Send + 'static {
    /// The method name used by dynamic invocation (`ACTOR.CALL`, SQL, MCP).
    const METHOD: &'static str;
    /// A read-only method never changes state, so its turn writes nothing.
    const READ_ONLY: bool;
    type Reply: Serialize + DeserializeOwned + Send + 'static;
}

/// `I: Accepts<M>` lets typed references to `I` send `M`.
pub trait Accepts<M: Message>: ActorInterface {}
