//! Commands over several keys. Each holds the keyspace lock exclusively, so
//! it is atomic with respect to every other command on this node; values
//! move between keys as [`Dumped`] payloads (`orbit.dump`/`orbit.restore`).

use crate::keyspace::value::{Value, errors};
use crate::keyspace::{Data, Dumped, KeyType, Set, ZSet, parse_f64, parse_i64};
use crate::resp::connection::Conn;
use crate::resp::server::Server;
use crate::resp::table::Spec;
use bytes::Bytes;
use orbit_shared::ActorGateway;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};

type Result<T> = std::result::Result<T, Value>;

pub(crate) async fn run<G: ActorGateway>(
    conn: &mut Conn<G>,
    spec: &'static Spec,
    argv: &[Bytes],
    locked: bool,
) -> Value {
    let server = conn.server.clone();
    let name = spec.name;
    if spec.is_write() && !one_key_only(name, argv) {
        // A write over several keys lands whole or not at all, also across
        // a crash; its durability is waited for outside the lock.
        let session = async {
            let done = server.atomically(Box::pin(run_keys(conn, name, argv))).await;
            done.map_err(|e| crate::resp::server::error_reply(&e))
        };
        return server.exclusively(locked, session).await;
    }
    let _guard = server.exclusive(locked).await;
    run_keys(conn, name, argv).await
}

/// Whether the command is one turn of one key, atomic without a session.
/// (`MOVE key db` names one key but writes two; RESTORE without REPLACE
/// checks the key in one turn and writes it in another.)
fn one_key_only(name: &str, argv: &[Bytes]) -> bool {
    matches!(name, "del" | "unlink") && argv.len() == 2
}

async fn run_keys<G: ActorGateway>(conn: &mut Conn<G>, name: &str, argv: &[Bytes]) -> Value {
    let result = match name {
        "mget" => mget(conn, &argv[1..]).await,
        "mset" | "msetnx" => mset(conn, name, &argv[1..]).await,
        "del" | "unlink" | "exists" | "touch" => count(conn, name, &argv[1..]).await,
        "rename" | "renamenx" => rename(conn, name, &argv[1], &argv[2]).await,
        "copy" => copy(conn, &argv[1..]).await,
        "smove" => smove(conn, &argv[1..]).await,
        "lmove" | "rpoplpush" => lmove(conn, name, &argv[1..]).await,
        "lmpop" | "zmpop" => mpop(conn, name == "zmpop", &argv[1..]).await,
        "sinter" | "sunion" | "sdiff" => set_algebra(conn, name, &argv[1..]).await.map(members_reply),
        "sinterstore" | "sunionstore" | "sdiffstore" => set_store(conn, name, &argv[1..]).await,
        "sintercard" => sintercard(conn, &argv[1..]).await,
        "zunionstore" | "zinterstore" | "zdiffstore" => zstore(conn, name, &argv[1..]).await,
        "zunion" | "zinter" | "zdiff" => zcombine(conn, name, &argv[1..]).await,
        "zrangestore" => zrangestore(conn, &argv[1..]).await,
        "zintercard" => zintercard(conn, &argv[1..]).await,
        "sort" | "sort_ro" => super::sort::run(conn, name, &argv[1..]).await,
        "lcs" => super::lcs::run(conn, &argv[1..]).await,
        "dump" | "restore" | "move" => super::dump::run(conn, name, &argv[1..]).await,
        "bitop" => super::bitop::run(conn, &argv[1..]).await,
        "pfcount" => super::hll::pfcount(conn, &argv[1..]).await,
        "pfmerge" => super::hll::pfmerge(conn, &argv[1..]).await,
        "pfdebug" => super::hll::pfdebug(conn, &argv[1..]).await,
        "georadius" | "georadiusbymember" | "geosearchstore" => super::geo::run(conn, name, argv).await,
        _ => Err(Value::err(format!("ERR unknown command '{name}'"))),
    };
    result.unwrap_or_else(|e| e)
}

async fn call<G: ActorGateway>(
    conn: &Conn<G>,
    name: &'static str,
    key: &Bytes,
    args: &[Bytes],
) -> Result<Value> {
    let v = conn.server.key_command(conn.db, name, key, args).await;
    if v.is_error() { Err(v) } else { Ok(v) }
}

pub(crate) async fn dump_in<G: ActorGateway>(
    conn: &Conn<G>,
    db: usize,
    key: &Bytes,
) -> Result<Option<Dumped>> {
    match conn.server.key_command(db, "orbit.dump", key, &[]).await {
        Value::Nil => Ok(None),
        Value::Bulk(payload) => Dumped::decode(&payload)
            .map(Some)
            .ok_or_else(|| Value::err("ERR internal error: undecodable dump")),
        other => Err(other),
    }
}

async fn dump<G: ActorGateway>(conn: &Conn<G>, key: &Bytes) -> Result<Option<Dumped>> {
    dump_in(conn, conn.db, key).await
}

/// Replaces `key` in `db` with `value` (`None` deletes it).
pub(crate) async fn restore_in<G: ActorGateway>(
    conn: &mut Conn<G>,
    db: usize,
    key: &Bytes,
    value: Option<&Dumped>,
) -> Result<()> {
    if value.is_some_and(|v| v.expire_at.is_some()) {
        conn.server.expiry.candidate(db, key);
    }
    let payload = value.map(Dumped::encode).unwrap_or_default();
    let v = conn.server.key_command(db, "orbit.restore", key, &[payload]).await;
    if v.is_error() {
        return Err(v);
    }
    if db == conn.db {
        conn.wrote(key);
    } else {
        conn.server.watches.touch(db, key);
        if conn.server.tracking.active() {
            super::tracking::invalidate(&conn.server, key, Some(conn.id));
        }
    }
    Ok(())
}

async fn restore<G: ActorGateway>(conn: &mut Conn<G>, key: &Bytes, value: Option<&Dumped>) -> Result<()> {
    let db = conn.db;
    restore_in(conn, db, key, value).await
}

async fn type_of<G: ActorGateway>(conn: &Conn<G>, key: &Bytes) -> Result<Option<KeyType>> {
    match call(conn, "type", key, &[]).await? {
        Value::Simple(t) => Ok(KeyType::parse(t.as_bytes())),
        _ => Ok(None),
    }
}

async fn mget<G: ActorGateway>(conn: &Conn<G>, keys: &[Bytes]) -> Result<Value> {
    let mut values = Vec::with_capacity(keys.len());
    for key in keys {
        values.push(match conn.server.key_command(conn.db, "get", key, &[]).await {
            Value::Error(e) if e.starts_with("WRONGTYPE") => Value::Nil,
            Value::Error(e) => return Err(Value::Error(e)),
            v => v,
        });
    }
    Ok(Value::Array(values))
}

async fn mset<G: ActorGateway>(conn: &mut Conn<G>, name: &str, pairs: &[Bytes]) -> Result<Value> {
    if !pairs.len().is_multiple_of(2) {
        return Err(Value::err(errors::arity(name)));
    }
    if name == "msetnx" {
        for key in pairs.iter().step_by(2) {
            if call(conn, "exists", key, &[]).await? == Value::Int(1) {
                return Ok(Value::Int(0));
            }
        }
    }
    for pair in pairs.chunks(2) {
        call(conn, "set", &pair[0], &pair[1..2]).await?;
        conn.wrote(&pair[0]);
    }
    Ok(if name == "msetnx" { Value::Int(1) } else { Value::ok() })
}

async fn count<G: ActorGateway>(conn: &mut Conn<G>, name: &str, keys: &[Bytes]) -> Result<Value> {
    let single = match name {
        "del" | "unlink" => "del",
        "touch" => "touch",
        _ => "exists",
    };
    let mut total = 0;
    for key in keys {
        if let Value::Int(n) = call(conn, single, key, &[]).await? {
            total += n;
            if n > 0 && single == "del" {
                conn.wrote(key);
            }
        }
    }
    Ok(Value::Int(total))
}

async fn rename<G: ActorGateway>(conn: &mut Conn<G>, name: &str, src: &Bytes, dst: &Bytes) -> Result<Value> {
    let Some(value) = dump(conn, src).await? else { return Err(Value::err(errors::NO_SUCH_KEY)) };
    let nx = name == "renamenx";
    if src == dst {
        return Ok(if nx { Value::Int(0) } else { Value::ok() });
    }
    if nx && call(conn, "exists", dst, &[]).await? == Value::Int(1) {
        return Ok(Value::Int(0));
    }
    restore(conn, dst, Some(&value)).await?;
    restore(conn, src, None).await?;
    Ok(if nx { Value::Int(1) } else { Value::ok() })
}

/// COPY source destination [DB n] [REPLACE]
async fn copy<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Result<Value> {
    let (src, dst) = (&args[0], &args[1]);
    let (mut db, mut replace) = (conn.db, false);
    let mut i = 2;
    while i < args.len() {
        match super::lower(&args[i]).as_slice() {
            b"replace" => replace = true,
            b"db" if i + 1 < args.len() => {
                i += 1;
                db = usize::try_from(parse_i64(&args[i])?)
                    .ok()
                    .filter(|&d| d < 16)
                    .ok_or_else(|| Value::err("ERR DB index is out of range"))?;
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 1;
    }
    if src == dst && db == conn.db {
        return Err(Value::err("ERR source and destination objects are the same"));
    }
    let Some(value) = dump(conn, src).await? else { return Ok(Value::Int(0)) };
    if !replace && dump_in(conn, db, dst).await?.is_some() {
        return Ok(Value::Int(0));
    }
    restore_in(conn, db, dst, Some(&value)).await?;
    Ok(Value::Int(1))
}

async fn smove<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Result<Value> {
    let (src, dst, member) = (&args[0], &args[1], &args[2]);
    // Redis' order: a missing source is 0, then both types.
    let Some(src_type) = type_of(conn, src).await? else { return Ok(Value::Int(0)) };
    if src_type != KeyType::Set || type_of(conn, dst).await?.is_some_and(|t| t != KeyType::Set) {
        return Err(Value::err(errors::WRONGTYPE));
    }
    if call(conn, "srem", src, std::slice::from_ref(member)).await? != Value::Int(1) {
        return Ok(Value::Int(0));
    }
    conn.wrote(src);
    call(conn, "sadd", dst, std::slice::from_ref(member)).await?;
    conn.wrote(dst);
    Ok(Value::Int(1))
}

fn side(arg: &[u8]) -> Result<bool> {
    match super::lower(arg).as_slice() {
        b"left" => Ok(true),
        b"right" => Ok(false),
        _ => Err(Value::err(errors::SYNTAX)),
    }
}

/// Pops one element of `src` from one end and pushes it on `dst`; `Nil`
/// when `src` is empty. Shared with BLMOVE.
pub(crate) async fn move_element<G: ActorGateway>(
    conn: &mut Conn<G>,
    src: &Bytes,
    dst: &Bytes,
    from_left: bool,
    to_left: bool,
) -> Result<Value> {
    // Redis' order: a missing source is nil, then the source's type, then
    // the destination's.
    match type_of(conn, src).await? {
        None => return Ok(Value::Nil),
        Some(KeyType::List) => {}
        Some(_) => return Err(Value::err(errors::WRONGTYPE)),
    }
    if type_of(conn, dst).await?.is_some_and(|t| t != KeyType::List) {
        return Err(Value::err(errors::WRONGTYPE));
    }
    let element = call(conn, if from_left { "lpop" } else { "rpop" }, src, &[]).await?;
    let Value::Bulk(element) = element else { return Ok(Value::Nil) };
    conn.wrote(src);
    call(conn, if to_left { "lpush" } else { "rpush" }, dst, std::slice::from_ref(&element)).await?;
    conn.wrote(dst);
    Ok(Value::Bulk(element))
}

async fn lmove<G: ActorGateway>(conn: &mut Conn<G>, name: &str, args: &[Bytes]) -> Result<Value> {
    let (from_left, to_left) =
        if name == "rpoplpush" { (false, true) } else { (side(&args[2])?, side(&args[3])?) };
    move_element(conn, &args[0], &args[1], from_left, to_left).await
}

/// The end an MPOP takes from: a list's LEFT|RIGHT or a sorted set's MIN|MAX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Left,
    Right,
    Min,
    Max,
}

impl End {
    /// A syntax error unless `arg` names an end of the type (`zset`: MIN|MAX).
    fn parse(arg: &[u8], zset: bool) -> Result<End> {
        match (zset, super::lower(arg).as_slice()) {
            (false, b"left") => Ok(End::Left),
            (false, b"right") => Ok(End::Right),
            (true, b"min") => Ok(End::Min),
            (true, b"max") => Ok(End::Max),
            _ => Err(Value::err(errors::SYNTAX)),
        }
    }

    /// The single-key command that pops a counted batch from this end.
    fn command(self) -> &'static str {
        match self {
            End::Left => "lpop",
            End::Right => "rpop",
            End::Min => "zpopmin",
            End::Max => "zpopmax",
        }
    }
}

/// A positive integer; `message` is the error for anything else, a
/// non-number included (as Redis answers both).
fn positive(arg: &[u8], message: &str) -> Result<i64> {
    parse_i64(arg).ok().filter(|&n| n > 0).ok_or_else(|| Value::err(message))
}

/// Parses `numkeys key... end [COUNT n]` (LMPOP and ZMPOP; BLMPOP and
/// BZMPOP after the timeout) with Redis' errors, checked left to right;
/// `zset` takes MIN|MAX for the end instead of LEFT|RIGHT.
pub(crate) fn parse_mpop(args: &[Bytes], zset: bool) -> Result<(Vec<Bytes>, End, i64)> {
    let numkeys = positive(&args[0], "ERR numkeys should be greater than 0")? as usize;
    let rest = args.get(1 + numkeys..).ok_or_else(|| Value::err(errors::SYNTAX))?;
    let Some((end, options)) = rest.split_first() else { return Err(Value::err(errors::SYNTAX)) };
    let end = End::parse(end, zset)?;
    let mut count = None;
    for option in options.chunks(2) {
        match option {
            [name, n] if count.is_none() && super::lower(name) == b"count" => {
                count = Some(positive(n, "ERR count should be greater than 0")?);
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        }
    }
    Ok((args[1..1 + numkeys].to_vec(), end, count.unwrap_or(1)))
}

/// Pops up to `count` from `key` at `end`: `[key, popped]`, or `None` when
/// the key is missing. A sorted set's members come as `[member, score]`
/// pairs, nested in RESP2 as in RESP3. Shared with BLMPOP and BZMPOP.
pub(crate) async fn mpop_key<G: ActorGateway>(
    server: &Server<G>,
    db: usize,
    key: &Bytes,
    end: End,
    count: i64,
) -> Result<Option<Value>> {
    let reply = server.key_command(db, end.command(), key, &[Bytes::from(count.to_string())]).await;
    let popped = match reply {
        error @ Value::Error(_) => return Err(error),
        Value::Array(items) if !items.is_empty() => items,
        Value::Pairs(pairs) if !pairs.is_empty() => {
            pairs.into_iter().map(|(member, score)| Value::Array(vec![member, score])).collect()
        }
        _ => return Ok(None),
    };
    Ok(Some(Value::Array(vec![Value::Bulk(key.clone()), Value::Array(popped)])))
}

/// `CROSSSLOT` for keys in different partitions, for commands whose keys
/// follow a count (the table's key positions cannot name them).
pub(crate) fn colocated<G: ActorGateway>(conn: &Conn<G>, keys: &[Bytes]) -> Result<()> {
    let keys: Vec<&Bytes> = keys.iter().collect();
    if keys.len() > 1 && !conn.server.gateway.colocated(&keys) {
        return Err(Value::err(crate::resp::server::CROSSSLOT));
    }
    Ok(())
}

/// LMPOP, ZMPOP: pops from the first non-empty key; a nil array when all
/// are empty.
async fn mpop<G: ActorGateway>(conn: &mut Conn<G>, zset: bool, args: &[Bytes]) -> Result<Value> {
    let (keys, end, count) = parse_mpop(args, zset)?;
    colocated(conn, &keys)?;
    for key in &keys {
        if let Some(reply) = mpop_key(&conn.server, conn.db, key, end, count).await? {
            conn.wrote(key);
            return Ok(reply);
        }
    }
    Ok(Value::NilArray)
}

async fn set_members<G: ActorGateway>(conn: &Conn<G>, key: &Bytes) -> Result<Option<Vec<Bytes>>> {
    match dump(conn, key).await? {
        None => Ok(None),
        Some(Dumped { data: Data::Set(set), .. }) => Ok(Some(set.members().cloned().collect())),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

async fn set_algebra<G: ActorGateway>(conn: &Conn<G>, name: &str, keys: &[Bytes]) -> Result<Vec<Bytes>> {
    let mut inputs = Vec::with_capacity(keys.len());
    for key in keys {
        inputs.push(set_members(conn, key).await?.unwrap_or_default());
    }
    let mut inputs = inputs.into_iter();
    let first = inputs.next().unwrap_or_default();
    let mut seen = HashSet::new();
    let mut result: Vec<Bytes> = first.into_iter().filter(|m| seen.insert(m.clone())).collect();
    for other in inputs {
        let other: HashSet<Bytes> = other.into_iter().collect();
        match name {
            "sinter" | "sinterstore" => result.retain(|m| other.contains(m)),
            "sdiff" | "sdiffstore" => result.retain(|m| !other.contains(m)),
            _ => {
                for m in other {
                    if seen.insert(m.clone()) {
                        result.push(m);
                    }
                }
            }
        }
    }
    Ok(result)
}

fn members_reply(members: Vec<Bytes>) -> Value {
    Value::Set(members.into_iter().map(Value::Bulk).collect())
}

async fn set_store<G: ActorGateway>(conn: &mut Conn<G>, name: &str, args: &[Bytes]) -> Result<Value> {
    let members = set_algebra(conn, name, &args[1..]).await?;
    let n = members.len() as i64;
    let value = (!members.is_empty())
        .then(|| Dumped { data: Data::Set(Set::from_members(members)), expire_at: None });
    restore(conn, &args[0], value.as_ref()).await?;
    Ok(Value::Int(n))
}

/// SINTERCARD numkeys key... [LIMIT n]
async fn sintercard<G: ActorGateway>(conn: &Conn<G>, args: &[Bytes]) -> Result<Value> {
    let (keys, limit) = sintercard_args(args)?;
    let n = set_algebra(conn, "sinter", keys).await?.len() as i64;
    Ok(Value::Int(if limit > 0 { n.min(limit) } else { n }))
}

/// ZINTERCARD numkeys key... [LIMIT n], checked in Redis' order: numkeys,
/// then the keys' types, then the options (LIMIT may repeat).
async fn zintercard<G: ActorGateway>(conn: &Conn<G>, args: &[Bytes]) -> Result<Value> {
    let numkeys = parse_i64(&args[0])?;
    if numkeys < 1 {
        return Err(Value::err("ERR at least 1 input key is needed for 'zintercard' command"));
    }
    let keys = usize::try_from(numkeys)
        .ok()
        .and_then(|n| args.get(1..)?.get(..n))
        .ok_or_else(|| Value::err(errors::SYNTAX))?;
    colocated(conn, keys)?;
    let mut inputs: Vec<HashSet<Bytes>> = Vec::with_capacity(keys.len());
    for key in keys {
        inputs.push(zinput(conn, key).await?.unwrap_or_default().into_iter().map(|(m, _)| m).collect());
    }
    let mut limit = 0;
    for option in args[1 + keys.len()..].chunks(2) {
        match option {
            [name, n] if name.eq_ignore_ascii_case(b"limit") => {
                limit = parse_i64(n)
                    .ok()
                    .filter(|&n| n >= 0)
                    .ok_or_else(|| Value::err("ERR LIMIT can't be negative"))?;
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        }
    }
    inputs.sort_by_key(HashSet::len);
    let Some((smallest, others)) = inputs.split_first() else { return Ok(Value::Int(0)) };
    let n = smallest.iter().filter(|m| others.iter().all(|other| other.contains(*m))).count() as i64;
    Ok(Value::Int(if limit > 0 { n.min(limit) } else { n }))
}

/// SINTERCARD's keys and limit (0: none), with Redis' errors: a numkeys
/// that is not a positive integer, more keys than arguments, a LIMIT that
/// is not a non-negative integer (LIMIT may repeat, the last one counts),
/// anything else a syntax error; checked left to right.
fn sintercard_args(args: &[Bytes]) -> Result<(&[Bytes], i64)> {
    let numkeys = args
        .first()
        .and_then(|n| parse_i64(n).ok())
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| Value::err("ERR numkeys should be greater than 0"))?;
    let keys = args
        .get(1..)
        .and_then(|rest| rest.get(..numkeys))
        .ok_or_else(|| Value::err("ERR Number of keys can't be greater than number of args"))?;
    let mut limit = 0;
    for option in args.get(1 + numkeys..).unwrap_or_default().chunks(2) {
        let [name, n] = option else { return Err(Value::err(errors::SYNTAX)) };
        if !name.eq_ignore_ascii_case(b"limit") {
            return Err(Value::err(errors::SYNTAX));
        }
        limit =
            parse_i64(n).ok().filter(|&n| n >= 0).ok_or_else(|| Value::err("ERR LIMIT can't be negative"))?;
    }
    Ok((keys, limit))
}

#[derive(Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

struct ZArgs {
    keys: Vec<Bytes>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
}

/// `numkeys key... [WEIGHTS w...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`.
fn parse_zargs(name: &str, args: &[Bytes], store: bool) -> Result<ZArgs> {
    let numkeys = parse_i64(&args[0])?;
    if numkeys <= 0 {
        return Err(Value::err(format!("ERR at least 1 input key is needed for '{name}' command")));
    }
    let numkeys = numkeys as usize;
    let keys = args.get(1..1 + numkeys).ok_or_else(|| Value::err(errors::SYNTAX))?.to_vec();
    let mut z = ZArgs { keys, weights: vec![1.0; numkeys], aggregate: Aggregate::Sum, with_scores: false };
    let diff = name.starts_with("zdiff");
    let mut i = 1 + numkeys;
    while i < args.len() {
        match super::lower(&args[i]).as_slice() {
            b"weights" if !diff && args.len() > i + numkeys => {
                for w in 0..numkeys {
                    z.weights[w] = parse_f64(&args[i + 1 + w])
                        .map_err(|_| Value::err("ERR weight value is not a float"))?;
                }
                i += numkeys;
            }
            b"aggregate" if !diff && i + 1 < args.len() => {
                i += 1;
                z.aggregate = match super::lower(&args[i]).as_slice() {
                    b"sum" => Aggregate::Sum,
                    b"min" => Aggregate::Min,
                    b"max" => Aggregate::Max,
                    _ => return Err(Value::err(errors::SYNTAX)),
                };
            }
            b"withscores" if !store => z.with_scores = true,
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 1;
    }
    Ok(z)
}

async fn zinput<G: ActorGateway>(conn: &Conn<G>, key: &Bytes) -> Result<Option<Vec<(Bytes, f64)>>> {
    match dump(conn, key).await? {
        None => Ok(None),
        Some(Dumped { data: Data::ZSet(z), .. }) => {
            Ok(Some(z.pairs().map(|(m, s)| (m.clone(), s)).collect()))
        }
        Some(Dumped { data: Data::Set(s), .. }) => Ok(Some(s.members().map(|m| (m.clone(), 1.0)).collect())),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

fn add(a: f64, b: f64) -> f64 {
    let sum = a + b;
    // inf + -inf is NaN in IEEE; Redis defines it as 0.
    if sum.is_nan() { 0.0 } else { sum }
}

async fn zcompute<G: ActorGateway>(conn: &Conn<G>, name: &str, z: &ZArgs) -> Result<Vec<(Bytes, f64)>> {
    let mut inputs = Vec::with_capacity(z.keys.len());
    for key in &z.keys {
        inputs.push(zinput(conn, key).await?.unwrap_or_default());
    }
    let mut acc: BTreeMap<Bytes, f64> = BTreeMap::new();
    let mut inputs = inputs.into_iter().zip(z.weights.iter().copied());
    let Some((first, w0)) = inputs.next() else { return Ok(Vec::new()) };
    let weigh = |s: f64, w: f64| {
        let v = s * w;
        if v.is_nan() { 0.0 } else { v }
    };
    for (m, s) in first {
        acc.insert(m, weigh(s, w0));
    }
    for (input, w) in inputs {
        let input: BTreeMap<Bytes, f64> = input.into_iter().map(|(m, s)| (m, weigh(s, w))).collect();
        if name.starts_with("zinter") {
            acc.retain(|m, _| input.contains_key(m));
        }
        if name.starts_with("zdiff") {
            acc.retain(|m, _| !input.contains_key(m));
            continue;
        }
        for (m, s) in input {
            match acc.get_mut(&m) {
                Some(cur) => {
                    *cur = match z.aggregate {
                        Aggregate::Sum => add(*cur, s),
                        Aggregate::Min => cur.min(s),
                        Aggregate::Max => cur.max(s),
                    }
                }
                None if name.starts_with("zunion") => {
                    acc.insert(m, s);
                }
                None => {}
            }
        }
    }
    let mut out: Vec<(Bytes, f64)> = acc.into_iter().collect();
    // Numeric order, not total_cmp: a weight of 0 turns a negative score into
    // -0.0, which Redis ranks equal to 0.0 (ties then go by member).
    out.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

async fn zstore<G: ActorGateway>(conn: &mut Conn<G>, name: &str, args: &[Bytes]) -> Result<Value> {
    let z = parse_zargs(name, &args[1..], true)?;
    let result = zcompute(conn, name, &z).await?;
    let n = result.len() as i64;
    let value =
        (!result.is_empty()).then(|| Dumped { data: Data::ZSet(ZSet::from_pairs(result)), expire_at: None });
    restore(conn, &args[0], value.as_ref()).await?;
    Ok(Value::Int(n))
}

async fn zcombine<G: ActorGateway>(conn: &Conn<G>, name: &str, args: &[Bytes]) -> Result<Value> {
    let z = parse_zargs(name, args, false)?;
    let result = zcompute(conn, name, &z).await?;
    Ok(if z.with_scores {
        Value::Pairs(result.into_iter().map(|(m, s)| (Value::Bulk(m), Value::Double(s))).collect())
    } else {
        Value::Array(result.into_iter().map(|(m, _)| Value::Bulk(m)).collect())
    })
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
async fn zrangestore<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Result<Value> {
    let (dst, src) = (&args[0], &args[1]);
    let range = &args[2..];
    if range.iter().any(|a| super::lower(a) == b"withscores") {
        return Err(Value::err(errors::SYNTAX));
    }
    let Value::Array(members) = call(conn, "zrange", src, range).await? else {
        return Err(Value::err("ERR internal error: unexpected ZRANGE reply"));
    };
    let members: Vec<Bytes> =
        members.into_iter().filter_map(|m| if let Value::Bulk(b) = m { Some(b) } else { None }).collect();
    let mut pairs = Vec::with_capacity(members.len());
    if !members.is_empty() {
        let Value::Array(scores) = call(conn, "zmscore", src, &members).await? else {
            return Err(Value::err("ERR internal error: unexpected ZMSCORE reply"));
        };
        for (m, s) in members.into_iter().zip(scores) {
            if let Value::Double(s) = s {
                pairs.push((m, s));
            }
        }
    }
    let n = pairs.len() as i64;
    let value =
        (!pairs.is_empty()).then(|| Dumped { data: Data::ZSet(ZSet::from_pairs(pairs)), expire_at: None });
    restore(conn, dst, value.as_ref()).await?;
    Ok(Value::Int(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sintercard(words: &[&str]) -> Result<(usize, i64)> {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        sintercard_args(&args).map(|(keys, limit)| (keys.len(), limit))
    }

    fn mpop(words: &[&str], zset: bool) -> Result<(usize, End, i64)> {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        parse_mpop(&args, zset).map(|(keys, end, count)| (keys.len(), end, count))
    }

    #[test]
    fn mpop_arguments_are_checked_like_redis() {
        assert_eq!(mpop(&["2", "a", "b", "MIN"], true), Ok((2, End::Min, 1)));
        assert_eq!(mpop(&["1", "a", "max", "count", "5"], true), Ok((1, End::Max, 5)));
        assert_eq!(mpop(&["1", "a", "Right", "COUNT", "2"], false), Ok((1, End::Right, 2)));
        let numkeys = Value::err("ERR numkeys should be greater than 0");
        for bad in ["0", "-1", "x"] {
            assert_eq!(mpop(&[bad, "a", "min"], true), Err(numkeys.clone()), "{bad}");
        }
        let count = Value::err("ERR count should be greater than 0");
        for bad in ["0", "-1", "x"] {
            assert_eq!(mpop(&["1", "a", "min", "count", bad], true), Err(count.clone()), "{bad}");
        }
        assert_eq!(mpop(&["1", "a", "min", "count", "0", "foo"], true), Err(count));
        let syntax = [
            &["1", "a", "left"][..],
            &["2", "a", "min"],
            &["5", "a", "min"],
            &["1", "a", "min", "count"],
            &["1", "a", "min", "count", "1", "count", "1"],
            &["1", "a", "min", "foo"],
        ];
        for bad in syntax {
            assert_eq!(mpop(bad, true), Err(Value::err(errors::SYNTAX)), "{bad:?}");
        }
        assert_eq!(mpop(&["1", "a", "min"], false), Err(Value::err(errors::SYNTAX)));
    }

    #[test]
    fn sintercard_arguments_are_checked_like_redis() {
        assert_eq!(sintercard(&["2", "a", "b"]), Ok((2, 0)));
        assert_eq!(sintercard(&["1", "a", "LIMIT", "3", "limit", "0"]), Ok((1, 0)));
        assert_eq!(sintercard(&["1", "a", "limit", "5"]), Ok((1, 5)));
        let numkeys = Value::err("ERR numkeys should be greater than 0");
        for bad in ["0", "-1", "x", "99999999999999999999"] {
            assert_eq!(sintercard(&[bad, "a"]), Err(numkeys.clone()), "{bad}");
        }
        let too_many = Value::err("ERR Number of keys can't be greater than number of args");
        assert_eq!(sintercard(&["2", "a"]), Err(too_many.clone()));
        assert_eq!(sintercard(&["9223372036854775807", "a"]), Err(too_many));
        let negative = Value::err("ERR LIMIT can't be negative");
        assert_eq!(sintercard(&["1", "a", "limit", "-1"]), Err(negative.clone()));
        assert_eq!(sintercard(&["1", "a", "limit", "x", "foo"]), Err(negative));
        for bad in [&["1", "a", "limit"][..], &["1", "a", "foo"], &["1", "a", "limit", "1", "foo"]] {
            assert_eq!(sintercard(bad), Err(Value::err(errors::SYNTAX)), "{bad:?}");
        }
    }
}
