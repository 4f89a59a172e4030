//! The HTTP port: Prometheus `/metrics`, `/health/live` and `/health/ready`.

use crate::NodeHandle;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

pub(crate) async fn serve(listener: tokio::net::TcpListener, node: NodeHandle, accept: CancellationToken) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .with_state(node);
    let served = axum::serve(listener, app).with_graceful_shutdown(accept.cancelled_owned()).await;
    if let Err(e) = served {
        tracing::error!(error = %e, "HTTP server failed");
    }
}

async fn metrics(State(node): State<NodeHandle>) -> impl IntoResponse {
    let disk = node.store().backend().disk_bytes();
    node.metrics().storage_disk_bytes.set(i64::try_from(disk).unwrap_or(i64::MAX));
    node.metrics().active_actors.set(i64::try_from(node.active_actors()).unwrap_or(i64::MAX));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], node.metrics().render())
}

/// The process answers: it is alive.
async fn live() -> &'static str {
    "live\n"
}

/// Storage is open and the listeners are up (and shutdown has not begun).
async fn ready(State(node): State<NodeHandle>) -> (StatusCode, &'static str) {
    if node.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}
