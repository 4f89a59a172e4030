//! INSERT ... ON CONFLICT: which conflicts a statement names (the primary
//! key's, a unique index's, or with DO NOTHING and no target any), and DO
//! UPDATE's update
//! of the existing row, whose SET and WHERE read that row and `excluded`,
//! the row proposed for insertion.

use super::Engine;
use super::dml::set_targets;
use crate::sql::catalog::Table;
use crate::sql::error::Code;
use crate::sql::error::{Result, error, unsupported};
use crate::sql::exec::expr::{self, Scope, Val};
use crate::sql::exec::txn::Txn;
use crate::sql::parse::{ident, object_name};
use orbit_shared::ActorGateway;
use serde_json::{Map, Value as Json};
use sqlparser::ast::{self, ConflictTarget, Expr, OnConflictAction, OnInsert};

/// What an INSERT does with a row that conflicts with an existing one.
pub(crate) enum OnConflict {
    /// A unique violation (23505): no ON CONFLICT clause, and COPY.
    Fail,
    /// ON CONFLICT DO NOTHING: the row is skipped.
    Skip(Arbiter),
    /// ON CONFLICT DO UPDATE: the existing row is updated.
    Update(Box<ConflictUpdate>),
}

/// The conflicts ON CONFLICT handles; any other is a 23505.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arbiter {
    /// No target (DO NOTHING only): the primary key and every unique index.
    Any,
    /// The primary key.
    Key,
    /// The unique index of that name.
    Index(String),
}

impl OnConflict {
    fn arbiter(&self) -> Option<&Arbiter> {
        match self {
            OnConflict::Fail => None,
            OnConflict::Skip(arbiter) => Some(arbiter),
            OnConflict::Update(update) => Some(&update.arbiter),
        }
    }

    /// Whether a primary key conflict is handled.
    pub(crate) fn covers_key(&self) -> bool {
        matches!(self.arbiter(), Some(Arbiter::Any | Arbiter::Key))
    }

    /// The unique indexes of `table` whose conflicts are handled.
    pub(crate) fn arbiters(&self, table: &Table) -> Vec<String> {
        match self.arbiter() {
            Some(Arbiter::Any) => table.indexes.iter().filter(|i| i.unique).map(|i| i.name.clone()).collect(),
            Some(Arbiter::Index(name)) => vec![name.clone()],
            Some(Arbiter::Key) | None => Vec::new(),
        }
    }
}

/// ON CONFLICT DO UPDATE SET ... [WHERE ...].
pub(crate) struct ConflictUpdate {
    /// The conflicts it updates on.
    arbiter: Arbiter,
    /// What the statement calls the target table: its alias, or its name.
    target: String,
    /// The columns set, and their expressions.
    sets: Vec<(usize, Expr)>,
    /// The update happens only where this is true.
    selection: Option<Expr>,
}

/// The ON CONFLICT clause of `insert` into `table`, checked.
pub(crate) fn on_conflict(insert: &ast::Insert, table: &Table) -> Result<OnConflict> {
    let conflict = match &insert.on {
        None => return Ok(OnConflict::Fail),
        Some(OnInsert::OnConflict(conflict)) => conflict,
        Some(other) => return Err(unsupported(format_args!("INSERT ... {other}"))),
    };
    let arbiter = match &conflict.conflict_target {
        Some(target) => check_target(target, table)?,
        None => Arbiter::Any,
    };
    match &conflict.action {
        OnConflictAction::DoNothing => Ok(OnConflict::Skip(arbiter)),
        OnConflictAction::DoUpdate(_) if conflict.conflict_target.is_none() => Err(error(
            Code::SyntaxError,
            "ON CONFLICT DO UPDATE requires inference specification or constraint name",
        )),
        OnConflictAction::DoUpdate(update) => {
            let target = match &insert.table_alias {
                Some(alias) => ident(&alias.alias),
                None => table.name.clone(),
            };
            Ok(OnConflict::Update(Box::new(ConflictUpdate {
                arbiter,
                target,
                sets: set_targets(table, &update.assignments)?,
                selection: update.selection.clone(),
            })))
        }
    }
}

/// The conflicts a target names: the primary key or a unique index, by
/// its columns (PostgreSQL infers the unique index whose columns are the
/// ones listed) or as a constraint (`<table>_pkey`, or a UNIQUE
/// constraint's name).
fn check_target(target: &ConflictTarget, table: &Table) -> Result<Arbiter> {
    let arbiter = match target {
        ConflictTarget::Columns(columns) => {
            let mut names: Vec<String> = columns.iter().map(ident).collect();
            if let Some(missing) = names.iter().find(|n| table.column(n).is_none()) {
                return Err(error(Code::UndefinedColumn, format!("column \"{missing}\" does not exist")));
            }
            names.sort();
            names.dedup();
            let same = |columns: &[String]| {
                let mut columns = columns.to_vec();
                columns.sort();
                columns == names
            };
            if table.pk().is_some_and(|pk| same(std::slice::from_ref(&pk.name))) {
                Some(Arbiter::Key)
            } else {
                table
                    .indexes
                    .iter()
                    .find(|i| i.unique && same(&i.columns))
                    .map(|i| Arbiter::Index(i.name.clone()))
            }
        }
        ConflictTarget::OnConstraint(name) => {
            let name = object_name(name)?;
            if table.pk().is_some() && name == format!("{}_pkey", table.name) {
                return Ok(Arbiter::Key);
            }
            match table.index(&name) {
                Some(index) if index.constraint => return Ok(Arbiter::Index(name)),
                _ => {
                    return Err(error(
                        Code::UndefinedObject,
                        format!("constraint \"{name}\" for table \"{}\" does not exist", table.name),
                    ));
                }
            }
        }
    };
    arbiter.ok_or_else(|| {
        error(
            Code::InvalidColumnReference,
            "there is no unique or exclusion constraint matching the ON CONFLICT specification",
        )
    })
}

impl<G: ActorGateway> Engine<G> {
    /// DO UPDATE of `existing`, the row at `key` (locked), against
    /// `proposed`: stages the updated row and returns it, or `None` when
    /// the WHERE is not true.
    pub(crate) async fn conflict_update(
        &self,
        txn: &mut Txn,
        table: &Table,
        key: Vec<u8>,
        existing: Map<String, Json>,
        proposed: &Map<String, Json>,
        update: &ConflictUpdate,
    ) -> Result<Option<Map<String, Json>>> {
        let scope = Scope { table, name: &update.target, row: &existing, excluded: Some(proposed) };
        if let Some(condition) = &update.selection {
            match evaluate(condition, &scope)? {
                Val::Bool(true) => {}
                Val::Bool(false) | Val::Null => return Ok(None),
                _ => return Err(error(Code::DatatypeMismatch, "argument of WHERE must be type boolean")),
            }
        }
        let mut computed = Vec::with_capacity(update.sets.len());
        for (index, expr) in &update.sets {
            computed.push((*index, evaluate(expr, &scope)?.literal()));
        }
        self.apply_update(txn, table, key, existing, computed).await.map(Some)
    }
}

/// An expression of DO UPDATE, which Orbit must evaluate itself.
fn evaluate(expr: &Expr, scope: &Scope) -> Result<Val> {
    match expr::eval_in(expr, scope) {
        Some(value) => value,
        None => Err(expr::unresolved(expr, scope).unwrap_or_else(|| {
            unsupported(format_args!("the expression \"{expr}\" in ON CONFLICT DO UPDATE"))
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::catalog::Column;
    use crate::sql::types::SqlType;

    fn table(primary_key: Option<usize>) -> Table {
        let column = |name: &str| Column::new(name, SqlType::Int4);
        Table { name: "t".into(), columns: vec![column("id"), column("n")], primary_key, ..Table::named("t") }
    }

    fn conflict(sql: &str, table: &Table) -> Result<OnConflict> {
        let statement = crate::sql::parse::parse(sql).unwrap().pop().unwrap();
        let ast::Statement::Insert(insert) = statement else { panic!("not an INSERT: {sql}") };
        on_conflict(&insert, table)
    }

    fn code(sql: &str, table: &Table) -> &'static str {
        conflict(sql, table).err().map_or("ok", |e| e.code.as_str())
    }

    #[test]
    fn a_unique_index_is_a_conflict_target_by_its_columns_or_constraint() {
        let mut keyed = table(Some(0));
        let unique = |name: &str, constraint| crate::sql::catalog::Index {
            name: name.into(),
            columns: vec!["n".into()],
            unique: true,
            constraint,
            primary: false,
            oid: 16500,
        };
        keyed.indexes = vec![unique("t_n_key", true), unique("t_n_idx", false)];
        let arbiter = |sql: &str| match conflict(sql, &keyed) {
            Ok(OnConflict::Update(update)) => update.arbiter,
            Ok(OnConflict::Skip(arbiter)) => arbiter,
            _ => panic!("ON CONFLICT expected: {sql}"),
        };
        let insert = "INSERT INTO t VALUES (1, 2) ON CONFLICT";
        assert_eq!(arbiter(&format!("{insert} (n) DO UPDATE SET id = 3")), Arbiter::Index("t_n_key".into()));
        assert_eq!(
            arbiter(&format!("{insert} ON CONSTRAINT t_n_key DO NOTHING")),
            Arbiter::Index("t_n_key".into())
        );
        assert_eq!(arbiter(&format!("{insert} DO NOTHING")), Arbiter::Any);
        assert_eq!(arbiter(&format!("{insert} (id) DO NOTHING")), Arbiter::Key);
        // ON CONSTRAINT names constraints, not plain unique indexes.
        assert_eq!(
            code(&format!("{insert} ON CONSTRAINT t_n_idx DO NOTHING"), &keyed),
            Code::UndefinedObject.as_str()
        );
        assert_eq!(
            code(&format!("{insert} (id, n) DO NOTHING"), &keyed),
            Code::InvalidColumnReference.as_str()
        );
        assert_eq!(conflict(&format!("{insert} DO NOTHING"), &keyed).unwrap().arbiters(&keyed).len(), 2);
    }

    #[test]
    fn only_the_primary_key_is_a_conflict_target_without_unique_indexes() {
        let keyed = table(Some(0));
        let insert = "INSERT INTO t VALUES (1, 2) ON CONFLICT";
        let update = "DO UPDATE SET n = excluded.n";
        assert_eq!(code(&format!("{insert} (id) {update}"), &keyed), "ok");
        assert_eq!(code(&format!("{insert} ON CONSTRAINT t_pkey DO NOTHING"), &keyed), "ok");
        assert_eq!(code(&format!("{insert} DO NOTHING"), &keyed), "ok");
        assert_eq!(code(&format!("{insert} (n) {update}"), &keyed), Code::InvalidColumnReference.as_str());
        assert_eq!(
            code(&format!("{insert} (id, n) {update}"), &keyed),
            Code::InvalidColumnReference.as_str()
        );
        assert_eq!(code(&format!("{insert} (nope) {update}"), &keyed), Code::UndefinedColumn.as_str());
        assert_eq!(code(&format!("{insert} {update}"), &keyed), Code::SyntaxError.as_str());
        assert_eq!(
            code(&format!("{insert} ON CONSTRAINT x DO NOTHING"), &keyed),
            Code::UndefinedObject.as_str()
        );
        assert_eq!(
            code(&format!("{insert} (id) DO NOTHING"), &table(None)),
            Code::InvalidColumnReference.as_str()
        );
        assert_eq!(code(&format!("{insert} (id) {update}, n = 1"), &keyed), Code::SyntaxError.as_str());
    }

    #[test]
    fn do_update_reads_the_alias_or_the_table_name() {
        let keyed = table(Some(0));
        let Ok(OnConflict::Update(update)) =
            conflict("INSERT INTO t AS x VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET n = x.n + 1", &keyed)
        else {
            panic!("DO UPDATE expected");
        };
        assert_eq!((update.target.as_str(), update.sets.len()), ("x", 1));
    }
}
