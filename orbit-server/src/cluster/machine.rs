//! The state machine of one group: applies committed entries to the node's
//! store, and builds and installs snapshots of the group's key range.
//!
//! Applying a batch of entries is one store write that also records the
//! applied log id and membership, inside the group's key range (so a
//! snapshot carries it); a blank or a staged write's commit, which read the
//! staging area, first write the entries before them with their own applied
//! record. So every store write holds exactly the effects of the entries up
//! to the applied id it records. It does not wait for an fsync: the Raft log
//! is the durability point, and after a crash the entries past the durable
//! applied id are applied again. A snapshot is one consistent view of the
//! range, and its log id is the applied record in that view.

use super::log::{decode, encode, storage_error};
use super::types::{
    ClusterMeta, Command, Entry, GroupId, LogId, META_GROUP, Membership, Peer, SnapshotPairs, StorageError,
    TypeConfig,
};
use crate::storage::Store;
use crate::storage::layout::{self, system_key};
use bytes::{BufMut, Bytes, BytesMut};
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use orbit_shared::WriteOp;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Where a group's data lives: a partition's range, or for the metadata
/// group the system keys under `cluster/`.
fn range_prefix(group: GroupId) -> Bytes {
    if group == META_GROUP { system_key("cluster/") } else { Bytes::copy_from_slice(&group.to_be_bytes()) }
}

/// The key holding the applied log id and membership: inside the range, and
/// for a partition under an empty kind (no actor has one).
fn applied_key(group: GroupId) -> Bytes {
    let prefix = range_prefix(group);
    let mut key = BytesMut::with_capacity(prefix.len() + 9);
    key.put_slice(&prefix);
    if group != META_GROUP {
        key.put_u8(0);
    }
    key.put_slice(b"raft-applied");
    key.freeze()
}

/// The staging area of a partition (see [`Command::Stage`]), or of one
/// staged write `id` in it: under an empty kind (no actor has one), beside
/// the counts (`u32::MAX`) and the applied record.
pub(super) fn staging_prefix(group: GroupId, id: Option<u64>) -> Bytes {
    let mut key = BytesMut::with_capacity(2 + 1 + 4 + 8 + 4);
    key.put_u16(group);
    key.put_u8(0);
    key.put_u32(u32::MAX - 1);
    if let Some(id) = id {
        key.put_u64(id);
    }
    key.freeze()
}

/// Where part `part` of staged write `id` waits for its commit.
fn staging_key(group: GroupId, id: u64, part: u32) -> Bytes {
    let mut key = BytesMut::from(&staging_prefix(group, Some(id))[..]);
    key.put_u32(part);
    key.freeze()
}

/// The key of the metadata group's record of the cluster.
pub(super) fn meta_key() -> Bytes {
    system_key("cluster/meta")
}

/// What a group's state machine shares with the node: the applied log id
/// (watched by readers waiting to catch up) and, for the metadata group, the
/// cluster's shape.
#[derive(Clone)]
pub struct Applied {
    pub log_id: watch::Sender<Option<LogId>>,
    pub meta: watch::Sender<ClusterMeta>,
    /// Told the kind and key of each actor record an applied entry wrote.
    pub written: super::Written,
}

impl Applied {
    pub fn new(written: super::Written) -> Self {
        Applied { log_id: watch::channel(None).0, meta: watch::channel(ClusterMeta::default()).0, written }
    }
}

/// The snapshot built or installed last, kept to send to followers.
type Current = Arc<Mutex<Option<(SnapshotMeta<u64, Peer>, Arc<SnapshotPairs>)>>>;

pub struct Machine {
    store: Arc<Store>,
    group: GroupId,
    applied: Option<LogId>,
    membership: Membership,
    current: Current,
    shared: Applied,
}

impl Machine {
    pub async fn open(store: Arc<Store>, group: GroupId, shared: Applied) -> Result<Self, StorageError> {
        let (applied, membership) = match store.get(applied_key(group)).await.map_err(storage_error)? {
            Some(bytes) => decode(&bytes)?,
            None => (None, Membership::default()),
        };
        if group == META_GROUP
            && let Some(bytes) = store.get(meta_key()).await.map_err(storage_error)?
        {
            shared.meta.send_replace(decode(&bytes)?);
        }
        shared.log_id.send_replace(applied);
        Ok(Machine { store, group, applied, membership, current: Arc::default(), shared })
    }

    /// Every pair of the group's range except the applied record, from one
    /// consistent view, and the applied log id and membership that view
    /// records.
    async fn pairs(&self) -> Result<(Vec<(Bytes, Bytes)>, Option<LogId>, Membership), StorageError> {
        let skip = applied_key(self.group);
        let mut pairs = self.store.scan_all(range_prefix(self.group)).await.map_err(storage_error)?;
        let (applied, membership) = match pairs.iter().find(|(k, _)| *k == skip) {
            Some((_, bytes)) => decode(bytes)?,
            None => (None, Membership::default()),
        };
        pairs.retain(|(k, _)| *k != skip);
        Ok((pairs, applied, membership))
    }

    /// Every pair under `prefix`.
    async fn scan(&self, prefix: Bytes) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        let mut pairs = Vec::new();
        let mut after = None;
        loop {
            let page = self.store.scan(prefix.clone(), after.take(), 4096).await.map_err(storage_error)?;
            let full = page.len() == 4096;
            after = page.last().map(|(k, _)| k.clone());
            pairs.extend(page);
            if !full {
                return Ok(pairs);
            }
        }
    }
}

impl Machine {
    /// Writes `ops` now (emptying it), ahead of the batch's end, with the
    /// applied record of `done`, the last entry whose effects they hold.
    async fn flush(&self, ops: &mut Vec<WriteOp>, done: Option<LogId>) -> Result<(), StorageError> {
        if !ops.is_empty() {
            let mut ops = std::mem::take(ops);
            ops.push(WriteOp::Put(applied_key(self.group), encode(&(done, &self.membership))?));
            self.store.append(&ops).await.map_err(storage_error)?;
            self.tell_kinds(&ops);
        }
        Ok(())
    }

    /// Tells the node each actor record `ops`, just written, changed, and
    /// how.
    fn tell_kinds(&self, ops: &[WriteOp]) {
        for op in ops {
            if let (Some(kind), Some(key)) =
                (layout::record_kind(op.key()), layout::record_actor_key(op.key()))
            {
                let state = match op {
                    WriteOp::Put(stored, value) => {
                        layout::Record::decode(stored, value.clone()).ok().map(|r| r.state)
                    }
                    _ => None,
                };
                (self.shared.written)(kind, key, state);
            }
        }
    }
}

impl RaftStateMachine<TypeConfig> for Machine {
    type SnapshotBuilder = Builder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, Membership), StorageError> {
        Ok((self.applied, self.membership.clone()))
    }

    /// Applies a batch of entries as one store write, except that a blank
    /// (a term's first entry) and a staged write's commit first write what
    /// the batch holds before them, as they read the staging area.
    async fn apply<I>(&mut self, entries: I) -> Result<Vec<bool>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut ops = Vec::new();
        let mut replies = Vec::new();
        let mut meta = None;
        for entry in entries {
            let done = self.applied;
            self.applied = Some(entry.log_id);
            let mut applied = true;
            match entry.payload {
                EntryPayload::Blank if self.group != META_GROUP => {
                    self.flush(&mut ops, done).await?;
                    let staged = self.scan(staging_prefix(self.group, None)).await?;
                    ops.extend(staged.into_iter().map(|(k, _)| WriteOp::Delete(k)));
                }
                EntryPayload::Blank => {}
                EntryPayload::Normal(Command::Write(writes)) => ops.extend(writes),
                EntryPayload::Normal(Command::WriteInTerm { term, ops: writes }) => {
                    applied = entry.log_id.leader_id.term == term;
                    if applied {
                        ops.extend(writes);
                    }
                }
                EntryPayload::Normal(Command::Meta(m)) => {
                    ops.push(WriteOp::Put(meta_key(), encode(&m)?));
                    meta = Some(m);
                }
                EntryPayload::Normal(Command::Stage { id, part, ops: writes }) => {
                    ops.push(WriteOp::Put(staging_key(self.group, id, part), encode(&writes)?));
                }
                EntryPayload::Normal(Command::Commit { id, parts, term, ops: writes }) => {
                    self.flush(&mut ops, done).await?;
                    let staged = self.scan(staging_prefix(self.group, Some(id))).await?;
                    applied = staged.len() == parts as usize
                        && term.is_none_or(|term| term == entry.log_id.leader_id.term);
                    let mut keys = Vec::with_capacity(staged.len());
                    for (key, part) in staged {
                        if applied {
                            ops.extend(decode::<Vec<WriteOp>>(&part)?);
                        }
                        keys.push(WriteOp::Delete(key));
                    }
                    if applied {
                        ops.extend(writes);
                    }
                    ops.extend(keys);
                }
                EntryPayload::Membership(m) => self.membership = Membership::new(Some(entry.log_id), m),
            }
            replies.push(applied);
        }
        if replies.is_empty() {
            return Ok(replies);
        }
        ops.push(WriteOp::Put(applied_key(self.group), encode(&(self.applied, &self.membership))?));
        self.store.append(&ops).await.map_err(storage_error)?;
        self.tell_kinds(&ops);
        if let Some(meta) = meta {
            self.shared.meta.send_replace(meta);
        }
        self.shared.log_id.send_replace(self.applied);
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Builder {
        Builder {
            machine: Machine {
                store: self.store.clone(),
                group: self.group,
                applied: self.applied,
                membership: self.membership.clone(),
                current: self.current.clone(),
                shared: self.shared.clone(),
            },
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotPairs>, StorageError> {
        Ok(Box::default())
    }

    /// Replaces the group's range with the snapshot's pairs in one atomic
    /// store write (a crash leaves the old state or the new, never a mix).
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, Peer>,
        snapshot: Box<SnapshotPairs>,
    ) -> Result<(), StorageError> {
        let mut ops: Vec<WriteOp> =
            self.pairs().await?.0.into_iter().map(|(k, _)| WriteOp::Delete(k)).collect();
        ops.extend(snapshot.pairs.iter().map(|(k, v)| WriteOp::Put(k.clone(), v.clone())));
        self.applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        ops.push(WriteOp::Put(applied_key(self.group), encode(&(self.applied, &self.membership))?));
        let seq = self.store.append(&ops).await.map_err(storage_error)?;
        self.store.wait_durable(seq).await.map_err(storage_error)?;
        self.tell_kinds(&ops);
        if self.group == META_GROUP
            && let Some((_, bytes)) = snapshot.pairs.iter().find(|(k, _)| *k == meta_key())
        {
            self.shared.meta.send_replace(decode(bytes)?);
        }
        self.shared.log_id.send_replace(self.applied);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((meta.clone(), Arc::new(*snapshot)));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(current.map(|(meta, pairs)| Snapshot { meta, snapshot: Box::new((*pairs).clone()) }))
    }
}

pub struct Builder {
    machine: Machine,
}

impl RaftSnapshotBuilder<TypeConfig> for Builder {
    /// Scans the group's range as of (at least) the applied id read when
    /// the builder was made; see the module comment for why later writes in
    /// the scan are harmless.
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (pairs, last, membership) = self.machine.pairs().await?;
        let pairs = SnapshotPairs { pairs };
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: membership,
            snapshot_id: format!("{}-{}", self.machine.group, last.map_or(0, |l| l.index)),
        };
        *self.machine.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((meta.clone(), Arc::new(pairs.clone())));
        Ok(Snapshot { meta, snapshot: Box::new(pairs) })
    }
}
