//! General queries through DataFusion (decision 0006): each table is a
//! `TableProvider` whose scan reads the table's row actors (a point read
//! when a filter pins the primary key) plus the session's uncommitted
//! writes, as one Arrow batch; DataFusion plans and runs the rest (joins,
//! aggregates, sorting, functions, subqueries, CTEs). Results come back as
//! rows of JSON values with their SQL types, as every other statement's do.
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | the [`Planner`]: a session's DataFusion context, statements planned and run |
//! | `arrow.rs` | rows as Arrow batches and Arrow results as JSON values |
//! | `provider.rs` | tables as DataFusion providers over row actors and uncommitted writes |
//! | `rewrite.rs` | PostgreSQL's SQL spellings rewritten into what DataFusion plans |
//! | `literals.rs` | quoted literals compared with uuid and bytea columns, read as the column's type |
//! | `pg_sleep.rs` | `pg_sleep(seconds)`, waiting on the runtime's timer |
//! | `views.rs` | views read in place: their queries expanded as subqueries before planning |
//! | `sequences.rs` | `nextval`/`currval`/`setval`/`lastval`, and a sequence read as a relation |

mod arrow;
pub(crate) mod literals;
pub(crate) mod pg_sleep;
mod provider;
pub(crate) mod rewrite;
pub(crate) mod sequences;
mod views;

pub(crate) use arrow::field_sql_type;
use arrow::{json_values, table_schema, to_batch};
use provider::{OrbitSchema, access_paths};
pub(crate) use provider::{read_all, read_row};

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

/// A session's uncommitted writes: rows by table then key, and the
/// schemas its DDL changed.
#[derive(Debug, Default, Clone)]
pub(crate) struct Writes {
    pub rows: BTreeMap<String, BTreeMap<Vec<u8>, Staged>>,
    /// Tables created, altered (`Some`) or dropped (`None`) by the
    /// transaction, by name.
    pub tables: BTreeMap<String, Option<Arc<Table>>>,
}

impl Writes {
    /// Table `name` as the transaction changed it: `Some(None)` when it
    /// dropped it, `None` when it did not touch it.
    pub fn table(&self, name: &str) -> Option<Option<Arc<Table>>> {
        self.tables.get(name).cloned()
    }

    /// The committed `tables` as the transaction sees them, by name.
    pub fn over(&self, committed: Vec<Table>) -> Vec<Table> {
        if self.tables.is_empty() {
            return committed;
        }
        let mut seen: BTreeMap<String, Table> = committed.into_iter().map(|t| (t.name.clone(), t)).collect();
        for (name, staged) in &self.tables {
            match staged {
                Some(table) => seen.insert(name.clone(), Table::clone(table)),
                None => seen.remove(name),
            };
        }
        seen.into_values().collect()
    }
}

/// The column a table without a primary key shows its hidden row keys
/// in, for UPDATE and DELETE to find rows ([`Planner::plan_keyed`]).
pub(crate) const ROW_KEY: &str = "ctid";

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
        // Columns selected so far: a column selected again is aliased too
        // (`SELECT g, g`), as DataFusion would refuse the second.
        let mut columns = std::collections::HashSet::new();
        for (i, item) in select.projection.iter_mut().enumerate() {
            if let SelectItem::UnnamedExpr(expr) = item {
                let column = match &*expr {
                    sqlparser::ast::Expr::Identifier(id) => Some(crate::sql::parse::ident(id)),
                    sqlparser::ast::Expr::CompoundIdentifier(parts) => {
                        parts.last().map(crate::sql::parse::ident)
                    }
                    _ => None,
                };
                let repeated = column.filter(|_| !columns.insert(expr.to_string()));
                match repeated.or_else(|| pg_column_name(expr)) {
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
    pub fn new(
        gateway: Arc<G>,
        schemas: Arc<crate::sql::catalog::schemas::Schemas>,
        databases: Arc<crate::keyspace::databases::Databases>,
        setting: pg_catalog::functions::Setting,
    ) -> Self {
        let config =
            SessionConfig::new().with_default_catalog_and_schema("orbit", "public").with_target_partitions(1);
        let ctx = SessionContext::new_with_config(config);
        let system: pg_catalog::SnapshotCell = Arc::default();
        let read_only = Arc::new(std::sync::atomic::AtomicBool::new(false));
        crate::sql::system::views::register_functions(&ctx, gateway.clone(), read_only.clone());
        let schema = Arc::new(OrbitSchema {
            gateway,
            schemas,
            databases,
            writes: Mutex::new(Arc::new(Writes::default())),
            keyed: std::sync::atomic::AtomicBool::new(false),
            system: system.clone(),
            drawn: sequences::DrawnCell::default(),
            transaction_tables: Mutex::default(),
        });
        sequences::register_functions(&ctx, &schema, &read_only);
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
        pg_catalog::functions::register_functions(&ctx, &system, &crate::sql::version_text(), setting);
        crate::sql::types::jsonb::register_functions(&ctx);
        crate::sql::types::uuid::register_functions(&ctx);
        crate::sql::types::bytea::register_functions(&ctx);
        crate::sql::types::numeric::register_functions(&ctx);
        crate::sql::plan::pg_sleep::register_function(&ctx);
        Planner { ctx, schema, system, read_only }
    }

    /// The relations the session's transaction created, changed or
    /// dropped, as the statement about to run starts.
    pub fn set_transaction_tables(&self, tables: &BTreeMap<String, Option<Arc<Table>>>) {
        let mut current = self.schema.transaction_tables.lock().unwrap_or_else(|e| e.into_inner());
        if !(current.is_empty() && tables.is_empty()) {
            *current = Arc::new(tables.clone());
        }
    }

    /// The sequence values this session drew.
    pub fn drawn(&self) -> &sequences::DrawnCell {
        &self.schema.drawn
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
        self.expand_views(&mut statement, &writes).await?;
        sequences::unwrap_regclass(&mut statement);
        if pg_catalog::reads_catalog(&statement) {
            let tables = crate::sql::tables(self.schema.gateway.as_ref())
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let tables = writes.over(tables);
            let snapshot =
                pg_catalog::Snapshot { tables, owner: "postgres".into(), database: "postgres".into() };
            *self.system.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        }
        *self.schema.writes.lock().unwrap_or_else(|e| e.into_inner()) = writes;
        crate::sql::plan::rewrite::rewrite(&mut statement);
        let names = output_names(&mut statement);
        sequences::number_calls(&mut statement);
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
