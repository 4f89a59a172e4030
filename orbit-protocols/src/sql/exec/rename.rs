//! `ALTER TABLE t RENAME TO n`. A table's rows are `row:<name>` actors,
//! so a rename moves them: each row is staged under the new name and
//! removed under the old one, in the transaction like any DDL (its cost is
//! the table's size, where PostgreSQL's is constant). The catalog entry
//! moves with its OID, so its indexes (whose entries are keyed by OID and
//! hold row keys, which do not change) stay as they are. Foreign keys on
//! both sides and sequences `OWNED BY` the table follow the new name.

use super::*;
use crate::sql::plan::sequences::{self as seq};
use orbit_shared::actors::counter::{CounterState, Set};

impl<G: ActorGateway> Engine<G> {
    pub(super) async fn rename_table(
        &self,
        table: &Table,
        to: &ObjectName,
        txn: &mut Txn,
    ) -> Result<Outcome> {
        let (from, to) = (table.name.clone(), object_name(to)?);
        self.close_gate(txn, &to).await?;
        if self.relation_names(&txn.writes).await?.contains(&to) {
            return Err(error(Code::DuplicateTable, format!("relation \"{to}\" already exists")));
        }
        let seen = self.tables_seen(&txn.writes).await?;
        if let Some(view) = seen.iter().find(|t| t.view.as_ref().is_some_and(|v| v.reads.contains(&from))) {
            return Err(unsupported(format_args!(
                "RENAME TO of table \"{from}\", which the view \"{}\" reads (views name their tables by name)",
                view.name
            )));
        }
        // The tables whose foreign keys refer to it, and those it refers to.
        let mut related: Vec<String> = table.referenced_by.clone();
        related.extend(table.foreign_keys.iter().map(|k| k.table.clone()));
        related.sort();
        related.dedup();
        related.retain(|name| *name != from);
        for name in &related {
            self.close_gate(txn, name).await?;
            let Some(schema) = self.schema(&txn.writes, name).await? else { continue };
            let mut schema = Table::clone(&schema);
            for key in schema.foreign_keys.iter_mut().filter(|k| k.table == from) {
                key.table = to.clone();
            }
            rename_in(&mut schema.referenced_by, &from, &to);
            txn.stage_table(schema);
        }
        for owned in seen.iter().filter(|t| t.sequence.as_ref().is_some_and(|s| owned_by(s, &from))) {
            self.close_gate(txn, &owned.name).await?;
            let mut owned = Table::clone(owned);
            if let Some((owner, _)) = owned.sequence.as_mut().and_then(|s| s.owned_by.as_mut()) {
                *owner = to.clone();
            }
            txn.stage_table(owned);
        }
        let mut renamed = Table { name: to.clone(), ..table.clone() };
        for key in renamed.foreign_keys.iter_mut().filter(|k| k.table == from) {
            key.table = to.clone();
        }
        rename_in(&mut renamed.referenced_by, &from, &to);
        // The counters named after the table go on where the old ones are:
        // its hidden row numbers and its SERIAL columns' sequences.
        self.carry_counter(table.rowid_sequence(), renamed.rowid_sequence()).await?;
        for column in table.columns.iter().filter(|c| c.serial) {
            let old = seq::serial(table, column);
            self.carry_counter(old.key, renamed.sequence_key(&column.name)).await?;
        }
        for (key, row) in self.rows_seen(txn, table).await? {
            txn.stage(&to, key.clone(), Some(row));
            txn.stage(&from, key, None);
        }
        txn.writes.tables.insert(from, None);
        txn.stage_table(renamed);
        Ok(Outcome::Done("ALTER TABLE".into()))
    }

    /// Sets counter `to` to counter `from`'s state, unless `to` is already
    /// past it. Done at once, outside the transaction, as sequence changes
    /// are: a rename rolled back leaves the counter of the new name ahead,
    /// which only skips values.
    async fn carry_counter(&self, from: String, to: String) -> Result<()> {
        let read = |key: String| async move {
            let id = ActorId::new("counter", Bytes::from(key));
            let reply = self.gateway.invoke(id, Invocation::new("read", Bytes::from_static(b"{}"))).await?;
            serde_json::from_slice::<CounterState>(&reply.value)
                .map_err(|e| error(Code::Internal, e.to_string()))
        };
        let (old, new) = (read(from).await?, read(to.clone()).await?);
        let Some(value) = old.value else { return Ok(()) };
        if new.value.is_some_and(|v| v >= value) {
            return Ok(());
        }
        let set = serde_json::to_vec(&Set { value, called: old.called })
            .map_err(|e| error(Code::Internal, e.to_string()))?;
        let id = ActorId::new("counter", Bytes::from(to));
        self.gateway.invoke(id, Invocation::new("set", Bytes::from(set))).await?;
        Ok(())
    }
}

fn owned_by(sequence: &crate::sql::catalog::Sequence, table: &str) -> bool {
    sequence.owned_by.as_ref().is_some_and(|(owner, _)| owner == table)
}

/// Replaces `from` by `to` in a list of table names.
fn rename_in(names: &mut [String], from: &str, to: &str) {
    for name in names.iter_mut().filter(|n| *n == from) {
        *name = to.to_string();
    }
}
