//! General queries through DataFusion (decision 0006): each table is a
//! `TableProvider` whose scan reads the table's row actors (a point read
//! when a filter pins the primary key) plus the session's uncommitted
//! writes, as one Arrow batch; DataFusion plans and runs the rest (joins,
//! aggregates, sorting, functions, subqueries, CTEs). Results come back as
//! rows of JSON values with their SQL types, as every other statement's do.
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | Arrow conversion, the table provider over row actors, the [`Planner`] |
//! | `rewrite.rs` | PostgreSQL's SQL spellings rewritten into what DataFusion plans |
//! | `literals.rs` | quoted literals compared with uuid and bytea columns, read as the column's type |
//! | `pg_sleep.rs` | `pg_sleep(seconds)`, waiting on the runtime's timer |

pub(crate) mod literals;
pub(crate) mod pg_sleep;
pub(crate) mod rewrite;

use crate::sql::catalog::{self, Table};
use crate::sql::exec::txn::Staged;
use crate::sql::system::pg_catalog;
use crate::sql::types;
use crate::sql::types::{SqlType, time};
use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, BinaryViewArray, BooleanArray, BooleanBuilder, Date32Array,
    Date32Builder, Decimal128Array, FixedSizeBinaryArray, Float32Array, Float32Builder, Float64Array,
    Float64Builder, Int8Array, Int16Array, Int16Builder, Int32Array, Int32Builder, Int64Array, Int64Builder,
    LargeBinaryArray, LargeStringArray, ListArray, StringArray, StringBuilder, StringViewArray,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder, UInt8Array, UInt16Array, UInt32Array,
    UInt64Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNode;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{
    Expr as DfExpr, LogicalPlan, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use orbit_shared::{ActorGateway, ActorId};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Uncommitted writes of a session, by table then key.
pub(crate) type Writes = BTreeMap<String, BTreeMap<Vec<u8>, Staged>>;

/// The column a table without a primary key shows its hidden row keys
/// in, for UPDATE and DELETE to find rows ([`Planner::plan_keyed`]).
pub(crate) const ROW_KEY: &str = "ctid";

/// The Arrow type a scalar column of `sql_type` scans as (arrays and
/// numerics take their column's typmod: [`column_field`]).
fn arrow_type(sql_type: SqlType) -> DataType {
    match sql_type {
        SqlType::Bool => DataType::Boolean,
        SqlType::Int2 => DataType::Int16,
        SqlType::Int4 => DataType::Int32,
        SqlType::Int8 => DataType::Int64,
        SqlType::Float4 => DataType::Float32,
        SqlType::Float8 => DataType::Float64,
        SqlType::Date => DataType::Date32,
        SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        SqlType::Bytea => DataType::Binary,
        SqlType::Numeric => crate::sql::types::numeric::arrow_type(None),
        SqlType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        _ => DataType::Utf8,
    }
}

/// The SQL type a result column of Arrow type `data_type` is sent as;
/// types without an Orbit column type are sent as their text.
pub(crate) fn sql_type_of(data_type: &DataType) -> SqlType {
    match data_type {
        DataType::Boolean => SqlType::Bool,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => SqlType::Int2,
        DataType::Int32 | DataType::UInt16 => SqlType::Int4,
        DataType::Int64 | DataType::UInt32 => SqlType::Int8,
        DataType::Float16 | DataType::Float32 => SqlType::Float4,
        DataType::Float64 => SqlType::Float8,
        DataType::Date32 | DataType::Date64 => SqlType::Date,
        DataType::Timestamp(_, None) => SqlType::Timestamp,
        DataType::Timestamp(_, Some(_)) => SqlType::TimestampTz,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            SqlType::Bytea
        }
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => SqlType::Numeric,
        DataType::List(field) | DataType::LargeList(field) | DataType::FixedSizeList(field, _) => {
            SqlType::array_of(field_sql_type(field)).unwrap_or(SqlType::Text)
        }
        _ => SqlType::Text,
    }
}

/// The SQL type a result field is sent as: jsonb and uuid by their
/// metadata, else by its Arrow type ([`sql_type_of`]).
pub(crate) fn field_sql_type(field: &Field) -> SqlType {
    if crate::sql::types::jsonb::is_jsonb(field) {
        SqlType::Jsonb
    } else if crate::sql::types::uuid::is_uuid(field) {
        SqlType::Uuid
    } else {
        sql_type_of(field.data_type())
    }
}

/// A column's Arrow field. An array column is a list of fields of its
/// element type (with its typmod), named `item` as Arrow names them; one
/// of numerics without a typmod is marked as such too.
fn column_field(column: &catalog::Column) -> Field {
    if let Some(element) = column.sql_type.element() {
        let item = column_field(&catalog::Column { name: "item".into(), ..column.of_element(element) });
        let field = Field::new(&column.name, DataType::List(Arc::new(item)), !column.not_null);
        return match (element, column.numeric) {
            (SqlType::Numeric, None) => crate::sql::types::numeric::mark_unconstrained(field),
            _ => field,
        };
    }
    match column.sql_type {
        SqlType::Jsonb => crate::sql::types::jsonb::field(&column.name, !column.not_null),
        SqlType::Uuid => crate::sql::types::uuid::field(&column.name, !column.not_null),
        SqlType::Numeric => crate::sql::types::numeric::field(&column.name, column.numeric, !column.not_null),
        t => Field::new(&column.name, arrow_type(t), !column.not_null),
    }
}

/// A table's Arrow schema; with `keyed`, a table without a primary key
/// shows its hidden row keys as a last column, [`ROW_KEY`].
fn table_schema(table: &Table, keyed: bool) -> SchemaRef {
    let mut fields: Vec<Field> = table.columns.iter().map(column_field).collect();
    if keyed && table.primary_key.is_none() {
        fields.push(Field::new(ROW_KEY, DataType::Utf8, false));
    }
    Arc::new(Schema::new(fields))
}

/// A table's rows (and their keys) as one Arrow batch of `schema`.
fn to_batch(
    table: &Table,
    schema: SchemaRef,
    keyed: &[(Vec<u8>, Map<String, Json>)],
) -> DfResult<RecordBatch> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let rows: Vec<&Map<String, Json>> = keyed.iter().map(|(_, r)| r).collect();
    for column in &table.columns {
        let values: Vec<Option<&Json>> =
            rows.iter().map(|row| row.get(&column.name).filter(|v| !v.is_null())).collect();
        arrays.push(column_array(column, values)?);
    }
    if schema.fields().len() > table.columns.len() {
        let mut b = StringBuilder::new();
        keyed.iter().for_each(|(key, _)| b.append_value(String::from_utf8_lossy(key)));
        arrays.push(Arc::new(b.finish()));
    }
    Ok(RecordBatch::try_new(schema, arrays)?)
}

/// One column's values as an Arrow array of the column's type.
fn column_array(column: &catalog::Column, values: Vec<Option<&Json>>) -> DfResult<ArrayRef> {
    let count = values.len();
    let values = values.into_iter();
    Ok(match column.sql_type {
        SqlType::Bool => {
            let mut b = BooleanBuilder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_bool)));
            Arc::new(b.finish())
        }
        SqlType::Int2 => {
            let mut b = Int16Builder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_i64).map(|n| n as i16)));
            Arc::new(b.finish())
        }
        SqlType::Int4 => {
            let mut b = Int32Builder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_i64).map(|n| n as i32)));
            Arc::new(b.finish())
        }
        SqlType::Int8 => {
            let mut b = Int64Builder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_i64)));
            Arc::new(b.finish())
        }
        SqlType::Float4 => {
            let mut b = Float32Builder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_f64).map(|f| f as f32)));
            Arc::new(b.finish())
        }
        SqlType::Float8 => {
            let mut b = Float64Builder::with_capacity(count);
            values.for_each(|v| b.append_option(v.and_then(Json::as_f64)));
            Arc::new(b.finish())
        }
        SqlType::Text | SqlType::Varchar | SqlType::Char | SqlType::Jsonb | SqlType::Uuid => {
            let mut b = StringBuilder::new();
            values.for_each(|v| b.append_option(v.and_then(Json::as_str)));
            Arc::new(b.finish())
        }
        SqlType::Numeric => {
            let DataType::Decimal128(precision, scale) =
                crate::sql::types::numeric::arrow_type(column.numeric)
            else {
                return Err(DataFusionError::Internal("numeric scans as Decimal128".into()));
            };
            let values: Vec<Option<i128>> = values
                .map(|v| v.and_then(Json::as_str).and_then(|t| crate::sql::types::numeric::to_i128(t, scale)))
                .collect();
            Arc::new(Decimal128Array::from(values).with_precision_and_scale(precision, scale)?)
        }
        SqlType::Bytea => {
            let mut b = BinaryBuilder::new();
            values.for_each(|v| {
                b.append_option(
                    v.and_then(Json::as_str).and_then(|t| crate::sql::types::bytea::parse(t).ok()),
                )
            });
            Arc::new(b.finish())
        }
        SqlType::Date => {
            let mut b = Date32Builder::with_capacity(count);
            values.for_each(|v| {
                let date =
                    v.and_then(Json::as_str).and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
                b.append_option(date.map(|d| (d - NaiveDate::default()).num_days() as i32));
            });
            Arc::new(b.finish())
        }
        SqlType::Timestamp | SqlType::TimestampTz => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(count);
            values.for_each(|v| {
                let text = v.and_then(Json::as_str);
                let micros = match column.sql_type {
                    SqlType::Timestamp => {
                        text.and_then(time::parse_naive).map(|t| t.and_utc().timestamp_micros())
                    }
                    _ => text.and_then(time::parse_utc).map(|t| t.timestamp_micros()),
                };
                b.append_option(micros);
            });
            let array = b.finish();
            match column.sql_type {
                SqlType::TimestampTz => Arc::new(array.with_timezone("+00:00")),
                _ => Arc::new(array),
            }
        }
        // The arrays (every scalar type has its arm above).
        array_type => {
            let (Some(element), DataType::List(field)) =
                (array_type.element(), column_field(column).data_type().clone())
            else {
                return Err(DataFusionError::Internal("an array column scans as a list".into()));
            };
            let element = catalog::Column { name: "item".into(), ..column.of_element(element) };
            let mut offsets = Vec::with_capacity(count + 1);
            let mut present = Vec::with_capacity(count);
            let mut items: Vec<Option<&Json>> = Vec::new();
            offsets.push(0i32);
            for value in values {
                let list = value.and_then(Json::as_array);
                present.push(list.is_some());
                items.extend(list.into_iter().flatten().map(|v| Some(v).filter(|v| !v.is_null())));
                offsets.push(i32::try_from(items.len()).map_err(|_| {
                    DataFusionError::Execution("an array column holds more than 2^31 elements".into())
                })?);
            }
            Arc::new(ListArray::try_new(
                field,
                OffsetBuffer::new(offsets.into()),
                column_array(&element, items)?,
                Some(NullBuffer::from(present)),
            )?)
        }
    })
}

/// Reads one stored row (no activation).
pub(crate) async fn read_row<G: ActorGateway>(
    gateway: &G,
    table: &Table,
    key: &[u8],
) -> Result<Option<Map<String, Json>>, orbit_shared::Error> {
    let id = ActorId::new(table.row_kind(), bytes::Bytes::copy_from_slice(key));
    match gateway.read_actor(id).await? {
        None => Ok(None),
        Some(state) => serde_json::from_slice(&state).map_err(|e| orbit_shared::Error::Storage {
            reason: format!("a row of \"{}\" does not decode: {e}", table.name),
        }),
    }
}

/// Every committed row of `table`, by key.
pub(crate) async fn read_all<G: ActorGateway>(
    gateway: &G,
    table: &Table,
) -> Result<BTreeMap<Vec<u8>, Map<String, Json>>, orbit_shared::Error> {
    let kind = table.row_kind();
    let mut rows = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = gateway.list_actors(&kind, cursor, orbit_shared::gateway::MAX_LIST_LIMIT).await?;
        for actor in page.actors {
            if let Ok(Some(row)) = serde_json::from_slice::<Option<Map<String, Json>>>(&actor.state) {
                rows.insert(actor.key.to_vec(), row);
            }
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(rows),
        }
    }
}

/// A table as DataFusion sees it.
struct RowsTable<G> {
    gateway: Arc<G>,
    table: Arc<Table>,
    schema: SchemaRef,
    /// The session's uncommitted writes to this table.
    staged: BTreeMap<Vec<u8>, Staged>,
}

impl<G> std::fmt::Debug for RowsTable<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowsTable").field("table", &self.table.name).finish()
    }
}

/// How a scan of a table finds its rows, from the filters DataFusion
/// pushes down (each `column = constant`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Access {
    /// One row actor, by the primary key.
    Key(Vec<u8>),
    /// The rows an index entry names (its name and key).
    Index(String, String),
    /// Every row.
    Scan,
}

impl<G: ActorGateway> RowsTable<G> {
    /// The column and value a filter pins (`column = constant`), the value
    /// as the column stores it.
    fn pinned_value(&self, filter: &DfExpr) -> Option<(&catalog::Column, Json)> {
        let DfExpr::BinaryExpr(binary) = filter else { return None };
        if binary.op != Operator::Eq {
            return None;
        }
        let (column, value) = match (binary.left.as_ref(), binary.right.as_ref()) {
            (DfExpr::Column(c), DfExpr::Literal(v, _)) | (DfExpr::Literal(v, _), DfExpr::Column(c)) => (c, v),
            _ => return None,
        };
        let (_, column) = self.table.column(&column.name)?;
        let literal = match value {
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
                types::Literal::String(s.clone())
            }
            ScalarValue::Boolean(Some(b)) => types::Literal::Bool(*b),
            ScalarValue::Binary(Some(b)) => types::Literal::String(crate::sql::types::bytea::format(b)),
            ScalarValue::Float64(Some(_)) | ScalarValue::Float32(Some(_)) => {
                types::Literal::Number(value.to_string())
            }
            ScalarValue::Decimal128(Some(v), _, scale) => {
                types::Literal::Number(crate::sql::types::numeric::text_of_i128(*v, *scale, false))
            }
            v if v.data_type().is_integer() && !v.is_null() => types::Literal::Number(v.to_string()),
            _ => return None,
        };
        let value = column.coerce(&literal).ok()?;
        (!value.is_null()).then_some((column, value))
    }

    /// How a scan with `filters` finds its rows: by the primary key if one
    /// pins it, else by an index whose every column one pins, else all.
    pub(crate) fn access(&self, filters: &[DfExpr]) -> Access {
        let mut pins = Map::new();
        for (column, value) in filters.iter().filter_map(|f| self.pinned_value(f)) {
            if self.table.pk().is_some_and(|pk| pk.name == column.name)
                && let Some(key) = types::key_of(&value)
            {
                return Access::Key(key);
            }
            pins.insert(column.name.clone(), value);
        }
        match crate::sql::catalog::entries::pinned(&self.table, &pins) {
            Some((index, key)) => Access::Index(index.name.clone(), key),
            None => Access::Scan,
        }
    }

    /// The committed rows `access` finds, by key.
    async fn committed(
        &self,
        access: &Access,
    ) -> Result<BTreeMap<Vec<u8>, Map<String, Json>>, orbit_shared::Error> {
        let gateway = self.gateway.as_ref();
        let mut rows = BTreeMap::new();
        match access {
            Access::Key(key) => {
                if let Some(row) = read_row(gateway, &self.table, key).await? {
                    rows.insert(key.clone(), row);
                }
            }
            Access::Index(name, entry) => {
                let Some(index) = self.table.index(name) else { return Ok(rows) };
                for name in crate::sql::catalog::entries::committed(gateway, index, entry).await? {
                    let key = name.into_bytes();
                    if let Some(row) = read_row(gateway, &self.table, &key).await? {
                        rows.insert(key, row);
                    }
                }
            }
            Access::Scan => rows = read_all(gateway, &self.table).await?,
        }
        Ok(rows)
    }
}

/// The access path of every Orbit table a plan scans, for EXPLAIN: one
/// line per scan, in plan order, indented as a detail of the plan.
fn access_paths<G: ActorGateway>(plan: &LogicalPlan) -> Vec<String> {
    let mut lines = Vec::new();
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = datafusion::datasource::source_as_provider(&scan.source)
        {
            let any: &dyn std::any::Any = provider.as_ref();
            if let Some(table) = any.downcast_ref::<RowsTable<G>>() {
                let name = &table.table.name;
                lines.push(match table.access(&scan.filters) {
                    Access::Key(key) => {
                        format!("  Orbit: {name} by primary key ({})", String::from_utf8_lossy(&key))
                    }
                    Access::Index(index, key) => format!("  Orbit: {name} by index {index} (key {key})"),
                    Access::Scan => format!("  Orbit: {name} by a full scan"),
                });
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    lines
}

#[async_trait::async_trait]
impl<G: ActorGateway> TableProvider for RowsTable<G> {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&DfExpr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // A pinned key narrows the scan; DataFusion still applies every filter.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[DfExpr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let external = |e: orbit_shared::Error| DataFusionError::External(Box::new(e));
        let access = self.access(filters);
        let mut rows = self.committed(&access).await.map_err(external)?;
        // The transaction's own writes: a pinned key's row, or every staged
        // row (DataFusion applies the filters to whatever is extra).
        for (key, staged) in &self.staged {
            if matches!(&access, Access::Key(k) if k != key) {
                continue;
            }
            match staged {
                Some(row) => rows.insert(key.clone(), row.clone()),
                None => rows.remove(key),
            };
        }
        let rows: Vec<(Vec<u8>, Map<String, Json>)> = rows.into_iter().collect();
        let batch = to_batch(&self.table, self.schema.clone(), &rows)?;
        let exec =
            MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema.clone(), projection.cloned())?;
        Ok(exec)
    }
}

/// The `public` schema: every table of the catalog.
struct OrbitSchema<G> {
    gateway: Arc<G>,
    schemas: Arc<crate::sql::catalog::schemas::Schemas>,
    /// The session's uncommitted writes, as of the statement being planned.
    writes: Mutex<Arc<Writes>>,
    /// Whether tables without a primary key show [`ROW_KEY`] (set while
    /// UPDATE and DELETE plan their searches).
    keyed: std::sync::atomic::AtomicBool,
    /// The system catalogs' snapshot (`pg_class` and friends resolve
    /// unqualified, as `pg_catalog` is first on PostgreSQL's search path).
    system: pg_catalog::SnapshotCell,
}

impl<G> std::fmt::Debug for OrbitSchema<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrbitSchema").finish()
    }
}

#[async_trait::async_trait]
impl<G: ActorGateway> SchemaProvider for OrbitSchema<G> {
    /// Tables are found one by one through `table` (the catalog actors are
    /// read asynchronously); DataFusion lists names only for its own
    /// `information_schema`, which Orbit does not enable.
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some(system) = pg_catalog::SystemSchema::pg_table(&self.system, name)? {
            return Ok(Some(system));
        }
        if let Some(view) = crate::sql::system::views::view(&self.gateway, name) {
            return Ok(Some(view));
        }
        let table = (self.schemas.get(self.gateway.as_ref(), name).await)
            .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let Some(table) = table else { return Ok(None) };
        let staged = {
            let writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
            writes.get(&table.name).cloned().unwrap_or_default()
        };
        let schema = table_schema(&table, self.keyed.load(std::sync::atomic::Ordering::Relaxed));
        Ok(Some(Arc::new(RowsTable { gateway: self.gateway.clone(), table, schema, staged })))
    }

    /// Only DataFusion's own DDL asks, and Orbit runs its DDL itself.
    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}

/// Result columns named as PostgreSQL names them: an expression without
/// an alias is named after its function (`count`, `sum`), its cast's type
/// or `?column?`. DataFusion names such columns after the whole expression
/// and refuses two of the same name (`SELECT NULL, NULL`), so each gets a
/// unique alias for planning and the PostgreSQL name is returned, by
/// position, for the client. `None` for statements that are not plain
/// queries or that select `*`.
pub(crate) fn output_names(statement: &mut sqlparser::ast::Statement) -> Option<Vec<Option<String>>> {
    use sqlparser::ast::{Ident, SelectItem, SetExpr, Statement};
    let Statement::Query(query) = statement else { return None };
    let mut names: Option<Vec<Option<String>>> = None;
    let mut selects = Vec::new();
    let mut stack = vec![query.body.as_mut()];
    while let Some(body) = stack.pop() {
        match body {
            SetExpr::Select(select) => selects.push(select),
            SetExpr::SetOperation { left, right, .. } => {
                stack.push(right.as_mut());
                stack.push(left.as_mut());
            }
            SetExpr::Query(inner) => stack.push(inner.body.as_mut()),
            _ => return None,
        }
    }
    for select in selects {
        if select
            .projection
            .iter()
            .any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)))
        {
            return None;
        }
        let first = names.is_none();
        let mut these = Vec::with_capacity(select.projection.len());
        for (i, item) in select.projection.iter_mut().enumerate() {
            if let SelectItem::UnnamedExpr(expr) = item {
                match pg_column_name(expr) {
                    None => these.push(None),
                    Some(name) => {
                        let expr =
                            std::mem::replace(expr, sqlparser::ast::Expr::value(sqlparser::ast::Value::Null));
                        *item = SelectItem::ExprWithAlias {
                            expr,
                            alias: Ident::new(format!("__orbit_column_{i}")),
                        };
                        these.push(Some(name));
                    }
                }
            } else {
                these.push(None);
            }
        }
        if first {
            names = Some(these);
        }
    }
    names
}

/// PostgreSQL's name for an unaliased result expression; `None` for a
/// column (DataFusion names it the same).
fn pg_column_name(expr: &sqlparser::ast::Expr) -> Option<String> {
    use sqlparser::ast::Expr;
    match expr {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => None,
        Expr::Nested(inner) => pg_column_name(inner),
        Expr::Function(f) => Some(f.name.0.last().map_or_else(String::new, |p| p.to_string().to_lowercase())),
        Expr::Cast { expr, data_type, .. } => match pg_column_name(expr) {
            None => match expr.as_ref() {
                Expr::Identifier(id) => Some(crate::sql::parse::ident(id)),
                Expr::CompoundIdentifier(parts) => parts.last().map(crate::sql::parse::ident),
                _ => None,
            },
            Some(name) if name != "?column?" => Some(name),
            Some(_) => {
                Some(data_type.to_string().to_lowercase().split('(').next().unwrap_or_default().to_string())
            }
        },
        Expr::Case { .. } => Some("case".into()),
        Expr::Exists { .. } => Some("exists".into()),
        Expr::Subquery(query) => match query.body.as_ref() {
            sqlparser::ast::SetExpr::Select(select) => match select.projection.as_slice() {
                [sqlparser::ast::SelectItem::ExprWithAlias { alias, .. }] => {
                    Some(crate::sql::parse::ident(alias))
                }
                [sqlparser::ast::SelectItem::UnnamedExpr(e)] => match e {
                    Expr::Identifier(id) => Some(crate::sql::parse::ident(id)),
                    Expr::CompoundIdentifier(parts) => parts.last().map(crate::sql::parse::ident),
                    other => pg_column_name(other),
                },
                _ => Some("?column?".into()),
            },
            _ => Some("?column?".into()),
        },
        _ => Some("?column?".into()),
    }
}

/// A query's result: column names and types, and rows.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Rows {
    pub columns: Vec<(String, SqlType)>,
    pub rows: Vec<Vec<Json>>,
}

/// One connection's DataFusion context.
pub(crate) struct Planner<G> {
    ctx: SessionContext,
    schema: Arc<OrbitSchema<G>>,
    system: pg_catalog::SnapshotCell,
    /// Only actor methods declared read-only may be called (`orbit_call`).
    read_only: Arc<std::sync::atomic::AtomicBool>,
}

/// A planned query: its plan, parameter types and result columns.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub plan: LogicalPlan,
    pub params: Vec<SqlType>,
    pub columns: Vec<(String, SqlType)>,
    /// Result columns computed from numerics without a typmod, whose
    /// decimals are sent without trailing zeros.
    pub trimmed: Vec<bool>,
}

impl<G: ActorGateway> Planner<G> {
    pub fn new(gateway: Arc<G>, schemas: Arc<crate::sql::catalog::schemas::Schemas>) -> Self {
        let config =
            SessionConfig::new().with_default_catalog_and_schema("orbit", "public").with_target_partitions(1);
        let ctx = SessionContext::new_with_config(config);
        let system: pg_catalog::SnapshotCell = Arc::default();
        let read_only = Arc::new(std::sync::atomic::AtomicBool::new(false));
        crate::sql::system::views::register_functions(&ctx, gateway.clone(), read_only.clone());
        let schema = Arc::new(OrbitSchema {
            gateway,
            schemas,
            writes: Mutex::new(Arc::new(Writes::new())),
            keyed: std::sync::atomic::AtomicBool::new(false),
            system: system.clone(),
        });
        let catalog = MemoryCatalogProvider::new();
        // A fresh catalog provider accepts its schemas.
        let _ = catalog.register_schema("public", schema.clone());
        let _ = catalog
            .register_schema("pg_catalog", Arc::new(pg_catalog::SystemSchema::pg_catalog(system.clone())));
        let _ = catalog.register_schema(
            "information_schema",
            Arc::new(pg_catalog::SystemSchema::information_schema(system.clone())),
        );
        ctx.register_catalog("orbit", Arc::new(catalog));
        pg_catalog::register_functions(&ctx, &system, &crate::sql::version_text());
        crate::sql::types::jsonb::register_functions(&ctx);
        crate::sql::types::uuid::register_functions(&ctx);
        crate::sql::types::bytea::register_functions(&ctx);
        crate::sql::types::numeric::register_functions(&ctx);
        crate::sql::plan::pg_sleep::register_function(&ctx);
        Planner { ctx, schema, system, read_only }
    }

    /// Lets queries call only actor methods declared read-only (MCP's
    /// read-only SQL).
    pub fn set_read_only(&self, read_only: bool) {
        self.read_only.store(read_only, std::sync::atomic::Ordering::Relaxed);
    }

    /// Plans a query over the catalog as it is, seeing `writes`.
    pub async fn plan(
        &self,
        mut statement: sqlparser::ast::Statement,
        writes: Arc<Writes>,
    ) -> DfResult<Planned> {
        *self.schema.writes.lock().unwrap_or_else(|e| e.into_inner()) = writes;
        if pg_catalog::reads_catalog(&statement) {
            let tables = crate::sql::tables(self.schema.gateway.as_ref())
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let snapshot =
                pg_catalog::Snapshot { tables, owner: "postgres".into(), database: "postgres".into() };
            *self.system.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        }
        crate::sql::plan::rewrite::rewrite(&mut statement);
        let names = output_names(&mut statement);
        crate::sql::types::jsonb::rewrite(&mut statement);
        crate::sql::types::uuid::rewrite(&mut statement);
        crate::sql::types::bytea::rewrite(&mut statement);
        crate::sql::types::numeric::rewrite(&mut statement);
        let plan = self.ctx.state().statement_to_plan(DfStatement::Statement(Box::new(statement))).await?;
        let plan = crate::sql::plan::literals::rewrite(plan)?;
        // Fields, not just types: a uuid parameter is a Utf8 with metadata.
        let fields = plan.get_parameter_fields()?;
        let mut params = vec![SqlType::Text; fields.len()];
        for (name, field) in fields {
            let n: usize = name.trim_start_matches('$').parse().unwrap_or(0);
            if n >= 1 && n <= params.len() {
                params[n - 1] = field.as_deref().map_or(SqlType::Text, field_sql_type);
            } else if n > params.len() {
                params.resize(n, SqlType::Text);
                params[n - 1] = field.as_deref().map_or(SqlType::Text, field_sql_type);
            }
        }
        let fields = plan.schema().fields();
        let columns = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let name = names.as_ref().filter(|n| n.len() == fields.len()).and_then(|n| n[i].clone());
                (name.unwrap_or_else(|| f.name().to_string()), field_sql_type(f))
            })
            .collect();
        let trimmed = crate::sql::types::numeric::unconstrained_columns(&plan);
        Ok(Planned { plan, params, columns, trimmed })
    }

    /// Plans a query in which tables without a primary key show their
    /// hidden row keys as [`ROW_KEY`] (UPDATE and DELETE find rows so).
    pub async fn plan_keyed(
        &self,
        statement: sqlparser::ast::Statement,
        writes: Arc<Writes>,
    ) -> DfResult<Planned> {
        /// Turns the hidden keys off however planning ends, a cancelled
        /// statement dropping it mid-way included.
        struct Unkeyed<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Unkeyed<'_> {
            fn drop(&mut self) {
                self.0.store(false, std::sync::atomic::Ordering::Relaxed);
            }
        }
        self.schema.keyed.store(true, std::sync::atomic::Ordering::Relaxed);
        let _unkeyed = Unkeyed(&self.schema.keyed);
        self.plan(statement, writes).await
    }

    /// How each table `planned` scans finds its rows once the optimizer
    /// has pushed the filters down (EXPLAIN).
    pub fn access_paths(&self, planned: &Planned) -> DfResult<Vec<String>> {
        let optimized = self.ctx.state().optimize(&planned.plan)?;
        Ok(access_paths::<G>(&optimized))
    }

    /// Runs a planned query (its parameters bound), seeing `writes`.
    pub async fn run(&self, planned: &Planned, writes: Arc<Writes>) -> DfResult<Rows> {
        *self.schema.writes.lock().unwrap_or_else(|e| e.into_inner()) = writes;
        let batches = self.ctx.execute_logical_plan(planned.plan.clone()).await?.collect().await?;
        let mut rows = Vec::new();
        for batch in &batches {
            let columns: Vec<Vec<Json>> = batch
                .columns()
                .iter()
                .enumerate()
                .map(|(i, a)| json_values(a.as_ref(), planned.trimmed.get(i).copied().unwrap_or(false)))
                .collect::<DfResult<_>>()?;
            for r in 0..batch.num_rows() {
                rows.push(columns.iter().map(|c| c[r].clone()).collect());
            }
        }
        Ok(Rows { columns: planned.columns.clone(), rows })
    }
}

/// An Arrow column as JSON values (null for NULL); types without an Orbit
/// column type become their text. Decimals are their numeric text, without
/// trailing zeros when `trimmed`.
fn json_values(array: &dyn Array, trimmed: bool) -> DfResult<Vec<Json>> {
    macro_rules! each {
        ($t:ty, $f:expr) => {{
            let a = array
                .as_any()
                .downcast_ref::<$t>()
                .ok_or_else(|| DataFusionError::Internal("unexpected array type".into()))?;
            (0..a.len()).map(|i| if a.is_null(i) { Json::Null } else { $f(a.value(i)) }).collect()
        }};
    }
    let number =
        |f: f64| serde_json::Number::from_f64(f).map_or_else(|| Json::String(f.to_string()), Json::Number);
    Ok(match array.data_type() {
        DataType::Null => vec![Json::Null; array.len()],
        DataType::List(_) => {
            let a = array
                .as_any()
                .downcast_ref::<ListArray>()
                .ok_or_else(|| DataFusionError::Internal("unexpected array type".into()))?;
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        Ok(Json::Null)
                    } else {
                        json_values(a.value(i).as_ref(), trimmed).map(Json::Array)
                    }
                })
                .collect::<DfResult<_>>()?
        }
        DataType::Boolean => each!(BooleanArray, Json::Bool),
        DataType::Int8 => each!(Int8Array, |v: i8| Json::from(v)),
        DataType::Int16 => each!(Int16Array, |v: i16| Json::from(v)),
        DataType::Int32 => each!(Int32Array, |v: i32| Json::from(v)),
        DataType::Int64 => each!(Int64Array, |v: i64| Json::from(v)),
        DataType::UInt8 => each!(UInt8Array, |v: u8| Json::from(v)),
        DataType::UInt16 => each!(UInt16Array, |v: u16| Json::from(v)),
        DataType::UInt32 => each!(UInt32Array, |v: u32| Json::from(v)),
        DataType::UInt64 => each!(UInt64Array, |v: u64| Json::String(v.to_string())),
        DataType::Float32 => each!(Float32Array, |v: f32| number(f64::from(v))),
        DataType::Float64 => each!(Float64Array, number),
        DataType::Utf8 => each!(StringArray, |v: &str| Json::String(v.to_string())),
        DataType::LargeUtf8 => each!(LargeStringArray, |v: &str| Json::String(v.to_string())),
        DataType::Utf8View => each!(StringViewArray, |v: &str| Json::String(v.to_string())),
        DataType::Binary => each!(BinaryArray, |v: &[u8]| Json::String(crate::sql::types::bytea::format(v))),
        DataType::LargeBinary => {
            each!(LargeBinaryArray, |v: &[u8]| Json::String(crate::sql::types::bytea::format(v)))
        }
        DataType::BinaryView => {
            each!(BinaryViewArray, |v: &[u8]| Json::String(crate::sql::types::bytea::format(v)))
        }
        DataType::FixedSizeBinary(_) => {
            each!(FixedSizeBinaryArray, |v: &[u8]| Json::String(crate::sql::types::bytea::format(v)))
        }
        DataType::Decimal128(_, scale) => {
            let scale = *scale;
            each!(Decimal128Array, |v: i128| Json::String(crate::sql::types::numeric::text_of_i128(
                v, scale, trimmed
            )))
        }
        DataType::Date32 => each!(Date32Array, |v: i32| Json::String(
            NaiveDate::default()
                .checked_add_signed(chrono::TimeDelta::days(i64::from(v)))
                .map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string())
        )),
        DataType::Timestamp(_, zone) => {
            let micros =
                datafusion::arrow::compute::cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            let zoned = zone.is_some();
            let show = move |v: i64| {
                let t = chrono::DateTime::from_timestamp_micros(v).unwrap_or_default();
                Json::String(if zoned {
                    time::show_timestamptz(&t)
                } else {
                    time::show_timestamp(&t.naive_utc())
                })
            };
            let a = micros
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .ok_or_else(|| DataFusionError::Internal("unexpected array type".into()))?;
            (0..a.len()).map(|i| if a.is_null(i) { Json::Null } else { show(a.value(i)) }).collect()
        }
        _ => {
            let options = FormatOptions::default();
            let formatter = ArrayFormatter::try_new(array, &options)?;
            (0..array.len())
                .map(
                    |i| {
                        if array.is_null(i) {
                            Json::Null
                        } else {
                            Json::String(formatter.value(i).to_string())
                        }
                    },
                )
                .collect()
        }
    })
}
