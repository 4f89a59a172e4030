//! Point queries: `SELECT ... WHERE pk = constant`, read from the one row
//! actor (and the transaction's own writes), without DataFusion; a prepared
//! one keeps its table and key parameter from Parse ([`PointQuery`]).

use super::*;

/// A point query: `SELECT columns FROM table WHERE pk = key`, reading one
/// row actor.
#[derive(Debug, Clone)]
pub(crate) struct PointQuery {
    /// The schema the query was analysed against.
    pub table: Arc<Table>,
    /// The result columns: their names and the table's columns they show.
    pub output: Vec<(String, usize)>,
    /// The key: a constant or a parameter (`$n`).
    pub key: Expr,
}

impl PointQuery {
    pub fn columns(&self) -> Vec<(String, SqlType)> {
        self.output.iter().map(|(name, i)| (name.clone(), self.table.columns[*i].sql_type)).collect()
    }

    /// The outcome of reading `rows` (none or one).
    pub(super) fn outcome(&self, rows: Vec<Map<String, Json>>) -> Outcome {
        let columns = &self.table.columns;
        let rows = rows
            .iter()
            .map(|row| {
                self.output
                    .iter()
                    .map(|(_, i)| row.get(&columns[*i].name).cloned().unwrap_or(Json::Null))
                    .collect()
            })
            .collect();
        Outcome::Rows(Rows { columns: self.columns(), rows }, "SELECT".into())
    }
}

impl<G: ActorGateway> Engine<G> {
    /// Runs a prepared point query whose key parameter is bound to `key`,
    /// as [`Engine::execute`] runs the statement, without analysing the
    /// statement again. `None` when the table's schema is no longer the
    /// one `point` was made from (or cannot be read): the caller executes
    /// the statement, which meets the change (or the error) itself.
    pub async fn execute_point(
        &self,
        point: &Arc<PointQuery>,
        key: Literal,
        cancel: &mut Cancel,
    ) -> Option<Result<Outcome>> {
        match self.schema(&self.staged_schemas(), &point.table.name).await {
            Ok(Some(table)) if Arc::ptr_eq(&table, &point.table) || *table == *point.table => {}
            _ => return None,
        }
        Some(self.perform(Work::Point(point.clone(), key), cancel).await)
    }

    pub(super) async fn point_rows(
        &self,
        table: &Table,
        key: &Literal,
        txn: &Txn,
    ) -> Result<Vec<Map<String, Json>>> {
        match pk_key(table, key)? {
            None => Ok(Vec::new()), // = NULL matches nothing
            Some(key) => Ok(self.current(txn, table, &key).await?.into_iter().collect()),
        }
    }

    /// A point query (SELECT columns FROM table WHERE primary key =
    /// constant or parameter), as the session's transaction sees the
    /// table; `None` for any other query.
    pub async fn point_query(&self, query: &ast::Query) -> Result<Option<PointQuery>> {
        self.point_query_seeing(query, &self.staged_schemas()).await
    }

    /// [`Engine::point_query`] in a transaction that wrote `writes`.
    pub(super) async fn point_query_seeing(
        &self,
        query: &ast::Query,
        writes: &Writes,
    ) -> Result<Option<PointQuery>> {
        if query.with.is_some()
            || query.order_by.is_some()
            || query.limit_clause.is_some()
            || !query.locks.is_empty()
        {
            return Ok(None);
        }
        let SetExpr::Select(select) = query.body.as_ref() else { return Ok(None) };
        if select.distinct.is_some()
            || select.having.is_some()
            || !matches!(select.group_by, ast::GroupByExpr::Expressions(ref e, _) if e.is_empty())
        {
            return Ok(None);
        }
        let [from] = select.from.as_slice() else { return Ok(None) };
        if !from.joins.is_empty() {
            return Ok(None);
        }
        let TableFactor::Table { name, alias: None, args: None, .. } = &from.relation else {
            return Ok(None);
        };
        let Ok(name) = object_name(name) else { return Ok(None) };
        let Some(table) = self.schema(writes, &name).await? else { return Ok(None) };
        let Some(key) = pk_equals(&table, select.selection.as_ref()) else { return Ok(None) };
        if literal(&key).is_err() && placeholder(&key).is_none() {
            return Ok(None);
        }
        let mut output: Vec<(String, usize)> = Vec::new();
        for item in &select.projection {
            match item {
                SelectItem::Wildcard(_) => {
                    output.extend(table.columns.iter().enumerate().map(|(i, c)| (c.name.clone(), i)));
                }
                SelectItem::UnnamedExpr(Expr::Identifier(id)) => match table.column(&ident(id)) {
                    Some((i, c)) => output.push((c.name.clone(), i)),
                    None => return Ok(None),
                },
                SelectItem::ExprWithAlias { expr: Expr::Identifier(id), alias } => {
                    match table.column(&ident(id)) {
                        Some((i, _)) => output.push((ident(alias), i)),
                        None => return Ok(None),
                    }
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(PointQuery { table, output, key }))
    }

    // --- DML -----------------------------------------------------------
}
