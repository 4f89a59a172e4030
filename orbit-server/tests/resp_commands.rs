//! Commands Redis 7 clients call, over real sockets: ZMPOP and BZMPOP, and
//! sharded pub/sub (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB
//! SHARDCHANNELS and SHARDNUMSUB). Expected replies and bytes were taken
//! from `redis-server` 7.0.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{PATIENCE, Raw, resp2, resp3, run, start_with, wait_for_blocked};
use orbit_server::{Config, Node};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

async fn start() -> (Node, SocketAddr) {
    start_with(Config::ephemeral()).await
}

const REFUSED_WHEN_SUBSCRIBED: &[u8] = b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";

// ---------------------------------------------------------------------------
// ZMPOP, BZMPOP

#[tokio::test]
async fn zmpop_pops_from_the_first_non_empty_key() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "ZADD z1 1 a 2 b 3 c").await, "3");
    assert_eq!(run(&mut c, "ZADD z2 5 x").await, "1");
    assert_eq!(run(&mut c, "ZMPOP 3 missing z1 z2 MIN COUNT 2").await, r#"["z1", [["a", "1"], ["b", "2"]]]"#);
    assert_eq!(run(&mut c, "ZMPOP 2 z1 z2 MAX").await, r#"["z1", [["c", "3"]]]"#);
    assert_eq!(run(&mut c, "EXISTS z1").await, "0", "the emptied sorted set is gone");
    assert_eq!(run(&mut c, "ZMPOP 2 z1 z2 max count 10").await, r#"["z2", [["x", "5"]]]"#);
    assert_eq!(run(&mut c, "ZMPOP 2 z1 z2 MIN").await, "nil");

    // RESP3: the same nesting, scores as doubles.
    let mut c3 = resp3(addr).await;
    assert_eq!(run(&mut c3, "ZADD q 1.5 m 2 n").await, "2");
    assert_eq!(run(&mut c3, "ZMPOP 1 q MIN COUNT 5").await, r#"["q", [["m", 1.5], ["n", 2.0]]]"#);
    assert_eq!(run(&mut c3, "ZMPOP 1 q MIN").await, "nil");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn zmpop_reply_bytes_match_redis_in_resp2_and_resp3() {
    let (node, addr) = start().await;
    let mut raw = Raw::connect(addr).await;
    raw.send(b"ZADD q 1.5 m 2 n\r\nZMPOP 1 q MIN COUNT 5\r\nZMPOP 1 q MIN\r\nBZMPOP 0.01 1 q MIN\r\n").await;
    raw.expect(b":2\r\n*2\r\n$1\r\nq\r\n*2\r\n*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n*2\r\n$1\r\nn\r\n$1\r\n2\r\n")
        .await;
    raw.expect(b"*-1\r\n*-1\r\n").await;
    raw.hello3().await;
    raw.send(b"ZADD q 1.5 m\r\nZMPOP 1 q MAX\r\nZMPOP 1 q MAX\r\nBZMPOP 0.01 1 q MAX\r\n").await;
    raw.expect(b":1\r\n*2\r\n$1\r\nq\r\n*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n_\r\n_\r\n").await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn zmpop_and_bzmpop_errors_match_redis() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let numkeys = "-ERR numkeys should be greater than 0";
    let count = "-ERR count should be greater than 0";
    let syntax = "-ERR syntax error";
    for (line, error) in [
        ("ZMPOP 0 z MIN", numkeys),
        ("ZMPOP x z MIN", numkeys),
        ("ZMPOP 1 z LEFT", syntax),
        ("ZMPOP 2 z MIN", syntax),
        ("ZMPOP 5 z MIN", syntax),
        ("ZMPOP 1 z MIN COUNT 0", count),
        ("ZMPOP 1 z MIN COUNT x", count),
        ("ZMPOP 1 z MIN COUNT 1 COUNT 1", syntax),
        ("ZMPOP 1 z MIN COUNT", syntax),
        ("ZMPOP 1 z MIN FOO", syntax),
        ("ZMPOP 1 z", "-ERR wrong number of arguments for 'zmpop' command"),
        ("LMPOP x l LEFT", numkeys),
        ("LMPOP 1 l LEFT COUNT x", count),
        // The keys and options are checked before the timeout.
        ("BZMPOP x 0 z MIN", numkeys),
        ("BZMPOP 0.01 1 z MIN COUNT -1", count),
        ("BZMPOP x 1 z MIN", "-ERR timeout is not a float or out of range"),
        ("BZMPOP -1 1 z MIN", "-ERR timeout is negative"),
        ("BZMPOP 0 1 z", "-ERR wrong number of arguments for 'bzmpop' command"),
    ] {
        assert_eq!(run(&mut c, line).await, error, "{line}");
    }

    // The first key that exists decides: a sorted set pops, another type is
    // WRONGTYPE.
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    run(&mut c, "SET s v").await;
    run(&mut c, "ZADD z 1 a").await;
    assert_eq!(run(&mut c, "ZMPOP 2 missing s MIN").await, wrongtype);
    assert_eq!(run(&mut c, "BZMPOP 0 2 missing s MIN").await, wrongtype);
    assert_eq!(run(&mut c, "ZMPOP 2 z s MIN").await, r#"["z", [["a", "1"]]]"#);
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bzmpop_blocks_until_a_zadd_from_another_client() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut w = resp2(addr).await;
    let waiter = tokio::spawn(async move { run(&mut w, "BZMPOP 0 2 za zb MAX COUNT 2").await });
    wait_for_blocked(&mut c, 1).await;
    assert_eq!(run(&mut c, "ZADD other 1 x").await, "1", "another key wakes nobody");
    assert_eq!(run(&mut c, "ZADD zb 1 a 2 b 3 c").await, "3");
    let got = tokio::time::timeout(PATIENCE, waiter).await.unwrap().unwrap();
    assert_eq!(got, r#"["zb", [["c", "3"], ["b", "2"]]]"#);
    assert_eq!(run(&mut c, "ZRANGE zb 0 -1").await, r#"["a"]"#);
    assert_eq!(run(&mut c, "ZCARD other").await, "1");
    wait_for_blocked(&mut c, 0).await;
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bzmpop_waiters_are_served_in_fifo_order_in_their_protocol() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut first = resp2(addr).await;
    let first = tokio::spawn(async move { run(&mut first, "BZMPOP 0 1 zk MIN").await });
    wait_for_blocked(&mut c, 1).await;
    let mut second = resp3(addr).await;
    let second = tokio::spawn(async move { run(&mut second, "BZMPOP 0 1 zk MIN").await });
    wait_for_blocked(&mut c, 2).await;
    assert_eq!(run(&mut c, "ZADD zk 1 a 2 b").await, "2");
    assert_eq!(tokio::time::timeout(PATIENCE, first).await.unwrap().unwrap(), r#"["zk", [["a", "1"]]]"#);
    assert_eq!(tokio::time::timeout(PATIENCE, second).await.unwrap().unwrap(), r#"["zk", [["b", 2.0]]]"#);
    assert_eq!(run(&mut c, "EXISTS zk").await, "0");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn bzmpop_times_out_with_a_nil_reply() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let started = Instant::now();
    assert_eq!(run(&mut c, "BZMPOP 0.3 2 e1 e2 MIN").await, "nil");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(300), "returned after {waited:?}");
    assert!(waited < Duration::from_secs(5), "returned after {waited:?}");
    // Inside MULTI it does not block.
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "BZMPOP 0 1 e1 MIN").await, "+QUEUED");
    assert_eq!(run(&mut c, "EXEC").await, "[nil]");
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Sharded pub/sub

#[tokio::test]
async fn ssubscribe_and_spublish_deliver_smessage_frames() {
    let (node, addr) = start().await;
    let mut sub = Raw::connect(addr).await;
    sub.send(b"SSUBSCRIBE news sports\r\n").await;
    sub.expect(b"*3\r\n$10\r\nssubscribe\r\n$4\r\nnews\r\n:1\r\n").await;
    sub.expect(b"*3\r\n$10\r\nssubscribe\r\n$6\r\nsports\r\n:2\r\n").await;

    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SPUBLISH news hi").await, "1");
    sub.expect(b"*3\r\n$8\r\nsmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n").await;
    assert_eq!(run(&mut c, "SPUBLISH other hi").await, "0");

    // Subscribed mode, as with SUBSCRIBE; the count in a SUBSCRIBE reply
    // leaves shard channels out.
    sub.send(b"GET k\r\n").await;
    sub.expect(REFUSED_WHEN_SUBSCRIBED).await;
    sub.send(b"PING\r\nSUBSCRIBE plain\r\n").await;
    sub.expect(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nplain\r\n:1\r\n").await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn publish_and_spublish_do_not_cross_namespaces() {
    let (node, addr) = start().await;
    let mut plain = Raw::connect(addr).await;
    plain.send(b"SUBSCRIBE x\r\nPSUBSCRIBE *\r\n").await;
    plain
        .expect(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:2\r\n")
        .await;
    let mut shard = Raw::connect(addr).await;
    shard.send(b"SSUBSCRIBE x\r\n").await;
    shard.expect(b"*3\r\n$10\r\nssubscribe\r\n$1\r\nx\r\n:1\r\n").await;

    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "PUBLISH x one").await, "2", "the channel and the pattern, not the shard channel");
    assert_eq!(run(&mut c, "SPUBLISH x two").await, "1", "the shard channel only");
    // Each subscriber's next frames are its own kind's message, then the
    // reply to PING: nothing of the other kind came in between.
    shard.send(b"PING\r\n").await;
    shard.expect(b"*3\r\n$8\r\nsmessage\r\n$1\r\nx\r\n$3\r\ntwo\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n").await;
    plain.send(b"PING\r\n").await;
    plain.expect(b"*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$3\r\none\r\n").await;
    plain.expect(b"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nx\r\n$3\r\none\r\n").await;
    plain.expect(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n").await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn pubsub_shardchannels_and_shardnumsub_count_shard_subscribers() {
    let (node, addr) = start().await;
    let mut shard = Raw::connect(addr).await;
    shard.send(b"SSUBSCRIBE x y\r\n").await;
    shard
        .expect(b"*3\r\n$10\r\nssubscribe\r\n$1\r\nx\r\n:1\r\n*3\r\n$10\r\nssubscribe\r\n$1\r\ny\r\n:2\r\n")
        .await;
    let mut other = Raw::connect(addr).await;
    other.send(b"SSUBSCRIBE x\r\nSUBSCRIBE plain\r\n").await;
    other
        .expect(b"*3\r\n$10\r\nssubscribe\r\n$1\r\nx\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nplain\r\n:1\r\n")
        .await;

    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "PUBSUB SHARDCHANNELS").await, r#"["x", "y"]"#);
    assert_eq!(run(&mut c, "PUBSUB SHARDCHANNELS y*").await, r#"["y"]"#);
    assert_eq!(run(&mut c, "PUBSUB SHARDCHANNELS z*").await, "[]");
    assert_eq!(run(&mut c, "PUBSUB SHARDNUMSUB x y nope").await, r#"["x", 2, "y", 1, "nope", 0]"#);
    assert_eq!(run(&mut c, "PUBSUB SHARDNUMSUB").await, "[]");
    assert_eq!(run(&mut c, "PUBSUB CHANNELS").await, r#"["plain"]"#, "shard channels are not channels");
    assert_eq!(run(&mut c, "PUBSUB NUMSUB x").await, r#"["x", 0]"#);
    assert_eq!(
        run(&mut c, "PUBSUB SHARDCHANNELS a b").await,
        "-ERR unknown subcommand or wrong number of arguments for 'SHARDCHANNELS'. Try PUBSUB HELP."
    );
    assert_eq!(run(&mut c, "SPUBLISH x hi").await, "2");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn sunsubscribe_replies_count_shard_channels_only() {
    let (node, addr) = start().await;
    let mut sub = Raw::connect(addr).await;
    sub.send(b"SSUBSCRIBE a b\r\nSUBSCRIBE c\r\n").await;
    sub.skip_past(b"$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n").await;
    sub.send(b"SUNSUBSCRIBE b\r\n").await;
    sub.expect(b"*3\r\n$12\r\nsunsubscribe\r\n$1\r\nb\r\n:1\r\n").await;
    sub.send(b"SUNSUBSCRIBE\r\n").await;
    sub.expect(b"*3\r\n$12\r\nsunsubscribe\r\n$1\r\na\r\n:0\r\n").await;
    // Nothing left to leave: one reply naming nothing.
    sub.send(b"SUNSUBSCRIBE\r\n").await;
    sub.expect(b"*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n").await;
    // Still subscribed to the channel c.
    sub.send(b"GET k\r\n").await;
    sub.expect(REFUSED_WHEN_SUBSCRIBED).await;
    sub.send(b"UNSUBSCRIBE\r\nGET k\r\n").await;
    sub.expect(b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n$-1\r\n").await;

    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "PUBSUB SHARDCHANNELS").await, "[]");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn resp3_shard_subscriber_gets_push_frames() {
    let (node, addr) = start().await;
    let mut sub = Raw::connect(addr).await;
    sub.hello3().await;
    sub.send(b"SSUBSCRIBE news\r\n").await;
    sub.expect(b">3\r\n$10\r\nssubscribe\r\n$4\r\nnews\r\n:1\r\n").await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SPUBLISH news hi").await, "1");
    sub.expect(b">3\r\n$8\r\nsmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n").await;
    // In RESP3 a subscribed connection runs any command.
    sub.send(b"GET k\r\nSUNSUBSCRIBE\r\nSUNSUBSCRIBE\r\n").await;
    sub.expect(
        b"_\r\n>3\r\n$12\r\nsunsubscribe\r\n$4\r\nnews\r\n:0\r\n>3\r\n$12\r\nsunsubscribe\r\n_\r\n:0\r\n",
    )
    .await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn ssubscribe_inside_multi_is_refused() {
    let (node, addr) = start().await;
    let mut raw = Raw::connect(addr).await;
    raw.send(b"MULTI\r\nSSUBSCRIBE a\r\nEXEC\r\nGET k\r\n").await;
    raw.expect(b"+OK\r\n+QUEUED\r\n*1\r\n-ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client\r\n").await;
    raw.expect(b"$-1\r\n").await;
    node.shutdown().await.unwrap();
}
