//! DDL: CREATE TABLE, ALTER TABLE and DROP TABLE (indexes: `index.rs`).
//! Like any write, DDL stages its work in the statement's transaction: the
//! new schema (`Txn::stage_table`), the rows it rewrites or deletes and the
//! index entries it builds, all committed in the transaction's one atomic
//! group, or dropped with it on ROLLBACK. Statements after it in the
//! transaction see the staged schema. A table's DDL first closes the
//! table's gate (`txn::Gates`), so no commit writes its rows until the
//! transaction ends.
//!
//! Invariant: a row may hold a field its table's catalog does not name (a
//! value a writer of an older release left behind). Readers ignore such
//! fields, and a column of that name comes back only through ADD COLUMN or
//! RENAME COLUMN, which rewrite the field in every row, so a stale value
//! never shows.

use super::checks;
use super::index::index_columns;
use super::references::Declared;
use super::{Engine, Outcome};
use crate::sql::catalog::entries::choose_name;
use crate::sql::catalog::{self, Check, Column, Identity, Index, Table};
use crate::sql::error::Code;
use crate::sql::error::{Result, SqlError, error, unsupported};
use crate::sql::exec::txn::Txn;
use crate::sql::parse::{constant, ident, literal, object_name, parse_expr};
use crate::sql::types;
use crate::sql::types::{Literal, NumericTypmod, SqlType};
use bytes::Bytes;
use orbit_shared::{ActorGateway, ActorId, Invocation};
use serde_json::{Map, Value as Json};
use sqlparser::ast::{
    self, AlterTableOperation, ColumnOption, DataType, Expr, GeneratedAs, ObjectName, TableConstraint,
};
use std::collections::HashSet;

/// One ALTER TABLE action, checked against the table as the actions before
/// it leave it.
#[derive(Debug, Clone, PartialEq)]
enum Action {
    /// ADD COLUMN, and the value existing rows take (`None`: NULL).
    AddColumn(Column, Option<Json>),
    DropColumn(String),
    RenameColumn {
        from: String,
        to: String,
    },
    /// ADD PRIMARY KEY (the column's index).
    AddPrimaryKey(usize),
    /// ADD PRIMARY KEY of several columns (their indexes).
    AddCompositeKey(Vec<usize>),
    /// ADD [CONSTRAINT name] UNIQUE (columns): its name (chosen when the
    /// statement names none) and columns.
    AddUnique(String, Vec<String>),
    /// DROP CONSTRAINT of a UNIQUE constraint, by name.
    DropUnique(String),
    /// ADD [CONSTRAINT name] FOREIGN KEY.
    AddForeignKey(Declared),
    /// DROP CONSTRAINT of a FOREIGN KEY, by name.
    DropForeignKey(String),
    /// ADD [CONSTRAINT name] CHECK (its OID given when carried out).
    AddCheck(Check),
    /// DROP CONSTRAINT of a CHECK, by name.
    DropCheck(String),
    /// ALTER COLUMN c SET NOT NULL (every row checked) or DROP NOT NULL.
    SetNotNull(String, bool),
    /// ALTER COLUMN c SET DEFAULT / DROP DEFAULT: the column as its new
    /// default leaves it.
    SetDefault(Column),
    /// ALTER COLUMN c TYPE: the column with its new type, and the USING
    /// expression converting each row's value (else its value converts
    /// as an assignment would).
    SetType(Column, Option<Box<Expr>>),
}

impl Action {
    /// Changes `table`'s schema as the action does.
    fn apply_to(&self, table: &mut Table) {
        match self {
            Action::AddColumn(column, _) => table.columns.push(column.clone()),
            Action::DropColumn(name) => {
                // As in PostgreSQL, the checks reading a dropped column go.
                table
                    .checks
                    .retain(|c| !parse_expr(&c.expr).is_ok_and(|e| checks::columns_read(&e).contains(name)));
                let index = table.column(name).map(|(i, _)| i);
                if let Some(index) = index {
                    table.columns.remove(index);
                    table.primary_key = table.primary_key.map(|pk| if pk > index { pk - 1 } else { pk });
                }
                // PostgreSQL drops the indexes and foreign keys on a
                // dropped column.
                table.indexes.retain(|i| !i.columns.contains(name));
                table.foreign_keys.retain(|k| !k.columns.contains(name));
            }
            Action::RenameColumn { from, to } => {
                if let Some(column) = table.columns.iter_mut().find(|c| c.name == *from) {
                    column.name = to.clone();
                }
                for column in &mut table.columns {
                    if let Some(sql) = &column.generated {
                        column.generated =
                            Some(checks::rename_read(sql, from, to).unwrap_or_else(|_| sql.clone()));
                    }
                }
                for check in &mut table.checks {
                    check.expr =
                        checks::rename_read(&check.expr, from, to).unwrap_or_else(|_| check.expr.clone());
                }
                for column in table.indexes.iter_mut().flat_map(|i| i.columns.iter_mut()) {
                    if column == from {
                        *column = to.clone();
                    }
                }
                let own = table.name.clone();
                for key in &mut table.foreign_keys {
                    rename_in(&mut key.columns, from, to);
                    if key.table == own {
                        rename_in(&mut key.references, from, to);
                    }
                }
            }
            Action::AddPrimaryKey(index) => {
                table.primary_key = Some(*index);
                table.columns[*index].not_null = true;
            }
            // Planning sees the key taken; `alter` adds the index itself.
            Action::AddCompositeKey(key) => {
                for &i in key {
                    table.columns[i].not_null = true;
                }
                let columns = key.iter().map(|&i| table.columns[i].name.clone()).collect();
                table.indexes.push(composite_key(&table.name, columns, 0));
            }
            // Planning sees the name taken; `alter` adds the index itself.
            Action::AddUnique(name, columns) => table.indexes.push(Index {
                name: name.clone(),
                columns: columns.clone(),
                unique: true,
                constraint: true,
                primary: false,
                oid: 0,
            }),
            Action::DropUnique(name) => table.indexes.retain(|i| i.name != *name),
            // Checked against the tables when carried out.
            Action::AddForeignKey(_) => {}
            Action::DropForeignKey(name) => table.foreign_keys.retain(|k| k.name != *name),
            Action::AddCheck(check) => checks::add_check(table, check.clone()),
            Action::DropCheck(name) => table.checks.retain(|c| c.name != *name),
            Action::SetNotNull(name, not_null) => {
                if let Some(column) = table.columns.iter_mut().find(|c| c.name == *name) {
                    column.not_null = *not_null;
                }
            }
            Action::SetDefault(changed) | Action::SetType(changed, _) => {
                if let Some(column) = table.columns.iter_mut().find(|c| c.name == changed.name) {
                    *column = changed.clone();
                }
            }
        }
    }
}

impl<G: ActorGateway> Engine<G> {
    pub(crate) async fn create_table(&self, create: ast::CreateTable, txn: &mut Txn) -> Result<Outcome> {
        let name = object_name(&create.name)?;
        let mut columns: Vec<Column> = Vec::new();
        let mut primary_key = None;
        // A primary key of several columns: their names.
        let mut composite: Option<Vec<String>> = None;
        // UNIQUE constraints: their names (if given) and columns.
        let mut uniques: Vec<(Option<String>, Vec<String>)> = Vec::new();
        let mut references = Vec::new();
        let mut checks = Vec::new();
        for def in &create.columns {
            let column_name = ident(&def.name);
            if columns.iter().any(|c| c.name == column_name) {
                return Err(error(
                    Code::DuplicateColumn,
                    format!("column \"{column_name}\" specified more than once"),
                ));
            }
            let ColumnDecl { column, primary_key: is_key, unique, checks: declared } =
                column_def(def, &name)?;
            checks.extend(declared);
            if is_key && primary_key.replace(columns.len()).is_some() {
                return Err(several_keys(&name));
            }
            if let Some(constraint) = unique {
                uniques.push((constraint, vec![column.name.clone()]));
            }
            for option in &def.options {
                if let ColumnOption::ForeignKey(fk) = &option.option {
                    references.push(Declared::from_ast(fk, option.name.as_ref(), Some(&column.name))?);
                }
            }
            columns.push(column);
        }
        for constraint in &create.constraints {
            match constraint {
                TableConstraint::PrimaryKey(pk) => {
                    let key = primary_key_columns(&pk.columns, &columns)?;
                    if primary_key.is_some() || composite.is_some() {
                        return Err(several_keys(&name));
                    }
                    for &i in &key {
                        columns[i].not_null = true;
                    }
                    match key.as_slice() {
                        [one] => primary_key = Some(*one),
                        _ => composite = Some(key.iter().map(|&i| columns[i].name.clone()).collect()),
                    }
                }
                TableConstraint::Unique(unique) => {
                    let schema = Table { columns: columns.clone(), ..Table::named(&name) };
                    uniques.push((unique_constraint(unique)?, index_columns(&schema, &unique.columns)?));
                }
                TableConstraint::ForeignKey(fk) => references.push(Declared::from_ast(fk, None, None)?),
                TableConstraint::Check(check) => checks.push((check.name.clone(), (*check.expr).clone())),
                other => return Err(unsupported(format_args!("the table constraint \"{other}\""))),
            }
        }
        check_table_options(&create)?;
        self.close_gate(txn, &name).await?;
        let mut taken = self.relation_names(&txn.writes).await?;
        if taken.contains(&name) {
            if create.if_not_exists {
                return Ok(Outcome::Done("CREATE TABLE".into()));
            }
            return Err(error(Code::DuplicateTable, format!("relation \"{name}\" already exists")));
        }
        // A SERIAL column's sequence is named after it; PostgreSQL would
        // number the name past one taken, which Orbit's counters cannot.
        let named = Table::named(&name);
        for column in columns.iter().filter(|c| c.serial) {
            let sequence = named.sequence_key(&column.name);
            if taken.contains(&sequence) {
                return Err(unsupported(format_args!(
                    "a SERIAL or identity column whose sequence name \"{sequence}\" another relation has"
                )));
            }
        }
        let oid = self.next_oid().await?;
        let mut indexes = Vec::with_capacity(uniques.len() + 1);
        if let Some(columns) = composite {
            indexes.push(composite_key(&name, columns, self.next_oid().await?));
        }
        if !uniques.is_empty() {
            if primary_key.is_some() || !indexes.is_empty() {
                taken.insert(format!("{name}_pkey"));
            }
            for (constraint, columns) in uniques {
                let index_name = match constraint {
                    Some(given) if taken.contains(&given) => {
                        return Err(error(
                            Code::DuplicateTable,
                            format!("relation \"{given}\" already exists"),
                        ));
                    }
                    Some(given) => given,
                    None => choose_name(&name, &columns, "key", &taken),
                };
                taken.insert(index_name.clone());
                let oid = self.next_oid().await?;
                indexes.push(Index {
                    name: index_name,
                    columns,
                    unique: true,
                    constraint: true,
                    primary: false,
                    oid,
                });
            }
        }
        let mut table = Table { columns, primary_key, oid, indexes, ..Table::named(&name) };
        for column in &table.columns {
            checks::check_generation(&table, column)?;
        }
        for (name, expr) in checks {
            let check =
                checks::declare_check(&table, name.as_ref(), &expr, &checks::constraint_names(&table))?;
            let check = Check { oid: self.next_oid().await?, ..check };
            checks::add_check(&mut table, check);
        }
        self.try_expressions(&table).await?;
        for declared in references {
            self.add_foreign_key(txn, &mut table, declared).await?;
        }
        txn.stage_table(table);
        Ok(Outcome::Done("CREATE TABLE".into()))
    }

    /// A new table's OID: user objects' OIDs, two apart (the table and its
    /// primary key index).
    pub(crate) async fn next_oid(&self) -> Result<u32> {
        let id = ActorId::new("counter", Bytes::from_static(b"pg_class_oid"));
        let reply =
            self.gateway.invoke(id, Invocation::new("increment", Bytes::from_static(b"{\"by\":1}"))).await?;
        let n: u32 =
            serde_json::from_slice(&reply.value).map_err(|e| error(Code::Internal, e.to_string()))?;
        Ok(catalog::FIRST_USER_OID + 2 * n)
    }

    /// ALTER TABLE: every action is checked (against the table as the ones
    /// before it leave it, and, for ADD COLUMN ... NOT NULL without a
    /// default, against the rows) before any is carried out; then each is
    /// staged in turn, over the rows as the ones before it left them.
    pub(crate) async fn alter_table(&self, alter: ast::AlterTable, txn: &mut Txn) -> Result<Outcome> {
        let name = object_name(&alter.name)?;
        self.close_gate(txn, &name).await?;
        let Some(table) = self.schema(&txn.writes, &name).await? else {
            if alter.if_exists {
                return Ok(Outcome::Done("ALTER TABLE".into()));
            }
            return Err(error(Code::UndefinedTable, format!("relation \"{name}\" does not exist")));
        };
        if !table.has_rows() {
            return Err(super::views::rowless(&table, "ALTER TABLE"));
        }
        match alter.operations.as_slice() {
            [AlterTableOperation::RenameTable { table_name: ast::RenameTableNameKind::To(to) }] => {
                return self.rename_table(&table, to, txn).await;
            }
            operations if operations.iter().any(|o| matches!(o, AlterTableOperation::RenameTable { .. })) => {
                return Err(error(Code::SyntaxError, "RENAME TO cannot be combined with other actions"));
            }
            _ => {}
        }
        let mut table = Table::clone(&table);
        let actions = plan_alter(&table, &alter.operations)?;
        if actions
            .iter()
            .any(|a| matches!(a, Action::DropColumn(_) | Action::RenameColumn { .. } | Action::SetType(..)))
        {
            self.refuse_if_viewed(txn, &name).await?;
        }
        for action in &actions {
            if let Action::AddColumn(column, None) = action
                && column.not_null
                && !computed_per_row(column)
                && !self.rows_seen(txn, &table).await?.is_empty()
            {
                return Err(null_values(column, &table));
            }
        }
        for action in actions {
            self.alter(txn, &mut table, action).await?;
        }
        self.try_expressions(&table).await?;
        txn.stage_table(table);
        Ok(Outcome::Done("ALTER TABLE".into()))
    }

    /// Stages one checked action's changes to the rows and index entries,
    /// and makes it in `table`.
    async fn alter(&self, txn: &mut Txn, table: &mut Table, action: Action) -> Result<()> {
        match action {
            Action::AddUnique(name, columns) => {
                let index = Index {
                    name,
                    columns,
                    unique: true,
                    constraint: true,
                    primary: false,
                    oid: self.next_oid().await?,
                };
                self.build_index(txn, table, &index).await?;
                table.indexes.push(index);
            }
            // Every row must have the columns (23502); the index build
            // checks they are unique (23505).
            Action::AddCompositeKey(key) => {
                let rows = self.rows_seen(txn, table).await?;
                for &i in &key {
                    let column = &table.columns[i];
                    if rows.values().any(|row| row.get(&column.name).is_none_or(Json::is_null)) {
                        return Err(null_values(column, table));
                    }
                }
                for &i in &key {
                    table.columns[i].not_null = true;
                }
                let columns = key.iter().map(|&i| table.columns[i].name.clone()).collect();
                let index = composite_key(&table.name, columns, self.next_oid().await?);
                self.build_index(txn, table, &index).await?;
                table.indexes.push(index);
            }
            Action::DropUnique(name) => {
                for index in table.indexes.iter().filter(|i| i.name == name) {
                    self.refuse_if_key_needs(txn, table, index).await?;
                }
                txn.cleared.extend(table.indexes.iter().filter(|i| i.name == name).cloned());
                table.indexes.retain(|i| i.name != name);
            }
            Action::AddForeignKey(declared) => {
                self.add_foreign_key(txn, table, declared).await?;
                if let Some(name) = table.foreign_keys.last().map(|k| k.name.clone()) {
                    self.validate_foreign_key(txn, table, &name).await?;
                }
            }
            Action::DropForeignKey(ref name) => {
                let dropped: Vec<_> =
                    table.foreign_keys.iter().filter(|k| k.name == *name).cloned().collect();
                action.apply_to(table);
                for key in dropped {
                    self.unlink(txn, table, &key.table).await?;
                }
            }
            // The rows move to the actors of their keys, so every index is
            // built again (under a new OID: the old entries name old keys).
            Action::AddPrimaryKey(index) => {
                self.rekey_rows(txn, table, index).await?;
                action.apply_to(table);
                for old in std::mem::take(&mut table.indexes) {
                    let index = Index { oid: self.next_oid().await?, ..old.clone() };
                    self.build_index(txn, table, &index).await?;
                    table.indexes.push(index);
                    txn.cleared.push(old);
                }
            }
            Action::AddColumn(ref column, ref fill) => {
                let name = column.name.clone();
                if computed_per_row(column) {
                    action.apply_to(table);
                    let (keys, mut rows): (Vec<_>, Vec<_>) =
                        self.rows_seen(txn, table).await?.into_iter().unzip();
                    if column.generated.is_some() {
                        self.generate(table, &mut rows).await?;
                    } else {
                        for (row, value) in
                            rows.iter_mut().zip(self.default_values(column, keys.len()).await?)
                        {
                            if value.is_null() {
                                if column.not_null {
                                    return Err(null_values(column, table));
                                }
                                continue;
                            }
                            row.insert(name.clone(), value);
                        }
                    }
                    for (key, row) in keys.into_iter().zip(rows) {
                        txn.stage(&table.name, key, Some(row));
                    }
                    return Ok(());
                }
                self.rewrite_rows(txn, table, |row| with_field(row, &name, fill.as_ref())).await?;
                action.apply_to(table);
            }
            Action::AddCheck(check) => {
                let check = Check { oid: self.next_oid().await?, ..check };
                self.validate_check(txn, table, &check).await?;
                checks::add_check(table, check);
            }
            Action::DropCheck(_) | Action::SetDefault(_) => action.apply_to(table),
            Action::SetNotNull(ref name, not_null) => {
                if let Some((_, column)) = table.column(name)
                    && not_null
                    && self
                        .rows_seen(txn, table)
                        .await?
                        .values()
                        .any(|row| row.get(name).is_none_or(Json::is_null))
                {
                    return Err(null_values(column, table));
                }
                action.apply_to(table);
            }
            Action::SetType(ref column, ref using) => {
                self.change_type(txn, table, column, using.as_deref()).await?
            }
            Action::RenameColumn { ref from, ref to } => {
                self.rename_referenced(txn, table, from, to).await?;
                self.rewrite_rows(txn, table, |row| {
                    let mut moved = row.clone();
                    match row.get(from) {
                        Some(value) => moved.insert(to.clone(), value.clone()),
                        None => moved.remove(to),
                    };
                    moved.remove(from);
                    (moved != *row).then_some(moved)
                })
                .await?;
                action.apply_to(table);
            }
            Action::DropColumn(ref name) => {
                let name = name.clone();
                self.refuse_if_referenced(txn, table, &name).await?;
                self.drop_owned_sequences(txn, &table.name, Some(&name)).await?;
                let dropped: Vec<_> =
                    table.foreign_keys.iter().filter(|k| k.columns.contains(&name)).cloned().collect();
                self.rewrite_rows(txn, table, |row| with_field(row, &name, None)).await?;
                let before = table.indexes.clone();
                action.apply_to(table);
                // PostgreSQL drops the indexes on a dropped column.
                txn.cleared.extend(before.into_iter().filter(|i| table.index(&i.name).is_none()));
                for key in dropped {
                    self.unlink(txn, table, &key.table).await?;
                }
            }
        }
        Ok(())
    }

    /// ALTER COLUMN ... TYPE: every row's value converted (by `using`, or
    /// as an assignment converts it) and checked as the new type's; the
    /// generated columns computed again and the checks checked; the
    /// indexes on the column built again (under new OIDs: their entries'
    /// keys are the values' stored forms).
    async fn change_type(
        &self,
        txn: &mut Txn,
        table: &mut Table,
        column: &Column,
        using: Option<&Expr>,
    ) -> Result<()> {
        let (keys, old): (Vec<_>, Vec<_>) = self.rows_seen(txn, table).await?.into_iter().unzip();
        let Some((_, before)) = table.column(&column.name) else { return Ok(()) };
        let before = before.clone();
        let converted: Vec<Literal> = match using {
            Some(expr) => self
                .compute(table, std::slice::from_ref(expr), &old)
                .await?
                .into_iter()
                .map(|mut v| v.pop().unwrap_or(Literal::Null))
                .collect(),
            None => old
                .iter()
                .map(|row| match row.get(&column.name) {
                    None | Some(Json::Null) => Literal::Null,
                    Some(value) => {
                        let text = types::text_of(before.sql_type, value).unwrap_or_default();
                        if is_number(before.sql_type) { Literal::Number(text) } else { Literal::String(text) }
                    }
                })
                .collect(),
        };
        let mut rows = old.clone();
        for (row, value) in rows.iter_mut().zip(converted) {
            let value = column.coerce(&value)?;
            if value.is_null() {
                if column.not_null {
                    return Err(null_values(column, table));
                }
                row.remove(&column.name);
            } else {
                row.insert(column.name.clone(), value);
            }
        }
        Action::SetType(column.clone(), None).apply_to(table);
        self.generate(table, &mut rows).await?;
        self.check_rows(table, &rows).await?;
        for ((key, row), before) in keys.into_iter().zip(rows).zip(&old) {
            if row != *before {
                txn.stage(&table.name, key, Some(row));
            }
        }
        let (on_column, others): (Vec<Index>, Vec<Index>) =
            std::mem::take(&mut table.indexes).into_iter().partition(|i| i.columns.contains(&column.name));
        table.indexes = others;
        for old in on_column {
            let index = Index { oid: self.next_oid().await?, ..old.clone() };
            self.build_index(txn, table, &index).await?;
            table.indexes.push(index);
            txn.cleared.push(old);
        }
        Ok(())
    }

    /// ADD PRIMARY KEY's rows: every row is checked (NOT NULL, unique), then
    /// staged at the key of its new primary key, and deleted from the old
    /// one.
    async fn rekey_rows(&self, txn: &mut Txn, table: &Table, index: usize) -> Result<()> {
        let column = &table.columns[index];
        let rows = self.rows_seen(txn, table).await?;
        let mut seen = HashSet::new();
        let mut moves = Vec::new();
        for (key, row) in rows {
            let Some(new_key) = row.get(&column.name).and_then(types::key_of) else {
                return Err(null_values(column, table));
            };
            if !seen.insert(new_key.clone()) {
                let value = row.get(&column.name).and_then(|v| types::text_of(column.sql_type, v));
                return Err(error(
                    Code::UniqueViolation,
                    format!(
                        "could not create unique index \"{}_pkey\" (Key ({})=({}) is duplicated.)",
                        table.name,
                        column.name,
                        value.unwrap_or_default()
                    ),
                ));
            }
            if new_key != key {
                moves.push((key, new_key, row));
            }
        }
        // All deletions first: a row may move to a key another row leaves.
        for (key, _, _) in &moves {
            txn.stage(&table.name, key.clone(), None);
        }
        for (_, new_key, row) in moves {
            txn.stage(&table.name, new_key, Some(row));
        }
        Ok(())
    }

    /// Stages every row of `table` (as the transaction sees it) that
    /// `change` gives a new state, at the same key. Index entries do not
    /// move: no change here alters an indexed value.
    async fn rewrite_rows(
        &self,
        txn: &mut Txn,
        table: &Table,
        mut change: impl FnMut(&Map<String, Json>) -> Option<Map<String, Json>>,
    ) -> Result<()> {
        for (key, row) in self.rows_seen(txn, table).await? {
            if let Some(row) = change(&row) {
                txn.stage(&table.name, key, Some(row));
            }
        }
        Ok(())
    }

    /// Takes `table` out of `parent`'s `referenced_by` once none of its
    /// foreign keys refers to `parent` any more.
    async fn unlink(&self, txn: &mut Txn, table: &mut Table, parent: &str) -> Result<()> {
        if table.foreign_keys.iter().any(|k| k.table == parent) {
            return Ok(());
        }
        if parent == table.name {
            let own = table.name.clone();
            table.referenced_by.retain(|t| *t != own);
            return Ok(());
        }
        self.close_gate(txn, parent).await?;
        if let Some(parent) = self.schema(&txn.writes, parent).await? {
            let mut parent = Table::clone(&parent);
            parent.referenced_by.retain(|t| *t != table.name);
            txn.stage_table(parent);
        }
        Ok(())
    }

    /// Every foreign key that refers to `table` (its own included), with
    /// its table's name.
    async fn keys_on(
        &self,
        txn: &Txn,
        table: &Table,
    ) -> Result<Vec<(String, crate::sql::catalog::ForeignKey)>> {
        let own = table
            .foreign_keys
            .iter()
            .filter(|k| k.table == table.name)
            .map(|k| (table.name.clone(), k.clone()));
        Ok(self.referring_keys(txn, table).await?.into_iter().chain(own).collect())
    }

    /// The foreign keys of other tables that refer to `table`, with their
    /// tables' names.
    async fn referring_keys(
        &self,
        txn: &Txn,
        table: &Table,
    ) -> Result<Vec<(String, crate::sql::catalog::ForeignKey)>> {
        let mut keys = Vec::new();
        for child in table.referenced_by.iter().filter(|c| **c != table.name) {
            if let Some(schema) = self.schema(&txn.writes, child).await? {
                keys.extend(
                    schema
                        .foreign_keys
                        .iter()
                        .filter(|k| k.table == table.name)
                        .map(|k| (child.clone(), k.clone())),
                );
            }
        }
        Ok(keys)
    }

    /// 2BP01 when a foreign key finds its referenced rows through `index`
    /// of `table` (its columns are the key's referenced columns).
    pub(super) async fn refuse_if_key_needs(&self, txn: &Txn, table: &Table, index: &Index) -> Result<()> {
        let keys = self.keys_on(txn, table).await?;
        let by_key = |key: &crate::sql::catalog::ForeignKey| {
            table.pk().is_some_and(|pk| key.references == [pk.name.clone()])
        };
        let needs = |key: &crate::sql::catalog::ForeignKey| {
            !by_key(key)
                && key.references.len() == index.columns.len()
                && key.references.iter().all(|c| index.columns.contains(c))
        };
        if let Some((child, key)) = keys.into_iter().find(|(_, k)| needs(k)) {
            return Err(error(
                Code::DependentObjectsStillExist,
                format!(
                    "cannot drop index {} because constraint {} on table {child} requires it",
                    index.name, key.name
                ),
            ));
        }
        Ok(())
    }

    /// 2BP01 when another table's foreign key refers to `column` of `table`.
    async fn refuse_if_referenced(&self, txn: &Txn, table: &Table, column: &str) -> Result<()> {
        let keys = self.keys_on(txn, table).await?;
        if let Some((child, key)) = keys.into_iter().find(|(_, k)| k.references.iter().any(|c| c == column)) {
            return Err(error(
                Code::DependentObjectsStillExist,
                format!(
                    "cannot drop column {column} of table {} because other objects depend on it (constraint {} on table {child})",
                    table.name, key.name
                ),
            ));
        }
        Ok(())
    }

    /// RENAME COLUMN of a column other tables' foreign keys refer to:
    /// their keys follow the new name.
    async fn rename_referenced(&self, txn: &mut Txn, table: &Table, from: &str, to: &str) -> Result<()> {
        for child in table.referenced_by.iter().filter(|c| **c != table.name) {
            self.close_gate(txn, child).await?;
            let Some(schema) = self.schema(&txn.writes, child).await? else { continue };
            let mut schema = Table::clone(&schema);
            for key in schema.foreign_keys.iter_mut().filter(|k| k.table == table.name) {
                rename_in(&mut key.references, from, to);
            }
            txn.stage_table(schema);
        }
        Ok(())
    }

    /// DROP TABLE: each table's rows (committed and staged) are deleted,
    /// its schema dropped and its indexes' entries cleared, with the
    /// transaction.
    pub(crate) async fn drop_tables(
        &self,
        names: &[ObjectName],
        if_exists: bool,
        cascade: bool,
        txn: &mut Txn,
    ) -> Result<Outcome> {
        let mut tables = Vec::new();
        for name in names {
            let name = object_name(name)?;
            self.close_gate(txn, &name).await?;
            match self.schema(&txn.writes, &name).await? {
                Some(table) if !table.has_rows() => {
                    return Err(error(Code::WrongObjectType, format!("\"{name}\" is not a table")));
                }
                Some(table) => tables.push(table),
                None if if_exists => {}
                None => return Err(error(Code::UndefinedTable, format!("table \"{name}\" does not exist"))),
            }
        }
        let dropped: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        // The views reading them: refused, or dropped with CASCADE.
        for view in self.with_dependent_views(txn, dropped.clone(), cascade, "table").await? {
            if !dropped.contains(&view) {
                txn.writes.tables.insert(view, None);
            }
        }
        for table in &tables {
            // Keys of other tables referring to it: refused, or dropped
            // with CASCADE.
            for (child, key) in self.referring_keys(txn, table).await? {
                if dropped.contains(&child) {
                    continue;
                }
                if !cascade {
                    return Err(error(
                        Code::DependentObjectsStillExist,
                        format!(
                            "cannot drop table {} because other objects depend on it (constraint {} on table {child} depends on table {})",
                            table.name, key.name, table.name
                        ),
                    ));
                }
                self.close_gate(txn, &child).await?;
                if let Some(schema) = self.schema(&txn.writes, &child).await? {
                    let mut schema = Table::clone(&schema);
                    schema.foreign_keys.retain(|k| k.table != table.name);
                    txn.stage_table(schema);
                }
            }
            // Tables it refers to forget it.
            for parent in table.foreign_keys.iter().map(|k| k.table.clone()) {
                if dropped.contains(&parent) {
                    continue;
                }
                self.close_gate(txn, &parent).await?;
                if let Some(schema) = self.schema(&txn.writes, &parent).await? {
                    let mut schema = Table::clone(&schema);
                    schema.referenced_by.retain(|t| *t != table.name);
                    txn.stage_table(schema);
                }
            }
        }
        for table in &dropped {
            self.drop_owned_sequences(txn, table, None).await?;
        }
        for table in tables {
            let mut keys: Vec<Vec<u8>> =
                crate::sql::plan::read_all(self.gateway.as_ref(), &table).await?.into_keys().collect();
            keys.extend(txn.writes.rows.get(&table.name).into_iter().flat_map(|rows| rows.keys().cloned()));
            for key in keys {
                txn.stage(&table.name, key, None);
            }
            txn.cleared.extend(table.indexes.iter().cloned());
            txn.writes.tables.insert(table.name.clone(), None);
        }
        Ok(Outcome::Done("DROP TABLE".into()))
    }
}

/// Renames `from` to `to` in a list of column names.
fn rename_in(columns: &mut [String], from: &str, to: &str) {
    for column in columns.iter_mut().filter(|c| *c == from) {
        *column = to.to_string();
    }
}

fn several_keys(table: &str) -> SqlError {
    error(
        Code::InvalidTableDefinition,
        format!("multiple primary keys for table \"{table}\" are not allowed"),
    )
}

fn null_values(column: &Column, table: &Table) -> SqlError {
    error(
        Code::NotNullViolation,
        format!("column \"{}\" of relation \"{}\" contains null values", column.name, table.name),
    )
}

/// `row` with field `name` set to `value` (removed for `None`); `None`
/// when that changes nothing.
fn with_field(row: &Map<String, Json>, name: &str, value: Option<&Json>) -> Option<Map<String, Json>> {
    if row.get(name) == value {
        return None;
    }
    let mut row = row.clone();
    match value {
        Some(value) => row.insert(name.to_string(), value.clone()),
        None => row.remove(name),
    };
    Some(row)
}

/// A column as its definition declares it, with the constraints declared
/// on it.
struct ColumnDecl {
    column: Column,
    primary_key: bool,
    /// UNIQUE, with the constraint's name if given.
    unique: Option<Option<String>>,
    /// CHECK constraints: their names if given, and expressions.
    checks: DeclaredChecks,
}

/// CHECK constraints as declared: their names if given, and expressions.
type DeclaredChecks = Vec<(Option<ast::Ident>, Expr)>;

/// A column from its definition in `table`.
fn column_def(def: &ast::ColumnDef, table: &str) -> Result<ColumnDecl> {
    let (sql_type, serial, length) = sql_type(&def.data_type)?;
    let numeric = numeric_typmod(&def.data_type)?;
    let mut column =
        Column { not_null: serial, serial, length, numeric, ..Column::new(ident(&def.name), sql_type) };
    let (mut primary_key, mut defaulted, mut null) = (false, serial, false);
    let mut unique = None;
    let mut checks = Vec::new();
    for option in &def.options {
        match &option.option {
            ColumnOption::Unique(constraint) => {
                if constraint.nulls_distinct == ast::NullsDistinctOption::NotDistinct {
                    return Err(unsupported("NULLS NOT DISTINCT"));
                }
                unique = Some(option.name.as_ref().or(constraint.name.as_ref()).map(ident));
            }
            ColumnOption::NotNull => column.not_null = true,
            ColumnOption::Null => {
                column.not_null = false;
                null = true;
            }
            ColumnOption::PrimaryKey(_) => {
                primary_key = true;
                column.not_null = true;
            }
            ColumnOption::Default(expr) => {
                set_default(&mut column, expr)?;
                defaulted = true;
            }
            ColumnOption::Check(check) => {
                checks.push((option.name.clone().or_else(|| check.name.clone()), (*check.expr).clone()))
            }
            ColumnOption::Generated {
                generated_as: GeneratedAs::Always | GeneratedAs::ExpStored,
                generation_expr: Some(expr),
                generation_expr_mode,
                ..
            } => {
                if *generation_expr_mode != Some(ast::GeneratedExpressionMode::Stored) {
                    return Err(unsupported("virtual generated columns (declare them STORED)"));
                }
                column.generated = Some(expr.to_string());
            }
            // Declared by CREATE TABLE once the table's columns are known.
            ColumnOption::ForeignKey(_) => {}
            ColumnOption::Generated { generated_as, sequence_options, generation_expr: None, .. } => {
                if column.identity.is_some() {
                    return Err(column_clash("multiple identity specifications", &column.name, table));
                }
                column.identity = Some(identity(*generated_as, sequence_options.as_deref())?);
            }
            other => return Err(unsupported(format_args!("the column option \"{other}\""))),
        }
    }
    if column.generated.is_some() {
        if defaulted {
            return Err(column_clash(
                "both default and generation expression specified",
                &column.name,
                table,
            ));
        }
        if column.identity.is_some() {
            return Err(column_clash(
                "both identity and generation expression specified",
                &column.name,
                table,
            ));
        }
    }
    if column.identity.is_some() {
        if defaulted {
            return Err(column_clash("both default and identity specified", &column.name, table));
        }
        if null {
            return Err(column_clash("conflicting NULL/NOT NULL declarations", &column.name, table));
        }
        number_like_serial(&mut column)?;
    }
    if primary_key && column.sql_type.element().is_some() {
        return Err(unsupported("a primary key of an array column"));
    }
    Ok(ColumnDecl { column, primary_key, unique, checks })
}

/// DEFAULT: a constant, or an expression reading no column, computed at
/// each insert (`Engine::try_expressions` computes it once when the table
/// is created or altered).
fn set_default(column: &mut Column, expr: &Expr) -> Result<()> {
    match literal(expr) {
        Ok(value) => {
            let value = column.coerce(&value)?;
            column.default = (!value.is_null()).then_some(value);
        }
        Err(_) => {
            if !checks::columns_read(expr).is_empty() {
                return Err(error(
                    Code::FeatureNotSupported,
                    "cannot use column reference in DEFAULT expression",
                ));
            }
            if let Ok(value) = constant(expr) {
                column.coerce(&value)?;
            }
            column.default_expr = Some(expr.to_string());
        }
    }
    Ok(())
}

/// GENERATED { ALWAYS | BY DEFAULT } AS IDENTITY, numbered from 1 by 1.
fn identity(generated: GeneratedAs, options: Option<&[ast::SequenceOptions]>) -> Result<Identity> {
    if options.is_some_and(|o| !o.is_empty()) {
        return Err(unsupported("identity sequence options (START WITH, INCREMENT BY...)"));
    }
    match generated {
        GeneratedAs::Always => Ok(Identity::Always),
        GeneratedAs::ByDefault => Ok(Identity::ByDefault),
        GeneratedAs::ExpStored => Err(unsupported("generated columns")),
    }
}

/// An identity column takes its values from a sequence, as SERIAL does,
/// and is NOT NULL; only integer types have sequences.
fn number_like_serial(column: &mut Column) -> Result<()> {
    if !matches!(column.sql_type, SqlType::Int2 | SqlType::Int4 | SqlType::Int8) {
        return Err(error(
            Code::InvalidParameterValue,
            "identity column type must be smallint, integer, or bigint",
        ));
    }
    column.serial = true;
    column.not_null = true;
    Ok(())
}

fn column_clash(what: &str, column: &str, table: &str) -> SqlError {
    error(Code::SyntaxError, format!("{what} for column \"{column}\" of table \"{table}\""))
}

/// The actions of an ALTER TABLE on `table`, each checked against the table
/// as the ones before it leave it. An IF [NOT] EXISTS action with nothing
/// to do is left out.
fn plan_alter(table: &Table, operations: &[AlterTableOperation]) -> Result<Vec<Action>> {
    let alone = operations.len() == 1;
    let mut schema = table.clone();
    let mut actions = Vec::with_capacity(operations.len());
    for operation in operations {
        let action = match operation {
            AlterTableOperation::AddConstraint { constraint: TableConstraint::PrimaryKey(pk), .. } => {
                if !alone {
                    return Err(unsupported("ADD PRIMARY KEY with other actions in one ALTER TABLE"));
                }
                if schema.has_primary_key() {
                    return Err(several_keys(&schema.name));
                }
                let key = primary_key_columns(&pk.columns, &schema.columns)?;
                match key.as_slice() {
                    [one] => Some(Action::AddPrimaryKey(*one)),
                    _ => Some(Action::AddCompositeKey(key)),
                }
            }
            AlterTableOperation::AddConstraint { constraint: TableConstraint::Unique(unique), .. } => {
                let columns = index_columns(&schema, &unique.columns)?;
                let name = match unique_constraint(unique)? {
                    Some(name)
                        if schema.index(&name).is_some() || name == format!("{}_pkey", schema.name) =>
                    {
                        return Err(error(
                            Code::DuplicateTable,
                            format!("relation \"{name}\" already exists"),
                        ));
                    }
                    Some(name) => name,
                    None => {
                        let taken = schema.indexes.iter().map(|i| i.name.clone()).collect();
                        choose_name(&schema.name, &columns, "key", &taken)
                    }
                };
                Some(Action::AddUnique(name, columns))
            }
            AlterTableOperation::AddConstraint { constraint: TableConstraint::ForeignKey(fk), .. } => {
                Some(Action::AddForeignKey(Declared::from_ast(fk, None, None)?))
            }
            AlterTableOperation::AddConstraint { constraint: TableConstraint::Check(check), .. } => {
                let taken = checks::constraint_names(&schema);
                Some(Action::AddCheck(checks::declare_check(
                    &schema,
                    check.name.as_ref(),
                    &check.expr,
                    &taken,
                )?))
            }
            AlterTableOperation::DropConstraint { if_exists, name, .. } => {
                let name = ident(name);
                match schema.index(&name) {
                    // A key of several columns is only its index: it drops
                    // like a UNIQUE constraint (its columns stay NOT NULL).
                    Some(index) if index.constraint => Some(Action::DropUnique(name)),
                    _ if schema.foreign_keys.iter().any(|k| k.name == name) => {
                        Some(Action::DropForeignKey(name))
                    }
                    _ if schema.checks.iter().any(|c| c.name == name) => Some(Action::DropCheck(name)),
                    _ if schema.has_primary_key() && name == format!("{}_pkey", schema.name) => {
                        return Err(unsupported("DROP CONSTRAINT of a primary key"));
                    }
                    _ if *if_exists => None,
                    _ => {
                        return Err(error(
                            Code::UndefinedObject,
                            format!("constraint \"{name}\" of relation \"{}\" does not exist", schema.name),
                        ));
                    }
                }
            }
            AlterTableOperation::AddColumn {
                if_not_exists, column_def: def, column_position: None, ..
            } => {
                let Some((add, declared)) = add_column(&schema, def, *if_not_exists)? else { continue };
                add.apply_to(&mut schema);
                actions.push(add);
                // The column's checks hold for the rows it is added to.
                for (name, expr) in declared {
                    let taken = checks::constraint_names(&schema);
                    let check =
                        Action::AddCheck(checks::declare_check(&schema, name.as_ref(), &expr, &taken)?);
                    check.apply_to(&mut schema);
                    actions.push(check);
                }
                continue;
            }
            AlterTableOperation::DropColumn { column_names, if_exists, .. } => {
                drop_column(&schema, column_names, *if_exists)?
            }
            AlterTableOperation::AlterColumn { column_name, op } => {
                Some(alter_column(&schema, ident(column_name), op)?)
            }
            AlterTableOperation::RenameColumn { old_column_name, new_column_name } => {
                if !alone {
                    return Err(error(
                        Code::SyntaxError,
                        "RENAME COLUMN cannot be combined with other actions",
                    ));
                }
                Some(rename_column(&schema, ident(old_column_name), ident(new_column_name))?)
            }
            other => return Err(unsupported(format_args!("ALTER TABLE ... {other}"))),
        };
        if let Some(action) = action {
            action.apply_to(&mut schema);
            actions.push(action);
        }
    }
    Ok(actions)
}

/// ADD COLUMN, and the checks declared on the column.
fn add_column(
    table: &Table,
    def: &ast::ColumnDef,
    if_not_exists: bool,
) -> Result<Option<(Action, DeclaredChecks)>> {
    let name = ident(&def.name);
    if table.column(&name).is_some() {
        return if if_not_exists { Ok(None) } else { Err(column_exists(table, &name)) };
    }
    let ColumnDecl { column, primary_key: is_key, unique, checks: declared } = column_def(def, &table.name)?;
    if is_key {
        return Err(unsupported("ADD COLUMN ... PRIMARY KEY (add the column, then ADD PRIMARY KEY)"));
    }
    if unique.is_some() {
        return Err(unsupported("ADD COLUMN ... UNIQUE (add the column, then ADD UNIQUE)"));
    }
    if def.options.iter().any(|o| matches!(o.option, ColumnOption::ForeignKey(_))) {
        return Err(unsupported(
            "ADD COLUMN ... REFERENCES (add the column, then ADD CONSTRAINT ... FOREIGN KEY)",
        ));
    }
    if column.serial {
        return Err(unsupported("ADD COLUMN of a serial or identity column"));
    }
    checks::check_generation(
        &Table { columns: [table.columns.clone(), vec![column.clone()]].concat(), ..table.clone() },
        &column,
    )?;
    if computed_per_row(&column) {
        return Ok(Some((Action::AddColumn(column, None), declared)));
    }
    // A constant default (now() is the statement's time, as in PostgreSQL)
    // is computed once for the rows there are.
    let fill = match &column.default_expr {
        Some(sql) => column.coerce(&constant(&parse_expr(sql)?)?)?,
        None => column.default.clone().unwrap_or(Json::Null),
    };
    let fill = (!fill.is_null()).then_some(fill);
    Ok(Some((Action::AddColumn(column, fill), declared)))
}

/// Whether a column added to a table takes a value computed for each row
/// there is: generated, or with a DEFAULT that is not a constant
/// (`random()`, `gen_random_uuid()`, an expression only DataFusion
/// evaluates).
fn computed_per_row(column: &Column) -> bool {
    column.generated.is_some()
        || column
            .default_expr
            .as_deref()
            .is_some_and(|sql| parse_expr(sql).is_ok_and(|e| constant(&e).is_err() || checks::volatile(&e)))
}

fn drop_column(table: &Table, names: &[ast::Ident], if_exists: bool) -> Result<Option<Action>> {
    let [name] = names else { return Err(unsupported("DROP COLUMN of several columns")) };
    let name = ident(name);
    let Some((index, _)) = table.column(&name) else {
        if if_exists {
            return Ok(None);
        }
        let message = format!("column \"{name}\" of relation \"{}\" does not exist", table.name);
        return Err(error(Code::UndefinedColumn, message));
    };
    if table.primary_key == Some(index) {
        return Err(unsupported(format_args!(
            "DROP COLUMN of the primary key \"{name}\" (rows are stored under their key)"
        )));
    }
    let reads = |c: &&Column| {
        c.generated
            .as_deref()
            .and_then(|sql| parse_expr(sql).ok())
            .is_some_and(|e| checks::columns_read(&e).contains(&name))
    };
    if let Some(dependent) = table.columns.iter().find(reads) {
        return Err(error(
            Code::DependentObjectsStillExist,
            format!(
                "cannot drop column {name} of table {} because other objects depend on it (column {} of table {} depends on column {name})",
                table.name, dependent.name, table.name
            ),
        ));
    }
    Ok(Some(Action::DropColumn(name)))
}

fn rename_column(table: &Table, from: String, to: String) -> Result<Action> {
    let Some((_, column)) = table.column(&from) else {
        return Err(error(Code::UndefinedColumn, format!("column \"{from}\" does not exist")));
    };
    if table.column(&to).is_some() {
        return Err(column_exists(table, &to));
    }
    // The sequence's counter is named after the column (Table::sequence_key).
    if column.serial {
        return Err(unsupported(format_args!(
            "RENAME COLUMN of the serial or identity column \"{from}\" (its sequence is named after it)"
        )));
    }
    Ok(Action::RenameColumn { from, to })
}

/// ALTER COLUMN's action on `table`'s column `name`.
fn alter_column(table: &Table, name: String, op: &ast::AlterColumnOperation) -> Result<Action> {
    use ast::AlterColumnOperation as Op;
    let Some((index, found)) = table.column(&name) else {
        let message = format!("column \"{name}\" of relation \"{}\" does not exist", table.name);
        return Err(error(Code::UndefinedColumn, message));
    };
    let definition = |what: &str| error(Code::InvalidTableDefinition, format!("column \"{name}\" {what}"));
    let identity = || {
        error(
            Code::SyntaxError,
            format!("column \"{name}\" of relation \"{}\" is an identity column", table.name),
        )
    };
    let in_key = table.primary_key == Some(index)
        || table.indexes.iter().any(|i| i.primary && i.columns.contains(&name));
    match op {
        Op::SetNotNull => Ok(Action::SetNotNull(name, true)),
        Op::DropNotNull if in_key => Err(definition("is in a primary key")),
        Op::DropNotNull if found.identity.is_some() => Err(identity()),
        Op::DropNotNull => Ok(Action::SetNotNull(name, false)),
        Op::SetDefault { .. } | Op::DropDefault if found.identity.is_some() => Err(identity()),
        Op::SetDefault { .. } | Op::DropDefault if found.generated.is_some() => Err(error(
            Code::SyntaxError,
            format!("column \"{name}\" of relation \"{}\" is a generated column", table.name),
        )),
        Op::SetDefault { value } => {
            let mut column = Column { default: None, default_expr: None, serial: false, ..found.clone() };
            set_default(&mut column, value)?;
            Ok(Action::SetDefault(column))
        }
        Op::DropDefault => Ok(Action::SetDefault(Column {
            default: None,
            default_expr: None,
            serial: false,
            ..found.clone()
        })),
        Op::SetDataType { data_type, using, .. } => {
            let (sql_type, serial, length) = sql_type(data_type)?;
            if serial {
                return Err(error(Code::UndefinedObject, format!("type \"{data_type}\" does not exist")));
            }
            if in_key {
                return Err(unsupported(
                    "ALTER COLUMN ... TYPE of a primary key column (rows are stored under their key)",
                ));
            }
            if found.serial || found.identity.is_some() {
                return Err(unsupported("ALTER COLUMN ... TYPE of a serial or identity column"));
            }
            let reads = |c: &&Column| {
                c.generated
                    .as_deref()
                    .and_then(|sql| parse_expr(sql).ok())
                    .is_some_and(|e| checks::columns_read(&e).contains(&name))
            };
            if table.columns.iter().any(|c| reads(&c)) || found.generated.is_some() {
                return Err(unsupported("ALTER COLUMN ... TYPE of a generated column or a column one reads"));
            }
            // The referenced columns of another table's key are its primary
            // key's or a unique index's.
            let referring = table.foreign_keys.iter().any(|k| k.columns.contains(&name))
                || (!table.referenced_by.is_empty()
                    && table.indexes.iter().any(|i| i.unique && i.columns.contains(&name)));
            if referring {
                return Err(unsupported("ALTER COLUMN ... TYPE of a column in a foreign key"));
            }
            let mut column =
                Column { sql_type, length, numeric: numeric_typmod(data_type)?, ..found.clone() };
            // A constant default converts to the new type, as PostgreSQL's
            // assignment cast would, or the change is refused.
            if let Some(default) = &found.default {
                let text = types::text_of(found.sql_type, default).unwrap_or_default();
                let literal =
                    if is_number(found.sql_type) { Literal::Number(text) } else { Literal::String(text) };
                match column.coerce(&literal) {
                    Ok(value) if assignable(found.sql_type, sql_type) => column.default = Some(value),
                    _ => {
                        return Err(error(
                            Code::DatatypeMismatch,
                            format!(
                                "default for column \"{name}\" cannot be cast automatically to type {}",
                                column.type_name()
                            ),
                        ));
                    }
                }
            }
            if using.is_none() && !assignable(found.sql_type, sql_type) {
                return Err(error(
                    Code::DatatypeMismatch,
                    format!("column \"{name}\" cannot be cast automatically to type {}", column.type_name()),
                ));
            }
            if let Some(using) = using {
                for read in checks::columns_read(using) {
                    if table.column(&read).is_none() {
                        return Err(error(
                            Code::UndefinedColumn,
                            format!("column \"{read}\" does not exist"),
                        ));
                    }
                }
            }
            Ok(Action::SetType(column, using.clone().map(Box::new)))
        }
        Op::AddGenerated { .. } => Err(unsupported("ALTER COLUMN ... ADD GENERATED AS IDENTITY")),
    }
}

/// Whether a number type (its values convert to others as numbers).
fn is_number(t: SqlType) -> bool {
    matches!(
        t,
        SqlType::Int2 | SqlType::Int4 | SqlType::Int8 | SqlType::Float4 | SqlType::Float8 | SqlType::Numeric
    )
}

/// Whether a value of type `from` converts to `to` without USING, as
/// PostgreSQL's assignment casts do: numbers to numbers, anything to text,
/// text types to each other, a type to itself.
fn assignable(from: SqlType, to: SqlType) -> bool {
    from == to || (is_number(from) && is_number(to)) || (to.is_text() && from.element().is_none())
}

fn column_exists(table: &Table, name: &str) -> SqlError {
    error(Code::DuplicateColumn, format!("column \"{name}\" of relation \"{}\" already exists", table.name))
}

/// The column type, whether it is serial, and its length (`char(n)`,
/// `varchar(n)`).
fn sql_type(data_type: &DataType) -> Result<(SqlType, bool, Option<u32>)> {
    let length = |l: &Option<ast::CharacterLength>| -> Result<Option<u32>> {
        match l {
            None => Ok(None),
            Some(ast::CharacterLength::IntegerLength { length, .. }) => match u32::try_from(*length) {
                Ok(n) if (1..=10_485_760).contains(&n) => Ok(Some(n)),
                _ => Err(error(
                    Code::InvalidParameterValue,
                    format!("length for type {data_type} must be between 1 and 10485760"),
                )),
            },
            Some(ast::CharacterLength::Max) => Err(unsupported(format_args!("the type {data_type}"))),
        }
    };
    let t = match data_type {
        DataType::Boolean | DataType::Bool => SqlType::Bool,
        DataType::SmallInt(_) | DataType::Int2(_) => SqlType::Int2,
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => SqlType::Int4,
        DataType::BigInt(_) | DataType::Int8(_) => SqlType::Int8,
        DataType::Real | DataType::Float4 => SqlType::Float4,
        DataType::DoublePrecision | DataType::Float8 | DataType::Double(_) => SqlType::Float8,
        DataType::Text | DataType::String(_) => SqlType::Text,
        DataType::Varchar(l) | DataType::CharacterVarying(l) | DataType::CharVarying(l) => {
            return Ok((SqlType::Varchar, false, length(l)?));
        }
        // char without a length is char(1), as in PostgreSQL.
        DataType::Char(l) | DataType::Character(l) => {
            return Ok((SqlType::Char, false, Some(length(l)?.unwrap_or(1))));
        }
        DataType::Date => SqlType::Date,
        DataType::Timestamp(_, ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone) => {
            SqlType::Timestamp
        }
        DataType::Timestamp(_, ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz) => {
            SqlType::TimestampTz
        }
        DataType::JSONB | DataType::JSON => SqlType::Jsonb,
        DataType::Uuid => SqlType::Uuid,
        DataType::Bytea => SqlType::Bytea,
        DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_) => SqlType::Numeric,
        // One-dimensional arrays of the scalars `SqlType::array_of` knows;
        // the length of `varchar(n)[]` is its elements'.
        DataType::Array(ast::ArrayElemTypeDef::SquareBracket(inner, _)) => match sql_type(inner)? {
            (element, false, length) => {
                let array = SqlType::array_of(element)
                    .ok_or_else(|| unsupported(format_args!("the type {data_type}")))?;
                return Ok((array, false, length));
            }
            _ => return Err(unsupported(format_args!("the type {data_type}"))),
        },
        DataType::Custom(name, modifiers) if modifiers.is_empty() => {
            match name.to_string().to_lowercase().as_str() {
                "serial" | "serial4" => return Ok((SqlType::Int4, true, None)),
                "bigserial" | "serial8" => return Ok((SqlType::Int8, true, None)),
                "smallserial" | "serial2" => return Ok((SqlType::Int2, true, None)),
                "bpchar" => return Ok((SqlType::Char, false, None)),
                "timestamptz" => SqlType::TimestampTz,
                _ => return Err(unsupported(format_args!("the type {data_type}"))),
            }
        }
        other => return Err(unsupported(format_args!("the type {other}"))),
    };
    Ok((t, false, None))
}

/// The precision and scale of `numeric(p, s)` and `numeric(p, s)[]`.
fn numeric_typmod(data_type: &DataType) -> Result<Option<NumericTypmod>> {
    Ok(match data_type {
        DataType::Numeric(info) | DataType::Decimal(info) | DataType::Dec(info) => {
            crate::sql::types::numeric::typmod(info)?
        }
        DataType::Array(ast::ArrayElemTypeDef::SquareBracket(inner, _)) => numeric_typmod(inner)?,
        _ => None,
    })
}

/// A UNIQUE constraint's name, if it is given one; what Orbit does not
/// support of it is a 0A000.
fn unique_constraint(unique: &ast::UniqueConstraint) -> Result<Option<String>> {
    if unique.nulls_distinct == ast::NullsDistinctOption::NotDistinct {
        return Err(unsupported("NULLS NOT DISTINCT"));
    }
    if unique.characteristics.is_some() {
        return Err(unsupported("DEFERRABLE and INITIALLY constraints"));
    }
    if !unique.index_options.is_empty() || unique.index_type.is_some() {
        return Err(unsupported("UNIQUE constraint index options"));
    }
    Ok(unique.name.as_ref().or(unique.index_name.as_ref()).map(ident))
}

/// The column a PRIMARY KEY (...) constraint names.
fn primary_key_columns(key: &[ast::IndexColumn], columns: &[Column]) -> Result<Vec<usize>> {
    let mut positions = Vec::with_capacity(key.len());
    for column in key {
        let column_name = match &column.column.expr {
            Expr::Identifier(id) => ident(id),
            other => return Err(unsupported(format_args!("the primary key \"{other}\""))),
        };
        let position = columns.iter().position(|c| c.name == column_name).ok_or_else(|| {
            error(Code::UndefinedColumn, format!("column \"{column_name}\" named in key does not exist"))
        })?;
        if columns[position].sql_type.element().is_some() {
            return Err(unsupported("a primary key of an array column"));
        }
        if positions.contains(&position) {
            return Err(error(
                Code::DuplicateColumn,
                format!("column \"{column_name}\" appears twice in primary key constraint"),
            ));
        }
        positions.push(position);
    }
    if positions.is_empty() {
        return Err(error(Code::SyntaxError, "a primary key needs at least one column"));
    }
    Ok(positions)
}

/// The index of a primary key of several columns: `<table>_pkey`.
fn composite_key(table: &str, columns: Vec<String>, oid: u32) -> Index {
    Index { name: format!("{table}_pkey"), columns, unique: true, constraint: true, primary: true, oid }
}

/// `CREATE TABLE ... WITH (...)`: PostgreSQL's storage parameters that
/// mean nothing for actor rows (`fillfactor`) are accepted; others are not.
fn check_table_options(create: &ast::CreateTable) -> Result<()> {
    if create.temporary || create.query.is_some() || create.like.is_some() || create.partition_by.is_some() {
        return Err(unsupported("CREATE TEMPORARY TABLE, CREATE TABLE AS, LIKE or PARTITION BY"));
    }
    let options = match &create.table_options {
        ast::CreateTableOptions::None => return Ok(()),
        ast::CreateTableOptions::With(options) => options,
        other => return Err(unsupported(format_args!("the table options {other}"))),
    };
    for option in options {
        match option {
            ast::SqlOption::KeyValue { key, value } if ident(key) == "fillfactor" => {
                let fill: i64 = literal(value)
                    .ok()
                    .and_then(|l| if let Literal::Number(n) = l { n.parse().ok() } else { None })
                    .ok_or_else(|| error(Code::InvalidParameterValue, "fillfactor must be an integer"))?;
                if !(10..=100).contains(&fill) {
                    return Err(error(
                        Code::InvalidParameterValue,
                        format!("value {fill} out of bounds for option \"fillfactor\""),
                    ));
                }
            }
            other => return Err(unsupported(format_args!("the storage parameter \"{other}\""))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parse::parse;

    fn create(sql: &str) -> Result<Vec<Column>> {
        let Some(ast::Statement::CreateTable(create)) = parse(sql).unwrap().pop() else { panic!("{sql}") };
        create.columns.iter().map(|def| column_def(def, "t").map(|d| d.column)).collect()
    }

    fn table() -> Table {
        let columns = create("CREATE TABLE t (id INT, n SERIAL, s TEXT)").unwrap();
        Table { columns, primary_key: Some(0), ..Table::named("t") }
    }

    fn alter(sql: &str) -> Result<Vec<Action>> {
        let Some(ast::Statement::AlterTable(alter)) = parse(sql).unwrap().pop() else { panic!("{sql}") };
        plan_alter(&table(), &alter.operations)
    }

    fn code<T: std::fmt::Debug>(result: Result<T>) -> Code {
        result.unwrap_err().code
    }

    #[test]
    fn identity_columns_are_integer_not_null_and_numbered() {
        let columns = create(
            "CREATE TABLE t (a INT GENERATED ALWAYS AS IDENTITY, b BIGINT GENERATED BY DEFAULT AS IDENTITY)",
        )
        .unwrap();
        assert_eq!(columns[0].identity, Some(Identity::Always));
        assert_eq!(columns[1].identity, Some(Identity::ByDefault));
        assert!(columns.iter().all(|c| c.serial && c.not_null && c.sql_type != SqlType::Int2));
        assert_eq!(
            code(create("CREATE TABLE t (a TEXT GENERATED ALWAYS AS IDENTITY)")),
            Code::InvalidParameterValue
        );
        assert_eq!(
            code(create("CREATE TABLE t (a INT DEFAULT 1 GENERATED ALWAYS AS IDENTITY)")),
            Code::SyntaxError
        );
        assert_eq!(code(create("CREATE TABLE t (a SERIAL GENERATED ALWAYS AS IDENTITY)")), Code::SyntaxError);
        assert_eq!(
            code(create("CREATE TABLE t (a INT NULL GENERATED ALWAYS AS IDENTITY)")),
            Code::SyntaxError
        );
        let started = create("CREATE TABLE t (a INT GENERATED ALWAYS AS IDENTITY (START WITH 5))");
        assert_eq!(code(started), Code::FeatureNotSupported);
        assert_eq!(create("CREATE TABLE t (j JSONB, k JSON)").unwrap()[1].sql_type, SqlType::Jsonb);
        assert_eq!(create("CREATE TABLE t (u UUID)").unwrap()[0].sql_type, SqlType::Uuid);
        assert_eq!(create("CREATE TABLE t (b BYTEA DEFAULT '\\x01')").unwrap()[0].sql_type, SqlType::Bytea);
    }

    #[test]
    fn uuid_columns_default_to_a_new_uuid_per_row() {
        let columns = create("CREATE TABLE t (id UUID PRIMARY KEY DEFAULT gen_random_uuid())").unwrap();
        assert_eq!(columns[0].sql_type, SqlType::Uuid);
        assert_eq!(columns[0].default_expr.as_deref(), Some("gen_random_uuid()"));
        // Added to a table with rows, a volatile default is computed per row.
        let added = alter("ALTER TABLE t ADD COLUMN u UUID DEFAULT gen_random_uuid()").unwrap();
        assert!(matches!(&added[..], [Action::AddColumn(c, None)] if computed_per_row(c)));
        assert_eq!(code(create("CREATE TABLE t (id UUID DEFAULT 'nope')")), Code::InvalidTextRepresentation);
    }

    #[test]
    fn numeric_columns_keep_their_precision_and_scale() {
        let columns =
            create("CREATE TABLE t (a NUMERIC(10, 2), b DECIMAL(5), c NUMERIC, d NUMERIC(10,2) DEFAULT 1.5)")
                .unwrap();
        assert!(columns.iter().all(|c| c.sql_type == SqlType::Numeric));
        assert_eq!(columns[0].numeric, Some(types::NumericTypmod { precision: 10, scale: 2 }));
        assert_eq!(columns[1].numeric, Some(types::NumericTypmod { precision: 5, scale: 0 }));
        assert_eq!(columns[2].numeric, None);
        assert_eq!(columns[3].default, Some(Json::String("1.50".into())));
        assert_eq!(code(create("CREATE TABLE t (a NUMERIC(0))")), Code::InvalidParameterValue);
        assert_eq!(code(create("CREATE TABLE t (a NUMERIC(50, 2))")), Code::FeatureNotSupported);
        assert_eq!(
            code(create("CREATE TABLE t (a NUMERIC(3, 1) DEFAULT 100)")),
            Code::NumericValueOutOfRange
        );
    }

    #[test]
    fn alter_actions_are_checked_in_order_before_any_runs() {
        let added = alter("ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 7, ADD d TEXT").unwrap();
        assert!(matches!(&added[0], Action::AddColumn(c, Some(v)) if c.name == "c" && v.as_i64() == Some(7)));
        assert!(matches!(&added[1], Action::AddColumn(c, None) if c.name == "d"));
        assert!(alter("ALTER TABLE t ADD COLUMN IF NOT EXISTS s INT").unwrap().is_empty());
        assert!(alter("ALTER TABLE t DROP COLUMN IF EXISTS nope").unwrap().is_empty());
        let again = alter("ALTER TABLE t DROP COLUMN s, ADD COLUMN s INT").unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(code(alter("ALTER TABLE t ADD COLUMN s INT")), Code::DuplicateColumn);
        assert_eq!(code(alter("ALTER TABLE t ADD COLUMN c INT, ADD COLUMN c INT")), Code::DuplicateColumn);
        assert_eq!(code(alter("ALTER TABLE t DROP COLUMN nope")), Code::UndefinedColumn);
        assert_eq!(code(alter("ALTER TABLE t DROP COLUMN id")), Code::FeatureNotSupported);
        assert_eq!(code(alter("ALTER TABLE t ADD COLUMN x SERIAL")), Code::FeatureNotSupported);
        assert_eq!(code(alter("ALTER TABLE t ADD COLUMN x INT PRIMARY KEY")), Code::FeatureNotSupported);
        assert_eq!(
            code(alter("ALTER TABLE t ADD COLUMN x INT, ADD PRIMARY KEY (x)")),
            Code::FeatureNotSupported
        );
        assert_eq!(code(alter("ALTER TABLE t ALTER COLUMN s SET DATA TYPE SERIAL")), Code::UndefinedObject);
    }

    #[test]
    fn alter_column_actions_are_checked_against_the_column() {
        let set = alter("ALTER TABLE t ALTER COLUMN s SET NOT NULL, ALTER s DROP NOT NULL").unwrap();
        assert_eq!(set, vec![Action::SetNotNull("s".into(), true), Action::SetNotNull("s".into(), false)]);
        assert_eq!(code(alter("ALTER TABLE t ALTER COLUMN id DROP NOT NULL")), Code::InvalidTableDefinition);
        assert_eq!(code(alter("ALTER TABLE t ALTER COLUMN nope SET NOT NULL")), Code::UndefinedColumn);
        let defaulted = alter("ALTER TABLE t ALTER COLUMN s SET DEFAULT 'x'").unwrap();
        assert!(
            matches!(&defaulted[..], [Action::SetDefault(c)] if c.default == Some(Json::String("x".into())))
        );
        // The serial column's sequence default gives way to the new one.
        let dropped = alter("ALTER TABLE t ALTER COLUMN n DROP DEFAULT").unwrap();
        assert!(matches!(&dropped[..], [Action::SetDefault(c)] if !c.serial && c.default.is_none()));
        assert_eq!(code(alter("ALTER TABLE t ALTER COLUMN s SET DEFAULT id")), Code::FeatureNotSupported);
        let typed = alter("ALTER TABLE t ALTER COLUMN s TYPE INT USING s::int").unwrap();
        assert!(matches!(&typed[..], [Action::SetType(c, Some(_))] if c.sql_type == SqlType::Int4));
        assert_eq!(code(alter("ALTER TABLE t ALTER COLUMN s TYPE INT")), Code::DatatypeMismatch);
        assert_eq!(code(alter("ALTER TABLE t ALTER COLUMN id TYPE BIGINT")), Code::FeatureNotSupported);
        assert_eq!(
            code(alter("ALTER TABLE t ALTER COLUMN s TYPE INT USING nope::int")),
            Code::UndefinedColumn
        );
    }

    #[test]
    fn rename_checks_both_names_and_keeps_sequences_by_refusing_serials() {
        let renamed = alter("ALTER TABLE t RENAME COLUMN s TO label").unwrap();
        assert_eq!(renamed, vec![Action::RenameColumn { from: "s".into(), to: "label".into() }]);
        assert_eq!(code(alter("ALTER TABLE t RENAME COLUMN nope TO x")), Code::UndefinedColumn);
        assert_eq!(code(alter("ALTER TABLE t RENAME COLUMN s TO id")), Code::DuplicateColumn);
        assert_eq!(code(alter("ALTER TABLE t RENAME COLUMN s TO s")), Code::DuplicateColumn);
        assert_eq!(code(alter("ALTER TABLE t RENAME COLUMN n TO m")), Code::FeatureNotSupported);
    }

    #[test]
    fn dropping_a_column_before_the_key_moves_the_key_index() {
        let mut t = table();
        t.primary_key = Some(2);
        Action::DropColumn("n".into()).apply_to(&mut t);
        assert_eq!((t.columns.len(), t.primary_key), (2, Some(1)));
        assert_eq!(t.pk().map(|c| c.name.as_str()), Some("s"));
    }

    #[test]
    fn row_fields_change_only_when_they_differ() {
        let row = serde_json::json!({"a": 1, "b": "x"});
        let row = row.as_object().unwrap();
        assert_eq!(with_field(row, "a", Some(&Json::from(1))), None);
        assert_eq!(with_field(row, "c", None), None);
        assert_eq!(with_field(row, "a", None).unwrap().get("a"), None);
        assert_eq!(with_field(row, "c", row.get("b")).unwrap().get("c"), Some(&Json::from("x")));
    }
}
