//! Starts `orbit-server` on a fresh data directory, waits until it is ready
//! and settled, and reports its resident memory (VmRSS) from /proc.

use anyhow::{Context, bail};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[derive(clap::Args)]
pub struct Args {
    /// The server binary (build it with `cargo build --release -p orbit-server`).
    #[arg(long, default_value = "target/release/orbit-server")]
    server_bin: String,
    /// `lsm` or `memory`.
    #[arg(long, default_value = "lsm")]
    storage: String,
    /// How long the node idles before the reading.
    #[arg(long, default_value_t = 3)]
    settle_seconds: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let data_dir = std::env::temp_dir().join(format!("orbit-bench-idle-{}", std::process::id()));
    let mut child = tokio::process::Command::new(&args.server_bin)
        .args(["--data-dir", data_dir.to_str().context("temp path")?, "--storage", &args.storage])
        .args(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", args.server_bin))?;
    let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
    loop {
        match lines.next_line().await? {
            Some(line) if line.contains("node ready") => break,
            Some(_) => {}
            None => bail!("orbit-server exited before it was ready"),
        }
    }
    tokio::time::sleep(Duration::from_secs(args.settle_seconds)).await;
    let pid = child.id().context("server pid")?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status.lines().find(|l| l.starts_with("VmRSS:")).context("VmRSS in /proc status")?;
    println!("idle orbit-server ({} storage) {}", args.storage, rss.trim_start_matches("VmRSS:").trim());
    child.kill().await?;
    let _ = std::fs::remove_dir_all(&data_dir);
    Ok(())
}
