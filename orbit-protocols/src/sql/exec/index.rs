//! Secondary indexes in statements: every row a transaction writes keeps
//! its table's index entries in step (and a unique index's key is locked
//! and checked first); CREATE INDEX, UNIQUE constraints and DROP INDEX
//! stage the schema and the entries built in the transaction, like the rest
//! of the DDL (a dropped index's entries are cleared after the commit).
//! `crate::sql::catalog::entries` has the entries' layout.

use super::{Engine, Outcome};
use crate::sql::catalog::entries::{self as entries, entry_key, row_name};
use crate::sql::catalog::{Index, Table};
use crate::sql::error::Code;
use crate::sql::error::{Result, SqlError, error, unsupported};
use crate::sql::exec::txn::{Staged, Txn};
use crate::sql::parse::{ident, object_name};
use crate::sql::plan::Writes;
use crate::sql::types;
use orbit_shared::ActorGateway;
use serde_json::{Map, Value as Json};
use sqlparser::ast::{self, Expr, ObjectName};
use std::collections::{BTreeMap, BTreeSet};

/// The longest index key Orbit keeps, in bytes of its JSON text:
/// PostgreSQL's btree limit (2704), so what one refuses the other does.
const MAX_KEY: usize = 2704;

impl<G: ActorGateway> Engine<G> {
    /// Stages `new` as the state of row `key` (`None`: deleted) and the
    /// index entries that follow from it; `old` is the row as this
    /// transaction saw it. Every unique index the row takes a new key in
    /// is checked before anything is staged: another row holding that key
    /// is a 23505.
    pub(crate) async fn stage_row(
        &self,
        txn: &mut Txn,
        table: &Table,
        key: Vec<u8>,
        old: Option<&Map<String, Json>>,
        new: Staged,
    ) -> Result<()> {
        self.stage_checked(txn, table, key, old, new, true).await
    }

    /// [`Engine::stage_row`], checking foreign keys (`references`) or not
    /// (TRUNCATE of every table that refers to the rows).
    pub(crate) async fn stage_checked(
        &self,
        txn: &mut Txn,
        table: &Table,
        key: Vec<u8>,
        old: Option<&Map<String, Json>>,
        new: Staged,
        references: bool,
    ) -> Result<()> {
        let mut changes = Vec::new();
        for index in &table.indexes {
            let before = old.and_then(|row| entry_key(index, row));
            let after = new.as_ref().and_then(|row| entry_key(index, row));
            if before == after {
                continue;
            }
            if let Some(after) = &after
                && after.len() > MAX_KEY
            {
                return Err(too_long(index, after.len()));
            }
            if let (Some(after), Some(row)) = (&after, &new)
                && index.unique
                && self.holder(txn, table, index, after, &key).await?.is_some()
            {
                return Err(violation(table, index, row));
            }
            changes.push((index.entry_kind(), before, after));
        }
        if !changes.is_empty() {
            let name = row_name(&key);
            for (kind, before, after) in changes {
                if let Some(before) = before {
                    txn.stage_entry(&kind, &before, name.clone(), false);
                }
                if let Some(after) = after {
                    txn.stage_entry(&kind, &after, name.clone(), true);
                }
            }
        }
        if !txn.used.contains_key(&table.name) {
            txn.used.insert(table.name.clone(), table.clone());
        }
        // Checked once the row and its entries are staged, so a key
        // referring to the row itself, or a cascade looking it up, finds it.
        if references && (!table.foreign_keys.is_empty() || !table.referenced_by.is_empty()) {
            txn.stage(&table.name, key.clone(), new.clone());
            return self.enforce(txn, table, &key, old, &new).await;
        }
        txn.stage(&table.name, key, new);
        Ok(())
    }

    /// The row other than `key` that holds `entry` in unique `index`, as
    /// this transaction sees it. The entry's lock is taken first and held
    /// to the end of the transaction, so no one else gives a row that key
    /// meanwhile. Every row the entry names is read to see that it still
    /// carries the key.
    pub(super) async fn holder(
        &self,
        txn: &mut Txn,
        table: &Table,
        index: &Index,
        entry: &str,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>> {
        self.lock(txn, &index.entry_kind(), entry.as_bytes()).await?;
        for row in self.entry_rows(txn, index, entry).await? {
            let other = row.into_bytes();
            if other == key {
                continue;
            }
            if let Some(current) = self.current(txn, table, &other).await?
                && entry_key(index, &current).as_deref() == Some(entry)
            {
                return Ok(Some(other));
            }
        }
        Ok(None)
    }

    /// The stored keys of the rows entry `entry` of `index` names, as the
    /// transaction sees it: committed, with its staged changes.
    pub(super) async fn entry_rows(&self, txn: &Txn, index: &Index, entry: &str) -> Result<BTreeSet<String>> {
        let mut rows = entries::committed(self.gateway.as_ref(), index, entry).await?;
        if let Some(staged) = txn.index_writes.get(&(index.entry_kind(), entry.to_string())) {
            for (row, present) in staged {
                if *present {
                    rows.insert(row.clone());
                } else {
                    rows.remove(row);
                }
            }
        }
        Ok(rows)
    }

    /// The row holding `row`'s key in one of `arbiters` (unique indexes
    /// named by ON CONFLICT), other than `key` itself.
    pub(crate) async fn arbiter_holder(
        &self,
        txn: &mut Txn,
        table: &Table,
        arbiters: &[String],
        key: &[u8],
        row: &Map<String, Json>,
    ) -> Result<Option<Vec<u8>>> {
        for name in arbiters {
            let Some(index) = table.index(name) else { continue };
            if let Some(entry) = entry_key(index, row)
                && let Some(holder) = self.holder(txn, table, index, &entry, key).await?
            {
                return Ok(Some(holder));
            }
        }
        Ok(None)
    }

    /// CREATE [UNIQUE] INDEX [IF NOT EXISTS] [name] ON table [USING btree]
    /// (column, ...).
    pub(crate) async fn create_index(&self, create: ast::CreateIndex, txn: &mut Txn) -> Result<Outcome> {
        if create.predicate.is_some() {
            return Err(unsupported("partial indexes (CREATE INDEX ... WHERE)"));
        }
        if !create.include.is_empty() {
            return Err(unsupported("CREATE INDEX ... INCLUDE"));
        }
        if create.nulls_distinct == Some(false) {
            return Err(unsupported("NULLS NOT DISTINCT"));
        }
        if !create.with.is_empty() || !create.index_options.is_empty() || !create.alter_options.is_empty() {
            return Err(unsupported("index storage parameters and options"));
        }
        match &create.using {
            None | Some(ast::IndexType::BTree) => {}
            Some(other) => return Err(unsupported(format_args!("the index method {other}"))),
        }
        let table_name = object_name(&create.table_name)?;
        self.close_gate(txn, &table_name).await?;
        let table = self.table(&txn.writes, &table_name).await?;
        if !table.has_rows() {
            return Err(super::views::rowless(&table, "CREATE INDEX"));
        }
        let columns = index_columns(&table, &create.columns)?;
        let name = create.name.as_ref().map(object_name).transpose()?;
        let taken = self.relation_names(&txn.writes).await?;
        if let Some(name) = &name
            && taken.contains(name)
        {
            if create.if_not_exists {
                return Ok(Outcome::Done("CREATE INDEX".into()));
            }
            return Err(error(Code::DuplicateTable, format!("relation \"{name}\" already exists")));
        }
        let name = name.unwrap_or_else(|| entries::choose_name(&table.name, &columns, "idx", &taken));
        let index = Index {
            name,
            columns,
            unique: create.unique,
            constraint: false,
            primary: false,
            oid: self.next_oid().await?,
        };
        self.build_index(txn, &table, &index).await?;
        let mut table = Table::clone(&table);
        table.indexes.push(index);
        txn.stage_table(table);
        Ok(Outcome::Done("CREATE INDEX".into()))
    }

    /// Stages `index`'s entries for every row of `table` as the
    /// transaction sees it; two rows with one key of a unique index are a
    /// 23505.
    pub(crate) async fn build_index(&self, txn: &mut Txn, table: &Table, index: &Index) -> Result<()> {
        let rows = self.rows_seen(txn, table).await?;
        let mut keyed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (key, row) in &rows {
            let Some(entry) = entry_key(index, row) else { continue };
            if entry.len() > MAX_KEY {
                return Err(too_long(index, entry.len()));
            }
            let names = keyed.entry(entry).or_default();
            names.insert(row_name(key));
            if index.unique && names.len() > 1 {
                let values = key_values(table, index, row);
                return Err(error(
                    Code::UniqueViolation,
                    format!("could not create unique index \"{}\" (Key {values} is duplicated.)", index.name),
                ));
            }
        }
        let kind = index.entry_kind();
        for (entry, names) in keyed {
            for name in names {
                txn.stage_entry(&kind, &entry, name, true);
            }
        }
        Ok(())
    }

    /// DROP INDEX [IF EXISTS] name, ...: the schema staged without it, its
    /// entries cleared after the commit. A UNIQUE constraint's index goes
    /// with its constraint only.
    pub(crate) async fn drop_indexes(
        &self,
        names: &[ObjectName],
        if_exists: bool,
        txn: &mut Txn,
    ) -> Result<Outcome> {
        let mut found = Vec::new();
        let tables = self.tables_seen(&txn.writes).await?;
        for name in names {
            let name = object_name(name)?;
            if let Some(table) = tables.iter().find(|t| t.index(&name).is_some()) {
                found.push((table.name.clone(), name));
            } else if let Some(table) =
                tables.iter().find(|t| t.pk().is_some() && format!("{}_pkey", t.name) == name)
            {
                return Err(needed_by_constraint(&name, &name, &table.name));
            } else if !if_exists {
                return Err(error(Code::UndefinedObject, format!("index \"{name}\" does not exist")));
            }
        }
        for (table_name, name) in found {
            self.close_gate(txn, &table_name).await?;
            let Some(table) = self.schema(&txn.writes, &table_name).await? else { continue };
            let Some(index) = table.index(&name).cloned() else { continue };
            if index.constraint {
                return Err(needed_by_constraint(&name, &name, &table.name));
            }
            self.refuse_if_key_needs(txn, &table, &index).await?;
            let mut table = Table::clone(&table);
            table.indexes.retain(|i| i.name != name);
            txn.stage_table(table);
            txn.cleared.push(index);
        }
        Ok(Outcome::Done("DROP INDEX".into()))
    }

    /// Every table's schema as a transaction that wrote `writes` sees it.
    pub(crate) async fn tables_seen(&self, writes: &Writes) -> Result<Vec<Table>> {
        Ok(writes.over(crate::sql::tables(self.gateway.as_ref()).await?))
    }

    /// Every relation name taken, as a transaction that wrote `writes`
    /// sees them: tables, their primary key indexes and their secondary
    /// indexes (PostgreSQL keeps them in one namespace).
    pub(crate) async fn relation_names(&self, writes: &Writes) -> Result<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        for table in self.tables_seen(writes).await? {
            if table.pk().is_some() {
                names.insert(format!("{}_pkey", table.name));
            }
            names.extend(table.indexes.iter().map(|i| i.name.clone()));
            names.extend(table.columns.iter().filter(|c| c.serial).map(|c| table.sequence_key(&c.name)));
            names.insert(table.name);
        }
        Ok(names)
    }
}

/// The columns an index or UNIQUE constraint names: plain columns of the
/// table, each once, in ascending order.
pub(crate) fn index_columns(table: &Table, columns: &[ast::IndexColumn]) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::with_capacity(columns.len());
    for column in columns {
        let name = match &column.column.expr {
            Expr::Identifier(id) => ident(id),
            other => return Err(unsupported(format_args!("an index on the expression {other}"))),
        };
        let options = &column.column.options;
        if options.asc == Some(false) || options.nulls_first.is_some() || column.operator_class.is_some() {
            return Err(unsupported(format_args!(
                "index column options (DESC, NULLS FIRST/LAST, operator classes) on \"{name}\""
            )));
        }
        if table.column(&name).is_none() {
            return Err(error(Code::UndefinedColumn, format!("column \"{name}\" does not exist")));
        }
        if names.contains(&name) {
            return Err(error(
                Code::InvalidObjectDefinition,
                format!("column \"{name}\" appears twice in an index"),
            ));
        }
        names.push(name);
    }
    if names.is_empty() {
        return Err(error(Code::SyntaxError, "an index needs at least one column"));
    }
    Ok(names)
}

/// `(a, b)=(1, x)`, as PostgreSQL's unique violations show a key.
fn key_values(table: &Table, index: &Index, row: &Map<String, Json>) -> String {
    let values: Vec<String> = index
        .columns
        .iter()
        .map(|name| {
            let sql_type = table.column(name).map(|(_, c)| c.sql_type);
            match (sql_type, row.get(name)) {
                (Some(t), Some(v)) => types::text_of(t, v).unwrap_or_default(),
                _ => String::new(),
            }
        })
        .collect();
    format!("({})=({})", index.columns.join(", "), values.join(", "))
}

/// A unique index's 23505 for `row`.
pub(crate) fn violation(table: &Table, index: &Index, row: &Map<String, Json>) -> SqlError {
    error(
        Code::UniqueViolation,
        format!(
            "duplicate key value violates unique constraint \"{}\" (Key {} already exists.)",
            index.name,
            key_values(table, index, row)
        ),
    )
}

/// A key longer than [`MAX_KEY`] (54000, as PostgreSQL's btree refuses it).
fn too_long(index: &Index, len: usize) -> SqlError {
    error(
        Code::ProgramLimitExceeded,
        format!("index row size {len} exceeds the maximum {MAX_KEY} for index \"{}\"", index.name),
    )
}

fn needed_by_constraint(index: &str, constraint: &str, table: &str) -> SqlError {
    error(
        Code::DependentObjectsStillExist,
        format!(
            "cannot drop index {index} because constraint {constraint} on table {table} requires it \
             (You can drop constraint {constraint} on table {table} instead.)"
        ),
    )
}
