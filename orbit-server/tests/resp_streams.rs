//! Redis streams over real sockets: XADD, XRANGE, XREAD (with BLOCK),
//! consumer groups (XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM), XINFO
//! and XSETID, in RESP2 and RESP3; blocked readers woken by XADD from
//! another client, FIFO; a fixed corpus with explicit IDs compared reply by
//! reply with a real `redis-server`; and a consumer group's pending entries
//! surviving `kill -9` of the real binary.
//!
//! The corpus leaves out what Redis 7.0 (the reference server here) and 7.2
//! print differently or what depends on the clock or on Redis' memory
//! layout: idle times (XPENDING's detail, XINFO CONSUMERS), XINFO STREAM's
//! `radix-tree-*` fields, and XSETID below an XDEL'd maximum (7.2 refuses
//! it with "smaller than current max_deleted_entry_id", as Orbit does).

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{
    PATIENCE, call, connect_url, resp2, resp3, run, show, start_redis, start_with, try_call, wait_for_blocked,
};
use orbit_server::{Config, Node};
use redis::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

async fn start() -> (Node, SocketAddr) {
    start_with(Config::ephemeral()).await
}

/// Explicit IDs only, so both servers generate the same ones.
const CORPUS: &str = "
XADD s 1-1 a 1
XADD s 1-1 a 1
XADD s 1-2 b 2 c 3
XADD s 1-* d 4
XADD s 2 e 5
XADD s 0-0 a 1
XADD s 0-* a 1
XADD s 5-x a 1
XADD s 3-1 a
XADD s NOMKSTREAM 3-1 a 1
XADD nostream NOMKSTREAM 1-1 a 1
EXISTS nostream
XADD s MAXLEN -1 4-1 a 1
XADD s MAXLEN 2 LIMIT 5 4-1 a 1
XADD s MAXLEN 2 MINID 1 4-1 a 1
XADD s LIMIT 5 4-1 a 1
XADD s MAXLEN x 4-1 a 1
XADD s MINID x 4-1 a 1
XLEN s
XLEN nostream
TYPE s
XRANGE s - +
XRANGE s - + COUNT 2
XRANGE s - + COUNT 0
XRANGE s - + COUNT -3
XRANGE s (1-1 +
XRANGE s 1 1
XRANGE s (1 +
XRANGE s - (2-0
XRANGE s + -
XRANGE s ( +
XRANGE s (- +
XRANGE s x +
XRANGE s - + FOO 1
XRANGE s - + COUNT
XRANGE s (18446744073709551615-18446744073709551615 +
XRANGE s - (0-0
XRANGE nostream - +
XRANGE nostream - + COUNT 0
XREVRANGE s + -
XREVRANGE s + - COUNT 1
XREVRANGE s (2-0 -
XREVRANGE s 1-2 1-1
XADD m 18446744073709551615-18446744073709551615 z 1
XADD m * z 1
XADD m 5-* z 1
XLEN m
XDEL m 18446744073709551615-18446744073709551615 9-9
XDEL m +
XDEL m 9-9 x
XDEL nostream 1-1
XLEN m
XADD m 1-1 z 1
XDEL s 1-1 2-0 2-0
XRANGE s - +
XLEN s
XADD s 2-0 e 5
XADD s 3-0 f 6
XADD s 19-0 f 7
XADD s 20-0 f 8
XTRIM s MAXLEN 4
XRANGE s - +
XTRIM s MINID 19
XRANGE s - +
XTRIM s MAXLEN ~ 1
XTRIM s MAXLEN = 1
XTRIM s
XTRIM s MAXLEN
XTRIM s FOO 1
XTRIM s MAXLEN -1
XTRIM s MAXLEN 1 LIMIT 1
XTRIM nostream MAXLEN 1
XTRIM nostream BOGUS
XADD t MAXLEN = 2 1-1 a 1
XADD t MAXLEN = 2 1-2 a 1
XADD t MAXLEN = 2 1-3 a 1
XADD t MINID = 1-3 1-4 a 1
XRANGE t - +
SET str v
XADD str 1-1 a 1
XLEN str
XRANGE str - +
XDEL str 1-1
XTRIM str MAXLEN 1
XREAD STREAMS str 0
XGROUP CREATE str g 0
XINFO STREAM str
XSETID s 19-0
XSETID s 20-5
XSETID s 20-4
XSETID s 21-0 ENTRIESADDED 0
XSETID s 21-0 ENTRIESADDED -1
XSETID s 21-0 MAXDELETEDID 22-0
XSETID s 21-0 ENTRIESADDED 50 MAXDELETEDID 20-1
XSETID s 21-0 FOO
XSETID nostream 1-1
XADD s 21-0 a 1
XADD s 21-* a 1
XREAD STREAMS s 0
XREAD COUNT 1 STREAMS s 0
XREAD COUNT 1 STREAMS s t 0 0
XREAD STREAMS s t 20-0 1-3
XREAD STREAMS s $
XREAD STREAMS s t 0
XREAD STREAMS s >
XREAD STREAMS s +
XREAD STREAMS s x
XREAD COUNT -5 STREAMS s 21-0
XREAD STREAMS nostream 0
XREAD BLOCK 10 STREAMS nostream 0
XREAD BLOCK -1 STREAMS s 0
XREAD BLOCK x STREAMS s 0
XREAD GROUP g c STREAMS s 0
XREAD NOACK STREAMS s 0
XREAD FOO STREAMS s 0
XREAD COUNT 1
XGROUP CREATE s g 0
XGROUP CREATE s g 0
XGROUP CREATE s g2 $
XGROUP CREATE s g3 20-0 ENTRIESREAD 3
XGROUP CREATE s g4 0 ENTRIESREAD -2
XGROUP CREATE s g4 0 BOGUS
XGROUP CREATE s g4 +
XGROUP CREATE nostream g 0
XGROUP CREATE newstream g $ MKSTREAM
XLEN newstream
XINFO GROUPS newstream
XGROUP CREATE s
XGROUP FOO s g
XINFO GROUPS s
XREADGROUP GROUP g alice COUNT 2 STREAMS s >
XREADGROUP GROUP g bob STREAMS s >
XREADGROUP GROUP g bob STREAMS s >
XREADGROUP GROUP g alice STREAMS s 0
XREADGROUP GROUP g alice COUNT 1 STREAMS s 0
XREADGROUP GROUP g alice STREAMS s 20-0
XREADGROUP GROUP g alice STREAMS s $
XREADGROUP GROUP nog alice STREAMS s >
XREADGROUP GROUP g alice STREAMS nostream >
XREADGROUP GROUP g alice STREAMS str >
XREADGROUP STREAMS s >
XREADGROUP GROUP g alice STREAMS s
XREADGROUP GROUP g alice NOACK STREAMS newstream >
XREADGROUP GROUP g alice BLOCK 10 STREAMS newstream >
XINFO GROUPS s
XPENDING s g
XPENDING s g - + 10 carol
XPENDING s g IDLE 100000 - + 10
XPENDING s g - +
XPENDING s g IDLE 10 - +
XPENDING s g x + 10
XPENDING s g - + x
XPENDING s nog
XPENDING nostream g
XPENDING str g
XACK s g 19-0 19-0 9-9
XACK s g x
XACK s nog 19-0
XACK nostream g 1-1
XPENDING s g
XCLAIM s g carol 0 20-0 JUSTID
XCLAIM s g carol 0 20-0 21-0 21-1
XCLAIM s g carol 100000 20-0
XCLAIM s g carol 0 20-0 RETRYCOUNT 7 JUSTID
XCLAIM s g carol x 20-0
XCLAIM s g carol 0 20-0 IDLE x
XCLAIM s g carol 0 20-0 TIME x
XCLAIM s g carol 0 20-0 RETRYCOUNT x
XCLAIM s g carol 0 20-0 BOGUS
XCLAIM s g carol 0 20-0 LASTID x
XCLAIM s nog carol 0 20-0
XCLAIM s g dave 0 5-0 FORCE JUSTID
XCLAIM s g dave 0 19-0 FORCE JUSTID
XPENDING s g
XDEL s 21-0
XAUTOCLAIM s g erin 0 0 COUNT 1
XAUTOCLAIM s g erin 0 0 COUNT 1 JUSTID
XAUTOCLAIM s g erin 0 0
XAUTOCLAIM s g erin 0 0 COUNT 0
XAUTOCLAIM s g erin 0 0 COUNT x
XAUTOCLAIM s g erin x 0
XAUTOCLAIM s g erin 0 x
XAUTOCLAIM s g erin 0 0 BOGUS
XAUTOCLAIM s nog erin 0 0
XDEL s 20-0
XAUTOCLAIM s g erin 0 0 JUSTID
XPENDING s g
XINFO GROUPS s
XPENDING s g
XINFO GROUPS s
XGROUP SETID s g 0
XGROUP SETID s g $ ENTRIESREAD 2
XGROUP SETID s g 0 ENTRIESREAD x
XGROUP SETID s g 0 FOO 1
XGROUP SETID s nog 0
XINFO GROUPS s
XGROUP CREATECONSUMER s g frank
XGROUP CREATECONSUMER s g frank
XGROUP CREATECONSUMER s nog frank
XGROUP DELCONSUMER s g erin
XGROUP DELCONSUMER s g nobody
XPENDING s g
XGROUP DESTROY s g2
XGROUP DESTROY s g2
XGROUP DESTROY nostream g
XINFO GROUPS s
XINFO GROUPS nostream
XINFO GROUPS str
XINFO CONSUMERS s nog
XINFO STREAM nostream
XINFO STREAM s BOGUS
XINFO STREAM s FULL COUNT x
XINFO FOO s
XINFO GROUPS
DEL s
XINFO GROUPS s
";

async fn differential(resp3: bool) {
    if !common::require_program("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_redis_server, redis_addr) = start_redis(dir.path()).await;
    let (node, orbit_addr) = start().await;
    let query = if resp3 { "?protocol=resp3" } else { "" };
    let mut redis = connect_url(&format!("redis://{redis_addr}/{query}")).await;
    let mut orbit = connect_url(&format!("redis://{orbit_addr}/{query}")).await;
    let mut compared = 0;
    for line in CORPUS.lines().filter(|l| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let render = |reply: redis::RedisResult<Value>| match reply {
            Ok(v) => show(&v),
            Err(e) => format!("client error: {e}"),
        };
        let want = render(try_call(&mut redis, words.as_slice()).await);
        let got = render(try_call(&mut orbit, words.as_slice()).await);
        assert_eq!(got, want, "resp{}: {line}", if resp3 { 3 } else { 2 });
        compared += 1;
    }
    assert!(compared > 200, "{compared} commands compared");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn streams_match_redis_server_in_resp2() {
    differential(false).await;
}

#[tokio::test]
async fn streams_match_redis_server_in_resp3() {
    differential(true).await;
}

#[tokio::test]
async fn xread_replies_are_arrays_in_resp2_and_maps_in_resp3() {
    let (node, addr) = start().await;
    let mut c2 = resp2(addr).await;
    let mut c3 = resp3(addr).await;
    assert_eq!(run(&mut c2, "XADD s 1-1 f v").await, r#""1-1""#);
    assert_eq!(run(&mut c2, "XADD t 2-1 g w").await, r#""2-1""#);
    assert_eq!(
        run(&mut c2, "XREAD STREAMS s t 0 0").await,
        r#"[["s", [["1-1", ["f", "v"]]]], ["t", [["2-1", ["g", "w"]]]]]"#
    );
    assert_eq!(
        run(&mut c3, "XREAD STREAMS s t 0 0").await,
        r#"{"s": [["1-1", ["f", "v"]]], "t": [["2-1", ["g", "w"]]]}"#
    );
    assert_eq!(run(&mut c3, "XREAD STREAMS s 1-1").await, "nil");
    assert_eq!(run(&mut c2, "XGROUP CREATE s g 0").await, "+OK");
    assert_eq!(run(&mut c3, "XREADGROUP GROUP g c STREAMS s >").await, r#"{"s": [["1-1", ["f", "v"]]]}"#);
    assert_eq!(run(&mut c2, "XREADGROUP GROUP g c STREAMS s 0").await, r#"[["s", [["1-1", ["f", "v"]]]]]"#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn xinfo_prints_redis_fields_in_order_as_a_map_in_resp3() {
    let (node, addr) = start().await;
    let mut c2 = resp2(addr).await;
    let mut c3 = resp3(addr).await;
    run(&mut c2, "XADD s 1-1 a 1").await;
    run(&mut c2, "XADD s 2-1 b 2").await;
    run(&mut c2, "XDEL s 1-1").await;
    run(&mut c2, "XGROUP CREATE s g 0").await;
    run(&mut c2, "XREADGROUP GROUP g alice STREAMS s >").await;
    let Value::Map(fields) = call(&mut c3, &["XINFO", "STREAM", "s"]).await else { panic!("not a map") };
    let names: Vec<String> = fields.iter().map(|(k, _)| show(k)).collect();
    assert_eq!(
        names.join(" "),
        concat!(
            r#""length" "radix-tree-keys" "radix-tree-nodes" "last-generated-id" "max-deleted-entry-id" "#,
            r#""entries-added" "recorded-first-entry-id" "groups" "first-entry" "last-entry""#
        )
    );
    let field = |name: &str| {
        fields.iter().find(|(k, _)| show(k) == format!("{name:?}")).map(|(_, v)| show(v)).unwrap()
    };
    assert_eq!(field("length"), "1");
    assert_eq!(field("max-deleted-entry-id"), r#""1-1""#);
    assert_eq!(field("entries-added"), "2");
    assert_eq!(field("recorded-first-entry-id"), r#""2-1""#);
    assert_eq!(field("first-entry"), r#"["2-1", ["b", "2"]]"#);
    assert_eq!(
        run(&mut c3, "XINFO GROUPS s").await,
        r#"[{"name": "g", "consumers": 1, "pending": 1, "last-delivered-id": "2-1", "entries-read": 2, "lag": 0}]"#
    );
    assert_eq!(
        run(&mut c2, "XINFO GROUPS s").await,
        r#"[["name", "g", "consumers", 1, "pending", 1, "last-delivered-id", "2-1", "entries-read", 2, "lag", 0]]"#
    );
    let Value::Array(consumers) = call(&mut c3, &["XINFO", "CONSUMERS", "s", "g"]).await else { panic!() };
    let Value::Map(consumer) = &consumers[0] else { panic!("not a map") };
    let names: Vec<String> = consumer.iter().map(|(k, _)| show(k)).collect();
    assert_eq!(names.join(" "), r#""name" "pending" "idle" "inactive""#);
    let Value::Map(full) = call(&mut c3, &["XINFO", "STREAM", "s", "FULL"]).await else {
        panic!("not a map")
    };
    let names: Vec<String> = full.iter().map(|(k, _)| show(k)).collect();
    assert_eq!(
        names.join(" "),
        concat!(
            r#""length" "radix-tree-keys" "radix-tree-nodes" "last-generated-id" "max-deleted-entry-id" "#,
            r#""entries-added" "recorded-first-entry-id" "entries" "groups""#
        )
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn huge_counts_and_bad_arguments_get_redis_errors() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, "XADD s 1-1 a 1").await;
    run(&mut c, "XGROUP CREATE s g 0").await;
    let huge = "9223372036854775807";
    assert_eq!(run(&mut c, &format!("XRANGE s - + COUNT {huge}")).await, r#"[["1-1", ["a", "1"]]]"#);
    assert_eq!(
        run(&mut c, &format!("XREAD COUNT {huge} STREAMS s 0")).await,
        r#"[["s", [["1-1", ["a", "1"]]]]]"#
    );
    assert_eq!(run(&mut c, &format!("XAUTOCLAIM s g c 0 0 COUNT {huge}")).await, "-ERR COUNT must be > 0");
    assert_eq!(run(&mut c, "XAUTOCLAIM s g c 0 0 COUNT 576460752303423487").await, r#"["0-0", [], []]"#);
    assert_eq!(run(&mut c, &format!("XPENDING s g - + {huge}")).await, "[]");
    let full = run(&mut c, &format!("XINFO STREAM s FULL COUNT {huge}")).await;
    assert!(full.starts_with(r#"["length", 1, "#), "{full}");
    assert_eq!(run(&mut c, "XADD s MAXLEN -5 * a 1").await, "-ERR The MAXLEN argument must be >= 0.");
    assert_eq!(
        run(&mut c, "XADD s 99999999999999999999-1 a 1").await,
        "-ERR Invalid stream ID specified as stream command argument"
    );
    assert_eq!(
        run(&mut c, "XREADGROUP GROUP nog c STREAMS s >").await,
        "-NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option"
    );
    assert_eq!(run(&mut c, "XGROUP CREATE s g $").await, "-BUSYGROUP Consumer Group name already exists");
    assert_eq!(
        run(&mut c, "XREAD BLOCK 99999999999999999 STREAMS s 0").await,
        r#"[["s", [["1-1", ["a", "1"]]]]]"#
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xread_block_is_woken_by_an_xadd_from_another_client() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, "XADD s 1-1 old 1").await;
    let mut w = resp2(addr).await;
    let waiter = tokio::spawn(async move { run(&mut w, "XREAD BLOCK 0 STREAMS other s 0 $").await });
    wait_for_blocked(&mut c, 1).await;
    assert_eq!(run(&mut c, "XADD unrelated 1-1 a 1").await, r#""1-1""#, "another key wakes nobody");
    assert_eq!(run(&mut c, "XADD s 2-1 new 2").await, r#""2-1""#);
    let got = tokio::time::timeout(PATIENCE, waiter).await.unwrap().unwrap();
    assert_eq!(got, r#"[["s", [["2-1", ["new", "2"]]]]]"#, "$ was the last ID when it blocked");
    wait_for_blocked(&mut c, 0).await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xreadgroup_block_is_woken_and_records_the_delivery() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "XGROUP CREATE s g $ MKSTREAM").await, "+OK");
    let mut w = resp3(addr).await;
    let waiter =
        tokio::spawn(async move { run(&mut w, "XREADGROUP GROUP g alice BLOCK 0 STREAMS s >").await });
    wait_for_blocked(&mut c, 1).await;
    assert_eq!(run(&mut c, "XADD s 5-1 f v").await, r#""5-1""#);
    let got = tokio::time::timeout(PATIENCE, waiter).await.unwrap().unwrap();
    assert_eq!(got, r#"{"s": [["5-1", ["f", "v"]]]}"#);
    assert_eq!(run(&mut c, "XPENDING s g").await, r#"[1, "5-1", "5-1", [["alice", "1"]]]"#);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_group_readers_are_served_first_come_first_served() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, "XGROUP CREATE s g $ MKSTREAM").await;
    let mut first = resp2(addr).await;
    let first =
        tokio::spawn(
            async move { run(&mut first, "XREADGROUP GROUP g a COUNT 1 BLOCK 0 STREAMS s >").await },
        );
    wait_for_blocked(&mut c, 1).await;
    let mut second = resp2(addr).await;
    let second =
        tokio::spawn(
            async move { run(&mut second, "XREADGROUP GROUP g b COUNT 1 BLOCK 0 STREAMS s >").await },
        );
    wait_for_blocked(&mut c, 2).await;
    run(&mut c, "XADD s 1-1 n 1").await;
    assert_eq!(
        tokio::time::timeout(PATIENCE, first).await.unwrap().unwrap(),
        r#"[["s", [["1-1", ["n", "1"]]]]]"#
    );
    wait_for_blocked(&mut c, 1).await;
    run(&mut c, "XADD s 2-1 n 2").await;
    assert_eq!(
        tokio::time::timeout(PATIENCE, second).await.unwrap().unwrap(),
        r#"[["s", [["2-1", ["n", "2"]]]]]"#
    );
    assert_eq!(run(&mut c, "XPENDING s g").await, r#"[2, "1-1", "2-1", [["a", "1"], ["b", "1"]]]"#);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_waiting_for_later_entries_does_not_hold_up_the_readers_behind_it() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, "XADD s 1-1 n 1").await;
    let mut late = resp2(addr).await;
    let late = tokio::spawn(async move { run(&mut late, "XREAD BLOCK 0 STREAMS s 100-0").await });
    wait_for_blocked(&mut c, 1).await;
    let mut now = resp2(addr).await;
    let now = tokio::spawn(async move { run(&mut now, "XREAD BLOCK 0 STREAMS s $").await });
    wait_for_blocked(&mut c, 2).await;
    run(&mut c, "XADD s 2-1 n 2").await;
    assert_eq!(
        tokio::time::timeout(PATIENCE, now).await.unwrap().unwrap(),
        r#"[["s", [["2-1", ["n", "2"]]]]]"#
    );
    wait_for_blocked(&mut c, 1).await;
    run(&mut c, "XADD s 101-1 n 3").await;
    assert_eq!(
        tokio::time::timeout(PATIENCE, late).await.unwrap().unwrap(),
        r#"[["s", [["101-1", ["n", "3"]]]]]"#
    );
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_reads_time_out_with_nil_and_do_not_block_in_multi() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, "XGROUP CREATE s g $ MKSTREAM").await;
    let started = Instant::now();
    assert_eq!(run(&mut c, "XREAD BLOCK 100 STREAMS s $").await, "nil");
    assert_eq!(run(&mut c, "XREADGROUP GROUP g c BLOCK 100 STREAMS s >").await, "nil");
    assert!(started.elapsed() >= Duration::from_millis(200), "both waited their timeout");
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "XREAD BLOCK 0 STREAMS s $").await, "+QUEUED");
    assert_eq!(run(&mut c, "EXEC").await, "[nil]");
    node.shutdown().await.unwrap();
}

/// `[id, consumer, delivery count]` of each XPENDING detail row (idle
/// times vary).
fn pending(v: &Value) -> Vec<String> {
    let Value::Array(rows) = v else { panic!("not an array: {}", show(v)) };
    rows.iter()
        .map(|row| {
            let Value::Array(cells) = row else { panic!("not a row: {}", show(row)) };
            format!("{} {} {}", show(&cells[0]), show(&cells[1]), show(&cells[3]))
        })
        .collect()
}

#[tokio::test]
async fn a_consumer_group_and_its_pending_entries_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = common::spawn_node(dir.path()).await;
    let mut c = resp2(node.resp).await;
    for i in 1..=3 {
        run(&mut c, &format!("XADD s {i}-1 f {i}")).await;
    }
    assert_eq!(run(&mut c, "XGROUP CREATE s g 0").await, "+OK");
    assert_eq!(
        run(&mut c, "XREADGROUP GROUP g alice COUNT 2 STREAMS s >").await,
        r#"[["s", [["1-1", ["f", "1"]], ["2-1", ["f", "2"]]]]]"#
    );
    run(&mut c, "XREADGROUP GROUP g alice COUNT 1 STREAMS s 0").await;
    let before = pending(&call(&mut c, &["XPENDING", "s", "g", "-", "+", "10"]).await);
    assert_eq!(before, [r#""1-1" "alice" 2"#, r#""2-1" "alice" 1"#]);
    node.child.start_kill().unwrap();
    node.child.wait().await.unwrap();

    let node = common::spawn_node(dir.path()).await;
    let mut c = resp2(node.resp).await;
    assert_eq!(pending(&call(&mut c, &["XPENDING", "s", "g", "-", "+", "10"]).await), before);
    assert_eq!(run(&mut c, "XPENDING s g").await, r#"[2, "1-1", "2-1", [["alice", "2"]]]"#);
    assert_eq!(run(&mut c, "XCLAIM s g bob 0 1-1").await, r#"[["1-1", ["f", "1"]]]"#);
    assert_eq!(
        pending(&call(&mut c, &["XPENDING", "s", "g", "-", "+", "10"]).await),
        [r#""1-1" "bob" 3"#, r#""2-1" "alice" 1"#]
    );
    assert_eq!(
        run(&mut c, "XREADGROUP GROUP g carol STREAMS s >").await,
        r#"[["s", [["3-1", ["f", "3"]]]]]"#
    );
    assert_eq!(
        run(&mut c, "XINFO GROUPS s").await,
        r#"[["name", "g", "consumers", 3, "pending", 3, "last-delivered-id", "3-1", "entries-read", 3, "lag", 0]]"#
    );
}
