//! Closed-loop load: `concurrency` callers, each sending its next call when
//! the previous one returns, spread over `keys` counters.

use anyhow::Context;
use hdrhistogram::Histogram;
use orbit_client::Client;
use orbit_shared::actors::counter::{Counter, Get, Increment};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// The node's gRPC address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Distinct counters the callers spread over.
    #[arg(long, default_value_t = 1024)]
    keys: usize,
    /// `get` (read-only) or `increment` (a durable write per call).
    #[arg(long, default_value = "get")]
    method: String,
    /// gRPC connections the callers share.
    #[arg(long, default_value_t = 2)]
    connections: usize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut clients = Vec::new();
    for _ in 0..args.connections.max(1) {
        clients.push(Client::connect(args.addr.clone()).await.context("connect")?);
    }
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let callers: Vec<_> = (0..args.concurrency)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            let (keys, write) = (args.keys, args.method == "increment");
            tokio::spawn(async move {
                let mut latencies = Histogram::<u64>::new(3).expect("histogram");
                let mut n = i;
                while Instant::now() < deadline {
                    let counter = client.actor::<Counter>(format!("bench-{}", n % keys));
                    let begun = Instant::now();
                    if write {
                        counter.call(Increment { by: 1 }).await?;
                    } else {
                        counter.call(Get {}).await?;
                    }
                    latencies.record(begun.elapsed().as_micros() as u64)?;
                    n += 7;
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new(3)?;
    for caller in callers {
        all.add(caller.await??)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("| method | concurrency | connections | calls | calls/s | p50 µs | p99 µs | p99.9 µs |");
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {:.0} | {} | {} | {} |",
        args.method,
        args.concurrency,
        args.connections,
        all.len(),
        all.len() as f64 / elapsed,
        all.value_at_quantile(0.5),
        all.value_at_quantile(0.99),
        all.value_at_quantile(0.999),
    );
    Ok(())
}
