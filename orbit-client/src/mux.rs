//! Many calls over one `InvokeStream`: each request carries an id, replies
//! come back in any order and are matched by id. This avoids a new HTTP/2
//! stream (and its headers) per call.
//!
//! Invariant: at most `window` calls are outstanding on a stream (each holds
//! a permit until its reply arrives, even if its caller gave up), so the
//! node, which reads up to `grpc.stream_window` calls at a time, can always
//! take the next request and the two sides never wait on each other.

use crate::ClientError;
use orbit_shared::Reply;
use orbit_shared::proto::actor_service_client::ActorServiceClient;
use orbit_shared::proto::{InvokeRequest, InvokeResponse};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tonic::transport::Channel;

type ReplySender = oneshot::Sender<Result<Reply, ClientError>>;

pub(crate) struct Call {
    pub request: InvokeRequest,
    pub reply: ReplySender,
    pub permit: OwnedSemaphorePermit,
}

/// The sending side of one open stream; the stream's task ends when every
/// handle is dropped or the stream breaks.
#[derive(Clone)]
pub(crate) struct Mux {
    calls: mpsc::Sender<Call>,
    pub permits: Arc<Semaphore>,
}

impl Mux {
    pub async fn open(mut rpc: ActorServiceClient<Channel>, window: usize) -> Result<Mux, ClientError> {
        let (calls, calls_rx) = mpsc::channel(window);
        let (requests, requests_rx) = mpsc::channel(window);
        let replies = rpc.invoke_stream(ReceiverStream::new(requests_rx)).await?.into_inner();
        tokio::spawn(run(calls_rx, requests, replies));
        Ok(Mux { calls, permits: Arc::new(Semaphore::new(window)) })
    }

    /// Hands `call` to the stream, or gives it back if the stream is gone
    /// (then nothing was sent, and the call may be retried elsewhere).
    pub async fn send(&self, call: Call) -> Result<(), Call> {
        self.calls.send(call).await.map_err(|e| e.0)
    }

    pub fn is_closed(&self) -> bool {
        self.calls.is_closed()
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
                        let _ = reply.send(response.into_result().map_err(ClientError::Remote));
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
        let _ = reply.send(Err(ClientError::Transport(tonic::Status::unavailable(reason.clone()))));
    }
}
