//! Storage: the [`Backend`] trait (DESIGN §6), its implementations, the key
//! and record layout, and the [`Store`] every partition commits through.
//!
//! | file | concept |
//! |---|---|
//! | `memory.rs` | ordered in-memory map; no durability |
//! | `lsm.rs` | `fjall` LSM-tree; the default embedded backend |
//! | `commit.rs` | group commit: ordered appends, shared fsyncs |
//! | `layout.rs` | key encoding `partition | kind | key` and the actor record |

mod commit;
pub mod layout;
mod lsm;
mod memory;

pub use commit::Seq;
pub use lsm::LsmBackend;
pub use memory::MemoryBackend;

use crate::config::{Durability, StorageConfig, StorageKind};
use crate::metrics::StorageMetrics;
use bytes::Bytes;
use commit::Committer;
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
    #[error("data directory holds {found} partitions but the config asks for {configured}")]
    PartitionCountMismatch { found: u16, configured: u16 },
}

impl From<StorageError> for orbit_shared::Error {
    fn from(e: StorageError) -> Self {
        orbit_shared::Error::Storage { reason: e.to_string() }
    }
}

/// One write in an atomic batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Put(Bytes, Bytes),
    Delete(Bytes),
}

/// The storage seam: an ordered key-value engine with atomic batches.
/// Implementations may buffer writes; `sync` makes everything written so far
/// durable. Methods block: [`Store`] calls the ones that do I/O through
/// `spawn_blocking`.
pub trait Backend: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError>;
    /// Applies `ops` atomically (all or none after a crash).
    fn write(&self, ops: &[Op]) -> Result<(), StorageError>;
    /// Up to `limit` pairs whose key starts with `prefix` and sorts after
    /// `after` (exclusive), in key order.
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError>;
    fn sync(&self) -> Result<(), StorageError>;
    /// Syncs and releases the files (and their lock); later calls fail with
    /// [`StorageError::Closed`].
    fn close(&self) -> Result<(), StorageError>;
    /// Whether calls touch the disk (and so must leave the async threads).
    fn does_io(&self) -> bool;
    fn disk_bytes(&self) -> u64;
}

/// Opens the configured backend under `data_dir`.
pub fn open_backend(config: &StorageConfig, data_dir: &Path) -> Result<Arc<dyn Backend>, StorageError> {
    Ok(match config.backend {
        StorageKind::Memory => Arc::new(MemoryBackend::default()),
        StorageKind::Lsm => Arc::new(LsmBackend::open(&data_dir.join("lsm"))?),
    })
}

/// The node's storage: a backend plus the group-commit path every partition
/// writes through.
pub struct Store {
    backend: Arc<dyn Backend>,
    committer: Arc<Committer>,
    metrics: StorageMetrics,
}

impl Store {
    pub fn new(backend: Arc<dyn Backend>, durability: Durability, metrics: StorageMetrics) -> Self {
        let committer = Arc::new(Committer::new(backend.clone(), durability, metrics.clone()));
        Store { backend, committer, metrics }
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub async fn get(&self, key: Bytes) -> Result<Option<Bytes>, StorageError> {
        self.metrics.reads.inc();
        self.blocking(move |b| b.get(&key)).await
    }

    pub async fn scan(
        &self,
        prefix: Bytes,
        after: Option<Bytes>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        self.blocking(move |b| b.scan(&prefix, after.as_deref(), limit)).await
    }

    /// Applies `ops` in commit order and returns their sequence number. The
    /// write is visible at once and durable after [`Store::wait_durable`].
    pub fn append(&self, ops: &[Op]) -> Result<Seq, StorageError> {
        let started = Instant::now();
        let seq = self.committer.append(ops);
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
        if !self.backend.does_io() {
            return f(self.backend.as_ref());
        }
        let backend = self.backend.clone();
        tokio::task::spawn_blocking(move || f(backend.as_ref()))
            .await
            .map_err(|e| StorageError::Io { backend: "runtime", reason: e.to_string() })?
    }
}

#[cfg(test)]
mod conformance;
