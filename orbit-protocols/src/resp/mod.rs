//! The Redis front door: RESP2/RESP3 on a TCP listener, every Redis key a
//! virtual actor of kind `redis` (database 0) or `redis:N` (databases 1-15).
//!
//! | file | concept |
//! |---|---|
//! | `frame.rs` | reading requests: RESP arrays (`redis-protocol`) and inline commands, limits |
//! | `value.rs` | [`Value`]: a reply, its binary form across the gateway, RESP2/RESP3 writing |
//! | `table.rs` | the command table: arity, flags, key positions, route |
//! | `keyspace/` | one key's state and every single-key command (runs inside the key's actor) |
//! | `server.rs` | what connections share: settings, clients, stats, the keyspace lock |
//! | `connection.rs` | one client: the read/execute/write loop and dispatch |
//! | `cmd/keys.rs` | commands over several keys (MGET, RENAME, SUNIONSTORE...) |
//! | `cmd/scan.rs` | commands over the whole keyspace (SCAN, KEYS, DBSIZE, FLUSHDB...) |
//! | `cmd/expiry.rs` | active expiry: the index of keys with a TTL |
//! | `cmd/admin.rs` | connection and server commands (HELLO, CLIENT, INFO, CONFIG, COMMAND, ACL...) |
//! | `cmd/pubsub.rs` | channels and patterns |
//! | `cmd/tx.rs` | MULTI/EXEC/WATCH |
//! | `cmd/blocking.rs` | BLPOP and friends: FIFO waiters per key |
//!
//! Atomicity: single-key commands run as turns of their key's actor (one at
//! a time per key). Commands over several keys, and EXEC, hold the keyspace
//! lock exclusively, so no other command interleaves with them on this node.

mod cmd;
mod connection;
pub mod frame;
pub mod keyspace;
mod server;
pub mod table;
pub mod value;

pub use server::{AclUser, RespConfig, now_ms};
pub use value::Value;

use orbit_shared::{ActorGateway, ActorInterface};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The kind of every Redis key (database 0).
pub struct RedisKeyspace;

impl ActorInterface for RedisKeyspace {
    const KIND: &'static str = "redis";
}

/// The actor kind of each of the 16 databases (`SELECT n`).
pub const DATABASE_KINDS: [&str; 16] = [
    "redis", "redis:1", "redis:2", "redis:3", "redis:4", "redis:5", "redis:6", "redis:7", "redis:8",
    "redis:9", "redis:10", "redis:11", "redis:12", "redis:13", "redis:14", "redis:15",
];

/// Serves RESP on `listener` until `shutdown` is cancelled; each connection
/// is a task of `tasks`. Also runs active expiry (`cmd/expiry.rs`).
pub async fn serve<G: ActorGateway>(
    listener: TcpListener,
    gateway: Arc<G>,
    config: RespConfig,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let server = Arc::new(server::Server::new(gateway, config, shutdown.clone()));
    tasks.spawn(cmd::expiry::run(server.clone(), shutdown.clone()));
    crate::listener::accept_loop("RESP", listener, shutdown, tasks, |stream, peer| {
        connection::run(server.clone(), stream, peer)
    })
    .await;
}
