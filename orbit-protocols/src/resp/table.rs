//! The command table: every command the front door answers, with Redis'
//! arity, flags and key positions (what `COMMAND INFO` reports, what `WATCH`
//! and MULTI need to know), and how it is executed; and the subcommands of
//! the container commands (`config|get`), described the same way.
//!
//! Arity as in Redis: `n > 0` exactly n words (name included), `-n` at
//! least n.

use std::collections::HashMap;
use std::sync::OnceLock;

pub const WRITE: u16 = 1;
pub const READONLY: u16 = 2;
pub const FAST: u16 = 4;
pub const ADMIN: u16 = 8;
pub const PUBSUB: u16 = 16;
pub const BLOCKING: u16 = 32;
pub const NOAUTH: u16 = 64;
pub const LOADING: u16 = 128;
pub const STALE: u16 = 256;
/// Not allowed inside MULTI (queued commands).
pub const NO_MULTI: u16 = 512;
/// Orbit's own (not in `COMMAND INFO`): the reply is a list of pairs
/// (WITHSCORES, WITHVALUES, a counted pop), nested in RESP3, flat in RESP2.
pub const PAIRS: u16 = 1024;
/// Orbit's own (not in `COMMAND INFO`): allowed on a RESP2 connection in
/// subscribed mode.
pub const SUBSCRIBED: u16 = 2048;

/// How a command runs: on its key's actor, or by the front door (`cmd/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// On the one key actor named by `argv[1]`.
    Key,
    /// Over several keys (`cmd/keys.rs`).
    Keys,
    /// Over the whole keyspace (`cmd/scan.rs`).
    Keyspace,
    /// Blocking pops and moves (`cmd/blocking.rs`).
    Blocking,
    /// Channels and patterns (`cmd/pubsub.rs`).
    PubSub,
    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH (`cmd/tx.rs`).
    Tx,
    /// Connection and server commands (`cmd/admin.rs`).
    Server,
    /// XREAD, XREADGROUP, XGROUP, XINFO (`cmd/streams.rs`).
    Streams,
    /// Scripts and functions (`script/`).
    Script,
}

#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub arity: i32,
    pub flags: u16,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub route: Route,
}

impl Spec {
    /// The reply is a list of pairs ([`PAIRS`]).
    pub fn replies_pairs(&self) -> bool {
        self.flags & PAIRS != 0
    }

    /// Allowed on a RESP2 connection in subscribed mode ([`SUBSCRIBED`]).
    pub fn allowed_when_subscribed(&self) -> bool {
        self.flags & SUBSCRIBED != 0
    }

    /// The container of a subcommand (`config` for `config|get`).
    pub fn container(&self) -> Option<&'static str> {
        self.name.split_once('|').map(|(container, _)| container)
    }

    pub fn is_write(&self) -> bool {
        self.flags & WRITE != 0
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = i64::from(self.arity);
        if arity >= 0 { argc == arity } else { argc >= -arity }
    }

    pub fn flag_names(&self) -> Vec<&'static str> {
        let names = [
            (WRITE, "write"),
            (READONLY, "readonly"),
            (FAST, "fast"),
            (ADMIN, "admin"),
            (PUBSUB, "pubsub"),
            (BLOCKING, "blocking"),
            (NOAUTH, "no_auth"),
            (LOADING, "loading"),
            (STALE, "stale"),
            (NO_MULTI, "no_multi"),
        ];
        names.iter().filter(|(f, _)| self.flags & f != 0).map(|(_, n)| *n).collect()
    }

    /// The key arguments of `argv`, by the spec's positions (commands whose
    /// keys follow a count, like ZUNIONSTORE, are handled by `keys_of`).
    pub fn keys<'a>(&self, argv: &'a [bytes::Bytes]) -> Vec<&'a bytes::Bytes> {
        if self.first_key <= 0 {
            return Vec::new();
        }
        let last = if self.last_key < 0 { argv.len() as i32 + self.last_key } else { self.last_key };
        let step = self.step.max(1) as usize;
        (self.first_key as usize..=last.max(0) as usize).step_by(step).filter_map(|i| argv.get(i)).collect()
    }
}

const R: u16 = READONLY;
const RF: u16 = READONLY | FAST;
const W: u16 = WRITE;
const WF: u16 = WRITE | FAST;

const fn c(name: &'static str, arity: i32, flags: u16, first: i32, last: i32, route: Route) -> Spec {
    Spec { name, arity, flags, first_key: first, last_key: last, step: 1, route }
}

/// A command the front door runs, by `route`.
const fn door(name: &'static str, arity: i32, flags: u16, keys: (i32, i32, i32), route: Route) -> Spec {
    Spec { name, arity, flags, first_key: keys.0, last_key: keys.1, step: keys.2, route }
}

const fn s(name: &'static str, arity: i32, flags: u16, first: i32, last: i32, step: i32) -> Spec {
    door(name, arity, flags, (first, last, step), Route::Server)
}

const fn m(name: &'static str, arity: i32, flags: u16, first: i32, last: i32, step: i32) -> Spec {
    door(name, arity, flags, (first, last, step), Route::Keys)
}

const fn ks(name: &'static str, arity: i32, flags: u16, first: i32, last: i32, step: i32) -> Spec {
    door(name, arity, flags, (first, last, step), Route::Keyspace)
}

const fn bl(name: &'static str, arity: i32, flags: u16, first: i32, last: i32, step: i32) -> Spec {
    door(name, arity, flags, (first, last, step), Route::Blocking)
}

const fn ps(name: &'static str, arity: i32, flags: u16, first: i32, last: i32, step: i32) -> Spec {
    door(name, arity, flags, (first, last, step), Route::PubSub)
}

const fn sc(name: &'static str, arity: i32, flags: u16) -> Spec {
    door(name, arity, flags, (0, 0, 0), Route::Script)
}

const fn tx(name: &'static str, arity: i32, flags: u16, first: i32, last: i32, step: i32) -> Spec {
    door(name, arity, flags, (first, last, step), Route::Tx)
}

use Route::Key as K;

static SPECS: &[Spec] = &[
    // Strings (one key).
    c("get", 2, RF, 1, 1, K),
    c("set", -3, W, 1, 1, K),
    c("setnx", 3, WF, 1, 1, K),
    c("setex", 4, W, 1, 1, K),
    c("psetex", 4, W, 1, 1, K),
    c("getex", -2, WF, 1, 1, K),
    c("getdel", 2, WF, 1, 1, K),
    c("getset", 3, WF, 1, 1, K),
    c("incr", 2, WF, 1, 1, K),
    c("decr", 2, WF, 1, 1, K),
    c("incrby", 3, WF, 1, 1, K),
    c("decrby", 3, WF, 1, 1, K),
    c("incrbyfloat", 3, WF, 1, 1, K),
    c("append", 3, WF, 1, 1, K),
    c("strlen", 2, RF, 1, 1, K),
    c("getrange", 4, R, 1, 1, K),
    c("substr", 4, R, 1, 1, K),
    c("setrange", 4, W, 1, 1, K),
    m("mget", -2, RF, 1, -1, 1),
    m("mset", -3, W, 1, -1, 2),
    m("lcs", -3, R, 1, 2, 1),
    m("msetnx", -3, W, 1, -1, 2),
    // Bitmaps (strings read and written bit by bit).
    c("setbit", 4, W, 1, 1, K),
    c("getbit", 3, RF, 1, 1, K),
    c("bitcount", -2, R, 1, 1, K),
    c("bitpos", -3, R, 1, 1, K),
    c("bitfield", -2, W, 1, 1, K),
    c("bitfield_ro", -2, RF, 1, 1, K),
    m("bitop", -4, W, 2, -1, 1),
    // Keys.
    m("del", -2, W, 1, -1, 1),
    m("unlink", -2, WF, 1, -1, 1),
    m("exists", -2, RF, 1, -1, 1),
    m("touch", -2, RF, 1, -1, 1),
    c("type", 2, RF, 1, 1, K),
    c("ttl", 2, RF, 1, 1, K),
    c("pttl", 2, RF, 1, 1, K),
    c("expiretime", 2, RF, 1, 1, K),
    c("pexpiretime", 2, RF, 1, 1, K),
    c("expire", -3, WF, 1, 1, K),
    c("pexpire", -3, WF, 1, 1, K),
    c("expireat", -3, WF, 1, 1, K),
    c("pexpireat", -3, WF, 1, 1, K),
    c("persist", 2, WF, 1, 1, K),
    m("rename", 3, W, 1, 2, 1),
    m("renamenx", 3, WF, 1, 2, 1),
    m("copy", -3, W, 1, 2, 1),
    m("sort", -2, W, 1, 1, 1),
    m("sort_ro", -2, R, 1, 1, 1),
    m("dump", 2, R, 1, 1, 1),
    m("restore", -4, W, 1, 1, 1),
    m("move", 3, WF, 1, 1, 1),
    ks("swapdb", 3, WF, 0, 0, 0),
    ks("scan", -2, R, 0, 0, 0),
    ks("keys", 2, R, 0, 0, 0),
    ks("randomkey", 1, R, 0, 0, 0),
    ks("dbsize", 1, RF, 0, 0, 0),
    ks("flushdb", -1, W, 0, 0, 0),
    ks("flushall", -1, W, 0, 0, 0),
    // Hashes.
    c("hset", -4, WF, 1, 1, K),
    c("hsetnx", 4, WF, 1, 1, K),
    c("hmset", -4, WF, 1, 1, K),
    c("hget", 3, RF, 1, 1, K),
    c("hmget", -3, RF, 1, 1, K),
    c("hgetall", 2, R, 1, 1, K),
    c("hdel", -3, WF, 1, 1, K),
    c("hexists", 3, RF, 1, 1, K),
    c("hlen", 2, RF, 1, 1, K),
    c("hkeys", 2, R, 1, 1, K),
    c("hvals", 2, R, 1, 1, K),
    c("hincrby", 4, WF, 1, 1, K),
    c("hincrbyfloat", 4, WF, 1, 1, K),
    c("hstrlen", 3, RF, 1, 1, K),
    c("hrandfield", -2, R | PAIRS, 1, 1, K),
    c("hscan", -3, R, 1, 1, K),
    // Lists.
    c("lpush", -3, WF, 1, 1, K),
    c("rpush", -3, WF, 1, 1, K),
    c("lpushx", -3, WF, 1, 1, K),
    c("rpushx", -3, WF, 1, 1, K),
    c("lpop", -2, WF, 1, 1, K),
    c("rpop", -2, WF, 1, 1, K),
    c("lrange", 4, R, 1, 1, K),
    c("llen", 2, RF, 1, 1, K),
    c("lindex", 3, R, 1, 1, K),
    c("lset", 4, W, 1, 1, K),
    c("linsert", 5, W, 1, 1, K),
    c("lrem", 4, W, 1, 1, K),
    c("ltrim", 4, W, 1, 1, K),
    c("lpos", -3, R, 1, 1, K),
    m("lmove", 5, W, 1, 2, 1),
    m("rpoplpush", 3, W, 1, 2, 1),
    m("lmpop", -4, W, 0, 0, 0),
    bl("blpop", -3, W | BLOCKING, 1, -2, 1),
    bl("brpop", -3, W | BLOCKING, 1, -2, 1),
    bl("blmove", 6, W | BLOCKING, 1, 2, 1),
    bl("brpoplpush", 4, W | BLOCKING, 1, 2, 1),
    bl("blmpop", -5, W | BLOCKING, 0, 0, 0),
    // Sets.
    c("sadd", -3, WF, 1, 1, K),
    c("srem", -3, WF, 1, 1, K),
    c("smembers", 2, R, 1, 1, K),
    c("sismember", 3, RF, 1, 1, K),
    c("smismember", -3, RF, 1, 1, K),
    c("scard", 2, RF, 1, 1, K),
    c("spop", -2, WF, 1, 1, K),
    c("srandmember", -2, R, 1, 1, K),
    c("sscan", -3, R, 1, 1, K),
    m("smove", 4, WF, 1, 2, 1),
    m("sinter", -2, R, 1, -1, 1),
    m("sunion", -2, R, 1, -1, 1),
    m("sdiff", -2, R, 1, -1, 1),
    m("sinterstore", -3, W, 1, -1, 1),
    m("sunionstore", -3, W, 1, -1, 1),
    m("sdiffstore", -3, W, 1, -1, 1),
    m("sintercard", -3, R, 0, 0, 0),
    // Sorted sets.
    c("zadd", -4, WF, 1, 1, K),
    c("zincrby", 4, WF, 1, 1, K),
    c("zscore", 3, RF, 1, 1, K),
    c("zmscore", -3, RF, 1, 1, K),
    c("zrem", -3, WF, 1, 1, K),
    c("zcard", 2, RF, 1, 1, K),
    c("zcount", 4, RF, 1, 1, K),
    c("zlexcount", 4, RF, 1, 1, K),
    c("zrank", -3, RF, 1, 1, K),
    c("zrevrank", -3, RF, 1, 1, K),
    c("zrange", -4, R | PAIRS, 1, 1, K),
    c("zrangebyscore", -4, R | PAIRS, 1, 1, K),
    c("zrevrangebyscore", -4, R | PAIRS, 1, 1, K),
    c("zrangebylex", -4, R, 1, 1, K),
    c("zrevrangebylex", -4, R, 1, 1, K),
    c("zrevrange", -4, R | PAIRS, 1, 1, K),
    c("zremrangebyrank", 4, W, 1, 1, K),
    c("zremrangebyscore", 4, W, 1, 1, K),
    c("zremrangebylex", 4, W, 1, 1, K),
    c("zpopmin", -2, WF | PAIRS, 1, 1, K),
    c("zpopmax", -2, WF | PAIRS, 1, 1, K),
    c("zrandmember", -2, R | PAIRS, 1, 1, K),
    c("zscan", -3, R, 1, 1, K),
    m("zunionstore", -4, W, 1, 1, 1),
    m("zinterstore", -4, W, 1, 1, 1),
    m("zdiffstore", -4, W, 1, 1, 1),
    m("zunion", -3, R, 0, 0, 0),
    m("zinter", -3, R, 0, 0, 0),
    m("zdiff", -3, R, 0, 0, 0),
    m("zmpop", -4, W, 0, 0, 0),
    m("zrangestore", -5, W, 1, 2, 1),
    m("zintercard", -3, R, 0, 0, 0),
    bl("bzpopmin", -3, W | BLOCKING, 1, -2, 1),
    bl("bzpopmax", -3, W | BLOCKING, 1, -2, 1),
    bl("bzmpop", -5, W | BLOCKING, 0, 0, 0),
    // Geo: sorted sets of geohash scores. GEORADIUS and GEORADIUSBYMEMBER
    // write the key after STORE/STOREDIST when there is one (found by
    // `keyspace::geo::store_key`; Redis flags them `movablekeys`), so the
    // door runs them, like GEOSEARCHSTORE.
    c("geoadd", -5, W, 1, 1, K),
    c("geopos", -2, R, 1, 1, K),
    c("geodist", -4, R, 1, 1, K),
    c("geohash", -2, R, 1, 1, K),
    c("geosearch", -7, R, 1, 1, K),
    c("georadius_ro", -6, R, 1, 1, K),
    c("georadiusbymember_ro", -5, R, 1, 1, K),
    m("georadius", -6, W, 1, 1, 1),
    m("georadiusbymember", -5, W, 1, 1, 1),
    m("geosearchstore", -8, W, 1, 2, 1),
    // HyperLogLog: PFCOUNT goes through the door even for one key, whose
    // actor is then called as a write (it stores the cached cardinality).
    c("pfadd", -2, WF, 1, 1, K),
    m("pfcount", -2, R, 1, -1, 1),
    m("pfmerge", -2, W, 1, -1, 1),
    m("pfdebug", 3, W | ADMIN, 2, 2, 1),
    // Streams. XREAD and XREADGROUP name their keys after STREAMS, XGROUP
    // and XINFO after a subcommand: the door runs them (`cmd/streams.rs`).
    c("xadd", -5, WF, 1, 1, K),
    c("xlen", 2, RF, 1, 1, K),
    c("xrange", -4, R, 1, 1, K),
    c("xrevrange", -4, R, 1, 1, K),
    c("xdel", -3, WF, 1, 1, K),
    c("xtrim", -4, W, 1, 1, K),
    c("xsetid", -3, WF, 1, 1, K),
    c("xack", -4, WF, 1, 1, K),
    c("xpending", -3, R, 1, 1, K),
    c("xclaim", -6, WF, 1, 1, K),
    c("xautoclaim", -6, WF, 1, 1, K),
    door("xread", -4, R | BLOCKING, (0, 0, 0), Route::Streams),
    door("xreadgroup", -7, W | BLOCKING, (0, 0, 0), Route::Streams),
    door("xgroup", -2, W, (2, 2, 1), Route::Streams),
    door("xinfo", -2, R, (2, 2, 1), Route::Streams),
    // Pub/sub.
    ps("subscribe", -2, PUBSUB | LOADING | STALE | SUBSCRIBED, 0, 0, 0),
    ps("unsubscribe", -1, PUBSUB | LOADING | STALE | SUBSCRIBED, 0, 0, 0),
    ps("psubscribe", -2, PUBSUB | LOADING | STALE | SUBSCRIBED, 0, 0, 0),
    ps("punsubscribe", -1, PUBSUB | LOADING | STALE | SUBSCRIBED, 0, 0, 0),
    ps("publish", 3, PUBSUB | FAST | LOADING | STALE, 0, 0, 0),
    ps("pubsub", -2, PUBSUB | LOADING | STALE, 0, 0, 0),
    ps("ssubscribe", -2, PUBSUB | LOADING | STALE | SUBSCRIBED, 1, -1, 1),
    ps("sunsubscribe", -1, PUBSUB | LOADING | STALE | SUBSCRIBED, 1, -1, 1),
    ps("spublish", 3, PUBSUB | FAST | LOADING | STALE, 1, 1, 1),
    // Scripting: the keys follow `numkeys` (as ZUNION's).
    sc("eval", -3, 0),
    sc("evalsha", -3, 0),
    sc("eval_ro", -3, READONLY),
    sc("evalsha_ro", -3, READONLY),
    sc("script", -2, 0),
    sc("fcall", -3, 0),
    sc("fcall_ro", -3, READONLY),
    sc("function", -2, 0),
    // Transactions.
    tx("multi", 1, FAST | LOADING | STALE | NO_MULTI, 0, 0, 0),
    tx("exec", 1, LOADING | STALE, 0, 0, 0),
    tx("discard", 1, FAST | LOADING | STALE, 0, 0, 0),
    tx("watch", -2, FAST | LOADING | STALE | NO_MULTI, 1, -1, 1),
    tx("unwatch", 1, FAST | LOADING | STALE, 0, 0, 0),
    // Connection.
    s("ping", -1, FAST | SUBSCRIBED, 0, 0, 0),
    s("echo", 2, FAST, 0, 0, 0),
    s("quit", -1, FAST | NOAUTH | LOADING | STALE | SUBSCRIBED, 0, 0, 0),
    s("hello", -1, FAST | NOAUTH | LOADING | STALE, 0, 0, 0),
    s("auth", -2, FAST | NOAUTH | LOADING | STALE, 0, 0, 0),
    s("select", 2, FAST | LOADING | STALE, 0, 0, 0),
    s("reset", 1, FAST | NOAUTH | LOADING | STALE | SUBSCRIBED, 0, 0, 0),
    s("monitor", 1, ADMIN | LOADING | STALE, 0, 0, 0),
    s("client", -2, LOADING | STALE, 0, 0, 0),
    // Server.
    s("info", -1, LOADING | STALE, 0, 0, 0),
    s("config", -2, ADMIN | LOADING | STALE, 0, 0, 0),
    s("command", -1, LOADING | STALE, 0, 0, 0),
    s("time", 1, FAST | LOADING | STALE, 0, 0, 0),
    s("slowlog", -2, ADMIN | LOADING | STALE, 0, 0, 0),
    s("latency", -2, ADMIN | LOADING | STALE, 0, 0, 0),
    s("lastsave", 1, FAST | LOADING | STALE, 0, 0, 0),
    s("role", 1, FAST | LOADING | STALE, 0, 0, 0),
    s("acl", -2, ADMIN | LOADING | STALE, 0, 0, 0),
    // OBJECT and MEMORY name their key after a subcommand (OBJECT ENCODING
    // key, MEMORY USAGE key): `cmd/object.rs` asks the key's actor.
    s("object", -2, 0, 2, 2, 1),
    s("memory", -2, 0, 2, 2, 1),
    s("debug", -2, ADMIN | LOADING | STALE, 0, 0, 0),
    s("shutdown", -1, ADMIN | LOADING | STALE | NO_MULTI, 0, 0, 0),
    s("actor.call", -4, W, 0, 0, 0),
    s("actor.remind", -6, W, 0, 0, 0),
    s("actor.job", -6, W, 0, 0, 0),
    s("actor.reminders", 3, R, 0, 0, 0),
    s("actor.unremind", 4, W, 0, 0, 0),
];

/// A subcommand: no keys, run by its container's route.
const fn sub(name: &'static str, arity: i32, flags: u16, route: Route) -> Spec {
    door(name, arity, flags, (0, 0, 0), route)
}

const LS: u16 = LOADING | STALE;
const ALS: u16 = ADMIN | LOADING | STALE;
use Route::{PubSub as P, Script as X, Server as S};

/// The subcommands Orbit answers of the container commands, as Redis 7.2
/// describes them: `container|sub`, the arity counting both words, the
/// flags. A container's subcommands follow one another.
static SUBCOMMANDS: &[Spec] = &[
    sub("acl|cat", -2, LS, S),
    sub("acl|deluser", -3, ALS, S),
    sub("acl|dryrun", -4, ALS, S),
    sub("acl|genpass", -2, LS, S),
    sub("acl|getuser", 3, ALS, S),
    sub("acl|list", 2, ALS, S),
    sub("acl|log", -2, ALS, S),
    sub("acl|setuser", -3, ALS, S),
    sub("acl|users", 2, ALS, S),
    sub("acl|whoami", 2, LS, S),
    sub("client|caching", 3, LS, S),
    sub("client|getname", 2, LS, S),
    sub("client|getredir", 2, LS, S),
    sub("client|id", 2, LS, S),
    sub("client|info", 2, LS, S),
    sub("client|kill", -3, ALS, S),
    sub("client|list", -2, ALS, S),
    sub("client|no-evict", 3, ALS, S),
    sub("client|no-touch", 3, LS, S),
    sub("client|pause", -3, ALS, S),
    sub("client|reply", 3, LS, S),
    sub("client|setinfo", 4, LS, S),
    sub("client|setname", 3, LS, S),
    sub("client|tracking", -3, LS, S),
    sub("client|trackinginfo", 2, LS, S),
    sub("client|unblock", -3, ALS, S),
    sub("client|unpause", 2, ALS, S),
    sub("command|count", 2, LS, S),
    sub("command|docs", -2, LS, S),
    sub("command|getkeys", -3, LS, S),
    sub("command|info", -2, LS, S),
    sub("command|list", -2, LS, S),
    sub("config|get", -3, ALS, S),
    sub("config|help", 2, LS, S),
    sub("config|resetstat", 2, ALS, S),
    sub("config|rewrite", 2, ALS, S),
    sub("config|set", -4, ALS, S),
    sub("function|delete", 3, WRITE, X),
    sub("function|dump", 2, 0, X),
    sub("function|flush", -2, WRITE, X),
    sub("function|help", 2, LS, X),
    sub("function|kill", 2, 0, X),
    sub("function|list", -2, 0, X),
    sub("function|load", -3, WRITE, X),
    sub("function|restore", -3, WRITE, X),
    sub("function|stats", 2, 0, X),
    sub("latency|doctor", 2, ALS, S),
    sub("latency|help", 2, LS, S),
    sub("latency|history", 3, ALS, S),
    sub("latency|latest", 2, ALS, S),
    sub("latency|reset", -2, ALS, S),
    sub("memory|doctor", 2, 0, S),
    sub("memory|help", 2, LS, S),
    sub("memory|malloc-stats", 2, 0, S),
    sub("memory|purge", 2, 0, S),
    sub("memory|stats", 2, 0, S),
    sub("memory|usage", -3, READONLY, S),
    sub("object|encoding", 3, READONLY, S),
    sub("object|freq", 3, READONLY, S),
    sub("object|help", 2, LS, S),
    sub("object|idletime", 3, READONLY, S),
    sub("object|refcount", 3, READONLY, S),
    sub("pubsub|channels", -2, PUBSUB | LS, P),
    sub("pubsub|numpat", 2, PUBSUB | LS, P),
    sub("pubsub|numsub", -2, PUBSUB | LS, P),
    sub("pubsub|shardchannels", -2, PUBSUB | LS, P),
    sub("pubsub|shardnumsub", -2, PUBSUB | LS, P),
    sub("script|debug", 3, 0, X),
    sub("script|exists", -3, 0, X),
    sub("script|flush", -2, 0, X),
    sub("script|help", 2, LS, X),
    sub("script|kill", 2, 0, X),
    sub("script|load", 3, 0, X),
    sub("slowlog|get", -2, ALS, S),
    sub("slowlog|help", 2, LS, S),
    sub("slowlog|len", 2, ALS, S),
    sub("slowlog|reset", 2, ALS, S),
    sub("xgroup|create", -5, W, Route::Streams),
    sub("xgroup|createconsumer", 5, W, Route::Streams),
    sub("xgroup|delconsumer", 5, W, Route::Streams),
    sub("xgroup|destroy", 4, W, Route::Streams),
    sub("xgroup|help", 2, LS, Route::Streams),
    sub("xgroup|setid", -5, W, Route::Streams),
    sub("xinfo|consumers", 4, R, Route::Streams),
    sub("xinfo|groups", 3, R, Route::Streams),
    sub("xinfo|help", 2, LS, Route::Streams),
    sub("xinfo|stream", -3, R, Route::Streams),
];

fn index() -> &'static HashMap<&'static str, &'static Spec> {
    static INDEX: OnceLock<HashMap<&'static str, &'static Spec>> = OnceLock::new();
    INDEX.get_or_init(|| SPECS.iter().map(|s| (s.name, s)).collect())
}

/// The spec of a command by its lower-case name.
pub fn lookup(name: &str) -> Option<&'static Spec> {
    index().get(name).copied()
}

pub fn all() -> &'static [Spec] {
    SPECS
}

/// Every subcommand (`config|get`...), grouped by container.
pub fn subcommands() -> &'static [Spec] {
    SUBCOMMANDS
}

/// The subcommands of `container` (none for a plain command).
pub fn subcommands_of(container: &str) -> impl Iterator<Item = &'static Spec> + '_ {
    SUBCOMMANDS.iter().filter(move |s| s.container() == Some(container))
}

/// The subcommand `sub` (any case) of `container`.
pub fn subcommand(container: &str, sub: &[u8]) -> Option<&'static Spec> {
    let named =
        |s: &&Spec| s.name.split_once('|').is_some_and(|(_, n)| n.as_bytes().eq_ignore_ascii_case(sub));
    subcommands_of(container).find(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lower_case() {
        assert_eq!(index().len(), SPECS.len());
        assert!(SPECS.iter().all(|s| s.name == s.name.to_ascii_lowercase()));
    }

    #[test]
    fn subcommands_belong_to_containers_in_the_table() {
        for spec in subcommands() {
            let container = spec.container().unwrap();
            assert!(lookup(container).is_some(), "{}", spec.name);
            assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            assert!(spec.arity.abs() >= 2 && spec.first_key == 0, "{}", spec.name);
        }
        assert_eq!(subcommand("config", b"GET").map(|s| s.arity), Some(-3));
        assert!(subcommand("config", b"nope").is_none() && subcommands_of("get").next().is_none());
    }

    #[test]
    fn arity_and_keys_follow_redis_conventions() {
        let get = lookup("get").unwrap();
        assert!(get.arity_ok(2) && !get.arity_ok(3));
        let mset = lookup("mset").unwrap();
        let argv: Vec<bytes::Bytes> = ["mset", "a", "1", "b", "2"].map(bytes::Bytes::from).to_vec();
        assert_eq!(mset.keys(&argv), vec!["a", "b"]);
        let blpop = lookup("blpop").unwrap();
        let argv: Vec<bytes::Bytes> = ["blpop", "a", "b", "0"].map(bytes::Bytes::from).to_vec();
        assert_eq!(blpop.keys(&argv), vec!["a", "b"]);
    }
}
