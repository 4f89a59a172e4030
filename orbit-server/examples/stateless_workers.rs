//! Stateless workers: a kind with `STATELESS_WORKERS` set runs many
//! activations of one key at once, on whichever node a call reaches, and
//! stores nothing. Here 8 calls of one key, each busy for 200 ms, finish in
//! about 400 ms with 4 workers; a stateful kind would take 1.6 s.
//!
//! `cargo run -p orbit-server --example stateless_workers`

use orbit_server::{Actor, Config, Context, Handler, MethodTable, Node};
use orbit_shared::{Accepts, ActorInterface, Error, Message};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Default, Serialize, Deserialize)]
struct Resizer {
    /// Calls this activation served: memory only, never stored.
    served: u32,
}

struct ResizerApi;
impl ActorInterface for ResizerApi {
    const KIND: &'static str = "resizer";
}

#[derive(Serialize, Deserialize)]
struct Resize {
    image: u32,
}
impl Message for Resize {
    const METHOD: &'static str = "resize";
    const READ_ONLY: bool = true;
    type Reply = String;
}
impl Accepts<Resize> for ResizerApi {}

impl Actor for Resizer {
    type Interface = ResizerApi;
    const STATELESS_WORKERS: usize = 4;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Resize>();
    }
}

impl Handler<Resize> for Resizer {
    async fn handle(&mut self, msg: Resize, _: &Context<'_>) -> Result<String, Error> {
        // CPU-bound work would go to `tokio::task::spawn_blocking`; a sleep
        // stands in for it here.
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.served += 1;
        Ok(format!("image {} resized (this worker's call number {})", msg.image, self.served))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let node = Node::builder(Config::ephemeral()).register::<Resizer>().build().await?;
    let started = Instant::now();
    let calls = (0..8).map(|image| {
        let resizer = node.actor::<Resizer>("pool");
        async move { resizer.call(Resize { image }).await }
    });
    for reply in futures::future::try_join_all(calls).await? {
        println!("{reply}");
    }
    println!("8 calls of one key in {:?}", started.elapsed());
    node.shutdown().await?;
    Ok(())
}
