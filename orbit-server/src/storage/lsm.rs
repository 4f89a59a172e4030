//! `lsm`: the `fjall` LSM-tree, the default backend. Writes go to fjall's
//! journal (handed to the OS at once, so a killed process loses nothing) and
//! `sync` fsyncs the journal. Reads go through fjall snapshots.
//!
//! A deleted key leaves a tombstone that scans step over until compaction
//! drops it. After [`RECLAIM_AFTER`] deletes, and at least as many as the
//! keys there were after the last reclaim (so the cost per delete stays
//! bounded), a background thread flushes the memtable and compacts the
//! tree, which drops the tombstones; closing waits for it.

use super::{Backend, BackendStats, Engine, Snapshot, StorageError, WriteOp, scan};
use bytes::Bytes;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Deletes after which the tombstones are compacted away.
const RECLAIM_AFTER: u64 = 50_000;

pub struct LsmBackend {
    open: Arc<Engine<Open>>,
    reclaim: Arc<Reclaim>,
}

/// Deletes since the last reclaim, and the number that starts the next.
struct Reclaim {
    deletes: AtomicU64,
    threshold: AtomicU64,
    running: AtomicBool,
}

struct Open {
    db: Database,
    actors: Keyspace,
}

struct LsmSnapshot<'a> {
    snapshot: fjall::Snapshot,
    actors: &'a Keyspace,
}

fn io(e: impl std::fmt::Display) -> StorageError {
    StorageError::Io { backend: "lsm", reason: e.to_string() }
}

impl Snapshot for LsmSnapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        Ok(self.snapshot.get(self.actors, key).map_err(io)?.map(|v| Bytes::copy_from_slice(&v)))
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        let range = (scan::start(prefix, after), std::ops::Bound::Unbounded);
        let iter = self.snapshot.range::<&[u8], _>(self.actors, range).map(|g| g.into_inner().map_err(io));
        scan::collect(iter, prefix, limit)
    }
}

impl LsmBackend {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(path).map_err(io)?;
        let db = Database::builder(path).open().map_err(io)?;
        let actors = db.keyspace("actors", KeyspaceCreateOptions::default).map_err(io)?;
        let reclaim = Reclaim {
            deletes: AtomicU64::new(0),
            threshold: AtomicU64::new(RECLAIM_AFTER),
            running: AtomicBool::new(false),
        };
        Ok(LsmBackend { open: Arc::new(Engine::new(Open { db, actors })), reclaim: Arc::new(reclaim) })
    }

    /// Counts `deletes` and starts a reclaim when they reach the threshold.
    fn deleted(&self, deletes: u64) {
        let reclaim = &self.reclaim;
        let total = reclaim.deletes.fetch_add(deletes, Ordering::AcqRel) + deletes;
        if total < reclaim.threshold.load(Ordering::Acquire) || reclaim.running.swap(true, Ordering::AcqRel) {
            return;
        }
        reclaim.deletes.store(0, Ordering::Release);
        let (open, reclaim) = (self.open.clone(), self.reclaim.clone());
        let spawned = std::thread::Builder::new().name("lsm-reclaim".into()).spawn(move || {
            let compacted = open.with(|o| {
                o.actors.rotate_memtable_and_wait().map_err(io)?;
                o.actors.major_compact().map_err(io)?;
                Ok(o.actors.approximate_len() as u64)
            });
            match compacted {
                Ok(keys) => reclaim.threshold.store(keys.max(RECLAIM_AFTER), Ordering::Release),
                Err(StorageError::Closed) => {}
                Err(e) => tracing::warn!(error = %e, "compacting deleted keys away failed"),
            }
            reclaim.running.store(false, Ordering::Release);
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread to compact deleted keys away");
            self.reclaim.running.store(false, Ordering::Release);
        }
    }
}

impl Backend for LsmBackend {
    fn name(&self) -> &'static str {
        "lsm"
    }

    fn write(&self, ops: &[WriteOp]) -> Result<(), StorageError> {
        super::refuse_adds(ops)?;
        self.open.with(|o| {
            let mut batch = o.db.batch();
            for op in ops {
                match op {
                    WriteOp::Put(k, v) => batch.insert(&o.actors, k.as_ref(), v.as_ref()),
                    WriteOp::Delete(k) => batch.remove(&o.actors, k.as_ref()),
                    WriteOp::Add(..) => {}
                }
            }
            batch.commit().map_err(io)
        })?;
        let deletes = ops.iter().filter(|op| matches!(op, WriteOp::Delete(_))).count() as u64;
        if deletes > 0 {
            self.deleted(deletes);
        }
        Ok(())
    }

    fn with_snapshot(
        &self,
        read: &mut dyn FnMut(&dyn Snapshot) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.open.with(|o| read(&LsmSnapshot { snapshot: o.db.snapshot(), actors: &o.actors }))
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.open.with(|o| o.db.persist(PersistMode::SyncAll).map_err(io))
    }

    fn close(&self) -> Result<(), StorageError> {
        if let Some(o) = self.open.take() {
            o.db.persist(PersistMode::SyncAll).map_err(io)?;
        }
        Ok(())
    }

    fn does_io(&self) -> bool {
        true
    }

    fn stats(&self) -> BackendStats {
        self.open
            .with(|o| {
                Ok(BackendStats {
                    keys: o.actors.approximate_len() as u64,
                    disk_bytes: o.db.disk_space().unwrap_or(0),
                    compactions: Some(o.db.compactions_completed() as u64),
                })
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// After enough deletes the tree is compacted in the background: the
    /// deleted keys stay deleted, the live ones keep their values, and
    /// closing waits for the compaction.
    #[test]
    fn deletes_are_compacted_away_without_losing_live_keys() {
        let dir = tempfile::tempdir().unwrap();
        let backend = LsmBackend::open(dir.path()).unwrap();
        let key = |n: u64| Bytes::from(format!("key:{n:08}"));
        backend.write(&[WriteOp::Put(key(u64::MAX), Bytes::from_static(b"kept"))]).unwrap();
        for chunk in 0..RECLAIM_AFTER / 1000 {
            let ops: Vec<WriteOp> = (chunk * 1000..(chunk + 1) * 1000)
                .flat_map(|n| [WriteOp::Put(key(n), Bytes::from_static(b"v")), WriteOp::Delete(key(n))])
                .collect();
            backend.write(&ops).unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while backend.stats().compactions == Some(0) || backend.reclaim.running.load(Ordering::Acquire) {
            assert!(std::time::Instant::now() < deadline, "no compaction after {RECLAIM_AFTER} deletes");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(backend.stats().keys, 1, "tombstones left after the compaction");
        let all = backend.scan(b"key:", None, 10).unwrap();
        assert_eq!(all, vec![(key(u64::MAX), Bytes::from_static(b"kept"))]);
        backend.close().unwrap();
        let reopened = LsmBackend::open(dir.path()).unwrap();
        assert_eq!(reopened.get(&key(u64::MAX)).unwrap(), Some(Bytes::from_static(b"kept")));
        assert_eq!(reopened.get(&key(7)).unwrap(), None);
    }
}
