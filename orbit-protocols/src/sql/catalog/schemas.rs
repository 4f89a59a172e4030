//! Table schemas decoded once and shared by a front door's connections.
//!
//! A schema is the state of its `sql:table` catalog actor, as committed.
//! Statements take it from here unless their transaction staged one of its
//! own (`crate::sql::plan::Writes::tables`); DDL stages the changed schema
//! in its transaction, whose commit writes the catalog actor.
//!
//! A cached schema is used without touching storage while the gateway's
//! count of catalog changes ([`ActorGateway::kind_changes`]) stays where it
//! was when the schema was read: DDL from any connection, front door or
//! `orbit_call` moves it before it replies. A gateway that cannot count
//! (a remote client) gets the catalog record read on every call, and only
//! a record that differs from the cached one is decoded again. In a
//! cluster the count also moves when a catalog change made through another
//! node is applied on this one, so a node that leads the SQL data again
//! after another did does not serve that node's older schemas.

use crate::sql::CATALOG_KIND;
use crate::sql::catalog::Table;
use bytes::Bytes;
use orbit_shared::{ActorGateway, ActorId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The most schemas kept; past it the cache starts over.
const CAPACITY: usize = 1024;

#[derive(Default)]
pub(crate) struct Schemas {
    cached: Mutex<HashMap<String, Cached>>,
}

struct Cached {
    /// The catalog record the schema was decoded from.
    record: Bytes,
    table: Arc<Table>,
    /// The gateway's catalog change count read just before the record was.
    changes: Option<u64>,
}

impl Schemas {
    /// Table `name`'s schema; `None` when there is no such table.
    pub async fn get<G: ActorGateway>(
        &self,
        gateway: &G,
        name: &str,
    ) -> Result<Option<Arc<Table>>, orbit_shared::Error> {
        // Read the count before the record: a change landing in between
        // moves the count past the one kept, so the next call reads again.
        let changes = gateway.kind_changes(CATALOG_KIND);
        if changes.is_some() {
            let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(hit) = cached.get(name)
                && hit.changes == changes
            {
                return Ok(Some(hit.table.clone()));
            }
        }
        let id = ActorId::new(CATALOG_KIND, Bytes::copy_from_slice(name.as_bytes()));
        let Some(record) = gateway.read_actor(id).await? else { return Ok(None) };
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = cached.get_mut(name)
            && hit.record == record
        {
            hit.changes = changes;
            return Ok(Some(hit.table.clone()));
        }
        let table = Arc::new(crate::sql::decode_table(name, &record)?);
        if cached.len() >= CAPACITY {
            cached.clear();
        }
        cached.insert(name.to_string(), Cached { record, table: table.clone(), changes });
        Ok(Some(table))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sql::catalog::Column;
    use crate::sql::types::SqlType;
    use orbit_shared::{ActorPage, Error, Invocation, NodeDescription, Reply};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A gateway holding catalog records, counting changes or not.
    #[derive(Default)]
    struct Catalog {
        records: Mutex<HashMap<String, Bytes>>,
        changes: AtomicU64,
        counts: bool,
        reads: AtomicU64,
    }

    impl Catalog {
        fn put(&self, table: &Table) {
            let record = Bytes::from(serde_json::to_vec(table).unwrap());
            self.records.lock().unwrap().insert(table.name.clone(), record);
            self.changes.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl ActorGateway for Catalog {
        async fn invoke(&self, _id: ActorId, _invocation: Invocation) -> Result<Reply, Error> {
            unreachable!("schemas only read")
        }
        async fn invoke_atomic(&self, _calls: Vec<(ActorId, Invocation)>) -> Result<Vec<Reply>, Error> {
            unreachable!("schemas only read")
        }
        async fn list_actors(
            &self,
            _kind: &str,
            _cursor: Option<Bytes>,
            _limit: usize,
        ) -> Result<ActorPage, Error> {
            unreachable!("schemas only read")
        }
        async fn read_actor(&self, id: ActorId) -> Result<Option<Bytes>, Error> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let name = String::from_utf8(id.key.to_vec()).unwrap();
            Ok(self.records.lock().unwrap().get(&name).cloned())
        }
        async fn describe(&self) -> Result<NodeDescription, Error> {
            unreachable!("schemas only read")
        }
        fn kind_changes(&self, kind: &str) -> Option<u64> {
            assert_eq!(kind, CATALOG_KIND);
            self.counts.then(|| self.changes.load(Ordering::SeqCst))
        }
    }

    fn table(name: &str, columns: &[&str]) -> Table {
        let columns = columns.iter().map(|c| Column::new(*c, SqlType::Int4)).collect();
        Table { columns, ..Table::named(name) }
    }

    #[tokio::test]
    async fn a_counting_gateway_is_read_again_only_after_a_change() {
        let catalog = Catalog { counts: true, ..Catalog::default() };
        catalog.put(&table("t", &["a"]));
        let schemas = Schemas::default();
        let first = schemas.get(&catalog, "t").await.unwrap().unwrap();
        let second = schemas.get(&catalog, "t").await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(catalog.reads.load(Ordering::SeqCst), 1);

        catalog.put(&table("t", &["a", "b"]));
        let changed = schemas.get(&catalog, "t").await.unwrap().unwrap();
        assert_eq!(changed.columns.len(), 2);
        assert_eq!(catalog.reads.load(Ordering::SeqCst), 2);

        // A change to another table reads this one again, without decoding.
        catalog.put(&table("u", &["x"]));
        let same = schemas.get(&catalog, "t").await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&changed, &same));
        assert_eq!(catalog.reads.load(Ordering::SeqCst), 3);

        catalog.records.lock().unwrap().remove("t");
        catalog.changes.fetch_add(1, Ordering::SeqCst);
        assert!(schemas.get(&catalog, "t").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_gateway_that_cannot_count_is_read_every_time() {
        let catalog = Catalog::default();
        catalog.put(&table("t", &["a"]));
        let schemas = Schemas::default();
        let first = schemas.get(&catalog, "t").await.unwrap().unwrap();
        let second = schemas.get(&catalog, "t").await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&first, &second), "an unchanged record is not decoded again");
        assert_eq!(catalog.reads.load(Ordering::SeqCst), 2);
        catalog.put(&table("t", &["a", "b"]));
        assert_eq!(schemas.get(&catalog, "t").await.unwrap().unwrap().columns.len(), 2);
    }

    #[tokio::test]
    async fn an_unreadable_record_is_an_error() {
        let catalog = Catalog::default();
        catalog.records.lock().unwrap().insert("t".into(), Bytes::from_static(b"{not json"));
        let e = Schemas::default().get(&catalog, "t").await.unwrap_err();
        assert!(e.to_string().contains("unreadable"), "{e}");
    }
}
