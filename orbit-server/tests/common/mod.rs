//! Test actors and helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

pub mod echo;
pub mod pg;
pub mod resp;
pub mod sql;
pub mod turnstile;

use orbit_server::actors::counter::CounterActor;
use orbit_server::config::StorageKind;
use orbit_server::{Actor, Config, Context, Handler, MethodTable};
use orbit_shared::actors::counter::Increment;
use orbit_shared::{Accepts, ActorInterface, Error, Message};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A test kind whose `nap` holds its turn for a while, and whose `relay`
/// calls a counter (actor-to-actor).
#[derive(Default, Serialize, Deserialize)]
pub struct Napper {
    naps: u32,
}

pub struct NapperApi;
impl ActorInterface for NapperApi {
    const KIND: &'static str = "napper";
}

#[derive(Serialize, Deserialize)]
pub struct Nap {
    pub ms: u64,
}
impl Message for Nap {
    const METHOD: &'static str = "nap";
    const READ_ONLY: bool = false;
    type Reply = u32;
}

#[derive(Serialize, Deserialize)]
pub struct Relay {
    pub counter: String,
    pub by: i64,
}
impl Message for Relay {
    const METHOD: &'static str = "relay";
    const READ_ONLY: bool = true;
    type Reply = i64;
}

impl Accepts<Nap> for NapperApi {}
impl Accepts<Relay> for NapperApi {}

impl Actor for Napper {
    type Interface = NapperApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Nap>().add::<Relay>();
    }
}

impl Handler<Nap> for Napper {
    async fn handle(&mut self, msg: Nap, _ctx: &Context<'_>) -> Result<u32, Error> {
        tokio::time::sleep(Duration::from_millis(msg.ms)).await;
        self.naps += 1;
        Ok(self.naps)
    }
}

impl Handler<Relay> for Napper {
    async fn handle(&mut self, msg: Relay, ctx: &Context<'_>) -> Result<i64, Error> {
        ctx.node().actor::<CounterActor>(msg.counter).call(Increment { by: msg.by }).await
    }
}

pub fn lsm_config(dir: &std::path::Path) -> Config {
    let mut config = Config::ephemeral();
    config.storage.backend = StorageKind::Lsm;
    config.node.data_dir = dir.to_path_buf();
    config
}

/// A plain HTTP/1.1 GET; returns the status code and the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to HTTP port");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A plain HTTP/1.1 POST of a JSON body; returns the status code and body.
pub async fn http_post_json(
    addr: std::net::SocketAddr,
    path: &str,
    body: &serde_json::Value,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect to HTTP port");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Whether the external program `program` (e.g. `redis-server`) can run. A
/// test that needs one and does not find it prints why it is skipped and
/// returns; under CI (`CI` set) a missing program fails the test instead.
pub fn require_program(program: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{program} is required under CI but was not found");
        eprintln!("skipped: {program} is not installed");
    }
    found
}

/// The `orbit-server` binary running on ephemeral ports.
pub struct Spawned {
    pub child: tokio::process::Child,
    pub grpc: std::net::SocketAddr,
    pub http: std::net::SocketAddr,
    pub resp: std::net::SocketAddr,
    pub pg: std::net::SocketAddr,
}

/// Starts the binary with `data_dir` on ephemeral loopback ports and waits
/// for its "node ready" line, which carries the addresses.
pub async fn spawn_node(data_dir: &std::path::Path) -> Spawned {
    spawn_node_with(data_dir, &[]).await.0
}

/// [`spawn_node`] with more flags (`extra`); also returns the log lines
/// printed before "node ready".
pub async fn spawn_node_with(data_dir: &std::path::Path, extra: &[&str]) -> (Spawned, Vec<String>) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orbit-server"))
        .args(["--data-dir", data_dir.to_str().unwrap()])
        .args(["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--resp-addr", "127.0.0.1:0"])
        .args(["--pg-addr", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("orbit-server starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut before = Vec::new();
    let ready = loop {
        let line = lines.next_line().await.unwrap().expect("server exited before it was ready");
        if line.contains("node ready") {
            break line;
        }
        before.push(line);
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let field = |name: &str| -> std::net::SocketAddr {
        let start = ready.find(&format!("{name}=")).expect("address in ready line") + name.len() + 1;
        ready[start..].split_whitespace().next().unwrap().parse().unwrap()
    };
    let (grpc, http, resp, pg) = (field("grpc"), field("http"), field("resp"), field("pg"));
    (Spawned { child, grpc, http, resp, pg }, before)
}
