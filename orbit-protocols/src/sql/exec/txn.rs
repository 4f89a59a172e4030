//! Transactions: row locks shared by every connection of the front door,
//! and one connection's uncommitted writes.
//!
//! A statement that writes a row first takes the row's lock and holds it
//! until its transaction ends, then reads the row's committed state (or its
//! own uncommitted write) and stages the new state in [`Txn::writes`].
//! COMMIT hands every staged write to the gateway as one atomic group
//! (`ActorGateway::invoke_atomic`): all land in one storage batch or none
//! does, and only in the term of the SQL data's leadership the first lock
//! was taken in (locks are one node's memory; in a cluster every session
//! runs on the node leading the SQL data). Readers never wait: they see committed rows plus their own
//! transaction's writes (READ COMMITTED, as PostgreSQL's default).
//!
//! Invariants:
//! - A row's lock has at most one holder; a lock is released only when its
//!   holder's transaction ends (commit or rollback) or its connection closes.
//! - Waiters for a row queue in arrival order; a release hands the row to
//!   the first of them that still waits, so one release wakes one session.
//! - Waits form no cycles: a session about to wait on a chain that leads
//!   back to itself fails with 40P01 (deadlock detected) instead.
//! - Only a session waiting now has a `waits_for` edge, to the row's
//!   current holder: a hand-off moves the other waiters' edges to the new
//!   holder, and a wait that ends in any way (a cancelled statement drops
//!   it) removes its edge and its place in the queue.

use serde_json::{Map, Value as Json};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

/// A row: its table and primary-key text.
pub(crate) type RowRef = (String, Vec<u8>);

/// How long a session waits for a row lock before giving up (a deadlock
/// through something other than row locks, or a stuck holder).
const LOCK_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub(crate) struct Locks {
    inner: Mutex<LockTable>,
    /// Tables' gates, for DDL.
    pub gates: Gates,
}

/// A gate per table name. A transaction whose DDL changes a table (or
/// creates one of that name) closes the table's gate and holds it until it
/// ends; a commit writing rows of the table passes through the gate while
/// it writes them (shared with other commits). So DDL reads rows no commit
/// is changing, and rows staged under a schema that DDL replaced meanwhile
/// are found at commit (`Engine::commit` compares the schemas) instead of
/// landing beside the new one. Queries never wait at a gate.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    gates: Mutex<HashMap<String, std::sync::Arc<tokio::sync::RwLock<()>>>>,
}

/// A closed gate, open again when dropped.
pub(crate) type Closed = tokio::sync::OwnedRwLockWriteGuard<()>;
/// A commit's pass through a gate.
pub(crate) type Pass = tokio::sync::OwnedRwLockReadGuard<()>;

impl Gates {
    fn gate(&self, table: &str) -> std::sync::Arc<tokio::sync::RwLock<()>> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        gates.entry(table.to_string()).or_default().clone()
    }

    /// Closes `table`'s gate once commits passing through it are done
    /// (waiting at most as long as for a row lock).
    pub async fn close(&self, table: &str) -> Result<Closed, LockError> {
        tokio::time::timeout(LOCK_WAIT, self.gate(table).write_owned()).await.map_err(|_| LockError::Timeout)
    }

    /// Passes `table`'s gate, waiting while DDL holds it closed.
    pub async fn pass(&self, table: &str) -> Result<Pass, LockError> {
        tokio::time::timeout(LOCK_WAIT, self.gate(table).read_owned()).await.map_err(|_| LockError::Timeout)
    }
}

#[derive(Debug, Default)]
struct LockTable {
    /// Held rows.
    held: HashMap<RowRef, Held>,
    /// Session → the session it waits for.
    waits_for: HashMap<u64, u64>,
}

/// A held row: its holder, and the sessions waiting for it in order, each
/// with the signal that hands it the row.
#[derive(Debug)]
struct Held {
    holder: u64,
    queue: VecDeque<(u64, oneshot::Sender<()>)>,
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
        let granted = {
            let mut table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let table = &mut *table;
            let held = match table.held.get_mut(row) {
                None => {
                    table.held.insert(row.clone(), Held { holder: session, queue: VecDeque::new() });
                    return Ok(());
                }
                Some(held) if held.holder == session => return Ok(()),
                Some(held) => held,
            };
            // Would waiting close a cycle?
            let mut next = held.holder;
            for _ in 0..=table.waits_for.len() {
                if next == session {
                    return Err(LockError::Deadlock);
                }
                match table.waits_for.get(&next) {
                    Some(&n) => next = n,
                    None => break,
                }
            }
            let (grant, granted) = oneshot::channel();
            held.queue.push_back((session, grant));
            table.waits_for.insert(session, held.holder);
            granted
        };
        // However the wait ends, a timeout or a cancelled statement
        // dropping this future included, the guard leaves no edge and no
        // place in the queue behind, and passes on a row handed over too
        // late.
        let mut waiting = Waiting { locks: self, session, row, granted: false };
        match tokio::time::timeout(LOCK_WAIT, granted).await {
            Ok(Ok(())) => {
                waiting.granted = true;
                Ok(())
            }
            // The row went away without a hand-off: not done by `release`.
            Ok(Err(_)) => Err(LockError::Timeout),
            Err(_) => Err(LockError::Timeout),
        }
    }

    /// Takes `row` for `session` if no other session holds it: whether it
    /// did (it does if `session` already holds it).
    pub fn try_lock(&self, session: u64, row: &RowRef) -> bool {
        let mut table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match table.held.get(row) {
            None => {
                table.held.insert(row.clone(), Held { holder: session, queue: VecDeque::new() });
                true
            }
            Some(held) => held.holder == session,
        }
    }

    /// Releases every row `session` holds, each to its first waiter.
    pub fn release(&self, session: u64, rows: impl IntoIterator<Item = RowRef>) {
        let mut table = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for row in rows {
            if table.held.get(&row).is_some_and(|held| held.holder == session) {
                table.hand_off(row);
            }
        }
        table.waits_for.remove(&session);
    }
}

impl LockTable {
    /// Gives `row` to its first waiter still waiting, or frees it.
    fn hand_off(&mut self, row: RowRef) {
        let Some(held) = self.held.get_mut(&row) else { return };
        while let Some((next, grant)) = held.queue.pop_front() {
            // A waiter whose wait ended has removed itself from the queue;
            // one whose signal is gone is ending now: skip it.
            if grant.send(()).is_ok() {
                held.holder = next;
                self.waits_for.remove(&next);
                for (waiter, _) in &held.queue {
                    self.waits_for.insert(*waiter, next);
                }
                return;
            }
        }
        self.held.remove(&row);
    }
}

/// A session's wait for a row lock: dropping it before the row was taken
/// removes the session's `waits_for` edge and its place in the queue, or
/// passes the row on if it was handed over meanwhile.
struct Waiting<'a> {
    locks: &'a Locks,
    session: u64,
    row: &'a RowRef,
    granted: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.granted {
            return;
        }
        let mut table = self.locks.inner.lock().unwrap_or_else(|e| e.into_inner());
        table.waits_for.remove(&self.session);
        let Some(held) = table.held.get_mut(self.row) else { return };
        if held.holder == self.session {
            table.hand_off(self.row.clone());
        } else {
            held.queue.retain(|(waiter, _)| *waiter != self.session);
        }
    }
}

/// A staged row state: the new row, or `None` for a deletion.
pub(crate) type Staged = Option<Map<String, Json>>;

/// One transaction's locks and uncommitted writes.
#[derive(Debug, Default)]
pub(crate) struct Txn {
    /// Rows locked, in the order taken.
    pub locked: Vec<RowRef>,
    /// Staged rows by table, then key, and staged schemas.
    pub writes: crate::sql::plan::Writes,
    /// Staged changes to secondary index entries (`crate::sql::catalog::entries`).
    pub index_writes: crate::sql::catalog::entries::IndexWrites,
    /// Indexes the transaction's DDL took away: their entries are cleared
    /// once it commits (no schema names them from then on, and index OIDs
    /// are never used again, so until then they are only garbage).
    pub cleared: Vec<crate::sql::catalog::Index>,
    /// The term in which this node served the SQL data when the first row
    /// lock was taken (`ActorGateway::serving_term`; 0 without a cluster):
    /// the locks are this node's, so the commit is refused once another
    /// term began.
    pub term: Option<u64>,
    /// LISTEN, UNLISTEN and NOTIFY, applied at commit.
    pub channels: super::notify::Pending,
    /// The gates of the tables this transaction's DDL changes, closed
    /// until it ends.
    pub closed: std::collections::BTreeMap<String, Closed>,
    /// The schema each table had when the transaction first staged one of
    /// its rows.
    pub used: std::collections::BTreeMap<String, crate::sql::catalog::Table>,
    /// SAVEPOINTs, oldest first: each name with what was staged then.
    pub savepoints: Vec<(String, Saved)>,
}

/// What a transaction had staged at a SAVEPOINT, put back by ROLLBACK TO.
/// Locks and closed gates are not part of it: they stay held until the
/// transaction ends (PostgreSQL releases those taken after the savepoint).
#[derive(Debug, Clone)]
pub(crate) struct Saved {
    writes: crate::sql::plan::Writes,
    index_writes: crate::sql::catalog::entries::IndexWrites,
    cleared: Vec<crate::sql::catalog::Index>,
    channels: super::notify::Pending,
    used: std::collections::BTreeMap<String, crate::sql::catalog::Table>,
}

impl Txn {
    /// SAVEPOINT `name`.
    pub fn savepoint(&mut self, name: String) {
        let staging = Saved {
            writes: self.writes.clone(),
            index_writes: self.index_writes.clone(),
            cleared: self.cleared.clone(),
            channels: self.channels.clone(),
            used: self.used.clone(),
        };
        self.savepoints.push((name, staging));
    }

    /// ROLLBACK TO SAVEPOINT `name`: what was staged after it is dropped,
    /// and the savepoint stays (later ones go). False when there is no
    /// such savepoint.
    pub fn roll_back_to(&mut self, name: &str) -> bool {
        let Some(at) = self.savepoints.iter().rposition(|(n, _)| n == name) else { return false };
        self.savepoints.truncate(at + 1);
        let staging = self.savepoints[at].1.clone();
        self.writes = staging.writes;
        self.index_writes = staging.index_writes;
        self.cleared = staging.cleared;
        self.channels = staging.channels;
        self.used = staging.used;
        true
    }

    /// RELEASE SAVEPOINT `name`: it and the later ones go, what they
    /// staged stays. False when there is no such savepoint.
    pub fn release(&mut self, name: &str) -> bool {
        let Some(at) = self.savepoints.iter().rposition(|(n, _)| n == name) else { return false };
        self.savepoints.truncate(at);
        true
    }

    pub fn staged(&self, table: &str, key: &[u8]) -> Option<&Staged> {
        self.writes.rows.get(table)?.get(key)
    }

    pub fn stage(&mut self, table: &str, key: Vec<u8>, row: Staged) {
        self.writes.rows.entry(table.to_string()).or_default().insert(key, row);
    }

    /// Stages `table` as the schema of its name (created or altered).
    pub fn stage_table(&mut self, table: crate::sql::catalog::Table) {
        self.writes.tables.insert(table.name.clone(), Some(std::sync::Arc::new(table)));
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
    #![allow(clippy::unwrap_used)]
    use super::*;
    use futures::FutureExt;
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
    async fn a_release_hands_the_row_to_the_first_waiter_only() {
        let locks = Arc::new(Locks::default());
        locks.lock(1, &row("a")).await.unwrap();
        let mut waiters = Vec::new();
        for session in 2..=4 {
            let locks = locks.clone();
            waiters.push(tokio::spawn(async move { locks.lock(session, &row("a")).await }));
            // Each starts waiting before the next: the queue's order.
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        }
        locks.release(1, [row("a")]);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(waiters[0].is_finished());
        assert!(!waiters[1].is_finished() && !waiters[2].is_finished());
        // The others now wait for session 2: session 2 waiting for a row
        // of session 3 would close a cycle.
        locks.lock(3, &row("b")).now_or_never().unwrap().unwrap();
        assert_eq!(locks.lock(2, &row("b")).await, Err(LockError::Deadlock));
        locks.release(2, [row("a")]);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(waiters[1].is_finished() && !waiters[2].is_finished());
        locks.release(3, [row("a"), row("b")]);
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), Ok(()));
        }
        locks.release(4, [row("a")]);
        assert!(locks.inner.lock().unwrap().held.is_empty());
        assert!(locks.inner.lock().unwrap().waits_for.is_empty());
    }

    #[tokio::test]
    async fn a_row_handed_to_a_dropped_wait_passes_on() {
        let locks = Locks::default();
        locks.lock(1, &row("a")).await.unwrap();
        let a = row("a");
        let mut second = Box::pin(locks.lock(2, &a));
        assert!((&mut second).now_or_never().is_none());
        let mut third = Box::pin(locks.lock(3, &a));
        assert!((&mut third).now_or_never().is_none());
        // Session 2 is handed the row, but its statement is cancelled
        // before it looks: the row goes on to session 3.
        locks.release(1, [row("a")]);
        drop(second);
        assert_eq!(third.now_or_never(), Some(Ok(())));
        locks.release(3, [row("a")]);
        assert!(locks.lock(4, &row("a")).now_or_never().is_some());
    }

    #[tokio::test]
    async fn a_dropped_wait_leaves_no_false_deadlock() {
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
