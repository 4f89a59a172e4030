//! The tools: key-value (the Redis keyspace), actors, and the node.
//!
//! Every tool has a JSON Schema for its input and output, runs under the
//! configured timeout, and refuses results over the configured size. A
//! failure is an [`McpError`]: rmcp makes it a tool result with `isError`
//! and a message that starts with its class (`timeout: ...`,
//! `unavailable: ...`), so an agent can act on it; tools that change data
//! are refused while the server is read-only.

use super::{McpError, OrbitMcp};
use crate::keyspace::view as kv;
use orbit_shared::{ActorGateway, ActorId, Invocation, NodeDescription};
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn default_pattern() -> String {
    "*".into()
}

/// Makes a generated schema plain JSON Schema that every client accepts:
/// `true` subschemas (schemars' `serde_json::Value`) become `{}`, and Rust
/// integer formats (`uint8`, `int64`...), which JSON Schema does not
/// define, are dropped.
pub(super) fn portable(schema: &mut serde_json::Map<String, serde_json::Value>) {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Bool(true) => *value = serde_json::Value::Object(Default::default()),
            serde_json::Value::Object(map) => {
                let rust_format = map.get("format").and_then(|f| f.as_str()).is_some_and(|f| {
                    matches!(
                        f.trim_start_matches('u').trim_start_matches("int"),
                        "" | "8" | "16" | "32" | "64"
                    ) || f == "double"
                        || f == "float"
                });
                if rust_format {
                    map.remove("format");
                }
                for (key, child) in map.iter_mut() {
                    // Property names and enum values are data, not schemas.
                    if key != "enum" && key != "const" && key != "default" && key != "examples" {
                        walk(child);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    for (key, child) in schema.iter_mut() {
        if key != "enum" && key != "const" && key != "default" {
            walk(child);
        }
    }
}

/// A count: a positive integer.
pub(super) fn count(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": ["integer", "null"], "minimum": 1 })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyArgs {
    /// The Redis key (UTF-8).
    pub key: String,
    #[serde(default)]
    #[schemars(schema_with = "crate::keyspace::view::database_schema")]
    pub db: u8,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetArgs {
    /// The Redis key (UTF-8).
    pub key: String,
    #[serde(default)]
    #[schemars(schema_with = "crate::keyspace::view::database_schema")]
    pub db: u8,
    /// The most elements of a list, set, hash or sorted set to return
    /// (capped by the server's `max_items`).
    #[schemars(schema_with = "count")]
    pub max_items: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetArgs {
    /// The Redis key (UTF-8).
    pub key: String,
    /// The string value to store (replaces any value of any type).
    pub value: String,
    /// Time to live in milliseconds; the key has no TTL when omitted.
    pub ttl_ms: Option<u64>,
    #[serde(default)]
    #[schemars(schema_with = "crate::keyspace::view::database_schema")]
    pub db: u8,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteArgs {
    /// The keys to delete (keys that do not exist are ignored).
    pub keys: Vec<String>,
    #[serde(default)]
    #[schemars(schema_with = "crate::keyspace::view::database_schema")]
    pub db: u8,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanArgs {
    /// A Redis glob pattern (`*`, `?`, `[a-z]`, `\` escapes); `*` by default.
    #[serde(default = "default_pattern")]
    pub pattern: String,
    #[serde(default)]
    #[schemars(schema_with = "crate::keyspace::view::database_schema")]
    pub db: u8,
    /// The `cursor` of the previous page; omit it for the first page.
    pub cursor: Option<String>,
    /// Keys to examine in this call (like SCAN's COUNT), 100 by default,
    /// capped by the server's `max_items`.
    #[schemars(schema_with = "count")]
    pub count: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListActorsArgs {
    /// The actor kind (see `list_actor_kinds`).
    pub kind: String,
    /// The `cursor` of the previous page; omit it for the first page.
    pub cursor: Option<String>,
    /// Actors per page, 100 by default, capped by the server's `max_items`.
    #[schemars(schema_with = "count")]
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActorArgs {
    /// The actor kind (see `list_actor_kinds`).
    pub kind: String,
    /// The actor's key (UTF-8).
    pub key: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallArgs {
    /// The actor kind (see `list_actor_kinds`).
    pub kind: String,
    /// The actor's key (UTF-8); the actor is activated if needed.
    pub key: String,
    /// The method name (see `list_actor_kinds`).
    pub method: String,
    /// The method's arguments as a JSON object; `{}` when omitted.
    #[serde(default)]
    pub args: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableArgs {
    /// The table's name.
    pub table: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SqlArgs {
    /// SQL text in PostgreSQL's dialect: one or more statements separated
    /// by `;` (see docs/postgres.md for what runs today).
    pub sql: String,
    /// The most rows to return per statement (capped by the server's
    /// `max_items`).
    #[schemars(schema_with = "count")]
    pub max_rows: Option<usize>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Tables {
    pub tables: Vec<TableSummary>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TableSummary {
    pub name: String,
    pub columns: usize,
    /// Null for a table without a primary key; a key of several columns
    /// lists them, comma separated.
    pub primary_key: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TableSchema {
    pub name: String,
    /// Null for a table without a primary key; a key of several columns
    /// lists them, comma separated.
    pub primary_key: Option<String>,
    pub columns: Vec<ColumnSchema>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ColumnSchema {
    pub name: String,
    /// PostgreSQL's name of the type.
    #[serde(rename = "type")]
    pub sql_type: String,
    pub not_null: bool,
    /// A constant default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// Numbered from a sequence (SERIAL).
    pub serial: bool,
}

impl From<&crate::sql::catalog::Table> for TableSchema {
    fn from(table: &crate::sql::catalog::Table) -> Self {
        let columns = table.columns.iter().map(|c| ColumnSchema {
            name: c.name.clone(),
            sql_type: c.type_name(),
            not_null: c.not_null,
            default: c.default.clone(),
            serial: c.serial,
        });
        TableSchema { primary_key: table.key_names(), name: table.name.clone(), columns: columns.collect() }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SqlResults {
    /// One result per statement, in order.
    pub results: Vec<SqlResult>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SqlResult {
    /// The command tag, as psql prints it (`SELECT`, `INSERT 0 2`...).
    pub command: String,
    pub columns: Vec<String>,
    /// Rows as arrays of JSON values, in column order (null for NULL).
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows exist than were returned (see `max_rows`).
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Done {
    pub ok: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Deleted {
    /// How many of the keys existed and were deleted.
    pub deleted: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Kinds {
    pub kinds: Vec<Kind>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Kind {
    pub kind: String,
    pub methods: Vec<Method>,
    /// Activations since the node started.
    pub activations: u64,
    /// Successful calls since the node started.
    pub invocations_ok: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Method {
    pub name: String,
    /// Declared not to change the actor's state: callable while the server
    /// is read-only.
    pub read_only: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ActorPage {
    pub actors: Vec<StoredActor>,
    /// Pass back as `cursor` for the next page; absent after the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StoredActor {
    /// The key; bytes that are not UTF-8 are escaped as `\xNN`.
    pub key: String,
    /// The stored state: JSON for typed actors (a Redis key's record holds
    /// its type and expiry; read its contents with `kv_get`).
    pub state: serde_json::Value,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ActorState {
    pub kind: String,
    pub key: String,
    /// False when the actor has no stored state (it may never have been
    /// called, or its state is empty).
    pub exists: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CallReply {
    /// The method's JSON reply.
    pub reply: serde_json::Value,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct NodeStatus {
    pub version: String,
    /// Storage open, listeners up, not shutting down.
    pub ready: bool,
    /// Storage backend: memory, cow-btree, lsm or rocksdb.
    pub backend: String,
    /// always (acknowledged = fsynced), periodic or none.
    pub durability: String,
    pub uptime_ms: u64,
    pub grpc_addr: String,
    pub partitions: usize,
    /// Partitions this node leads (all of them without a cluster).
    pub partitions_led: u32,
    pub kinds: usize,
    pub active_actors: u64,
    /// Whether this MCP server refuses tools that change data.
    pub read_only: bool,
    /// The cluster this node belongs to; empty without a cluster.
    pub cluster_id: String,
    /// This node's id in its cluster; 0 without a cluster.
    pub node_id: u64,
    /// The cluster's nodes; empty without a cluster.
    pub nodes: Vec<ClusterNode>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ClusterNode {
    pub id: u64,
    /// Its gRPC address.
    pub addr: String,
    /// How many partitions this node believes it leads.
    pub partitions_led: u32,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Partitions {
    pub partitions: Vec<Partition>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Partition {
    pub id: u32,
    /// Hash slots first_slot..end_slot (end exclusive), as Redis Cluster's CRC16.
    pub first_slot: u32,
    pub end_slot: u32,
    /// The node serving the partition (its gRPC address); empty while no
    /// leader is known.
    pub leader: String,
    /// The gRPC addresses of the nodes replicating it.
    pub replicas: Vec<String>,
    /// Its Raft group's term (0 without a cluster).
    pub term: u64,
    /// The last log index applied on this node (0 without a cluster).
    pub applied: u64,
    /// On its leader: entries its slowest replica is behind; 0 elsewhere.
    pub lag: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Metrics {
    pub active_actors: u64,
    pub storage_reads: u64,
    pub storage_writes: u64,
    pub storage_fsyncs: u64,
    /// Keys in the storage backend (an estimate where the engine keeps one).
    pub storage_keys: u64,
    pub storage_disk_bytes: u64,
    pub kinds: Vec<KindMetrics>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct KindMetrics {
    pub kind: String,
    pub activations: u64,
    pub invocations_ok: u64,
    /// Calls refused because the actor's mailbox was full.
    pub mailbox_rejections: u64,
}

/// A stored state as JSON when it is, else as text.
pub(super) fn state_json(state: &[u8]) -> serde_json::Value {
    serde_json::from_slice(state).unwrap_or_else(|_| serde_json::Value::String(kv::text(state)))
}

#[tool_router(vis = "pub(super)")]
impl<G: ActorGateway> OrbitMcp<G> {
    #[tool(
        description = "Read a Redis key with everything in it: type, TTL and value (a string; a hash as an object; a list or set as an array; a sorted set as [{member, score}]). The same data redis-cli sees.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn kv_get(&self, Parameters(args): Parameters<GetArgs>) -> Result<Json<kv::KeyValue>, McpError> {
        let max = args.max_items.unwrap_or(self.config.max_items).min(self.config.max_items);
        let fut = kv::get(self.gateway.as_ref(), &self.sql.databases, args.db, args.key.as_bytes(), max);
        self.bounded(async { Ok(fut.await?) }).await
    }

    #[tool(
        description = "Set a Redis string key (SET key value [PX ttl_ms]), replacing any value. Refused while the server is read-only.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn kv_set(&self, Parameters(args): Parameters<SetArgs>) -> Result<Json<Done>, McpError> {
        self.writable("kv_set")?;
        let fut = async {
            kv::set(self.gateway.as_ref(), &self.sql.databases, args.db, &args.key, &args.value, args.ttl_ms)
                .await?;
            Ok(Done { ok: true })
        };
        self.bounded(fut).await
    }

    #[tool(
        description = "Delete Redis keys of any type (DEL). Returns how many existed. Refused while the server is read-only.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn kv_delete(&self, Parameters(args): Parameters<DeleteArgs>) -> Result<Json<Deleted>, McpError> {
        self.writable("kv_delete")?;
        if args.keys.len() > self.config.max_items {
            return Err(McpError::TooManyKeys { limit: self.config.max_items });
        }
        let fut = async {
            Ok(Deleted {
                deleted: kv::delete(self.gateway.as_ref(), &self.sql.databases, args.db, &args.keys).await?,
            })
        };
        self.bounded(fut).await
    }

    #[tool(
        description = "List Redis keys matching a glob pattern, a page at a time (like SCAN MATCH COUNT): pass back the returned cursor until none is returned. A page may hold few or no matches and still have a cursor.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn kv_scan(&self, Parameters(args): Parameters<ScanArgs>) -> Result<Json<kv::ScanPage>, McpError> {
        let count = args.count.unwrap_or(100).clamp(1, self.config.max_items);
        let fut = kv::scan(
            self.gateway.as_ref(),
            &self.sql.databases,
            args.db,
            &args.pattern,
            args.cursor.as_deref(),
            count,
        );
        self.bounded(async { Ok(fut.await?) }).await
    }

    #[tool(
        description = "The type (string, list, set, zset, hash, or none) and remaining TTL in milliseconds of a Redis key.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn kv_type(&self, Parameters(args): Parameters<KeyArgs>) -> Result<Json<kv::KeyInfo>, McpError> {
        self.bounded(async {
            Ok(kv::key_type(self.gateway.as_ref(), &self.sql.databases, args.db, &args.key).await?)
        })
        .await
    }

    #[tool(
        description = "The actor kinds this node hosts, with their methods (and which are read-only) and call counters. Redis keys are actors of kind `redis` (database 0) and `redis:N`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_actor_kinds(&self) -> Result<Json<Kinds>, McpError> {
        let fut = async {
            let node = self.describe().await?;
            let kinds = node.kinds.into_iter().map(|k| Kind {
                kind: k.kind,
                methods: k
                    .methods
                    .into_iter()
                    .map(|m| Method { name: m.name, read_only: m.read_only })
                    .collect(),
                activations: k.activations,
                invocations_ok: k.invocations_ok,
            });
            Ok(Kinds { kinds: kinds.collect() })
        };
        self.bounded(fut).await
    }

    #[tool(
        description = "List the stored actors of one kind with their state, a page at a time, without activating them: pass back the returned cursor until none is returned.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_actors(
        &self,
        Parameters(args): Parameters<ListActorsArgs>,
    ) -> Result<Json<ActorPage>, McpError> {
        let fut = async {
            let cursor = kv::decode_cursor(args.cursor.as_deref())?;
            let limit = args.limit.unwrap_or(100).clamp(1, self.config.max_items);
            let page = self.gateway.list_actors(&args.kind, cursor, limit).await?;
            let actors = page
                .actors
                .iter()
                .map(|a| StoredActor { key: kv::text(&a.key), state: state_json(&a.state) })
                .collect();
            Ok(ActorPage { actors, cursor: page.cursor.map(hex::encode) })
        };
        self.bounded(fut).await
    }

    #[tool(
        description = "Read one actor's stored state without activating it or calling it.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_actor_state(
        &self,
        Parameters(args): Parameters<ActorArgs>,
    ) -> Result<Json<ActorState>, McpError> {
        let fut = async {
            let id = ActorId::new(args.kind.clone(), args.key.clone().into_bytes());
            let state = self.gateway.read_actor(id).await?;
            Ok(ActorState {
                kind: args.kind,
                key: args.key,
                exists: state.is_some(),
                state: state.as_deref().map(state_json),
            })
        };
        self.bounded(fut).await
    }

    #[tool(
        description = "Call a method of an actor with JSON arguments and return its JSON reply (the actor is activated if needed). While the server is read-only only methods declared read-only may be called.",
        annotations(read_only_hint = false, destructive_hint = true, open_world_hint = false)
    )]
    async fn call_actor(&self, Parameters(args): Parameters<CallArgs>) -> Result<Json<CallReply>, McpError> {
        let fut = async {
            if self.config.read_only {
                let node = self.describe().await?;
                let kind = node
                    .kinds
                    .iter()
                    .find(|k| k.kind == args.kind)
                    .ok_or_else(|| McpError::UnknownKind { kind: args.kind.clone() })?;
                let method = kind.methods.iter().find(|m| m.name == args.method).ok_or_else(|| {
                    McpError::UnknownMethod { kind: args.kind.clone(), method: args.method.clone() }
                })?;
                if !method.read_only {
                    let what = format!(
                        "call_actor of '{}.{}' (a method that may change state)",
                        args.kind, args.method
                    );
                    return Err(McpError::ReadOnly { what });
                }
            }
            let body = serde_json::to_vec(&args.args.unwrap_or_default())?;
            let id = ActorId::new(args.kind, args.key.into_bytes());
            let reply = self.gateway.invoke(id, Invocation::new(args.method, body)).await?;
            Ok(CallReply { reply: state_json(&reply.value) })
        };
        self.bounded(fut).await
    }

    #[tool(
        description = "The SQL tables (the PostgreSQL front door's), with their column count and primary key.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn sql_list_tables(&self) -> Result<Json<Tables>, McpError> {
        let fut = async {
            let tables = crate::sql::tables(self.gateway.as_ref()).await?;
            let tables = tables.iter().map(|t| TableSummary {
                name: t.name.clone(),
                columns: t.columns.len(),
                primary_key: t.key_names(),
            });
            Ok(Tables { tables: tables.collect() })
        };
        self.bounded(fut).await
    }

    #[tool(
        description = "A SQL table's schema: columns with their PostgreSQL types, NOT NULL, defaults, and the primary key.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn sql_describe_table(
        &self,
        Parameters(args): Parameters<TableArgs>,
    ) -> Result<Json<TableSchema>, McpError> {
        self.bounded(async { self.table_schema(&args.table).await }).await
    }

    #[tool(
        description = "Run read-only SQL (PostgreSQL dialect; statements that change data are refused) and return each statement's columns and rows. What runs today is in docs/postgres.md.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn sql_query(&self, Parameters(args): Parameters<SqlArgs>) -> Result<Json<SqlResults>, McpError> {
        self.bounded(self.run_sql(args, true)).await
    }

    #[tool(
        description = "Execute SQL that may change data (CREATE TABLE, INSERT, DROP TABLE...; PostgreSQL dialect) and return each statement's result. Refused while the server is read-only.",
        annotations(read_only_hint = false, destructive_hint = true, open_world_hint = false)
    )]
    async fn sql_execute(&self, Parameters(args): Parameters<SqlArgs>) -> Result<Json<SqlResults>, McpError> {
        self.writable("sql_execute")?;
        self.bounded(self.run_sql(args, false)).await
    }

    #[tool(
        description = "The node's health: version, readiness, storage backend and durability, uptime, counts of partitions (and those it leads), kinds and resident actors, whether this MCP server is read-only, and its cluster: id, this node's id and every node with the partitions it leads.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn node_status(&self) -> Result<Json<NodeStatus>, McpError> {
        let fut = async {
            let node = self.describe().await?;
            let partitions_led = node.partitions_led();
            let nodes = node.nodes.into_iter().map(|n| ClusterNode {
                id: n.id,
                addr: n.addr,
                partitions_led: n.partitions_led,
            });
            Ok(NodeStatus {
                version: node.version,
                ready: node.ready,
                backend: node.backend,
                durability: node.durability,
                uptime_ms: node.uptime_ms,
                grpc_addr: node.grpc_addr,
                partitions: node.partitions.len(),
                partitions_led,
                kinds: node.kinds.len(),
                active_actors: node.active_actors,
                read_only: self.config.read_only,
                cluster_id: node.cluster_id,
                node_id: node.node_id,
                nodes: nodes.collect(),
            })
        };
        self.bounded(fut).await
    }

    #[tool(
        description = "The partitions: each one's hash-slot range (Redis Cluster CRC16 slots), the node serving it, the nodes replicating it, and its Raft term, applied index and replication lag as this node sees them.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_partitions(&self) -> Result<Json<Partitions>, McpError> {
        let fut = async {
            let node = self.describe().await?;
            let partitions = node.partitions.into_iter().map(|p| Partition {
                id: p.id,
                first_slot: p.first_slot,
                end_slot: p.end_slot,
                leader: p.leader,
                replicas: p.replicas,
                term: p.term,
                applied: p.applied,
                lag: p.lag,
            });
            Ok(Partitions { partitions: partitions.collect() })
        };
        self.bounded(fut).await
    }

    #[tool(
        description = "Key metrics: resident actors, storage reads/writes/fsyncs, keys and disk bytes, and per-kind activations, successful calls and mailbox rejections.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn node_metrics(&self) -> Result<Json<Metrics>, McpError> {
        let fut = async {
            let node: NodeDescription = self.describe().await?;
            let kinds = node.kinds.into_iter().map(|k| KindMetrics {
                kind: k.kind,
                activations: k.activations,
                invocations_ok: k.invocations_ok,
                mailbox_rejections: k.mailbox_rejections,
            });
            Ok(Metrics {
                active_actors: node.active_actors,
                storage_reads: node.storage_reads,
                storage_writes: node.storage_writes,
                storage_fsyncs: node.storage_fsyncs,
                storage_keys: node.storage_keys,
                storage_disk_bytes: node.storage_disk_bytes,
                kinds: kinds.collect(),
            })
        };
        self.bounded(fut).await
    }
}
