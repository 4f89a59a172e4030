//! HyperLogLog over real sockets: PFADD, PFCOUNT, PFMERGE and PFDEBUG in
//! RESP2 and RESP3, WATCH seeing PFCOUNT's cache write, and a differential
//! part against `redis-server`: the same commands must give the same
//! replies and `GET` the same bytes (sparse and dense), and a sketch copied
//! with GET and SET from one server to the other must keep counting alike.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{resp2, resp3, run, show, start_redis, start_with};
use orbit_server::Config;
use redis::Value;
use redis::aio::{ConnectionLike, MultiplexedConnection};

/// Sends a command of binary words.
async fn send(con: &mut MultiplexedConnection, words: &[&[u8]]) -> Value {
    let mut cmd = redis::Cmd::new();
    for word in words {
        cmd.arg(*word);
    }
    con.req_packed_command(&cmd).await.unwrap()
}

/// `PFADD key e<from>..=e<to>`.
async fn pfadd_range(con: &mut MultiplexedConnection, key: &str, from: usize, to: usize) -> Value {
    let elements: Vec<Vec<u8>> = (from..=to).map(|i| format!("e{i}").into_bytes()).collect();
    let mut words: Vec<&[u8]> = vec![&b"PFADD"[..], key.as_bytes()];
    words.extend(elements.iter().map(Vec::as_slice));
    send(con, &words).await
}

fn printable(words: &[&[u8]]) -> String {
    let shown: Vec<String> = words.iter().take(6).map(|w| String::from_utf8_lossy(w).into_owned()).collect();
    shown.join(" ")
}

#[tokio::test]
async fn pf_commands_answer_in_resp2_and_resp3() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    for (n, mut c) in [resp2(addr).await, resp3(addr).await].into_iter().enumerate() {
        let (h, g) = (format!("h{n}"), format!("g{n}"));
        assert_eq!(run(&mut c, &format!("PFADD {h} a b c")).await, "1");
        assert_eq!(run(&mut c, &format!("PFADD {h} a")).await, "0");
        assert_eq!(run(&mut c, &format!("PFADD {h}")).await, "0");
        assert_eq!(run(&mut c, &format!("PFCOUNT {h}")).await, "3");
        assert_eq!(run(&mut c, &format!("PFCOUNT missing{n}")).await, "0");
        assert_eq!(run(&mut c, &format!("PFADD {g} c d")).await, "1");
        assert_eq!(run(&mut c, &format!("PFCOUNT {h} {g} missing{n}")).await, "4");
        assert_eq!(run(&mut c, &format!("EXISTS missing{n}")).await, "0", "PFCOUNT creates nothing");
        assert_eq!(run(&mut c, &format!("PFMERGE u{n} {h} {g}")).await, "+OK");
        assert_eq!(run(&mut c, &format!("PFCOUNT u{n}")).await, "4");
        assert_eq!(run(&mut c, &format!("TYPE u{n}")).await, "+string");
        assert_eq!(run(&mut c, &format!("PFDEBUG ENCODING u{n}")).await, "+sparse");
        assert_eq!(run(&mut c, &format!("PFDEBUG TODENSE u{n}")).await, "1");
        assert_eq!(run(&mut c, &format!("PFDEBUG ENCODING u{n}")).await, "+dense");
        assert_eq!(run(&mut c, &format!("STRLEN u{n}")).await, "12304");
        assert_eq!(run(&mut c, &format!("PFCOUNT u{n}")).await, "4");

        let not_hll = "-WRONGTYPE Key is not a valid HyperLogLog string value.";
        assert_eq!(run(&mut c, &format!("SET s{n} hello")).await, "+OK");
        assert_eq!(run(&mut c, &format!("PFADD s{n} x")).await, not_hll);
        assert_eq!(run(&mut c, &format!("PFCOUNT s{n}")).await, not_hll);
        assert_eq!(run(&mut c, &format!("PFCOUNT {h} s{n}")).await, not_hll);
        assert_eq!(run(&mut c, &format!("PFMERGE {h} s{n}")).await, not_hll);
        assert_eq!(run(&mut c, &format!("PFCOUNT {h}")).await, "3", "a failed PFMERGE writes nothing");
        assert_eq!(run(&mut c, &format!("RPUSH l{n} x")).await, "1");
        let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
        assert_eq!(run(&mut c, &format!("PFADD l{n} x")).await, wrongtype);
        assert_eq!(run(&mut c, "PFADD").await, "-ERR wrong number of arguments for 'pfadd' command");
        assert!(run(&mut c, "PFSELFTEST").await.starts_with("-ERR unknown command 'PFSELFTEST'"));
    }
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn pfcount_stores_a_stale_cardinality_and_watch_sees_it() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let (mut a, mut b) = (resp2(addr).await, resp2(addr).await);
    assert_eq!(run(&mut a, "PFADD h x y").await, "1");
    let Value::BulkString(stale) = send(&mut a, &[b"GET", b"h"]).await else { panic!("GET h") };
    assert_eq!(stale[15] & 0x80, 0x80, "PFADD leaves the cache stale");

    assert_eq!(run(&mut a, "WATCH h").await, "+OK");
    assert_eq!(run(&mut b, "PFCOUNT h").await, "2");
    assert_eq!(run(&mut a, "MULTI").await, "+OK");
    assert_eq!(run(&mut a, "PING").await, "+QUEUED");
    assert_eq!(run(&mut a, "EXEC").await, "nil", "the cache write counts as a change");
    let Value::BulkString(fresh) = send(&mut a, &[b"GET", b"h"]).await else { panic!("GET h") };
    assert_eq!(&fresh[8..16], &[2, 0, 0, 0, 0, 0, 0, 0]);

    assert_eq!(run(&mut a, "WATCH h").await, "+OK");
    assert_eq!(run(&mut b, "PFCOUNT h").await, "2");
    assert_eq!(run(&mut a, "MULTI").await, "+OK");
    assert_eq!(run(&mut a, "PING").await, "+QUEUED");
    assert_eq!(run(&mut a, "EXEC").await, "[+PONG]", "a valid cache is only read");

    assert_eq!(run(&mut a, "EXPIRE h 100").await, "1");
    assert_eq!(run(&mut a, "PFADD h z").await, "1");
    assert_eq!(run(&mut a, "PFCOUNT h").await, "3");
    assert_eq!(run(&mut a, "TTL h").await, "100", "PFADD and PFCOUNT keep the TTL");
    node.shutdown().await.unwrap();
}

/// An Orbit node and a redis-server, a connection to each.
struct Pair {
    redis: MultiplexedConnection,
    orbit: MultiplexedConnection,
}

impl Pair {
    /// Runs a command on both; the replies must be the same.
    async fn both(&mut self, words: &[&[u8]]) -> Value {
        let want = send(&mut self.redis, words).await;
        let got = send(&mut self.orbit, words).await;
        assert_eq!(show(&got), show(&want), "{}: orbit, then redis-server", printable(words));
        assert_eq!(got, want, "{}: orbit, then redis-server", printable(words));
        got
    }

    /// The key's bytes must be the same on both.
    async fn same_bytes(&mut self, key: &str) {
        self.both(&[b"GET", key.as_bytes()]).await;
    }

    async fn both_range(&mut self, key: &str, from: usize, to: usize) {
        let want = pfadd_range(&mut self.redis, key, from, to).await;
        let got = pfadd_range(&mut self.orbit, key, from, to).await;
        assert_eq!(got, want, "PFADD {key} e{from}..e{to}");
        self.same_bytes(key).await;
    }
}

async fn pair(resp3: bool) -> Option<(Pair, orbit_server::Node, tokio::process::Child, tempfile::TempDir)> {
    if !common::require_program("redis-server") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (child, redis_addr) = start_redis(dir.path()).await;
    let (node, orbit_addr) = start_with(Config::ephemeral()).await;
    let query = if resp3 { "?protocol=resp3" } else { "" };
    let redis = common::resp::connect_url(&format!("redis://{redis_addr}/{query}")).await;
    let orbit = common::resp::connect_url(&format!("redis://{orbit_addr}/{query}")).await;
    Some((Pair { redis, orbit }, node, child, dir))
}

#[tokio::test]
async fn sketches_match_redis_server_byte_for_byte() {
    let Some((mut p, node, _redis, _dir)) = pair(false).await else { return };
    p.both(&[b"PFADD", b"empty"]).await;
    p.same_bytes("empty").await;
    p.both(&[b"PFADD", b"s", b"a", b"b", b"c"]).await;
    p.same_bytes("s").await;
    p.both(&[b"PFCOUNT", b"s"]).await;
    p.same_bytes("s").await;
    p.both(&[b"PFADD", b"bin", b"", b"\x00", &[0xffu8; 9], &[7u8; 100], b"a"]).await;
    p.same_bytes("bin").await;

    // 100 elements at a time through the sparse limit, promotion, and on.
    for batch in 0..60 {
        p.both_range("d", batch * 100 + 1, batch * 100 + 100).await;
        p.both(&[b"PFDEBUG", b"ENCODING", b"d"]).await;
        if batch % 10 == 9 {
            p.both(&[b"PFCOUNT", b"d"]).await;
            p.same_bytes("d").await;
        }
    }
    // One element at a time around the promotion.
    for i in 0..400 {
        let element = format!("one{i}");
        p.both(&[b"PFADD", b"one", element.as_bytes()]).await;
    }
    p.same_bytes("one").await;

    p.both(&[b"PFCOUNT", b"s", b"bin", b"missing"]).await;
    p.both(&[b"PFCOUNT", b"s", b"d", b"one"]).await;
    p.both(&[b"PFMERGE", b"m", b"s", b"bin"]).await;
    p.same_bytes("m").await;
    p.both(&[b"PFMERGE", b"m", b"one"]).await;
    p.same_bytes("m").await;
    p.both(&[b"PFMERGE", b"m", b"d"]).await;
    p.same_bytes("m").await;
    p.both(&[b"PFCOUNT", b"m"]).await;
    p.both(&[b"PFMERGE", b"fresh"]).await;
    p.same_bytes("fresh").await;
    p.both(&[b"PFMERGE", b"copy", b"s", b"missing"]).await;
    p.same_bytes("copy").await;

    p.both(&[b"PFDEBUG", b"DECODE", b"s"]).await;
    p.both(&[b"PFDEBUG", b"GETREG", b"s"]).await;
    p.same_bytes("s").await;
    p.both(&[b"PFDEBUG", b"TODENSE", b"bin"]).await;
    p.both(&[b"PFDEBUG", b"TODENSE", b"bin"]).await;
    p.same_bytes("bin").await;
    p.both(&[b"PFDEBUG", b"DECODE", b"d"]).await;
    p.both(&[b"PFDEBUG", b"nope", b"s"]).await;
    p.both(&[b"PFDEBUG", b"GETREG", b"missing"]).await;
    p.both(&[b"PFDEBUG", b"GETREG"]).await;

    // Not sketches, and a corrupt one (a sparse run one register short).
    p.both(&[b"SET", b"str", b"hello"]).await;
    p.both(&[b"PFADD", b"str", b"a"]).await;
    p.both(&[b"PFCOUNT", b"str"]).await;
    p.both(&[b"PFCOUNT", b"s", b"str"]).await;
    p.both(&[b"PFMERGE", b"m", b"str"]).await;
    p.both(&[b"SET", b"short", b"HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"]).await;
    p.both(&[b"PFCOUNT", b"short"]).await;
    p.both(&[b"RPUSH", b"list", b"a"]).await;
    p.both(&[b"PFADD", b"list", b"a"]).await;
    p.both(&[b"PFMERGE", b"list", b"s"]).await;
    let corrupt = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x7f\xfe";
    p.both(&[b"SET", b"bad", corrupt]).await;
    p.both(&[b"PFCOUNT", b"bad"]).await;
    p.both(&[b"PFCOUNT", b"s", b"bad"]).await;
    p.both(&[b"PFMERGE", b"m", b"bad"]).await;
    p.both(&[b"PFADD", b"bad", b"a", b"b", b"c"]).await;
    p.same_bytes("bad").await;
    p.both(&[b"PFADD"]).await;
    p.both(&[b"PFCOUNT"]).await;
    p.both(&[b"PFMERGE"]).await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn sketches_move_between_servers_with_get_and_set() {
    let Some((mut p, node, _redis, _dir)) = pair(true).await else { return };
    // Built on redis-server, counted and extended on both.
    pfadd_range(&mut p.redis, "sparse", 1, 300).await;
    pfadd_range(&mut p.redis, "dense", 1, 3000).await;
    for key in ["sparse", "dense"] {
        let bytes = send(&mut p.redis, &[b"GET", key.as_bytes()]).await;
        let Value::BulkString(bytes) = bytes else { panic!("GET {key}") };
        assert_eq!(send(&mut p.orbit, &[b"SET", key.as_bytes(), &bytes]).await, Value::Okay);
        p.both(&[b"PFCOUNT", key.as_bytes()]).await;
        p.both_range(key, 250, 400).await;
        p.both(&[b"PFCOUNT", key.as_bytes()]).await;
        p.same_bytes(key).await;
    }
    // Built on Orbit, the other way round.
    pfadd_range(&mut p.orbit, "mine", 1, 2000).await;
    let Value::BulkString(bytes) = send(&mut p.orbit, &[b"GET", b"mine"]).await else { panic!("GET mine") };
    assert_eq!(send(&mut p.redis, &[b"SET", b"mine", &bytes]).await, Value::Okay);
    p.both(&[b"PFCOUNT", b"mine"]).await;
    p.both_range("mine", 1900, 2600).await;
    p.both(&[b"PFCOUNT", b"mine", b"sparse", b"dense"]).await;
    p.both(&[b"PFMERGE", b"mine", b"sparse"]).await;
    p.same_bytes("mine").await;
    node.shutdown().await.unwrap();
}
