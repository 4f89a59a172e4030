//! How actors are laid out inside a backend.
//!
//! Key: `partition (u16 BE) | kind length (u8) | kind | key length (u32 BE) | key`.
//! Sorting by partition first keeps a partition's data contiguous, so a
//! partition can be scanned, copied or moved on its own. The system
//! partition [`SYSTEM_PARTITION`] holds node metadata.
//!
//! Record: `format (u8 = 1) | version (u64 LE) | JSON state`. The version
//! grows by one with every write of the actor; it is what fencing will check.
//!
//! Entries of an actor (parts of a large state, see `Actor::ENTRIES`):
//! `actor key | '/' | sub-key`. They sort right after their record, and no
//! other actor's key starts with an actor key (the key length is part of it),
//! so `actor key | '/'` is the prefix of exactly that actor's entries.
//!
//! Counts: `partition | 0 | u32::MAX | kind` holds how many records of
//! `kind` the partition stores (an 8-byte counter, see `WriteOp::Add`). No
//! kind is empty and no actor key is `u32::MAX` bytes long, so a count
//! never reads as a record and no kind's scan reaches one.

use super::StorageError;
use bytes::{BufMut, Bytes, BytesMut};
use orbit_shared::ActorId;

pub const SYSTEM_PARTITION: u16 = u16::MAX;
const FORMAT_JSON: u8 = 1;
const HEADER_LEN: usize = 9;

pub fn actor_key(partition: u16, id: &ActorId) -> Bytes {
    let mut key = BytesMut::with_capacity(2 + 1 + id.kind.len() + 4 + id.key.len());
    key.put_u16(partition);
    // ActorId::validate caps kinds at 64 bytes and keys at 32 KiB.
    key.put_u8(id.kind.len() as u8);
    key.put_slice(id.kind.as_bytes());
    key.put_u32(id.key.len() as u32);
    key.put_slice(&id.key);
    key.freeze()
}

const ENTRY_SEPARATOR: u8 = b'/';

/// The prefix of every entry of the actor stored at `actor_key`.
pub fn entry_prefix(actor_key: &[u8]) -> Bytes {
    let mut prefix = BytesMut::with_capacity(actor_key.len() + 1);
    prefix.put_slice(actor_key);
    prefix.put_u8(ENTRY_SEPARATOR);
    prefix.freeze()
}

pub fn entry_key(actor_key: &[u8], sub: &[u8]) -> Bytes {
    let mut key = BytesMut::with_capacity(actor_key.len() + 1 + sub.len());
    key.put_slice(actor_key);
    key.put_u8(ENTRY_SEPARATOR);
    key.put_slice(sub);
    key.freeze()
}

/// A key that sorts after every entry of `actor_key` and before the next
/// actor (no stored key lies strictly between the two).
pub fn after_entries(actor_key: &[u8]) -> Bytes {
    let mut key = BytesMut::with_capacity(actor_key.len() + 1);
    key.put_slice(actor_key);
    key.put_u8(ENTRY_SEPARATOR + 1);
    key.freeze()
}

/// The actor key of a stored record, `None` for an entry or a system key.
/// Returns the actor's key bytes (without partition and kind).
pub fn record_actor_key(stored: &[u8]) -> Option<&[u8]> {
    let kind_len = usize::from(*stored.get(2)?);
    let len_at = 3 + kind_len;
    let len: [u8; 4] = stored.get(len_at..len_at + 4)?.try_into().ok()?;
    let key = &stored[len_at + 4..];
    (key.len() == u32::from_be_bytes(len) as usize).then_some(key)
}

/// The scan prefix of every actor of `kind` in `partition`.
pub fn kind_prefix(partition: u16, kind: &str) -> Bytes {
    let mut prefix = BytesMut::with_capacity(3 + kind.len());
    prefix.put_u16(partition);
    prefix.put_u8(kind.len() as u8);
    prefix.put_slice(kind.as_bytes());
    prefix.freeze()
}

/// The key of the partition's count of `kind`'s records.
pub fn count_key(partition: u16, kind: &str) -> Bytes {
    let mut key = BytesMut::with_capacity(7 + kind.len());
    key.put_u16(partition);
    key.put_u8(0);
    key.put_u32(u32::MAX);
    key.put_slice(kind.as_bytes());
    key.freeze()
}

/// The prefix of every count key of `partition`.
pub fn count_prefix(partition: u16) -> Bytes {
    count_key(partition, "")
}

/// The kind of a stored record (`None` for an entry, a count or a system
/// key).
pub fn record_kind(stored: &[u8]) -> Option<&str> {
    record_actor_key(stored)?;
    let kind_len = usize::from(*stored.get(2)?);
    std::str::from_utf8(stored.get(3..3 + kind_len)?).ok()
}

/// The partition a stored key belongs to.
pub fn partition_of_key(stored: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(stored.get(..2)?.try_into().ok()?))
}

pub fn system_key(name: &str) -> Bytes {
    let mut key = BytesMut::with_capacity(2 + name.len());
    key.put_u16(SYSTEM_PARTITION);
    key.put_slice(name.as_bytes());
    key.freeze()
}

/// A stored actor state and its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub version: u64,
    pub state: Bytes,
}

impl Record {
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(HEADER_LEN + self.state.len());
        out.put_u8(FORMAT_JSON);
        out.put_u64_le(self.version);
        out.put_slice(&self.state);
        out.freeze()
    }

    pub fn decode(key: &[u8], bytes: Bytes) -> Result<Record, StorageError> {
        let corrupt = |reason: &str| StorageError::Corrupt {
            key: key.escape_ascii().to_string(),
            reason: reason.to_string(),
        };
        if bytes.len() < HEADER_LEN {
            return Err(corrupt("record shorter than its header"));
        }
        if bytes[0] != FORMAT_JSON {
            return Err(corrupt("unknown record format"));
        }
        let mut version = [0u8; 8];
        version.copy_from_slice(&bytes[1..HEADER_LEN]);
        Ok(Record { version: u64::from_le_bytes(version), state: bytes.slice(HEADER_LEN..) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_neither_a_record_nor_under_a_kind() {
        let count = count_key(3, "redis");
        assert_eq!(record_actor_key(&count), None);
        assert_eq!(record_kind(&count), None);
        assert!(!count.starts_with(&kind_prefix(3, "redis")));
        assert!(count.starts_with(&count_prefix(3)));
        let record = actor_key(3, &ActorId::new("redis", "k"));
        assert_eq!(record_kind(&record), Some("redis"));
        assert_eq!(record_kind(&entry_key(&record, b"f")), None);
    }

    #[test]
    fn keys_sort_by_partition_then_kind_then_key() {
        let a = actor_key(1, &ActorId::new("b", "z"));
        let b = actor_key(2, &ActorId::new("a", "a"));
        assert!(a < b);
        let c = actor_key(2, &ActorId::new("a", "b"));
        assert!(b < c);
        assert!(c < system_key("meta"));
    }

    #[test]
    fn entries_sort_between_their_record_and_the_next_actor() {
        let a = actor_key(1, &ActorId::new("redis", "a"));
        let b = actor_key(1, &ActorId::new("redis", "b"));
        let e = entry_key(&a, b"\xff\xff");
        assert!(a < e && e < after_entries(&a) && after_entries(&a) < b);
        assert!(e.starts_with(&entry_prefix(&a)));
        assert_eq!(record_actor_key(&a), Some(&b"a"[..]));
        assert_eq!(record_actor_key(&e), None);
        assert_eq!(record_actor_key(&entry_key(&a, b"")), None);
        assert!(a.starts_with(&kind_prefix(1, "redis")));
        assert_eq!(partition_of_key(&b), Some(1));
    }

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let record = Record { version: 42, state: Bytes::from_static(b"{\"value\":1}") };
        assert_eq!(Record::decode(b"k", record.encode()).unwrap(), record);
        assert!(Record::decode(b"k", Bytes::from_static(b"\x01abc")).is_err());
        assert!(Record::decode(b"k", Bytes::from_static(b"\x09123456789")).is_err());
    }
}
