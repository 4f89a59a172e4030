//! The MCP front door driven by rmcp's own client: over streamable HTTP
//! (the legacy `initialize` handshake and the stateless 2026-07-28
//! revision) and over stdio through `orbit-server mcp --connect`. Effects
//! are checked through the Redis front door and the actors themselves.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{call, resp2, start_with};
use orbit_server::{Config, Node};
use redis::Value as R;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientConfig, GetPromptRequestParams, ProtocolVersion,
    ReadResourceRequestParams, ResourceContents,
};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{ClientLifecycleMode, ClientServiceExt, ServiceExt};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::SocketAddr;

type Client = RunningService<RoleClient, ClientConfig>;

const TOOLS: [&str; 20] = [
    "call_actor",
    "get_actor_state",
    "kv_delete",
    "kv_get",
    "kv_scan",
    "kv_set",
    "kv_type",
    "list_actor_kinds",
    "list_actors",
    "list_activations",
    "list_partitions",
    "list_reminders",
    "node_metrics",
    "node_status",
    "remind",
    "sql_describe_table",
    "sql_execute",
    "sql_list_tables",
    "sql_query",
    "unremind",
];

fn writable() -> Config {
    let mut config = Config::ephemeral();
    config.mcp.read_only = false;
    config
}

async fn start(config: Config) -> (Node, SocketAddr, SocketAddr) {
    let (node, resp) = start_with(config).await;
    let http = node.http_addr().expect("the node serves HTTP");
    (node, http, resp)
}

fn url(http: SocketAddr) -> String {
    format!("http://{http}/mcp")
}

/// An rmcp client over HTTP with the legacy handshake.
async fn connect(http: SocketAddr) -> Client {
    ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_uri(url(http)))
        .await
        .expect("MCP client initializes")
}

/// Calls a tool; a protocol error panics, a tool error comes back with `is_error`.
async fn tool(client: &Client, name: &'static str, args: Value) -> CallToolResult {
    try_tool(client, name, args).await.unwrap_or_else(|e| panic!("{name}: protocol error {e}"))
}

async fn try_tool(client: &Client, name: &'static str, args: Value) -> Result<CallToolResult, ServiceError> {
    let Value::Object(args) = args else { panic!("arguments must be an object") };
    client.call_tool(CallToolRequestParams::new(name).with_arguments(args)).await
}

/// The structured result of a successful tool call.
async fn ok(client: &Client, name: &'static str, args: Value) -> Value {
    let result = tool(client, name, args).await;
    assert_ne!(result.is_error, Some(true), "{name} failed: {:?}", result.content);
    result.structured_content.unwrap_or_else(|| panic!("{name} returned no structured content"))
}

/// The message of a failed tool call.
async fn failure(client: &Client, name: &'static str, args: Value) -> String {
    let result = tool(client, name, args).await;
    assert_eq!(result.is_error, Some(true), "{name} should fail: {:?}", result.structured_content);
    result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.clone()).collect::<Vec<_>>().join("\n")
}

fn protocol_code(error: ServiceError) -> i32 {
    match error {
        ServiceError::McpError(e) => e.code.0,
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http_client_lists_every_tool_with_schemas() {
    let (node, http, _) = start(writable()).await;
    let client = connect(http).await;
    let info = client.peer_info().expect("server info after initialize");
    assert_eq!(info.server_info.as_ref().map(|i| i.name.as_str()), Some("orbit"));
    assert!(info.instructions.as_deref().is_some_and(|i| i.contains("kv_scan")));
    let tools = client.list_all_tools().await.unwrap();
    let names: BTreeSet<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, TOOLS.iter().map(|t| t.to_string()).collect());
    for t in &tools {
        assert_eq!(t.input_schema.get("type"), Some(&json!("object")), "{} input schema", t.name);
        let output = t.output_schema.as_ref().unwrap_or_else(|| panic!("{} has no output schema", t.name));
        assert_eq!(output.get("type"), Some(&json!("object")), "{} output schema", t.name);
        assert!(t.description.as_ref().is_some_and(|d| d.len() > 20), "{} needs a description", t.name);
        // Plain JSON Schema: no Rust integer formats, no boolean subschemas.
        let text =
            format!("{} {}", Value::Object((*t.input_schema).clone()), Value::Object((**output).clone()));
        assert!(!text.contains("\"format\""), "{}: {text}", t.name);
        assert!(!text.contains(":true"), "{}: {text}", t.name);
        let read_only = t.annotations.as_ref().and_then(|a| a.read_only_hint);
        let writes = matches!(
            t.name.as_ref(),
            "kv_set" | "kv_delete" | "call_actor" | "sql_execute" | "remind" | "unremind"
        );
        assert_eq!(read_only, Some(!writes), "{} read-only hint", t.name);
    }
    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_tools_see_the_same_data_as_redis() {
    let (node, http, resp) = start(writable()).await;
    let client = connect(http).await;
    let mut redis = resp2(resp).await;

    // Written through MCP, read through RESP.
    assert_eq!(
        ok(&client, "kv_set", json!({"key": "greeting", "value": "héllo"})).await,
        json!({"ok": true})
    );
    assert_eq!(call(&mut redis, &["GET", "greeting"]).await, R::BulkString("héllo".as_bytes().to_vec()));
    ok(&client, "kv_set", json!({"key": "session", "value": "s", "ttl_ms": 100_000, "db": 3})).await;
    call(&mut redis, &["SELECT", "3"]).await;
    let R::Int(ttl) = call(&mut redis, &["PTTL", "session"]).await else { panic!("PTTL is an integer") };
    assert!((90_000..=100_000).contains(&ttl), "ttl {ttl}");
    call(&mut redis, &["SELECT", "0"]).await;

    // Written through RESP, read through MCP, every type.
    call(&mut redis, &["HSET", "h", "a", "1", "b", "2"]).await;
    call(&mut redis, &["RPUSH", "l", "x", "y", "z"]).await;
    call(&mut redis, &["SADD", "s", "m2", "m1"]).await;
    call(&mut redis, &["ZADD", "z", "2.5", "b", "1", "a"]).await;
    call(&mut redis, &["SET", "t", "v", "EX", "100"]).await;
    let got = ok(&client, "kv_get", json!({"key": "h"})).await;
    assert_eq!(got["type"], "hash");
    assert_eq!(got["value"], json!({"a": "1", "b": "2"}));
    assert_eq!(got["length"], 2);
    let got = ok(&client, "kv_get", json!({"key": "l"})).await;
    assert_eq!((got["type"].clone(), got["value"].clone()), (json!("list"), json!(["x", "y", "z"])));
    let got = ok(&client, "kv_get", json!({"key": "s"})).await;
    assert_eq!((got["type"].clone(), got["value"].clone()), (json!("set"), json!(["m1", "m2"])));
    let got = ok(&client, "kv_get", json!({"key": "z"})).await;
    assert_eq!(got["value"], json!([{"member": "a", "score": 1.0}, {"member": "b", "score": 2.5}]));
    let got = ok(&client, "kv_get", json!({"key": "greeting"})).await;
    assert_eq!((got["type"].clone(), got["value"].clone()), (json!("string"), json!("héllo")));
    assert!(got.get("ttl_ms").is_none(), "no TTL: {got}");
    let got = ok(&client, "kv_get", json!({"key": "missing"})).await;
    assert_eq!(got["type"], "none");
    assert!(got.get("value").is_none());
    let got = ok(&client, "kv_get", json!({"key": "l", "max_items": 2})).await;
    assert_eq!((got["value"].clone(), got["truncated"].clone()), (json!(["x", "y"]), json!(true)));

    let typed = ok(&client, "kv_type", json!({"key": "t"})).await;
    assert_eq!(typed["type"], "string");
    assert!(typed["ttl_ms"].as_i64().is_some_and(|ms| ms > 90_000 && ms <= 100_000), "{typed}");
    assert_eq!(ok(&client, "kv_type", json!({"key": "z"})).await["type"], "zset");
    assert_eq!(ok(&client, "kv_type", json!({"key": "nope"})).await["type"], "none");

    // A pattern, a page at a time.
    for i in 0..7 {
        call(&mut redis, &["SET", &format!("user:{i}"), "u"]).await;
    }
    call(&mut redis, &["SET", "other", "o"]).await;
    let mut found = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"pattern": "user:*", "count": 3});
        if let Some(c) = &cursor {
            args["cursor"] = json!(c);
        }
        let page = ok(&client, "kv_scan", args).await;
        for k in page["keys"].as_array().unwrap() {
            assert_eq!(k["type"], "string");
            assert!(found.insert(k["key"].as_str().unwrap().to_string()), "{k} twice");
        }
        pages += 1;
        match page.get("cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 100, "scan does not end");
    }
    assert_eq!(found, (0..7).map(|i| format!("user:{i}")).collect());
    assert!(pages >= 3, "count 3 over 15 keys takes several pages, took {pages}");

    // Deleted through MCP, gone for RESP.
    let deleted = ok(&client, "kv_delete", json!({"keys": ["h", "l", "absent"]})).await;
    assert_eq!(deleted, json!({"deleted": 2}));
    assert_eq!(call(&mut redis, &["EXISTS", "h", "l"]).await, R::Int(0));

    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn actor_and_node_tools() {
    let (node, http, _) = start(writable()).await;
    let client = connect(http).await;

    let kinds = ok(&client, "list_actor_kinds", json!({})).await;
    let counter =
        kinds["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "counter").expect("counter kind");
    let methods: BTreeSet<_> = counter["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap().to_string(), m["read_only"].as_bool().unwrap()))
        .collect();
    let expected = [
        ("get", true),
        ("increment", false),
        ("next", false),
        ("read", true),
        ("reset", false),
        ("set", false),
    ];
    assert_eq!(methods, expected.into_iter().map(|(n, r)| (n.to_string(), r)).collect());
    assert!(kinds["kinds"].as_array().unwrap().iter().any(|k| k["kind"] == "redis:15"));

    let reply = ok(
        &client,
        "call_actor",
        json!({"kind": "counter", "key": "visits", "method": "increment", "args": {"by": 5}}),
    )
    .await;
    assert_eq!(reply, json!({"reply": 5}));
    ok(&client, "call_actor", json!({"kind": "counter", "key": "other", "method": "increment"})).await;
    let reply = ok(&client, "call_actor", json!({"kind": "counter", "key": "visits", "method": "get"})).await;
    assert_eq!(reply, json!({"reply": 5}));
    let state = ok(&client, "get_actor_state", json!({"kind": "counter", "key": "visits"})).await;
    assert_eq!(state["exists"], true);
    assert_eq!(state["state"]["value"], 5, "{state}");
    let state = ok(&client, "get_actor_state", json!({"kind": "counter", "key": "never"})).await;
    assert_eq!(state["exists"], false);

    let page = ok(&client, "list_actors", json!({"kind": "counter", "limit": 1})).await;
    assert_eq!(page["actors"].as_array().unwrap().len(), 1);
    let cursor = page["cursor"].as_str().expect("a second page").to_string();
    let rest = ok(&client, "list_actors", json!({"kind": "counter", "cursor": cursor})).await;
    let mut keys: Vec<_> = [&page, &rest]
        .iter()
        .flat_map(|p| p["actors"].as_array().unwrap().iter().map(|a| a["key"].as_str().unwrap().to_string()))
        .collect();
    keys.sort();
    assert_eq!(keys, ["other", "visits"]);

    let status = ok(&client, "node_status", json!({})).await;
    assert_eq!((status["ready"].clone(), status["backend"].clone()), (json!(true), json!("memory")));
    assert_eq!(status["partitions"], 64);
    assert_eq!(status["read_only"], false);
    // Without a cluster the node leads every partition and lists no nodes.
    assert_eq!(status["partitions_led"], 64);
    assert_eq!((status["cluster_id"].clone(), status["node_id"].clone()), (json!(""), json!(0)));
    assert_eq!(status["nodes"], json!([]));
    let partitions = ok(&client, "list_partitions", json!({})).await;
    let partitions = partitions["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 64);
    assert_eq!(partitions[0]["first_slot"], 0);
    assert_eq!(partitions[63]["end_slot"], 16384);
    assert_eq!(partitions[0]["replicas"], json!([partitions[0]["leader"].clone()]));
    assert_eq!((partitions[0]["term"].clone(), partitions[0]["lag"].clone()), (json!(0), json!(0)));
    for pair in partitions.windows(2) {
        assert_eq!(pair[0]["end_slot"], pair[1]["first_slot"]);
    }
    let metrics = ok(&client, "node_metrics", json!({})).await;
    assert!(metrics["active_actors"].as_u64().unwrap() >= 2, "{metrics}");
    let counter = metrics["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "counter").unwrap();
    assert!(counter["invocations_ok"].as_u64().unwrap() >= 3, "{counter}");

    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_tool_errors_an_agent_can_act_on() {
    let (node, http, resp) = start(writable()).await;
    let client = connect(http).await;
    let mut redis = resp2(resp).await;
    call(&mut redis, &["RPUSH", "list", "a"]).await;

    assert!(
        failure(&client, "kv_get", json!({"key": "k", "db": 16})).await.contains("databases are 0 to 15")
    );
    assert!(failure(&client, "kv_scan", json!({"cursor": "zz"})).await.contains("bad cursor"));
    assert!(
        failure(&client, "list_actors", json!({"kind": "counter", "cursor": "00"})).await.contains("cursor")
    );
    assert!(failure(&client, "list_actors", json!({"kind": "nope"})).await.contains("nope"));
    let text = failure(&client, "call_actor", json!({"kind": "counter", "key": "c", "method": "fly"})).await;
    assert!(text.contains("fly"), "{text}");
    let text = failure(
        &client,
        "call_actor",
        json!({"kind": "counter", "key": "c", "method": "increment", "args": {"by": "x"}}),
    )
    .await;
    assert!(text.contains("increment"), "{text}");
    assert!(
        failure(&client, "kv_set", json!({"key": "k", "value": "v", "ttl_ms": 0})).await.contains("ttl_ms")
    );
    let long_key = "k".repeat(40_000);
    assert!(!failure(&client, "kv_get", json!({"key": long_key})).await.is_empty());

    // Arguments that do not fit the schema are tool errors (the model can
    // correct itself); an unknown tool is a protocol error.
    assert!(failure(&client, "kv_get", json!({"key": 5})).await.contains("expected a string"));
    assert!(failure(&client, "kv_get", json!({"key": "k", "surprise": 1})).await.contains("surprise"));
    assert!(failure(&client, "kv_set", json!({"key": "k"})).await.contains("value"));
    let missing = try_tool(&client, "no_such_tool", json!({})).await.expect_err("unknown tool");
    assert_eq!(protocol_code(missing), -32602);

    // The server still serves.
    assert_eq!(ok(&client, "kv_type", json!({"key": "list"})).await["type"], "list");
    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn list_activations_shows_the_resident_actors() {
    let (node, http, _) = start(Config::ephemeral()).await;
    let client = connect(http).await;
    for key in ["a", "b"] {
        ok(&client, "call_actor", json!({"kind": "counter", "key": key, "method": "get"})).await;
    }
    let listed = ok(&client, "list_activations", json!({"kind": "counter"})).await;
    assert_eq!(listed["truncated"], false);
    let resident = listed["activations"].as_array().unwrap();
    let keys: Vec<_> = resident.iter().map(|a| (a["kind"].clone(), a["key"].clone())).collect();
    assert_eq!(keys, [(json!("counter"), json!("a")), (json!("counter"), json!("b"))]);
    for a in resident {
        assert_eq!((a["waiting"].clone(), a["timers"].clone()), (json!(0), json!([])), "{a}");
        assert!(a["idle_ms"].as_u64().unwrap() <= a["age_ms"].as_u64().unwrap(), "{a}");
    }
    // Every kind when none is given; an unknown kind says so.
    let all = ok(&client, "list_activations", json!({})).await;
    assert!(all["activations"].as_array().unwrap().len() >= 2, "{all}");
    let text = failure(&client, "list_activations", json!({"kind": "ghost"})).await;
    assert!(text.starts_with("not_found: unknown actor kind 'ghost'"), "{text}");
    // A deactivated actor is no longer listed.
    node.handle().deactivate(&orbit_shared::ActorId::new("counter", "a")).await;
    let listed = ok(&client, "list_activations", json!({"kind": "counter"})).await;
    assert_eq!(listed["activations"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["activations"][0]["key"], "b");
    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

fn epoch_ms() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    now.as_millis() as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn reminder_tools_register_list_and_remove_reminders() {
    let (node, http, resp) = start(writable()).await;
    let client = connect(http).await;
    let mut redis = resp2(resp).await;
    let before = epoch_ms();
    let tick = json!({
        "kind": "counter", "key": "c", "name": "tick", "period": "1h", "method": "increment", "args": {"by": 1},
    });
    let tick = ok(&client, "remind", tick).await;
    let job = json!({
        "kind": "counter", "key": "c", "name": "later", "method": "reset", "once": true, "delay_ms": 600_000,
    });
    let job = ok(&client, "remind", job).await;
    let after = epoch_ms();
    let next = tick["next_fire_ms"].as_u64().unwrap();
    let expected = json!({
        "kind": "counter", "key": "c", "name": "tick", "period_ms": 3_600_000, "method": "increment",
        "args": {"by": 1}, "next_fire_ms": next,
    });
    assert_eq!(tick, expected);
    let due = job["next_fire_ms"].as_u64().unwrap();
    let expected = json!({
        "kind": "counter", "key": "c", "name": "later", "period_ms": 0, "method": "reset", "args": {},
        "next_fire_ms": due,
    });
    assert_eq!(job, expected);
    assert!(due >= before + 600_000 && due <= after + 600_000, "{job}");
    // The same reminders through Redis, and listed by name.
    let R::Array(through_redis) = call(&mut redis, &["ACTOR.REMINDERS", "counter", "c"]).await else {
        panic!("ACTOR.REMINDERS answers an array")
    };
    assert_eq!(through_redis.len(), 2);
    let listed = ok(&client, "list_reminders", json!({"kind": "counter", "key": "c"})).await;
    assert_eq!(listed, json!({"reminders": [job, tick]}));

    let tick = json!({"kind": "counter", "key": "c", "name": "tick"});
    assert_eq!(ok(&client, "unremind", tick.clone()).await, json!({"removed": true}));
    assert_eq!(ok(&client, "unremind", tick).await, json!({"removed": false}));
    let later = json!({"kind": "counter", "key": "c", "name": "later"});
    assert_eq!(ok(&client, "unremind", later).await, json!({"removed": true}));
    let listed = ok(&client, "list_reminders", json!({"kind": "counter", "key": "c"})).await;
    assert_eq!(listed, json!({"reminders": []}));

    // Bad periods, kinds and methods are tool errors that say what to fix.
    let remind = |name: &str, schedule: Value, kind: &str, method: &str| {
        let mut args = json!({"kind": kind, "key": "c", "name": name, "method": method});
        args.as_object_mut().unwrap().extend(schedule.as_object().unwrap().clone());
        args
    };
    for (args, says) in [
        (
            remind("r", json!({"period": "soon"}), "counter", "increment"),
            "invalid_argument: invalid period 'soon' (use e.g. 500ms, 1s, 5m)",
        ),
        (remind("r", json!({"period_ms": 0}), "counter", "increment"), "invalid_argument: period_ms must be"),
        (remind("r", json!({}), "counter", "increment"), "invalid_argument: give period_ms or period"),
        (remind("r", json!({"once": true}), "counter", "increment"), "invalid_argument: a job (once) needs"),
        (remind("r", json!({"period": "1s"}), "ghost", "get"), "not_found: unknown actor kind 'ghost'"),
        (
            remind("r", json!({"period": "1s"}), "counter", "fly"),
            "not_found: actor kind 'counter' has no method 'fly'",
        ),
    ] {
        let text = failure(&client, "remind", args).await;
        assert!(text.starts_with(says), "{text}");
    }
    let listed = ok(&client, "list_reminders", json!({"kind": "counter", "key": "c"})).await;
    assert_eq!(listed, json!({"reminders": []}), "nothing refused was registered");
    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_by_default() {
    let (node, http, resp) = start(Config::ephemeral()).await;
    let client = connect(http).await;
    let mut redis = resp2(resp).await;
    call(&mut redis, &["SET", "k", "original"]).await;

    for (name, args) in [
        ("kv_set", json!({"key": "k", "value": "changed"})),
        ("kv_delete", json!({"keys": ["k"]})),
        ("call_actor", json!({"kind": "counter", "key": "c", "method": "increment"})),
        ("sql_execute", json!({"sql": "CREATE TABLE t (id INT PRIMARY KEY)"})),
        (
            "remind",
            json!({"kind": "counter", "key": "c", "name": "r", "period": "1s", "method": "increment"}),
        ),
        ("unremind", json!({"kind": "counter", "key": "c", "name": "r"})),
    ] {
        let text = failure(&client, name, args).await;
        assert!(text.contains("read-only") && text.contains("ORBIT__MCP__READ_ONLY=false"), "{name}: {text}");
    }
    assert_eq!(call(&mut redis, &["GET", "k"]).await, R::BulkString(b"original".to_vec()));
    // Reads, and methods declared read-only, are allowed.
    assert_eq!(ok(&client, "kv_get", json!({"key": "k"})).await["value"], "original");
    assert_eq!(
        ok(&client, "call_actor", json!({"kind": "counter", "key": "c", "method": "get"})).await["reply"],
        0
    );
    assert_eq!(ok(&client, "node_status", json!({})).await["read_only"], true);
    let state = ok(&client, "get_actor_state", json!({"kind": "counter", "key": "c"})).await;
    assert_eq!(state["exists"], false, "a read-only call stores nothing: {state}");
    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn results_are_bounded() {
    let mut config = writable();
    config.mcp.max_result_bytes = 2048;
    config.mcp.max_items = 5;
    let (node, http, resp) = start(config).await;
    let client = connect(http).await;
    let mut redis = resp2(resp).await;
    call(&mut redis, &["SET", "big", &"x".repeat(4096)]).await;
    let words: Vec<String> =
        ["RPUSH", "l"].into_iter().map(String::from).chain((0..20).map(|i| i.to_string())).collect();
    call(&mut redis, &words).await;

    let text = failure(&client, "kv_get", json!({"key": "big"})).await;
    assert!(text.contains("over this server's limit of 2048 bytes"), "{text}");
    let got = ok(&client, "kv_get", json!({"key": "l", "max_items": 100})).await;
    assert_eq!(got["value"].as_array().unwrap().len(), 5, "capped by max_items");
    assert_eq!((got["length"].clone(), got["truncated"].clone()), (json!(20), json!(true)));
    let keys: Vec<_> = (0..6).map(|i| format!("k{i}")).collect();
    assert!(failure(&client, "kv_delete", json!({"keys": keys})).await.contains("at most 5"));
    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn resources_and_prompts() {
    let (node, http, resp) = start(writable()).await;
    let client = connect(http).await;
    let mut redis = resp2(resp).await;
    call(&mut redis, &["HSET", "user:1", "name", "ada"]).await;
    ok(&client, "call_actor", json!({"kind": "counter", "key": "a/b", "method": "increment"})).await;

    let resources = client.list_all_resources().await.unwrap();
    let uris: BTreeSet<_> = resources.iter().map(|r| r.uri.clone()).collect();
    assert_eq!(uris, ["orbit://kinds", "orbit://node"].into_iter().map(String::from).collect());
    let templates = client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 3);

    let read = |uri: &str| {
        let params = ReadResourceRequestParams::new(uri);
        let client = &client;
        async move {
            let result = client.read_resource(params).await?;
            let text = match &result.contents[0] {
                ResourceContents::TextResourceContents { text, mime_type, .. } => {
                    assert_eq!(mime_type.as_deref(), Some("application/json"));
                    text.clone()
                }
                other => panic!("not text: {other:?}"),
            };
            Ok::<Value, ServiceError>(serde_json::from_str(&text).unwrap())
        }
    };
    let user = read("orbit://redis/0/user:1").await.unwrap();
    assert_eq!(user["value"], json!({"name": "ada"}));
    let actor = read("orbit://actor/counter/a%2Fb").await.unwrap();
    assert_eq!(actor["value"], 1);
    assert_eq!(read("orbit://node").await.unwrap()["backend"], "memory");
    assert!(read("orbit://kinds").await.unwrap().as_array().unwrap().iter().any(|k| k["kind"] == "counter"));
    for missing in ["orbit://redis/0/nobody", "orbit://nothing", "orbit://actor/counter/never"] {
        let error = read(missing).await.expect_err("no such resource");
        assert_eq!(protocol_code(error), -32602, "{missing}");
    }

    let prompts = client.list_all_prompts().await.unwrap();
    let names: BTreeSet<_> = prompts.iter().map(|p| p.name.clone()).collect();
    assert_eq!(names, ["explore_database", "inspect_actor"].into_iter().map(String::from).collect());
    let explore = client.get_prompt(GetPromptRequestParams::new("explore_database")).await.unwrap();
    let text = serde_json::to_string(&explore.messages).unwrap();
    assert!(text.contains("counter") && text.contains("kv_scan"), "{text}");
    let mut args = serde_json::Map::new();
    args.insert("kind".into(), json!("counter"));
    args.insert("key".into(), json!("a/b"));
    let inspect =
        client.get_prompt(GetPromptRequestParams::new("inspect_actor").with_arguments(args)).await.unwrap();
    let text = serde_json::to_string(&inspect.messages).unwrap();
    assert!(text.contains("increment") && text.contains("\\\"value\\\": 1"), "{text}");
    let error =
        client.get_prompt(GetPromptRequestParams::new("inspect_actor")).await.expect_err("needs arguments");
    assert_eq!(protocol_code(error), -32602);

    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_tools_share_tables_with_postgres_clients() {
    let (node, http, _) = start(writable()).await;
    let pg = node.pg_addr().expect("PostgreSQL address");
    let client = connect(http).await;

    let created = ok(
        &client,
        "sql_execute",
        json!({"sql": "CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT NOT NULL, score DOUBLE PRECISION); INSERT INTO users (name, score) VALUES ('ada', 9.5), ('bob', NULL)"}),
    )
    .await;
    let commands: Vec<_> =
        created["results"].as_array().unwrap().iter().map(|r| r["command"].clone()).collect();
    assert_eq!(commands, [json!("CREATE TABLE"), json!("INSERT 0 2")]);

    let listed = ok(&client, "sql_list_tables", json!({})).await;
    assert_eq!(listed["tables"], json!([{"name": "users", "columns": 3, "primary_key": "id"}]));
    let schema = ok(&client, "sql_describe_table", json!({"table": "users"})).await;
    assert_eq!(schema["primary_key"], "id");
    assert_eq!(
        schema["columns"][0],
        json!({"name": "id", "type": "integer", "not_null": true, "serial": true})
    );
    assert_eq!(schema["columns"][2]["type"], "double precision");
    assert!(
        failure(&client, "sql_describe_table", json!({"table": "nope"})).await.contains("does not exist")
    );

    let selected =
        ok(&client, "sql_query", json!({"sql": "SELECT name, score FROM users WHERE id = 1"})).await;
    assert_eq!(
        selected["results"][0],
        json!({"command": "SELECT", "columns": ["name", "score"], "rows": [["ada", 9.5]], "truncated": false})
    );
    let text = failure(&client, "sql_query", json!({"sql": "INSERT INTO users (name) VALUES ('eve')"})).await;
    assert!(text.contains("read-only") && text.contains("25006"), "{text}");
    let text = failure(&client, "sql_query", json!({"sql": "SELECT * FROM missing WHERE id = 1"})).await;
    assert!(text.contains("42P01"), "{text}");

    // A PostgreSQL client sees the rows MCP wrote, and MCP sees the rows it writes.
    let (pg_client, connection) = tokio_postgres::Config::new()
        .host(pg.ip().to_string())
        .port(pg.port())
        .user("app")
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = pg_client.query_one("SELECT name FROM users WHERE id = $1", &[&2i32]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "bob");
    pg_client.batch_execute("INSERT INTO users VALUES (10, 'cy', 1)").await.unwrap();
    let selected = ok(&client, "sql_query", json!({"sql": "SELECT name FROM users WHERE id = 10"})).await;
    assert_eq!(selected["results"][0]["rows"], json!([["cy"]]));

    // The two take the same row locks: an MCP write of a row a PostgreSQL
    // transaction holds waits for its COMMIT, and loses no update.
    pg_client.batch_execute("BEGIN; UPDATE users SET score = score + 1 WHERE id = 10").await.unwrap();
    {
        let waiting =
            ok(&client, "sql_execute", json!({"sql": "UPDATE users SET score = score * 10 WHERE id = 10"}));
        tokio::pin!(waiting);
        let early = tokio::time::timeout(std::time::Duration::from_millis(300), &mut waiting).await;
        assert!(early.is_err(), "the MCP write went ahead of the PostgreSQL transaction's lock: {early:?}");
        pg_client.batch_execute("COMMIT").await.unwrap();
        let updated = waiting.await;
        assert_eq!(updated["results"][0]["command"], "UPDATE 1");
    }
    let row = pg_client.query_one("SELECT score FROM users WHERE id = 10", &[]).await.unwrap();
    assert_eq!(row.get::<_, f64>(0), 20.0);

    let resource = client.read_resource(ReadResourceRequestParams::new("orbit://table/users")).await.unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &resource.contents[0] else { panic!("text") };
    assert_eq!(serde_json::from_str::<Value>(text).unwrap()["name"], "users");
    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stateless_2026_client_discovers_and_calls() {
    let (node, http, resp) = start(writable()).await;
    let lifecycle = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    let client = ClientConfig::default()
        .serve_with_lifecycle(StreamableHttpClientTransport::from_uri(url(http)), lifecycle)
        .await
        .expect("discover succeeds");
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), TOOLS.len());
    ok(&client, "kv_set", json!({"key": "stateless", "value": "yes"})).await;
    let mut redis = resp2(resp).await;
    assert_eq!(call(&mut redis, &["GET", "stateless"]).await, R::BulkString(b"yes".to_vec()));
    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

/// A raw HTTP/1.1 POST to `/mcp` with extra headers; returns the status.
async fn raw_post(http: SocketAddr, host: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
    let mut request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).to_string();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    (status, response)
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;

#[tokio::test(flavor = "multi_thread")]
async fn bearer_token_and_allowed_hosts() {
    let mut config = writable();
    config.mcp.token = Some("s3cret".into());
    config.mcp.allowed_hosts = vec!["orbit.example".into(), "127.0.0.1".into()];
    let (node, http, _) = start(config).await;

    let (status, response) = raw_post(http, "orbit.example", &[], INITIALIZE).await;
    assert_eq!(status, 401, "{response}");
    assert!(response.to_ascii_lowercase().contains("www-authenticate: bearer"), "{response}");
    let (status, _) = raw_post(http, "orbit.example", &[("Authorization", "Bearer wrong")], INITIALIZE).await;
    assert_eq!(status, 401);
    let auth = [("Authorization", "Bearer s3cret")];
    let (status, response) = raw_post(http, "orbit.example", &auth, INITIALIZE).await;
    assert_eq!(status, 200, "{response}");
    assert!(response.contains("\"serverInfo\""), "{response}");
    let (status, _) = raw_post(http, &format!("orbit.example:{}", http.port()), &auth, INITIALIZE).await;
    assert_eq!(status, 200, "a host with a port matches");
    let (status, _) = raw_post(http, "evil.example", &auth, INITIALIZE).await;
    assert_eq!(status, 403, "a Host outside allowed_hosts is refused");
    // Malformed JSON is a parse error, not a crash.
    let (status, response) = raw_post(http, "orbit.example", &auth, "{not json").await;
    assert!((400..500).contains(&status), "{status} {response}");

    // rmcp's client with the token works end to end.
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url(http)).auth_header("s3cret"),
    );
    let client = ClientConfig::default().serve(transport).await.expect("client with the token initializes");
    assert_eq!(ok(&client, "node_status", json!({})).await["ready"], true);
    client.cancel().await.unwrap();
    // /metrics stays open without the token.
    let (status, _) = common::http_get(http, "/health/live").await;
    assert_eq!(status, 200);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stdio_bridge_through_orbit_client() {
    let (node, _, resp) = start(Config::ephemeral()).await;
    let grpc = node.grpc_addr().expect("gRPC address");
    let mut redis = resp2(resp).await;
    call(&mut redis, &["SADD", "tags", "b", "a"]).await;

    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_orbit-server"));
    command.args(["mcp", "--connect", &grpc.to_string()]).env("ORBIT__MCP__READ_ONLY", "false");
    let client = ClientConfig::default()
        .serve(TokioChildProcess::new(command).expect("the bridge starts"))
        .await
        .expect("stdio client initializes");
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), TOOLS.len());
    assert_eq!(ok(&client, "kv_get", json!({"key": "tags"})).await["value"], json!(["a", "b"]));
    ok(&client, "kv_set", json!({"key": "from-stdio", "value": "1"})).await;
    assert_eq!(call(&mut redis, &["GET", "from-stdio"]).await, R::BulkString(b"1".to_vec()));
    let status = ok(&client, "node_status", json!({})).await;
    assert_eq!(status["grpc_addr"], grpc.to_string());
    assert_eq!(status["read_only"], false, "the environment configures the bridge");
    let reply = ok(
        &client,
        "call_actor",
        json!({"kind": "counter", "key": "c", "method": "increment", "args": {"by": 2}}),
    )
    .await;
    assert_eq!(reply["reply"], 2);
    assert_eq!(
        ok(&client, "get_actor_state", json!({"kind": "counter", "key": "c"})).await["state"]["value"],
        2
    );
    // Resident actors are the node's own business: a remote client cannot list them.
    let text = failure(&client, "list_activations", json!({})).await;
    assert!(text.starts_with("invalid_argument: not supported: listing resident activations"), "{text}");
    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stdio_bridge_reports_an_unreachable_node() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_orbit-server"))
        .args(["mcp", "--connect", "127.0.0.1:1"])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "nothing but MCP on stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot reach the node at 127.0.0.1:1"), "{stderr}");
}
