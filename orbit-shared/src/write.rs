//! [`WriteOp`]: one write of an atomic batch. A storage batch is a list of
//! them by storage key; an actor's turn produces them for its entries, by
//! sub-key, and the runtime prefixes the keys with the actor's own.

use bytes::Bytes;

/// Put a value under a key, delete the key, or add to a counter.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum WriteOp {
    Put(Bytes, Bytes),
    Delete(Bytes),
    /// Adds to the signed 64-bit counter under the key (8 bytes,
    /// big-endian; an absent key counts 0). The store turns it into a
    /// `Put` of the sum when it writes the batch, in commit order, so
    /// concurrent batches may add to one counter.
    Add(Bytes, i64),
}

impl WriteOp {
    /// The key this op writes.
    pub fn key(&self) -> &Bytes {
        match self {
            WriteOp::Put(key, _) | WriteOp::Delete(key) | WriteOp::Add(key, _) => key,
        }
    }
}
