//! Exactly-once calls: a call made with an idempotency key is applied at
//! most once per key on its actor, and a retry gets the first reply. The
//! reply is stored in the same write as the change, so it outlives the
//! activation (and a restart).
//!
//! `cargo run -p orbit-server --example exactly_once`

use orbit_client::Client;
use orbit_server::{Config, Node};
use orbit_shared::actors::counter::{Counter, Get, Increment};
use orbit_shared::{ActorGateway, ActorId, Invocation};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = Config::ephemeral();
    // Only gRPC (and HTTP) on ports the OS picks: the Rust client's door.
    config.resp.enabled = false;
    config.postgres.enabled = false;
    let node = Node::builder(config).with_builtin_kinds().start().await?;

    // In process: the same keyed call three times, as after lost replies.
    let balance = ActorId::new("counter", "balance");
    let pay = Invocation::of(&Increment { by: 30 })?.with_idempotency_key("payment-1");
    for attempt in 1..=3 {
        let reply: i64 = node.invoke(balance.clone(), pay.clone()).await?.decode()?;
        println!("payment-1, attempt {attempt}: {reply}");
    }
    // A call without a key is applied every time.
    let deposit = Invocation::of(&Increment { by: 100 })?;
    let after: i64 = node.invoke(balance.clone(), deposit).await?.decode()?;
    println!("a deposit without a key: {after}");
    // The first reply is stored: a retry after deactivation still gets it.
    node.deactivate(&balance).await;
    let reply: i64 = node.invoke(balance.clone(), pay).await?.decode()?;
    println!("payment-1 again after deactivation: {reply}");

    // Over gRPC with orbit-client: `call_once` sends the key.
    let addr = node.grpc_addr().ok_or_else(|| anyhow::anyhow!("the node serves no gRPC"))?;
    let client = Client::connect(addr.to_string()).await?;
    let counter = client.actor::<Counter>("balance");
    for attempt in 1..=2 {
        let value = counter.call_once("payment-2", Increment { by: 12 }).await?;
        println!("payment-2 over gRPC, attempt {attempt}: {value}");
    }
    println!("balance: {} (30 + 100 + 12, each applied once)", counter.call(Get {}).await?);

    drop(client);
    node.shutdown().await?;
    Ok(())
}
