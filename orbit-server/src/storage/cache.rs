//! A bounded cache of recently read values in front of the backend, for
//! point reads (`Store::get`). A point query by primary key reads one
//! record; from `fjall`'s memtable that is a skiplist search of some twenty
//! levels, which profiled as a fifth of the server's CPU under
//! `pgbench -S`, where a hash lookup here costs a few percent.
//!
//! Coherence with writes (every write goes through `Store::append`):
//! - Before a batch reaches the backend, each of its keys is dropped from
//!   the cache and its shard marked as being written; after the batch is
//!   applied (or failed), the mark is lifted. Both steps move the shard's
//!   epoch.
//! - A read that misses notes its shard's epoch before it reads the backend,
//!   and keeps what it read only if no write began or ended in that shard
//!   meanwhile and none is under way. So a value in the cache is never
//!   older than the backend's, and readers see values no older than a
//!   cache-less read would.
//!
//! Capacity is in bytes of keys and values, split evenly over the shards;
//! a shard over its share drops arbitrary entries until it fits.
//!
//! The cache belongs to one node's store: it is right because every write
//! to the store's keys goes through this node's committer.

use super::WriteOp;
use bytes::Bytes;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

const SHARDS: usize = 64;

/// What a cache entry costs beyond its key and value bytes.
const ENTRY_OVERHEAD: usize = 64;

pub(crate) struct ReadCache {
    shards: Vec<Mutex<Shard>>,
    hasher: RandomState,
    /// Bytes one shard may hold.
    shard_capacity: usize,
}

#[derive(Default)]
struct Shard {
    /// `None`: the key has no value (a miss is cached too).
    entries: HashMap<Bytes, Option<Bytes>>,
    bytes: usize,
    /// Moves at the start and at the end of every write to the shard.
    epoch: u64,
    /// Writes to the shard under way.
    writing: usize,
}

/// A miss's ticket: the shard and its epoch when the read began.
pub(crate) struct Miss {
    shard: usize,
    epoch: u64,
}

/// What [`ReadCache::get`] found.
pub(crate) enum Lookup {
    Hit(Option<Bytes>),
    Miss(Miss),
}

fn cost(key: &Bytes, value: &Option<Bytes>) -> usize {
    key.len() + value.as_ref().map_or(0, Bytes::len) + ENTRY_OVERHEAD
}

impl ReadCache {
    /// A cache of at most `capacity` bytes; 0 turns it off.
    pub fn new(capacity: usize) -> Self {
        ReadCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            shard_capacity: capacity / SHARDS,
        }
    }

    fn shard_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    fn lock(&self, shard: usize) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, key: &[u8]) -> Lookup {
        let shard = self.shard_of(key);
        let guard = self.lock(shard);
        match guard.entries.get(key) {
            Some(value) => Lookup::Hit(value.clone()),
            None => Lookup::Miss(Miss { shard, epoch: guard.epoch }),
        }
    }

    /// Keeps what a miss read from the backend, unless a write to its
    /// shard began or ended since the miss, or is under way.
    pub fn fill(&self, miss: Miss, key: Bytes, value: Option<Bytes>) {
        let entry_cost = cost(&key, &value);
        if entry_cost > self.shard_capacity {
            return;
        }
        let mut shard = self.lock(miss.shard);
        if shard.epoch != miss.epoch || shard.writing > 0 {
            return;
        }
        while shard.bytes + entry_cost > self.shard_capacity {
            let Some(victim) = shard.entries.keys().next().cloned() else { break };
            if let Some(value) = shard.entries.remove(&victim) {
                shard.bytes -= cost(&victim, &value);
            }
        }
        if let Some(old) = shard.entries.insert(key.clone(), value.clone()) {
            shard.bytes -= cost(&key, &old);
        }
        shard.bytes += entry_cost;
    }

    /// Before `ops` reach the backend: drops their keys and marks their
    /// shards as being written. Returns the shards, for [`ReadCache::written`].
    pub fn writing(&self, ops: &[WriteOp]) -> Vec<usize> {
        let mut shards: Vec<usize> = Vec::with_capacity(ops.len());
        for op in ops {
            let key = op.key();
            let index = self.shard_of(key);
            let mut shard = self.lock(index);
            if let Some(old) = shard.entries.remove(key) {
                shard.bytes -= cost(key, &old);
            }
            if !shards.contains(&index) {
                shard.epoch += 1;
                shard.writing += 1;
                shards.push(index);
            }
        }
        shards
    }

    /// After the write [`ReadCache::writing`] announced is applied (or failed).
    pub fn written(&self, shards: Vec<usize>) {
        for index in shards {
            let mut shard = self.lock(index);
            shard.epoch += 1;
            shard.writing -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn hit(cache: &ReadCache, key: &str) -> Option<Option<Bytes>> {
        match cache.get(key.as_bytes()) {
            Lookup::Hit(value) => Some(value),
            Lookup::Miss(_) => None,
        }
    }

    fn miss(cache: &ReadCache, key: &str) -> Miss {
        match cache.get(key.as_bytes()) {
            Lookup::Miss(miss) => miss,
            Lookup::Hit(_) => panic!("{key} is cached"),
        }
    }

    #[test]
    fn a_filled_read_hits_until_a_write_drops_it() {
        let cache = ReadCache::new(1 << 20);
        let m = miss(&cache, "k");
        cache.fill(m, b("k"), Some(b("v1")));
        assert_eq!(hit(&cache, "k"), Some(Some(b("v1"))));
        let m = miss(&cache, "absent");
        cache.fill(m, b("absent"), None);
        assert_eq!(hit(&cache, "absent"), Some(None), "a missing key is cached too");

        let shards = cache.writing(&[WriteOp::Put(b("k"), b("v2")), WriteOp::Delete(b("absent"))]);
        assert!(hit(&cache, "k").is_none() && hit(&cache, "absent").is_none());
        cache.written(shards);
        assert!(hit(&cache, "k").is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = ReadCache::new(1 << 20);
        // Read began before the write: what it read may be the old value.
        let before = miss(&cache, "k");
        let shards = cache.writing(&[WriteOp::Put(b("k"), b("new"))]);
        // Read began during the write: the backend may or may not have it.
        let during = miss(&cache, "k");
        cache.fill(before, b("k"), Some(b("old")));
        assert!(hit(&cache, "k").is_none());
        cache.written(shards);
        cache.fill(during, b("k"), Some(b("old")));
        assert!(hit(&cache, "k").is_none());
        // A read that began after the write keeps what it read.
        let after = miss(&cache, "k");
        cache.fill(after, b("k"), Some(b("new")));
        assert_eq!(hit(&cache, "k"), Some(Some(b("new"))));
    }

    #[test]
    fn a_full_shard_drops_entries_to_fit_and_a_zero_cache_keeps_nothing() {
        let cache = ReadCache::new(SHARDS * (ENTRY_OVERHEAD + 40) * 4);
        for i in 0..10_000 {
            let key = format!("key{i:05}");
            let m = miss(&cache, &key);
            cache.fill(m, b(&key), Some(Bytes::from(vec![0u8; 24])));
        }
        for shard in &cache.shards {
            let shard = shard.lock().unwrap();
            assert!(shard.bytes <= cache.shard_capacity, "{} > {}", shard.bytes, cache.shard_capacity);
            assert_eq!(shard.bytes, shard.entries.iter().map(|(k, v)| cost(k, v)).sum::<usize>());
        }
        let off = ReadCache::new(0);
        let m = miss(&off, "k");
        off.fill(m, b("k"), Some(b("v")));
        assert!(hit(&off, "k").is_none());
    }
}
