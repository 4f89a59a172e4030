//! The node over real sockets: orbit-client over gRPC, grpc.health.v1, and
//! the HTTP port.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Nap, NapperApi, http_get, lsm_config};
use orbit_client::{Client, ClientError};
use orbit_server::{Config, Node};
use orbit_shared::actors::counter::{Counter, Get, Increment};
use orbit_shared::{Error, ErrorKind};
use std::time::Duration;

async fn start(config: Config) -> Node {
    Node::builder(config)
        .with_builtin_kinds()
        .register::<common::Napper>()
        .start()
        .await
        .expect("node starts")
}

async fn client(node: &Node) -> Client {
    Client::connect(node.grpc_addr().unwrap().to_string()).await.expect("client connects")
}

#[tokio::test]
async fn typed_and_dynamic_calls_reach_the_same_actor() {
    let node = start(Config::ephemeral()).await;
    let client = client(&node).await;
    let counter = client.actor::<Counter>("shared");
    assert_eq!(counter.call(Increment { by: 2 }).await.unwrap(), 2);
    let value =
        client.call_json("counter", "shared", "increment", serde_json::json!({"by": 3})).await.unwrap();
    assert_eq!(value, serde_json::json!(5));
    assert_eq!(client.call_json("counter", "shared", "get", serde_json::json!({})).await.unwrap(), 5);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_increments_over_grpc_end_at_1000() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(lsm_config(dir.path())).await;
    let client = client(&node).await;
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let counter = client.actor::<Counter>("busy");
            tokio::spawn(async move { counter.call(Increment { by: 1 }).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("increment acknowledged");
    }
    assert_eq!(client.actor::<Counter>("busy").call(Get {}).await.unwrap(), 1000);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn errors_arrive_typed_over_the_wire() {
    let node = start(Config::ephemeral()).await;
    let client = client(&node).await;
    let remote = |e: ClientError| match e {
        ClientError::Remote(e) => e,
        other => panic!("expected a remote error, got {other:?}"),
    };
    let e = remote(client.call_json("ghost", "k", "get", serde_json::json!({})).await.unwrap_err());
    assert_eq!(e, Error::UnknownKind { kind: "ghost".into() });
    let e = remote(client.call_json("counter", "k", "divide", serde_json::json!({})).await.unwrap_err());
    assert_eq!(e, Error::UnknownMethod { kind: "counter".into(), method: "divide".into() });
    let e = client.call_json("counter", "k", "increment", serde_json::json!({"by": []})).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = client.call_json("counter", vec![0u8; 40_000], "get", serde_json::json!({})).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn calls_time_out_with_a_timeout_error() {
    let node = start(Config::ephemeral()).await;
    let addr = node.grpc_addr().unwrap().to_string();
    let client = Client::builder(addr).timeout(Duration::from_millis(100)).connect().await.unwrap();
    let e = client.actor::<NapperApi>("slow").call(Nap { ms: 1_000 }).await.unwrap_err();
    assert!(matches!(e, ClientError::Timeout(_)), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Timeout);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn node_side_call_timeout_is_reported() {
    let mut config = Config::ephemeral();
    config.actors.call_timeout = Duration::from_millis(50);
    let node = start(config).await;
    let client = client(&node).await;
    let e = client.actor::<NapperApi>("slow").call(Nap { ms: 1_000 }).await.unwrap_err();
    assert!(matches!(e, ClientError::Remote(Error::Timeout { after_ms: 50 })), "{e:?}");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn connecting_to_nothing_is_a_clear_error() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let e = Client::connect(unused.to_string()).await.err().expect("nothing listens there");
    assert!(matches!(e, ClientError::Connect { .. }), "{e:?}");
    let e = Client::connect("not a uri").await.err().unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}

#[tokio::test]
async fn client_reconnects_after_the_node_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(lsm_config(dir.path())).await;
    let addr = node.grpc_addr().unwrap();
    let client = client(&node).await;
    let counter = client.actor::<Counter>("phoenix");
    assert_eq!(counter.call(Increment { by: 1 }).await.unwrap(), 1);
    node.shutdown().await.unwrap();

    let mut config = lsm_config(dir.path());
    config.grpc.addr = addr;
    let node = start(config).await;
    let mut last = None;
    for _ in 0..3 {
        match counter.call(Increment { by: 1 }).await {
            Ok(value) => {
                last = Some(value);
                break;
            }
            // The first call may learn that the old connection is gone.
            Err(e) => assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}"),
        }
    }
    assert_eq!(last, Some(2), "the same client works against the restarted node");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn grpc_health_reports_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let node = start(Config::ephemeral()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", node.grpc_addr().unwrap()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    for service in ["", "orbit.v1.ActorService"] {
        let reply = health.check(HealthCheckRequest { service: service.into() }).await.unwrap();
        assert_eq!(reply.into_inner().status, ServingStatus::Serving as i32, "service {service:?}");
    }
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn http_serves_health_and_prometheus_metrics() {
    let node = start(Config::ephemeral()).await;
    let http = node.http_addr().unwrap();
    assert_eq!(http_get(http, "/health/live").await.0, 200);
    assert_eq!(http_get(http, "/health/ready").await, (200, "ready\n".to_string()));
    let writes_before = metric(&http_get(http, "/metrics").await.1, "orbit_storage_writes_total");
    let client = client(&node).await;
    client.actor::<Counter>("m").call(Increment { by: 1 }).await.unwrap();
    client.call_json("counter", "m", "nope", serde_json::json!({})).await.unwrap_err();
    let (status, metrics) = http_get(http, "/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        r#"orbit_activations_total{kind="counter"} 1"#,
        r#"orbit_invocations_total{kind="counter",outcome="ok"} 1"#,
        r#"orbit_invocations_total{kind="counter",outcome="not_found"} 1"#,
        "orbit_invocation_duration_seconds_bucket",
        "orbit_mailbox_rejections_total",
        "orbit_storage_write_duration_seconds_count",
        "orbit_storage_fsyncs_total",
        // The counter's record and its partition's count of counters, the
        // partition count and the markers that counts are kept and that the
        // SQL data is in its partition.
        r#"orbit_storage_keys{backend="memory"} 5"#,
        r#"orbit_storage_disk_bytes{backend="memory"} 0"#,
        "orbit_active_actors 1",
        r#"orbit_active_actors_by_kind{kind="counter"} 1"#,
        r#"orbit_oldest_activation_seconds{kind="counter"}"#,
    ] {
        assert!(metrics.contains(expected), "missing {expected} in\n{metrics}");
    }
    assert_eq!(metric(&metrics, "orbit_storage_writes_total"), writes_before + 1.0);
    // A kind with no resident actor left has no series.
    node.handle().deactivate(&orbit_shared::ActorId::new("counter", "m")).await;
    let (_, metrics) = http_get(http, "/metrics").await;
    for gone in [
        r#"orbit_active_actors_by_kind{kind="counter"}"#,
        r#"orbit_oldest_activation_seconds{kind="counter"}"#,
    ] {
        assert!(!metrics.contains(gone), "{gone} still in\n{metrics}");
    }
    assert_eq!(http_get(http, "/nowhere").await.0, 404);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_node_without_listeners_is_not_ready() {
    let node = Node::builder(Config::ephemeral()).build().await.unwrap();
    assert!(!node.is_ready());
    node.shutdown().await.unwrap();
    let node = start(Config::ephemeral()).await;
    assert!(node.is_ready());
    node.shutdown().await.unwrap();
}

/// The value of an unlabelled metric in a text exposition.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

#[tokio::test]
async fn unary_invoke_serves_generic_grpc_clients() {
    use orbit_shared::proto::InvokeRequest;
    use orbit_shared::proto::actor_service_client::ActorServiceClient;
    let node = start(Config::ephemeral()).await;
    let mut rpc = ActorServiceClient::connect(format!("http://{}", node.grpc_addr().unwrap())).await.unwrap();
    let request = |method: &str, args: &str| InvokeRequest {
        id: 42,
        kind: "counter".into(),
        key: "unary".into(),
        method: method.into(),
        args: args.as_bytes().to_vec().into(),
        forwarded: false,
        idempotency_key: String::new(),
        call_chain: Vec::new(),
    };
    let reply = rpc.invoke(request("increment", r#"{"by": 4}"#)).await.unwrap().into_inner();
    assert_eq!(reply.id, 42);
    assert_eq!(reply.into_result().unwrap().decode::<i64>().unwrap(), 4);
    let reply = rpc.invoke(request("increment", "[")).await.unwrap().into_inner();
    assert_eq!(reply.into_result().unwrap_err().kind(), ErrorKind::InvalidArgument);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_concurrent_calls_than_the_window_all_complete() {
    let mut config = Config::ephemeral();
    config.grpc.stream_window = 4;
    let node = start(config).await;
    let client = Client::builder(node.grpc_addr().unwrap().to_string()).window(4).connect().await.unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let counter = client.actor::<Counter>(format!("w{}", i % 10));
            tokio::spawn(async move { counter.call(Increment { by: 1 }).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("call completes");
    }
    for i in 0..10 {
        assert_eq!(client.actor::<Counter>(format!("w{i}")).call(Get {}).await.unwrap(), 20);
    }
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn atomic_groups_over_grpc() {
    use orbit_shared::{ActorId, Invocation};
    let node = start(Config::ephemeral()).await;
    let client = client(&node).await;
    let inc = |key: &str, args: &str| {
        (ActorId::new("counter", key.to_string()), Invocation::new("increment", args.to_string()))
    };
    let replies = client.invoke_atomic(vec![inc("g1", "{\"by\":2}"), inc("g2", "{\"by\":3}")]).await.unwrap();
    assert_eq!(replies.iter().map(|r| r.decode::<i64>().unwrap()).collect::<Vec<_>>(), [2, 3]);
    let err =
        client.invoke_atomic(vec![inc("g1", "{\"by\":2}"), inc("g2", "{\"by\":[]}")]).await.unwrap_err();
    assert!(matches!(err, ClientError::Remote(ref e) if e.kind() == ErrorKind::InvalidArgument), "{err}");
    assert_eq!(client.actor::<Counter>("g1").call(Get {}).await.unwrap(), 2);
    node.shutdown().await.unwrap();
}

/// One call of a session through `calls`: its reply.
async fn session_call(
    calls: &orbit_shared::gateway::SessionCalls,
    key: &str,
    args: &str,
) -> Result<orbit_shared::Reply, Error> {
    use orbit_shared::{ActorId, Invocation};
    let id = ActorId::new("counter", key.to_string());
    orbit_shared::gateway::call_in_session(calls, id, Invocation::new("increment", args.to_string())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_sessions_over_grpc_commit_together_hold_their_actors_and_roll_back_on_failure() {
    use orbit_shared::ActorGateway;
    let dir = tempfile::tempdir().unwrap();
    let node = start(lsm_config(dir.path())).await;
    let client = client(&node).await;

    // Calls answered one at a time; a later call sees an earlier one.
    let (calls, session) = tokio::sync::mpsc::channel(1);
    let running = tokio::spawn({
        let client = client.clone();
        async move { client.invoke_session(session).await }
    });
    assert_eq!(session_call(&calls, "s1", "{\"by\":2}").await.unwrap().decode::<i64>().unwrap(), 2);
    assert_eq!(session_call(&calls, "s2", "{\"by\":3}").await.unwrap().decode::<i64>().unwrap(), 3);
    assert_eq!(session_call(&calls, "s1", "{\"by\":1}").await.unwrap().decode::<i64>().unwrap(), 3);
    // Held: another caller waits for the session to end.
    let other = tokio::spawn({
        let client = client.clone();
        async move { client.actor::<Counter>("s1").call(Get {}).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!other.is_finished(), "a call went through an actor the session holds");
    calls.send(orbit_shared::SessionStep::Commit).await.unwrap();
    running.await.unwrap().expect("the session commits");
    assert_eq!(other.await.unwrap().unwrap(), 3, "the waiting call sees the session's writes");
    assert_eq!(client.actor::<Counter>("s2").call(Get {}).await.unwrap(), 3);

    // A failed call fails the session: nothing it did is written, and the
    // calls after it get the same error.
    let (calls, session) = tokio::sync::mpsc::channel(1);
    let running = tokio::spawn({
        let client = client.clone();
        async move { client.invoke_session(session).await }
    });
    assert_eq!(session_call(&calls, "s1", "{\"by\":10}").await.unwrap().decode::<i64>().unwrap(), 13);
    let bad = session_call(&calls, "s2", "{\"by\":[]}").await.unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidArgument, "{bad}");
    let after = session_call(&calls, "s2", "{\"by\":1}").await.unwrap_err();
    assert_eq!(after, bad);
    drop(calls);
    assert_eq!(running.await.unwrap().unwrap_err(), bad);
    assert_eq!(client.actor::<Counter>("s1").call(Get {}).await.unwrap(), 3, "a failed session wrote");
    assert_eq!(client.actor::<Counter>("s2").call(Get {}).await.unwrap(), 3);

    // A session whose calls end without the commit writes nothing, and
    // says so.
    let (calls, session) = tokio::sync::mpsc::channel(1);
    let running = tokio::spawn({
        let client = client.clone();
        async move { client.invoke_session(session).await }
    });
    session_call(&calls, "s1", "{\"by\":100}").await.unwrap();
    drop(calls);
    let abandoned = running.await.unwrap().unwrap_err();
    assert!(abandoned.to_string().contains("without its commit"), "{abandoned}");
    assert_eq!(
        client.actor::<Counter>("s1").call(Get {}).await.unwrap(),
        3,
        "a session without its commit wrote"
    );

    // So does a session whose caller goes away before it ends.
    let (calls, session) = tokio::sync::mpsc::channel(1);
    let running = tokio::spawn({
        let client = client.clone();
        async move { client.invoke_session(session).await }
    });
    session_call(&calls, "s1", "{\"by\":100}").await.unwrap();
    running.abort();
    let _ = running.await;
    drop(calls);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let value = loop {
        let value = client.actor::<Counter>("s1").call(Get {}).await;
        if value.is_ok() || tokio::time::Instant::now() > deadline {
            break value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(value.unwrap(), 3, "an abandoned session wrote");
    node.shutdown().await.unwrap();
}
