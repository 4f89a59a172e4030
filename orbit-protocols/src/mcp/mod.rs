//! The MCP front door: LLM agents inspect and use Orbit through the Model
//! Context Protocol (`rmcp`, the official Rust SDK), over streamable HTTP at
//! `/mcp` on the node's HTTP port, or over stdio (`orbit-server mcp
//! --connect`, through `orbit-client`). Both eras of the protocol are
//! served: the `initialize` handshake (2024-11-05 to 2025-11-25) and the
//! stateless 2026-07-28 revision (`server/discover`, `_meta` per request).
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | [`OrbitMcp`]: settings, limits, resources, prompts, the two transports |
//! | `tools.rs` | the tools: key-value, actors, node |
//! | `reminders.rs` | the reminder tools: `remind`, `list_reminders`, `unremind` |
//! | `activations.rs` | `list_activations`: the actors resident on the node |
//! | `error.rs` | [`McpError`] and its [`Class`]: how failures reach an agent |
//!
//! Like every front door it talks only to the [`ActorGateway`].

mod activations;
mod error;
mod reminders;
mod tools;

pub use error::{Class, McpError};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use orbit_shared::{ActorGateway, ActorId, NodeDescription};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    GetPromptRequestParams, GetPromptResponse, GetPromptResult, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, Prompt, PromptArgument,
    PromptMessage, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, Role, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt, tool_handler};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What an operator decides about the MCP server: the `[mcp]` section of
/// the node's config, as the TOML file and `ORBIT__MCP__*` spell them (the
/// `mcp` subcommand's stdio bridge reads it too).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// Serve `/mcp` on the node's HTTP port.
    pub enabled: bool,
    /// Refuse tools that change data (`kv_set`, `kv_delete`, `sql_execute`,
    /// `remind`, `unremind`, `call_actor` of a method not declared
    /// read-only) until an operator sets this to false.
    pub read_only: bool,
    /// When set, HTTP clients must send `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Accepted `Host` headers (`host` or `host:port`); `"*"` accepts any.
    /// Loopback names by default: add the names clients use to reach the
    /// node (the Service's DNS name in Kubernetes).
    pub allowed_hosts: Vec<String>,
    /// Accepted browser `Origin`s (`scheme://host:port`, `:*` for any
    /// port); empty: no Origin check.
    pub allowed_origins: Vec<String>,
    /// The largest tool result or resource, in bytes of JSON.
    pub max_result_bytes: usize,
    /// The most items a tool returns or examines per call.
    pub max_items: usize,
    /// How long one tool call, resource read or prompt may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            enabled: true,
            read_only: true,
            token: None,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
            max_result_bytes: 1 << 20,
            max_items: 1000,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The MCP server over one gateway.
pub struct OrbitMcp<G> {
    gateway: Arc<G>,
    config: Arc<McpConfig>,
    /// The node's SQL row locks and schemas, shared with PostgreSQL.
    sql: crate::sql::SqlState,
    tool_router: ToolRouter<Self>,
}

impl<G> Clone for OrbitMcp<G> {
    fn clone(&self) -> Self {
        OrbitMcp {
            gateway: self.gateway.clone(),
            config: self.config.clone(),
            sql: self.sql.clone(),
            tool_router: self.tool_router.clone(),
        }
    }
}

const INSTRUCTIONS: &str = "Orbit is a virtual-actor server: every Redis key, every SQL row, and every actor of a \
user's kind, is a persistent actor. Start with node_status and list_actor_kinds. Redis data: kv_scan to find keys, \
kv_get to read one, kv_type for its type and TTL. SQL: sql_list_tables, sql_describe_table, sql_query. Actors: \
list_actors of a kind, get_actor_state, call_actor, list_activations (the actors resident on this node). Durable \
reminders (an actor's method called every period, or once later): remind, list_reminders, unremind. Tools that \
change data (kv_set, kv_delete, sql_execute, remind, unremind, call_actor of a method that is not read-only) are \
refused while the server is read-only (node_status tells).";

impl<G: ActorGateway> OrbitMcp<G> {
    /// The server over `gateway`; its SQL tools run under `sql`'s row
    /// locks (the node's PostgreSQL front door's, when it runs in a node).
    pub fn new(gateway: Arc<G>, config: McpConfig, sql: crate::sql::SqlState) -> Self {
        let mut tool_router = Self::tool_router() + Self::reminder_router() + Self::activation_router();
        for route in tool_router.map.values_mut() {
            let tool = &mut route.attr;
            tools::portable(Arc::make_mut(&mut tool.input_schema));
            if let Some(output) = tool.output_schema.as_mut() {
                tools::portable(Arc::make_mut(output));
            }
        }
        OrbitMcp { gateway, config: Arc::new(config), sql, tool_router }
    }

    /// Runs a tool's work under the timeout and the result-size limit.
    async fn bounded<T: Serialize>(
        &self,
        work: impl Future<Output = Result<T, McpError>>,
    ) -> Result<rmcp::Json<T>, McpError> {
        let value = tokio::time::timeout(self.config.timeout, work).await.map_err(|_| self.timed_out())??;
        self.check_size(&value)?;
        Ok(rmcp::Json(value))
    }

    fn timed_out(&self) -> McpError {
        McpError::TimedOut { after_ms: u64::try_from(self.config.timeout.as_millis()).unwrap_or(u64::MAX) }
    }

    fn check_size<T: Serialize>(&self, value: &T) -> Result<(), McpError> {
        let size = serde_json::to_vec(value)?.len();
        let limit = self.config.max_result_bytes;
        if size > limit {
            return Err(McpError::TooLarge { size, limit });
        }
        Ok(())
    }

    fn writable(&self, tool: &str) -> Result<(), McpError> {
        if self.config.read_only { Err(McpError::ReadOnly { what: tool.to_string() }) } else { Ok(()) }
    }

    async fn table_schema(&self, name: &str) -> Result<tools::TableSchema, McpError> {
        let table = self.sql.table(self.gateway.as_ref(), name).await?;
        let table = table.ok_or_else(|| McpError::NoSuchTable { name: name.to_string() })?;
        Ok(tools::TableSchema::from(table.as_ref()))
    }

    async fn run_sql(&self, args: tools::SqlArgs, read_only: bool) -> Result<tools::SqlResults, McpError> {
        let max = args.max_rows.unwrap_or(self.config.max_items).min(self.config.max_items);
        let outcomes = crate::sql::run_sql(self.gateway.clone(), &self.sql, &args.sql, read_only).await?;
        let results = outcomes.into_iter().map(|mut o| {
            let truncated = o.rows.len() > max;
            o.rows.truncate(max);
            tools::SqlResult { command: o.command, columns: o.columns, rows: o.rows, truncated }
        });
        Ok(tools::SqlResults { results: results.collect() })
    }

    async fn describe(&self) -> Result<NodeDescription, McpError> {
        Ok(self.gateway.describe().await?)
    }

    /// A resource's JSON text, under the timeout and size limit; `None`
    /// when the URI names nothing.
    async fn resource(&self, uri: &str) -> Result<Option<String>, McpError> {
        let work = async {
            let value: Option<serde_json::Value> = if uri == "orbit://node" {
                Some(serde_json::to_value(self.describe().await?)?)
            } else if uri == "orbit://kinds" {
                Some(serde_json::to_value(self.describe().await?.kinds)?)
            } else if let Some(rest) = uri.strip_prefix("orbit://actor/") {
                let Some((kind, key)) = rest.split_once('/') else { return Ok::<_, McpError>(None) };
                let (kind, key) = (percent_decode(kind)?, percent_decode(key)?);
                let id = ActorId::new(kind, key.into_bytes());
                let state = self.gateway.read_actor(id).await?;
                state.as_deref().map(tools::state_json)
            } else if let Some(name) = uri.strip_prefix("orbit://table/") {
                match self.table_schema(&percent_decode(name)?).await {
                    Ok(schema) => Some(serde_json::to_value(schema)?),
                    Err(McpError::NoSuchTable { .. }) => None,
                    Err(e) => return Err(e),
                }
            } else if let Some(rest) = uri.strip_prefix("orbit://redis/") {
                let Some((db, key)) = rest.split_once('/') else { return Ok(None) };
                let db: u8 = db
                    .parse()
                    .map_err(|_| McpError::BadDatabase { db: db.to_string(), uri: uri.to_string() })?;
                let (key, max) = (percent_decode(key)?, self.config.max_items);
                let value = crate::keyspace::view::get(
                    self.gateway.as_ref(),
                    &self.sql.databases,
                    db,
                    key.as_bytes(),
                    max,
                )
                .await?;
                (value.key_type != "none").then(|| serde_json::to_value(value)).transpose()?
            } else {
                None
            };
            Ok::<_, McpError>(value)
        };
        let value = tokio::time::timeout(self.config.timeout, work).await.map_err(|_| self.timed_out())??;
        let Some(value) = value else { return Ok(None) };
        self.check_size(&value)?;
        Ok(Some(serde_json::to_string_pretty(&value)?))
    }
}

/// Decodes `%XX` escapes of a URI segment.
fn percent_decode(segment: &str) -> Result<String, McpError> {
    let bad_escape = || McpError::BadEscape { segment: segment.to_string() };
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3).ok_or_else(bad_escape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad_escape())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| McpError::NotUtf8 { segment: segment.to_string() })
}

fn not_found(uri: &str) -> ErrorData {
    // 2026-07-28: "resource not found" is invalid params.
    ErrorData::invalid_params(format!("resource not found: {uri}"), Some(serde_json::json!({ "uri": uri })))
}

fn json_resource(uri: &str, name: &str, description: &str) -> Resource {
    Resource::new(uri, name).with_description(description).with_mime_type("application/json")
}

fn template(uri: &str, name: &str, description: &str) -> ResourceTemplate {
    ResourceTemplate::new(uri, name).with_description(description).with_mime_type("application/json")
}

#[tool_handler(router = self.tool_router)]
impl<G: ActorGateway> ServerHandler for OrbitMcp<G> {
    fn get_info(&self) -> ServerConfig {
        let capabilities =
            ServerCapabilities::builder().enable_tools().enable_resources().enable_prompts().build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new("orbit", env!("CARGO_PKG_VERSION"))
                    .with_title("Orbit")
                    .with_description("Orbit virtual-actor server: Redis keyspace, actors, node health"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            json_resource(
                "orbit://node",
                "node",
                "The node: version, storage, partitions, kinds and key metrics.",
            ),
            json_resource("orbit://kinds", "kinds", "The actor kinds with their methods."),
        ]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            template(
                "orbit://actor/{kind}/{key}",
                "actor state",
                "One actor's stored state (percent-encode '/' in the key as %2F).",
            ),
            template(
                "orbit://table/{name}",
                "table schema",
                "One SQL table's columns, types and primary key.",
            ),
            template(
                "orbit://redis/{db}/{key}",
                "redis key",
                "One Redis key of database db (0-15): type, TTL and value, as kv_get returns it.",
            ),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri;
        match self.resource(&uri).await {
            Ok(Some(text)) => {
                let contents = ResourceContents::text(text, uri.clone()).with_mime_type("application/json");
                Ok(ReadResourceResult::new(vec![contents]).into())
            }
            Ok(None) => Err(not_found(&uri)),
            Err(e) => Err(e.into()),
        }
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let actor_args = vec![
            PromptArgument::new("kind").with_description("The actor kind").with_required(true),
            PromptArgument::new("key").with_description("The actor's key").with_required(true),
        ];
        Ok(ListPromptsResult::with_all_items(vec![
            Prompt::new(
                "explore_database",
                Some("Survey what this Orbit node holds: its kinds, Redis keys and health."),
                None,
            ),
            Prompt::new(
                "inspect_actor",
                Some("Explain one actor: its stored state and what can be called."),
                Some(actor_args),
            ),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let arg = |name: &str| {
            request
                .arguments
                .as_ref()
                .and_then(|a| a.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    ErrorData::invalid_params(format!("prompt argument '{name}' is required"), None)
                })
        };
        let text = match request.name.as_str() {
            "explore_database" => {
                let node = self.describe().await?;
                let kinds: Vec<_> = node.kinds.iter().map(|k| k.kind.as_str()).collect();
                format!(
                    "Explore this Orbit database and summarise what it holds.\n\
                     The node runs Orbit {} on the {} storage backend (durability {}), with {} partitions \
                     and these actor kinds: {}.\n\
                     1. Call node_status and node_metrics for its health.\n\
                     2. Call list_actor_kinds to see each kind's methods.\n\
                     3. For Redis data, call kv_scan (pattern \"*\", following the cursor a few pages) and \
                     kv_get on a sample of keys; group keys by prefix and type.\n\
                     4. For other kinds, call list_actors and get_actor_state on a few actors.\n\
                     Report the main key patterns, data types, sizes and anything that looks wrong. Do not \
                     change data.",
                    node.version,
                    node.backend,
                    node.durability,
                    node.partitions.len(),
                    kinds.join(", ")
                )
            }
            "inspect_actor" => {
                let (kind, key) = (arg("kind")?, arg("key")?);
                let node = self.describe().await?;
                let methods = node
                    .kinds
                    .iter()
                    .find(|k| k.kind == kind)
                    .map(|k| {
                        k.methods
                            .iter()
                            .map(|m| format!("{}{}", m.name, if m.read_only { " (read-only)" } else { "" }))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .ok_or_else(|| McpError::UnknownKind { kind: kind.clone() })?;
                let id = ActorId::new(kind.clone(), key.clone().into_bytes());
                let state = self.gateway.read_actor(id).await.map_err(McpError::from)?;
                let state = match state {
                    Some(s) => {
                        serde_json::to_string_pretty(&tools::state_json(&s)).map_err(McpError::from)?
                    }
                    None => "(no stored state)".to_string(),
                };
                format!(
                    "Explain the actor '{key}' of kind '{kind}'.\nIts stored state:\n{state}\n\
                     Its kind's methods: {methods}.\nDescribe what the state means and which methods an agent \
                     could call with call_actor to read or change it."
                )
            }
            other => return Err(ErrorData::invalid_params(format!("unknown prompt '{other}'"), None)),
        };
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]).into())
    }
}

/// The streamable-HTTP endpoint as an axum router serving `/mcp`, with
/// `config`'s bearer-token, `Host` and `Origin` checks. Cancelling
/// `shutdown` ends every session and cuts the calls in flight (rmcp's
/// behaviour): a node cancels it once no call is in flight.
pub fn router<G: ActorGateway>(
    gateway: Arc<G>,
    config: McpConfig,
    sql: crate::sql::SqlState,
    shutdown: CancellationToken,
) -> axum::Router {
    let mut http = StreamableHttpServerConfig::default().with_cancellation_token(shutdown);
    http = if config.allowed_hosts.iter().any(|h| h == "*") {
        http.disable_allowed_hosts()
    } else {
        http.with_allowed_hosts(config.allowed_hosts.clone())
    };
    if !config.allowed_origins.is_empty() {
        http = http.with_allowed_origins(config.allowed_origins.clone());
    }
    let token = Arc::new(config.token.clone());
    let server = OrbitMcp::new(gateway, config, sql);
    let service =
        StreamableHttpService::new(move || Ok(server.clone()), LocalSessionManager::default().into(), http);
    axum::Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(token, require_token))
}

async fn require_token(State(token): State<Arc<Option<String>>>, request: Request, next: Next) -> Response {
    if let Some(token) = token.as_deref() {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(token) {
            let body = serde_json::json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": { "code": -32001, "message": "unauthorized: this MCP endpoint needs its bearer token" }
            });
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], axum::Json(body))
                .into_response();
        }
    }
    next.run(request).await
}

/// Serves MCP on this process' stdin and stdout until the client closes.
/// Its SQL tools take row locks of their own: a remote node's are out of
/// reach.
pub async fn serve_stdio<G: ActorGateway>(gateway: Arc<G>, config: McpConfig) -> Result<(), std::io::Error> {
    let databases =
        crate::keyspace::databases::Databases::load(gateway.as_ref()).await.map_err(std::io::Error::other)?;
    let sql = crate::sql::SqlState::with_databases(Arc::new(databases));
    let running = OrbitMcp::new(gateway, config, sql)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    running.waiting().await.map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_portable_json_schema() {
        let mut schema = serde_json::json!({
            "type": "object",
            "properties": {
                "n": { "type": "integer", "format": "uint8" },
                "m": { "type": ["integer", "null"], "format": "int64" },
                "when": { "type": "string", "format": "date-time" },
                "any": true,
                "nested": { "items": true, "enum": [true] }
            }
        });
        let serde_json::Value::Object(map) = &mut schema else { unreachable!() };
        tools::portable(map);
        assert_eq!(
            schema,
            serde_json::json!({
                "type": "object",
                "properties": {
                    "n": { "type": "integer" },
                    "m": { "type": ["integer", "null"] },
                    "when": { "type": "string", "format": "date-time" },
                    "any": {},
                    "nested": { "items": {}, "enum": [true] }
                }
            })
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb").ok().as_deref(), Some("a/b"));
        assert_eq!(percent_decode("plain").ok().as_deref(), Some("plain"));
        assert!(percent_decode("bad%2").is_err());
        assert!(percent_decode("bad%zz").is_err());
        assert!(percent_decode("%ff").is_err());
    }
}
