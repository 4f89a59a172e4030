//! [`ActorId`]: the identity of a virtual actor.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest accepted kind name, in bytes.
pub const MAX_KIND_LEN: usize = 64;
/// Longest accepted actor key, in bytes (storage engines cap keys near 64 KiB).
pub const MAX_KEY_LEN: usize = 32 * 1024;

/// A virtual actor's identity: its kind (`counter`, `redis`, `row:users`, or a
/// user's kind) and a binary-safe key. An actor with a given id exists
/// logically forever; the node activates it on demand.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ActorId {
    pub kind: String,
    pub key: Bytes,
}

impl ActorId {
    pub fn new(kind: impl Into<String>, key: impl Into<Bytes>) -> Self {
        ActorId { kind: kind.into(), key: key.into() }
    }

    /// The slot this actor lives in: its key's Redis Cluster slot, or
    /// [`crate::slot::SQL_SLOT`] for the SQL data's kinds
    /// ([`crate::slot::actor_slot`]).
    pub fn slot(&self) -> u16 {
        crate::slot::actor_slot(&self.kind, &self.key)
    }

    /// Checks the limits every front door and the node enforce.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let kind_ok = !self.kind.is_empty()
            && self.kind.len() <= MAX_KIND_LEN
            && self.kind.bytes().all(|b| b.is_ascii_graphic());
        if !kind_ok {
            return Err(crate::Error::InvalidActorId {
                reason: format!(
                    "kind must be 1 to {MAX_KIND_LEN} printable ASCII characters, got {:?}",
                    self.kind
                ),
            });
        }
        if self.key.len() > MAX_KEY_LEN {
            return Err(crate::Error::InvalidActorId {
                reason: format!("key is {} bytes, the limit is {MAX_KEY_LEN}", self.key.len()),
            });
        }
        Ok(())
    }
}

impl fmt::Debug for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ActorId {
    /// `kind/key`, with non-printable key bytes escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.key.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_escapes_binary_keys() {
        let id = ActorId::new("counter", vec![b'a', 0, 255]);
        assert_eq!(id.to_string(), "counter/a\\x00\\xff");
    }

    #[test]
    fn validate_rejects_bad_kinds_and_huge_keys() {
        assert!(ActorId::new("counter", "k").validate().is_ok());
        assert!(ActorId::new("", "k").validate().is_err());
        assert!(ActorId::new("has space", "k").validate().is_err());
        assert!(ActorId::new("k", vec![0u8; MAX_KEY_LEN + 1]).validate().is_err());
    }
}
