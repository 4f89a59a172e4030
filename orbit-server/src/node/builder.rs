//! Building a node: the kinds it hosts, then start: open storage, check the
//! partition layout, build the registry, start background upkeep (idle
//! deactivation, periodic fsync, scheduled backups), bind the listeners, then
//! report ready.

use super::{Node, NodeError, NodeHandle, NodeShared, Servers};
use crate::actor::{self, Actor, Directory, Registry};
use crate::actors::reminders::RemindersActor;
use crate::config::{Config, Durability, StorageKind};
use crate::metrics::Metrics;
use crate::partition::PartitionMap;
use crate::storage::{self, Store};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct NodeBuilder {
    pub(super) config: Config,
    pub(super) kinds: Vec<(&'static str, actor::EntryFactory)>,
}

impl NodeBuilder {
    /// Hosts actor kind `A` on this node.
    pub fn register<A: Actor>(self) -> Self {
        use orbit_shared::ActorInterface;
        self.register_as::<A>(A::Interface::KIND)
    }

    /// Hosts actor type `A` under the kind name `kind` as well (one type,
    /// several keyspaces: Redis databases 1-15 are kinds `redis:1`...).
    pub fn register_as<A: Actor>(mut self, kind: &'static str) -> Self {
        self.kinds.push((kind, actor::entry_of::<A>));
        self
    }

    /// Hosts actor type `A` as a family of kinds: `family` ends in `:*`
    /// (`row:*`), and every kind with that prefix (`row:accounts`) is an
    /// instance of `A` with its own keys. Counted in metrics under `family`.
    pub fn register_family<A: Actor>(self, family: &'static str) -> Self {
        assert!(family.ends_with(":*"), "a family of kinds is named `prefix:*`, not '{family}'");
        self.register_as::<A>(family)
    }

    /// Registers the kinds every stock node hosts: `counter`, the Redis
    /// keyspaces `redis`, `redis:1` ... `redis:15` and `redis:scripts`
    /// (stored scripts and function libraries), and SQL: table rows
    /// (`row:*`), secondary index entries (`idx:*`) and the table catalog
    /// (`sql:table`).
    pub fn with_builtin_kinds(self) -> Self {
        use crate::actors::redis::RedisKey;
        let node = self
            .register::<crate::actors::counter::CounterActor>()
            .register_family::<crate::actors::row::RowActor>(orbit_protocols::sql::ROW_FAMILY)
            .register_family::<crate::actors::index::IndexActor>(orbit_protocols::sql::INDEX_FAMILY)
            .register_as::<crate::actors::row::RowActor>(orbit_protocols::sql::CATALOG_KIND)
            .register_as::<RedisKey>(orbit_protocols::keyspace::SCRIPTS_KIND);
        orbit_protocols::keyspace::DATABASE_KINDS
            .iter()
            .fold(node, |node, kind| node.register_as::<RedisKey>(kind))
    }

    /// A node without listeners, for embedding and in-process use.
    pub async fn build(mut self) -> Result<Node, NodeError> {
        self.config.validate()?;
        let metrics = Metrics::new();
        // Every node hosts the reminders of the actors it hosts.
        self.kinds.push((orbit_shared::actors::reminders::KIND, actor::entry_of::<RemindersActor>));
        let registry = Registry::build(&self.kinds, &metrics).map_err(NodeError::DuplicateKind)?;
        let backend = storage::open_backend(self.config.storage.backend, &self.config.node.data_dir)?;
        // The memory backend is its own cache.
        let read_cache = match self.config.storage.backend {
            StorageKind::Memory => 0,
            _ => usize::try_from(self.config.storage.read_cache_mb << 20).unwrap_or(usize::MAX),
        };
        let store = Arc::new(Store::new(
            backend,
            self.config.storage.durability,
            metrics.storage.clone(),
            read_cache,
        ));
        let clustered = self.config.cluster.enabled();
        let partitions = PartitionMap::open(self.config.node.partitions, store.clone(), clustered).await?;
        let directory = Directory::new(self.config.node.partitions);
        let shared = Arc::new(NodeShared {
            partitions,
            config: self.config,
            registry,
            directory,
            store,
            metrics,
            epoch: tokio::time::Instant::now(),
            wall_epoch_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            scheduler: Default::default(),
            closing: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            switching: AtomicBool::new(false),
            tasks: TaskTracker::new(),
            grpc_addr: std::sync::OnceLock::new(),
            relayed: tokio::sync::broadcast::channel(4096).0,
            applied: tokio::sync::broadcast::channel(4096).0,
        });
        let handle = NodeHandle { shared };
        let upkeep = CancellationToken::new();
        let tasks = handle.shared.tasks.clone();
        tasks.spawn(actor::reap_idle(handle.clone(), upkeep.clone()));
        tasks.spawn(crate::reminders::run(handle.clone(), upkeep.clone()));
        if let Some(dir) = handle.config().backup.dir.clone() {
            tasks.spawn(crate::backup::run_schedule(handle.clone(), dir, upkeep.clone()));
        }
        if handle.config().storage.durability == Durability::Periodic {
            let interval = handle.config().storage.sync_interval;
            tasks.spawn(handle.store().run_periodic(interval, upkeep.clone()));
        }
        Ok(Node { handle, upkeep, servers: None })
    }

    /// A node serving gRPC and HTTP on the configured addresses. A cluster
    /// node is ready once it has found or formed its cluster.
    pub async fn start(self) -> Result<Node, NodeError> {
        // Certificate files are read first: a bad one stops the start before storage opens.
        let pg_tls = if self.config.postgres.enabled { self.config.postgres_tls()? } else { None };
        let mut node = self.build().await?;
        let formation = node.handle.config().cluster.enabled().then(|| {
            let config = node.handle.config();
            let addr = config.cluster.advertise_addr.clone().unwrap_or_else(|| config.grpc.addr.to_string());
            let transport: Arc<dyn crate::cluster::Transport> =
                Arc::new(crate::cluster::GrpcTransport::default());
            let shared = Arc::downgrade(&node.handle.shared);
            let written = node.handle.shared.applied.clone();
            let applied = Arc::new(move |kind: &str, key: &[u8], state: Option<bytes::Bytes>| {
                if let Some(entry) = shared.upgrade().as_ref().and_then(|s| s.registry.get(kind)) {
                    entry.changed();
                }
                if written.receiver_count() > 0 && orbit_protocols::keyspace::DATABASE_KINDS.contains(&kind) {
                    let _ = written.send(orbit_shared::AppliedWrite {
                        kind: kind.to_string(),
                        key: bytes::Bytes::copy_from_slice(key),
                        state,
                    });
                }
            });
            let notify = crate::cluster::Notify { relayed: node.handle.shared.relayed.clone(), applied };
            crate::cluster::Formation::new(addr, node.handle.store().clone(), transport, notify)
        });
        let internode = formation.clone().map(|f| f as Arc<dyn crate::cluster::FrameHandler>);
        let servers = Servers::start(&node.handle, pg_tls, internode).await?;
        let _ = node.handle.shared.grpc_addr.set(servers.grpc_addr);
        let off = |a: Option<SocketAddr>| a.map_or_else(|| "off".to_string(), |a| a.to_string());
        let (grpc, http, resp, pg) =
            (servers.grpc_addr, servers.http_addr, off(servers.resp_addr), off(servers.pg_addr));
        // Kept by the node from here, so a failed join still stops them.
        node.servers = Some(servers);
        if let Some(formation) = formation {
            join_cluster(&node.handle, &formation).await?;
        }
        node.handle.shared.ready.store(true, Ordering::Release);
        tracing::info!(grpc = %grpc, http = %http, resp = %resp, pg = %pg, "node ready");
        Ok(node)
    }
}

/// Finds or forms the cluster and sends the partitions' writes through it;
/// the node that bootstrapped records the cluster's shape in the metadata
/// group.
async fn join_cluster(
    node: &NodeHandle,
    formation: &Arc<crate::cluster::Formation>,
) -> Result<(), NodeError> {
    let config = &node.config().cluster;
    let mut seeds = config.seeds.clone();
    seeds.sort();
    seeds.dedup();
    let own = formation.addr().to_string();
    let expect = config.bootstrap_expect.unwrap_or(seeds.iter().filter(|s| **s != own).count() + 1);
    let timings = crate::cluster::Timings {
        heartbeat: config.heartbeat_interval,
        election: (config.election_timeout, config.election_timeout * 2),
        ..Default::default()
    };
    let formed = formation
        .run(
            &seeds,
            expect,
            config.replication_factor,
            node.config().node.partitions,
            &timings,
            config.formation_timeout,
        )
        .await
        .map_err(NodeError::Cluster)?;
    let cluster = formed.cluster;
    tracing::info!(cluster = %cluster.cluster_id(), node = cluster.node_id(), "joined the cluster");
    node.partitions().attach(cluster.clone());
    // Ready once every group this node holds has a leader (the node can
    // serve or forward any key).
    if !cluster.wait_for_leaders(config.formation_timeout).await {
        return Err(NodeError::Cluster(orbit_shared::Error::Unreachable {
            reason: "some partitions elected no leader".into(),
        }));
    }
    if formed.bootstrapped {
        node.tasks().spawn(async move {
            let meta = crate::cluster::ClusterMeta::founding(&cluster);
            for _ in 0..600 {
                if cluster.leader(crate::cluster::META_GROUP) == crate::cluster::Leader::Local
                    && cluster.record_meta(meta.clone()).await.is_ok()
                {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            tracing::warn!("the cluster's shape was not recorded in the metadata group");
        });
    }
    Ok(())
}
