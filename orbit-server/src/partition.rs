//! Partitions: contiguous slot ranges, fixed in number when a data directory
//! is created (default 64). A partition is the unit of storage layout,
//! replication and placement, and the only way to its data: every write
//! ([`Partition::append`], [`PartitionMap::commit_group`]) and every
//! consistent read ([`Partition::get`], [`Partition::scan`], listings) of
//! actor state goes through it, so its commit path is where a replicated
//! log plugs in. Today every partition of a node appends through the node's
//! one group-commit [`Store`], so a group spanning partitions is still one
//! atomic batch.

use crate::storage::layout::{self, system_key};
use crate::storage::{Seq, StorageError, Store};
use bytes::Bytes;
use orbit_shared::WriteOp;
use orbit_shared::slot::SLOT_COUNT;
use orbit_shared::{ActorId, ActorPage, Error, StoredActor};
use std::ops::Range;
use std::sync::Arc;

pub struct Partition {
    pub id: u16,
    pub slots: Range<u16>,
    store: Arc<Store>,
}

impl Partition {
    /// Appends an atomic batch of this partition's keys; see [`Store::append`].
    /// Returns once the batch is visible; [`Partition::wait_durable`] waits
    /// for it to be durable.
    pub async fn append(&self, ops: &[WriteOp]) -> Result<Seq, StorageError> {
        self.store.append(ops).await
    }

    /// What everything appended so far depends on to be durable.
    pub fn last_appended(&self) -> Seq {
        self.store.last_appended()
    }

    /// Waits until everything appended up to `seq` is durable.
    pub async fn wait_durable(&self, seq: Seq) -> Result<(), StorageError> {
        self.store.wait_durable(seq).await
    }

    /// The current value of one of this partition's keys.
    pub async fn get(&self, key: Bytes) -> Result<Option<Bytes>, StorageError> {
        self.store.get(key).await
    }

    /// Up to `limit` pairs of this partition's keys under `prefix`, after
    /// `after`, in key order.
    pub async fn scan(
        &self,
        prefix: Bytes,
        after: Option<Bytes>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, StorageError> {
        self.store.scan(prefix, after, limit).await
    }

    /// The stored state of actor `id` (read without activating it).
    pub async fn read_state(&self, id: &ActorId) -> Result<Option<Bytes>, Error> {
        let key = layout::actor_key(self.id, id);
        match self.get(key.clone()).await? {
            Some(bytes) => Ok(Some(layout::Record::decode(&key, bytes)?.state)),
            None => Ok(None),
        }
    }
}

pub struct PartitionMap {
    partitions: Vec<Arc<Partition>>,
}

/// The partition that owns `slot` when there are `count` partitions.
pub fn partition_of(slot: u16, count: u16) -> u16 {
    (u32::from(slot) * u32::from(count) / u32::from(SLOT_COUNT)) as u16
}

/// The first slot of partition `p`: the smallest `s` with `partition_of(s) == p`.
fn first_slot(p: u16, count: u16) -> u16 {
    (u32::from(p) * u32::from(SLOT_COUNT)).div_ceil(u32::from(count)) as u16
}

impl PartitionMap {
    /// The partitions of a data directory: `count` of them, recorded when the
    /// directory is new; a directory made with another count is refused.
    pub async fn open(count: u16, store: Arc<Store>) -> Result<Self, StorageError> {
        let key = system_key("partitions");
        match store.get(key.clone()).await? {
            Some(found) => {
                let found = <[u8; 2]>::try_from(found.as_ref()).map(u16::from_be_bytes).map_err(|_| {
                    StorageError::Corrupt { key: "partitions".into(), reason: "not a u16".into() }
                })?;
                if found != count {
                    return Err(StorageError::PartitionCountMismatch { found, configured: count });
                }
            }
            None => {
                store.append(&[WriteOp::Put(key, Bytes::copy_from_slice(&count.to_be_bytes()))]).await?;
                store.sync_now().await?;
            }
        }
        Ok(PartitionMap::new(count, store))
    }

    /// Commits the writes of an atomic group (whose actors may live in
    /// several of this node's partitions) as one batch: all or none.
    pub async fn commit_group(&self, ops: &[WriteOp]) -> Result<Seq, StorageError> {
        match self.partitions.first() {
            Some(any) => any.store.append(ops).await,
            None => Err(StorageError::Closed),
        }
    }

    /// Waits until every write committed up to `seq`, in any partition, is
    /// durable.
    pub async fn wait_durable(&self, seq: Seq) -> Result<(), StorageError> {
        match self.partitions.first() {
            Some(any) => any.store.wait_durable(seq).await,
            None => Ok(()),
        }
    }

    /// A page of `kind`'s stored actors, walking partition by partition; the
    /// cursor is the storage key to continue after. `active` says whether an
    /// actor is resident.
    pub async fn list_actors(
        &self,
        kind: &str,
        cursor: Option<Bytes>,
        limit: usize,
        active: impl Fn(&ActorId) -> bool,
    ) -> Result<ActorPage, Error> {
        let count = self.partitions.len() as u16;
        let bad_cursor =
            || Error::InvalidArguments { method: "list_actors".into(), reason: "bad cursor".into() };
        let (mut partition, mut after) = match cursor {
            None => (0, None),
            Some(c) => {
                let p = layout::partition_of_key(&c).filter(|&p| p < count).ok_or_else(bad_cursor)?;
                if !c.starts_with(&layout::kind_prefix(p, kind)) {
                    return Err(bad_cursor());
                }
                (p, Some(c))
            }
        };
        let mut actors = Vec::new();
        while partition < count {
            let prefix = layout::kind_prefix(partition, kind);
            let want = ((limit - actors.len()) * 2).max(64);
            let page = self.partitions[usize::from(partition)].scan(prefix, after.take(), want).await?;
            let full = page.len() == want;
            let mut last_record: Option<Bytes> = None;
            let mut last_key = None;
            for (stored, value) in page {
                if actors.len() == limit {
                    break;
                }
                if let Some(key) = layout::record_actor_key(&stored) {
                    let record = layout::Record::decode(&stored, value)?;
                    let key = Bytes::copy_from_slice(key);
                    let active = active(&ActorId::new(kind.to_string(), key.clone()));
                    actors.push(StoredActor { key, state: record.state, active });
                    last_record = Some(stored.clone());
                }
                last_key = Some(stored);
            }
            // Continue after the last record's entries (or after orphans).
            let resume = last_record.map(|r| layout::after_entries(&r)).or(last_key);
            if actors.len() == limit {
                return Ok(ActorPage { actors, cursor: resume });
            }
            if full {
                after = resume;
            } else {
                partition += 1;
            }
        }
        Ok(ActorPage { actors, cursor: None })
    }

    fn new(count: u16, store: Arc<Store>) -> Self {
        let partitions = (0..count)
            .map(|id| {
                let end = if id + 1 == count { SLOT_COUNT } else { first_slot(id + 1, count) };
                Arc::new(Partition { id, slots: first_slot(id, count)..end, store: store.clone() })
            })
            .collect();
        PartitionMap { partitions }
    }

    pub fn for_slot(&self, slot: u16) -> &Arc<Partition> {
        let count = self.partitions.len() as u16;
        &self.partitions[usize::from(partition_of(slot % SLOT_COUNT, count))]
    }

    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Partition>> {
        self.partitions.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Durability;
    use crate::metrics::StorageMetrics;
    use crate::storage::MemoryBackend;

    #[test]
    fn slot_ranges_are_contiguous_and_cover_every_slot() {
        for count in [1u16, 3, 64, 1000, 16384] {
            let store = Arc::new(Store::new(
                Arc::new(MemoryBackend::default()),
                Durability::None,
                StorageMetrics::unregistered(),
                0,
            ));
            let map = PartitionMap::new(count, store);
            assert_eq!(map.len(), usize::from(count));
            let mut next = 0u16;
            for p in &map.partitions {
                assert_eq!(p.slots.start, next, "count {count} partition {}", p.id);
                assert!(!p.slots.is_empty());
                next = p.slots.end;
            }
            assert_eq!(next, SLOT_COUNT);
            for slot in (0..SLOT_COUNT).step_by(7) {
                assert!(map.for_slot(slot).slots.contains(&slot));
            }
        }
    }

    #[test]
    fn default_layout_gives_256_slots_per_partition() {
        assert_eq!(partition_of(0, 64), 0);
        assert_eq!(partition_of(255, 64), 0);
        assert_eq!(partition_of(256, 64), 1);
        assert_eq!(partition_of(12182, 64), 47);
    }
}
