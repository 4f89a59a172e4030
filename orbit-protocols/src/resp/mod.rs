//! The Redis front door: RESP2/RESP3 on a TCP listener, every Redis key a
//! virtual actor of kind `redis` (database 0) or `redis:N` (databases 1-15).
//!
//! | file | concept |
//! |---|---|
//! | `frame.rs` | reading requests: RESP arrays (`redis-protocol`) and inline commands, limits |
//! | `table.rs` | the command table and subcommands: arity, flags, key positions, route |
//! | `server.rs` | what connections share: settings, clients, stats, the keyspace lock |
//! | `acl.rs` | ACL users: rules, permissions, the check before every command, ACL LOG |
//! | `connection.rs` | one client: the read/execute/write loop and dispatch |
//! | `cmd/keys.rs` | commands over several keys (MGET, RENAME, SUNIONSTORE...) |
//! | `cmd/bitop.rs` | BITOP: bitwise AND/OR/XOR/NOT of strings into a destination key |
//! | `cmd/hll.rs` | PFCOUNT, PFMERGE, PFDEBUG: HyperLogLog sketches read across keys |
//! | `cmd/geo.rs` | GEORADIUS, GEORADIUSBYMEMBER (STORE/STOREDIST) and GEOSEARCHSTORE |
//! | `cmd/sort.rs` | SORT and SORT_RO: BY/GET patterns, LIMIT, ALPHA, STORE |
//! | `cmd/lcs.rs` | LCS: Redis' longest common subsequence, LEN and IDX |
//! | `cmd/dump.rs` | DUMP/RESTORE in Redis' serialization, MOVE, SWAPDB |
//! | `cmd/scan.rs` | commands over the whole keyspace (SCAN, KEYS, DBSIZE, FLUSHDB...) |
//! | `cmd/expiry.rs` | active expiry: the index of keys with a TTL |
//! | `cmd/introspect.rs` | command and error statistics, SLOWLOG, LATENCY, INFO cpu/memory, LASTSAVE, ROLE |
//! | `cmd/admin.rs` | connection and server commands (HELLO, CLIENT, TIME, ACTOR.CALL...) |
//! | `cmd/reminders.rs` | ACTOR.REMIND, ACTOR.JOB, ACTOR.REMINDERS, ACTOR.UNREMIND: durable reminders of any actor |
//! | `cmd/config.rs` | CONFIG: every Redis 7.2 parameter, applied or kept |
//! | `cmd/info.rs` | INFO: its sections, several in one call |
//! | `cmd/object.rs` | OBJECT, MEMORY, DEBUG and SHUTDOWN |
//! | `cmd/command.rs` | COMMAND: the table as Redis describes it (INFO, LIST FILTERBY, GETKEYS...) |
//! | `cmd/acl.rs` | the ACL command, and refusing what a user may not run |
//! | `cmd/pubsub.rs` | channels and patterns |
//! | `cmd/notify.rs` | keyspace notifications: the event of each command, published on pub/sub |
//! | `cmd/monitor.rs` | MONITOR: every command run on the node, as Redis prints it |
//! | `cmd/tracking.rs` | client-side caching: CLIENT TRACKING and invalidation messages |
//! | `cmd/tx.rs` | MULTI/EXEC/WATCH |
//! | `cmd/blocking.rs` | BLPOP and friends: FIFO waiters per key |
//! | `cmd/streams.rs` | XREAD/XREADGROUP over several keys (BLOCK waits in `blocking.rs`), XGROUP, XINFO |
//! | `script/` | EVAL, SCRIPT, FUNCTION, FCALL on a Lua 5.1 interpreter |
//!
//! Atomicity: single-key commands run as turns of their key's actor (one at
//! a time per key). Commands over several keys, and EXEC, hold the keyspace
//! lock exclusively, so no other command interleaves with them on this node.

mod acl;
mod cmd;
mod connection;
pub mod frame;
mod script;
mod server;
pub mod table;

pub use server::{DebugCommand, RespConfig, RespRuntime, RespUser};

use orbit_shared::ActorGateway;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Serves RESP on `listener` until `shutdown` is cancelled; each connection
/// is a task of `tasks`, which finishes the command in flight and writes its
/// reply before it closes. Also runs active expiry (`cmd/expiry.rs`).
/// `runtime`: what INFO reports about the node (its port, its durability).
pub async fn serve<G: ActorGateway>(
    listener: TcpListener,
    gateway: Arc<G>,
    config: RespConfig,
    runtime: RespRuntime,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let server = Arc::new(server::Server::new(gateway, config, runtime, shutdown.clone()));
    tasks.spawn(cmd::expiry::run(server.clone(), shutdown.clone()));
    let inbound = server.runtime.bus.inbound(crate::bus::Door::Redis, server.gateway.relayed());
    tasks.spawn(cmd::pubsub::deliver_inbound(server.clone(), inbound, shutdown.clone()));
    if let Some(applied) = server.gateway.applied() {
        tasks.spawn(follow_applied(server.clone(), applied, shutdown.clone()));
    }
    crate::listener::accept_loop("RESP", listener, shutdown, tasks, |stream, peer| {
        connection::run(server.clone(), stream, peer)
    })
    .await;
}

/// In a cluster, treats each key of a database that this node applies from
/// the log as written here (and indexes its deadline for active expiry): a client WATCHing it will see EXEC fail, clients
/// tracking it get an invalidation, and clients blocked on it are served.
/// So writes made through other nodes reach this node's clients once this
/// node applies them (a replica applies shortly after the leader
/// acknowledged the write). When the stream falls behind, every watched
/// and waited-on key counts as written, tracking clients are told to
/// flush their caches and the expiry index is built again. A node applies
/// its own clients' writes too, possibly after such a client went on to
/// WATCH the key: its EXEC then fails
/// although nothing changed after the WATCH (a retry succeeds), the safe
/// side of missing a write.
async fn follow_applied<G: ActorGateway>(
    server: Arc<server::Server<G>>,
    mut applied: tokio::sync::broadcast::Receiver<orbit_shared::AppliedWrite>,
    shutdown: CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = applied.recv() => next,
        };
        let written: Vec<(usize, bytes::Bytes)> = match next {
            Ok(write) => {
                let databases = &server.runtime.databases;
                match (0..crate::keyspace::DATABASE_KINDS.len()).find(|&db| databases.kind(db) == write.kind)
                {
                    Some(db) => {
                        server.expiry.applied(db, write.key.clone(), write.state.as_deref());
                        vec![(db, write.key)]
                    }
                    None => continue,
                }
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "applied writes missed: every watched and waited-on key counts as written"
                );
                if server.tracking.active() {
                    cmd::tracking::flushed(&server);
                }
                server.expiry.missed_applied();
                (0..crate::keyspace::DATABASE_KINDS.len())
                    .flat_map(|db| {
                        let mut keys = server.watches.keys_in(db);
                        keys.extend(server.blocking.keys_in(db));
                        keys.into_iter().map(move |key| (db, key))
                    })
                    .collect()
            }
            Err(RecvError::Closed) => return,
        };
        let mut blocked = Vec::new();
        for (db, key) in written {
            server.watches.touch(db, &key);
            if server.tracking.active() {
                cmd::tracking::invalidate(&server, &key, None);
            }
            if server.blocking.has_waiters(db, &key) {
                blocked.push((db, key));
            }
        }
        if !blocked.is_empty() {
            cmd::blocking::serve(&server, blocked).await;
        }
    }
}
