//! The Redis front door from the `redis` crate: a node with a RESP listener,
//! connections in RESP2 and RESP3, and a compact rendering of replies that
//! assertions and the differential test compare.

use orbit_server::{Config, Node};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Value};
use std::net::SocketAddr;
use std::time::Duration;

/// How long a reply may take before the test fails. The `redis` crate's
/// default (500 ms) is too short for a debug build on a busy machine, and
/// blocking commands wait on purpose.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Starts a node with its RESP listener on an ephemeral loopback port.
pub async fn start_with(mut config: Config) -> (Node, SocketAddr) {
    config.resp.addr = ([127, 0, 0, 1], 0).into();
    let node = Node::builder(config).with_builtin_kinds().start().await.expect("node starts");
    let addr = node.resp_addr().expect("the node serves RESP");
    (node, addr)
}

pub async fn connect_url(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(PATIENCE))
        .set_response_timeout(Some(PATIENCE));
    client.get_multiplexed_async_connection_with_config(&config).await.expect("the redis crate connects")
}

/// A RESP2 connection (the `redis` crate's default).
pub async fn resp2(addr: SocketAddr) -> MultiplexedConnection {
    connect_url(&format!("redis://{addr}/")).await
}

/// A RESP3 connection: the client sends `HELLO 3` first.
pub async fn resp3(addr: SocketAddr) -> MultiplexedConnection {
    connect_url(&format!("redis://{addr}/?protocol=resp3")).await
}

/// Sends one command given as words; errors come back as
/// `Value::ServerError`, a lost connection or a timeout as `Err`.
pub async fn try_call<W: AsRef<str>>(
    con: &mut MultiplexedConnection,
    words: &[W],
) -> redis::RedisResult<Value> {
    let mut cmd = redis::Cmd::new();
    for word in words {
        cmd.arg(word.as_ref());
    }
    con.req_packed_command(&cmd).await
}

/// Sends one command, its words split on whitespace; the reply as [`show`]
/// renders it.
pub async fn run(con: &mut MultiplexedConnection, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    show(&call(con, &words).await)
}

/// [`try_call`] that panics without a reply.
pub async fn call<W: AsRef<str>>(con: &mut MultiplexedConnection, words: &[W]) -> Value {
    let names: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
    try_call(con, words).await.unwrap_or_else(|e| panic!("{names:?}: no reply: {e}"))
}

/// A compact rendering of a reply: `nil`, `3` (integer), `"text"` (bulk
/// string), `+OK` (status), `-ERR ...` (error, its full text), `1.5` (RESP3
/// double, always with a dot, or `inf`), `true`, `[a, b]` (array), `~[a]`
/// (RESP3 set), `{k: v}` (RESP3 map), `>Kind[...]` (push).
pub fn show(v: &Value) -> String {
    let list = |items: &[Value]| items.iter().map(show).collect::<Vec<_>>().join(", ");
    match v {
        Value::Nil => "nil".into(),
        Value::Int(i) => i.to_string(),
        Value::BulkString(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Value::SimpleString(s) => format!("+{s}"),
        Value::Okay => "+OK".into(),
        Value::Double(d) => format!("{d:?}"),
        Value::Boolean(b) => b.to_string(),
        Value::Array(items) => format!("[{}]", list(items)),
        Value::Set(items) => format!("~[{}]", list(items)),
        Value::Map(pairs) => {
            let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("{}: {}", show(k), show(v))).collect();
            format!("{{{}}}", pairs.join(", "))
        }
        Value::VerbatimString { text, .. } => format!("={text:?}"),
        Value::Push { kind, data } => format!(">{kind:?}[{}]", list(data)),
        Value::Attribute { data, .. } => show(data),
        Value::ServerError(e) => match e.details() {
            Some(detail) => format!("-{} {detail}", e.code()),
            None => format!("-{}", e.code()),
        },
        other => format!("{other:?}"),
    }
}

/// Waits until `n` clients are blocked (INFO `blocked_clients`), the
/// readiness signal Redis' own tests use before they push.
pub async fn wait_for_blocked(con: &mut MultiplexedConnection, n: usize) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let info = match call(con, &["INFO", "clients"]).await {
            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
            Value::VerbatimString { text, .. } => text,
            other => panic!("INFO clients: {}", show(&other)),
        };
        let blocked = info
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .unwrap_or_else(|| panic!("INFO clients has no blocked_clients field:\n{info}"));
        if blocked.trim() == n.to_string() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "blocked_clients stayed at {blocked}, expected {n}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A plain TCP connection, for exact bytes (pub/sub frames, RESP2 and
/// RESP3 reply shapes).
pub struct Raw {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        Raw { stream: tokio::net::TcpStream::connect(addr).await.expect("TCP connect"), buf: Vec::new() }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        tokio::io::AsyncWriteExt::write_all(&mut self.stream, bytes).await.expect("TCP write");
    }

    /// Reads one more chunk; false once the server has closed.
    async fn read_more(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let read = tokio::io::AsyncReadExt::read(&mut self.stream, &mut chunk);
        let n = tokio::time::timeout(PATIENCE, read)
            .await
            .unwrap_or_else(|_| panic!("no reply; so far: {:?}", String::from_utf8_lossy(&self.buf)))
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Reads exactly as many bytes as `expected` and compares them.
    pub async fn expect(&mut self, expected: &[u8]) {
        while self.buf.len() < expected.len() {
            assert!(
                self.read_more().await,
                "closed before {:?}; got {:?}",
                String::from_utf8_lossy(expected),
                String::from_utf8_lossy(&self.buf)
            );
        }
        let got: Vec<u8> = self.buf.drain(..expected.len()).collect();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expected));
    }

    /// Reads and drops everything up to and including `marker`.
    pub async fn skip_past(&mut self, marker: &[u8]) {
        loop {
            if let Some(at) = self.buf.windows(marker.len()).position(|w| w == marker) {
                self.buf.drain(..at + marker.len());
                return;
            }
            assert!(self.read_more().await, "closed before {:?}", String::from_utf8_lossy(marker));
        }
    }

    /// Switches to RESP3 and drops the HELLO reply (its id varies).
    pub async fn hello3(&mut self) {
        self.send(b"HELLO 3\r\nPING\r\n").await;
        self.skip_past(b"+PONG\r\n").await;
    }
}

/// Starts `redis-server` on a free loopback port without persistence, and
/// waits for "Ready to accept connections". The port is found by binding
/// port 0 and releasing it, so another process may take it first: then the
/// server exits and another port is tried.
pub async fn start_redis(dir: &std::path::Path) -> (tokio::process::Child, SocketAddr) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    for _ in 0..5 {
        let addr =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
        let mut child = tokio::process::Command::new("redis-server")
            .args(["--port", &addr.port().to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir", dir.to_str().expect("a UTF-8 path")])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut ready = false;
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("Ready to accept connections") {
                ready = true;
                break;
            }
        }
        if ready {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (child, addr);
        }
    }
    panic!("redis-server did not start on any of 5 ports");
}

/// A real redis-server and an Orbit node side by side, each with a
/// connection in the same protocol, for differential tests.
pub struct Peers {
    pub redis: MultiplexedConnection,
    pub orbit: MultiplexedConnection,
    /// Where each listens, for more connections.
    pub redis_addr: SocketAddr,
    pub orbit_addr: SocketAddr,
    pub node: Node,
    _server: tokio::process::Child,
    _dir: tempfile::TempDir,
}

/// [`Peers`]; `None` (the test skips with a message) when redis-server is
/// not installed, outside CI.
pub async fn peers(resp3: bool) -> Option<Peers> {
    if !super::require_program("redis-server") {
        return None;
    }
    Some(peers_with(resp3).await)
}

/// [`Peers`], redis-server required.
pub async fn peers_with(resp3: bool) -> Peers {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (server, redis_addr) = start_redis(dir.path()).await;
    let (node, orbit_addr) = start_with(Config::ephemeral()).await;
    let query = if resp3 { "?protocol=resp3" } else { "" };
    let redis = connect_url(&format!("redis://{redis_addr}/{query}")).await;
    let orbit = connect_url(&format!("redis://{orbit_addr}/{query}")).await;
    Peers { redis, orbit, redis_addr, orbit_addr, node, _server: server, _dir: dir }
}
