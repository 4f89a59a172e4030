//! Views read in place: before a statement is planned, each relation that
//! names a view (as the transaction sees it) becomes the view's query as a
//! subquery under the view's name and column names, over and over for
//! views reading views.

use super::*;
use sqlparser::ast::{self, ObjectName, Statement, TableFactor, VisitMut, VisitorMut};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

/// How many views a statement may expand to before the reading is taken
/// for a cycle.
const MAX_VIEWS: usize = 256;

impl<G: ActorGateway> Planner<G> {
    /// Expands the views `statement` reads, seeing `writes`.
    pub(super) async fn expand_views(&self, statement: &mut Statement, writes: &Writes) -> DfResult<()> {
        let mut expanded = 0;
        while expanded < MAX_VIEWS {
            let mut views = BTreeMap::new();
            for name in relation_names(statement) {
                let table = match writes.table(&name) {
                    Some(staged) => staged,
                    None => (self.schema.schemas.get(self.schema.gateway.as_ref(), &name).await)
                        .map_err(|e| DataFusionError::External(Box::new(e)))?,
                };
                if let Some(table) = table
                    && let Some(view) = &table.view
                {
                    let query = match crate::sql::parse::parse(&view.query) {
                        Ok(mut parsed) => match parsed.pop() {
                            Some(Statement::Query(query)) => query,
                            _ => return Err(internal(&name)),
                        },
                        Err(_) => return Err(internal(&name)),
                    };
                    let columns = table.columns.iter().map(|c| c.name.clone()).collect();
                    views.insert(name, (query, columns));
                }
            }
            if views.is_empty() {
                return Ok(());
            }
            let mut expand = Expand { views: &views, expanded };
            let _ = statement.visit(&mut expand);
            // A view's name used otherwise (`FROM v()`, a table function)
            // is not expanded: with nothing expanded, planning goes on.
            if expand.expanded == expanded {
                return Ok(());
            }
            expanded = expand.expanded;
        }
        Err(crate::sql::error::SqlError::new(
            crate::sql::error::Code::InvalidObjectDefinition,
            "infinite recursion detected in rules for a view",
        )
        .into_datafusion())
    }
}

fn internal(name: &str) -> DataFusionError {
    crate::sql::error::SqlError::new(
        crate::sql::error::Code::Internal,
        format!("the stored query of view \"{name}\" does not parse"),
    )
    .into_datafusion()
}

/// The user relations a statement names, unqualified or in `public`.
fn relation_names(statement: &Statement) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let _ = ast::visit_relations(statement, |name: &ObjectName| {
        if let Some(name) = user_relation(name) {
            names.insert(name);
        }
        ControlFlow::<()>::Continue(())
    });
    names
}

/// A relation name as a table of the database: `name` or `public.name`.
fn user_relation(name: &ObjectName) -> Option<String> {
    let parts: Vec<String> =
        name.0.iter().map(|p| p.as_ident().map(crate::sql::parse::ident)).collect::<Option<_>>()?;
    match parts.as_slice() {
        [name] => Some(name.clone()),
        [schema, name] if schema == "public" => Some(name.clone()),
        _ => None,
    }
}

/// Replaces each relation naming a view by the view's query.
struct Expand<'a> {
    views: &'a BTreeMap<String, (Box<ast::Query>, Vec<String>)>,
    /// Views expanded so far (the visit goes on into each query put in).
    expanded: usize,
}

impl VisitorMut for Expand<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, args: None, .. } = factor else {
            return ControlFlow::Continue(());
        };
        let Some(relation) = user_relation(name) else { return ControlFlow::Continue(()) };
        let Some((query, columns)) = self.views.get(&relation) else { return ControlFlow::Continue(()) };
        if self.expanded >= MAX_VIEWS {
            return ControlFlow::Break(());
        }
        self.expanded += 1;
        let mut alias = alias.clone().unwrap_or_else(|| ast::TableAlias {
            explicit: true,
            at: None,
            name: ast::Ident::with_quote('"', relation.clone()),
            columns: Vec::new(),
        });
        // The view's column names, where the statement gives none.
        for column in columns.iter().skip(alias.columns.len()) {
            alias.columns.push(ast::TableAliasColumnDef {
                name: ast::Ident::with_quote('"', column),
                data_type: None,
            });
        }
        *factor = TableFactor::Derived {
            lateral: false,
            subquery: query.clone(),
            alias: Some(alias),
            sample: None,
        };
        ControlFlow::Continue(())
    }
}
