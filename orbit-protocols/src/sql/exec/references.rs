//! FOREIGN KEY constraints in statements. A key is declared in CREATE
//! TABLE (a column's `REFERENCES` or a table constraint) or added by ALTER
//! TABLE ... ADD CONSTRAINT; the referenced table lists the referencing
//! one in `Table::referenced_by`, so a write to either side finds the keys
//! it must check without reading the whole catalog.
//!
//! Every row a transaction stages passes [`Engine::enforce`] first:
//! - a row whose key values are set and changed must find a row of the
//!   referenced table holding them (as the transaction sees it); that
//!   row's lock is taken (and, for a key on a unique index, the entry's)
//!   and held to the end of the transaction, so no one removes or changes
//!   it meanwhile (PostgreSQL takes a weaker, shared lock; here two
//!   writers referring to one row wait for each other);
//! - a referenced row deleted, or its referenced values changed, acts on
//!   the rows referring to it: NO ACTION and RESTRICT refuse (23503, row by
//!   row, where PostgreSQL checks NO ACTION at the end of the statement),
//!   CASCADE deletes or updates them, SET NULL and SET DEFAULT set their
//!   key columns. Each of those rows is locked and staged through
//!   `stage_row`, so its own keys and indexes are kept in turn.

use super::Engine;
use crate::sql::catalog::entries::{self, entry_key};
use crate::sql::catalog::{ForeignKey, RefAction, Table};
use crate::sql::error::{Code, Result, error, unsupported};
use crate::sql::exec::txn::{Staged, Txn};
use crate::sql::parse::{ident, object_name};
use crate::sql::types;
use orbit_shared::ActorGateway;
use serde_json::{Map, Value as Json};
use sqlparser::ast;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A foreign key as a statement declares it, before it is checked against
/// the tables.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Declared {
    name: Option<String>,
    columns: Vec<String>,
    table: String,
    /// Empty: the referenced table's primary key.
    references: Vec<String>,
    on_delete: RefAction,
    on_update: RefAction,
}

impl Declared {
    /// A FOREIGN KEY table constraint, or a column's REFERENCES (`column`
    /// names it: its own constraint lists no columns).
    pub fn from_ast(
        fk: &ast::ForeignKeyConstraint,
        name: Option<&ast::Ident>,
        column: Option<&str>,
    ) -> Result<Self> {
        if matches!(
            fk.match_kind,
            Some(ast::ConstraintReferenceMatchKind::Full | ast::ConstraintReferenceMatchKind::Partial)
        ) {
            return Err(unsupported("MATCH FULL and MATCH PARTIAL foreign keys"));
        }
        if fk.characteristics.as_ref().is_some_and(|c| {
            c.deferrable == Some(true) || matches!(c.initially, Some(ast::DeferrableInitial::Deferred))
        }) {
            return Err(unsupported("DEFERRABLE foreign keys"));
        }
        let columns = match column {
            Some(column) if fk.columns.is_empty() => vec![column.to_string()],
            _ => fk.columns.iter().map(ident).collect(),
        };
        Ok(Declared {
            name: name.or(fk.name.as_ref()).map(ident),
            columns,
            table: object_name(&fk.foreign_table)?,
            references: fk.referred_columns.iter().map(ident).collect(),
            on_delete: action(fk.on_delete),
            on_update: action(fk.on_update),
        })
    }
}

fn action(action: Option<ast::ReferentialAction>) -> RefAction {
    match action {
        None | Some(ast::ReferentialAction::NoAction) => RefAction::NoAction,
        Some(ast::ReferentialAction::Restrict) => RefAction::Restrict,
        Some(ast::ReferentialAction::Cascade) => RefAction::Cascade,
        Some(ast::ReferentialAction::SetNull) => RefAction::SetNull,
        Some(ast::ReferentialAction::SetDefault) => RefAction::SetDefault,
    }
}

/// A boxed future borrowing the engine: staging rows may stage more rows
/// (CASCADE), so the recursion goes through a box.
pub(super) type BoxedStaging<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

impl<G: ActorGateway> Engine<G> {
    /// Checks `declared` as a key of `child` (the table as being made) and
    /// names it: the referenced table (the child itself when it names
    /// itself) must have a primary key or a unique index on exactly the
    /// referenced columns (42830), as many as the key's columns, which the
    /// child must have (42703). The referenced table's gate is closed
    /// and its `referenced_by` staged.
    pub(super) async fn add_foreign_key(
        &self,
        txn: &mut Txn,
        child: &mut Table,
        declared: Declared,
    ) -> Result<()> {
        for column in &declared.columns {
            if child.column(column).is_none() {
                return Err(error(
                    Code::UndefinedColumn,
                    format!("column \"{column}\" referenced in foreign key constraint does not exist"),
                ));
            }
        }
        let parent: Table = if declared.table == child.name {
            child.clone()
        } else {
            self.close_gate(txn, &declared.table).await?;
            match self.schema(&txn.writes, &declared.table).await? {
                Some(parent) => Table::clone(&parent),
                None => {
                    return Err(error(
                        Code::UndefinedTable,
                        format!("relation \"{}\" does not exist", declared.table),
                    ));
                }
            }
        };
        let references = if declared.references.is_empty() {
            match (parent.pk(), parent.composite_key()) {
                (Some(pk), _) => vec![pk.name.clone()],
                (None, Some(index)) => index.columns.clone(),
                (None, None) => {
                    return Err(error(
                        Code::InvalidForeignKey,
                        format!("there is no primary key for referenced table \"{}\"", parent.name),
                    ));
                }
            }
        } else {
            declared.references.clone()
        };
        for column in &references {
            if parent.column(column).is_none() {
                return Err(error(
                    Code::UndefinedColumn,
                    format!("column \"{column}\" referenced in foreign key constraint does not exist"),
                ));
            }
        }
        if references.len() != declared.columns.len() {
            return Err(error(
                Code::InvalidForeignKey,
                "number of referencing and referenced columns for foreign key disagree",
            ));
        }
        for (column, referenced) in declared.columns.iter().zip(&references) {
            let (Some((_, a)), Some((_, b))) = (child.column(column), parent.column(referenced)) else {
                continue;
            };
            if !comparable(a.sql_type, b.sql_type) {
                return Err(error(
                    Code::DatatypeMismatch,
                    format!(
                        "foreign key constraint cannot be implemented: key columns \"{column}\" and \"{referenced}\" are of incompatible types: {} and {}",
                        a.type_name(),
                        b.type_name()
                    ),
                ));
            }
        }
        let unique = parent.pk().is_some_and(|pk| references == [pk.name.clone()])
            || parent.indexes.iter().any(|i| i.unique && same_set(&i.columns, &references));
        if !unique {
            return Err(error(
                Code::InvalidForeignKey,
                format!(
                    "there is no unique constraint matching given keys for referenced table \"{}\"",
                    parent.name
                ),
            ));
        }
        let taken = child.foreign_keys.iter().map(|k| k.name.clone()).collect();
        let name = match declared.name {
            Some(name) if child.foreign_keys.iter().any(|k| k.name == name) => {
                return Err(error(
                    Code::DuplicateObject,
                    format!("constraint \"{name}\" for relation \"{}\" already exists", child.name),
                ));
            }
            Some(name) => name,
            None => entries::choose_name(&child.name, &declared.columns, "fkey", &taken),
        };
        let key = ForeignKey {
            name,
            columns: declared.columns,
            table: parent.name.clone(),
            references,
            on_delete: declared.on_delete,
            on_update: declared.on_update,
            oid: self.next_oid().await?,
        };
        if parent.name == child.name {
            if !child.referenced_by.contains(&child.name) {
                child.referenced_by.push(child.name.clone());
            }
        } else if !parent.referenced_by.contains(&child.name) {
            let mut parent = parent;
            parent.referenced_by.push(child.name.clone());
            txn.stage_table(parent);
        }
        child.foreign_keys.push(key);
        Ok(())
    }

    /// Checks every row of `table` (as the transaction sees it) against its
    /// key `name`: ALTER TABLE ... ADD CONSTRAINT.
    pub(super) async fn validate_foreign_key(&self, txn: &mut Txn, table: &Table, name: &str) -> Result<()> {
        let Some(key) = table.foreign_keys.iter().find(|k| k.name == name).cloned() else { return Ok(()) };
        for (_, row) in self.rows_seen(txn, table).await? {
            if let Some(values) = values(&row, &key.columns) {
                self.check_referenced(txn, table, &key, &values).await?;
            }
        }
        Ok(())
    }

    /// The referential checks and actions of staging `new` (`None`:
    /// deleted) at row `key` of `table`, whose state was `old`.
    pub(super) fn enforce<'a>(
        &'a self,
        txn: &'a mut Txn,
        table: &'a Table,
        key: &'a [u8],
        old: Option<&'a Map<String, Json>>,
        new: &'a Staged,
    ) -> BoxedStaging<'a> {
        Box::pin(async move {
            if let Some(row) = new {
                for fk in &table.foreign_keys {
                    let Some(values) = values(row, &fk.columns) else { continue };
                    if old.and_then(|old| self::values(old, &fk.columns)).as_ref() == Some(&values) {
                        continue;
                    }
                    self.check_referenced(txn, table, fk, &values).await?;
                }
            }
            let Some(old) = old else { return Ok(()) };
            for child_name in &table.referenced_by {
                let child = if *child_name == table.name {
                    Arc::new(table.clone())
                } else {
                    match self.schema(&txn.writes, child_name).await? {
                        Some(child) => child,
                        None => continue,
                    }
                };
                for fk in child.foreign_keys.iter().filter(|k| k.table == table.name) {
                    let Some(before) = values(old, &fk.references) else { continue };
                    let after = new.as_ref().map(|row| values(row, &fk.references));
                    if after.as_ref() == Some(&Some(before.clone())) {
                        continue;
                    }
                    let referring = self.referring(txn, &child, fk, &before, table, key).await?;
                    if referring.is_empty() {
                        continue;
                    }
                    let action = if new.is_none() { fk.on_delete } else { fk.on_update };
                    for (child_key, _) in referring {
                        // Locked, then read again: a writer holding the row
                        // may have moved it to another referenced row.
                        self.lock(txn, &child.name, &child_key).await?;
                        let Some(row) = self.current(txn, &child, &child_key).await? else { continue };
                        if values(&row, &fk.columns).as_ref() != Some(&before) {
                            continue;
                        }
                        let changed = match action {
                            RefAction::NoAction | RefAction::Restrict => {
                                return Err(error(
                                    Code::ForeignKeyViolation,
                                    format!(
                                        "update or delete on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
                                        table.name, fk.name, child.name
                                    ),
                                ));
                            }
                            RefAction::Cascade => {
                                after.as_ref().map(|after| with_values(&row, &fk.columns, after.as_deref()))
                            }
                            RefAction::SetNull => Some(with_values(&row, &fk.columns, None)),
                            RefAction::SetDefault => Some(with_defaults(&row, &child, &fk.columns)),
                        };
                        let mut changed = changed;
                        if let Some(changed) = &mut changed {
                            self.generate(&child, std::slice::from_mut(changed)).await?;
                            self.check_rows(&child, std::slice::from_ref(changed)).await?;
                        }
                        if let Some(changed) = &changed {
                            for column in &fk.columns {
                                if let Some((_, c)) = child.column(column)
                                    && c.not_null
                                    && changed.get(column).is_none_or(Json::is_null)
                                {
                                    return Err(error(
                                        Code::NotNullViolation,
                                        format!(
                                            "null value in column \"{column}\" of relation \"{}\" violates not-null constraint",
                                            child.name
                                        ),
                                    ));
                                }
                            }
                        }
                        self.stage_row(txn, &child, child_key, Some(&row), changed).await?;
                    }
                }
            }
            Ok(())
        })
    }

    /// 23503 unless the table `fk` refers to has a row holding `values` in
    /// the referenced columns, as the transaction sees it; that row (or its
    /// unique index entry) is locked.
    async fn check_referenced(
        &self,
        txn: &mut Txn,
        child: &Table,
        fk: &ForeignKey,
        values: &[Json],
    ) -> Result<()> {
        let parent = if fk.table == child.name {
            Arc::new(child.clone())
        } else {
            match self.schema(&txn.writes, &fk.table).await? {
                Some(parent) => parent,
                None => {
                    return Err(error(
                        Code::UndefinedTable,
                        format!("relation \"{}\" does not exist", fk.table),
                    ));
                }
            }
        };
        let found = match parent.pk() {
            Some(pk) if fk.references == [pk.name.clone()] => match values.first().and_then(types::key_of) {
                Some(key) => {
                    self.lock(txn, &parent.name, &key).await?;
                    self.current(txn, &parent, &key).await?.is_some()
                }
                None => false,
            },
            _ => {
                let Some(index) =
                    parent.indexes.iter().find(|i| i.unique && same_set(&i.columns, &fk.references))
                else {
                    return Err(error(Code::Internal, format!("no unique index behind \"{}\"", fk.name)));
                };
                let pinned: Map<String, Json> =
                    fk.references.iter().cloned().zip(values.iter().cloned()).collect();
                let Some(entry) = entry_key(index, &pinned) else {
                    return Err(violation(child, fk));
                };
                // No row other than one no key can name.
                match self.holder(txn, &parent, index, &entry, b"\xff").await? {
                    // Locked like a row found by its key, then read again:
                    // a writer of that row held its lock until it ended.
                    Some(row_key) => {
                        self.lock(txn, &parent.name, &row_key).await?;
                        self.current(txn, &parent, &row_key)
                            .await?
                            .is_some_and(|row| entry_key(index, &row).as_deref() == Some(entry.as_str()))
                    }
                    None => false,
                }
            }
        };
        if found { Ok(()) } else { Err(violation(child, fk)) }
    }

    /// The rows of `child` whose key `fk` holds `values`, as the
    /// transaction sees them, other than row `key` of `parent` itself (a
    /// row referring to itself). Found through an index of `child` on the
    /// key's columns when it has one, else by reading every row.
    async fn referring(
        &self,
        txn: &mut Txn,
        child: &Table,
        fk: &ForeignKey,
        values: &[Json],
        parent: &Table,
        key: &[u8],
    ) -> Result<Vec<(Vec<u8>, Map<String, Json>)>> {
        let pinned: Map<String, Json> = fk.columns.iter().cloned().zip(values.iter().cloned()).collect();
        let holds =
            |row: &Map<String, Json>| fk.columns.iter().zip(values).all(|(c, v)| row.get(c) == Some(v));
        let mut found = Vec::new();
        if let Some((index, entry)) = entries::pinned(child, &pinned) {
            for name in self.entry_rows(txn, index, &entry).await? {
                let row_key = name.into_bytes();
                if let Some(row) = self.current(txn, child, &row_key).await?
                    && holds(&row)
                {
                    found.push((row_key, row));
                }
            }
        } else {
            found = self.rows_seen(txn, child).await?.into_iter().filter(|(_, row)| holds(row)).collect();
        }
        if child.name == parent.name {
            found.retain(|(k, _)| k != key);
        }
        Ok(found)
    }
}

/// A referring row whose referenced row is missing (23503).
fn violation(child: &Table, fk: &ForeignKey) -> crate::sql::error::SqlError {
    error(
        Code::ForeignKeyViolation,
        format!(
            "insert or update on table \"{}\" violates foreign key constraint \"{}\"",
            child.name, fk.name
        ),
    )
}

/// Whether a key column of type `a` may refer to one of type `b`: the same
/// type, or both integers, or both text (their stored forms compare).
fn comparable(a: crate::sql::types::SqlType, b: crate::sql::types::SqlType) -> bool {
    use crate::sql::types::SqlType::{Char, Int2, Int4, Int8, Text, Varchar};
    a == b
        || (matches!(a, Int2 | Int4 | Int8) && matches!(b, Int2 | Int4 | Int8))
        || (matches!(a, Text | Varchar | Char) && matches!(b, Text | Varchar | Char))
}

/// A row's values in `columns`; `None` when one is NULL (the key does not
/// apply: MATCH SIMPLE).
fn values(row: &Map<String, Json>, columns: &[String]) -> Option<Vec<Json>> {
    columns.iter().map(|c| row.get(c).filter(|v| !v.is_null()).cloned()).collect()
}

/// `row` with `columns` set to `values` (`None`: NULL, i.e. absent).
fn with_values(row: &Map<String, Json>, columns: &[String], values: Option<&[Json]>) -> Map<String, Json> {
    let mut row = row.clone();
    for (i, column) in columns.iter().enumerate() {
        match values.and_then(|v| v.get(i)) {
            Some(value) => row.insert(column.clone(), value.clone()),
            None => row.remove(column),
        };
    }
    row
}

/// `row` with `columns` set to their constant defaults (or NULL).
fn with_defaults(row: &Map<String, Json>, table: &Table, columns: &[String]) -> Map<String, Json> {
    let mut row = row.clone();
    for column in columns {
        match table.column(column).and_then(|(_, c)| c.default.clone()) {
            Some(value) if !value.is_null() => row.insert(column.clone(), value),
            _ => row.remove(column),
        };
    }
    row
}

/// Whether two column lists hold the same names.
fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|c| b.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(value: Json) -> Map<String, Json> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_null_in_any_column_leaves_the_key_out() {
        let cols = vec!["a".to_string(), "b".to_string()];
        assert_eq!(values(&row(json!({"a": 1, "b": "x"})), &cols), Some(vec![json!(1), json!("x")]));
        assert_eq!(values(&row(json!({"a": 1})), &cols), None);
        assert_eq!(values(&row(json!({"a": 1, "b": null})), &cols), None);
    }

    #[test]
    fn key_columns_are_set_or_cleared() {
        let cols = vec!["p".to_string()];
        let r = row(json!({"id": 1, "p": 5}));
        assert_eq!(with_values(&r, &cols, Some(&[json!(6)])), row(json!({"id": 1, "p": 6})));
        assert_eq!(with_values(&r, &cols, None), row(json!({"id": 1})));
        let mut table = Table::named("t");
        table.columns.push(crate::sql::catalog::Column {
            default: Some(json!(0)),
            ..crate::sql::catalog::Column::new("p", crate::sql::types::SqlType::Int4)
        });
        assert_eq!(with_defaults(&r, &table, &cols), row(json!({"id": 1, "p": 0})));
    }

    #[test]
    fn actions_come_from_the_statement() {
        let fk = |sql: &str| {
            let statement = crate::sql::parse::parse(sql).unwrap().remove(0);
            let ast::Statement::CreateTable(create) = statement else { panic!("{sql}") };
            let ast::TableConstraint::ForeignKey(fk) = &create.constraints[0] else { panic!("{sql}") };
            Declared::from_ast(fk, None, None)
        };
        let d = fk("CREATE TABLE c (p INT, FOREIGN KEY (p) REFERENCES t (id) ON DELETE CASCADE)").unwrap();
        assert_eq!((d.on_delete, d.on_update), (RefAction::Cascade, RefAction::NoAction));
        assert_eq!((d.table.as_str(), d.references.as_slice()), ("t", &["id".to_string()][..]));
        let e = fk("CREATE TABLE c (p INT, FOREIGN KEY (p) REFERENCES t DEFERRABLE INITIALLY DEFERRED)");
        assert_eq!(e.unwrap_err().code, Code::FeatureNotSupported);
    }
}
