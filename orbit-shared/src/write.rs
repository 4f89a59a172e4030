//! [`WriteOp`]: one write of an atomic batch. A storage batch is a list of
//! them by storage key; an actor's turn produces them for its entries, by
//! sub-key, and the runtime prefixes the keys with the actor's own.

use bytes::Bytes;

/// Put a value under a key, or delete the key.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum WriteOp {
    Put(Bytes, Bytes),
    Delete(Bytes),
}
