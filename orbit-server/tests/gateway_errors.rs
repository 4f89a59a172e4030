//! A gateway timeout and a full mailbox reach every front door's client as
//! that protocol's own error, never as an internal one: RESP `ERR timeout:
//! ...` and `BUSY ...`, PostgreSQL SQLSTATE 57014 and 53000, MCP tool
//! results whose text starts with `timeout:` and `unavailable:`, and gRPC
//! the node's `Error::Timeout` and `Error::MailboxFull` (kinds `Timeout` and
//! `Unavailable`).
//!
//! Both are provoked with `turnstile`, a test kind whose `pass` waits at a
//! gate until the test opens it. A timeout: `actors.call_timeout` is 300 ms
//! and the gate stays shut. A full mailbox: `actors.mailbox_capacity` is 1;
//! one call takes the actor's turn and waits at the gate, and of two more
//! calls one waits for the turn (the one call the mailbox holds) while the
//! other is refused.

#![allow(clippy::unwrap_used)]

mod common;

use common::turnstile::{Pass, TurnstileApi, gate, start, within};
use orbit_client::ClientError;
use orbit_server::{Config, Node};
use orbit_shared::{Error, ErrorKind};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{Peer, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio_postgres::SimpleQueryMessage;

/// `actors.call_timeout` of the timeout tests.
const CALL_TIMEOUT: Duration = Duration::from_millis(300);

/// What a refused call's error says (the actor is `turnstile/k`).
const MAILBOX_FULL: &str = "mailbox of turnstile/k is full (1 waiting calls)";

/// A node whose calls give up after [`CALL_TIMEOUT`].
async fn impatient_node() -> Node {
    let mut config = Config::ephemeral();
    config.actors.call_timeout = CALL_TIMEOUT;
    start(config).await
}

/// A node whose actors hold one waiting call each.
async fn narrow_node() -> Node {
    let mut config = Config::ephemeral();
    config.actors.mailbox_capacity = 1;
    start(config).await
}

/// Makes three calls of `pass` at gate `name` through `call` (each a
/// request of its own) to an actor whose mailbox holds one waiting call.
/// The first takes the turn and waits at the gate; of the two sent after
/// it, one waits for the turn and the other is refused. While the gate is
/// shut only the refused one can finish, so the first of the two to finish
/// is the refused one; then the gate opens and the other two finish.
/// Returns (refused, first, queued).
async fn with_a_full_mailbox<T, F>(name: &str, call: impl Fn() -> F) -> (T, T, T)
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    let gate = gate(name);
    let first = tokio::spawn(call());
    within(gate.reached.notified()).await;
    let mut behind = tokio::task::JoinSet::new();
    behind.spawn(call());
    behind.spawn(call());
    let refused = within(behind.join_next()).await.expect("two calls").expect("the refused call's task");
    gate.opened.cancel();
    let queued = within(behind.join_next()).await.expect("one call left").expect("the queued call's task");
    let first = within(first).await.expect("the first call's task");
    (refused, first, queued)
}

// RESP

fn actor_call(gate: &str) -> Vec<String> {
    let args = json!({ "gate": gate }).to_string();
    ["ACTOR.CALL", "turnstile", "k", "pass", args.as_str()].map(String::from).to_vec()
}

/// ACTOR.CALL on a connection of its own; the reply as `common::resp::show`
/// renders it.
async fn resp_call(addr: SocketAddr, gate: &str) -> String {
    let mut redis = common::resp::resp2(addr).await;
    let reply = common::resp::try_call(&mut redis, &actor_call(gate)).await;
    common::resp::show(&reply.expect("a reply, not a closed connection"))
}

#[tokio::test(flavor = "multi_thread")]
async fn resp_call_that_times_out_is_an_err_timeout_reply() {
    let node = impatient_node().await;
    let reply = within(resp_call(node.resp_addr().unwrap(), "resp-timeout")).await;
    assert_eq!(reply, "-ERR timeout: no reply within 300 ms");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn resp_call_to_a_full_mailbox_is_a_busy_reply() {
    let node = narrow_node().await;
    let addr = node.resp_addr().unwrap();
    let (refused, first, queued) = with_a_full_mailbox("resp-full", || resp_call(addr, "resp-full")).await;
    assert_eq!(refused, format!("-BUSY {MAILBOX_FULL}"));
    assert_eq!(first, r#""\"passed resp-full\"""#);
    assert_eq!(queued, r#""\"passed resp-full\"""#);
    node.shutdown().await.unwrap();
}

// PostgreSQL

fn orbit_call(gate: &str) -> String {
    format!(r#"SELECT orbit_call('turnstile', 'k', 'pass', '{{"gate": "{gate}"}}')"#)
}

/// `orbit_call` on a connection of its own: the value it returned, or the
/// server's error as (SQLSTATE, message).
async fn pg_call(addr: SocketAddr, gate: &str) -> Result<String, (String, String)> {
    let client = common::sql::connect(addr).await;
    match client.simple_query(&orbit_call(gate)).await {
        Ok(messages) => {
            let value = messages.iter().find_map(|m| match m {
                SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            });
            Ok(value.expect("one row"))
        }
        Err(e) => {
            let db = e.as_db_error().unwrap_or_else(|| panic!("not an error from the server: {e}"));
            Err((db.code().code().to_string(), db.message().to_string()))
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_call_that_times_out_fails_with_57014() {
    let node = impatient_node().await;
    let failed = within(pg_call(node.pg_addr().unwrap(), "pg-timeout")).await;
    let (code, message) = failed.expect_err("the call times out");
    assert_eq!(code, "57014", "{message}");
    assert!(message.contains("no reply within 300 ms"), "{message}");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_call_to_a_full_mailbox_fails_with_53000() {
    let node = narrow_node().await;
    let addr = node.pg_addr().unwrap();
    let (refused, first, queued) = with_a_full_mailbox("pg-full", || pg_call(addr, "pg-full")).await;
    let (code, message) = refused.expect_err("the call is refused");
    assert_eq!(code, "53000", "{message}");
    assert!(message.contains(MAILBOX_FULL), "{message}");
    assert_eq!(first, Ok(r#""passed pg-full""#.to_string()));
    assert_eq!(queued, Ok(r#""passed pg-full""#.to_string()));
    node.shutdown().await.unwrap();
}

// MCP

type McpClient = RunningService<RoleClient, ClientConfig>;

/// An MCP client over HTTP (kept alive by the caller) and a handle to send
/// requests with from several tasks.
async fn mcp_client(node: &Node) -> (McpClient, Peer<RoleClient>) {
    let url = format!("http://{}/mcp", node.http_addr().unwrap());
    let client = ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_uri(url))
        .await
        .expect("MCP client initializes");
    let peer = client.peer().clone();
    (client, peer)
}

/// `call_actor` of `pass`; a protocol error panics.
async fn mcp_call(peer: Peer<RoleClient>, gate: String) -> CallToolResult {
    let args = json!({ "kind": "turnstile", "key": "k", "method": "pass", "args": { "gate": gate } });
    let serde_json::Value::Object(args) = args else { unreachable!() };
    let params = CallToolRequestParams::new("call_actor").with_arguments(args);
    peer.call_tool(params).await.unwrap_or_else(|e| panic!("a tool result, not a protocol error: {e}"))
}

/// The text of a failed tool call.
fn failure(result: &CallToolResult) -> String {
    assert_eq!(result.is_error, Some(true), "should fail: {:?}", result.structured_content);
    let texts: Vec<&str> =
        result.content.iter().filter_map(|c| c.as_text()).map(|t| t.text.as_str()).collect();
    texts.join("\n")
}

fn passed(result: &CallToolResult, gate: &str) {
    assert_ne!(result.is_error, Some(true), "{:?}", result.content);
    assert_eq!(result.structured_content, Some(json!({ "reply": format!("passed {gate}") })));
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_call_that_times_out_is_a_timeout_tool_error() {
    let node = impatient_node().await;
    let (client, peer) = mcp_client(&node).await;
    let result = within(mcp_call(peer, "mcp-timeout".into())).await;
    assert_eq!(failure(&result), "timeout: no reply within 300 ms");
    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_call_to_a_full_mailbox_is_an_unavailable_tool_error() {
    let node = narrow_node().await;
    let (client, peer) = mcp_client(&node).await;
    let (refused, first, queued) =
        with_a_full_mailbox("mcp-full", || mcp_call(peer.clone(), "mcp-full".into())).await;
    assert_eq!(failure(&refused), format!("unavailable: {MAILBOX_FULL}"));
    passed(&first, "mcp-full");
    passed(&queued, "mcp-full");
    client.cancel().await.unwrap();
    node.shutdown().await.unwrap();
}

// gRPC

async fn grpc_call(client: orbit_client::Client, gate: &str) -> Result<String, ClientError> {
    client.actor::<TurnstileApi>("k").call(Pass { gate: gate.into() }).await
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_call_that_times_out_is_the_nodes_timeout() {
    let node = impatient_node().await;
    let client = orbit_client::Client::connect(node.grpc_addr().unwrap().to_string()).await.unwrap();
    let failed = within(grpc_call(client, "grpc-timeout")).await.expect_err("the call times out");
    assert_eq!(failed.kind(), ErrorKind::Timeout);
    assert!(matches!(failed, ClientError::Remote(Error::Timeout { after_ms: 300 })), "{failed:?}");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_call_to_a_full_mailbox_is_the_nodes_mailbox_full() {
    let node = narrow_node().await;
    let client = orbit_client::Client::connect(node.grpc_addr().unwrap().to_string()).await.unwrap();
    let (refused, first, queued) =
        with_a_full_mailbox("grpc-full", || grpc_call(client.clone(), "grpc-full")).await;
    let refused = refused.expect_err("the call is refused");
    assert_eq!(refused.kind(), ErrorKind::Unavailable);
    assert!(matches!(refused, ClientError::Remote(Error::MailboxFull { capacity: 1, .. })), "{refused:?}");
    assert_eq!(first.unwrap(), "passed grpc-full");
    assert_eq!(queued.unwrap(), "passed grpc-full");
    node.shutdown().await.unwrap();
}
