//! Replies remembered for calls made with an idempotency key, so that a
//! retried call is applied once.
//!
//! Invariants:
//! - A keyed call of a method that is not read-only stores its reply (or
//!   its error) in the same batch as the state change it made, so either
//!   both are stored or neither is: a retry after a lost reply finds the
//!   reply, a retry after a lost write runs the call again.
//! - A keyed call finds the stored reply before running, inside its turn:
//!   it answers with the first reply and writes nothing.
//! - Retention: a reply older than `actors.idempotency_retention` is
//!   ignored (the call runs again) and deleted; an actor keeps at most
//!   [`KEPT`] replies, the oldest deleted first, at its first keyed call
//!   after each activation.
//!
//! Layout: `actor key | 0x00 | idempotency key` (between the actor's record
//! and its entries, `actor key | '/'`: neither a record nor an entry to
//! scans), value `written at (u64 LE, ms since the Unix epoch) | 0 | reply`
//! or `... | 1 | error as JSON`.

use bytes::{BufMut, Bytes, BytesMut};
use orbit_shared::{Error, Reply};

/// Replies an actor keeps at most.
pub(crate) const KEPT: usize = 1024;

const SEPARATOR: u8 = 0;

/// The prefix of every reply an actor stores.
pub(crate) fn prefix(actor_key: &[u8]) -> Bytes {
    let mut prefix = BytesMut::with_capacity(actor_key.len() + 1);
    prefix.put_slice(actor_key);
    prefix.put_u8(SEPARATOR);
    prefix.freeze()
}

pub(crate) fn key(actor_key: &[u8], idempotency_key: &str) -> Bytes {
    let mut key = BytesMut::with_capacity(actor_key.len() + 1 + idempotency_key.len());
    key.put_slice(actor_key);
    key.put_u8(SEPARATOR);
    key.put_slice(idempotency_key.as_bytes());
    key.freeze()
}

pub(crate) fn encode(written_ms: u64, reply: &Result<Reply, Error>) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u64_le(written_ms);
    match reply {
        Ok(reply) => {
            out.put_u8(0);
            out.put_slice(&reply.value);
        }
        Err(error) => {
            out.put_u8(1);
            // An Error always encodes (plain data).
            out.put_slice(&serde_json::to_vec(error).unwrap_or_default());
        }
    }
    out.freeze()
}

/// When a stored reply was written, and the reply; `None` if the bytes are
/// not one.
pub(crate) fn decode(bytes: &Bytes) -> Option<(u64, Result<Reply, Error>)> {
    let written = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let body = bytes.slice(9..);
    match bytes.get(8)? {
        0 => Some((written, Ok(Reply { value: body }))),
        1 => Some((written, Err(serde_json::from_slice(&body).ok()?))),
        _ => None,
    }
}

/// Of the stored replies `(key, written at)`, those to delete at `now_ms`:
/// the expired ones, then the oldest beyond [`KEPT`].
pub(crate) fn to_delete(mut stored: Vec<(Bytes, u64)>, now_ms: u64, retention_ms: u64) -> Vec<Bytes> {
    stored.sort_by_key(|(_, written)| std::cmp::Reverse(*written));
    stored
        .into_iter()
        .enumerate()
        .filter(|(i, (_, written))| *i >= KEPT || now_ms.saturating_sub(*written) > retention_ms)
        .map(|(_, (key, _))| key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_errors_round_trip() {
        let ok = encode(7, &Ok(Reply { value: Bytes::from_static(b"42") }));
        assert_eq!(decode(&ok), Some((7, Ok(Reply { value: Bytes::from_static(b"42") }))));
        let err = Error::InvalidArguments { method: "m".into(), reason: "r".into() };
        assert_eq!(decode(&encode(9, &Err(err.clone()))), Some((9, Err(err))));
        assert_eq!(decode(&Bytes::from_static(b"short")), None);
    }

    #[test]
    fn expired_and_surplus_replies_are_deleted_oldest_first() {
        let stored: Vec<(Bytes, u64)> =
            (0..KEPT as u64 + 10).map(|i| (Bytes::from(i.to_string()), 1000 + i)).collect();
        let now = 1000 + KEPT as u64 + 10;
        // Nothing expired: the 10 oldest go.
        let gone = to_delete(stored.clone(), now, 1_000_000);
        assert_eq!(gone, (0..10u64).rev().map(|i| Bytes::from(i.to_string())).collect::<Vec<_>>());
        // A retention of 5 ms: all but the 5 newest go.
        assert_eq!(to_delete(stored, now, 5).len(), KEPT + 10 - 5);
        // The layout puts replies between the record and its entries.
        let actor = b"\x00\x01\x01kactor";
        assert!(key(actor, "k").as_ref() > actor.as_ref());
        assert!(key(actor, "k").as_ref() < crate::storage::layout::entry_prefix(actor).as_ref());
    }
}
