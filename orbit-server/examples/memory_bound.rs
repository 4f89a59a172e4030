//! A memory bound on resident actors: with `actors.max_activations` set,
//! a load over many keys keeps the resident activations near the cap (the
//! least recently used idle ones are deactivated, their state stored
//! first), and every value is intact when read back. Also shows the
//! introspection of what is resident.
//!
//! `cargo run -p orbit-server --example memory_bound`

use orbit_server::actors::counter::CounterActor;
use orbit_server::{Config, Node};
use orbit_shared::ActorGateway;
use orbit_shared::actors::counter::{Get, Increment};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = Config::ephemeral();
    config.actors.max_activations = 100;
    let node = Node::builder(config).with_builtin_kinds().build().await?;

    let mut most = 0;
    for i in 0..2_000 {
        node.actor::<CounterActor>(format!("c{i}")).call(Increment { by: i }).await?;
        most = most.max(node.active_actors());
    }
    println!("2000 counters written under a cap of 100: at most {most} resident at once");

    let mut wrong = 0;
    for i in 0..2_000 {
        if node.actor::<CounterActor>(format!("c{i}")).call(Get {}).await? != i {
            wrong += 1;
        }
    }
    println!("values read back: {} intact, {wrong} wrong", 2_000 - wrong);

    let resident = node.activations(Some("counter")).await?;
    let oldest = resident.iter().map(|a| a.age_ms).max().unwrap_or(0);
    println!("resident now: {} counters, the oldest active for {oldest} ms", resident.len());
    // As /metrics shows it.
    for line in node.metrics().render().lines() {
        if line.starts_with("orbit_deactivations_total") {
            println!("{line}");
        }
    }
    node.shutdown().await?;
    Ok(())
}
