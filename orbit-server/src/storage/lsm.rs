//! `lsm`: the `fjall` LSM-tree, the default backend. Writes go to fjall's
//! journal (handed to the OS at once, so a killed process loses nothing) and
//! `sync` fsyncs the journal.

use super::{Backend, Op, StorageError};
use bytes::Bytes;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard};

/// The open database; `None` once closed. Only appends (already serialised
/// by the commit path) and activation loads take the lock.
pub struct LsmBackend {
    open: RwLock<Option<Open>>,
}

struct Open {
    db: Database,
    actors: Keyspace,
}

fn io(e: impl std::fmt::Display) -> StorageError {
    StorageError::Io { backend: "lsm", reason: e.to_string() }
}

impl LsmBackend {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(path).map_err(io)?;
        let db = Database::builder(path).open().map_err(io)?;
        let actors = db.keyspace("actors", KeyspaceCreateOptions::default).map_err(io)?;
        Ok(LsmBackend { open: RwLock::new(Some(Open { db, actors })) })
    }

    fn with<T>(&self, f: impl FnOnce(&Open) -> Result<T, StorageError>) -> Result<T, StorageError> {
        let guard: RwLockReadGuard<'_, Option<Open>> = self.open.read().unwrap_or_else(|p| p.into_inner());
        f(guard.as_ref().ok_or(StorageError::Closed)?)
    }
}

impl Backend for LsmBackend {
    fn name(&self) -> &'static str {
        "lsm"
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        self.with(|o| Ok(o.actors.get(key).map_err(io)?.map(|v| Bytes::copy_from_slice(&v))))
    }

    fn write(&self, ops: &[Op]) -> Result<(), StorageError> {
        self.with(|o| {
            let mut batch = o.db.batch();
            for op in ops {
                match op {
                    Op::Put(k, v) => batch.insert(&o.actors, k.as_ref(), v.as_ref()),
                    Op::Delete(k) => batch.remove(&o.actors, k.as_ref()),
                }
            }
            batch.commit().map_err(io)
        })
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        self.with(|o| {
            let iter = match after {
                Some(a) if a >= prefix => {
                    o.actors.range::<&[u8], _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))
                }
                _ => o.actors.range::<&[u8], _>(prefix..),
            };
            let mut out = Vec::new();
            for guard in iter {
                let (k, v) = guard.into_inner().map_err(io)?;
                if !k.starts_with(prefix) || out.len() == limit {
                    break;
                }
                out.push((Bytes::copy_from_slice(&k), Bytes::copy_from_slice(&v)));
            }
            Ok(out)
        })
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.with(|o| o.db.persist(PersistMode::SyncAll).map_err(io))
    }

    fn close(&self) -> Result<(), StorageError> {
        let mut open = self.open.write().unwrap_or_else(|p| p.into_inner());
        if let Some(o) = open.take() {
            o.db.persist(PersistMode::SyncAll).map_err(io)?;
        }
        Ok(())
    }

    fn does_io(&self) -> bool {
        true
    }

    fn disk_bytes(&self) -> u64 {
        self.with(|o| Ok(o.db.disk_space().unwrap_or(0))).unwrap_or(0)
    }
}
