//! Starting server processes (`orbit-server`, and `redis-server` for
//! comparisons) and waiting for each to report ready. Every child is killed
//! when its handle drops, so an error path leaves no server behind.

use anyhow::{Context, bail};
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;

/// A loopback port free at the time of asking (for a server told its port).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The `orbit-server` cargo built next to this binary (the same target
/// directory and profile, wherever `CARGO_TARGET_DIR` put it); else
/// `target/release/orbit-server`.
pub fn default_server_bin() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("orbit-server")))
        .filter(|path| path.exists())
        .and_then(|path| path.to_str().map(str::to_string))
        .unwrap_or_else(|| "target/release/orbit-server".into())
}

pub struct Server {
    child: Child,
    pub grpc: String,
    /// The RESP address, on an ephemeral port like gRPC and HTTP.
    pub resp: String,
    /// The PostgreSQL address, on an ephemeral port like RESP.
    pub pg: String,
}

impl Server {
    pub async fn start(bin: &str, data_dir: &Path, storage: &str) -> anyhow::Result<Server> {
        Server::start_with(bin, data_dir, storage, &[]).await
    }

    /// Like `start`, with `extra` flags after the common ones (e.g. `--durability`).
    pub async fn start_with(
        bin: &str,
        data_dir: &Path,
        storage: &str,
        extra: &[&str],
    ) -> anyhow::Result<Server> {
        let mut child = tokio::process::Command::new(bin)
            .args(["--data-dir", data_dir.to_str().context("data dir path")?, "--storage", storage])
            .args(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--resp-addr", "127.0.0.1:0"])
            .args(["--pg-addr", "127.0.0.1:0"])
            .args(extra)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!("cannot start {bin} (build it with cargo build --release -p orbit-server)")
            })?;
        let stderr = child.stderr.take().context("stderr")?;
        let ready = ready_line(stderr, "node ready", "orbit-server").await?;
        let grpc = ready_field(&ready, "grpc=")?;
        let resp = ready_field(&ready, "resp=")?;
        let pg = ready_field(&ready, "pg=")?;
        Ok(Server { child, grpc, resp, pg })
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

/// A `redis-server` on 127.0.0.1:`port` with `dir` as its working directory.
pub struct Redis {
    child: Child,
}

impl Redis {
    /// `config` is more `--name value` pairs, e.g. `["--appendonly", "no"]`.
    pub async fn start(port: u16, dir: &Path, config: &[&str]) -> anyhow::Result<Redis> {
        let mut child = tokio::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--dir", dir.to_str().context("redis dir path")?])
            .args(config)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start redis-server (apt-get install redis-server)")?;
        let stdout = child.stdout.take().context("stdout")?;
        ready_line(stdout, "Ready to accept connections", "redis-server").await?;
        Ok(Redis { child })
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// The value after `name` (e.g. `grpc=`) in orbit-server's ready line.
fn ready_field(ready: &str, name: &str) -> anyhow::Result<String> {
    let start = ready.find(name).with_context(|| format!("no {name} in the ready line: {ready}"))?;
    let value = ready[start + name.len()..].split_whitespace().next();
    Ok(value.with_context(|| format!("empty {name} in the ready line"))?.to_string())
}

/// Reads `output` up to the first line containing `needle` and returns it;
/// the rest is drained in the background so the process never blocks on a
/// full pipe (the task ends when the process does).
async fn ready_line<R>(output: R, needle: &str, what: &str) -> anyhow::Result<String>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let mut lines = BufReader::new(output).lines();
    let mut last = String::new();
    let ready = loop {
        match lines.next_line().await? {
            Some(line) if line.contains(needle) => break line,
            Some(line) => last = line,
            None => bail!("{what} exited before it was ready; last output: {last}"),
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(ready)
}
