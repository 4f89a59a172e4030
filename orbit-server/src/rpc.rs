//! The gRPC front door: `orbit.v1.ActorService` (used by `orbit-client`),
//! the standard `grpc.health.v1.Health` service, and on a cluster node
//! `orbit.v1.Internode` (Raft and formation between nodes).

use futures::stream::{FuturesUnordered, StreamExt};
use orbit_shared::proto::actor_service_server::{ActorService, ActorServiceServer};
use orbit_shared::proto::internode_server::InternodeServer;
use orbit_shared::proto::{
    DescribeRequest, DescribeResponse, InvokeAtomicRequest, InvokeAtomicResponse, InvokeRequest,
    InvokeResponse, ListActorsRequest, ListActorsResponse, ReadActorRequest, ReadActorResponse,
};
use orbit_shared::{ActorGateway, ActorId, SessionStep};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};
use tonic_health::server::HealthReporter;

/// Serves gRPC on `listener` until `accept` is cancelled; the server runs as
/// a task of `tasks`. Returns the health reporter, already `SERVING`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    node: crate::NodeHandle,
    internode: Option<crate::cluster::InternodeService>,
    accept: CancellationToken,
    tasks: &TaskTracker,
) -> HealthReporter {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<ActorServiceServer<ActorRpc<crate::NodeHandle>>>().await;
    health.set_service_status("", tonic_health::ServingStatus::Serving).await;
    let window = node.config().grpc.stream_window;
    let rpc = ActorRpc { gateway: Arc::new(node), window, accept: accept.clone(), tasks: tasks.clone() };
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let internode = internode.map(|service| {
        InternodeServer::new(service)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    });
    tasks.spawn(async move {
        // Keep-alives end the streams of a peer that vanished without closing
        // them (a carried PostgreSQL connection, and the session and row
        // locks behind it, would otherwise stay open).
        let served = Server::builder()
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(5)))
            .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)))
            .tcp_keepalive(Some(std::time::Duration::from_secs(30)))
            .add_service(health_service)
            .add_service(ActorServiceServer::new(rpc))
            .add_optional_service(internode)
            .serve_with_incoming_shutdown(incoming, accept.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });
    health
}

pub struct ActorRpc<G> {
    gateway: Arc<G>,
    window: usize,
    accept: CancellationToken,
    tasks: TaskTracker,
}

async fn invoke_one<G: ActorGateway>(gateway: &G, request: InvokeRequest) -> InvokeResponse {
    let invocation = request.invocation();
    let chain = request.chain();
    let id = ActorId::new(request.kind, request.key);
    let result = if request.forwarded {
        crate::actor::in_call_chain(chain, gateway.invoke_forwarded(id, invocation)).await
    } else {
        gateway.invoke(id, invocation).await
    };
    InvokeResponse::from_result(request.id, result)
}

#[tonic::async_trait]
impl<G: ActorGateway> ActorService for ActorRpc<G> {
    async fn invoke(&self, request: Request<InvokeRequest>) -> Result<Response<InvokeResponse>, Status> {
        Ok(Response::new(invoke_one(self.gateway.as_ref(), request.into_inner()).await))
    }

    type InvokeStreamStream = ReceiverStream<Result<InvokeResponse, Status>>;

    /// Runs up to `grpc.stream_window` calls of the stream at once and sends
    /// each reply as soon as it is ready. On shutdown it stops reading, lets
    /// the calls in flight finish, and ends the stream.
    async fn invoke_stream(
        &self,
        request: Request<Streaming<InvokeRequest>>,
    ) -> Result<Response<Self::InvokeStreamStream>, Status> {
        let mut requests = request.into_inner();
        let (replies, rx) = mpsc::channel(self.window);
        let (gateway, window, accept) = (self.gateway.clone(), self.window, self.accept.clone());
        self.tasks.spawn(async move {
            let mut in_flight = FuturesUnordered::new();
            let mut reading = true;
            loop {
                tokio::select! {
                    biased;
                    Some(reply) = in_flight.next(), if !in_flight.is_empty() => {
                        if replies.send(Ok(reply)).await.is_err() {
                            return;
                        }
                    }
                    next = requests.message(), if reading && in_flight.len() < window => match next {
                        Ok(Some(request)) => in_flight.push(invoke_one(gateway.as_ref(), request)),
                        Ok(None) => reading = false,
                        Err(status) => {
                            tracing::debug!(%status, "invoke stream ended by the client");
                            reading = false;
                        }
                    },
                    _ = accept.cancelled(), if reading => reading = false,
                    else => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type SessionStream = ReceiverStream<Result<InvokeResponse, Status>>;

    /// Feeds the stream's calls to an atomic session; commits on the request
    /// with id 0, and drops everything when the stream ends or breaks
    /// before it.
    async fn session(
        &self,
        request: Request<Streaming<InvokeRequest>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let mut requests = request.into_inner();
        let (replies, rx) = mpsc::channel(2);
        let gateway = self.gateway.clone();
        self.tasks.spawn(async move {
            let Ok(Some(first)) = requests.message().await else { return };
            let forwarded = first.forwarded;
            let (calls, calls_rx) = mpsc::channel(1);
            let session = async {
                match forwarded {
                    true => gateway.invoke_session_forwarded(calls_rx).await,
                    false => gateway.invoke_session(calls_rx).await,
                }
            };
            // Whether the client asked to commit (and the session was told);
            // `calls` is dropped when this ends: a session told nothing
            // more writes nothing.
            let feed = async {
                let calls = calls;
                let mut next = first;
                loop {
                    if next.id == 0 {
                        return calls.send(SessionStep::Commit).await.is_ok();
                    }
                    let id = next.id;
                    let actor = ActorId::new(std::mem::take(&mut next.kind), std::mem::take(&mut next.key));
                    let (reply, replied) = tokio::sync::oneshot::channel();
                    let call = orbit_shared::SessionCall { id: actor, invocation: next.invocation(), reply };
                    if calls.send(SessionStep::Call(call)).await.is_err() {
                        return false;
                    }
                    let Ok(result) = replied.await else { return false };
                    if replies.send(Ok(InvokeResponse::from_result(id, result))).await.is_err() {
                        return false;
                    }
                    next = match requests.message().await {
                        Ok(Some(request)) => request,
                        _ => return false,
                    };
                }
            };
            tokio::pin!(session);
            let commit = tokio::select! {
                commit = feed => commit,
                // The session ends only once its calls have; it did not
                // wait for them: a failed routing.
                _ = &mut session => false,
            };
            if !commit {
                // Dropping the session drops its held turns: nothing is written.
                return;
            }
            // Answered once durable: the caller has no token of this node's.
            let outcome = match session.await {
                Ok(token) => gateway
                    .wait_durable(token)
                    .await
                    .map(|()| orbit_shared::Reply { value: bytes::Bytes::new() }),
                Err(e) => Err(e),
            };
            let _ = replies.send(Ok(InvokeResponse::from_result(0, outcome))).await;
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn list_actors(
        &self,
        request: Request<ListActorsRequest>,
    ) -> Result<Response<ListActorsResponse>, Status> {
        let request = request.into_inner();
        let cursor = (!request.cursor.is_empty()).then_some(request.cursor);
        let page = self.gateway.list_actors(&request.kind, cursor, request.limit as usize).await;
        Ok(Response::new(ListActorsResponse::from_result(page)))
    }

    async fn read_actor(
        &self,
        request: Request<ReadActorRequest>,
    ) -> Result<Response<ReadActorResponse>, Status> {
        let request = request.into_inner();
        let state = self.gateway.read_actor(ActorId::new(request.kind, request.key)).await;
        Ok(Response::new(ReadActorResponse::from_result(state)))
    }

    async fn invoke_atomic(
        &self,
        request: Request<InvokeAtomicRequest>,
    ) -> Result<Response<InvokeAtomicResponse>, Status> {
        let request = request.into_inner();
        let calls = request
            .calls
            .into_iter()
            .map(|c| (ActorId::new(c.kind.clone(), c.key.clone()), c.invocation()))
            .collect();
        let result = if request.forwarded {
            self.gateway.invoke_atomic_forwarded(calls).await
        } else {
            self.gateway.invoke_atomic(calls).await
        };
        Ok(Response::new(InvokeAtomicResponse::from_result(result)))
    }

    async fn describe(
        &self,
        _request: Request<DescribeRequest>,
    ) -> Result<Response<DescribeResponse>, Status> {
        Ok(Response::new(DescribeResponse::from_result(self.gateway.describe().await)))
    }
}
