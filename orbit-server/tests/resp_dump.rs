//! DUMP and RESTORE in Redis' payload format, and MOVE, against a real
//! `redis-server` (skipped when it is not installed, unless `CI` is set):
//! every type in every encoding Redis 7.0 writes (small and large hashes,
//! sets, sorted sets and lists, int sets, int-encoded and LZF-compressed
//! strings) is dumped on one server, restored on the other, and read back
//! the same, both ways; corrupt payloads are refused with the same errors.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{resp2, run, show, start_with, wait_for_blocked};
use orbit_server::Config;
use redis::Value;
use redis::aio::{ConnectionLike, MultiplexedConnection};

/// How a key's value is read back for comparison, in an order that does
/// not depend on the encoding.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    List,
    Hash,
    Set,
    ZSet,
}

/// A value to move: its name (also its key), how it reads, and the command
/// (after the key) that creates it.
struct Fixture {
    name: &'static str,
    kind: Kind,
    command: &'static str,
    args: Vec<String>,
}

fn fixture(name: &'static str, kind: Kind, command: &'static str, args: Vec<String>) -> Fixture {
    Fixture { name, kind, command, args }
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

/// Every type, in the encodings Redis 7.0 picks by size and content.
fn fixtures() -> Vec<Fixture> {
    let numbered = |prefix: &str, n: usize| (0..n).map(|i| format!("{prefix}{i}")).collect::<Vec<_>>();
    let long = "0123456789abcdef".repeat(8);
    let scored: Vec<String> =
        (0..200).flat_map(|i| [format!("{}", f64::from(i) * 0.5 - 20.0), format!("m{i}")]).collect();
    let fields: Vec<String> = (0..300).flat_map(|i| [format!("field{i}"), format!("{}", i * 7)]).collect();
    vec![
        fixture("str-raw", Kind::Str, "SET", vec!["hello world".into()]),
        fixture("str-empty", Kind::Str, "SET", vec![String::new()]),
        fixture("str-int8", Kind::Str, "SET", words("-12")),
        fixture("str-int16", Kind::Str, "SET", words("12345")),
        fixture("str-int32", Kind::Str, "SET", words("-1000000")),
        fixture("str-int64", Kind::Str, "SET", words("9223372036854775807")),
        fixture("str-lzf", Kind::Str, "SET", vec!["abc".repeat(500)]),
        fixture("str-long", Kind::Str, "SET", vec![numbered("", 400).concat()]),
        fixture("list-small", Kind::List, "RPUSH", {
            let mut items = words("1 -2 300 70000 5000000000 -9223372036854775808 hello");
            items.push(String::new());
            items
        }),
        fixture("list-large", Kind::List, "RPUSH", {
            let mut items = numbered("element-", 3000);
            items.extend(std::iter::repeat_n(long.clone(), 50));
            items
        }),
        fixture("hash-small", Kind::Hash, "HSET", words("f1 v1 f2 12 n -7")),
        fixture("hash-large", Kind::Hash, "HSET", fields),
        fixture("hash-long-value", Kind::Hash, "HSET", vec!["f".into(), long.clone()]),
        fixture("set-intset", Kind::Set, "SADD", words("5 -3 70000 5000000000")),
        fixture("set-ints-large", Kind::Set, "SADD", numbered("", 600)),
        fixture("set-strings", Kind::Set, "SADD", words("a b c 1")),
        fixture("set-strings-large", Kind::Set, "SADD", numbered("member-", 300)),
        fixture("zset-small", Kind::ZSet, "ZADD", words("1.5 a -2 b inf c -inf d 0 e")),
        fixture("zset-large", Kind::ZSet, "ZADD", scored),
        fixture("zset-long-member", Kind::ZSet, "ZADD", vec!["3".into(), long]),
    ]
}

async fn call(con: &mut MultiplexedConnection, words: &[&[u8]]) -> Value {
    let mut cmd = redis::Cmd::new();
    for word in words {
        cmd.arg(*word);
    }
    con.req_packed_command(&cmd).await.unwrap()
}

async fn call_strings(con: &mut MultiplexedConnection, words: &[String]) -> Value {
    let words: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    call(con, &words).await
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => show(other),
    }
}

/// The value at `key`, as text that compares equal across servers.
async fn read(con: &mut MultiplexedConnection, kind: Kind, key: &str) -> String {
    let k = key.as_bytes();
    match kind {
        Kind::Str => show(&call(con, &[b"GET", k]).await),
        Kind::List => show(&call(con, &[b"LRANGE", k, b"0", b"-1"]).await),
        Kind::ZSet => show(&call(con, &[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]).await),
        Kind::Set => {
            let mut members: Vec<String> = match call(con, &[b"SMEMBERS", k]).await {
                Value::Array(items) | Value::Set(items) => items.iter().map(text).collect(),
                other => panic!("SMEMBERS {key}: {}", show(&other)),
            };
            members.sort();
            format!("{members:?}")
        }
        Kind::Hash => {
            let mut pairs: Vec<(String, String)> = match call(con, &[b"HGETALL", k]).await {
                Value::Array(items) => items.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect(),
                Value::Map(pairs) => pairs.iter().map(|(f, v)| (text(f), text(v))).collect(),
                other => panic!("HGETALL {key}: {}", show(&other)),
            };
            pairs.sort();
            format!("{pairs:?}")
        }
    }
}

/// Creates the fixture at `key` and returns its DUMP payload.
async fn create_and_dump(con: &mut MultiplexedConnection, f: &Fixture, key: &str) -> Vec<u8> {
    call(con, &[b"DEL", key.as_bytes()]).await;
    let mut line = vec![f.command.to_string(), key.to_string()];
    line.extend(f.args.iter().cloned());
    let created = call_strings(con, &line).await;
    assert!(!matches!(created, Value::ServerError(_)), "{}: {}", f.name, show(&created));
    match call(con, &[b"DUMP", key.as_bytes()]).await {
        Value::BulkString(payload) => payload,
        other => panic!("DUMP {key}: {}", show(&other)),
    }
}

type Servers = common::resp::Peers;

async fn every_value_moves_both_ways(resp3: bool) {
    let Some(mut s) = common::resp::peers(resp3).await else { return };
    for f in fixtures() {
        let payload = create_and_dump(&mut s.redis, &f, f.name).await;
        let restored = call(&mut s.orbit, &[b"RESTORE", f.name.as_bytes(), b"0", &payload]).await;
        assert_eq!(show(&restored), "+OK", "{}: redis-server's payload on Orbit", f.name);
        let expected = read(&mut s.redis, f.kind, f.name).await;
        assert_eq!(read(&mut s.orbit, f.kind, f.name).await, expected, "{}: redis-server -> Orbit", f.name);

        let back = format!("back:{}", f.name);
        let payload = create_and_dump(&mut s.orbit, &f, &back).await;
        let restored = call(&mut s.redis, &[b"RESTORE", back.as_bytes(), b"0", &payload]).await;
        assert_eq!(show(&restored), "+OK", "{}: Orbit's payload on redis-server", f.name);
        let expected = read(&mut s.orbit, f.kind, &back).await;
        assert_eq!(read(&mut s.redis, f.kind, &back).await, expected, "{}: Orbit -> redis-server", f.name);
    }
    s.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_type_and_encoding_moves_between_redis_and_orbit_in_resp2() {
    every_value_moves_both_ways(false).await;
}

#[tokio::test]
async fn every_type_and_encoding_moves_between_redis_and_orbit_in_resp3() {
    every_value_moves_both_ways(true).await;
}

/// CRC-64/Jones as Redis computes it, to seal hand-made payloads.
fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &byte in data {
        crc ^= u64::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5 } else { crc >> 1 };
        }
    }
    crc
}

/// A payload of `body` with a valid footer of RDB `version`.
fn sealed(body: &[u8], version: u16) -> Vec<u8> {
    let mut payload = body.to_vec();
    payload.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    payload
}

#[tokio::test]
async fn corrupt_payloads_are_refused_as_redis_refuses_them() {
    let Some(mut s) = common::resp::peers(false).await else { return };
    let lzf = fixtures().into_iter().find(|f| f.name == "str-lzf").unwrap();
    let good = create_and_dump(&mut s.redis, &lzf, "src").await;
    assert_eq!(sealed(&good[..good.len() - 10], 10), good, "the test seals payloads as Redis does");
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    let mut bad_lzf = good[..good.len() - 10].to_vec();
    bad_lzf[4] ^= 1; // the uncompressed length
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a flipped byte", flipped),
        ("a truncated payload", good[..good.len() - 3].to_vec()),
        ("too short", b"garbage".to_vec()),
        ("a newer RDB version", sealed(&good[..good.len() - 10], 12)),
        ("an empty set", sealed(&[2, 0], 10)),
        ("a repeated member", sealed(&[2, 2, 1, b'a', 1, b'a'], 10)),
        ("an unknown type", sealed(&[42], 10)),
        ("a wrong LZF length", sealed(&bad_lzf, 10)),
    ];
    for (what, payload) in cases {
        let expected = show(&call(&mut s.redis, &[b"RESTORE", b"k", b"0", &payload]).await);
        assert!(expected.starts_with("-ERR"), "{what}: {expected}");
        let got = show(&call(&mut s.orbit, &[b"RESTORE", b"k", b"0", &payload]).await);
        assert_eq!(got, expected, "{what}");
    }
    // A string longer than the payload's body: Redis reads on into the
    // footer (and accepts it); Orbit refuses it.
    let truncated = sealed(&[0, 5, b'a'], 10);
    let got = show(&call(&mut s.orbit, &[b"RESTORE", b"k", b"0", &truncated]).await);
    assert_eq!(got, "-ERR Bad data format");
    assert_eq!(show(&call(&mut s.orbit, &[b"EXISTS", b"k"]).await), "0");
    s.node.shutdown().await.unwrap();
}

/// Runs `line` (binary words) on both servers and compares the replies.
async fn same(s: &mut Servers, line: &[&[u8]]) -> String {
    let expected = show(&call(&mut s.redis, line).await);
    let got = show(&call(&mut s.orbit, line).await);
    let shown: Vec<String> = line.iter().map(|w| String::from_utf8_lossy(w).into_owned()).collect();
    assert_eq!(got, expected, "{shown:?}");
    got
}

#[tokio::test]
async fn restore_options_ttl_and_errors_match_redis() {
    let Some(mut s) = common::resp::peers(false).await else { return };
    let plain = fixtures().into_iter().find(|f| f.name == "str-raw").unwrap();
    let p = create_and_dump(&mut s.redis, &plain, "src").await;
    let p = p.as_slice();
    same(&mut s, &[b"SET", b"r1", b"x"]).await;
    let lines: &[&[&[u8]]] = &[
        &[b"RESTORE", b"r1", b"0", p],
        &[b"RESTORE", b"r1", b"0", p, b"REPLACE"],
        &[b"GET", b"r1"],
        &[b"RESTORE", b"r1", b"-1", p, b"REPLACE"],
        &[b"RESTORE", b"r1", b"x", p, b"REPLACE"],
        &[b"RESTORE", b"r1", b"0", p, b"FOO"],
        &[b"RESTORE", b"r1", b"0", p, b"REPLACE", b"IDLETIME", b"10"],
        &[b"RESTORE", b"r1", b"0", p, b"REPLACE", b"FREQ", b"5"],
        &[b"RESTORE", b"r1", b"0", p, b"REPLACE", b"IDLETIME", b"1", b"FREQ", b"1"],
        &[b"RESTORE", b"r1", b"0", p, b"REPLACE", b"IDLETIME", b"-1"],
        &[b"RESTORE", b"r1", b"0", p, b"REPLACE", b"FREQ", b"256"],
        &[b"RESTORE", b"r2", b"100000", p],
        &[b"RESTORE", b"r3", b"1", p, b"ABSTTL"],
        &[b"EXISTS", b"r3"],
        &[b"RESTORE", b"r1", b"1", p, b"ABSTTL", b"REPLACE"],
        &[b"EXISTS", b"r1"],
        &[b"RESTORE", b"r4", b"4102444800000", p, b"ABSTTL"],
        &[b"PEXPIRETIME", b"r4"],
        &[b"DUMP", b"missing"],
        &[b"DUMP"],
    ];
    for line in lines {
        same(&mut s, line).await;
    }
    for server in [&mut s.redis, &mut s.orbit] {
        let ttl = show(&call(server, &[b"PTTL", b"r2"]).await).parse::<i64>().unwrap();
        assert!(ttl > 90_000 && ttl <= 100_000, "the relative TTL is kept: {ttl}");
    }
    s.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn move_keeps_the_value_and_ttl_and_matches_redis() {
    let Some(mut s) = common::resp::peers(false).await else { return };
    let lines = [
        "SET mk v",
        "EXPIRE mk 100",
        "HSET mh f v g w",
        "MOVE mk 1",
        "MOVE mk 1",
        "MOVE mh 2",
        "MOVE missing 1",
        "MOVE mh 0",
        "MOVE mh 16",
        "MOVE mh -1",
        "MOVE mh x",
        "MOVE mh 4294967296",
        "SET other 0",
        "SWAPDB 0 x",
        "SWAPDB x 0",
        "SWAPDB 0 16",
        "SELECT 1",
        "GET mk",
        "SET other 1",
        "MOVE other 0",
        "GET other",
        "SELECT 2",
        "HGETALL mh",
        "SELECT 0",
        "GET other",
        "EXISTS mk mh",
    ];
    for line in lines {
        let words: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
        same(&mut s, &words).await;
    }
    for server in [&mut s.redis, &mut s.orbit] {
        call(server, &[b"SELECT", b"1"]).await;
        let ttl = show(&call(server, &[b"TTL", b"mk"]).await).parse::<i64>().unwrap();
        assert!(ttl > 90 && ttl <= 100, "MOVE keeps the TTL: {ttl}");
    }
    s.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn swapdb_exchanges_two_databases_as_redis_does() {
    let Some(mut s) = common::resp::peers(false).await else { return };
    let lines = [
        "SET a zero",
        "HSET h f 0",
        "SELECT 1",
        "SET b one",
        "RPUSH l x y",
        "SET a one",
        "SWAPDB 0 1",
        "GET a",
        "GET b",
        "HGETALL h",
        "DBSIZE",
        "SELECT 0",
        "GET a",
        "LRANGE l 0 -1",
        "EXISTS h",
        "DBSIZE",
        "SWAPDB 0 0",
        "SWAPDB 1 0",
        "GET a",
        "SWAPDB 5 0",
        "DBSIZE",
        "SELECT 5",
        "GET a",
        "SWAPDB 0 x",
        "SWAPDB x 0",
        "SWAPDB 0 16",
        "SWAPDB -1 0",
        "SWAPDB 0",
    ];
    for line in lines {
        let words: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
        same(&mut s, &words).await;
    }
    s.node.shutdown().await.unwrap();
}

/// As in Redis, SWAPDB fails a transaction watching a key that exists in
/// either database, leaves one watching a key of neither alone, and serves
/// a client blocked on a key the swap brought in.
#[tokio::test]
async fn swapdb_fails_watchers_and_serves_blocked_clients_as_redis_does() {
    let Some(mut s) = common::resp::peers(false).await else { return };
    let mut outcomes = Vec::new();
    for (main, addr) in [(&mut s.redis, s.redis_addr), (&mut s.orbit, s.orbit_addr)] {
        let mut watcher = resp2(addr).await;
        let mut idle = resp2(addr).await;
        let mut blocked = resp2(addr).await;
        run(main, "SELECT 1").await;
        run(main, "SET w one").await;
        run(&mut watcher, "WATCH w").await;
        run(&mut idle, "WATCH nowhere").await;
        run(&mut blocked, "SELECT 2").await;
        let pop = tokio::spawn(async move { run(&mut blocked, "BLPOP q 0").await });
        wait_for_blocked(main, 1).await;
        run(main, "SELECT 3").await;
        run(main, "RPUSH q item").await;
        let swapped = run(main, "SWAPDB 0 1").await;
        let swapped_again = run(main, "SWAPDB 2 3").await;
        run(&mut watcher, "MULTI").await;
        run(&mut watcher, "GET w").await;
        let watched = run(&mut watcher, "EXEC").await;
        run(&mut idle, "MULTI").await;
        run(&mut idle, "PING").await;
        let unrelated = run(&mut idle, "EXEC").await;
        let popped = tokio::time::timeout(common::resp::PATIENCE, pop).await.unwrap().unwrap();
        run(main, "SELECT 2").await;
        let left = run(main, "EXISTS q").await;
        outcomes.push(vec![swapped, swapped_again, watched, unrelated, popped, left]);
    }
    assert_eq!(outcomes[1], outcomes[0], "orbit, then redis-server");
    assert_eq!(outcomes[1][2], "nil", "the watcher's EXEC fails");
    assert_eq!(outcomes[1][4], "[\"q\", \"item\"]", "the blocked client is served");
    s.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_swap_survives_a_restart_and_sql_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::lsm_config(dir.path());
    config.postgres.addr = ([127, 0, 0, 1], 0).into();
    let (node, addr) = start_with(config.clone()).await;
    let mut c = resp2(addr).await;
    run(&mut c, "SET here zero").await;
    run(&mut c, "SELECT 4").await;
    run(&mut c, "SET there four").await;
    run(&mut c, "EXPIRE there 1000").await;
    assert_eq!(run(&mut c, "SWAPDB 0 4").await, "+OK");
    node.shutdown().await.unwrap();

    let (node, addr) = start_with(config).await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "GET there").await, "\"four\"");
    assert_eq!(run(&mut c, "GET here").await, "nil");
    let ttl: i64 = run(&mut c, "TTL there").await.parse().unwrap();
    assert!(ttl > 900, "the TTL moves with the key: {ttl}");
    run(&mut c, "SELECT 4").await;
    assert_eq!(run(&mut c, "GET here").await, "\"zero\"");
    assert_eq!(run(&mut c, "KEYS *").await, "[\"here\"]");

    // SQL's orbit_redis names databases by the same table.
    let pg = node.pg_addr().expect("the node serves PostgreSQL");
    let sql = common::sql::connect(pg).await;
    let seen = common::sql::rows(&sql, "SELECT db, key FROM orbit_redis ORDER BY db, key").await;
    assert_eq!(seen, ["0|there", "4|here"]);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn dump_and_restore_round_trip_on_orbit_alone() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut c = resp2(addr).await;
    for f in fixtures() {
        let payload = create_and_dump(&mut c, &f, f.name).await;
        let expected = read(&mut c, f.kind, f.name).await;
        let copy = format!("copy:{}", f.name);
        let restored = call(&mut c, &[b"RESTORE", copy.as_bytes(), b"0", &payload]).await;
        assert_eq!(show(&restored), "+OK", "{}", f.name);
        assert_eq!(read(&mut c, f.kind, &copy).await, expected, "{}", f.name);
    }
    node.shutdown().await.unwrap();
}

/// Unlike redis-server 7.0.15, which leaves tracking clients' caches as
/// they were, Orbit tells every tracking client to drop its whole cache
/// on SWAPDB: what it cached of a swapped database is stale. A key with a
/// TTL swapped in expires on time in its new database (its entry in the
/// active-expiry index moves with it).
#[tokio::test]
async fn a_swap_flushes_tracking_caches_and_moves_expiry() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_node, addr) = start_with(Config::ephemeral()).await;
    let mut tracked = tokio::net::TcpStream::connect(addr).await.unwrap();
    let read_until = async |stream: &mut tokio::net::TcpStream, end: &str| {
        let mut seen = String::new();
        while !seen.ends_with(end) {
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
                .await
                .expect("a reply within 5 s")
                .unwrap();
            assert!(n > 0, "connection closed after {seen:?}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen
    };
    tracked.write_all(b"HELLO 3\r\nPING\r\n").await.unwrap();
    read_until(&mut tracked, "+PONG\r\n").await;
    tracked.write_all(b"CLIENT TRACKING ON\r\nSET k v\r\nGET k\r\n").await.unwrap();
    assert_eq!(read_until(&mut tracked, "$1\r\nv\r\n").await, "+OK\r\n+OK\r\n$1\r\nv\r\n");

    let mut c = resp2(addr).await;
    run(&mut c, "SELECT 1").await;
    run(&mut c, "SET short v PX 300").await;
    assert_eq!(run(&mut c, "SWAPDB 0 1").await, "+OK");
    tracked.write_all(b"PING\r\n").await.unwrap();
    assert_eq!(read_until(&mut tracked, "+PONG\r\n").await, ">2\r\n$10\r\ninvalidate\r\n_\r\n+PONG\r\n");

    run(&mut c, "SELECT 0").await;
    assert_eq!(run(&mut c, "DBSIZE").await, "1");
    // Not read: the active expiry of its new database removes it.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while run(&mut c, "DBSIZE").await != "0" && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(run(&mut c, "DBSIZE").await, "0", "the swapped-in key did not expire");
}
