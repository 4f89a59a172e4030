//! The node: what it owns, how it starts, and its one ordered shutdown.
//!
//! Start: open storage, check the partition count, build the registry, start
//! background upkeep (idle deactivation, periodic fsync), bind the gRPC and
//! HTTP listeners, then report ready.
//!
//! Shutdown ([`Node::shutdown`]): (1) report not ready and stop accepting
//! connections; (2) let in-flight requests drain, up to
//! `node.drain_timeout`; (3) refuse new calls and deactivate every actor,
//! persisting its state; (4) stop upkeep, fsync and close storage (even if
//! handles to the node remain; their calls then fail).

use crate::actor::{self, Actor, Directory, KindEntry, KindInfo, Registry};
use crate::actor_ref::LocalRef;
use crate::config::{Config, ConfigError, Durability, StorageKind};
use crate::metrics::Metrics;
use crate::partition::PartitionMap;
use crate::storage::copy::Fingerprint;
use crate::storage::layout::{self, system_key};
use crate::storage::{self, Op, Seq, StorageError, Store};
use crate::{http, rpc};
use bytes::Bytes;
use orbit_shared::{
    ActorGateway, ActorId, ActorPage, Error, Invocation, KindDescription, MethodDescription, NodeDescription,
    PartitionDescription, Reply, StoredActor,
};
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
}

pub struct NodeBuilder {
    config: Config,
    kinds: Vec<(&'static str, actor::EntryFactory)>,
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
    /// keyspaces `redis`, `redis:1` ... `redis:15`, and SQL: table rows
    /// (`row:*`), secondary index entries (`idx:*`) and the table catalog
    /// (`sql:table`).
    pub fn with_builtin_kinds(self) -> Self {
        use crate::actors::redis::RedisKey;
        let node = self
            .register::<crate::actors::counter::CounterActor>()
            .register_family::<crate::actors::row::RowActor>(orbit_protocols::postgres::ROW_FAMILY)
            .register_family::<crate::actors::index::IndexActor>(orbit_protocols::postgres::INDEX_FAMILY)
            .register_as::<crate::actors::row::RowActor>(orbit_protocols::postgres::CATALOG_KIND);
        orbit_protocols::resp::DATABASE_KINDS
            .iter()
            .fold(node, |node, kind| node.register_as::<RedisKey>(kind))
    }

    /// A node without listeners, for embedding and in-process use.
    pub async fn build(self) -> Result<Node, NodeError> {
        self.config.validate()?;
        let metrics = Metrics::new();
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
        check_partition_count(&store, self.config.node.partitions).await?;
        let shared = Arc::new(NodeShared {
            partitions: PartitionMap::new(self.config.node.partitions, store.clone()),
            config: self.config,
            registry,
            directory: Directory::default(),
            store,
            metrics,
            epoch: tokio::time::Instant::now(),
            closing: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            switching: AtomicBool::new(false),
            tasks: TaskTracker::new(),
            grpc_addr: std::sync::OnceLock::new(),
        });
        let handle = NodeHandle { shared };
        let upkeep = CancellationToken::new();
        let tasks = handle.shared.tasks.clone();
        tasks.spawn(actor::reap_idle(handle.clone(), upkeep.clone()));
        if let Some(dir) = handle.config().backup.dir.clone() {
            tasks.spawn(crate::backup::run_schedule(handle.clone(), dir, upkeep.clone()));
        }
        if handle.config().storage.durability == Durability::Periodic {
            let interval = handle.config().storage.sync_interval;
            tasks.spawn(handle.store().run_periodic(interval, upkeep.clone()));
        }
        Ok(Node { handle, upkeep, servers: None })
    }

    /// A node serving gRPC and HTTP on the configured addresses.
    pub async fn start(self) -> Result<Node, NodeError> {
        // Certificate files are read first: a bad one stops the start before storage opens.
        let postgres = &self.config.postgres;
        let pg = if postgres.enabled { Some(postgres.front_door()?) } else { None };
        let mut node = self.build().await?;
        let servers = Servers::start(&node.handle, pg).await?;
        let _ = node.handle.shared.grpc_addr.set(servers.grpc_addr);
        node.handle.shared.ready.store(true, Ordering::Release);
        let off = |a: Option<SocketAddr>| a.map_or_else(|| "off".to_string(), |a| a.to_string());
        let (resp, pg) = (off(servers.resp_addr), off(servers.pg_addr));
        tracing::info!(grpc = %servers.grpc_addr, http = %servers.http_addr, resp = %resp, pg = %pg, "node ready");
        node.servers = Some(servers);
        Ok(node)
    }
}

/// Refuses to open a data directory created with another partition count.
async fn check_partition_count(store: &Store, configured: u16) -> Result<(), StorageError> {
    let key = system_key("partitions");
    match store.get(key.clone()).await? {
        Some(found) => {
            let found = <[u8; 2]>::try_from(found.as_ref()).map(u16::from_be_bytes).map_err(|_| {
                StorageError::Corrupt { key: "partitions".into(), reason: "not a u16".into() }
            })?;
            if found != configured {
                return Err(StorageError::PartitionCountMismatch { found, configured });
            }
            Ok(())
        }
        None => {
            store.append(&[Op::Put(key, Bytes::copy_from_slice(&configured.to_be_bytes()))]).await?;
            store.sync_now().await
        }
    }
}

struct Servers {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    resp_addr: Option<SocketAddr>,
    pg_addr: Option<SocketAddr>,
    accept: CancellationToken,
    tasks: TaskTracker,
    health: tonic_health::server::HealthReporter,
}

impl Servers {
    /// `pg`: the PostgreSQL front door's settings, when it is enabled.
    async fn start(
        node: &NodeHandle,
        pg: Option<orbit_protocols::postgres::PgConfig>,
    ) -> Result<Servers, NodeError> {
        let bind = |addr: SocketAddr| async move {
            tokio::net::TcpListener::bind(addr).await.map_err(|source| NodeError::Bind { addr, source })
        };
        let grpc = bind(node.config().grpc.addr).await?;
        let http = bind(node.config().http.addr).await?;
        let local = |l: &tokio::net::TcpListener, addr| {
            l.local_addr().map_err(|source| NodeError::Bind { addr, source })
        };
        let grpc_addr = local(&grpc, node.config().grpc.addr)?;
        let http_addr = local(&http, node.config().http.addr)?;
        let accept = CancellationToken::new();
        let tasks = TaskTracker::new();
        let resp_addr = match node.config().resp.enabled {
            false => None,
            true => {
                let listener = bind(node.config().resp.addr).await?;
                let addr = local(&listener, node.config().resp.addr)?;
                let config = resp_config(node.config(), addr);
                let gateway = Arc::new(node.clone());
                let serve =
                    orbit_protocols::resp::serve(listener, gateway, config, accept.clone(), tasks.clone());
                tasks.spawn(serve);
                Some(addr)
            }
        };
        // PostgreSQL connections and MCP's SQL tools share row locks and schemas.
        let sql = orbit_protocols::postgres::SqlState::default();
        let pg_addr = match pg {
            None => None,
            Some(config) => {
                let listener = bind(node.config().postgres.addr).await?;
                let addr = local(&listener, node.config().postgres.addr)?;
                if config.auth == orbit_protocols::postgres::AuthMethod::Password && config.tls.is_none() {
                    tracing::warn!(
                        "postgres.auth = \"password\" without TLS (postgres.tls_cert, postgres.tls_key): \
                         passwords cross the network in cleartext"
                    );
                }
                let serve = orbit_protocols::postgres::serve(
                    listener,
                    Arc::new(node.clone()),
                    config,
                    sql.clone(),
                    accept.clone(),
                    tasks.clone(),
                );
                tasks.spawn(serve);
                Some(addr)
            }
        };
        let health = rpc::serve(grpc, node.clone(), accept.clone(), &tasks).await;
        tasks.spawn(http::serve(http, node.clone(), sql, accept.clone()));
        Ok(Servers { grpc_addr, http_addr, resp_addr, pg_addr, accept, tasks, health })
    }
}

/// The front door's settings from the `[resp]` section.
fn resp_config(config: &Config, addr: SocketAddr) -> orbit_protocols::resp::RespConfig {
    let resp = &config.resp;
    let users = resp.users.iter().map(|u| orbit_protocols::resp::AclUser {
        name: u.name.clone(),
        password: u.password.clone(),
        enabled: true,
    });
    orbit_protocols::resp::RespConfig {
        requirepass: resp.requirepass.clone(),
        users: users.collect(),
        maxclients: resp.maxclients,
        proto_max_bulk_len: resp.proto_max_bulk_len,
        client_query_buffer_limit: resp.client_query_buffer_limit,
        pubsub_buffer: resp.pubsub_buffer,
        expiry_sweep_interval: resp.expiry_sweep_interval,
        port: addr.port(),
        durability: config.storage.durability.name().to_string(),
    }
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

    /// The ordered shutdown described in the module docs.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let shared = &self.handle.shared;
        shared.ready.store(false, Ordering::Release);
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
    closing: AtomicBool,
    ready: AtomicBool,
    /// A hot swap is running.
    switching: AtomicBool,
    /// Work the node owns beyond requests: upkeep loops and deactivations.
    tasks: TaskTracker,
    /// The bound gRPC address, once the listeners are up.
    grpc_addr: std::sync::OnceLock<SocketAddr>,
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

    /// Hot swap: copies the node's data into a new `kind` backend in its data
    /// directory while it keeps serving, catches up, and switches over. The
    /// old backend's files stay on disk until removed. Restart the node with
    /// `storage.backend` set to `kind` afterwards.
    pub async fn switch_backend(&self, kind: StorageKind) -> Result<Fingerprint, StorageError> {
        let refuse = |reason: String| Err(StorageError::SwitchRefused { reason });
        let current = self.store().backend().name();
        if kind == StorageKind::Memory || kind.name() == current {
            return refuse(format!(
                "from {current} to {} is not a switch to another durable backend",
                kind.name()
            ));
        }
        if self.shared.switching.swap(true, Ordering::AcqRel) {
            return refuse("another switch is running".into());
        }
        let data_dir = self.config().node.data_dir.clone();
        let result = async {
            let engine_dir = data_dir.join(kind.name());
            if std::fs::read_dir(&engine_dir).is_ok_and(|mut d| d.next().is_some()) {
                return refuse(format!("{} already exists; remove it first", engine_dir.display()));
            }
            let dir = data_dir.clone();
            let target = tokio::task::spawn_blocking(move || storage::open_engine(kind, &dir))
                .await
                .map_err(|e| StorageError::Io { backend: kind.name(), reason: e.to_string() })??;
            let marker_dir = data_dir.clone();
            let switched = self.store().swap_to(target, move || storage::set_marker(kind, &marker_dir)).await;
            if switched.is_err() {
                // The partial copy is of no use; leave the directory as it was.
                if let Err(e) = std::fs::remove_dir_all(&engine_dir) {
                    tracing::warn!(dir = %engine_dir.display(), error = %e, "cannot remove a failed switch's files");
                }
            }
            switched
        }
        .await;
        self.shared.switching.store(false, Ordering::Release);
        if let Ok(copied) = &result {
            tracing::info!(from = current, to = kind.name(), keys = copied.keys, "storage backend switched");
        }
        result
    }

    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.shared.store
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
        self.shared.directory.get_or_activate(id, || {
            let partition = self.shared.partitions.for_slot(id.slot()).clone();
            kind.activate(id.clone(), partition, self.now_ms())
        })
    }

    /// One dynamic call, returning once its write is visible; the reply is
    /// not to be shown before `Seq` is durable.
    async fn invoke_untimed(&self, id: ActorId, invocation: Invocation) -> Result<(Reply, Seq), Error> {
        id.validate()?;
        let kind = self.kind(&id.kind)?;
        let started = std::time::Instant::now();
        let result = async {
            loop {
                self.check_open().map_err(|e| (e, None))?;
                match self.activation(&id, kind).call_json(self, &invocation).await {
                    Err(actor::TurnError::Retired) => continue,
                    Err(actor::TurnError::Failed(e)) => return Err((e, None)),
                    Ok((Ok(reply), seq)) => return Ok((reply, seq)),
                    Ok((Err(e), seq)) => return Err((e, Some(seq))),
                }
            }
        }
        .await;
        kind.metrics()
            .record(result.as_ref().map(|_| ()).map_err(|(e, _)| e.kind()), started.elapsed().as_secs_f64());
        match result {
            Ok(done) => Ok(done),
            // An error reply may report state that is not durable yet.
            Err((e, Some(seq))) => {
                self.store().wait_durable(seq).await?;
                Err(e)
            }
            Err((e, None)) => Err(e),
        }
    }

    /// [`ActorGateway::invoke_atomic`] without the time limit.
    async fn invoke_atomic_untimed(&self, calls: Vec<(ActorId, Invocation)>) -> Result<Vec<Reply>, Error> {
        let mut ids: Vec<ActorId> = Vec::with_capacity(calls.len());
        for (id, _) in &calls {
            id.validate()?;
            self.kind(&id.kind)?;
            ids.push(id.clone());
        }
        ids.sort_unstable();
        ids.dedup();
        let slots: Vec<usize> =
            calls.iter().map(|(id, _)| ids.binary_search(id).unwrap_or_default()).collect();
        let started = std::time::Instant::now();
        'retry: loop {
            self.check_open()?;
            let mut activations = Vec::with_capacity(ids.len());
            for id in &ids {
                activations.push(self.activation(id, self.kind(&id.kind)?));
            }
            let mut held = Vec::with_capacity(ids.len());
            for activation in &activations {
                match activation.hold(self).await {
                    Ok(turn) => held.push(turn),
                    // Dropping the turns taken so far changes nothing.
                    Err(actor::TurnError::Retired) => continue 'retry,
                    Err(actor::TurnError::Failed(e)) => return Err(e),
                }
            }
            let mut replies = Vec::with_capacity(calls.len());
            for ((id, invocation), &slot) in calls.iter().zip(&slots) {
                let reply = held[slot].call(self, invocation).await;
                if let Ok(kind) = self.kind(&id.kind) {
                    kind.metrics().record(
                        reply.as_ref().map(|_| ()).map_err(|e| e.kind()),
                        started.elapsed().as_secs_f64(),
                    );
                }
                // A failed call drops every held turn unwritten: rollback.
                replies.push(reply?);
            }
            let mut ops = Vec::new();
            for turn in &mut held {
                ops.extend(turn.writes()?);
            }
            let seq = if ops.is_empty() { None } else { Some(self.store().append(&ops).await?) };
            let mut depends_on = seq.unwrap_or_default();
            for turn in held {
                depends_on = depends_on.max(turn.commit(self, seq));
            }
            self.store().wait_durable(depends_on).await?;
            return Ok(replies);
        }
    }

    async fn invoke_timed(&self, id: ActorId, invocation: Invocation) -> Result<(Reply, Seq), Error> {
        let limit = self.config().actors.call_timeout;
        tokio::time::timeout(limit, self.invoke_untimed(id, invocation))
            .await
            .unwrap_or(Err(Error::Timeout { after_ms: limit.as_millis() as u64 }))
    }
}

impl ActorGateway for NodeHandle {
    /// Dynamic invocation with the node's `actors.call_timeout`.
    async fn invoke(&self, id: ActorId, invocation: Invocation) -> Result<Reply, Error> {
        let (reply, seq) = self.invoke_timed(id, invocation).await?;
        self.store().wait_durable(seq).await?;
        Ok(reply)
    }

    /// An atomic group with the node's `actors.call_timeout`.
    async fn invoke_atomic(&self, calls: Vec<(ActorId, Invocation)>) -> Result<Vec<Reply>, Error> {
        let limit = self.config().actors.call_timeout;
        tokio::time::timeout(limit, self.invoke_atomic_untimed(calls))
            .await
            .unwrap_or(Err(Error::Timeout { after_ms: limit.as_millis() as u64 }))
    }

    async fn invoke_visible(&self, id: ActorId, invocation: Invocation) -> Result<(Reply, u64), Error> {
        self.invoke_timed(id, invocation).await
    }

    async fn wait_durable(&self, token: u64) -> Result<(), Error> {
        Ok(self.store().wait_durable(token).await?)
    }

    /// Walks the kind's prefix partition by partition; the cursor is the
    /// storage key to continue after.
    async fn list_actors(&self, kind: &str, cursor: Option<Bytes>, limit: usize) -> Result<ActorPage, Error> {
        self.check_open()?;
        self.kind(kind)?;
        let limit = limit.clamp(1, orbit_shared::gateway::MAX_LIST_LIMIT);
        let count = self.config().node.partitions;
        let bad_cursor =
            || Error::InvalidArguments { method: "list_actors".into(), reason: "bad cursor".into() };
        let (mut partition, mut after) = match cursor {
            None => (0, None),
            Some(c) => {
                let p = layout::partition_of_key(&c).filter(|&p| p < count).ok_or_else(bad_cursor)?;
                if !c.starts_with(&layout::kind_prefix(p, kind)) {
                    return Err(bad_cursor());
                }
                (p, Some(c))
            }
        };
        let mut actors = Vec::new();
        while partition < count {
            let prefix = layout::kind_prefix(partition, kind);
            let want = ((limit - actors.len()) * 2).max(64);
            let page = self.store().scan(prefix, after.take(), want).await?;
            let full = page.len() == want;
            let mut last_record: Option<Bytes> = None;
            let mut last_key = None;
            for (stored, value) in page {
                if actors.len() == limit {
                    break;
                }
                if let Some(key) = layout::record_actor_key(&stored) {
                    let record = layout::Record::decode(&stored, value)?;
                    let key = Bytes::copy_from_slice(key);
                    let active =
                        self.shared.directory.get(&ActorId::new(kind.to_string(), key.clone())).is_some();
                    actors.push(StoredActor { key, state: record.state, active });
                    last_record = Some(stored.clone());
                }
                last_key = Some(stored);
            }
            // Continue after the last record's entries (or after orphans).
            let resume = last_record.map(|r| layout::after_entries(&r)).or(last_key);
            if actors.len() == limit {
                return Ok(ActorPage { actors, cursor: resume });
            }
            if full {
                after = resume;
            } else {
                partition += 1;
            }
        }
        Ok(ActorPage { actors, cursor: None })
    }

    async fn read_actor(&self, id: ActorId) -> Result<Option<Bytes>, Error> {
        self.check_open()?;
        id.validate()?;
        self.kind(&id.kind)?;
        let partition = self.shared.partitions.for_slot(id.slot()).id;
        let key = layout::actor_key(partition, &id);
        match self.store().get(key.clone()).await? {
            Some(bytes) => Ok(Some(layout::Record::decode(&key, bytes)?.state)),
            None => Ok(None),
        }
    }

    /// Counted per registered kind: a family (`row:*`) counts the changes
    /// of all its kinds together.
    fn kind_changes(&self, kind: &str) -> Option<u64> {
        self.shared.registry.get(kind).map(|entry| entry.changes())
    }

    async fn describe(&self) -> Result<NodeDescription, Error> {
        let stats = self.store().stats().await.ok();
        let storage = &self.metrics().storage;
        let leader = self.shared.grpc_addr.get().map_or_else(|| "local".to_string(), |a| a.to_string());
        let kinds = self
            .shared
            .registry
            .infos()
            .into_iter()
            .map(|info| {
                let metrics = self.shared.registry.registered(info.kind).map(|k| k.metrics().clone());
                let mut methods: Vec<_> = info
                    .methods
                    .iter()
                    .map(|m| MethodDescription { name: m.name.to_string(), read_only: m.read_only })
                    .collect();
                methods.sort_by(|a, b| a.name.cmp(&b.name));
                KindDescription {
                    kind: info.kind.to_string(),
                    methods,
                    activations: metrics.as_ref().map_or(0, |m| m.activations.get()),
                    invocations_ok: metrics.as_ref().map_or(0, |m| m.invocations_ok.get()),
                    mailbox_rejections: metrics.as_ref().map_or(0, |m| m.mailbox_rejections.get()),
                }
            })
            .collect();
        let partitions = self
            .shared
            .partitions
            .iter()
            .map(|p| PartitionDescription {
                id: u32::from(p.id),
                first_slot: u32::from(p.slots.start),
                end_slot: u32::from(p.slots.end),
                leader: leader.clone(),
            })
            .collect();
        Ok(NodeDescription {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ready: self.is_ready(),
            backend: self.store().backend().name().to_string(),
            durability: self.config().storage.durability.name().to_string(),
            uptime_ms: self.shared.epoch.elapsed().as_millis() as u64,
            grpc_addr: leader,
            kinds,
            partitions,
            active_actors: self.active_actors() as u64,
            storage_reads: storage.reads.get(),
            storage_writes: storage.writes.get(),
            storage_fsyncs: storage.fsyncs.get(),
            storage_keys: stats.as_ref().map_or(0, |s| s.keys),
            storage_disk_bytes: stats.as_ref().map_or(0, |s| s.disk_bytes),
        })
    }
}
