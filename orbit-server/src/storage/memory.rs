//! `memory`: an ordered map behind a lock. Nothing survives a restart.
//! Snapshots share the map; a write after a snapshot copies it once
//! (`Arc::make_mut`).

use super::{Backend, BackendStats, Snapshot, StorageError, WriteOp, scan};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

type Map = BTreeMap<Bytes, Bytes>;

#[derive(Default)]
pub struct MemoryBackend {
    map: RwLock<Arc<Map>>,
}

struct MemorySnapshot(Arc<Map>);

impl Snapshot for MemorySnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        Ok(self.0.get(key).cloned())
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        let range = self.0.range::<[u8], _>((scan::start(prefix, after), std::ops::Bound::Unbounded));
        scan::collect(range.map(Ok), prefix, limit)
    }
}

impl MemoryBackend {
    fn current(&self) -> MemorySnapshot {
        MemorySnapshot(self.map.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

impl Backend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        Ok(self.map.read().unwrap_or_else(|p| p.into_inner()).get(key).cloned())
    }

    fn write(&self, ops: &[WriteOp]) -> Result<(), StorageError> {
        super::refuse_adds(ops)?;
        let mut guard = self.map.write().unwrap_or_else(|p| p.into_inner());
        let map = Arc::make_mut(&mut guard);
        for op in ops {
            match op {
                WriteOp::Put(k, v) => map.insert(k.clone(), v.clone()),
                WriteOp::Delete(k) => map.remove(k),
                WriteOp::Add(..) => None,
            };
        }
        Ok(())
    }

    fn with_snapshot(
        &self,
        read: &mut dyn FnMut(&dyn Snapshot) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        read(&self.current())
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

    fn stats(&self) -> BackendStats {
        let keys = self.map.read().unwrap_or_else(|p| p.into_inner()).len() as u64;
        BackendStats { keys, disk_bytes: 0, compactions: None }
    }
}
