//! Partitions: contiguous slot ranges, fixed in number when a data directory
//! is created (default 64). A partition is the unit of storage layout and,
//! later, of replication and placement; its commit path is where a Raft log
//! will plug in. Today every partition appends through the node's one
//! group-commit [`Store`].

use crate::storage::{Op, Seq, StorageError, Store};
use orbit_shared::slot::SLOT_COUNT;
use std::ops::Range;
use std::sync::Arc;

pub struct Partition {
    pub id: u16,
    pub slots: Range<u16>,
    store: Arc<Store>,
}

impl Partition {
    /// Appends an atomic batch of this partition's keys; see [`Store::append`].
    pub async fn append(&self, ops: &[Op]) -> Result<Seq, StorageError> {
        self.store.append(ops).await
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
    pub fn new(count: u16, store: Arc<Store>) -> Self {
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
