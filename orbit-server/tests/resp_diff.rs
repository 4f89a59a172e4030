//! Differential test: random command sequences go to a real `redis-server`
//! (the Debian package, Redis 7.0) and to an Orbit node, and every reply must
//! be the same, errors included (code and text).
//!
//! Four keys shared by every type, so commands collide and WRONGTYPE comes
//! up. Only deterministic commands: nothing random (SPOP, SRANDMEMBER,
//! HRANDFIELD and ZRANDMEMBER only with a count that takes everything), no
//! cursors, no INFO. Time: a TTL or an expiry time set relative to now is
//! compared only as missing (-2), none (-1) or some; EXPIRE's GT and LT are
//! left out because whether `now + 100 s` beats a TTL set a moment earlier
//! with the same duration depends on the clock (they come only beside an
//! option that makes Redis refuse the command); absolute expiry times (year
//! 2100) are compared exactly. Blocking commands wait 10 ms, so they return
//! at once or time out. Replies whose order Redis leaves unspecified
//! (SMEMBERS, SINTER, HGETALL, KEYS...) are sorted first. Scores stay on
//! values whose text is the same in Redis 7.0 (`%.17g`) and 7.2 (shortest
//! round trip).

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{PATIENCE, connect_url, show, start_redis, start_with, try_call};
use orbit_server::Config;
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use redis::Value;
use redis::aio::MultiplexedConnection;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Words = Vec<String>;
/// One step: a command, or several that belong together (MULTI ... EXEC).
type Step = Vec<Words>;

// ---------------------------------------------------------------------------
// The two servers

use common::resp::{Peers as Servers, peers_with as servers};

// ---------------------------------------------------------------------------
// Commands

const KEYS: &[&str] = &["k0", "k1", "k2", "k3"];
const VALUES: &[&str] =
    &["a", "b", "ab", "", "0", "1", "-1", "10", "1.5", "01", "+1", " 1", "inf", "9223372036854775807"];
const FIELDS: &[&str] = &["f0", "f1", "f2"];
const MEMBERS: &[&str] = &["a", "b", "c", "d"];
const INTS: &[&str] =
    &["-2", "-1", "0", "1", "2", "3", "10", "+1", "01", "9223372036854775807", "-9223372036854775808"];
const INDEXES: &[&str] = &["-100", "-3", "-1", "0", "1", "2", "5", "100"];
const FLOATS: &[&str] = &["0.5", "1.5", "-2", "3", "1e2", "0", "0.1", "inf", "-inf", "1e308", "x"];
/// An absolute expiry time (2100-01-01), in seconds and in milliseconds.
const FAR_SECS: &str = "4102444800";
const FAR_MS: &str = "4102444800000";
/// Sums of these stay exact and print the same in Redis 7.0 and 7.2.
const SCORES: &[&str] = &["0", "1", "2", "-1", "1.5", "-2.5", "10", "inf", "-inf", "+inf"];
const SCORE_BOUNDS: &[&str] = &["-inf", "+inf", "0", "(1", "1", "2", "(2.5", "10", "x"];
const LEX_BOUNDS: &[&str] = &["-", "+", "[a", "(a", "[b", "(c", "[d", "x"];

type Part = BoxedStrategy<Words>;

fn lit(word: &'static str) -> Part {
    Just(vec![word.to_string()]).boxed()
}

fn pick(items: &'static [&'static str]) -> Part {
    prop::sample::select(items).prop_map(|s| vec![s.to_string()]).boxed()
}

fn key() -> Part {
    pick(KEYS)
}

fn keys(min: usize, max: usize) -> Part {
    prop::collection::vec(prop::sample::select(KEYS), min..=max)
        .prop_map(|ks| ks.iter().map(|k| k.to_string()).collect())
        .boxed()
}

/// `numkeys key...`, as SINTERCARD, LMPOP, ZMPOP and ZUNIONSTORE take them.
fn counted_keys() -> BoxedStrategy<(usize, Words)> {
    prop::collection::vec(prop::sample::select(KEYS), 1..=3)
        .prop_map(|ks| {
            let mut words = vec![ks.len().to_string()];
            words.extend(ks.iter().map(|k| k.to_string()));
            (ks.len(), words)
        })
        .boxed()
}

fn maybe(part: Part) -> Part {
    prop::option::of(part).prop_map(Option::unwrap_or_default).boxed()
}

/// `count` repetitions of a part, flattened (field value pairs...).
fn repeat(part: Part, min: usize, max: usize) -> Part {
    prop::collection::vec(part, min..=max).prop_map(|parts| parts.concat()).boxed()
}

fn seq(parts: Vec<Part>) -> Part {
    parts.prop_map(|parts| parts.concat()).boxed()
}

fn one_of(parts: Vec<Part>) -> Part {
    Union::new(parts).boxed()
}

fn strings() -> Vec<Part> {
    let expiry = one_of(vec![
        lit("KEEPTTL"),
        seq(vec![lit("EX"), lit("100")]),
        seq(vec![lit("PX"), lit("100000")]),
        seq(vec![lit("EXAT"), lit(FAR_SECS)]),
        seq(vec![lit("PXAT"), lit(FAR_MS)]),
    ]);
    let getex = one_of(vec![
        lit("PERSIST"),
        seq(vec![lit("EX"), pick(&["100", "0"])]),
        seq(vec![lit("EXAT"), lit(FAR_SECS)]),
        seq(vec![lit("PXAT"), lit(FAR_MS)]),
    ]);
    vec![
        seq(vec![
            lit("SET"),
            key(),
            pick(VALUES),
            maybe(pick(&["NX", "XX"])),
            maybe(lit("GET")),
            maybe(expiry),
        ]),
        seq(vec![pick(&["GET", "GETDEL", "STRLEN", "INCR", "DECR"]), key()]),
        seq(vec![pick(&["SETNX", "GETSET", "APPEND"]), key(), pick(VALUES)]),
        seq(vec![pick(&["INCRBY", "DECRBY"]), key(), pick(INTS)]),
        seq(vec![lit("INCRBYFLOAT"), key(), pick(FLOATS)]),
        seq(vec![pick(&["GETRANGE", "SUBSTR"]), key(), pick(INDEXES), pick(INDEXES)]),
        seq(vec![lit("SETRANGE"), key(), pick(&["0", "1", "3", "-1"]), pick(VALUES)]),
        seq(vec![pick(&["MSET", "MSETNX"]), repeat(seq(vec![key(), pick(VALUES)]), 1, 3)]),
        seq(vec![lit("MGET"), keys(1, 3)]),
        seq(vec![lit("GETEX"), key(), maybe(getex)]),
        seq(vec![lit("SETEX"), key(), pick(&["100", "0", "-5"]), pick(VALUES)]),
        seq(vec![lit("PSETEX"), key(), pick(&["100000", "0"]), pick(VALUES)]),
    ]
}

fn generic() -> Vec<Part> {
    // Options Redis refuses whatever the clock: an unknown one (named in the
    // error as sent), or two that do not go together.
    let refused = one_of(vec![
        seq(vec![maybe(pick(&["NX", "gt"])), pick(&["Foo", "bAr", "nxx"])]),
        seq(vec![pick(&["NX", "nx"]), pick(&["XX", "gt", "LT"])]),
        seq(vec![pick(&["GT", "gt"]), pick(&["LT", "lt"])]),
    ]);
    vec![
        seq(vec![pick(&["DEL", "UNLINK", "EXISTS", "TOUCH"]), keys(1, 3)]),
        seq(vec![pick(&["TYPE", "TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME", "PERSIST"]), key()]),
        seq(vec![lit("EXPIRE"), key(), pick(&["100", "1000", "-1", "x"]), maybe(pick(&["NX", "XX"]))]),
        seq(vec![lit("PEXPIRE"), key(), pick(&["100000", "1000000"]), maybe(pick(&["NX", "XX"]))]),
        seq(vec![lit("EXPIREAT"), key(), pick(&[FAR_SECS, "1"]), maybe(pick(&["NX", "XX", "GT", "LT"]))]),
        seq(vec![lit("PEXPIREAT"), key(), pick(&[FAR_MS, "1"]), maybe(pick(&["NX", "XX", "GT", "LT"]))]),
        seq(vec![
            pick(&["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"]),
            key(),
            pick(&["100", "x", FAR_SECS]),
            refused,
        ]),
        seq(vec![pick(&["RENAME", "RENAMENX"]), key(), key()]),
        seq(vec![
            lit("COPY"),
            key(),
            key(),
            maybe(seq(vec![lit("DB"), pick(&["0", "1", "16"])])),
            maybe(lit("REPLACE")),
        ]),
        seq(vec![lit("KEYS"), pick(&["*", "k[0-2]", "k?", "x*"])]),
        lit("DBSIZE"),
    ]
}

fn hashes() -> Vec<Part> {
    vec![
        seq(vec![pick(&["HSET", "HMSET"]), key(), repeat(seq(vec![pick(FIELDS), pick(VALUES)]), 1, 3)]),
        seq(vec![lit("HSETNX"), key(), pick(FIELDS), pick(VALUES)]),
        seq(vec![pick(&["HGET", "HEXISTS", "HSTRLEN"]), key(), pick(FIELDS)]),
        seq(vec![pick(&["HMGET", "HDEL"]), key(), repeat(pick(FIELDS), 1, 3)]),
        seq(vec![pick(&["HLEN", "HKEYS", "HVALS", "HGETALL"]), key()]),
        seq(vec![lit("HINCRBY"), key(), pick(FIELDS), pick(INTS)]),
        seq(vec![lit("HINCRBYFLOAT"), key(), pick(FIELDS), pick(FLOATS)]),
        seq(vec![lit("HRANDFIELD"), key(), pick(&["0", "10"])]),
    ]
}

fn lists() -> Vec<Part> {
    let side = || pick(&["LEFT", "RIGHT"]);
    vec![
        seq(vec![pick(&["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), key(), repeat(pick(MEMBERS), 1, 3)]),
        seq(vec![pick(&["LPOP", "RPOP"]), key(), maybe(pick(&["0", "1", "2", "5", "-1"]))]),
        seq(vec![pick(&["LRANGE", "LTRIM"]), key(), pick(INDEXES), pick(INDEXES)]),
        seq(vec![pick(&["LLEN"]), key()]),
        seq(vec![lit("LINDEX"), key(), pick(INDEXES)]),
        seq(vec![lit("LSET"), key(), pick(INDEXES), pick(MEMBERS)]),
        seq(vec![lit("LINSERT"), key(), pick(&["BEFORE", "AFTER"]), pick(MEMBERS), pick(MEMBERS)]),
        seq(vec![lit("LREM"), key(), pick(&["-2", "-1", "0", "1", "2"]), pick(MEMBERS)]),
        seq(vec![
            lit("LPOS"),
            key(),
            pick(MEMBERS),
            maybe(seq(vec![lit("RANK"), pick(&["1", "-1", "2", "0"])])),
            maybe(seq(vec![lit("COUNT"), pick(&["0", "1", "2"])])),
            maybe(seq(vec![lit("MAXLEN"), pick(&["0", "2"])])),
        ]),
        seq(vec![lit("LMOVE"), key(), key(), side(), side()]),
        seq(vec![lit("RPOPLPUSH"), key(), key()]),
        seq(vec![pick(&["BLPOP", "BRPOP"]), keys(1, 3), lit("0.01")]),
        seq(vec![lit("BLMOVE"), key(), key(), side(), side(), lit("0.01")]),
        seq(vec![lit("BRPOPLPUSH"), key(), key(), lit("0.01")]),
        (counted_keys(), side(), maybe(seq(vec![lit("COUNT"), pick(&["1", "2", "5"])])))
            .prop_map(|((_, keys), side, count)| [vec!["LMPOP".to_string()], keys, side, count].concat())
            .boxed(),
        (counted_keys(), side(), maybe(seq(vec![lit("COUNT"), pick(&["1", "5"])])))
            .prop_map(|((_, keys), side, count)| {
                [vec!["BLMPOP".to_string(), "0.01".to_string()], keys, side, count].concat()
            })
            .boxed(),
        mpop_refused("LMPOP", &["LEFT", "right", "MIN"]),
    ]
}

/// LMPOP or ZMPOP as Redis may refuse it: a numkeys that is not a positive
/// integer or more than the keys given, then an end (of `ends`) with
/// options in any order (COUNT may come once, with a positive integer).
fn mpop_refused(name: &'static str, ends: &'static [&'static str]) -> Part {
    let options = repeat(pick(&["COUNT", "count", "0", "2", "-1", "x", "FOO"]), 1, 3);
    one_of(vec![
        seq(vec![lit(name), pick(&["0", "-1", "x", "4"]), keys(1, 3), pick(ends)]),
        (counted_keys(), pick(ends), options)
            .prop_map(move |((_, keys), end, options)| [vec![name.to_string()], keys, end, options].concat())
            .boxed(),
    ])
}

fn sets() -> Vec<Part> {
    vec![
        seq(vec![pick(&["SADD", "SREM", "SMISMEMBER"]), key(), repeat(pick(MEMBERS), 1, 3)]),
        seq(vec![pick(&["SMEMBERS", "SCARD"]), key()]),
        seq(vec![pick(&["SPOP", "SRANDMEMBER"]), key(), pick(&["0", "10"])]),
        seq(vec![lit("SISMEMBER"), key(), pick(MEMBERS)]),
        seq(vec![pick(&["SINTER", "SUNION", "SDIFF"]), keys(1, 3)]),
        seq(vec![pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), key(), keys(1, 3)]),
        (counted_keys(), maybe(seq(vec![lit("LIMIT"), pick(&["0", "1", "-1"])])))
            .prop_map(|((_, keys), limit)| [vec!["SINTERCARD".to_string()], keys, limit].concat())
            .boxed(),
        // numkeys that is not a positive integer, or more than the keys given.
        seq(vec![lit("SINTERCARD"), pick(&["0", "-1", "x", "4"]), keys(1, 3)]),
        // Options in any order: LIMIT may repeat, anything else is a syntax error.
        (counted_keys(), repeat(pick(&["LIMIT", "limit", "2", "0", "-1", "x", "FOO"]), 1, 4))
            .prop_map(|((_, keys), options)| [vec!["SINTERCARD".to_string()], keys, options].concat())
            .boxed(),
        seq(vec![lit("SMOVE"), key(), key(), pick(MEMBERS)]),
    ]
}

/// `WEIGHTS w...` for `n` keys and `AGGREGATE`, each maybe.
fn combine_options(n: usize) -> Part {
    let weights = prop::collection::vec(prop::sample::select(&["1", "2", "0", "-1", "0.5"][..]), n)
        .prop_map(|ws| [vec!["WEIGHTS".to_string()], ws.iter().map(|w| w.to_string()).collect()].concat())
        .boxed();
    seq(vec![maybe(weights), maybe(seq(vec![lit("AGGREGATE"), pick(&["SUM", "MIN", "MAX"])]))])
}

fn zsets() -> Vec<Part> {
    let limit = || maybe(seq(vec![lit("LIMIT"), pick(&["0", "1"]), pick(&["1", "2", "-1"])]));
    let withscores = || maybe(lit("WITHSCORES"));
    vec![
        seq(vec![
            lit("ZADD"),
            key(),
            maybe(pick(&["NX", "XX"])),
            maybe(pick(&["GT", "LT"])),
            maybe(lit("CH")),
            maybe(lit("INCR")),
            repeat(seq(vec![pick(SCORES), pick(MEMBERS)]), 1, 2),
        ]),
        seq(vec![lit("ZINCRBY"), key(), pick(SCORES), pick(MEMBERS)]),
        seq(vec![pick(&["ZSCORE", "ZRANK", "ZREVRANK"]), key(), pick(MEMBERS)]),
        seq(vec![pick(&["ZMSCORE", "ZREM"]), key(), repeat(pick(MEMBERS), 1, 3)]),
        seq(vec![lit("ZCARD"), key()]),
        seq(vec![lit("ZCOUNT"), key(), pick(SCORE_BOUNDS), pick(SCORE_BOUNDS)]),
        seq(vec![lit("ZLEXCOUNT"), key(), pick(LEX_BOUNDS), pick(LEX_BOUNDS)]),
        seq(vec![lit("ZRANGE"), key(), pick(INDEXES), pick(INDEXES), maybe(lit("REV")), withscores()]),
        seq(vec![
            lit("ZRANGE"),
            key(),
            pick(SCORE_BOUNDS),
            pick(SCORE_BOUNDS),
            lit("BYSCORE"),
            maybe(lit("REV")),
            limit(),
            withscores(),
        ]),
        seq(vec![
            lit("ZRANGE"),
            key(),
            pick(LEX_BOUNDS),
            pick(LEX_BOUNDS),
            lit("BYLEX"),
            maybe(lit("REV")),
            limit(),
        ]),
        seq(vec![
            pick(&["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"]),
            key(),
            pick(SCORE_BOUNDS),
            pick(SCORE_BOUNDS),
            withscores(),
            limit(),
        ]),
        seq(vec![
            pick(&["ZRANGEBYLEX", "ZREVRANGEBYLEX"]),
            key(),
            pick(LEX_BOUNDS),
            pick(LEX_BOUNDS),
            limit(),
        ]),
        seq(vec![lit("ZREVRANGE"), key(), pick(INDEXES), pick(INDEXES), withscores()]),
        seq(vec![lit("ZREMRANGEBYRANK"), key(), pick(INDEXES), pick(INDEXES)]),
        seq(vec![lit("ZREMRANGEBYSCORE"), key(), pick(SCORE_BOUNDS), pick(SCORE_BOUNDS)]),
        seq(vec![lit("ZREMRANGEBYLEX"), key(), pick(LEX_BOUNDS), pick(LEX_BOUNDS)]),
        seq(vec![pick(&["ZPOPMIN", "ZPOPMAX"]), key(), maybe(pick(&["1", "2", "5", "0", "-1"]))]),
        seq(vec![pick(&["BZPOPMIN", "BZPOPMAX"]), keys(1, 3), lit("0.01")]),
        (
            counted_keys(),
            pick(&["MIN", "MAX", "max"]),
            maybe(seq(vec![lit("COUNT"), pick(&["1", "2", "5"])])),
        )
            .prop_map(|((_, keys), end, count)| [vec!["ZMPOP".to_string()], keys, end, count].concat())
            .boxed(),
        (counted_keys(), pick(&["MIN", "MAX"]), maybe(seq(vec![lit("COUNT"), pick(&["1", "5"])])))
            .prop_map(|((_, keys), end, count)| {
                [vec!["BZMPOP".to_string(), "0.01".to_string()], keys, end, count].concat()
            })
            .boxed(),
        mpop_refused("ZMPOP", &["MIN", "max", "LEFT"]),
        seq(vec![lit("ZRANDMEMBER"), key(), pick(&["0", "10"])]),
        (pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]), key(), counted_keys())
            .prop_flat_map(|(name, dst, (n, keys))| {
                let options =
                    if name[0] == "ZDIFFSTORE" { Just(Vec::new()).boxed() } else { combine_options(n) };
                options.prop_map(move |opts| [name.clone(), dst.clone(), keys.clone(), opts].concat())
            })
            .boxed(),
        (pick(&["ZUNION", "ZINTER", "ZDIFF"]), counted_keys(), maybe(lit("WITHSCORES")))
            .prop_flat_map(|(name, (n, keys), scores)| {
                let options = if name[0] == "ZDIFF" { Just(Vec::new()).boxed() } else { combine_options(n) };
                options.prop_map(move |opts| [name.clone(), keys.clone(), opts, scores.clone()].concat())
            })
            .boxed(),
        seq(vec![lit("ZRANGESTORE"), key(), key(), pick(INDEXES), pick(INDEXES), maybe(lit("REV"))]),
        seq(vec![
            lit("ZRANGESTORE"),
            key(),
            key(),
            pick(SCORE_BOUNDS),
            pick(SCORE_BOUNDS),
            lit("BYSCORE"),
            maybe(lit("REV")),
            limit(),
        ]),
    ]
}

/// Commands whose replies do not depend on unordered collections, for
/// transactions (EXEC replies are compared as they come).
fn ordered() -> Vec<Part> {
    vec![
        seq(vec![lit("SET"), key(), pick(VALUES)]),
        seq(vec![pick(&["GET", "INCR", "TYPE", "SCARD", "LLEN", "HLEN", "ZCARD"]), key()]),
        seq(vec![pick(&["RPUSH", "SADD"]), key(), pick(MEMBERS)]),
        seq(vec![lit("HSET"), key(), pick(FIELDS), pick(VALUES)]),
        seq(vec![lit("ZADD"), key(), pick(SCORES), pick(MEMBERS)]),
        seq(vec![lit("LPOP"), key()]),
        seq(vec![pick(&["DEL", "EXISTS"]), keys(1, 2)]),
        seq(vec![lit("RENAME"), key(), key()]),
        seq(vec![lit("ZRANGE"), key(), lit("0"), lit("-1"), lit("WITHSCORES")]),
    ]
}

fn step() -> BoxedStrategy<Step> {
    let single = |parts: Vec<Part>, weight: u32| (weight, one_of(parts).prop_map(|w| vec![w]).boxed());
    let transaction = (prop::collection::vec(one_of(ordered()), 0..=3), prop::bool::weighted(0.8))
        .prop_map(|(commands, exec)| {
            let mut step = vec![vec!["MULTI".to_string()]];
            step.extend(commands);
            step.push(vec![if exec { "EXEC" } else { "DISCARD" }.to_string()]);
            step
        })
        .boxed();
    let db = one_of(vec![seq(vec![lit("SELECT"), pick(&["0", "1"])]), lit("FLUSHDB")])
        .prop_map(|w| vec![w])
        .boxed();
    Union::new_weighted(vec![
        single(strings(), 6),
        single(generic(), 5),
        single(hashes(), 5),
        single(lists(), 6),
        single(sets(), 5),
        single(zsets(), 8),
        (1, transaction),
        (1, db),
    ])
    .boxed()
}

// ---------------------------------------------------------------------------
// Comparison

/// The reply as compared: rendered, with unordered collections sorted and
/// TTLs reduced to missing, none or some.
fn normalise(words: &[String], reply: redis::RedisResult<Value>) -> String {
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => return format!("<no reply: {e}>"),
    };
    let sorted = |items: &[Value], set: bool| {
        let mut items: Vec<String> = items.iter().map(show).collect();
        items.sort();
        format!("{}[{}]", if set { "~" } else { "" }, items.join(", "))
    };
    let name = words[0].to_ascii_lowercase();
    match (name.as_str(), &reply) {
        (
            "smembers" | "sinter" | "sunion" | "sdiff" | "hkeys" | "hvals" | "keys" | "spop" | "srandmember"
            | "hrandfield" | "zrandmember",
            Value::Array(items) | Value::Set(items),
        ) => sorted(items, matches!(reply, Value::Set(_))),
        ("hgetall", Value::Array(flat)) => {
            let mut pairs: Vec<String> =
                flat.chunks(2).map(|p| format!("{}: {}", show(&p[0]), show(&p[1]))).collect();
            pairs.sort();
            format!("[{}]", pairs.join(", "))
        }
        ("hgetall", Value::Map(map)) => {
            let mut pairs: Vec<String> =
                map.iter().map(|(k, v)| format!("{}: {}", show(k), show(v))).collect();
            pairs.sort();
            format!("{{{}}}", pairs.join(", "))
        }
        ("ttl" | "pttl", Value::Int(t)) if *t >= 0 => "<some ttl>".into(),
        // Relative to now unless set to the absolute FAR_SECS / FAR_MS.
        ("expiretime", Value::Int(t)) if (0..4_000_000_000).contains(t) => "<some time>".into(),
        ("pexpiretime", Value::Int(t)) if (0..4_000_000_000_000).contains(t) => "<some time>".into(),
        _ => show(&reply),
    }
}

/// Whether a command selects by lexicographic range: Redis leaves the result
/// unspecified unless every score in the set is the same.
fn is_lex_range(words: &[String]) -> bool {
    let name = words[0].to_ascii_lowercase();
    matches!(name.as_str(), "zrangebylex" | "zrevrangebylex" | "zlexcount" | "zremrangebylex")
        || (name == "zrange" && words.iter().any(|w| w.eq_ignore_ascii_case("bylex")))
}

/// Whether `key` is a sorted set whose lowest and highest scores differ.
async fn mixed_scores(con: &mut MultiplexedConnection, key: &str) -> bool {
    fn last_leaf(v: &Value) -> Option<String> {
        match v {
            Value::Array(items) => items.last().and_then(last_leaf),
            other => Some(show(other)),
        }
    }
    let lowest = try_call(con, &["ZRANGE", key, "0", "0", "WITHSCORES"]).await;
    let highest = try_call(con, &["ZRANGE", key, "-1", "-1", "WITHSCORES"]).await;
    match (lowest, highest) {
        (Ok(lowest), Ok(highest)) => last_leaf(&lowest) != last_leaf(&highest),
        _ => false,
    }
}

/// Runs the steps on both servers from empty databases; the first reply that
/// differs fails the case with the whole history. A lexicographic range over
/// a set with mixed scores is skipped (on both).
async fn compare(
    redis: &mut MultiplexedConnection,
    orbit: &mut MultiplexedConnection,
    steps: &[Step],
) -> Result<(), TestCaseError> {
    for con in [&mut *redis, &mut *orbit] {
        // A failed case may have left a transaction open or another database selected.
        try_call(con, &["DISCARD"]).await.ok();
        for reset in [["SELECT", "0"].as_slice(), &["FLUSHALL"]] {
            let reply = try_call(con, reset).await.map(|v| show(&v));
            assert_eq!(reply.ok().as_deref(), Some("+OK"), "{reset:?}");
        }
    }
    let mut history = Vec::new();
    for words in steps.iter().flatten() {
        if is_lex_range(words)
            && (mixed_scores(redis, &words[1]).await || mixed_scores(orbit, &words[1]).await)
        {
            history.push(format!(
                "{:>3}  {}  ->  (skipped: scores differ)",
                history.len() + 1,
                words.join(" ")
            ));
            continue;
        }
        let want = normalise(words, try_call(redis, words.as_slice()).await);
        let got = normalise(words, try_call(orbit, words.as_slice()).await);
        history.push(format!("{:>3}  {}  ->  {want}", history.len() + 1, words.join(" ")));
        if want != got {
            return Err(TestCaseError::fail(format!(
                "\ncommand {}: {}\n  redis: {want}\n  orbit: {got}\nhistory (FLUSHALL first; redis replies):\n{}\n",
                history.len(),
                words.join(" "),
                history.join("\n")
            )));
        }
    }
    Ok(())
}

fn differential(resp3: bool, cases: u32) {
    if !common::require_program("redis-server") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let servers = rt.block_on(servers(resp3));
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(step(), 10..=60), |steps| {
        let (mut redis, mut orbit) = (servers.redis.clone(), servers.orbit.clone());
        let case =
            async { tokio::time::timeout(PATIENCE * 4, compare(&mut redis, &mut orbit, &steps)).await };
        rt.block_on(case).unwrap_or_else(|_| Err(TestCaseError::fail("the case took too long")))
    });
    let Servers { node, .. } = servers;
    rt.block_on(node.shutdown()).unwrap();
    if let Err(e) = result {
        panic!("Orbit and redis-server disagree: {e}");
    }
}

#[test]
fn orbit_replies_like_redis_in_resp2() {
    differential(false, 64);
}

#[test]
fn orbit_replies_like_redis_in_resp3() {
    differential(true, 32);
}

// ---------------------------------------------------------------------------
// Raw requests

/// Sends `request` on a new connection and returns what comes back, read
/// until the reply ends with `until` or the server closes the connection
/// (marked `<closed>`).
async fn exchange(addr: SocketAddr, request: &str, until: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !until.is_some_and(|end| got.ends_with(end.as_bytes())) {
        match tokio::time::timeout(PATIENCE, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&chunk[..n]),
            Ok(_) => {
                got.extend_from_slice(b"<closed>");
                break;
            }
            Err(_) => panic!("{request:?}: no reply; so far {:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Requests the `redis` crate never sends, as bytes to both servers: an
/// array length of zero or less is skipped without a reply, a negative or
/// unreadable length is a protocol error that closes the connection.
#[tokio::test]
async fn raw_requests_get_the_same_bytes_back() {
    if !common::require_program("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_redis, redis_addr) = start_redis(dir.path()).await;
    let (node, orbit_addr) = start_with(Config::ephemeral()).await;
    let cases = [
        ("*-10\r\n*1\r\n$4\r\nPING\r\n", Some("+PONG\r\n")),
        ("*-1\r\n*0\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", Some("$2\r\nhi\r\n")),
        ("*1\r\n$-1\r\n", None),
        ("*x\r\n", None),
    ];
    for (request, until) in cases {
        let want = exchange(redis_addr, request, until).await;
        let got = exchange(orbit_addr, request, until).await;
        assert_eq!(got, want, "{request:?}: orbit, then redis-server");
    }
    node.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------
// Scenarios of several clients

/// One step of a scenario: client 0 or 1 runs a command and its reply is
/// recorded; `Block` sends it from client 1 without waiting, and
/// `Await` records that blocked command's reply once it comes.
enum Act {
    Run(usize, &'static str),
    Block(&'static str),
    Await,
}

/// Waits until `n` clients are blocked (INFO clients, the same field in
/// both servers).
async fn until_blocked(con: &mut MultiplexedConnection, n: usize) {
    let want = format!("blocked_clients:{n}");
    for _ in 0..1000 {
        let info = show(&try_call(con, &["INFO", "clients"]).await.unwrap());
        if info.split("\\r\\n").any(|l| l == want) || info.lines().any(|l| l.contains(&want)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("{n} clients never blocked");
}

/// Runs `steps` against the server at `addr` (database flushed first) and
/// returns every recorded reply.
async fn scenario(addr: SocketAddr, steps: &[Act]) -> Vec<String> {
    let url = format!("redis://{addr}/");
    let mut cons = [connect_url(&url).await, connect_url(&url).await];
    try_call(&mut cons[0], &["FLUSHALL"]).await.unwrap();
    let mut replies = Vec::new();
    let mut blocked = None;
    for step in steps {
        match step {
            Act::Run(c, line) => {
                let words: Vec<&str> = line.split(' ').collect();
                replies.push(format!("{line} -> {}", show_result(try_call(&mut cons[*c], &words).await)));
            }
            Act::Block(line) => {
                let mut con = cons[1].clone();
                let words: Vec<String> = line.split(' ').map(str::to_string).collect();
                blocked = Some(tokio::spawn(async move { show_result(try_call(&mut con, &words).await) }));
                until_blocked(&mut cons[0], 1).await;
            }
            Act::Await => {
                let task = blocked.take().expect("a blocked command");
                let reply =
                    tokio::time::timeout(PATIENCE, task).await.expect("the blocked client is answered");
                replies.push(format!("blocked -> {}", reply.unwrap()));
            }
        }
    }
    replies
}

fn show_result(reply: redis::RedisResult<Value>) -> String {
    match reply {
        Ok(v) => show(&v),
        Err(e) => format!("-{}", e.to_string().to_uppercase()),
    }
}

/// Blocked moves onto a key of another type, a blocked pop whose key
/// changes type, and FLUSHALL/FLUSHDB under WATCH: every client gets the
/// replies `redis-server` gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_of_two_clients_reply_as_redis() {
    use Act::{Await, Block, Run};
    if !common::require_program("redis-server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_redis, redis_addr) = start_redis(dir.path()).await;
    let (node, orbit_addr) = start_with(Config::ephemeral()).await;
    let scenarios: Vec<Vec<Act>> = vec![
        vec![
            Run(0, "SET target nolist"),
            Block("BRPOPLPUSH blist target 0"),
            Run(0, "RPUSH blist foo"),
            Await,
            Run(0, "LRANGE blist 0 -1"),
            Run(0, "GET target"),
        ],
        vec![
            Run(0, "HSET target f v"),
            Block("BLMOVE blist target LEFT RIGHT 0"),
            Run(0, "LPUSH blist a b"),
            Await,
            Run(0, "LRANGE blist 0 -1"),
        ],
        vec![
            Block("BLPOP q 0"),
            Run(0, "SET q text"),
            Run(0, "DEL q"),
            Run(0, "RPUSH q job"),
            Await,
            Run(0, "EXISTS q"),
        ],
        vec![
            Run(1, "WATCH missing"),
            Run(0, "FLUSHALL"),
            Run(1, "MULTI"),
            Run(1, "SET missing 1"),
            Run(1, "EXEC"),
            Run(1, "WATCH missing"),
            Run(0, "FLUSHALL"),
            Run(1, "MULTI"),
            Run(1, "SET missing 2"),
            Run(1, "EXEC"),
            Run(0, "GET missing"),
        ],
        vec![
            Run(0, "SET k v"),
            Run(1, "WATCH k"),
            Run(0, "SELECT 1"),
            Run(0, "FLUSHDB"),
            Run(1, "MULTI"),
            Run(1, "INCR n"),
            Run(1, "EXEC"),
            Run(0, "SELECT 0"),
            Run(1, "WATCH k"),
            Run(0, "FLUSHDB"),
            Run(1, "MULTI"),
            Run(1, "INCR n"),
            Run(1, "EXEC"),
        ],
    ];
    for steps in &scenarios {
        let want = scenario(redis_addr, steps).await;
        let got = scenario(orbit_addr, steps).await;
        assert_eq!(got, want, "orbit, then redis-server");
    }
    node.shutdown().await.unwrap();
}
