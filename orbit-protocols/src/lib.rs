//! Orbit's protocol front doors. Each talks only to
//! [`orbit_shared::ActorGateway`], so this crate never depends on the node.
//!
//! | module | front door |
//! |---|---|
//! | [`resp`] | Redis (RESP2/RESP3): every Redis key is an actor of kind `redis` |
//! | [`postgres`] | PostgreSQL wire protocol (in progress): tables' rows are actors of kind `row:<table>` |
//! | [`mcp`] | Model Context Protocol for LLM agents (streamable HTTP and stdio) |
//!
//! The node (`orbit-server`) starts each front door with its `serve`
//! function, hosts the actor kinds they need, and stops them on shutdown.

mod listener;
pub mod mcp;
pub mod postgres;
pub mod resp;
