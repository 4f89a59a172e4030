//! Partitions: contiguous slot ranges, fixed in number when a data directory
//! is created (default 64). A partition is the unit of storage layout,
//! replication and placement, and the only way to its data: every write
//! ([`Partition::append`], [`PartitionMap::commit_group`]) and every
//! consistent read ([`Partition::get`], [`Partition::scan`], listings) of
//! actor state goes through it, so its commit path is where a replicated
//! log plugs in. On a node without a cluster every partition appends
//! through the node's one group-commit [`Store`], so a group spanning
//! partitions is one atomic batch. In a cluster a partition's writes are
//! entries of its Raft group ([`crate::cluster`]), proposed by its leader,
//! and a batch must stay inside one partition.

use crate::cluster::Cluster;
use crate::storage::layout::{self, system_key};
use crate::storage::{Seq, StorageError, Store};
use bytes::Bytes;
use orbit_shared::WriteOp;
use orbit_shared::slot::{SLOT_COUNT, SQL_SLOT};
use orbit_shared::{ActorId, ActorPage, Error, StoredActor};
use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// Where the partitions' writes go: straight to the store, or through the
/// cluster's Raft groups once the node has joined.
struct Replication {
    clustered: bool,
    cluster: OnceLock<Arc<Cluster>>,
}

impl Replication {
    /// The cluster, `None` on a node without one; unavailable while a
    /// cluster node is still joining.
    fn cluster(&self) -> Result<Option<&Arc<Cluster>>, Error> {
        match self.cluster.get() {
            Some(cluster) => Ok(Some(cluster)),
            None if self.clustered => {
                Err(Error::Unreachable { reason: "this node has not joined its cluster yet".into() })
            }
            None => Ok(None),
        }
    }
}

pub struct Partition {
    pub id: u16,
    pub slots: Range<u16>,
    store: Arc<Store>,
    replication: Arc<Replication>,
}

impl Partition {
    /// Appends an atomic batch of this partition's keys. Without a cluster:
    /// see [`Store::append`]; returns once the batch is visible, and
    /// [`Partition::wait_durable`] waits for it to be durable. In a cluster:
    /// returns once the batch is committed on a quorum of the partition's
    /// replicas and applied here (the returned position is already durable).
    pub async fn append(&self, ops: &[WriteOp]) -> Result<Seq, Error> {
        self.append_fenced(ops, None).await
    }

    /// [`Partition::append`]; in a cluster, with `term`, applied only if
    /// committed in that term ([`Cluster::write_in_term`]).
    pub async fn append_fenced(&self, ops: &[WriteOp], term: Option<u64>) -> Result<Seq, Error> {
        match self.replication.cluster()? {
            None => Ok(self.store.append(ops).await?),
            Some(cluster) => {
                match term {
                    Some(term) => cluster.write_in_term(self.id, ops.to_vec(), term).await?,
                    None => cluster.write(self.id, ops.to_vec()).await?,
                }
                Ok(0)
            }
        }
    }

    /// The term in which this node serves the partition's actors (0 without
    /// a cluster); refused when another node leads the partition.
    /// Activations loaded in another term are stale.
    pub async fn serve(&self) -> Result<u64, Error> {
        match self.replication.cluster()? {
            None => Ok(0),
            Some(cluster) => cluster.serve(self.id).await,
        }
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

    /// How many actors of `kind` have a record in this partition.
    pub async fn count(&self, kind: &str) -> Result<u64, Error> {
        let key = layout::count_key(self.id, kind);
        let value = self.get(key.clone()).await?;
        Ok(u64::try_from(crate::storage::read_counter(&key, value.as_deref())?).unwrap_or(0))
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

/// The system key present once the data directory keeps record counts.
const COUNTED: &str = "counts";
/// The system key present once the SQL data lives in the partition of
/// [`SQL_SLOT`] (a directory of an earlier version placed it by key).
const SQL_PLACED: &str = "sql-placed";

pub struct PartitionMap {
    partitions: Vec<Arc<Partition>>,
    store: Arc<Store>,
    replication: Arc<Replication>,
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
    /// With `clustered`, writes wait for [`PartitionMap::attach`].
    pub async fn open(count: u16, store: Arc<Store>, clustered: bool) -> Result<Self, StorageError> {
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
                let counted = WriteOp::Put(system_key(COUNTED), Bytes::new());
                let placed = WriteOp::Put(system_key(SQL_PLACED), Bytes::new());
                store
                    .append(&[
                        WriteOp::Put(key, Bytes::copy_from_slice(&count.to_be_bytes())),
                        counted,
                        placed,
                    ])
                    .await?;
                store.sync_now().await?;
            }
        }
        let map = PartitionMap::new(count, store, clustered);
        if map.store.get(system_key(COUNTED)).await?.is_none() {
            map.count_records().await?;
        }
        if map.store.get(system_key(SQL_PLACED)).await?.is_none() {
            map.place_sql_data(clustered).await?;
        }
        Ok(map)
    }

    /// Moves the SQL data (records and entries of the kinds
    /// [`orbit_shared::slot::is_sql_kind`] names) of a data directory
    /// written when it was placed by key into the partition of
    /// [`SQL_SLOT`], with their counts, in one batch with the marker. A
    /// cluster node's partitions are replicas whose writes go through Raft:
    /// one holding SQL data elsewhere is refused instead.
    async fn place_sql_data(&self, clustered: bool) -> Result<(), StorageError> {
        const PAGE: usize = 4096;
        let home = self.for_slot(SQL_SLOT).id;
        let mut ops = Vec::new();
        for partition in self.partitions.iter().filter(|p| p.id != home) {
            let counts = self.store.scan(layout::count_prefix(partition.id), None, usize::MAX).await?;
            for (count_key, value) in counts {
                let kind = String::from_utf8_lossy(&count_key[layout::count_prefix(partition.id).len()..]);
                let n = crate::storage::read_counter(&count_key, Some(&value))?;
                if n == 0 || !orbit_shared::slot::is_sql_kind(&kind) {
                    continue;
                }
                if clustered {
                    return Err(StorageError::Corrupt {
                        key: "sql-placed".into(),
                        reason: format!(
                            "partition {} holds {n} SQL records of {kind}, written by a version that placed SQL data by key; a cluster node cannot move them (export with pg_dump or COPY from the old version)",
                            partition.id
                        ),
                    });
                }
                ops.push(WriteOp::Delete(count_key.clone()));
                ops.push(WriteOp::Add(layout::count_key(home, &kind), n));
                let prefix = layout::kind_prefix(partition.id, &kind);
                let mut after = None;
                loop {
                    let page = self.store.scan(prefix.clone(), after.take(), PAGE).await?;
                    for (stored, value) in &page {
                        let mut moved = stored.to_vec();
                        moved[..2].copy_from_slice(&home.to_be_bytes());
                        ops.push(WriteOp::Put(Bytes::from(moved), value.clone()));
                        ops.push(WriteOp::Delete(stored.clone()));
                    }
                    if page.len() < PAGE {
                        break;
                    }
                    after = page.last().map(|(k, _)| k.clone());
                }
            }
        }
        if clustered {
            return Ok(());
        }
        if !ops.is_empty() {
            tracing::info!(writes = ops.len(), partition = home, "moving the SQL data into its partition");
        }
        ops.push(WriteOp::Put(system_key(SQL_PLACED), Bytes::new()));
        let seq = self.store.append(&ops).await?;
        self.store.wait_durable(seq).await
    }

    /// Counts every partition's records by kind, for a data directory
    /// written before counts were kept: one pass, written with the marker
    /// in one batch (an interrupted pass is redone from the start).
    async fn count_records(&self) -> Result<(), StorageError> {
        const PAGE: usize = 4096;
        let mut ops = Vec::new();
        for partition in &self.partitions {
            let prefix = Bytes::copy_from_slice(&partition.id.to_be_bytes());
            let mut counts: std::collections::BTreeMap<String, i64> = Default::default();
            let mut after = None;
            loop {
                let page = self.store.scan(prefix.clone(), after.take(), PAGE).await?;
                for (stored, _) in &page {
                    if let Some(kind) = layout::record_kind(stored) {
                        *counts.entry(kind.to_string()).or_default() += 1;
                    }
                }
                if page.len() < PAGE {
                    break;
                }
                after = page.last().map(|(k, _)| k.clone());
            }
            ops.extend(counts.into_iter().map(|(kind, n)| {
                WriteOp::Put(layout::count_key(partition.id, &kind), Bytes::copy_from_slice(&n.to_be_bytes()))
            }));
        }
        ops.push(WriteOp::Put(system_key(COUNTED), Bytes::new()));
        let seq = self.store.append(&ops).await?;
        self.store.wait_durable(seq).await
    }

    /// The `n`th stored actor of `kind`: the partition holding it is found
    /// from the counts, and only that partition is listed.
    pub async fn nth_actor(
        &self,
        kind: &str,
        mut n: u64,
        active: impl Fn(&ActorId) -> bool,
    ) -> Result<Option<StoredActor>, Error> {
        for partition in &self.partitions {
            let count = partition.count(kind).await?;
            if n >= count {
                n -= count;
                continue;
            }
            let mut cursor = Some(layout::kind_prefix(partition.id, kind));
            while let Some(after) = cursor {
                let limit =
                    usize::try_from(n + 1).unwrap_or(usize::MAX).min(orbit_shared::gateway::MAX_LIST_LIMIT);
                let page = self.list_actors(kind, Some(after), limit, &active).await?;
                let len = page.actors.len() as u64;
                if n < len {
                    return Ok(page.actors.into_iter().nth(n as usize));
                }
                n -= len;
                cursor = page.cursor;
            }
            return Ok(None);
        }
        Ok(None)
    }

    /// How many actors of `kind` have a stored record: one read per
    /// partition of the counts kept with the records.
    pub async fn count_actors(&self, kind: &str) -> Result<u64, Error> {
        let mut total = 0u64;
        for partition in &self.partitions {
            total += partition.count(kind).await?;
        }
        Ok(total)
    }

    /// Sends every later write through `cluster`'s groups.
    pub fn attach(&self, cluster: Arc<Cluster>) {
        let _ = self.replication.cluster.set(cluster);
    }

    /// The cluster this node belongs to (`None` without one); unavailable
    /// while joining.
    pub fn cluster(&self) -> Result<Option<&Arc<Cluster>>, Error> {
        self.replication.cluster()
    }

    /// Commits the writes of an atomic group as one batch: all or none.
    /// Without a cluster its actors may live in several partitions; in a
    /// cluster they must share one ([`Error::CrossPartition`]).
    /// With `term`, in a cluster the batch applies only if committed in that
    /// term of the partition's group.
    pub async fn commit_group(&self, ops: &[WriteOp], term: Option<u64>) -> Result<Seq, Error> {
        if self.replication.cluster()?.is_none() {
            return Ok(self.store.append(ops).await?);
        }
        let mut partitions = ops.iter().map(|op| layout::partition_of_key(op.key()));
        let first = partitions.next().flatten();
        match first {
            Some(p) if partitions.all(|q| q == Some(p)) => match self.partitions.get(usize::from(p)) {
                Some(partition) => partition.append_fenced(ops, term).await,
                None => {
                    Err(Error::Internal { reason: format!("a write to partition {p}, which does not exist") })
                }
            },
            None if ops.is_empty() => Ok(0),
            _ => Err(Error::CrossPartition),
        }
    }

    /// Waits until every write committed up to `seq`, in any partition, is
    /// durable.
    pub async fn wait_durable(&self, seq: Seq) -> Result<(), StorageError> {
        self.store.wait_durable(seq).await
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

    fn new(count: u16, store: Arc<Store>, clustered: bool) -> Self {
        let replication = Arc::new(Replication { clustered, cluster: OnceLock::new() });
        let partitions = (0..count)
            .map(|id| {
                let end = if id + 1 == count { SLOT_COUNT } else { first_slot(id + 1, count) };
                let (store, replication) = (store.clone(), replication.clone());
                Arc::new(Partition { id, slots: first_slot(id, count)..end, store, replication })
            })
            .collect();
        PartitionMap { partitions, store, replication }
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
            let map = PartitionMap::new(count, store, false);
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

    fn memory_store() -> Arc<Store> {
        Arc::new(Store::new(
            Arc::new(MemoryBackend::default()),
            Durability::None,
            StorageMetrics::unregistered(),
            0,
        ))
    }

    /// A directory written when SQL data was placed by key: its rows,
    /// their entries and counts move into the SQL partition on open; other
    /// kinds stay.
    #[tokio::test]
    async fn sql_data_placed_by_key_moves_into_its_partition() {
        let store = memory_store();
        drop(PartitionMap::open(64, store.clone(), false).await.unwrap());
        let row = ActorId::new("row:accounts", "[7]");
        let counter = ActorId::new("counter", "visits");
        let old = partition_of(orbit_shared::slot::slot_of(b"[7]"), 64);
        assert_ne!(old, 0, "the test needs a key outside the SQL partition");
        let (row_key, counter_key) =
            (layout::actor_key(old, &row), layout::actor_key(counter.slot() / 256, &counter));
        store
            .append(&[
                WriteOp::Delete(system_key(SQL_PLACED)),
                WriteOp::Put(row_key.clone(), Bytes::from_static(b"r")),
                WriteOp::Put(layout::entry_key(&row_key, b"e"), Bytes::from_static(b"e")),
                WriteOp::Add(layout::count_key(old, "row:accounts"), 1),
                WriteOp::Put(counter_key.clone(), Bytes::from_static(b"c")),
                WriteOp::Add(layout::count_key(counter.slot() / 256, "counter"), 1),
            ])
            .await
            .unwrap();

        let map = PartitionMap::open(64, store.clone(), false).await.unwrap();
        let home = map.for_slot(row.slot());
        assert_eq!(home.id, 0);
        assert_eq!(store.get(row_key.clone()).await.unwrap(), None);
        assert_eq!(store.get(layout::actor_key(0, &row)).await.unwrap().as_deref(), Some(&b"r"[..]));
        let entry = layout::entry_key(&layout::actor_key(0, &row), b"e");
        assert_eq!(store.get(entry).await.unwrap().as_deref(), Some(&b"e"[..]));
        assert_eq!(map.count_actors("row:accounts").await.unwrap(), 1);
        assert_eq!(home.count("row:accounts").await.unwrap(), 1);
        assert_eq!(store.get(counter_key).await.unwrap().as_deref(), Some(&b"c"[..]));
        assert_eq!(map.count_actors("counter").await.unwrap(), 1);

        // A cluster node refuses such a directory rather than move replicas.
        store
            .append(&[
                WriteOp::Delete(system_key(SQL_PLACED)),
                WriteOp::Put(row_key, Bytes::new()),
                WriteOp::Add(layout::count_key(old, "row:accounts"), 1),
            ])
            .await
            .unwrap();
        let refused = PartitionMap::open(64, store, true).await.err().unwrap();
        assert!(refused.to_string().contains("placed SQL data by key"), "{refused}");
    }
}
