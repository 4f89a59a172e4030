//! [`ActorGateway`]: the seam between front doors and the actor system.
//!
//! Front doors (gRPC, RESP, PostgreSQL, MCP) translate their protocol into
//! invocations and call this trait. The node implements it for local use; the
//! `orbit-client` crate implements it for a remote node, so a front door can
//! run inside the node or beside it.

use crate::{ActorId, Error, Invocation, Reply};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// One call of an atomic session ([`ActorGateway::invoke_session`]) and
/// where its reply goes.
pub struct SessionCall {
    pub id: ActorId,
    pub invocation: Invocation,
    pub reply: tokio::sync::oneshot::Sender<Result<Reply, Error>>,
}

/// What an atomic session is sent, in order: its calls, then its commit.
pub enum SessionStep {
    Call(SessionCall),
    /// Write what the calls did. A session whose steps end without it
    /// writes nothing.
    Commit,
}

/// The caller's side of an atomic session.
pub type SessionCalls = tokio::sync::mpsc::Sender<SessionStep>;

/// The session's side: [`ActorGateway::invoke_session`] reads it.
pub type SessionSteps = tokio::sync::mpsc::Receiver<SessionStep>;

/// The next step of a session: `Ok(Some(call))`, `Ok(None)` when the
/// commit is asked for, or the error of a session whose steps ended
/// without it.
pub async fn next_call(steps: &mut SessionSteps) -> Result<Option<SessionCall>, Error> {
    match steps.recv().await {
        Some(SessionStep::Call(call)) => Ok(Some(call)),
        Some(SessionStep::Commit) => Ok(None),
        None => Err(abandoned()),
    }
}

/// A session whose caller went away before it asked for the commit.
pub fn abandoned() -> Error {
    Error::Internal { reason: "the atomic session ended without its commit: nothing was written".to_string() }
}

tokio::task_local! {
    static SESSION: SessionCalls;
}

/// Runs `work` with every call it makes through a gateway (`invoke`,
/// `invoke_visible`, `invoke_atomic`) sent to the session `calls` feeds,
/// in this task only (work it spawns calls as usual).
pub async fn in_session<F: Future>(calls: SessionCalls, work: F) -> F::Output {
    SESSION.scope(calls, work).await
}

/// The session of the current task, if it runs inside [`in_session`].
pub fn current_session() -> Option<SessionCalls> {
    SESSION.try_with(Clone::clone).ok()
}

/// Makes a call in `session` and waits for its reply.
pub async fn call_in_session(
    session: &SessionCalls,
    id: ActorId,
    invocation: Invocation,
) -> Result<Reply, Error> {
    let (reply, replied) = tokio::sync::oneshot::channel();
    let ended =
        || Error::Internal { reason: "the atomic session ended before the call was answered".to_string() };
    session.send(SessionStep::Call(SessionCall { id, invocation, reply })).await.map_err(|_| ended())?;
    replied.await.map_err(|_| ended())?
}

/// The most actors one [`ActorGateway::list_actors`] call returns.
pub const MAX_LIST_LIMIT: usize = 10_000;

/// An actor as stored: its key and its record's state, read from storage
/// without activating it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredActor {
    pub key: Bytes,
    pub state: Bytes,
    /// Resident on its node when listed (activated and not yet deactivated).
    pub active: bool,
}

/// One page of [`ActorGateway::list_actors`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActorPage {
    pub actors: Vec<StoredActor>,
    /// Where the next page starts; `None` after the last page. Opaque.
    pub cursor: Option<Bytes>,
}

/// An actor resident on a node ([`ActorGateway::activations`]): activated
/// and not yet deactivated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationInfo {
    pub id: ActorId,
    /// Milliseconds since it was activated.
    pub age_ms: u64,
    /// Milliseconds since its last call (or its activation).
    pub idle_ms: u64,
    /// Callers waiting for its turn.
    pub waiting: usize,
    /// The names of its running timers, sorted.
    pub timers: Vec<String>,
}

/// What a node hosts and how it is doing ([`ActorGateway::describe`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NodeDescription {
    pub version: String,
    /// Storage is open, the listeners are up and shutdown has not begun.
    pub ready: bool,
    /// The storage backend (`memory`, `cow-btree`, `lsm`, `rocksdb`).
    pub backend: String,
    /// `always`, `periodic` or `none`.
    pub durability: String,
    pub uptime_ms: u64,
    /// The node's gRPC address.
    pub grpc_addr: String,
    pub kinds: Vec<KindDescription>,
    pub partitions: Vec<PartitionDescription>,
    /// Resident activations.
    pub active_actors: u64,
    pub storage_reads: u64,
    pub storage_writes: u64,
    pub storage_fsyncs: u64,
    /// Keys in the backend (an estimate where the engine keeps one).
    pub storage_keys: u64,
    pub storage_disk_bytes: u64,
    /// The cluster this node belongs to; empty without a cluster.
    pub cluster_id: String,
    /// This node's id in its cluster; 0 without a cluster.
    pub node_id: u64,
    /// The cluster's nodes as this node knows them; empty without a cluster.
    pub nodes: Vec<ClusterNodeDescription>,
}

impl NodeDescription {
    /// Whether the node belongs to a cluster.
    pub fn clustered(&self) -> bool {
        !self.cluster_id.is_empty()
    }

    /// How many partitions this node leads: all of them without a cluster,
    /// else as counted in its own entry of [`NodeDescription::nodes`].
    pub fn partitions_led(&self) -> u32 {
        if !self.clustered() {
            return u32::try_from(self.partitions.len()).unwrap_or(u32::MAX);
        }
        self.nodes.iter().find(|n| n.id == self.node_id).map_or(0, |n| n.partitions_led)
    }
}

/// A node of the cluster, as the describing node sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClusterNodeDescription {
    pub id: u64,
    /// Its gRPC address.
    pub addr: String,
    /// How many partition groups the describing node believes it leads.
    pub partitions_led: u32,
}

/// A registered actor kind, its methods and its counters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct KindDescription {
    pub kind: String,
    pub methods: Vec<MethodDescription>,
    pub activations: u64,
    pub invocations_ok: u64,
    pub mailbox_rejections: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MethodDescription {
    pub name: String,
    /// Declared not to change the actor's state.
    pub read_only: bool,
}

/// A partition: slots `first_slot..end_slot`, the node serving them and
/// the nodes replicating them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PartitionDescription {
    pub id: u32,
    pub first_slot: u32,
    pub end_slot: u32,
    /// The leader's gRPC address; empty when no leader is known.
    pub leader: String,
    /// The gRPC addresses of the nodes replicating it (on a node without a
    /// cluster, its own address).
    pub replicas: Vec<String>,
    /// Its Raft group's current term (0 without a cluster).
    pub term: u64,
    /// The last log index applied on the describing node (0 without a
    /// cluster).
    pub applied: u64,
    /// On its leader: how many entries its slowest replica is behind; 0
    /// elsewhere and without a cluster.
    pub lag: u64,
}

/// A message published on a channel (Redis `PUBLISH`) or a shard channel
/// (`SPUBLISH`) that the nodes of a cluster relay to each other, so
/// subscribers connected to any node get it.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub channel: Bytes,
    pub message: Bytes,
    /// On a shard channel: only shard-channel subscribers receive it.
    pub sharded: bool,
}

/// An actor's record written by an entry of the cluster's log that this
/// node applied (its own turns' writes and, as a replica, other nodes').
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedWrite {
    pub kind: String,
    pub key: Bytes,
    /// The actor's state as written; `None`: its record was deleted.
    pub state: Option<Bytes>,
}

/// What a reply shown early depends on: [`ActorGateway::wait_durable`] on it
/// returns once those writes are durable. Opaque to front doors, which only
/// combine the tokens of the replies they hold back ([`DurableToken::and`]);
/// what it records is the gateway's business (today a node's commit
/// position).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DurableToken(u64);

impl DurableToken {
    /// Depends on nothing: waiting for it returns at once.
    pub const NONE: DurableToken = DurableToken(0);

    /// A token for commit position `position` (for gateways).
    pub fn at(position: u64) -> Self {
        DurableToken(position)
    }

    /// The commit position it stands for (for gateways).
    pub fn position(self) -> u64 {
        self.0
    }

    /// A token that depends on what both depend on.
    pub fn and(self, other: DurableToken) -> Self {
        DurableToken(self.0.max(other.0))
    }

    pub fn is_none(self) -> bool {
        self.0 == 0
    }
}

pub trait ActorGateway: Send + Sync + 'static {
    /// Calls `invocation.method` on the actor `id`, activating it if needed.
    fn invoke(
        &self,
        id: ActorId,
        invocation: Invocation,
    ) -> impl Future<Output = Result<Reply, Error>> + Send;

    /// Like [`ActorGateway::invoke`], but returns as soon as the call's
    /// effects are visible to later calls, with a durability token: the reply
    /// must not be shown to anyone before [`ActorGateway::wait_durable`] on
    /// that token (or a later one) returns. A front door uses it to pipeline:
    /// run a client's queued commands back to back, then wait once.
    fn invoke_visible(
        &self,
        id: ActorId,
        invocation: Invocation,
    ) -> impl Future<Output = Result<(Reply, DurableToken), Error>> + Send {
        let call = self.invoke(id, invocation);
        async move { call.await.map(|reply| (reply, DurableToken::NONE)) }
    }

    /// Runs `calls` in order as one atomic group: the turns of every actor
    /// they name are taken (in one global order, so groups never deadlock
    /// each other), the calls run, and all their writes are appended as one
    /// storage batch, durable before the replies return. If any call fails,
    /// nothing is written, the touched actors reload what storage holds, and
    /// that call's error is returned. A call must not call another actor of
    /// its own group.
    fn invoke_atomic(
        &self,
        calls: Vec<(ActorId, Invocation)>,
    ) -> impl Future<Output = Result<Vec<Reply>, Error>> + Send;

    /// Runs the calls arriving on `calls` as one atomic group whose members
    /// are known only as they come: each call's actor turn is taken when
    /// the actor is first called and held to the end, each call is answered
    /// at once (later calls see earlier ones' effects), and on
    /// [`SessionStep::Commit`] every write is appended as one storage batch (in a cluster,
    /// one Raft entry, so all the actors must share a partition), visible
    /// when this returns and durable once the token it returns is
    /// ([`ActorGateway::wait_durable`]: a caller holding a lock waits after
    /// releasing it, so commits share fsyncs). If a call fails, nothing is written, later calls
    /// get the same error, and so does the session; if `calls` ends before
    /// the commit, nothing is written either. Other calls to the held
    /// actors wait until the session ends; a call must not call another
    /// actor of its own session. A gateway without sessions refuses every
    /// call.
    fn invoke_session(
        &self,
        calls: SessionSteps,
    ) -> impl Future<Output = Result<DurableToken, Error>> + Send {
        refuse_session(calls)
    }

    /// [`ActorGateway::invoke_session`] for a session another cluster node
    /// forwarded here (see [`ActorGateway::invoke_forwarded`]).
    fn invoke_session_forwarded(
        &self,
        calls: SessionSteps,
    ) -> impl Future<Output = Result<DurableToken, Error>> + Send {
        self.invoke_session(calls)
    }

    /// A call another cluster node forwarded here because this node leads
    /// the actor's partition: served here or refused with
    /// [`Error::NotLeader`], never forwarded again. A gateway that does not
    /// forward serves it as [`ActorGateway::invoke`].
    fn invoke_forwarded(
        &self,
        id: ActorId,
        invocation: Invocation,
    ) -> impl Future<Output = Result<Reply, Error>> + Send {
        self.invoke(id, invocation)
    }

    /// [`ActorGateway::invoke_atomic`] for a forwarded group (see
    /// [`ActorGateway::invoke_forwarded`]).
    fn invoke_atomic_forwarded(
        &self,
        calls: Vec<(ActorId, Invocation)>,
    ) -> impl Future<Output = Result<Vec<Reply>, Error>> + Send {
        self.invoke_atomic(calls)
    }

    /// The term in which this node serves actor `id`'s partition: 0 without
    /// a cluster; [`Error::NotLeader`] where another node leads it. Writes
    /// that depend on state this node holds in memory for the partition
    /// (the SQL data's row locks) pass it to
    /// [`ActorGateway::invoke_atomic_in_term`].
    fn serving_term(&self, id: &ActorId) -> impl Future<Output = Result<u64, Error>> + Send {
        let _ = id;
        async { Ok(0) }
    }

    /// [`ActorGateway::invoke_atomic`] run on this node only, and only
    /// while it still serves the group's partition in `term` (from
    /// [`ActorGateway::serving_term`]); else [`Error::NotLeader`], and
    /// nothing is written. Without a cluster, `invoke_atomic`.
    fn invoke_atomic_in_term(
        &self,
        calls: Vec<(ActorId, Invocation)>,
        term: u64,
    ) -> impl Future<Output = Result<Vec<Reply>, Error>> + Send {
        let _ = term;
        self.invoke_atomic(calls)
    }

    /// Where a PostgreSQL session runs: `None` here (no cluster, this node
    /// leads the SQL data's partition, or no leader is known yet); else a
    /// byte stream to the PostgreSQL front door of the node that leads it,
    /// which the session's bytes are carried to, so that the SQL data's row
    /// locks and transactions live on one node.
    fn postgres_tunnel(&self) -> impl Future<Output = Result<Option<tokio::io::DuplexStream>, Error>> + Send {
        async { Ok(None) }
    }

    /// Runs SQL text on the node that leads the SQL data's partition, for a
    /// front door that is not PostgreSQL: `None` when that is this node
    /// (or there is no cluster, or no leader is known), so the caller runs
    /// it here; else that node's answer, in the encoding of the front door
    /// that runs SQL there for other nodes (`sql::run_sql_encoded`).
    fn sql_at_leader(
        &self,
        text: &str,
        read_only: bool,
    ) -> impl Future<Output = Result<Option<Bytes>, Error>> + Send {
        let _ = (text, read_only);
        async { Ok(None) }
    }

    /// Whether actors with these keys can change together atomically: true
    /// on a single node; in a multi-node cluster, when they share a
    /// partition (keys are placed by slot, so hash tags co-locate them).
    fn colocated(&self, keys: &[&Bytes]) -> bool {
        let _ = keys;
        true
    }

    /// Relays a message published through this gateway's front door to the
    /// other nodes of its cluster, for their subscribers; nothing without a
    /// cluster. Fire and forget, as Redis Cluster's PUBLISH.
    fn relay_published(&self, published: Published) {
        let _ = published;
    }

    /// Messages other nodes relayed here, for this node's subscribers;
    /// `None` without a cluster.
    fn relayed(&self) -> Option<tokio::sync::broadcast::Receiver<Published>> {
        None
    }

    /// The actors whose records this node applies from its cluster's log,
    /// as they are applied (in a cluster of three, every write of the
    /// cluster reaches every node); `None` without a cluster. Front doors
    /// keep per-key state on it (WATCH, blocked clients, client-side
    /// caching) for writes made through other nodes.
    fn applied(&self) -> Option<tokio::sync::broadcast::Receiver<AppliedWrite>> {
        None
    }

    /// Waits until every write up to `token` is durable.
    fn wait_durable(&self, token: DurableToken) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = token;
        async { Ok(()) }
    }

    /// Stored actors of `kind`, at most `limit` (capped at
    /// [`MAX_LIST_LIMIT`]), starting at `cursor` (`None` for the first
    /// page). An actor present for a whole listing is returned once; one
    /// created or deleted meanwhile may or may not be.
    fn list_actors(
        &self,
        kind: &str,
        cursor: Option<Bytes>,
        limit: usize,
    ) -> impl Future<Output = Result<ActorPage, Error>> + Send;

    /// How many actors of `kind` are stored. This default walks
    /// [`ActorGateway::list_actors`]; a node answers from the counts it
    /// keeps with the records, without reading them.
    fn count_actors(&self, kind: &str) -> impl Future<Output = Result<u64, Error>> + Send {
        async move {
            let (mut total, mut cursor) = (0u64, None);
            loop {
                let page = self.list_actors(kind, cursor, MAX_LIST_LIMIT).await?;
                total += page.actors.len() as u64;
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => return Ok(total),
                }
            }
        }
    }

    /// The `n`th stored actor of `kind` (from 0, in no particular order),
    /// `None` past the last: with [`ActorGateway::count_actors`], a pick
    /// at random. This default walks [`ActorGateway::list_actors`]; a node
    /// walks only the partition that holds it.
    fn nth_actor(
        &self,
        kind: &str,
        n: u64,
    ) -> impl Future<Output = Result<Option<StoredActor>, Error>> + Send {
        async move {
            let (mut skip, mut cursor) = (n, None);
            loop {
                let page = self.list_actors(kind, cursor, MAX_LIST_LIMIT).await?;
                let len = page.actors.len() as u64;
                if skip < len {
                    return Ok(page.actors.into_iter().nth(skip as usize));
                }
                skip -= len;
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => return Ok(None),
                }
            }
        }
    }

    /// The stored record state of actor `id`, read from storage without
    /// activating it; `None` when it has no record.
    fn read_actor(&self, id: ActorId) -> impl Future<Output = Result<Option<Bytes>, Error>> + Send;

    /// How many changes actors of `kind` have committed through this
    /// gateway since it started, or `None` when it cannot tell (a remote
    /// client). The count moves before the reply of the call that made
    /// the change returns, so a caller that reads the count, then a state,
    /// may keep what it decoded from that state for as long as the count
    /// stays the same: no actor of the kind changed since the read.
    fn kind_changes(&self, kind: &str) -> Option<u64> {
        let _ = kind;
        None
    }

    /// The actors resident on the gateway's node (of `kind` only, when
    /// given), by id. A node lists its own activations only: in a cluster,
    /// each node holds those of the partitions it leads, so ask each one.
    /// This default refuses with [`Error::Unsupported`] (a remote client:
    /// the node's own SQL and MCP front doors list them).
    fn activations(
        &self,
        kind: Option<&str>,
    ) -> impl Future<Output = Result<Vec<ActivationInfo>, Error>> + Send {
        let _ = kind;
        async {
            Err(Error::Unsupported {
                what: "listing resident activations through this gateway (the node's own SQL and MCP \
                       front doors list them)"
                    .into(),
            })
        }
    }

    /// The node's kinds, partitions, storage and key metrics.
    fn describe(&self) -> impl Future<Output = Result<NodeDescription, Error>> + Send;
}

/// Answers every call of a session with [`Error::Unsupported`].
async fn refuse_session(calls: SessionSteps) -> Result<DurableToken, Error> {
    fail_session(calls, Error::Unsupported { what: "atomic sessions".to_string() }).await
}

/// Answers every call still to come in a session with `error`, and ends the
/// session with it.
pub async fn fail_session<T>(mut calls: SessionSteps, error: Error) -> Result<T, Error> {
    while let Some(step) = calls.recv().await {
        match step {
            SessionStep::Call(call) => {
                let _ = call.reply.send(Err(error.clone()));
            }
            SessionStep::Commit => break,
        }
    }
    Err(error)
}
