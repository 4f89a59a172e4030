//! Redis lists: [`List`], how it maps onto storage entries, and the L*/R*
//! command dispatch (the commands live in the submodules).
//!
//! Element `i` is stored at position `head + i` (sub-key
//! [`list_position`]), so a push or pop at either end touches one entry and
//! the head moves instead of the elements. Blocking pops, LMOVE, RPOPLPUSH
//! and LMPOP are built by the front door on top of LPUSH/RPUSH/LPOP/RPOP.

mod edit;
mod push_pop;
mod query;

use super::{Data, KeyState, WriteOp, list_position, parse_list_position};
use crate::keyspace::value::{Value, errors};
use bytes::Bytes;
use std::collections::VecDeque;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct List {
    /// Storage position of `items[0]`.
    head: i64,
    items: VecDeque<Bytes>,
}

impl List {
    /// Rebuilds a list from its stored entries: (position sub-key, element),
    /// which must be the contiguous positions `head, head + 1, ...`.
    pub fn load(head: i64, entries: Vec<(Bytes, Bytes)>) -> Result<Self, String> {
        let mut positioned = Vec::with_capacity(entries.len());
        for (sub, element) in entries {
            let pos =
                parse_list_position(&sub).ok_or_else(|| format!("bad list position sub-key {sub:?}"))?;
            positioned.push((pos, element));
        }
        positioned.sort_by_key(|(pos, _)| *pos);
        let mut expected = Some(head);
        let mut items = VecDeque::with_capacity(positioned.len());
        for (pos, element) in positioned {
            if expected != Some(pos) {
                return Err(format!("list element at position {pos}, expected {expected:?} (head {head})"));
            }
            expected = pos.checked_add(1);
            items.push_back(element);
        }
        Ok(List { head, items })
    }

    /// A list of these elements, first at position 0 (RESTORE, *STORE).
    pub fn from_elements(elements: Vec<Bytes>) -> List {
        List { head: 0, items: elements.into() }
    }

    pub fn elements(&self) -> impl Iterator<Item = &Bytes> {
        self.items.iter()
    }

    pub fn head(&self) -> i64 {
        self.head
    }

    pub fn subkeys(&self) -> impl Iterator<Item = Bytes> + '_ {
        (0..self.items.len()).map(|i| list_position(self.position(i)))
    }

    pub fn entries(&self) -> impl Iterator<Item = WriteOp> + '_ {
        self.items
            .iter()
            .enumerate()
            .map(|(i, item)| WriteOp::Put(list_position(self.position(i)), item.clone()))
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn get(&self, index: usize) -> Option<&Bytes> {
        self.items.get(index)
    }

    /// Storage position of element `index`. Wrapping only matters past
    /// 2^63 pushes, which `make_room` prevents anyway.
    fn position(&self, index: usize) -> i64 {
        self.head.wrapping_add(index as i64)
    }

    fn put(&self, index: usize, ops: &mut Vec<WriteOp>) {
        if let Some(item) = self.items.get(index) {
            ops.push(WriteOp::Put(list_position(self.position(index)), item.clone()));
        }
    }

    /// Renumbers from a centred head when a push would run out of i64
    /// positions (only reachable from an odd stored head).
    fn make_room(&mut self, ops: &mut Vec<WriteOp>) {
        let len = self.items.len() as i64;
        if self.head > i64::MIN && self.head.checked_add(len).is_some_and(|end| end < i64::MAX) {
            return;
        }
        ops.extend(self.subkeys().map(WriteOp::Delete));
        self.head = -(len / 2);
        ops.extend(self.entries());
    }

    pub(crate) fn push_front(&mut self, item: Bytes, ops: &mut Vec<WriteOp>) {
        self.make_room(ops);
        self.head -= 1;
        self.items.push_front(item);
        self.put(0, ops);
    }

    pub(crate) fn push_back(&mut self, item: Bytes, ops: &mut Vec<WriteOp>) {
        self.make_room(ops);
        self.items.push_back(item);
        self.put(self.items.len() - 1, ops);
    }

    pub(crate) fn pop_front(&mut self, ops: &mut Vec<WriteOp>) -> Option<Bytes> {
        let item = self.items.pop_front()?;
        ops.push(WriteOp::Delete(list_position(self.head)));
        self.head = self.head.wrapping_add(1);
        Some(item)
    }

    pub(crate) fn pop_back(&mut self, ops: &mut Vec<WriteOp>) -> Option<Bytes> {
        let item = self.items.pop_back()?;
        ops.push(WriteOp::Delete(list_position(self.position(self.items.len()))));
        Some(item)
    }

    /// Replaces element `index`; false if there is none.
    fn set(&mut self, index: usize, item: Bytes, ops: &mut Vec<WriteOp>) -> bool {
        let Some(slot) = self.items.get_mut(index) else { return false };
        *slot = item;
        self.put(index, ops);
        true
    }

    /// Inserts before element `index`, shifting whichever side is shorter.
    fn insert(&mut self, index: usize, item: Bytes, ops: &mut Vec<WriteOp>) {
        self.make_room(ops);
        self.items.insert(index, item);
        if index < self.items.len() / 2 {
            // The elements before the new one move down one position.
            self.head -= 1;
            (0..=index).for_each(|i| self.put(i, ops));
        } else {
            (index..self.items.len()).for_each(|i| self.put(i, ops));
        }
    }

    /// Keeps only the elements for which `keep` is true, rewriting the
    /// positions after the first removed one. Returns how many went.
    fn retain_from(&mut self, mut keep: impl FnMut(usize, &Bytes) -> bool, ops: &mut Vec<WriteOp>) -> usize {
        let old_len = self.items.len();
        let mut index = 0;
        let mut first_removed = None;
        self.items.retain(|item| {
            let kept = keep(index, item);
            if !kept && first_removed.is_none() {
                first_removed = Some(index);
            }
            index += 1;
            kept
        });
        let Some(from) = first_removed else { return 0 };
        (from..self.items.len()).for_each(|i| self.put(i, ops));
        ops.extend((self.items.len()..old_len).map(|i| WriteOp::Delete(list_position(self.position(i)))));
        old_len - self.items.len()
    }
}

/// Redis' inclusive index range (LRANGE, LTRIM, ZRANGE...): negative
/// indexes count from the end; `None` when the range is empty.
pub(super) fn index_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { start.saturating_add(len).max(0) } else { start };
    let end = if end < 0 { end.saturating_add(len) } else { end };
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

/// The list at this key for writing, with the pending entry ops beside it
/// (two disjoint borrows); `Ok(None)` if the key does not exist.
fn list_mut(ks: &mut KeyState, now_ms: u64) -> Result<Option<(&mut List, &mut Vec<WriteOp>)>, Value> {
    ks.live(now_ms);
    match &mut ks.data {
        None => Ok(None),
        Some(Data::List(list)) => Ok(Some((list, &mut ks.pending))),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

/// The list at this key for reading; `Ok(None)` if the key does not exist.
fn list_ref(ks: &mut KeyState, now_ms: u64) -> Result<Option<&List>, Value> {
    match ks.live(now_ms) {
        None => Ok(None),
        Some(Data::List(list)) => Ok(Some(list)),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

/// Runs `name` if it is a list command. `args` follow the key.
pub(super) fn exec(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Option<Value> {
    use push_pop::End::{Back, Front};
    let reply = match name {
        "lpush" => push_pop::push(ks, name, args, now_ms, Front, false),
        "rpush" => push_pop::push(ks, name, args, now_ms, Back, false),
        "lpushx" => push_pop::push(ks, name, args, now_ms, Front, true),
        "rpushx" => push_pop::push(ks, name, args, now_ms, Back, true),
        "lpop" => push_pop::pop(ks, name, args, now_ms, Front),
        "rpop" => push_pop::pop(ks, name, args, now_ms, Back),
        "llen" => query::llen(ks, name, args, now_ms),
        "lrange" => query::lrange(ks, name, args, now_ms),
        "lindex" => query::lindex(ks, name, args, now_ms),
        "lpos" => query::lpos(ks, name, args, now_ms),
        "lset" => edit::lset(ks, name, args, now_ms),
        "linsert" => edit::linsert(ks, name, args, now_ms),
        "lrem" => edit::lrem(ks, name, args, now_ms),
        "ltrim" => edit::ltrim(ks, name, args, now_ms),
        _ => return None,
    };
    Some(reply.unwrap_or_else(|e| e))
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::super::{KeyState, WriteOp};
    use crate::keyspace::value::Value;
    use bytes::Bytes;
    use std::collections::BTreeMap;

    pub const NOW: u64 = 1_700_000_000_000;

    pub fn run(ks: &mut KeyState, argv: &[&str]) -> Value {
        let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        ks.exec(&argv, NOW)
    }

    pub fn bulk(s: &str) -> Value {
        Value::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    pub fn bulks(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|s| bulk(s)).collect())
    }

    pub fn err(text: &str) -> Value {
        Value::Error(text.into())
    }

    /// Applies the pending ops to a storage image.
    pub fn apply(store: &mut BTreeMap<Bytes, Bytes>, ks: &mut KeyState) {
        for op in ks.drain_entry_ops() {
            match op {
                WriteOp::Put(k, v) => store.insert(k, v),
                WriteOp::Delete(k) => store.remove(&k),
                WriteOp::Add(..) => unreachable!("the keyspace adds to no counter"),
            };
        }
    }

    /// Runs random commands (names from `commands`, arguments from
    /// `vocabulary`) and checks after each one that nothing panicked and
    /// that storage, reloaded, equals the in-memory state.
    pub fn fuzz(commands: &[&str], vocabulary: &[&str], rounds: usize) {
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut ks = KeyState::default();
        let mut store = BTreeMap::new();
        for _ in 0..rounds {
            let mut argv = vec![commands[next(commands.len())], "k"];
            let extra = next(6);
            argv.extend((0..extra).map(|_| vocabulary[next(vocabulary.len())]));
            run(&mut ks, &argv);
            apply(&mut store, &mut ks);
            assert_eq!(reload(&ks, &store).data, ks.data, "after {argv:?}");
        }
    }

    /// Reloads a key from its record and a storage image.
    pub fn reload(ks: &KeyState, store: &BTreeMap<Bytes, Bytes>) -> KeyState {
        let mut loaded = KeyState::from_meta(ks.meta());
        let entries = store.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        loaded.load_entries(entries).expect("entries load");
        loaded
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn load_rejects_gaps_and_bad_subkeys() {
        let e = |p: i64| (list_position(p), Bytes::from_static(b"x"));
        assert!(List::load(0, vec![e(0), e(2)]).is_err());
        assert!(List::load(1, vec![e(0)]).is_err());
        assert!(List::load(0, vec![(Bytes::from_static(b"short"), Bytes::new())]).is_err());
        assert_eq!(List::load(-1, vec![e(0), e(-1)]).map(|l| l.len()), Ok(2));
    }

    #[test]
    fn index_range_follows_redis() {
        assert_eq!(index_range(0, -1, 3), Some((0, 2)));
        assert_eq!(index_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(index_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(index_range(2, 1, 3), None);
        assert_eq!(index_range(3, 5, 3), None);
        assert_eq!(index_range(0, -4, 3), None);
        assert_eq!(index_range(0, 0, 0), None);
    }

    #[test]
    fn every_edit_survives_a_reload() {
        let mut ks = KeyState::default();
        let mut store = BTreeMap::new();
        let script: &[&[&str]] = &[
            &["rpush", "l", "c", "d", "e", "f", "g"],
            &["lpush", "l", "b", "a"],
            &["linsert", "l", "before", "b", "x"],
            &["linsert", "l", "after", "f", "y"],
            &["lset", "l", "-1", "G"],
            &["lrem", "l", "0", "d"],
            &["ltrim", "l", "1", "-2"],
            &["lpop", "l"],
            &["rpop", "l", "2"],
        ];
        for argv in script {
            assert!(!run(&mut ks, argv).is_error(), "{argv:?}");
            apply(&mut store, &mut ks);
            let loaded = reload(&ks, &store);
            assert_eq!(loaded.data, ks.data, "after {argv:?}");
        }
        assert_eq!(run(&mut ks, &["lrange", "l", "0", "-1"]), bulks(&["b", "c", "e"]));
    }

    #[test]
    fn exhausted_head_is_renumbered() {
        let mut list =
            List::load(i64::MIN, vec![(list_position(i64::MIN), Bytes::from_static(b"a"))]).unwrap();
        let mut ops = Vec::new();
        list.push_front(Bytes::from_static(b"z"), &mut ops);
        assert_eq!(
            list.elements().cloned().collect::<Vec<_>>(),
            vec![Bytes::from_static(b"z"), Bytes::from_static(b"a")]
        );
        let mut store = BTreeMap::new();
        store.insert(list_position(i64::MIN), Bytes::from_static(b"a"));
        for op in ops {
            match op {
                WriteOp::Put(k, v) => store.insert(k, v),
                WriteOp::Delete(k) => store.remove(&k),
                WriteOp::Add(..) => unreachable!("the keyspace adds to no counter"),
            };
        }
        let entries = store.into_iter().collect();
        assert_eq!(List::load(list.head(), entries), Ok(list));
    }

    #[test]
    fn random_commands_never_panic_and_storage_follows() {
        let commands = [
            "lpush", "rpush", "lpushx", "rpushx", "lpop", "rpop", "llen", "lrange", "lindex", "lpos", "lset",
            "linsert", "lrem", "ltrim",
        ];
        let vocabulary = [
            "a",
            "b",
            "c",
            "0",
            "1",
            "2",
            "-1",
            "-2",
            "5",
            "-100",
            "9223372036854775807",
            "-9223372036854775808",
            "x",
            "",
            "before",
            "after",
            "rank",
            "count",
            "maxlen",
        ];
        fuzz(&commands, &vocabulary, 20_000);
    }

    #[test]
    fn other_families_are_not_ours() {
        let mut ks = KeyState::default();
        assert_eq!(exec(&mut ks, "get", &[], 0), None);
    }
}
