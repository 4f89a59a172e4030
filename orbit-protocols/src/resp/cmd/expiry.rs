//! Active expiry: deleting expired keys that nobody reads (a read never
//! sees an expired key anyway; this gives the storage back).
//!
//! Like Redis' `expires` dictionary, the front door keeps the keys that have
//! a TTL in a deadline-ordered index. It learns them from the commands that
//! set a TTL (they become *candidates*; the sweep asks each key for its
//! expiry time) and, after a restart, from one paced pass over every
//! database. A due key gets a write turn in which it expires itself; a key
//! whose TTL moved since is asked again.
//!
//! Cluster: every node indexes the deadlines in the records it applies from
//! the log (as a replica, it applies the keys' writes made through any
//! node), and a node sweeps only the keys whose partition it leads. A due
//! key led elsewhere is looked up in this node's copy: kept for another
//! look while its record is still due (its leader deletes it, or this node
//! becomes its leader), rescheduled if its deadline moved, dropped once it
//! is gone. So a TTL set through a node that then dies still expires, and a
//! new leader expires what its predecessor had not.

use crate::keyspace::DATABASE_KINDS;
use crate::keyspace::Meta;
use crate::keyspace::now_ms;
use crate::keyspace::value::Value;
use crate::resp::cmd::scan::meta_of;
use crate::resp::server::{Server, lock};
use bytes::Bytes;
use orbit_shared::{ActorGateway, ActorId};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// Keys listed per page by the start-up pass.
const PAGE: usize = 1000;

/// How long a due key led by another node waits before this node looks at
/// its copy again.
const LED_ELSEWHERE_RECHECK_MS: u64 = 1000;

#[derive(Default)]
pub struct Expiry {
    /// Keys whose TTL may have been set: their deadline is still to be read.
    candidates: Mutex<Vec<(usize, Bytes)>>,
    /// (deadline in Unix ms, database, key).
    due: Mutex<BTreeSet<(u64, usize, Bytes)>>,
    /// Applied records were missed: every database is indexed again.
    reindex: AtomicBool,
}

impl Expiry {
    pub fn candidate(&self, db: usize, key: &Bytes) {
        lock(&self.candidates).push((db, key.clone()));
    }

    fn schedule(&self, at: u64, db: usize, key: Bytes) {
        lock(&self.due).insert((at, db, key));
    }

    /// The state of `key` applied from the cluster's log (`None`: deleted):
    /// its deadline, if it has one, is indexed.
    pub fn applied(&self, db: usize, key: Bytes, state: Option<&[u8]>) {
        if let Some(at) = state.and_then(|r| serde_json::from_slice::<Meta>(r).ok()).and_then(|m| m.expire_at)
        {
            self.schedule(at, db, key);
        }
    }

    /// Some applied records were not seen (the stream of them fell
    /// behind): the sweep indexes every database again.
    pub fn missed_applied(&self) {
        self.reindex.store(true, Ordering::Release);
    }

    /// Databases `a` and `b` exchanged their keys (SWAPDB): so do their
    /// entries here.
    pub fn swap(&self, a: usize, b: usize) {
        let other = |db: usize| {
            if db == a {
                b
            } else if db == b {
                a
            } else {
                db
            }
        };
        for (db, _) in lock(&self.candidates).iter_mut() {
            *db = other(*db);
        }
        let mut due = lock(&self.due);
        *due = std::mem::take(&mut *due).into_iter().map(|(at, db, key)| (at, other(db), key)).collect();
    }

    fn take_due(&self, now: u64) -> Vec<(u64, usize, Bytes)> {
        let mut due = lock(&self.due);
        let later = due.split_off(&(now + 1, 0, Bytes::new()));
        std::mem::replace(&mut *due, later).into_iter().collect()
    }

    /// Keys with a TTL known to the index.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.due).len()
    }

    /// How many keys of database `db` the index holds with a deadline (a
    /// key whose TTL was removed stays until its old deadline comes).
    pub fn keys_with_ttl(&self, db: usize) -> u64 {
        let due = lock(&self.due);
        let keys: std::collections::HashSet<&Bytes> =
            due.iter().filter(|(_, d, _)| *d == db).map(|(_, _, key)| key).collect();
        keys.len() as u64
    }
}

/// Whether a successful command may have given `argv[1]` a TTL.
pub fn sets_ttl(name: &str, argc: usize) -> bool {
    match name {
        "expire" | "pexpire" | "expireat" | "pexpireat" | "setex" | "psetex" => true,
        // Only with options (EX, PX, EXAT, PXAT, KEEPTTL...).
        "set" => argc > 3,
        "getex" => argc > 2,
        _ => false,
    }
}

/// Runs until cancelled: first the start-up pass, then every `interval`
/// the candidates and the due keys.
pub(crate) async fn run<G: ActorGateway>(server: Arc<Server<G>>, cancel: CancellationToken) {
    let interval = lock(&server.config).expiry_sweep_interval;
    let startup = async {
        for db in 0..DATABASE_KINDS.len() {
            index_database(&server, db).await;
        }
    };
    if cancel.run_until_cancelled(startup).await.is_none() {
        return;
    }
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while cancel.run_until_cancelled(ticks.tick()).await.is_some() {
        if server.expiry.reindex.swap(false, Ordering::AcqRel) {
            for db in 0..DATABASE_KINDS.len() {
                index_database(&server, db).await;
            }
        }
        let candidates = std::mem::take(&mut *lock(&server.expiry.candidates));
        for (db, key) in candidates {
            learn(&server, db, key).await;
        }
        let now = now_ms();
        for (_, db, key) in server.expiry.take_due(now) {
            let id = ActorId::new(server.runtime.databases.kind(db), key.clone());
            if server.gateway.serving_term(&id).await.is_err() {
                led_elsewhere(&server, db, key, id, now).await;
                continue;
            }
            let (gone, expired_now) = expire_one(&server, db, &key).await;
            if gone {
                server.stats.expired_keys.fetch_add(1, Ordering::Relaxed);
                server.watches.touch(db, &key);
                if expired_now {
                    // This turn expired it (not an earlier command, nor a DEL).
                    super::notify::expired(&server, db, &key);
                    if server.tracking.active() {
                        super::tracking::invalidate(&server, &key, None);
                    }
                }
            } else {
                // Its TTL moved (or was removed) since it was indexed.
                learn(&server, db, key).await;
            }
        }
    }
}

/// A due key whose partition another node leads: looked at again later
/// while this node's copy of its record is still due, at its new deadline
/// if that moved, and forgotten once the record is gone.
async fn led_elsewhere<G: ActorGateway>(server: &Server<G>, db: usize, key: Bytes, id: ActorId, now: u64) {
    let record = match server.gateway.read_actor(id).await {
        Ok(record) => record,
        Err(e) => {
            tracing::debug!(error = %e, "cannot read a due key's record");
            server.expiry.schedule(now + LED_ELSEWHERE_RECHECK_MS, db, key);
            return;
        }
    };
    match record.and_then(|r| serde_json::from_slice::<Meta>(&r).ok()).and_then(|m| m.expire_at) {
        Some(at) if at > now => server.expiry.schedule(at, db, key),
        Some(_) => server.expiry.schedule(now + LED_ELSEWHERE_RECHECK_MS, db, key),
        None => {}
    }
}

/// Indexes every key of `db` that has a TTL, a page at a time.
async fn index_database<G: ActorGateway>(server: &Server<G>, db: usize) {
    let mut cursor = None;
    loop {
        let page = match server.gateway.list_actors(server.runtime.databases.kind(db), cursor, PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(db, error = %e, "cannot list keys for the expiry index");
                return;
            }
        };
        for actor in &page.actors {
            if let Some(at) = meta_of(actor).and_then(|m| m.expire_at) {
                server.expiry.schedule(at, db, actor.key.clone());
            }
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return,
        }
    }
}

/// Reads a key's deadline and indexes it if it has one. A key whose
/// deadline passed before it was learned (the sweep was busy, or a TTL of a
/// few ms) reads as missing but is still stored: its stored record's
/// deadline is indexed, so the sweep deletes it.
async fn learn<G: ActorGateway>(server: &Server<G>, db: usize, key: Bytes) {
    let argv = [Bytes::from_static(b"pexpiretime"), key.clone()];
    match server.call_key(db, &argv, false).await {
        Value::Int(at) if at > 0 => server.expiry.schedule(at as u64, db, key),
        Value::Int(-2) => {
            let id = ActorId::new(server.runtime.databases.kind(db), key.clone());
            if let Ok(Some(state)) = server.gateway.read_actor(id).await
                && let Some(at) = serde_json::from_slice::<Meta>(&state).ok().and_then(|m| m.expire_at)
            {
                // Expired before it was learned: this read found it so,
                // and the sweep's turn will find it already gone.
                super::notify::expired(server, db, &key);
                if server.tracking.active() {
                    super::tracking::invalidate(server, &key, None);
                }
                server.expiry.schedule(at, db, key);
            }
        }
        _ => {}
    }
}

/// Runs a write turn in which the key expires itself if due: whether it is
/// gone, and whether this turn expired it.
async fn expire_one<G: ActorGateway>(server: &Server<G>, db: usize, key: &Bytes) -> (bool, bool) {
    let _shared = server.keyspace.read().await;
    let argv = [Bytes::from_static(b"exists"), key.clone()];
    let (value, token, changed) = server.call_key_visible(db, &argv, true).await;
    let value = match server.gateway.wait_durable(token).await {
        Ok(()) => value,
        Err(e) => crate::resp::server::error_reply(&e),
    };
    (value == Value::Int(0), changed && value == Value::Int(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_come_out_in_deadline_order_and_later_ones_stay() {
        let expiry = Expiry::default();
        expiry.schedule(300, 0, Bytes::from_static(b"c"));
        expiry.schedule(100, 0, Bytes::from_static(b"a"));
        expiry.schedule(200, 1, Bytes::from_static(b"b"));
        let due: Vec<_> = expiry.take_due(200).into_iter().map(|(at, _, _)| at).collect();
        assert_eq!(due, vec![100, 200]);
        assert_eq!(expiry.len(), 1);
    }

    #[test]
    fn only_ttl_setting_commands_are_candidates() {
        assert!(sets_ttl("expire", 3));
        assert!(sets_ttl("set", 5));
        assert!(!sets_ttl("set", 3));
        assert!(!sets_ttl("get", 2));
    }
}
