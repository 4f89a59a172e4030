//! Increments a counter on an Orbit node and prints the new value alone on a
//! line: `cargo run -p orbit-client --example counter -- --key visits --by 1`.

use clap::Parser;
use orbit_client::Client;
use orbit_shared::actors::counter::{Counter, Increment};

#[derive(Parser)]
struct Args {
    /// The node's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// Which counter.
    #[arg(long, default_value = "example")]
    key: String,
    /// How much to add (may be negative).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    by: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = Client::connect(args.addr).await?;
    let value = client.actor::<Counter>(args.key).call(Increment { by: args.by }).await?;
    println!("{value}");
    Ok(())
}
