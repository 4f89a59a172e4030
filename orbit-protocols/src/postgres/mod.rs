//! The PostgreSQL front door: the PostgreSQL wire protocol (`pgwire`) on a
//! TCP listener, over the SQL engine (`crate::sql`).
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | the listener and TLS, per-connection handlers, startup and authentication |
//! | `config.rs` | [`PgConfig`]: the `[postgres]` section of the node's config |
//! | `connection.rs` | one connection: `max_connections`, pgwire's message loop, the drain on shutdown |
//! | `session.rs` | the simple and extended protocols over a connection's engine |
//! | `coalesce.rs` | the extended protocol's replies buffered until Sync: one write per round trip |
//! | `binary.rs` | PostgreSQL's binary format of every type, for results and parameters |
//! | `cancel.rs` | CancelRequest: a connection's registration and a statement's cancel signal |
//!
//! What runs is listed in docs/postgres.md; every other statement is refused
//! with SQLSTATE 0A000 naming it.

mod binary;
mod cancel;
mod coalesce;
mod config;
mod connection;
mod session;

pub use config::{PgAuth, PgConfig, PostgresUser};

use crate::sql::exec::notify::{Mailbox, Notification};
use crate::sql::{SERVER_VERSION, SqlState};
use async_trait::async_trait;
use futures::Sink;
use orbit_shared::ActorGateway;
use pgwire::api::auth::cleartext::CleartextPasswordAuth;
use pgwire::api::auth::driver::{AuthDriver, AuthOutcome};
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::sasl::SaslMechanisms;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::{ClientInfo, ConnectionManager, PgWireServerHandlers};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls::ServerConfig;
use std::fmt::Debug;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Serves PostgreSQL on `listener` until `shutdown` is cancelled; each
/// connection is a task of `tasks` that, on shutdown, finishes the request
/// in flight and answers it before it closes (`connection.rs`). `tls`: the
/// server's certificate and key (`SSLRequest` is answered `S` and the TLS
/// handshake runs); `None`: answered `N`, plaintext only.
pub async fn serve<G: ActorGateway>(
    listener: TcpListener,
    gateway: Arc<G>,
    config: PgConfig,
    tls: Option<Arc<ServerConfig>>,
    sql: SqlState,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let tls = tls.map(tls_acceptor);
    let slots = config.max_connections.min(tokio::sync::Semaphore::MAX_PERMITS);
    let slots = Arc::new(tokio::sync::Semaphore::new(slots));
    let shared = Arc::new(Shared { gateway, config, connections: Arc::new(ConnectionManager::new()), sql });
    let inbound = shared.sql.channels.bus().inbound(crate::bus::Door::Postgres, shared.gateway.relayed());
    tasks.spawn(deliver_published(shared.sql.channels.clone(), inbound, shutdown.clone()));
    crate::listener::accept_loop("PostgreSQL", listener, shutdown.clone(), tasks, move |stream, _| {
        let (shared, slots, tls, shutdown) = (shared.clone(), slots.clone(), tls.clone(), shutdown.clone());
        async move {
            // In a cluster the session runs where the SQL data is led.
            match shared.gateway.postgres_tunnel().await {
                Ok(Some(tunnel)) => return connection::carry(stream, tunnel, shutdown).await,
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "PostgreSQL session served here: no tunnel"),
            }
            let mailbox = Arc::new(Mailbox::default());
            let handlers = Handlers { session: session::Session::new(shared.clone(), mailbox.clone()) };
            let slot = slots.try_acquire_owned().ok();
            connection::run(stream, tls, handlers, mailbox, slot, shutdown).await
        }
    })
    .await;
}

/// Hands what Redis clients PUBLISH (here, and on the cluster's other
/// nodes) to the sessions LISTENing on the channel, until shutdown.
async fn deliver_published(
    channels: Arc<crate::sql::exec::notify::Channels>,
    mut inbound: crate::bus::Inbound,
    shutdown: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = inbound.next() => next,
        };
        match next {
            Some(Ok(published)) if !published.sharded => channels.deliver(&Notification {
                pid: 0,
                channel: String::from_utf8_lossy(&published.channel).into_owned(),
                payload: String::from_utf8_lossy(&published.message).into_owned(),
            }),
            Some(Ok(_)) => {}
            Some(Err(missed)) => {
                tracing::warn!(missed, "published messages not delivered to LISTEN: too slow")
            }
            None => return,
        }
    }
}

/// The acceptor of `config`, offering PostgreSQL's ALPN name: clients that
/// open with TLS directly (`sslnegotiation=direct`, PostgreSQL 17) must
/// negotiate it; clients that send `SSLRequest` may offer none.
fn tls_acceptor(config: Arc<ServerConfig>) -> TlsAcceptor {
    let mut config = Arc::unwrap_or_clone(config);
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

/// What every connection shares.
pub(crate) struct Shared<G> {
    pub gateway: Arc<G>,
    config: PgConfig,
    connections: Arc<ConnectionManager>,
    /// Row locks and decoded schemas, shared with the node's other SQL.
    pub sql: SqlState,
}

/// One connection's handlers (pgwire asks for them once per connection).
struct Handlers<G> {
    session: Arc<session::Session<G>>,
}

impl<G: ActorGateway> PgWireServerHandlers for Handlers<G> {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(Startup::new(&self.session.shared.config, self.session.shared.connections.clone()))
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.session.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.session.shared.connections.clone()))
    }
}

/// The parameters sent after authentication, as PostgreSQL 16 sends them.
fn server_parameters() -> DefaultServerParameterProvider {
    let mut params = DefaultServerParameterProvider::default();
    params.server_version = format!("{SERVER_VERSION} (Orbit {})", env!("CARGO_PKG_VERSION"));
    params.date_style = "ISO, MDY".into();
    params.time_zone = "UTC".into();
    params.is_superuser = false;
    params
}

/// Startup: trust, cleartext password or SCRAM-SHA-256 against the
/// configured users, then the server parameters.
struct Startup {
    driver: AuthDriver<DefaultServerParameterProvider>,
    /// `None`: trust.
    mechanism: Option<Arc<dyn AuthMechanismFactory>>,
    /// Where an authenticated connection registers for CancelRequests
    /// (`cancel.rs`; not through the driver, which would let pgwire drop
    /// statements anywhere).
    connections: Arc<ConnectionManager>,
}

const SCRAM_ITERATIONS: usize = 4096;

impl Startup {
    fn new(config: &PgConfig, connections: Arc<ConnectionManager>) -> Self {
        let users = Arc::new(Users(config.users.clone()));
        let mechanism: Option<Arc<dyn AuthMechanismFactory>> = match config.auth {
            PgAuth::Trust => None,
            PgAuth::Password => Some(Arc::new(CleartextPasswordAuth::new(users))),
            PgAuth::ScramSha256 => {
                let mut scram = ScramAuth::new(users);
                scram.set_iterations(SCRAM_ITERATIONS);
                Some(Arc::new(SaslMechanisms::new(vec![Arc::new(scram)])))
            }
        };
        let mut params = server_parameters();
        params.scram_iterations = SCRAM_ITERATIONS;
        Startup { driver: AuthDriver::new(params), mechanism, connections }
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let outcome = match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                match &self.mechanism {
                    None => AuthOutcome::Authenticated { identity: None, final_message: None },
                    Some(factory) => self.driver.begin_authentication(client, factory.create()).await?,
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                self.driver.advance_authentication(client, message).await?
            }
            _ => return Ok(()),
        };
        match outcome {
            AuthOutcome::InProgress => Ok(()),
            AuthOutcome::Authenticated { final_message, .. } => {
                // Sets the pid and secret key the registration is keyed by.
                self.driver.complete_authentication(client, final_message).await?;
                cancel::register(&*client, &self.connections);
                Ok(())
            }
        }
    }
}

/// The configured users, as pgwire's password source.
#[derive(Debug)]
struct Users(Vec<PostgresUser>);

#[async_trait]
impl AuthSource for Users {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let name = login.user().unwrap_or_default();
        let user = self.0.iter().find(|u| u.name == name);
        let Some(user) = user else { return Err(PgWireError::InvalidPassword(name.to_string())) };
        // Cleartext compares this; SCRAM needs a salted password (a fresh
        // salt per login is fine: the server knows the plaintext).
        let salt: [u8; 16] = rand_salt();
        Ok(Password::new(Some(salt.to_vec()), gen_salted_password(&user.password, &salt, SCRAM_ITERATIONS)))
    }

    async fn verify_password(&self, login: &LoginInfo, presented: &[u8]) -> PgWireResult<Option<()>> {
        let name = login.user().unwrap_or_default();
        let ok = self.0.iter().any(|u| u.name == name && u.password.as_bytes() == presented);
        if ok { Ok(Some(())) } else { Err(PgWireError::InvalidPassword(name.to_string())) }
    }
}

/// A salt from the process' randomness (the std hasher's random keys).
fn rand_salt() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut salt = [0u8; 16];
    for chunk in salt.chunks_mut(8) {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
        );
        chunk.copy_from_slice(&hasher.finish().to_le_bytes());
    }
    salt
}
