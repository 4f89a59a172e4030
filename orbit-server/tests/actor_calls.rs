//! Calls of actors: a chain of calls through several actors runs, and
//! a call back into an actor whose turn waits on it (`A -> B -> A`, or an
//! actor calling itself) is answered at once with the cycle, not at the
//! call timeout, unless both are reentrant methods, when it runs inside the
//! waiting turn; a call retried with its idempotency key is applied once;
//! a stateless worker kind runs calls of one key in parallel.

#![allow(clippy::unwrap_used)]

mod common;

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

mod reentrant {
    use super::*;
    use crate::common::echo::{self, Bounce, Echo, Look};
    use orbit_server::{Reentrant, Shared};

    async fn node() -> Node {
        let mut config = Config::ephemeral();
        config.actors.call_timeout = Duration::from_secs(30);
        Node::builder(config).register::<Echo>().build().await.expect("node starts")
    }

    fn path(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|s| s.to_string()).collect()
    }

    /// The visits `key` has stored, read from its record (deactivating
    /// would store what is in memory first).
    async fn stored_visits(node: &Node, key: &str) -> u32 {
        let state = node.read_actor(ActorId::new("echo", key.to_string())).await.unwrap();
        let state: serde_json::Value = serde_json::from_slice(&state.expect("a stored record")).unwrap();
        state["visits"].as_u64().unwrap() as u32
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_back_along_the_chain_runs_inside_the_waiting_reentrant_turn() {
        let node = node().await;
        let started = tokio::time::Instant::now();
        // A -> B -> A, A -> A and A -> B -> A -> B all complete, at once.
        let visited = node.actor::<Echo>("a").call(Bounce { path: path(&["b", "a"]) }).await.unwrap();
        assert_eq!(visited, ["a", "b", "a"]);
        let visited = node.actor::<Echo>("a").call(Bounce { path: path(&["a"]) }).await.unwrap();
        assert_eq!(visited, ["a", "a"]);
        let visited = node.actor::<Echo>("a").call(Bounce { path: path(&["b", "a", "b"]) }).await.unwrap();
        assert_eq!(visited, ["a", "b", "a", "b"]);
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
        // Every visit counted once, in the stored state: the inner calls'
        // changes were not lost when the outer turn stored its own.
        assert_eq!(stored_visits(&node, "a").await, 6);
        assert_eq!(stored_visits(&node, "b").await, 3);
        // Dynamic calls from outside take the same path.
        let reply = node
            .invoke(ActorId::new("echo", "c"), Invocation::of(&Bounce { path: path(&["d", "c"]) }).unwrap())
            .await
            .unwrap();
        assert_eq!(reply.decode::<Vec<String>>().unwrap(), ["c", "d", "c"]);
        assert_eq!(stored_visits(&node, "c").await, 2);
        node.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_entering_a_read_only_turn_is_stored() {
        let node = node().await;
        // `look` changes nothing itself; the `bounce` that enters it does.
        let visited = node.actor::<Echo>("r").call(Look { path: path(&["s", "r"]) }).await.unwrap();
        assert_eq!(visited, ["r", "s", "r"]);
        assert_eq!(stored_visits(&node, "r").await, 1);
        node.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_cycle_through_a_method_that_is_not_reentrant_is_still_refused_at_once() {
        let node = node().await;
        for (first, rest, cycle) in [
            // The call back is of a method that is not reentrant.
            ("a", &["b", "a!"][..], "echo/a -> echo/b -> echo/a"),
            // The waiting turn runs a method that is not reentrant.
            ("a!", &["b", "a"][..], "echo/a -> echo/b -> echo/a"),
            ("x", &["y!", "x!"][..], "echo/x -> echo/y -> echo/x"),
        ] {
            let started = tokio::time::Instant::now();
            let id = ActorId::new("echo", first.trim_end_matches('!'));
            let invocation = if first.ends_with('!') {
                Invocation::of(&echo::Pass { path: path(rest) }).unwrap()
            } else {
                Invocation::of(&Bounce { path: path(rest) }).unwrap()
            };
            let err = node.invoke(id, invocation).await.unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(1), "found after {:?}", started.elapsed());
            assert!(matches!(&err, Error::CallCycle { cycle: c } if c == cycle), "{first} {rest:?}: {err:?}");
        }
        node.shutdown().await.unwrap();
    }

    /// Waits in its turn until told to go on.
    #[derive(Default, Serialize, Deserialize)]
    struct Gate;
    struct GateApi;
    impl ActorInterface for GateApi {
        const KIND: &'static str = "gate";
    }
    #[derive(Serialize, Deserialize)]
    struct Wait;
    impl Message for Wait {
        const METHOD: &'static str = "wait";
        const READ_ONLY: bool = true;
        type Reply = ();
    }
    impl Accepts<Wait> for GateApi {}
    impl Actor for Gate {
        type Interface = GateApi;
        fn methods(table: &mut MethodTable<Self>) {
            table.add::<Wait>();
        }
    }
    impl Handler<Wait> for Gate {
        async fn handle(&mut self, _: Wait, _: &Context<'_>) -> Result<(), Error> {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        }
    }

    /// Calls the gate, then counts.
    #[derive(Serialize, Deserialize)]
    struct Through;
    impl Message for Through {
        const METHOD: &'static str = "through";
        const READ_ONLY: bool = false;
        type Reply = u32;
    }

    #[derive(Default, Serialize, Deserialize)]
    struct Door {
        visits: u32,
    }
    struct DoorApi;
    impl ActorInterface for DoorApi {
        const KIND: &'static str = "door";
    }
    impl Accepts<Through> for DoorApi {}
    impl Accepts<Bounce> for DoorApi {}
    impl Actor for Door {
        type Interface = DoorApi;
        fn methods(table: &mut MethodTable<Self>) {
            table.add_reentrant::<Through>().add_reentrant::<Bounce>();
        }
    }
    impl Reentrant<Through> for Door {
        async fn handle(state: &Shared<Self>, _: Through, ctx: &Context<'_>) -> Result<u32, Error> {
            ctx.node().actor::<Gate>("g").call(Wait).await?;
            Ok(state.with(|s| {
                s.visits += 1;
                s.visits
            }))
        }
    }
    impl Reentrant<Bounce> for Door {
        async fn handle(state: &Shared<Self>, _: Bounce, _: &Context<'_>) -> Result<Vec<String>, Error> {
            Ok(vec![state.with(|s| s.visits).to_string()])
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_outside_the_chain_waits_for_the_reentrant_turn() {
        let node =
            Node::builder(Config::ephemeral()).register::<Door>().register::<Gate>().build().await.unwrap();
        let door = node.actor::<Door>("d");
        let started = tokio::time::Instant::now();
        let (first, second) = tokio::join!(door.call(Through), async {
            // Starts while the first turn waits at the gate: it must not
            // enter that turn, even though its method is reentrant.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let seen = door.call(Bounce { path: Vec::new() }).await.unwrap();
            (seen, started.elapsed())
        });
        assert_eq!(first.unwrap(), 1);
        let (seen, at) = second;
        assert_eq!(seen, ["1"], "the outside call ran inside the unfinished turn");
        assert!(at >= Duration::from_secs(5), "answered after {at:?}, before the turn ended");
        node.shutdown().await.unwrap();
    }
}

mod workers {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static RUNNING: AtomicUsize = AtomicUsize::new(0);
    static MOST: AtomicUsize = AtomicUsize::new(0);

    /// A stateless worker kind: at most 4 activations of a key at once.
    #[derive(Default, Serialize, Deserialize)]
    struct Crunch {
        /// Calls this activation served (memory only).
        served: u32,
    }
    struct CrunchApi;
    impl ActorInterface for CrunchApi {
        const KIND: &'static str = "crunch";
    }
    /// Works for `ms` (simulated), then answers how many calls its
    /// activation served.
    #[derive(Serialize, Deserialize)]
    struct Work {
        ms: u64,
    }
    impl Message for Work {
        const METHOD: &'static str = "work";
        const READ_ONLY: bool = false;
        type Reply = u32;
    }
    impl Accepts<Work> for CrunchApi {}
    impl Actor for Crunch {
        type Interface = CrunchApi;
        const STATELESS_WORKERS: usize = 4;
        fn methods(table: &mut MethodTable<Self>) {
            table.add::<Work>();
        }
    }
    impl Handler<Work> for Crunch {
        async fn handle(&mut self, msg: Work, _: &Context<'_>) -> Result<u32, Error> {
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            MOST.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(msg.ms)).await;
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            self.served += 1;
            Ok(self.served)
        }
    }

    /// One worker per key; `again` calls its own key once more.
    #[derive(Default, Serialize, Deserialize)]
    struct Solo;
    struct SoloApi;
    impl ActorInterface for SoloApi {
        const KIND: &'static str = "solo";
    }
    #[derive(Serialize, Deserialize)]
    struct Again {
        again: bool,
        hold_ms: u64,
    }
    impl Message for Again {
        const METHOD: &'static str = "again";
        const READ_ONLY: bool = true;
        type Reply = u32;
    }
    impl Accepts<Again> for SoloApi {}
    impl Actor for Solo {
        type Interface = SoloApi;
        const STATELESS_WORKERS: usize = 1;
        fn methods(table: &mut MethodTable<Self>) {
            table.add::<Again>();
        }
    }
    impl Handler<Again> for Solo {
        async fn handle(&mut self, msg: Again, ctx: &Context<'_>) -> Result<u32, Error> {
            tokio::time::sleep(Duration::from_millis(msg.hold_ms)).await;
            if !msg.again {
                return Ok(1);
            }
            let inner = Invocation::of(&Again { again: false, hold_ms: 0 })?;
            let reply = ctx.node().invoke(ActorId::new("solo", ctx.id().key.clone()), inner).await?;
            Ok(1 + reply.decode::<u32>()?)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_calling_its_own_busy_key_is_refused_at_once_and_waiters_that_give_up_are_not_counted() {
        let mut config = Config::ephemeral();
        config.actors.mailbox_capacity = 2;
        config.actors.call_timeout = Duration::from_secs(30);
        let node = Node::builder(config).register::<Solo>().build().await.unwrap();
        // The only worker of the key calls the key: waiting would be
        // waiting for itself.
        let started = tokio::time::Instant::now();
        let err = node.actor::<Solo>("s").call(Again { again: true, hold_ms: 0 }).await.unwrap_err();
        assert!(matches!(&err, Error::CallCycle { cycle } if cycle.contains("solo/s -> solo/s")), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(1), "found after {:?}", started.elapsed());

        // Callers that give up while waiting leave the mailbox: with room
        // for 2 waiters, 6 callers that time out one after another, then
        // a caller that waits its turn.
        let busy = tokio::spawn({
            let node = node.handle().clone();
            async move { node.actor::<Solo>("u").call(Again { again: false, hold_ms: 10_000 }).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        for _ in 0..6 {
            let solo = node.actor::<Solo>("u");
            let call = solo.call(Again { again: false, hold_ms: 0 });
            assert!(tokio::time::timeout(Duration::from_millis(100), call).await.is_err(), "did not wait");
        }
        assert_eq!(node.actor::<Solo>("u").call(Again { again: false, hold_ms: 0 }).await.unwrap(), 1);
        assert_eq!(busy.await.unwrap().unwrap(), 1);
        node.shutdown().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn calls_of_one_key_run_in_parallel_up_to_the_kinds_workers_and_store_nothing() {
        let node = Node::builder(Config::ephemeral()).register::<Crunch>().build().await.unwrap();
        let started = tokio::time::Instant::now();
        // 12 calls of one key, half typed, half dynamic: 4 at a time, so
        // three rounds of 1 s.
        let calls = (0..12).map(|i| {
            let node = node.handle().clone();
            async move {
                if i % 2 == 0 {
                    node.actor::<Crunch>("k").call(Work { ms: 1000 }).await
                } else {
                    let invocation = Invocation::of(&Work { ms: 1000 }).unwrap();
                    node.invoke(ActorId::new("crunch", "k"), invocation).await?.decode()
                }
            }
        });
        let served: Vec<u32> = futures::future::try_join_all(calls).await.unwrap();
        let took = started.elapsed();
        assert_eq!(MOST.load(Ordering::SeqCst), 4, "not 4 calls at once");
        assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(4), "took {took:?}");
        // Four activations served three calls each.
        let mut served = served;
        served.sort();
        assert_eq!(served, [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
        // Nothing was stored, and the kind takes no part in atomic groups.
        let page = node.list_actors("crunch", None, 10).await.unwrap();
        assert!(page.actors.is_empty(), "{:?}", page.actors);
        let group = vec![(ActorId::new("crunch", "k"), Invocation::of(&Work { ms: 1 }).unwrap())];
        let err = node.invoke_atomic(group).await.unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
        // Deactivated, its memory is gone.
        assert!(node.deactivate(&ActorId::new("crunch", "k")).await);
        assert_eq!(node.actor::<Crunch>("k").call(Work { ms: 1 }).await.unwrap(), 1);
        node.shutdown().await.unwrap();
    }
}

mod interleaving {
    use super::*;

    /// A value set by slow turns and read by an interleaving method.
    #[derive(Default, Serialize, Deserialize)]
    struct Board {
        value: u32,
    }
    struct BoardApi;
    impl ActorInterface for BoardApi {
        const KIND: &'static str = "board";
    }
    /// Sets the value, then holds the turn for `hold_ms`.
    #[derive(Serialize, Deserialize)]
    struct Set {
        value: u32,
        hold_ms: u64,
    }
    impl Message for Set {
        const METHOD: &'static str = "set";
        const READ_ONLY: bool = false;
        type Reply = ();
    }
    impl Accepts<Set> for BoardApi {}
    /// Interleaving.
    #[derive(Serialize, Deserialize)]
    struct Read;
    impl Message for Read {
        const METHOD: &'static str = "read";
        const READ_ONLY: bool = true;
        type Reply = u32;
    }
    impl Accepts<Read> for BoardApi {}
    /// Read-only, not interleaving.
    #[derive(Serialize, Deserialize)]
    struct Peek;
    impl Message for Peek {
        const METHOD: &'static str = "peek";
        const READ_ONLY: bool = true;
        type Reply = u32;
    }
    impl Accepts<Peek> for BoardApi {}
    impl Actor for Board {
        type Interface = BoardApi;
        fn methods(table: &mut MethodTable<Self>) {
            table.add::<Set>().add_interleaving::<Read>().add::<Peek>();
        }
    }
    impl Handler<Set> for Board {
        async fn handle(&mut self, msg: Set, _: &Context<'_>) -> Result<(), Error> {
            self.value = msg.value;
            tokio::time::sleep(Duration::from_millis(msg.hold_ms)).await;
            Ok(())
        }
    }
    impl Handler<Read> for Board {
        async fn handle(&mut self, _: Read, _: &Context<'_>) -> Result<u32, Error> {
            Ok(self.value)
        }
    }
    impl Handler<Peek> for Board {
        async fn handle(&mut self, _: Peek, _: &Context<'_>) -> Result<u32, Error> {
            Ok(self.value)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_interleaving_read_does_not_wait_for_a_turn_and_sees_the_last_finished_one() {
        let node = Node::builder(Config::ephemeral()).register::<Board>().build().await.unwrap();
        let board = node.actor::<Board>("b");
        board.call(Set { value: 1, hold_ms: 0 }).await.unwrap();
        let started = tokio::time::Instant::now();
        let (_, during) = tokio::join!(board.call(Set { value: 2, hold_ms: 5000 }), async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let typed = board.call(Read).await.unwrap();
            let dynamic =
                node.invoke(ActorId::new("board", "b"), Invocation::of(&Read).unwrap()).await.unwrap();
            let read_at = started.elapsed();
            // A read-only method that is not interleaving waits for the turn.
            let peeked = board.call(Peek).await.unwrap();
            (typed, dynamic.decode::<u32>().unwrap(), read_at, peeked, started.elapsed())
        });
        let (typed, dynamic, read_at, peeked, peeked_at) = during;
        assert_eq!((typed, dynamic), (1, 1), "the interleaving read did not see the last finished turn");
        assert!(read_at < Duration::from_secs(2), "the interleaving read waited: {read_at:?}");
        assert_eq!(peeked, 2);
        assert!(peeked_at >= Duration::from_secs(5), "the ordinary read did not wait: {peeked_at:?}");
        // With the actor free, an interleaving read takes the turn: it sees
        // the state as the turn left it.
        assert_eq!(board.call(Read).await.unwrap(), 2);
        node.shutdown().await.unwrap();
    }
}
