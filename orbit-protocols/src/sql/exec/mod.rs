//! One connection's SQL engine, independent of the wire: statements in,
//! [`Outcome`]s out. The PostgreSQL handlers (`session.rs`) and the MCP SQL
//! tools (`run_sql`) both drive it.
//!
//! | statement | how it runs |
//! |---|---|
//! | BEGIN / COMMIT / ROLLBACK | the connection's [`TxnState`]; COMMIT is one atomic actor group |
//! | several statements in one query string | one implicit transaction ([`Engine::execute_batch`]) |
//! | SET / SHOW / RESET | the connection's parameters |
//! | CREATE / ALTER / DROP TABLE | `ddl.rs`: catalog actors and rows, at once (not transactional) |
//! | INSERT | rows checked, locked and staged in the transaction; `ON CONFLICT` in `conflict.rs` |
//! | UPDATE / DELETE | by primary key directly; otherwise rows found by DataFusion, then locked and staged |
//! | SELECT ... WHERE pk = constant | a point read of one row actor |
//! | EXPLAIN | `explain.rs`: the point read, or DataFusion's logical plan |
//! | any other query | DataFusion ([`crate::sql::plan`]) |
//!
//! A statement outside BEGIN runs in a transaction of its own, committed
//! when it succeeds. A client's cancel (`crate::postgres::cancel`) fails the statement
//! while it stages its work, never while it commits.

//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | [`Engine`]: transaction stepping, DML, point queries, sequences |
//! | `txn.rs` | row locks and a transaction's uncommitted writes |
//! | `cancel.rs` | a statement's cancel signal |
//! | `ddl.rs` | CREATE / ALTER / DROP TABLE |
//! | `index.rs` | CREATE / DROP INDEX, unique checks |
//! | `conflict.rs` | INSERT ... ON CONFLICT |
//! | `explain.rs` | EXPLAIN |
//! | `expr.rs` | the expressions Orbit evaluates itself (fast paths, ON CONFLICT DO UPDATE) |
//! | `copy.rs` | COPY's text and CSV data formats |
//! | `params.rs` | session parameters: SET, SHOW, RESET |

mod cancel;
mod conflict;
pub(crate) mod copy;
mod ddl;
mod explain;
pub(crate) mod expr;
mod index;
pub(crate) mod params;
pub(crate) mod txn;

pub(crate) use cancel::Cancel;

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

/// A point query: `SELECT columns FROM table WHERE pk = key`, reading one
/// row actor.
#[derive(Debug, Clone)]
pub(crate) struct PointQuery {
    /// The schema the query was analysed against.
    pub table: Arc<Table>,
    /// The result columns: their names and the table's columns they show.
    pub output: Vec<(String, usize)>,
    /// The key: a constant or a parameter (`$n`).
    pub key: Expr,
}

impl PointQuery {
    pub fn columns(&self) -> Vec<(String, SqlType)> {
        self.output.iter().map(|(name, i)| (name.clone(), self.table.columns[*i].sql_type)).collect()
    }

    /// The outcome of reading `rows` (none or one).
    fn outcome(&self, rows: Vec<Map<String, Json>>) -> Outcome {
        let columns = &self.table.columns;
        let rows = rows
            .iter()
            .map(|row| {
                self.output
                    .iter()
                    .map(|(_, i)| row.get(&columns[*i].name).cloned().unwrap_or(Json::Null))
                    .collect()
            })
            .collect();
        Outcome::Rows(Rows { columns: self.columns(), rows }, "SELECT".into())
    }
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

impl Work {
    /// DDL: writes to storage as it goes, outside the transaction.
    fn acts_at_once(&self) -> bool {
        let Work::Statement(statement) = self else { return false };
        matches!(
            **statement,
            Statement::CreateTable(_)
                | Statement::CreateIndex(_)
                | Statement::AlterTable(_)
                | Statement::Drop { .. }
        )
    }
}

/// Session ids for row locks.
static SESSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(crate) struct Engine<G> {
    gateway: Arc<G>,
    locks: Arc<Locks>,
    id: u64,
    state: Mutex<TxnState>,
    params: Mutex<Parameters>,
    planner: Planner<G>,
    /// Decoded schemas, shared by the front door's connections.
    schemas: Arc<Schemas>,
}

impl<G> Drop for Engine<G> {
    /// A connection that goes away mid-transaction rolls it back.
    fn drop(&mut self) {
        let state = std::mem::take(self.state.get_mut().unwrap_or_else(|e| e.into_inner()));
        if let TxnState::Block(txn) | TxnState::Failed(txn) = state {
            self.locks.release(self.id, txn.locked);
        }
    }
}

impl<G: ActorGateway> Engine<G> {
    pub fn new(gateway: Arc<G>, locks: Arc<Locks>, schemas: Arc<Schemas>) -> Self {
        Engine {
            planner: Planner::new(gateway.clone(), schemas.clone()),
            gateway,
            locks,
            id: SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            state: Mutex::new(TxnState::Autocommit),
            params: Mutex::new(Parameters::default()),
            schemas,
        }
    }

    /// Table `name`'s schema, for a statement that does not change it.
    async fn schema(&self, name: &str) -> Result<Option<Arc<Table>>> {
        Ok(self.schemas.get(self.gateway.as_ref(), name).await?)
    }

    /// Like [`Engine::schema`]; no such table is 42P01.
    pub(crate) async fn table(&self, name: &str) -> Result<Arc<Table>> {
        self.schema(name)
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
    /// BEGIN, COMMIT, ROLLBACK, COPY or DDL (CREATE, ALTER, DROP TABLE) form
    /// one implicit transaction: their writes commit together after the
    /// last one, and an error rolls back what the earlier ones wrote.
    /// Otherwise each statement runs as [`Engine::execute`] runs it (DDL is
    /// not transactional in Orbit, so a string holding some keeps today's
    /// statement-at-a-time commits).
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
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
        outcome
    }

    /// The current transaction's writes, for a query to see.
    fn writes(&self) -> Arc<Writes> {
        match &*self.state.lock().unwrap_or_else(|e| e.into_inner()) {
            TxnState::Block(txn) => Arc::new(txn.writes.clone()),
            _ => Arc::new(Writes::new()),
        }
    }

    async fn step(&self, work: Work, state: TxnState, cancel: &mut Cancel) -> (Result<Outcome>, TxnState) {
        let statement = match work {
            Work::Statement(statement) => *statement,
            other => return self.in_transaction(other, state, cancel).await,
        };
        match statement {
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
    /// the transaction stay, as after any error: sequence values drawn and
    /// `orbit_call`s made. DDL writes as it goes, so it is not cancelled.
    async fn run_unless_cancelled(&self, work: Work, txn: &mut Txn, cancel: &mut Cancel) -> Result<Outcome> {
        if work.acts_at_once() {
            return self.run(work, txn).await;
        }
        tokio::select! {
            biased;
            () = cancel.requested() => Err(cancelled()),
            outcome = self.run(work, txn) => outcome,
        }
    }

    /// Writes every staged row as one atomic group, then releases the locks.
    async fn commit(&self, txn: Txn) -> Result<()> {
        let mut calls = Vec::new();
        for (table, rows) in &txn.writes {
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
        let written = if calls.is_empty() { Ok(Vec::new()) } else { self.gateway.invoke_atomic(calls).await };
        self.rollback(txn);
        written.map(|_| ()).map_err(|e| error(Code::Internal, format!("the transaction did not commit: {e}")))
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

    /// A row as this transaction sees it.
    async fn current(&self, txn: &Txn, table: &Table, key: &[u8]) -> Result<Option<Map<String, Json>>> {
        match txn.staged(&table.name, key) {
            Some(staged) => Ok(staged.clone()),
            None => Ok(crate::sql::plan::read_row(self.gateway.as_ref(), table, key).await?),
        }
    }

    async fn run(&self, work: Work, txn: &mut Txn) -> Result<Outcome> {
        let statement = match work {
            Work::Statement(statement) => *statement,
            Work::CopyIn(pending, data) => return self.copy_rows(pending, &data, txn).await,
            Work::Point(point, key) => {
                return Ok(point.outcome(self.point_rows(&point.table, &key, txn).await?));
            }
        };
        match statement {
            Statement::CreateTable(create) => self.create_table(create).await,
            Statement::Drop { object_type: ObjectType::Table, if_exists, names, .. } => {
                self.drop_tables(&names, if_exists).await
            }
            Statement::AlterTable(alter) => self.alter_table(alter, txn).await,
            Statement::CreateIndex(create) => self.create_index(create).await,
            Statement::Drop { object_type: ObjectType::Index, if_exists, names, .. } => {
                self.drop_indexes(&names, if_exists).await
            }
            // Rows are actors: no dead row versions to reclaim and no
            // planner statistics to gather. The tables must exist.
            Statement::Vacuum(ast::VacuumStatement { table_name, .. }) => {
                if let Some(name) = table_name {
                    self.table(&object_name(&name)?).await?;
                }
                Ok(Outcome::Done("VACUUM".into()))
            }
            Statement::Analyze(ast::Analyze { table_name, .. }) => {
                if let Some(name) = table_name {
                    self.table(&object_name(&name)?).await?;
                }
                Ok(Outcome::Done("ANALYZE".into()))
            }
            Statement::Insert(insert) => self.insert(insert, txn).await,
            Statement::Update(update) => self.update(update, txn).await,
            Statement::Truncate(truncate) => self.truncate(truncate, txn).await,
            Statement::Delete(delete) => self.delete(delete, txn).await,
            Statement::Query(query) => self.query(*query, txn).await,
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
                        let table = self.table(&object_name(&table_name)?).await?;
                        let names: Vec<ObjectName> =
                            columns.into_iter().map(|c| ObjectName::from(vec![c])).collect();
                        let targets = insert_targets(&table, &names)?;
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
        if let Some(point) = self.point_query(&query).await? {
            let rows = self.point_rows(&point.table, &literal(&point.key)?, txn).await?;
            return Ok(point.outcome(rows));
        }
        let statement = Statement::Query(Box::new(query));
        let planned = self.plan(statement, txn).await?;
        let rows = self.planner.run(&planned, Arc::new(txn.writes.clone())).await?;
        Ok(Outcome::Rows(rows, "SELECT".into()))
    }

    /// Runs a prepared point query whose key parameter is bound to `key`,
    /// as [`Engine::execute`] runs the statement, without analysing the
    /// statement again. `None` when the table's schema is no longer the
    /// one `point` was made from (or cannot be read): the caller executes
    /// the statement, which meets the change (or the error) itself.
    pub async fn execute_point(
        &self,
        point: &Arc<PointQuery>,
        key: Literal,
        cancel: &mut Cancel,
    ) -> Option<Result<Outcome>> {
        match self.schema(&point.table.name).await {
            Ok(Some(table)) if Arc::ptr_eq(&table, &point.table) || *table == *point.table => {}
            _ => return None,
        }
        Some(self.perform(Work::Point(point.clone(), key), cancel).await)
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

    async fn point_rows(&self, table: &Table, key: &Literal, txn: &Txn) -> Result<Vec<Map<String, Json>>> {
        match pk_key(table, key)? {
            None => Ok(Vec::new()), // = NULL matches nothing
            Some(key) => Ok(self.current(txn, table, &key).await?.into_iter().collect()),
        }
    }

    /// A point query (SELECT columns FROM table WHERE primary key =
    /// constant or parameter); `None` for any other query.
    pub async fn point_query(&self, query: &ast::Query) -> Result<Option<PointQuery>> {
        if query.with.is_some() || query.order_by.is_some() || query.limit_clause.is_some() {
            return Ok(None);
        }
        let SetExpr::Select(select) = query.body.as_ref() else { return Ok(None) };
        if select.distinct.is_some()
            || select.having.is_some()
            || !matches!(select.group_by, ast::GroupByExpr::Expressions(ref e, _) if e.is_empty())
        {
            return Ok(None);
        }
        let [from] = select.from.as_slice() else { return Ok(None) };
        if !from.joins.is_empty() {
            return Ok(None);
        }
        let TableFactor::Table { name, alias: None, args: None, .. } = &from.relation else {
            return Ok(None);
        };
        let Ok(name) = object_name(name) else { return Ok(None) };
        let Some(table) = self.schema(&name).await? else { return Ok(None) };
        let Some(key) = pk_equals(&table, select.selection.as_ref()) else { return Ok(None) };
        if literal(&key).is_err() && placeholder(&key).is_none() {
            return Ok(None);
        }
        let mut output: Vec<(String, usize)> = Vec::new();
        for item in &select.projection {
            match item {
                SelectItem::Wildcard(_) => {
                    output.extend(table.columns.iter().enumerate().map(|(i, c)| (c.name.clone(), i)));
                }
                SelectItem::UnnamedExpr(Expr::Identifier(id)) => match table.column(&ident(id)) {
                    Some((i, c)) => output.push((c.name.clone(), i)),
                    None => return Ok(None),
                },
                SelectItem::ExprWithAlias { expr: Expr::Identifier(id), alias } => {
                    match table.column(&ident(id)) {
                        Some((i, _)) => output.push((ident(alias), i)),
                        None => return Ok(None),
                    }
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(PointQuery { table, output, key }))
    }

    // --- DML -----------------------------------------------------------

    async fn insert(&self, insert: ast::Insert, txn: &mut Txn) -> Result<Outcome> {
        let name = match &insert.table {
            TableObject::TableName(name) => object_name(name)?,
            other => return Err(unsupported(format_args!("INSERT INTO {other}"))),
        };
        let table = self.table(&name).await?;
        let on_conflict = conflict::on_conflict(&insert, &table)?;
        let targets = insert_targets(&table, &insert.columns)?;
        let rows = match insert.source.as_deref().map(|q| q.body.as_ref()) {
            Some(SetExpr::Values(values)) => &values.rows,
            _ => return Err(unsupported("INSERT without VALUES")),
        };
        // Check every row before staging any.
        let mut prepared = Vec::with_capacity(rows.len());
        for exprs in rows {
            if exprs.len() > targets.len() {
                return Err(error(Code::SyntaxError, "INSERT has more expressions than target columns"));
            }
            // Without a column list, the values fill the first columns and
            // the rest take their defaults, as in PostgreSQL.
            if exprs.len() < targets.len() && !insert.columns.is_empty() {
                return Err(error(Code::SyntaxError, "INSERT has more target columns than expressions"));
            }
            let mut values: Vec<Option<Json>> = vec![None; table.columns.len()];
            for (expr, &index) in exprs.iter().zip(&targets) {
                let column = &table.columns[index];
                values[index] = match expr {
                    // DEFAULT: filled below like an omitted column.
                    expr if is_default(expr) => None,
                    _ if column.identity == Some(Identity::Always) => {
                        return Err(error(
                            Code::GeneratedAlways,
                            format!("cannot insert a non-DEFAULT value into column \"{}\"", column.name),
                        ));
                    }
                    expr => Some(column.coerce(&constant(expr)?)?),
                };
            }
            prepared.push(values);
        }
        let staged = self.stage_inserts(&table, prepared, &on_conflict, txn).await?;
        self.finish_dml(&table, "INSERT 0", staged, insert.returning.as_deref())
    }

    /// Completes rows, then locks and stages each. A row whose key exists
    /// is a 23505, skipped, or updated, as `on_conflict` says. Returns the
    /// rows inserted and updated, in order.
    async fn stage_inserts(
        &self,
        table: &Table,
        prepared: Vec<Vec<Option<Json>>>,
        on_conflict: &OnConflict,
        txn: &mut Txn,
    ) -> Result<Vec<Map<String, Json>>> {
        let rows = self.complete_rows(table, prepared).await?;
        let keys: Vec<Vec<u8>> = if table.primary_key.is_none() {
            // Rows of a table without a primary key get new hidden keys,
            // which nothing else can hold.
            self.next_rowids(table, rows.len()).await?.map(catalog::hidden_key).collect()
        } else {
            rows.iter().map(|row| row_key(table, row)).collect::<Result<_>>()?
        };
        let mut staged = Vec::with_capacity(rows.len());
        // Keys this statement inserted or updated: ON CONFLICT DO UPDATE
        // may not affect a row twice.
        let mut affected = HashSet::new();
        for (key, row) in keys.into_iter().zip(rows) {
            // The existing row the new one conflicts with, on the primary
            // key or on a unique index ON CONFLICT names.
            let mut conflict = None;
            if table.primary_key.is_some() {
                self.lock(txn, &table.name, &key).await?;
                if let Some(existing) = self.current(txn, table, &key).await? {
                    if !on_conflict.covers_key() {
                        return Err(duplicate(table, &row));
                    }
                    conflict = Some((key.clone(), existing));
                }
            }
            if conflict.is_none()
                && let Some(holder) =
                    self.arbiter_holder(txn, table, &on_conflict.arbiters(table), &key, &row).await?
            {
                self.lock(txn, &table.name, &holder).await?;
                conflict = self.current(txn, table, &holder).await?.map(|existing| (holder, existing));
            }
            let Some((existing_key, existing)) = conflict else {
                self.stage_row(txn, table, key.clone(), None, Some(row.clone())).await?;
                affected.insert(key);
                staged.push(row);
                continue;
            };
            match on_conflict {
                OnConflict::Fail => return Err(duplicate(table, &row)),
                OnConflict::Skip(_) => {}
                OnConflict::Update(update) => {
                    if affected.contains(&existing_key) {
                        return Err(error(
                            Code::CardinalityViolation,
                            "ON CONFLICT DO UPDATE command cannot affect row a second time",
                        ));
                    }
                    let updated = self
                        .conflict_update(txn, table, existing_key.clone(), existing, &row, update)
                        .await?;
                    if let Some(updated) = updated {
                        let key = if table.primary_key.is_some() {
                            row_key(table, &updated)?
                        } else {
                            existing_key
                        };
                        affected.insert(key);
                        staged.push(updated);
                    }
                }
            }
        }
        Ok(staged)
    }

    /// Rows as INSERT completes them: an omitted column or DEFAULT takes
    /// the column's default (or its sequence's next value); an explicit
    /// value (NULL included) stays; NULL in a NOT NULL column is a 23502.
    async fn complete_rows(
        &self,
        table: &Table,
        prepared: Vec<Vec<Option<Json>>>,
    ) -> Result<Vec<Map<String, Json>>> {
        let mut rows = Vec::with_capacity(prepared.len());
        for values in prepared {
            let mut row = Map::new();
            for (column, value) in table.columns.iter().zip(values) {
                let value = match value {
                    Some(v) => v,
                    None if column.serial => self.next_serial(table, column).await?,
                    None => match &column.default_expr {
                        Some(sql) => column.coerce(&constant(&parse_expr(sql)?)?)?,
                        None => column.default.clone().unwrap_or(Json::Null),
                    },
                };
                if value.is_null() {
                    check_not_null(table, column)?;
                    continue;
                }
                row.insert(column.name.clone(), value);
            }
            rows.push(row);
        }
        Ok(rows)
    }

    /// COPY FROM STDIN's rows, inserted as INSERT inserts.
    async fn copy_rows(&self, pending: PendingCopy, data: &[u8], txn: &mut Txn) -> Result<Outcome> {
        let table = self.table(&pending.table).await?;
        let rows = pending.format.parse(data)?;
        let mut prepared = Vec::with_capacity(rows.len());
        for (line, fields) in rows.into_iter().enumerate() {
            if fields.len() != pending.targets.len() {
                return Err(error(
                    Code::BadCopyFileFormat,
                    format!(
                        "COPY {}, line {}: expected {} columns, got {}",
                        table.name,
                        line + 1,
                        pending.targets.len(),
                        fields.len()
                    ),
                ));
            }
            let mut values: Vec<Option<Json>> = vec![None; table.columns.len()];
            for (field, &index) in fields.into_iter().zip(&pending.targets) {
                let literal = field.map_or(Literal::Null, Literal::String);
                values[index] = Some(table.columns[index].coerce(&literal)?);
            }
            prepared.push(values);
        }
        let inserted = self.stage_inserts(&table, prepared, &OnConflict::Fail, txn).await?;
        Ok(Outcome::Done(format!("COPY {}", inserted.len())))
    }

    /// COPY table or (query) TO STDOUT.
    async fn copy_out(&self, source: CopySource, format: CopyFormat, txn: &mut Txn) -> Result<Outcome> {
        let query = match source {
            CopySource::Query(query) => *query,
            CopySource::Table { table_name, columns } => {
                let table = self.table(&object_name(&table_name)?).await?;
                let projection: Vec<Expr> = if columns.is_empty() {
                    table
                        .columns
                        .iter()
                        .map(|c| Expr::Identifier(ast::Ident::with_quote('"', c.name.clone())))
                        .collect()
                } else {
                    columns.into_iter().map(Expr::Identifier).collect()
                };
                let Statement::Query(query) = shadow_statement(&table, projection, None) else {
                    return Err(error(Code::Internal, "COPY could not build its query"));
                };
                *query
            }
        };
        let Outcome::Rows(rows, _) = self.query(query, txn).await? else {
            return Err(error(Code::Internal, "COPY's query returned no rows"));
        };
        let mut lines = Vec::with_capacity(rows.rows.len());
        for row in &rows.rows {
            let fields: Vec<Option<String>> =
                rows.columns.iter().zip(row).map(|((_, t), v)| types::text_of(*t, v)).collect();
            lines.push(format.format(&fields));
        }
        if format.header {
            // In the first message, so the row count excludes it.
            let names: Vec<Option<String>> = rows.columns.iter().map(|(n, _)| Some(n.clone())).collect();
            let header = format.format(&names);
            match lines.first_mut() {
                Some(first) => first.insert_str(0, &header),
                None => lines.push(header),
            }
        }
        Ok(Outcome::CopyOut { lines, columns: rows.columns.len() })
    }

    /// `count` new row numbers for a table without a primary key.
    async fn next_rowids(&self, table: &Table, count: usize) -> Result<std::ops::RangeInclusive<i64>> {
        let last = self.draw(table.rowid_sequence(), count).await?;
        Ok(last - count as i64 + 1..=last)
    }

    async fn next_serial(&self, table: &Table, column: &Column) -> Result<Json> {
        let value = self.draw(table.sequence_key(&column.name), 1).await?;
        column.coerce(&Literal::Number(value.to_string())).map_err(Into::into)
    }

    /// Advances sequence `key` (a `counter` actor) by `count`; returns its
    /// new value. As in PostgreSQL, a value drawn is not made durable on
    /// its own: a row that uses it commits in a later write, and storage is
    /// durable in write order, so that row's commit makes the draw durable
    /// too. A crash before then may hand out the value again, to a row
    /// that never committed. (Waiting for the draw's own fsync put one
    /// inside every INSERT, under the row locks its transaction held.)
    async fn draw(&self, key: String, count: usize) -> Result<i64> {
        let id = ActorId::new("counter", Bytes::from(key));
        let args = json_bytes(&serde_json::json!({ "by": count }))?;
        let (reply, _durable) = self.gateway.invoke_visible(id, Invocation::new("increment", args)).await?;
        serde_json::from_slice(&reply.value).map_err(|e| error(Code::Internal, e.to_string()))
    }

    async fn update(&self, update: ast::Update, txn: &mut Txn) -> Result<Outcome> {
        if update.from.is_some() {
            return Err(unsupported("UPDATE ... FROM"));
        }
        let table = self.table(&dml_table(&update.table)?).await?;
        let sets = set_targets(&table, &update.assignments)?;
        // Fast path: one row by primary key, expressions Orbit evaluates.
        if let Some(value) = pk_equals(&table, update.selection.as_ref())
            && let Ok(literal) = literal(&value)
        {
            let Some(key) = pk_key(&table, &literal)? else {
                return self.finish_dml(&table, "UPDATE", Vec::new(), update.returning.as_deref());
            };
            self.lock(txn, &table.name, &key).await?;
            let Some(row) = self.current(txn, &table, &key).await? else {
                return self.finish_dml(&table, "UPDATE", Vec::new(), update.returning.as_deref());
            };
            let mut computed = Vec::with_capacity(sets.len());
            for (index, expr) in &sets {
                match expr::eval(expr, &table, &row) {
                    Some(v) => computed.push((*index, v?.literal())),
                    None => break,
                }
            }
            if computed.len() == sets.len() {
                let updated = self.apply_update(txn, &table, key, row, computed).await?;
                return self.finish_dml(&table, "UPDATE", vec![updated], update.returning.as_deref());
            }
        }
        // General path: DataFusion finds the rows and computes the values;
        // the rows are locked first and the values computed again, so they
        // come from rows no one else can change.
        let mut projection = vec![key_expr(&table)];
        projection.extend(sets.iter().map(|(_, e)| e.clone()));
        let rows = self.locked_matches(&table, projection, update.selection.clone(), txn).await?;
        let mut updated = Vec::with_capacity(rows.len());
        for values in rows {
            let key = key_from(&table, &values[0])?;
            let Some(row) = self.current(txn, &table, &key).await? else { continue };
            let computed = sets.iter().zip(&values[1..]).map(|((i, _), v)| (*i, json_literal(v))).collect();
            updated.push(self.apply_update(txn, &table, key, row, computed).await?);
        }
        self.finish_dml(&table, "UPDATE", updated, update.returning.as_deref())
    }

    /// TRUNCATE: every row of every table named is deleted in the
    /// transaction (so it commits or rolls back with it).
    async fn truncate(&self, truncate: ast::Truncate, txn: &mut Txn) -> Result<Outcome> {
        if truncate.partitions.is_some() || truncate.identity == Some(ast::TruncateIdentityOption::Restart) {
            return Err(unsupported("TRUNCATE ... RESTART IDENTITY or PARTITION"));
        }
        let mut tables = Vec::with_capacity(truncate.table_names.len());
        for target in &truncate.table_names {
            let name = object_name(&target.name)?;
            match crate::sql::load_table(self.gateway.as_ref(), &name).await? {
                Some(table) => tables.push(table),
                None if truncate.if_exists => {}
                None => {
                    return Err(error(Code::UndefinedTable, format!("relation \"{name}\" does not exist")));
                }
            }
        }
        for table in tables {
            let mut rows = crate::sql::plan::read_all(self.gateway.as_ref(), &table).await?;
            for (key, staged) in txn.writes.get(&table.name).into_iter().flatten() {
                match staged {
                    Some(row) => rows.insert(key.clone(), row.clone()),
                    None => rows.remove(key),
                };
            }
            for (key, row) in rows {
                self.lock(txn, &table.name, &key).await?;
                self.stage_row(txn, &table, key, Some(&row), None).await?;
            }
        }
        Ok(Outcome::Done("TRUNCATE TABLE".into()))
    }

    /// Stages `row` with `computed` values set; a changed primary key moves
    /// the row. Returns the new row.
    async fn apply_update(
        &self,
        txn: &mut Txn,
        table: &Table,
        key: Vec<u8>,
        mut row: Map<String, Json>,
        computed: Vec<(usize, Literal)>,
    ) -> Result<Map<String, Json>> {
        let old = (!table.indexes.is_empty()).then(|| row.clone());
        for (index, literal) in computed {
            let column = &table.columns[index];
            let value = column.coerce(&literal)?;
            if value.is_null() {
                check_not_null(table, column)?;
                row.remove(&column.name);
            } else {
                row.insert(column.name.clone(), value);
            }
        }
        let new_key = if table.primary_key.is_some() { row_key(table, &row)? } else { key.clone() };
        if new_key != key {
            self.lock(txn, &table.name, &new_key).await?;
            if self.current(txn, table, &new_key).await?.is_some() {
                return Err(duplicate(table, &row));
            }
            self.stage_row(txn, table, key, old.as_ref(), None).await?;
            self.stage_row(txn, table, new_key, None, Some(row.clone())).await?;
        } else {
            self.stage_row(txn, table, new_key, old.as_ref(), Some(row.clone())).await?;
        }
        Ok(row)
    }

    async fn delete(&self, delete: ast::Delete, txn: &mut Txn) -> Result<Outcome> {
        let tables = match &delete.from {
            FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
        };
        if delete.using.is_some() || !delete.tables.is_empty() {
            return Err(unsupported("DELETE ... USING"));
        }
        let [from] = tables.as_slice() else { return Err(unsupported("DELETE from several tables")) };
        let table = self.table(&dml_table(from)?).await?;
        let keys: Vec<Vec<u8>> = match pk_equals(&table, delete.selection.as_ref()).map(|v| literal(&v)) {
            Some(Ok(literal)) => pk_key(&table, &literal)?.into_iter().collect(),
            _ => {
                let rows = self
                    .locked_matches(&table, vec![key_expr(&table)], delete.selection.clone(), txn)
                    .await?;
                rows.iter().map(|r| key_from(&table, &r[0])).collect::<Result<_>>()?
            }
        };
        let mut deleted = Vec::with_capacity(keys.len());
        for key in keys {
            self.lock(txn, &table.name, &key).await?;
            if let Some(row) = self.current(txn, &table, &key).await? {
                self.stage_row(txn, &table, key, Some(&row), None).await?;
                deleted.push(row);
            }
        }
        self.finish_dml(&table, "DELETE", deleted, delete.returning.as_deref())
    }

    /// The rows matching `selection` (`projection` starts with the primary
    /// key), locked: DataFusion finds them, their locks are taken, and the
    /// query runs again until it matches no row it has not locked, so the
    /// values come from rows no one else can change.
    async fn locked_matches(
        &self,
        table: &Table,
        projection: Vec<Expr>,
        selection: Option<Expr>,
        txn: &mut Txn,
    ) -> Result<Vec<Vec<Json>>> {
        let mut locked = std::collections::BTreeSet::new();
        loop {
            let rows = self.shadow_select(table, projection.clone(), selection.clone(), txn).await?;
            let mut fresh = false;
            for row in &rows {
                let key = key_from(table, &row[0])?;
                if locked.insert(key.clone()) {
                    self.lock(txn, &table.name, &key).await?;
                    fresh = true;
                }
            }
            if !fresh {
                return Ok(rows);
            }
        }
    }

    /// `SELECT projection FROM table WHERE selection` through DataFusion,
    /// seeing this transaction's writes.
    async fn shadow_select(
        &self,
        table: &Table,
        projection: Vec<Expr>,
        selection: Option<Expr>,
        txn: &Txn,
    ) -> Result<Vec<Vec<Json>>> {
        let statement = shadow_statement(table, projection, selection);
        let writes = Arc::new(txn.writes.clone());
        let planned = self.planner.plan_keyed(statement, writes).await?;
        Ok(self.planner.run(&planned, Arc::new(txn.writes.clone())).await?.rows)
    }

    /// A DML statement's outcome: its tag and count, or its RETURNING rows.
    fn finish_dml(
        &self,
        table: &Table,
        tag: &str,
        rows: Vec<Map<String, Json>>,
        returning: Option<&[SelectItem]>,
    ) -> Result<Outcome> {
        let Some(items) = returning else {
            return Ok(Outcome::Done(format!("{tag} {}", rows.len())));
        };
        let mut output: Vec<(String, Option<usize>, Option<&Expr>)> = Vec::new();
        for item in items {
            match item {
                SelectItem::Wildcard(_) => {
                    output.extend(
                        table.columns.iter().enumerate().map(|(i, c)| (c.name.clone(), Some(i), None)),
                    );
                }
                SelectItem::UnnamedExpr(expr) => output.push((output_name(expr), None, Some(expr))),
                SelectItem::ExprWithAlias { expr, alias } => output.push((ident(alias), None, Some(expr))),
                other => return Err(unsupported(format_args!("RETURNING {other}"))),
            }
        }
        let mut columns = Vec::with_capacity(output.len());
        let first = rows.first().cloned().unwrap_or_default();
        for (name, index, expr) in &output {
            let sql_type = match (index, expr) {
                (Some(i), _) => table.columns[*i].sql_type,
                (None, Some(expr)) => match expr::eval(expr, table, &first) {
                    Some(Ok(v)) => val_type(&v, expr, table),
                    Some(Err(e)) => return Err(e),
                    None => return Err(unsupported(format_args!("RETURNING {expr}"))),
                },
                (None, None) => SqlType::Text,
            };
            columns.push((name.clone(), sql_type));
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(output.len());
            for ((_, index, expr), (_, sql_type)) in output.iter().zip(&columns) {
                values.push(match (index, expr) {
                    (Some(i), _) => row.get(&table.columns[*i].name).cloned().unwrap_or(Json::Null),
                    (None, Some(expr)) => match expr::eval(expr, table, row) {
                        Some(v) => types::coerce(*sql_type, &v?.literal())?,
                        None => return Err(unsupported(format_args!("RETURNING {expr}"))),
                    },
                    (None, None) => Json::Null,
                });
            }
            out.push(values);
        }
        Ok(Outcome::Rows(Rows { columns, rows: out }, tag.to_string()))
    }
}

/// Whether a statement keeps its query string out of an implicit
/// transaction: it starts or ends transactions itself, waits for the client
/// between its parts (COPY), or is DDL, which acts at once on committed
/// rows and so must see the statements before it committed.
fn runs_alone(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. }
            | Statement::Copy { .. }
            | Statement::CreateTable(_)
            | Statement::CreateIndex(_)
            | Statement::AlterTable(_)
            | Statement::Drop { .. }
    )
}

fn json_bytes(value: &Json) -> Result<Bytes> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|e| error(Code::Internal, e.to_string()))
}

pub(crate) async fn existing_table<G: ActorGateway>(gateway: &G, name: &str) -> Result<Table> {
    crate::sql::load_table(gateway, name)
        .await?
        .ok_or_else(|| error(Code::UndefinedTable, format!("relation \"{name}\" does not exist")))
}

/// The columns an UPDATE's (or ON CONFLICT DO UPDATE's) SET assigns, and
/// their expressions.
fn set_targets(table: &Table, assignments: &[Assignment]) -> Result<Vec<(usize, Expr)>> {
    let mut sets: Vec<(usize, Expr)> = Vec::with_capacity(assignments.len());
    for Assignment { target, value } in assignments {
        let AssignmentTarget::ColumnName(name) = target else {
            return Err(unsupported("a tuple of columns in UPDATE ... SET"));
        };
        let column = object_name(name)?;
        let (index, found) = table.column(&column).ok_or_else(|| {
            error(
                Code::UndefinedColumn,
                format!("column \"{column}\" of relation \"{}\" does not exist", table.name),
            )
        })?;
        if sets.iter().any(|(i, _)| *i == index) {
            return Err(error(
                Code::SyntaxError,
                format!("multiple assignments to same column \"{column}\""),
            ));
        }
        if found.identity == Some(Identity::Always) && !is_default(value) {
            return Err(error(
                Code::GeneratedAlways,
                format!("column \"{column}\" can only be updated to DEFAULT"),
            ));
        }
        sets.push((index, value.clone()));
    }
    Ok(sets)
}

/// Whether an expression is the keyword DEFAULT (a column's default).
fn is_default(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(id) if id.quote_style.is_none() && ident(id) == "default")
}

/// The columns an INSERT fills, in order.
pub(crate) fn insert_targets(table: &Table, columns: &[ObjectName]) -> Result<Vec<usize>> {
    if columns.is_empty() {
        return Ok((0..table.columns.len()).collect());
    }
    let mut targets = Vec::new();
    for column in columns {
        let name = object_name(column)?;
        let (index, _) = table.column(&name).ok_or_else(|| {
            error(
                Code::UndefinedColumn,
                format!("column \"{name}\" of relation \"{}\" does not exist", table.name),
            )
        })?;
        if targets.contains(&index) {
            return Err(error(Code::DuplicateColumn, format!("column \"{name}\" specified more than once")));
        }
        targets.push(index);
    }
    Ok(targets)
}

fn check_not_null(table: &Table, column: &Column) -> Result<()> {
    if column.not_null {
        return Err(error(
            Code::NotNullViolation,
            format!(
                "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                column.name, table.name
            ),
        ));
    }
    Ok(())
}

/// The stored key of a primary-key value: `None` for NULL.
fn pk_key(table: &Table, literal: &Literal) -> Result<Option<Vec<u8>>> {
    let pk =
        table.pk().ok_or_else(|| error(Code::Internal, format!("\"{}\" has no primary key", table.name)))?;
    Ok(types::key_of(&pk.coerce(literal)?))
}

/// The stored key of a row of a table with a primary key.
fn row_key(table: &Table, row: &Map<String, Json>) -> Result<Vec<u8>> {
    let pk =
        table.pk().ok_or_else(|| error(Code::Internal, format!("\"{}\" has no primary key", table.name)))?;
    row.get(&pk.name)
        .and_then(types::key_of)
        .ok_or_else(|| error(Code::Internal, format!("the primary key \"{}\" has no stored form", pk.name)))
}

/// The stored key of a row from the key DataFusion returned for it
/// ([`key_expr`]): the primary key's value, or the hidden key itself.
fn key_from(table: &Table, value: &Json) -> Result<Vec<u8>> {
    match table.pk() {
        Some(pk) => types::key_of(&pk.coerce(&json_literal(value))?)
            .ok_or_else(|| error(Code::Internal, "a row without a primary key")),
        None => value
            .as_str()
            .map(|k| k.as_bytes().to_vec())
            .ok_or_else(|| error(Code::Internal, "a row without a key")),
    }
}

fn json_literal(value: &Json) -> Literal {
    match value {
        Json::Null => Literal::Null,
        Json::Bool(b) => Literal::Bool(*b),
        Json::Number(n) => Literal::Number(n.to_string()),
        Json::String(s) => Literal::String(s.clone()),
        // An array (DataFusion's list) as PostgreSQL's text form.
        Json::Array(items) => Literal::String(crate::sql::types::array::format(SqlType::Text, items)),
        other => Literal::String(other.to_string()),
    }
}

fn duplicate(table: &Table, row: &Map<String, Json>) -> SqlError {
    let Some(pk) = table.pk() else { return error(Code::UniqueViolation, "duplicate key value") };
    let value = row.get(&pk.name).and_then(|v| types::text_of(pk.sql_type, v)).unwrap_or_default();
    error(
        Code::UniqueViolation,
        format!(
            "duplicate key value violates unique constraint \"{}_pkey\" (Key ({})=({value}) already exists.)",
            table.name, pk.name
        ),
    )
}

/// The value `selection` pins the primary key to (`pk = value`).
fn pk_equals(table: &Table, selection: Option<&Expr>) -> Option<Expr> {
    let Some(Expr::BinaryOp { left, op: ast::BinaryOperator::Eq, right }) = selection else { return None };
    let (column, value) = match (left.as_ref(), right.as_ref()) {
        (Expr::Identifier(id), value) if !matches!(value, Expr::Identifier(_)) => (id, value),
        (value, Expr::Identifier(id)) if !matches!(value, Expr::Identifier(_)) => (id, value),
        _ => return None,
    };
    (Some(table.column(&ident(column))?.0) == table.primary_key).then(|| value.clone())
}

/// What identifies a row in a query: its primary key, or the hidden key
/// the planner shows as `ctid` when asked ([`Planner::plan_keyed`]).
fn key_expr(table: &Table) -> Expr {
    let name = table.pk().map_or(crate::sql::plan::ROW_KEY, |pk| pk.name.as_str());
    Expr::Identifier(ast::Ident::with_quote('"', name))
}

/// `SELECT projection FROM "table" WHERE selection`.
pub(crate) fn shadow_statement(table: &Table, projection: Vec<Expr>, selection: Option<Expr>) -> Statement {
    let sql = format!("SELECT 1 FROM \"{}\"", table.name.replace('"', "\"\""));
    let mut statement = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, &sql)
        .ok()
        .and_then(|mut s| s.pop())
        .unwrap_or(Statement::Commit { chain: false, end: false, modifier: None });
    if let Statement::Query(query) = &mut statement
        && let SetExpr::Select(select) = query.body.as_mut()
    {
        select.projection = projection.into_iter().map(SelectItem::UnnamedExpr).collect();
        select.selection = selection;
    }
    statement
}

/// The table an UPDATE or DELETE names (no alias, no joins).
fn dml_table(from: &TableWithJoins) -> Result<String> {
    if !from.joins.is_empty() {
        return Err(unsupported("joins in UPDATE or DELETE"));
    }
    match &from.relation {
        TableFactor::Table { name, alias: None, .. } => object_name(name),
        TableFactor::Table { alias: Some(_), .. } => Err(unsupported("a table alias in UPDATE or DELETE")),
        other => Err(unsupported(format_args!("\"{other}\" in UPDATE or DELETE"))),
    }
}

fn output_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(id) => ident(id),
        _ => "?column?".into(),
    }
}

fn val_type(v: &Val, expr: &Expr, table: &Table) -> SqlType {
    if let Expr::Identifier(id) = expr
        && let Some((_, c)) = table.column(&ident(id))
    {
        return c.sql_type;
    }
    match v {
        Val::Bool(_) => SqlType::Bool,
        Val::Int(_) => SqlType::Int8,
        Val::Float(_) => SqlType::Float8,
        Val::Null | Val::Text(_) => SqlType::Text,
        Val::Typed(t, _) => *t,
    }
}
