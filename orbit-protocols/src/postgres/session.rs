//! One connection's SQL, in the simple and the extended query protocols.
//! Statements run one at a time, each committed on its own (no
//! transactions yet); a simple query stops at its first error, as
//! PostgreSQL's does. In the extended protocol, Parse types each `$n` from
//! the column it meets, and Execute binds the values into the statement.
//!
//! Runs today: CREATE TABLE [IF NOT EXISTS] (one-column primary key; types
//! of `catalog::SqlType`; NOT NULL, DEFAULT constants, SERIAL/BIGSERIAL),
//! DROP TABLE [IF EXISTS], INSERT ... VALUES (several rows), and SELECT of
//! columns or `*` from one table WHERE its primary key = a constant or
//! parameter.

use super::Shared;
use super::catalog::{self, Column, Literal, SqlType, Table};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream;
use orbit_shared::{ActorGateway, ActorId, Invocation};
use pgwire::api::Type;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::{ClientInfo, ClientPortalStore};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use serde_json::{Map, Value as Json};
use sqlparser::ast::{
    self, ColumnOption, DataType, Expr, ObjectName, ObjectType, SelectItem, SetExpr, Statement,
    TableConstraint, TableFactor, TableObject, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use std::sync::Arc;

pub(crate) struct Session<G> {
    pub shared: Arc<Shared<G>>,
    parser: Arc<PgParser<G>>,
}

/// A statement's failure: SQLSTATE and message.
#[derive(Debug)]
struct SqlError {
    code: &'static str,
    message: String,
}

type Result<T> = std::result::Result<T, SqlError>;

fn error(code: &'static str, message: impl Into<String>) -> SqlError {
    SqlError { code, message: message.into() }
}

fn unsupported(what: impl std::fmt::Display) -> SqlError {
    error("0A000", format!("{what} is not supported by Orbit yet"))
}

impl From<catalog::ValueError> for SqlError {
    fn from(e: catalog::ValueError) -> Self {
        SqlError { code: e.code, message: e.message }
    }
}

impl From<orbit_shared::Error> for SqlError {
    fn from(e: orbit_shared::Error) -> Self {
        error("XX000", format!("actor call failed: {e}"))
    }
}

impl<G: ActorGateway> Session<G> {
    pub fn new(shared: Arc<Shared<G>>) -> Arc<Self> {
        Arc::new_cyclic(|me| Session { shared, parser: Arc::new(PgParser { session: me.clone() }) })
    }

    async fn execute(&self, statement: Statement) -> Result<Response> {
        match statement {
            Statement::CreateTable(create) => self.create_table(create).await,
            Statement::Drop { object_type: ObjectType::Table, if_exists, names, .. } => {
                self.drop_tables(&names, if_exists).await
            }
            Statement::Insert(insert) => self.insert(insert).await,
            Statement::Query(query) => self.select(*query, &Format::UnifiedText).await,
            other => Err(unsupported(format_args!("the statement \"{}\"", first_words(&other.to_string())))),
        }
    }

    async fn table(&self, name: &str) -> Result<Option<Table>> {
        let id = ActorId::new(super::CATALOG_KIND, Bytes::copy_from_slice(name.as_bytes()));
        let reply = self.shared.gateway.invoke(id, Invocation::new("get", Bytes::new())).await?;
        let table: Option<Table> = serde_json::from_slice(&reply.value)
            .map_err(|e| error("XX000", format!("the catalog entry of \"{name}\" is unreadable: {e}")))?;
        Ok(table)
    }

    async fn existing_table(&self, name: &str) -> Result<Table> {
        self.table(name).await?.ok_or_else(|| error("42P01", format!("relation \"{name}\" does not exist")))
    }

    async fn create_table(&self, create: ast::CreateTable) -> Result<Response> {
        let name = object_name(&create.name)?;
        let mut columns: Vec<Column> = Vec::new();
        let mut primary_key = None;
        for def in &create.columns {
            let column_name = ident(&def.name);
            if columns.iter().any(|c| c.name == column_name) {
                return Err(error("42701", format!("column \"{column_name}\" specified more than once")));
            }
            let (sql_type, serial) = sql_type(&def.data_type)?;
            let mut column = Column { name: column_name, sql_type, not_null: serial, default: None, serial };
            for option in &def.options {
                match &option.option {
                    ColumnOption::NotNull => column.not_null = true,
                    ColumnOption::Null => column.not_null = false,
                    ColumnOption::PrimaryKey(_) => {
                        if primary_key.replace(columns.len()).is_some() {
                            return Err(error(
                                "42P16",
                                format!("multiple primary keys for table \"{name}\" are not allowed"),
                            ));
                        }
                        column.not_null = true;
                    }
                    ColumnOption::Default(expr) => {
                        let value = catalog::coerce(sql_type, &literal(expr)?)?;
                        column.default = (!value.is_null()).then_some(value);
                    }
                    other => return Err(unsupported(format_args!("the column option \"{other}\""))),
                }
            }
            columns.push(column);
        }
        for constraint in &create.constraints {
            match constraint {
                TableConstraint::PrimaryKey(pk) => {
                    let [column] = pk.columns.as_slice() else {
                        return Err(unsupported("a primary key of several columns"));
                    };
                    let column_name = match &column.column.expr {
                        Expr::Identifier(id) => ident(id),
                        other => return Err(unsupported(format_args!("the primary key \"{other}\""))),
                    };
                    let Some(index) = columns.iter().position(|c| c.name == column_name) else {
                        return Err(error(
                            "42703",
                            format!("column \"{column_name}\" named in key does not exist"),
                        ));
                    };
                    if primary_key.replace(index).is_some() {
                        return Err(error(
                            "42P16",
                            format!("multiple primary keys for table \"{name}\" are not allowed"),
                        ));
                    }
                    columns[index].not_null = true;
                }
                other => return Err(unsupported(format_args!("the table constraint \"{other}\""))),
            }
        }
        let Some(primary_key) = primary_key else {
            return Err(unsupported("a table without a primary key"));
        };
        let table = Table { name: name.clone(), columns, primary_key };
        let row = serde_json::to_value(&table).map_err(|e| error("XX000", e.to_string()))?;
        let args = serde_json::to_vec(&serde_json::json!({ "row": row }))
            .map_err(|e| error("XX000", e.to_string()))?;
        let id = ActorId::new(super::CATALOG_KIND, Bytes::copy_from_slice(name.as_bytes()));
        let reply = self.shared.gateway.invoke(id, Invocation::new("insert", args)).await?;
        if reply.value.as_ref() != b"true" {
            if create.if_not_exists {
                return Ok(Response::Execution(Tag::new("CREATE TABLE")));
            }
            return Err(error("42P07", format!("relation \"{name}\" already exists")));
        }
        Ok(Response::Execution(Tag::new("CREATE TABLE")))
    }

    async fn drop_tables(&self, names: &[ObjectName], if_exists: bool) -> Result<Response> {
        let mut tables = Vec::new();
        for name in names {
            let name = object_name(name)?;
            match self.table(&name).await? {
                Some(table) => tables.push(table),
                None if if_exists => {}
                None => return Err(error("42P01", format!("table \"{name}\" does not exist"))),
            }
        }
        for table in tables {
            // Rows first, so a crash part-way leaves a table that can be dropped again.
            let kind = table.row_kind();
            loop {
                let page = self.shared.gateway.list_actors(&kind, None, 1000).await?;
                if page.actors.is_empty() {
                    break;
                }
                for actor in page.actors {
                    let id = ActorId::new(kind.clone(), actor.key);
                    self.shared.gateway.invoke(id, Invocation::new("delete", Bytes::new())).await?;
                }
            }
            let id = ActorId::new(super::CATALOG_KIND, Bytes::copy_from_slice(table.name.as_bytes()));
            self.shared.gateway.invoke(id, Invocation::new("delete", Bytes::new())).await?;
        }
        Ok(Response::Execution(Tag::new("DROP TABLE")))
    }

    async fn insert(&self, insert: ast::Insert) -> Result<Response> {
        if insert.returning.is_some() {
            return Err(unsupported("INSERT ... RETURNING"));
        }
        if insert.on.is_some() {
            return Err(unsupported("INSERT ... ON CONFLICT"));
        }
        let name = match &insert.table {
            TableObject::TableName(name) => object_name(name)?,
            other => return Err(unsupported(format_args!("INSERT INTO {other}"))),
        };
        let table = self.existing_table(&name).await?;
        let targets: Vec<usize> = if insert.columns.is_empty() {
            (0..table.columns.len()).collect()
        } else {
            let mut targets = Vec::new();
            for column in &insert.columns {
                let column_name = object_name(column)?;
                let (index, _) = table.column(&column_name).ok_or_else(|| {
                    error("42703", format!("column \"{column_name}\" of relation \"{name}\" does not exist"))
                })?;
                if targets.contains(&index) {
                    return Err(error("42701", format!("column \"{column_name}\" specified more than once")));
                }
                targets.push(index);
            }
            targets
        };
        let rows = match insert.source.as_deref().map(|q| q.body.as_ref()) {
            Some(SetExpr::Values(values)) => &values.rows,
            _ => return Err(unsupported("INSERT without VALUES")),
        };
        // Check every row before writing any.
        let mut prepared = Vec::with_capacity(rows.len());
        for exprs in rows {
            if exprs.len() > targets.len() {
                return Err(error("42601", "INSERT has more expressions than target columns"));
            }
            // Without a column list, the values fill the first columns and
            // the rest take their defaults, as in PostgreSQL.
            if exprs.len() < targets.len() && !insert.columns.is_empty() {
                return Err(error("42601", "INSERT has more target columns than expressions"));
            }
            let mut values: Vec<Option<Json>> = vec![None; table.columns.len()];
            for (expr, &index) in exprs.iter().zip(&targets) {
                let column = &table.columns[index];
                values[index] = match expr {
                    // DEFAULT: filled below like an omitted column.
                    Expr::Identifier(id) if ident(id) == "default" && id.quote_style.is_none() => None,
                    expr => Some(catalog::coerce(column.sql_type, &literal(expr)?)?),
                };
            }
            prepared.push(values);
        }
        // Complete and check every row before writing any.
        let pk = table.pk();
        let mut complete = Vec::with_capacity(prepared.len());
        for values in prepared {
            let mut row = Map::new();
            for (column, value) in table.columns.iter().zip(values) {
                // An explicit value (NULL included) as given; an omitted
                // column or DEFAULT takes the column's default.
                let value = match value {
                    Some(v) => v,
                    None if column.serial => self.next_serial(&table, column).await?,
                    None => column.default.clone().unwrap_or(Json::Null),
                };
                if value.is_null() {
                    if column.not_null {
                        return Err(error(
                            "23502",
                            format!(
                                "null value in column \"{}\" of relation \"{name}\" violates not-null constraint",
                                column.name
                            ),
                        ));
                    }
                    continue;
                }
                row.insert(column.name.clone(), value);
            }
            let key = row.get(&pk.name).and_then(catalog::key_of).ok_or_else(|| {
                error("XX000", format!("the primary key \"{}\" has no stored form", pk.name))
            })?;
            if complete.iter().any(|(k, _)| *k == key) {
                return Err(duplicate(&name, pk, &row));
            }
            complete.push((key, row));
        }
        // Write; a row that exists undoes the rows this statement wrote
        // (statement atomicity; not crash-atomic until transactions exist).
        let mut written: Vec<Vec<u8>> = Vec::with_capacity(complete.len());
        for (key, row) in &complete {
            let args = serde_json::to_vec(&serde_json::json!({ "row": row }))
                .map_err(|e| error("XX000", e.to_string()))?;
            let id = ActorId::new(table.row_kind(), key.clone());
            let reply = self.shared.gateway.invoke(id, Invocation::new("insert", args)).await?;
            if reply.value.as_ref() != b"true" {
                for key in written {
                    let id = ActorId::new(table.row_kind(), key);
                    self.shared.gateway.invoke(id, Invocation::new("delete", Bytes::new())).await?;
                }
                return Err(duplicate(&name, pk, row));
            }
            written.push(key.clone());
        }
        let inserted = written.len() as u64;
        Ok(Response::Execution(Tag::new("INSERT").with_oid(0).with_rows(inserted as usize)))
    }

    async fn next_serial(&self, table: &Table, column: &Column) -> Result<Json> {
        let id = ActorId::new("counter", Bytes::from(table.sequence_key(&column.name)));
        let reply = self
            .shared
            .gateway
            .invoke(id, Invocation::new("increment", Bytes::from_static(b"{\"by\":1}")))
            .await?;
        let value: i64 = serde_json::from_slice(&reply.value).map_err(|e| error("XX000", e.to_string()))?;
        catalog::coerce(column.sql_type, &Literal::Number(value.to_string())).map_err(Into::into)
    }

    /// The table, output columns and key expression of a point query:
    /// SELECT columns FROM table WHERE primary key = value.
    async fn point_query(&self, query: &ast::Query) -> Result<(Table, Vec<(String, usize)>, Expr)> {
        let general = || {
            unsupported(
                "this query (only SELECT ... FROM one table WHERE its primary key = a constant runs today)",
            )
        };
        if query.with.is_some() || query.order_by.is_some() || query.limit_clause.is_some() {
            return Err(general());
        }
        let SetExpr::Select(select) = query.body.as_ref() else { return Err(general()) };
        if select.distinct.is_some() || select.having.is_some() {
            return Err(general());
        }
        let [from] = select.from.as_slice() else { return Err(general()) };
        if !from.joins.is_empty() {
            return Err(general());
        }
        let TableFactor::Table { name, .. } = &from.relation else { return Err(general()) };
        let table = self.existing_table(&object_name(name)?).await?;
        let mut output: Vec<(String, usize)> = Vec::new();
        for item in &select.projection {
            match item {
                SelectItem::Wildcard(_) => {
                    output.extend(table.columns.iter().enumerate().map(|(i, c)| (c.name.clone(), i)));
                }
                SelectItem::UnnamedExpr(Expr::Identifier(id)) => {
                    output.push((ident(id), self.column_index(&table, id)?));
                }
                SelectItem::ExprWithAlias { expr: Expr::Identifier(id), alias } => {
                    output.push((ident(alias), self.column_index(&table, id)?));
                }
                _ => return Err(general()),
            }
        }
        let Some(Expr::BinaryOp { left, op: ast::BinaryOperator::Eq, right }) = &select.selection else {
            return Err(general());
        };
        let (column, value) = match (left.as_ref(), right.as_ref()) {
            (Expr::Identifier(id), value) | (value, Expr::Identifier(id)) => (id, value),
            _ => return Err(general()),
        };
        if self.column_index(&table, column)? != table.primary_key {
            return Err(general());
        }
        Ok((table, output, value.clone()))
    }

    /// A point query's table, output columns and rows.
    async fn fetch(
        &self,
        query: &ast::Query,
    ) -> Result<(Table, Vec<(String, usize)>, Vec<Map<String, Json>>)> {
        let (table, output, value) = self.point_query(query).await?;
        let key = catalog::coerce(table.pk().sql_type, &literal(&value)?)?;
        let rows: Vec<Map<String, Json>> = match catalog::key_of(&key) {
            None => Vec::new(), // = NULL matches nothing
            Some(key) => {
                let id = ActorId::new(table.row_kind(), key);
                let reply = self.shared.gateway.invoke(id, Invocation::new("get", Bytes::new())).await?;
                let row: Option<Map<String, Json>> =
                    serde_json::from_slice(&reply.value).map_err(|e| error("XX000", e.to_string()))?;
                row.into_iter().collect()
            }
        };
        Ok((table, output, rows))
    }

    /// Runs statements for a caller other than a PostgreSQL client (MCP):
    /// rows as JSON, commands as their tags. With `read_only`, only
    /// queries run. Stops at the first error.
    pub async fn run_json(
        &self,
        sql: &str,
        read_only: bool,
    ) -> std::result::Result<Vec<super::SqlOutcome>, super::SqlFailure> {
        let fail = |e: SqlError| super::SqlFailure { code: e.code, message: e.message };
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .map_err(|e| fail(error("42601", format!("syntax error: {e}"))))?;
        let mut outcomes = Vec::with_capacity(statements.len());
        for statement in statements {
            match statement {
                Statement::Query(query) => {
                    let (table, output, rows) = self.fetch(&query).await.map_err(fail)?;
                    let columns = output.iter().map(|(name, _)| name.clone()).collect();
                    let rows = rows
                        .iter()
                        .map(|row| {
                            output
                                .iter()
                                .map(|(_, i)| row.get(&table.columns[*i].name).cloned().unwrap_or(Json::Null))
                                .collect()
                        })
                        .collect();
                    outcomes.push(super::SqlOutcome { command: "SELECT".into(), columns, rows });
                }
                _ if read_only => {
                    return Err(fail(error(
                        "25006",
                        format!(
                            "cannot execute \"{}\" in a read-only query",
                            first_words(&statement.to_string())
                        ),
                    )));
                }
                statement => match self.execute(statement).await.map_err(fail)? {
                    Response::Execution(tag) => outcomes.push(super::SqlOutcome {
                        command: pgwire::messages::response::CommandComplete::from(tag).tag,
                        columns: Vec::new(),
                        rows: Vec::new(),
                    }),
                    _ => return Err(fail(error("XX000", "unexpected result"))),
                },
            }
        }
        Ok(outcomes)
    }

    /// A point query; result columns in `formats` (text in the simple protocol).
    async fn select(&self, query: ast::Query, formats: &Format) -> Result<Response> {
        let (table, output, rows) = self.fetch(&query).await?;
        let columns: Vec<(String, SqlType)> =
            output.iter().map(|(name, i)| (name.clone(), table.columns[*i].sql_type)).collect();
        let fields = Arc::new(field_infos(&columns, formats));
        let mut encoder = DataRowEncoder::new(fields.clone());
        let mut data = Vec::with_capacity(rows.len());
        for row in rows {
            for (j, (_, i)) in output.iter().enumerate() {
                let column = &table.columns[*i];
                let value = row.get(&column.name);
                if formats.format_for(j) == FieldFormat::Text {
                    // PostgreSQL's text output (floats, booleans as t/f).
                    let text = value.and_then(|v| catalog::text_of(column.sql_type, v));
                    encoder.encode_field(&text).map_err(|e| error("XX000", e.to_string()))?;
                } else {
                    encode(&mut encoder, column.sql_type, value)?;
                }
            }
            data.push(Ok(encoder.take_row()));
        }
        Ok(Response::Query(QueryResponse::new(fields, stream::iter(data))))
    }

    fn column_index(&self, table: &Table, id: &ast::Ident) -> Result<usize> {
        let name = ident(id);
        table
            .column(&name)
            .map(|(i, _)| i)
            .ok_or_else(|| error("42703", format!("column \"{name}\" does not exist")))
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

/// One stored value as its column's Rust type, so text and binary formats
/// both encode it right.
fn encode(encoder: &mut DataRowEncoder, sql_type: SqlType, value: Option<&Json>) -> Result<()> {
    let value = value.filter(|v| !v.is_null());
    let mismatch = || error("XX000", format!("a stored value is not of type {}", sql_type.name()));
    let encoded = match sql_type {
        SqlType::Bool => encoder.encode_field(&value.map(|v| v.as_bool().ok_or_else(mismatch)).transpose()?),
        SqlType::Int2 => encoder.encode_field(
            &value
                .map(|v| v.as_i64().and_then(|n| i16::try_from(n).ok()).ok_or_else(mismatch))
                .transpose()?,
        ),
        SqlType::Int4 => encoder.encode_field(
            &value
                .map(|v| v.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(mismatch))
                .transpose()?,
        ),
        SqlType::Int8 => encoder.encode_field(&value.map(|v| v.as_i64().ok_or_else(mismatch)).transpose()?),
        SqlType::Float4 => encoder
            .encode_field(&value.map(|v| v.as_f64().map(|f| f as f32).ok_or_else(mismatch)).transpose()?),
        SqlType::Float8 => encoder.encode_field(&value.map(|v| v.as_f64().ok_or_else(mismatch)).transpose()?),
        SqlType::Text => encoder.encode_field(&value.map(|v| v.as_str().ok_or_else(mismatch)).transpose()?),
    };
    encoded.map_err(|e| error("XX000", e.to_string()))
}

/// The number of a `$n` placeholder.
fn placeholder(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => p.strip_prefix('$')?.parse().ok().filter(|&n| n >= 1),
            _ => None,
        },
        _ => None,
    }
}

/// Records that `$n` has `sql_type`.
fn note_param(params: &mut Vec<Option<SqlType>>, n: usize, sql_type: SqlType) -> Result<()> {
    if n > 65_535 {
        return Err(error("42P02", format!("there is no parameter ${n}")));
    }
    if params.len() < n {
        params.resize(n, None);
    }
    match params[n - 1] {
        Some(t) if t != sql_type => Err(error(
            "42P08",
            format!("inconsistent types deduced for parameter ${n}: {} versus {}", t.name(), sql_type.name()),
        )),
        _ => {
            params[n - 1] = Some(sql_type);
            Ok(())
        }
    }
}

/// A bound parameter as a literal, decoded by its type (the client's, or
/// the one Orbit deduced), in text or binary.
fn parameter<S: Clone>(portal: &Portal<S>, index: usize, pg_type: &Type) -> PgWireResult<Literal> {
    let number = |n: Option<String>| n.map_or(Literal::Null, Literal::Number);
    Ok(match *pg_type {
        Type::BOOL => portal.parameter::<bool>(index, pg_type)?.map_or(Literal::Null, Literal::Bool),
        Type::INT2 => number(portal.parameter::<i16>(index, pg_type)?.map(|n| n.to_string())),
        Type::INT4 => number(portal.parameter::<i32>(index, pg_type)?.map(|n| n.to_string())),
        Type::INT8 => number(portal.parameter::<i64>(index, pg_type)?.map(|n| n.to_string())),
        Type::FLOAT4 => number(portal.parameter::<f32>(index, pg_type)?.map(|n| n.to_string())),
        Type::FLOAT8 => number(portal.parameter::<f64>(index, pg_type)?.map(|n| n.to_string())),
        _ => portal.parameter::<String>(index, &Type::TEXT)?.map_or(Literal::Null, Literal::String),
    })
}

/// The literal's expression, to put in place of a placeholder.
fn literal_expr(literal: Literal) -> Expr {
    match literal {
        Literal::Null => Expr::value(Value::Null),
        Literal::Bool(b) => Expr::value(Value::Boolean(b)),
        Literal::Number(n) => match n.strip_prefix('-') {
            Some(abs) => Expr::UnaryOp {
                op: ast::UnaryOperator::Minus,
                expr: Box::new(Expr::value(Value::Number(abs.to_string(), false))),
            },
            None => Expr::value(Value::Number(n, false)),
        },
        Literal::String(s) => Expr::value(Value::SingleQuotedString(s)),
    }
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
}

/// Parses and describes statements for the extended protocol.
pub(crate) struct PgParser<G> {
    /// The connection's session (which owns this parser).
    session: std::sync::Weak<Session<G>>,
}

impl<G: ActorGateway> Session<G> {
    /// The parameter types and result columns of a statement that runs.
    async fn describe(&self, statement: &Statement) -> Result<(Vec<SqlType>, Vec<(String, SqlType)>)> {
        let mut params: Vec<Option<SqlType>> = Vec::new();
        let mut columns = Vec::new();
        match statement {
            Statement::Insert(insert) => {
                if let (TableObject::TableName(name), Some(source)) = (&insert.table, &insert.source) {
                    let table = self.existing_table(&object_name(name)?).await?;
                    let targets: Vec<usize> = if insert.columns.is_empty() {
                        (0..table.columns.len()).collect()
                    } else {
                        let names: Vec<String> =
                            insert.columns.iter().map(object_name).collect::<Result<_>>()?;
                        names.iter().filter_map(|n| table.column(n).map(|(i, _)| i)).collect()
                    };
                    if let SetExpr::Values(values) = source.body.as_ref() {
                        for row in &values.rows {
                            for (expr, &index) in row.iter().zip(&targets) {
                                if let Some(n) = placeholder(expr) {
                                    note_param(&mut params, n, table.columns[index].sql_type)?;
                                }
                            }
                        }
                    }
                }
            }
            Statement::Query(query) => {
                let (table, output, value) = self.point_query(query).await?;
                if let Some(n) = placeholder(&value) {
                    note_param(&mut params, n, table.pk().sql_type)?;
                }
                columns = output.iter().map(|(name, i)| (name.clone(), table.columns[*i].sql_type)).collect();
            }
            Statement::CreateTable(_) | Statement::Drop { object_type: ObjectType::Table, .. } => {}
            other => {
                return Err(unsupported(format_args!(
                    "the statement \"{}\"",
                    first_words(&other.to_string())
                )));
            }
        }
        // A parameter used nowhere Orbit can type is text, as PostgreSQL's unknown.
        Ok((params.into_iter().map(|t| t.unwrap_or(SqlType::Text)).collect(), columns))
    }
}

#[async_trait]
impl<G: ActorGateway> QueryParser for PgParser<G> {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .map_err(|e| user_error(error("42601", format!("syntax error: {e}"))))?;
        if statements.len() > 1 {
            return Err(user_error(error(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            )));
        }
        let Some(statement) = statements.pop() else { return Ok(None) };
        let session =
            self.session.upgrade().ok_or_else(|| user_error(error("08006", "the connection is closing")))?;
        let (params, columns) = session.describe(&statement).await.map_err(user_error)?;
        Ok(Some(Prepared { statement, params, columns }))
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

    async fn do_query<C>(
        &self,
        _client: &mut C,
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
        let mut statement = prepared.statement.clone();
        let mut bound = Vec::with_capacity(portal.parameter_len());
        for index in 0..portal.parameter_len() {
            let declared = stored.parameter_types.get(index).cloned().flatten();
            let pg_type =
                declared.unwrap_or_else(|| prepared.params.get(index).map_or(Type::TEXT, |t| t.pg()));
            bound.push(parameter(portal, index, &pg_type)?);
        }
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
            return Err(user_error(error("08P01", format!("no value bound for parameter ${n}"))));
        }
        let response = match statement {
            Statement::Query(query) => self.select(*query, &portal.result_column_format).await,
            other => self.execute(other).await,
        };
        response.map_err(user_error)
    }
}

fn duplicate(table: &str, pk: &Column, row: &Map<String, Json>) -> SqlError {
    let value = row.get(&pk.name).and_then(|v| catalog::text_of(pk.sql_type, v)).unwrap_or_default();
    error(
        "23505",
        format!(
            "duplicate key value violates unique constraint \"{table}_pkey\" (Key ({})=({value}) already exists.)",
            pk.name
        ),
    )
}

/// An identifier as PostgreSQL reads it: unquoted ones fold to lower case.
fn ident(id: &ast::Ident) -> String {
    if id.quote_style.is_some() { id.value.clone() } else { id.value.to_lowercase() }
}

/// A one-part name (`public.` accepted as the only schema).
fn object_name(name: &ObjectName) -> Result<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(ident).ok_or_else(|| unsupported(format_args!("the name {name}"))))
        .collect::<Result<_>>()?;
    match parts.as_slice() {
        [table] => Ok(table.clone()),
        [schema, table] if schema == "public" => Ok(table.clone()),
        _ => Err(error("3F000", format!("schema of \"{name}\" does not exist (only public exists)"))),
    }
}

/// A constant: a number (with its sign), a string, a boolean or NULL.
fn literal(expr: &Expr) -> Result<Literal> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Ok(Literal::Number(n.clone())),
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Ok(Literal::String(s.clone())),
            Value::Boolean(b) => Ok(Literal::Bool(*b)),
            Value::Null => Ok(Literal::Null),
            Value::Placeholder(p) => Err(unsupported(format_args!("the parameter {p} in a simple query"))),
            other => Err(unsupported(format_args!("the value {other}"))),
        },
        Expr::UnaryOp { op: ast::UnaryOperator::Minus, expr } => match literal(expr)? {
            Literal::Number(n) => Ok(Literal::Number(format!("-{n}"))),
            _ => Err(error("42883", format!("operator does not exist: - {expr}"))),
        },
        Expr::UnaryOp { op: ast::UnaryOperator::Plus, expr } => literal(expr),
        Expr::Nested(inner) => literal(inner),
        other => Err(unsupported(format_args!("the expression \"{other}\" (only constants run today)"))),
    }
}

/// The column type and whether it is serial.
fn sql_type(data_type: &DataType) -> Result<(SqlType, bool)> {
    let t = match data_type {
        DataType::Boolean | DataType::Bool => SqlType::Bool,
        DataType::SmallInt(_) | DataType::Int2(_) => SqlType::Int2,
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => SqlType::Int4,
        DataType::BigInt(_) | DataType::Int8(_) => SqlType::Int8,
        DataType::Real | DataType::Float4 => SqlType::Float4,
        DataType::DoublePrecision | DataType::Float8 | DataType::Double(_) => SqlType::Float8,
        DataType::Text | DataType::Varchar(_) | DataType::CharacterVarying(_) | DataType::String(_) => {
            SqlType::Text
        }
        DataType::Custom(name, modifiers) if modifiers.is_empty() => {
            match name.to_string().to_lowercase().as_str() {
                "serial" | "serial4" => return Ok((SqlType::Int4, true)),
                "bigserial" | "serial8" => return Ok((SqlType::Int8, true)),
                "smallserial" | "serial2" => return Ok((SqlType::Int2, true)),
                _ => return Err(unsupported(format_args!("the type {data_type}"))),
            }
        }
        other => return Err(unsupported(format_args!("the type {other}"))),
    };
    Ok((t, false))
}

/// The first words of a statement, for messages.
fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn to_response(result: Result<Response>) -> (Response, bool) {
    match result {
        Ok(response) => (response, true),
        Err(e) => {
            let info = ErrorInfo::new("ERROR".to_string(), e.code.to_string(), e.message);
            (Response::Error(Box::new(info)), false)
        }
    }
}

#[async_trait]
impl<G: ActorGateway> SimpleQueryHandler for Session<G> {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
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
        let statements = match Parser::parse_sql(&PostgreSqlDialect {}, query) {
            Ok(statements) => statements,
            Err(e) => {
                let info = ErrorInfo::new("ERROR".into(), "42601".into(), format!("syntax error: {e}"));
                return Ok(vec![Response::Error(Box::new(info))]);
            }
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            let (response, ok) = to_response(self.execute(statement).await);
            responses.push(response);
            if !ok {
                break; // PostgreSQL stops at the first error
            }
        }
        Ok(responses)
    }
}
