//! `orbit-bench keyspace`: what whole-keyspace commands cost on a fresh
//! node and on one that has written and deleted `--keys` keys (two left
//! live), for Orbit and `redis-server` side by side. Each command's median
//! time over `--rounds` calls, with the ratio of churned to fresh.

use crate::spawn::{Redis, Server, free_port};
use anyhow::{Context, ensure};
use redis::aio::MultiplexedConnection;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = crate::spawn::default_server_bin())]
    server_bin: String,
    #[arg(long, default_value = "lsm")]
    storage: String,
    /// Keys written and deleted between the two measurements.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    #[arg(long, default_value_t = 20)]
    rounds: usize,
}

const COMMANDS: [&[&str]; 5] =
    [&["DBSIZE"], &["INFO"], &["INFO", "keyspace"], &["KEYS", "*"], &["RANDOMKEY"]];

pub async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
    let orbit_dir = dir.path().join("orbit");
    let server = Server::start(&args.server_bin, &orbit_dir, &args.storage).await?;
    let redis_port = free_port()?;
    let redis = Redis::start(redis_port, dir.path(), &["--save", "", "--appendonly", "no"]).await?;
    let mut rows = Vec::new();
    for (name, url) in [
        ("orbit", format!("redis://{}/", server.resp)),
        ("redis", format!("redis://127.0.0.1:{redis_port}/")),
    ] {
        let client = redis::Client::open(url.as_str())?;
        let mut con = client.get_multiplexed_async_connection().await?;
        for key in ["live:1", "live:2"] {
            redis::cmd("SET").arg(key).arg("v").query_async::<()>(&mut con).await?;
        }
        let fresh = time_all(&mut con, args.rounds).await?;
        churn(&mut con, args.keys).await?;
        let dbsize: u64 = redis::cmd("DBSIZE").query_async(&mut con).await?;
        ensure!(dbsize == 2, "{name}: DBSIZE {dbsize} after the churn, expected 2");
        let churned = time_all(&mut con, args.rounds).await?;
        rows.push((name, fresh, churned));
    }
    println!(
        "median of {} calls, fresh node vs after {} keys written and deleted ({} storage)",
        args.rounds, args.keys, args.storage
    );
    println!("| command | orbit fresh | orbit churned | redis fresh | redis churned | orbit/redis churned |");
    println!("|---|---|---|---|---|---|");
    for (i, command) in COMMANDS.iter().enumerate() {
        let [(_, orbit_fresh, orbit_churned), (_, redis_fresh, redis_churned)] = &rows[..] else {
            anyhow::bail!("two servers measured");
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.1} |",
            command.join(" "),
            show(orbit_fresh[i]),
            show(orbit_churned[i]),
            show(redis_fresh[i]),
            show(redis_churned[i]),
            orbit_churned[i].as_secs_f64() / redis_churned[i].as_secs_f64().max(1e-9),
        );
    }
    server.kill().await?;
    redis.kill().await?;
    Ok(())
}

/// SET and DEL of `keys` keys, pipelined by a thousand.
async fn churn(con: &mut MultiplexedConnection, keys: u64) -> anyhow::Result<()> {
    let mut n = 0;
    while n < keys {
        let mut pipe = redis::pipe();
        for k in n..(n + 1000).min(keys) {
            let key = format!("churn:{k}");
            pipe.cmd("SET").arg(&key).arg(k).ignore().cmd("DEL").arg(&key).ignore();
        }
        pipe.query_async::<()>(con).await.context("churn")?;
        n += 1000;
    }
    Ok(())
}

/// The median time of each of [`COMMANDS`] over `rounds` calls.
async fn time_all(con: &mut MultiplexedConnection, rounds: usize) -> anyhow::Result<Vec<Duration>> {
    let mut medians = Vec::new();
    for command in COMMANDS {
        let mut times = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let mut cmd = redis::Cmd::new();
            for word in command {
                cmd.arg(*word);
            }
            let started = Instant::now();
            cmd.query_async::<redis::Value>(&mut *con).await.with_context(|| command.join(" "))?;
            times.push(started.elapsed());
        }
        times.sort();
        medians.push(times[times.len() / 2]);
    }
    Ok(medians)
}

fn show(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}
