//! The HTTP port: Prometheus `/metrics`, `/health/live`, `/health/ready`,
//! the admin API (`POST /admin/backup`, `POST /admin/storage`), and the MCP
//! front door at `/mcp` (`orbit_protocols::mcp`, `[mcp]` in the config).
//!
//! The admin API can write to the node's filesystem, so it answers only
//! loopback clients, or any client presenting `http.admin_token` as a
//! bearer token.
//!
//! On shutdown the server stops accepting and lets the requests in flight
//! finish. MCP sessions end only after the last MCP call in flight has
//! sent its reply: ending them cancels their calls (rmcp's behaviour), and
//! an MCP reply may stream (SSE) after its handler returned.

use crate::NodeHandle;
use crate::backup::{self, BackupError};
use crate::config::StorageKind;
use axum::Router;
use axum::extract::{ConnectInfo, Json, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    node: NodeHandle,
    sql: orbit_protocols::sql::SqlState,
    accept: CancellationToken,
) {
    let admin = Router::new()
        .route("/admin/backup", post(backup))
        .route("/admin/storage", post(switch_storage))
        .layer(middleware::from_fn_with_state(node.clone(), authorize_admin));
    let mut app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .merge(admin)
        .with_state(node.clone());
    // MCP calls in flight, each until its reply is sent; MCP sessions end
    // after the last one once shutdown has begun.
    let calls = TaskTracker::new();
    let sessions = CancellationToken::new();
    if node.config().mcp.enabled {
        let config = node.config().mcp.clone();
        let mcp = orbit_protocols::mcp::router(Arc::new(node.clone()), config, sql, sessions.clone());
        app = app.merge(mcp.layer(middleware::from_fn_with_state(calls.clone(), track_call)));
    }
    let end_sessions = async {
        accept.cancelled().await;
        calls.close();
        calls.wait().await;
        sessions.cancel();
    };
    let serve = async {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(accept.clone().cancelled_owned())
            .await
    };
    let (served, ()) = tokio::join!(serve, end_sessions);
    if let Err(e) = served {
        tracing::error!(error = %e, "HTTP server failed");
    }
}

/// Counts an MCP call (a POST) in `calls` until its response body is done:
/// sent, or dropped when the client goes away.
async fn track_call(State(calls): State<TaskTracker>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let call = calls.token();
    let response = next.run(request).await;
    response.map(|body| {
        axum::body::Body::new(body.map_frame(move |frame| {
            let _in_flight = &call;
            frame
        }))
    })
}

async fn metrics(State(node): State<NodeHandle>) -> impl IntoResponse {
    match node.store().stats().await {
        Ok(stats) => node.metrics().set_backend_stats(node.store().backend().name(), &stats),
        Err(e) => tracing::warn!(error = %e, "backend stats unavailable"),
    }
    node.metrics().active_actors.set(i64::try_from(node.active_actors()).unwrap_or(i64::MAX));
    node.metrics().set_residents(&node.directory().by_kind(), node.now_ms());
    if let Ok(Some(cluster)) = node.partitions().cluster() {
        node.metrics().set_groups(&cluster.report());
    }
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

async fn authorize_admin(
    State(node): State<NodeHandle>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = match (&node.config().http.admin_token, presented) {
        (Some(token), Some(presented)) => token == presented,
        (Some(_), None) => false,
        (None, _) => peer.ip().is_loopback(),
    };
    if !allowed {
        return error(
            StatusCode::FORBIDDEN,
            "the admin API needs a loopback client or the admin bearer token",
        );
    }
    next.run(request).await
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupRequest {
    /// Directory on the node's machine; must be empty or absent.
    to: PathBuf,
    /// Backend of the backup; the node's own by default.
    backend: Option<String>,
}

async fn backup(State(node): State<NodeHandle>, Json(request): Json<BackupRequest>) -> Response {
    let current = node.store().backend().name();
    let kind = match request.backend.as_deref() {
        None => StorageKind::from_name(current).unwrap_or(StorageKind::Lsm),
        Some(name) => match StorageKind::from_name(name) {
            Some(StorageKind::Memory) | None => {
                return error(StatusCode::BAD_REQUEST, format!("cannot back up into backend '{name}'"));
            }
            Some(kind) => kind,
        },
    };
    if kind == StorageKind::Memory {
        return error(StatusCode::BAD_REQUEST, "a memory node's backup needs a durable \"backend\"");
    }
    match backup::backup(node.store(), request.to, kind).await {
        Ok(manifest) => Json(manifest).into_response(),
        Err(e @ BackupError::NotEmpty(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SwitchRequest {
    backend: String,
}

/// Hot swap to another backend while the node serves.
async fn switch_storage(State(node): State<NodeHandle>, Json(request): Json<SwitchRequest>) -> Response {
    let Some(kind) = StorageKind::from_name(&request.backend) else {
        return error(StatusCode::BAD_REQUEST, format!("unknown backend '{}'", request.backend));
    };
    match node.switch_backend(kind).await {
        Ok(copied) => Json(serde_json::json!({ "backend": kind.name(), "copied": copied })).into_response(),
        Err(e @ crate::storage::StorageError::SwitchRefused { .. }) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
