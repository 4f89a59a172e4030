//! Calls of actors: a chain of calls through several actors runs, and
//! a call back into an actor whose turn waits on it (`A -> B -> A`, or an
//! actor calling itself) is answered at once with the cycle, not at the
//! call timeout; a call retried with its idempotency key is applied once.

#![allow(clippy::unwrap_used)]

use orbit_server::{Actor, Config, Context, Handler, MethodTable, Node};
use orbit_shared::{Accepts, ActorGateway, ActorId, ActorInterface, Error, ErrorKind, Invocation, Message};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Default, Serialize, Deserialize)]
struct Hop {
    visits: u32,
}

struct HopApi;
impl ActorInterface for HopApi {
    const KIND: &'static str = "hop";
}

/// Visits the actors of `path` in order; replies with the keys visited.
#[derive(Serialize, Deserialize)]
struct Pass {
    path: Vec<String>,
}
impl Message for Pass {
    const METHOD: &'static str = "pass";
    const READ_ONLY: bool = false;
    type Reply = Vec<String>;
}
impl Accepts<Pass> for HopApi {}

impl Actor for Hop {
    type Interface = HopApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Pass>();
    }
}

impl Handler<Pass> for Hop {
    async fn handle(&mut self, mut msg: Pass, ctx: &Context<'_>) -> Result<Vec<String>, Error> {
        self.visits += 1;
        let me = String::from_utf8_lossy(&ctx.id().key).into_owned();
        if msg.path.is_empty() {
            return Ok(vec![me]);
        }
        let next = msg.path.remove(0);
        // A dynamic call: a typed one would make the handler's future
        // contain itself.
        let reply = ctx.node().invoke(ActorId::new("hop", next), Invocation::of(&msg)?).await?;
        let mut visited: Vec<String> = reply.decode()?;
        visited.insert(0, me);
        Ok(visited)
    }
}

async fn node() -> Node {
    let mut config = Config::ephemeral();
    config.actors.call_timeout = Duration::from_secs(30);
    Node::builder(config).register::<Hop>().build().await.expect("node starts")
}

fn pass(path: &[&str]) -> Pass {
    Pass { path: path.iter().map(|s| s.to_string()).collect() }
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_calls_through_several_actors_runs() {
    let node = node().await;
    let visited = node.actor::<Hop>("a").call(pass(&["b", "c", "d"])).await.unwrap();
    assert_eq!(visited, ["a", "b", "c", "d"]);
    // The same actors again, in another order: no turn is left held.
    let visited = node.actor::<Hop>("d").call(pass(&["c", "b", "a"])).await.unwrap();
    assert_eq!(visited, ["d", "c", "b", "a"]);
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_call_cycle_is_reported_at_once_with_its_path() {
    let node = node().await;
    for (first, path, cycle) in [
        ("a", &["b", "a"][..], "hop/a -> hop/b -> hop/a"),
        ("a", &["a"][..], "hop/a -> hop/a"),
        ("x", &["a", "b", "c", "b"][..], "hop/b -> hop/c -> hop/b"),
    ] {
        let started = tokio::time::Instant::now();
        let err = node.actor::<Hop>(first).call(pass(path)).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the cycle was found only after {:?}",
            started.elapsed()
        );
        assert!(matches!(&err, Error::CallCycle { cycle: c } if c == cycle), "{err:?}");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains("would deadlock"), "{err}");
    }
    // Every actor is free again.
    assert_eq!(node.actor::<Hop>("a").call(pass(&["b"])).await.unwrap(), ["a", "b"]);
    node.shutdown().await.unwrap();
}

mod idempotent {
    use super::*;
    use orbit_server::actors::counter::CounterActor;
    use orbit_shared::actors::counter::{Get, Increment};

    fn increment(key: &str) -> Invocation {
        Invocation::of(&Increment { by: 5 }).unwrap().with_idempotency_key(key)
    }

    async fn value(node: &Node, key: &str) -> i64 {
        node.actor::<CounterActor>(key.to_string()).call(Get {}).await.unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_retried_call_is_applied_once_and_answered_with_the_first_reply() {
        let mut config = Config::ephemeral();
        config.actors.idempotency_retention = Duration::from_secs(3600);
        let node = Node::builder(config).with_builtin_kinds().build().await.unwrap();
        let id = ActorId::new("counter", "once");
        let first = node.invoke(id.clone(), increment("req-1")).await.unwrap();
        assert_eq!(first.decode::<i64>().unwrap(), 5);
        // Between the call and its retry, another caller changes the value.
        node.invoke(id.clone(), Invocation::of(&Increment { by: 100 }).unwrap()).await.unwrap();
        for _ in 0..3 {
            let again = node.invoke(id.clone(), increment("req-1")).await.unwrap();
            assert_eq!(again.decode::<i64>().unwrap(), 5, "the retry was not answered with the first reply");
        }
        assert_eq!(value(&node, "once").await, 105, "a retry was applied again");
        // Another key is another call; a read-only method ignores keys.
        assert_eq!(node.invoke(id.clone(), increment("req-2")).await.unwrap().decode::<i64>().unwrap(), 110);
        // The first reply outlives the activation.
        assert!(node.deactivate(&id).await);
        assert_eq!(node.invoke(id.clone(), increment("req-1")).await.unwrap().decode::<i64>().unwrap(), 5);
        assert_eq!(value(&node, "once").await, 110);
        // Past the retention the key is forgotten: the call runs again.
        tokio::time::sleep(Duration::from_secs(3601)).await;
        assert_eq!(node.invoke(id.clone(), increment("req-1")).await.unwrap().decode::<i64>().unwrap(), 115);
        node.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_is_the_first_reply_too() {
        let node = Node::builder(Config::ephemeral()).with_builtin_kinds().build().await.unwrap();
        let id = ActorId::new("counter", "overflow");
        let near_max = Invocation::of(&Increment { by: i64::MAX }).unwrap();
        node.invoke(id.clone(), near_max).await.unwrap();
        let err = node.invoke(id.clone(), increment("boom")).await.unwrap_err();
        // The same error again, without running the call.
        assert_eq!(node.invoke(id.clone(), increment("boom")).await.unwrap_err(), err);
        assert_eq!(value(&node, "overflow").await, i64::MAX);
        node.shutdown().await.unwrap();
    }
}
