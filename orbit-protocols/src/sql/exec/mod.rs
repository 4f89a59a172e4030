//! One connection's SQL engine, independent of the wire: statements in,
//! [`Outcome`]s out. The PostgreSQL handlers (`session.rs`) and the MCP SQL
//! tools (`run_sql`) both drive it.
//!
//! | statement | how it runs |
//! |---|---|
//! | BEGIN / COMMIT / ROLLBACK | the connection's [`TxnState`]; COMMIT is one atomic actor group |
//! | several statements in one query string | one implicit transaction ([`Engine::execute_batch`]) |
//! | SET / SHOW / RESET | the connection's parameters |
//! | CREATE / ALTER / DROP TABLE, CREATE / DROP INDEX | schemas, rows and index entries staged in the transaction, like any write |
//! | INSERT | rows checked, locked and staged in the transaction; `ON CONFLICT` in `conflict.rs` |
//! | UPDATE / DELETE | by primary key directly; otherwise rows found by DataFusion, then locked and staged |
//! | SELECT ... WHERE pk = constant | a point read of one row actor |
//! | LISTEN / UNLISTEN / NOTIFY, `SELECT pg_notify(...)` | `notify.rs`: recorded in the transaction, applied and delivered at commit |
//! | SELECT ... FOR UPDATE / FOR SHARE | `locking.rs`: the rows found, locked, then read again |
//! | EXPLAIN | `explain.rs`: the point read, or DataFusion's logical plan |
//! | any other query | DataFusion ([`crate::sql::plan`]) |
//!
//! A statement outside BEGIN runs in a transaction of its own, committed
//! when it succeeds. A client's cancel (`crate::postgres::cancel`) fails the statement
//! while it stages its work, never while it commits.

//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | [`Engine`]: a session's statements, stepped through its transaction state |
//! | `dml.rs` | INSERT, UPDATE, DELETE, TRUNCATE; targets and keys read out of statements |
//! | `point.rs` | point queries by primary key, prepared or not |
//! | `comments.rs` | `COMMENT ON` tables, views, sequences and columns |
//! | `prepared.rs` | SQL-level `PREPARE`, `EXECUTE` and `DEALLOCATE` |
//! | `rename.rs` | `ALTER TABLE ... RENAME TO`: the rows moved to the new name |
//! | `sequences.rs` | hidden row numbers, SERIAL/identity values, `CREATE`/`ALTER`/`DROP SEQUENCE` |
//! | `txn.rs` | row locks and a transaction's uncommitted writes |
//! | `cancel.rs` | a statement's cancel signal |
//! | `ddl.rs` | CREATE / ALTER / DROP TABLE |
//! | `index.rs` | CREATE / DROP INDEX, unique checks |
//! | `conflict.rs` | INSERT ... ON CONFLICT |
//! | `checks.rs` | CHECK constraints, generated columns and DEFAULT expressions: computed on rows |
//! | `views.rs` | CREATE / DROP VIEW, and the views reading a relation |
//! | `references.rs` | FOREIGN KEY constraints: declared, checked on every staged row, and their actions |
//! | `notify.rs` | LISTEN, UNLISTEN, NOTIFY, `pg_notify`: channels, sessions' mailboxes, the bridge to Redis |
//! | `locking.rs` | SELECT ... FOR UPDATE / FOR SHARE [NOWAIT \| SKIP LOCKED] |
//! | `explain.rs` | EXPLAIN |
//! | `expr.rs` | the expressions Orbit evaluates itself (fast paths, ON CONFLICT DO UPDATE) |
//! | `copy.rs` | COPY: its text and CSV data formats, rows in and out |
//! | `params.rs` | session parameters: SET, SHOW, RESET |

mod cancel;
pub(crate) mod checks;
mod comments;
mod conflict;
pub(crate) mod copy;
mod ddl;
pub(crate) mod dml;
mod explain;
pub(crate) mod expr;
mod index;
mod locking;
pub(crate) mod notify;
pub(crate) mod params;
pub(crate) mod point;
mod prepared;
mod references;
mod rename;
mod sequences;
pub(crate) mod txn;
mod views;

pub(crate) use cancel::Cancel;
use dml::{insert_targets, pk_equals, pk_key};
use point::PointQuery;

use crate::sql::catalog::schemas::Schemas;
use crate::sql::catalog::{self, Column, Identity, Table};
use crate::sql::error::{Code, Result, SqlError, aborted, cancelled, error, unsupported};
use crate::sql::exec::copy::CopyFormat;
use crate::sql::exec::params::Parameters;
use crate::sql::exec::txn::{LockError, Locks, RowRef, Txn, TxnState};
use crate::sql::parse::{constant, first_words, ident, literal, object_name, parse_expr, placeholder};
use crate::sql::plan::{Planned, Planner, Rows, Writes};
use crate::sql::types;
use crate::sql::types::{Literal, SqlType};
use bytes::Bytes;
use conflict::OnConflict;
use expr::Val;
use orbit_shared::{ActorGateway, ActorId, Invocation};
use serde_json::{Map, Value as Json};
use sqlparser::ast::{
    self, Assignment, AssignmentTarget, CopySource, CopyTarget, Expr, FromTable, ObjectName, ObjectType,
    SelectItem, SetExpr, Statement, TableFactor, TableObject, TableWithJoins,
};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// What a statement did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Rows, and the command tag without its count (`SELECT`, `INSERT 0`,
    /// `UPDATE`...): the count of rows sent is appended.
    Rows(Rows, String),
    /// A command and its tag (`CREATE TABLE`, `INSERT 0 2`, `SET`).
    Done(String),
    /// BEGIN (the connection is now in a transaction block).
    Begin,
    /// COMMIT or ROLLBACK: the tag (a failed block's COMMIT says ROLLBACK).
    End(&'static str),
    /// COPY ... TO STDOUT: the data, one line per row, and the column count.
    CopyOut { lines: Vec<String>, columns: usize },
    /// COPY ... FROM STDIN: the client sends the data next, then
    /// [`Engine::copy_in`] stores it.
    CopyIn(PendingCopy),
}

/// A COPY FROM STDIN waiting for its data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PendingCopy {
    pub table: String,
    /// The columns the data fills, in order.
    pub targets: Vec<usize>,
    pub format: CopyFormat,
}

/// What a step runs: a statement, the data of a COPY FROM STDIN, or a
/// prepared point query with its key bound.
enum Work {
    Statement(Box<Statement>),
    CopyIn(PendingCopy, Vec<u8>),
    Point(Arc<PointQuery>, Literal),
}

/// Session ids for row locks.
static SESSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(crate) struct Engine<G> {
    gateway: Arc<G>,
    locks: Arc<Locks>,
    id: u64,
    state: Mutex<TxnState>,
    params: Arc<Mutex<Parameters>>,
    planner: Planner<G>,
    /// Decoded schemas, shared by the front door's connections.
    schemas: Arc<Schemas>,
    /// LISTEN/NOTIFY channels, shared by the node's SQL sessions.
    channels: Arc<notify::Channels>,
    /// `PREPARE`d statements.
    prepared: Mutex<prepared::Prepared>,
    /// Where this session's notifications wait for its connection; `None`
    /// for SQL run without a connection (MCP), which cannot LISTEN.
    mailbox: Option<Arc<notify::Mailbox>>,
}

impl<G> Drop for Engine<G> {
    /// A connection that goes away mid-transaction rolls it back.
    fn drop(&mut self) {
        let state = std::mem::take(self.state.get_mut().unwrap_or_else(|e| e.into_inner()));
        if let TxnState::Block(txn) | TxnState::Failed(txn) = state {
            self.locks.release(self.id, txn.locked);
        }
        self.stop_listening();
    }
}

impl<G: ActorGateway> Engine<G> {
    pub fn new(
        gateway: Arc<G>,
        locks: Arc<Locks>,
        schemas: Arc<Schemas>,
        databases: Arc<crate::keyspace::databases::Databases>,
        channels: Arc<notify::Channels>,
    ) -> Self {
        let params = Arc::new(Mutex::new(Parameters::default()));
        let setting: crate::sql::system::pg_catalog::functions::Setting = {
            let params = params.clone();
            Arc::new(move |name: &str| params.lock().unwrap_or_else(|e| e.into_inner()).current(name))
        };
        Engine {
            planner: Planner::new(gateway.clone(), schemas.clone(), databases, setting),
            gateway,
            locks,
            id: SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            state: Mutex::new(TxnState::Autocommit),
            params,
            schemas,
            channels,
            prepared: Mutex::default(),
            mailbox: None,
        }
    }

    /// This engine serving a connection that receives notifications in
    /// `mailbox`.
    pub fn with_mailbox(mut self, mailbox: Arc<notify::Mailbox>) -> Self {
        self.mailbox = Some(mailbox);
        self
    }

    /// Table `name`'s schema as a transaction that wrote `writes` sees it:
    /// as its DDL left it, or as committed.
    async fn schema(&self, writes: &Writes, name: &str) -> Result<Option<Arc<Table>>> {
        match writes.table(name) {
            Some(staged) => Ok(staged),
            None => Ok(self.schemas.get(self.gateway.as_ref(), name).await?),
        }
    }

    /// Like [`Engine::schema`]; no such table is 42P01.
    pub(crate) async fn table(&self, writes: &Writes, name: &str) -> Result<Arc<Table>> {
        self.schema(writes, name)
            .await?
            .ok_or_else(|| error(Code::UndefinedTable, format!("relation \"{name}\" does not exist")))
    }

    /// Marks a transaction block failed (an error outside [`Engine::execute`],
    /// such as a Parse that failed).
    pub fn fail_block(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let TxnState::Block(txn) = std::mem::take(&mut *state) {
            *state = TxnState::Failed(txn);
        }
    }

    /// Lets queries call only actor methods declared read-only.
    pub fn set_read_only(&self, read_only: bool) {
        self.planner.set_read_only(read_only);
    }

    /// Runs one statement (its parameters already bound), unless `cancel`
    /// fires first.
    pub async fn execute(&self, statement: Statement, cancel: &mut Cancel) -> Result<Outcome> {
        self.perform(Work::Statement(Box::new(statement)), cancel).await
    }

    /// Runs the statements of one query string, as PostgreSQL runs them.
    ///
    /// Outside a transaction block, several statements none of which is
    /// BEGIN, COMMIT, ROLLBACK or COPY form one implicit transaction (DDL
    /// included): their writes commit together after the last one, and an
    /// error rolls back what the earlier ones wrote. Otherwise each
    /// statement runs as [`Engine::execute`] runs it.
    ///
    /// Returns one outcome per statement run, up to and including the first
    /// error; the statements after it do not run. When the implicit
    /// transaction's commit fails, its error is one more outcome after the
    /// last statement's. A cancel fails the statement running then.
    pub async fn execute_batch(
        &self,
        statements: Vec<Statement>,
        cancel: &mut Cancel,
    ) -> Vec<Result<Outcome>> {
        let autocommit = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            matches!(*state, TxnState::Autocommit)
        };
        if statements.len() < 2 || !autocommit || statements.iter().any(runs_alone) {
            let mut outcomes = Vec::with_capacity(statements.len());
            for statement in statements {
                let outcome = self.execute(statement, cancel).await;
                let failed = outcome.is_err();
                outcomes.push(outcome);
                if failed {
                    break;
                }
            }
            return outcomes;
        }
        // The implicit block is this call's, not the connection's: the
        // connection stays in autocommit throughout.
        let mut state = TxnState::Block(Txn::default());
        let mut outcomes = Vec::with_capacity(statements.len());
        for statement in statements {
            let (outcome, next) = self.step(Work::Statement(Box::new(statement)), state, cancel).await;
            state = next;
            let failed = outcome.is_err();
            outcomes.push(outcome);
            if failed {
                break;
            }
        }
        match state {
            TxnState::Block(txn) => {
                if let Err(e) = self.commit(txn).await {
                    outcomes.push(Err(e));
                }
            }
            TxnState::Failed(txn) => self.rollback(txn),
            TxnState::Autocommit => {}
        }
        outcomes
    }

    /// Stores the data of a COPY FROM STDIN, as one statement; returns the
    /// number of rows.
    pub async fn copy_in(&self, pending: PendingCopy, data: Vec<u8>, cancel: &mut Cancel) -> Result<u64> {
        match self.perform(Work::CopyIn(pending, data), cancel).await? {
            Outcome::Done(tag) => Ok(tag.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0)),
            _ => Err(error(Code::Internal, "COPY did not finish")),
        }
    }

    async fn perform(&self, work: Work, cancel: &mut Cancel) -> Result<Outcome> {
        let state = std::mem::take(&mut *self.state.lock().unwrap_or_else(|e| e.into_inner()));
        let (outcome, state) = self.step(work, state, cancel).await;
        self.note_block(&state);
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
        outcome
    }

    /// The schemas the current transaction's DDL staged (and no rows), for
    /// a statement being prepared to see.
    fn staged_schemas(&self) -> Writes {
        match &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            TxnState::Block(txn) | TxnState::Failed(txn) => {
                Writes { rows: Default::default(), tables: txn.writes.tables.clone() }
            }
            TxnState::Autocommit => Writes::default(),
        }
    }

    /// Table `name`'s schema for a statement of `txn` that writes its
    /// rows, once no other transaction's DDL holds it ([`Engine::enter`]);
    /// no such table is 42P01.
    async fn target(&self, txn: &Txn, name: &str) -> Result<Arc<Table>> {
        self.enter(txn, name).await?;
        let table = self.table(&txn.writes, name).await?;
        if table.view.is_some() {
            return Err(unsupported(format_args!(
                "writes to the view \"{name}\" (views are read-only in Orbit)"
            )));
        }
        if table.sequence.is_some() {
            return Err(error(Code::WrongObjectType, format!("cannot change sequence \"{name}\"")));
        }
        Ok(table)
    }

    /// Waits while another transaction's DDL holds table `name`'s gate
    /// closed, so that a transaction's first write to a table reads the
    /// schema that DDL leaves. A transaction that already wrote the table
    /// does not wait: its commit checks that the schema its first rows were
    /// staged under is still the committed one.
    async fn enter(&self, txn: &Txn, name: &str) -> Result<()> {
        if txn.closed.contains_key(name) || txn.used.contains_key(name) {
            return Ok(());
        }
        drop(self.locks.gates.pass(name).await.map_err(|_| relation_busy(name))?);
        Ok(())
    }

    /// Table `name`'s schema as the current transaction sees it, between
    /// statements (a statement being prepared); no such table is 42P01.
    pub(crate) async fn current_table(&self, name: &str) -> Result<Arc<Table>> {
        self.table(&self.staged_schemas(), name).await
    }

    /// The current transaction's writes, for a query to see.
    fn writes(&self) -> Arc<Writes> {
        match &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            TxnState::Block(txn) => Arc::new(txn.writes.clone()),
            _ => Arc::new(Writes::default()),
        }
    }

    async fn step(&self, work: Work, state: TxnState, cancel: &mut Cancel) -> (Result<Outcome>, TxnState) {
        let statement = match work {
            Work::Statement(statement) => *statement,
            other => return self.in_transaction(other, state, cancel).await,
        };
        // An error here fails the block, as any statement's does.
        let failed = |e: SqlError, state: TxnState| match state {
            TxnState::Block(txn) => (Err(e), TxnState::Failed(txn)),
            TxnState::Failed(txn) => (Err(aborted()), TxnState::Failed(txn)),
            TxnState::Autocommit => (Err(e), TxnState::Autocommit),
        };
        let statement = match statement {
            Statement::Execute { name: Some(name), parameters, immediate: false, into, using, .. }
                if into.is_empty() && using.is_empty() && !matches!(state, TxnState::Failed(_)) =>
            {
                let writes = match &state {
                    TxnState::Block(txn) => Arc::new(txn.writes.clone()),
                    _ => Arc::default(),
                };
                let bound = match self.execute_values(&parameters, writes).await {
                    Ok(values) => {
                        self.prepared.lock().unwrap_or_else(|e| e.into_inner()).bind(&name, &values)
                    }
                    Err(e) => Err(e),
                };
                match bound {
                    Ok(statement) => statement,
                    Err(e) => return failed(e, state),
                }
            }
            other => other,
        };
        match statement {
            Statement::Prepare { name, data_types, statement } if !matches!(state, TxnState::Failed(_)) => {
                let mut prepared = self.prepared.lock().unwrap_or_else(|e| e.into_inner());
                match prepared.prepare(&name, data_types, *statement) {
                    Ok(outcome) => (Ok(outcome), state),
                    Err(e) => failed(e, state),
                }
            }
            Statement::Deallocate { name, .. } if !matches!(state, TxnState::Failed(_)) => {
                match self.prepared.lock().unwrap_or_else(|e| e.into_inner()).deallocate(&name) {
                    Ok(outcome) => (Ok(outcome), state),
                    Err(e) => failed(e, state),
                }
            }
            Statement::StartTransaction { .. } => match state {
                TxnState::Autocommit => (Ok(Outcome::Begin), TxnState::Block(Txn::default())),
                // PostgreSQL warns and stays in the block.
                other => (Ok(Outcome::Begin), other),
            },
            Statement::Commit { chain: false, .. } => match state {
                TxnState::Block(txn) => {
                    (self.commit(txn).await.map(|()| Outcome::End("COMMIT")), TxnState::Autocommit)
                }
                TxnState::Failed(txn) => {
                    self.rollback(txn);
                    (Ok(Outcome::End("ROLLBACK")), TxnState::Autocommit)
                }
                TxnState::Autocommit => (Ok(Outcome::End("COMMIT")), TxnState::Autocommit),
            },
            Statement::Savepoint { name } => match state {
                TxnState::Block(mut txn) => {
                    txn.savepoint(ident(&name));
                    (Ok(Outcome::Done("SAVEPOINT".into())), TxnState::Block(txn))
                }
                TxnState::Failed(txn) => (Err(aborted()), TxnState::Failed(txn)),
                TxnState::Autocommit => (Err(outside_block("SAVEPOINT")), TxnState::Autocommit),
            },
            Statement::Rollback { chain: false, savepoint: Some(name) } => match state {
                TxnState::Block(mut txn) | TxnState::Failed(mut txn) => {
                    if txn.roll_back_to(&ident(&name)) {
                        (Ok(Outcome::Done("ROLLBACK".into())), TxnState::Block(txn))
                    } else {
                        (Err(no_savepoint(&name)), TxnState::Failed(txn))
                    }
                }
                TxnState::Autocommit => (Err(outside_block("ROLLBACK TO SAVEPOINT")), TxnState::Autocommit),
            },
            Statement::ReleaseSavepoint { name } => match state {
                TxnState::Block(mut txn) => {
                    if txn.release(&ident(&name)) {
                        (Ok(Outcome::Done("RELEASE".into())), TxnState::Block(txn))
                    } else {
                        (Err(no_savepoint(&name)), TxnState::Failed(txn))
                    }
                }
                TxnState::Failed(txn) => (Err(aborted()), TxnState::Failed(txn)),
                TxnState::Autocommit => (Err(outside_block("RELEASE SAVEPOINT")), TxnState::Autocommit),
            },
            Statement::Rollback { chain: false, savepoint: None } => {
                if let TxnState::Block(txn) | TxnState::Failed(txn) = state {
                    self.rollback(txn);
                }
                (Ok(Outcome::End("ROLLBACK")), TxnState::Autocommit)
            }
            statement @ (Statement::Set(_) | Statement::ShowVariable { .. } | Statement::Reset(_))
                if !matches!(state, TxnState::Failed(_)) =>
            {
                (self.params.lock().unwrap_or_else(|e| e.into_inner()).apply(statement), state)
            }
            Statement::Vacuum(_) if !matches!(state, TxnState::Autocommit) => (
                Err(error(Code::ActiveSqlTransaction, "VACUUM cannot run inside a transaction block")),
                state,
            ),
            statement => self.in_transaction(Work::Statement(Box::new(statement)), state, cancel).await,
        }
    }

    /// Runs work in the block's transaction, or in one of its own. A
    /// failed or cancelled statement fails the block, or rolls its own
    /// transaction back: what it staged never commits.
    async fn in_transaction(
        &self,
        work: Work,
        state: TxnState,
        cancel: &mut Cancel,
    ) -> (Result<Outcome>, TxnState) {
        match state {
            TxnState::Failed(txn) => (Err(aborted()), TxnState::Failed(txn)),
            TxnState::Block(mut txn) => match self.run_unless_cancelled(work, &mut txn, cancel).await {
                Ok(outcome) => (Ok(outcome), TxnState::Block(txn)),
                Err(e) => (Err(e), TxnState::Failed(txn)),
            },
            TxnState::Autocommit => {
                let mut txn = Txn::default();
                let outcome = match self.run_unless_cancelled(work, &mut txn, cancel).await {
                    // COPY FROM's data is still to come: nothing to commit yet.
                    Ok(outcome) => self.commit(txn).await.map(|()| outcome),
                    Err(e) => {
                        self.rollback(txn);
                        Err(e)
                    }
                };
                (outcome, TxnState::Autocommit)
            }
        }
    }

    /// Runs work until it ends or the client cancels it (57014). A
    /// cancelled statement's future is dropped at whatever it waits for (a
    /// row lock, a read, DataFusion, `pg_sleep`); until then it only
    /// staged rows in `txn` and took locks it recorded there, so the
    /// caller's rollback or failed block undoes all of it. Effects outside
    /// the transaction stay, as after any error: sequence values and OIDs
    /// drawn, and `orbit_call`s made.
    async fn run_unless_cancelled(&self, work: Work, txn: &mut Txn, cancel: &mut Cancel) -> Result<Outcome> {
        tokio::select! {
            biased;
            () = cancel.requested() => Err(cancelled()),
            // Boxed: a statement's future (DDL, DML with its checks, the
            // planner) is large, and the front doors' own futures hold it.
            outcome = Box::pin(self.run(work, txn)) => outcome,
        }
    }

    /// Writes every staged schema, row and index entry as one atomic
    /// group, then releases the locks and gates. The group commits only in
    /// the term the locks were taken in, and only if every table it writes
    /// rows of still has the schema they were staged under (40001). Then
    /// the entries of indexes the transaction took away are cleared.
    async fn commit(&self, mut txn: Txn) -> Result<()> {
        let channels = std::mem::take(&mut txn.channels);
        let cleared = std::mem::take(&mut txn.cleared);
        let written = self.write(&txn).await;
        self.rollback(txn);
        if written.is_ok() && !channels.is_empty() {
            self.committed_channels(channels);
        }
        if written.is_ok() {
            for index in &cleared {
                if let Err(e) = crate::sql::catalog::entries::clear(self.gateway.as_ref(), index).await {
                    tracing::warn!(index = %index.name, error = %e, "the entries of a dropped index stay behind");
                }
            }
        }
        written
    }

    /// [`Engine::commit`]'s group, written while passing the gates of the
    /// tables it writes rows of.
    async fn write(&self, txn: &Txn) -> Result<()> {
        let mut calls = Vec::new();
        for (name, table) in &txn.writes.tables {
            let id = ActorId::new(crate::sql::CATALOG_KIND, Bytes::copy_from_slice(name.as_bytes()));
            let invocation = match table {
                Some(table) => Invocation::new("put", json_bytes(&serde_json::json!({ "row": table }))?),
                None => Invocation::new("delete", Bytes::new()),
            };
            calls.push((id, invocation));
        }
        for (table, rows) in &txn.writes.rows {
            for (key, staged) in rows {
                let id = ActorId::new(format!("row:{table}"), Bytes::copy_from_slice(key));
                let invocation = match staged {
                    Some(row) => Invocation::new("put", json_bytes(&serde_json::json!({ "row": row }))?),
                    None => Invocation::new("delete", Bytes::new()),
                };
                calls.push((id, invocation));
            }
        }
        calls.extend(crate::sql::catalog::entries::commit_calls(&txn.index_writes));
        if calls.is_empty() {
            return Ok(());
        }
        let mut passes = Vec::new();
        for name in txn.used.keys().filter(|name| !txn.closed.contains_key(*name)) {
            passes.push(self.locks.gates.pass(name).await.map_err(|_| relation_busy(name))?);
            self.check_used(txn, name).await?;
        }
        let written = match txn.term {
            Some(term) => self.gateway.invoke_atomic_in_term(calls, term).await,
            None => match self.gateway.serving_term(&sql_home()).await {
                Ok(term) => self.gateway.invoke_atomic_in_term(calls, term).await,
                Err(e) => Err(e),
            },
        };
        drop(passes);
        written.map(|_| ()).map_err(|e| match e {
            orbit_shared::Error::NotLeader { .. } => SqlError::from(e),
            e => error(Code::Internal, format!("the transaction did not commit: {e}")),
        })
    }

    /// Closes table `name`'s gate for this transaction's DDL, which holds
    /// it until the transaction ends. Rows the transaction staged under an
    /// older schema of the table fail it (40001).
    async fn close_gate(&self, txn: &mut Txn, name: &str) -> Result<()> {
        if txn.closed.contains_key(name) {
            return Ok(());
        }
        if txn.term.is_none() {
            txn.term = Some(self.gateway.serving_term(&sql_home()).await?);
        }
        let closed = self.locks.gates.close(name).await.map_err(|_| relation_busy(name))?;
        // Checked before the gate counts as the transaction's: a commit
        // checks no table whose gate it holds.
        self.check_used(txn, name).await?;
        txn.closed.insert(name.to_string(), closed);
        Ok(())
    }

    /// 40001 when the transaction staged rows of `name` under a schema
    /// other than the one committed now.
    async fn check_used(&self, txn: &Txn, name: &str) -> Result<()> {
        let Some(used) = txn.used.get(name) else { return Ok(()) };
        let now = self.schemas.get(self.gateway.as_ref(), name).await?;
        if now.as_deref() != Some(used) {
            return Err(error(
                Code::SerializationFailure,
                format!(
                    "could not serialize access: the definition of table \"{name}\" changed while the transaction wrote to it"
                ),
            ));
        }
        Ok(())
    }

    /// Releases the transaction's locks (a read-only one took none, and
    /// leaves the shared lock table alone).
    fn rollback(&self, txn: Txn) {
        if !txn.locked.is_empty() {
            self.locks.release(self.id, txn.locked);
        }
    }

    async fn lock(&self, txn: &mut Txn, table: &str, key: &[u8]) -> Result<()> {
        let row: RowRef = (table.to_string(), key.to_vec());
        if txn.locked.contains(&row) {
            return Ok(());
        }
        if txn.term.is_none() {
            txn.term = Some(self.gateway.serving_term(&sql_home()).await?);
        }
        match self.locks.lock(self.id, &row).await {
            Ok(()) => {
                txn.locked.push(row);
                Ok(())
            }
            Err(LockError::Deadlock) => Err(error(Code::DeadlockDetected, "deadlock detected")),
            Err(LockError::Timeout) => {
                Err(error(Code::LockNotAvailable, format!("could not obtain lock on a row of \"{table}\"")))
            }
        }
    }

    /// Every row of `table` as this transaction sees it, by key.
    async fn rows_seen(
        &self,
        txn: &Txn,
        table: &Table,
    ) -> Result<std::collections::BTreeMap<Vec<u8>, Map<String, Json>>> {
        let mut rows = crate::sql::plan::read_all(self.gateway.as_ref(), table).await?;
        for (key, staged) in txn.writes.rows.get(&table.name).into_iter().flatten() {
            match staged {
                Some(row) => rows.insert(key.clone(), row.clone()),
                None => rows.remove(key),
            };
        }
        Ok(rows)
    }

    /// A row as this transaction sees it.
    async fn current(&self, txn: &Txn, table: &Table, key: &[u8]) -> Result<Option<Map<String, Json>>> {
        match txn.staged(&table.name, key) {
            Some(staged) => Ok(staged.clone()),
            None => Ok(crate::sql::plan::read_row(self.gateway.as_ref(), table, key).await?),
        }
    }

    async fn run(&self, work: Work, txn: &mut Txn) -> Result<Outcome> {
        // Sequence functions find the transaction's own sequences, also
        // where a statement plans over writes of its own (a DEFAULT).
        self.planner.set_transaction_tables(&txn.writes.tables);
        let statement = match work {
            Work::Statement(statement) if locking::nested_locks(&statement) => {
                return Err(unsupported("FOR UPDATE/SHARE in a subquery, a CTE or INSERT's query"));
            }
            Work::Statement(statement) => *statement,
            Work::CopyIn(pending, data) => return self.copy_rows(pending, &data, txn).await,
            Work::Point(point, key) => {
                return Ok(point.outcome(self.point_rows(&point.table, &key, txn).await?));
            }
        };
        match statement {
            Statement::CreateTable(create) => self.create_table(create, txn).await,
            Statement::Drop { object_type: ObjectType::Table, if_exists, names, cascade, .. } => {
                self.drop_tables(&names, if_exists, cascade, txn).await
            }
            Statement::AlterTable(alter) => match self.alter_sequence(&alter, txn).await? {
                Some(outcome) => Ok(outcome),
                None => self.alter_table(alter, txn).await,
            },
            Statement::CreateSequence {
                temporary,
                if_not_exists,
                name,
                data_type,
                sequence_options,
                owned_by,
            } => {
                let (data_type, owned_by) = (data_type.as_ref(), owned_by.as_ref());
                self.create_sequence(
                    temporary,
                    if_not_exists,
                    &name,
                    data_type,
                    &sequence_options,
                    owned_by,
                    txn,
                )
                .await
            }
            Statement::Drop { object_type: ObjectType::Sequence, if_exists, names, cascade, .. } => {
                self.drop_sequences(&names, if_exists, cascade, txn).await
            }
            Statement::CreateView(create) => self.create_view(create, txn).await,
            Statement::Drop { object_type: ObjectType::View, if_exists, names, cascade, .. } => {
                self.drop_views(&names, if_exists, cascade, txn).await
            }
            Statement::CreateIndex(create) => self.create_index(create, txn).await,
            Statement::Comment { object_type, object_name, comment, if_exists: false } => {
                self.comment(object_type, &object_name, comment, txn).await
            }
            Statement::Drop { object_type: ObjectType::Index, if_exists, names, .. } => {
                self.drop_indexes(&names, if_exists, txn).await
            }
            // Rows are actors: no dead row versions to reclaim and no
            // planner statistics to gather. The tables must exist.
            Statement::Vacuum(ast::VacuumStatement { table_name, .. }) => {
                if let Some(name) = table_name {
                    self.table(&txn.writes, &object_name(&name)?).await?;
                }
                Ok(Outcome::Done("VACUUM".into()))
            }
            Statement::Analyze(ast::Analyze { table_name, .. }) => {
                if let Some(name) = table_name {
                    self.table(&txn.writes, &object_name(&name)?).await?;
                }
                Ok(Outcome::Done("ANALYZE".into()))
            }
            Statement::Insert(insert) => self.insert(insert, txn).await,
            Statement::Update(update) => self.update(update, txn).await,
            Statement::Truncate(truncate) => self.truncate(truncate, txn).await,
            Statement::Delete(delete) => self.delete(delete, txn).await,
            Statement::Query(query) if !query.locks.is_empty() => self.locking_query(*query, txn).await,
            Statement::Query(query) => match self.pg_notify(&query, txn)? {
                Some(outcome) => Ok(outcome),
                None => self.query(*query, txn).await,
            },
            channel @ (Statement::LISTEN { .. } | Statement::UNLISTEN { .. } | Statement::NOTIFY { .. }) => {
                self.channel_statement(channel, txn)
            }
            explain @ Statement::Explain { .. } => self.explain(explain, txn).await,
            Statement::Copy { source, to, target, options, legacy_options, values } => {
                if !values.is_empty() {
                    return Err(unsupported("COPY with inline data"));
                }
                let format = CopyFormat::from_options(&options, &legacy_options)?;
                match (to, target) {
                    (true, CopyTarget::Stdout) => self.copy_out(source, format, txn).await,
                    (false, CopyTarget::Stdin) => {
                        let CopySource::Table { table_name, columns } = source else {
                            return Err(error(Code::SyntaxError, "COPY FROM needs a table"));
                        };
                        let table = self.table(&txn.writes, &object_name(&table_name)?).await?;
                        if !table.has_rows() {
                            return Err(views::rowless(&table, "COPY FROM"));
                        }
                        let names: Vec<ObjectName> =
                            columns.into_iter().map(|c| ObjectName::from(vec![c])).collect();
                        let targets = copy::copy_targets(&table, &names)?;
                        Ok(Outcome::CopyIn(PendingCopy { table: table.name.clone(), targets, format }))
                    }
                    (_, target) => Err(unsupported(format_args!(
                        "COPY {} {target} (the server's files and programs; use STDIN or STDOUT)",
                        if to { "TO" } else { "FROM" }
                    ))),
                }
            }
            other => Err(unsupported(format_args!("the statement \"{}\"", first_words(&other.to_string())))),
        }
    }

    // --- queries -------------------------------------------------------

    async fn query(&self, query: ast::Query, txn: &Txn) -> Result<Outcome> {
        if let Some(point) = self.point_query_seeing(&query, &txn.writes).await? {
            let rows = self.point_rows(&point.table, &literal(&point.key)?, txn).await?;
            return Ok(point.outcome(rows));
        }
        let statement = Statement::Query(Box::new(query));
        let planned = self.plan(statement, txn).await?;
        let rows = self.planner.run(&planned, Arc::new(txn.writes.clone())).await?;
        Ok(Outcome::Rows(rows, "SELECT".into()))
    }

    /// Plans a query with DataFusion, seeing `txn`'s writes.
    async fn plan(&self, statement: Statement, txn: &Txn) -> Result<Planned> {
        Ok(self.planner.plan(statement, Arc::new(txn.writes.clone())).await?)
    }

    /// Plans a query for the extended protocol's Parse, seeing this
    /// session's writes.
    pub async fn plan_query(&self, statement: Statement) -> Result<Planned> {
        Ok(self.planner.plan(statement, self.writes()).await?)
    }
}

/// Whether a statement keeps its query string out of an implicit
/// transaction: it starts or ends transactions itself, or waits for the
/// client between its parts (COPY).
fn runs_alone(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Copy { .. }
    )
}

/// A savepoint statement outside a transaction block (25P01).
fn outside_block(what: &str) -> SqlError {
    error(Code::NoActiveSqlTransaction, format!("{what} can only be used in transaction blocks"))
}

/// ROLLBACK TO or RELEASE of a savepoint the block does not have (3B001).
fn no_savepoint(name: &ast::Ident) -> SqlError {
    error(Code::InvalidSavepoint, format!("savepoint \"{}\" does not exist", ident(name)))
}

/// A gate or lock waited for too long.
fn relation_busy(name: &str) -> SqlError {
    error(Code::LockNotAvailable, format!("could not obtain lock on relation \"{name}\""))
}

fn json_bytes(value: &Json) -> Result<Bytes> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|e| error(Code::Internal, e.to_string()))
}

/// An actor of the SQL data (the catalog's): every one lives in the same
/// partition, so its leadership is the SQL data's.
fn sql_home() -> ActorId {
    ActorId::new(crate::sql::CATALOG_KIND, Bytes::new())
}
