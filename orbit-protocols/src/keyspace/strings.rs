//! String commands on one key: SET and its relatives, GET*, INCR*/DECR*,
//! APPEND, STRLEN, GETRANGE/SUBSTR, SETRANGE. A string is one entry with
//! the empty sub-key. Replies, errors and their order follow Redis 7.2.

pub(super) mod long_double;

use super::{Arity, Data, Handler, KeyState, WriteOp, arg, parse_i64, run_checked};
use crate::keyspace::value::{Value, errors};
use bytes::{Bytes, BytesMut};
use long_double::LongDouble;

/// Redis' default `proto-max-bulk-len`: the longest string APPEND or
/// SETRANGE may build.
const MAX_STRING_LEN: u64 = 512 * 1024 * 1024;
const TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

pub(super) fn exec(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Option<Value> {
    use Arity::{AtLeast, Exact};
    let (arity, run): (Arity, Handler) = match name {
        "get" => (Exact(0), get),
        "set" => (AtLeast(1), set),
        "getex" => (AtLeast(0), getex),
        "getdel" => (Exact(0), getdel),
        "getset" => (Exact(1), getset),
        "incr" => (Exact(0), |ks, _, now| incr_by(ks, 1, now)),
        "decr" => (Exact(0), |ks, _, now| incr_by(ks, -1, now)),
        "incrby" => (Exact(1), incrby),
        "decrby" => (Exact(1), decrby),
        "incrbyfloat" => (Exact(1), incrbyfloat),
        "append" => (Exact(1), append),
        "strlen" => (Exact(0), strlen),
        "getrange" | "substr" => (Exact(2), getrange),
        "setrange" => (Exact(2), setrange),
        "setnx" => (Exact(1), setnx),
        "setex" => (Exact(2), |ks, args, now| setex(ks, args, now, Expiry::Ex, "setex")),
        "psetex" => (Exact(2), |ks, args, now| setex(ks, args, now, Expiry::Px, "psetex")),
        _ => return None,
    };
    Some(run_checked(ks, name, arity, run, args, now_ms))
}

/// The string at this key (expiring it first): `None` if there is none,
/// WRONGTYPE if the key holds another type.
pub(super) fn read(ks: &mut KeyState, now_ms: u64) -> Result<Option<Bytes>, Value> {
    match ks.live(now_ms) {
        None => Ok(None),
        Some(Data::Str(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

/// Makes `value` the key's string, replacing whatever type was there. The
/// TTL survives only with `keep_ttl`: SET drops it, INCR/APPEND keep it.
/// Call after `live()` so an expired TTL is not kept.
fn write(ks: &mut KeyState, value: Bytes, keep_ttl: bool) {
    let ttl = if keep_ttl { ks.expire_at } else { None };
    if let Some(Data::Str(old)) = &mut ks.data {
        *old = value.clone();
        ks.pending.push(WriteOp::Put(Bytes::new(), value));
    } else {
        ks.replace(Data::Str(value));
    }
    ks.expire_at = ttl;
}

fn bulk_or_nil(value: Option<Bytes>) -> Value {
    value.map_or(Value::Nil, Value::Bulk)
}

fn get(ks: &mut KeyState, _args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    Ok(bulk_or_nil(read(ks, now_ms)?))
}

/// The expiry options of SET and GETEX.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expiry {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl Expiry {
    fn parse(option: &[u8]) -> Option<Expiry> {
        Some(match option {
            b"EX" => Expiry::Ex,
            b"PX" => Expiry::Px,
            b"EXAT" => Expiry::ExAt,
            b"PXAT" => Expiry::PxAt,
            _ => return None,
        })
    }

    /// The Unix ms time the option's argument means, with Redis' checks:
    /// positive, and no overflow once in ms and made absolute.
    fn at_ms(self, arg: &[u8], now_ms: u64, command: &str) -> Result<u64, Value> {
        let n = parse_i64(arg)?;
        let invalid = || Value::err(format!("ERR invalid expire time in '{command}' command"));
        let seconds = matches!(self, Expiry::Ex | Expiry::ExAt);
        if n <= 0 || (seconds && n > i64::MAX / 1000) {
            return Err(invalid());
        }
        let ms = if seconds { n * 1000 } else { n };
        let relative = matches!(self, Expiry::Ex | Expiry::Px);
        let at = if relative { ms.checked_add(i64::try_from(now_ms).unwrap_or(i64::MAX)) } else { Some(ms) };
        at.and_then(|at| u64::try_from(at).ok()).ok_or_else(invalid)
    }
}

/// Options of SET (`for_set`) or GETEX, accepted in the combinations Redis
/// accepts (repeating the same option is fine).
#[derive(Debug, Default)]
struct Options {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<(Expiry, Bytes)>,
}

fn parse_options(args: &[Bytes], for_set: bool) -> Result<Options, Value> {
    let mut o = Options::default();
    let mut i = 0;
    while let Some(opt) = args.get(i) {
        let opt = opt.to_ascii_uppercase();
        let next = args.get(i + 1);
        let expiry = Expiry::parse(&opt);
        match opt.as_slice() {
            b"NX" if for_set && !o.xx => o.nx = true,
            b"XX" if for_set && !o.nx => o.xx = true,
            b"GET" if for_set => o.get = true,
            b"KEEPTTL" if for_set && o.expire.is_none() => o.keep_ttl = true,
            b"PERSIST" if !for_set && o.expire.is_none() => o.persist = true,
            _ => match (expiry, next) {
                (Some(kind), Some(value))
                    if !o.keep_ttl && !o.persist && o.expire.as_ref().is_none_or(|(k, _)| *k == kind) =>
                {
                    o.expire = Some((kind, value.clone()));
                    i += 1;
                }
                _ => return Err(Value::err(errors::SYNTAX)),
            },
        }
        i += 1;
    }
    Ok(o)
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
fn set(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let value = arg(args, 0);
    let opts = parse_options(args.get(1..).unwrap_or_default(), true)?;
    let at = opts.expire.map(|(kind, arg)| kind.at_ms(&arg, now_ms, "set")).transpose()?;
    // GET checks the type (and fails) before anything is written.
    let reply = if opts.get { bulk_or_nil(read(ks, now_ms)?) } else { Value::ok() };
    let found = ks.live(now_ms).is_some();
    if (opts.nx && found) || (opts.xx && !found) {
        return Ok(if opts.get { reply } else { Value::Nil });
    }
    match at {
        // A time already past (EXAT/PXAT): the new value expires at once.
        Some(at) if at <= now_ms => ks.clear(),
        Some(at) => {
            write(ks, value, true);
            ks.expire_at = Some(at);
        }
        None => write(ks, value, opts.keep_ttl),
    }
    Ok(reply)
}

/// GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]
fn getex(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let opts = parse_options(args, false)?;
    // A missing key answers nil even if the expiry is invalid, as in Redis.
    let Some(value) = read(ks, now_ms)? else { return Ok(Value::Nil) };
    let at = opts.expire.map(|(kind, arg)| kind.at_ms(&arg, now_ms, "getex")).transpose()?;
    match at {
        Some(at) if at <= now_ms => ks.clear(),
        Some(at) => ks.expire_at = Some(at),
        None if opts.persist => ks.expire_at = None,
        None => {}
    }
    Ok(Value::Bulk(value))
}

fn getdel(ks: &mut KeyState, _args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let value = read(ks, now_ms)?;
    if value.is_some() {
        ks.clear();
    }
    Ok(bulk_or_nil(value))
}

fn getset(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let old = read(ks, now_ms)?;
    write(ks, arg(args, 0), false);
    Ok(bulk_or_nil(old))
}

/// SETNX: sets only if the key does not exist, whatever its type.
fn setnx(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    if ks.live(now_ms).is_some() {
        return Ok(Value::Int(0));
    }
    write(ks, arg(args, 0), false);
    Ok(Value::Int(1))
}

/// SETEX key seconds value / PSETEX key ms value.
fn setex(
    ks: &mut KeyState,
    args: &[Bytes],
    now_ms: u64,
    unit: Expiry,
    command: &str,
) -> Result<Value, Value> {
    let at = unit.at_ms(&arg(args, 0), now_ms, command)?;
    ks.live(now_ms);
    write(ks, arg(args, 1), false);
    ks.expire_at = Some(at);
    Ok(Value::ok())
}

/// INCR/DECR/INCRBY/DECRBY: a missing key counts as 0; the TTL is kept.
fn incr_by(ks: &mut KeyState, incr: i64, now_ms: u64) -> Result<Value, Value> {
    let current = match read(ks, now_ms)? {
        None => 0,
        Some(s) => parse_i64(&s)?,
    };
    let value = current.checked_add(incr).ok_or_else(|| Value::err(errors::OVERFLOW))?;
    write(ks, Bytes::from(value.to_string()), true);
    Ok(Value::Int(value))
}

fn incrby(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let incr = parse_i64(&arg(args, 0))?;
    incr_by(ks, incr, now_ms)
}

fn decrby(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let decr = parse_i64(&arg(args, 0))?;
    // -i64::MIN does not exist.
    let incr = decr.checked_neg().ok_or_else(|| Value::err("ERR decrement would overflow"))?;
    incr_by(ks, incr, now_ms)
}

/// INCRBYFLOAT in Redis' `long double` (see `long_double`); the TTL is kept.
fn incrbyfloat(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let not_float = || Value::err(errors::NOT_FLOAT);
    let current = match read(ks, now_ms)? {
        None => long_double::ZERO,
        Some(s) => LongDouble::parse(&s).ok_or_else(not_float)?,
    };
    let incr = LongDouble::parse(&arg(args, 0)).ok_or_else(not_float)?;
    let sum = current.add(incr).ok_or_else(|| Value::err(errors::NAN_OR_INF))?;
    let text = Bytes::from(sum.to_human());
    write(ks, text.clone(), true);
    Ok(Value::Bulk(text))
}

/// Refuses strings longer than Redis' `proto-max-bulk-len`.
fn check_length(len: u64, added: u64) -> Result<(), Value> {
    match len.checked_add(added) {
        Some(total) if total <= MAX_STRING_LEN => Ok(()),
        _ => Err(Value::err(TOO_LONG)),
    }
}

/// APPEND: creates the key (even with an empty value) or extends it.
fn append(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let tail = arg(args, 0);
    let Some(current) = read(ks, now_ms)? else {
        let len = tail.len();
        write(ks, tail, false);
        return Ok(Value::Int(len as i64));
    };
    check_length(current.len() as u64, tail.len() as u64)?;
    if tail.is_empty() {
        return Ok(Value::Int(current.len() as i64));
    }
    let mut joined = BytesMut::with_capacity(current.len() + tail.len());
    joined.extend_from_slice(&current);
    joined.extend_from_slice(&tail);
    let len = joined.len();
    write(ks, joined.freeze(), true);
    Ok(Value::Int(len as i64))
}

fn strlen(ks: &mut KeyState, _args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    Ok(Value::Int(read(ks, now_ms)?.map_or(0, |s| s.len() as i64)))
}

/// GETRANGE/SUBSTR key start end (inclusive, negative from the end).
fn getrange(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let start = parse_i64(&arg(args, 0))?;
    let end = parse_i64(&arg(args, 1))?;
    let Some(s) = read(ks, now_ms)? else { return Ok(Value::bulk("")) };
    Ok(Value::Bulk(match byte_range(s.len(), start, end) {
        Some((from, to)) => s.slice(from..=to),
        None => Bytes::new(),
    }))
}

/// GETRANGE's index rules, Redis 7.2's quirks kept: an end before the
/// start of the string is clamped to 0, so `GETRANGE k 0 -100` gives the
/// first byte (Redis reverted the fix as a breaking change).
fn byte_range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len = i64::try_from(len).ok()?;
    let from_end = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let start = from_end(start);
    let end = from_end(end).min(len - 1);
    if start > end || len == 0 {
        return None;
    }
    Some((usize::try_from(start).ok()?, usize::try_from(end).ok()?))
}

/// SETRANGE key offset value: zero-pads up to `offset`; the TTL is kept.
fn setrange(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let offset = parse_i64(&arg(args, 0))?;
    let Ok(offset) = u64::try_from(offset) else {
        return Err(Value::err("ERR offset is out of range"));
    };
    let patch = arg(args, 1);
    let current = read(ks, now_ms)?;
    // Setting nothing changes nothing, not even a missing key.
    if patch.is_empty() {
        return Ok(Value::Int(current.map_or(0, |s| s.len() as i64)));
    }
    check_length(offset, patch.len() as u64)?;
    // Both fit in 512 MB now.
    let offset = offset as usize;
    let existed = current.is_some();
    let current = current.unwrap_or_default();
    let mut buf = BytesMut::from(&current[..]);
    if buf.len() < offset + patch.len() {
        buf.resize(offset + patch.len(), 0);
    }
    buf[offset..offset + patch.len()].copy_from_slice(&patch);
    let len = buf.len();
    write(ks, buf.freeze(), existed);
    Ok(Value::Int(len as i64))
}

#[cfg(test)]
mod tests {
    use super::super::{Data, KeyState, WriteOp};
    use crate::keyspace::value::{Value, errors};
    use bytes::Bytes;
    use std::collections::BTreeMap;

    const NOW: u64 = 1_700_000_000_000;

    fn run(ks: &mut KeyState, cmd: &[&str]) -> Value {
        run_at(ks, NOW, cmd)
    }

    fn run_at(ks: &mut KeyState, now: u64, cmd: &[&str]) -> Value {
        let argv: Vec<Bytes> = cmd.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        ks.exec(&argv, now)
    }

    fn bulk(s: &str) -> Value {
        Value::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn put(v: &str) -> WriteOp {
        WriteOp::Put(Bytes::new(), Bytes::copy_from_slice(v.as_bytes()))
    }

    fn del() -> WriteOp {
        WriteOp::Delete(Bytes::new())
    }

    /// Applies the pending ops to a store, reloads the key from it and
    /// checks it came back the same.
    fn assert_round_trip(ks: &mut KeyState, store: &mut BTreeMap<Bytes, Bytes>) {
        for op in ks.drain_entry_ops() {
            match op {
                WriteOp::Put(k, v) => store.insert(k, v),
                WriteOp::Delete(k) => store.remove(&k),
                WriteOp::Add(..) => unreachable!("the keyspace adds to no counter"),
            };
        }
        let mut loaded = KeyState::from_meta(ks.meta());
        assert_eq!(loaded.load_entries(store.clone().into_iter().collect()), Ok(()));
        assert_eq!(loaded.data, ks.data);
        assert_eq!(loaded.expire_at, ks.expire_at);
    }

    #[test]
    fn set_and_get_queue_one_put() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["get", "k"]), Value::Nil);
        assert_eq!(run(&mut ks, &["set", "k", "v"]), Value::ok());
        assert_eq!(run(&mut ks, &["get", "k"]), bulk("v"));
        assert_eq!(ks.drain_entry_ops(), vec![put("v")]);
    }

    #[test]
    fn set_options_follow_redis_rules() {
        let mut ks = KeyState::default();
        for bad in [
            &["nx", "xx"][..],
            &["ex", "10", "px", "10"],
            &["keepttl", "ex", "10"],
            &["ex"],
            &["get", "persist"],
        ] {
            let mut cmd = vec!["set", "k", "v"];
            cmd.extend_from_slice(bad);
            assert_eq!(run(&mut ks, &cmd), Value::err(errors::SYNTAX), "{bad:?}");
        }
        let invalid = Value::err("ERR invalid expire time in 'set' command");
        assert_eq!(run(&mut ks, &["set", "k", "v", "ex", "0"]), invalid);
        assert_eq!(run(&mut ks, &["set", "k", "v", "px", "9223372036854775807"]), invalid);
        assert_eq!(run(&mut ks, &["set", "k", "v", "ex", "9223372036854775"]), invalid);
        assert_eq!(run(&mut ks, &["set", "k", "v", "ex", "x"]), Value::err(errors::NOT_INTEGER));
        assert_eq!(run(&mut ks, &["set", "k"]), Value::err(errors::arity("set")));
        assert!(ks.drain_entry_ops().is_empty());
        assert_eq!(run(&mut ks, &["set", "k", "v", "EX", "10", "ex", "20"]), Value::ok());
        assert_eq!(ks.expire_at, Some(NOW + 20_000));
        assert_eq!(run(&mut ks, &["set", "k", "v2", "nx", "nx"]), Value::Nil);
        assert_eq!(run(&mut ks, &["set", "k", "v2", "nx", "get"]), bulk("v"));
        assert_eq!(run(&mut ks, &["set", "k", "v3", "keepttl", "xx", "get"]), bulk("v"));
        assert_eq!(ks.expire_at, Some(NOW + 20_000));
        assert_eq!(run(&mut ks, &["set", "k", "v4"]), Value::ok());
        assert_eq!(ks.expire_at, None, "SET without KEEPTTL drops the TTL");
        assert_eq!(run(&mut ks, &["set", "other", "v", "pxat", "1"]), Value::ok());
        assert_eq!(ks.data, None, "a past PXAT deletes the key");
    }

    #[test]
    fn set_over_another_type_replaces_it_unless_get() {
        let mut ks = KeyState::default();
        ks.replace(Data::Hash(super::super::Hash::from_pairs(vec![(Bytes::from("f"), Bytes::from("1"))])));
        ks.expire_at = Some(NOW + 5);
        ks.drain_entry_ops();
        assert_eq!(run(&mut ks, &["set", "k", "v", "get"]), Value::err(errors::WRONGTYPE));
        assert_eq!(run(&mut ks, &["set", "k", "v", "nx"]), Value::Nil);
        assert_eq!(run(&mut ks, &["set", "k", "v", "keepttl"]), Value::ok());
        assert_eq!(ks.expire_at, Some(NOW + 5), "KEEPTTL keeps even another type's TTL");
        assert_eq!(ks.drain_entry_ops(), vec![WriteOp::Delete(Bytes::from("f")), put("v")]);
    }

    #[test]
    fn getex_sets_or_drops_the_ttl() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["getex", "k", "ex", "nope"]), Value::Nil, "missing key first");
        run(&mut ks, &["set", "k", "v"]);
        assert_eq!(run(&mut ks, &["getex", "k", "ex", "nope"]), Value::err(errors::NOT_INTEGER));
        assert_eq!(
            run(&mut ks, &["getex", "k", "px", "-1"]),
            Value::err("ERR invalid expire time in 'getex' command")
        );
        assert_eq!(run(&mut ks, &["getex", "k", "persist", "ex", "1"]), Value::err(errors::SYNTAX));
        assert_eq!(run(&mut ks, &["getex", "k", "nx"]), Value::err(errors::SYNTAX));
        assert_eq!(run(&mut ks, &["getex", "k", "px", "1500"]), bulk("v"));
        assert_eq!(ks.expire_at, Some(NOW + 1500));
        assert_eq!(run(&mut ks, &["getex", "k", "persist"]), bulk("v"));
        assert_eq!(ks.expire_at, None);
        assert_eq!(run(&mut ks, &["getex", "k", "exat", "1"]), bulk("v"));
        assert_eq!(ks.data, None);
        assert_eq!(ks.drain_entry_ops(), vec![put("v"), del()]);
    }

    #[test]
    fn expired_keys_are_gone() {
        let mut ks = KeyState::default();
        run(&mut ks, &["setex", "k", "1", "v"]);
        assert_eq!(run_at(&mut ks, NOW + 999, &["get", "k"]), bulk("v"));
        assert_eq!(run_at(&mut ks, NOW + 1000, &["get", "k"]), Value::Nil);
        assert_eq!(
            run(&mut ks, &["psetex", "k", "0", "v"]),
            Value::err("ERR invalid expire time in 'psetex' command")
        );
        assert_eq!(run(&mut ks, &["setex", "k", "x", "v"]), Value::err(errors::NOT_INTEGER));
    }

    #[test]
    fn getdel_getset_setnx() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["setnx", "k", "a"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["setnx", "k", "b"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["getset", "k", "c"]), bulk("a"));
        assert_eq!(run(&mut ks, &["getdel", "k"]), bulk("c"));
        assert_eq!(run(&mut ks, &["getdel", "k"]), Value::Nil);
        assert_eq!(ks.drain_entry_ops(), vec![put("a"), put("c"), del()]);
    }

    #[test]
    fn counters_keep_the_ttl_and_check_overflow() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["incr", "n"]), Value::Int(1));
        ks.expire_at = Some(NOW + 100);
        assert_eq!(run(&mut ks, &["incrby", "n", "41"]), Value::Int(42));
        assert_eq!(run(&mut ks, &["decrby", "n", "2"]), Value::Int(40));
        assert_eq!(run(&mut ks, &["decr", "n"]), Value::Int(39));
        assert_eq!(ks.expire_at, Some(NOW + 100));
        assert_eq!(
            run(&mut ks, &["decrby", "n", "-9223372036854775808"]),
            Value::err("ERR decrement would overflow")
        );
        assert_eq!(run(&mut ks, &["incrby", "n", "9223372036854775807"]), Value::err(errors::OVERFLOW));
        assert_eq!(run(&mut ks, &["incrby", "n", "1.5"]), Value::err(errors::NOT_INTEGER));
        assert_eq!(ks.drain_entry_ops(), vec![put("1"), put("42"), put("40"), put("39")]);
        run(&mut ks, &["set", "n", "012"]);
        assert_eq!(run(&mut ks, &["incr", "n"]), Value::err(errors::NOT_INTEGER));
    }

    #[test]
    fn incrbyfloat_formats_like_redis() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["incrbyfloat", "f", "10.50"]), bulk("10.5"));
        assert_eq!(run(&mut ks, &["incrbyfloat", "f", "0.1"]), bulk("10.6"));
        assert_eq!(run(&mut ks, &["incrbyfloat", "f", "-5"]), bulk("5.6"));
        assert_eq!(run(&mut ks, &["incrbyfloat", "f", "+inf"]), Value::err(errors::NAN_OR_INF));
        assert_eq!(run(&mut ks, &["incrbyfloat", "f", "abc"]), Value::err(errors::NOT_FLOAT));
        run(&mut ks, &["set", "f", "5.0e3"]);
        assert_eq!(run(&mut ks, &["incrbyfloat", "f", "2.0e2"]), bulk("5200"));
        run(&mut ks, &["set", "f", " 1"]);
        assert_eq!(run(&mut ks, &["incrbyfloat", "f", "1"]), Value::err(errors::NOT_FLOAT));
    }

    #[test]
    fn append_and_strlen() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["strlen", "k"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["append", "k", ""]), Value::Int(0));
        assert_eq!(run(&mut ks, &["get", "k"]), bulk(""), "APPEND creates even an empty string");
        assert_eq!(run(&mut ks, &["append", "k", "ab"]), Value::Int(2));
        assert_eq!(run(&mut ks, &["append", "k", "c"]), Value::Int(3));
        assert_eq!(run(&mut ks, &["strlen", "k"]), Value::Int(3));
        assert_eq!(ks.drain_entry_ops(), vec![put(""), put("ab"), put("abc")]);
    }

    #[test]
    fn getrange_keeps_redis_quirks() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["getrange", "s", "0", "1"]), bulk(""));
        run(&mut ks, &["set", "s", "hello"]);
        let cases = [
            ("-1", "-5", ""),
            ("-3", "-1", "llo"),
            ("0", "-100", "h"),
            ("-100", "-100", "h"),
            ("3", "1", ""),
            ("0", "100", "hello"),
            ("-9223372036854775808", "9223372036854775807", "hello"),
        ];
        for (start, end, want) in cases {
            assert_eq!(run(&mut ks, &["getrange", "s", start, end]), bulk(want), "{start} {end}");
        }
        assert_eq!(run(&mut ks, &["substr", "s", "1", "2"]), bulk("el"));
        assert_eq!(run(&mut ks, &["getrange", "s", "a", "1"]), Value::err(errors::NOT_INTEGER));
    }

    #[test]
    fn setrange_pads_and_limits() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["setrange", "k", "5", ""]), Value::Int(0));
        assert_eq!(ks.data, None, "setting nothing creates nothing");
        assert_eq!(run(&mut ks, &["setrange", "k", "-1", "x"]), Value::err("ERR offset is out of range"));
        assert_eq!(run(&mut ks, &["setrange", "k", "536870912", "x"]), Value::err(super::TOO_LONG));
        assert_eq!(run(&mut ks, &["setrange", "k", "2", "ab"]), Value::Int(4));
        assert_eq!(run(&mut ks, &["setrange", "k", "0", "X"]), Value::Int(4));
        assert_eq!(run(&mut ks, &["get", "k"]), Value::Bulk(Bytes::from_static(b"X\0ab")));
        assert_eq!(ks.drain_entry_ops().len(), 2);
    }

    #[test]
    fn wrong_type_and_arity_errors() {
        let mut ks = KeyState::default();
        ks.replace(Data::Set(super::super::Set::from_members(vec![Bytes::from("m")])));
        for cmd in [
            &["get", "k"][..],
            &["incr", "k"],
            &["append", "k", "x"],
            &["strlen", "k"],
            &["getset", "k", "x"],
            &["getdel", "k"],
            &["getex", "k"],
            &["incrbyfloat", "k", "1"],
            &["getrange", "k", "0", "1"],
            &["setrange", "k", "0", "x"],
        ] {
            assert_eq!(run(&mut ks, cmd), Value::err(errors::WRONGTYPE), "{cmd:?}");
        }
        assert_eq!(run(&mut ks, &["setnx", "k", "x"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["get", "k", "x"]), Value::err(errors::arity("get")));
        assert_eq!(run(&mut ks, &["getrange", "k", "0"]), Value::err(errors::arity("getrange")));
    }

    #[test]
    fn entries_round_trip_through_load() {
        let mut ks = KeyState::default();
        let mut store = BTreeMap::new();
        run(&mut ks, &["set", "k", "v", "px", "5000"]);
        assert_round_trip(&mut ks, &mut store);
        run(&mut ks, &["append", "k", "w"]);
        assert_round_trip(&mut ks, &mut store);
        run(&mut ks, &["getdel", "k"]);
        assert_round_trip(&mut ks, &mut store);
        assert!(store.is_empty());
    }
}
