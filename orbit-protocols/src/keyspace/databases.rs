//! Which actor kind holds each of the 16 databases. `SELECT n` names a
//! database; its keys are actors of kind `DATABASE_KINDS[slot(n)]`, where
//! the slot is `n` until SWAPDB exchanges two databases' slots, so a swap
//! is one write however many keys either database holds. The table is a
//! record of the front door's own kind (`SCRIPTS_KIND`, key `databases`:
//! 16 bytes, the slot of each database), read when the node starts and
//! written durably by SWAPDB. One node makes one table and hands it to
//! every front door that names databases (RESP, SQL's `orbit_redis`, MCP).
//! A node of a cluster of several keeps the identity table and refuses
//! SWAPDB, as Redis Cluster does: each node would hold its own table.

use super::{DATABASE_KINDS, SCRIPTS_KIND, Value};
use bytes::Bytes;
use orbit_shared::{ActorGateway, ActorId, Invocation};
use std::sync::atomic::{AtomicU8, Ordering};

/// The record's key within `SCRIPTS_KIND`.
pub const RECORD: &[u8] = b"databases";

/// A database -> kind table, each entry a slot of `DATABASE_KINDS`.
pub struct Databases {
    slots: [AtomicU8; 16],
    swappable: bool,
}

impl Default for Databases {
    /// Database `n` in kind `DATABASE_KINDS[n]`.
    fn default() -> Self {
        Databases { slots: std::array::from_fn(|n| AtomicU8::new(n as u8)), swappable: true }
    }
}

impl std::fmt::Debug for Databases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Databases").field(&self.table()).finish()
    }
}

impl Databases {
    /// The identity table, never swapped (a node of a cluster of several).
    pub fn fixed() -> Self {
        Databases { swappable: false, ..Databases::default() }
    }

    /// Whether SWAPDB may change this table.
    pub fn swappable(&self) -> bool {
        self.swappable
    }

    /// The kind of database `db` (taken modulo 16).
    pub fn kind(&self, db: usize) -> &'static str {
        DATABASE_KINDS[usize::from(self.slots[db % 16].load(Ordering::Acquire))]
    }

    /// The kind of database `db`; `None` past 15.
    pub fn kind_of(&self, db: u8) -> Option<&'static str> {
        (usize::from(db) < DATABASE_KINDS.len()).then(|| self.kind(usize::from(db)))
    }

    /// Each database's slot.
    pub fn table(&self) -> [u8; 16] {
        std::array::from_fn(|db| self.slots[db].load(Ordering::Acquire))
    }

    /// The table with databases `a` and `b` exchanged.
    pub fn swapped(&self, a: usize, b: usize) -> [u8; 16] {
        let mut table = self.table();
        table.swap(a, b);
        table
    }

    /// Installs a table (one written with [`Databases::swapped`]).
    pub fn set(&self, table: [u8; 16]) {
        for (slot, value) in self.slots.iter().zip(table) {
            slot.store(value, Ordering::Release);
        }
    }

    /// A stored table: each of the 16 slots exactly once.
    pub fn decode(bytes: &[u8]) -> Result<[u8; 16], String> {
        let table: [u8; 16] =
            bytes.try_into().map_err(|_| format!("database table of {} bytes, not 16", bytes.len()))?;
        let mut seen = [false; 16];
        for &slot in &table {
            match seen.get_mut(usize::from(slot)) {
                Some(s) if !*s => *s = true,
                _ => return Err(format!("database table {table:?} is not a permutation of 0-15")),
            }
        }
        Ok(table)
    }

    /// The table stored on `gateway`'s node (the identity when none was
    /// ever written, found without activating the record's actor).
    pub async fn load<G: ActorGateway>(gateway: &G) -> Result<Databases, String> {
        let key = Bytes::from_static(RECORD);
        let id = ActorId::new(SCRIPTS_KIND, key.clone());
        let databases = Databases::default();
        let stored =
            gateway.read_actor(id.clone()).await.map_err(|e| format!("reading the database table: {e}"))?;
        if stored.is_none() {
            return Ok(databases);
        }
        let line = [Bytes::from_static(b"get"), key];
        let args = super::encode_call(super::now_ms(), &[&line]);
        let reply = gateway
            .invoke(id, Invocation::new("read", args))
            .await
            .map_err(|e| format!("reading the database table: {e}"))?;
        match super::decode_reply(&reply.value).and_then(|mut r| r.pop()).map(|(v, _)| v) {
            Some(Value::Nil | Value::NilArray) => {}
            Some(Value::Bulk(bytes)) => databases.set(Databases::decode(&bytes)?),
            other => return Err(format!("reading the database table: unexpected reply {other:?}")),
        }
        Ok(databases)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databases_start_in_their_own_kinds_and_swap_by_slot() {
        let dbs = Databases::default();
        assert_eq!(dbs.kind(0), "redis");
        assert_eq!(dbs.kind(15), "redis:15");
        assert_eq!(dbs.kind_of(16), None);
        let table = dbs.swapped(0, 3);
        assert_eq!(Databases::decode(&table), Ok(table));
        dbs.set(table);
        assert_eq!((dbs.kind(0), dbs.kind(3)), ("redis:3", "redis"));
        dbs.set(dbs.swapped(3, 0));
        assert_eq!(dbs.table(), Databases::default().table());
    }

    #[test]
    fn a_damaged_table_is_refused() {
        assert!(Databases::decode(&[0; 16]).unwrap_err().contains("permutation"));
        assert!(Databases::decode(&[0; 3]).unwrap_err().contains("3 bytes"));
        let mut table: [u8; 16] = std::array::from_fn(|n| n as u8);
        table[5] = 16;
        assert!(Databases::decode(&table).is_err());
    }
}
