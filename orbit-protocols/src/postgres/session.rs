//! One connection's PostgreSQL handlers: the simple and the extended query
//! protocols over the connection's [`Engine`]. Parse types each `$n` (from
//! the column it meets, or as DataFusion infers it) and reports result
//! columns; Execute binds the values into the statement and runs it.

use crate::postgres::Shared;
use crate::postgres::cancel::start_statement;
use crate::postgres::coalesce::Buffered;
use crate::sql::catalog::{self};
use crate::sql::error::Code;
use crate::sql::error::{SqlError, error};
use crate::sql::exec::Cancel;
use crate::sql::exec::{Engine, Outcome};
use crate::sql::parse::{ident, literal_expr, object_name, placeholder};
use crate::sql::types;
use crate::sql::types::{Literal, SqlType};
use async_trait::async_trait;
use bytes::Bytes;
use futures::Sink;
use futures::SinkExt;
use futures::stream;
use orbit_shared::ActorGateway;
use pgwire::api::DEFAULT_NAME;
use pgwire::api::Type;
use pgwire::api::copy::CopyHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    CopyResponse, DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::extendedquery::{
    Bind, BindComplete, Close, CloseComplete, Describe, Execute, Parse, ParseComplete,
    TARGET_TYPE_BYTE_PORTAL, TARGET_TYPE_BYTE_STATEMENT,
};
use pgwire::types::format::FormatOptions;
use serde_json::Value as Json;
use sqlparser::ast::{self, Expr, SelectItem, SetExpr, Statement, TableObject, Value};
use std::sync::Arc;

type Result<T> = std::result::Result<T, SqlError>;

pub(crate) struct Session<G> {
    pub shared: Arc<Shared<G>>,
    pub engine: Engine<G>,
    parser: Arc<PgParser<G>>,
    /// A COPY FROM STDIN in progress, the data received so far, and the
    /// cancel signal of the statement that started it.
    copying: std::sync::Mutex<Option<(crate::sql::exec::PendingCopy, Vec<u8>, Cancel)>>,
}

impl<G: ActorGateway> Session<G> {
    pub fn new(shared: Arc<Shared<G>>, mailbox: Arc<crate::sql::exec::notify::Mailbox>) -> Arc<Self> {
        let engine = shared.sql.engine(shared.gateway.clone()).with_mailbox(mailbox);
        Arc::new_cyclic(|me| Session {
            shared,
            engine,
            parser: Arc::new(PgParser { session: me.clone() }),
            copying: std::sync::Mutex::new(None),
        })
    }
}

impl<G: ActorGateway> Session<G> {
    /// A statement's outcome as a pgwire response; rows in `formats`.
    fn respond(&self, outcome: Outcome, formats: &Format) -> Result<Response> {
        match outcome {
            Outcome::CopyIn(pending) => {
                let columns = pending.targets.len();
                *self.copying.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((pending, Vec::new(), Cancel::never()));
                Ok(Response::CopyIn(CopyResponse::new(0, columns, stream::empty())))
            }
            Outcome::CopyOut { lines, columns } => {
                let data = lines.into_iter().map(|line| Ok(CopyData::new(Bytes::from(line))));
                Ok(Response::CopyOut(CopyResponse::new(0, columns, stream::iter(data.collect::<Vec<_>>()))))
            }
            other => encode_outcome(other, formats),
        }
    }

    /// Keeps a statement's cancel signal while the COPY FROM STDIN it
    /// started waits for its data: a cancel sent meanwhile fails the COPY
    /// at CopyDone, and one sent while the rows are stored stops it.
    fn hold_for_copy(&self, cancel: Cancel) {
        let mut copying = self.copying.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, held)) = copying.as_mut() {
            *held = cancel;
        }
    }
}

#[async_trait]
impl<G: ActorGateway> CopyHandler for Session<G> {
    async fn on_copy_data<C>(&self, _client: &mut C, data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let mut copying = self.copying.lock().unwrap_or_else(|e| e.into_inner());
        match copying.as_mut() {
            Some((_, buffer, _)) => {
                buffer.extend_from_slice(&data.data);
                Ok(())
            }
            None => Err(user_error(error(Code::ProtocolViolation, "CopyData without a COPY in progress"))),
        }
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        let taken = self.copying.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some((pending, data, mut cancel)) = taken else {
            return Err(user_error(error(Code::ProtocolViolation, "CopyDone without a COPY in progress")));
        };
        let rows = self.engine.copy_in(pending, data, &mut cancel).await.map_err(user_error)?;
        let tag = Tag::new("COPY").with_rows(rows as usize);
        client.send(PgWireBackendMessage::CommandComplete(tag.into())).await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, _client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + futures::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        self.copying.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.engine.fail_block();
        user_error(error(Code::QueryCanceled, format!("COPY from stdin failed: {}", fail.message)))
    }
}

/// A statement's outcome other than COPY as a pgwire response; rows in
/// `formats`.
fn encode_outcome(outcome: Outcome, formats: &Format) -> Result<Response> {
    Ok(match outcome {
        Outcome::Rows(rows, tag) => {
            let fields = Arc::new(field_infos(&rows.columns, formats));
            let mut encoder = DataRowEncoder::new(fields.clone());
            let mut data = Vec::with_capacity(rows.rows.len());
            for row in rows.rows {
                for (j, ((_, sql_type), value)) in rows.columns.iter().zip(&row).enumerate() {
                    if formats.format_for(j) == FieldFormat::Text {
                        // PostgreSQL's text output (floats, booleans as t/f,
                        // arrays as `{...}`), written as it is: pgwire would
                        // quote a string sent for an array column.
                        let text = types::text_of(*sql_type, value);
                        encoder
                            .encode_field_with_type_and_format(
                                &text,
                                &Type::TEXT,
                                FieldFormat::Text,
                                &FormatOptions::default(),
                            )
                            .map_err(|e| error(Code::Internal, e.to_string()))?;
                    } else {
                        encode(&mut encoder, *sql_type, Some(value))?;
                    }
                }
                data.push(Ok(encoder.take_row()));
            }
            let mut response = QueryResponse::new(fields, stream::iter(data));
            response.set_command_tag(&tag);
            Response::Query(response)
        }
        Outcome::Done(tag) => Response::Execution(Tag::new(&tag)),
        Outcome::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Outcome::End(tag) => Response::TransactionEnd(Tag::new(tag)),
        Outcome::CopyIn(_) | Outcome::CopyOut { .. } => {
            return Err(error(Code::Internal, "COPY reached the row encoder"));
        }
    })
}

fn user_error(e: SqlError) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".to_string(), e.code.to_string(), e.message)))
}

/// A prepared statement: what Parse produced, with the parameter types and
/// result columns Describe reports.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    statement: Statement,
    params: Vec<SqlType>,
    columns: Vec<(String, SqlType)>,
    /// A point query by a parameter: Execute runs it without the statement.
    point: Option<Arc<crate::sql::exec::point::PointQuery>>,
}

/// Parses and describes statements for the extended protocol.
pub(crate) struct PgParser<G> {
    /// The connection's session (which owns this parser).
    session: std::sync::Weak<Session<G>>,
}

/// Records that `$n` has `sql_type` (the first type found wins).
fn note_param(params: &mut Vec<Option<SqlType>>, n: usize, sql_type: SqlType) -> Result<()> {
    if n > 65_535 {
        return Err(error(Code::UndefinedParameter, format!("there is no parameter ${n}")));
    }
    if params.len() < n {
        params.resize(n, None);
    }
    if params[n - 1].is_none() {
        params[n - 1] = Some(sql_type);
    }
    Ok(())
}

impl<G: ActorGateway> Session<G> {
    /// A statement with its parameter types and result columns.
    async fn describe(&self, statement: Statement) -> Result<Prepared> {
        let mut params: Vec<Option<SqlType>> = Vec::new();
        let mut columns = Vec::new();
        let mut point = None;
        match &statement {
            Statement::Insert(insert) => {
                let TableObject::TableName(name) = &insert.table else {
                    return Err(crate::sql::error::unsupported(format_args!("INSERT INTO {}", insert.table)));
                };
                let table = self.engine.current_table(&object_name(name)?).await?;
                let targets = crate::sql::exec::dml::insert_targets(&table, &insert.columns)?;
                if let Some(SetExpr::Values(values)) = insert.source.as_ref().map(|s| s.body.as_ref()) {
                    for row in &values.rows {
                        for (expr, &index) in row.iter().zip(&targets) {
                            if let Some(n) = placeholder(expr) {
                                note_param(&mut params, n, table.columns[index].sql_type)?;
                            }
                        }
                    }
                }
                if let Some(ast::OnInsert::OnConflict(ast::OnConflict {
                    action: ast::OnConflictAction::DoUpdate(update),
                    ..
                })) = &insert.on
                {
                    for assignment in &update.assignments {
                        if let (ast::AssignmentTarget::ColumnName(column), Some(n)) =
                            (&assignment.target, placeholder(&assignment.value))
                            && let Some((_, c)) = table.column(&object_name(column)?)
                        {
                            note_param(&mut params, n, c.sql_type)?;
                        }
                    }
                }
                columns = returning_columns(&table, insert.returning.as_deref())?;
            }
            Statement::Explain { .. } => columns = vec![("QUERY PLAN".into(), SqlType::Text)],
            Statement::Update(update) => {
                let from = &update.table;
                let name = match &from.relation {
                    ast::TableFactor::Table { name, .. } => object_name(name)?,
                    other => return Err(crate::sql::error::unsupported(format_args!("UPDATE {other}"))),
                };
                let table = self.engine.current_table(&name).await?;
                let mut projection = Vec::new();
                for assignment in &update.assignments {
                    if let (ast::AssignmentTarget::ColumnName(column), Some(n)) =
                        (&assignment.target, placeholder(&assignment.value))
                        && let Some((_, c)) = table.column(&object_name(column)?)
                    {
                        note_param(&mut params, n, c.sql_type)?;
                    }
                    projection.push(assignment.value.clone());
                }
                self.infer(&table, projection, update.selection.clone(), &mut params).await?;
                columns = returning_columns(&table, update.returning.as_deref())?;
            }
            Statement::Delete(delete) => {
                let from = match &delete.from {
                    ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
                };
                let Some(ast::TableFactor::Table { name, .. }) = from.first().map(|f| &f.relation) else {
                    return Err(crate::sql::error::unsupported("this DELETE"));
                };
                let table = self.engine.current_table(&object_name(name)?).await?;
                self.infer(&table, Vec::new(), delete.selection.clone(), &mut params).await?;
                columns = returning_columns(&table, delete.returning.as_deref())?;
            }
            Statement::Query(query) if crate::sql::exec::notify::pg_notify_calls(query).is_some() => {
                for args in crate::sql::exec::notify::pg_notify_calls(query).into_iter().flatten() {
                    for n in args.iter().filter_map(placeholder) {
                        note_param(&mut params, n, SqlType::Text)?;
                    }
                    columns.push(("pg_notify".to_string(), SqlType::Text));
                }
            }
            Statement::Query(query) => match self.engine.point_query(query).await? {
                Some(query) => {
                    columns = query.columns();
                    if let (Some(n), Some(pk)) = (placeholder(&query.key), query.table.pk()) {
                        note_param(&mut params, n, pk.sql_type)?;
                        point = Some(Arc::new(query));
                    }
                }
                None => {
                    let planned = self.engine.plan_query(statement.clone()).await?;
                    for (i, t) in planned.params.iter().enumerate() {
                        note_param(&mut params, i + 1, *t)?;
                    }
                    columns = planned.columns;
                }
            },
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(|i| i.value.to_lowercase()).collect::<Vec<_>>().join(" ");
                columns = if name == "all" {
                    vec![("name".into(), SqlType::Text), ("setting".into(), SqlType::Text)]
                } else {
                    vec![(name, SqlType::Text)]
                };
            }
            _ => {}
        }
        // A parameter used nowhere Orbit can type is text, as PostgreSQL's unknown.
        let params = params.into_iter().map(|t| t.unwrap_or(SqlType::Text)).collect();
        Ok(Prepared { statement, params, columns, point })
    }

    /// Types the parameters of `SELECT projection FROM table WHERE selection`
    /// as DataFusion infers them.
    async fn infer(
        &self,
        table: &catalog::Table,
        mut projection: Vec<Expr>,
        selection: Option<Expr>,
        params: &mut Vec<Option<SqlType>>,
    ) -> Result<()> {
        projection.insert(0, Expr::value(Value::Number("1".into(), false)));
        let statement = crate::sql::exec::dml::shadow_statement(table, projection, selection);
        let planned = self.engine.plan_query(statement).await?;
        for (i, t) in planned.params.iter().enumerate() {
            // DataFusion leaves untyped parameters as text; a column's type wins.
            if *t != SqlType::Text || params.get(i).is_none_or(Option::is_none) {
                note_param(params, i + 1, *t)?;
            }
        }
        Ok(())
    }
}

/// The columns RETURNING sends: columns of the table (by name or `*`).
fn returning_columns(table: &catalog::Table, items: Option<&[SelectItem]>) -> Result<Vec<(String, SqlType)>> {
    let mut columns = Vec::new();
    for item in items.unwrap_or_default() {
        let (expr, name) = match item {
            SelectItem::Wildcard(_) => {
                columns.extend(table.columns.iter().map(|c| (c.name.clone(), c.sql_type)));
                continue;
            }
            SelectItem::UnnamedExpr(expr) => (expr, None),
            SelectItem::ExprWithAlias { expr, alias } => (expr, Some(ident(alias))),
            other => return Err(crate::sql::error::unsupported(format_args!("RETURNING {other}"))),
        };
        let id = match expr {
            Expr::Identifier(id) => id,
            // `table.column` (or `alias.column`)
            Expr::CompoundIdentifier(parts) if parts.len() == 2 => &parts[1],
            _ => {
                return Err(crate::sql::error::unsupported(
                    "RETURNING expressions other than columns in a prepared statement",
                ));
            }
        };
        let column_name = ident(id);
        let (_, column) = table.column(&column_name).ok_or_else(|| {
            error(Code::UndefinedColumn, format!("column \"{column_name}\" does not exist"))
        })?;
        columns.push((name.unwrap_or(column_name), column.sql_type));
    }
    Ok(columns)
}

#[async_trait]
impl<G: ActorGateway> QueryParser for PgParser<G> {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        text: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let session = self
            .session
            .upgrade()
            .ok_or_else(|| user_error(error(Code::ConnectionFailure, "the connection is closing")))?;
        let parsed = async {
            let mut statements = crate::sql::parse::parse(text)?;
            if statements.len() > 1 {
                return Err(error(
                    Code::SyntaxError,
                    "cannot insert multiple commands into a prepared statement",
                ));
            }
            let Some(statement) = statements.pop() else { return Ok(None) };
            Ok(Some(session.describe(statement).await?))
        };
        parsed.await.map_err(|e| {
            session.engine.fail_block();
            user_error(e)
        })
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt.params.iter().map(|t| t.pg()).collect())
    }

    fn get_result_schema(&self, stmt: &Prepared, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        Ok(field_infos(&stmt.columns, format.unwrap_or(&Format::UnifiedText)))
    }
}

#[async_trait]
impl<G: ActorGateway> ExtendedQueryHandler for Session<G> {
    type Statement = Prepared;
    type QueryParser = PgParser<G>;

    fn query_parser(&self) -> Arc<PgParser<G>> {
        self.parser.clone()
    }

    // Parse, Bind, Describe, Execute and Close reply into the buffer; Sync
    // writes it out (see `coalesce`).

    async fn on_parse<C>(&self, client: &mut C, message: Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match StoredStatement::parse(client, &message, self.query_parser()).await? {
            Some(statement) => client.portal_store().put_statement(Arc::new(statement)),
            None => {
                client.portal_store().put_empty_statement(message.name.as_deref().unwrap_or(DEFAULT_NAME))
            }
        }
        client.feed(PgWireBackendMessage::ParseComplete(ParseComplete::new())).await?;
        Ok(())
    }

    async fn on_bind<C>(&self, client: &mut C, message: Bind) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.statement_name.as_deref().unwrap_or(DEFAULT_NAME);
        match client.portal_store().get_statement(name) {
            Some(Entry::Value(statement)) => {
                let portal = Portal::try_new(&message, statement)?;
                client.portal_store().put_portal(Arc::new(portal));
            }
            // An empty query binds with no parameters, as in PostgreSQL.
            Some(Entry::Empty) if message.parameters.is_empty() => {
                client
                    .portal_store()
                    .put_empty_portal(message.portal_name.as_deref().unwrap_or(DEFAULT_NAME));
            }
            Some(Entry::Empty) => {
                return Err(user_error(error(
                    Code::ProtocolViolation,
                    format!(
                        "bind message supplies {} parameters, but prepared statement \"{}\" requires 0",
                        message.parameters.len(),
                        message.statement_name.as_deref().unwrap_or_default()
                    ),
                )));
            }
            None => return Err(PgWireError::StatementNotFound(name.to_owned())),
        }
        client.feed(PgWireBackendMessage::BindComplete(BindComplete::new())).await?;
        Ok(())
    }

    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self._on_describe(&mut Buffered(client), message).await
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self._on_execute(&mut Buffered(client), message).await?;
        // COPY FROM STDIN: the client sends its data only once it has the
        // CopyInResponse.
        if matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            client.flush().await?;
        }
        Ok(())
    }

    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        match message.target_type {
            TARGET_TYPE_BYTE_STATEMENT => client.portal_store().rm_statement(name),
            TARGET_TYPE_BYTE_PORTAL => client.portal_store().rm_portal(name),
            _ => {}
        }
        client.feed(PgWireBackendMessage::CloseComplete(CloseComplete::new())).await?;
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo
            + ClientPortalStore
            + futures::Sink<pgwire::messages::PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Prepared>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let stored = &portal.statement;
        let prepared = &stored.statement;
        let mut bound = Vec::with_capacity(portal.parameter_len());
        for index in 0..portal.parameter_len() {
            let declared = stored.parameter_types.get(index).cloned().flatten();
            let pg_type =
                declared.unwrap_or_else(|| prepared.params.get(index).map_or(Type::TEXT, |t| t.pg()));
            match parameter(portal, index, &pg_type) {
                Ok(literal) => bound.push(literal),
                Err(e) => {
                    self.engine.fail_block();
                    return Err(e);
                }
            }
        }
        // A point query reads its row at once: no statement to rewrite,
        // and nothing slow enough to cancel.
        if let Some(point) = &prepared.point
            && let Some(key) = placeholder(&point.key).and_then(|n| bound.get(n - 1))
            && let Some(outcome) = self.engine.execute_point(point, key.clone(), &mut Cancel::never()).await
        {
            let outcome = outcome.map_err(user_error)?;
            return self.respond(outcome, &portal.result_column_format).map_err(user_error);
        }
        let mut statement = prepared.statement.clone();
        let mut missing = None;
        let _ = ast::visit_expressions_mut(&mut statement, |expr| {
            if let Some(n) = placeholder(expr) {
                match bound.get(n - 1).cloned() {
                    Some(literal) => *expr = literal_expr(literal),
                    None => missing = Some(n),
                }
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        if let Some(n) = missing {
            self.engine.fail_block();
            return Err(user_error(error(
                Code::ProtocolViolation,
                format!("no value bound for parameter ${n}"),
            )));
        }
        let mut cancel = start_statement(&*client).await;
        let outcome = self.engine.execute(statement, &mut cancel).await.map_err(user_error)?;
        let response = self.respond(outcome, &portal.result_column_format).map_err(user_error)?;
        self.hold_for_copy(cancel);
        Ok(response)
    }
}

#[async_trait]
impl<G: ActorGateway> SimpleQueryHandler for Session<G> {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo
            + ClientPortalStore
            + futures::Sink<pgwire::messages::PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let error_response = |e: SqlError| {
            Response::Error(Box::new(ErrorInfo::new("ERROR".to_string(), e.code.to_string(), e.message)))
        };
        let statements = match crate::sql::parse::parse(query) {
            Ok(statements) => statements,
            Err(e) => {
                self.engine.fail_block();
                return Ok(vec![error_response(e)]);
            }
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        // Several statements in one query are one implicit transaction; a
        // cancel fails the one running.
        let mut cancel = start_statement(&*client).await;
        let mut responses = Vec::with_capacity(statements.len());
        for outcome in self.engine.execute_batch(statements, &mut cancel).await {
            match outcome.and_then(|o| self.respond(o, &Format::UnifiedText)) {
                Ok(response) => responses.push(response),
                Err(e) => {
                    responses.push(error_response(e));
                    break; // PostgreSQL stops at the first error
                }
            }
        }
        self.hold_for_copy(cancel);
        Ok(responses)
    }
}

/// Result columns in the client's formats.
fn field_infos(columns: &[(String, SqlType)], formats: &Format) -> Vec<FieldInfo> {
    columns
        .iter()
        .enumerate()
        .map(|(i, (name, t))| FieldInfo::new(name.clone(), None, None, t.pg(), formats.format_for(i)))
        .collect()
}

/// One stored value in its type's binary format (text results are
/// written from `types::text_of`).
fn encode(encoder: &mut DataRowEncoder, sql_type: SqlType, value: Option<&Json>) -> Result<()> {
    let bytes = value
        .filter(|v| !v.is_null())
        .map(|v| {
            crate::postgres::binary::encode(sql_type, v).ok_or_else(|| {
                error(Code::Internal, format!("a stored value is not of type {}", sql_type.name()))
            })
        })
        .transpose()?;
    // `Vec<u8>` writes its bytes as they are, whatever the field's type.
    encoder.encode_field(&bytes).map_err(|e| error(Code::Internal, e.to_string()))
}

/// A bound parameter as a literal, decoded by its type (the client's, or
/// the one Orbit deduced), in text or binary (`crate::postgres::binary`).
fn parameter<S: Clone>(portal: &Portal<S>, index: usize, pg_type: &Type) -> PgWireResult<Literal> {
    if portal.parameter_format.is_binary(index)
        && let Some(sql_type) = crate::postgres::binary::wire_type(pg_type)
    {
        return match raw_parameter(portal, index)? {
            None => Ok(Literal::Null),
            Some((bytes, _)) => crate::postgres::binary::decode(sql_type, bytes)
                .map_err(|bad| user_error(error(bad.code, bad.message))),
        };
    }
    // In text from here on (and `json` in binary: it has no Orbit type).
    let number = |n: Option<String>| n.map_or(Literal::Null, Literal::Number);
    let text = |t: Option<String>| t.map_or(Literal::Null, Literal::String);
    Ok(match *pg_type {
        Type::BOOL => portal.parameter::<bool>(index, pg_type)?.map_or(Literal::Null, Literal::Bool),
        Type::INT2 => number(portal.parameter::<i16>(index, pg_type)?.map(|n| n.to_string())),
        Type::INT4 => number(portal.parameter::<i32>(index, pg_type)?.map(|n| n.to_string())),
        Type::INT8 => number(portal.parameter::<i64>(index, pg_type)?.map(|n| n.to_string())),
        Type::FLOAT4 => number(portal.parameter::<f32>(index, pg_type)?.map(|n| n.to_string())),
        Type::FLOAT8 => number(portal.parameter::<f64>(index, pg_type)?.map(|n| n.to_string())),
        Type::DATE => text(portal.parameter::<chrono::NaiveDate>(index, pg_type)?.map(|d| d.to_string())),
        Type::TIMESTAMP => text(
            portal
                .parameter::<chrono::NaiveDateTime>(index, pg_type)?
                .map(|t| types::time::show_timestamp(&t)),
        ),
        Type::TIMESTAMPTZ => text(
            portal
                .parameter::<chrono::DateTime<chrono::FixedOffset>>(index, pg_type)?
                .map(|t| types::time::show_timestamptz(&t.to_utc())),
        ),
        Type::JSONB | Type::JSON => text(
            portal
                .parameter::<serde_json::Value>(index, pg_type)?
                .map(|v| crate::sql::types::jsonb::canonical(&v)),
        ),
        Type::UUID => match raw_parameter(portal, index)? {
            None => Literal::Null,
            Some((bytes, _)) => {
                let text = String::from_utf8_lossy(bytes);
                let uuid = crate::sql::types::uuid::canonical(&text).ok_or_else(|| {
                    user_error(error(
                        Code::InvalidTextRepresentation,
                        crate::sql::types::uuid::bad_input_message(&text),
                    ))
                })?;
                Literal::String(uuid)
            }
        },
        Type::BYTEA => match raw_parameter(portal, index)? {
            None => Literal::Null,
            Some((bytes, _)) => {
                let hex = crate::sql::types::bytea::canonical(&String::from_utf8_lossy(bytes))
                    .map_err(|bad| user_error(error(bad.code, bad.message)))?;
                Literal::String(hex)
            }
        },
        Type::NUMERIC => match raw_parameter(portal, index)? {
            None => Literal::Null,
            Some((bytes, _)) => {
                let exact = crate::sql::types::numeric::canonical(&String::from_utf8_lossy(bytes))
                    .map_err(|bad| user_error(error(bad.code, bad.message)))?;
                Literal::Number(exact)
            }
        },
        _ => portal.parameter::<String>(index, &Type::TEXT)?.map_or(Literal::Null, Literal::String),
    })
}

/// A parameter's bytes as the client sent them, and whether in binary;
/// `None` for NULL.
fn raw_parameter<S>(portal: &Portal<S>, index: usize) -> PgWireResult<Option<(&[u8], bool)>> {
    let value = portal.parameters.get(index).ok_or(PgWireError::ParameterIndexOutOfBound(index))?;
    Ok(value.as_deref().map(|bytes| (bytes, portal.parameter_format.is_binary(index))))
}
