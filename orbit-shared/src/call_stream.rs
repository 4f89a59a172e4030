//! Many calls over one `InvokeStream`: each request carries an id, replies
//! come back in any order and are matched by id. This avoids a new HTTP/2
//! stream (and its headers) per call. `orbit-client` calls a node this way,
//! and a cluster node forwards calls to a partition's leader this way.
//!
//! Invariant: at most `window` calls are outstanding on a stream (each holds
//! a permit until its reply arrives, even if its caller gave up), so the
//! node, which reads up to `grpc.stream_window` calls at a time, can always
//! take the next request and the two sides never wait on each other.
//!
//! [`session_over`] is the calling side of an atomic session's stream
//! (`ActorService.Session`).

use crate::Error;
use crate::gateway::{DurableToken, SessionCall, SessionSteps, fail_session, next_call};
use crate::proto::actor_service_client::ActorServiceClient;
use crate::proto::{InvokeRequest, InvokeResponse};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Status, Streaming};

type ReplySender = oneshot::Sender<Result<InvokeResponse, Status>>;

/// The calls to one node: one open stream at a time, opened again when it
/// breaks.
pub struct CallStream {
    rpc: ActorServiceClient<Channel>,
    window: usize,
    current: Mutex<Option<Mux>>,
}

impl CallStream {
    /// Calls over `rpc`, at most `window` outstanding; the stream is opened
    /// by the first call.
    pub fn new(rpc: ActorServiceClient<Channel>, window: usize) -> CallStream {
        CallStream { rpc, window, current: Mutex::new(None) }
    }

    /// Opens the stream now (so a node that cannot be reached is known at
    /// once).
    pub async fn open(rpc: ActorServiceClient<Channel>, window: usize) -> Result<CallStream, Status> {
        let calls = CallStream::new(rpc, window);
        calls.stream().await?;
        Ok(calls)
    }

    /// The current stream, or a new one if there is none or it broke.
    pub async fn stream(&self) -> Result<(), Status> {
        self.mux().await.map(drop)
    }

    async fn mux(&self) -> Result<Mux, Status> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(current) = current.filter(|mux| !mux.calls.is_closed()) {
            return Ok(current);
        }
        let fresh = Mux::open(self.rpc.clone(), self.window).await?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }

    /// One call: its response, or the transport's failure.
    pub async fn call(&self, request: InvokeRequest) -> Result<InvokeResponse, Status> {
        let closed = || Status::unavailable("the call stream closed");
        let mut mux = self.mux().await?;
        let permit = mux.permits.clone().acquire_owned().await.map_err(|_| closed())?;
        let (reply, replied) = oneshot::channel();
        let mut call = Call { request, reply, permit };
        // A stream that broke since the last call hands the call back unsent:
        // it is safe to send it once on a fresh stream.
        if let Err(unsent) = mux.calls.send(call).await {
            mux = self.mux().await?;
            call = unsent.0;
            call.permit = mux.permits.clone().acquire_owned().await.map_err(|_| closed())?;
            mux.calls.send(call).await.map_err(|_| closed())?;
        }
        replied.await.map_err(|_| closed())?
    }
}

struct Call {
    request: InvokeRequest,
    reply: ReplySender,
    permit: OwnedSemaphorePermit,
}

/// The sending side of one open stream; the stream's task ends when every
/// handle is dropped or the stream breaks.
#[derive(Clone)]
struct Mux {
    calls: mpsc::Sender<Call>,
    permits: Arc<Semaphore>,
}

impl Mux {
    async fn open(mut rpc: ActorServiceClient<Channel>, window: usize) -> Result<Mux, Status> {
        let (calls, calls_rx) = mpsc::channel(window);
        let (requests, requests_rx) = mpsc::channel(window);
        let replies = rpc.invoke_stream(ReceiverStream::new(requests_rx)).await?.into_inner();
        tokio::spawn(run(calls_rx, requests, replies));
        Ok(Mux { calls, permits: Arc::new(Semaphore::new(window)) })
    }
}

async fn run(
    mut calls: mpsc::Receiver<Call>,
    requests: mpsc::Sender<InvokeRequest>,
    mut replies: Streaming<InvokeResponse>,
) {
    let mut pending: HashMap<u64, (ReplySender, OwnedSemaphorePermit)> = HashMap::new();
    let mut next_id = 0u64;
    let broken = loop {
        tokio::select! {
            call = calls.recv() => {
                let Some(Call { mut request, reply, permit }) = call else { break None };
                next_id += 1;
                request.id = next_id;
                pending.insert(next_id, (reply, permit));
                // Never blocks: outstanding calls are bounded by the permits.
                if requests.send(request).await.is_err() {
                    break Some("the request stream closed".to_string());
                }
            }
            reply = replies.message() => match reply {
                Ok(Some(response)) => {
                    if let Some((reply, _permit)) = pending.remove(&response.id) {
                        let _ = reply.send(Ok(response));
                    }
                }
                Ok(None) => break Some("the node ended the stream".to_string()),
                Err(status) => break Some(status.to_string()),
            },
        }
    };
    calls.close();
    let reason = broken.unwrap_or_else(|| "the client was dropped".to_string());
    for (_, (reply, _)) in pending.drain() {
        let _ = reply.send(Err(Status::unavailable(reason.clone())));
    }
}

/// Runs an atomic session on the node behind `rpc` over one
/// `ActorService.Session` stream: `first` and every later call of `calls`
/// are sent one at a time and answered from there; then the commit is
/// asked for and its outcome returned. A stream that breaks (or `calls`
/// that end) before the commit was asked for writes nothing there; after,
/// the outcome is unknown and the error says so. `forwarded`: sent by a
/// cluster node to its partition's leader (served there, never forwarded
/// again).
pub async fn session_over(
    mut rpc: ActorServiceClient<Channel>,
    forwarded: bool,
    first: SessionCall,
    mut calls: SessionSteps,
) -> Result<DurableToken, Error> {
    let unreachable = |reason: &str| Error::Unreachable { reason: reason.to_string() };
    let (requests, outbound) = mpsc::channel(2);
    let mut replies = match rpc.session(ReceiverStream::new(outbound)).await {
        Ok(replies) => replies.into_inner(),
        Err(status) => {
            let e = unreachable(status.message());
            let _ = first.reply.send(Err(e.clone()));
            return fail_session(calls, e).await;
        }
    };
    let (mut next, mut id) = (Some(first), 0u64);
    while let Some(SessionCall { id: actor, invocation, reply }) = next {
        id += 1;
        let mut request = InvokeRequest::call(actor, invocation, forwarded);
        request.id = id;
        let answer = match requests.send(request).await {
            Ok(()) => replies.message().await,
            Err(_) => Ok(None),
        };
        let result = match answer {
            Ok(Some(response)) if response.id == id => response.into_result(),
            Ok(Some(response)) => {
                let answered = response.id;
                Err(response.into_result().err().unwrap_or_else(|| Error::Internal {
                    reason: format!("session answer {answered} for call {id}"),
                }))
            }
            Ok(None) => Err(unreachable("the session stream ended")),
            Err(status) => Err(unreachable(status.message())),
        };
        if let Err(e) = &result {
            let _ = reply.send(Err(e.clone()));
            return fail_session(calls, e.clone()).await;
        }
        let _ = reply.send(result);
        // Steps ending without the commit drop the stream: nothing is
        // written there.
        next = next_call(&mut calls).await?;
    }
    if requests.send(InvokeRequest { id: 0, ..Default::default() }).await.is_err() {
        return Err(unreachable("the session stream ended before its commit"));
    }
    match replies.message().await {
        // The node answers the commit once it is durable there.
        Ok(Some(response)) if response.id == 0 => response.into_result().map(|_| DurableToken::NONE),
        _ => Err(unreachable(
            "the session stream broke after its commit was asked for: whether it committed is unknown",
        )),
    }
}
