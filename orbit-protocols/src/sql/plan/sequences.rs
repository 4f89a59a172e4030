//! Sequences as queries reach them: `nextval`, `currval`, `setval` and
//! `lastval`, and a sequence read as a relation (`SELECT last_value,
//! log_cnt, is_called FROM s`, which pg_dump sends).
//!
//! A sequence is a `CREATE SEQUENCE` relation of the catalog
//! ([`Table::sequence`]) or the one behind a SERIAL or identity column
//! (`<table>_<column>_seq`, made with its table). Its value lives in a
//! `counter` actor; a draw or a `setval` changes it at once, outside the
//! transaction, as in PostgreSQL: a rolled-back transaction does not give
//! its values back. `currval` and `lastval` are the session's own.

use super::provider::OrbitSchema;
use crate::sql::catalog::{Sequence, Table};
use crate::sql::error::{Code, Result, SqlError, error};
use crate::sql::plan::Writes;
use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array, Int64Builder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, Expr as DfExpr, ScalarFunctionArgs, ScalarUDFImpl, Signature, TableType, Volatility,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use orbit_shared::actors::counter::{CounterState, Next, Read, Set};
use orbit_shared::{ActorGateway, ActorId, Invocation, Message};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A sequence found by name: its rules and the counter holding its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SequenceRef {
    pub name: String,
    /// The `counter` actor's key.
    pub key: String,
    pub rules: Sequence,
}

/// The values this session drew: `currval` by sequence, `lastval`.
#[derive(Debug, Default)]
pub(crate) struct Drawn {
    by_key: HashMap<String, i64>,
    last: Option<i64>,
}

/// A session's [`Drawn`], shared by its planner and its engine.
pub(crate) type DrawnCell = Arc<Mutex<Drawn>>;

impl Drawn {
    /// A value drawn: the sequence's `currval`, and `lastval`.
    pub fn record(&mut self, sequence: &SequenceRef, value: i64) {
        self.by_key.insert(sequence.key.clone(), value);
        self.last = Some(value);
    }
}

/// The sequence named `text` (as `nextval`'s argument: `s`, `public.s`,
/// `"S"`), as a transaction that wrote `writes` sees the catalog.
pub(crate) async fn resolve<G: ActorGateway>(
    gateway: &G,
    schemas: &crate::sql::catalog::schemas::Schemas,
    writes: &Writes,
    text: &str,
) -> Result<SequenceRef> {
    let name = relation_name(text)?;
    let table = match writes.table(&name) {
        Some(staged) => staged,
        None => schemas.get(gateway, &name).await?,
    };
    if let Some(table) = table {
        return of_relation(&table);
    }
    // The sequence of a SERIAL or identity column.
    for table in writes.over(crate::sql::tables(gateway).await?) {
        if let Some(column) = table.columns.iter().find(|c| c.serial && table.sequence_key(&c.name) == name) {
            return Ok(serial(&table, column));
        }
    }
    Err(error(Code::UndefinedTable, format!("relation \"{name}\" does not exist")))
}

/// `table` as a sequence; any other relation is 42809.
pub(crate) fn of_relation(table: &Table) -> Result<SequenceRef> {
    match &table.sequence {
        Some(rules) => {
            Ok(SequenceRef { name: table.name.clone(), key: table.sequence_counter(), rules: rules.clone() })
        }
        None => Err(error(Code::WrongObjectType, format!("\"{}\" is not a sequence", table.name))),
    }
}

/// The sequence behind `column`, a SERIAL or identity column of `table`.
pub(crate) fn serial(table: &Table, column: &crate::sql::catalog::Column) -> SequenceRef {
    let mut rules = Sequence::serial(column.sql_type);
    rules.owned_by = Some((table.name.clone(), column.name.clone()));
    SequenceRef { name: table.sequence_key(&column.name), key: table.sequence_key(&column.name), rules }
}

/// A relation's name as `regclass` input reads it.
fn relation_name(text: &str) -> Result<String> {
    let invalid = || error(Code::InvalidName, format!("invalid name syntax: \"{text}\""));
    let name = sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| {
            let name = p.parse_object_name(false)?;
            p.expect_token(&sqlparser::tokenizer::Token::EOF)?;
            Ok(name)
        })
        .map_err(|_| invalid())?;
    crate::sql::parse::object_name(&name)
}

async fn call<G: ActorGateway, M: Message + serde::Serialize>(
    gateway: &G,
    sequence: &SequenceRef,
    message: &M,
    durable: bool,
) -> Result<M::Reply> {
    let id = ActorId::new("counter", Bytes::from(sequence.key.clone()));
    let args = serde_json::to_vec(message).map_err(|e| error(Code::Internal, e.to_string()))?;
    let invocation = Invocation::new(M::METHOD, Bytes::from(args));
    let reply = if durable {
        gateway.invoke(id, invocation).await?
    } else {
        gateway.invoke_visible(id, invocation).await?.0
    };
    serde_json::from_slice(&reply.value).map_err(|e| error(Code::Internal, e.to_string()))
}

/// Draws the sequence's next value (2200H past its bound without CYCLE).
/// With `durable`, the draw is on disk before it is returned; without,
/// the caller's own later write makes it so (storage is durable in write
/// order).
pub(crate) async fn next_value<G: ActorGateway>(
    gateway: &G,
    sequence: &SequenceRef,
    durable: bool,
) -> Result<i64> {
    let r = &sequence.rules;
    let next = Next { increment: r.increment, min: r.min, max: r.max, start: r.first(), cycle: r.cycle };
    match call(gateway, sequence, &next, durable).await? {
        Some(value) => Ok(value),
        None => {
            let (which, bound) = if r.increment > 0 { ("maximum", r.max) } else { ("minimum", r.min) };
            Err(error(
                Code::SequenceGeneratorLimitExceeded,
                format!("nextval: reached {which} value of sequence \"{}\" ({bound})", sequence.name),
            ))
        }
    }
}

/// `setval`: the value must lie within the sequence's bounds (22003).
pub(crate) async fn set_value<G: ActorGateway>(
    gateway: &G,
    sequence: &SequenceRef,
    value: i64,
    called: bool,
) -> Result<i64> {
    let r = &sequence.rules;
    if !(r.min..=r.max).contains(&value) {
        return Err(error(
            Code::NumericValueOutOfRange,
            format!(
                "setval: value {value} is out of bounds for sequence \"{}\" ({}..{})",
                sequence.name, r.min, r.max
            ),
        ));
    }
    call(gateway, sequence, &Set { value, called }, true).await
}

/// The sequence's last value and whether it was handed out (its start,
/// not handed out, before any draw).
pub(crate) async fn state<G: ActorGateway>(gateway: &G, sequence: &SequenceRef) -> Result<(i64, bool)> {
    let CounterState { value, called } = call(gateway, sequence, &Read {}, false).await?;
    Ok(match value {
        Some(value) => (value, called),
        None => (sequence.rules.first(), false),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Which {
    Nextval,
    Currval,
    Setval,
    Lastval,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Nextval => "nextval",
            Which::Currval => "currval",
            Which::Setval => "setval",
            Which::Lastval => "lastval",
        }
    }
}

/// One of the sequence functions, over the session's schema.
struct SequenceFn<G> {
    which: Which,
    schema: Arc<OrbitSchema<G>>,
    read_only: Arc<AtomicBool>,
    signature: Signature,
}

impl<G> std::fmt::Debug for SequenceFn<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.which.name())
    }
}

impl<G> PartialEq for SequenceFn<G> {
    fn eq(&self, other: &Self) -> bool {
        self.which == other.which
    }
}

impl<G> Eq for SequenceFn<G> {}

impl<G> std::hash::Hash for SequenceFn<G> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.which.hash(state);
    }
}

impl<G: ActorGateway> ScalarUDFImpl for SequenceFn<G> {
    fn name(&self) -> &str {
        self.which.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Err(DataFusionError::Internal(format!("{} runs asynchronously", self.which.name())))
    }
}

#[async_trait::async_trait]
impl<G: ActorGateway> AsyncScalarUDFImpl for SequenceFn<G> {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<DfResult<_>>()?;
        let relations = self.relations();
        let mut out = Int64Builder::with_capacity(rows);
        for row in 0..rows {
            // The first argument is the call's number ([`number_calls`]).
            let values: Vec<ScalarValue> = arrays
                .iter()
                .skip(1)
                .map(|a| ScalarValue::try_from_array(a, row))
                .collect::<DfResult<_>>()?;
            match self.one(&values, &relations).await.map_err(SqlError::into_datafusion)? {
                Some(value) => out.append_value(value),
                None => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

impl<G: ActorGateway> SequenceFn<G> {
    /// The relations the statement's writes and its transaction changed
    /// (a statement's own come first), without their rows.
    fn relations(&self) -> Writes {
        let mut relations = Writes {
            tables: self.schema.writes.lock().unwrap_or_else(|e| e.into_inner()).tables.clone(),
            ..Writes::default()
        };
        let transaction = self.schema.transaction_tables.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (name, table) in transaction.iter() {
            relations.tables.entry(name.clone()).or_insert_with(|| table.clone());
        }
        relations
    }

    /// The function over one row's arguments (NULL in, NULL out).
    async fn one(&self, args: &[ScalarValue], relations: &Writes) -> Result<Option<i64>> {
        let schema = &self.schema;
        let arity = match self.which {
            Which::Lastval => 0..=0,
            Which::Nextval | Which::Currval => 1..=1,
            Which::Setval => 2..=3,
        };
        if !arity.contains(&args.len()) {
            return Err(error(
                Code::UndefinedFunction,
                format!("function {}() with {} arguments does not exist", self.which.name(), args.len()),
            ));
        }
        if self.which == Which::Lastval {
            let drawn = schema.drawn.lock().unwrap_or_else(|e| e.into_inner());
            return drawn.last.map(Some).ok_or_else(|| {
                error(Code::ObjectNotInPrerequisiteState, "lastval is not yet defined in this session")
            });
        }
        if args.iter().any(ScalarValue::is_null) {
            return Ok(None);
        }
        let name = match &args[0] {
            ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => {
                s
            }
            other => {
                return Err(error(
                    Code::UndefinedFunction,
                    format!(
                        "function {}({}) does not exist: it takes a sequence's name",
                        self.which.name(),
                        other.data_type()
                    ),
                ));
            }
        };
        let gateway = schema.gateway.as_ref();
        let sequence = resolve(gateway, &schema.schemas, relations, name).await?;
        if self.which != Which::Currval && self.read_only.load(Ordering::Relaxed) {
            return Err(error(
                Code::ReadOnlySqlTransaction,
                format!("cannot execute {}() in a read-only transaction", self.which.name()),
            ));
        }
        let value = match self.which {
            Which::Nextval => next_value(gateway, &sequence, true).await?,
            Which::Currval => {
                let drawn = schema.drawn.lock().unwrap_or_else(|e| e.into_inner());
                return drawn.by_key.get(&sequence.key).map(|v| Some(*v)).ok_or_else(|| {
                    error(
                        Code::ObjectNotInPrerequisiteState,
                        format!(
                            "currval of sequence \"{}\" is not yet defined in this session",
                            sequence.name
                        ),
                    )
                });
            }
            Which::Setval => {
                let value = integer(&args[1])?;
                let called = match args.get(2) {
                    None => true,
                    Some(ScalarValue::Boolean(Some(b))) => *b,
                    Some(other) => {
                        return Err(error(
                            Code::DatatypeMismatch,
                            format!("setval's third argument must be boolean, not {}", other.data_type()),
                        ));
                    }
                };
                set_value(gateway, &sequence, value, called).await?;
                // As PostgreSQL: a value set as handed out is the
                // session's `currval` and `lastval`.
                if !called {
                    return Ok(Some(value));
                }
                value
            }
            Which::Lastval => unreachable!("answered above"),
        };
        schema.drawn.lock().unwrap_or_else(|e| e.into_inner()).record(&sequence, value);
        Ok(Some(value))
    }
}

/// A bigint argument.
fn integer(value: &ScalarValue) -> Result<i64> {
    let text = match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => {
            s.clone()
        }
        other => other.to_string(),
    };
    text.trim().parse().map_err(|_| {
        error(Code::InvalidTextRepresentation, format!("invalid input syntax for type bigint: \"{text}\""))
    })
}

/// Registers `nextval`, `currval`, `setval` and `lastval` on `ctx`.
pub(super) fn register_functions<G: ActorGateway>(
    ctx: &SessionContext,
    schema: &Arc<OrbitSchema<G>>,
    read_only: &Arc<AtomicBool>,
) {
    for which in [Which::Nextval, Which::Currval, Which::Setval, Which::Lastval] {
        let function = SequenceFn {
            which,
            schema: schema.clone(),
            read_only: read_only.clone(),
            signature: Signature::variadic_any(Volatility::Volatile),
        };
        ctx.register_udf(AsyncScalarUDF::new(Arc::new(function)).into_scalar_udf());
    }
}

/// A sequence read as a relation: one row of `last_value`, `log_cnt` and
/// `is_called`, read from its counter when scanned.
pub(super) struct SequenceTable<G> {
    pub gateway: Arc<G>,
    pub sequence: SequenceRef,
}

impl<G> std::fmt::Debug for SequenceTable<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequenceTable").field("sequence", &self.sequence.name).finish()
    }
}

fn sequence_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("last_value", DataType::Int64, false),
        Field::new("log_cnt", DataType::Int64, false),
        Field::new("is_called", DataType::Boolean, false),
    ]))
}

#[async_trait::async_trait]
impl<G: ActorGateway> TableProvider for SequenceTable<G> {
    fn schema(&self) -> SchemaRef {
        sequence_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[DfExpr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let (last, called) =
            state(self.gateway.as_ref(), &self.sequence).await.map_err(SqlError::into_datafusion)?;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![last])),
            Arc::new(Int64Array::from(vec![0])),
            Arc::new(BooleanArray::from(vec![called])),
        ];
        let batch = RecordBatch::try_new(sequence_schema(), columns)?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], sequence_schema(), projection.cloned())?)
    }
}

/// `nextval('s'::regclass)` (how PostgreSQL shows a SERIAL's default, and
/// how pg_dump writes one) names the sequence by its text: the cast goes,
/// so the function reads the name rather than an OID.
pub(crate) fn unwrap_regclass(statement: &mut sqlparser::ast::Statement) {
    use sqlparser::ast::{DataType as SqlDataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments};
    let _ = sqlparser::ast::visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr
            && let [name] = function.name.0.as_slice()
            && name.as_ident().is_some_and(|id| {
                ["nextval", "currval", "setval"].contains(&id.value.to_lowercase().as_str())
            })
            && let FunctionArguments::List(list) = &mut function.args
            && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) = list.args.first_mut()
            && let Expr::Cast { expr: inner, data_type, .. } = first
            && (matches!(data_type, SqlDataType::Regclass)
                || matches!(data_type, SqlDataType::Custom(n, _) if n.to_string().eq_ignore_ascii_case("regclass")))
        {
            *first = std::mem::replace(inner.as_mut(), Expr::value(sqlparser::ast::Value::Null));
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

/// `statement` with each `nextval` and `setval` call as NULL, when it has
/// any: what a statement run again to find its rows runs, so that only its
/// last run draws.
pub(crate) fn without_draws(statement: &sqlparser::ast::Statement) -> Option<sqlparser::ast::Statement> {
    use sqlparser::ast::{Expr, Value};
    let mut probe = statement.clone();
    let mut found = false;
    let _ = sqlparser::ast::visit_expressions_mut(&mut probe, |expr| {
        if let Expr::Function(function) = expr
            && let Some(name) = function.name.0.last().and_then(|p| p.as_ident())
            && ["nextval", "setval"].contains(&name.value.to_lowercase().as_str())
        {
            *expr = Expr::value(Value::Null);
            found = true;
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    found.then_some(probe)
}

/// Numbers each call of a sequence function in `statement` with a first
/// argument of its own: DataFusion computes equal calls of an async
/// function once per row, and `nextval('s'), nextval('s')` must draw
/// twice. Runs after the output columns are named (they keep the
/// function's name).
pub(crate) fn number_calls(statement: &mut sqlparser::ast::Statement) {
    use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value};
    let mut n = 0u64;
    let _ = sqlparser::ast::visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr
            && let [name] = function.name.0.as_slice()
            && name.as_ident().is_some_and(|id| {
                ["nextval", "currval", "setval", "lastval"].contains(&id.value.to_lowercase().as_str())
            })
        {
            n += 1;
            let ordinal =
                FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::value(Value::Number(n.to_string(), false))));
            match &mut function.args {
                FunctionArguments::List(list) => list.args.insert(0, ordinal),
                args @ FunctionArguments::None => {
                    *args = FunctionArguments::List(sqlparser::ast::FunctionArgumentList {
                        duplicate_treatment: None,
                        args: vec![ordinal],
                        clauses: Vec::new(),
                    })
                }
                FunctionArguments::Subquery(_) => {}
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_as_regclass_input() {
        assert_eq!(relation_name("s").unwrap(), "s");
        assert_eq!(relation_name("public.Orders_ID_seq").unwrap(), "orders_id_seq");
        assert_eq!(relation_name("\"S\"").unwrap(), "S");
        assert_eq!(relation_name("a b").unwrap_err().code, Code::InvalidName);
        assert_eq!(relation_name("other.s").unwrap_err().code, Code::InvalidSchemaName);
    }

    #[test]
    fn a_regclass_cast_of_a_sequence_function_goes() {
        let mut statement = crate::sql::parse::parse(
            "SELECT nextval('s'::regclass), setval('public.t'::regclass, 5), 'x'::regclass",
        )
        .unwrap()
        .remove(0);
        unwrap_regclass(&mut statement);
        assert_eq!(statement.to_string(), "SELECT nextval('s'), setval('public.t', 5), 'x'::REGCLASS");
        number_calls(&mut statement);
        assert_eq!(statement.to_string(), "SELECT nextval(1, 's'), setval(2, 'public.t', 5), 'x'::REGCLASS");
        let mut statement = crate::sql::parse::parse("SELECT lastval(), nextval('s')").unwrap().remove(0);
        number_calls(&mut statement);
        assert_eq!(statement.to_string(), "SELECT lastval(1), nextval(2, 's')");
    }
}
