//! The geo commands over real sockets, in RESP2 and RESP3: GEOADD, GEOPOS,
//! GEODIST, GEOHASH, GEOSEARCH, GEOSEARCHSTORE, GEORADIUS and
//! GEORADIUSBYMEMBER (with STORE/STOREDIST) and the `_RO` forms. Expected
//! replies were taken from `redis-server` 7.0; the differential test at the
//! end sends one fixed corpus to a real `redis-server` and to Orbit and
//! compares every reply.
//!
//! Redis 7.0 and 7.2 print coordinates the same way (`%.17Lf` without
//! trailing zeros) and distances the same way (4 decimals; 7.2 rounds with
//! `llrint`, 7.0 with `%.4f`, which differ only on halfway cases none of
//! these hit). They differ in how ZRANGE prints a non-integer score (7.0
//! `%.17g`, 7.2 the shortest round trip, which Orbit follows): scores
//! stored by STOREDIST are compared as numbers.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{Raw, connect_url, resp2, resp3, run, show, start_redis, start_with, try_call};
use orbit_server::{Config, Node};
use redis::Value;
use std::net::SocketAddr;

async fn start() -> (Node, SocketAddr) {
    start_with(Config::ephemeral()).await
}

const SICILY: &str = "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania";
const EDGES: &str = "GEOADD Sicily NX CH 13 38 Palermo 12.758489 38.788135 edge1 17.241510 38.788135 edge2";

#[tokio::test]
async fn geoadd_stores_redis_geohash_scores_and_geopos_prints_cell_centres() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, SICILY).await, "2");
    assert_eq!(
        run(&mut c, "ZRANGE Sicily 0 -1 WITHSCORES").await,
        r#"["Palermo", "3479099956230698", "Catania", "3479447370796909"]"#
    );
    assert_eq!(
        run(&mut c, "GEOPOS Sicily Palermo nope Catania").await,
        r#"[["13.36138933897018433", "38.11555639549629859"], nil, ["15.08726745843887329", "37.50266842333162032"]]"#
    );
    assert_eq!(run(&mut c, "GEODIST Sicily Palermo Catania").await, r#""166274.1516""#);
    assert_eq!(run(&mut c, "GEODIST Sicily Palermo Catania km").await, r#""166.2742""#);
    assert_eq!(run(&mut c, "GEODIST Sicily Palermo Catania MI").await, r#""103.3182""#);
    assert_eq!(run(&mut c, "GEODIST Sicily Palermo nope").await, "nil");
    assert_eq!(
        run(&mut c, "GEOHASH Sicily Palermo Catania nope").await,
        r#"["sqc8b49rny0", "sqdtr74hyu0", nil]"#
    );
    assert_eq!(run(&mut c, EDGES).await, "2", "NX skips Palermo, CH counts the two added");
    assert_eq!(run(&mut c, "GEOADD Sicily XX CH 13.5 38.2 Palermo 1 1 nobody").await, "1");
    assert_eq!(run(&mut c, "ZCARD Sicily").await, "4");
    assert_eq!(
        run(&mut c, "GEOADD Sicily 181 0 x").await,
        "-ERR invalid longitude,latitude pair 181.000000,0.000000"
    );
    assert_eq!(run(&mut c, "GEOADD Sicily 1 2 m 3").await, "-ERR syntax error");
    assert_eq!(run(&mut c, "GEOADD Sicily NX XX 1 2 m").await, "-ERR syntax error");
    assert_eq!(
        run(&mut c, "GEODIST Sicily Palermo Catania yd").await,
        "-ERR unsupported unit provided. please use M, KM, FT, MI"
    );
    assert_eq!(run(&mut c, "SET s v").await, "+OK");
    assert_eq!(
        run(&mut c, "GEOPOS s a").await,
        "-WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn searches_sort_count_and_show_distances_hashes_and_coordinates() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, SICILY).await;
    run(&mut c, EDGES).await;
    assert_eq!(
        run(&mut c, "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC").await,
        r#"["Catania", "Palermo"]"#
    );
    assert_eq!(
        run(&mut c, "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST").await,
        concat!(
            r#"[["Catania", "56.4413", ["15.08726745843887329", "37.50266842333162032"]], "#,
            r#"["Palermo", "190.4424", ["13.36138933897018433", "38.11555639549629859"]], "#,
            r#"["edge2", "279.7403", ["17.24151045083999634", "38.78813451624225195"]], "#,
            r#"["edge1", "279.7405", ["12.7584877610206604", "38.78813451624225195"]]]"#
        )
    );
    assert_eq!(
        run(&mut c, "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 400 km DESC COUNT 2 WITHHASH").await,
        r#"[["edge1", 3479273021651468], ["edge2", 3481342659049484]]"#
    );
    assert_eq!(
        run(&mut c, "GEORADIUSBYMEMBER Sicily Palermo 150 km WITHDIST").await,
        r#"[["Palermo", "0.0000"], ["edge1", "91.4007"]]"#
    );
    assert_eq!(run(&mut c, "GEORADIUS_RO Sicily 15 37 100 km").await, r#"["Catania"]"#);
    assert_eq!(
        run(&mut c, "geosearch Sicily FROMLONLAT 1 2 BYRADIUS 1 km ANY").await,
        "-ERR the ANY argument requires COUNT argument"
    );
    assert_eq!(
        run(&mut c, "geosearch Sicily FROMMEMBER nope BYRADIUS 1 km").await,
        "-ERR could not decode requested zset member"
    );
    assert_eq!(
        run(&mut c, "geosearch Sicily BYRADIUS 1 km ASC WITHDIST").await,
        "-ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch"
    );
    assert_eq!(run(&mut c, "GEORADIUS_RO Sicily 15 37 200 km STORE x").await, "-ERR syntax error");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn store_variants_write_sorted_sets_of_hashes_or_distances() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    run(&mut c, SICILY).await;
    run(&mut c, EDGES).await;
    assert_eq!(run(&mut c, "GEORADIUS Sicily 15 37 200 km STORE near").await, "2");
    assert_eq!(
        run(&mut c, "ZRANGE near 0 -1 WITHSCORES").await,
        r#"["Palermo", "3479099956230698", "Catania", "3479447370796909"]"#
    );
    assert_eq!(run(&mut c, "GEORADIUS Sicily 15 37 200 km STOREDIST dists").await, "2");
    assert_eq!(
        run(&mut c, "ZRANGE dists 0 -1 WITHSCORES").await,
        r#"["Catania", "56.4412578701582", "Palermo", "190.44242984775784"]"#
    );
    let boxed = "GEOSEARCHSTORE box Sicily FROMMEMBER Palermo BYBOX 400 400 km ASC COUNT 3 STOREDIST";
    assert_eq!(run(&mut c, boxed).await, "3");
    assert_eq!(
        run(&mut c, "ZRANGE box 0 -1 WITHSCORES").await,
        r#"["Palermo", "0", "edge1", "91.40065860581427", "Catania", "166.27415156960032"]"#
    );
    assert_eq!(run(&mut c, "GEOSEARCHSTORE box Sicily FROMLONLAT 0 0 BYRADIUS 1 km").await, "0");
    assert_eq!(run(&mut c, "EXISTS box").await, "0", "an empty result deletes the destination");
    assert_eq!(run(&mut c, "GEORADIUSBYMEMBER missing m 1 km STORE near").await, "0");
    assert_eq!(run(&mut c, "EXISTS near").await, "0", "a missing source deletes it too");
    assert_eq!(
        run(&mut c, "GEORADIUS Sicily 15 37 200 km STORE near WITHDIST").await,
        "-ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
    );
    assert_eq!(
        run(&mut c, "GEOSEARCHSTORE d Sicily FROMLONLAT 15 37 BYRADIUS 1 km WITHCOORD").await,
        "-ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
    );
    assert_eq!(run(&mut c, "SET s v").await, "+OK");
    assert_eq!(run(&mut c, "GEORADIUS Sicily 15 37 100 km STORE s").await, "1");
    assert_eq!(run(&mut c, "TYPE s").await, "+zset", "STORE replaces a key of another type");
    assert_eq!(
        run(&mut c, "GEORADIUS s 200 0 1 km STORE d").await,
        "-ERR invalid longitude,latitude pair 200.000000,0.000000"
    );
    assert_eq!(run(&mut c, "SET s v").await, "+OK");
    assert_eq!(
        run(&mut c, "GEORADIUS s 200 0 1 km STORE d").await,
        "-WRONGTYPE Operation against a key holding the wrong kind of value",
        "the source's type is checked first"
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_store_in_a_transaction_and_a_watched_destination() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut other = resp2(addr).await;
    run(&mut c, SICILY).await;
    assert_eq!(run(&mut c, "WATCH near").await, "+OK");
    assert_eq!(run(&mut other, "GEORADIUS Sicily 15 37 200 km STORE near").await, "2");
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "ZCARD near").await, "+QUEUED");
    assert_eq!(run(&mut c, "EXEC").await, "nil", "the STORE touched the watched key");
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "GEOSEARCHSTORE far Sicily FROMMEMBER Catania BYRADIUS 10 km").await, "+QUEUED");
    assert_eq!(run(&mut c, "ZRANGE far 0 -1").await, "+QUEUED");
    assert_eq!(run(&mut c, "EXEC").await, r#"[1, ["Catania"]]"#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn resp3_coordinates_are_doubles_and_distances_bulk_strings() {
    let (node, addr) = start().await;
    let mut c = resp3(addr).await;
    run(&mut c, SICILY).await;
    assert_eq!(
        run(&mut c, "GEOPOS Sicily Palermo nope").await,
        "[[13.361389338970184, 38.1155563954963], nil]"
    );
    assert_eq!(run(&mut c, "GEODIST Sicily Palermo Catania km").await, r#""166.2742""#);
    assert_eq!(
        run(&mut c, "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 100 km WITHCOORD WITHDIST WITHHASH").await,
        r#"[["Catania", "56.4413", 3479447370796909, [15.087267458438873, 37.50266842333162]]]"#
    );
    assert_eq!(run(&mut c, "GEORADIUS Sicily 15 37 200 km STOREDIST dists").await, "2");
    assert_eq!(
        run(&mut c, "ZRANGE dists 0 -1 WITHSCORES").await,
        r#"[["Catania", 56.4412578701582], ["Palermo", 190.44242984775784]]"#
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn reply_bytes_match_redis_in_resp2_and_resp3() {
    let (node, addr) = start().await;
    let mut raw = Raw::connect(addr).await;
    raw.send(b"GEOADD g 13.361389 38.115556 p\r\nGEOPOS g p x\r\nGEODIST g p p\r\n").await;
    raw.expect(b":1\r\n*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n*-1\r\n")
        .await;
    raw.expect(b"$6\r\n0.0000\r\n").await;
    raw.hello3().await;
    raw.send(b"GEOPOS g p x\r\nGEOSEARCH g FROMMEMBER p BYRADIUS 1 m WITHDIST\r\n").await;
    raw.expect(b"*2\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n_\r\n").await;
    raw.expect(b"*1\r\n*2\r\n$1\r\np\r\n$6\r\n0.0000\r\n").await;
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Differential: the same corpus to redis-server and to Orbit.

/// One command a line. A line starting with `~` compares floating-point
/// bulk strings as numbers (ZRANGE of STOREDIST scores, see the top).
/// Commands whose errors name the command are in lower case: Redis echoes
/// the name as sent, Orbit in lower case.
const CORPUS: &str = r"
GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
GEOADD Sicily NX CH 12.758489 38.788135 edge1 17.241510 38.788135 edge2 13.361389 38.115556 Palermo
GEOADD Sicily XX CH 13.361389 38.115557 Palermo 1 1 nobody
GEOADD Sicily CH 13.361389 38.115557 Palermo
ZRANGE Sicily 0 -1 WITHSCORES
GEOPOS Sicily Palermo Catania edge1 edge2 nope
GEOPOS missing a b
GEOPOS Sicily
GEODIST Sicily Palermo Catania
GEODIST Sicily Palermo Catania km
GEODIST Sicily Palermo Catania MI
GEODIST Sicily Palermo Catania ft
GEODIST Sicily edge1 edge2 M
GEODIST Sicily Palermo nope
GEODIST missing a b
GEODIST Sicily Palermo Catania yd
GEODIST Sicily Palermo Catania km extra
GEOHASH Sicily Palermo Catania edge1 edge2 nope
GEOHASH missing a
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km DESC WITHCOORD WITHDIST WITHHASH
GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST
GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 100 km WITHDIST
GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 300 100 km ASC
GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1000000 300000 ft DESC WITHDIST
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 400 km COUNT 2
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 400 km COUNT 2 DESC
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 400 km COUNT 1 ANY
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 400 km COUNT 3 ANY ASC WITHDIST
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 400 km COUNT 99 WITHHASH
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 0 km
GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 0 m WITHDIST
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 5000 km WITHDIST
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 12427 mi WITHDIST
GEOSEARCH Sicily FROMLONLAT -165 -37 BYRADIUS 20000 km WITHDIST
GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC FROMLONLAT 13 38
GEORADIUS Sicily 15 37 200 km
GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD ASC
GEORADIUS Sicily 15 37 200 km COUNT 1
GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST
GEORADIUSBYMEMBER Sicily Palermo 200 km WITHHASH DESC
GEORADIUS_RO Sicily 15 37 200 km WITHHASH
GEORADIUSBYMEMBER_RO Sicily Palermo 200 km ASC
GEORADIUS Sicily 15 37 200 km STORE dst
ZRANGE dst 0 -1 WITHSCORES
GEORADIUS Sicily 15 37 200 km STOREDIST dd
~ZRANGE dd 0 -1 WITHSCORES
GEORADIUS Sicily 15 37 200 km STORE a STOREDIST dd COUNT 1
~ZRANGE dd 0 -1 WITHSCORES
EXISTS a
GEORADIUSBYMEMBER Sicily Palermo 300 km STORE dst COUNT 2 ASC
ZRANGE dst 0 -1 WITHSCORES
GEOSEARCHSTORE dst2 Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC COUNT 3
ZRANGE dst2 0 -1 WITHSCORES
GEOSEARCHSTORE dst3 Sicily FROMMEMBER Palermo BYRADIUS 200 km STOREDIST
~ZRANGE dst3 0 -1 WITHSCORES
GEOSEARCHSTORE dst3 Sicily FROMLONLAT 0 0 BYRADIUS 1 km
EXISTS dst3
GEOSEARCHSTORE dst2 missing FROMLONLAT 0 0 BYRADIUS 1 km
EXISTS dst2
GEORADIUS missing 15 37 200 km STORE dst
EXISTS dst
GEORADIUSBYMEMBER missing m -5 km
GEORADIUSBYMEMBER missing m -5 km STORE x
GEOSEARCH missing FROMMEMBER m BYRADIUS 1 km
MULTI
GEORADIUS Sicily 15 37 200 km STORE tx
ZCARD tx
EXEC
geoadd Sicily 181 0 x
geoadd Sicily 0 86 x
geoadd Sicily -180.5 -86 x
geoadd Sicily 1 2
geoadd Sicily 1 2 m 3
geoadd Sicily nx xx 1 2 x
geoadd Sicily x 2 m
geoadd Sicily 1 inf m
geoadd Sicily gt 1 2 m
geoadd Sicily ch ch ch
georadius Sicily 15 37 200 km STORE dst WITHDIST
geosearchstore dst Sicily FROMLONLAT 15 37 BYRADIUS 1 km WITHCOORD
geosearch Sicily BYRADIUS 1 km
geosearch Sicily FROMLONLAT 1 2
geosearch Sicily FROMLONLAT 1 2 FROMMEMBER Palermo BYRADIUS 1 km
geosearch Sicily FROMMEMBER Palermo BYRADIUS 1 km BYBOX 1 1 km
geosearch Sicily FROMMEMBER nope BYRADIUS 1 km
georadiusbymember Sicily nope 1 km
geosearch Sicily FROMLONLAT 1 2 BYRADIUS -1 km
geosearch Sicily FROMLONLAT 1 2 BYRADIUS x km
geosearch Sicily FROMLONLAT 1 2 BYBOX 1 x km
geosearch Sicily FROMLONLAT 1 2 BYBOX x 1 km
geosearch Sicily FROMLONLAT 1 2 BYBOX -1 1 km
geosearch Sicily FROMLONLAT 1 2 BYRADIUS 1 yd
geosearch Sicily FROMLONLAT 1 2 BYRADIUS 1 km COUNT 0
geosearch Sicily FROMLONLAT 1 2 BYRADIUS 1 km COUNT -3
geosearch Sicily FROMLONLAT 1 2 BYRADIUS 1 km COUNT x
geosearch Sicily FROMLONLAT 1 2 BYRADIUS 1 km ANY
geosearch Sicily FROMLONLAT 1 2 BYRADIUS 1 km STORE x
geosearch Sicily FROMLONLAT 1 2 BYRADIUS 1 km STOREDIST
geosearch Sicily FROMLONLAT 1 2 BYRADIUS 1 km COUNT
geosearch Sicily FROMLONLAT 200 2 BYRADIUS 1 km
georadius_ro Sicily 15 37 200 km STORE x
georadius Sicily 200 37 1 km
georadius Sicily 15 37 1 km COUNT 0 STORE x
geosearch Sicily
geoadd Sicily 1 2
SET str v
GEOADD str 1 2 m
GEOPOS str a
GEODIST str a b
GEOHASH str a
GEOSEARCH str FROMLONLAT 1 2 BYRADIUS 1 km
georadius str x 2 1 km
GEOSEARCHSTORE d str FROMLONLAT 1 2 BYRADIUS 1 km
GEORADIUS Sicily 15 37 200 km STORE str
TYPE str
GEOADD limits 180 85.05112878 ne -180 -85.05112878 sw 179.99 -0.5 am -179.99 0.5 am2 0 85 n1 0 -85 s1
ZRANGE limits 0 -1 WITHSCORES
GEOPOS limits ne sw am am2 n1 s1
GEOHASH limits ne sw am am2 n1 s1
GEOSEARCH limits FROMLONLAT -179.99 -0.5 BYRADIUS 200 km WITHDIST ASC
GEOSEARCH limits FROMLONLAT 180 0 BYBOX 500 500 km WITHCOORD ASC
GEOSEARCH limits FROMLONLAT 0 85 BYRADIUS 100 km WITHDIST
GEOSEARCH limits FROMLONLAT 0 -85 BYRADIUS 500 km WITHDIST
GEOSEARCH limits FROMMEMBER ne BYRADIUS 1000 km WITHDIST
GEOSEARCH limits FROMMEMBER sw BYRADIUS 1000 km WITHDIST
GEODIST limits am am2 km
GEODIST limits ne sw
GEODIST limits n1 s1 km
ZADD scores 0 zero 4503599627370495 top 3479099956230698.5 half
GEOPOS scores zero top half
GEOHASH scores zero top half
GEOSEARCH scores FROMMEMBER zero BYRADIUS 100 km WITHCOORD
";

/// A float in a bulk string as a number (for `~` lines).
fn numeric(v: Value) -> Value {
    match v {
        Value::BulkString(b) => match std::str::from_utf8(&b).ok().and_then(|s| s.parse::<f64>().ok()) {
            Some(d) => Value::Double(d),
            None => Value::BulkString(b),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(numeric).collect()),
        other => other,
    }
}

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
        let (as_numbers, line) = match line.strip_prefix('~') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let render = |reply: redis::RedisResult<Value>| match reply {
            Ok(v) if as_numbers => show(&numeric(v)),
            Ok(v) => show(&v),
            Err(e) => format!("client error: {e}"),
        };
        let want = render(try_call(&mut redis, words.as_slice()).await);
        let got = render(try_call(&mut orbit, words.as_slice()).await);
        assert_eq!(got, want, "resp{}: {line}", if resp3 { 3 } else { 2 });
        compared += 1;
    }
    assert!(compared > 100);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn geo_matches_redis_server_in_resp2() {
    differential(false).await;
}

#[tokio::test]
async fn geo_matches_redis_server_in_resp3() {
    differential(true).await;
}
