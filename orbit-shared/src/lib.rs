//! Orbit's shared vocabulary, used by the server, the client and the front doors.
//!
//! | module | what it holds |
//! |---|---|
//! | [`actor_id`] | [`ActorId`]: an actor's kind and binary-safe key |
//! | [`slot`] | the Redis Cluster slot function (CRC16, `{hash tag}`, 16384 slots) |
//! | [`invocation`] | [`Invocation`] and [`Reply`]: a method call as JSON and its answer |
//! | [`message`] | typed actor interfaces: [`ActorInterface`], [`Message`], [`Accepts`] |
//! | [`actors`] | the interfaces of the built-in actor kinds (`counter`) |
//! | [`call_stream`] | [`CallStream`]: many calls to one node over one `InvokeStream` |
//! | [`error`] | [`Error`] and its wire-level [`ErrorKind`] |
//! | [`gateway`] | [`ActorGateway`], the one seam every front door calls |
//! | [`proto`] | the generated gRPC types and their conversions |
//! | [`write`] | [`WriteOp`]: one write of an atomic batch (storage keys or an actor's entries) |
//!
//! ```
//! use orbit_shared::{ActorId, slot};
//! let id = ActorId::new("counter", "visits");
//! assert_eq!(slot::slot_of(b"foo"), 12182);
//! assert_eq!(id.slot(), slot::slot_of(b"visits"));
//! ```

pub mod actor_id;
pub mod actors;
pub mod call_stream;
pub mod error;
pub mod gateway;
pub mod invocation;
pub mod message;
pub mod proto;
pub mod slot;
pub mod write;

pub use actor_id::ActorId;
pub use call_stream::CallStream;
pub use error::{Error, ErrorKind};
pub use gateway::{
    ActivationInfo, ActorGateway, ActorPage, AppliedWrite, ClusterNodeDescription, DurableToken,
    KindDescription, MethodDescription, NodeDescription, PartitionDescription, Published, SessionCall,
    SessionStep, SessionSteps, StoredActor,
};
pub use invocation::{Invocation, Reply};
pub use message::{Accepts, ActorInterface, Message};
pub use write::WriteOp;
