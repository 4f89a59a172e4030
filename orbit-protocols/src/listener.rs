//! The accept loop every TCP front door shares.

use std::future::Future;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Accepts connections on `listener` until `shutdown` is cancelled, running
/// `serve(stream, peer)` for each as a task of `tasks`. A failed accept
/// (out of file descriptors, say) is logged and retried after 10 ms.
pub(crate) async fn accept_loop<F, Fut>(
    name: &'static str,
    listener: TcpListener,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                tasks.spawn(serve(stream, peer));
            }
            Err(e) => {
                tracing::warn!(error = %e, "{name} accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
