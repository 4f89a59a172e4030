//! The Orbit node: it hosts persistent virtual actors and serves them through
//! its front doors. Redis (RESP2/RESP3), PostgreSQL (the wire protocol) and
//! MCP for LLM agents come from `orbit-protocols`; MCP is served at `/mcp` on
//! the HTTP port, and over stdio through `orbit-server mcp --connect`. gRPC
//! serves `orbit-client`; HTTP serves metrics, health and the admin API.
//!
//! | module | concept |
//! |---|---|
//! | [`node`] | [`Node`], its builder, its listeners, [`NodeHandle`], hot swap, the ordered shutdown |
//! | `router` | the call path: a call to its partition's activation; atomic groups |
//! | `session` | atomic sessions: an atomic group whose calls arrive one at a time (Redis MULTI/EXEC) |
//! | [`actor`] | the [`Actor`]/[`Handler`] traits and the turn-based runtime |
//! | [`actor_ref`] | [`LocalRef`]: typed in-process calls |
//! | [`actors`] | built-in kinds (`counter`, Redis keys, table rows, index entries, reminders) |
//! | [`cluster`] | Raft groups per partition (openraft), internode frames, formation from seeds |
//! | [`partition`] | slot ranges; the only way to actor data: appends, reads, listings, group commits |
//! | `reminders` | the scheduler firing the durable reminders and jobs of the partitions served here |
//! | [`storage`] | the backend trait, `memory`, `lsm` (fjall), group commit |
//! | [`backup`] | online backups, restores, offline migrations between backends |
//! | [`config`] | [`Config`]: defaults < TOML < `ORBIT__*` env < flags |
//! | `rpc`, `http` | the gRPC listener; the HTTP listener with metrics, health, admin API |
//! | `tls` | TLS server settings from PEM files (the PostgreSQL front door's) |
//! | [`metrics`] | the node's Prometheus registry |
//!
//! ```
//! use orbit_server::{Config, Node};
//! use orbit_server::actors::counter::CounterActor;
//! use orbit_shared::actors::counter::Increment;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let node = Node::builder(Config::ephemeral()).with_builtin_kinds().build().await?;
//! let visits = node.actor::<CounterActor>("visits");
//! assert_eq!(visits.call(Increment { by: 2 }).await?, 2);
//! node.shutdown().await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod actor;
pub mod actor_ref;
pub mod actors;
pub mod backup;
pub mod cluster;
pub mod config;
mod http;
pub mod metrics;
pub mod node;
pub mod partition;
mod reminders;
mod router;
mod rpc;
mod session;
pub mod storage;
mod tls;

pub use actor::{Actor, Context, Handler, MethodTable, Reentrant, Shared, Timer};
pub use actor_ref::LocalRef;
pub use config::Config;
pub use node::{Node, NodeBuilder, NodeError, NodeHandle};

/// The README's Rust snippets compile as doctests, so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
