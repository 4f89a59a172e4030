//! Redis streams: [`Stream`], its consumer groups, and the X* command
//! dispatch (the commands live in the submodules).
//!
//! | file | contents |
//! |---|---|
//! | `id.rs` | [`StreamId`]: parsing (`*`, `-`, `+`, `(`, `<ms>-*`) and formatting |
//! | `entries.rs` | XADD, XLEN, XRANGE/XREVRANGE, XDEL, XTRIM, XSETID, the per-key half of XREAD |
//! | `groups.rs` | XGROUP, the per-key half of XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM |
//! | `info.rs` | XINFO STREAM [FULL], GROUPS, CONSUMERS |
//! | `storage.rs` | the sub-key layout and the reload |
//!
//! In memory a stream keeps everything loaded: entries in a map by ID,
//! groups by name, each with its consumers and its pending entries list
//! (PEL) by ID. A consumer's own PEL is the group PEL's entries naming it.
//! Every change queues the write of exactly the sub-keys it touched (see
//! `storage.rs`). Unlike the other types, a stream that becomes empty is
//! kept (as Redis keeps it, with its last ID and groups).
//!
//! Approximate trimming (`~`) removes whole blocks of
//! [`NODE_ENTRIES`] entries from the head, as Redis removes whole
//! macro-nodes when each holds its default 100 entries.

mod entries;
mod groups;
pub mod id;
mod info;
mod storage;

use super::{Data, KeyState, WriteOp};
use crate::keyspace::value::{Value, errors};
use bytes::Bytes;
use id::StreamId;
use std::collections::BTreeMap;

pub use groups::nogroup_read;
pub use storage::load;

/// Entries per Redis macro-node (`stream-node-max-entries`), the unit of
/// approximate trimming.
pub const NODE_ENTRIES: usize = 100;

/// A consumer group's read counter when it is not known.
const UNKNOWN_READS: i64 = -1;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    /// Field, value, field, value... per entry.
    entries: BTreeMap<StreamId, Vec<Bytes>>,
    last_id: StreamId,
    entries_added: u64,
    max_deleted: StreamId,
    groups: BTreeMap<Bytes, Group>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Group {
    last_id: StreamId,
    /// Entries the group has read (Redis' logical counter), or -1.
    entries_read: i64,
    pel: BTreeMap<StreamId, Nack>,
    consumers: BTreeMap<Bytes, Consumer>,
}

/// A delivered, not yet acknowledged entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Nack {
    consumer: Bytes,
    delivered_ms: u64,
    count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    /// Last attempted interaction (Unix ms).
    seen_ms: u64,
    /// Last successful interaction, if any.
    active_ms: Option<u64>,
}

impl Consumer {
    fn new(now_ms: u64) -> Consumer {
        Consumer { seen_ms: now_ms, active_ms: None }
    }
}

impl Stream {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first entry's ID, 0-0 when empty (`recorded-first-entry-id`).
    fn first_id(&self) -> StreamId {
        self.entries.keys().next().copied().unwrap_or_default()
    }

    /// The entries from `start` to `end` inclusive, in order.
    fn range(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl DoubleEndedIterator<Item = (&StreamId, &Vec<Bytes>)> {
        // BTreeMap::range panics on an inverted range: make it empty.
        let valid = start <= end;
        self.entries.range(start..=end.max(start)).filter(move |_| valid)
    }

    fn put_meta(&self, ops: &mut Vec<WriteOp>) {
        ops.push(WriteOp::Put(storage::meta_key(), storage::encode_meta(self)));
    }

    fn put_group(name: &Bytes, group: &Group, ops: &mut Vec<WriteOp>) {
        ops.push(WriteOp::Put(storage::group_key(name), storage::encode_group(group)));
    }

    fn put_consumer(group: &[u8], name: &[u8], consumer: &Consumer, ops: &mut Vec<WriteOp>) {
        ops.push(WriteOp::Put(storage::consumer_key(group, name), storage::encode_consumer(consumer)));
    }

    fn put_nack(group: &[u8], id: StreamId, nack: &Nack, ops: &mut Vec<WriteOp>) {
        ops.push(WriteOp::Put(storage::nack_key(group, id), storage::encode_nack(nack)));
    }

    fn delete_nack(group: &[u8], id: StreamId, ops: &mut Vec<WriteOp>) {
        ops.push(WriteOp::Delete(storage::nack_key(group, id)));
    }

    /// Removes an entry; the caller updates the metadata.
    fn remove_entry(&mut self, id: StreamId, ops: &mut Vec<WriteOp>) -> bool {
        let removed = self.entries.remove(&id).is_some();
        if removed {
            ops.push(WriteOp::Delete(storage::entry_key(id)));
        }
        removed
    }

    /// Whether an XDEL tombstone may lie in `start..` (Redis'
    /// `streamRangeHasTombstones` with an open end).
    fn has_tombstones_from(&self, start: StreamId) -> bool {
        // A tombstone before the first entry lies in no range.
        !self.is_empty()
            && !self.max_deleted.is_zero()
            && self.first_id() <= self.max_deleted
            && start <= self.max_deleted
    }

    /// How many entries were added up to `id`, when that can be known
    /// (Redis' `streamEstimateDistanceFromFirstEverEntry`); -1 otherwise.
    fn reads_up_to(&self, id: StreamId) -> i64 {
        let added = self.entries_added as i64;
        if self.entries_added == 0 {
            return 0;
        }
        if self.is_empty() && id <= self.last_id {
            return added;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return added,
            std::cmp::Ordering::Greater => return UNKNOWN_READS,
            std::cmp::Ordering::Less => {}
        }
        let first = self.first_id();
        if self.max_deleted.is_zero() || self.max_deleted < first {
            match id.cmp(&first) {
                std::cmp::Ordering::Less => return added.wrapping_sub(self.len() as i64),
                std::cmp::Ordering::Equal => return added.wrapping_sub(self.len() as i64).wrapping_add(1),
                std::cmp::Ordering::Greater => {}
            }
        }
        UNKNOWN_READS
    }

    /// A group's lag (entries not yet delivered to it), when known.
    fn lag(&self, group: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if group.entries_read != UNKNOWN_READS && !self.has_tombstones_from(group.last_id) {
            return Some((self.entries_added as i64).wrapping_sub(group.entries_read));
        }
        let read = self.reads_up_to(group.last_id);
        (read != UNKNOWN_READS).then(|| (self.entries_added as i64).wrapping_sub(read))
    }
}

/// One entry as replies show it: `[id, [field, value, ...]]`.
fn entry_reply(id: StreamId, fields: &[Bytes]) -> Value {
    Value::Array(vec![id.reply(), Value::Array(fields.iter().cloned().map(Value::Bulk).collect())])
}

/// The stream at this key for writing, with the pending ops beside it;
/// `Ok(None)` if the key does not exist.
fn stream_mut(ks: &mut KeyState, now_ms: u64) -> Result<Option<(&mut Stream, &mut Vec<WriteOp>)>, Value> {
    ks.live(now_ms);
    match &mut ks.data {
        None => Ok(None),
        Some(Data::Stream(stream)) => Ok(Some((stream, &mut ks.pending))),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

/// The stream at this key for reading; `Ok(None)` if it does not exist.
fn stream_ref(ks: &mut KeyState, now_ms: u64) -> Result<Option<&Stream>, Value> {
    match ks.live(now_ms) {
        None => Ok(None),
        Some(Data::Stream(stream)) => Ok(Some(stream)),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

/// Creates an empty stream at a missing key (XADD, XGROUP ... MKSTREAM).
fn create(ks: &mut KeyState) {
    let stream = Stream::default();
    stream.put_meta(&mut ks.pending);
    ks.data = Some(Data::Stream(stream));
}

/// Parses a count the way Redis' `getLongLongFromObjectOrReply` does.
fn parse_count(arg: &[u8]) -> Result<i64, Value> {
    crate::keyspace::parse_i64(arg)
}

/// Runs `name` if it is a stream command. `args` follow the key.
pub(super) fn exec(ks: &mut KeyState, name: &str, key: &[u8], args: &[Bytes], now_ms: u64) -> Option<Value> {
    let reply = match name {
        "xadd" => entries::xadd(ks, args, now_ms),
        "xlen" => entries::xlen(ks, now_ms),
        "xrange" => entries::xrange(ks, args, now_ms, false),
        "xrevrange" => entries::xrange(ks, args, now_ms, true),
        "xdel" => entries::xdel(ks, args, now_ms),
        "xtrim" => entries::xtrim(ks, args, now_ms),
        "xsetid" => entries::xsetid(ks, args, now_ms),
        "orbit.xread" => entries::read_after(ks, args, now_ms),
        "orbit.xlast" => entries::last_id(ks, now_ms),
        "xgroup" => groups::xgroup(ks, key, args, now_ms),
        "orbit.xhasgroup" => groups::has_group(ks, args, now_ms),
        "orbit.xreadgroup" => groups::read_group(ks, key, args, now_ms),
        "xack" => groups::xack(ks, args, now_ms),
        "xpending" => groups::xpending(ks, key, args, now_ms),
        "xclaim" => groups::xclaim(ks, key, args, now_ms),
        "xautoclaim" => groups::xautoclaim(ks, key, args, now_ms),
        "xinfo" => info::xinfo(ks, key, args, now_ms),
        _ => return None,
    };
    Some(reply.unwrap_or_else(|e| e))
}

#[cfg(test)]
mod tests {
    use super::super::lists::test_support::*;
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_edit_survives_a_reload() {
        let mut ks = KeyState::default();
        let mut store = BTreeMap::new();
        let script: &[&[&str]] = &[
            &["xadd", "s", "1-1", "a", "1"],
            &["xadd", "s", "2-1", "b", "2", "c", "3"],
            &["xadd", "s", "3-1", "d", "4"],
            &["xgroup", "s", "create", "g", "0"],
            &["orbit.xreadgroup", "s", "g", "alice", "2", "0", ">"],
            &["xgroup", "s", "createconsumer", "g", "bob"],
            &["xclaim", "s", "g", "bob", "0", "2-1"],
            &["xack", "s", "g", "1-1"],
            &["xdel", "s", "3-1"],
            &["xtrim", "s", "maxlen", "1"],
            &["xsetid", "s", "9-9", "entriesadded", "20", "maxdeletedid", "5-0"],
            &["xgroup", "s", "delconsumer", "g", "alice"],
            &["xgroup", "s", "create", "h", "$"],
            &["xgroup", "s", "destroy", "g"],
        ];
        for argv in script {
            assert!(!run(&mut ks, argv).is_error(), "{argv:?}");
            apply(&mut store, &mut ks);
            assert_eq!(reload(&ks, &store).data, ks.data, "after {argv:?}");
        }
        assert_eq!(run(&mut ks, &["xlen", "s"]), Value::Int(1));
    }

    #[test]
    fn an_emptied_stream_is_kept() {
        let mut ks = KeyState::default();
        run(&mut ks, &["xadd", "s", "1-1", "a", "1"]);
        assert_eq!(run(&mut ks, &["xdel", "s", "1-1"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["type", "s"]), Value::Simple("stream".into()));
        assert_eq!(run(&mut ks, &["xlen", "s"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["xadd", "s", "1-1", "a", "1"]), err(entries::NOT_GREATER));
    }

    #[test]
    fn a_dumped_stream_restores_with_its_groups() {
        let mut ks = KeyState::default();
        run(&mut ks, &["xadd", "s", "1-1", "a", "1"]);
        run(&mut ks, &["xgroup", "s", "create", "g", "0"]);
        run(&mut ks, &["orbit.xreadgroup", "s", "g", "c", "0", "0", ">"]);
        let data = ks.data.clone().unwrap();
        let dumped = crate::keyspace::Dumped { data, expire_at: Some(7) };
        assert_eq!(crate::keyspace::Dumped::decode(&dumped.encode()), Some(dumped));
    }

    #[test]
    fn load_rejects_garbage_and_orphans() {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        assert!(load(vec![(b("m"), b("short"))]).is_err());
        assert!(load(vec![(b("x"), b(""))]).is_err());
        let orphan = storage::nack_key(b"g", StreamId::new(1, 1));
        assert!(load(vec![(orphan, Bytes::from(vec![0u8; 16]))]).is_err());
    }

    #[test]
    fn random_commands_never_panic_and_storage_follows() {
        let commands = [
            "xadd",
            "xlen",
            "xrange",
            "xrevrange",
            "xdel",
            "xtrim",
            "xsetid",
            "xgroup",
            "orbit.xreadgroup",
            "orbit.xread",
            "xack",
            "xpending",
            "xclaim",
            "xautoclaim",
            "xinfo",
        ];
        let vocabulary = [
            "*",
            "1-1",
            "2",
            "3-*",
            "0-0",
            "-",
            "+",
            "(1",
            "(2-0",
            "$",
            ">",
            "a",
            "b",
            "g",
            "c",
            "create",
            "destroy",
            "setid",
            "createconsumer",
            "delconsumer",
            "mkstream",
            "entriesread",
            "maxlen",
            "minid",
            "~",
            "=",
            "limit",
            "count",
            "idle",
            "justid",
            "force",
            "retrycount",
            "lastid",
            "time",
            "nomkstream",
            "stream",
            "groups",
            "consumers",
            "full",
            "0",
            "1",
            "-1",
            "5",
            "9223372036854775807",
            "18446744073709551615-18446744073709551615",
        ];
        fuzz(&commands, &vocabulary, 20_000);
    }

    #[test]
    fn other_families_are_not_ours() {
        assert_eq!(exec(&mut KeyState::default(), "lpush", b"k", &[], 0), None);
    }
}
