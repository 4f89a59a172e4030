//! Starting server processes (`orbit-server` alone or as a member of a
//! local three-node cluster, and `redis-server` for comparisons) and
//! waiting for each to report ready. Every child is killed when its handle
//! drops, so an error path leaves no server behind.

use anyhow::{Context, bail};
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Child;

/// A loopback port free at the time of asking (for a server told its port).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A port free on 127.0.0.1, .2 and .3 alike at the time of asking: the
/// gRPC port of a local three-node cluster, the same on every node.
pub fn shared_port() -> anyhow::Result<u16> {
    for _ in 0..50 {
        let port = free_port()?;
        if (2..=3).all(|i| std::net::TcpListener::bind(format!("127.0.0.{i}:{port}")).is_ok()) {
            return Ok(port);
        }
    }
    bail!("no port free on 127.0.0.1, .2 and .3 alike")
}

/// The `--seeds` of a local three-node cluster: every node's gRPC address.
fn cluster_seeds(port: u16) -> String {
    (1..=3).map(|i| format!("127.0.0.{i}:{port}")).collect::<Vec<_>>().join(",")
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
    /// The HTTP address (`/metrics`, health), on an ephemeral port.
    pub http: String,
    /// The RESP address, on an ephemeral port like gRPC and HTTP.
    pub resp: String,
    /// The PostgreSQL address, on an ephemeral port like RESP.
    pub pg: String,
    /// The node's id in its cluster, from its "joined the cluster" line;
    /// `None` for a node without a cluster.
    pub node_id: Option<u64>,
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
        Server::launch(bin, data_dir, storage, "127.0.0.1", 0, extra, &[]).await
    }

    /// Node `index` (1-3) of a local three-node cluster: every address on
    /// 127.0.0.`index`, gRPC on `port` (the same on every node, see
    /// [`shared_port`]), the three gRPC addresses as seeds and
    /// `--bootstrap-expect 3`, then `extra` flags and `env` set (e.g.
    /// `ORBIT__CLUSTER__ELECTION_TIMEOUT`). A founding node is ready only
    /// once all three are up, so the three must be started concurrently; a
    /// node restarted on its data directory rejoins.
    pub async fn start_member(
        bin: &str,
        data_dir: &Path,
        storage: &str,
        index: u8,
        port: u16,
        extra: &[&str],
        env: &[(String, String)],
    ) -> anyhow::Result<Server> {
        let seeds = cluster_seeds(port);
        let mut flags = vec!["--seeds", seeds.as_str(), "--bootstrap-expect", "3"];
        flags.extend_from_slice(extra);
        let ip = format!("127.0.0.{index}");
        Server::launch(bin, data_dir, storage, &ip, port, &flags, env).await
    }

    /// Starts `bin` with every address on `ip` (gRPC on `grpc_port`, the
    /// others on ephemeral ports), `extra` flags after the common ones and
    /// `env` set, and waits for its ready line; info logging, so the join
    /// and ready lines are printed.
    async fn launch(
        bin: &str,
        data_dir: &Path,
        storage: &str,
        ip: &str,
        grpc_port: u16,
        extra: &[&str],
        env: &[(String, String)],
    ) -> anyhow::Result<Server> {
        let (grpc_addr, any_port) = (format!("{ip}:{grpc_port}"), format!("{ip}:0"));
        let mut child = tokio::process::Command::new(bin)
            .args(["--data-dir", data_dir.to_str().context("data dir path")?, "--storage", storage])
            .args(["--grpc-addr", &grpc_addr, "--http-addr", &any_port, "--resp-addr", &any_port])
            .args(["--pg-addr", &any_port])
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!("cannot start {bin} (build it with cargo build --release -p orbit-server)")
            })?;
        let stderr = child.stderr.take().context("stderr")?;
        let (ready, joined) =
            ready_lines(stderr, "node ready", Some("joined the cluster"), "orbit-server").await?;
        let node_id = joined.map(|line| joined_node_id(&line)).transpose()?;
        let grpc = ready_field(&ready, "grpc=")?;
        let http = ready_field(&ready, "http=")?;
        let resp = ready_field(&ready, "resp=")?;
        let pg = ready_field(&ready, "pg=")?;
        Ok(Server { child, grpc, http, resp, pg, node_id })
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

/// The node id (`node=<id>`) in orbit-server's "joined the cluster" line.
fn joined_node_id(joined: &str) -> anyhow::Result<u64> {
    let id = ready_field(joined, "node=")?;
    id.parse().with_context(|| format!("bad node id {id:?} in: {joined}"))
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
    Ok(ready_lines(output, needle, None, what).await?.0)
}

/// Like [`ready_line`], also returning the last line before it that
/// contains `earlier` (when given and seen).
async fn ready_lines<R>(
    output: R,
    needle: &str,
    earlier: Option<&str>,
    what: &str,
) -> anyhow::Result<(String, Option<String>)>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let mut lines = BufReader::new(output).lines();
    let (mut last, mut seen) = (String::new(), None);
    let ready = loop {
        match lines.next_line().await? {
            Some(line) if line.contains(needle) => break line,
            Some(line) => {
                if earlier.is_some_and(|earlier| line.contains(earlier)) {
                    seen = Some(line.clone());
                }
                last = line;
            }
            None => bail!("{what} exited before it was ready; last output: {last}"),
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((ready, seen))
}
