//! The SQL engine, apart from any wire: statements in, outcomes out, over
//! actors. A table's rows are actors of kind `row:<table>` keyed by primary
//! key; each table's schema is one `sql:table` catalog actor; secondary index
//! entries are `idx:<oid>` actors. The PostgreSQL front door (`postgres/`)
//! drives it for its connections and MCP's SQL tools through [`run_sql`].
//!
//! | folder | concept |
//! |---|---|
//! | `types/` | SQL types and values: coercion, text forms, arrays, jsonb, uuid, bytea, numeric |
//! | `catalog/` | table schemas, their decoded cache, secondary index entries |
//! | `plan/` | planning over DataFusion: table providers, Arrow conversion, rewrites, functions |
//! | `exec/` | one session's statements: transactions, DML, DDL, COPY, sequences, row locks |
//! | `system/` | the system catalogs (`pg_catalog`, `information_schema`) and the actor views |
//! | `error.rs` | [`SqlError`]: SQLSTATE codes, and how gateway and DataFusion errors map to them |
//! | `parse.rs` | statements from text, and reading names and constants out of them |

pub(crate) mod catalog;
pub(crate) mod error;
pub(crate) mod exec;
pub(crate) mod parse;
pub(crate) mod plan;
pub(crate) mod system;
pub(crate) mod types;

pub use catalog::Table;
pub use error::{Code, SqlError};

use exec::{Cancel, Engine, Outcome};
use orbit_shared::{ActorGateway, ActorInterface};
use sqlparser::ast::Statement;
use std::sync::Arc;

/// The family of row kinds: `row:<table>`.
pub const ROW_FAMILY: &str = "row:*";
/// The catalog kind: one actor per table, keyed by its name.
pub const CATALOG_KIND: &str = "sql:table";
/// The family of secondary index entry kinds: `idx:<index oid>`.
pub const INDEX_FAMILY: &str = "idx:*";

/// The interface of table rows (kind family `row:*`).
pub struct TableRow;

impl ActorInterface for TableRow {
    const KIND: &'static str = ROW_FAMILY;
}

/// The interface of secondary index entries (kind family `idx:*`).
pub struct IndexEntry;

impl ActorInterface for IndexEntry {
    const KIND: &'static str = INDEX_FAMILY;
}

/// The PostgreSQL version Orbit speaks as.
pub(crate) const SERVER_VERSION: &str = "16.6";

/// `version()`.
pub(crate) fn version_text() -> String {
    format!("PostgreSQL {SERVER_VERSION} (Orbit {}) on {}", env!("CARGO_PKG_VERSION"), std::env::consts::ARCH)
}

/// What every SQL statement run against one node shares, whichever front
/// door it came through (PostgreSQL connections, MCP's SQL tools): the row
/// locks, so a write through one waits for a transaction of the other, and
/// the decoded schemas, and the Redis databases' table (`orbit_redis`, MCP's
/// key tools). A node makes one and hands it to each front door.
#[derive(Clone, Default)]
pub struct SqlState {
    pub(crate) locks: Arc<exec::txn::Locks>,
    pub(crate) schemas: Arc<catalog::schemas::Schemas>,
    pub(crate) databases: Arc<crate::keyspace::databases::Databases>,
    /// LISTEN/NOTIFY channels, bridged to the Redis front door.
    pub(crate) channels: Arc<exec::notify::Channels>,
}

impl SqlState {
    /// A state naming Redis databases by the node's table.
    pub fn with_databases(databases: Arc<crate::keyspace::databases::Databases>) -> Self {
        SqlState { databases, ..SqlState::default() }
    }

    /// This state with NOTIFY and LISTEN bridged to the node's other front
    /// doors over `bus`.
    pub fn with_bus(mut self, bus: crate::bus::Bus) -> Self {
        self.channels = Arc::new(exec::notify::Channels::with_bus(bus));
        self
    }

    /// Table `name`'s schema, decoded once and read again only after a
    /// catalog change; `None` when there is no such table.
    pub(crate) async fn table<G: ActorGateway>(
        &self,
        gateway: &G,
        name: &str,
    ) -> Result<Option<Arc<catalog::Table>>, orbit_shared::Error> {
        self.schemas.get(gateway, name).await
    }

    /// A session's engine over `gateway`, sharing these locks and schemas.
    pub(crate) fn engine<G: ActorGateway>(&self, gateway: Arc<G>) -> Engine<G> {
        Engine::new(
            gateway,
            self.locks.clone(),
            self.schemas.clone(),
            self.databases.clone(),
            self.channels.clone(),
        )
    }
}

/// One statement's result for callers other than PostgreSQL clients.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SqlOutcome {
    /// The command tag (`SELECT`, `INSERT 0 2`, `CREATE TABLE`...).
    pub command: String,
    /// Result columns; empty for commands.
    pub columns: Vec<String>,
    /// Rows, one JSON value per column (null for NULL).
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// [`run_sql`]'s answer as it travels between nodes.
#[derive(serde::Serialize, serde::Deserialize)]
enum Encoded {
    Ran(Vec<SqlOutcome>),
    Failed { sqlstate: String, message: String },
}

/// [`run_sql`] here, for another node's front door, its answer encoded
/// (what [`ActorGateway::sql_at_leader`] returns there).
pub async fn run_sql_encoded<G: ActorGateway>(
    gateway: Arc<G>,
    state: &SqlState,
    text: &str,
    read_only: bool,
) -> bytes::Bytes {
    let encoded = match run_sql_here(gateway, state, text, read_only).await {
        Ok(outcomes) => Encoded::Ran(outcomes),
        Err(e) => Encoded::Failed { sqlstate: e.code.as_str().to_string(), message: e.message },
    };
    serde_json::to_vec(&encoded).map(Into::into).unwrap_or_default()
}

/// Runs SQL text through the same engine a PostgreSQL connection has (for
/// MCP), under `state`'s row locks: rows as JSON, commands as their tags.
/// With `read_only`, only queries run. Stops at the first error. In a
/// cluster it runs on the node leading the SQL data, like every
/// PostgreSQL session.
pub async fn run_sql<G: ActorGateway>(
    gateway: Arc<G>,
    state: &SqlState,
    text: &str,
    read_only: bool,
) -> Result<Vec<SqlOutcome>, SqlError> {
    let Some(answer) = gateway.sql_at_leader(text, read_only).await? else {
        return run_sql_here(gateway, state, text, read_only).await;
    };
    match serde_json::from_slice(&answer) {
        Ok(Encoded::Ran(outcomes)) => Ok(outcomes),
        Ok(Encoded::Failed { sqlstate, message }) => {
            Err(SqlError::new(Code::from_sqlstate(&sqlstate).unwrap_or(Code::Internal), message))
        }
        Err(e) => Err(SqlError::new(Code::Internal, format!("the SQL data's leader answered badly: {e}"))),
    }
}

/// [`run_sql`] on this node.
async fn run_sql_here<G: ActorGateway>(
    gateway: Arc<G>,
    state: &SqlState,
    text: &str,
    read_only: bool,
) -> Result<Vec<SqlOutcome>, SqlError> {
    let engine = state.engine(gateway);
    let statements = parse::parse(text)?;
    engine.set_read_only(read_only);
    let mut cancel = Cancel::never();
    let mut outcomes = Vec::with_capacity(statements.len());
    for statement in statements {
        let reads = matches!(
            statement,
            Statement::Query(_) | Statement::ShowVariable { .. } | Statement::Explain { .. }
        );
        if read_only && !reads {
            return Err(SqlError::new(
                error::Code::ReadOnlySqlTransaction,
                format!(
                    "cannot execute \"{}\" in a read-only query",
                    parse::first_words(&statement.to_string())
                ),
            ));
        }
        let done = |command: String| SqlOutcome { command, columns: Vec::new(), rows: Vec::new() };
        let outcome = match engine.execute(statement, &mut cancel).await? {
            Outcome::Rows(rows, tag) => SqlOutcome {
                command: if tag == "SELECT" || tag == "SHOW" {
                    tag
                } else {
                    format!("{tag} {}", rows.rows.len())
                },
                columns: rows.columns.into_iter().map(|(name, _)| name).collect(),
                rows: rows.rows,
            },
            Outcome::Done(tag) => done(tag),
            Outcome::Begin => done("BEGIN".into()),
            Outcome::End(tag) => done(tag.into()),
            Outcome::CopyIn(_) | Outcome::CopyOut { .. } => {
                return Err(error::unsupported("COPY ... STDIN/STDOUT outside a PostgreSQL connection"));
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
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

/// A `sql:table` catalog record as the schema of table `name`.
pub(crate) fn decode_table(name: &str, record: &[u8]) -> Result<catalog::Table, orbit_shared::Error> {
    serde_json::from_slice(record).map_err(|e| orbit_shared::Error::Storage {
        reason: format!("the catalog entry of \"{name}\" is unreadable: {e}"),
    })
}
