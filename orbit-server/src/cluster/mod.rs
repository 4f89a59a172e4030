//! The cluster: every partition is a Raft group replicated on up to
//! `replication_factor` nodes, plus one metadata group recording the
//! cluster's nodes and partition replicas (DESIGN §7, decision 0012).
//! Consensus is openraft's; it is used only inside this folder.
//!
//! | file | what |
//! |---|---|
//! | `types.rs` | what an entry carries (a turn's storage batch), openraft's type configuration |
//! | `log.rs` | a group's Raft log in the node's store (one group commit for every group) |
//! | `machine.rs` | a group's state machine: apply to the store, snapshots of a key range |
//! | `transport.rs` | frames between nodes: gRPC, or in-process with faults for tests |
//! | `formation.rs` | identity in the data dir, seeds, the one-time bootstrap |
//! | `tests.rs` | in-process clusters over a faulty network |
//!
//! A node serves a partition's actors only while it leads the partition's
//! group and has confirmed its term ([`Cluster::serve`]): activations made
//! in an earlier term are dropped at their next turn, and every write is a
//! log entry the term's leader proposes, so a deposed leader's turn cannot
//! commit.

mod formation;
mod log;
mod machine;
mod transport;
mod types;

#[cfg(test)]
mod tests;

pub use formation::{Formation, Identity};
pub use transport::{FrameHandler, GrpcTransport, InternodeService, LocalNet, SqlRunner, Transport};
pub use types::{ClusterMeta, GroupId, META_GROUP, NodeId};

use crate::storage::Store;
use bytes::Bytes;
use futures::future::BoxFuture;
use machine::{Applied, Machine};
use openraft::ServerState;
use openraft::error::{ClientWriteError, RaftError};
use orbit_shared::proto::actor_service_client::ActorServiceClient;
use orbit_shared::proto::{InvokeAtomicRequest, InvokeRequest};
use orbit_shared::{ActorId, Error, Invocation, Reply, WriteOp};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use transport::{Frame, Links, Request, Response};
use types::{Command, Peer, Raft};

/// The most bytes of writes one log entry carries: a larger write is
/// proposed in parts, so no single entry holds up replication (and the
/// heartbeats behind it) for long.
pub const MAX_ENTRY_BYTES: usize = 256 << 10;

/// How many parts of a staged write are proposed at once.
const STAGED_IN_FLIGHT: usize = 4;

/// `ops` cut, in order, into runs of at most `limit` bytes (a single op
/// larger than that is a run of its own); at least one run.
fn split(ops: Vec<WriteOp>, limit: usize) -> Vec<Vec<WriteOp>> {
    let mut runs = vec![Vec::new()];
    let mut size = 0;
    for op in ops {
        let bytes = types::op_bytes(&op);
        if size + bytes > limit && runs.last().is_some_and(|run| !run.is_empty()) {
            runs.push(Vec::new());
            size = 0;
        }
        size += bytes;
        if let Some(run) = runs.last_mut() {
            run.push(op);
        }
    }
    runs
}

/// The first staged write id of node `node`: its id in the top 24 bits, the
/// clock below (so a restarted node does not reuse its earlier ids).
fn staged_ids_of(node: NodeId) -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (node << 40) | (now.as_nanos() as u64 & ((1 << 40) - 1))
}

/// How long a hand-over waits for a new leader before asking again.
const ELECT_AGAIN: Duration = Duration::from_millis(300);

/// Raft's timings and log retention.
#[derive(Debug, Clone)]
pub struct Timings {
    pub heartbeat: Duration,
    /// Elections start after a random wait in this range without a leader.
    pub election: (Duration, Duration),
    /// A snapshot is built after this many entries; the log keeps
    /// `keep_after_snapshot` entries behind it for followers that lag.
    pub snapshot_every: u64,
    pub keep_after_snapshot: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            heartbeat: Duration::from_millis(200),
            election: (Duration::from_millis(600), Duration::from_millis(1200)),
            snapshot_every: 20_000,
            keep_after_snapshot: 5_000,
        }
    }
}

/// Who leads a group, as this node knows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Leader {
    /// This node.
    Local,
    /// Another node, at this gRPC address.
    Remote { node: NodeId, addr: String },
    /// Nobody yet (an election is under way).
    Unknown,
}

struct Group {
    id: GroupId,
    raft: Raft,
    links: Links,
    applied: Applied,
    /// The term in which this node last confirmed its leadership (its first
    /// entry of the term applied and a quorum heard from); 0 when none.
    confirmed: AtomicU64,
    /// When (ms after the cluster opened) a quorum last acknowledged this
    /// node as the group's leader, as of the latest metrics it reported.
    quorum_acked_ms: Arc<AtomicU64>,
}

/// What the cluster tells the rest of its node.
#[derive(Clone)]
pub struct Notify {
    /// Messages other nodes published, for this node's subscribers.
    pub relayed: tokio::sync::broadcast::Sender<orbit_shared::Published>,
    /// Called after an entry is applied here with the kind, key and new
    /// state (`None`: deleted) of each actor record it wrote (so caches and
    /// front-door state, like SQL's schemas, Redis' WATCH and expiry index,
    /// see changes made through any node).
    pub applied: Written,
}

/// See [`Notify::applied`].
pub type Written = Arc<dyn Fn(&str, &[u8], Option<bytes::Bytes>) + Send + Sync>;

impl Notify {
    /// Nothing listens: for tests.
    #[cfg(test)]
    pub fn none() -> Self {
        Notify { relayed: tokio::sync::broadcast::channel(16).0, applied: Arc::new(|_, _, _| {}) }
    }
}

/// This node's share of the cluster: one Raft group per partition it
/// replicates, and the metadata group.
/// Forwarded calls one node may have outstanding at another (the default
/// `grpc.stream_window`).
const FORWARD_WINDOW: usize = 1024;

pub struct Cluster {
    identity: Identity,
    addr: String,
    /// Partition groups by partition number (`None` where this node holds
    /// no replica).
    groups: Vec<Option<Group>>,
    meta: Group,
    /// How long a quorum's acknowledgement lets the leader serve without
    /// asking again (shorter than the shortest election timeout).
    lease: Duration,
    /// The clock of `Group::quorum_acked_ms`.
    epoch: tokio::time::Instant,
    closing: AtomicBool,
    /// Messages other nodes published, for this node's subscribers.
    relayed: tokio::sync::broadcast::Sender<orbit_shared::Published>,
    /// gRPC channels to the other nodes' actor service, for forwarding.
    peers: transport::Channels,
    /// The call streams calls are forwarded on, one per node.
    calls: std::sync::Mutex<std::collections::HashMap<String, Arc<orbit_shared::CallStream>>>,
    /// The id of this node's next staged write (unique across nodes: the
    /// node id in the high bits).
    next_staged: AtomicU64,
}

/// The replicas of `group` among `nodes` (sorted ids): `rf` of them,
/// starting at a node that rotates with the group so leadership spreads.
pub fn replicas(group: GroupId, nodes: &[NodeId], rf: usize) -> Vec<NodeId> {
    let n = nodes.len();
    let rf = rf.clamp(1, n.max(1));
    let start = if group == META_GROUP { 0 } else { usize::from(group) % n.max(1) };
    (0..rf).filter_map(|k| nodes.get((start + k) % n).copied()).collect()
}

impl Cluster {
    /// Starts this node's groups over `store`: every partition in
    /// `0..partitions` the identity places a replica of on this node
    /// ([`Identity::hosts`]), and the metadata group. Groups resume from
    /// what the store holds.
    pub async fn open(
        identity: Identity,
        addr: String,
        store: Arc<Store>,
        partitions: u16,
        transport: Arc<dyn Transport>,
        timings: &Timings,
        notify: Notify,
    ) -> Result<Arc<Cluster>, Error> {
        let config = Arc::new(
            openraft::Config {
                cluster_name: identity.cluster_id.clone(),
                heartbeat_interval: timings.heartbeat.as_millis() as u64,
                election_timeout_min: timings.election.0.as_millis() as u64,
                election_timeout_max: timings.election.1.as_millis() as u64,
                install_snapshot_timeout: 30_000,
                snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(timings.snapshot_every),
                max_in_snapshot_log_to_keep: timings.keep_after_snapshot,
                ..Default::default()
            }
            .validate()
            .map_err(|e| Error::Internal { reason: format!("raft configuration: {e}") })?,
        );
        let epoch = tokio::time::Instant::now();
        let open = |group: GroupId| {
            let (store, transport, config, identity, kinds) =
                (store.clone(), transport.clone(), config.clone(), identity.clone(), notify.applied.clone());
            async move {
                let links = Links {
                    transport,
                    cluster_id: identity.cluster_id.as_str().into(),
                    from: identity.node_id,
                    group,
                };
                let storage = |e: types::StorageError| Error::Storage { reason: e.to_string() };
                let log = log::GroupLog::open(store.clone(), group).await.map_err(storage)?;
                let applied = Applied::new(kinds);
                let machine = Machine::open(store, group, applied.clone()).await.map_err(storage)?;
                let raft = Raft::new(identity.node_id, config, links.clone(), log, machine)
                    .await
                    .map_err(|e| Error::Internal { reason: format!("raft group {group}: {e}") })?;
                let quorum_acked_ms = Arc::new(AtomicU64::new(0));
                tokio::spawn(track_quorum_acks(raft.metrics(), epoch, quorum_acked_ms.clone()));
                Ok::<_, Error>(Group {
                    id: group,
                    raft,
                    links,
                    applied,
                    confirmed: AtomicU64::new(0),
                    quorum_acked_ms,
                })
            }
        };
        let meta = open(META_GROUP).await?;
        let mut groups = Vec::with_capacity(usize::from(partitions));
        for p in 0..partitions {
            groups.push(if identity.hosts(p) { Some(open(p).await?) } else { None });
        }
        let lease = timings.election.0.mul_f64(0.8);
        let identity_node = identity.node_id;
        Ok(Arc::new(Cluster {
            epoch,
            identity,
            addr,
            groups,
            meta,
            lease,
            closing: AtomicBool::new(false),
            relayed: notify.relayed,
            peers: Default::default(),
            calls: Default::default(),
            next_staged: AtomicU64::new(staged_ids_of(identity_node)),
        }))
    }

    pub fn node_id(&self) -> NodeId {
        self.identity.node_id
    }

    pub fn cluster_id(&self) -> &str {
        &self.identity.cluster_id
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    fn group(&self, id: GroupId) -> Option<&Group> {
        if id == META_GROUP { Some(&self.meta) } else { self.groups.get(usize::from(id))?.as_ref() }
    }

    fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter().flatten().chain(std::iter::once(&self.meta))
    }

    /// Makes the first replica of each group start it with its members.
    /// Called once, by the node that bootstraps the cluster; a replica
    /// still opening its groups is asked again until `limit` has passed.
    pub async fn initialize(
        &self,
        nodes: &BTreeMap<NodeId, String>,
        rf: usize,
        limit: Duration,
    ) -> Result<(), Error> {
        let ids: Vec<NodeId> = nodes.keys().copied().collect();
        let partitions = self.groups.len() as u16;
        let deadline = tokio::time::Instant::now() + limit;
        for group in std::iter::once(META_GROUP).chain(0..partitions) {
            let order = replicas(group, &ids, rf);
            let members: BTreeMap<NodeId, Peer> =
                order.iter().filter_map(|id| Some((*id, Peer { addr: nodes.get(id)?.clone() }))).collect();
            // The first replica in placement order starts the group and so
            // becomes its first leader.
            let Some((first, peer)) = order.first().and_then(|id| Some((*id, members.get(id)?))) else {
                continue;
            };
            loop {
                let request = Request::Initialize { members: members.clone() };
                let answer = if first == self.node_id() {
                    Ok(self.answer(group, request).await)
                } else {
                    let timeout = Duration::from_secs(5);
                    transport::send_request(&self.meta.links, first, &peer.addr, group, request, timeout)
                        .await
                };
                let reason = match answer {
                    Ok(Response::Initialized) => break,
                    Ok(Response::Refused(reason)) | Err(reason) => reason,
                    Ok(other) => format!("unexpected answer {other:?}"),
                };
                if tokio::time::Instant::now() >= deadline {
                    return Err(Error::Unreachable {
                        reason: format!("initializing group {group}: {reason}"),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Who leads `group`, as far as this node knows.
    pub fn leader(&self, group: GroupId) -> Leader {
        let Some(g) = self.group(group) else { return Leader::Unknown };
        let metrics = g.raft.metrics();
        let m = metrics.borrow();
        match m.current_leader {
            Some(id) if id == self.node_id() && m.state == ServerState::Leader => Leader::Local,
            Some(id) if id != self.node_id() => match m.membership_config.membership().get_node(&id) {
                Some(peer) => Leader::Remote { node: id, addr: peer.addr.clone() },
                None => Leader::Unknown,
            },
            _ => Leader::Unknown,
        }
    }

    /// Whether this node may serve `group`'s actors now, and in which term:
    /// it leads the group, its first entry of the term is applied, and a
    /// quorum acknowledged it within the lease (asked again when not).
    /// Activations made in another term must be reloaded.
    pub async fn serve(&self, group: GroupId) -> Result<u64, Error> {
        let g = self.group(group).ok_or(Error::NotLeader { partition: group, leader: None })?;
        if self.closing.load(Ordering::Acquire) {
            // Handing over: no new turns here, so no appends keep the
            // followers' leases alive.
            return Err(Error::NotLeader { partition: group, leader: None });
        }
        let term = {
            let metrics = g.raft.metrics();
            let m = metrics.borrow();
            if m.state != ServerState::Leader || m.current_leader != Some(self.node_id()) {
                drop(m);
                return Err(self.not_leader(group));
            }
            m.current_term
        };
        let now = self.epoch.elapsed().as_millis() as u64;
        let fresh =
            now.saturating_sub(g.quorum_acked_ms.load(Ordering::Acquire)) < self.lease.as_millis() as u64;
        if fresh && g.confirmed.load(Ordering::Acquire) == term {
            return Ok(term);
        }
        g.raft.ensure_linearizable().await.map_err(|e| match e {
            RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(_)) => {
                self.not_leader(group)
            }
            other => Error::Unreachable { reason: format!("partition {group}: {other}") },
        })?;
        g.confirmed.store(term, Ordering::Release);
        Ok(term)
    }

    fn not_leader(&self, group: GroupId) -> Error {
        let leader = match self.leader(group) {
            Leader::Remote { addr, .. } => Some(addr),
            _ => None,
        };
        Error::NotLeader { partition: group, leader }
    }

    /// Proposes `ops` (all in `group`'s partition) and returns once they are
    /// committed on a quorum and applied here (whatever the term it commits
    /// in; see [`Cluster::write_in_term`]). Writes larger than
    /// [`MAX_ENTRY_BYTES`] go as staged parts and a commit (see
    /// [`Command::Stage`]), still all or nothing.
    pub async fn write(&self, group: GroupId, ops: Vec<WriteOp>) -> Result<(), Error> {
        self.write_fenced(group, ops, None).await
    }

    /// [`Cluster::write`] applied only if proposed in `term`: writes decided
    /// on what this node held as that term's leader (its SQL row locks).
    /// Refused with [`Error::NotLeader`], nothing applied, in another term.
    pub async fn write_in_term(&self, group: GroupId, ops: Vec<WriteOp>, term: u64) -> Result<(), Error> {
        self.write_fenced(group, ops, Some(term)).await
    }

    async fn write_fenced(&self, group: GroupId, ops: Vec<WriteOp>, term: Option<u64>) -> Result<(), Error> {
        let g = self.group(group).ok_or(Error::NotLeader { partition: group, leader: None })?;
        if self.closing.load(Ordering::Acquire) {
            return Err(Error::NotLeader { partition: group, leader: None });
        }
        let mut parts = split(ops, MAX_ENTRY_BYTES);
        let last = parts.pop().unwrap_or_default();
        if parts.is_empty() {
            let command = match term {
                Some(term) => Command::WriteInTerm { term, ops: last },
                None => Command::Write(last),
            };
            return match self.propose(g, command).await? {
                true => Ok(()),
                false => Err(Error::NotLeader { partition: group, leader: None }),
            };
        }
        let id = self.next_staged.fetch_add(1, Ordering::Relaxed);
        let count = parts.len() as u32;
        // Parts land in any order; the commit is proposed once all have.
        use futures::{StreamExt, TryStreamExt};
        futures::stream::iter(parts.into_iter().enumerate())
            .map(|(part, ops)| self.propose(g, Command::Stage { id, part: part as u32, ops }))
            .buffer_unordered(STAGED_IN_FLIGHT)
            .try_collect::<Vec<bool>>()
            .await?;
        match self.propose(g, Command::Commit { id, parts: count, term, ops: last }).await? {
            true => Ok(()),
            // A new term began while the parts were proposed and cleared
            // them, or the commit's term is not the one asked for.
            false => Err(Error::NotLeader { partition: group, leader: None }),
        }
    }

    /// Proposes one entry to `g` and returns its answer once it is applied.
    async fn propose(&self, g: &Group, command: Command) -> Result<bool, Error> {
        match g.raft.client_write(command).await {
            Ok(written) => Ok(written.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(Error::NotLeader { partition: g.id, leader: f.leader_node.map(|peer| peer.addr) })
            }
            Err(e) => Err(Error::Unreachable { reason: format!("partition {}: {e}", g.id) }),
        }
    }

    fn actor_client(&self, addr: &str) -> Result<ActorServiceClient<tonic::transport::Channel>, Error> {
        let channel = self.peers.get(addr).map_err(|reason| Error::Unreachable { reason })?;
        Ok(ActorServiceClient::new(channel).max_decoding_message_size(usize::MAX))
    }

    /// Runs a call on the node at `addr` (its partition's leader), which
    /// serves it or refuses it without forwarding it further. Calls to one
    /// node share one `InvokeStream`.
    pub async fn forward(&self, addr: &str, id: &ActorId, invocation: &Invocation) -> Result<Reply, Error> {
        let request =
            InvokeRequest::call(id.clone(), invocation.clone(), true).in_chain(crate::actor::call_chain());
        match self.calls_to(addr)?.call(request).await {
            Ok(answer) => answer.into_result(),
            Err(status) => Err(Error::Unreachable { reason: format!("{addr}: {}", status.message()) }),
        }
    }

    fn calls_to(&self, addr: &str) -> Result<Arc<orbit_shared::CallStream>, Error> {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(stream) = calls.get(addr) {
            return Ok(stream.clone());
        }
        let stream = Arc::new(orbit_shared::CallStream::new(self.actor_client(addr)?, FORWARD_WINDOW));
        calls.insert(addr.to_string(), stream.clone());
        Ok(stream)
    }

    /// A tunnel to the PostgreSQL front door of the node at `addr` (the SQL
    /// data's leader), see [`transport::open_tunnel`].
    pub async fn postgres_tunnel(&self, addr: &str) -> Result<tokio::io::DuplexStream, Error> {
        let channel = self.peers.get(addr).map_err(|reason| Error::Unreachable { reason })?;
        transport::open_tunnel(channel, self.cluster_id())
            .await
            .map_err(|status| Error::Unreachable { reason: format!("{addr}: {}", status.message()) })
    }

    /// Runs SQL text on the node at `addr` (the SQL data's leader) for this
    /// node's front door; returns its encoded answer.
    pub async fn run_sql(&self, addr: &str, text: &str, read_only: bool) -> Result<Bytes, Error> {
        let channel = self.peers.get(addr).map_err(|reason| Error::Unreachable { reason })?;
        let request = orbit_shared::proto::SqlRequest {
            cluster_id: self.cluster_id().to_string(),
            text: text.to_string(),
            read_only,
        };
        let mut client = orbit_shared::proto::internode_client::InternodeClient::new(channel)
            .max_decoding_message_size(usize::MAX);
        match client.sql(request).await {
            Ok(answer) => Ok(answer.into_inner().outcome),
            Err(status) => Err(Error::Unreachable { reason: format!("{addr}: {}", status.message()) }),
        }
    }

    /// Runs an atomic session on the node at `addr` (its partition's
    /// leader), see [`orbit_shared::call_stream::session_over`].
    pub async fn forward_session(
        &self,
        addr: &str,
        first: orbit_shared::SessionCall,
        calls: orbit_shared::SessionSteps,
    ) -> Result<orbit_shared::DurableToken, Error> {
        let rpc = match self.actor_client(addr) {
            Ok(rpc) => rpc,
            Err(e) => return crate::session::fail_all(calls, first, e).await,
        };
        orbit_shared::call_stream::session_over(rpc, true, first, calls).await.map_err(|e| match e {
            Error::Unreachable { reason } => Error::Unreachable { reason: format!("{addr}: {reason}") },
            other => other,
        })
    }

    /// [`Cluster::forward`] for an atomic group.
    pub async fn forward_atomic(
        &self,
        addr: &str,
        calls: &[(ActorId, Invocation)],
    ) -> Result<Vec<Reply>, Error> {
        let calls = calls
            .iter()
            .map(|(id, invocation)| InvokeRequest::call(id.clone(), invocation.clone(), true))
            .collect();
        match self.actor_client(addr)?.invoke_atomic(InvokeAtomicRequest { calls, forwarded: true }).await {
            Ok(answer) => answer.into_inner().into_result(),
            Err(status) => Err(Error::Unreachable { reason: format!("{addr}: {}", status.message()) }),
        }
    }

    /// Sends a message published here to every other node, in the
    /// background; a node that cannot be reached misses it (as a Redis
    /// Cluster node does).
    pub fn relay_published(&self, published: orbit_shared::Published) {
        for (&id, addr) in &self.identity.nodes {
            if id == self.node_id() {
                continue;
            }
            let (links, addr) = (self.meta.links.clone(), addr.clone());
            let (channel, message) = (published.channel.clone(), published.message.clone());
            let request = if published.sharded {
                Request::SPublish { channel, message }
            } else {
                Request::Publish { channel, message }
            };
            tokio::spawn(async move {
                let sent =
                    transport::send_request(&links, id, &addr, META_GROUP, request, Duration::from_secs(2));
                if let Err(reason) = sent.await {
                    tracing::debug!(to = id, %reason, "PUBLISH not relayed");
                }
            });
        }
    }

    /// Records the cluster's shape in the metadata group (on its leader).
    pub async fn record_meta(&self, meta: ClusterMeta) -> Result<(), Error> {
        match self.meta.raft.client_write(Command::Meta(meta)).await {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::Unreachable { reason: format!("metadata group: {e}") }),
        }
    }

    /// The identity this node joined with.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The cluster's shape as this node has applied it.
    pub fn meta(&self) -> ClusterMeta {
        self.meta.applied.meta.borrow().clone()
    }

    /// Waits until every group this node holds has a leader, for at most
    /// `limit`; returns whether they all do.
    pub async fn wait_for_leaders(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self.groups().all(|g| self.leader(g.id) != Leader::Unknown) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The groups this node leads.
    pub fn led(&self) -> Vec<GroupId> {
        self.groups().filter(|g| self.leader(g.id) == Leader::Local).map(|g| g.id).collect()
    }

    /// Hands the leadership of every group this node leads to another
    /// replica, waiting up to `limit` until another node leads each of
    /// them. This node stops campaigning and stops sending heartbeats, and
    /// asks each group's most up-to-date follower to stand, again every
    /// [`ELECT_AGAIN`] until another node leads it (openraft 0.9 has no
    /// leader transfer: a candidate can lose while a write is still on its
    /// way to it, or while the other voters' leases hold, and then the
    /// followers' own election timeouts remain). Calls meanwhile wait for
    /// the new leader.
    pub async fn hand_over_all(&self, limit: Duration) {
        self.closing.store(true, Ordering::Release);
        for g in self.groups() {
            g.raft.runtime_config().elect(false);
            g.raft.runtime_config().heartbeat(false);
        }
        let deadline = tokio::time::Instant::now() + limit;
        futures::future::join_all(self.led().into_iter().map(|group| self.hand_over(group, deadline))).await;
    }

    async fn hand_over(&self, group: GroupId, deadline: tokio::time::Instant) {
        let Some(g) = self.group(group) else { return };
        let moved = || matches!(self.leader(group), Leader::Remote { .. });
        while tokio::time::Instant::now() < deadline && !moved() {
            let asked_until = tokio::time::Instant::now() + ELECT_AGAIN;
            if let Some((id, addr)) = self.successor(g) {
                let sent = transport::send_request(&g.links, id, &addr, group, Request::Elect, ELECT_AGAIN);
                if let Err(reason) = sent.await {
                    tracing::warn!(group, to = id, %reason, "leadership hand-over not sent");
                }
            }
            while tokio::time::Instant::now() < asked_until.min(deadline) && !moved() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// The voter other than this node that holds the most of `g`'s log.
    fn successor(&self, g: &Group) -> Option<(NodeId, String)> {
        let metrics = g.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let (id, _) = m
            .replication
            .as_ref()?
            .iter()
            .filter(|(id, _)| **id != self.node_id())
            .filter(|(id, _)| membership.voter_ids().any(|v| v == **id))
            .max_by_key(|(_, matched)| matched.map(|l| l.index))?;
        membership.get_node(id).map(|peer| (*id, peer.addr.clone()))
    }

    /// Stops every group.
    pub async fn shutdown(&self) {
        self.closing.store(true, Ordering::Release);
        for g in self.groups() {
            if let Err(e) = g.raft.shutdown().await {
                tracing::warn!(group = g.id, error = %e, "raft group did not stop cleanly");
            }
        }
    }

    /// Hands a message relayed from another node to this node's
    /// subscribers. No subscriber task (no RESP front door) is not an error.
    fn deliver(&self, published: orbit_shared::Published) -> Response {
        let _ = self.relayed.send(published);
        Response::Delivered
    }

    /// Answers one request addressed to `group` on this node.
    async fn answer(&self, group: GroupId, request: Request) -> Response {
        let Some(g) = self.group(group) else {
            return Response::Refused(format!("node {} holds no replica of group {group}", self.node_id()));
        };
        match request {
            Request::Append(rpc) => Response::Append(g.raft.append_entries(rpc).await),
            Request::Vote(rpc) => Response::Vote(g.raft.vote(rpc).await),
            Request::Snapshot { vote, meta, pairs } => {
                let snapshot = openraft::storage::Snapshot { meta, snapshot: Box::new(pairs) };
                Response::Snapshot(g.raft.install_full_snapshot(vote, snapshot).await)
            }
            Request::Elect if self.closing.load(Ordering::Acquire) => {
                Response::Refused("this node is shutting down".into())
            }
            Request::Elect => Response::Elect(g.raft.trigger().elect().await),
            Request::Initialize { members } => match g.raft.initialize(members).await {
                Ok(()) => Response::Initialized,
                // Already initialized: a retried bootstrap.
                Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => {
                    Response::Initialized
                }
                Err(e) => Response::Refused(e.to_string()),
            },
            Request::Publish { channel, message } => {
                self.deliver(orbit_shared::Published { channel, message, sharded: false })
            }
            Request::SPublish { channel, message } => {
                self.deliver(orbit_shared::Published { channel, message, sharded: true })
            }
            Request::Hello | Request::Join { .. } => {
                Response::Refused("formation messages go to the node".into())
            }
        }
    }

    /// A report of every group this node holds: leader, term, applied and
    /// replication progress.
    pub fn report(&self) -> Vec<GroupReport> {
        self.groups()
            .map(|g| {
                let metrics = g.raft.metrics();
                let m = metrics.borrow();
                let voters: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
                let last = m.last_log_index.unwrap_or(0);
                GroupReport {
                    group: g.id,
                    leader: m.current_leader,
                    term: m.current_term,
                    applied: m.last_applied.map_or(0, |l| l.index),
                    replicas: voters.into_iter().collect(),
                    lag: m.replication.as_ref().map(|r| {
                        r.iter()
                            .map(|(id, matched)| (*id, last.saturating_sub(matched.map_or(0, |l| l.index))))
                            .collect()
                    }),
                }
            })
            .collect()
    }
}

impl ClusterMeta {
    /// The shape a cluster was founded with.
    pub fn founding(cluster: &Cluster) -> ClusterMeta {
        let identity = cluster.identity();
        let ids: Vec<NodeId> = identity.nodes.keys().copied().collect();
        let rf = identity.replication_factor;
        ClusterMeta {
            cluster_id: identity.cluster_id.clone(),
            nodes: identity.nodes.clone(),
            replicas: (0..cluster.groups.len() as u16).map(|p| (p, replicas(p, &ids, rf))).collect(),
        }
    }
}

/// Keeps `acked` at the moment a quorum last acknowledged this node as
/// leader: the moment metrics arrive less the time since the acknowledgement
/// they report (so never earlier than the truth). Ends with the group.
async fn track_quorum_acks(
    mut metrics: tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, Peer>>,
    epoch: tokio::time::Instant,
    acked: Arc<AtomicU64>,
) {
    while metrics.changed().await.is_ok() {
        let since = metrics.borrow_and_update().millis_since_quorum_ack;
        if let Some(since) = since {
            let at = (epoch.elapsed().as_millis() as u64).saturating_sub(since);
            acked.fetch_max(at, Ordering::AcqRel);
        }
    }
}

/// One group as [`Cluster::report`] shows it.
#[derive(Debug, Clone)]
pub struct GroupReport {
    pub group: GroupId,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub applied: u64,
    pub replicas: Vec<NodeId>,
    /// On the leader: entries each replica is behind.
    pub lag: Option<BTreeMap<NodeId, u64>>,
}

impl Cluster {
    /// Answers a frame: refused unless it is for this cluster and node.
    async fn handle_frame(&self, frame: Frame) -> Response {
        match frame {
            Frame { request: Request::Hello, .. } => Response::Hello {
                cluster_id: Some(self.identity.cluster_id.clone()),
                addr: self.addr.clone(),
            },
            Frame { cluster_id, .. } if cluster_id != self.identity.cluster_id => Response::Refused(format!(
                "this node belongs to cluster {}, not {cluster_id}",
                self.identity.cluster_id
            )),
            Frame { to, .. } if to != self.node_id() => {
                Response::Refused(format!("this is node {}, not node {to}", self.node_id()))
            }
            // A retried formation message for the cluster this node is in.
            Frame { request: Request::Join { .. }, .. } => Response::Joined,
            Frame { group, request, .. } => self.answer(group, request).await,
        }
    }
}

impl FrameHandler for Cluster {
    fn handle(self: Arc<Self>, frame: Bytes) -> BoxFuture<'static, Bytes> {
        Box::pin(async move { transport::answer_frame(frame, async |f| self.handle_frame(f).await).await })
    }

    fn cluster_id(&self) -> Option<String> {
        Some(self.identity.cluster_id.clone())
    }
}
