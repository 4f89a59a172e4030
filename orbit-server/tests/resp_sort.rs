//! SORT, SORT_RO, LCS and ZINTERCARD over real sockets, and the same
//! corpus against a real `redis-server` (skipped when it is not installed,
//! unless `CI` is set): every reply must be the same in RESP2 and RESP3,
//! errors included. The corpus avoids what Redis leaves unspecified (the
//! order of a set of strings, ties between equal ALPHA weights).

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{connect_url, resp2, resp3, run, show, start_redis, start_with, try_call};
use orbit_server::{Config, Node};
use redis::aio::MultiplexedConnection;
use std::net::SocketAddr;

async fn start() -> (Node, SocketAddr) {
    start_with(Config::ephemeral()).await
}

/// Commands run in order on both servers; every reply is compared.
const CORPUS: &[&str] = &[
    "RPUSH nums 3 1 2 10 -5 1.5",
    "RPUSH words banana apple cherry Apple",
    "SADD iset 5 3 9 1",
    "SADD sset b a c",
    "ZADD zs 3 c 1 a 2 b",
    "MSET w_a 3 w_b 1 w_c 2 o_a x o_b y w_bad x",
    "HSET h_a f 30 name Alice",
    "HSET h_b f 10 name Bob",
    "HSET h_c f 20 name Carol",
    "RPUSH mixed 1 x 2",
    "SET str hello",
    "RPUSH dup 2 1 2",
    "RPUSH badby bad",
    "SORT nums",
    "SORT nums DESC",
    "SORT nums LIMIT 1 3",
    "SORT nums LIMIT -1 2",
    "SORT nums LIMIT 2 -1",
    "SORT nums LIMIT 10 5",
    "SORT nums LIMIT 0 0",
    "SORT nums ASC LIMIT 1 2 DESC",
    "SORT words ALPHA",
    "SORT words ALPHA DESC",
    "SORT words",
    "SORT mixed",
    "SORT mixed ALPHA",
    "SORT iset",
    "SORT iset DESC",
    "SORT iset BY nosort",
    "SORT sset ALPHA",
    "SORT sset BY w_*",
    "SORT sset BY w_* DESC",
    "SORT sset BY w_* ALPHA",
    "SORT sset BY h_*->f",
    "SORT sset BY h_*->f DESC LIMIT 0 2",
    "SORT sset BY w_* GET # GET o_* GET h_*->name",
    "SORT sset ALPHA GET w_*->",
    "SORT zs",
    "SORT zs ALPHA DESC",
    "SORT zs BY nosort",
    "SORT zs BY nosort DESC",
    "SORT zs BY nosort LIMIT 1 1",
    "SORT zs BY nosort DESC LIMIT 0 2",
    "SORT nums BY nosort",
    "SORT nums BY nosort DESC",
    "SORT nums BY nosort LIMIT 1 2 DESC",
    "SORT nums BY w_*",
    "SORT words BY w_*",
    "SORT badby BY w_*",
    "SORT nums GET h_*->f",
    "SORT missing",
    "SORT missing BY nosort GET #",
    "SORT str",
    "SORT h_a",
    "SORT dup",
    "SORT words BY nosort GET #",
    "SORT sset BY nosort STORE dst",
    "LRANGE dst 0 -1",
    "SORT nums STORE dst2",
    "LRANGE dst2 0 -1",
    "SORT missing STORE dst2",
    "EXISTS dst2",
    "SORT sset BY w_* GET o_* STORE dst3",
    "LRANGE dst3 0 -1",
    "SORT nums LIMIT 0 0 STORE dst3",
    "EXISTS dst3",
    "SORT_RO nums DESC",
    "SORT_RO nums STORE x",
    "SORT nums LIMIT 1",
    "SORT nums FOO",
    "SORT nums LIMIT a 1",
    "SORT nums LIMIT 1 99999999999999999999",
    "SORT nums BY",
    "SORT str LIMIT x 1",
    "SET s1 ohmytext",
    "SET s2 mynewtext",
    "LCS s1 s2",
    "LCS s1 s2 LEN",
    "LCS s1 s2 IDX",
    "LCS s1 s2 IDX MINMATCHLEN 4 WITHMATCHLEN",
    "LCS s1 s2 IDX WITHMATCHLEN",
    "LCS s1 s2 idx minmatchlen -3",
    "LCS s1 missing",
    "LCS missing missing2 IDX",
    "LCS s1 s2 LEN IDX",
    "LCS s1 nums",
    "LCS nums s1 FOO",
    "LCS s1 s2 FOO",
    "LCS s1 s2 MINMATCHLEN x",
    "LCS s1 s2 MINMATCHLEN",
    "ZADD za 1 a 2 b 3 c",
    "ZADD zb 1 b 1 c 1 d",
    "SADD sb a b",
    "ZINTERCARD 2 za zb",
    "ZINTERCARD 2 za zb LIMIT 1",
    "ZINTERCARD 2 za zb limit 0",
    "ZINTERCARD 2 za sb",
    "ZINTERCARD 1 missing",
    "ZINTERCARD 2 za missing",
    "ZINTERCARD 0 za",
    "ZINTERCARD -1 za",
    "ZINTERCARD x za",
    "ZINTERCARD 3 za zb",
    "ZINTERCARD 2 za str",
    "ZINTERCARD 2 za zb LIMIT -1",
    "ZINTERCARD 2 za zb LIMIT x",
    "ZINTERCARD 2 za zb LIMIT",
    "ZINTERCARD 2 za zb FOO 1",
    "ZINTERCARD 2 za str LIMIT -1",
];

/// A user whose key patterns do not cover every key: SORT's BY and GET
/// are refused to it, plain SORT is not.
const RESTRICTED: &[&str] =
    &["SORT knums", "SORT knums BY w_*", "SORT knums BY nosort", "SORT knums GET #", "SORT knums GET o_*"];

async fn replies(con: &mut MultiplexedConnection, lines: &[&str]) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let reply = try_call(con, &words).await.unwrap_or_else(|e| panic!("{line}: {e}"));
        out.push(format!("{line} => {}", show(&reply)));
    }
    out
}

async fn compare_with_redis(resp3: bool) {
    if !common::require_program("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_redis, redis_addr) = start_redis(dir.path()).await;
    let (node, orbit_addr) = start().await;
    let query = if resp3 { "?protocol=resp3" } else { "" };
    let mut redis = connect_url(&format!("redis://{redis_addr}/{query}")).await;
    let mut orbit = connect_url(&format!("redis://{orbit_addr}/{query}")).await;
    let expected = replies(&mut redis, CORPUS).await;
    let got = replies(&mut orbit, CORPUS).await;
    for (got, expected) in got.iter().zip(&expected) {
        assert_eq!(got, expected);
    }

    let setup = ["RPUSH knums 2 1", "ACL SETUSER alice on nopass ~k* +@all"];
    let mut restricted = Vec::new();
    for (con, addr) in [(&mut redis, redis_addr), (&mut orbit, orbit_addr)] {
        replies(con, &setup).await;
        let mut alice = connect_url(&format!("redis://{addr}/{query}")).await;
        assert_eq!(run(&mut alice, "AUTH alice any").await, "+OK");
        restricted.push(replies(&mut alice, RESTRICTED).await);
    }
    assert_eq!(restricted[1], restricted[0]);
    assert!(restricted[0][1].contains("BY option of SORT denied"), "{:?}", restricted[0]);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn sort_lcs_and_zintercard_match_redis_server_in_resp2() {
    compare_with_redis(false).await;
}

#[tokio::test]
async fn sort_lcs_and_zintercard_match_redis_server_in_resp3() {
    compare_with_redis(true).await;
}

#[tokio::test]
async fn sort_orders_lists_sets_and_sorted_sets() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "RPUSH l 3 1 2 10").await, "4");
    assert_eq!(run(&mut c, "SORT l").await, r#"["1", "2", "3", "10"]"#);
    assert_eq!(run(&mut c, "SORT l ALPHA DESC LIMIT 0 3").await, r#"["3", "2", "10"]"#);
    assert_eq!(run(&mut c, "SADD s b a").await, "2");
    assert_eq!(run(&mut c, "MSET w_a 2 w_b 1").await, "+OK");
    assert_eq!(run(&mut c, "HSET h_a name Ann").await, "1");
    assert_eq!(run(&mut c, "SORT s BY w_* GET # GET h_*->name").await, r#"["b", nil, "a", "Ann"]"#);
    assert_eq!(run(&mut c, "ZADD z 2 x 1 y").await, "2");
    assert_eq!(run(&mut c, "SORT z BY nosort DESC").await, r#"["x", "y"]"#);
    assert_eq!(run(&mut c, "SORT s").await, "-ERR One or more scores can't be converted into double");
    assert_eq!(
        run(&mut c, "SORT w_a").await,
        "-WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn sort_store_writes_a_list_and_an_empty_result_deletes_it() {
    let (node, addr) = start().await;
    let mut c = resp3(addr).await;
    assert_eq!(run(&mut c, "SADD s 3 1 2").await, "3");
    assert_eq!(run(&mut c, "SET dst old").await, "+OK");
    assert_eq!(run(&mut c, "SORT s DESC STORE dst").await, "3");
    assert_eq!(run(&mut c, "LRANGE dst 0 -1").await, r#"["3", "2", "1"]"#);
    assert_eq!(run(&mut c, "SORT s GET nothing_* STORE dst").await, "3");
    assert_eq!(run(&mut c, "LRANGE dst 0 -1").await, r#"["", "", ""]"#, "missing values stored empty");
    assert_eq!(run(&mut c, "SORT missing STORE dst").await, "0");
    assert_eq!(run(&mut c, "EXISTS dst").await, "0");
    assert_eq!(run(&mut c, "SORT_RO s STORE dst").await, "-ERR syntax error");
    assert_eq!(run(&mut c, "SORT_RO s LIMIT 1 1").await, r#"["2"]"#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn lcs_replies_a_map_in_resp3_and_a_flat_array_in_resp2() {
    let (node, addr) = start().await;
    let mut c2 = resp2(addr).await;
    assert_eq!(run(&mut c2, "MSET a ohmytext b mynewtext").await, "+OK");
    assert_eq!(run(&mut c2, "LCS a b").await, r#""mytext""#);
    assert_eq!(
        run(&mut c2, "LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN").await,
        r#"["matches", [[[4, 7], [5, 8], 4]], "len", 6]"#
    );
    let mut c3 = resp3(addr).await;
    assert_eq!(
        run(&mut c3, "LCS a b IDX").await,
        r#"{"matches": [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], "len": 6}"#
    );
    assert_eq!(run(&mut c3, "LCS a b LEN").await, "6");
    assert_eq!(run(&mut c3, "LPUSH l x").await, "1");
    assert_eq!(run(&mut c3, "LCS a l").await, "-ERR The specified keys must contain string values");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn lcs_refuses_a_table_larger_than_proto_max_bulk_len() {
    let mut config = Config::ephemeral();
    config.resp.proto_max_bulk_len = 1024 * 1024;
    let (node, addr) = start_with(config).await;
    let mut c = resp2(addr).await;
    let long = "x".repeat(600);
    assert_eq!(run(&mut c, &format!("MSET a {long} b {long}")).await, "+OK");
    assert_eq!(
        run(&mut c, "LCS a b LEN").await,
        "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
    );
    assert_eq!(run(&mut c, "SET b xx").await, "+OK");
    assert_eq!(run(&mut c, "LCS a b LEN").await, "2");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn zintercard_counts_the_intersection_up_to_its_limit() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "ZADD a 1 x 2 y 3 z").await, "3");
    assert_eq!(run(&mut c, "SADD b y z w").await, "3");
    assert_eq!(run(&mut c, "ZINTERCARD 2 a b").await, "2");
    assert_eq!(run(&mut c, "ZINTERCARD 2 a b LIMIT 1").await, "1");
    assert_eq!(run(&mut c, "ZINTERCARD 2 a missing").await, "0");
    assert_eq!(run(&mut c, "ZINTERCARD 1 a LIMIT -1").await, "-ERR LIMIT can't be negative");
    node.shutdown().await.unwrap();
}
