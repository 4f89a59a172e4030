//! The Redis front door over real sockets: the `redis` crate in RESP2 and
//! RESP3, raw TCP where the exact bytes matter, `redis-cli` itself when it is
//! installed, and the `orbit-server` binary across `kill -9`.
//!
//! Expected replies were taken from Redis 7.0 (`redis-server` and
//! `redis-cli`); where Orbit differs on purpose (it reports Redis 7.2) the
//! test says so.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{PATIENCE, call, connect_url, resp2, resp3, run, show, start_with};
use futures::StreamExt;
use orbit_server::config::Durability;
use orbit_server::{Config, Node};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Value};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------
// Harness

async fn start() -> (Node, SocketAddr) {
    start_with(Config::ephemeral()).await
}

/// `run`, with the elements of an array or set reply sorted (for replies
/// whose order Redis leaves unspecified).
async fn run_sorted(con: &mut MultiplexedConnection, line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match call(con, &words).await {
        Value::Array(items) | Value::Set(items) => {
            let mut items: Vec<String> = items.iter().map(show).collect();
            items.sort();
            format!("[{}]", items.join(", "))
        }
        other => show(&other),
    }
}

/// The text of a bulk, status or verbatim reply.
fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("expected text, got {}", show(other)),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("expected an integer, got {}", show(other)),
    }
}

/// Runs a cursor command (SCAN, HSCAN, SSCAN, ZSCAN) from cursor 0 until the
/// server returns cursor 0; returns every element returned, in order.
async fn scan_all(con: &mut MultiplexedConnection, command: &[&str], options: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        let mut words: Vec<&str> = command.to_vec();
        words.push(&cursor);
        words.extend_from_slice(options);
        let reply = call(con, &words).await;
        let Value::Array(parts) = &reply else { panic!("{words:?}: {}", show(&reply)) };
        let [next, Value::Array(items)] = parts.as_slice() else { panic!("{words:?}: {}", show(&reply)) };
        seen.extend(items.iter().map(text));
        cursor = text(next);
        if cursor == "0" {
            return seen;
        }
    }
    panic!("{command:?} did not finish in 10000 calls");
}

/// Waits until `n` clients are blocked (INFO `blocked_clients`), the
/// readiness signal Redis' own tests use before they push.
async fn wait_for_blocked(con: &mut MultiplexedConnection, n: usize) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let info = text(&call(con, &["INFO", "clients"]).await);
        let blocked = info
            .lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .unwrap_or_else(|| panic!("INFO clients has no blocked_clients field:\n{info}"));
        if blocked.trim() == n.to_string() {
            return;
        }
        assert!(Instant::now() < deadline, "blocked_clients stayed at {blocked}, expected {n}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A plain TCP connection, for exact bytes.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Raw {
        Raw { stream: TcpStream::connect(addr).await.expect("TCP connect"), buf: Vec::new() }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Reads one more chunk; false once the server has closed.
    async fn read_more(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("no reply; so far: {:?}", String::from_utf8_lossy(&self.buf)))
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Reads exactly as many bytes as `expected` and compares them.
    async fn expect(&mut self, expected: &[u8]) {
        while self.buf.len() < expected.len() {
            if !self.read_more().await {
                panic!(
                    "closed before {:?}; got {:?}",
                    String::from_utf8_lossy(expected),
                    String::from_utf8_lossy(&self.buf)
                );
            }
        }
        let got: Vec<u8> = self.buf.drain(..expected.len()).collect();
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expected));
    }

    /// Reads and drops everything up to and including `marker`.
    async fn skip_past(&mut self, marker: &[u8]) {
        loop {
            if let Some(at) = self.buf.windows(marker.len()).position(|w| w == marker) {
                self.buf.drain(..at + marker.len());
                return;
            }
            assert!(self.read_more().await, "closed before {:?}", String::from_utf8_lossy(marker));
        }
    }

    /// Switches to RESP3 and drops the HELLO reply (its id varies).
    async fn hello3(&mut self) {
        self.send(b"HELLO 3\r\nPING\r\n").await;
        self.skip_past(b"+PONG\r\n").await;
    }

    /// Everything the server sends until it closes the connection.
    async fn read_to_close(&mut self) -> Vec<u8> {
        while self.read_more().await {}
        std::mem::take(&mut self.buf)
    }
}

// ---------------------------------------------------------------------------
// Connection and server

#[tokio::test]
async fn ping_and_echo_reply_like_redis() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "PING").await, "+PONG");
    assert_eq!(run(&mut c, "PING hello").await, r#""hello""#);
    assert_eq!(run(&mut c, "ECHO hi").await, r#""hi""#);
    assert_eq!(run(&mut c, "ECHO").await, "-ERR wrong number of arguments for 'echo' command");
    assert_eq!(run(&mut c, "PING a b").await, "-ERR wrong number of arguments for 'ping' command");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn hello_3_replies_with_the_server_map_and_switches_protocol() {
    let (node, addr) = start().await;
    let mut c = resp3(addr).await;
    let id = int(&call(&mut c, &["CLIENT", "ID"]).await);
    let reply = call(&mut c, &["HELLO", "3"]).await;
    let Value::Map(pairs) = &reply else { panic!("HELLO 3 is not a map: {}", show(&reply)) };
    let fields: HashMap<String, String> = pairs.iter().map(|(k, v)| (text(k), show(v))).collect();
    assert_eq!(fields["server"], r#""redis""#);
    assert!(fields["version"].starts_with(r#""7.2"#), "{}", fields["version"]);
    assert_eq!(fields["proto"], "3");
    assert_eq!(fields["id"], id.to_string());
    assert_eq!(fields["mode"], r#""standalone""#);
    assert_eq!(fields["role"], r#""master""#);
    assert_eq!(fields["modules"], "[]");
    assert_eq!(fields.len(), 7, "{}", show(&reply));
    assert_eq!(run(&mut c, "HELLO 4").await, "-NOPROTO unsupported protocol version");
    let renamed = run(&mut c, "HELLO 3 SETNAME named").await;
    assert!(renamed.contains(r#""proto": 3"#), "{renamed}");
    assert_eq!(run(&mut c, "CLIENT GETNAME").await, r#""named""#);

    // HELLO without a version reports the current protocol, flat in RESP2.
    let mut c2 = resp2(addr).await;
    let reply = call(&mut c2, &["HELLO"]).await;
    let Value::Array(items) = &reply else { panic!("RESP2 HELLO is not an array: {}", show(&reply)) };
    assert_eq!(items.len(), 14, "{}", show(&reply));
    assert_eq!(show(&items[0]), r#""server""#);
    assert_eq!(show(&items[1]), r#""redis""#);
    assert_eq!(show(&items[4]), r#""proto""#);
    assert_eq!(show(&items[5]), "2");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn resp2_and_resp3_encode_nulls_doubles_maps_and_sets_like_redis() {
    let (node, addr) = start().await;
    let mut v2 = Raw::connect(addr).await;
    v2.send(b"GET missing\r\nLPOP missing 2\r\nZADD z 1.5 m\r\nZSCORE z m\r\nHSET h f v\r\nHGETALL h\r\nSADD s a\r\nSMEMBERS s\r\n")
        .await;
    v2.expect(b"$-1\r\n*-1\r\n:1\r\n$3\r\n1.5\r\n:1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n:1\r\n*1\r\n$1\r\na\r\n")
        .await;
    v2.send(b"ZRANGE z 0 -1 WITHSCORES\r\n").await;
    v2.expect(b"*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n").await;

    let mut v3 = Raw::connect(addr).await;
    v3.hello3().await;
    v3.send(b"GET missing\r\nLPOP missing 2\r\nZSCORE z m\r\nHGETALL h\r\nSMEMBERS s\r\nZRANGE z 0 -1 WITHSCORES\r\n").await;
    v3.expect(
        b"_\r\n_\r\n,1.5\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n~1\r\n$1\r\na\r\n*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n",
    )
    .await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn select_isolates_databases_and_dbsize_flushdb_count_per_database() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "MSET k zero a 1 b 2").await, "+OK");
    assert_eq!(run(&mut c, "SELECT 1").await, "+OK");
    assert_eq!(run(&mut c, "GET k").await, "nil");
    assert_eq!(run(&mut c, "SET k one").await, "+OK");
    assert_eq!(run(&mut c, "RPUSH l x").await, "1");
    assert_eq!(run(&mut c, "DBSIZE").await, "2");
    assert_eq!(run(&mut c, "SELECT 0").await, "+OK");
    assert_eq!(run(&mut c, "GET k").await, r#""zero""#);
    assert_eq!(run(&mut c, "DBSIZE").await, "3");
    assert_eq!(run(&mut c, "SELECT 16").await, "-ERR DB index is out of range");
    assert_eq!(run(&mut c, "SELECT x").await, "-ERR value is not an integer or out of range");

    // The database in the URL is sent as SELECT by the client.
    let mut db1 = connect_url(&format!("redis://{addr}/1")).await;
    assert_eq!(run(&mut db1, "GET k").await, r#""one""#);
    assert_eq!(run(&mut db1, "FLUSHDB").await, "+OK");
    assert_eq!(run(&mut db1, "DBSIZE").await, "0");
    assert_eq!(run(&mut c, "DBSIZE").await, "3", "FLUSHDB in db 1 touched db 0");
    assert_eq!(run(&mut db1, "SET k again").await, "+OK");
    assert_eq!(run(&mut c, "FLUSHALL").await, "+OK");
    assert_eq!(run(&mut c, "DBSIZE").await, "0");
    assert_eq!(run(&mut db1, "DBSIZE").await, "0", "FLUSHALL left db 1");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_setname_getname_id_and_list() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut other = resp2(addr).await;
    assert_eq!(run(&mut c, "CLIENT GETNAME").await, "nil");
    assert_eq!(run(&mut c, "CLIENT SETNAME worker-1").await, "+OK");
    assert_eq!(run(&mut c, "CLIENT GETNAME").await, r#""worker-1""#);
    assert_eq!(
        show(&call(&mut c, &["CLIENT", "SETNAME", "a b"]).await),
        "-ERR Client names cannot contain spaces, newlines or special characters."
    );
    let id = int(&call(&mut c, &["CLIENT", "ID"]).await);
    let other_id = int(&call(&mut other, &["CLIENT", "ID"]).await);
    assert_ne!(id, other_id);

    let list = text(&call(&mut other, &["CLIENT", "LIST"]).await);
    let line = list
        .lines()
        .find(|l| l.starts_with(&format!("id={id} ")))
        .unwrap_or_else(|| panic!("CLIENT LIST has no id={id}:\n{list}"));
    assert!(line.contains(" name=worker-1 "), "{line}");
    assert!(line.contains(" db=0 "), "{line}");
    assert!(list.lines().any(|l| l.starts_with(&format!("id={other_id} "))), "{list}");
    assert_eq!(list.lines().count(), 2, "{list}");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn info_reports_redis_version_7_2_and_sections() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let info = text(&call(&mut c, &["INFO"]).await);
    assert!(info.contains("redis_version:7.2"), "{info}");
    assert!(info.contains("# Server\r\n"), "{info}");
    let server = text(&call(&mut c, &["INFO", "server"]).await);
    assert!(server.starts_with("# Server\r\n") && !server.contains("# Clients"), "{server}");
    // A node without a cluster says so, in INFO and in INFO cluster alone.
    assert!(info.contains("# Cluster\r\ncluster_enabled:0\r\n"), "{info}");
    let cluster = text(&call(&mut c, &["INFO", "cluster"]).await);
    assert_eq!(cluster, "# Cluster\r\ncluster_enabled:0\r\n");
    // In RESP3, INFO is a verbatim string.
    let mut c3 = resp3(addr).await;
    let reply = call(&mut c3, &["INFO", "server"]).await;
    assert!(matches!(reply, Value::VerbatimString { .. }), "{}", show(&reply));
    assert!(text(&reply).contains("redis_version:7.2"));
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn config_get_reports_save_and_appendonly_for_redis_benchmark() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "CONFIG GET save").await, r#"["save", ""]"#);
    assert_eq!(run(&mut c, "CONFIG GET appendonly").await, r#"["appendonly", "yes"]"#);
    assert_eq!(run(&mut c, "CONFIG GET appendfsync").await, r#"["appendfsync", "always"]"#);
    assert_eq!(run(&mut c, "CONFIG GET no-such-parameter").await, "[]");
    let mut c3 = resp3(addr).await;
    assert_eq!(run(&mut c3, "CONFIG GET appendonly").await, r#"{"appendonly": "yes"}"#);
    node.shutdown().await.unwrap();

    let mut config = Config::ephemeral();
    config.storage.durability = Durability::None;
    let (node, addr) = start_with(config).await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "CONFIG GET appendonly").await, r#"["appendonly", "no"]"#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn command_count_time_and_unknown_commands() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let count = int(&call(&mut c, &["COMMAND", "COUNT"]).await);
    assert_eq!(count as usize, orbit_protocols::resp::table::all().len());
    assert!(count > 100, "only {count} commands");
    let Value::Array(list) = call(&mut c, &["COMMAND", "LIST"]).await else { panic!("COMMAND LIST") };
    // As Redis 7.2: COUNT counts commands, LIST adds their subcommands.
    let names: Vec<String> = list.iter().map(text).collect();
    assert_eq!(names.iter().filter(|n| !n.contains('|')).count() as i64, count);
    assert!(names.iter().any(|n| n == "config|get"), "{names:?}");

    let reply = call(&mut c, &["TIME"]).await;
    let Value::Array(parts) = &reply else { panic!("TIME: {}", show(&reply)) };
    let secs: u64 = text(&parts[0]).parse().unwrap();
    let micros: u64 = text(&parts[1]).parse().unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert!(secs.abs_diff(now) <= 5, "TIME {secs} vs {now}");
    assert!(micros < 1_000_000);
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Errors and framing, byte for byte

#[tokio::test]
async fn unknown_commands_and_wrong_arity_get_redis_error_texts() {
    let (node, addr) = start().await;
    let mut raw = Raw::connect(addr).await;
    raw.send(b"foo\r\n").await;
    raw.expect(b"-ERR unknown command 'foo', with args beginning with: \r\n").await;
    raw.send(b"*3\r\n$3\r\nFOO\r\n$1\r\na\r\n$1\r\nb\r\n").await;
    raw.expect(b"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n").await;
    raw.send(b"*1\r\n$3\r\nGET\r\n").await;
    raw.expect(b"-ERR wrong number of arguments for 'get' command\r\n").await;
    raw.send(b"*4\r\n$3\r\nget\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n").await;
    raw.expect(b"-ERR wrong number of arguments for 'get' command\r\n").await;
    // The connection is still usable after command errors.
    raw.send(b"PING\r\n").await;
    raw.expect(b"+PONG\r\n").await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn subcommand_errors_use_the_redis_7_texts() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    for (line, error) in [
        ("CLIENT FOO", "-ERR unknown subcommand 'FOO'. Try CLIENT HELP."),
        ("ACL FOO", "-ERR unknown subcommand 'FOO'. Try ACL HELP."),
        ("PUBSUB FOO", "-ERR unknown subcommand 'FOO'. Try PUBSUB HELP."),
        ("CONFIG GET", "-ERR wrong number of arguments for 'config|get' command"),
        ("CLIENT SETNAME", "-ERR wrong number of arguments for 'client|setname' command"),
        ("CLIENT KILL", "-ERR wrong number of arguments for 'client|kill' command"),
        ("ACL WHOAMI x", "-ERR wrong number of arguments for 'acl|whoami' command"),
        ("PUBSUB NUMPAT x", "-ERR wrong number of arguments for 'pubsub|numpat' command"),
        ("COMMAND COUNT x", "-ERR wrong number of arguments for 'command|count' command"),
    ] {
        assert_eq!(run(&mut c, line).await, error, "{line}");
    }
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_protocol_error_is_reported_and_closes_the_connection() {
    let (node, addr) = start().await;
    let mut raw = Raw::connect(addr).await;
    raw.send(b"*1\r\n$-5\r\n").await;
    let rest = raw.read_to_close().await;
    assert_eq!(String::from_utf8_lossy(&rest), "-ERR Protocol error: invalid bulk length\r\n");
    // The server itself is fine.
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "PING").await, "+PONG");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn inline_commands_work_like_redis_benchmark_sends_them() {
    let (node, addr) = start().await;
    let mut raw = Raw::connect(addr).await;
    raw.send(b"PING\r\n").await;
    raw.expect(b"+PONG\r\n").await;
    raw.send(b"SET greeting \"hello world\"\r\nGET greeting\r\n").await;
    raw.expect(b"+OK\r\n$11\r\nhello world\r\n").await;
    // An inline command split across two TCP writes.
    raw.send(b"EC").await;
    raw.send(b"HO x\n").await;
    raw.expect(b"$1\r\nx\r\n").await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_10000_command_pipeline_returns_replies_in_order() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut pipe = redis::pipe();
    let mut expected = Vec::new();
    let mut counts = [0i64; 10];
    for i in 0..10_000usize {
        if i % 2 == 0 {
            pipe.cmd("ECHO").arg(i.to_string());
            expected.push(format!("\"{i}\""));
        } else {
            let k = i % 10;
            pipe.cmd("INCR").arg(format!("counter:{k}"));
            counts[k] += 1;
            expected.push(counts[k].to_string());
        }
    }
    let replies = c.req_packed_commands(&pipe, 0, 10_000).await.expect("pipeline replies");
    let replies: Vec<String> = replies.iter().map(show).collect();
    assert_eq!(replies.len(), 10_000);
    for (i, (got, want)) in replies.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "reply {i} out of order");
    }
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Strings

#[tokio::test]
async fn set_options_nx_xx_get_ex_px_keepttl() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SET k v").await, "+OK");
    assert_eq!(run(&mut c, "SET k w NX").await, "nil");
    assert_eq!(run(&mut c, "SET k w XX GET").await, r#""v""#);
    assert_eq!(run(&mut c, "GET k").await, r#""w""#);
    assert_eq!(run(&mut c, "SET fresh v XX").await, "nil");
    assert_eq!(run(&mut c, "EXISTS fresh").await, "0");
    assert_eq!(run(&mut c, "SET fresh v NX GET").await, "nil");
    assert_eq!(run(&mut c, "GET fresh").await, r#""v""#);
    assert_eq!(run(&mut c, "SET k v NX XX").await, "-ERR syntax error");
    assert_eq!(run(&mut c, "SET k v EX 0").await, "-ERR invalid expire time in 'set' command");
    assert_eq!(run(&mut c, "SET k v EX ten").await, "-ERR value is not an integer or out of range");

    assert_eq!(run(&mut c, "SET t v EX 100").await, "+OK");
    let ttl = int(&call(&mut c, &["TTL", "t"]).await);
    assert!((99..=100).contains(&ttl), "TTL {ttl}");
    assert_eq!(run(&mut c, "SET t v2 KEEPTTL").await, "+OK");
    let ttl = int(&call(&mut c, &["TTL", "t"]).await);
    assert!((98..=100).contains(&ttl), "KEEPTTL lost the TTL: {ttl}");
    assert_eq!(run(&mut c, "SET t v3").await, "+OK");
    assert_eq!(run(&mut c, "TTL t").await, "-1", "a plain SET keeps a TTL");
    assert_eq!(run(&mut c, "SET p v PX 100000").await, "+OK");
    let pttl = int(&call(&mut c, &["PTTL", "p"]).await);
    assert!((90_000..=100_000).contains(&pttl), "PTTL {pttl}");

    assert_eq!(run(&mut c, "RPUSH list x").await, "1");
    assert_eq!(
        run(&mut c, "SET list v GET").await,
        "-WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(run(&mut c, "SET list v").await, "+OK", "SET overwrites any type");
    assert_eq!(run(&mut c, "TYPE list").await, "+string");

    // Values are binary-safe.
    let binary: &[u8] = b"a\r\nb\0c\xff";
    let stored: Value = c.req_packed_command(redis::cmd("SET").arg("bin").arg(binary)).await.unwrap();
    assert_eq!(stored, Value::Okay);
    let got: Value = c.req_packed_command(redis::cmd("GET").arg("bin")).await.unwrap();
    assert_eq!(got, Value::BulkString(binary.to_vec()));
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn incr_family_and_its_exact_errors() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "INCR c").await, "1");
    assert_eq!(run(&mut c, "INCRBY c 10").await, "11");
    assert_eq!(run(&mut c, "DECR c").await, "10");
    assert_eq!(run(&mut c, "DECRBY c 3").await, "7");
    assert_eq!(run(&mut c, "INCRBYFLOAT c 0.5").await, r#""7.5""#);
    assert_eq!(run(&mut c, "INCR c").await, "-ERR value is not an integer or out of range");
    assert_eq!(run(&mut c, "SET s abc").await, "+OK");
    assert_eq!(run(&mut c, "INCR s").await, "-ERR value is not an integer or out of range");
    assert_eq!(run(&mut c, "INCRBY n x").await, "-ERR value is not an integer or out of range");
    assert_eq!(run(&mut c, "SET big 9223372036854775807").await, "+OK");
    assert_eq!(run(&mut c, "INCR big").await, "-ERR increment or decrement would overflow");
    assert_eq!(run(&mut c, "GET big").await, r#""9223372036854775807""#);
    assert_eq!(run(&mut c, "INCRBYFLOAT s 1").await, "-ERR value is not a valid float");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn mset_mget_append_getrange_setrange() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "MSET a 1 b 2").await, "+OK");
    assert_eq!(run(&mut c, "MGET a b nope").await, r#"["1", "2", nil]"#);
    assert_eq!(run(&mut c, "MSET a 1 b").await, "-ERR wrong number of arguments for 'mset' command");
    assert_eq!(run(&mut c, "MSETNX a 9 z 9").await, "0");
    assert_eq!(run(&mut c, "EXISTS z").await, "0");
    assert_eq!(run(&mut c, "APPEND a xyz").await, "4");
    assert_eq!(run(&mut c, "APPEND new tail").await, "4");
    assert_eq!(run(&mut c, "GETRANGE a 1 2").await, r#""xy""#);
    assert_eq!(run(&mut c, "GETRANGE a -2 -1").await, r#""yz""#);
    assert_eq!(run(&mut c, "GETRANGE a 5 10").await, r#""""#);
    assert_eq!(run(&mut c, "SETRANGE a 6 Q").await, "7");
    assert_eq!(run(&mut c, "GET a").await, r#""1xyz\0\0Q""#);
    assert_eq!(run(&mut c, "STRLEN a").await, "7");
    assert_eq!(run(&mut c, "RPUSH l x").await, "1");
    assert_eq!(run(&mut c, "MGET a l").await, r#"["1xyz\0\0Q", nil]"#, "MGET gives nil for other types");
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Keys

#[tokio::test]
async fn del_exists_ttl_expire_options_and_persist() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "MSET a 1 b 2 c 3").await, "+OK");
    assert_eq!(run(&mut c, "DEL a b nope").await, "2");
    assert_eq!(run(&mut c, "EXISTS c c nope c").await, "3", "EXISTS counts duplicates");
    assert_eq!(run(&mut c, "TTL c").await, "-1");
    assert_eq!(run(&mut c, "TTL nope").await, "-2");
    assert_eq!(run(&mut c, "PTTL nope").await, "-2");
    assert_eq!(run(&mut c, "EXPIRE c 100 XX").await, "0");
    assert_eq!(run(&mut c, "EXPIRE c 100 NX").await, "1");
    assert_eq!(run(&mut c, "EXPIRE c 100 NX").await, "0");
    assert_eq!(run(&mut c, "EXPIRE c 50 GT").await, "0");
    assert_eq!(run(&mut c, "EXPIRE c 200 GT").await, "1");
    assert_eq!(run(&mut c, "EXPIRE c 300 LT").await, "0");
    assert_eq!(run(&mut c, "EXPIRE c 150 LT").await, "1");
    let ttl = int(&call(&mut c, &["TTL", "c"]).await);
    assert!((148..=150).contains(&ttl), "TTL {ttl}");
    assert_eq!(
        run(&mut c, "EXPIRE c 10 NX XX").await,
        "-ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(run(&mut c, "EXPIRE c 10 foo").await, "-ERR Unsupported option foo");
    assert_eq!(run(&mut c, "PERSIST c").await, "1");
    assert_eq!(run(&mut c, "PERSIST c").await, "0");
    assert_eq!(run(&mut c, "TTL c").await, "-1");
    assert_eq!(run(&mut c, "EXPIRE nope 10").await, "0");
    assert_eq!(run(&mut c, "EXPIRE c -1").await, "1", "a past expiry deletes");
    assert_eq!(run(&mut c, "EXISTS c").await, "0");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn type_rename_renamenx_copy_and_wrongtype() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, "SET s v").await;
    run(&mut c, "RPUSH l x").await;
    run(&mut c, "HSET h f v").await;
    run(&mut c, "SADD set m").await;
    run(&mut c, "ZADD z 1 m").await;
    for (key, ty) in
        [("s", "string"), ("l", "list"), ("h", "hash"), ("set", "set"), ("z", "zset"), ("nope", "none")]
    {
        assert_eq!(run(&mut c, &format!("TYPE {key}")).await, format!("+{ty}"));
    }
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(run(&mut c, "GET l").await, wrongtype);
    assert_eq!(run(&mut c, "LPUSH s x").await, wrongtype);
    assert_eq!(run(&mut c, "HGET set f").await, wrongtype);
    assert_eq!(run(&mut c, "SADD z m").await, wrongtype);
    assert_eq!(run(&mut c, "ZADD h 1 m").await, wrongtype);
    assert_eq!(run(&mut c, "INCR l").await, wrongtype);

    assert_eq!(run(&mut c, "SET t v EX 100").await, "+OK");
    assert_eq!(run(&mut c, "RENAME t t2").await, "+OK");
    assert_eq!(run(&mut c, "EXISTS t").await, "0");
    let ttl = int(&call(&mut c, &["TTL", "t2"]).await);
    assert!((98..=100).contains(&ttl), "RENAME lost the TTL: {ttl}");
    assert_eq!(run(&mut c, "RENAME nope x").await, "-ERR no such key");
    assert_eq!(run(&mut c, "RENAME s s").await, "+OK");
    assert_eq!(run(&mut c, "RENAMENX s l").await, "0");
    assert_eq!(run(&mut c, "RENAMENX s s2").await, "1");
    assert_eq!(run(&mut c, "GET s2").await, r#""v""#);
    assert_eq!(run(&mut c, "RENAME h l").await, "+OK", "RENAME overwrites any type");
    assert_eq!(run(&mut c, "TYPE l").await, "+hash");

    assert_eq!(run(&mut c, "COPY s2 c").await, "1");
    assert_eq!(run(&mut c, "COPY s2 c").await, "0");
    assert_eq!(run(&mut c, "COPY z c REPLACE").await, "1");
    assert_eq!(run(&mut c, "TYPE c").await, "+zset");
    assert_eq!(run(&mut c, "ZADD c 2 n").await, "1");
    assert_eq!(run(&mut c, "ZCARD z").await, "1", "a copy is independent of its source");
    assert_eq!(run(&mut c, "COPY nope c2").await, "0");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn scan_with_match_count_type_visits_every_key_exactly_once() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut pipe = redis::pipe();
    let mut users = BTreeSet::new();
    let mut hashes = BTreeSet::new();
    let mut all = BTreeSet::new();
    for i in 0..60 {
        pipe.cmd("SET").arg(format!("user:{i}")).arg(i).ignore();
        pipe.cmd("HSET").arg(format!("user:h{i}")).arg("f").arg(i).ignore();
        pipe.cmd("SADD").arg(format!("other:{i}")).arg(i).ignore();
        users.extend([format!("user:{i}"), format!("user:h{i}")]);
        hashes.insert(format!("user:h{i}"));
        all.extend([format!("user:{i}"), format!("user:h{i}"), format!("other:{i}")]);
    }
    pipe.query_async::<()>(&mut c).await.unwrap();

    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let everything = sorted(scan_all(&mut c, &["SCAN"], &[]).await);
    assert_eq!(everything, all.iter().cloned().collect::<Vec<_>>());
    let matched = sorted(scan_all(&mut c, &["SCAN"], &["MATCH", "user:*", "COUNT", "7"]).await);
    assert_eq!(matched, users.iter().cloned().collect::<Vec<_>>());
    let typed = sorted(scan_all(&mut c, &["SCAN"], &["MATCH", "user:*", "COUNT", "5", "TYPE", "hash"]).await);
    assert_eq!(typed, hashes.iter().cloned().collect::<Vec<_>>());
    let none = scan_all(&mut c, &["SCAN"], &["MATCH", "nobody:*"]).await;
    assert!(none.is_empty(), "{none:?}");

    let keys = run_sorted(&mut c, "KEYS user:1?").await;
    let want: Vec<String> = (10..20).map(|i| format!("\"user:{i}\"")).collect();
    assert_eq!(keys, format!("[{}]", want.join(", ")));
    assert_eq!(run(&mut c, "DBSIZE").await, "180");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn randomkey_returns_nil_then_an_existing_key() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "RANDOMKEY").await, "nil");
    run(&mut c, "SET only v").await;
    assert_eq!(run(&mut c, "RANDOMKEY").await, r#""only""#);
    run(&mut c, "SET second v").await;
    let key = run(&mut c, "RANDOMKEY").await;
    assert!(key == r#""only""# || key == r#""second""#, "{key}");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_key_set_with_px_50_is_gone_after_it_expires() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SET tmp v PX 50").await, "+OK");
    assert_eq!(run(&mut c, "SET keep v").await, "+OK");
    // Expiry is the behaviour under test: real time must pass.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(run(&mut c, "GET tmp").await, "nil");
    assert_eq!(run(&mut c, "TTL tmp").await, "-2");
    assert_eq!(run(&mut c, "EXISTS tmp").await, "0");
    assert_eq!(run(&mut c, "KEYS *").await, r#"["keep"]"#);
    assert_eq!(scan_all(&mut c, &["SCAN"], &[]).await, vec!["keep".to_string()]);
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Hashes

#[tokio::test]
async fn hash_commands_follow_redis() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "HSET h a 1 b 2 c 3").await, "3");
    assert_eq!(run(&mut c, "HSET h a 10 d 4").await, "1");
    assert_eq!(run(&mut c, "HGET h a").await, r#""10""#);
    assert_eq!(run(&mut c, "HGET h nope").await, "nil");
    assert_eq!(run(&mut c, "HMGET h a nope d").await, r#"["10", nil, "4"]"#);
    assert_eq!(run(&mut c, "HDEL h b nope").await, "1");
    assert_eq!(run(&mut c, "HLEN h").await, "3");
    assert_eq!(run(&mut c, "HEXISTS h b").await, "0");
    assert_eq!(run(&mut c, "HEXISTS h a").await, "1");
    assert_eq!(run(&mut c, "HINCRBY h a 5").await, "15");
    assert_eq!(run(&mut c, "HINCRBY h new 5").await, "5");
    assert_eq!(run(&mut c, "HINCRBY h d x").await, "-ERR value is not an integer or out of range");
    assert_eq!(run(&mut c, "HINCRBYFLOAT h a 0.5").await, r#""15.5""#);
    assert_eq!(run(&mut c, "HINCRBY h a 1").await, "-ERR hash value is not an integer");
    assert_eq!(run(&mut c, "HSETNX h a 1").await, "0");
    assert_eq!(run(&mut c, "HSETNX h e 5").await, "1");
    assert_eq!(run(&mut c, "HSTRLEN h a").await, "4");
    assert_eq!(run(&mut c, "HSET h2 f").await, "-ERR wrong number of arguments for 'hset' command");
    assert_eq!(run(&mut c, "HSET big n 9223372036854775807").await, "1");
    assert_eq!(run(&mut c, "HINCRBY big n 1").await, "-ERR increment or decrement would overflow");

    // HGETALL: flat field, value pairs in RESP2, a map in RESP3.
    let Value::Array(flat) = call(&mut c, &["HGETALL", "h"]).await else { panic!("HGETALL") };
    let mut pairs: Vec<(String, String)> = flat.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect();
    pairs.sort();
    let want = [("a", "15.5"), ("c", "3"), ("d", "4"), ("e", "5"), ("new", "5")];
    assert_eq!(pairs, want.map(|(f, v)| (f.to_string(), v.to_string())));
    assert_eq!(run_sorted(&mut c, "HKEYS h").await, r#"["a", "c", "d", "e", "new"]"#);
    assert_eq!(run_sorted(&mut c, "HVALS h").await, r#"["15.5", "3", "4", "5", "5"]"#);
    let mut fields = scan_all(&mut c, &["HSCAN", "h"], &["COUNT", "2"]).await;
    assert_eq!(fields.len(), 10, "HSCAN returns field, value pairs: {fields:?}");
    fields = fields.chunks(2).map(|p| p[0].clone()).collect();
    fields.sort();
    assert_eq!(fields, ["a", "c", "d", "e", "new"]);
    let mut c3 = resp3(addr).await;
    let map = call(&mut c3, &["HGETALL", "h"]).await;
    assert!(matches!(&map, Value::Map(p) if p.len() == 5), "{}", show(&map));
    assert_eq!(run(&mut c3, "HGETALL nope").await, "{}");

    assert_eq!(run(&mut c, "HDEL h a c d e new").await, "5");
    assert_eq!(run(&mut c, "EXISTS h").await, "0", "an empty hash is deleted");
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Lists

#[tokio::test]
async fn list_commands_follow_redis() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "RPUSH l a b c").await, "3");
    assert_eq!(run(&mut c, "LPUSH l z").await, "4");
    assert_eq!(run(&mut c, "LRANGE l 0 -1").await, r#"["z", "a", "b", "c"]"#);
    assert_eq!(run(&mut c, "LPUSHX nope x").await, "0");
    assert_eq!(run(&mut c, "EXISTS nope").await, "0");
    assert_eq!(run(&mut c, "RPUSHX l d").await, "5");
    assert_eq!(run(&mut c, "LLEN l").await, "5");
    assert_eq!(run(&mut c, "LINDEX l -1").await, r#""d""#);
    assert_eq!(run(&mut c, "LINDEX l 10").await, "nil");
    assert_eq!(run(&mut c, "LSET l 0 Z").await, "+OK");
    assert_eq!(run(&mut c, "LSET l 10 x").await, "-ERR index out of range");
    assert_eq!(run(&mut c, "LSET nope 0 x").await, "-ERR no such key");
    assert_eq!(run(&mut c, "LINSERT l BEFORE b B").await, "6");
    assert_eq!(run(&mut c, "LINSERT l AFTER nope x").await, "-1");
    assert_eq!(run(&mut c, "LREM l 0 B").await, "1");
    assert_eq!(run(&mut c, "RPUSH l a a").await, "7");
    assert_eq!(run(&mut c, "LREM l -1 a").await, "1");
    assert_eq!(run(&mut c, "LRANGE l 0 -1").await, r#"["Z", "a", "b", "c", "d", "a"]"#);
    assert_eq!(run(&mut c, "LPOS l a").await, "1");
    assert_eq!(run(&mut c, "LPOS l a RANK 2").await, "5");
    assert_eq!(run(&mut c, "LPOS l a COUNT 0").await, "[1, 5]");
    assert_eq!(run(&mut c, "LPOS l nope").await, "nil");
    assert_eq!(run(&mut c, "LTRIM l 1 -2").await, "+OK");
    assert_eq!(run(&mut c, "LRANGE l 0 -1").await, r#"["a", "b", "c", "d"]"#);
    assert_eq!(run(&mut c, "LRANGE l 5 10").await, "[]");
    assert_eq!(run(&mut c, "LPOP l").await, r#""a""#);
    assert_eq!(run(&mut c, "RPOP l 2").await, r#"["d", "c"]"#);
    assert_eq!(run(&mut c, "LPOP l 10").await, r#"["b"]"#);
    assert_eq!(run(&mut c, "EXISTS l").await, "0", "an empty list is deleted");
    assert_eq!(run(&mut c, "LPOP l").await, "nil");
    assert_eq!(run(&mut c, "LPOP l 2").await, "nil");

    assert_eq!(run(&mut c, "RPUSH src 1 2 3").await, "3");
    assert_eq!(run(&mut c, "LMOVE src dst LEFT RIGHT").await, r#""1""#);
    assert_eq!(run(&mut c, "LMOVE src dst RIGHT LEFT").await, r#""3""#);
    assert_eq!(run(&mut c, "LRANGE dst 0 -1").await, r#"["3", "1"]"#);
    assert_eq!(run(&mut c, "RPOPLPUSH src src").await, r#""2""#);
    assert_eq!(run(&mut c, "LRANGE src 0 -1").await, r#"["2"]"#);
    assert_eq!(run(&mut c, "LMOVE nope dst LEFT LEFT").await, "nil");
    run(&mut c, "SET str v").await;
    assert_eq!(
        run(&mut c, "LMOVE src str LEFT LEFT").await,
        "-WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(run(&mut c, "LLEN src").await, "1", "a failed LMOVE pops nothing");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn moving_from_a_missing_list_returns_nil_whatever_the_destination_holds() {
    // Redis looks at the source first: nothing to move, no type check.
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, "SET str v").await;
    assert_eq!(run(&mut c, "LMOVE nope str LEFT RIGHT").await, "nil");
    assert_eq!(run(&mut c, "RPOPLPUSH nope str").await, "nil");
    assert_eq!(run(&mut c, "BLMOVE nope str LEFT LEFT 0.01").await, "nil");
    assert_eq!(run(&mut c, "BRPOPLPUSH nope str 0.01").await, "nil");
    run(&mut c, "RPUSH l x").await;
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(run(&mut c, "LMOVE l str LEFT LEFT").await, wrongtype);
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Sets

#[tokio::test]
async fn set_commands_and_set_algebra_follow_redis() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SADD a 1 2 3 4").await, "4");
    assert_eq!(run(&mut c, "SADD a 1").await, "0");
    assert_eq!(run(&mut c, "SADD b 3 4 5").await, "3");
    assert_eq!(run(&mut c, "SADD c 4 6").await, "2");
    assert_eq!(run_sorted(&mut c, "SINTER a b c").await, r#"["4"]"#);
    assert_eq!(run_sorted(&mut c, "SUNION a b").await, r#"["1", "2", "3", "4", "5"]"#);
    assert_eq!(run_sorted(&mut c, "SDIFF a b c").await, r#"["1", "2"]"#);
    assert_eq!(run_sorted(&mut c, "SINTER a nope").await, "[]");
    assert_eq!(run(&mut c, "SINTERSTORE d a b").await, "2");
    assert_eq!(run_sorted(&mut c, "SMEMBERS d").await, r#"["3", "4"]"#);
    assert_eq!(run(&mut c, "SUNIONSTORE e a nope").await, "4");
    assert_eq!(run(&mut c, "SDIFFSTORE d a a").await, "0");
    assert_eq!(run(&mut c, "EXISTS d").await, "0", "an empty STORE result deletes the destination");
    assert_eq!(run(&mut c, "SMOVE a b 1").await, "1");
    assert_eq!(run(&mut c, "SMOVE a b 1").await, "0");
    assert_eq!(run(&mut c, "SISMEMBER b 1").await, "1");
    assert_eq!(run(&mut c, "SMISMEMBER b 1 2 9").await, "[1, 0, 0]");
    assert_eq!(run(&mut c, "SCARD a").await, "3");
    assert_eq!(run(&mut c, "SREM a 2 9").await, "1");
    assert_eq!(run(&mut c, "SINTERCARD 2 a b").await, "2");
    let mut members = scan_all(&mut c, &["SSCAN", "e"], &["COUNT", "1"]).await;
    members.sort();
    assert_eq!(members, ["1", "2", "3", "4"]);

    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    run(&mut c, "SET s x").await;
    assert_eq!(run(&mut c, "SINTER a s").await, wrongtype);
    assert_eq!(run(&mut c, "SUNIONSTORE a s").await, wrongtype);
    assert_eq!(run(&mut c, "SMOVE a s 3").await, wrongtype);
    assert_eq!(run(&mut c, "SCARD a").await, "2", "failed commands left the set alone");

    let mut c3 = resp3(addr).await;
    assert_eq!(show(&call(&mut c3, &["SMEMBERS", "c"]).await).chars().next(), Some('~'), "a RESP3 set");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn smove_from_a_missing_set_returns_0_whatever_the_destination_holds() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, "SET str v").await;
    assert_eq!(run(&mut c, "SMOVE nope str m").await, "0");
    run(&mut c, "SADD s m").await;
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(run(&mut c, "SMOVE s str m").await, wrongtype);
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Sorted sets

#[tokio::test]
async fn zadd_options_follow_redis() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "ZADD z 1 a 2 b 3 c").await, "3");
    assert_eq!(run(&mut c, "ZADD z NX 10 a 4 d").await, "1");
    assert_eq!(run(&mut c, "ZADD z XX CH 5 a 9 nope").await, "1");
    assert_eq!(run(&mut c, "ZADD z GT CH 1 a 6 b").await, "1");
    assert_eq!(run(&mut c, "ZADD z LT CH 7 b 1 c").await, "1");
    assert_eq!(run(&mut c, "ZADD z INCR 2 a").await, r#""7""#);
    assert_eq!(run(&mut c, "ZADD z NX INCR 1 a").await, "nil");
    assert_eq!(
        run(&mut c, "ZADD z NX XX 1 a").await,
        "-ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        run(&mut c, "ZADD z GT LT 1 a").await,
        "-ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(run(&mut c, "ZADD z 1 a 2").await, "-ERR syntax error");
    assert_eq!(run(&mut c, "ZADD z x a").await, "-ERR value is not a valid float");
    assert_eq!(run(&mut c, "ZADD z nan a").await, "-ERR value is not a valid float");
    assert_eq!(run(&mut c, "ZRANGE z 0 -1 WITHSCORES").await, r#"["c", "1", "d", "4", "b", "6", "a", "7"]"#);
    assert_eq!(run(&mut c, "ZADD z inf top").await, "1");
    assert_eq!(run(&mut c, "ZSCORE z top").await, r#""inf""#);
    assert_eq!(run(&mut c, "ZINCRBY z -inf top").await, "-ERR resulting score is not a number (NaN)");
    assert_eq!(run(&mut c, "ZADD z 1e20 big").await, "1");
    assert_eq!(run(&mut c, "ZSCORE z big").await, r#""1e+20""#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn zrange_forms_in_resp2_and_resp3_shapes() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "ZADD z 1 a 2 b 3 c 4 d").await, "4");
    assert_eq!(run(&mut c, "ZADD lex 0 a 0 b 0 c 0 d").await, "4");
    assert_eq!(run(&mut c, "ZRANGE z (1 3 BYSCORE WITHSCORES").await, r#"["b", "2", "c", "3"]"#);
    assert_eq!(run(&mut c, "ZRANGE z +inf -inf BYSCORE REV LIMIT 1 2").await, r#"["c", "b"]"#);
    assert_eq!(run(&mut c, "ZRANGE z 0 -1 REV").await, r#"["d", "c", "b", "a"]"#);
    assert_eq!(run(&mut c, "ZRANGE lex [b + BYLEX").await, r#"["b", "c", "d"]"#);
    assert_eq!(run(&mut c, "ZRANGE lex + [b BYLEX REV LIMIT 0 2").await, r#"["d", "c"]"#);
    assert_eq!(run(&mut c, "ZRANGE lex (a [c BYLEX").await, r#"["b", "c"]"#);
    assert_eq!(
        run(&mut c, "ZRANGE z 0 1 LIMIT 0 1").await,
        "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    assert_eq!(run(&mut c, "ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 0 1").await, r#"["a", "1"]"#);
    assert_eq!(run(&mut c, "ZREVRANGEBYSCORE z +inf 3").await, r#"["d", "c"]"#);
    assert_eq!(run(&mut c, "ZRANK z c").await, "2");
    assert_eq!(run(&mut c, "ZREVRANK z c").await, "1");
    assert_eq!(run(&mut c, "ZRANK z nope").await, "nil");
    assert_eq!(run(&mut c, "ZSCORE z b").await, r#""2""#);
    assert_eq!(run(&mut c, "ZSCORE z nope").await, "nil");
    assert_eq!(run(&mut c, "ZINCRBY z 1.5 a").await, r#""2.5""#);
    assert_eq!(run(&mut c, "ZINCRBY z x a").await, "-ERR value is not a valid float");
    assert_eq!(run(&mut c, "ZCOUNT z (2 +inf").await, "3");
    assert_eq!(run(&mut c, "ZLEXCOUNT lex - +").await, "4");

    // RESP3: scores are doubles and WITHSCORES gives [member, score] pairs.
    let mut c3 = resp3(addr).await;
    assert_eq!(run(&mut c3, "ZRANGE z 0 1 WITHSCORES").await, r#"[["b", 2.0], ["a", 2.5]]"#);
    assert_eq!(run(&mut c3, "ZRANGEBYSCORE z 3 4 WITHSCORES").await, r#"[["c", 3.0], ["d", 4.0]]"#);
    assert_eq!(run(&mut c3, "ZSCORE z a").await, "2.5");
    assert_eq!(run(&mut c3, "ZINCRBY z 1 a").await, "3.5");
    assert_eq!(run(&mut c3, "ZMSCORE z a nope").await, "[3.5, nil]");
    assert_eq!(run(&mut c3, "ZPOPMIN z").await, r#"["b", 2.0]"#);
    assert_eq!(run(&mut c3, "ZPOPMAX z 2").await, r#"[["d", 4.0], ["a", 3.5]]"#);
    assert_eq!(run(&mut c3, "ZPOPMAX nope").await, "[]");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn zpop_zunionstore_zinterstore_and_zscan() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "ZADD z1 1 a 2 b 3 c").await, "3");
    assert_eq!(run(&mut c, "ZADD z2 10 b 20 c 30 d").await, "3");
    assert_eq!(run(&mut c, "ZUNIONSTORE u 2 z1 z2 WEIGHTS 2 1").await, "4");
    assert_eq!(
        run(&mut c, "ZRANGE u 0 -1 WITHSCORES").await,
        r#"["a", "2", "b", "14", "c", "26", "d", "30"]"#
    );
    assert_eq!(run(&mut c, "ZINTERSTORE i 2 z1 z2 AGGREGATE MAX").await, "2");
    assert_eq!(run(&mut c, "ZRANGE i 0 -1 WITHSCORES").await, r#"["b", "10", "c", "20"]"#);
    assert_eq!(run(&mut c, "ZINTERSTORE i 2 z1 z2 WEIGHTS 1 2 AGGREGATE MIN").await, "2");
    assert_eq!(run(&mut c, "ZRANGE i 0 -1 WITHSCORES").await, r#"["b", "2", "c", "3"]"#);
    // A plain set counts as a sorted set with scores 1.
    assert_eq!(run(&mut c, "SADD s b x").await, "2");
    assert_eq!(run(&mut c, "ZUNIONSTORE u2 2 z1 s").await, "4");
    assert_eq!(run(&mut c, "ZRANGE u2 0 -1 WITHSCORES").await, r#"["a", "1", "x", "1", "b", "3", "c", "3"]"#);
    assert_eq!(
        run(&mut c, "ZUNIONSTORE u3 0 z1").await,
        "-ERR at least 1 input key is needed for 'zunionstore' command"
    );
    assert_eq!(run(&mut c, "ZUNIONSTORE u3 2 z1").await, "-ERR syntax error");
    assert_eq!(run(&mut c, "ZINTERSTORE u 2 z1 nope").await, "0");
    assert_eq!(run(&mut c, "EXISTS u").await, "0", "an empty result deletes the destination");

    let flat = scan_all(&mut c, &["ZSCAN", "z2"], &[]).await;
    let mut pairs: Vec<(String, String)> = flat.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
    pairs.sort();
    assert_eq!(pairs, [("b", "10"), ("c", "20"), ("d", "30")].map(|(m, s)| (m.to_string(), s.to_string())));
    let matched = scan_all(&mut c, &["ZSCAN", "z2"], &["MATCH", "c"]).await;
    assert_eq!(matched, ["c", "20"].map(String::from));

    assert_eq!(run(&mut c, "ZPOPMIN z1").await, r#"["a", "1"]"#);
    assert_eq!(run(&mut c, "ZPOPMAX z1 5").await, r#"["c", "3", "b", "2"]"#);
    assert_eq!(run(&mut c, "EXISTS z1").await, "0");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn zrange_and_zrangestore_check_the_range_before_the_source_type() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, "SET str v").await;
    assert_eq!(run(&mut c, "ZRANGE str x 1 BYSCORE").await, "-ERR min or max is not a float");
    assert_eq!(run(&mut c, "ZRANGESTORE d str x 1 BYSCORE").await, "-ERR min or max is not a float");
    assert_eq!(run(&mut c, "ZRANGE str 0 1 BYLEX").await, "-ERR min or max not valid string range item");
    assert_eq!(
        run(&mut c, "ZRANGESTORE d str 0 1 BYLEX").await,
        "-ERR min or max not valid string range item"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_negative_zero_score_prints_as_minus_zero() {
    // 0 * -1 is -0.0; Redis prints it "-0" (7.0 `%.17g`, 7.2 `d2string`).
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, "ZADD z 0 a").await;
    assert_eq!(run(&mut c, "ZUNION 1 z WEIGHTS -1 WITHSCORES").await, r#"["a", "-0"]"#);
    assert_eq!(run(&mut c, "ZINTER 1 z WEIGHTS -1 WITHSCORES").await, r#"["a", "-0"]"#);
    let mut c3 = resp3(addr).await;
    assert_eq!(run(&mut c3, "ZUNION 1 z WEIGHTS -1 WITHSCORES").await, r#"[["a", -0.0]]"#);
    // -0.0 ranks equal to 0.0, so the tie goes by member, as in redis-server
    // (found by resp_diff: ZADD k 0 a -2.5 b; ZUNION 1 k WEIGHTS 0).
    run(&mut c, "ZADD k 0 a -2.5 b").await;
    assert_eq!(run(&mut c, "ZUNION 1 k WEIGHTS 0 WITHSCORES").await, r#"["a", "0", "b", "-0"]"#);
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Pub/sub

#[tokio::test]
async fn resp2_pubsub_delivers_messages_and_counts_receivers() {
    let (node, addr) = start().await;
    let mut sub = Raw::connect(addr).await;
    sub.send(b"SUBSCRIBE news\r\n").await;
    sub.expect(b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n").await;
    let mut psub = Raw::connect(addr).await;
    psub.send(b"PSUBSCRIBE n*\r\n").await;
    psub.expect(b"*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:1\r\n").await;

    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "PUBLISH news hi").await, "2");
    sub.expect(b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n").await;
    psub.expect(b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n").await;
    assert_eq!(run(&mut c, "PUBLISH nope hi").await, "1", "the pattern n* matches nope");
    psub.expect(b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnope\r\n$2\r\nhi\r\n").await;
    assert_eq!(run(&mut c, "PUBLISH other hi").await, "0");

    assert_eq!(run(&mut c, "PUBSUB CHANNELS").await, r#"["news"]"#);
    assert_eq!(run(&mut c, "PUBSUB CHANNELS x*").await, "[]");
    assert_eq!(run(&mut c, "PUBSUB NUMSUB news other").await, r#"["news", 1, "other", 0]"#);
    assert_eq!(run(&mut c, "PUBSUB NUMPAT").await, "1");

    // A RESP2 subscriber may only (un)subscribe, PING, QUIT and RESET.
    sub.send(b"GET k\r\n").await;
    sub.expect(b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n").await;
    sub.send(b"PING\r\n").await;
    sub.expect(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n").await;
    sub.send(b"UNSUBSCRIBE news\r\n").await;
    sub.expect(b"*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n").await;
    sub.send(b"GET k\r\n").await;
    sub.expect(b"$-1\r\n").await;
    assert_eq!(run(&mut c, "PUBSUB NUMSUB news").await, r#"["news", 0]"#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn resp3_pubsub_sends_push_frames_and_allows_commands() {
    let (node, addr) = start().await;
    let mut sub = Raw::connect(addr).await;
    sub.hello3().await;
    sub.send(b"SUBSCRIBE news\r\n").await;
    sub.expect(b">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n").await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "PUBLISH news hi").await, "1");
    sub.expect(b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n").await;
    // In RESP3 a subscribed connection runs any command.
    sub.send(b"GET k\r\nPING\r\n").await;
    sub.expect(b"_\r\n+PONG\r\n").await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_redis_crate_receives_messages_in_resp2_and_resp3() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;

    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe("events").await.unwrap();
    pubsub.psubscribe("ev*").await.unwrap();
    assert_eq!(run(&mut c, "PUBLISH events one").await, "2");
    let mut stream = pubsub.on_message();
    for _ in 0..2 {
        let msg = tokio::time::timeout(PATIENCE, stream.next()).await.unwrap().unwrap();
        assert_eq!(msg.get_channel_name(), "events");
        assert_eq!(msg.get_payload::<String>().unwrap(), "one");
    }
    drop(stream);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let client = redis::Client::open(format!("redis://{addr}/?protocol=resp3")).unwrap();
    let config = AsyncConnectionConfig::new().set_push_sender(tx).set_response_timeout(Some(PATIENCE));
    let mut c3 = client.get_multiplexed_async_connection_with_config(&config).await.unwrap();
    c3.subscribe("events").await.unwrap();
    assert_eq!(run(&mut c, "PUBLISH events two").await, "3");
    loop {
        let push = tokio::time::timeout(PATIENCE, rx.recv()).await.unwrap().unwrap();
        if push.kind == redis::PushKind::Message {
            assert_eq!(push.data.iter().map(show).collect::<Vec<_>>(), [r#""events""#, r#""two""#]);
            break;
        }
    }
    // The same connection still answers commands while subscribed.
    assert_eq!(run(&mut c3, "SET k v").await, "+OK");
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Transactions

#[tokio::test]
async fn multi_exec_runs_queued_commands_atomically_with_their_own_errors() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "SET a 1").await, "+QUEUED");
    assert_eq!(run(&mut c, "INCR a").await, "+QUEUED");
    assert_eq!(run(&mut c, "LPUSH a x").await, "+QUEUED");
    assert_eq!(run(&mut c, "GET a").await, "+QUEUED");
    assert_eq!(
        run(&mut c, "EXEC").await,
        r#"[+OK, 2, -WRONGTYPE Operation against a key holding the wrong kind of value, "2"]"#
    );
    assert_eq!(run(&mut c, "EXEC").await, "-ERR EXEC without MULTI");
    assert_eq!(run(&mut c, "DISCARD").await, "-ERR DISCARD without MULTI");
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "MULTI").await, "-ERR MULTI calls can not be nested");
    assert_eq!(run(&mut c, "WATCH a").await, "-ERR WATCH inside MULTI is not allowed");
    assert_eq!(run(&mut c, "EXEC").await, "[]");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn exec_aborts_after_a_queue_time_error() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "SET a 1").await, "+QUEUED");
    assert_eq!(run(&mut c, "NOPE").await, "-ERR unknown command 'NOPE', with args beginning with: ");
    assert_eq!(run(&mut c, "GET").await, "-ERR wrong number of arguments for 'get' command");
    assert_eq!(run(&mut c, "EXEC").await, "-EXECABORT Transaction discarded because of previous errors.");
    assert_eq!(run(&mut c, "GET a").await, "nil", "nothing of an aborted transaction ran");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn watch_then_a_change_from_another_connection_makes_exec_return_nil() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut other = resp2(addr).await;
    assert_eq!(run(&mut c, "SET w 1").await, "+OK");
    assert_eq!(run(&mut c, "WATCH w").await, "+OK");
    assert_eq!(run(&mut other, "SET w 2").await, "+OK");
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "SET w 3").await, "+QUEUED");
    assert_eq!(run(&mut c, "EXEC").await, "nil");
    assert_eq!(run(&mut c, "GET w").await, r#""2""#);

    // Without a change, or after UNWATCH, EXEC runs.
    assert_eq!(run(&mut c, "WATCH w").await, "+OK");
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "INCR w").await, "+QUEUED");
    assert_eq!(run(&mut c, "EXEC").await, "[3]");
    assert_eq!(run(&mut c, "WATCH w").await, "+OK");
    assert_eq!(run(&mut other, "SET w 10").await, "+OK");
    assert_eq!(run(&mut c, "UNWATCH").await, "+OK");
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "INCR w").await, "+QUEUED");
    assert_eq!(run(&mut c, "EXEC").await, "[11]");

    // Deleting a watched key counts as a change too.
    assert_eq!(run(&mut c, "WATCH w").await, "+OK");
    assert_eq!(run(&mut other, "DEL w").await, "1");
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "SET w 1").await, "+QUEUED");
    assert_eq!(run(&mut c, "EXEC").await, "nil");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn watch_ignores_writes_that_change_nothing() {
    // Redis signals a watched key only when a command modifies it.
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut other = resp2(addr).await;
    run(&mut c, "SADD s a").await;
    run(&mut c, "RPUSH l a").await;
    run(&mut c, "HSET h f v").await;
    run(&mut c, "SET k v").await;
    assert_eq!(run(&mut c, "WATCH s l h k").await, "+OK");
    assert_eq!(run(&mut other, "SADD s a").await, "0");
    assert_eq!(run(&mut other, "SREM s zz").await, "0");
    assert_eq!(run(&mut other, "LREM l 0 zz").await, "0");
    assert_eq!(run(&mut other, "HDEL h zz").await, "0");
    assert_eq!(run(&mut other, "SET k x NX").await, "nil");
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "PING").await, "+QUEUED");
    assert_eq!(run(&mut c, "EXEC").await, "[+PONG]");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_watched_key_that_expires_before_exec_aborts_it() {
    // Redis 6.0.9 and later: an expiry counts as a change.
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SET k v PX 100").await, "+OK");
    assert_eq!(run(&mut c, "WATCH k").await, "+OK");
    // Expiry is the behaviour under test: real time must pass.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "GET k").await, "+QUEUED");
    assert_eq!(run(&mut c, "EXEC").await, "nil");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn discard_drops_the_queue_and_the_watches() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut other = resp2(addr).await;
    assert_eq!(run(&mut c, "WATCH d").await, "+OK");
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "SET d 1").await, "+QUEUED");
    assert_eq!(run(&mut c, "DISCARD").await, "+OK");
    assert_eq!(run(&mut c, "GET d").await, "nil");
    assert_eq!(run(&mut other, "SET d 2").await, "+OK");
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "GET d").await, "+QUEUED");
    assert_eq!(run(&mut c, "EXEC").await, r#"["2"]"#, "DISCARD forgot the WATCH");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_is_not_interleaved_with_other_clients() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let writers: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                let mut w = resp2(addr).await;
                for _ in 0..50 {
                    run(&mut w, "INCR x").await;
                    run(&mut w, "INCR y").await;
                }
            })
        })
        .collect();
    // Inside EXEC, x and y are read at one instant: every writer increments
    // x then y, so x - y is 0 or 1 per writer, at most 4 in total.
    for _ in 0..50 {
        run(&mut c, "MULTI").await;
        run(&mut c, "GET x").await;
        run(&mut c, "GET y").await;
        let Value::Array(pair) = call(&mut c, &["EXEC"]).await else { panic!("EXEC") };
        let read = |v: &Value| if *v == Value::Nil { 0 } else { text(v).parse::<i64>().unwrap() };
        let (x, y) = (read(&pair[0]), read(&pair[1]));
        assert!((0..=4).contains(&(x - y)), "x={x} y={y}");
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(run(&mut c, "MGET x y").await, r#"["200", "200"]"#);
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Blocking commands

#[tokio::test]
async fn blpop_times_out_with_nil_after_its_timeout() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let started = Instant::now();
    assert_eq!(run(&mut c, "BLPOP empty 0.3").await, "nil");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "returned after {waited:?}");
    assert!(waited < Duration::from_secs(5), "returned after {waited:?}");
    // The exact bytes: a null array in RESP2, a null in RESP3.
    let mut raw = Raw::connect(addr).await;
    raw.send(b"BLPOP empty 0.05\r\n").await;
    raw.expect(b"*-1\r\n").await;
    raw.hello3().await;
    raw.send(b"BRPOP empty 0.05\r\n").await;
    raw.expect(b"_\r\n").await;
    assert_eq!(run(&mut c, "BLPOP empty -1").await, "-ERR timeout is negative");
    assert_eq!(run(&mut c, "BLPOP empty x").await, "-ERR timeout is not a float or out of range");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_blpop_waiters_are_served_in_fifo_order() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut waiters = Vec::new();
    for i in 0..20 {
        let mut w = resp2(addr).await;
        waiters.push(tokio::spawn(async move { (i, run(&mut w, "BLPOP queue 0").await) }));
        // Waiter i is queued before waiter i + 1 sends its BLPOP.
        wait_for_blocked(&mut c, i + 1).await;
    }
    for i in 0..20 {
        assert_eq!(run(&mut c, &format!("RPUSH queue {i}")).await, "1");
    }
    for waiter in waiters {
        let (i, got) = tokio::time::timeout(PATIENCE, waiter).await.unwrap().unwrap();
        assert_eq!(got, format!(r#"["queue", "{i}"]"#), "waiter {i} got another element");
    }
    assert_eq!(run(&mut c, "EXISTS queue").await, "0");
    wait_for_blocked(&mut c, 0).await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blmove_waits_then_moves_the_pushed_element() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "BLMOVE src dst LEFT RIGHT 0.05").await, "nil");
    let mut w = resp2(addr).await;
    let waiter = tokio::spawn(async move { run(&mut w, "BLMOVE src dst LEFT RIGHT 0").await });
    wait_for_blocked(&mut c, 1).await;
    assert_eq!(run(&mut c, "RPUSH dst old").await, "1", "pushing another key wakes nobody");
    assert_eq!(run(&mut c, "RPUSH src a b").await, "2");
    assert_eq!(tokio::time::timeout(PATIENCE, waiter).await.unwrap().unwrap(), r#""a""#);
    assert_eq!(run(&mut c, "LRANGE src 0 -1").await, r#"["b"]"#);
    assert_eq!(run(&mut c, "LRANGE dst 0 -1").await, r#"["old", "a"]"#);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_on_several_keys_takes_the_first_key_that_gets_an_element() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    // Already there: the first non-empty key in argument order wins.
    run(&mut c, "RPUSH k3 c").await;
    run(&mut c, "RPUSH k1 a").await;
    assert_eq!(run(&mut c, "BLPOP k2 k3 k1 0").await, r#"["k3", "c"]"#);

    let mut w = resp2(addr).await;
    let waiter = tokio::spawn(async move { run(&mut w, "BRPOP k2 k3 0").await });
    wait_for_blocked(&mut c, 1).await;
    assert_eq!(run(&mut c, "RPUSH k3 x y").await, "2");
    assert_eq!(tokio::time::timeout(PATIENCE, waiter).await.unwrap().unwrap(), r#"["k3", "y"]"#);
    wait_for_blocked(&mut c, 0).await;
    assert_eq!(run(&mut c, "LRANGE k3 0 -1").await, r#"["x"]"#);

    // A waiter inside MULTI does not block: it returns nil at once.
    run(&mut c, "MULTI").await;
    run(&mut c, "BLPOP k2 0").await;
    assert_eq!(run(&mut c, "EXEC").await, "[nil]");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_keeps_waiting_while_its_key_holds_another_type() {
    // Redis wakes a list waiter only for a list; a string in between is not
    // an error for it.
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut w = resp2(addr).await;
    let waiter = tokio::spawn(async move { run(&mut w, "BLPOP k 0").await });
    wait_for_blocked(&mut c, 1).await;
    assert_eq!(run(&mut c, "SET k v").await, "+OK");
    assert_eq!(run(&mut c, "DEL k").await, "1");
    assert_eq!(run(&mut c, "RPUSH k z").await, "1");
    assert_eq!(tokio::time::timeout(PATIENCE, waiter).await.unwrap().unwrap(), r#"["k", "z"]"#);
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Many clients

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_incrementing_one_key_100_times_end_at_5000() {
    let (node, addr) = start().await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            tokio::spawn(async move {
                let mut c = resp2(addr).await;
                for _ in 0..100 {
                    let reply = run(&mut c, "INCR shared").await;
                    assert!(reply.parse::<i64>().is_ok(), "{reply}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "GET shared").await, r#""5000""#);
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Security

#[tokio::test]
async fn requirepass_demands_auth_before_any_command() {
    let mut config = Config::ephemeral();
    config.resp.requirepass = Some("s3cret".into());
    let (node, addr) = start_with(config).await;
    let mut raw = Raw::connect(addr).await;
    raw.send(b"GET k\r\nPING\r\n").await;
    raw.expect(b"-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n").await;
    raw.send(b"AUTH wrong\r\n").await;
    raw.expect(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n").await;
    raw.send(b"AUTH s3cret\r\nGET k\r\n").await;
    raw.expect(b"+OK\r\n$-1\r\n").await;

    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SET k v").await, "-NOAUTH Authentication required.");
    assert_eq!(run(&mut c, "AUTH default s3cret").await, "+OK");
    assert_eq!(run(&mut c, "SET k v").await, "+OK");
    // The password in the URL (AUTH, or HELLO 3 AUTH for RESP3).
    let mut c2 = connect_url(&format!("redis://:s3cret@{addr}/")).await;
    assert_eq!(run(&mut c2, "GET k").await, r#""v""#);
    let mut c3 = connect_url(&format!("redis://:s3cret@{addr}/?protocol=resp3")).await;
    assert_eq!(run(&mut c3, "GET k").await, r#""v""#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn unauthenticated_clients_cannot_send_big_requests() {
    // Redis' limits before AUTH: at most 10 arguments, bulks of 16 KiB.
    let mut config = Config::ephemeral();
    config.resp.requirepass = Some("s3cret".into());
    let (node, addr) = start_with(config).await;
    let mut raw = Raw::connect(addr).await;
    raw.send(b"*2\r\n$4\r\nECHO\r\n$16385\r\n").await;
    let reply = raw.read_to_close().await;
    assert_eq!(String::from_utf8_lossy(&reply), "-ERR Protocol error: unauthenticated bulk length\r\n");
    let mut raw = Raw::connect(addr).await;
    raw.send(b"*11\r\n").await;
    let reply = raw.read_to_close().await;
    assert_eq!(String::from_utf8_lossy(&reply), "-ERR Protocol error: unauthenticated multibulk length\r\n");
    // The limits end with AUTH.
    let mut raw = Raw::connect(addr).await;
    raw.send(b"AUTH s3cret\r\n").await;
    raw.expect(b"+OK\r\n").await;
    let mut big = b"*2\r\n$4\r\nECHO\r\n$20000\r\n".to_vec();
    big.extend_from_slice(&[b'x'; 20_000]);
    big.extend_from_slice(b"\r\n");
    raw.send(&big).await;
    let mut want = b"$20000\r\n".to_vec();
    want.extend_from_slice(&[b'x'; 20_000]);
    want.extend_from_slice(b"\r\n");
    raw.expect(&want).await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn acl_setuser_whoami_list_and_deluser() {
    let (node, addr) = start().await;
    let mut admin = resp2(addr).await;
    assert_eq!(run(&mut admin, "ACL WHOAMI").await, r#""default""#);
    assert_eq!(run(&mut admin, "ACL SETUSER alice on >s3cret ~* &* +@all").await, "+OK");
    let list = call(&mut admin, &["ACL", "LIST"]).await;
    let Value::Array(lines) = &list else { panic!("ACL LIST: {}", show(&list)) };
    let lines: Vec<String> = lines.iter().map(text).collect();
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(b"s3cret"));
    assert!(lines.contains(&format!("user alice on #{hash} ~* &* +@all")), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("user default on nopass")), "{lines:?}");

    let mut c = resp2(addr).await;
    assert_eq!(
        run(&mut c, "AUTH alice wrong").await,
        "-WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(run(&mut c, "AUTH alice s3cret").await, "+OK");
    assert_eq!(run(&mut c, "ACL WHOAMI").await, r#""alice""#);
    assert_eq!(run(&mut c, "SET k v").await, "+OK");

    assert_eq!(run(&mut admin, "ACL SETUSER bob off >pw").await, "+OK");
    assert_eq!(
        run(&mut c, "AUTH bob pw").await,
        "-WRONGPASS invalid username-password pair or user is disabled.",
        "a user that is off cannot log in"
    );
    assert_eq!(run(&mut admin, "ACL DELUSER alice bob").await, "2");
    assert_eq!(run(&mut admin, "ACL DELUSER alice").await, "0");
    let mut again = resp2(addr).await;
    assert_eq!(
        run(&mut again, "AUTH alice s3cret").await,
        "-WRONGPASS invalid username-password pair or user is disabled."
    );
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Actors from redis-cli

#[tokio::test]
async fn actor_call_invokes_any_actor_with_json() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(
        show(&call(&mut c, &["ACTOR.CALL", "counter", "k", "increment", r#"{"by":2}"#]).await),
        r#""2""#
    );
    assert_eq!(
        show(&call(&mut c, &["ACTOR.CALL", "counter", "k", "increment", r#"{"by":3}"#]).await),
        r#""5""#
    );
    assert_eq!(show(&call(&mut c, &["ACTOR.CALL", "counter", "k", "get", "{}"]).await), r#""5""#);
    let ghost = show(&call(&mut c, &["ACTOR.CALL", "ghost", "k", "get", "{}"]).await);
    assert!(ghost.starts_with("-ERR "), "{ghost}");
    // The counter is the same actor the gRPC clients see.
    let counter = node.actor::<orbit_server::actors::counter::CounterActor>("k");
    assert_eq!(counter.call(orbit_shared::actors::counter::Get {}).await.unwrap(), 5);
    node.shutdown().await.unwrap();
}

/// The JSON of a bulk reply.
fn json_of(v: &Value) -> serde_json::Value {
    serde_json::from_str(&text(v)).unwrap_or_else(|e| panic!("not JSON: {}: {e}", show(v)))
}

fn epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test]
async fn actor_reminders_are_registered_listed_and_removed() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let before = epoch_ms();
    let words = ["ACTOR.REMIND", "counter", "k", "tick", "1h", "increment", r#"{"by":1}"#];
    let tick = json_of(&call(&mut c, &words).await);
    let job = json_of(&call(&mut c, &["ACTOR.JOB", "counter", "k", "later", "10m", "reset"]).await);
    let after = epoch_ms();
    let next = tick["next_fire_ms"].as_u64().unwrap();
    let expected = serde_json::json!({
        "kind": "counter", "name": "tick", "period_ms": 3_600_000, "method": "increment",
        "args": {"by": 1}, "next_fire_ms": next,
    });
    assert_eq!(tick, expected);
    // One period from now by the node's clock (its wall clock at start plus
    // the monotonic time since).
    assert!(next + 1000 >= before + 3_600_000 && next <= after + 3_600_000 + 1000, "{tick}");
    // A job: period 0, due the delay from now, arguments `{}` by default.
    let due = job["next_fire_ms"].as_u64().unwrap();
    let expected = serde_json::json!({
        "kind": "counter", "name": "later", "period_ms": 0, "method": "reset", "args": {},
        "next_fire_ms": due,
    });
    assert_eq!(job, expected);
    assert!(due >= before + 600_000 && due <= after + 600_000, "{job}");

    // Listed by name, one JSON bulk string each.
    let Value::Array(listed) = call(&mut c, &["ACTOR.REMINDERS", "counter", "k"]).await else {
        panic!("ACTOR.REMINDERS answers an array")
    };
    assert_eq!(listed.iter().map(json_of).collect::<Vec<_>>(), [job, tick]);
    assert_eq!(run(&mut c, "ACTOR.REMINDERS counter other").await, "[]");
    // The same name replaces the reminder.
    let replaced = json_of(&call(&mut c, &["ACTOR.REMIND", "counter", "k", "tick", "2h", "get"]).await);
    let Value::Array(listed) = call(&mut c, &["ACTOR.REMINDERS", "counter", "k"]).await else {
        panic!("ACTOR.REMINDERS answers an array")
    };
    assert_eq!(listed.len(), 2);
    assert_eq!(json_of(&listed[1]), replaced);
    assert_eq!((replaced["period_ms"].as_u64(), replaced["method"].as_str()), (Some(7_200_000), Some("get")));

    assert_eq!(run(&mut c, "ACTOR.UNREMIND counter k tick").await, "1");
    assert_eq!(run(&mut c, "ACTOR.UNREMIND counter k tick").await, "0");
    assert_eq!(run(&mut c, "ACTOR.UNREMIND counter k later").await, "1");
    assert_eq!(run(&mut c, "ACTOR.REMINDERS counter k").await, "[]");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_reminders_answer_clear_errors() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let arity = |name: &str| format!("-ERR wrong number of arguments for '{name}' command");
    for (line, expected) in [
        (
            "ACTOR.REMIND counter k r soon increment",
            "-ERR invalid period 'soon' (use e.g. 500ms, 1s, 5m)".into(),
        ),
        ("ACTOR.REMIND counter k r 0 increment", "-ERR invalid period '0' (use e.g. 500ms, 1s, 5m)".into()),
        (
            "ACTOR.JOB counter k j later increment",
            "-ERR invalid delay 'later' (use e.g. 500ms, 1s, 5m)".into(),
        ),
        ("ACTOR.REMIND ghost k r 1s get", "-ERR unknown actor kind 'ghost'".into()),
        ("ACTOR.REMIND counter k r 1s fly", "-ERR actor kind 'counter' has no method 'fly'".into()),
        ("ACTOR.REMIND counter k r 1s", arity("actor.remind")),
        ("ACTOR.REMIND counter k r 1s increment {} extra", arity("actor.remind")),
        ("ACTOR.JOB counter k j 1s", arity("actor.job")),
        ("ACTOR.REMINDERS counter", arity("actor.reminders")),
        ("ACTOR.UNREMIND counter k", arity("actor.unremind")),
    ] {
        assert_eq!(run(&mut c, line).await, expected, "{line}");
    }
    let bad_json =
        show(&call(&mut c, &["ACTOR.REMIND", "counter", "k", "r", "1s", "increment", "{oops"]).await);
    assert!(bad_json.starts_with("-ERR invalid JSON arguments: "), "{bad_json}");
    let redis = run(&mut c, "ACTOR.REMIND redis k r 1s get").await;
    assert!(redis.starts_with("-ERR ") && redis.contains("cannot call Redis keys"), "{redis}");
    // Nothing refused was registered.
    assert_eq!(run(&mut c, "ACTOR.REMINDERS counter k").await, "[]");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn actor_remind_fires_until_actor_unremind() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let words = ["ACTOR.REMIND", "counter", "k1", "r1", "200ms", "increment", r#"{"by":1}"#];
    let reminder = call(&mut c, &words).await;
    assert_eq!(json_of(&reminder)["period_ms"], 200);
    async fn value(c: &mut MultiplexedConnection) -> i64 {
        let got = call(c, &["ACTOR.CALL", "counter", "k1", "get"]).await;
        text(&got).parse().unwrap_or_else(|_| panic!("get: {}", show(&got)))
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let fired = value(&mut c).await;
        if fired >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "fired {fired} times in 5 s with a 200 ms period");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(run(&mut c, "ACTOR.UNREMIND counter k1 r1").await, "1");
    // A tick already taken when the reminder was removed may still land.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stopped = value(&mut c).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(value(&mut c).await, stopped, "the reminder fired after ACTOR.UNREMIND");
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// redis-cli

async fn redis_cli(addr: SocketAddr, args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut child = tokio::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-cli starts");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).await.unwrap();
    drop(input);
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output()).await.unwrap().unwrap();
    assert!(output.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn redis_cli_sets_gets_and_pipes() {
    if !common::require_program("redis-cli") {
        return;
    }
    let (node, addr) = start().await;
    assert_eq!(redis_cli(addr, &["ping"], None).await, "PONG\n");
    assert_eq!(redis_cli(addr, &["set", "k", "v"], None).await, "OK\n");
    assert_eq!(redis_cli(addr, &["get", "k"], None).await, "v\n");
    assert_eq!(redis_cli(addr, &["rpush", "l", "a", "b"], None).await, "2\n");
    assert_eq!(redis_cli(addr, &["lrange", "l", "0", "-1"], None).await, "a\nb\n");
    assert_eq!(redis_cli(addr, &["-3", "hset", "h", "f", "v"], None).await, "1\n");

    let mut commands = Vec::new();
    for (key, value) in [("p1", "one"), ("p2", "two"), ("p3", "three")] {
        commands.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n", key.len(), value.len())
                .as_bytes(),
        );
    }
    commands.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n");
    let report = redis_cli(addr, &["--pipe"], Some(&commands)).await;
    assert!(report.contains("errors: 0, replies: 4"), "{report}");
    assert_eq!(redis_cli(addr, &["mget", "p1", "p2", "p3", "n"], None).await, "one\ntwo\nthree\n1\n");
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// The binary: acknowledged writes survive kill -9

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_redis_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = common::spawn_node(dir.path()).await;
    let mut c = resp2(server.resp).await;
    assert_eq!(run(&mut c, "SET k v").await, "+OK");
    assert_eq!(run(&mut c, "HSET h f1 a f2 b").await, "2");
    assert_eq!(run(&mut c, "RPUSH l x y z").await, "3");
    assert_eq!(run(&mut c, "LPOP l").await, r#""x""#);
    assert_eq!(run(&mut c, "SADD s m1 m2").await, "2");
    assert_eq!(run(&mut c, "ZADD z 1.5 a 2 b").await, "2");
    assert_eq!(run(&mut c, "SET t v EX 1000").await, "+OK");
    assert_eq!(run(&mut c, "SELECT 3").await, "+OK");
    assert_eq!(run(&mut c, "SET k db3").await, "+OK");
    assert_eq!(run(&mut c, "SET gone v").await, "+OK");
    assert_eq!(run(&mut c, "DEL gone").await, "1");
    // Pipelined writes from several clients: every acknowledged one counts.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let addr = server.resp;
            tokio::spawn(async move {
                let mut c = resp2(addr).await;
                let mut pipe = redis::pipe();
                for i in 0..250 {
                    pipe.cmd("INCR").arg(format!("n{}", i % 10)).ignore();
                    pipe.cmd("RPUSH").arg(format!("log{w}")).arg(i).ignore();
                }
                pipe.query_async::<()>(&mut c).await.expect("pipeline acknowledged");
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    server.child.kill().await.unwrap(); // SIGKILL: no shutdown code runs.
    drop(c);

    let server = common::spawn_node(dir.path()).await;
    let mut c = resp2(server.resp).await;
    assert_eq!(run(&mut c, "GET k").await, r#""v""#);
    assert_eq!(run_sorted(&mut c, "HGETALL h").await, r#"["a", "b", "f1", "f2"]"#);
    assert_eq!(run(&mut c, "LRANGE l 0 -1").await, r#"["y", "z"]"#);
    assert_eq!(run_sorted(&mut c, "SMEMBERS s").await, r#"["m1", "m2"]"#);
    assert_eq!(run(&mut c, "ZRANGE z 0 -1 WITHSCORES").await, r#"["a", "1.5", "b", "2"]"#);
    let ttl = int(&call(&mut c, &["TTL", "t"]).await);
    assert!((900..=1000).contains(&ttl), "TTL after restart: {ttl}");
    assert_eq!(run(&mut c, "SELECT 3").await, "+OK");
    assert_eq!(run(&mut c, "GET k").await, r#""db3""#);
    assert_eq!(run(&mut c, "EXISTS gone").await, "0");
    assert_eq!(run(&mut c, "SELECT 0").await, "+OK");
    for i in 0..10 {
        assert_eq!(run(&mut c, &format!("GET n{i}")).await, r#""100""#, "n{i}");
    }
    for w in 0..4 {
        assert_eq!(run(&mut c, &format!("LLEN log{w}")).await, "250", "log{w}");
        assert_eq!(run(&mut c, &format!("LINDEX log{w} -1")).await, r#""249""#);
    }
}

// ---------------------------------------------------------------------------
// Redis 7.2 details: empty array requests, option errors, uniform random
// picks, CONFIG GET with several patterns

#[tokio::test]
async fn a_non_positive_array_length_is_skipped_without_a_reply() {
    let (node, addr) = start().await;
    let mut raw = Raw::connect(addr).await;
    raw.send(b"*-10\r\n*1\r\n$4\r\nPING\r\n").await;
    raw.expect(b"+PONG\r\n").await;
    raw.send(b"*-1\r\n*0\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n").await;
    raw.expect(b"$2\r\nhi\r\n").await;
    // A negative bulk length inside a request stays a protocol error.
    raw.send(b"*1\r\n$-1\r\n").await;
    let rest = raw.read_to_close().await;
    assert_eq!(String::from_utf8_lossy(&rest), "-ERR Protocol error: invalid bulk length\r\n");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn expire_option_errors_name_the_option_as_sent() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SET k v").await, "+OK");
    let nx = "-ERR NX and XX, GT or LT options at the same time are not compatible";
    for (line, error) in [
        ("EXPIRE k 10 Foo", "-ERR Unsupported option Foo"),
        ("PEXPIRE k 10000 nx bAr", "-ERR Unsupported option bAr"),
        ("EXPIREAT k 4102444800 xx Qux", "-ERR Unsupported option Qux"),
        ("PEXPIREAT k 4102444800000 nx", "1"),
        ("EXPIRE k abc Foo", "-ERR Unsupported option Foo"),
        ("EXPIRE missing 10 Foo", "-ERR Unsupported option Foo"),
        ("EXPIRE k 10 NX XX", nx),
        ("EXPIRE k 10 nx gt", nx),
        ("PEXPIRE k 10 LT nx", nx),
        ("EXPIRE k 10 GT lt", "-ERR GT and LT options at the same time are not compatible"),
    ] {
        assert_eq!(run(&mut c, line).await, error, "{line}");
    }
    assert_eq!(run(&mut c, "EXPIRETIME k").await, "4102444800", "only the valid EXPIRE took effect");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn sintercard_argument_errors_use_redis_texts() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SADD a x y z").await, "3");
    assert_eq!(run(&mut c, "SADD b y z w").await, "3");
    let numkeys = "-ERR numkeys should be greater than 0";
    let limit = "-ERR LIMIT can't be negative";
    let syntax = "-ERR syntax error";
    for (line, reply) in [
        ("SINTERCARD 2 a b", "2"),
        ("SINTERCARD 2 a b LIMIT 1", "1"),
        ("SINTERCARD 2 a b limit 1 LIMIT 0", "2"),
        ("SINTERCARD 0 a", numkeys),
        ("SINTERCARD -1 a", numkeys),
        ("SINTERCARD x a", numkeys),
        ("SINTERCARD 3 a b", "-ERR Number of keys can't be greater than number of args"),
        ("SINTERCARD 1 a LIMIT -1", limit),
        ("SINTERCARD 1 a LIMIT x", limit),
        ("SINTERCARD 1 a LIMIT", syntax),
        ("SINTERCARD 1 a FOO 1", syntax),
        ("SINTERCARD 1 a LIMIT 1 FOO", syntax),
    ] {
        assert_eq!(run(&mut c, line).await, reply, "{line}");
    }
    node.shutdown().await.unwrap();
}

/// Sends one command `calls` times, pipelined 1,000 at a time so that many
/// arrive in the same millisecond, and returns what each reply picked: one
/// member for a bulk string, the elements of an array.
async fn random_picks(con: &mut MultiplexedConnection, words: &[&str], calls: usize) -> Vec<Vec<String>> {
    let mut picks: Vec<Vec<String>> = Vec::with_capacity(calls);
    while picks.len() < calls {
        let mut pipe = redis::pipe();
        for _ in 0..(calls - picks.len()).min(1000) {
            pipe.cmd(words[0]);
            for word in &words[1..] {
                pipe.arg(*word);
            }
        }
        let replies: Vec<Value> = pipe.query_async(&mut *con).await.unwrap();
        picks.extend(replies.iter().map(|reply| match reply {
            Value::Array(items) => items.iter().map(text).collect(),
            one => vec![text(one)],
        }));
    }
    picks
}

/// Fails unless every one of `members`, and nothing else, was picked
/// between `low` and `high` times.
fn assert_picked_evenly(what: &str, picks: &[Vec<String>], members: &[String], low: usize, high: usize) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for pick in picks.iter().flatten() {
        *counts.entry(pick.as_str()).or_default() += 1;
    }
    assert_eq!(counts.len(), members.len(), "{what} picked other members: {counts:?}");
    for member in members {
        let n = counts.get(member.as_str()).copied().unwrap_or(0);
        assert!(
            (low..=high).contains(&n),
            "{what}: {member} picked {n} times, not {low}..={high}: {counts:?}"
        );
    }
}

/// SRANDMEMBER, HRANDFIELD and ZRANDMEMBER over ten members. The bands are
/// about six standard deviations wide for independent uniform picks, so a
/// correct server fails them with a probability far below one in a
/// million; picks that repeat within a millisecond fail the test of
/// consecutive repeats.
#[tokio::test]
async fn random_members_fields_and_zset_members_are_picked_uniformly() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let members: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["SADD".to_string(), "s".into()];
    let mut hset = vec!["HSET".to_string(), "h".into()];
    let mut zadd = vec!["ZADD".to_string(), "z".into()];
    for (i, member) in members.iter().enumerate() {
        sadd.push(member.clone());
        hset.extend([member.clone(), i.to_string()]);
        zadd.extend([i.to_string(), member.clone()]);
    }
    for words in [&sadd, &hset, &zadd] {
        assert_eq!(show(&call(&mut c, words).await), "10", "{words:?}");
    }
    for (name, key) in [("SRANDMEMBER", "s"), ("HRANDFIELD", "h"), ("ZRANDMEMBER", "z")] {
        // 20,000 single picks: each member about 2,000 times (standard
        // deviation 42), and a pick equal to the one before about one time
        // in ten.
        let single = random_picks(&mut c, &[name, key], 20_000).await;
        assert_picked_evenly(name, &single, &members, 1_750, 2_250);
        let repeats = single.windows(2).filter(|pair| pair[0] == pair[1]).count();
        assert!((1_750..=2_250).contains(&repeats), "{name}: {repeats} consecutive repeats in 20,000 picks");
        // A negative count: 4,000 calls of 5 picks with repetition.
        let repeated = random_picks(&mut c, &[name, key, "-5"], 4_000).await;
        assert!(repeated.iter().all(|picks| picks.len() == 5), "{name} -5");
        assert_picked_evenly(&format!("{name} -5"), &repeated, &members, 1_750, 2_250);
        // A positive count: 6,000 samples of 3 distinct members, each
        // member in about 1,800 of them (standard deviation 36).
        let samples = random_picks(&mut c, &[name, key, "3"], 6_000).await;
        for sample in &samples {
            assert_eq!(sample.iter().collect::<BTreeSet<_>>().len(), 3, "{name} 3 gave {sample:?}");
        }
        assert_picked_evenly(&format!("{name} 3"), &samples, &members, 1_600, 2_000);
    }
    // The reply shapes are Redis': in RESP3, pairs of member and value.
    let mut c3 = resp3(addr).await;
    for line in ["HRANDFIELD h -4 WITHVALUES", "HRANDFIELD h 4 WITHVALUES", "ZRANDMEMBER z -4 WITHSCORES"] {
        let reply = call(&mut c3, &line.split_whitespace().collect::<Vec<_>>()).await;
        let Value::Array(pairs) = &reply else { panic!("{line}: {}", show(&reply)) };
        assert_eq!(pairs.len(), 4, "{line}: {}", show(&reply));
        for pair in pairs {
            let Value::Array(pair) = pair else { panic!("{line}: {}", show(&reply)) };
            let value = match &pair[1] {
                Value::Double(score) => format!("{score}"),
                other => text(other),
            };
            assert_eq!(text(&pair[0]), format!("m{value}"), "{line}: {}", show(&reply));
        }
    }
    node.shutdown().await.unwrap();
}

/// CONFIG GET's reply, a RESP3 map, as sorted `name=value` texts.
async fn config_get(con: &mut MultiplexedConnection, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let reply = call(con, &words).await;
    let Value::Map(pairs) = &reply else { panic!("{line}: {}", show(&reply)) };
    let mut found: Vec<String> =
        pairs.iter().map(|(name, value)| format!("{}={}", text(name), text(value))).collect();
    found.sort();
    found
}

#[tokio::test]
async fn config_get_with_several_patterns_returns_every_match_once() {
    let (node, addr) = start().await;
    let mut c = resp3(addr).await;
    let port = format!("port={}", addr.port());
    assert_eq!(
        config_get(&mut c, "CONFIG GET maxmemory port").await,
        ["maxmemory=0".to_string(), port.clone()]
    );
    assert_eq!(
        config_get(&mut c, "CONFIG GET port no-such-parameter appendonly").await,
        ["appendonly=yes".to_string(), port.clone()]
    );
    // A name without glob characters is replied as spelled; each parameter
    // comes once, whichever patterns match it.
    assert_eq!(
        config_get(&mut c, "CONFIG GET MAXMEMORY maxmemory MaxMemory* port").await,
        [
            "MAXMEMORY=0".to_string(),
            "maxmemory-clients=0".to_string(),
            "maxmemory-eviction-tenacity=10".to_string(),
            "maxmemory-policy=noeviction".to_string(),
            "maxmemory-samples=5".to_string(),
            port
        ]
    );
    assert_eq!(run(&mut c, "CONFIG GET").await, "-ERR wrong number of arguments for 'config|get' command");
    let mut c2 = resp2(addr).await;
    let reply = call(&mut c2, &["CONFIG", "GET", "maxmemory", "port"]).await;
    let Value::Array(flat) = &reply else { panic!("RESP2 CONFIG GET: {}", show(&reply)) };
    assert_eq!(flat.len(), 4, "{}", show(&reply));
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn flushall_fails_a_transaction_watching_a_key_it_deleted_only() {
    let (node, addr) = start().await;
    let (mut a, mut b) = (resp2(addr).await, resp2(addr).await);
    // A missing key is not touched by a flush: the transaction runs.
    assert_eq!(run(&mut a, "WATCH missing").await, "+OK");
    assert_eq!(run(&mut b, "FLUSHALL").await, "+OK");
    assert_eq!(run(&mut a, "MULTI").await, "+OK");
    assert_eq!(run(&mut a, "SET missing 1").await, "+QUEUED");
    assert_eq!(run(&mut a, "EXEC").await, "[+OK]");
    // A key the flush deletes is: the transaction fails.
    assert_eq!(run(&mut a, "WATCH missing").await, "+OK");
    assert_eq!(run(&mut b, "SELECT 2").await, "+OK");
    assert_eq!(run(&mut b, "SET other 1").await, "+OK");
    assert_eq!(run(&mut b, "FLUSHDB").await, "+OK");
    assert_eq!(run(&mut a, "MULTI").await, "+OK");
    assert_eq!(run(&mut a, "SET k 1").await, "+QUEUED");
    assert_eq!(run(&mut a, "EXEC").await, "[+OK]", "FLUSHDB of another database");
    assert_eq!(run(&mut a, "WATCH missing").await, "+OK");
    assert_eq!(run(&mut b, "FLUSHALL").await, "+OK");
    assert_eq!(run(&mut a, "MULTI").await, "+OK");
    assert_eq!(run(&mut a, "SET k 2").await, "+QUEUED");
    assert_eq!(run(&mut a, "EXEC").await, "nil");
    node.shutdown().await.unwrap();
}
