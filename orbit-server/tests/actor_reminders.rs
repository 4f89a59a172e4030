//! Durable reminders and jobs in process: registered from the actor itself
//! and from outside (the `orbit:reminders` actor), firing on schedule on
//! paused time, activating a deactivated actor, jobs firing once, the
//! catch-up rule for ticks missed while down, and reminders surviving a
//! restart on `lsm`.

#![allow(clippy::unwrap_used)]

mod common;

use common::lsm_config;
use orbit_server::actors::counter::CounterActor;
use orbit_server::{Actor, Config, Context, Handler, MethodTable, Node};
use orbit_shared::actors::counter::Get as CounterGet;
use orbit_shared::actors::reminders::{List, Remind, ReminderInfo, Unremind};
use orbit_shared::{Accepts, ActorGateway, ActorId, ActorInterface, Error, ErrorKind, Invocation, Message};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A test kind that counts its beeps and manages its own reminders.
#[derive(Default, Serialize, Deserialize)]
struct Beeper {
    beeps: u32,
}

struct BeeperApi;
impl ActorInterface for BeeperApi {
    const KIND: &'static str = "beeper";
}

#[derive(Serialize, Deserialize)]
struct Beep {}
impl Message for Beep {
    const METHOD: &'static str = "beep";
    const READ_ONLY: bool = false;
    type Reply = u32;
}

/// Registers reminder `name` every `every_ms`, or a job after `job_ms`.
#[derive(Serialize, Deserialize)]
struct Arm {
    name: String,
    every_ms: Option<u64>,
    job_ms: Option<u64>,
}
impl Message for Arm {
    const METHOD: &'static str = "arm";
    const READ_ONLY: bool = true;
    type Reply = ReminderInfo;
}

#[derive(Serialize, Deserialize)]
struct Disarm {
    name: String,
}
impl Message for Disarm {
    const METHOD: &'static str = "disarm";
    const READ_ONLY: bool = true;
    type Reply = bool;
}

/// The beeps and the reminders' names.
#[derive(Serialize, Deserialize)]
struct Status {}
impl Message for Status {
    const METHOD: &'static str = "status";
    const READ_ONLY: bool = true;
    type Reply = (u32, Vec<String>);
}

impl Accepts<Arm> for BeeperApi {}
impl Accepts<Disarm> for BeeperApi {}
impl Accepts<Status> for BeeperApi {}

impl Actor for Beeper {
    type Interface = BeeperApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Beep>().add::<Arm>().add::<Disarm>().add::<Status>();
    }
}

impl Handler<Beep> for Beeper {
    async fn handle(&mut self, _msg: Beep, _ctx: &Context<'_>) -> Result<u32, Error> {
        self.beeps += 1;
        Ok(self.beeps)
    }
}

impl Handler<Arm> for Beeper {
    async fn handle(&mut self, msg: Arm, ctx: &Context<'_>) -> Result<ReminderInfo, Error> {
        match (msg.every_ms, msg.job_ms) {
            (Some(every), _) => ctx.remind(&msg.name, Duration::from_millis(every), &Beep {}).await,
            (None, Some(after)) => ctx.schedule_job(&msg.name, Duration::from_millis(after), &Beep {}).await,
            (None, None) => {
                Err(Error::InvalidArguments { method: "arm".into(), reason: "nothing to arm".into() })
            }
        }
    }
}

impl Handler<Disarm> for Beeper {
    async fn handle(&mut self, msg: Disarm, ctx: &Context<'_>) -> Result<bool, Error> {
        ctx.unremind(&msg.name).await
    }
}

impl Handler<Status> for Beeper {
    async fn handle(&mut self, _msg: Status, ctx: &Context<'_>) -> Result<(u32, Vec<String>), Error> {
        let names = ctx.reminders().await?.into_iter().map(|r| r.name).collect();
        Ok((self.beeps, names))
    }
}

async fn node(config: Config) -> Node {
    Node::builder(config).with_builtin_kinds().register::<Beeper>().build().await.expect("node starts")
}

fn arm_every(name: &str, every_ms: u64) -> Arm {
    Arm { name: name.into(), every_ms: Some(every_ms), job_ms: None }
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test(start_paused = true)]
async fn a_reminder_registered_by_its_actor_fires_on_schedule_until_removed() {
    let node = node(Config::ephemeral()).await;
    let beeper = node.actor::<Beeper>("b1");
    let info = beeper.call(arm_every("beat", 1000)).await.unwrap();
    assert_eq!(
        (info.kind.as_str(), info.name.as_str(), info.period_ms, info.method.as_str()),
        ("beeper", "beat", 1000, "beep")
    );
    assert_eq!(info.next_fire_ms, node.wall_ms() + 1000);
    sleep_ms(10_500).await;
    assert_eq!(beeper.call(Status {}).await.unwrap(), (10, vec!["beat".to_string()]));
    assert!(beeper.call(Disarm { name: "beat".into() }).await.unwrap());
    assert!(!beeper.call(Disarm { name: "beat".into() }).await.unwrap(), "removed twice");
    sleep_ms(5_000).await;
    assert_eq!(beeper.call(Status {}).await.unwrap(), (10, vec![]), "fired after it was removed");
    let metrics = node.metrics().render();
    assert!(metrics.contains("orbit_reminders_fired_total 10"), "{metrics}");
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_reminder_activates_its_deactivated_actor() {
    let mut config = Config::ephemeral();
    config.actors.idle_timeout = Duration::from_secs(5);
    config.actors.idle_check_interval = Duration::from_secs(1);
    let node = node(config).await;
    let beeper = node.actor::<Beeper>("sleepy");
    beeper.call(arm_every("hourly", 3_600_000)).await.unwrap();
    sleep_ms(60_000).await;
    assert_eq!(node.active_actors(), 0, "the actor was not deactivated while idle");
    sleep_ms(3_600_000).await;
    let metrics = node.metrics().render();
    assert!(metrics.contains(r#"orbit_activations_total{kind="beeper"} 2"#), "{metrics}");
    assert_eq!(beeper.call(Status {}).await.unwrap().0, 1);
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_job_fires_once_and_is_gone() {
    let node = node(Config::ephemeral()).await;
    let beeper = node.actor::<Beeper>("j1");
    let info = beeper.call(Arm { name: "once".into(), every_ms: None, job_ms: Some(5_000) }).await.unwrap();
    assert_eq!(info.period_ms, 0);
    sleep_ms(4_000).await;
    assert_eq!(beeper.call(Status {}).await.unwrap(), (0, vec!["once".to_string()]));
    sleep_ms(2_000).await;
    assert_eq!(beeper.call(Status {}).await.unwrap(), (1, vec![]));
    sleep_ms(60_000).await;
    assert_eq!(beeper.call(Status {}).await.unwrap().0, 1, "a job fired twice");
    node.shutdown().await.unwrap();
}

fn remind(kind: &str, name: &str, period_ms: u64, due_ms: Option<u64>, method: &str) -> Remind {
    Remind {
        kind: kind.into(),
        name: name.into(),
        period_ms,
        due_ms,
        method: method.into(),
        args: serde_json::json!({"by": 1}),
    }
}

async fn reminders_of(node: &Node, key: &str) -> Vec<ReminderInfo> {
    let id = ActorId::new("orbit:reminders", key.to_string());
    let reply = node.invoke(id, Invocation::of(&List::default()).unwrap()).await.unwrap();
    reply.decode().unwrap()
}

#[tokio::test(start_paused = true)]
async fn reminders_of_any_kind_are_registered_from_outside_and_bad_ones_refused() {
    let node = node(Config::ephemeral()).await;
    let holder = ActorId::new("orbit:reminders", "c1");
    let call = |msg: Remind| node.invoke(holder.clone(), Invocation::of(&msg).unwrap());
    call(remind("counter", "plus", 1000, None, "increment")).await.unwrap();
    sleep_ms(3_500).await;
    assert_eq!(node.actor::<CounterActor>("c1").call(CounterGet {}).await.unwrap(), 3);
    let listed = reminders_of(&node, "c1").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].args, serde_json::json!({"by": 1}));

    for (bad, kind, text) in [
        (remind("nokind", "x", 1000, None, "increment"), ErrorKind::NotFound, "nokind"),
        (remind("counter", "x", 1000, None, "nomethod"), ErrorKind::NotFound, "nomethod"),
        (remind("counter", "", 1000, None, "increment"), ErrorKind::InvalidArgument, "needs a name"),
        (remind("counter", "x", 0, None, "increment"), ErrorKind::InvalidArgument, "needs the time"),
        (remind("orbit:reminders", "x", 1000, None, "list"), ErrorKind::InvalidArgument, "reminders kind"),
    ] {
        let err = call(bad).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.to_string().contains(text), "{err}");
    }
    let unremind = Unremind { kind: "counter".into(), name: "plus".into() };
    let removed = node.invoke(holder.clone(), Invocation::of(&unremind).unwrap()).await.unwrap();
    assert!(removed.decode::<bool>().unwrap());
    assert!(reminders_of(&node, "c1").await.is_empty());
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn ticks_missed_while_down_fire_once_then_the_period_grid_resumes() {
    let node = node(Config::ephemeral()).await;
    let holder = ActorId::new("orbit:reminders", "late");
    let now = node.wall_ms();
    let hour = 3_600_000;
    // Due five and a half hours ago, hourly: as after a node was down.
    let due = now - 5 * hour - hour / 2;
    let msg = remind("counter", "hourly", hour, Some(due), "increment");
    node.invoke(holder, Invocation::of(&msg).unwrap()).await.unwrap();
    sleep_ms(1_000).await;
    assert_eq!(
        node.actor::<CounterActor>("late").call(CounterGet {}).await.unwrap(),
        1,
        "missed ticks fired more than once"
    );
    let next = reminders_of(&node, "late").await[0].next_fire_ms;
    assert_eq!(next, due + 6 * hour, "the next tick is not on the period grid");
    sleep_ms(hour).await;
    assert_eq!(node.actor::<CounterActor>("late").call(CounterGet {}).await.unwrap(), 2);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_and_jobs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node1 = node(lsm_config(dir.path())).await;
    let now = node1.wall_ms();
    let holder = ActorId::new("orbit:reminders", "r1");
    let periodic = remind("counter", "often", 100, None, "increment");
    node1.invoke(holder.clone(), Invocation::of(&periodic).unwrap()).await.unwrap();
    let job = remind("counter", "later", 0, Some(now + 1_500), "increment");
    let job_holder = ActorId::new("orbit:reminders", "j1");
    node1.invoke(job_holder, Invocation::of(&job).unwrap()).await.unwrap();
    node1.shutdown().await.unwrap();

    let node2 = node(lsm_config(dir.path())).await;
    let listed = reminders_of(&node2, "r1").await;
    assert_eq!(listed.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["often"]);
    let counter = node2.actor::<CounterActor>("r1");
    let job_counter = node2.actor::<CounterActor>("j1");
    let before = counter.call(CounterGet {}).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while (counter.call(CounterGet {}).await.unwrap() < before + 3
        || job_counter.call(CounterGet {}).await.unwrap() < 1
        // The job's holder forgets it after the target's turn returns.
        || !reminders_of(&node2, "j1").await.is_empty())
        && tokio::time::Instant::now() < deadline
    {
        sleep_ms(50).await;
    }
    assert!(
        counter.call(CounterGet {}).await.unwrap() >= before + 3,
        "the reminder did not fire after the restart"
    );
    assert_eq!(
        job_counter.call(CounterGet {}).await.unwrap(),
        1,
        "the job did not fire once after the restart"
    );
    assert!(reminders_of(&node2, "j1").await.is_empty(), "a fired job is still listed");
    node2.shutdown().await.unwrap();
}
