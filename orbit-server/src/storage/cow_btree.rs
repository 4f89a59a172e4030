//! `cow-btree`: `redb`, a copy-on-write B+tree in one file with MVCC
//! readers. Each append is a redb commit without fsync (visible at once);
//! `sync` is an empty commit with `Durability::Immediate`, which makes every
//! earlier commit durable with one fsync.
//!
//! Unlike `lsm`, a commit without fsync is not guaranteed to survive even a
//! killed process: redb only finalises it with the next durable commit. So
//! under `durability = "none"` or `"periodic"` a `kill -9` can lose the
//! writes since the last fsync (`always` loses nothing).

use super::{Backend, BackendStats, Engine, Snapshot, StorageError, WriteOp, scan};
use bytes::Bytes;
use redb::{Database, Durability, ReadTransaction, ReadableDatabase, ReadableTableMetadata, TableDefinition};
use std::path::Path;

const ACTORS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("actors");

pub struct CowBTreeBackend {
    db: Engine<Database>,
    path: std::path::PathBuf,
}

fn io(e: impl std::fmt::Display) -> StorageError {
    StorageError::Io { backend: "cow-btree", reason: e.to_string() }
}

struct CowSnapshot(ReadTransaction);

impl Snapshot for CowSnapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        let table = self.0.open_table(ACTORS).map_err(io)?;
        Ok(table.get(key).map_err(io)?.map(|v| Bytes::copy_from_slice(v.value())))
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        let table = self.0.open_table(ACTORS).map_err(io)?;
        let range =
            table.range::<&[u8]>((scan::start(prefix, after), std::ops::Bound::Unbounded)).map_err(io)?;
        let iter = range.map(|item| item.map(|(k, v)| (k.value().to_vec(), v.value().to_vec())).map_err(io));
        scan::collect(iter, prefix, limit)
    }
}

impl CowBTreeBackend {
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join("actors.redb");
        let db = Database::create(&path).map_err(io)?;
        // Create the table up front so readers always find it.
        let txn = db.begin_write().map_err(io)?;
        txn.open_table(ACTORS).map_err(io)?;
        txn.commit().map_err(io)?;
        Ok(CowBTreeBackend { db: Engine::new(db), path })
    }

    fn commit(db: &Database, durability: Durability, ops: &[WriteOp]) -> Result<(), StorageError> {
        super::refuse_adds(ops)?;
        let mut txn = db.begin_write().map_err(io)?;
        txn.set_durability(durability).map_err(io)?;
        {
            let mut table = txn.open_table(ACTORS).map_err(io)?;
            for op in ops {
                match op {
                    WriteOp::Put(k, v) => {
                        table.insert(k.as_ref(), v.as_ref()).map_err(io)?;
                    }
                    WriteOp::Delete(k) => {
                        table.remove(k.as_ref()).map_err(io)?;
                    }
                    WriteOp::Add(..) => {}
                }
            }
        }
        txn.commit().map_err(io)
    }
}

impl Backend for CowBTreeBackend {
    fn name(&self) -> &'static str {
        "cow-btree"
    }

    fn write(&self, ops: &[WriteOp]) -> Result<(), StorageError> {
        self.db.with(|db| Self::commit(db, Durability::None, ops))
    }

    fn with_snapshot(
        &self,
        read: &mut dyn FnMut(&dyn Snapshot) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.db.with(|db| read(&CowSnapshot(db.begin_read().map_err(io)?)))
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.db.with(|db| Self::commit(db, Durability::Immediate, &[]))
    }

    fn close(&self) -> Result<(), StorageError> {
        if let Some(open) = self.db.take() {
            Self::commit(&open, Durability::Immediate, &[])?;
        }
        Ok(())
    }

    fn does_io(&self) -> bool {
        true
    }

    fn stats(&self) -> BackendStats {
        let keys = self
            .db
            .with(|db| db.begin_read().map_err(io)?.open_table(ACTORS).map_err(io)?.len().map_err(io))
            .unwrap_or(0);
        let disk_bytes = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        BackendStats { keys, disk_bytes, compactions: None }
    }
}
