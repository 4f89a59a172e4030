//! Starting an `orbit-server` process on ephemeral ports and waiting for it
//! to report ready.

use anyhow::{Context, bail};
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

pub struct Server {
    child: Child,
    pub grpc: String,
}

impl Server {
    pub async fn start(bin: &str, data_dir: &Path, storage: &str) -> anyhow::Result<Server> {
        let mut child = tokio::process::Command::new(bin)
            .args(["--data-dir", data_dir.to_str().context("data dir path")?, "--storage", storage])
            .args(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!("cannot start {bin} (build it with cargo build --release -p orbit-server)")
            })?;
        let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let ready = loop {
            match lines.next_line().await? {
                Some(line) if line.contains("node ready") => break line,
                Some(_) => {}
                None => bail!("orbit-server exited before it was ready"),
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let start = ready.find("grpc=").context("grpc address in the ready line")? + 5;
        let grpc = ready[start..].split_whitespace().next().context("grpc address")?.to_string();
        Ok(Server { child, grpc })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}
