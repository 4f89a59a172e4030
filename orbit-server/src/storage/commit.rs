//! Group append and group commit. Appends queue their ops and get a
//! sequence number; whoever finds no write in progress becomes the writer
//! and writes everything queued as one atomic batch (outside the lock, so
//! more appends queue meanwhile), and the others wait for it. Likewise
//! whoever waits for durability while no fsync is running starts one that
//! covers every write so far, and everyone waiting on an earlier sequence
//! shares it. Concurrent writers thus share both engine writes (one redb
//! transaction, one journal append) and fsyncs. The writer writes on its own
//! task's thread (an async worker, no `spawn_blocking`); fsyncs run on the
//! blocking pool.
//!
//! Invariants:
//! - Each append's ops stay atomic: a merged write is all or nothing.
//! - `written` is the highest sequence whose ops are in the backend; the
//!   queue holds exactly the appends above it. A cancelled waiter's ops are
//!   still written (its turn reloads state from storage anyway).
//! - `durable <= written`; a sequence is acknowledged under `always` only once
//!   `durable >= seq`.
//! - At most one fsync runs at a time; the blocking task that runs it also
//!   clears `syncing`, so a waiter that is cancelled cannot wedge the group.
//! - After any write or fsync error the committer is failed: it refuses every
//!   later append and wait, rather than acknowledging what may be lost.
//! - The committer owns the backend, so a hot swap (`swap_to`) replaces it
//!   between two appends: appends made while the copy runs are teed and
//!   replayed into the new backend, which is fsynced before it takes over.

use super::cache::ReadCache;
use super::copy::{Fingerprint, copy_all};
use super::{Backend, StorageError, WriteOp};
use crate::config::Durability;
use crate::metrics::StorageMetrics;
use bytes::Bytes;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Position of a write in the node's commit order.
pub type Seq = u64;

pub struct Committer {
    durability: Durability,
    /// Whether the current backend does I/O; when not, nothing needs an fsync.
    does_io: std::sync::atomic::AtomicBool,
    state: Mutex<State>,
    durable: AtomicU64,
    progress: watch::Sender<Seq>,
    /// Wakes appenders when a group write finishes.
    appended: tokio::sync::Notify,
    metrics: StorageMetrics,
    /// Point reads' cache: every backend write drops the keys it writes.
    cache: ReadCache,
}

struct State {
    backend: Arc<dyn Backend>,
    /// Ops of appends not yet written, in order; `queued` is the last one's sequence.
    queue: Vec<WriteOp>,
    queued: Seq,
    /// The last group's buffer, kept for its capacity.
    spare: Vec<WriteOp>,
    /// A writer is writing (outside the lock).
    writing: bool,
    written: Seq,
    durable: Seq,
    syncing: bool,
    failed: Option<String>,
    /// Appends made while a hot swap copies, to replay into the new backend.
    tee: Option<Vec<WriteOp>>,
}

/// `ops` with every [`WriteOp::Add`] replaced by a `Put` of the counter's
/// new value, read from `backend` or from an earlier op of the batch.
/// Called by the one writer, so additions apply in commit order.
fn resolve_adds<'a>(backend: &dyn Backend, ops: &'a [WriteOp]) -> Result<Cow<'a, [WriteOp]>, StorageError> {
    if !ops.iter().any(|op| matches!(op, WriteOp::Add(..))) {
        return Ok(Cow::Borrowed(ops));
    }
    // Counters written so far in this batch (`None`: deleted), for every
    // key an addition names.
    let added: HashSet<&Bytes> =
        ops.iter().filter(|op| matches!(op, WriteOp::Add(..))).map(WriteOp::key).collect();
    let mut counters: HashMap<Bytes, Option<Bytes>> = HashMap::new();
    let mut resolved = Vec::with_capacity(ops.len());
    for op in ops {
        let op = match op {
            WriteOp::Add(key, delta) => {
                let current = match counters.get(key) {
                    Some(value) => value.clone(),
                    None => backend.get(key)?,
                };
                let value = super::add_to_counter(key, current.as_deref(), *delta)?;
                counters.insert(key.clone(), Some(value.clone()));
                WriteOp::Put(key.clone(), value)
            }
            other => {
                if added.contains(other.key()) {
                    let value = match other {
                        WriteOp::Put(_, value) => Some(value.clone()),
                        _ => None,
                    };
                    counters.insert(other.key().clone(), value);
                }
                other.clone()
            }
        };
        resolved.push(op);
    }
    Ok(Cow::Owned(resolved))
}

/// Ops per write when replaying teed appends.
const REPLAY_BATCH: usize = 1000;

impl Committer {
    pub fn new(backend: Arc<dyn Backend>, durability: Durability, metrics: StorageMetrics) -> Self {
        let does_io = std::sync::atomic::AtomicBool::new(backend.does_io());
        let state = State {
            backend,
            queue: Vec::new(),
            spare: Vec::new(),
            queued: 0,
            writing: false,
            written: 0,
            durable: 0,
            syncing: false,
            failed: None,
            tee: None,
        };
        Committer {
            durability,
            does_io,
            state: Mutex::new(state),
            durable: AtomicU64::new(0),
            progress: watch::channel(0).0,
            appended: tokio::sync::Notify::new(),
            metrics,
            cache: ReadCache::new(0),
        }
    }

    /// Keeps up to `bytes` of recently read values (see `cache.rs`).
    pub fn with_read_cache(mut self, bytes: usize) -> Self {
        self.cache = ReadCache::new(bytes);
        self
    }

    pub(super) fn cache(&self) -> &ReadCache {
        &self.cache
    }

    /// Writes `ops` to `backend`, keeping the read cache coherent around
    /// it. Returns the ops as written: additions resolved into puts.
    fn write_through<'a>(
        &self,
        backend: &dyn Backend,
        ops: &'a [WriteOp],
    ) -> Result<Cow<'a, [WriteOp]>, StorageError> {
        let ops = resolve_adds(backend, ops)?;
        let shards = self.cache.writing(&ops);
        let result = backend.write(&ops);
        self.cache.written(shards);
        result.map(|()| ops)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `ops` as one atomic batch, sharing the engine write with
    /// concurrent appends, and returns once it is written (visible; durable
    /// only after `wait_durable`).
    pub async fn append(&self, ops: &[WriteOp]) -> Result<Seq, StorageError> {
        let (seq, lead) = {
            let mut state = self.lock();
            if let Some(reason) = &state.failed {
                return Err(StorageError::Failed { reason: reason.clone() });
            }
            state.queued += 1;
            if state.writing {
                state.queue.extend_from_slice(ops);
                (state.queued, None)
            } else {
                // No write in flight, so the queue is empty: write our own ops.
                state.writing = true;
                (state.queued, Some(state.backend.clone()))
            }
        };
        match lead {
            // Synchronous: once begun, a group write cannot be cancelled.
            Some(backend) => self.lead(backend, ops, seq),
            None => self.follow(seq).await,
        }
    }

    /// Writes the leader's `ops`, then every group that queued meanwhile,
    /// until the queue is empty, waking each group's appenders as soon as it
    /// is written. (The queue is bounded by the number of concurrent
    /// appenders, each waiting for its own group, so it drains; the leader
    /// pays for the groups that formed while it wrote.)
    fn lead(&self, backend: Arc<dyn Backend>, ops: &[WriteOp], seq: Seq) -> Result<Seq, StorageError> {
        let result = self.write_through(backend.as_ref(), ops);
        let mut state = self.lock();
        let mine = Self::wrote(&mut state, result, seq);
        while !state.queue.is_empty() && state.failed.is_none() {
            let spare = std::mem::take(&mut state.spare);
            let mut group = std::mem::replace(&mut state.queue, spare);
            let (upto, backend) = (state.queued, state.backend.clone());
            drop(state);
            let result = self.write_through(backend.as_ref(), &group);
            state = self.lock();
            let _ = Self::wrote(&mut state, result, upto);
            group.clear();
            state.spare = group;
            self.appended.notify_waiters();
        }
        state.writing = false;
        let failed = state.failed.is_some();
        drop(state);
        if failed {
            // Appenders still queued behind a failed write learn of it.
            self.appended.notify_waiters();
        }
        mine.map(|()| seq)
    }

    /// Records the outcome of a group write of the appends up to `upto`
    /// (the ops as written, for a hot swap's replay).
    fn wrote(
        state: &mut State,
        result: Result<Cow<'_, [WriteOp]>, StorageError>,
        upto: Seq,
    ) -> Result<(), StorageError> {
        match result {
            Ok(ops) => {
                if let Some(tee) = &mut state.tee {
                    tee.extend_from_slice(&ops);
                }
                state.written = upto;
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "storage write failed; refusing further writes");
                state.failed = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Waits until the leader has written append `seq`.
    async fn follow(&self, seq: Seq) -> Result<Seq, StorageError> {
        loop {
            let appended = self.appended.notified();
            tokio::pin!(appended);
            appended.as_mut().enable();
            {
                let state = self.lock();
                if state.written >= seq {
                    return Ok(seq);
                }
                if let Some(reason) = &state.failed {
                    return Err(StorageError::Failed { reason: reason.clone() });
                }
            }
            appended.await;
        }
    }

    pub fn written(&self) -> Seq {
        self.lock().written
    }

    /// The backend appends currently go to.
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.lock().backend.clone()
    }

    /// Moves everything to `target` while appends go on (blocking; run off
    /// the async threads). `cut_over` runs at the switch, under the commit
    /// lock, after `target` holds every append and is fsynced; it records
    /// the switch durably (the data directory's marker). On any error the
    /// old backend stays in place.
    pub fn swap_to(
        &self,
        target: Arc<dyn Backend>,
        cut_over: impl FnOnce() -> Result<(), StorageError>,
    ) -> Result<Fingerprint, StorageError> {
        let result = self.copy_and_cut_over(target, cut_over);
        if result.is_err() {
            self.lock().tee = None;
        }
        result
    }

    fn copy_and_cut_over(
        &self,
        target: Arc<dyn Backend>,
        cut_over: impl FnOnce() -> Result<(), StorageError>,
    ) -> Result<Fingerprint, StorageError> {
        let mut state = Some(self.lock());
        let source = state.as_ref().map(|s| s.backend.clone()).ok_or(StorageError::Closed)?;
        if let Some(s) = state.as_mut() {
            s.tee = Some(Vec::new());
        }
        // The snapshot and the tee start under the same lock: every append
        // is either in the snapshot or in the tee.
        let mut copied = None;
        source.with_snapshot(&mut |snapshot| {
            drop(state.take());
            copied = Some(copy_all(snapshot, target.as_ref())?);
            Ok(())
        })?;
        drop(state);
        loop {
            let teed = std::mem::take(self.lock().tee.get_or_insert_with(Vec::new));
            for chunk in teed.chunks(REPLAY_BATCH) {
                target.write(chunk)?;
            }
            if teed.len() < REPLAY_BATCH {
                break;
            }
        }
        // Cut over between two group writes: with no write in flight the
        // queue is empty too (whoever queues while no one writes, writes).
        let mut state = loop {
            let state = self.lock();
            if !state.writing {
                break state;
            }
            drop(state);
            std::thread::yield_now();
        };
        if let Some(reason) = &state.failed {
            return Err(StorageError::Failed { reason: reason.clone() });
        }
        let rest = state.tee.take().unwrap_or_default();
        for chunk in rest.chunks(REPLAY_BATCH) {
            target.write(chunk)?;
        }
        target.sync()?;
        cut_over()?;
        self.does_io.store(target.does_io(), Ordering::Release);
        state.backend = target;
        state.durable = state.written;
        self.durable.store(state.durable, Ordering::Release);
        self.progress.send_replace(state.durable);
        copied.ok_or(StorageError::Closed)
    }

    pub async fn wait_durable(self: &Arc<Self>, seq: Seq) -> Result<(), StorageError> {
        match self.durability {
            Durability::Always => self.until_durable(seq).await,
            _ => Ok(()),
        }
    }

    pub async fn sync_now(self: &Arc<Self>) -> Result<(), StorageError> {
        let written = self.lock().written;
        self.until_durable(written).await
    }

    /// Fsyncs every `interval` while there are unsynced writes, until cancelled.
    pub async fn run_periodic(self: Arc<Self>, interval: Duration, cancel: CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while cancel.run_until_cancelled(ticks.tick()).await.is_some() {
            if let Err(e) = self.sync_now().await {
                tracing::error!(error = %e, "periodic fsync failed; refusing further writes");
                return;
            }
        }
    }

    async fn until_durable(self: &Arc<Self>, seq: Seq) -> Result<(), StorageError> {
        loop {
            if self.durable.load(Ordering::Acquire) >= seq {
                return Ok(());
            }
            if !self.does_io.load(Ordering::Acquire) {
                return Ok(());
            }
            let mut progress = self.progress.subscribe();
            let lead = {
                let mut state = self.lock();
                if let Some(reason) = &state.failed {
                    return Err(StorageError::Failed { reason: reason.clone() });
                }
                if state.durable >= seq {
                    return Ok(());
                }
                !std::mem::replace(&mut state.syncing, true)
            };
            if lead {
                let this = self.clone();
                // Not cancellable once started: see the module invariants.
                let task = tokio::task::spawn_blocking(move || this.sync_group());
                let _ = task.await;
            } else {
                let _ = progress.changed().await;
            }
        }
    }

    fn sync_group(&self) {
        let (target, backend) = {
            let state = self.lock();
            (state.written, state.backend.clone())
        };
        let started = Instant::now();
        let result = backend.sync();
        self.metrics.fsyncs.inc();
        self.metrics.fsync_seconds.observe(started.elapsed().as_secs_f64());
        let mut state = self.lock();
        state.syncing = false;
        match result {
            Ok(()) => {
                state.durable = state.durable.max(target);
                self.durable.store(state.durable, Ordering::Release);
            }
            Err(e) => {
                tracing::error!(error = %e, "fsync failed; refusing further writes");
                state.failed = Some(e.to_string());
            }
        }
        self.progress.send_replace(state.durable);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryBackend;
    use bytes::Bytes;
    use std::sync::atomic::AtomicUsize;

    /// A backend that counts fsyncs, makes each take a while, and can fail.
    #[derive(Default)]
    struct SlowSync {
        inner: MemoryBackend,
        syncs: AtomicUsize,
        fail_writes: std::sync::atomic::AtomicBool,
    }

    impl Backend for SlowSync {
        fn name(&self) -> &'static str {
            "slow-sync"
        }
        fn get(&self, key: &[u8]) -> Result<Option<Bytes>, StorageError> {
            self.inner.get(key)
        }
        fn write(&self, ops: &[WriteOp]) -> Result<(), StorageError> {
            if self.fail_writes.load(Ordering::Relaxed) {
                return Err(StorageError::Io { backend: "slow-sync", reason: "disk full".into() });
            }
            self.inner.write(ops)
        }
        fn scan(&self, p: &[u8], a: Option<&[u8]>, l: usize) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
            self.inner.scan(p, a, l)
        }
        fn with_snapshot(
            &self,
            read: &mut dyn FnMut(&dyn crate::storage::Snapshot) -> Result<(), StorageError>,
        ) -> Result<(), StorageError> {
            self.inner.with_snapshot(read)
        }
        fn sync(&self) -> Result<(), StorageError> {
            std::thread::sleep(Duration::from_millis(20));
            self.syncs.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        fn close(&self) -> Result<(), StorageError> {
            Ok(())
        }
        fn does_io(&self) -> bool {
            true
        }
        fn stats(&self) -> crate::storage::BackendStats {
            self.inner.stats()
        }
    }

    fn put(i: u32) -> Vec<WriteOp> {
        vec![WriteOp::Put(Bytes::from(i.to_be_bytes().to_vec()), Bytes::from_static(b"v"))]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_share_fsyncs() {
        let backend = Arc::new(SlowSync::default());
        let committer =
            Arc::new(Committer::new(backend.clone(), Durability::Always, StorageMetrics::unregistered()));
        let writers: Vec<_> = (0..64)
            .map(|i| {
                let c = committer.clone();
                tokio::spawn(async move {
                    let seq = c.append(&put(i)).await?;
                    c.wait_durable(seq).await
                })
            })
            .collect();
        for w in writers {
            w.await.expect("writer task").expect("durable write");
        }
        let syncs = backend.syncs.load(Ordering::Relaxed);
        assert!((1..64).contains(&syncs), "64 writers used {syncs} fsyncs");
        assert_eq!(committer.durable.load(Ordering::Relaxed), 64);
    }

    #[tokio::test]
    async fn a_failed_write_refuses_all_later_writes() {
        let backend = Arc::new(SlowSync::default());
        let committer =
            Arc::new(Committer::new(backend.clone(), Durability::Always, StorageMetrics::unregistered()));
        committer.append(&put(1)).await.expect("first write");
        backend.fail_writes.store(true, Ordering::Relaxed);
        assert!(committer.append(&put(2)).await.is_err());
        backend.fail_writes.store(false, Ordering::Relaxed);
        let err = committer.append(&put(3)).await.expect_err("committer stays failed");
        assert!(matches!(err, StorageError::Failed { .. }), "{err}");
        assert!(committer.wait_durable(1).await.is_err());
    }

    /// Additions from concurrent appends (sharing engine writes) all count,
    /// and an addition after a put or delete of the counter in the same
    /// batch adds to what that op left.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn additions_to_a_counter_resolve_in_commit_order() {
        let backend = Arc::new(SlowSync::default());
        let committer =
            Arc::new(Committer::new(backend.clone(), Durability::Always, StorageMetrics::unregistered()));
        let counter = Bytes::from_static(b"count");
        let writers: Vec<_> = (0..64i64)
            .map(|i| {
                let (c, counter) = (committer.clone(), counter.clone());
                tokio::spawn(async move {
                    let mut ops = put(i as u32);
                    ops.push(WriteOp::Add(counter, if i % 4 == 0 { -1 } else { 2 }));
                    let seq = c.append(&ops).await?;
                    c.wait_durable(seq).await
                })
            })
            .collect();
        for w in writers {
            w.await.expect("writer task").expect("durable write");
        }
        let value = backend.get(&counter).unwrap();
        assert_eq!(crate::storage::read_counter(&counter, value.as_deref()).unwrap(), 48 * 2 - 16);
        let batch = [
            WriteOp::Put(counter.clone(), Bytes::copy_from_slice(&10i64.to_be_bytes())),
            WriteOp::Add(counter.clone(), 5),
            WriteOp::Delete(counter.clone()),
            WriteOp::Add(counter.clone(), -3),
        ];
        committer.append(&batch).await.unwrap();
        let value = backend.get(&counter).unwrap();
        assert_eq!(crate::storage::read_counter(&counter, value.as_deref()).unwrap(), -3);
        let bad = [WriteOp::Put(counter.clone(), Bytes::from_static(b"x")), WriteOp::Add(counter.clone(), 1)];
        assert!(matches!(committer.append(&bad).await, Err(StorageError::Corrupt { .. })));
    }

    #[test]
    fn an_engine_refuses_an_unresolved_addition() {
        let err = MemoryBackend::default().write(&[WriteOp::Add(Bytes::from_static(b"c"), 1)]).unwrap_err();
        assert!(matches!(err, StorageError::Corrupt { .. }), "{err}");
    }
}
