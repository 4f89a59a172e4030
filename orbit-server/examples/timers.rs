//! Timers: an activation calls one of its own methods later, once or every
//! period, as a turn of the actor; its timers end with the activation.
//!
//! `cargo run -p orbit-server --example timers` (about 1.5 s)

use orbit_server::{Actor, Config, Context, Handler, LocalRef, MethodTable, Node, Timer};
use orbit_shared::{ActorId, ActorInterface, Error, Message};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The beats of its metronome, and whether its alarm rang.
#[derive(Default, Serialize, Deserialize)]
struct Metronome {
    beats: u32,
    rang: bool,
}

struct MetronomeApi;
impl ActorInterface for MetronomeApi {
    const KIND: &'static str = "metronome";
}

/// Starts timer `beat` every `beat_ms` and a one-shot `alarm` after `alarm_ms`.
#[derive(Serialize, Deserialize)]
struct Start {
    beat_ms: u64,
    alarm_ms: u64,
}
impl Message for Start {
    const METHOD: &'static str = "start";
    const READ_ONLY: bool = true;
    type Reply = ();
}

/// What timer `beat` calls.
#[derive(Serialize, Deserialize)]
struct Beat {}
impl Message for Beat {
    const METHOD: &'static str = "beat";
    const READ_ONLY: bool = false;
    type Reply = u32;
}

/// What timer `alarm` calls: it stops timer `beat`.
#[derive(Serialize, Deserialize)]
struct Ring {}
impl Message for Ring {
    const METHOD: &'static str = "ring";
    const READ_ONLY: bool = false;
    type Reply = ();
}

/// The beats, whether the alarm rang, and the running timers.
#[derive(Serialize, Deserialize)]
struct Status {}
impl Message for Status {
    const METHOD: &'static str = "status";
    const READ_ONLY: bool = true;
    type Reply = (u32, bool, Vec<String>);
}

impl Actor for Metronome {
    type Interface = MetronomeApi;
    // A timer calls its method by name: it must be in the table.
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Start>().add::<Beat>().add::<Ring>().add::<Status>();
    }
}

impl Handler<Start> for Metronome {
    async fn handle(&mut self, msg: Start, ctx: &Context<'_>) -> Result<(), Error> {
        ctx.start_timer(Timer::every("beat", Duration::from_millis(msg.beat_ms), &Beat {})?);
        ctx.start_timer(Timer::once("alarm", Duration::from_millis(msg.alarm_ms), &Ring {})?);
        Ok(())
    }
}

impl Handler<Beat> for Metronome {
    async fn handle(&mut self, _msg: Beat, _ctx: &Context<'_>) -> Result<u32, Error> {
        self.beats += 1;
        Ok(self.beats)
    }
}

impl Handler<Ring> for Metronome {
    async fn handle(&mut self, _msg: Ring, ctx: &Context<'_>) -> Result<(), Error> {
        self.rang = true;
        let stopped = ctx.stop_timer("beat");
        println!("  alarm rings after {} beats; beat stopped: {stopped}", self.beats);
        Ok(())
    }
}

impl Handler<Status> for Metronome {
    async fn handle(&mut self, _msg: Status, ctx: &Context<'_>) -> Result<(u32, bool, Vec<String>), Error> {
        Ok((self.beats, self.rang, ctx.timers()))
    }
}

async fn show(label: &str, metronome: &LocalRef<Metronome>) -> Result<(), Error> {
    let (beats, rang, timers) = metronome.call(Status {}).await?;
    println!("{label}: {beats} beats, alarm rang: {rang}, timers running: {timers:?}");
    Ok(())
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let node = Node::builder(Config::ephemeral()).register::<Metronome>().build().await?;
    let metronome = node.actor::<Metronome>("m1");

    metronome.call(Start { beat_ms: 100, alarm_ms: 350 }).await?;
    show("started", &metronome).await?;
    // Each beat waits 100 ms after the previous one's turn ended: about 3
    // beats before the alarm at 350 ms stops them.
    sleep_ms(600).await;
    show("after 600 ms", &metronome).await?;

    // Timers live in memory and end with their activation.
    metronome.call(Start { beat_ms: 100, alarm_ms: 10_000 }).await?;
    sleep_ms(250).await;
    show("restarted, after 250 ms", &metronome).await?;
    node.deactivate(&ActorId::new("metronome", "m1")).await;
    sleep_ms(300).await;
    // This call activates the actor again: its state is back, its timers are not.
    show("300 ms after deactivation", &metronome).await?;

    node.shutdown().await?;
    Ok(())
}
