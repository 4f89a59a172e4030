//! Copying and fingerprinting a backend's contents: the one routine behind
//! `migrate`, backups, restores and hot swaps. The checksum is SHA-256 over
//! every pair in key order (`len(key) u32 BE | key | len(value) u32 BE |
//! value`), so two stores with the same contents have the same checksum
//! whatever their engine.

use super::{Backend, Snapshot, StorageError, WriteOp};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Keys per batch when copying, and per page when reading.
const PAGE: usize = 1000;

/// What a copy or a checksum covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub keys: u64,
    pub bytes: u64,
    /// Lowercase hex SHA-256.
    pub checksum: String,
}

/// Calls `visit` with every page of pairs in key order.
fn for_each_page(
    source: &dyn Snapshot,
    mut visit: impl FnMut(&[(Bytes, Bytes)]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let mut after: Option<Bytes> = None;
    loop {
        let page = source.scan(&[], after.as_deref(), PAGE)?;
        let Some((last, _)) = page.last() else { return Ok(()) };
        after = Some(last.clone());
        visit(&page)?;
    }
}

struct Hasher {
    sha: Sha256,
    keys: u64,
    bytes: u64,
}

impl Hasher {
    fn new() -> Self {
        Hasher { sha: Sha256::new(), keys: 0, bytes: 0 }
    }

    fn add(&mut self, page: &[(Bytes, Bytes)]) {
        for (k, v) in page {
            for part in [k, v] {
                self.sha.update((part.len() as u32).to_be_bytes());
                self.sha.update(part);
                self.bytes += part.len() as u64;
            }
            self.keys += 1;
        }
    }

    fn finish(self) -> Fingerprint {
        Fingerprint { keys: self.keys, bytes: self.bytes, checksum: hex::encode(self.sha.finalize()) }
    }
}

pub fn fingerprint(source: &dyn Snapshot) -> Result<Fingerprint, StorageError> {
    let mut hasher = Hasher::new();
    for_each_page(source, |page| {
        hasher.add(page);
        Ok(())
    })?;
    Ok(hasher.finish())
}

/// Copies every pair of `source` into `target` (which should be empty), then
/// fsyncs `target`. Returns the fingerprint of what was copied.
pub fn copy_all(source: &dyn Snapshot, target: &dyn Backend) -> Result<Fingerprint, StorageError> {
    let mut hasher = Hasher::new();
    for_each_page(source, |page| {
        let ops: Vec<WriteOp> = page.iter().map(|(k, v)| WriteOp::Put(k.clone(), v.clone())).collect();
        target.write(&ops)?;
        hasher.add(page);
        Ok(())
    })?;
    target.sync()?;
    Ok(hasher.finish())
}

/// The fingerprint of a whole backend, from a snapshot.
pub fn fingerprint_backend(backend: &dyn Backend) -> Result<Fingerprint, StorageError> {
    let mut result = None;
    backend.with_snapshot(&mut |snapshot| {
        result = Some(fingerprint(snapshot)?);
        Ok(())
    })?;
    result.ok_or(StorageError::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{CowBTreeBackend, MemoryBackend};

    #[test]
    fn copies_between_engines_keep_contents_and_checksum() {
        let source = MemoryBackend::default();
        let ops: Vec<_> = (0..2500u32)
            .map(|i| WriteOp::Put(Bytes::from(i.to_be_bytes().to_vec()), Bytes::from(format!("value {i}"))))
            .collect();
        source.write(&ops).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = CowBTreeBackend::open(dir.path()).unwrap();
        let mut copied = None;
        source
            .with_snapshot(&mut |s| {
                copied = Some(copy_all(s, &target)?);
                Ok(())
            })
            .unwrap();
        let copied = copied.unwrap();
        assert_eq!(copied.keys, 2500);
        assert_eq!(copied, fingerprint_backend(&target).unwrap());
        assert_eq!(copied, fingerprint_backend(&source).unwrap());
        target.write(&[WriteOp::Delete(Bytes::from(7u32.to_be_bytes().to_vec()))]).unwrap();
        assert_ne!(fingerprint_backend(&target).unwrap().checksum, copied.checksum);
    }
}
