//! The PostgreSQL front door (issue 5, in progress): the PostgreSQL wire
//! protocol (`pgwire`) on a TCP listener. A table's rows are actors of kind
//! `row:<table>` keyed by primary key; the catalog is one `sql:table` actor
//! per table holding its schema.
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | the listener and TLS, per-connection handlers, startup and authentication |
//! | `catalog.rs` | table schemas, SQL types and values, the row encoding |
//! | `sql/` | one connection's statements and their outcomes, independent of the wire |
//! | `txn.rs` | row locks and a transaction's uncommitted writes |
//! | `query.rs` | general queries through DataFusion over the row actors |
//! | `pg_catalog.rs` | `pg_catalog` and `information_schema`, and PostgreSQL's catalog functions |
//! | `rewrite.rs` | PostgreSQL's SQL spellings rewritten into what DataFusion plans |
//! | `jsonb.rs` | the jsonb type: canonical text, operators and functions |
//! | `uuid.rs` | the uuid type: input forms, text and binary, `gen_random_uuid()` |
//! | `bytea.rs` | the bytea type: hex and escape input, hex output, `x::bytea` |
//! | `numeric.rs` | the numeric type: exact decimals, typmods, Arrow decimals, binary format |
//! | `literals.rs` | quoted literals compared with uuid and bytea columns, read as the column's type |
//! | `views.rs` | actor views (`orbit_actors`, `orbit_partitions`, `orbit_redis`) and `orbit_call` |
//! | `expr.rs` | the expressions Orbit evaluates itself (fast paths, ON CONFLICT DO UPDATE) |
//! | `copy.rs` | COPY's text and CSV data formats |
//! | `params.rs` | session parameters: SET, SHOW, RESET |
//! | `cancel.rs` | CancelRequest: a connection's registration and a statement's cancel signal |
//! | `pg_sleep.rs` | `pg_sleep(seconds)`, waiting on the runtime's timer |
//! | `session.rs` | the simple and extended protocols over a connection's engine |
//! | `coalesce.rs` | the extended protocol's replies buffered until Sync: one write per round trip |
//!
//! What runs today is listed in docs/postgres.md; every other statement is
//! refused with SQLSTATE 0A000 naming it.

mod array;
mod binary;
mod bytea;
mod cancel;
pub mod catalog;
mod coalesce;
mod copy;
mod expr;
mod index;
mod jsonb;
mod literals;
mod numeric;
mod params;
mod pg_catalog;
mod pg_sleep;
mod query;
mod rewrite;
mod schemas;
mod session;
mod sql;
mod txn;
mod uuid;
mod views;

use async_trait::async_trait;
use futures::Sink;
use orbit_shared::{ActorGateway, ActorInterface};
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

/// The family of row kinds: `row:<table>`.
pub const ROW_FAMILY: &str = "row:*";
/// The catalog kind: one actor per table, keyed by its name.
pub const CATALOG_KIND: &str = "sql:table";

/// The interface of table rows (kind family `row:*`).
pub struct TableRow;

impl ActorInterface for TableRow {
    const KIND: &'static str = ROW_FAMILY;
}

/// The family of secondary index entry kinds: `idx:<index oid>`.
pub const INDEX_FAMILY: &str = "idx:*";

/// The interface of secondary index entries (kind family `idx:*`).
pub struct IndexEntry;

impl ActorInterface for IndexEntry {
    const KIND: &'static str = INDEX_FAMILY;
}

/// How clients prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Any user name is accepted without a password.
    Trust,
    /// `AuthenticationCleartextPassword` (use with TLS only).
    Password,
    /// SCRAM-SHA-256 (the PostgreSQL default).
    ScramSha256,
}

#[derive(Debug, Clone)]
pub struct PgUser {
    pub name: String,
    pub password: String,
}

#[derive(Debug, Clone)]
pub struct PgConfig {
    pub auth: AuthMethod,
    pub users: Vec<PgUser>,
    /// The certificate and key: `SSLRequest` is answered `S` and the TLS
    /// handshake runs. `None`: answered `N`, plaintext only.
    pub tls: Option<Arc<ServerConfig>>,
}

/// What every SQL statement run against one node shares, whichever front
/// door it came through (PostgreSQL connections, MCP's SQL tools): the row
/// locks, so a write through one waits for a transaction of the other, and
/// the decoded schemas. A node makes one and hands it to each front door.
#[derive(Clone, Default)]
pub struct SqlState {
    locks: Arc<txn::Locks>,
    schemas: Arc<schemas::Schemas>,
}

impl SqlState {
    /// Table `name`'s schema, decoded once and read again only after a
    /// catalog change; `None` when there is no such table.
    pub(crate) async fn table<G: ActorGateway>(
        &self,
        gateway: &G,
        name: &str,
    ) -> Result<Option<Arc<catalog::Table>>, orbit_shared::Error> {
        self.schemas.get(gateway, name).await
    }
}

/// Serves PostgreSQL on `listener` until `shutdown` is cancelled; each
/// connection is a task of `tasks`.
pub async fn serve<G: ActorGateway>(
    listener: TcpListener,
    gateway: Arc<G>,
    config: PgConfig,
    sql: SqlState,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let tls = config.tls.clone().map(tls_acceptor);
    let shared = Arc::new(Shared {
        gateway,
        config,
        connections: Arc::new(ConnectionManager::new()),
        locks: sql.locks,
        schemas: sql.schemas,
    });
    crate::listener::accept_loop("PostgreSQL", listener, shutdown.clone(), tasks, move |stream, _| {
        let handlers = Handlers { session: session::Session::new(shared.clone()) };
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        async move {
            tokio::select! {
                served = pgwire::tokio::process_socket(stream, tls, handlers) => {
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "PostgreSQL connection ended");
                    }
                }
                () = shutdown.cancelled() => {}
            }
        }
    })
    .await;
}

/// The acceptor of `config`, offering PostgreSQL's ALPN name: clients that
/// open with TLS directly (`sslnegotiation=direct`, PostgreSQL 17) must
/// negotiate it; clients that send `SSLRequest` may offer none.
fn tls_acceptor(config: Arc<ServerConfig>) -> TlsAcceptor {
    let mut config = Arc::unwrap_or_clone(config);
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

/// One statement's result for callers other than PostgreSQL clients.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlOutcome {
    /// The command tag (`SELECT`, `INSERT 0 2`, `CREATE TABLE`...).
    pub command: String,
    /// Result columns; empty for commands.
    pub columns: Vec<String>,
    /// Rows, one JSON value per column (null for NULL).
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// A statement's failure: PostgreSQL's SQLSTATE and message.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlFailure {
    pub code: &'static str,
    pub message: String,
}

/// Runs SQL text through the same statements a PostgreSQL client gets
/// (for MCP), under `state`'s row locks; with `read_only`, only queries run.
pub async fn run_sql<G: ActorGateway>(
    gateway: Arc<G>,
    state: &SqlState,
    sql: &str,
    read_only: bool,
) -> Result<Vec<SqlOutcome>, SqlFailure> {
    let config = PgConfig { auth: AuthMethod::Trust, users: Vec::new(), tls: None };
    let shared = Arc::new(Shared {
        gateway,
        config,
        connections: Arc::new(ConnectionManager::new()),
        locks: state.locks.clone(),
        schemas: state.schemas.clone(),
    });
    session::Session::new(shared).run_json(sql, read_only).await
}

/// The schema of every table, by name (the `sql:table` catalog actors).
pub async fn tables<G: ActorGateway>(gateway: &G) -> Result<Vec<catalog::Table>, orbit_shared::Error> {
    let mut tables = Vec::new();
    let mut cursor = None;
    loop {
        let page = gateway.list_actors(CATALOG_KIND, cursor, 1000).await?;
        tables.extend(page.actors.iter().filter_map(|a| serde_json::from_slice(&a.state).ok()));
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    tables.sort_by(|a: &catalog::Table, b| a.name.cmp(&b.name));
    Ok(tables)
}

/// The schema of table `name`, from its `sql:table` catalog actor (read
/// without activating it).
pub(crate) async fn load_table<G: ActorGateway>(
    gateway: &G,
    name: &str,
) -> Result<Option<catalog::Table>, orbit_shared::Error> {
    let id = orbit_shared::ActorId::new(CATALOG_KIND, bytes::Bytes::copy_from_slice(name.as_bytes()));
    match gateway.read_actor(id).await? {
        None => Ok(None),
        Some(record) => decode_table(name, &record).map(Some),
    }
}

/// A `sql:table` catalog record as the schema of table `name`.
pub(crate) fn decode_table(name: &str, record: &[u8]) -> Result<catalog::Table, orbit_shared::Error> {
    serde_json::from_slice(record).map_err(|e| orbit_shared::Error::Storage {
        reason: format!("the catalog entry of \"{name}\" is unreadable: {e}"),
    })
}

/// What every connection shares.
pub(crate) struct Shared<G> {
    pub gateway: Arc<G>,
    config: PgConfig,
    connections: Arc<ConnectionManager>,
    /// Row locks of every connection.
    pub locks: Arc<txn::Locks>,
    /// Decoded table schemas.
    pub schemas: Arc<schemas::Schemas>,
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

/// The PostgreSQL version Orbit speaks as.
const SERVER_VERSION: &str = "16.6";

/// `version()`.
pub(crate) fn version_text() -> String {
    format!("PostgreSQL {SERVER_VERSION} (Orbit {}) on {}", env!("CARGO_PKG_VERSION"), std::env::consts::ARCH)
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
            AuthMethod::Trust => None,
            AuthMethod::Password => Some(Arc::new(CleartextPasswordAuth::new(users))),
            AuthMethod::ScramSha256 => {
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
struct Users(Vec<PgUser>);

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
