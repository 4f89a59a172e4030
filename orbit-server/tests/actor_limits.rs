//! Memory-bounded activations: over `actors.max_activations` the least
//! recently used idle actors are evicted, their state persisted first.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Nap, Napper};
use futures::StreamExt;
use orbit_server::actors::counter::CounterActor;
use orbit_server::{Config, Node};
use orbit_shared::ActorId;
use orbit_shared::actors::counter::{Get, Increment};
use std::time::Duration;

const KEYS: i64 = 1000;
const CAP: usize = 50;

/// How many times key `i` is incremented.
fn increments(i: i64) -> i64 {
    i % 7 + 1
}

async fn node(max_activations: usize) -> Node {
    let mut config = Config::ephemeral();
    config.actors.max_activations = max_activations;
    Node::builder(config).with_builtin_kinds().register::<Napper>().build().await.expect("node starts")
}

/// The value of a counter series in the node's metrics; 0 when absent.
fn metric(node: &Node, series: &str) -> u64 {
    let text = node.metrics().render();
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0)
}

/// Waits, at most 5 s, for the eviction passes to bring the resident actors
/// to at most `cap`.
async fn settles_under(node: &Node, cap: usize) -> bool {
    for _ in 0..500 {
        if node.active_actors() <= cap {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.active_actors() <= cap
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_keeps_resident_activations_under_the_cap() {
    let node = node(CAP).await;
    futures::stream::iter(0..KEYS)
        .map(|i| {
            let counter = node.actor::<CounterActor>(format!("key-{i}"));
            async move {
                for _ in 0..increments(i) {
                    counter.call(Increment { by: 1 }).await.unwrap();
                }
            }
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
    assert!(
        settles_under(&node, CAP).await,
        "{} actors resident, over the cap of {CAP}",
        node.active_actors()
    );
    // Every key was activated and ran a turn; all but those still resident
    // left by eviction.
    let evicted = metric(&node, r#"orbit_deactivations_total{kind="counter",reason="evicted"}"#);
    assert!(evicted >= (KEYS as u64) - (CAP as u64), "only {evicted} evictions");

    for i in 0..KEYS {
        let value = node.actor::<CounterActor>(format!("key-{i}")).call(Get {}).await.unwrap();
        assert_eq!(value, increments(i), "key-{i} after its eviction");
    }
    // The evicted keys were loaded again from what eviction persisted.
    let activations = metric(&node, r#"orbit_activations_total{kind="counter"}"#);
    assert!(activations >= 2 * (KEYS as u64) - (CAP as u64), "only {activations} activations");
    assert!(settles_under(&node, CAP).await, "{} actors resident after the reads", node.active_actors());
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_actor_in_a_turn_is_skipped_not_waited_for() {
    let node = node(4).await;
    let napper = node.actor::<Napper>("busy");
    let nap = tokio::spawn(async move { napper.call(Nap { ms: 60_000 }).await });
    // The nap takes its turn, and is the least recently used actor.
    tokio::task::yield_now().await;
    for i in 0..20 {
        node.actor::<CounterActor>(format!("c{i}")).call(Increment { by: 1 }).await.unwrap();
    }
    assert!(settles_under(&node, 4).await, "{} actors resident, over the cap of 4", node.active_actors());
    assert!(!nap.is_finished(), "the cap was reached by waiting for the nap");
    assert_eq!(nap.await.unwrap().unwrap(), 1, "the turn ran to its end");
    assert_eq!(metric(&node, r#"orbit_deactivations_total{kind="napper",reason="evicted"}"#), 0);
    assert!(node.deactivate(&ActorId::new("napper", "busy")).await, "the busy actor stayed resident");
    let evicted = metric(&node, r#"orbit_deactivations_total{kind="counter",reason="evicted"}"#);
    // At most the cap of the 20 counters is left.
    assert!(evicted >= 16, "only {evicted} idle counters evicted");
    node.shutdown().await.unwrap();
}
