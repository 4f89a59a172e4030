//! Rust client for Orbit over gRPC.
//!
//! ```no_run
//! use orbit_client::Client;
//! use orbit_shared::actors::counter::{Counter, Increment};
//!
//! # async fn run() -> Result<(), orbit_client::ClientError> {
//! let client = Client::connect("http://127.0.0.1:50051").await?;
//! let visits = client.actor::<Counter>("visits");
//! let now = visits.call(Increment { by: 1 }).await?;
//! // The same call, dynamically: any kind, any method, JSON arguments.
//! let again = client.call_json("counter", "visits", "get", serde_json::json!({})).await?;
//! assert_eq!(again, serde_json::json!(now));
//! # Ok(()) }
//! ```
//!
//! A [`Client`] is cheap to clone; clones share one HTTP/2 connection and
//! one multiplexed call stream per node, both re-established on the next
//! call after they break. Every call has a deadline ([`ClientBuilder::timeout`], 30 s by
//! default). For more parallelism than one connection gives, use several
//! clients.
//!
//! Connected to a node of a cluster, a client learns the partition map from
//! the node's description and sends each call (and each atomic group, by its
//! first actor) straight to the leader of the actor's partition, over one
//! connection per node opened on first use; [`Client::routes`] shows the map.
//! A call whose leader is not known, or whose leader cannot be reached, goes
//! to the connected node, which forwards it. A reply saying the node no
//! longer leads the partition refreshes the map and sends the call once more;
//! a leader that cannot be reached refreshes it in the background, at most
//! once a second. Listing, reading and describing stay on the connected node.
//! On a single node every call goes to that node.
//!
//! | module | contents |
//! |---|---|
//! | `routes` | the partition map and the connections to other nodes |

mod routes;

use bytes::Bytes;
use orbit_shared::CallStream;
use orbit_shared::proto::actor_service_client::ActorServiceClient;
use orbit_shared::proto::{
    DescribeRequest, InvokeAtomicRequest, InvokeRequest, ListActorsRequest, ReadActorRequest,
};
use orbit_shared::{
    Accepts, ActorGateway, ActorId, ActorInterface, ActorPage, ErrorKind, Invocation, Message,
    NodeDescription, Reply,
};
use routes::Router;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("invalid address '{addr}': {reason}")]
    InvalidAddress { addr: String, reason: String },
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("transport failure: {0}")]
    Transport(#[from] tonic::Status),
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The node answered with an error.
    #[error(transparent)]
    Remote(#[from] orbit_shared::Error),
}

impl ClientError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::InvalidAddress { .. } => ErrorKind::InvalidArgument,
            ClientError::Connect { .. } | ClientError::Transport(_) => ErrorKind::Unavailable,
            ClientError::Timeout(_) => ErrorKind::Timeout,
            ClientError::Remote(e) => e.kind(),
        }
    }
}

pub struct ClientBuilder {
    addr: String,
    settings: Settings,
}

/// What every connection of a client is opened and used with.
#[derive(Debug, Clone, Copy)]
struct Settings {
    timeout: Duration,
    connect_timeout: Duration,
    window: usize,
}

impl ClientBuilder {
    /// Deadline of each call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Calls in flight at once on a connection; keep it at or below the
    /// node's `grpc.stream_window` (1024 by default).
    pub fn window(mut self, window: usize) -> Self {
        self.settings.window = window.max(1);
        self
    }

    /// Connects now, so a wrong address fails here rather than on first use,
    /// and describes the node to learn its cluster's partition map (a node
    /// that cannot describe itself is used as a single node).
    pub async fn connect(self) -> Result<Client, ClientError> {
        let home = Arc::new(Connection::open(&self.addr, &self.settings).await?);
        let router = Router::start(home.clone(), self.settings).await;
        Ok(Client { home, router, timeout: self.settings.timeout })
    }
}

fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[derive(Clone)]
pub struct Client {
    /// The connection to the node the client connected to.
    home: Arc<Connection>,
    /// Present when that node belongs to a cluster.
    router: Option<Arc<Router>>,
    timeout: Duration,
}

/// One node's HTTP/2 connection and its multiplexed call stream.
struct Connection {
    rpc: ActorServiceClient<Channel>,
    calls: CallStream,
}

impl Connection {
    /// Connects to `addr` (`host:port` or `http://host:port`) and opens the
    /// call stream.
    async fn open(addr: &str, settings: &Settings) -> Result<Connection, ClientError> {
        let uri = if addr.contains("://") { addr.to_string() } else { format!("http://{addr}") };
        let endpoint = Endpoint::from_shared(uri)
            .map_err(|e| ClientError::InvalidAddress { addr: addr.to_string(), reason: e.to_string() })?
            .connect_timeout(settings.connect_timeout)
            .tcp_nodelay(true);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| ClientError::Connect { addr: addr.to_string(), reason: source_chain(&e) })?;
        let rpc = ActorServiceClient::new(channel);
        let calls = CallStream::open(rpc.clone(), settings.window).await?;
        Ok(Connection { rpc, calls })
    }

    /// The call stream, opened again if it broke.
    async fn open_stream(&self) -> Result<(), ClientError> {
        Ok(self.calls.stream().await?)
    }

    /// One call over the stream.
    async fn send(&self, request: InvokeRequest) -> Result<Reply, ClientError> {
        Ok(self.calls.call(request).await?.into_result()?)
    }

    async fn invoke_atomic(&self, request: InvokeAtomicRequest) -> Result<Vec<Reply>, ClientError> {
        let response = self.rpc.clone().invoke_atomic(request).await.map_err(ClientError::Transport)?;
        Ok(response.into_inner().into_result()?)
    }

    async fn describe(&self) -> Result<NodeDescription, ClientError> {
        let response = self.rpc.clone().describe(DescribeRequest {}).await.map_err(ClientError::Transport)?;
        Ok(response.into_inner().into_result()?)
    }
}

impl Client {
    /// Connects to a node's gRPC address (`host:port` or `http://host:port`).
    pub async fn connect(addr: impl Into<String>) -> Result<Client, ClientError> {
        Client::builder(addr).connect().await
    }

    pub fn builder(addr: impl Into<String>) -> ClientBuilder {
        let settings = Settings {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            window: 1024,
        };
        ClientBuilder { addr: addr.into(), settings }
    }

    /// A typed reference to actor `key` of interface `I`.
    pub fn actor<I: ActorInterface>(&self, key: impl Into<Bytes>) -> ActorRef<I> {
        ActorRef { client: self.clone(), id: ActorId::new(I::KIND, key), interface: PhantomData }
    }

    /// Calls any method of any actor with JSON arguments.
    pub async fn call_json(
        &self,
        kind: &str,
        key: impl Into<Bytes>,
        method: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let args = serde_json::to_vec(&args).map_err(|e| orbit_shared::Error::InvalidArguments {
            method: method.to_string(),
            reason: e.to_string(),
        })?;
        let reply = self.invoke(ActorId::new(kind, key), Invocation::new(method, args)).await?;
        Ok(reply.decode()?)
    }

    /// The raw dynamic call.
    pub async fn invoke(&self, id: ActorId, invocation: Invocation) -> Result<Reply, ClientError> {
        let request = InvokeRequest::call(id, invocation, false);
        tokio::time::timeout(self.timeout, self.send(request))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }

    /// Lists stored actors of `kind` (see [`ActorGateway::list_actors`]).
    pub async fn list_actors(
        &self,
        kind: &str,
        cursor: Option<Bytes>,
        limit: usize,
    ) -> Result<ActorPage, ClientError> {
        let request = ListActorsRequest {
            kind: kind.to_string(),
            cursor: cursor.unwrap_or_default(),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
        };
        let mut rpc = self.home.rpc.clone();
        let response = tokio::time::timeout(self.timeout, rpc.list_actors(request))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
            .map_err(ClientError::Transport)?;
        Ok(response.into_inner().into_result()?)
    }

    /// One stored actor's record state (see [`ActorGateway::read_actor`]).
    pub async fn read_actor(&self, id: ActorId) -> Result<Option<Bytes>, ClientError> {
        let request = ReadActorRequest { kind: id.kind, key: id.key };
        let mut rpc = self.home.rpc.clone();
        let response = tokio::time::timeout(self.timeout, rpc.read_actor(request))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
            .map_err(ClientError::Transport)?;
        Ok(response.into_inner().into_result()?)
    }

    /// Several calls as one atomic group (see [`ActorGateway::invoke_atomic`]).
    /// In a cluster every actor of the group must be in the first one's
    /// partition (else [`orbit_shared::Error::CrossPartition`]).
    pub async fn invoke_atomic(&self, calls: Vec<(ActorId, Invocation)>) -> Result<Vec<Reply>, ClientError> {
        let calls =
            calls.into_iter().map(|(id, invocation)| InvokeRequest::call(id, invocation, false)).collect();
        let request = InvokeAtomicRequest { calls, forwarded: false };
        let group = async {
            match &self.router {
                None => self.home.invoke_atomic(request).await,
                Some(router) => router.invoke_atomic(request).await,
            }
        };
        tokio::time::timeout(self.timeout, group).await.map_err(|_| ClientError::Timeout(self.timeout))?
    }

    /// The node's kinds, partitions and key metrics (see [`ActorGateway::describe`]).
    pub async fn describe(&self) -> Result<NodeDescription, ClientError> {
        tokio::time::timeout(self.timeout, self.home.describe())
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }

    /// The partition map calls are routed by: each partition's first slot,
    /// end slot (exclusive) and leader's gRPC address (empty when not
    /// known), in slot order; `None` when the connected node is not in a
    /// cluster.
    pub fn routes(&self) -> Option<Vec<(u16, u16, String)>> {
        self.router.as_ref().map(|router| router.routes())
    }

    /// One call, to its partition's leader in a cluster.
    async fn send(&self, request: InvokeRequest) -> Result<Reply, ClientError> {
        match &self.router {
            None => self.home.send(request).await,
            Some(router) => router.send(request).await,
        }
    }
}

impl ActorGateway for Client {
    async fn invoke(&self, id: ActorId, invocation: Invocation) -> Result<Reply, orbit_shared::Error> {
        Client::invoke(self, id, invocation).await.map_err(ClientError::into_shared)
    }

    async fn list_actors(
        &self,
        kind: &str,
        cursor: Option<Bytes>,
        limit: usize,
    ) -> Result<ActorPage, orbit_shared::Error> {
        Client::list_actors(self, kind, cursor, limit).await.map_err(ClientError::into_shared)
    }

    async fn invoke_atomic(
        &self,
        calls: Vec<(ActorId, Invocation)>,
    ) -> Result<Vec<Reply>, orbit_shared::Error> {
        Client::invoke_atomic(self, calls).await.map_err(ClientError::into_shared)
    }

    async fn read_actor(&self, id: ActorId) -> Result<Option<Bytes>, orbit_shared::Error> {
        Client::read_actor(self, id).await.map_err(ClientError::into_shared)
    }

    /// On the connected node, which runs it or sends it to its partition's
    /// leader.
    async fn invoke_session(
        &self,
        mut calls: orbit_shared::SessionSteps,
    ) -> Result<orbit_shared::DurableToken, orbit_shared::Error> {
        let Some(first) = orbit_shared::gateway::next_call(&mut calls).await? else {
            return Ok(orbit_shared::DurableToken::NONE);
        };
        orbit_shared::call_stream::session_over(self.home.rpc.clone(), false, first, calls).await
    }

    async fn describe(&self) -> Result<NodeDescription, orbit_shared::Error> {
        Client::describe(self).await.map_err(ClientError::into_shared)
    }
}

impl ClientError {
    /// The shared error a gateway caller sees.
    fn into_shared(self) -> orbit_shared::Error {
        match self {
            ClientError::Remote(e) => e,
            ClientError::Timeout(after) => {
                orbit_shared::Error::Timeout { after_ms: after.as_millis() as u64 }
            }
            other => orbit_shared::Error::Unreachable { reason: other.to_string() },
        }
    }
}

/// A typed reference to a remote actor.
pub struct ActorRef<I> {
    client: Client,
    id: ActorId,
    interface: PhantomData<fn() -> I>,
}

impl<I: ActorInterface> ActorRef<I> {
    pub fn id(&self) -> &ActorId {
        &self.id
    }

    pub async fn call<M: Message>(&self, msg: M) -> Result<M::Reply, ClientError>
    where
        I: Accepts<M>,
    {
        let invocation = Invocation::of(&msg)?;
        let reply = self.client.invoke(self.id.clone(), invocation).await?;
        Ok(reply.decode()?)
    }

    /// [`ActorRef::call`] applied at most once per `key` on the actor: a
    /// retry with the same key (after a lost reply, a dropped connection)
    /// is answered with the first reply and changes nothing, within the
    /// node's retention (`actors.idempotency_retention`).
    pub async fn call_once<M: Message>(&self, key: impl Into<String>, msg: M) -> Result<M::Reply, ClientError>
    where
        I: Accepts<M>,
    {
        let invocation = Invocation::of(&msg)?.with_idempotency_key(key);
        let reply = self.client.invoke(self.id.clone(), invocation).await?;
        Ok(reply.decode()?)
    }
}
