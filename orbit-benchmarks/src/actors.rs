//! `orbit-bench actors`: the actor runtime's own rates, on one in-process
//! node over `lsm` in a temporary directory:
//! - reminder ticks delivered per second: `--reminders` counters each get a
//!   reminder with period `--period-ms` (demand: reminders / period), run
//!   for `--seconds`; each tick is a call of the counter plus the durable
//!   move of the reminder to its next tick;
//! - timer-driven turns per second: `--timers` actors each with a periodic
//!   timer of `--timer-ms`;
//! - activation latency of a cold actor with its state on disk: `--cold`
//!   counters written, the node restarted, each read once (every read
//!   activates its actor from storage), paced at `--qps`; then the same
//!   reads again, warm.

use hdrhistogram::Histogram;
use orbit_server::config::{Durability, StorageKind};
use orbit_server::{Actor, Config, Context, Handler, MethodTable, Node, Timer};
use orbit_shared::actors::counter::{Get, Increment};
use orbit_shared::actors::reminders::Remind;
use orbit_shared::{Accepts, ActorGateway, ActorId, ActorInterface, Error, Invocation, Message};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 30_000)]
    reminders: u64,
    #[arg(long, default_value_t = 1000)]
    period_ms: u64,
    #[arg(long, default_value_t = 1000)]
    timers: u64,
    #[arg(long, default_value_t = 10)]
    timer_ms: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, default_value_t = 10_000)]
    cold: u64,
    #[arg(long, default_value_t = 500)]
    qps: u64,
    /// `always`, `periodic` or `none`.
    #[arg(long, default_value = "always")]
    durability: String,
}

fn config(dir: &std::path::Path, durability: &str) -> anyhow::Result<Config> {
    let mut config = Config::ephemeral();
    config.storage.backend = StorageKind::Lsm;
    config.node.data_dir = dir.to_path_buf();
    config.storage.durability = match durability {
        "always" => Durability::Always,
        "periodic" => Durability::Periodic,
        "none" => Durability::None,
        other => anyhow::bail!("unknown durability '{other}'"),
    };
    Ok(config)
}

async fn start(config: Config) -> anyhow::Result<Node> {
    Ok(Node::builder(config).with_builtin_kinds().register::<Ticking>().build().await?)
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
    let node = start(config(dir.path(), &args.durability)?).await?;
    println!("durability {}, storage lsm, one in-process node", args.durability);
    reminder_rate(&node, &args).await?;
    timer_rate(&node, &args).await?;
    node.shutdown().await?;
    cold_activations(&args).await
}

async fn reminder_rate(node: &Node, args: &Args) -> anyhow::Result<()> {
    let first = node.wall_ms() + 2_000;
    let tasks: Vec<_> = (0..64u64)
        .map(|t| {
            let (node, n, period) = ((**node).clone(), args.reminders, args.period_ms);
            tokio::spawn(async move {
                for i in (t..n).step_by(64) {
                    let remind = Remind {
                        kind: "counter".into(),
                        name: "tick".into(),
                        period_ms: period,
                        // Spread over one period, so the demand is even.
                        due_ms: Some(first + i * period / n.max(1)),
                        method: "increment".into(),
                        args: serde_json::json!({"by": 1}),
                    };
                    let holder = ActorId::new("orbit:reminders", format!("r{i}"));
                    node.invoke(holder, Invocation::of(&remind)?).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    tokio::time::sleep(Duration::from_millis(first.saturating_sub(node.wall_ms()) + args.period_ms)).await;
    let before = node.metrics().reminders_fired.get();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let fired = node.metrics().reminders_fired.get() - before;
    let rate = fired as f64 / started.elapsed().as_secs_f64();
    let demand = args.reminders as f64 * 1000.0 / args.period_ms as f64;
    println!(
        "reminder ticks: {rate:.0}/s delivered, {demand:.0}/s due ({} reminders every {} ms)",
        args.reminders, args.period_ms
    );
    for i in 0..args.reminders {
        let holder = ActorId::new("orbit:reminders", format!("r{i}"));
        let unremind =
            orbit_shared::actors::reminders::Unremind { kind: "counter".into(), name: "tick".into() };
        node.invoke(holder, Invocation::of(&unremind)?).await?;
    }
    Ok(())
}

/// Timer ticks counted by every [`Ticking`] actor.
static TICKS: AtomicU64 = AtomicU64::new(0);

#[derive(Default, Serialize, Deserialize)]
struct Ticking {}

struct TickingApi;
impl ActorInterface for TickingApi {
    const KIND: &'static str = "bench:ticking";
}

#[derive(Serialize, Deserialize)]
struct StartTicking {
    every_ms: u64,
}
impl Message for StartTicking {
    const METHOD: &'static str = "start";
    const READ_ONLY: bool = true;
    type Reply = ();
}

#[derive(Serialize, Deserialize)]
struct TickOnce {}
impl Message for TickOnce {
    const METHOD: &'static str = "tick";
    const READ_ONLY: bool = true;
    type Reply = ();
}

impl Accepts<StartTicking> for TickingApi {}

impl Actor for Ticking {
    type Interface = TickingApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<StartTicking>().add::<TickOnce>();
    }
}

impl Handler<StartTicking> for Ticking {
    async fn handle(&mut self, msg: StartTicking, ctx: &Context<'_>) -> Result<(), Error> {
        ctx.start_timer(
            Timer::every("tick", Duration::from_millis(msg.every_ms), &TickOnce {})?.keep_alive(),
        );
        Ok(())
    }
}

impl Handler<TickOnce> for Ticking {
    async fn handle(&mut self, _msg: TickOnce, _ctx: &Context<'_>) -> Result<(), Error> {
        TICKS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

async fn timer_rate(node: &Node, args: &Args) -> anyhow::Result<()> {
    for i in 0..args.timers {
        node.actor::<Ticking>(format!("t{i}")).call(StartTicking { every_ms: args.timer_ms }).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = TICKS.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let rate = (TICKS.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
    let demand = args.timers as f64 * 1000.0 / args.timer_ms as f64;
    println!(
        "timer turns: {rate:.0}/s, {demand:.0}/s due ({} actors every {} ms)",
        args.timers, args.timer_ms
    );
    Ok(())
}

async fn cold_activations(args: &Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
    let node = start(config(dir.path(), &args.durability)?).await?;
    for i in 0..args.cold {
        node.actor::<orbit_server::actors::counter::CounterActor>(format!("c{i}"))
            .call(Increment { by: 1 })
            .await?;
    }
    node.shutdown().await?;
    let node = start(config(dir.path(), &args.durability)?).await?;
    let mut pacing = tokio::time::interval(Duration::from_secs_f64(1.0 / args.qps.max(1) as f64));
    for warm in [false, true] {
        let mut latencies = Histogram::<u64>::new(3)?;
        for i in 0..args.cold {
            pacing.tick().await;
            let started = Instant::now();
            let value = node
                .actor::<orbit_server::actors::counter::CounterActor>(format!("c{i}"))
                .call(Get {})
                .await?;
            latencies.record(started.elapsed().as_micros() as u64)?;
            anyhow::ensure!(value == 1, "c{i} = {value} after the restart");
        }
        let ms = |q: f64| latencies.value_at_quantile(q) as f64 / 1000.0;
        let label = if warm { "warm call (resident) " } else { "cold activation (state on disk)" };
        println!(
            "{label}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} calls at {}/s)",
            ms(0.5),
            ms(0.99),
            ms(1.0),
            args.cold,
            args.qps
        );
    }
    node.shutdown().await?;
    Ok(())
}
