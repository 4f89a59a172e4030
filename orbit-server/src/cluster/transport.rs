//! How groups talk to their replicas on other nodes.
//!
//! A Raft message travels as a [`Frame`]: the cluster id, sender, receiver
//! and group around one [`Request`], encoded with postcard. A [`Transport`]
//! carries frames to an address and brings the answer back: over gRPC
//! between processes ([`GrpcTransport`], the `orbit.v1.Internode` service on
//! the node's gRPC port), or in-process for tests ([`LocalNet`], which can
//! cut nodes off and delay messages). [`Links`] adapts a transport to
//! openraft's network traits, one per group.
//!
//! Beside frames, the `PostgresTunnel` stream carries a PostgreSQL
//! connection's bytes to the node leading the SQL data ([`open_tunnel`],
//! answered by [`InternodeService`] with a connection to its own
//! PostgreSQL listener; [`pump`] moves the bytes on both ends).

use super::log::storage_error;
use super::types::{GroupId, NodeId, Peer, SnapshotPairs, TypeConfig, Vote};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed,
    StreamingError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::storage::{Snapshot, SnapshotMeta};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// A message to one group on one node.
#[derive(Debug, Serialize, Deserialize)]
pub struct Frame {
    pub cluster_id: String,
    pub from: NodeId,
    pub to: NodeId,
    pub group: GroupId,
    pub request: Request,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot {
        vote: Vote,
        meta: SnapshotMeta<NodeId, Peer>,
        pairs: SnapshotPairs,
    },
    /// Start an election for the group now: how a leader hands its
    /// leadership to an up-to-date follower.
    Elect,
    /// Start the group with these members (sent once, to its first replica,
    /// by the node that bootstraps the cluster).
    Initialize {
        members: BTreeMap<NodeId, Peer>,
    },
    /// A message published on another node (Redis PUBLISH), for this
    /// node's subscribers.
    Publish {
        channel: Bytes,
        message: Bytes,
    },
    /// Formation: who are you, and do you belong to a cluster yet?
    Hello,
    /// Formation: you are node `Frame::to` of cluster `Frame::cluster_id`,
    /// whose founding nodes are these.
    Join {
        nodes: BTreeMap<NodeId, String>,
        replication_factor: usize,
    },
    /// A message published on a shard channel on another node (Redis
    /// SPUBLISH), for this node's shard-channel subscribers. A variant of
    /// its own, last, rather than a field of `Publish`: postcard encodes
    /// variants by position and fields without defaults, so the frames of
    /// nodes that predate it still decode.
    SPublish {
        channel: Bytes,
        message: Bytes,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<SnapshotResponse<NodeId>, Fatal<NodeId>>),
    Elect(Result<(), Fatal<NodeId>>),
    Initialized,
    Delivered,
    Hello {
        cluster_id: Option<String>,
        addr: String,
    },
    Joined,
    /// Not for this node: another cluster, another node id, an unknown
    /// group, or a node still starting.
    Refused(String),
}

/// Carries encoded frames to an address and returns the encoded answer.
pub trait Transport: Send + Sync + 'static {
    fn call(&self, addr: &str, frame: Bytes, timeout: Duration) -> BoxFuture<'static, Result<Bytes, String>>;
}

/// What answers frames arriving at a node (the node's cluster).
pub trait FrameHandler: Send + Sync + 'static {
    fn handle(self: Arc<Self>, frame: Bytes) -> BoxFuture<'static, Bytes>;
    /// The id of the cluster this node belongs to (`None` before it has one).
    fn cluster_id(&self) -> Option<String>;
}

pub fn encode_frame(frame: &Frame) -> Result<Bytes, String> {
    postcard::to_stdvec(frame).map(Bytes::from).map_err(|e| e.to_string())
}

pub fn decode_frame(bytes: &[u8]) -> Result<Frame, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("bad internode frame: {e}"))
}

/// Decodes a frame, answers it with `answer`, and encodes the answer: what
/// every [`FrameHandler`] does around its own dispatch.
pub async fn answer_frame<F: Future<Output = Response>>(
    frame: Bytes,
    answer: impl FnOnce(Frame) -> F,
) -> Bytes {
    let response = match decode_frame(&frame) {
        Err(reason) => Response::Refused(reason),
        Ok(frame) => answer(frame).await,
    };
    encode_response(&response)
}

pub fn encode_response(response: &Response) -> Bytes {
    postcard::to_stdvec(response)
        .map(Bytes::from)
        .unwrap_or_else(|e| encode_response(&Response::Refused(format!("answer does not encode: {e}"))))
}

/// The network of one group on one node, as openraft sees it.
#[derive(Clone)]
pub struct Links {
    pub transport: Arc<dyn Transport>,
    pub cluster_id: Arc<str>,
    pub from: NodeId,
    pub group: GroupId,
}

pub struct Link {
    links: Links,
    target: NodeId,
    addr: String,
}

impl RaftNetworkFactory<TypeConfig> for Links {
    type Network = Link;

    async fn new_client(&mut self, target: NodeId, node: &Peer) -> Link {
        Link { links: self.clone(), target, addr: node.addr.clone() }
    }
}

fn unreachable(reason: impl Into<String>) -> Unreachable {
    Unreachable::new(&std::io::Error::other(reason.into()))
}

impl Link {
    async fn send(&self, request: Request, timeout: Duration) -> Result<Response, Unreachable> {
        let frame = Frame {
            cluster_id: self.links.cluster_id.to_string(),
            from: self.links.from,
            to: self.target,
            group: self.links.group,
            request,
        };
        let bytes = encode_frame(&frame).map_err(unreachable)?;
        let answer = self.links.transport.call(&self.addr, bytes, timeout).await.map_err(unreachable)?;
        match postcard::from_bytes::<Response>(&answer) {
            Ok(Response::Refused(reason)) => {
                Err(unreachable(format!("node {} refused: {reason}", self.target)))
            }
            Ok(response) => Ok(response),
            Err(e) => Err(unreachable(format!("bad answer from node {}: {e}", self.target))),
        }
    }

    fn unexpected<E: std::error::Error>(&self) -> RPCError<NodeId, Peer, E> {
        RPCError::Network(NetworkError::new(&std::io::Error::other(format!(
            "node {} answered another kind of message",
            self.target
        ))))
    }
}

impl RaftNetwork<TypeConfig> for Link {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Peer, RaftError<NodeId>>> {
        match self.send(Request::Append(rpc), option.hard_ttl()).await? {
            Response::Append(answer) => answer.map_err(|e| RemoteError::new(self.target, e).into()),
            _ => Err(self.unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Peer, RaftError<NodeId, InstallSnapshotError>>,
    > {
        // Snapshots go whole through `full_snapshot`; openraft does not
        // send chunks when the snapshot data is generic.
        Err(RPCError::Unreachable(unreachable("snapshots are sent whole")))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Peer, RaftError<NodeId>>> {
        match self.send(Request::Vote(rpc), option.hard_ttl()).await? {
            Response::Vote(answer) => answer.map_err(|e| RemoteError::new(self.target, e).into()),
            _ => Err(self.unexpected()),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot<TypeConfig>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let request = Request::Snapshot { vote, meta: snapshot.meta, pairs: *snapshot.snapshot };
        let answer = tokio::select! {
            closed = cancel => return Err(closed.into()),
            answer = self.send(request, option.hard_ttl()) => answer?,
        };
        match answer {
            Response::Snapshot(answer) => answer.map_err(|e| RemoteError::new(self.target, e).into()),
            _ => Err(StreamingError::StorageError(storage_error("unexpected answer to a snapshot"))),
        }
    }
}

/// Sends a request to group `group` of node `target` at `addr` outside
/// openraft's own traffic (formation, leadership hand-over).
pub async fn send_request(
    links: &Links,
    target: NodeId,
    addr: &str,
    group: GroupId,
    request: Request,
    timeout: Duration,
) -> Result<Response, String> {
    let link = Link { links: Links { group, ..links.clone() }, target, addr: addr.to_string() };
    link.send(request, timeout).await.map_err(|e| e.to_string())
}

/// Lazily connected gRPC channels to other nodes, one per address (a name
/// is resolved again on each reconnect, as StatefulSet DNS names appear
/// late).
#[derive(Default)]
pub struct Channels {
    channels: Mutex<HashMap<String, tonic::transport::Channel>>,
}

impl Channels {
    pub fn get(&self, addr: &str) -> Result<tonic::transport::Channel, String> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(channel) = channels.get(addr) {
            return Ok(channel.clone());
        }
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("bad peer address '{addr}': {e}"))?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .connect_lazy();
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

/// Frames between processes, over the `orbit.v1.Internode` gRPC service:
/// on one `RaftStream` per peer, where the frames queued at the moment go
/// as one message and their answers come back tagged (see [`PeerStream`]);
/// a frame larger than [`STREAMED_FRAME_MAX`] (a snapshot) goes as a `Raft`
/// call of its own, so it holds up no other group's messages.
#[derive(Default)]
pub struct GrpcTransport {
    channels: Channels,
    streams: Mutex<HashMap<String, PeerStream>>,
}

/// Frames larger than this go as calls of their own.
const STREAMED_FRAME_MAX: usize = 1 << 20;
/// A stream message gathers frames (or answers) until it holds this many bytes.
const BATCH_BYTES: usize = 1 << 20;
/// Messages handed to a peer's stream and not yet taken by HTTP/2; while
/// they wait, frames gather into the next message.
const STREAM_DEPTH: usize = 2;

type Answer = Result<Bytes, String>;

/// A frame waiting for a peer's stream, and where its answer goes.
struct Outgoing {
    data: Bytes,
    answer: oneshot::Sender<Answer>,
}

/// The queue of one peer's stream; [`run_stream`] sends what it holds.
#[derive(Clone)]
struct PeerStream {
    queue: mpsc::UnboundedSender<Outgoing>,
}

impl GrpcTransport {
    /// The queue of the stream to `addr`, started when there is none (or
    /// the last one's task has ended).
    fn stream_to(&self, addr: &str) -> Result<PeerStream, String> {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(stream) = streams.get(addr).filter(|s| !s.queue.is_closed()) {
            return Ok(stream.clone());
        }
        let channel = self.channels.get(addr)?;
        let (queue, frames) = mpsc::unbounded_channel();
        tokio::spawn(run_stream(addr.to_string(), channel, frames));
        let stream = PeerStream { queue };
        streams.insert(addr.to_string(), stream.clone());
        Ok(stream)
    }

    /// One frame as a `Raft` call of its own.
    fn call_alone(&self, addr: &str, frame: Bytes, timeout: Duration) -> BoxFuture<'static, Answer> {
        let channel = self.channels.get(addr);
        let addr = addr.to_string();
        Box::pin(async move {
            let mut request = tonic::Request::new(orbit_shared::proto::Frame { data: frame });
            request.set_timeout(timeout);
            match tokio::time::timeout(timeout, internode_client(channel?).raft(request)).await {
                Ok(Ok(answer)) => Ok(answer.into_inner().data),
                Ok(Err(status)) => Err(format!("{addr}: {}", status.message())),
                Err(_) => Err(format!("{addr}: no answer within {timeout:?}")),
            }
        })
    }
}

fn internode_client(
    channel: tonic::transport::Channel,
) -> orbit_shared::proto::internode_client::InternodeClient<tonic::transport::Channel> {
    orbit_shared::proto::internode_client::InternodeClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX)
}

impl Transport for GrpcTransport {
    fn call(&self, addr: &str, frame: Bytes, timeout: Duration) -> BoxFuture<'static, Answer> {
        if frame.len() > STREAMED_FRAME_MAX {
            return self.call_alone(addr, frame, timeout);
        }
        let (answer, answered) = oneshot::channel();
        let queued = self.stream_to(addr).and_then(|stream| {
            let outgoing = Outgoing { data: frame, answer };
            stream.queue.send(outgoing).map_err(|_| format!("{addr}: the stream closed"))
        });
        let addr = addr.to_string();
        Box::pin(async move {
            queued?;
            match tokio::time::timeout(timeout, answered).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => Err(format!("{addr}: the stream ended")),
                Err(_) => Err(format!("{addr}: no answer within {timeout:?}")),
            }
        })
    }
}

/// Takes frames from the queue until every handle of it is gone, a few at a
/// time, and sends each gathering as one message on a stream to `addr`,
/// opened when the first frame arrives and again after it breaks (the
/// frames then waiting for answers get an error: their callers retry as
/// openraft does any lost message).
async fn run_stream(
    addr: String,
    channel: tonic::transport::Channel,
    mut frames: mpsc::UnboundedReceiver<Outgoing>,
) {
    use orbit_shared::proto::{FrameBatch, TaggedFrame};
    let mut next_id = 0u64;
    while let Some(first) = frames.recv().await {
        let (out, outbound) = mpsc::channel::<FrameBatch>(STREAM_DEPTH);
        let opened = internode_client(channel.clone())
            .raft_stream(tokio_stream::wrappers::ReceiverStream::new(outbound))
            .await;
        let mut answers = match opened {
            Ok(answers) => answers.into_inner(),
            Err(status) => {
                let reason = format!("{addr}: {}", status.message());
                let _ = first.answer.send(Err(reason.clone()));
                while let Ok(waiting) = frames.try_recv() {
                    let _ = waiting.answer.send(Err(reason.clone()));
                }
                continue;
            }
        };
        let mut pending: HashMap<u64, oneshot::Sender<Answer>> = HashMap::new();
        let mut waiting = Some(first);
        let reason = loop {
            tokio::select! {
                biased;
                answer = answers.message() => match answer {
                    Ok(Some(batch)) => {
                        for frame in batch.frames {
                            if let Some(answer) = pending.remove(&frame.id) {
                                let _ = answer.send(Ok(frame.data));
                            }
                        }
                    }
                    Ok(None) => break format!("{addr}: the peer ended the stream"),
                    Err(status) => break format!("{addr}: {}", status.message()),
                },
                slot = out.reserve(), if waiting.is_some() => {
                    let Ok(slot) = slot else { break format!("{addr}: the stream closed") };
                    let mut batch = Vec::new();
                    let mut bytes = 0;
                    let mut next = waiting.take();
                    while let Some(Outgoing { data, answer }) = next {
                        next_id += 1;
                        bytes += data.len();
                        pending.insert(next_id, answer);
                        batch.push(TaggedFrame { id: next_id, data });
                        next = if bytes < BATCH_BYTES { frames.try_recv().ok() } else { None };
                    }
                    slot.send(FrameBatch { frames: batch });
                    // Callers that gave up leave their entries behind until
                    // an answer comes; drop them now and then.
                    if pending.len() > 1024 {
                        pending.retain(|_, answer| !answer.is_closed());
                    }
                }
                next = frames.recv(), if waiting.is_none() => match next {
                    Some(outgoing) => waiting = Some(outgoing),
                    None => return,
                },
            }
        };
        tracing::debug!(%reason, "internode stream broke");
        for (_, answer) in pending.drain() {
            let _ = answer.send(Err(reason.clone()));
        }
        if let Some(outgoing) = waiting {
            let _ = outgoing.answer.send(Err(reason));
        }
    }
}

/// The gRPC side that receives frames and hands them to the node's cluster.
pub struct InternodeService {
    pub handler: Arc<dyn FrameHandler>,
    /// Where this node's PostgreSQL front door listens, for tunnels (`None`:
    /// it is off).
    pub postgres: Option<std::net::SocketAddr>,
    /// Runs SQL text here for another node's front door.
    pub sql: SqlRunner,
    /// Cancelled when the node stops serving: its `RaftStream`s then end
    /// (the server waits for open streams before it stops).
    pub closing: tokio_util::sync::CancellationToken,
}

/// Runs SQL text on this node for another node's front door (see
/// `ActorGateway::sql_at_leader`) and returns the encoded outcome.
pub type SqlRunner = Arc<dyn Fn(String, bool) -> BoxFuture<'static, Bytes> + Send + Sync>;

impl InternodeService {
    /// Refuses what another cluster sends.
    fn check_cluster(&self, theirs: &str) -> Result<(), tonic::Status> {
        let ours = self.handler.cluster_id();
        if ours.as_deref() == Some(theirs) {
            return Ok(());
        }
        Err(tonic::Status::permission_denied(format!(
            "a message of cluster {theirs:?} refused by a node of cluster {ours:?}"
        )))
    }
}

/// The most bytes one tunnel message carries.
const TUNNEL_CHUNK: usize = 16 * 1024;
/// Tunnel messages queued each way before the reader waits.
const TUNNEL_DEPTH: usize = 16;

type TunnelData = orbit_shared::proto::TunnelData;

/// Moves bytes between `stream` and a tunnel until both directions end:
/// what `stream` yields is sent as `wrap`ped messages on `out`, and what
/// arrives on `inbound` is written to `stream` (whose writing side is shut
/// when `inbound` ends or fails).
pub async fn pump<S, M>(
    stream: S,
    out: tokio::sync::mpsc::Sender<M>,
    wrap: fn(Bytes) -> M,
    mut inbound: tonic::Streaming<TunnelData>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    M: Send + 'static,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut read, mut write) = tokio::io::split(stream);
    let upstream = async move {
        let mut buf = bytes::BytesMut::with_capacity(TUNNEL_CHUNK);
        loop {
            buf.reserve(TUNNEL_CHUNK);
            match read.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if out.send(wrap(buf.split().freeze())).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let downstream = async move {
        while let Ok(Some(message)) = inbound.message().await {
            if write.write_all(&message.data).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// Opens a tunnel over `channel` to the PostgreSQL front door of the node
/// there, for a connection of cluster `cluster_id`: the returned stream's
/// bytes are that connection's.
pub async fn open_tunnel(
    channel: tonic::transport::Channel,
    cluster_id: &str,
) -> Result<tokio::io::DuplexStream, tonic::Status> {
    let mut client = orbit_shared::proto::internode_client::InternodeClient::new(channel);
    let (out, outbound) = tokio::sync::mpsc::channel(TUNNEL_DEPTH);
    let hello = TunnelData { data: Bytes::new(), cluster_id: cluster_id.to_string() };
    out.send(hello).await.map_err(|_| tonic::Status::internal("tunnel closed before it opened"))?;
    let inbound = client.postgres_tunnel(tokio_stream::wrappers::ReceiverStream::new(outbound)).await?;
    let (ours, theirs) = tokio::io::duplex(TUNNEL_CHUNK * 4);
    let wrap = |data| TunnelData { data, cluster_id: String::new() };
    tokio::spawn(pump(theirs, out, wrap, inbound.into_inner()));
    Ok(ours)
}

#[tonic::async_trait]
impl orbit_shared::proto::internode_server::Internode for InternodeService {
    async fn raft(
        &self,
        request: tonic::Request<orbit_shared::proto::Frame>,
    ) -> Result<tonic::Response<orbit_shared::proto::Frame>, tonic::Status> {
        let data = self.handler.clone().handle(request.into_inner().data).await;
        Ok(tonic::Response::new(orbit_shared::proto::Frame { data }))
    }

    type RaftStreamStream = BoxStream<'static, Result<orbit_shared::proto::FrameBatch, tonic::Status>>;

    /// Answers each frame of the stream as it comes (every one at once), and
    /// sends the answers ready at the moment as one message.
    async fn raft_stream(
        &self,
        request: tonic::Request<tonic::Streaming<orbit_shared::proto::FrameBatch>>,
    ) -> Result<tonic::Response<Self::RaftStreamStream>, tonic::Status> {
        use orbit_shared::proto::{FrameBatch, TaggedFrame};
        let mut inbound = request.into_inner();
        let (handler, closing) = (self.handler.clone(), self.closing.clone());
        let (answers, ready) = mpsc::unbounded_channel::<TaggedFrame>();
        tokio::spawn(async move {
            loop {
                let batch = tokio::select! {
                    _ = closing.cancelled() => break,
                    batch = inbound.message() => batch,
                };
                let Ok(Some(batch)) = batch else { break };
                for TaggedFrame { id, data } in batch.frames {
                    let (handler, answers) = (handler.clone(), answers.clone());
                    tokio::spawn(async move {
                        let data = handler.handle(data).await;
                        let _ = answers.send(TaggedFrame { id, data });
                    });
                }
            }
        });
        // Ends once the reader above has stopped and every frame it took is
        // answered.
        let answers = futures::stream::unfold(ready, |mut ready| async move {
            let first = ready.recv().await?;
            let mut bytes = first.data.len();
            let mut frames = vec![first];
            while bytes < BATCH_BYTES {
                let Ok(frame) = ready.try_recv() else { break };
                bytes += frame.data.len();
                frames.push(frame);
            }
            Some((Ok(FrameBatch { frames }), ready))
        });
        Ok(tonic::Response::new(Box::pin(answers)))
    }

    async fn sql(
        &self,
        request: tonic::Request<orbit_shared::proto::SqlRequest>,
    ) -> Result<tonic::Response<orbit_shared::proto::SqlResponse>, tonic::Status> {
        let request = request.into_inner();
        self.check_cluster(&request.cluster_id)?;
        let outcome = (self.sql)(request.text, request.read_only).await;
        Ok(tonic::Response::new(orbit_shared::proto::SqlResponse { outcome }))
    }

    type PostgresTunnelStream = tokio_stream::wrappers::ReceiverStream<Result<TunnelData, tonic::Status>>;

    /// Connects the tunnel to this node's own PostgreSQL listener (through
    /// loopback when it listens on every address).
    async fn postgres_tunnel(
        &self,
        request: tonic::Request<tonic::Streaming<TunnelData>>,
    ) -> Result<tonic::Response<Self::PostgresTunnelStream>, tonic::Status> {
        let mut inbound = request.into_inner();
        let hello =
            inbound.message().await?.ok_or_else(|| tonic::Status::invalid_argument("empty tunnel"))?;
        self.check_cluster(&hello.cluster_id)?;
        let Some(mut addr) = self.postgres else {
            return Err(tonic::Status::unavailable("PostgreSQL is off on this node"));
        };
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| tonic::Status::unavailable(format!("PostgreSQL at {addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let (out, outbound) = tokio::sync::mpsc::channel(TUNNEL_DEPTH);
        let wrap = |data| Ok(TunnelData { data, cluster_id: String::new() });
        tokio::spawn(pump(stream, out, wrap, inbound));
        Ok(tonic::Response::new(tokio_stream::wrappers::ReceiverStream::new(outbound)))
    }
}

/// An in-process network of nodes for tests: frames go straight to the
/// addressed node's handler, except across a cut, where they are lost (the
/// caller sees an error); every frame may be delayed, and one in `n` frames
/// or answers lost.
#[derive(Default)]
pub struct LocalNet {
    nodes: Mutex<HashMap<String, Arc<dyn FrameHandler>>>,
    isolated: Mutex<HashSet<String>>,
    delay: Mutex<Duration>,
    /// One frame in `drop_every` is lost on the way (0: none), the answer of
    /// another one on the way back: the sender cannot tell which.
    drop_every: std::sync::atomic::AtomicU64,
    sent: std::sync::atomic::AtomicU64,
}

impl LocalNet {
    /// Routes frames for `addr` to `handler` (replacing a previous one: a
    /// restarted node).
    pub fn register(&self, addr: &str, handler: Arc<dyn FrameHandler>) {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).insert(addr.to_string(), handler);
    }

    /// Cuts `addr` off from every other node, both ways.
    pub fn isolate(&self, addr: &str) {
        self.isolated.lock().unwrap_or_else(|e| e.into_inner()).insert(addr.to_string());
    }

    pub fn heal(&self) {
        self.isolated.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Loses one frame in `n` (the request or its answer; 0: none).
    pub fn drop_one_in(&self, n: u64) {
        self.drop_every.store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the next frame (or answer) is lost.
    fn loses_next(&self) -> bool {
        let n = self.drop_every.load(std::sync::atomic::Ordering::Relaxed);
        n > 0 && self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % n == n - 1
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(|e| e.into_inner()) = delay;
    }

    /// The transport of the node at `from`.
    pub fn transport(self: &Arc<Self>, from: &str) -> Arc<dyn Transport> {
        Arc::new(LocalTransport { net: self.clone(), from: from.to_string() })
    }
}

struct LocalTransport {
    net: Arc<LocalNet>,
    from: String,
}

impl Transport for LocalTransport {
    fn call(&self, addr: &str, frame: Bytes, timeout: Duration) -> BoxFuture<'static, Result<Bytes, String>> {
        let cut = {
            let isolated = self.net.isolated.lock().unwrap_or_else(|e| e.into_inner());
            isolated.contains(addr) || isolated.contains(&self.from)
        };
        let handler = self.net.nodes.lock().unwrap_or_else(|e| e.into_inner()).get(addr).cloned();
        let delay = *self.net.delay.lock().unwrap_or_else(|e| e.into_inner());
        let (lost_going, lost_back) = (self.net.loses_next(), self.net.loses_next());
        let addr = addr.to_string();
        Box::pin(async move {
            match handler {
                // Lost: the caller learns after a moment, as from a reset
                // connection (never after its whole timeout, which would
                // keep the message in flight and the leader's log unpurged).
                _ if cut => {
                    tokio::time::sleep(timeout.min(Duration::from_millis(20))).await;
                    Err(format!("{addr}: cut off"))
                }
                None => Err(format!("{addr}: connection refused")),
                Some(_) if lost_going => {
                    tokio::time::sleep(timeout.min(Duration::from_millis(20))).await;
                    Err(format!("{addr}: lost"))
                }
                Some(handler) => {
                    tokio::time::sleep(delay).await;
                    let answer = handler.handle(frame).await;
                    if lost_back {
                        return Err(format!("{addr}: answer lost"));
                    }
                    Ok(answer)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    /// Answers a frame with its bytes reversed, after a wait the frame's
    /// first byte sets (so answers come back out of order).
    struct Reverser;

    impl FrameHandler for Reverser {
        fn handle(self: Arc<Self>, frame: Bytes) -> BoxFuture<'static, Bytes> {
            Box::pin(async move {
                let wait = frame.first().copied().unwrap_or(0) % 8;
                tokio::time::sleep(Duration::from_millis(u64::from(wait))).await;
                frame.iter().rev().copied().collect::<Vec<u8>>().into()
            })
        }

        fn cluster_id(&self) -> Option<String> {
            Some("test".to_string())
        }
    }

    /// Serves `Internode` with [`Reverser`] on `listener` until `stop`.
    fn serve(listener: tokio::net::TcpListener, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let service = InternodeService {
            handler: Arc::new(Reverser),
            postgres: None,
            sql: Arc::new(|_, _| Box::pin(async { Bytes::new() })),
            closing: stop.clone(),
        };
        let server = orbit_shared::proto::internode_server::InternodeServer::new(service)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(server)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    stop.cancelled_owned(),
                )
                .await
                .unwrap();
        })
    }

    fn frame(i: u32, len: usize) -> Bytes {
        let mut bytes = i.to_be_bytes().repeat(len / 4 + 1);
        bytes.truncate(len);
        bytes.into()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frames_on_a_peer_stream_get_their_own_answers_and_the_stream_reopens_when_the_peer_returns() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = CancellationToken::new();
        let server = serve(listener, stop.clone());
        let transport = GrpcTransport::default();
        let timeout = Duration::from_secs(5);

        // Many frames at once, small ones on the stream and two larger than
        // a stream carries, all answered, each with its own answer.
        let sizes = |i: u32| match i {
            7 | 300 => STREAMED_FRAME_MAX + 5,
            _ => 4 + (i as usize * 37) % 3000,
        };
        let calls: Vec<_> = (0..400u32).map(|i| transport.call(&addr, frame(i, sizes(i)), timeout)).collect();
        let answers = futures::future::join_all(calls).await;
        for (i, answer) in answers.into_iter().enumerate() {
            let sent = frame(i as u32, sizes(i as u32));
            let expected: Vec<u8> = sent.iter().rev().copied().collect();
            assert_eq!(answer.unwrap().as_ref(), &expected[..], "frame {i} got another's answer");
        }

        // The peer stops: calls fail, promptly, instead of waiting out their
        // timeout.
        stop.cancel();
        server.await.unwrap();
        let started = std::time::Instant::now();
        let failed = transport.call(&addr, frame(1, 16), Duration::from_secs(30)).await;
        assert!(failed.is_err(), "a stopped peer answered");
        assert!(started.elapsed() < Duration::from_secs(10), "a call to a stopped peer hung");

        // It comes back on the same address: the stream is opened again.
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        let stop = CancellationToken::new();
        let server = serve(listener, stop.clone());
        let mut answered = None;
        for _ in 0..50 {
            match transport.call(&addr, frame(9, 8), timeout).await {
                Ok(answer) => {
                    answered = Some(answer);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let expected: Vec<u8> = frame(9, 8).iter().rev().copied().collect();
        assert_eq!(answered.expect("no answer after the peer restarted").as_ref(), &expected[..]);
        stop.cancel();
        server.await.unwrap();
    }
}
