//! Hash commands on one key (H*). A hash is stored as one entry per field
//! (sub-key = field, value = value). In memory fields keep insertion
//! order, removal shifting the rest, so replies list fields in the order
//! Redis' listpack encoding gives for small hashes.

pub(super) mod scan;

use super::random::Rng;
use super::strings::long_double::{self, LongDouble};
use super::{Arity, Data, Handler, KeyState, WriteOp, arg, parse_i64, run_checked};
use crate::keyspace::value::{Value, errors};
use bytes::Bytes;
use indexmap::IndexMap;

/// The fields of a hash, in insertion order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hash {
    fields: IndexMap<Bytes, Bytes>,
}

impl Hash {
    /// Rebuilds a hash from its storage entries (field, value).
    pub fn load(entries: Vec<(Bytes, Bytes)>) -> Result<Self, String> {
        Ok(Hash::from_pairs(entries))
    }

    /// A hash of these pairs; a repeated field keeps its last value.
    pub fn from_pairs(pairs: Vec<(Bytes, Bytes)>) -> Hash {
        Hash { fields: pairs.into_iter().collect() }
    }

    pub fn pairs(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.fields.iter()
    }

    pub fn subkeys(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.fields.keys().cloned()
    }

    pub fn entries(&self) -> impl Iterator<Item = WriteOp> + '_ {
        self.fields.iter().map(|(f, v)| WriteOp::Put(f.clone(), v.clone()))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    fn get(&self, field: &[u8]) -> Option<&Bytes> {
        self.fields.get(field)
    }

    /// Sets a field, queuing its entry; true if the field is new.
    fn set(&mut self, field: Bytes, value: Bytes, ops: &mut Vec<WriteOp>) -> bool {
        ops.push(WriteOp::Put(field.clone(), value.clone()));
        self.fields.insert(field, value).is_none()
    }

    /// Removes a field, queuing the entry's deletion; true if it existed.
    fn remove(&mut self, field: &Bytes, ops: &mut Vec<WriteOp>) -> bool {
        let removed = self.fields.shift_remove(field).is_some();
        if removed {
            ops.push(WriteOp::Delete(field.clone()));
        }
        removed
    }
}

pub(super) fn exec(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Option<Value> {
    use Arity::{AtLeast, Exact};
    let (arity, run): (Arity, Handler) = match name {
        "hset" => (AtLeast(2), |ks, args, now| hset(ks, args, now, "hset")),
        "hmset" => (AtLeast(2), |ks, args, now| hset(ks, args, now, "hmset")),
        "hsetnx" => (Exact(2), hsetnx),
        "hget" => (Exact(1), hget),
        "hmget" => (AtLeast(1), hmget),
        "hgetall" => (Exact(0), hgetall),
        "hkeys" => (Exact(0), hkeys),
        "hvals" => (Exact(0), hvals),
        "hdel" => (AtLeast(1), hdel),
        "hexists" => (Exact(1), hexists),
        "hlen" => (Exact(0), hlen),
        "hstrlen" => (Exact(1), hstrlen),
        "hincrby" => (Exact(2), hincrby),
        "hincrbyfloat" => (Exact(2), hincrbyfloat),
        "hrandfield" => (AtLeast(0), hrandfield),
        "hscan" => (AtLeast(1), hscan),
        _ => return None,
    };
    Some(run_checked(ks, name, arity, run, args, now_ms))
}

/// The hash at this key (expiring it first), `None` if there is none,
/// WRONGTYPE if the key holds another type.
fn read(ks: &mut KeyState, now_ms: u64) -> Result<Option<&Hash>, Value> {
    match ks.live(now_ms) {
        None => Ok(None),
        Some(Data::Hash(hash)) => Ok(Some(hash)),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

/// The hash to change and the queue for its entry ops. A missing key gets
/// an empty hash if `create` (`KeyState::exec` drops it again if it stays
/// empty), else `None`.
fn modify(
    ks: &mut KeyState,
    now_ms: u64,
    create: bool,
) -> Result<Option<(&mut Hash, &mut Vec<WriteOp>)>, Value> {
    if ks.live(now_ms).is_none() {
        if !create {
            return Ok(None);
        }
        ks.data = Some(Data::Hash(Hash::default()));
    }
    match &mut ks.data {
        Some(Data::Hash(hash)) => Ok(Some((hash, &mut ks.pending))),
        _ => Err(Value::err(errors::WRONGTYPE)),
    }
}

/// `modify` with `create`: always a hash.
fn modify_or_create(ks: &mut KeyState, now_ms: u64) -> Result<(&mut Hash, &mut Vec<WriteOp>), Value> {
    modify(ks, now_ms, true)?.ok_or_else(|| Value::err(errors::WRONGTYPE))
}

/// HSET/HMSET key field value [field value ...]
fn hset(ks: &mut KeyState, args: &[Bytes], now_ms: u64, name: &str) -> Result<Value, Value> {
    if !args.len().is_multiple_of(2) {
        return Err(Value::err(errors::arity(name)));
    }
    let (hash, ops) = modify_or_create(ks, now_ms)?;
    let mut created = 0;
    for pair in args.chunks_exact(2) {
        if let [field, value] = pair {
            created += i64::from(hash.set(field.clone(), value.clone(), ops));
        }
    }
    Ok(if name == "hmset" { Value::ok() } else { Value::Int(created) })
}

fn hsetnx(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let (hash, ops) = modify_or_create(ks, now_ms)?;
    let field = arg(args, 0);
    if hash.get(&field).is_some() {
        return Ok(Value::Int(0));
    }
    hash.set(field, arg(args, 1), ops);
    Ok(Value::Int(1))
}

fn hget(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let hash = read(ks, now_ms)?;
    Ok(hash.and_then(|h| h.get(&arg(args, 0)).cloned()).map_or(Value::Nil, Value::Bulk))
}

fn hmget(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let hash = read(ks, now_ms)?;
    let value = |f: &Bytes| hash.and_then(|h| h.get(f).cloned()).map_or(Value::Nil, Value::Bulk);
    Ok(Value::Array(args.iter().map(value).collect()))
}

fn hgetall(ks: &mut KeyState, _args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let pairs = read(ks, now_ms)?.into_iter().flat_map(Hash::pairs);
    Ok(Value::Map(pairs.map(|(f, v)| (Value::Bulk(f.clone()), Value::Bulk(v.clone()))).collect()))
}

fn hkeys(ks: &mut KeyState, _args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let pairs = read(ks, now_ms)?.into_iter().flat_map(Hash::pairs);
    Ok(Value::Array(pairs.map(|(f, _)| Value::Bulk(f.clone())).collect()))
}

fn hvals(ks: &mut KeyState, _args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let pairs = read(ks, now_ms)?.into_iter().flat_map(Hash::pairs);
    Ok(Value::Array(pairs.map(|(_, v)| Value::Bulk(v.clone())).collect()))
}

fn hdel(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some((hash, ops)) = modify(ks, now_ms, false)? else { return Ok(Value::Int(0)) };
    Ok(Value::Int(args.iter().map(|f| i64::from(hash.remove(f, ops))).sum()))
}

fn hexists(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let hash = read(ks, now_ms)?;
    Ok(Value::Int(i64::from(hash.is_some_and(|h| h.get(&arg(args, 0)).is_some()))))
}

fn hlen(ks: &mut KeyState, _args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    Ok(Value::Int(read(ks, now_ms)?.map_or(0, |h| h.len() as i64)))
}

fn hstrlen(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let hash = read(ks, now_ms)?;
    Ok(Value::Int(hash.and_then(|h| h.get(&arg(args, 0))).map_or(0, |v| v.len() as i64)))
}

/// HINCRBY key field increment: a missing field counts as 0.
fn hincrby(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let incr = parse_i64(&arg(args, 1))?;
    let (hash, ops) = modify_or_create(ks, now_ms)?;
    let field = arg(args, 0);
    let current = match hash.get(&field) {
        None => 0,
        Some(v) => parse_i64(v).map_err(|_| Value::err("ERR hash value is not an integer"))?,
    };
    let value = current.checked_add(incr).ok_or_else(|| Value::err(errors::OVERFLOW))?;
    hash.set(field, Bytes::from(value.to_string()), ops);
    Ok(Value::Int(value))
}

/// HINCRBYFLOAT key field increment, in Redis' `long double` like
/// INCRBYFLOAT (see `strings::long_double`).
fn hincrbyfloat(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let incr = LongDouble::parse(&arg(args, 1)).ok_or_else(|| Value::err(errors::NOT_FLOAT))?;
    if incr.is_infinite() {
        return Err(Value::err("ERR value is NaN or Infinity"));
    }
    let (hash, ops) = modify_or_create(ks, now_ms)?;
    let field = arg(args, 0);
    let current = match hash.get(&field) {
        None => long_double::ZERO,
        Some(v) => LongDouble::parse(v).ok_or_else(|| Value::err("ERR hash value is not a float"))?,
    };
    let sum = current.add(incr).ok_or_else(|| Value::err(errors::NAN_OR_INF))?;
    let text = Bytes::from(sum.to_human());
    hash.set(field, text.clone(), ops);
    Ok(Value::Bulk(text))
}

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some(count) = args.first() else {
        let Some(hash) = read(ks, now_ms)? else { return Ok(Value::Nil) };
        let mut rng = Rng::new(now_ms, hash.len());
        let field = hash.fields.get_index(rng.below(hash.len())).map(|(f, _)| f.clone());
        return Ok(field.map_or(Value::Nil, Value::Bulk));
    };
    let count = parse_i64(count)?;
    if count == i64::MIN {
        return Err(Value::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let with_values = match args.get(1..) {
        Some([]) | None => false,
        Some([option]) if option.eq_ignore_ascii_case(b"withvalues") => true,
        _ => return Err(Value::err(errors::SYNTAX)),
    };
    // Redis' guard against count * 2 overflowing in the RESP2 reply length.
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Value::err("ERR value is out of range"));
    }
    let Some(hash) = read(ks, now_ms)? else { return Ok(Value::Array(Vec::new())) };
    let item = |i: usize| {
        let (f, v) = hash.fields.get_index(i)?;
        Some(if with_values {
            Value::Array(vec![Value::Bulk(f.clone()), Value::Bulk(v.clone())])
        } else {
            Value::Bulk(f.clone())
        })
    };
    let picks = random_picks(hash.len(), count, now_ms);
    Ok(Value::Array(picks.filter_map(item).collect()))
}

/// The element indices HRANDFIELD/SRANDMEMBER with a count return: a
/// negative count draws that many with repeats (the reply grows as it is
/// built, nothing is reserved up front), a positive one distinct elements,
/// all of them if it is at least the size.
pub(super) fn random_picks(len: usize, count: i64, now_ms: u64) -> Box<dyn Iterator<Item = usize>> {
    let mut rng = Rng::new(now_ms, len);
    let n = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    if len == 0 || count == 0 {
        Box::new(std::iter::empty())
    } else if count < 0 {
        Box::new((0..n).map(move |_| rng.below(len)))
    } else if n >= len {
        Box::new(0..len)
    } else {
        Box::new(rng.distinct(len, n).into_iter())
    }
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]: all matching fields
/// and values at once, cursor 0.
fn hscan(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    scan::parse_cursor(&arg(args, 0))?;
    let Some(hash) = read(ks, now_ms)? else { return Ok(scan::reply(Vec::new())) };
    let pattern = scan::parse_options(args.get(1..).unwrap_or_default())?;
    let items = hash
        .pairs()
        .filter(|(f, _)| scan::keep(pattern.as_ref(), f))
        .flat_map(|(f, v)| [Value::Bulk(f.clone()), Value::Bulk(v.clone())])
        .collect();
    Ok(scan::reply(items))
}

#[cfg(test)]
mod tests {
    use super::super::{Data, KeyState, WriteOp};
    use super::Hash;
    use crate::keyspace::value::{Value, errors};
    use bytes::Bytes;
    use std::collections::BTreeMap;

    const NOW: u64 = 1_700_000_000_000;

    fn run(ks: &mut KeyState, cmd: &[&str]) -> Value {
        let argv: Vec<Bytes> = cmd.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        ks.exec(&argv, NOW)
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn bulk(s: &str) -> Value {
        Value::Bulk(b(s))
    }

    fn bulks(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|s| bulk(s)).collect())
    }

    fn put(f: &str, v: &str) -> WriteOp {
        WriteOp::Put(b(f), b(v))
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
    }

    #[test]
    fn hset_counts_new_fields_and_queues_puts() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["hset", "h", "a", "1", "b", "2"]), Value::Int(2));
        assert_eq!(run(&mut ks, &["hset", "h", "a", "3"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["hmset", "h", "c", "4"]), Value::ok());
        assert_eq!(run(&mut ks, &["hset", "h", "a"]), Value::err(errors::arity("hset")));
        assert_eq!(run(&mut ks, &["hmset", "h", "a", "1", "b"]), Value::err(errors::arity("hmset")));
        assert_eq!(ks.drain_entry_ops(), vec![put("a", "1"), put("b", "2"), put("a", "3"), put("c", "4")]);
        assert_eq!(run(&mut ks, &["hkeys", "h"]), bulks(&["a", "b", "c"]));
        assert_eq!(run(&mut ks, &["hvals", "h"]), bulks(&["3", "2", "4"]));
    }

    #[test]
    fn reads_of_fields() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["hgetall", "h"]), Value::Map(vec![]));
        assert_eq!(run(&mut ks, &["hmget", "h", "a"]), Value::Array(vec![Value::Nil]));
        run(&mut ks, &["hset", "h", "a", "1", "b", "22"]);
        assert_eq!(run(&mut ks, &["hget", "h", "a"]), bulk("1"));
        assert_eq!(run(&mut ks, &["hget", "h", "z"]), Value::Nil);
        assert_eq!(run(&mut ks, &["hmget", "h", "b", "z"]), Value::Array(vec![bulk("22"), Value::Nil]));
        assert_eq!(
            run(&mut ks, &["hgetall", "h"]),
            Value::Map(vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("22"))])
        );
        assert_eq!(run(&mut ks, &["hexists", "h", "a"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["hexists", "h", "z"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["hlen", "h"]), Value::Int(2));
        assert_eq!(run(&mut ks, &["hstrlen", "h", "b"]), Value::Int(2));
        assert_eq!(run(&mut ks, &["hstrlen", "h", "z"]), Value::Int(0));
    }

    #[test]
    fn hdel_removes_entries_and_the_empty_key() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["hdel", "h", "a"]), Value::Int(0));
        run(&mut ks, &["hset", "h", "a", "1", "b", "2", "c", "3"]);
        ks.drain_entry_ops();
        assert_eq!(run(&mut ks, &["hdel", "h", "a", "a", "z"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["hset", "h", "a", "9"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["hkeys", "h"]), bulks(&["b", "c", "a"]), "listpack order");
        assert_eq!(run(&mut ks, &["hdel", "h", "a", "b", "c"]), Value::Int(3));
        assert_eq!(ks.data, None);
        let del = |f: &str| WriteOp::Delete(b(f));
        assert_eq!(ks.drain_entry_ops(), vec![del("a"), put("a", "9"), del("a"), del("b"), del("c")]);
    }

    #[test]
    fn hsetnx_sets_only_new_fields() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["hsetnx", "h", "a", "1"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["hsetnx", "h", "a", "2"]), Value::Int(0));
        assert_eq!(ks.drain_entry_ops(), vec![put("a", "1")]);
    }

    #[test]
    fn hincrby_and_hincrbyfloat() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["hincrby", "h", "n", "5"]), Value::Int(5));
        assert_eq!(run(&mut ks, &["hincrby", "h", "n", "1.5"]), Value::err(errors::NOT_INTEGER));
        assert_eq!(run(&mut ks, &["hincrby", "h", "n", "9223372036854775807"]), Value::err(errors::OVERFLOW));
        assert_eq!(run(&mut ks, &["hincrbyfloat", "h", "n", "0.1"]), bulk("5.1"));
        assert_eq!(run(&mut ks, &["hincrby", "h", "n", "1"]), Value::err("ERR hash value is not an integer"));
        assert_eq!(
            run(&mut ks, &["hincrbyfloat", "h", "n", "inf"]),
            Value::err("ERR value is NaN or Infinity")
        );
        assert_eq!(run(&mut ks, &["hincrbyfloat", "h", "n", "nan"]), Value::err(errors::NOT_FLOAT));
        run(&mut ks, &["hset", "h", "s", "x"]);
        assert_eq!(
            run(&mut ks, &["hincrbyfloat", "h", "s", "1"]),
            Value::err("ERR hash value is not a float")
        );
        run(&mut ks, &["hset", "h", "big", "1e4932"]);
        assert_eq!(run(&mut ks, &["hincrbyfloat", "h", "big", "1e4932"]), Value::err(errors::NAN_OR_INF));
        assert_eq!(ks.drain_entry_ops()[..2], [put("n", "5"), put("n", "5.1")]);
    }

    #[test]
    fn hrandfield_counts() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["hrandfield", "h"]), Value::Nil);
        assert_eq!(run(&mut ks, &["hrandfield", "h", "3"]), Value::Array(vec![]));
        assert_eq!(run(&mut ks, &["hrandfield", "h", "3", "withvalues", "x"]), Value::err(errors::SYNTAX));
        assert_eq!(run(&mut ks, &["hrandfield", "h", "3", "withvalue"]), Value::err(errors::SYNTAX));
        assert_eq!(
            run(&mut ks, &["hrandfield", "h", "-9223372036854775807", "withvalues"]),
            Value::err("ERR value is out of range")
        );
        assert!(
            matches!(run(&mut ks, &["hrandfield", "h", "-9223372036854775808"]), Value::Error(e) if e.starts_with("ERR value is out of range, value must between"))
        );
        run(&mut ks, &["hset", "h", "a", "1", "b", "2", "c", "3"]);
        assert!(matches!(run(&mut ks, &["hrandfield", "h"]), Value::Bulk(_)));
        assert_eq!(run(&mut ks, &["hrandfield", "h", "5"]), bulks(&["a", "b", "c"]));
        assert_eq!(run(&mut ks, &["hrandfield", "h", "0"]), Value::Array(vec![]));
        let Value::Array(two) = run(&mut ks, &["hrandfield", "h", "2"]) else { panic!() };
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        let Value::Array(many) = run(&mut ks, &["hrandfield", "h", "-10", "WITHVALUES"]) else { panic!() };
        assert_eq!(many.len(), 10);
        for pair in many {
            let Value::Array(pair) = pair else { panic!("pairs are arrays") };
            assert!(
                [bulks(&["a", "1"]), bulks(&["b", "2"]), bulks(&["c", "3"])].contains(&Value::Array(pair))
            );
        }
    }

    #[test]
    fn hscan_returns_everything_matching() {
        let mut ks = KeyState::default();
        assert_eq!(
            run(&mut ks, &["hscan", "h", "0", "bogus"]),
            Value::Array(vec![bulk("0"), Value::Array(vec![])])
        );
        run(&mut ks, &["hset", "h", "apple", "1", "banana", "2", "avocado", "3"]);
        assert_eq!(
            run(&mut ks, &["hscan", "h", "0", "match", "a*", "count", "1"]),
            Value::Array(vec![bulk("0"), bulks(&["apple", "1", "avocado", "3"])])
        );
        assert_eq!(run(&mut ks, &["hscan", "h", "x"]), Value::err("ERR invalid cursor"));
        assert_eq!(run(&mut ks, &["hscan", "h", "0", "count", "0"]), Value::err(errors::SYNTAX));
    }

    #[test]
    fn wrong_type_errors() {
        let mut ks = KeyState::default();
        ks.replace(Data::Str(b("s")));
        for cmd in [
            &["hget", "k", "f"][..],
            &["hset", "k", "f", "v"],
            &["hdel", "k", "f"],
            &["hgetall", "k"],
            &["hincrby", "k", "f", "1"],
            &["hrandfield", "k"],
            &["hscan", "k", "0"],
            &["hlen", "k"],
        ] {
            assert_eq!(run(&mut ks, cmd), Value::err(errors::WRONGTYPE), "{cmd:?}");
        }
        assert_eq!(ks.data, Some(Data::Str(b("s"))));
    }

    #[test]
    fn entries_round_trip_through_load() {
        let mut ks = KeyState::default();
        let mut store = BTreeMap::new();
        run(&mut ks, &["hset", "h", "b", "1", "a", "2"]);
        assert_round_trip(&mut ks, &mut store);
        run(&mut ks, &["hincrby", "h", "a", "5"]);
        run(&mut ks, &["hdel", "h", "b"]);
        assert_round_trip(&mut ks, &mut store);
        assert_eq!(store.len(), 1);
        let hash = Hash::from_pairs(vec![(b("x"), b("1")), (b("y"), b("2"))]);
        assert_eq!(
            Hash::load(
                hash.entries()
                    .filter_map(|op| match op {
                        WriteOp::Put(k, v) => Some((k, v)),
                        WriteOp::Delete(_) | WriteOp::Add(..) => None,
                    })
                    .collect()
            ),
            Ok(hash.clone())
        );
        assert_eq!(hash.subkeys().collect::<Vec<_>>(), vec![b("x"), b("y")]);
    }
}
