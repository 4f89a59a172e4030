//! `memory`: an ordered map behind a lock. Nothing survives a restart.

use super::{Backend, Op, StorageError};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

#[derive(Default)]
pub struct MemoryBackend {
    map: RwLock<BTreeMap<Bytes, Bytes>>,
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(key).cloned())
    }

    fn write(&self, ops: &[Op]) -> Result<(), StorageError> {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        for op in ops {
            match op {
                Op::Put(k, v) => map.insert(k.clone(), v.clone()),
                Op::Delete(k) => map.remove(k),
            };
        }
        Ok(())
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a),
            _ => Bound::Included(prefix),
        };
        Ok(map
            .range::<[u8], _>((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn close(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn does_io(&self) -> bool {
        false
    }

    fn disk_bytes(&self) -> u64 {
        0
    }
}
