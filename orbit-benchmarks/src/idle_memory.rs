//! Starts `orbit-server` on a fresh data directory, waits until it is ready
//! and settled, and reports its resident memory (VmRSS) from /proc.

use crate::spawn::Server;
use anyhow::Context;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// The server binary (build it with `cargo build --release -p orbit-server`); by default
    /// the one next to this binary.
    #[arg(long, default_value_t = crate::spawn::default_server_bin())]
    server_bin: String,
    /// `lsm`, `cow-btree`, `memory` (or `rocksdb` in a build with it).
    #[arg(long, default_value = "lsm")]
    storage: String,
    /// How long the node idles before the reading.
    #[arg(long, default_value_t = 3)]
    settle_seconds: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let data_dir = tempfile::tempdir()?;
    let server = Server::start(&args.server_bin, data_dir.path(), &args.storage).await?;
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    let pid = server.pid().context("server pid")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status.lines().find(|l| l.starts_with("VmRSS:")).context("VmRSS in /proc status")?;
    println!("idle orbit-server ({} storage) {}", args.storage, rss.trim_start_matches("VmRSS:").trim());
    server.kill().await
}
