//! Storage: the [`Backend`] trait (DESIGN §6), its implementations, the key
//! and record layout, and the [`Store`] every partition commits through.
//!
//! | file | concept |
//! |---|---|
//! | `memory.rs` | ordered in-memory map; no durability |
//! | `lsm.rs` | `fjall` LSM-tree; the default embedded backend |
//! | `cow_btree.rs` | `redb` copy-on-write B+tree in one file |
//! | `rocks.rs` | `rocksdb`, behind the cargo feature `rocksdb` |
//! | `scan.rs` | the prefix/after/limit rules every backend's scan shares |
//! | `commit.rs` | group commit: ordered appends, shared fsyncs |
//! | `cache.rs` | recently read values for point reads, dropped by writes |
//! | `layout.rs` | key encoding `partition | kind | key` and the actor record |
//! | `copy.rs` | copy and SHA-256 fingerprint of a snapshot: backups, restores, migrations, hot swaps |
//! | `conformance.rs` | the model-based suite every backend runs (tests only) |

mod cache;
mod commit;
pub mod copy;
mod cow_btree;
pub mod layout;
mod lsm;
mod memory;
#[cfg(feature = "rocksdb")]
mod rocks;
mod scan;

pub use commit::Seq;
pub use cow_btree::CowBTreeBackend;
pub use lsm::LsmBackend;
pub use memory::MemoryBackend;
#[cfg(feature = "rocksdb")]
pub use rocks::RocksBackend;

use crate::config::{Durability, StorageKind};
use crate::metrics::StorageMetrics;
use bytes::Bytes;
use commit::Committer;
use orbit_shared::WriteOp;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Why a storage operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("{backend} I/O error: {reason}")]
    Io { backend: &'static str, reason: String },
    #[error("corrupt record at key {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("storage refuses writes after an earlier failure: {reason}")]
    Failed { reason: String },
    #[error("storage is closed")]
    Closed,
    #[error("cannot switch backends: {reason}")]
    SwitchRefused { reason: String },
    #[error("backend {backend} is not available: {reason}")]
    Unsupported { backend: &'static str, reason: &'static str },
    #[error(
        "the data directory holds a {found} backend but {configured} was asked for (use --storage {found}, or `orbit-server migrate`)"
    )]
    BackendMismatch { found: String, configured: &'static str },
    #[error("data directory holds {found} partitions but the config asks for {configured}")]
    PartitionCountMismatch { found: u16, configured: u16 },
}

impl From<StorageError> for orbit_shared::Error {
    fn from(e: StorageError) -> Self {
        orbit_shared::Error::Storage { reason: e.to_string() }
    }
}

/// The storage seam: an ordered key-value engine with atomic batches.
/// Implementations may buffer writes; `sync` makes everything written so far
/// durable. Methods block. [`Store`] runs scans, `stats` and `close` through
/// `spawn_blocking` and point reads ([`Store::get`]) on the calling thread;
/// its committer (`commit.rs`) writes on the appending task's thread and
/// runs `sync` through `spawn_blocking`.
pub trait Backend: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Applies `ops` atomically (all or none after a crash).
    fn write(&self, ops: &[WriteOp]) -> Result<(), StorageError>;
    /// Runs `read` against a consistent view as of now; writes made while it
    /// runs are not visible to it.
    fn with_snapshot(
        &self,
        read: &mut dyn FnMut(&dyn Snapshot) -> Result<(), StorageError>,
    ) -> Result<(), StorageError>;
    /// The current value of `key` (from a fresh snapshot, unless the engine
    /// has a cheaper way).
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
        let mut value = None;
        self.with_snapshot(&mut |s| {
            value = s.get(key)?;
            Ok(())
        })?;
        Ok(value)
    }
    /// Up to `limit` pairs whose key starts with `prefix` and sorts after
    /// `after` (exclusive), in key order.
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        let mut pairs = Vec::new();
        self.with_snapshot(&mut |s| {
            pairs = s.scan(prefix, after, limit)?;
            Ok(())
        })?;
        Ok(pairs)
    }
    fn sync(&self) -> Result<(), StorageError>;
    /// Syncs and releases the files (and their lock); later calls fail with
    /// [`StorageError::Closed`].
    fn close(&self) -> Result<(), StorageError>;
    /// Whether calls touch the disk. When not, [`Store`] runs scans, `stats`
    /// and `close` inline, and no write needs an fsync.
    fn does_io(&self) -> bool;
    fn stats(&self) -> BackendStats;
}

/// Backends write resolved batches: [`Store`] turns every
/// [`WriteOp::Add`] into a `Put` before a batch reaches them.
fn refuse_adds(ops: &[WriteOp]) -> Result<(), StorageError> {
    match ops.iter().find(|op| matches!(op, WriteOp::Add(..))) {
        Some(op) => Err(StorageError::Corrupt {
            key: op.key().escape_ascii().to_string(),
            reason: "a counter addition reached the engine unresolved".into(),
        }),
        None => Ok(()),
    }
}

/// The number in counter `key` stored as `value` ([`WriteOp::Add`]).
pub fn read_counter(key: &[u8], value: Option<&[u8]>) -> Result<i64, StorageError> {
    match value {
        None => Ok(0),
        Some(bytes) => {
            <[u8; 8]>::try_from(bytes).map(i64::from_be_bytes).map_err(|_| StorageError::Corrupt {
                key: key.escape_ascii().to_string(),
                reason: "a counter is not 8 bytes".into(),
            })
        }
    }
}

/// The value of counter `key` after adding `delta` to `current`.
pub fn add_to_counter(key: &[u8], current: Option<&[u8]>, delta: i64) -> Result<Bytes, StorageError> {
    let sum = read_counter(key, current)?.wrapping_add(delta);
    Ok(Bytes::copy_from_slice(&sum.to_be_bytes()))
}

/// A consistent read-only view of a backend.
pub trait Snapshot {
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError>;
    /// As [`Backend::scan`].
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError>;
}

/// What a backend reports about itself (exported in `/metrics`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackendStats {
    /// Number of keys; an estimate where the engine only keeps one.
    pub keys: u64,
    pub disk_bytes: u64,
    /// Compactions completed, for engines that compact.
    pub compactions: Option<u64>,
}

/// An engine handle that [`Backend::close`] can release (files, lock) even
/// while other parts of the node still hold the backend; calls after that
/// fail with [`StorageError::Closed`].
pub(crate) struct Engine<T>(std::sync::RwLock<Option<T>>);

impl<T> Engine<T> {
    pub(crate) fn new(engine: T) -> Self {
        Engine(std::sync::RwLock::new(Some(engine)))
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> Result<R, StorageError>) -> Result<R, StorageError> {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        f(guard.as_ref().ok_or(StorageError::Closed)?)
    }

    /// Takes the engine out (once); waits for calls in progress.
    pub(crate) fn take(&self) -> Option<T> {
        self.0.write().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// The file in a data directory that names the backend holding its data.
pub const BACKEND_MARKER: &str = "BACKEND";

/// Opens a backend of `kind` under `data_dir`. A data directory remembers
/// its backend: opening it with another kind is refused rather than
/// silently serving an empty store.
pub fn open_backend(kind: StorageKind, data_dir: &Path) -> Result<Arc<dyn Backend>, StorageError> {
    if kind != StorageKind::Memory {
        check_marker(kind, data_dir)?;
    }
    open_engine(kind, data_dir)
}

/// Opens the engine of `kind` under `data_dir` without consulting the
/// marker (a hot swap opens its target this way, and sets the marker when
/// it switches).
pub fn open_engine(kind: StorageKind, data_dir: &Path) -> Result<Arc<dyn Backend>, StorageError> {
    Ok(match kind {
        StorageKind::Memory => Arc::new(MemoryBackend::default()),
        StorageKind::Lsm => Arc::new(LsmBackend::open(&data_dir.join("lsm"))?),
        StorageKind::CowBtree => Arc::new(CowBTreeBackend::open(&data_dir.join("cow-btree"))?),
        #[cfg(feature = "rocksdb")]
        StorageKind::Rocksdb => Arc::new(RocksBackend::open(&data_dir.join("rocksdb"))?),
        #[cfg(not(feature = "rocksdb"))]
        StorageKind::Rocksdb => {
            return Err(StorageError::Unsupported {
                backend: "rocksdb",
                reason: "this build lacks the `rocksdb` cargo feature (cargo build --features rocksdb)",
            });
        }
    })
}

fn check_marker(kind: StorageKind, data_dir: &Path) -> Result<(), StorageError> {
    let io = |e: std::io::Error| StorageError::Io { backend: kind.name(), reason: e.to_string() };
    let marker = data_dir.join(BACKEND_MARKER);
    match std::fs::read_to_string(&marker) {
        Ok(found) if found.trim() == kind.name() => Ok(()),
        Ok(found) => {
            Err(StorageError::BackendMismatch { found: found.trim().to_string(), configured: kind.name() })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(io)?;
            set_marker(kind, data_dir)
        }
        Err(e) => Err(io(e)),
    }
}

/// Records that `data_dir` now holds a `kind` backend (atomically: write and
/// rename).
pub fn set_marker(kind: StorageKind, data_dir: &Path) -> Result<(), StorageError> {
    let io = |e: std::io::Error| StorageError::Io { backend: kind.name(), reason: e.to_string() };
    let temp = data_dir.join(format!("{BACKEND_MARKER}.tmp"));
    std::fs::write(&temp, format!("{}\n", kind.name())).map_err(io)?;
    std::fs::rename(&temp, data_dir.join(BACKEND_MARKER)).map_err(io)
}

/// The node's storage: a backend plus the group-commit path every partition
/// writes through.
pub struct Store {
    committer: Arc<Committer>,
    metrics: StorageMetrics,
}

impl Store {
    /// A store over `backend` keeping up to `read_cache` bytes of recently
    /// read values.
    pub fn new(
        backend: Arc<dyn Backend>,
        durability: Durability,
        metrics: StorageMetrics,
        read_cache: usize,
    ) -> Self {
        let committer =
            Arc::new(Committer::new(backend, durability, metrics.clone()).with_read_cache(read_cache));
        Store { committer, metrics }
    }

    /// The current backend (a hot swap may replace it).
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.committer.backend()
    }

    /// Hot swap: copies everything into `target` while writes go on, then
    /// switches to it (see `Committer::swap_to`).
    pub async fn swap_to(
        &self,
        target: Arc<dyn Backend>,
        cut_over: impl FnOnce() -> Result<(), StorageError> + Send + 'static,
    ) -> Result<copy::Fingerprint, StorageError> {
        let committer = self.committer.clone();
        tokio::task::spawn_blocking(move || committer.swap_to(target, cut_over))
            .await
            .map_err(|e| StorageError::Io { backend: "runtime", reason: e.to_string() })?
    }

    /// A point read runs on the calling thread: against the engines' block
    /// and page caches it takes microseconds, less than handing it to the
    /// blocking pool and back (which dominated `SELECT ... WHERE pk = $1`).
    /// Values read recently come from the read cache (`cache.rs`).
    /// Scans go through `spawn_blocking`; writes run inline ([`Store::append`]).
    pub async fn get(&self, key: Bytes) -> Result<Option<Bytes>, StorageError> {
        self.metrics.reads.inc();
        match self.committer.cache().get(&key) {
            cache::Lookup::Hit(value) => {
                self.metrics.read_cache_hits.inc();
                Ok(value)
            }
            cache::Lookup::Miss(miss) => {
                let value = self.backend().get(&key)?;
                self.committer.cache().fill(miss, key, value.clone());
                Ok(value)
            }
        }
    }

    pub async fn scan(
        &self,
        prefix: Bytes,
        after: Option<Bytes>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        let pairs = self.blocking(move |b| b.scan(&prefix, after.as_deref(), limit)).await?;
        self.metrics.scanned.inc_by(pairs.len() as u64);
        Ok(pairs)
    }

    /// Every pair whose key starts with `prefix`, read from one consistent
    /// view (no write lands between two of its pages).
    pub async fn scan_all(&self, prefix: Bytes) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        const PAGE: usize = 4096;
        let pairs = self
            .blocking(move |b| {
                let mut pairs = Vec::new();
                b.with_snapshot(&mut |view| {
                    let mut after: Option<Bytes> = None;
                    loop {
                        let page = view.scan(&prefix, after.as_deref(), PAGE)?;
                        let full = page.len() == PAGE;
                        after = page.last().map(|(k, _)| k.clone());
                        pairs.extend(page);
                        if !full {
                            return Ok(());
                        }
                    }
                })?;
                Ok(pairs)
            })
            .await?;
        self.metrics.scanned.inc_by(pairs.len() as u64);
        Ok(pairs)
    }

    /// Applies `ops` atomically, in commit order (concurrent appends share
    /// one engine write), and returns their sequence number. The write is
    /// visible on return and durable after [`Store::wait_durable`]. The
    /// engine write runs synchronously on the calling task's thread (an async
    /// worker), so once begun it is not cancelled with its caller; only the
    /// fsync goes to the blocking pool.
    pub async fn append(&self, ops: &[WriteOp]) -> Result<Seq, StorageError> {
        let started = Instant::now();
        let seq = self.committer.append(ops).await;
        self.metrics.writes.inc();
        self.metrics.write_seconds.observe(started.elapsed().as_secs_f64());
        seq
    }

    /// The sequence of the latest append.
    pub fn last_appended(&self) -> Seq {
        self.committer.written()
    }

    /// Waits until every write up to `seq` is as durable as the node's
    /// durability mode promises (fsynced for `always`).
    pub async fn wait_durable(&self, seq: Seq) -> Result<(), StorageError> {
        self.committer.wait_durable(seq).await
    }

    /// Makes everything written so far durable, whatever the mode.
    pub async fn sync_now(&self) -> Result<(), StorageError> {
        self.committer.sync_now().await
    }

    pub async fn stats(&self) -> Result<BackendStats, StorageError> {
        self.blocking(|b| Ok(b.stats())).await
    }

    /// Fsyncs and closes the backend, even while handles to the node remain.
    pub async fn close(&self) -> Result<(), StorageError> {
        self.sync_now().await?;
        self.blocking(|b| b.close()).await
    }

    /// The `periodic` durability loop: fsyncs every `interval` until cancelled.
    pub fn run_periodic(
        &self,
        interval: std::time::Duration,
        cancel: tokio_util::sync::CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.committer.clone().run_periodic(interval, cancel)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Backend) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let backend = self.backend();
        if !backend.does_io() {
            return f(backend.as_ref());
        }
        tokio::task::spawn_blocking(move || f(backend.as_ref()))
            .await
            .map_err(|e| StorageError::Io { backend: "runtime", reason: e.to_string() })?
    }
}

#[cfg(test)]
mod conformance;

#[cfg(test)]
mod read_cache_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// Readers racing a writer on a few keys never read a value older than
    /// the last append that returned before their read began, cached or
    /// not, and many of their reads are cache hits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cached_reads_never_go_back_in_time() {
        const KEYS: usize = 8;
        let dir = tempfile::tempdir().unwrap();
        let backend = open_backend(StorageKind::Lsm, dir.path()).unwrap();
        let metrics = StorageMetrics::unregistered();
        let store = Arc::new(Store::new(backend, Durability::None, metrics.clone(), 1 << 20));
        let key = |k: usize| Bytes::from(format!("key{k}"));
        let published: Arc<Vec<AtomicU64>> = Arc::new((0..KEYS).map(|_| AtomicU64::new(0)).collect());
        let done = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn({
            let (store, published, done) = (store.clone(), published.clone(), done.clone());
            async move {
                for i in 1..=3000u64 {
                    let k = (i as usize) % KEYS;
                    store.append(&[WriteOp::Put(key(k), Bytes::from(i.to_string()))]).await.unwrap();
                    published[k].store(i, Ordering::SeqCst);
                    if i % 16 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                done.store(true, Ordering::SeqCst);
            }
        });
        let mut readers = Vec::new();
        for _ in 0..3 {
            let (store, published, done) = (store.clone(), published.clone(), done.clone());
            readers.push(tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    for k in 0..KEYS {
                        let floor = published[k].load(Ordering::SeqCst);
                        let read = store.get(key(k)).await.unwrap();
                        let seen: u64 = read.map_or(0, |v| std::str::from_utf8(&v).unwrap().parse().unwrap());
                        assert!(seen >= floor, "key{k}: read {seen} after {floor} was written");
                    }
                    tokio::task::yield_now().await;
                }
            }));
        }
        writer.await.unwrap();
        for reader in readers {
            reader.await.unwrap();
        }
        // After the writes, every key reads its last value, then hits.
        for k in 0..KEYS {
            let last = published[k].load(Ordering::SeqCst).to_string();
            assert_eq!(store.get(key(k)).await.unwrap(), Some(Bytes::from(last.clone())));
            assert_eq!(store.get(key(k)).await.unwrap(), Some(Bytes::from(last)));
        }
        assert!(metrics.read_cache_hits.get() > 0, "the cache answered no read");
    }
}
