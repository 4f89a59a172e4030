//! Orbit's front doors and what they share. Each front door talks only to
//! [`orbit_shared::ActorGateway`], so this crate never depends on the node,
//! and no front door imports another: what two of them need lives in a
//! module of its own.
//!
//! | module | concept |
//! |---|---|
//! | [`resp`] | the Redis front door (RESP2/RESP3) |
//! | [`postgres`] | the PostgreSQL front door: the wire protocol over the SQL engine |
//! | [`mcp`] | the Model Context Protocol front door for LLM agents (streamable HTTP and stdio) |
//! | [`keyspace`] | the Redis data model: every Redis key an actor of kind `redis`/`redis:N`, its state and commands |
//! | [`sql`] | the SQL engine: tables' rows are actors of kind `row:<table>`, planned with DataFusion |
//! | [`reminders`] | durable reminders of any actor as RESP, SQL and MCP offer them: periods, calls, stored state |
//! | [`bus`] | pub/sub between the front doors: Redis PUBLISH to PostgreSQL LISTEN, NOTIFY to Redis subscribers |
//! | `listener` | the accept loop the TCP front doors share |
//!
//! The node (`orbit-server`) starts each front door with its `serve`
//! function, hosts the actor kinds they need, and stops them on shutdown.

pub mod bus;
pub mod keyspace;
mod listener;
pub mod mcp;
pub mod postgres;
pub mod reminders;
pub mod resp;
pub mod sql;
