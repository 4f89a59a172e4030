//! The node's listeners: gRPC, HTTP, and the front doors that are enabled,
//! bound together, served as tasks of one tracker, and stopped together by
//! one token (step 1 of the ordered shutdown).

use super::{NodeError, NodeHandle};
use crate::{http, rpc};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(super) struct Servers {
    pub(super) grpc_addr: SocketAddr,
    pub(super) http_addr: SocketAddr,
    pub(super) resp_addr: Option<SocketAddr>,
    pub(super) pg_addr: Option<SocketAddr>,
    pub(super) accept: CancellationToken,
    /// Cancelled when a client asks the node to stop (Redis' SHUTDOWN).
    pub(super) stop_requested: CancellationToken,
    pub(super) tasks: TaskTracker,
    pub(super) health: tonic_health::server::HealthReporter,
}

impl Servers {
    /// `pg_tls`: the PostgreSQL front door's certificate, when it has one;
    /// `internode`: what answers other cluster nodes on the gRPC port.
    pub(super) async fn start(
        node: &NodeHandle,
        pg_tls: Option<Arc<rustls::ServerConfig>>,
        internode: Option<Arc<dyn crate::cluster::FrameHandler>>,
    ) -> Result<Servers, NodeError> {
        let bind = |addr: SocketAddr| async move {
            tokio::net::TcpListener::bind(addr).await.map_err(|source| NodeError::Bind { addr, source })
        };
        let grpc = bind(node.config().grpc.addr).await?;
        let http = bind(node.config().http.addr).await?;
        let local = |l: &tokio::net::TcpListener, addr| {
            l.local_addr().map_err(|source| NodeError::Bind { addr, source })
        };
        let grpc_addr = local(&grpc, node.config().grpc.addr)?;
        let http_addr = local(&http, node.config().http.addr)?;
        let accept = CancellationToken::new();
        let stop_requested = CancellationToken::new();
        let tasks = TaskTracker::new();
        let databases = Arc::new(databases(node).await?);
        // Redis PUBLISH reaches PostgreSQL LISTEN, NOTIFY reaches Redis subscribers.
        let bus = orbit_protocols::bus::Bus::default();
        let resp_addr = match node.config().resp.enabled {
            false => None,
            true => {
                let config = node.config().resp.clone();
                let listener = bind(config.addr).await?;
                let addr = local(&listener, config.addr)?;
                let runtime = orbit_protocols::resp::RespRuntime {
                    port: addr.port(),
                    durability: node.config().storage.durability.name(),
                    stop_requested: stop_requested.clone(),
                    databases: databases.clone(),
                    bus: bus.clone(),
                };
                let gateway = Arc::new(node.clone());
                let serve = orbit_protocols::resp::serve(
                    listener,
                    gateway,
                    config,
                    runtime,
                    accept.clone(),
                    tasks.clone(),
                );
                tasks.spawn(serve);
                Some(addr)
            }
        };
        // PostgreSQL connections and MCP's SQL tools share row locks and schemas.
        let sql = orbit_protocols::sql::SqlState::with_databases(databases).with_bus(bus);
        let pg_addr = match node.config().postgres.enabled {
            false => None,
            true => {
                let config = node.config().postgres.clone();
                let listener = bind(config.addr).await?;
                let addr = local(&listener, config.addr)?;
                if config.auth == crate::config::PgAuth::Password && pg_tls.is_none() {
                    tracing::warn!(
                        "postgres.auth = \"password\" without TLS (postgres.tls_cert, postgres.tls_key): \
                         passwords cross the network in cleartext"
                    );
                }
                let serve = orbit_protocols::postgres::serve(
                    listener,
                    Arc::new(node.clone()),
                    config,
                    pg_tls,
                    sql.clone(),
                    accept.clone(),
                    tasks.clone(),
                );
                tasks.spawn(serve);
                Some(addr)
            }
        };
        let internode = internode.map(|handler| {
            let (node, sql) = (node.clone(), sql.clone());
            let sql: crate::cluster::SqlRunner = Arc::new(move |text, read_only| {
                let (node, sql) = (node.clone(), sql.clone());
                Box::pin(async move {
                    orbit_protocols::sql::run_sql_encoded(Arc::new(node), &sql, &text, read_only).await
                })
            });
            crate::cluster::InternodeService { handler, postgres: pg_addr, sql, closing: accept.clone() }
        });
        let health = rpc::serve(grpc, node.clone(), internode, accept.clone(), &tasks).await;
        tasks.spawn(http::serve(http, node.clone(), sql, accept.clone()));
        Ok(Servers { grpc_addr, http_addr, resp_addr, pg_addr, accept, stop_requested, tasks, health })
    }
}

/// Which kind holds each Redis database: the stored table on a cluster of
/// one (SWAPDB may have changed it), the fixed identity table on a node of
/// a cluster of several or one that hosts no Redis keys.
async fn databases(node: &NodeHandle) -> Result<orbit_protocols::keyspace::databases::Databases, NodeError> {
    use orbit_protocols::keyspace::{SCRIPTS_KIND, databases::Databases};
    if !node.config().cluster.seeds.is_empty() || node.kind(SCRIPTS_KIND).is_err() {
        return Ok(Databases::fixed());
    }
    Databases::load(node).await.map_err(NodeError::Databases)
}
