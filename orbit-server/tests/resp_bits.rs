//! Bitmaps over real sockets: SETBIT, GETBIT, BITCOUNT, BITPOS, BITFIELD,
//! BITFIELD_RO and BITOP through the `redis` crate in RESP2 and RESP3,
//! their storage across a restart, WATCH, refused offsets, and a fixed
//! corpus whose replies must be byte for byte those of `redis-server`
//! (Redis 7.0: the corpus leaves out what 7.0 and 7.2 answer differently,
//! the arguments of BITCOUNT and BITPOS on a missing or wrong-type key).

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{connect_url, resp2, resp3, run, start_redis, start_with, try_call};
use orbit_server::{Config, Node};
use redis::aio::MultiplexedConnection;
use std::net::SocketAddr;

async fn start() -> (Node, SocketAddr) {
    start_with(Config::ephemeral()).await
}

#[tokio::test]
async fn bit_commands_answer_in_resp2_and_resp3() {
    for protocol3 in [false, true] {
        let (node, addr) = start().await;
        let mut c = if protocol3 { resp3(addr).await } else { resp2(addr).await };
        assert_eq!(run(&mut c, "SET s a").await, "+OK");
        assert_eq!(run(&mut c, "SETBIT s 6 1").await, "0");
        assert_eq!(run(&mut c, "SETBIT s 6 1").await, "1");
        assert_eq!(run(&mut c, "GET s").await, r#""c""#);
        assert_eq!(run(&mut c, "SETBIT s 17 1").await, "0");
        assert_eq!(run(&mut c, "GET s").await, r#""c\0@""#, "zero-padded up to the bit");
        assert_eq!(run(&mut c, "GETBIT s 17").await, "1");
        assert_eq!(run(&mut c, "GETBIT s 4294967295").await, "0");
        assert_eq!(run(&mut c, "GETBIT missing 0").await, "0");
        assert_eq!(run(&mut c, "SET h hello").await, "+OK");
        assert_eq!(run(&mut c, "BITCOUNT h").await, "21");
        assert_eq!(run(&mut c, "BITCOUNT h -2 -1").await, "10");
        assert_eq!(run(&mut c, "BITCOUNT h 5 30 BIT").await, "12");
        assert_eq!(run(&mut c, "BITPOS h 1 2 -1 BYTE").await, "17");
        assert_eq!(run(&mut c, "BITPOS h 0 -3 -1 BIT").await, "-1", "no clear bit in the range");
        assert_eq!(run(&mut c, "BITPOS missing 0").await, "0");
        let line = "BITFIELD f SET i8 0 200 GET u4 0 INCRBY u2 100 1 OVERFLOW SAT INCRBY i8 0 -1000 \
                    OVERFLOW FAIL INCRBY u8 0 300 GET i64 0";
        assert_eq!(run(&mut c, line).await, "[0, 12, 1, -128, nil, -9223372036854775808]");
        assert_eq!(run(&mut c, "STRLEN f").await, "13", "padded up to the last bit written");
        assert_eq!(
            run(&mut c, "BITFIELD f GET u8 #0 SET i64 #1 -1 GET u63 #1").await,
            "[128, 67108864, 4611686018427387903]"
        );
        assert_eq!(run(&mut c, "BITFIELD_RO f GET i8 0 GET u8 #1").await, "[-128, 0]");
        assert_eq!(
            run(&mut c, "BITFIELD_RO f SET i8 0 1").await,
            "-ERR BITFIELD_RO only supports the GET subcommand"
        );
        assert_eq!(run(&mut c, "SET a abc").await, "+OK");
        assert_eq!(run(&mut c, "SET b AB").await, "+OK");
        assert_eq!(run(&mut c, "BITOP XOR d a b").await, "3");
        assert_eq!(run(&mut c, "GET d").await, r#""  c""#);
        node.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn bitop_replaces_or_deletes_the_destination() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SET a abc").await, "+OK");
    assert_eq!(run(&mut c, "SET b AB").await, "+OK");
    assert_eq!(run(&mut c, "BITOP AND d a b missing").await, "3");
    assert_eq!(run(&mut c, "GET d").await, r#""\0\0\0""#, "a missing source is all zeros");
    assert_eq!(run(&mut c, "BITOP AND d a b").await, "3");
    assert_eq!(run(&mut c, "GET d").await, r#""AB\0""#, "the shorter source is padded");
    assert_eq!(run(&mut c, "BITOP or d a b").await, "3");
    assert_eq!(run(&mut c, "GET d").await, r#""abc""#);
    assert_eq!(run(&mut c, "BITOP NOT n a").await, "3");
    assert_eq!(run(&mut c, "BITCOUNT n").await, "14");
    assert_eq!(run(&mut c, "BITOP NOT n n").await, "3", "a source may be the destination");
    assert_eq!(run(&mut c, "GET n").await, r#""abc""#);
    // The destination's TTL and type do not survive; an empty result deletes it.
    assert_eq!(run(&mut c, "SET t x EXAT 4102444800").await, "+OK");
    assert_eq!(run(&mut c, "BITOP OR t a").await, "3");
    assert_eq!(run(&mut c, "EXPIRETIME t").await, "-1");
    assert_eq!(run(&mut c, "LPUSH l x").await, "1");
    assert_eq!(run(&mut c, "BITOP OR l b").await, "2");
    assert_eq!(run(&mut c, "TYPE l").await, "+string");
    assert_eq!(run(&mut c, "BITOP OR d missing other").await, "0");
    assert_eq!(run(&mut c, "EXISTS d").await, "0");
    // Errors come before any write.
    assert_eq!(run(&mut c, "RPUSH list x").await, "1");
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(run(&mut c, "BITOP OR t a list").await, wrongtype);
    assert_eq!(run(&mut c, "GET t").await, r#""abc""#);
    assert_eq!(
        run(&mut c, "BITOP NOT t a b").await,
        "-ERR BITOP NOT must be called with a single source key."
    );
    assert_eq!(run(&mut c, "BITOP DIFF t a b").await, "-ERR syntax error");
    assert_eq!(run(&mut c, "BITOP AND t").await, "-ERR wrong number of arguments for 'bitop' command");
    assert_eq!(run(&mut c, "GET t").await, r#""abc""#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn bit_writes_survive_a_restart_with_their_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let (node, addr) = start_with(common::lsm_config(dir.path())).await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SET s a EXAT 4102444800").await, "+OK");
    assert_eq!(run(&mut c, "SETBIT s 6 1").await, "0");
    assert_eq!(run(&mut c, "BITFIELD s SET u8 8 98").await, "[0]");
    assert_eq!(run(&mut c, "BITOP OR copy s").await, "2");
    assert_eq!(run(&mut c, "SETBIT fresh 15 1").await, "0");
    node.shutdown().await.unwrap();

    let (node, addr) = start_with(common::lsm_config(dir.path())).await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "GET s").await, r#""cb""#);
    assert_eq!(run(&mut c, "EXPIRETIME s").await, "4102444800", "bit writes keep the TTL");
    assert_eq!(run(&mut c, "GET copy").await, r#""cb""#);
    assert_eq!(run(&mut c, "EXPIRETIME copy").await, "-1");
    assert_eq!(run(&mut c, "GET fresh").await, r#""\0\u{1}""#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn watch_hears_only_bit_writes_that_change_the_string() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SETBIT w 1 1").await, "0");
    for unchanged in ["SETBIT w 1 1", "BITFIELD w SET u1 1 1 OVERFLOW FAIL SET u2 0 4", "SETBIT w 0 0"] {
        assert_eq!(run(&mut c, "WATCH w").await, "+OK");
        run(&mut c, unchanged).await;
        assert_eq!(run(&mut c, "MULTI").await, "+OK");
        assert_eq!(run(&mut c, "GET w").await, "+QUEUED");
        assert_eq!(run(&mut c, "EXEC").await, r#"["@"]"#, "{unchanged}");
    }
    for changed in ["SETBIT w 1 0", "BITFIELD w SET u8 0 64", "SETBIT w 9 0", "BITOP OR w w"] {
        assert_eq!(run(&mut c, "WATCH w").await, "+OK");
        run(&mut c, changed).await;
        assert_eq!(run(&mut c, "MULTI").await, "+OK");
        assert_eq!(run(&mut c, "GET w").await, "+QUEUED");
        assert_eq!(run(&mut c, "EXEC").await, "nil", "{changed}");
    }
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn offsets_past_512_mb_are_refused_and_nothing_is_created() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let offset = "-ERR bit offset is not an integer or out of range";
    for line in [
        "SETBIT k 4294967296 1",
        "SETBIT k 99999999999999999999 1",
        "GETBIT k 4294967296",
        "BITFIELD k SET u8 4294967296 1",
        "BITFIELD k SET u8 #536870912 1",
        "BITFIELD k INCRBY i64 #9223372036854775807 1",
        "BITFIELD k GET i8 #-1",
    ] {
        assert_eq!(run(&mut c, line).await, offset, "{line}");
    }
    assert_eq!(run(&mut c, "BITFIELD k GET i64 4294967295 GET u63 #68174084").await, "[0, 0]");
    assert_eq!(run(&mut c, "BITCOUNT k -9223372036854775808 9223372036854775807 BIT").await, "0");
    assert_eq!(run(&mut c, "BITPOS k 0 9223372036854775807").await, "0");
    assert_eq!(run(&mut c, "EXISTS k").await, "0");
    node.shutdown().await.unwrap();
}

/// The fixed corpus of the differential test, run in order on one
/// connection; `''` is the empty string.
const CORPUS: &[&str] = &[
    // SETBIT and GETBIT: zero padding, the old bit, offsets capped below 2^32,
    // integers stored as text, the TTL kept.
    "SETBIT b 7 1",
    "SETBIT b 7 1",
    "SETBIT b 7 0",
    "SETBIT b 100 1",
    "GET b",
    "STRLEN b",
    "GETBIT b 100",
    "GETBIT b 99",
    "GETBIT b 4294967295",
    "GETBIT missing 3",
    "SETBIT b 4294967296 1",
    "SETBIT b -1 1",
    "SETBIT b 01 1",
    "SETBIT b x 1",
    "SETBIT b 0 2",
    "SETBIT b 0 -1",
    "SETBIT b 0 x",
    "SETBIT b 4294967296 x",
    "GETBIT b 4294967296",
    "GETBIT b -1",
    "SETBIT b 1",
    "GETBIT b",
    "SET n 255",
    "GETBIT n 6",
    "SETBIT n 7 1",
    "GET n",
    "SET s a EXAT 4102444800",
    "SETBIT s 6 1",
    "GET s",
    "EXPIRETIME s",
    // BITCOUNT: byte and bit ranges, negative indexes, a missing key.
    "SET h hello",
    "BITCOUNT h",
    "BITCOUNT h 1 1",
    "BITCOUNT h -2 -1",
    "BITCOUNT h -1 -2",
    "BITCOUNT h 3 1",
    "BITCOUNT h -100 100",
    "BITCOUNT h 0 -1 BIT",
    "BITCOUNT h 5 30 bit",
    "BITCOUNT h 7 7 BIT",
    "BITCOUNT h -3 -1 BIT",
    "BITCOUNT h 0 0 byte",
    "BITCOUNT h -9223372036854775808 9223372036854775807 BIT",
    "BITCOUNT h 0",
    "BITCOUNT h 0 1 x",
    "BITCOUNT h a 1",
    "BITCOUNT h 0 a",
    "BITCOUNT h 0 1 BIT x",
    "BITCOUNT missing",
    "BITCOUNT missing 0 -1",
    "BITCOUNT missing 0 -1 BIT",
    "BITCOUNT",
    // BITPOS: ranges with and without an end, no bit found, empty and missing
    // strings.
    "BITPOS h 1",
    "BITPOS h 0",
    "BITPOS h 1 2",
    "BITPOS h 1 2 -1 BYTE",
    "BITPOS h 0 0 -1 BIT",
    "BITPOS h 1 7 15 BIT",
    "BITPOS h 0 1 1",
    "BITPOS h 1 100",
    "BITPOS h 1 3 2",
    "BITPOS h 1 -1",
    "BITPOS h 1 -1 -1 BIT",
    "BITPOS h 0 -3 -1 bit",
    "BITPOS h 2",
    "BITPOS h x",
    "BITPOS h 1 0 1 2",
    "BITPOS h 1 0 x nope",
    "BITPOS h 1 0 x BIT",
    "BITPOS h 1 x",
    "BITPOS h 1 0 1 BIT x",
    "BITPOS missing 0",
    "BITPOS missing 1",
    "BITPOS missing 0 5 10 BIT",
    "BITPOS missing 1 0 -1",
    "BITPOS h",
    "BITFIELD f SET u8 0 255 SET u8 8 255",
    "BITPOS f 0",
    "BITPOS f 0 1",
    "BITPOS f 0 0 -1",
    "BITPOS f 0 0 -1 BIT",
    "BITPOS f 1 3 5 BIT",
    "BITPOS f 0 10",
    "BITPOS f 0 -1",
    "SETBIT f 12 0",
    "BITPOS f 0 0 -1 BIT",
    "BITPOS f 0 13 15 BIT",
    "BITPOS f 0 10 12 BIT",
    "BITPOS f 0",
    "SET e ''",
    "BITPOS e 0",
    "BITPOS e 1",
    "BITPOS e 0 0 -1 BIT",
    "BITCOUNT e",
    "BITCOUNT e 0 -1 BIT",
    "GETBIT e 0",
    // BITFIELD: each overflow mode, widths up to i64 and u63, `#` offsets, errors
    // in argument order; a write creates or pads the key even when it fails.
    concat!(
        "BITFIELD bf SET i8 0 200 GET u4 0 INCRBY u2 100 1 OVERFLOW SAT ",
        "INCRBY i8 0 -1000 OVERFLOW FAIL INCRBY u8 0 300 GET i64 0"
    ),
    "STRLEN bf",
    "BITFIELD bf SET u8 0 -1",
    concat!(
        "BITFIELD bf OVERFLOW SAT SET u8 0 -1 INCRBY u8 0 -300 ",
        "OVERFLOW WRAP INCRBY u8 0 -1 INCRBY u8 0 2"
    ),
    "BITFIELD bf SET i64 0 9223372036854775807 INCRBY i64 0 1 OVERFLOW SAT INCRBY i64 0 -1",
    "BITFIELD bf SET i64 0 0 INCRBY u63 0 -1 OVERFLOW SAT INCRBY u63 0 9223372036854775807",
    concat!(
        "BITFIELD bf OVERFLOW FAIL SET i8 0 128 SET i8 0 -129 SET u8 0 256 ",
        "INCRBY u8 0 300 SET i8 0 127 INCRBY i8 0 1 INCRBY i8 0 -255"
    ),
    concat!(
        "BITFIELD bf OVERFLOW WRAP SET i8 #1 1000 GET i8 #1 SET i5 #3 -100 ",
        "GET u5 #3 GET i1 7 SET i1 7 1 INCRBY i3 5 -5"
    ),
    concat!(
        "BITFIELD bf overflow sat incrby i5 #3 -100 incrby u5 #3 100 ",
        "incrby i64 #1 9223372036854775807 get i64 #1"
    ),
    "BITFIELD bf GET i8 #2 GET u3 13 GET i17 1 GET u63 1 GET i64 64 GET u8 1000 GET i64 3",
    "GET bf",
    "BITFIELD bf",
    "BITFIELD bf OVERFLOW SAT",
    "BITFIELD bf SET u64 0 1",
    "BITFIELD bf GET I8 0",
    "BITFIELD bf GET i65 0",
    "BITFIELD bf GET u0 0",
    "BITFIELD bf GET i08 0",
    "BITFIELD bf GET x8 0",
    "BITFIELD bf GET i8 #-1",
    "BITFIELD bf GET i8 #",
    "BITFIELD bf GET i8 #536870912",
    "BITFIELD bf GET u8 4294967296",
    "BITFIELD bf GET i64 4294967295",
    "BITFIELD bf GET i8",
    "BITFIELD bf GET i8 0 foo",
    "BITFIELD bf OVERFLOW",
    "BITFIELD bf OVERFLOW foo GET i8 0",
    "BITFIELD bf SET i8 0 x",
    "BITFIELD bf SET i8 0",
    "BITFIELD bf INCRBY i8 0 9223372036854775808",
    "BITFIELD bf GET i8 0 SET u64 0 1",
    "BITFIELD bf SET i8 x 1",
    "BITFIELD bf get i8 0 bogus i8 0",
    "BITFIELD",
    "BITFIELD nb GET i8 0",
    "EXISTS nb",
    "BITFIELD nb OVERFLOW FAIL SET u2 0 7",
    "GET nb",
    "BITFIELD nb2 SET u8 #3 65 GET u8 24",
    "GET nb2",
    "BITFIELD s SET u8 8 98",
    "GET s",
    "EXPIRETIME s",
    // BITFIELD_RO.
    "BITFIELD_RO bf GET u8 0 GET i8 #1",
    "BITFIELD_RO bf",
    "BITFIELD_RO bf SET u8 0 1",
    "BITFIELD_RO bf GET i8 0 INCRBY i8 0 1",
    "BITFIELD_RO bf SET u64 0 1",
    "BITFIELD_RO bf OVERFLOW FAIL GET u8 0",
    "BITFIELD_RO nope GET u8 0",
    "EXISTS nope",
    // BITOP over strings of different lengths and missing keys: the destination
    // loses its TTL, or is deleted when the result is empty.
    "SET a abc",
    "SET b2 AB",
    "BITOP AND d a b2",
    "GET d",
    "BITOP OR d a b2",
    "GET d",
    "BITOP XOR d a b2 missing",
    "GET d",
    "BITOP NOT d a",
    "GET d",
    "BITOP not d2 d",
    "GET d2",
    "BITOP and d a missing",
    "GET d",
    "BITOP OR d missing missing2",
    "EXISTS d",
    "SET d x EXAT 4102444800",
    "BITOP or d a",
    "EXPIRETIME d",
    "BITOP XOR a a a",
    "GET a",
    "BITOP NOT d a b2",
    "BITOP NOT d",
    "BITOP DIFF d a",
    "BITOP foo d a",
    "BITOP AND d",
    "COMMAND GETKEYS BITOP AND d a b2",
    "COMMAND GETKEYS SETBIT k 1 1",
    // Wrong types, with valid arguments (Redis 7.0 checks the type before them).
    "LPUSH l x",
    "SETBIT l 1 1",
    "GETBIT l 1",
    "BITCOUNT l",
    "BITCOUNT l 0 1 BIT",
    "BITPOS l 1",
    "BITPOS l 0 0 -1",
    "BITFIELD l GET i8 0",
    "BITFIELD l SET i8 0 1",
    "BITFIELD_RO l GET i8 0",
    "BITOP OR d b2 l",
    "GET d",
    "BITOP OR l b2",
    "TYPE l",
    "GET l",
    // WATCH hears only bit writes that change the string; bits inside MULTI.
    "SETBIT w 1 1",
    "WATCH w",
    "SETBIT w 1 1",
    "MULTI",
    "GET w",
    "EXEC",
    "WATCH w",
    "BITFIELD w SET u1 1 1 GET u8 0",
    "MULTI",
    "GET w",
    "EXEC",
    "WATCH w",
    "SETBIT w 1 0",
    "MULTI",
    "GET w",
    "EXEC",
    "MULTI",
    "SETBIT m 0 1",
    "BITOP NOT m2 m",
    "BITCOUNT m2",
    "GETBIT m2 0",
    "EXEC",
];

/// Sends one corpus line; the reply as `redis::Value`'s `Debug`, which
/// shows every byte of a binary string.
async fn exchange(con: &mut MultiplexedConnection, line: &str) -> String {
    let words: Vec<&str> = line.split(' ').map(|w| if w == "''" { "" } else { w }).collect();
    match try_call(con, &words).await {
        Ok(value) => format!("{value:?}"),
        Err(e) => panic!("{line}: no reply: {e}"),
    }
}

#[tokio::test]
async fn replies_match_redis_server_over_a_fixed_corpus() {
    if !common::require_program("redis-server") {
        return;
    }
    for protocol3 in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (_redis, redis_addr) = start_redis(dir.path()).await;
        let (node, orbit_addr) = start().await;
        let query = if protocol3 { "?protocol=resp3" } else { "" };
        let mut redis = connect_url(&format!("redis://{redis_addr}/{query}")).await;
        let mut orbit = connect_url(&format!("redis://{orbit_addr}/{query}")).await;
        let mut differences = Vec::new();
        for line in CORPUS {
            let want = exchange(&mut redis, line).await;
            let got = exchange(&mut orbit, line).await;
            if got != want {
                differences.push(format!("{line}\n  redis-server: {want}\n  orbit:        {got}"));
            }
        }
        let resp = if protocol3 { 3 } else { 2 };
        assert!(
            differences.is_empty(),
            "RESP{resp}: {} of {} replies differ:\n{}",
            differences.len(),
            CORPUS.len(),
            differences.join("\n")
        );
        node.shutdown().await.unwrap();
    }
}
