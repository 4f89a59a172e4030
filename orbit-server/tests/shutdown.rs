//! Shutdown drains every front door: a request in flight when the node's
//! shutdown begins is answered before its connection closes, through RESP,
//! PostgreSQL (simple and extended protocol), MCP over HTTP and gRPC; a
//! COMMIT in flight when the binary gets SIGTERM is answered and its rows
//! are there after a restart; an idle PostgreSQL session is ended with
//! FATAL 57P01. And PostgreSQL's `max_connections`: one connection more is
//! refused with FATAL 53300.

#![allow(clippy::unwrap_used)]

mod common;

use common::sql::{connect, rows};
use common::turnstile::{PATIENCE, Pass, TurnstileApi, gate, start, within};
use orbit_server::{Config, Node};
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio_postgres::NoTls;

/// Waits until `addr` refuses connections. Every front door stops accepting
/// when the node's shutdown cancels their one accept token, so a closed RESP
/// listener means the shutdown has begun for all of them.
async fn until_refused(addr: SocketAddr) {
    let deadline = Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "{addr} still accepts connections");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `request`, which calls `pass` at gate `name`; once the call waits at
/// the gate, shuts `node` down, and opens the gate only after the shutdown
/// has begun. Returns what the request got; the shutdown must succeed.
async fn answered_during_shutdown<F: Future>(node: Node, name: &str, request: F) -> F::Output {
    let gate = gate(name);
    let resp = node.resp_addr().expect("the node serves RESP");
    let shutdown = async {
        gate.reached.notified().await;
        let open_once_stopping = async {
            until_refused(resp).await;
            gate.opened.cancel();
        };
        let (stopped, ()) = tokio::join!(node.shutdown(), open_once_stopping);
        stopped.expect("the node shuts down cleanly");
    };
    let (answer, ()) = within(async { tokio::join!(request, shutdown) }).await;
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn resp_command_in_flight_at_shutdown_is_answered() {
    let node = start(Config::ephemeral()).await;
    let mut redis = common::resp::resp2(node.resp_addr().unwrap()).await;
    let request = async move {
        let words = ["ACTOR.CALL", "turnstile", "k", "pass", r#"{"gate": "resp"}"#];
        common::resp::try_call(&mut redis, &words).await
    };
    let reply = answered_during_shutdown(node, "resp", request).await;
    let reply = reply.expect("a reply, not a closed connection");
    assert_eq!(common::resp::show(&reply), r#""\"passed resp\"""#);
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_statement_in_flight_at_shutdown_is_answered() {
    let node = start(Config::ephemeral()).await;
    let client = connect(node.pg_addr().unwrap()).await;
    let request = async move {
        client.simple_query(r#"SELECT orbit_call('turnstile', 'k', 'pass', '{"gate": "pg-simple"}')"#).await
    };
    let messages = answered_during_shutdown(node, "pg-simple", request).await.expect("the statement's reply");
    let values: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(values, [r#""passed pg-simple""#]);
}

/// The extended protocol's replies are written at Sync: the drain runs the
/// batch to its Sync before the connection closes.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_extended_batch_in_flight_at_shutdown_is_answered() {
    let node = start(Config::ephemeral()).await;
    let client = connect(node.pg_addr().unwrap()).await;
    let request = async move {
        let sql = r#"SELECT orbit_call('turnstile', 'k', 'pass', '{"gate": "pg-extended"}')"#;
        client.query_one(sql, &[]).await
    };
    let row = answered_during_shutdown(node, "pg-extended", request).await.expect("the Execute's reply");
    assert_eq!(row.get::<_, serde_json::Value>(0), json!("passed pg-extended"));
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_tool_call_in_flight_at_shutdown_is_answered() {
    use rmcp::ServiceExt;
    use rmcp::model::{CallToolRequestParams, ClientConfig};
    use rmcp::transport::StreamableHttpClientTransport;

    let node = start(Config::ephemeral()).await;
    let url = format!("http://{}/mcp", node.http_addr().unwrap());
    let client = ClientConfig::default()
        .serve(StreamableHttpClientTransport::from_uri(url))
        .await
        .expect("MCP client initializes");
    let request = async move {
        let args = json!({"kind": "turnstile", "key": "k", "method": "pass", "args": {"gate": "mcp"}});
        let serde_json::Value::Object(args) = args else { unreachable!() };
        client.call_tool(CallToolRequestParams::new("call_actor").with_arguments(args)).await
    };
    let result = answered_during_shutdown(node, "mcp", request).await.expect("the tool call's reply");
    assert_ne!(result.is_error, Some(true), "{:?}", result.content);
    assert_eq!(result.structured_content, Some(json!({"reply": "passed mcp"})));
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_call_in_flight_at_shutdown_is_answered() {
    let node = start(Config::ephemeral()).await;
    let client = orbit_client::Client::connect(node.grpc_addr().unwrap().to_string()).await.unwrap();
    let request = async move { client.actor::<TurnstileApi>("k").call(Pass { gate: "grpc".into() }).await };
    let reply = answered_during_shutdown(node, "grpc", request).await.expect("the call's reply");
    assert_eq!(reply, "passed grpc");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_postgres_session_is_terminated_with_57p01_at_shutdown() {
    let node = start(Config::ephemeral()).await;
    let addr = node.pg_addr().unwrap();
    let (client, connection) = pg_config(addr).connect(NoTls).await.unwrap();
    let connection = tokio::spawn(connection);
    assert_eq!(rows(&client, "SELECT 1").await, ["1"]);
    // An idle session does not hold the drain up.
    within(node.shutdown()).await.unwrap();
    let ended = within(connection).await.unwrap().expect_err("the server ended the session");
    assert_eq!(ended.code().map(|c| c.code()), Some("57P01"), "{ended}");
}

fn pg_config(addr: SocketAddr) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config.host(addr.ip().to_string()).port(addr.port()).user("app").dbname("orbit");
    config
}

async fn try_connect(addr: SocketAddr) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = pg_config(addr).connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_connection_over_max_connections_is_refused_with_53300() {
    let mut config = Config::ephemeral();
    config.postgres.max_connections = 2;
    let node = start(config).await;
    let addr = node.pg_addr().unwrap();
    let first = connect(addr).await;
    let second = connect(addr).await;

    let Err(refused) = try_connect(addr).await else { panic!("a third connection is refused") };
    let db = refused.as_db_error().unwrap_or_else(|| panic!("not an error from the server: {refused}"));
    assert_eq!(db.code().code(), "53300");
    assert_eq!(db.message(), "sorry, too many clients already");
    assert_eq!(db.severity(), "FATAL");

    // At the limit a CancelRequest (on a connection of its own) is still
    // served; sent until the statement has started and is stopped.
    let token = first.cancel_token();
    let sleep = first.simple_query("SELECT pg_sleep(60)");
    tokio::pin!(sleep);
    let slept = within(async {
        loop {
            token.cancel_query(NoTls).await.unwrap();
            tokio::select! {
                done = &mut sleep => break done,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    })
    .await;
    let Err(cancelled) = slept else { panic!("the statement was cancelled") };
    assert_eq!(cancelled.code().map(|c| c.code()), Some("57014"), "{cancelled}");
    assert_eq!(rows(&first, "SELECT 1").await, ["1"], "the admitted connections go on");
    assert_eq!(rows(&second, "SELECT 2").await, ["2"]);

    // Closing one frees its slot once the server has seen it go.
    drop(second);
    let deadline = Instant::now() + PATIENCE;
    let third = loop {
        match try_connect(addr).await {
            Ok(client) => break client,
            Err(e) => {
                assert_eq!(e.code().map(|c| c.code()), Some("53300"), "{e}");
                assert!(Instant::now() < deadline, "the closed connection's slot was not freed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    assert_eq!(rows(&third, "SELECT 3").await, ["3"]);
    node.shutdown().await.unwrap();
}

/// The binary on SIGTERM: a COMMIT in flight is answered, and its rows are
/// there after a restart. The COMMIT cannot finish before the shutdown
/// begins: its query string first waits for a row lock that another session
/// holds in an open block, and only the shutdown ends that session (rolling
/// its block back and freeing the lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_postgres_commit_answers_it_and_the_rows_survive() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = common::spawn_node(dir.path()).await;
    let a = connect(server.pg).await;
    let b = connect(server.pg).await;
    a.batch_execute("CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (0, 0)").await.unwrap();
    b.batch_execute("BEGIN; UPDATE t SET v = 1 WHERE id = 0").await.unwrap();
    a.batch_execute("BEGIN; INSERT INTO t VALUES (1, 10), (2, 20), (3, 30)").await.unwrap();

    // The probe (a counter, outside any transaction) shows the query string runs.
    let commit = "SELECT orbit_call('counter', 'probe', 'increment', '{\"by\": 1}'); \
                  UPDATE t SET v = 2 WHERE id = 0; COMMIT";
    let grpc = orbit_client::Client::connect(server.grpc.to_string()).await.unwrap();
    let probe = grpc.actor::<orbit_shared::actors::counter::Counter>("probe");
    let pid = server.child.id().expect("running").to_string();
    let (committed, ()) = within(async {
        tokio::join!(a.simple_query(commit), async {
            let deadline = Instant::now() + PATIENCE;
            while probe.call(orbit_shared::actors::counter::Get {}).await.unwrap() != 1 {
                assert!(Instant::now() < deadline, "the query string did not start");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            assert!(status.success());
        })
    })
    .await;
    committed.expect("the COMMIT in flight at SIGTERM is answered");
    let status = within(server.child.wait()).await.unwrap();
    assert!(status.success(), "SIGTERM exit status {status}");

    let server = common::spawn_node(dir.path()).await;
    let c = connect(server.pg).await;
    assert_eq!(rows(&c, "SELECT id, v FROM t ORDER BY id").await, ["0|2", "1|10", "2|20", "3|30"]);
}
