//! Actor views: the actor system seen from SQL, so data written through any
//! front door can be read with `psql`, and any actor called from SQL.
//!
//! | relation | rows |
//! |---|---|
//! | `orbit_actors` | every stored actor: `kind`, `key`, `slot`, `partition`, `active`, `state` (jsonb) |
//! | `orbit_partitions` | `partition`, `first_slot`, `last_slot`, `leader`, `replicas`, `term`, `applied`, `lag` |
//! | `orbit_nodes` | the cluster's nodes: `node_id`, `addr`, `partitions_led`, `self` (one row on a single node) |
//! | `orbit_redis` | every live Redis key: `db`, `key`, `type`, `ttl_ms`, `value` (jsonb) |
//! | `orbit_reminders` | every durable reminder and job: `kind`, `key`, `name`, `period_ms`, `method`, `args` (jsonb), `next_fire` (timestamptz) |
//! | `orbit_activations` | every actor resident on the answering node: `kind`, `key`, `age_ms`, `idle_ms`, `waiting`, `timers` |
//! | `orbit_call(kind, key, method [, args jsonb])` | the actor's reply, as jsonb |
//!
//! The views read storage when a statement scans them (actors are not
//! activated, except that `orbit_redis` reads each key's value through its
//! actor, as Redis commands do; `orbit_activations` reads the node's
//! activation table); `kind = '...'` (`orbit_actors`, `orbit_activations`),
//! `db = n`, `key = '...'` (`orbit_redis`) and `key = '...'`
//! (`orbit_reminders`) narrow the scan. `orbit_call` runs at once, outside the SQL transaction,
//! like a sequence's `nextval`.

use crate::keyspace::DATABASE_KINDS;
use crate::keyspace::Meta;
use crate::keyspace::databases::Databases;
use crate::sql::types::jsonb;
use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, Expr as DfExpr, Operator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    TableProviderFilterPushDown, TableType, Volatility,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use orbit_shared::actors::reminders::ReminderInfo;
use orbit_shared::{ActivationInfo, ActorGateway, ActorId, Invocation, NodeDescription};
use serde_json::Value as Json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// `name`'s provider, or `None` for other names.
pub(crate) fn view<G: ActorGateway>(
    gateway: &Arc<G>,
    databases: &Arc<Databases>,
    name: &str,
) -> Option<Arc<dyn TableProvider>> {
    let kind = match name {
        "orbit_actors" => View::Actors,
        "orbit_partitions" => View::Partitions,
        "orbit_nodes" => View::Nodes,
        "orbit_redis" => View::Redis,
        "orbit_reminders" => View::Reminders,
        "orbit_activations" => View::Activations,
        _ => return None,
    };
    Some(Arc::new(ViewTable {
        gateway: gateway.clone(),
        databases: databases.clone(),
        schema: kind.schema(),
        kind,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Actors,
    Partitions,
    Nodes,
    Redis,
    Reminders,
    Activations,
}

impl View {
    fn schema(self) -> SchemaRef {
        let text = |n: &str| Field::new(n, DataType::Utf8, false);
        let int = |n: &str| Field::new(n, DataType::Int32, false);
        let long = |n: &str| Field::new(n, DataType::Int64, false);
        let fields = match self {
            View::Actors => vec![
                text("kind"),
                text("key"),
                int("slot"),
                int("partition"),
                Field::new("active", DataType::Boolean, false),
                jsonb::field("state", true),
            ],
            View::Partitions => vec![
                int("partition"),
                int("first_slot"),
                int("last_slot"),
                text("leader"),
                text("replicas"),
                long("term"),
                long("applied"),
                long("lag"),
            ],
            View::Nodes => vec![
                long("node_id"),
                text("addr"),
                long("partitions_led"),
                Field::new("self", DataType::Boolean, false),
            ],
            View::Redis => vec![
                int("db"),
                text("key"),
                text("type"),
                Field::new("ttl_ms", DataType::Int64, true),
                jsonb::field("value", true),
            ],
            View::Reminders => vec![
                text("kind"),
                text("key"),
                text("name"),
                long("period_ms"),
                text("method"),
                jsonb::field("args", false),
                Field::new("next_fire", timestamptz(), false),
            ],
            View::Activations => vec![
                text("kind"),
                text("key"),
                long("age_ms"),
                long("idle_ms"),
                long("waiting"),
                text("timers"),
            ],
        };
        Arc::new(Schema::new(fields))
    }
}

/// The Arrow type of a timestamptz column, as tables scan one.
fn timestamptz() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
}

/// The zone of [`timestamptz`] values.
const UTC: &str = "+00:00";

struct ViewTable<G> {
    gateway: Arc<G>,
    databases: Arc<Databases>,
    schema: SchemaRef,
    kind: View,
}

impl<G> std::fmt::Debug for ViewTable<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewTable").field("kind", &self.kind).finish()
    }
}

/// The constant a filter `column = constant` pins `name` to.
fn pinned(filters: &[DfExpr], name: &str) -> Option<ScalarValue> {
    filters.iter().find_map(|filter| {
        let DfExpr::BinaryExpr(binary) = filter else { return None };
        if binary.op != Operator::Eq {
            return None;
        }
        match (binary.left.as_ref(), binary.right.as_ref()) {
            (DfExpr::Column(c), DfExpr::Literal(v, _)) | (DfExpr::Literal(v, _), DfExpr::Column(c))
                if c.name == name && !v.is_null() =>
            {
                Some(v.clone())
            }
            _ => None,
        }
    })
}

fn pinned_text(filters: &[DfExpr], name: &str) -> Option<String> {
    match pinned(filters, name)? {
        ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s) => s,
        _ => None,
    }
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// A stored state as jsonb text: JSON as its canonical text, anything else
/// as a JSON string of its (escaped) text.
fn state_jsonb(state: &[u8]) -> String {
    match serde_json::from_slice::<Json>(state) {
        Ok(value) => jsonb::canonical(&value),
        Err(_) => jsonb::canonical(&Json::String(crate::keyspace::view::text(state))),
    }
}

/// One column's values under construction.
enum Column {
    Text(StringBuilder),
    Int(Vec<Option<i32>>),
    Long(Vec<Option<i64>>),
    Bool(Vec<bool>),
    /// Microseconds since the Unix epoch, in UTC ([`timestamptz`]).
    Timestamp(Vec<Option<i64>>),
}

impl Column {
    fn finish(self) -> ArrayRef {
        use datafusion::arrow::array::{BooleanArray, Int32Array, Int64Array, TimestampMicrosecondArray};
        match self {
            Column::Text(mut b) => Arc::new(b.finish()),
            Column::Int(v) => Arc::new(Int32Array::from(v)),
            Column::Long(v) => Arc::new(Int64Array::from(v)),
            Column::Bool(v) => Arc::new(BooleanArray::from(v)),
            Column::Timestamp(v) => Arc::new(TimestampMicrosecondArray::from(v).with_timezone(UTC)),
        }
    }
}

impl<G: ActorGateway> ViewTable<G> {
    async fn actors(&self, filters: &[DfExpr]) -> DfResult<Vec<Column>> {
        let node = self.gateway.describe().await.map_err(external)?;
        let kinds = match pinned_text(filters, "kind") {
            Some(kind) => vec![kind],
            None => stored_kinds(self.gateway.as_ref(), &node).await?,
        };
        let (mut kind_col, mut key_col, mut state_col) =
            (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
        let (mut slots, mut partitions, mut active) = (Vec::new(), Vec::new(), Vec::new());
        for kind in kinds {
            let mut cursor = None;
            loop {
                let page = match self
                    .gateway
                    .list_actors(&kind, cursor, orbit_shared::gateway::MAX_LIST_LIMIT)
                    .await
                {
                    Ok(page) => page,
                    // A kind named in a filter that the node does not host has no actors.
                    Err(e) if e.kind() == orbit_shared::ErrorKind::NotFound => break,
                    Err(e) => return Err(external(e)),
                };
                for actor in &page.actors {
                    let slot = ActorId::new(kind.clone(), actor.key.clone()).slot();
                    kind_col.append_value(&kind);
                    key_col.append_value(crate::keyspace::view::text(&actor.key));
                    slots.push(Some(i32::from(slot)));
                    partitions.push(partition_of(&node, slot));
                    active.push(actor.active);
                    state_col.append_value(state_jsonb(&actor.state));
                }
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(vec![
            Column::Text(kind_col),
            Column::Text(key_col),
            Column::Int(slots),
            Column::Int(partitions),
            Column::Bool(active),
            Column::Text(state_col),
        ])
    }

    /// Every stored `orbit:reminders` actor (the one of the pinned `key`
    /// only), its reminders expanded to rows.
    async fn reminders(&self, filters: &[DfExpr]) -> DfResult<Vec<Column>> {
        use orbit_shared::actors::reminders::KIND;
        let mut holders: Vec<(Bytes, Bytes)> = Vec::new();
        if let Some(key) = pinned_text(filters, "key") {
            let key = Bytes::from(key.into_bytes());
            let state = self.gateway.read_actor(ActorId::new(KIND, key.clone())).await.map_err(external)?;
            holders.extend(state.map(|state| (key, state)));
        } else {
            let (mut cursor, limit) = (None, orbit_shared::gateway::MAX_LIST_LIMIT);
            loop {
                let page = match self.gateway.list_actors(KIND, cursor, limit).await {
                    Ok(page) => page,
                    // A gateway that does not host reminders has none.
                    Err(e) if e.kind() == orbit_shared::ErrorKind::NotFound => break,
                    Err(e) => return Err(external(e)),
                };
                holders.extend(page.actors.into_iter().map(|a| (a.key, a.state)));
                match page.cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        let mut expanded = Vec::with_capacity(holders.len());
        for (key, state) in holders {
            expanded.push((key, crate::reminders::stored(&state).map_err(external)?));
        }
        Ok(reminder_rows(&expanded))
    }

    /// The actors resident on the answering node (of the pinned `kind`
    /// only).
    async fn activations(&self, filters: &[DfExpr]) -> DfResult<Vec<Column>> {
        let kind = pinned_text(filters, "kind");
        let resident = match self.gateway.activations(kind.as_deref()).await {
            Ok(resident) => resident,
            // A kind named in a filter that the node does not host has none.
            Err(e) if e.kind() == orbit_shared::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(external(e)),
        };
        Ok(activation_rows(&resident))
    }

    async fn partitions(&self) -> DfResult<Vec<Column>> {
        let node = self.gateway.describe().await.map_err(external)?;
        Ok(partition_rows(&node))
    }

    async fn nodes(&self) -> DfResult<Vec<Column>> {
        let node = self.gateway.describe().await.map_err(external)?;
        Ok(node_rows(&node))
    }

    async fn redis(&self, filters: &[DfExpr]) -> DfResult<Vec<Column>> {
        let dbs: Vec<u8> = match pinned(filters, "db") {
            Some(v) => match v.cast_to(&DataType::Int64) {
                Ok(ScalarValue::Int64(Some(n))) => u8::try_from(n)
                    .ok()
                    .filter(|&n| usize::from(n) < DATABASE_KINDS.len())
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            },
            None => (0..DATABASE_KINDS.len() as u8).collect(),
        };
        let key = pinned_text(filters, "key");
        let (mut db_col, mut ttl) = (Vec::new(), Vec::new());
        let (mut key_col, mut type_col, mut value_col) =
            (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
        for db in dbs {
            let keys: Vec<Bytes> = match &key {
                Some(k) => vec![Bytes::copy_from_slice(k.as_bytes())],
                None => live_keys(self.gateway.as_ref(), &self.databases, db).await?,
            };
            for k in keys {
                let value = crate::keyspace::view::get(
                    self.gateway.as_ref(),
                    &self.databases,
                    db,
                    &k,
                    i64::MAX as usize,
                )
                .await
                .map_err(|e| crate::sql::error::SqlError::from(e).into_datafusion())?;
                if value.key_type == "none" {
                    continue;
                }
                db_col.push(Some(i32::from(db)));
                key_col.append_value(&value.key);
                type_col.append_value(&value.key_type);
                ttl.push(value.ttl_ms);
                value_col.append_option(value.value.as_ref().map(jsonb::canonical));
            }
        }
        Ok(vec![
            Column::Int(db_col),
            Column::Text(key_col),
            Column::Text(type_col),
            Column::Long(ttl),
            Column::Text(value_col),
        ])
    }
}

/// `orbit_reminders`' columns: one row per reminder of each key's stored
/// reminders.
fn reminder_rows(holders: &[(Bytes, Vec<ReminderInfo>)]) -> Vec<Column> {
    let (mut kind, mut key, mut name) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let (mut method, mut args) = (StringBuilder::new(), StringBuilder::new());
    let (mut period, mut next_fire) = (Vec::new(), Vec::new());
    for (holder, reminders) in holders {
        let holder = crate::keyspace::view::text(holder);
        for r in reminders {
            kind.append_value(&r.kind);
            key.append_value(&holder);
            name.append_value(&r.name);
            period.push(Some(i64::try_from(r.period_ms).unwrap_or(i64::MAX)));
            method.append_value(&r.method);
            args.append_value(jsonb::canonical(&r.args));
            next_fire.push(Some(i64::try_from(r.next_fire_ms.saturating_mul(1000)).unwrap_or(i64::MAX)));
        }
    }
    vec![
        Column::Text(kind),
        Column::Text(key),
        Column::Text(name),
        Column::Long(period),
        Column::Text(method),
        Column::Text(args),
        Column::Timestamp(next_fire),
    ]
}

/// `orbit_activations`' columns: one row per resident actor, its running
/// timers' names joined with commas.
fn activation_rows(resident: &[ActivationInfo]) -> Vec<Column> {
    let (mut kind, mut key, mut timers) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
    let (mut age, mut idle, mut waiting) = (Vec::new(), Vec::new(), Vec::new());
    let long = |n: u64| Some(i64::try_from(n).unwrap_or(i64::MAX));
    for a in resident {
        kind.append_value(&a.id.kind);
        key.append_value(crate::keyspace::view::text(&a.id.key));
        age.push(long(a.age_ms));
        idle.push(long(a.idle_ms));
        waiting.push(long(a.waiting as u64));
        timers.append_value(a.timers.join(","));
    }
    vec![
        Column::Text(kind),
        Column::Text(key),
        Column::Long(age),
        Column::Long(idle),
        Column::Long(waiting),
        Column::Text(timers),
    ]
}

/// `orbit_partitions`' columns: one row per partition, its replicas' gRPC
/// addresses joined with commas.
fn partition_rows(node: &NodeDescription) -> Vec<Column> {
    let (mut leader, mut replicas) = (StringBuilder::new(), StringBuilder::new());
    let (mut ids, mut first, mut last) = (Vec::new(), Vec::new(), Vec::new());
    let (mut term, mut applied, mut lag) = (Vec::new(), Vec::new(), Vec::new());
    let long = |n: u64| Some(i64::try_from(n).unwrap_or(i64::MAX));
    for p in &node.partitions {
        ids.push(Some(p.id as i32));
        first.push(Some(p.first_slot as i32));
        last.push(Some(p.end_slot as i32 - 1));
        leader.append_value(&p.leader);
        replicas.append_value(p.replicas.join(","));
        term.push(long(p.term));
        applied.push(long(p.applied));
        lag.push(long(p.lag));
    }
    vec![
        Column::Int(ids),
        Column::Int(first),
        Column::Int(last),
        Column::Text(leader),
        Column::Text(replicas),
        Column::Long(term),
        Column::Long(applied),
        Column::Long(lag),
    ]
}

/// `orbit_nodes`' columns: the cluster's nodes, or on a node without a
/// cluster the node itself (id 0) leading every partition.
fn node_rows(node: &NodeDescription) -> Vec<Column> {
    let mut addr = StringBuilder::new();
    let (mut ids, mut led, mut own) = (Vec::new(), Vec::new(), Vec::new());
    if node.nodes.is_empty() {
        ids.push(Some(0));
        addr.append_value(&node.grpc_addr);
        led.push(Some(i64::from(node.partitions_led())));
        own.push(true);
    }
    for n in &node.nodes {
        ids.push(Some(i64::try_from(n.id).unwrap_or(i64::MAX)));
        addr.append_value(&n.addr);
        led.push(Some(i64::from(n.partitions_led)));
        own.push(n.id == node.node_id);
    }
    vec![Column::Long(ids), Column::Text(addr), Column::Long(led), Column::Bool(own)]
}

/// The partition serving `slot`.
fn partition_of(node: &NodeDescription, slot: u16) -> Option<i32> {
    let slot = u32::from(slot);
    node.partitions.iter().find(|p| p.first_slot <= slot && slot < p.end_slot).map(|p| p.id as i32)
}

/// The kinds actors may be stored under: every registered kind, with the
/// `row:*` family expanded to the tables of the SQL catalog.
async fn stored_kinds<G: ActorGateway>(gateway: &G, node: &NodeDescription) -> DfResult<Vec<String>> {
    let mut kinds: Vec<String> =
        node.kinds.iter().map(|k| k.kind.clone()).filter(|k| !k.ends_with('*')).collect();
    if node.kinds.iter().any(|k| k.kind == crate::sql::ROW_FAMILY) {
        let tables = crate::sql::tables(gateway).await.map_err(external)?;
        kinds.extend(tables.iter().map(|t| t.row_kind()));
    }
    kinds.sort();
    Ok(kinds)
}

/// The keys of database `db` that are live now (read from storage).
async fn live_keys<G: ActorGateway>(gateway: &G, dbs: &Databases, db: u8) -> DfResult<Vec<Bytes>> {
    let kind = dbs.kind(usize::from(db));
    let now = crate::keyspace::now_ms();
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = gateway
            .list_actors(kind, cursor, orbit_shared::gateway::MAX_LIST_LIMIT)
            .await
            .map_err(external)?;
        for actor in page.actors {
            let live = serde_json::from_slice::<Meta>(&actor.state).is_ok_and(|m| m.is_live(now));
            if live {
                keys.push(actor.key);
            }
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(keys),
        }
    }
}

#[async_trait::async_trait]
impl<G: ActorGateway> TableProvider for ViewTable<G> {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    fn supports_filters_pushdown(&self, filters: &[&DfExpr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Pinned columns narrow the scan; DataFusion still applies every filter.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[DfExpr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let columns = match self.kind {
            View::Actors => self.actors(filters).await?,
            View::Partitions => self.partitions().await?,
            View::Nodes => self.nodes().await?,
            View::Redis => self.redis(filters).await?,
            View::Reminders => self.reminders(filters).await?,
            View::Activations => self.activations(filters).await?,
        };
        let arrays: Vec<ArrayRef> = columns.into_iter().map(Column::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        let exec =
            MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema.clone(), projection.cloned())?;
        Ok(exec)
    }
}

// --- orbit_call ------------------------------------------------------------

/// `orbit_call(kind, key, method [, args jsonb]) -> jsonb`: invokes the
/// actor's method with `args` (JSON; none when omitted) and returns its
/// reply. With `read_only` set (MCP's read-only SQL), only methods the
/// kind declares read-only may be called.
struct OrbitCall<G> {
    gateway: Arc<G>,
    signature: Signature,
    read_only: Arc<AtomicBool>,
}

impl<G> std::fmt::Debug for OrbitCall<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OrbitCall")
    }
}

impl<G> PartialEq for OrbitCall<G> {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl<G> Eq for OrbitCall<G> {}

impl<G> std::hash::Hash for OrbitCall<G> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        "orbit_call".hash(state);
    }
}

/// The message start of an `orbit_call` failure.
const CALL_FAILED: &str = "orbit_call failed";

impl<G: ActorGateway> ScalarUDFImpl for OrbitCall<G> {
    fn name(&self) -> &str {
        "orbit_call"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> DfResult<FieldRef> {
        Ok(Arc::new(jsonb::field("orbit_call", true)))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        Err(DataFusionError::Internal("orbit_call runs asynchronously".into()))
    }
}

#[async_trait::async_trait]
impl<G: ActorGateway> AsyncScalarUDFImpl for OrbitCall<G> {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        if !(3..=4).contains(&args.args.len()) {
            return Err(DataFusionError::Plan(
                "No function matches orbit_call with these arguments: it takes (kind, key, method [, args jsonb])"
                    .into(),
            ));
        }
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<DfResult<_>>()?;
        let read_only_methods = match self.read_only.load(Ordering::Relaxed) {
            true => Some(self.gateway.describe().await.map_err(external)?),
            false => None,
        };
        let mut out = StringBuilder::new();
        for row in 0..rows {
            let text = |i: usize| -> DfResult<Option<String>> {
                Ok(match arrays.get(i).map(|a| ScalarValue::try_from_array(a, row)).transpose()? {
                    None => None,
                    Some(v) if v.is_null() => None,
                    Some(ScalarValue::Utf8(s) | ScalarValue::Utf8View(s) | ScalarValue::LargeUtf8(s)) => s,
                    Some(v) => Some(v.to_string()),
                })
            };
            let (Some(kind), Some(key), Some(method)) = (text(0)?, text(1)?, text(2)?) else {
                out.append_null(); // strict: NULL in, NULL out
                continue;
            };
            // No arguments: an empty payload, as `ACTOR.CALL kind key method` sends.
            let body = match text(3)? {
                None => Bytes::new(),
                Some(t) => {
                    let value = jsonb::parse(&t).ok_or_else(|| jsonb::bad_input(&t))?;
                    Bytes::from(serde_json::to_vec(&value).map_err(external)?)
                }
            };
            if DATABASE_KINDS.contains(&kind.as_str()) {
                return Err(call_failed(format!(
                    "{CALL_FAILED}: Redis keys are not called with orbit_call; read them from orbit_redis"
                )));
            }
            if let Some(node) = &read_only_methods {
                check_read_only(node, &kind, &method)?;
            }
            let id = ActorId::new(kind.clone(), key.into_bytes());
            let reply = self
                .gateway
                .invoke(id, Invocation::new(method.clone(), body))
                .await
                .map_err(|e| call_error(e, &format!("{CALL_FAILED}: {kind}.{method}")))?;
            out.append_value(state_jsonb(&reply.value));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// In read-only SQL, only methods declared read-only may be called.
fn check_read_only(node: &NodeDescription, kind: &str, method: &str) -> DfResult<()> {
    let declared = node
        .kinds
        .iter()
        .find(|k| k.kind == kind)
        .and_then(|k| k.methods.iter().find(|m| m.name == method))
        .is_some_and(|m| m.read_only);
    if declared {
        Ok(())
    } else {
        Err(crate::sql::error::error(
            crate::sql::error::Code::ReadOnlySqlTransaction,
            format!("{READ_ONLY_CALL}: orbit_call of {kind}.{method}, a method not declared read-only"),
        )
        .into_datafusion())
    }
}

/// An `orbit_call` the actor refused (SQLSTATE 38000).
fn call_failed(message: String) -> DataFusionError {
    crate::sql::error::error(crate::sql::error::Code::ExternalRoutineException, message).into_datafusion()
}

/// A failed actor call: what the call itself got wrong (an unknown kind or
/// method, bad arguments, the actor's own error) is 38000; the node's
/// conditions (a timeout, a full mailbox, shutdown) keep their class.
fn call_error(e: orbit_shared::Error, context: &str) -> DataFusionError {
    use orbit_shared::ErrorKind;
    match e.kind() {
        ErrorKind::Unavailable | ErrorKind::Timeout => {
            let mut sql = crate::sql::error::SqlError::from(e);
            sql.message = format!("{context}: {}", sql.message);
            sql.into_datafusion()
        }
        _ => call_failed(format!("{context}: {e}")),
    }
}

/// The message start of a refused call in read-only SQL (SQLSTATE 25006).
pub(crate) const READ_ONLY_CALL: &str = "cannot execute in a read-only transaction";

/// Registers `orbit_call` on `ctx`; `read_only` decides, per statement,
/// whether only read-only methods may be called.
pub(crate) fn register_functions<G: ActorGateway>(
    ctx: &SessionContext,
    gateway: Arc<G>,
    read_only: Arc<AtomicBool>,
) {
    let call = OrbitCall { gateway, signature: Signature::variadic_any(Volatility::Volatile), read_only };
    ctx.register_udf(AsyncScalarUDF::new(Arc::new(call)).into_scalar_udf());
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, BooleanArray, Int64Array, StringArray};
    use orbit_shared::{ClusterNodeDescription, PartitionDescription};

    const ADDR: &str = "127.0.0.1:50051";

    /// `rows` as a batch of `view`'s schema (which checks they agree).
    fn batch(view: View, rows: Vec<Column>) -> RecordBatch {
        let arrays: Vec<ArrayRef> = rows.into_iter().map(Column::finish).collect();
        RecordBatch::try_new(view.schema(), arrays).unwrap()
    }

    fn text(batch: &RecordBatch, column: &str, row: usize) -> String {
        let array = batch.column_by_name(column).unwrap();
        array.as_any().downcast_ref::<StringArray>().unwrap().value(row).to_string()
    }

    fn long(batch: &RecordBatch, column: &str, row: usize) -> i64 {
        let array = batch.column_by_name(column).unwrap();
        array.as_any().downcast_ref::<Int64Array>().unwrap().value(row)
    }

    fn boolean(batch: &RecordBatch, column: &str, row: usize) -> bool {
        let array = batch.column_by_name(column).unwrap();
        array.as_any().downcast_ref::<BooleanArray>().unwrap().value(row)
    }

    /// A node without a cluster: it leads and holds both its partitions.
    fn single_node() -> NodeDescription {
        NodeDescription {
            grpc_addr: ADDR.into(),
            partitions: (0..2)
                .map(|id| PartitionDescription {
                    id,
                    first_slot: id * 8192,
                    end_slot: (id + 1) * 8192,
                    leader: ADDR.into(),
                    replicas: vec![ADDR.into()],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_single_node_is_the_one_row_of_orbit_nodes() {
        let nodes = batch(View::Nodes, node_rows(&single_node()));
        assert_eq!(nodes.num_rows(), 1);
        assert_eq!(long(&nodes, "node_id", 0), 0);
        assert_eq!(text(&nodes, "addr", 0), ADDR);
        assert_eq!(long(&nodes, "partitions_led", 0), 2);
        assert!(boolean(&nodes, "self", 0));

        let partitions = batch(View::Partitions, partition_rows(&single_node()));
        assert_eq!(partitions.num_rows(), 2);
        for row in 0..2 {
            assert_eq!(text(&partitions, "leader", row), ADDR);
            assert_eq!(text(&partitions, "replicas", row), ADDR);
            assert_eq!(long(&partitions, "term", row), 0);
            assert_eq!(long(&partitions, "applied", row), 0);
            assert_eq!(long(&partitions, "lag", row), 0);
        }
    }

    #[test]
    fn a_cluster_node_lists_every_node_and_its_partitions_replicas() {
        let mut node = single_node();
        node.cluster_id = "c-1".into();
        node.node_id = 2;
        node.nodes = vec![
            ClusterNodeDescription { id: 1, addr: "10.0.0.1:50051".into(), partitions_led: 1 },
            ClusterNodeDescription { id: 2, addr: ADDR.into(), partitions_led: 1 },
        ];
        node.partitions[0].leader = "10.0.0.1:50051".into();
        node.partitions[0].replicas = vec!["10.0.0.1:50051".into(), ADDR.into()];
        node.partitions[0].term = 3;
        node.partitions[0].applied = 17;
        node.partitions[1].lag = 4;

        let nodes = batch(View::Nodes, node_rows(&node));
        assert_eq!(nodes.num_rows(), 2);
        assert_eq!((long(&nodes, "node_id", 0), boolean(&nodes, "self", 0)), (1, false));
        assert_eq!((long(&nodes, "node_id", 1), boolean(&nodes, "self", 1)), (2, true));
        assert_eq!(text(&nodes, "addr", 0), "10.0.0.1:50051");
        assert_eq!(long(&nodes, "partitions_led", 1), 1);

        let partitions = batch(View::Partitions, partition_rows(&node));
        assert_eq!(text(&partitions, "leader", 0), "10.0.0.1:50051");
        assert_eq!(text(&partitions, "replicas", 0), format!("10.0.0.1:50051,{ADDR}"));
        assert_eq!((long(&partitions, "term", 0), long(&partitions, "applied", 0)), (3, 17));
        assert_eq!(long(&partitions, "lag", 1), 4);
    }

    #[test]
    fn each_stored_reminder_is_a_row_of_orbit_reminders() {
        use datafusion::arrow::array::TimestampMicrosecondArray;
        let reminder = |kind: &str, name: &str, period_ms: u64, next_fire_ms: u64| ReminderInfo {
            kind: kind.into(),
            name: name.into(),
            period_ms,
            method: "increment".into(),
            args: serde_json::json!({"by": 1}),
            next_fire_ms,
        };
        let holders = vec![
            (Bytes::from_static(b"k1"), vec![reminder("counter", "tick", 1000, 1_700_000_000_123)]),
            (Bytes::from_static(b"k\xff"), vec![reminder("counter", "job", 0, 5)]),
            (Bytes::from_static(b"k3"), Vec::new()),
        ];
        let rows = batch(View::Reminders, reminder_rows(&holders));
        assert_eq!(rows.num_rows(), 2);
        assert_eq!(
            [text(&rows, "kind", 0), text(&rows, "key", 0), text(&rows, "name", 0)],
            ["counter", "k1", "tick"]
        );
        // A key that is not UTF-8 is escaped, as in `orbit_actors`.
        assert_eq!([text(&rows, "name", 1), text(&rows, "key", 1)], ["job", "k\\xff"]);
        assert_eq!((long(&rows, "period_ms", 0), long(&rows, "period_ms", 1)), (1000, 0));
        assert_eq!(text(&rows, "args", 0), r#"{"by": 1}"#);
        let next = rows.column_by_name("next_fire").unwrap();
        let next = next.as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
        assert_eq!((next.value(0), next.value(1)), (1_700_000_000_123_000, 5000));
        assert_eq!(next.timezone(), Some(UTC));
    }

    #[test]
    fn each_resident_actor_is_a_row_of_orbit_activations() {
        let resident = vec![
            ActivationInfo {
                id: ActorId::new("counter", "home"),
                age_ms: 1500,
                idle_ms: 20,
                waiting: 2,
                timers: vec!["flush".into(), "tick".into()],
            },
            ActivationInfo {
                id: ActorId::new("counter", Bytes::from_static(b"k\xff")),
                age_ms: 7,
                idle_ms: 7,
                waiting: 0,
                timers: Vec::new(),
            },
        ];
        let rows = batch(View::Activations, activation_rows(&resident));
        assert_eq!(rows.num_rows(), 2);
        assert_eq!([text(&rows, "kind", 0), text(&rows, "key", 0)], ["counter", "home"]);
        assert_eq!(
            [long(&rows, "age_ms", 0), long(&rows, "idle_ms", 0), long(&rows, "waiting", 0)],
            [1500, 20, 2]
        );
        assert_eq!(text(&rows, "timers", 0), "flush,tick");
        // A key that is not UTF-8 is escaped, as in `orbit_actors`.
        assert_eq!([text(&rows, "key", 1), text(&rows, "timers", 1)], ["k\\xff", ""]);
    }
}
