//! `rocksdb`: the `rocksdb` crate (behind the cargo feature `rocksdb`). Writes
//! go to the WAL without fsync (in the OS at once, so a killed process loses
//! nothing); `sync` fsyncs the WAL.

use super::{Backend, BackendStats, Engine, Snapshot, StorageError, WriteOp, scan};
use bytes::Bytes;
use rocksdb::{DB, Direction, IteratorMode, Options, SnapshotWithThreadMode, WriteBatch, WriteOptions};
use std::ops::Bound;
use std::path::Path;

pub struct RocksBackend {
    db: Engine<DB>,
    /// Kept for its statistics (compaction count).
    options: Options,
}

fn io(e: impl std::fmt::Display) -> StorageError {
    StorageError::Io { backend: "rocksdb", reason: e.to_string() }
}

struct RocksSnapshot<'a>(SnapshotWithThreadMode<'a, DB>);

impl Snapshot for RocksSnapshot<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        Ok(self.0.get(key).map_err(io)?.map(Bytes::from))
    }

    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        let (from, skip) = match scan::start(prefix, after) {
            Bound::Excluded(a) => (a, Some(a)),
            Bound::Included(p) => (p, None),
            Bound::Unbounded => (prefix, None),
        };
        let iter = self
            .0
            .iterator(IteratorMode::From(from, Direction::Forward))
            .map(|item| item.map_err(io))
            .filter(|item| !matches!((item, skip), (Ok((k, _)), Some(s)) if k.as_ref() == s));
        scan::collect(iter, prefix, limit)
    }
}

impl RocksBackend {
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(path).map_err(io)?;
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        options.enable_statistics();
        let db = DB::open(&options, path).map_err(io)?;
        Ok(RocksBackend { db: Engine::new(db), options })
    }
}

impl Backend for RocksBackend {
    fn name(&self) -> &'static str {
        "rocksdb"
    }

    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        self.db.with(|db| Ok(db.get(key).map_err(io)?.map(Bytes::from)))
    }

    fn write(&self, ops: &[WriteOp]) -> Result<(), StorageError> {
        super::refuse_adds(ops)?;
        self.db.with(|db| {
            let mut batch = WriteBatch::default();
            for op in ops {
                match op {
                    WriteOp::Put(k, v) => batch.put(k, v),
                    WriteOp::Delete(k) => batch.delete(k),
                    WriteOp::Add(..) => {}
                }
            }
            db.write_opt(batch, &WriteOptions::default()).map_err(io)
        })
    }

    fn with_snapshot(
        &self,
        read: &mut dyn FnMut(&dyn Snapshot) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        self.db.with(|db| read(&RocksSnapshot(db.snapshot())))
    }

    fn sync(&self) -> Result<(), StorageError> {
        self.db.with(|db| db.flush_wal(true).map_err(io))
    }

    fn close(&self) -> Result<(), StorageError> {
        if let Some(open) = self.db.take() {
            open.flush_wal(true).map_err(io)?;
        }
        Ok(())
    }

    fn does_io(&self) -> bool {
        true
    }

    fn stats(&self) -> BackendStats {
        self.db
            .with(|db| {
                let int = |name: &str| db.property_int_value(name).ok().flatten().unwrap_or(0);
                Ok(BackendStats {
                    keys: int("rocksdb.estimate-num-keys"),
                    disk_bytes: int("rocksdb.total-sst-files-size") + int("rocksdb.cur-size-all-mem-tables"),
                    compactions: Some(
                        self.options
                            .get_histogram_data(rocksdb::statistics::Histogram::CompactionTime)
                            .count(),
                    ),
                })
            })
            .unwrap_or_default()
    }
}
