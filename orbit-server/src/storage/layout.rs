//! How actors are laid out inside a backend.
//!
//! Key: `partition (u16 BE) | kind length (u8) | kind | key length (u32 BE) | key`.
//! Sorting by partition first keeps a partition's data contiguous, so a
//! partition can be scanned, copied or moved on its own. The system
//! partition [`SYSTEM_PARTITION`] holds node metadata.
//!
//! Record: `format (u8 = 1) | version (u64 LE) | JSON state`, or, for a
//! state whose version (`Actor::STATE_VERSION`) is not 1,
//! `format (u8 = 2) | version (u64 LE) | state version (u32 LE) | JSON state`.
//! Format 1 means state version 1, so kinds that never raise their state
//! version store exactly the bytes they stored before format 2 existed. The
//! version grows by one with every write of the actor; it is what fencing
//! will check. The state version names the shape of the JSON (the
//! `STATE_VERSION` of the code that wrote it) and does not count writes.
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
/// `format | version | JSON`: a state of version `IMPLIED_STATE_VERSION`.
const FORMAT_JSON: u8 = 1;
/// `format | version | state version | JSON`.
const FORMAT_VERSIONED_JSON: u8 = 2;
const HEADER_LEN: usize = 9;
const VERSIONED_HEADER_LEN: usize = HEADER_LEN + 4;
/// The state version of a format-1 record.
const IMPLIED_STATE_VERSION: u32 = 1;

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

/// A stored actor state, its version and the version of its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Grows by one with every write of the actor.
    pub version: u64,
    /// The `Actor::STATE_VERSION` of the code that wrote `state`.
    pub state_version: u32,
    pub state: Bytes,
}

impl Record {
    /// Format 1 for state version 1, format 2 for any other.
    pub fn encode(&self) -> Bytes {
        let versioned = self.state_version != IMPLIED_STATE_VERSION;
        let header = if versioned { VERSIONED_HEADER_LEN } else { HEADER_LEN };
        let mut out = BytesMut::with_capacity(header + self.state.len());
        out.put_u8(if versioned { FORMAT_VERSIONED_JSON } else { FORMAT_JSON });
        out.put_u64_le(self.version);
        if versioned {
            out.put_u32_le(self.state_version);
        }
        out.put_slice(&self.state);
        out.freeze()
    }

    pub fn decode(key: &[u8], bytes: Bytes) -> Result<Record, StorageError> {
        let corrupt = |reason: &str| StorageError::Corrupt {
            key: key.escape_ascii().to_string(),
            reason: reason.to_string(),
        };
        let header = match bytes.first() {
            Some(&FORMAT_JSON) => HEADER_LEN,
            Some(&FORMAT_VERSIONED_JSON) => VERSIONED_HEADER_LEN,
            Some(_) => return Err(corrupt("unknown record format")),
            None => return Err(corrupt("empty record")),
        };
        if bytes.len() < header {
            return Err(corrupt("record shorter than its header"));
        }
        let mut version = [0u8; 8];
        version.copy_from_slice(&bytes[1..HEADER_LEN]);
        let state_version = if header == VERSIONED_HEADER_LEN {
            let mut state_version = [0u8; 4];
            state_version.copy_from_slice(&bytes[HEADER_LEN..VERSIONED_HEADER_LEN]);
            u32::from_le_bytes(state_version)
        } else {
            IMPLIED_STATE_VERSION
        };
        Ok(Record { version: u64::from_le_bytes(version), state_version, state: bytes.slice(header..) })
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
        let record = Record { version: 42, state_version: 1, state: Bytes::from_static(b"{\"value\":1}") };
        assert_eq!(Record::decode(b"k", record.encode()).unwrap(), record);
        assert!(Record::decode(b"k", Bytes::from_static(b"\x01abc")).is_err());
        assert!(Record::decode(b"k", Bytes::from_static(b"\x09123456789")).is_err());
        assert!(Record::decode(b"k", Bytes::new()).is_err());
    }

    #[test]
    fn state_version_1_keeps_format_1_and_others_use_format_2() {
        let v1 = Record { version: 7, state_version: 1, state: Bytes::from_static(b"{}") };
        // Byte-identical to the records written before format 2 existed.
        assert_eq!(&v1.encode()[..], b"\x01\x07\0\0\0\0\0\0\0{}");
        let v3 = Record { version: 7, state_version: 3, state: Bytes::from_static(b"{}") };
        assert_eq!(&v3.encode()[..], b"\x02\x07\0\0\0\0\0\0\0\x03\0\0\0{}");
        assert_eq!(Record::decode(b"k", v3.encode()).unwrap(), v3);
        // A format-2 record too short for its state version is corrupt, not
        // a format-1 record.
        assert!(Record::decode(b"k", Bytes::from_static(b"\x02\x07\0\0\0\0\0\0\0\x03")).is_err());
    }
}
