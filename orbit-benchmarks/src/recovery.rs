//! `orbit-bench recovery`: how long a node takes to come back after
//! `kill -9` with many actors stored. Fills `--actors` counters over gRPC
//! (durable writes), kills the server with SIGKILL, restarts it, and times
//! start -> ready and start -> first answers, checking sampled values.

use crate::spawn::Server;
use anyhow::ensure;
use orbit_client::Client;
use orbit_shared::actors::counter::{Counter, Get, Increment};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = crate::spawn::default_server_bin())]
    server_bin: String,
    #[arg(long, default_value_t = 1_000_000)]
    actors: u64,
    #[arg(long, default_value = "lsm")]
    storage: String,
    #[arg(long, default_value_t = 256)]
    concurrency: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir_in(std::env::current_dir()?)?;
    let server = Server::start(&args.server_bin, data_dir.path(), &args.storage).await?;
    let clients = [Client::connect(server.grpc.clone()).await?, Client::connect(server.grpc.clone()).await?];
    let filled = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|t| {
            let client = clients[t as usize % 2].clone();
            let (actors, step) = (args.actors, args.concurrency);
            tokio::spawn(async move {
                let mut i = t;
                while i < actors {
                    client.actor::<Counter>(format!("actor-{i}")).call(Increment { by: 1 }).await?;
                    i += step;
                    if i % 100_000 < step {
                        eprintln!("filled {i} / {actors}");
                    }
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let fill_seconds = filled.elapsed().as_secs_f64();
    drop(clients);
    server.kill().await?;

    let restarted = Instant::now();
    let server = Server::start(&args.server_bin, data_dir.path(), &args.storage).await?;
    let ready = restarted.elapsed();
    let client = Client::connect(server.grpc.clone()).await?;
    for n in 0..1000u64 {
        let i = (n * 7_919) % args.actors;
        let value = client.actor::<Counter>(format!("actor-{i}")).call(Get {}).await?;
        ensure!(value == 1, "actor-{i} = {value} after recovery, expected 1");
    }
    let answering = restarted.elapsed();
    let disk: u64 = walk_size(data_dir.path());
    println!(
        "| storage | actors | fill (s) | disk MB | kill -9 -> ready (s) | -> 1,000 sampled reads checked (s) |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {:.1} | {:.1} | {:.2} | {:.2} |",
        args.storage,
        args.actors,
        fill_seconds,
        disk as f64 / 1e6,
        ready.as_secs_f64(),
        answering.as_secs_f64()
    );
    server.kill().await?;
    Ok(())
}

fn walk_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
