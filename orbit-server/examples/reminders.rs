//! Durable reminders and jobs: stored beside the actor, fired by the node
//! even when the actor is not active (the tick activates it), at least once.
//!
//! `cargo run -p orbit-server --example reminders` (about 1.5 s)

use orbit_server::actors::counter::CounterActor;
use orbit_server::actors::reminders::RemindersActor;
use orbit_server::{Actor, Config, Context, Handler, MethodTable, Node};
use orbit_shared::actors::counter::Get;
use orbit_shared::actors::reminders::Remind;
use orbit_shared::{ActorId, ActorInterface, Error, Message};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An unpaid invoice: nudges its customer until a job closes it.
#[derive(Default, Serialize, Deserialize)]
struct Invoice {
    nudges: u32,
    closed: bool,
}

struct InvoiceApi;
impl ActorInterface for InvoiceApi {
    const KIND: &'static str = "invoice";
}

/// Registers reminder `nudge` every `nudge_ms` and job `close` after `close_ms`.
#[derive(Serialize, Deserialize)]
struct Open {
    nudge_ms: u64,
    close_ms: u64,
}
impl Message for Open {
    const METHOD: &'static str = "open";
    const READ_ONLY: bool = true;
    type Reply = ();
}

/// What reminder `nudge` calls.
#[derive(Serialize, Deserialize)]
struct Nudge {}
impl Message for Nudge {
    const METHOD: &'static str = "nudge";
    const READ_ONLY: bool = false;
    type Reply = ();
}

/// What job `close` calls: it removes reminder `nudge`.
#[derive(Serialize, Deserialize)]
struct Close {}
impl Message for Close {
    const METHOD: &'static str = "close";
    const READ_ONLY: bool = false;
    type Reply = ();
}

/// The nudges, whether it is closed, and its reminders' names.
#[derive(Serialize, Deserialize)]
struct Status {}
impl Message for Status {
    const METHOD: &'static str = "status";
    const READ_ONLY: bool = true;
    type Reply = (u32, bool, Vec<String>);
}

impl Actor for Invoice {
    type Interface = InvoiceApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Open>().add::<Nudge>().add::<Close>().add::<Status>();
    }

    async fn on_activate(&mut self, ctx: &Context<'_>) -> Result<(), Error> {
        println!("  {} activated with {} nudges stored", ctx.id(), self.nudges);
        Ok(())
    }
}

impl Handler<Open> for Invoice {
    async fn handle(&mut self, msg: Open, ctx: &Context<'_>) -> Result<(), Error> {
        ctx.remind("nudge", Duration::from_millis(msg.nudge_ms), &Nudge {}).await?;
        ctx.schedule_job("close", Duration::from_millis(msg.close_ms), &Close {}).await?;
        Ok(())
    }
}

impl Handler<Nudge> for Invoice {
    async fn handle(&mut self, _msg: Nudge, _ctx: &Context<'_>) -> Result<(), Error> {
        self.nudges += 1;
        println!("  nudge {}", self.nudges);
        Ok(())
    }
}

impl Handler<Close> for Invoice {
    async fn handle(&mut self, _msg: Close, ctx: &Context<'_>) -> Result<(), Error> {
        self.closed = true;
        let removed = ctx.unremind("nudge").await?;
        println!("  closed by the job; reminder nudge removed: {removed}");
        Ok(())
    }
}

impl Handler<Status> for Invoice {
    async fn handle(&mut self, _msg: Status, ctx: &Context<'_>) -> Result<(u32, bool, Vec<String>), Error> {
        let names = ctx.reminders().await?.into_iter().map(|r| r.name).collect();
        Ok((self.nudges, self.closed, names))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let node = Node::builder(Config::ephemeral()).with_builtin_kinds().register::<Invoice>().build().await?;
    let invoice = node.actor::<Invoice>("inv-1");
    invoice.call(Open { nudge_ms: 200, close_ms: 1100 }).await?;

    // From outside the actor, as ACTOR.REMIND and MCP's `remind` do: a call
    // of the `orbit:reminders` actor with the target's key.
    let every = Remind {
        kind: "counter".into(),
        name: "plus-ten".into(),
        period_ms: 400,
        due_ms: None,
        method: "increment".into(),
        args: serde_json::json!({"by": 10}),
    };
    let info = node.actor::<RemindersActor>("visits").call(every).await?;
    println!("registered {} on counter/visits, first at {} ms since the epoch", info.name, info.next_fire_ms);

    tokio::time::sleep(Duration::from_millis(500)).await;
    println!("after 0.5 s (nudges, closed, reminders): {:?}", invoice.call(Status {}).await?);
    // Reminders outlive the activation: the next nudge activates it again.
    node.deactivate(&ActorId::new("invoice", "inv-1")).await;
    println!("invoice deactivated");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    println!("after 1.5 s (nudges, closed, reminders): {:?}", invoice.call(Status {}).await?);
    println!("counter/visits: {}", node.actor::<CounterActor>("visits").call(Get {}).await?);

    node.shutdown().await?;
    Ok(())
}
