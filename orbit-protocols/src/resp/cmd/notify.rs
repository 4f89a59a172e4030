//! Keyspace notifications (`notify-keyspace-events`): after a command
//! changed keys, the event of each change is published on the pub/sub
//! broker as Redis does, `__keyspace@<db>__:<key>` carrying the event and
//! `__keyevent@<db>__:<event>` carrying the key, and relayed to the
//! cluster's other nodes as PUBLISH is.
//!
//! Which event a command raises is [`steps`]: one table from command name,
//! arguments and reply to Redis 7.2's event names and classes. A command
//! raises events only when it changed its keys. What the reply cannot say
//! is asked of the keys themselves, only while notifications are on: a
//! single-key command runs as `EXISTS`, the command, `EXISTS` in one turn
//! of its actor (so lazy expiry, `new` and a collection emptied into `del`
//! are seen atomically); a multi-key command probes its keys before and
//! after, under the exclusive keyspace lock it takes anyway.
//!
//! Cluster: events are raised by the node that ran the command (the sweep
//! of the node that expired the key) and reach the other nodes' subscribers
//! through the PUBLISH relay. With notifications off (the default) the only
//! cost is one atomic load per command.
//!
//! Not raised: events of a blocking pop served after it waited (the pop
//! runs for the waiter, outside any command of its own), `new` for a
//! destination that RENAME or COPY REPLACE overwrites (Redis re-adds it),
//! XADD's `xtrim` when its MAXLEN/MINID trimmed entries, and the consumer
//! and claim events of XREADGROUP, XCLAIM and XAUTOCLAIM.
//! `e` (Orbit evicts nothing) and `d` (no modules) are accepted and have
//! nothing to report.

use crate::keyspace::parse_i64;
use crate::keyspace::value::Value;
use crate::resp::connection::{Conn, Outcome};
use crate::resp::server::Server;
use crate::resp::table::{Route, Spec};
use bytes::Bytes;
use orbit_shared::{ActorGateway, DurableToken};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 13;
pub const NEW: u32 = 1 << 14;
/// `A`: every class but `m` and `n`, as Redis.
pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The class letters of `notify-keyspace-events`, in the order Redis
/// prints them (`A`, and `K`, `E`, `m`, `n` after the classes, apart).
const CLASSES: [(char, u32); 10] = [
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('d', MODULE),
];

/// The node's `notify-keyspace-events`, as flags.
#[derive(Default)]
pub struct Notify {
    flags: AtomicU32,
}

impl Notify {
    /// Sets the flags from Redis' letters; `Err` for an unknown letter
    /// (the setting is then unchanged). CONFIG SET words the error itself.
    #[allow(clippy::result_unit_err)]
    pub fn set_flags(&self, text: &str) -> Result<(), ()> {
        let flags = parse_flags(text)?;
        self.flags.store(flags, Ordering::Release);
        Ok(())
    }

    /// The flags as CONFIG GET prints them (Redis' normal form).
    pub fn flags(&self) -> String {
        flags_text(self.flags.load(Ordering::Acquire))
    }

    /// Some event may be published: a class is on, and one of K or E.
    pub fn on(&self) -> bool {
        let flags = self.flags.load(Ordering::Relaxed);
        flags & (KEYSPACE | KEYEVENT) != 0 && flags & !(KEYSPACE | KEYEVENT) != 0
    }

    fn wants(&self, class: u32) -> bool {
        let flags = self.flags.load(Ordering::Relaxed);
        flags & class != 0 && flags & (KEYSPACE | KEYEVENT) != 0
    }

    /// Publishes one event of `class` on `key` of `db`, if wanted.
    pub fn publish<G: ActorGateway>(
        &self,
        server: &Server<G>,
        class: u32,
        event: &str,
        db: usize,
        key: &Bytes,
    ) {
        let flags = self.flags.load(Ordering::Relaxed);
        if flags & class == 0 {
            return;
        }
        if flags & KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            send(server, Bytes::from(channel), Bytes::copy_from_slice(event.as_bytes()));
        }
        if flags & KEYEVENT != 0 {
            let channel = Bytes::from(format!("__keyevent@{db}__:{event}"));
            send(server, channel, key.clone());
        }
    }
}

/// As PUBLISH: to this node's subscribers, and relayed to the others.
fn send<G: ActorGateway>(server: &Server<G>, channel: Bytes, message: Bytes) {
    server.pubsub.publish(&channel, &message);
    let published = orbit_shared::Published { channel, message, sharded: false };
    server.gateway.relay_published(published);
}

fn parse_flags(text: &str) -> Result<u32, ()> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => KEY_MISS,
            'n' => NEW,
            c => CLASSES.iter().find(|(letter, _)| *letter == c).map(|(_, f)| *f).ok_or(())?,
        };
    }
    Ok(flags)
}

fn flags_text(flags: u32) -> String {
    let mut text = String::new();
    if flags & ALL == ALL {
        text.push('A');
    } else {
        text.extend(CLASSES.iter().filter(|(_, f)| flags & f != 0).map(|(c, _)| *c));
    }
    for (letter, flag) in [('K', KEYSPACE), ('E', KEYEVENT), ('m', KEY_MISS), ('n', NEW)] {
        if flags & flag != 0 {
            text.push(letter);
        }
    }
    text
}

/// What a command did to one key, as the events it raises.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// The event `name` of `class` on `key` of `db`.
    Event { class: u32, name: &'static str, db: usize, key: Bytes },
    /// `del` if the key no longer exists (a collection emptied).
    DelIfGone { db: usize, key: Bytes },
    /// `expire` if the key still exists, else `del` (a TTL in the past).
    ExpireOrDel { db: usize, key: Bytes },
}

impl Step {
    fn key(&self) -> (usize, &Bytes) {
        match self {
            Step::Event { db, key, .. } | Step::DelIfGone { db, key } | Step::ExpireOrDel { db, key } => {
                (*db, key)
            }
        }
    }
}

fn ev(class: u32, name: &'static str, db: usize, key: &Bytes) -> Step {
    Step::Event { class, name, db, key: key.clone() }
}

/// The events of a command that changed its keys, by Redis 7.2's names:
/// the one table of which command raises what. `reply` is the command's
/// successful reply; `existed` tells whether a key existed before the
/// command (after lazy expiry).
pub(crate) fn steps(
    name: &'static str,
    argv: &[Bytes],
    reply: &Value,
    db: usize,
    existed: &dyn Fn(&Bytes) -> bool,
) -> Vec<Step> {
    if !succeeded(name, reply) {
        return Vec::new();
    }
    let key = || argv.get(1).cloned().unwrap_or_default();
    let one = |class, event| vec![ev(class, event, db, &key())];
    let emptying = |class, event| vec![ev(class, event, db, &key()), Step::DelIfGone { db, key: key() }];
    match name {
        "set" | "setnx" | "getset" => {
            let mut steps = one(STRING, "set");
            if name == "set" && has_ttl_option(&argv[3.min(argv.len())..]) {
                steps.push(Step::ExpireOrDel { db, key: key() });
            }
            steps
        }
        "setex" | "psetex" => vec![ev(STRING, "set", db, &key()), Step::ExpireOrDel { db, key: key() }],
        "getex" if argv.len() > 2 => {
            if argv[2].eq_ignore_ascii_case(b"persist") {
                one(GENERIC, "persist")
            } else {
                vec![Step::ExpireOrDel { db, key: key() }]
            }
        }
        "getdel" => one(GENERIC, "del"),
        "incr" | "decr" | "incrby" | "decrby" => one(STRING, "incrby"),
        "incrbyfloat" => one(STRING, "incrbyfloat"),
        "append" => one(STRING, "append"),
        "setrange" => one(STRING, "setrange"),
        "expire" | "pexpire" | "expireat" | "pexpireat" => vec![Step::ExpireOrDel { db, key: key() }],
        "persist" => one(GENERIC, "persist"),
        "mset" | "msetnx" => argv[1..].iter().step_by(2).map(|k| ev(STRING, "set", db, k)).collect(),
        "del" | "unlink" => {
            let mut seen = std::collections::HashSet::new();
            argv[1..]
                .iter()
                .filter(|k| seen.insert(*k) && existed(k))
                .map(|k| ev(GENERIC, "del", db, k))
                .collect()
        }
        "rename" | "renamenx" if argv[1] != argv[2] => {
            vec![ev(GENERIC, "rename_from", db, &argv[1]), ev(GENERIC, "rename_to", db, &argv[2])]
        }
        "copy" => vec![ev(GENERIC, "copy_to", copy_db(argv).unwrap_or(db), &argv[2])],
        "hset" | "hmset" | "hsetnx" => one(HASH, "hset"),
        "hdel" => emptying(HASH, "hdel"),
        "hincrby" => one(HASH, "hincrby"),
        "hincrbyfloat" => one(HASH, "hincrbyfloat"),
        "lpush" | "lpushx" => one(LIST, "lpush"),
        "rpush" | "rpushx" => one(LIST, "rpush"),
        "lpop" => emptying(LIST, "lpop"),
        "rpop" => emptying(LIST, "rpop"),
        "lset" => one(LIST, "lset"),
        "linsert" => one(LIST, "linsert"),
        "lrem" => emptying(LIST, "lrem"),
        "ltrim" => emptying(LIST, "ltrim"),
        "lmove" | "rpoplpush" | "blmove" | "brpoplpush" => list_move(name, argv, db),
        "blpop" | "brpop" | "lmpop" | "blmpop" | "zmpop" | "bzmpop" | "bzpopmin" | "bzpopmax" => {
            popped(name, argv, reply, db)
        }
        "sadd" => one(SET, "sadd"),
        "srem" => emptying(SET, "srem"),
        "spop" => emptying(SET, "spop"),
        "smove" if argv[1] != argv[2] => vec![
            ev(SET, "srem", db, &argv[1]),
            Step::DelIfGone { db, key: argv[1].clone() },
            ev(SET, "sadd", db, &argv[2]),
        ],
        "sinterstore" | "sunionstore" | "sdiffstore" | "zunionstore" | "zinterstore" | "zdiffstore"
        | "zrangestore" => store(name, argv, reply, db, existed),
        "zadd" if argv.iter().skip(2).any(|a| a.eq_ignore_ascii_case(b"incr")) => one(ZSET, "zincr"),
        "zadd" => one(ZSET, "zadd"),
        "zincrby" => one(ZSET, "zincr"),
        "zrem" => emptying(ZSET, "zrem"),
        "zremrangebyrank" => emptying(ZSET, "zremrangebyrank"),
        "zremrangebyscore" => emptying(ZSET, "zremrangebyscore"),
        "zremrangebylex" => emptying(ZSET, "zremrangebylex"),
        "zpopmin" => emptying(ZSET, "zpopmin"),
        "zpopmax" => emptying(ZSET, "zpopmax"),
        "move" if argv.len() == 3 => {
            let to = parse_i64(&argv[2]).ok().and_then(|d| usize::try_from(d).ok()).unwrap_or(db);
            vec![ev(GENERIC, "move_from", db, &argv[1]), ev(GENERIC, "move_to", to, &argv[1])]
        }
        "restore" => one(GENERIC, "restore"),
        "sort" => stored_at(argv, "store", reply, (LIST, "sortstore"), db, existed),
        "setbit" | "bitfield" => one(STRING, "setbit"),
        "bitop" => stored(argv.get(2), reply, (STRING, "set"), db, existed),
        "pfadd" => one(STRING, "pfadd"),
        "pfmerge" => one(STRING, "pfadd"),
        // GEOADD runs as ZADD in Redis, and raises its event.
        "geoadd" => one(ZSET, "zadd"),
        "geosearchstore" => stored(argv.get(1), reply, (ZSET, "geosearchstore"), db, existed),
        "georadius" | "georadiusbymember" => {
            let store = argv
                .iter()
                .rposition(|a| a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist"));
            stored(store.and_then(|at| argv.get(at + 1)), reply, (ZSET, "georadiusstore"), db, existed)
        }
        "xadd" => one(STREAM, "xadd"),
        "xdel" => one(STREAM, "xdel"),
        "xtrim" => one(STREAM, "xtrim"),
        "xsetid" => one(STREAM, "xsetid"),
        "xgroup" => xgroup(argv, reply, db),
        _ => Vec::new(),
    }
}

/// XGROUP's subcommands, on the stream after the subcommand.
fn xgroup(argv: &[Bytes], reply: &Value, db: usize) -> Vec<Step> {
    let Some(key) = argv.get(2) else { return Vec::new() };
    let sub = argv.get(1).map(|s| s.to_ascii_lowercase()).unwrap_or_default();
    let event = match (sub.as_slice(), reply) {
        (b"create", Value::Simple(_)) => "xgroup-create",
        (b"setid", Value::Simple(_)) => "xgroup-setid",
        (b"destroy", Value::Int(1)) => "xgroup-destroy",
        (b"createconsumer", Value::Int(1)) => "xgroup-createconsumer",
        (b"delconsumer", Value::Int(_)) => "xgroup-delconsumer",
        _ => return Vec::new(),
    };
    vec![ev(STREAM, event, db, key)]
}

/// Whether a multi-key command whose reply says so changed anything (a
/// single-key command's actor tells that itself).
fn succeeded(name: &str, reply: &Value) -> bool {
    match name {
        "msetnx" | "renamenx" | "copy" | "smove" | "move" => *reply == Value::Int(1),
        "lmove" | "rpoplpush" | "blmove" | "brpoplpush" => matches!(reply, Value::Bulk(_)),
        _ => !reply.is_error(),
    }
}

/// SET's options that give a TTL (KEEPTTL keeps one, raising nothing).
fn has_ttl_option(options: &[Bytes]) -> bool {
    options.iter().any(|o| ["ex", "px", "exat", "pxat"].iter().any(|t| o.eq_ignore_ascii_case(t.as_bytes())))
}

/// COPY's `DB n` target database.
fn copy_db(argv: &[Bytes]) -> Option<usize> {
    let at = argv.iter().position(|a| a.eq_ignore_ascii_case(b"db"))?;
    parse_i64(argv.get(at + 1)?).ok().and_then(|d| usize::try_from(d).ok()).filter(|&d| d < 16)
}

/// LMOVE and friends, in Redis' order: the push on the destination, the
/// pop from the source, `del` if that emptied it.
fn list_move(name: &str, argv: &[Bytes], db: usize) -> Vec<Step> {
    let left = |i: usize| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(b"left"));
    let (from_left, to_left) = match name {
        "rpoplpush" | "brpoplpush" => (false, true),
        _ => (left(3), left(4)),
    };
    vec![
        ev(LIST, if to_left { "lpush" } else { "rpush" }, db, &argv[2]),
        ev(LIST, if from_left { "lpop" } else { "rpop" }, db, &argv[1]),
        Step::DelIfGone { db, key: argv[1].clone() },
    ]
}

/// The pops that name their key in the reply (`[key, ...]`).
fn popped(name: &str, argv: &[Bytes], reply: &Value, db: usize) -> Vec<Step> {
    let Value::Array(items) = reply else { return Vec::new() };
    let Some(Value::Bulk(key)) = items.first() else { return Vec::new() };
    let end = |at: usize| argv.get(at).map(|a| a.to_ascii_lowercase()).unwrap_or_default();
    let (class, event) = match name {
        "blpop" => (LIST, "lpop"),
        "brpop" => (LIST, "rpop"),
        "bzpopmin" => (ZSET, "zpopmin"),
        "bzpopmax" => (ZSET, "zpopmax"),
        _ => {
            // LMPOP numkeys key... end; the blocking forms have a timeout first.
            let first = if name.starts_with('b') { 2 } else { 1 };
            let numkeys = argv.get(first).and_then(|n| parse_i64(n).ok()).unwrap_or(0).max(0) as usize;
            match end(first + 1 + numkeys).as_slice() {
                b"left" => (LIST, "lpop"),
                b"right" => (LIST, "rpop"),
                b"min" => (ZSET, "zpopmin"),
                _ => (ZSET, "zpopmax"),
            }
        }
    };
    vec![ev(class, event, db, key), Step::DelIfGone { db, key: key.clone() }]
}

/// The *STORE commands: their event on the destination when the result is
/// not empty, else `del` if the destination existed.
fn store(
    name: &'static str,
    argv: &[Bytes],
    reply: &Value,
    db: usize,
    existed: &dyn Fn(&Bytes) -> bool,
) -> Vec<Step> {
    let class = if name.starts_with('z') { ZSET } else { SET };
    stored(argv.get(1), reply, (class, name), db, existed)
}

/// A command storing into the key after option `option` (SORT ... STORE).
fn stored_at(
    argv: &[Bytes],
    option: &str,
    reply: &Value,
    event: (u32, &'static str),
    db: usize,
    existed: &dyn Fn(&Bytes) -> bool,
) -> Vec<Step> {
    let at = argv.iter().position(|a| a.eq_ignore_ascii_case(option.as_bytes()));
    stored(at.and_then(|at| argv.get(at + 1)), reply, event, db, existed)
}

/// A command storing a result of `reply` (a count or a length) into `dst`:
/// its event when the result is not empty, else `del` if `dst` existed
/// (an empty result deletes it); nothing without a destination.
fn stored(
    dst: Option<&Bytes>,
    reply: &Value,
    (class, name): (u32, &'static str),
    db: usize,
    existed: &dyn Fn(&Bytes) -> bool,
) -> Vec<Step> {
    let Some(dst) = dst else { return Vec::new() };
    match reply {
        Value::Int(n) if *n > 0 => vec![ev(class, name, db, dst)],
        Value::Int(_) if existed(dst) => vec![ev(GENERIC, "del", db, dst)],
        _ => Vec::new(),
    }
}

/// What is known of a key around a command: it existed before, exists
/// after.
#[derive(Debug, Default, Clone, Copy)]
struct Around {
    before: bool,
    after: bool,
}

/// Publishes the events of `steps`, resolved with what is known of their
/// keys: `new` before the first event of a key that the command created,
/// `del` for a key emptied, `expire` or `del` for a TTL.
fn publish_steps<G: ActorGateway>(
    server: &Server<G>,
    steps: &[Step],
    around: &HashMap<(usize, Bytes), Around>,
) {
    let notify = &server.notify;
    let mut announced = std::collections::HashSet::new();
    for step in steps {
        let (db, key) = step.key();
        let known = around.get(&(db, key.clone())).copied().unwrap_or(Around { before: true, after: true });
        let fires = !matches!(step, Step::DelIfGone { .. });
        if fires && !known.before && known.after && announced.insert((db, key.clone())) {
            notify.publish(server, NEW, "new", db, key);
        }
        match step {
            Step::Event { class, name, .. } => notify.publish(server, *class, name, db, key),
            Step::DelIfGone { .. } if !known.after => notify.publish(server, GENERIC, "del", db, key),
            Step::DelIfGone { .. } => {}
            Step::ExpireOrDel { .. } if known.after => notify.publish(server, GENERIC, "expire", db, key),
            Step::ExpireOrDel { .. } => notify.publish(server, GENERIC, "del", db, key),
        }
    }
}

fn exists(key: &Bytes) -> Vec<Bytes> {
    vec![Bytes::from_static(b"exists"), key.clone()]
}

/// Runs a single-key command while notifications are on, as `EXISTS`, the
/// command, `EXISTS` in one turn of the key's actor, and publishes its
/// events. The result is [`Server::call_key_visible`]'s; "changed" counts
/// a lazy expiry too.
pub(crate) async fn call_key<G: ActorGateway>(
    conn: &Conn<G>,
    spec: &Spec,
    argv: &[Bytes],
) -> (Value, DurableToken, bool) {
    let (server, db, key) = (&conn.server, conn.db, &argv[1]);
    let probe = exists(key);
    let commands: [&[Bytes]; 3] = [&probe, argv, &probe];
    let (results, token) = server.call_key_batch(db, &commands, spec.is_write()).await;
    let [(before, expired), (reply, changed), (after, _)]: [(Value, bool); 3] = match results.try_into() {
        Ok(results) => results,
        Err(mut results) => {
            let (value, _) = results.pop().unwrap_or((Value::err("ERR internal error: no reply"), false));
            return (value, token, false);
        }
    };
    if expired {
        server.notify.publish(server, EXPIRED, "expired", db, key);
    }
    let before = before == Value::Int(1);
    if !before && !spec.is_write() && !reply.is_error() {
        server.notify.publish(server, KEY_MISS, "keymiss", db, key);
    }
    if changed && !reply.is_error() {
        let steps = steps(spec.name, argv, &reply, db, &|_: &Bytes| before);
        let around = HashMap::from([((db, key.clone()), Around { before, after: after == Value::Int(1) })]);
        publish_steps(server, &steps, &around);
    }
    (reply, token, changed || expired)
}

/// Whether a door-run command goes through [`around`] while notifications
/// are on: the multi-key, blocking and stream-group commands.
pub(crate) fn watched(spec: &Spec) -> bool {
    matches!(spec.route, Route::Keys | Route::Blocking | Route::Streams)
}

/// Runs a multi-key or blocking command while notifications are on: its
/// keys are probed before (lazy expiry, `keymiss`, which existed) and the
/// keys of its events after (`new`, `del` of an emptied collection), all
/// under the exclusive keyspace lock; then its events are published. A
/// blocking or stream command runs without the lock held here (it would not
/// block under it): only the events its reply tells of are raised (a pop
/// served at once, XGROUP's).
pub(crate) async fn around<G: ActorGateway>(
    conn: &mut Conn<G>,
    spec: &'static Spec,
    argv: Vec<Bytes>,
    locked: bool,
) -> Outcome {
    let server = conn.server.clone();
    if matches!(spec.route, Route::Blocking | Route::Streams) {
        let outcome = super::dispatch(conn, spec, argv.clone(), locked).await;
        if let Outcome::Reply(reply) = &outcome
            && !reply.is_error()
        {
            let steps = steps(spec.name, &argv, reply, conn.db, &|_: &Bytes| true);
            let around = probe_after(conn, &steps, &HashMap::new()).await;
            publish_steps(&server, &steps, &around);
        }
        return outcome;
    }
    let _guard = server.exclusive(locked).await;
    let db = conn.db;
    let mut known: HashMap<(usize, Bytes), Around> = HashMap::new();
    for key in keys_of(spec, &argv) {
        if known.contains_key(&(db, key.clone())) {
            continue;
        }
        let (value, token, expired) = server.call_key_visible(db, &exists(&key), spec.is_write()).await;
        conn.unsynced = conn.unsynced.and(token);
        if expired {
            conn.wrote(&key);
            server.notify.publish(&server, EXPIRED, "expired", db, &key);
        }
        let before = value == Value::Int(1);
        if !before && !spec.is_write() {
            server.notify.publish(&server, KEY_MISS, "keymiss", db, &key);
        }
        known.insert((db, key), Around { before, after: before });
    }
    let outcome = super::dispatch(conn, spec, argv.clone(), true).await;
    if let Outcome::Reply(reply) = &outcome
        && !reply.is_error()
        && spec.is_write()
    {
        let existed = |k: &Bytes| known.get(&(db, k.clone())).is_some_and(|a| a.before);
        let steps = steps(spec.name, &argv, reply, db, &existed);
        let around = probe_after(conn, &steps, &known).await;
        publish_steps(&server, &steps, &around);
    }
    outcome
}

/// Asks whether the keys of `steps` exist now, where it matters: a key
/// that may have been emptied, given a TTL, or created (`new`).
async fn probe_after<G: ActorGateway>(
    conn: &Conn<G>,
    steps: &[Step],
    known: &HashMap<(usize, Bytes), Around>,
) -> HashMap<(usize, Bytes), Around> {
    let mut around = known.clone();
    let wants_new = conn.server.notify.wants(NEW);
    for step in steps {
        let (db, key) = step.key();
        let entry = (db, key.clone());
        let needed = match step {
            Step::Event { .. } => wants_new && known.get(&entry).is_none_or(|a| !a.before),
            Step::DelIfGone { .. } | Step::ExpireOrDel { .. } => true,
        };
        if !needed {
            continue;
        }
        let after = conn.server.call_key(db, &exists(key), false).await == Value::Int(1);
        let before = known.get(&entry).is_some_and(|a| a.before);
        around.insert(entry, Around { before, after });
    }
    around
}

/// The keys a command names, those after a count included.
pub(crate) fn keys_of(spec: &Spec, argv: &[Bytes]) -> Vec<Bytes> {
    let counted = |at: usize| -> Vec<Bytes> {
        let n = argv.get(at).and_then(|n| parse_i64(n).ok()).unwrap_or(0).max(0) as usize;
        argv.iter().skip(at + 1).take(n).cloned().collect()
    };
    match spec.name {
        "lmpop" | "zmpop" | "sintercard" | "zunion" | "zinter" | "zdiff" => counted(1),
        "zunionstore" | "zinterstore" | "zdiffstore" => {
            let mut keys = vec![argv[1].clone()];
            keys.extend(counted(2));
            keys
        }
        "sort" | "georadius" | "georadiusbymember" => {
            let mut keys: Vec<Bytes> = spec.keys(argv).into_iter().cloned().collect();
            let store = argv
                .iter()
                .rposition(|a| a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist"));
            keys.extend(store.and_then(|at| argv.get(at + 1)).cloned());
            keys
        }
        _ => spec.keys(argv).into_iter().cloned().collect(),
    }
}

/// Whether a connection's commands run one by one rather than as a
/// same-key run in one actor turn: while notifications are on, a monitor is
/// attached or the connection tracks, each command is seen on its own.
pub(crate) fn one_by_one<G: ActorGateway>(conn: &Conn<G>) -> bool {
    conn.server.notify.on() || conn.server.monitors.attached() || conn.tracking.on()
}

/// Publishes `expired` for a key the active sweep expired.
pub(crate) fn expired<G: ActorGateway>(server: &Server<G>, db: usize, key: &Bytes) {
    server.notify.publish(server, EXPIRED, "expired", db, key);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn argv(words: &str) -> Vec<Bytes> {
        words.split(' ').map(b).collect()
    }

    fn names(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                Step::Event { name, key, .. } => format!("{name}:{}", String::from_utf8_lossy(key)),
                Step::DelIfGone { key, .. } => format!("del?:{}", String::from_utf8_lossy(key)),
                Step::ExpireOrDel { key, .. } => format!("expire?:{}", String::from_utf8_lossy(key)),
            })
            .collect()
    }

    #[test]
    fn flags_parse_and_print_as_redis() {
        let notify = Notify::default();
        assert!(!notify.on());
        notify.set_flags("KEA").unwrap();
        assert_eq!(notify.flags(), "AKE");
        assert!(notify.on());
        notify.set_flags("Elg$").unwrap();
        assert_eq!(notify.flags(), "g$lE");
        notify.set_flags("g$lshzxetdKE").unwrap();
        assert_eq!(notify.flags(), "AKE", "every class of A spelled out prints as A");
        notify.set_flags("nAKm").unwrap();
        assert_eq!(notify.flags(), "AKmn");
        assert_eq!(notify.set_flags("KEy"), Err(()));
        assert_eq!(notify.flags(), "AKmn", "a bad value changes nothing");
        notify.set_flags("").unwrap();
        assert_eq!(notify.flags(), "");
        notify.set_flags("g").unwrap();
        assert!(!notify.on(), "a class without K or E publishes nothing");
        notify.set_flags("K").unwrap();
        assert!(!notify.on(), "K without a class publishes nothing");
    }

    #[test]
    fn each_family_raises_redis_event_names() {
        let yes = |_: &Bytes| true;
        let ok = Value::ok();
        let cases = [
            ("set k v", "set:k"),
            ("set k v EX 10", "set:k expire?:k"),
            ("set k v KEEPTTL", "set:k"),
            ("setex k 10 v", "set:k expire?:k"),
            ("incr k", "incrby:k"),
            ("incrbyfloat k 1.5", "incrbyfloat:k"),
            ("append k v", "append:k"),
            ("getdel k", "del:k"),
            ("getex k PERSIST", "persist:k"),
            ("expire k 10", "expire?:k"),
            ("mset a 1 b 2", "set:a set:b"),
            ("rename a b", "rename_from:a rename_to:b"),
            ("copy a b DB 3", "copy_to:b"),
            ("lpush k a", "lpush:k"),
            ("rpop k", "rpop:k del?:k"),
            ("ltrim k 0 1", "ltrim:k del?:k"),
            ("lmove a b LEFT RIGHT", "rpush:b lpop:a del?:a"),
            ("rpoplpush a b", "lpush:b rpop:a del?:a"),
            ("hset k f v", "hset:k"),
            ("hdel k f", "hdel:k del?:k"),
            ("hincrbyfloat k f 1", "hincrbyfloat:k"),
            ("sadd k m", "sadd:k"),
            ("smove a b m", "srem:a del?:a sadd:b"),
            ("smove a a m", ""),
            ("zadd k 1 m", "zadd:k"),
            ("zadd k INCR 1 m", "zincr:k"),
            ("zincrby k 1 m", "zincr:k"),
            ("zremrangebyscore k 0 1", "zremrangebyscore:k del?:k"),
            ("del a b a", "del:a del:b"),
        ];
        for (command, expected) in cases {
            let argv = argv(command);
            let name = crate::resp::table::lookup(&String::from_utf8_lossy(&argv[0])).unwrap().name;
            let reply = match name {
                "smove" | "copy" => Value::Int(1),
                "lmove" | "rpoplpush" => Value::bulk("x"),
                _ => ok.clone(),
            };
            let got = names(&steps(name, &argv, &reply, 0, &yes)).join(" ");
            assert_eq!(got, expected, "{command}");
        }
    }

    #[test]
    fn stores_raise_their_event_or_del_of_an_existing_destination() {
        let argv = argv("sinterstore d a b");
        assert_eq!(
            names(&steps("sinterstore", &argv, &Value::Int(2), 0, &|_: &Bytes| false)),
            ["sinterstore:d"]
        );
        assert_eq!(names(&steps("sinterstore", &argv, &Value::Int(0), 0, &|_: &Bytes| true)), ["del:d"]);
        assert!(steps("sinterstore", &argv, &Value::Int(0), 0, &|_: &Bytes| false).is_empty());
        let zargv = self::argv("zunionstore d 2 a b");
        assert_eq!(
            names(&steps("zunionstore", &zargv, &Value::Int(1), 0, &|_: &Bytes| false)),
            ["zunionstore:d"]
        );
    }

    #[test]
    fn pops_name_their_key_from_the_reply() {
        let reply = Value::Array(vec![Value::bulk("b"), Value::Array(vec![Value::bulk("x")])]);
        let argv = argv("lmpop 2 a b RIGHT COUNT 1");
        assert_eq!(names(&steps("lmpop", &argv, &reply, 0, &|_: &Bytes| true)), ["rpop:b", "del?:b"]);
        let argv = self::argv("bzmpop 0 1 z MIN");
        let reply = Value::Array(vec![Value::bulk("z"), Value::Array(vec![])]);
        assert_eq!(names(&steps("bzmpop", &argv, &reply, 0, &|_: &Bytes| true)), ["zpopmin:z", "del?:z"]);
        let argv = self::argv("blpop a b 0");
        let reply = Value::Array(vec![Value::bulk("a"), Value::bulk("x")]);
        assert_eq!(names(&steps("blpop", &argv, &reply, 0, &|_: &Bytes| true)), ["lpop:a", "del?:a"]);
    }

    #[test]
    fn multi_key_commands_probe_the_keys_after_their_count() {
        let zstore = crate::resp::table::lookup("zunionstore").unwrap();
        assert_eq!(keys_of(zstore, &argv("zunionstore d 2 a b WEIGHTS 1 2")), argv("d a b"));
        let lmpop = crate::resp::table::lookup("lmpop").unwrap();
        assert_eq!(keys_of(lmpop, &argv("lmpop 2 a b LEFT")), argv("a b"));
        let del = crate::resp::table::lookup("del").unwrap();
        assert_eq!(keys_of(del, &argv("del a b")), argv("a b"));
    }
}
