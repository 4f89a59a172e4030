//! Actors on a cluster of three nodes in one process (gRPC on 127.0.0.1-3,
//! lsm storage): a call chain that crosses nodes carries its chain, so a
//! call back into a waiting reentrant turn on another node runs in it, and
//! a cycle through a method that is not reentrant is refused at once
//! instead of at the call timeout; a stateless worker kind runs on the
//! node it is called on; a reminder keeps firing after the node leading
//! its partition stops.

#![allow(clippy::unwrap_used)]

mod common;

use common::echo::{Bounce, Echo};
use orbit_server::{Actor, Config, Context, Handler, MethodTable, Node};
use orbit_shared::actors::counter::Get as CounterGet;
use orbit_shared::actors::reminders::Remind;
use orbit_shared::{Accepts, ActorGateway, ActorId, ActorInterface, Error, Invocation, Message};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// A stateless worker kind answering which node ran it.
#[derive(Default, Serialize, Deserialize)]
struct Where;
struct WhereApi;
impl ActorInterface for WhereApi {
    const KIND: &'static str = "where";
}
#[derive(Serialize, Deserialize)]
struct Ask;
impl Message for Ask {
    const METHOD: &'static str = "ask";
    const READ_ONLY: bool = true;
    type Reply = String;
}
impl Accepts<Ask> for WhereApi {}
impl Actor for Where {
    type Interface = WhereApi;
    const STATELESS_WORKERS: usize = 2;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Ask>();
    }
}
impl Handler<Ask> for Where {
    async fn handle(&mut self, _: Ask, ctx: &Context<'_>) -> Result<String, Error> {
        Ok(ctx.node().config().grpc.addr.to_string())
    }
}

/// A port free on 127.0.0.1, .2 and .3 alike.
fn shared_port() -> u16 {
    for _ in 0..50 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        if (2..=3).all(|i| std::net::TcpListener::bind(format!("127.0.0.{i}:{port}")).is_ok()) {
            return port;
        }
    }
    panic!("no port free on 127.0.0.1-3");
}

fn config(i: u8, port: u16, dir: &Path) -> Config {
    let mut config = common::lsm_config(dir);
    let ip = [127, 0, 0, i];
    config.grpc.addr = (ip, port).into();
    config.http.addr = (ip, 0).into();
    config.resp.addr = (ip, 0).into();
    config.postgres.addr = (ip, 0).into();
    config.cluster.seeds = (1..=3).map(|i| format!("127.0.0.{i}:{port}")).collect();
    config.cluster.bootstrap_expect = Some(3);
    config.cluster.heartbeat_interval = Duration::from_millis(100);
    config.cluster.election_timeout = Duration::from_millis(500);
    config.actors.call_timeout = Duration::from_secs(30);
    config
}

async fn start_three(dirs: &[tempfile::TempDir]) -> Vec<Node> {
    let port = shared_port();
    let starts = (1..=3u8).map(|i| {
        let config = config(i, port, dirs[i as usize - 1].path());
        Node::builder(config).with_builtin_kinds().register::<Echo>().register::<Where>().start()
    });
    let nodes = tokio::time::timeout(Duration::from_secs(60), futures::future::try_join_all(starts))
        .await
        .expect("the cluster forms within 60 s")
        .unwrap();
    for node in &nodes {
        leaders(node).await;
    }
    nodes
}

/// Each partition's slots and leader (gRPC address), once every partition
/// has one.
async fn leaders(node: &Node) -> Vec<(u32, u32, String)> {
    for _ in 0..300 {
        let description = node.handle().describe().await.unwrap();
        let partitions: Vec<_> =
            description.partitions.into_iter().map(|p| (p.first_slot, p.end_slot, p.leader)).collect();
        if partitions.iter().all(|(_, _, leader)| !leader.is_empty()) {
            return partitions;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("some partition has no leader after 30 s");
}

/// The leader (gRPC address) of the partition holding `id`.
fn leader_of(partitions: &[(u32, u32, String)], id: &ActorId) -> String {
    let slot = id.slot() as u32;
    partitions.iter().find(|(first, end, _)| (*first..*end).contains(&slot)).unwrap().2.clone()
}

/// A key of `kind` whose partition `leader` leads (or, with `not`, does
/// not lead).
fn key_led(partitions: &[(u32, u32, String)], kind: &str, leader: &str, not: bool) -> String {
    (0..10_000)
        .map(|i| format!("k{i}"))
        .find(|key| (leader_of(partitions, &ActorId::new(kind, key.clone())) == leader) != not)
        .expect("a key for every leader")
}

fn grpc(node: &Node) -> String {
    node.grpc_addr().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_chains_across_nodes_enter_reentrant_turns_and_find_cycles_at_once() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes = start_three(&dirs).await;
    let partitions = leaders(&nodes[0]).await;
    // `a` is led by node 1, `b` by another node: every step of a chain
    // between them is a forwarded call.
    let a = key_led(&partitions, "echo", &grpc(&nodes[0]), false);
    let b = key_led(&partitions, "echo", &grpc(&nodes[0]), true);
    let path = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    for node in &nodes {
        let started = Instant::now();
        let reply = node
            .handle()
            .invoke(
                ActorId::new("echo", a.clone()),
                Invocation::of(&Bounce { path: path(&[&b, &a]) }).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(reply.decode::<Vec<String>>().unwrap(), [a.clone(), b.clone(), a.clone()]);
        let bad = Invocation::of(&Bounce { path: path(&[&b, &format!("{a}!")]) }).unwrap();
        let err = node.handle().invoke(ActorId::new("echo", a.clone()), bad).await.unwrap_err();
        let cycle = format!("echo/{a} -> echo/{b} -> echo/{a}");
        assert!(matches!(&err, Error::CallCycle { cycle: c } if *c == cycle), "{err:?}");
        // Well before the 30 s call timeout a deadlock would have waited for.
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    }
    // Stored on `a`'s leader: per node, the outer turn and the call back
    // of the chain that completed, and the outer turn of the refused one
    // (a turn keeps what it changed before its error).
    let state = nodes[0].handle().read_actor(ActorId::new("echo", a.clone())).await.unwrap().unwrap();
    let state: serde_json::Value = serde_json::from_slice(&state).unwrap();
    assert_eq!(state["visits"], 9, "{state}");
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_workers_run_on_the_node_called_and_reminders_survive_their_leaders_stop() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = start_three(&dirs).await;
    let partitions = leaders(&nodes[0]).await;

    // Workers: answered by the node called, whoever leads the key's
    // partition, and no call was forwarded.
    let forwarded: u64 = nodes.iter().map(|n| n.handle().metrics().forwarded_calls.get()).sum();
    for node in &nodes {
        for key in ["w1", "w2", "w3", "w4"] {
            let ran = node.actor::<Where>(key).call(Ask).await.unwrap();
            assert_eq!(ran, grpc(node));
            let dynamic =
                node.handle().invoke(ActorId::new("where", key), Invocation::of(&Ask).unwrap()).await;
            assert_eq!(dynamic.unwrap().decode::<String>().unwrap(), grpc(node));
        }
    }
    let after: u64 = nodes.iter().map(|n| n.handle().metrics().forwarded_calls.get()).sum();
    assert_eq!(after, forwarded, "a stateless worker's call was forwarded");

    // A reminder on a counter led by node 1: it fires there, then, once
    // node 1 stops, on the partition's new leader.
    let key = key_led(&partitions, "counter", &grpc(&nodes[0]), false);
    let remind = Remind {
        kind: "counter".into(),
        name: "tick".into(),
        period_ms: 300,
        due_ms: None,
        method: "increment".into(),
        args: serde_json::json!({"by": 1}),
    };
    let holder = ActorId::new("orbit:reminders", key.clone());
    nodes[1].handle().invoke(holder, Invocation::of(&remind).unwrap()).await.unwrap();
    // Through the gateway, which forwards to the leader (a `LocalRef` runs
    // only where it is).
    let count = |node: &Node| {
        let (handle, id) = (node.handle().clone(), ActorId::new("counter", key.clone()));
        async move { handle.invoke(id, Invocation::of(&CounterGet {})?).await?.decode::<i64>() }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while count(&nodes[1]).await.unwrap() < 3 {
        assert!(Instant::now() < deadline, "the reminder did not fire 3 times in 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = nodes.remove(0);
    first.shutdown().await.unwrap();
    let before = loop {
        // Read through the survivors until the partition has a new leader.
        match count(&nodes[0]).await {
            Ok(n) => break n,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("the counter is not served after its leader stopped: {e}"),
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let now = count(&nodes[1]).await.unwrap_or(before);
        if now >= before + 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the reminder stopped with its leader: {before} -> {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}
