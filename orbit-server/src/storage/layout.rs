//! How actors are laid out inside a backend.
//!
//! Key: `partition (u16 BE) | kind length (u8) | kind | key length (u32 BE) | key`.
//! Sorting by partition first keeps a partition's data contiguous, so a
//! partition can be scanned, copied or moved on its own. The system
//! partition [`SYSTEM_PARTITION`] holds node metadata.
//!
//! Record: `format (u8 = 1) | version (u64 LE) | JSON state`. The version
//! grows by one with every write of the actor; it is what fencing will check.

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
    fn keys_sort_by_partition_then_kind_then_key() {
        let a = actor_key(1, &ActorId::new("b", "z"));
        let b = actor_key(2, &ActorId::new("a", "a"));
        assert!(a < b);
        let c = actor_key(2, &ActorId::new("a", "b"));
        assert!(b < c);
        assert!(c < system_key("meta"));
    }

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let record = Record { version: 42, state: Bytes::from_static(b"{\"value\":1}") };
        assert_eq!(Record::decode(b"k", record.encode()).unwrap(), record);
        assert!(Record::decode(b"k", Bytes::from_static(b"\x01abc")).is_err());
        assert!(Record::decode(b"k", Bytes::from_static(b"\x09123456789")).is_err());
    }
}
