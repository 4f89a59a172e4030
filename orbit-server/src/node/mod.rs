//! The node: what it owns, and its one ordered shutdown.
//!
//! Shutdown ([`Node::shutdown`]): (1) report not ready and stop accepting
//! connections; (2) let in-flight requests drain, up to
//! `node.drain_timeout`; (3) refuse new calls and deactivate every actor,
//! persisting its state; (4) stop upkeep, fsync and close storage (even if
//! handles to the node remain; their calls then fail).
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | [`Node`], [`NodeHandle`] and what they own; the ordered shutdown |
//! | `builder.rs` | [`NodeBuilder`]: kinds to host; start: storage, partitions, upkeep, listeners |
//! | `servers.rs` | the listeners: each front door bound and served, and stopped together |
//! | `swap.rs` | hot swap of the storage backend while the node serves |
//! | `describe.rs` | what the node reports about itself (`Describe`, `orbit_nodes`, MCP) |
//!
//! A call's path through the node is in `crate::router`.

mod builder;
mod describe;
mod servers;
mod swap;

pub use builder::NodeBuilder;

use crate::actor::{self, Actor, Directory, KindEntry, KindInfo, Registry};
use crate::actor_ref::LocalRef;
use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::partition::PartitionMap;
use crate::storage::{StorageError, Store};
use bytes::Bytes;
use orbit_shared::{ActorId, Error};
use servers::Servers;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a node could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("actor kind '{0}' is registered twice")]
    DuplicateKind(&'static str),
    #[error("cannot read the Redis databases' table: {0}")]
    Databases(String),
    #[error("cannot join the cluster: {0}")]
    Cluster(orbit_shared::Error),
}

/// A running node. Dropping it without [`Node::shutdown`] skips the orderly
/// deactivation (acknowledged writes are already in storage).
pub struct Node {
    handle: NodeHandle,
    upkeep: CancellationToken,
    servers: Option<Servers>,
}

impl Node {
    pub fn builder(config: Config) -> NodeBuilder {
        NodeBuilder { config, kinds: Vec::new() }
    }

    pub fn handle(&self) -> &NodeHandle {
        &self.handle
    }

    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.servers.as_ref().map(|s| s.grpc_addr)
    }

    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.servers.as_ref().map(|s| s.http_addr)
    }

    /// The Redis listener, if serving.
    /// The PostgreSQL listener's address, when it is enabled.
    pub fn pg_addr(&self) -> Option<SocketAddr> {
        self.servers.as_ref().and_then(|s| s.pg_addr)
    }

    pub fn resp_addr(&self) -> Option<SocketAddr> {
        self.servers.as_ref().and_then(|s| s.resp_addr)
    }

    /// Cancelled when a client asks the node to stop (Redis' SHUTDOWN): the
    /// owner of the node then runs [`Node::shutdown`], as on SIGTERM. A
    /// node without listeners is never asked.
    pub fn stop_requested(&self) -> CancellationToken {
        self.servers.as_ref().map(|s| s.stop_requested.clone()).unwrap_or_default()
    }

    /// The ordered shutdown described in the module docs.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let shared = &self.handle.shared;
        shared.ready.store(false, Ordering::Release);
        let cluster = shared.partitions.cluster().ok().flatten().cloned();
        if let Some(cluster) = &cluster {
            // Hand every led group to a follower first, so calls in flight
            // and new ones are served by the new leaders.
            cluster.hand_over_all(shared.config.node.drain_timeout / 2).await;
        }
        if let Some(servers) = self.servers {
            servers.health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
            servers.accept.cancel();
            servers.tasks.close();
            let drain = shared.config.node.drain_timeout;
            if tokio::time::timeout(drain, servers.tasks.wait()).await.is_err() {
                tracing::warn!(?drain, "requests still in flight after the drain deadline");
            }
        }
        shared.closing.store(true, Ordering::Release);
        self.upkeep.cancel();
        actor::deactivate_all(&self.handle).await;
        shared.tasks.close();
        shared.tasks.wait().await;
        if let Some(cluster) = &cluster {
            cluster.shutdown().await;
        }
        shared.store.close().await?;
        tracing::info!("node stopped");
        Ok(())
    }
}

impl std::ops::Deref for Node {
    type Target = NodeHandle;
    fn deref(&self) -> &NodeHandle {
        &self.handle
    }
}

pub(crate) struct NodeShared {
    config: Config,
    registry: Registry,
    directory: Directory,
    partitions: PartitionMap,
    store: Arc<Store>,
    metrics: Metrics,
    epoch: tokio::time::Instant,
    /// The wall clock at `epoch`, in ms since the Unix epoch.
    wall_epoch_ms: u64,
    /// When the reminders of the partitions served here fire next.
    scheduler: crate::reminders::Scheduler,
    closing: AtomicBool,
    ready: AtomicBool,
    /// A hot swap is running.
    switching: AtomicBool,
    /// Work the node owns beyond requests: upkeep loops and deactivations.
    tasks: TaskTracker,
    /// The bound gRPC address, once the listeners are up.
    grpc_addr: std::sync::OnceLock<SocketAddr>,
    /// Messages published on other nodes of the cluster, for this node's
    /// subscribers.
    relayed: tokio::sync::broadcast::Sender<orbit_shared::Published>,
    /// The Redis keys this node applies from its cluster's log.
    applied: tokio::sync::broadcast::Sender<orbit_shared::AppliedWrite>,
}

/// A cheap, cloneable handle to a node: call actors, inspect state.
#[derive(Clone)]
pub struct NodeHandle {
    shared: Arc<NodeShared>,
}

impl NodeHandle {
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Ready means storage is open and the listeners are up.
    pub fn is_ready(&self) -> bool {
        self.shared.ready.load(Ordering::Acquire)
    }

    /// A typed reference to actor `key` of kind `A`, hosted here.
    pub fn actor<A: Actor>(&self, key: impl Into<Bytes>) -> LocalRef<A> {
        use orbit_shared::ActorInterface;
        LocalRef::new(self.clone(), ActorId::new(A::Interface::KIND, key))
    }

    pub fn kinds(&self) -> Vec<KindInfo> {
        self.shared.registry.infos()
    }

    /// Resident activations.
    pub fn active_actors(&self) -> usize {
        self.shared.directory.len()
    }

    /// Deactivates `id` now if it is resident (state persisted first).
    pub async fn deactivate(&self, id: &ActorId) -> bool {
        let Some(activation) = self.shared.directory.get(id) else { return false };
        let node = self.clone();
        // A task of the node's, so the caller going away cannot cut it short.
        let task =
            self.shared.tasks.spawn(async move { activation.deactivate(&node, "request", None).await });
        task.await.unwrap_or(false)
    }

    pub(crate) fn partitions(&self) -> &PartitionMap {
        &self.shared.partitions
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    /// Where the Redis keys this node applies from its cluster's log go.
    pub(crate) fn applied(&self) -> &tokio::sync::broadcast::Sender<orbit_shared::AppliedWrite> {
        &self.shared.applied
    }

    /// Where messages relayed from other nodes of the cluster arrive.
    pub(crate) fn relayed(&self) -> &tokio::sync::broadcast::Sender<orbit_shared::Published> {
        &self.shared.relayed
    }

    pub(crate) fn directory(&self) -> &Directory {
        &self.shared.directory
    }

    pub(crate) fn tasks(&self) -> &TaskTracker {
        &self.shared.tasks
    }

    /// Milliseconds since the node started (follows paused tokio time).
    pub(crate) fn now_ms(&self) -> u64 {
        self.shared.epoch.elapsed().as_millis() as u64
    }

    /// The node's clock in milliseconds since the Unix epoch: the wall
    /// clock at start plus the monotonic time since (so it follows paused
    /// tokio time, and a wall clock stepped back does not move it back).
    pub fn wall_ms(&self) -> u64 {
        self.shared.wall_epoch_ms + self.now_ms()
    }

    pub(crate) fn scheduler(&self) -> &crate::reminders::Scheduler {
        &self.shared.scheduler
    }

    pub(crate) fn check_open(&self) -> Result<(), Error> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown);
        }
        Ok(())
    }

    pub(crate) fn kind(&self, kind: &str) -> Result<&Arc<dyn KindEntry>, Error> {
        self.shared.registry.get(kind).ok_or_else(|| Error::UnknownKind { kind: kind.to_string() })
    }

    pub(crate) fn activation(
        &self,
        id: &ActorId,
        kind: &Arc<dyn KindEntry>,
    ) -> Arc<dyn actor::AnyActivation> {
        let (activation, inserted) = self.shared.directory.get_or_activate(id, || {
            let partition = self.shared.partitions.for_slot(id.slot()).clone();
            kind.activate(id.clone(), partition, self.now_ms())
        });
        if inserted {
            actor::evict_over_cap(self);
        }
        activation
    }
}
