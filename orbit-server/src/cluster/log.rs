//! The Raft log of one group, kept in the node's store beside the data.
//!
//! Every group of a node writes its log through the same [`Store`], so the
//! store's group commit makes one fsync cover the entries of many groups.
//! Keys: `system | "raft/" | group (u16 BE) | tag | index (u64 BE)`, where
//! the tag is `l` for entries, `v` for the vote and `p` for the last purged
//! log id. The applied state is the state machine's (`machine.rs`). The
//! newest entries are also kept in memory ([`TAIL`] of them), so sending
//! them to followers reads no storage.

use super::types::{Entry, GroupId, LogId, StorageError, TypeConfig, Vote};
use crate::storage::Store;
use crate::storage::layout::system_key;
use bytes::{BufMut, Bytes, BytesMut};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader, StorageIOError};
use orbit_shared::WriteOp;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

/// Entries kept in memory per group for replication.
const TAIL: usize = 4096;

/// One group's log: cheap to clone (readers share the store and the tail).
#[derive(Clone)]
pub struct GroupLog {
    store: Arc<Store>,
    group: GroupId,
    /// The newest entries, contiguous, by index.
    tail: Arc<std::sync::Mutex<std::collections::BTreeMap<u64, Entry>>>,
    /// The last entry's id, or the last purged one when the log is empty.
    last: Option<LogId>,
    purged: Option<LogId>,
}

// Every storage method openraft calls returns its (large) StorageError.
#[allow(clippy::result_large_err)]
pub(super) fn encode<T: Serialize>(value: &T) -> Result<Bytes, StorageError> {
    postcard::to_stdvec(value).map(Bytes::from).map_err(|e| StorageIOError::write(AnyError::new(&e)).into())
}

#[allow(clippy::result_large_err)]
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    postcard::from_bytes(bytes).map_err(|e| StorageIOError::read(AnyError::new(&e)).into())
}

pub(super) fn storage_error(e: impl ToString) -> StorageError {
    StorageIOError::write(AnyError::error(e)).into()
}

fn group_prefix(group: GroupId, tag: u8) -> Bytes {
    let base = system_key("raft/");
    let mut key = BytesMut::with_capacity(base.len() + 3);
    key.put_slice(&base);
    key.put_u16(group);
    key.put_u8(tag);
    key.freeze()
}

fn entry_key(group: GroupId, index: u64) -> Bytes {
    let prefix = group_prefix(group, b'l');
    let mut key = BytesMut::with_capacity(prefix.len() + 8);
    key.put_slice(&prefix);
    key.put_u64(index);
    key.freeze()
}

impl GroupLog {
    /// Opens group `group`'s log, finding its last entry.
    pub async fn open(store: Arc<Store>, group: GroupId) -> Result<Self, StorageError> {
        let purged = match store.get(group_prefix(group, b'p')).await.map_err(storage_error)? {
            Some(bytes) => Some(decode(&bytes)?),
            None => None,
        };
        let mut log = GroupLog { store, group, tail: Arc::default(), last: purged, purged };
        let prefix = group_prefix(group, b'l');
        let mut after = None;
        loop {
            let page = log.store.scan(prefix.clone(), after.take(), 4096).await.map_err(storage_error)?;
            let Some((key, value)) = page.last() else { break };
            let entry: Entry = decode(value)?;
            log.last = Some(entry.log_id);
            if page.len() < 4096 {
                break;
            }
            after = Some(key.clone());
        }
        Ok(log)
    }

    fn tail(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<u64, Entry>> {
        self.tail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Entries from `start` (inclusive) to `end` (exclusive), in order: from
    /// the tail when it holds them all, else from the store.
    async fn read(&self, start: u64, end: u64) -> Result<Vec<Entry>, StorageError> {
        {
            let tail = self.tail();
            if let (Some((&first, _)), Some((&last, _))) = (tail.first_key_value(), tail.last_key_value())
                && first <= start
            {
                return Ok(tail.range(start..end.min(last + 1)).map(|(_, e)| e.clone()).collect());
            }
        }
        self.read_stored(start, end).await
    }

    async fn read_stored(&self, start: u64, end: u64) -> Result<Vec<Entry>, StorageError> {
        let mut entries = Vec::new();
        let prefix = group_prefix(self.group, b'l');
        let mut after = start.checked_sub(1).map(|i| entry_key(self.group, i));
        while (entries.len() as u64) < end.saturating_sub(start) {
            let want = usize::try_from(end - start).unwrap_or(usize::MAX).min(1024);
            let page = self.store.scan(prefix.clone(), after.take(), want).await.map_err(storage_error)?;
            let full = page.len() == want;
            for (key, value) in &page {
                let entry: Entry = decode(value)?;
                if entry.log_id.index >= end {
                    return Ok(entries);
                }
                entries.push(entry);
                after = Some(key.clone());
            }
            if !full {
                break;
            }
        }
        Ok(entries)
    }

    /// Deletes entries with index in `from..=to`.
    async fn delete(&self, from: u64, to: u64) -> Result<u64, StorageError> {
        let ops: Vec<WriteOp> = (from..=to).map(|i| WriteOp::Delete(entry_key(self.group, i))).collect();
        if ops.is_empty() {
            return Ok(0);
        }
        self.store.append(&ops).await.map_err(storage_error)
    }

    async fn durable(&self, seq: u64) -> Result<(), StorageError> {
        self.store.wait_durable(seq).await.map_err(storage_error)
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&i) => i + 1,
        Bound::Excluded(&i) => i,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for GroupLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let (start, end) = bounds(&range);
        self.read(start, end).await
    }

    /// What one AppendEntries carries: entries from `start` up to about
    /// [`MAX_APPEND_BYTES`] of writes (at least one), so that each is sent
    /// and stored within the heartbeat interval openraft allows it.
    /// Entries are read a few at a time, so a follower far behind does not
    /// cost a read of every entry it lacks per message.
    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Entry>, StorageError> {
        const READ_AHEAD: u64 = 16;
        let mut entries = Vec::new();
        let mut total = 0;
        let mut next = start;
        while next < end {
            let batch = self.read(next, end.min(next + READ_AHEAD)).await?;
            if batch.is_empty() {
                break;
            }
            for entry in batch {
                let bytes = match &entry.payload {
                    openraft::EntryPayload::Normal(command) => command.bytes(),
                    _ => 64,
                };
                if !entries.is_empty() && total + bytes > MAX_APPEND_BYTES {
                    return Ok(entries);
                }
                total += bytes;
                next = entry.log_id.index + 1;
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}

/// About the most bytes of writes one AppendEntries carries.
const MAX_APPEND_BYTES: usize = 512 << 10;

impl RaftLogStorage<TypeConfig> for GroupLog {
    type LogReader = GroupLog;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        Ok(LogState { last_purged_log_id: self.purged, last_log_id: self.last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let seq = self
            .store
            .append(&[WriteOp::Put(group_prefix(self.group, b'v'), encode(vote)?)])
            .await
            .map_err(storage_error)?;
        // A vote must be durable before it is acted on; with durability
        // `none` the node promises nothing after a crash.
        self.durable(seq).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        match self.store.get(group_prefix(self.group, b'v')).await.map_err(storage_error)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut ops = Vec::new();
        let mut last = None;
        let mut kept = Vec::new();
        for entry in entries {
            ops.push(WriteOp::Put(entry_key(self.group, entry.log_id.index), encode(&entry)?));
            last = Some(entry.log_id);
            kept.push(entry);
        }
        if ops.is_empty() {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        let seq = self.store.append(&ops).await.map_err(storage_error)?;
        self.last = last;
        {
            let mut tail = self.tail();
            for entry in kept {
                // Contiguous: an entry not right after the tail starts it anew.
                if tail.last_key_value().is_some_and(|(&l, _)| l + 1 != entry.log_id.index) {
                    tail.clear();
                }
                tail.insert(entry.log_id.index, entry);
            }
            while tail.len() > TAIL {
                tail.pop_first();
            }
        }
        // Visible now; the callback fires when the store's group commit has
        // made it durable (one fsync for every group's entries of the moment).
        let store = self.store.clone();
        tokio::spawn(async move {
            let done = store.wait_durable(seq).await.map_err(|e| std::io::Error::other(e.to_string()));
            callback.log_io_completed(done);
        });
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.tail().split_off(&log_id.index);
        let last = self.last.map_or(0, |l| l.index);
        if log_id.index <= last {
            let seq = self.delete(log_id.index, last).await?;
            self.durable(seq).await?;
        }
        self.last = match log_id.index.checked_sub(1) {
            Some(prev) if self.purged.is_none_or(|p| prev > p.index) => {
                self.read_stored(prev, prev + 1).await?.pop().map(|e| e.log_id).or(self.purged)
            }
            _ => self.purged,
        };
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        {
            let mut tail = self.tail();
            let kept = tail.split_off(&(log_id.index + 1));
            *tail = kept;
        }
        let from = self.purged.map_or(0, |p| p.index + 1);
        let mut ops: Vec<WriteOp> =
            (from..=log_id.index).map(|i| WriteOp::Delete(entry_key(self.group, i))).collect();
        ops.push(WriteOp::Put(group_prefix(self.group, b'p'), encode(&log_id)?));
        self.store.append(&ops).await.map_err(storage_error)?;
        self.purged = Some(log_id);
        if self.last.is_none_or(|l| l.index < log_id.index) {
            self.last = Some(log_id);
        }
        Ok(())
    }
}
