//! Views: CREATE [OR REPLACE] VIEW and DROP VIEW. A view is a relation in
//! the catalog like a table ([`Table::view`] holds its query), staged in the
//! transaction like any DDL; queries read it by expanding its query in
//! place (`crate::sql::plan::views`). A view has no rows: writes to it are
//! refused, and the relations it reads cannot be dropped while it stands
//! (but with CASCADE, which drops it too).

use super::*;
use crate::sql::catalog::View;
use std::ops::ControlFlow;

impl<G: ActorGateway> Engine<G> {
    pub(super) async fn create_view(&self, create: ast::CreateView, txn: &mut Txn) -> Result<Outcome> {
        if create.materialized {
            return Err(unsupported("materialized views"));
        }
        if create.temporary {
            return Err(unsupported("temporary views"));
        }
        if !matches!(create.options, ast::CreateTableOptions::None)
            || create.params.is_some()
            || create.to.is_some()
        {
            return Err(unsupported("view options"));
        }
        let name = object_name(&create.name)?;
        self.close_gate(txn, &name).await?;
        let existing = self.schema(&txn.writes, &name).await?;
        match &existing {
            Some(table) if table.view.is_none() && create.or_replace => return Err(not_a_view(&name)),
            Some(_) if create.if_not_exists => return Ok(Outcome::Done("CREATE VIEW".into())),
            Some(table) if table.view.is_none() || !create.or_replace => {
                return Err(error(Code::DuplicateTable, format!("relation \"{name}\" already exists")));
            }
            Some(_) => {}
            None if self.relation_names(&txn.writes).await?.contains(&name) => {
                return Err(error(Code::DuplicateTable, format!("relation \"{name}\" already exists")));
            }
            None => {}
        }
        // The columns a `*` stands for are fixed now, as PostgreSQL fixes
        // them: a column added to a table later is not the view's.
        let mut create = create;
        self.expand_wildcards(&mut create.query, txn).await?;
        let planned = self.plan(Statement::Query(create.query.clone()), txn).await?;
        if create.columns.len() > planned.columns.len() {
            return Err(error(Code::SyntaxError, "CREATE VIEW specifies more column names than columns"));
        }
        let sources = self.source_columns(&create.query, txn).await?;
        let mut columns: Vec<Column> = Vec::with_capacity(planned.columns.len());
        for (i, (planned_name, sql_type)) in planned.columns.iter().enumerate() {
            let name = create.columns.get(i).map_or_else(|| planned_name.clone(), |c| ident(&c.name));
            if columns.iter().any(|c| c.name == name) {
                return Err(error(
                    Code::DuplicateColumn,
                    format!("column \"{name}\" specified more than once"),
                ));
            }
            // A column selected as it is keeps its length and typmod.
            let column = match sources.get(i) {
                Some(Some(source))
                    if source.sql_type == *sql_type || (source.sql_type.is_text() && sql_type.is_text()) =>
                {
                    Column {
                        length: source.length,
                        numeric: source.numeric,
                        ..Column::new(name, source.sql_type)
                    }
                }
                _ => Column::new(name, *sql_type),
            };
            columns.push(column);
        }
        if let Some(old) = &existing {
            replaceable(old, &columns)?;
        }
        let oid = match &existing {
            Some(old) => old.oid,
            None => self.next_oid().await?,
        };
        let view = View { query: create.query.to_string(), reads: relations_read(&create.query) };
        // The relations it reads stay as they are until the view commits:
        // no other transaction drops or alters them meanwhile.
        for read in &view.reads {
            if *read != name && self.schema(&txn.writes, read).await?.is_some() {
                self.close_gate(txn, read).await?;
            }
        }
        txn.stage_table(Table { columns, oid, view: Some(view), ..Table::named(&name) });
        Ok(Outcome::Done("CREATE VIEW".into()))
    }

    pub(super) async fn drop_views(
        &self,
        names: &[ObjectName],
        if_exists: bool,
        cascade: bool,
        txn: &mut Txn,
    ) -> Result<Outcome> {
        let mut dropped = Vec::new();
        for name in names {
            let name = object_name(name)?;
            self.close_gate(txn, &name).await?;
            match self.schema(&txn.writes, &name).await? {
                Some(table) if table.view.is_some() => dropped.push(name),
                Some(_) => return Err(not_a_view(&name)),
                None if if_exists => {}
                None => return Err(error(Code::UndefinedTable, format!("view \"{name}\" does not exist"))),
            }
        }
        for name in self.with_dependent_views(txn, dropped, cascade, "view").await? {
            txn.writes.tables.insert(name, None);
        }
        Ok(Outcome::Done("DROP VIEW".into()))
    }

    /// `*` and `t.*` in a plain SELECT over tables and views, replaced by
    /// the columns they stand for now. Left as written where that cannot
    /// be told from the catalog (a FROM item that is a subquery or a
    /// function, joins with USING or NATURAL, which merge columns).
    async fn expand_wildcards(&self, query: &mut ast::Query, txn: &Txn) -> Result<()> {
        // A CTE's name would hide a table's.
        if query.with.is_some() {
            return Ok(());
        }
        let SetExpr::Select(select) = query.body.as_mut() else { return Ok(()) };
        let has_wildcard = select
            .projection
            .iter()
            .any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)));
        if !has_wildcard {
            return Ok(());
        }
        let mut tables: Vec<(String, Vec<String>)> = Vec::new();
        for from in &select.from {
            let text = from.to_string().to_uppercase();
            if text.contains("NATURAL ") || text.contains(" USING") {
                return Ok(());
            }
            for factor in std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation)) {
                let TableFactor::Table { name, alias, args: None, .. } = factor else { return Ok(()) };
                let Ok(relation) = object_name(name) else { return Ok(()) };
                let Some(table) = self.schema(&txn.writes, &relation).await? else { return Ok(()) };
                if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
                    return Ok(());
                }
                let called = alias.as_ref().map_or(relation, |a| ident(&a.name));
                tables.push((called, table.columns.iter().map(|c| c.name.clone()).collect()));
            }
        }
        let plain =
            |options: &ast::WildcardAdditionalOptions| *options == ast::WildcardAdditionalOptions::default();
        let column = |called: &str, name: &str| {
            SelectItem::UnnamedExpr(Expr::CompoundIdentifier(vec![
                ast::Ident::with_quote('"', called),
                ast::Ident::with_quote('"', name),
            ]))
        };
        let mut items = Vec::with_capacity(select.projection.len());
        for item in &select.projection {
            match item {
                SelectItem::Wildcard(options) if plain(options) => {
                    for (called, columns) in &tables {
                        items.extend(columns.iter().map(|c| column(called, c)));
                    }
                }
                SelectItem::QualifiedWildcard(
                    ast::SelectItemQualifiedWildcardKind::ObjectName(name),
                    options,
                ) if plain(options) => {
                    let Some(qualifier) = name.0.last().and_then(|p| p.as_ident()).map(ident) else {
                        return Ok(());
                    };
                    let Some((called, columns)) = tables.iter().find(|(called, _)| *called == qualifier)
                    else {
                        return Ok(());
                    };
                    items.extend(columns.iter().map(|c| column(called, c)));
                }
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => return Ok(()),
                other => items.push(other.clone()),
            }
        }
        select.projection = items;
        Ok(())
    }

    /// For each item a plain SELECT projects, the table column it is when
    /// it is one (`c` or `t.c` of a table in FROM).
    async fn source_columns(&self, query: &ast::Query, txn: &Txn) -> Result<Vec<Option<Column>>> {
        let SetExpr::Select(select) = query.body.as_ref() else { return Ok(Vec::new()) };
        let mut tables = Vec::new();
        for from in &select.from {
            for factor in std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation)) {
                if let TableFactor::Table { name, alias, .. } = factor
                    && let Ok(name) = object_name(name)
                    && let Some(table) = self.schema(&txn.writes, &name).await?
                {
                    let called = alias.as_ref().map_or_else(|| name.clone(), |a| ident(&a.name));
                    tables.push((called, table));
                }
            }
        }
        let mut sources = Vec::with_capacity(select.projection.len());
        for item in &select.projection {
            let expr = match item {
                SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr,
                _ => return Ok(Vec::new()),
            };
            let (qualifier, column) = match expr {
                Expr::Identifier(id) => (None, ident(id)),
                Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                    (Some(ident(&parts[0])), ident(&parts[1]))
                }
                _ => {
                    sources.push(None);
                    continue;
                }
            };
            let found = tables
                .iter()
                .filter(|(called, _)| qualifier.as_ref().is_none_or(|q| q == called))
                .find_map(|(_, table)| table.column(&column).map(|(_, c)| c.clone()));
            sources.push(found);
        }
        Ok(sources)
    }

    /// `dropped` and, with `cascade`, every view reading one of them (and
    /// the views reading those); without it, a view reading one is 2BP01.
    pub(super) async fn with_dependent_views(
        &self,
        txn: &mut Txn,
        mut dropped: Vec<String>,
        cascade: bool,
        kind: &str,
    ) -> Result<Vec<String>> {
        let views: Vec<Table> =
            self.tables_seen(&txn.writes).await?.into_iter().filter(|t| t.view.is_some()).collect();
        let mut i = 0;
        while i < dropped.len() {
            let target = dropped[i].clone();
            for view in &views {
                let reads = view.view.as_ref().is_some_and(|v| v.reads.contains(&target));
                if !reads || dropped.contains(&view.name) {
                    continue;
                }
                if !cascade {
                    return Err(error(
                        Code::DependentObjectsStillExist,
                        format!(
                            "cannot drop {kind} {target} because other objects depend on it (view {} depends on {kind} {target})",
                            view.name
                        ),
                    ));
                }
                self.close_gate(txn, &view.name).await?;
                dropped.push(view.name.clone());
            }
            i += 1;
        }
        Ok(dropped)
    }

    /// 2BP01 when a view reads table `name` (ALTER TABLE ... DROP or
    /// RENAME COLUMN: a view keeps its query as text, naming the columns).
    pub(super) async fn refuse_if_viewed(&self, txn: &Txn, name: &str) -> Result<()> {
        let seen = self.tables_seen(&txn.writes).await?;
        if let Some(view) =
            seen.iter().find(|t| t.view.as_ref().is_some_and(|v| v.reads.iter().any(|r| r == name)))
        {
            return Err(error(
                Code::DependentObjectsStillExist,
                format!(
                    "cannot drop or rename a column of table {name} because other objects depend on it (view {} depends on table {name})",
                    view.name
                ),
            ));
        }
        Ok(())
    }
}

/// `"name" is not a view` (DROP VIEW of a table, CREATE OR REPLACE VIEW
/// over one).
fn not_a_view(name: &str) -> SqlError {
    error(Code::WrongObjectType, format!("\"{name}\" is not a view"))
}

/// `"name" is a view` (or a sequence): a statement for tables naming a
/// relation without rows.
pub(super) fn rowless(table: &Table, statement: &str) -> SqlError {
    error(
        Code::WrongObjectType,
        format!("\"{}\" is a {} (not supported by {statement})", table.name, table.kind_name()),
    )
}

/// CREATE OR REPLACE VIEW keeps the old view's columns, in order, with
/// their names and types, and may only add columns after them (42P16).
fn replaceable(old: &Table, columns: &[Column]) -> Result<()> {
    for (i, before) in old.columns.iter().enumerate() {
        let Some(after) = columns.get(i) else {
            return Err(error(Code::InvalidTableDefinition, "cannot drop columns from view"));
        };
        if after.name != before.name {
            return Err(error(
                Code::InvalidTableDefinition,
                format!("cannot change name of view column \"{}\" to \"{}\"", before.name, after.name),
            ));
        }
        if after.sql_type != before.sql_type {
            return Err(error(
                Code::InvalidTableDefinition,
                format!("cannot change data type of view column \"{}\"", before.name),
            ));
        }
    }
    Ok(())
}

/// The relations a query names (each once, by its last name part).
fn relations_read(query: &ast::Query) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let _ = ast::visit_relations(query, |name: &ObjectName| {
        if let Some(last) = name.0.last().and_then(|p| p.as_ident()).map(ident)
            && !names.contains(&last)
        {
            names.push(last);
        }
        ControlFlow::<()>::Continue(())
    });
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_view_keeps_its_columns_and_may_add_some() {
        let old = Table {
            columns: vec![Column::new("a", SqlType::Int4), Column::new("b", SqlType::Text)],
            ..Table::named("v")
        };
        let same = old.columns.clone();
        assert!(replaceable(&old, &same).is_ok());
        let more = [same.clone(), vec![Column::new("c", SqlType::Bool)]].concat();
        assert!(replaceable(&old, &more).is_ok());
        let code = |columns: &[Column]| replaceable(&old, columns).unwrap_err().code;
        assert_eq!(code(&same[..1]), Code::InvalidTableDefinition);
        assert_eq!(code(&[Column::new("x", SqlType::Int4), same[1].clone()]), Code::InvalidTableDefinition);
        assert_eq!(code(&[Column::new("a", SqlType::Int8), same[1].clone()]), Code::InvalidTableDefinition);
    }

    #[test]
    fn views_know_the_relations_they_read() {
        let Some(Statement::Query(query)) =
            crate::sql::parse::parse("SELECT * FROM a JOIN b ON true WHERE x IN (SELECT y FROM public.c, a)")
                .unwrap()
                .pop()
        else {
            panic!()
        };
        assert_eq!(relations_read(&query), ["a", "b", "c"]);
    }
}
