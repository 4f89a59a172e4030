//! Calls between actors: a chain of calls through several actors runs, and
//! a call back into an actor whose turn waits on it (`A -> B -> A`, or an
//! actor calling itself) is answered at once with the cycle, not at the
//! call timeout.

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
