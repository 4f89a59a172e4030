//! Set commands on one key (SADD, SREM, SMEMBERS, SISMEMBER, SMISMEMBER,
//! SCARD, SPOP, SRANDMEMBER, SSCAN). A set is stored as one entry per member
//! with an empty value. Multi-key set commands are the front door's.
//!
//! Member order copies Redis 7.2's small encodings, which is what clients
//! see for small sets: while every member is an integer (and there are at
//! most 512) the set is an "intset", kept in numeric order; the first other
//! member turns it into a "listpack", which keeps that order and appends.

use super::hashes::{random_picks, scan};
use super::random::Rng;
use super::{Arity, Data, Handler, KeyState, WriteOp, parse_i64, run_checked};
use crate::keyspace::value::{Value, errors};
use bytes::Bytes;
use indexmap::IndexSet;

/// Redis' `set-max-intset-entries` default.
const MAX_INTSET_ENTRIES: usize = 512;

/// The members of a set, in Redis' order (see the module comment).
#[derive(Debug, Clone)]
pub struct Set {
    members: IndexSet<Bytes>,
    /// Still an intset: all members are integers, in numeric order.
    intset: bool,
}

impl Default for Set {
    /// An empty set starts as an intset, like a new key in Redis.
    fn default() -> Set {
        Set { members: IndexSet::new(), intset: true }
    }
}

/// Sets are equal when their members are, whatever their order.
impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.members == other.members
    }
}

/// A member's value if it is one Redis would keep in an intset.
fn int_value(member: &[u8]) -> Option<i64> {
    parse_i64(member).ok()
}

impl Set {
    /// Rebuilds a set from its storage entries (member, empty value).
    pub fn load(entries: Vec<(Bytes, Bytes)>) -> Result<Self, String> {
        Ok(Set::from_members(entries.into_iter().map(|(member, _)| member).collect()))
    }

    pub fn from_members(members: Vec<Bytes>) -> Set {
        let mut set = Set::default();
        for member in members {
            set.insert(member);
        }
        set
    }

    pub fn members(&self) -> impl Iterator<Item = &Bytes> {
        self.members.iter()
    }

    pub fn subkeys(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.members.iter().cloned()
    }

    pub fn entries(&self) -> impl Iterator<Item = WriteOp> + '_ {
        self.members.iter().map(|m| WriteOp::Put(m.clone(), Bytes::new()))
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    fn contains(&self, member: &[u8]) -> bool {
        self.members.contains(member)
    }

    /// Adds a member in Redis' order; true if it is new.
    fn insert(&mut self, member: Bytes) -> bool {
        if self.members.contains(&member) {
            return false;
        }
        if self.intset {
            if int_value(&member).is_some() && self.members.len() < MAX_INTSET_ENTRIES {
                self.members.insert_sorted_by_key(member, |m| int_value(m));
                return true;
            }
            self.intset = false;
        }
        self.members.insert(member)
    }

    /// Adds a member, queuing its entry; true if it is new.
    fn add(&mut self, member: Bytes, ops: &mut Vec<WriteOp>) -> bool {
        let added = self.insert(member.clone());
        if added {
            ops.push(WriteOp::Put(member, Bytes::new()));
        }
        added
    }

    /// Removes a member, queuing the entry's deletion; true if it existed.
    fn remove(&mut self, member: &[u8], ops: &mut Vec<WriteOp>) -> bool {
        let Some(member) = self.members.shift_take(member) else { return false };
        ops.push(WriteOp::Delete(member));
        true
    }
}

pub(super) fn exec(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Option<Value> {
    use Arity::{AtLeast, Exact};
    let (arity, run): (Arity, Handler) = match name {
        "sadd" => (AtLeast(1), sadd),
        "srem" => (AtLeast(1), srem),
        "smembers" => (Exact(0), smembers),
        "sismember" => (Exact(1), sismember),
        "smismember" => (AtLeast(1), smismember),
        "scard" => (Exact(0), scard),
        "spop" => (AtLeast(0), spop),
        "srandmember" => (AtLeast(0), srandmember),
        "sscan" => (AtLeast(1), sscan),
        _ => return None,
    };
    Some(run_checked(ks, name, arity, run, args, now_ms))
}

/// The set at this key (expiring it first), `None` if there is none,
/// WRONGTYPE if the key holds another type.
fn read(ks: &mut KeyState, now_ms: u64) -> Result<Option<&Set>, Value> {
    match ks.live(now_ms) {
        None => Ok(None),
        Some(Data::Set(set)) => Ok(Some(set)),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

/// The set to change and the queue for its entry ops. A missing key gets
/// an empty set if `create` (`KeyState::exec` drops it again if it stays
/// empty), else `None`.
fn modify(
    ks: &mut KeyState,
    now_ms: u64,
    create: bool,
) -> Result<Option<(&mut Set, &mut Vec<WriteOp>)>, Value> {
    if ks.live(now_ms).is_none() {
        if !create {
            return Ok(None);
        }
        ks.data = Some(Data::Set(Set::default()));
    }
    match &mut ks.data {
        Some(Data::Set(set)) => Ok(Some((set, &mut ks.pending))),
        _ => Err(Value::err(errors::WRONGTYPE)),
    }
}

fn sadd(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some((set, ops)) = modify(ks, now_ms, true)? else { return Ok(Value::Int(0)) };
    Ok(Value::Int(args.iter().map(|m| i64::from(set.add(m.clone(), ops))).sum()))
}

fn srem(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some((set, ops)) = modify(ks, now_ms, false)? else { return Ok(Value::Int(0)) };
    Ok(Value::Int(args.iter().map(|m| i64::from(set.remove(m, ops))).sum()))
}

fn smembers(ks: &mut KeyState, _args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let members = read(ks, now_ms)?.into_iter().flat_map(Set::members);
    Ok(Value::Set(members.cloned().map(Value::Bulk).collect()))
}

fn sismember(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let set = read(ks, now_ms)?;
    let member = args.first().cloned().unwrap_or_default();
    Ok(Value::Int(i64::from(set.is_some_and(|s| s.contains(&member)))))
}

fn smismember(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let set = read(ks, now_ms)?;
    let found = |m: &Bytes| Value::Int(i64::from(set.is_some_and(|s| s.contains(m))));
    Ok(Value::Array(args.iter().map(found).collect()))
}

fn scard(ks: &mut KeyState, _args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    Ok(Value::Int(read(ks, now_ms)?.map_or(0, |s| s.len() as i64)))
}

/// SPOP key [count]: removes and returns random members (a RESP3 set with
/// a count, a bulk string without).
fn spop(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let count = match args {
        [] => None,
        // Redis gives this one message for non-integers too.
        [count] => Some(
            parse_i64(count)
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| Value::err("ERR value is out of range, must be positive"))?,
        ),
        _ => return Err(Value::err(errors::SYNTAX)),
    };
    let Some((set, ops)) = modify(ks, now_ms, false)? else {
        return Ok(if count.is_some() { Value::Set(Vec::new()) } else { Value::Nil });
    };
    let mut rng = Rng::new(now_ms, set.len());
    let Some(count) = count else {
        let member = set.members.get_index(rng.below(set.len())).cloned();
        if let Some(member) = &member {
            set.remove(member, ops);
        }
        return Ok(member.map_or(Value::Nil, Value::Bulk));
    };
    let picked: Vec<Bytes> = rng
        .distinct(set.len(), count)
        .into_iter()
        .filter_map(|i| set.members.get_index(i).cloned())
        .collect();
    for member in &picked {
        set.remove(member, ops);
    }
    Ok(Value::Set(picked.into_iter().map(Value::Bulk).collect()))
}

/// SRANDMEMBER key [count]: random members, repeats allowed when the
/// count is negative.
fn srandmember(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let count = match args {
        [] => None,
        [count] => Some(parse_i64(count)?),
        _ => return Err(Value::err(errors::SYNTAX)),
    };
    if count == Some(i64::MIN) {
        return Err(Value::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let set = read(ks, now_ms)?;
    let Some(count) = count else {
        let Some(set) = set else { return Ok(Value::Nil) };
        let mut rng = Rng::new(now_ms, set.len());
        return Ok(set.members.get_index(rng.below(set.len())).cloned().map_or(Value::Nil, Value::Bulk));
    };
    let Some(set) = set else { return Ok(Value::Array(Vec::new())) };
    let picks = random_picks(set.len(), count, now_ms);
    Ok(Value::Array(picks.filter_map(|i| set.members.get_index(i).cloned().map(Value::Bulk)).collect()))
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]: all matching members at
/// once, cursor 0.
fn sscan(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    scan::parse_cursor(args.first().map_or(&b""[..], |a| a))?;
    let Some(set) = read(ks, now_ms)? else { return Ok(scan::reply(Vec::new())) };
    let pattern = scan::parse_options(args.get(1..).unwrap_or_default())?;
    let items = set.members().filter(|m| scan::keep(pattern.as_ref(), m)).cloned().map(Value::Bulk).collect();
    Ok(scan::reply(items))
}

#[cfg(test)]
mod tests {
    use super::super::{Data, KeyState, WriteOp};
    use super::Set;
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

    fn bulks(items: &[&str]) -> Vec<Value> {
        items.iter().map(|s| Value::Bulk(b(s))).collect()
    }

    fn put(m: &str) -> WriteOp {
        WriteOp::Put(b(m), Bytes::new())
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
    fn sadd_srem_count_and_queue_entries() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["sadd", "s", "a", "b", "a"]), Value::Int(2));
        assert_eq!(run(&mut ks, &["srem", "s", "a", "z"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["srem", "s", "b"]), Value::Int(1));
        assert_eq!(ks.data, None, "an empty set is deleted");
        assert_eq!(run(&mut ks, &["srem", "s", "b"]), Value::Int(0));
        assert_eq!(
            ks.drain_entry_ops(),
            vec![put("a"), put("b"), WriteOp::Delete(b("a")), WriteOp::Delete(b("b"))]
        );
    }

    #[test]
    fn members_come_in_redis_order() {
        let mut ks = KeyState::default();
        run(&mut ks, &["sadd", "s", "3", "1", "-2", "10"]);
        assert_eq!(
            run(&mut ks, &["smembers", "s"]),
            Value::Set(bulks(&["-2", "1", "3", "10"])),
            "intset order"
        );
        run(&mut ks, &["sadd", "s", "a", "0"]);
        assert_eq!(
            run(&mut ks, &["smembers", "s"]),
            Value::Set(bulks(&["-2", "1", "3", "10", "a", "0"])),
            "listpack appends"
        );
        let mut ks = KeyState::default();
        run(&mut ks, &["sadd", "t", "5", "x", "1"]);
        run(&mut ks, &["srem", "t", "x"]);
        assert_eq!(run(&mut ks, &["smembers", "t"]), Value::Set(bulks(&["5", "1"])));
        assert_eq!(run(&mut KeyState::default(), &["smembers", "missing"]), Value::Set(vec![]));
    }

    #[test]
    fn membership_and_cardinality() {
        let mut ks = KeyState::default();
        assert_eq!(
            run(&mut ks, &["smismember", "s", "a", "b"]),
            Value::Array(vec![Value::Int(0), Value::Int(0)])
        );
        run(&mut ks, &["sadd", "s", "a"]);
        assert_eq!(run(&mut ks, &["sismember", "s", "a"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["sismember", "s", "b"]), Value::Int(0));
        assert_eq!(
            run(&mut ks, &["smismember", "s", "a", "b"]),
            Value::Array(vec![Value::Int(1), Value::Int(0)])
        );
        assert_eq!(run(&mut ks, &["scard", "s"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["sismember", "s"]), Value::err(errors::arity("sismember")));
    }

    #[test]
    fn spop_removes_what_it_returns() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["spop", "s"]), Value::Nil);
        assert_eq!(run(&mut ks, &["spop", "s", "2"]), Value::Set(vec![]));
        assert_eq!(
            run(&mut ks, &["spop", "s", "-1"]),
            Value::err("ERR value is out of range, must be positive")
        );
        assert_eq!(
            run(&mut ks, &["spop", "s", "x"]),
            Value::err("ERR value is out of range, must be positive")
        );
        assert_eq!(run(&mut ks, &["spop", "s", "1", "2"]), Value::err(errors::SYNTAX));
        run(&mut ks, &["sadd", "s", "a", "b", "c", "d"]);
        ks.drain_entry_ops();
        let Value::Set(two) = run(&mut ks, &["spop", "s", "2"]) else { panic!() };
        assert_eq!(two.len(), 2);
        assert_eq!(run(&mut ks, &["scard", "s"]), Value::Int(2));
        let deleted: Vec<Value> = ks
            .drain_entry_ops()
            .into_iter()
            .map(|op| match op {
                WriteOp::Delete(m) => Value::Bulk(m),
                WriteOp::Put(..) | WriteOp::Add(..) => panic!("no puts"),
            })
            .collect();
        assert_eq!(deleted, two);
        assert!(matches!(run(&mut ks, &["spop", "s"]), Value::Bulk(_)));
        assert_eq!(run(&mut ks, &["spop", "s", "0"]), Value::Set(vec![]));
        let Value::Set(rest) = run(&mut ks, &["spop", "s", "5"]) else { panic!() };
        assert_eq!(rest.len(), 1);
        assert_eq!(ks.data, None, "SPOP took everything: the key is gone");
    }

    #[test]
    fn srandmember_counts() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["srandmember", "s"]), Value::Nil);
        assert_eq!(run(&mut ks, &["srandmember", "s", "3"]), Value::Array(vec![]));
        assert_eq!(run(&mut ks, &["srandmember", "s", "x"]), Value::err(errors::NOT_INTEGER));
        assert!(
            matches!(run(&mut ks, &["srandmember", "s", "-9223372036854775808"]), Value::Error(e) if e.contains("must between"))
        );
        run(&mut ks, &["sadd", "s", "1", "2", "3"]);
        ks.drain_entry_ops();
        assert_eq!(run(&mut ks, &["srandmember", "s", "3"]), Value::Array(bulks(&["1", "2", "3"])));
        let Value::Array(many) = run(&mut ks, &["srandmember", "s", "-7"]) else { panic!() };
        assert_eq!(many.len(), 7);
        let Value::Array(two) = run(&mut ks, &["srandmember", "s", "2"]) else { panic!() };
        assert!(two.len() == 2 && two[0] != two[1]);
        assert!(ks.drain_entry_ops().is_empty(), "SRANDMEMBER changes nothing");
    }

    #[test]
    fn sscan_filters_with_match() {
        let mut ks = KeyState::default();
        run(&mut ks, &["sadd", "s", "one", "two", "three"]);
        let reply = run(&mut ks, &["sscan", "s", "0", "match", "t*"]);
        assert_eq!(reply, Value::Array(vec![Value::Bulk(b("0")), Value::Array(bulks(&["two", "three"]))]));
        assert_eq!(run(&mut ks, &["sscan", "s", " 0"]), Value::err("ERR invalid cursor"));
    }

    #[test]
    fn wrong_type_errors() {
        let mut ks = KeyState::default();
        ks.replace(Data::Str(b("v")));
        for cmd in [
            &["sadd", "k", "m"][..],
            &["srem", "k", "m"],
            &["smembers", "k"],
            &["sismember", "k", "m"],
            &["spop", "k"],
            &["srandmember", "k", "1"],
            &["sscan", "k", "0"],
        ] {
            assert_eq!(run(&mut ks, cmd), Value::err(errors::WRONGTYPE), "{cmd:?}");
        }
    }

    #[test]
    fn entries_round_trip_through_load() {
        let mut ks = KeyState::default();
        let mut store = BTreeMap::new();
        run(&mut ks, &["sadd", "s", "b", "a", "7"]);
        assert_round_trip(&mut ks, &mut store);
        run(&mut ks, &["srem", "s", "a"]);
        assert_round_trip(&mut ks, &mut store);
        assert_eq!(store.len(), 2);
        let set = Set::from_members(vec![b("2"), b("1")]);
        assert_eq!(set.members().collect::<Vec<_>>(), vec![&b("1"), &b("2")]);
        assert_eq!(set.subkeys().count(), 2);
    }
}
