//! The actor runtime in process: turns, activation, deactivation, mailboxes,
//! typed errors, restarts.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Nap, Napper, Relay, lsm_config};
use orbit_server::actors::counter::CounterActor;
use orbit_server::config::Durability;
use orbit_server::{Config, Node};
use orbit_shared::actors::counter::{CounterState, Get, Increment, Next, Read, Reset, Set};
use orbit_shared::{ActorGateway, ActorId, Error, ErrorKind, Invocation};
use std::time::Duration;

async fn node(config: Config) -> Node {
    Node::builder(config).with_builtin_kinds().register::<Napper>().build().await.expect("node starts")
}

async fn concurrent_increments_are_turn_based(config: Config) {
    let node = node(config).await;
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let counter = node.actor::<CounterActor>("hits");
            tokio::spawn(async move { counter.call(Increment { by: 1 }).await })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("task").expect("increment"));
    }
    seen.sort_unstable();
    // Every increment saw a distinct value: no two turns overlapped.
    assert_eq!(seen, (1..=1000).collect::<Vec<i64>>());
    assert_eq!(node.actor::<CounterActor>("hits").call(Get {}).await.unwrap(), 1000);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_increments_end_at_1000_in_memory() {
    concurrent_increments_are_turn_based(Config::ephemeral()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_durable_increments_end_at_1000_on_lsm() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_increments_are_turn_based(lsm_config(dir.path())).await;
    // And the value is on disk.
    let node = node(lsm_config(dir.path())).await;
    assert_eq!(node.actor::<CounterActor>("hits").call(Get {}).await.unwrap(), 1000);
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn idle_actor_is_deactivated_and_reactivates_with_its_state() {
    let mut config = Config::ephemeral();
    config.actors.idle_timeout = Duration::from_secs(60);
    config.actors.idle_check_interval = Duration::from_secs(10);
    let node = node(config).await;
    let counter = node.actor::<CounterActor>("idle");
    assert_eq!(counter.call(Increment { by: 5 }).await.unwrap(), 5);
    assert_eq!(node.active_actors(), 1);

    tokio::time::sleep(Duration::from_secs(45)).await;
    assert_eq!(node.active_actors(), 1, "deactivated before the idle timeout");

    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(node.active_actors(), 0, "still active after the idle timeout");
    let metrics = node.metrics().render();
    assert!(metrics.contains(r#"orbit_deactivations_total{kind="counter",reason="idle"} 1"#), "{metrics}");

    assert_eq!(counter.call(Get {}).await.unwrap(), 5, "state restored on reactivation");
    assert!(node.metrics().render().contains(r#"orbit_activations_total{kind="counter"} 2"#));
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn busy_actor_is_not_deactivated_by_the_idle_check() {
    let mut config = Config::ephemeral();
    config.actors.idle_timeout = Duration::from_secs(10);
    config.actors.idle_check_interval = Duration::from_secs(1);
    let node = node(config).await;
    let napper = node.actor::<Napper>("long");
    // A 60 s turn outlives the idle timeout several times over.
    assert_eq!(napper.call(Nap { ms: 60_000 }).await.unwrap(), 1);
    assert_eq!(napper.call(Nap { ms: 0 }).await.unwrap(), 2, "state kept across the long turn");
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn full_mailbox_returns_unavailable() {
    let mut config = Config::ephemeral();
    config.actors.mailbox_capacity = 3;
    let node = node(config).await;
    let napper = node.actor::<Napper>("busy");
    let mut calls = Vec::new();
    // One call takes the turn; three wait.
    for _ in 0..4 {
        let napper = node.actor::<Napper>("busy");
        calls.push(tokio::spawn(async move { napper.call(Nap { ms: 1000 }).await }));
        tokio::task::yield_now().await;
    }
    let refused = napper.call(Nap { ms: 0 }).await.expect_err("mailbox is full");
    assert!(matches!(refused, Error::MailboxFull { capacity: 3, .. }), "{refused:?}");
    assert_eq!(refused.kind(), ErrorKind::Unavailable);
    for call in calls {
        call.await.unwrap().expect("queued calls still complete");
    }
    assert_eq!(napper.call(Nap { ms: 0 }).await.unwrap(), 5, "the refused call changed nothing");
    assert!(node.metrics().render().contains(r#"orbit_mailbox_rejections_total{kind="napper"} 1"#));
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_kind_method_and_bad_arguments_are_typed_errors() {
    let node = node(Config::ephemeral()).await;
    let gateway = node.handle();
    let call = |kind: &str, method: &str, args: &str| {
        gateway.invoke(ActorId::new(kind, "k"), Invocation::new(method, args.as_bytes().to_vec()))
    };
    let e = call("nope", "get", "{}").await.unwrap_err();
    assert_eq!(e, Error::UnknownKind { kind: "nope".into() });
    let e = call("counter", "explode", "{}").await.unwrap_err();
    assert_eq!(e, Error::UnknownMethod { kind: "counter".into(), method: "explode".into() });
    let e = call("counter", "increment", "{\"by\": \"ten\"}").await.unwrap_err();
    assert!(matches!(&e, Error::InvalidArguments { method, .. } if method == "increment"), "{e:?}");
    let e = call("counter", "increment", "not json").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = call("counter", "increment", "{\"by\": 1, \"extra\": 2}").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = call("", "get", "{}").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    // The node is unharmed and the actor untouched.
    let reply = call("counter", "increment", "").await.unwrap();
    assert_eq!(reply.decode::<i64>().unwrap(), 1);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn handler_errors_reach_the_caller_and_keep_state() {
    let node = node(Config::ephemeral()).await;
    let counter = node.actor::<CounterActor>("edge");
    counter.call(Increment { by: i64::MAX }).await.unwrap();
    let e = counter.call(Increment { by: 1 }).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("overflow"), "{e}");
    assert_eq!(counter.call(Get {}).await.unwrap(), i64::MAX);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn actors_call_other_actors() {
    let node = node(Config::ephemeral()).await;
    let relay = node.actor::<Napper>("relay");
    assert_eq!(relay.call(Relay { counter: "target".into(), by: 3 }).await.unwrap(), 3);
    assert_eq!(relay.call(Relay { counter: "target".into(), by: 4 }).await.unwrap(), 7);
    assert_eq!(node.actor::<CounterActor>("target").call(Get {}).await.unwrap(), 7);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn deactivation_on_request_persists_and_reactivation_restores() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(lsm_config(dir.path())).await;
    let counter = node.actor::<CounterActor>("asked");
    counter.call(Increment { by: 9 }).await.unwrap();
    assert!(node.deactivate(counter.id()).await);
    assert!(!node.deactivate(counter.id()).await, "already gone");
    assert_eq!(node.active_actors(), 0);
    assert_eq!(counter.call(Get {}).await.unwrap(), 9);
    assert_eq!(counter.call(Reset {}).await.unwrap(), 9);
    assert_eq!(counter.call(Get {}).await.unwrap(), 0);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn graceful_restart_brings_every_actor_back() {
    let dir = tempfile::tempdir().unwrap();
    let first = node(lsm_config(dir.path())).await;
    for i in 0..50i64 {
        first.actor::<CounterActor>(format!("c{i}")).call(Increment { by: i }).await.unwrap();
    }
    first.shutdown().await.unwrap();
    let second = node(lsm_config(dir.path())).await;
    for i in 0..50i64 {
        assert_eq!(second.actor::<CounterActor>(format!("c{i}")).call(Get {}).await.unwrap(), i);
    }
    second.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_data_dir_refuses_another_partition_count() {
    let dir = tempfile::tempdir().unwrap();
    node(lsm_config(dir.path())).await.shutdown().await.unwrap();
    let mut config = lsm_config(dir.path());
    config.node.partitions = 32;
    let err = Node::builder(config).build().await.err().expect("mismatch refused");
    assert!(err.to_string().contains("64 partitions"), "{err}");
}

#[tokio::test]
async fn calls_after_shutdown_began_are_refused() {
    let node = node(Config::ephemeral()).await;
    let handle = node.handle().clone();
    node.shutdown().await.unwrap();
    let e = handle.actor::<CounterActor>("late").call(Get {}).await.unwrap_err();
    assert_eq!(e, Error::ShuttingDown);
}

#[tokio::test]
async fn two_nodes_run_in_one_process_without_sharing_state() {
    let a = node(Config::ephemeral()).await;
    let b = Node::builder(Config::ephemeral()).with_builtin_kinds().start().await.unwrap();
    a.actor::<CounterActor>("same").call(Increment { by: 1 }).await.unwrap();
    b.actor::<CounterActor>("same").call(Increment { by: 10 }).await.unwrap();
    assert_eq!(a.actor::<CounterActor>("same").call(Get {}).await.unwrap(), 1);
    assert_eq!(b.actor::<CounterActor>("same").call(Get {}).await.unwrap(), 10);
    assert!(a.metrics().render().contains(r#"orbit_invocations_total{kind="counter",outcome="ok"} 2"#));
    // `a` hosts the test kind `napper` beside the built-in kinds.
    assert!(a.kinds().iter().any(|k| k.kind == "napper"));
    assert!(!b.kinds().iter().any(|k| k.kind == "napper"));
    assert_eq!(a.kinds().len(), b.kinds().len() + 1);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A counter as a SQL sequence: its start first, steps within its bounds,
/// wraps with `cycle`, and is set with or without the value handed out; a
/// counter only ever incremented goes on from its value.
#[tokio::test]
async fn a_counter_steps_as_a_sequence() {
    let node = node(Config::ephemeral()).await;
    let seq = node.actor::<CounterActor>("seq");
    let step = |cycle| Next { increment: 5, min: 1, max: 20, start: 10, cycle };
    assert_eq!(seq.call(Read {}).await.unwrap(), CounterState { value: None, called: false });
    assert_eq!(seq.call(step(false)).await.unwrap(), Some(10));
    assert_eq!(seq.call(step(false)).await.unwrap(), Some(15));
    assert_eq!(seq.call(step(false)).await.unwrap(), Some(20));
    assert_eq!(seq.call(step(false)).await.unwrap(), None, "past the maximum without cycle");
    assert_eq!(seq.call(Read {}).await.unwrap(), CounterState { value: Some(20), called: true });
    assert_eq!(seq.call(step(true)).await.unwrap(), Some(1), "wraps to the minimum");
    seq.call(Set { value: 7, called: false }).await.unwrap();
    assert_eq!(seq.call(step(false)).await.unwrap(), Some(7), "a value set uncalled comes next");
    seq.call(Set { value: 7, called: true }).await.unwrap();
    assert_eq!(seq.call(step(false)).await.unwrap(), Some(12));
    assert!(seq.call(Next { increment: 0, ..step(false) }).await.is_err());

    let old = node.actor::<CounterActor>("serial");
    old.call(Increment { by: 3 }).await.unwrap();
    let serial = Next { increment: 1, min: 1, max: i64::from(i32::MAX), start: 1, cycle: false };
    assert_eq!(old.call(serial).await.unwrap(), Some(4));
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn kinds_list_their_methods() {
    let node = node(Config::ephemeral()).await;
    let counter = node.kinds().into_iter().find(|k| k.kind == "counter").unwrap();
    let names: Vec<_> = counter.methods.iter().map(|m| (m.name, m.read_only)).collect();
    let expected = [
        ("get", true),
        ("increment", false),
        ("next", false),
        ("read", true),
        ("reset", false),
        ("set", false),
    ];
    assert_eq!(names, expected);
    node.shutdown().await.unwrap();
}

fn fsyncs(node: &Node) -> f64 {
    let text = node.metrics().render();
    text.lines()
        .find_map(|l| l.strip_prefix("orbit_storage_fsyncs_total ")?.parse().ok())
        .expect("fsync counter")
}

async fn durability_node(dir: &std::path::Path, durability: Durability) -> Node {
    let mut config = lsm_config(dir);
    config.storage.durability = durability;
    config.storage.sync_interval = Duration::from_millis(20);
    node(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_modes_decide_when_writes_are_fsynced() {
    let dir = tempfile::tempdir().unwrap();
    // always: every acknowledged write was covered by an fsync.
    let node = durability_node(&dir.path().join("always"), Durability::Always).await;
    let before = fsyncs(&node);
    node.actor::<CounterActor>("a").call(Increment { by: 1 }).await.unwrap();
    assert!(fsyncs(&node) > before, "always acknowledged without an fsync");
    node.shutdown().await.unwrap();

    // none: writes are acknowledged and no fsync runs for them.
    let node = durability_node(&dir.path().join("none"), Durability::None).await;
    let before = fsyncs(&node);
    for _ in 0..10 {
        node.actor::<CounterActor>("n").call(Increment { by: 1 }).await.unwrap();
    }
    assert_eq!(fsyncs(&node), before, "durability none fsynced");
    node.shutdown().await.unwrap();

    // periodic: acknowledged at once, fsynced by the timer soon after.
    let node = durability_node(&dir.path().join("periodic"), Durability::Periodic).await;
    let before = fsyncs(&node);
    node.actor::<CounterActor>("p").call(Increment { by: 1 }).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        while fsyncs(&node) == before {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the periodic fsync never ran");
    node.shutdown().await.unwrap();
}

/// Counts its own lifecycle hooks in its persistent state.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Lifecycle {
    activations: u32,
    deactivations: u32,
}

struct LifecycleApi;
impl orbit_shared::ActorInterface for LifecycleApi {
    const KIND: &'static str = "lifecycle";
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Stats {}
impl orbit_shared::Message for Stats {
    const METHOD: &'static str = "stats";
    const READ_ONLY: bool = true;
    type Reply = (u32, u32);
}

impl orbit_server::Actor for Lifecycle {
    type Interface = LifecycleApi;
    fn methods(table: &mut orbit_server::MethodTable<Self>) {
        table.add::<Stats>();
    }
    async fn on_activate(&mut self, _ctx: &orbit_server::Context<'_>) -> Result<(), Error> {
        self.activations += 1;
        Ok(())
    }
    async fn on_deactivate(&mut self, _ctx: &orbit_server::Context<'_>) -> Result<(), Error> {
        self.deactivations += 1;
        Ok(())
    }
}

impl orbit_server::Handler<Stats> for Lifecycle {
    async fn handle(&mut self, _msg: Stats, _ctx: &orbit_server::Context<'_>) -> Result<(u32, u32), Error> {
        Ok((self.activations, self.deactivations))
    }
}

#[tokio::test]
async fn lifecycle_hooks_run_and_on_deactivate_changes_are_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::builder(lsm_config(dir.path())).register::<Lifecycle>().build().await.unwrap();
    let actor = node.actor::<Lifecycle>("one");
    // on_activate ran before the first message (its change is not stored yet:
    // `stats` is read-only).
    assert_eq!(actor.call(Stats {}).await.unwrap(), (1, 0));
    assert!(node.deactivate(actor.id()).await);
    // The stored state includes on_activate's and on_deactivate's changes.
    assert_eq!(actor.call(Stats {}).await.unwrap(), (2, 1));
    node.shutdown().await.unwrap();
    let node = Node::builder(lsm_config(dir.path())).register::<Lifecycle>().build().await.unwrap();
    assert_eq!(
        node.actor::<Lifecycle>("one").call(Stats {}).await.unwrap(),
        (3, 2),
        "shutdown deactivated it"
    );
    node.shutdown().await.unwrap();
}

fn increment(key: &str, by: i64) -> (ActorId, Invocation) {
    (ActorId::new("counter", key.to_string()), Invocation::new("increment", format!("{{\"by\":{by}}}")))
}

#[tokio::test(flavor = "multi_thread")]
async fn atomic_groups_write_all_or_nothing_and_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(lsm_config(dir.path())).await;
    // One group: every call runs in order, replies come back in order, and
    // one actor named twice sees its own earlier call.
    let replies =
        node.invoke_atomic(vec![increment("a", 5), increment("b", 7), increment("a", 1)]).await.unwrap();
    let values: Vec<i64> = replies.iter().map(|r| r.decode().unwrap()).collect();
    assert_eq!(values, [5, 7, 6]);

    // A failing call (bad arguments) rolls back the calls before it.
    let bad = (ActorId::new("counter", "b"), Invocation::new("increment", "{\"by\":\"x\"}"));
    let err = node.invoke_atomic(vec![increment("a", 100), increment("c", 1), bad]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let unknown = (ActorId::new("nope", "x"), Invocation::new("get", ""));
    assert_eq!(
        node.invoke_atomic(vec![increment("a", 100), unknown]).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(node.actor::<CounterActor>("a").call(Get {}).await.unwrap(), 6);
    assert_eq!(node.actor::<CounterActor>("c").call(Get {}).await.unwrap(), 0);

    // Groups over the same actors from many tasks never deadlock and lose nothing.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let handle = node.handle().clone();
            let group = if i % 2 == 0 {
                vec![increment("x", 1), increment("y", 1)]
            } else {
                vec![increment("y", 1), increment("x", 1)]
            };
            tokio::spawn(async move { handle.invoke_atomic(group).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    node.shutdown().await.unwrap();

    let node = self::node(lsm_config(dir.path())).await;
    for (key, want) in [("a", 6), ("b", 7), ("c", 0), ("x", 50), ("y", 50)] {
        assert_eq!(node.actor::<CounterActor>(key).call(Get {}).await.unwrap(), want, "{key}");
    }
    node.shutdown().await.unwrap();
}
