//! Timers in process, on paused time: periodic and one-shot ticks on
//! schedule, ticks and calls never overlapping, stopping, and timers ending
//! with their activation (idle deactivation with and without keep-alive).

#![allow(clippy::unwrap_used)]

use orbit_server::{Actor, Config, Context, Handler, MethodTable, Node, Timer};
use orbit_shared::{Accepts, ActorId, ActorInterface, Error, Message};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Keys of the tickers inside a turn now, and how often a turn began while
/// another of the same actor was running.
static IN_TURN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
static OVERLAPS: AtomicUsize = AtomicUsize::new(0);

/// Holds the key's place in [`IN_TURN`] for the length of a turn.
struct Turn(String);

impl Turn {
    fn begin(ctx: &Context<'_>) -> Turn {
        let key = String::from_utf8_lossy(&ctx.id().key).into_owned();
        if !IN_TURN.lock().unwrap().insert(key.clone()) {
            OVERLAPS.fetch_add(1, Ordering::SeqCst);
        }
        Turn(key)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        IN_TURN.lock().unwrap().remove(&self.0);
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Ticker {
    ticks: u32,
}

struct TickerApi;
impl ActorInterface for TickerApi {
    const KIND: &'static str = "ticker";
}

#[derive(Serialize, Deserialize)]
struct Start {
    name: String,
    after_ms: u64,
    every_ms: Option<u64>,
    keep_alive: bool,
    nap_ms: u64,
}
impl Message for Start {
    const METHOD: &'static str = "start";
    const READ_ONLY: bool = true;
    type Reply = ();
}

#[derive(Serialize, Deserialize)]
struct Stop {
    name: String,
}
impl Message for Stop {
    const METHOD: &'static str = "stop";
    const READ_ONLY: bool = true;
    type Reply = bool;
}

#[derive(Serialize, Deserialize)]
struct Tick {
    nap_ms: u64,
}
impl Message for Tick {
    const METHOD: &'static str = "tick";
    const READ_ONLY: bool = false;
    type Reply = u32;
}

/// A call that holds the turn for a while.
#[derive(Serialize, Deserialize)]
struct Poke {
    nap_ms: u64,
}
impl Message for Poke {
    const METHOD: &'static str = "poke";
    const READ_ONLY: bool = true;
    type Reply = ();
}

/// The ticks so far and the running timers.
#[derive(Serialize, Deserialize)]
struct Get {}
impl Message for Get {
    const METHOD: &'static str = "get";
    const READ_ONLY: bool = true;
    type Reply = (u32, Vec<String>);
}

impl Accepts<Start> for TickerApi {}
impl Accepts<Stop> for TickerApi {}
impl Accepts<Poke> for TickerApi {}
impl Accepts<Get> for TickerApi {}

impl Actor for Ticker {
    type Interface = TickerApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Start>().add::<Stop>().add::<Tick>().add::<Poke>().add::<Get>();
    }
}

impl Handler<Start> for Ticker {
    async fn handle(&mut self, msg: Start, ctx: &Context<'_>) -> Result<(), Error> {
        let tick = Tick { nap_ms: msg.nap_ms };
        let after = Duration::from_millis(msg.after_ms);
        let timer = match msg.every_ms {
            Some(every) => Timer::every(msg.name, Duration::from_millis(every), &tick)?.first_after(after),
            None => Timer::once(msg.name, after, &tick)?,
        };
        ctx.start_timer(if msg.keep_alive { timer.keep_alive() } else { timer });
        Ok(())
    }
}

impl Handler<Stop> for Ticker {
    async fn handle(&mut self, msg: Stop, ctx: &Context<'_>) -> Result<bool, Error> {
        Ok(ctx.stop_timer(&msg.name))
    }
}

impl Handler<Tick> for Ticker {
    async fn handle(&mut self, msg: Tick, ctx: &Context<'_>) -> Result<u32, Error> {
        let _turn = Turn::begin(ctx);
        tokio::time::sleep(Duration::from_millis(msg.nap_ms)).await;
        self.ticks += 1;
        Ok(self.ticks)
    }
}

impl Handler<Poke> for Ticker {
    async fn handle(&mut self, msg: Poke, ctx: &Context<'_>) -> Result<(), Error> {
        let _turn = Turn::begin(ctx);
        tokio::time::sleep(Duration::from_millis(msg.nap_ms)).await;
        Ok(())
    }
}

impl Handler<Get> for Ticker {
    async fn handle(&mut self, _msg: Get, ctx: &Context<'_>) -> Result<(u32, Vec<String>), Error> {
        Ok((self.ticks, ctx.timers()))
    }
}

async fn node(config: Config) -> Node {
    Node::builder(config).register::<Ticker>().build().await.expect("node starts")
}

fn start(name: &str, after_ms: u64, every_ms: Option<u64>) -> Start {
    Start { name: name.into(), after_ms, every_ms, keep_alive: false, nap_ms: 0 }
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::test(start_paused = true)]
async fn a_periodic_timer_ticks_on_schedule_until_stopped() {
    let node = node(Config::ephemeral()).await;
    let ticker = node.actor::<Ticker>("periodic");
    ticker.call(start("beat", 100, Some(100))).await.unwrap();
    sleep_ms(1050).await;
    assert_eq!(ticker.call(Get {}).await.unwrap(), (10, vec!["beat".to_string()]));
    assert!(ticker.call(Stop { name: "beat".into() }).await.unwrap());
    assert!(!ticker.call(Stop { name: "beat".into() }).await.unwrap(), "stopped twice");
    sleep_ms(1000).await;
    assert_eq!(ticker.call(Get {}).await.unwrap(), (10, vec![]), "ticked after it was stopped");
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_one_shot_timer_ticks_once_and_a_restarted_timer_replaces_the_old_one() {
    let node = node(Config::ephemeral()).await;
    let ticker = node.actor::<Ticker>("once");
    ticker.call(start("later", 500, None)).await.unwrap();
    sleep_ms(400).await;
    assert_eq!(ticker.call(Get {}).await.unwrap(), (0, vec!["later".to_string()]));
    sleep_ms(200).await;
    assert_eq!(ticker.call(Get {}).await.unwrap(), (1, vec![]), "a finished one-shot timer is gone");
    sleep_ms(2000).await;
    assert_eq!(ticker.call(Get {}).await.unwrap().0, 1, "a one-shot timer ticked twice");

    // Starting a timer of a running one's name replaces it.
    ticker.call(start("again", 300, None)).await.unwrap();
    sleep_ms(100).await;
    ticker.call(start("again", 1000, None)).await.unwrap();
    sleep_ms(500).await;
    assert_eq!(ticker.call(Get {}).await.unwrap().0, 1, "the replaced timer still ticked");
    sleep_ms(700).await;
    assert_eq!(ticker.call(Get {}).await.unwrap(), (2, vec![]));
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn ticks_and_calls_never_overlap() {
    let node = node(Config::ephemeral()).await;
    let ticker = node.actor::<Ticker>("overlap");
    let before = OVERLAPS.load(Ordering::SeqCst);
    // Ticks that hold the turn longer than the period, and calls that hold
    // it too, all at once.
    ticker
        .call(Start { name: "busy".into(), after_ms: 1, every_ms: Some(5), keep_alive: false, nap_ms: 20 })
        .await
        .unwrap();
    let pokes: Vec<_> = (0..40)
        .map(|i| {
            let ticker = node.actor::<Ticker>("overlap");
            tokio::spawn(async move {
                sleep_ms(i * 3).await;
                ticker.call(Poke { nap_ms: 7 }).await
            })
        })
        .collect();
    for poke in pokes {
        poke.await.unwrap().unwrap();
    }
    sleep_ms(500).await;
    let (ticks, _) = ticker.call(Get {}).await.unwrap();
    assert!(ticks >= 10, "only {ticks} ticks");
    assert_eq!(OVERLAPS.load(Ordering::SeqCst), before, "a tick and a call ran at once");
    node.shutdown().await.unwrap();
}

fn idle_config() -> Config {
    let mut config = Config::ephemeral();
    config.actors.idle_timeout = Duration::from_secs(60);
    config.actors.idle_check_interval = Duration::from_secs(10);
    config
}

#[tokio::test(start_paused = true)]
async fn timers_end_with_an_idle_activation_unless_they_keep_it_alive() {
    let node = node(idle_config()).await;
    let quiet = node.actor::<Ticker>("quiet");
    let kept = node.actor::<Ticker>("kept");
    quiet.call(start("beat", 1000, Some(1000))).await.unwrap();
    kept.call(Start { keep_alive: true, ..start("beat", 1000, Some(1000)) }).await.unwrap();
    assert_eq!(node.active_actors(), 2);

    // Past the idle timeout: ticks that do not keep the actor alive do not
    // count as calls.
    sleep_ms(80_500).await;
    assert_eq!(node.active_actors(), 1, "the actor whose timer does not keep it alive is still active");
    assert!(
        node.handle()
            .metrics()
            .render()
            .contains(r#"orbit_deactivations_total{kind="ticker",reason="idle"} 1"#)
    );

    // The deactivated actor's timer ended with it: its ticks stopped and
    // its next activation has no timer.
    let (ticks, timers) = quiet.call(Get {}).await.unwrap();
    assert!((58..=71).contains(&ticks), "{ticks} ticks before the idle deactivation");
    assert!(timers.is_empty(), "a timer survived its activation: {timers:?}");
    sleep_ms(5_000).await;
    assert_eq!(quiet.call(Get {}).await.unwrap().0, ticks, "ticked after its activation ended");

    let (kept_ticks, kept_timers) = kept.call(Get {}).await.unwrap();
    assert_eq!(kept_ticks, 85);
    assert_eq!(kept_timers, vec!["beat".to_string()]);
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_explicit_deactivation_ends_the_timers() {
    let node = node(Config::ephemeral()).await;
    let ticker = node.actor::<Ticker>("ended");
    ticker.call(start("beat", 100, Some(100))).await.unwrap();
    sleep_ms(550).await;
    assert!(node.handle().deactivate(&ActorId::new("ticker", "ended")).await);
    sleep_ms(1000).await;
    assert_eq!(ticker.call(Get {}).await.unwrap(), (5, vec![]));
    node.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_periodic_timer_with_no_period_is_refused() {
    let err = Timer::every("never", Duration::ZERO, &Get {}).unwrap_err();
    assert!(err.to_string().contains("period must be more than zero"), "{err}");
}
