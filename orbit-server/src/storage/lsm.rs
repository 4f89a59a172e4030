//! `lsm`: the `fjall` LSM-tree, the default backend. Writes go to fjall's
//! journal (handed to the OS at once, so a killed process loses nothing) and
//! `sync` fsyncs the journal. Reads go through fjall snapshots.

use super::{Backend, BackendStats, Engine, Snapshot, StorageError, WriteOp, scan};
use bytes::Bytes;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};
use std::path::Path;

pub struct LsmBackend {
    open: Engine<Open>,
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
        Ok(LsmBackend { open: Engine::new(Open { db, actors }) })
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
        })
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
