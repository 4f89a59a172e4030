//! Tables as DataFusion sees them: each table a `TableProvider` over its
//! row actors (a point read, an index entry's rows, or a scan) plus the
//! session's uncommitted writes, and the schema that resolves names to them.

use super::sequences::SequenceTable;
use super::*;
use crate::sql::error::SqlError;

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
pub(super) struct RowsTable<G> {
    gateway: Arc<G>,
    table: Arc<Table>,
    schema: SchemaRef,
    /// The session's uncommitted writes to this table.
    staged: BTreeMap<Vec<u8>, Staged>,
    /// Whether the session's transaction changed the table's schema: its
    /// indexes may hold entries staged in the transaction only, which this
    /// provider does not see, so it reads no index.
    schema_staged: bool,
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
            Some((index, key)) if !self.schema_staged => Access::Index(index.name.clone(), key),
            _ => Access::Scan,
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
pub(super) fn access_paths<G: ActorGateway>(plan: &LogicalPlan) -> Vec<String> {
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
pub(super) struct OrbitSchema<G> {
    pub(super) gateway: Arc<G>,
    pub(super) schemas: Arc<crate::sql::catalog::schemas::Schemas>,
    /// The Redis databases' table (`orbit_redis`).
    pub(super) databases: Arc<crate::keyspace::databases::Databases>,
    /// The session's uncommitted writes, as of the statement being planned.
    pub(super) writes: Mutex<Arc<Writes>>,
    /// Whether tables without a primary key show [`ROW_KEY`] (set while
    /// UPDATE and DELETE plan their searches).
    pub(super) keyed: std::sync::atomic::AtomicBool,
    /// The system catalogs' snapshot (`pg_class` and friends resolve
    /// unqualified, as `pg_catalog` is first on PostgreSQL's search path).
    pub(super) system: pg_catalog::SnapshotCell,
    /// The sequence values this session drew (`currval`, `lastval`).
    pub(super) drawn: super::sequences::DrawnCell,
    /// The relations the session's transaction changed, as its current
    /// statement began (where sequence functions look after the
    /// statement's own writes).
    pub(super) transaction_tables: Mutex<Arc<BTreeMap<String, Option<Arc<Table>>>>>,
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
        if let Some(view) = crate::sql::system::views::view(&self.gateway, &self.databases, name) {
            return Ok(Some(view));
        }
        let writes = self.writes.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let schema_staged = writes.table(name).is_some();
        let table = match writes.table(name) {
            Some(staged) => staged,
            None => (self.schemas.get(self.gateway.as_ref(), name).await)
                .map_err(|e| DataFusionError::External(Box::new(e)))?,
        };
        let Some(table) = table else {
            // The sequence behind a SERIAL column has no catalog entry of
            // its own; every such name ends so.
            if name.ends_with("_seq") {
                let found =
                    super::sequences::resolve(self.gateway.as_ref(), &self.schemas, &writes, name).await;
                if let Ok(sequence) = found {
                    return Ok(Some(Arc::new(SequenceTable { gateway: self.gateway.clone(), sequence })));
                }
            }
            return Ok(None);
        };
        if table.sequence.is_some() {
            let sequence = super::sequences::of_relation(&table).map_err(SqlError::into_datafusion)?;
            return Ok(Some(Arc::new(SequenceTable { gateway: self.gateway.clone(), sequence })));
        }
        let staged = writes.rows.get(&table.name).cloned().unwrap_or_default();
        let schema = table_schema(&table, self.keyed.load(std::sync::atomic::Ordering::Relaxed));
        Ok(Some(Arc::new(RowsTable { gateway: self.gateway.clone(), table, schema, staged, schema_staged })))
    }

    /// Only DataFusion's own DDL asks, and Orbit runs its DDL itself.
    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}
