//! Transactions: row locks shared by every connection of the front door,
//! and one connection's uncommitted writes.
//!
//! A statement that writes a row first takes the row's lock and holds it
//! until its transaction ends, then reads the row's committed state (or its
//! own uncommitted write) and stages the new state in [`Txn::writes`].
//! COMMIT hands every staged write to the gateway as one atomic group
//! (`ActorGateway::invoke_atomic`): all land in one storage batch or none
//! does. Readers never wait: they see committed rows plus their own
//! transaction's writes (READ COMMITTED, as PostgreSQL's default).
//!
//! Invariants:
//! - A row's lock has at most one holder; a lock is released only when its
//!   holder's transaction ends (commit or rollback) or its connection closes.
//! - Waits form no cycles: a session about to wait on a chain that leads
//!   back to itself fails with 40P01 (deadlock detected) instead.
//! - Only a session waiting now has a `waits_for` edge: a wait that ends
//!   in any way (a cancelled statement drops it) removes its edge, so no
//!   stale edge makes up a deadlock.

use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// A row: its table and primary-key text.
pub(crate) type RowRef = (String, Vec<u8>);

/// How long a session waits for a row lock before giving up (a deadlock
/// through something other than row locks, or a stuck holder).
const LOCK_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub(crate) struct Locks {
    inner: Mutex<LockTable>,
    released: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct LockTable {
    /// Row → holding session.
    held: HashMap<RowRef, u64>,
    /// Session → the session it waits for.
    waits_for: HashMap<u64, u64>,
}

/// Why a lock was not granted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LockError {
    Deadlock,
    Timeout,
}

impl Locks {
    /// Takes `row` for `session` (at once if it already holds it).
    pub async fn lock(&self, session: u64, row: &RowRef) -> Result<(), LockError> {
        let deadline = tokio::time::Instant::now() + LOCK_WAIT;
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                let holder = match table.held.get(row) {
                    None => {
                        table.held.insert(row.clone(), session);
                        table.waits_for.remove(&session);
                        return Ok(());
                    }
                    Some(&holder) if holder == session => {
                        table.waits_for.remove(&session);
                        return Ok(());
                    }
                    Some(&holder) => holder,
                };
                // Would waiting close a cycle?
                let mut next = holder;
                for _ in 0..=table.waits_for.len() {
                    if next == session {
                        table.waits_for.remove(&session);
                        return Err(LockError::Deadlock);
                    }
                    match table.waits_for.get(&next) {
                        Some(&n) => next = n,
                        None => break,
                    }
                }
                table.waits_for.insert(session, holder);
            }
            // However the wait ends, a timeout or a cancelled statement
            // dropping this future included, it leaves no edge behind for
            // the deadlock check; the next round records it again.
            let _waiting = Waiting { locks: self, session };
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return Err(LockError::Timeout);
            }
        }
    }

    /// Releases every row `session` holds.
    pub fn release(&self, session: u64, rows: impl IntoIterator<Item = RowRef>) {
        let mut table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut any = false;
        for row in rows {
            if table.held.get(&row) == Some(&session) {
                table.held.remove(&row);
                any = true;
            }
        }
        table.waits_for.remove(&session);
        // Whoever waited for this session waits for no one until it looks again.
        table.waits_for.retain(|_, holder| *holder != session);
        drop(table);
        if any {
            self.released.notify_waiters();
        }
    }
}

/// A session's wait for a row lock: dropping it removes the session's
/// `waits_for` edge.
struct Waiting<'a> {
    locks: &'a Locks,
    session: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut table = self.locks.inner.lock().unwrap_or_else(|e| e.into_inner());
        table.waits_for.remove(&self.session);
    }
}

/// A staged row state: the new row, or `None` for a deletion.
pub(crate) type Staged = Option<Map<String, Json>>;

/// One transaction's locks and uncommitted writes.
#[derive(Debug, Default)]
pub(crate) struct Txn {
    /// Rows locked, in the order taken.
    pub locked: Vec<RowRef>,
    /// Staged writes by table, then key.
    pub writes: BTreeMap<String, BTreeMap<Vec<u8>, Staged>>,
    /// Staged changes to secondary index entries (`super::index`).
    pub index_writes: super::index::IndexWrites,
}

impl Txn {
    pub fn staged(&self, table: &str, key: &[u8]) -> Option<&Staged> {
        self.writes.get(table)?.get(key)
    }

    pub fn stage(&mut self, table: &str, key: Vec<u8>, row: Staged) {
        self.writes.entry(table.to_string()).or_default().insert(key, row);
    }

    /// Stages row `row` entering (`present`) or leaving entry `key` of the
    /// index whose entries are of kind `kind`.
    pub fn stage_entry(&mut self, kind: &str, key: &str, row: String, present: bool) {
        self.index_writes.entry((kind.to_string(), key.to_string())).or_default().insert(row, present);
    }
}

/// Where a connection stands.
#[derive(Debug, Default)]
pub(crate) enum TxnState {
    /// Each statement commits on its own.
    #[default]
    Autocommit,
    /// Inside BEGIN ... COMMIT.
    Block(Txn),
    /// A statement of the block failed: only ROLLBACK (or COMMIT, which
    /// rolls back) is accepted.
    Failed(Txn),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn row(key: &str) -> RowRef {
        ("t".to_string(), key.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn a_lock_waits_for_its_holder_and_reentry_is_free() {
        let locks = Arc::new(Locks::default());
        locks.lock(1, &row("a")).await.unwrap();
        locks.lock(1, &row("a")).await.unwrap();
        let waiter = tokio::spawn({
            let locks = locks.clone();
            async move { locks.lock(2, &row("a")).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        locks.release(1, [row("a")]);
        assert_eq!(waiter.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_wait_that_closes_a_cycle_is_a_deadlock() {
        let locks = Arc::new(Locks::default());
        locks.lock(1, &row("a")).await.unwrap();
        locks.lock(2, &row("b")).await.unwrap();
        let first = tokio::spawn({
            let locks = locks.clone();
            async move { locks.lock(1, &row("b")).await }
        });
        // Let session 1 start waiting for session 2.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(locks.lock(2, &row("a")).await, Err(LockError::Deadlock));
        locks.release(2, [row("b")]);
        assert_eq!(first.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_dropped_wait_leaves_no_false_deadlock() {
        use futures::FutureExt;
        let locks = Locks::default();
        locks.lock(1, &row("a")).await.unwrap();
        locks.lock(2, &row("b")).await.unwrap();
        // Session 2 starts waiting for session 1, then its statement is
        // cancelled (the wait is dropped).
        assert!(locks.lock(2, &row("a")).now_or_never().is_none());
        // Session 1 wanting session 2's row closes no cycle: it waits.
        assert!(locks.lock(1, &row("b")).now_or_never().is_none());
    }
}
