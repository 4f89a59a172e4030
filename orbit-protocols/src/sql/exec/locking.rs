//! SELECT ... FOR UPDATE / FOR SHARE [NOWAIT | SKIP LOCKED]: the rows a
//! query returns are locked in the transaction, as UPDATE locks them.
//!
//! The query runs once without its LIMIT and OFFSET to find the candidate
//! rows in order; they are locked in that order (waiting for a row another
//! transaction holds, failing with 55P03 under NOWAIT, passing it by under
//! SKIP LOCKED) until enough are held for the LIMIT. The query then runs
//! again over the locked rows only, so what it returns comes from rows no
//! one else can change: a row changed while this one waited and no longer
//! matching is left out, and more candidates are locked in its place.
//!
//! Row locks are exclusive, so FOR SHARE locks as FOR UPDATE does (two
//! sharers wait for each other where PostgreSQL lets both through).

use super::*;
use crate::sql::parse::literal_expr;
use dml::{json_literal, key_expr, key_from};
use sqlparser::ast::{LimitClause, NonBlock, Offset};

impl Rows {
    /// The rows without the key column a locking query added last.
    fn without_key(mut self) -> Rows {
        self.columns.pop();
        for row in &mut self.rows {
            row.pop();
        }
        self
    }
}

/// A query's LIMIT and OFFSET, as numbers.
struct Window {
    limit: Option<usize>,
    offset: usize,
}

impl<G: ActorGateway> Engine<G> {
    pub(super) async fn locking_query(&self, mut query: ast::Query, txn: &mut Txn) -> Result<Outcome> {
        let (table, seen_as) = self.locked_table(&query, txn).await?;
        let nonblock = lock_mode(&query, &seen_as)?;
        let window = window(query.limit_clause.take())?;
        query.locks.clear();
        // The key, last: positions in ORDER BY keep meaning the query's
        // own columns.
        let SetExpr::Select(select) = query.body.as_mut() else { unreachable!("checked by locked_table") };
        select
            .projection
            .push(SelectItem::ExprWithAlias { expr: key_expr(&table), alias: ast::Ident::new(LOCKED_KEY) });
        let candidates = self.keyed_rows(query.clone(), txn).await?;
        let need = window.limit.map(|limit| window.offset + limit);
        if need == Some(0) {
            return Ok(Outcome::Rows(
                self.over_rows(&query, &table, &[], txn).await?.without_key(),
                "SELECT".into(),
            ));
        }
        let mut candidates = candidates.into_iter().map(|row| row.last().cloned().unwrap_or(Json::Null));
        let mut locked: Vec<Json> = Vec::new();
        loop {
            let mut exhausted = true;
            for key in candidates.by_ref() {
                let bytes = key_from(&table, &key)?;
                let held = match nonblock {
                    None => {
                        self.lock(txn, &table.name, &bytes).await?;
                        true
                    }
                    Some(NonBlock::Nowait) => {
                        if !self.try_lock(txn, &table.name, &bytes).await? {
                            return Err(error(
                                Code::LockNotAvailable,
                                format!("could not obtain lock on row in relation \"{}\"", table.name),
                            ));
                        }
                        true
                    }
                    Some(NonBlock::SkipLocked) => self.try_lock(txn, &table.name, &bytes).await?,
                };
                if held {
                    locked.push(key);
                }
                if need.is_some_and(|n| locked.len() >= n) {
                    exhausted = false;
                    break;
                }
            }
            let mut rows = self.over_rows(&query, &table, &locked, txn).await?;
            let enough = need.is_none_or(|n| rows.rows.len() >= n);
            if enough || exhausted {
                let limit = window.limit.unwrap_or(usize::MAX);
                rows.rows = rows.rows.into_iter().skip(window.offset).take(limit).collect();
                return Ok(Outcome::Rows(rows.without_key(), "SELECT".into()));
            }
        }
    }

    /// The one table a locking query reads, and the name the query gives
    /// it (its alias, if it has one); anything else is refused.
    async fn locked_table(&self, query: &ast::Query, txn: &Txn) -> Result<(Arc<Table>, String)> {
        let SetExpr::Select(select) = query.body.as_ref() else {
            return Err(unsupported("FOR UPDATE/SHARE on a query that is not a plain SELECT"));
        };
        if select.distinct.is_some() {
            return Err(error(Code::FeatureNotSupported, "FOR UPDATE is not allowed with DISTINCT clause"));
        }
        if !matches!(select.group_by, ast::GroupByExpr::Expressions(ref e, _) if e.is_empty()) {
            return Err(error(Code::FeatureNotSupported, "FOR UPDATE is not allowed with GROUP BY clause"));
        }
        if select.having.is_some() {
            return Err(error(Code::FeatureNotSupported, "FOR UPDATE is not allowed with HAVING clause"));
        }
        if select.projection.iter().any(|item| calls(item, true)) {
            return Err(error(Code::FeatureNotSupported, "FOR UPDATE is not allowed with window functions"));
        }
        if select.projection.iter().any(|item| calls(item, false)) {
            return Err(error(
                Code::FeatureNotSupported,
                "FOR UPDATE is not allowed with aggregate functions",
            ));
        }
        let [from] = select.from.as_slice() else {
            return Err(unsupported("FOR UPDATE/SHARE over several tables"));
        };
        if !from.joins.is_empty() {
            return Err(unsupported("FOR UPDATE/SHARE over a join"));
        }
        let TableFactor::Table { name, args: None, alias, .. } = &from.relation else {
            return Err(unsupported("FOR UPDATE/SHARE of something other than a table"));
        };
        let table = self.target(txn, &object_name(name)?).await?;
        let seen_as = match alias {
            Some(alias) => ident(&alias.name),
            None => table.name.clone(),
        };
        Ok((table, seen_as))
    }

    /// Runs `query` seeing the transaction's writes, keys of tables without
    /// a primary key shown.
    async fn keyed_rows(&self, query: ast::Query, txn: &Txn) -> Result<Vec<Vec<Json>>> {
        let writes = Arc::new(txn.writes.clone());
        let planned = self.planner.plan_keyed(Statement::Query(Box::new(query)), writes.clone()).await?;
        Ok(self.planner.run(&planned, writes).await?.rows)
    }

    /// `query` over the rows whose keys are `keys` only.
    async fn over_rows(&self, query: &ast::Query, table: &Table, keys: &[Json], txn: &Txn) -> Result<Rows> {
        let mut query = query.clone();
        let SetExpr::Select(select) = query.body.as_mut() else { unreachable!("checked by locked_table") };
        let among = if keys.is_empty() {
            Expr::value(ast::Value::Boolean(false))
        } else {
            Expr::InList {
                expr: Box::new(key_expr(table)),
                list: keys.iter().map(|k| literal_expr(json_literal(k))).collect(),
                negated: false,
            }
        };
        select.selection = Some(match select.selection.take() {
            Some(selection) => Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(selection))),
                op: ast::BinaryOperator::And,
                right: Box::new(among),
            },
            None => among,
        });
        let writes = Arc::new(txn.writes.clone());
        let planned = self.planner.plan_keyed(Statement::Query(Box::new(query)), writes.clone()).await?;
        Ok(self.planner.run(&planned, writes).await?)
    }

    /// Takes `key`'s lock if no other transaction holds it: whether it did.
    async fn try_lock(&self, txn: &mut Txn, table: &str, key: &[u8]) -> Result<bool> {
        let row: RowRef = (table.to_string(), key.to_vec());
        if txn.locked.contains(&row) {
            return Ok(true);
        }
        if txn.term.is_none() {
            txn.term = Some(self.gateway.serving_term(&sql_home()).await?);
        }
        let taken = self.locks.try_lock(self.id, &row);
        if taken {
            txn.locked.push(row);
        }
        Ok(taken)
    }
}

/// The name of the key column a locking query adds to its projection.
const LOCKED_KEY: &str = "__orbit_locked_key";

/// The clause's NOWAIT or SKIP LOCKED; several clauses must agree and name
/// only the table read (`seen_as`: its alias or its name).
fn lock_mode(query: &ast::Query, seen_as: &str) -> Result<Option<NonBlock>> {
    let mut mode = None;
    for (i, clause) in query.locks.iter().enumerate() {
        if let Some(of) = &clause.of
            && object_name(of)? != seen_as
        {
            return Err(error(
                Code::UndefinedTable,
                format!("relation \"{of}\" in FOR UPDATE clause not found in FROM clause"),
            ));
        }
        if i > 0 && clause.nonblock != mode {
            return Err(unsupported("FOR UPDATE/SHARE clauses with different NOWAIT or SKIP LOCKED"));
        }
        mode = clause.nonblock;
    }
    Ok(mode)
}

/// LIMIT and OFFSET as constants (a parameter was bound before this).
fn window(clause: Option<LimitClause>) -> Result<Window> {
    let number = |expr: &Expr, what: &str| -> Result<usize> {
        match literal(expr) {
            Ok(Literal::Number(n)) => {
                n.parse::<i64>().ok().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| {
                    error(Code::InvalidRowCountInLimitClause, format!("{what} must not be negative"))
                })
            }
            _ => Err(unsupported(format_args!("FOR UPDATE/SHARE with a {what} that is not a constant"))),
        }
    };
    match clause {
        None => Ok(Window { limit: None, offset: 0 }),
        Some(LimitClause::LimitOffset { limit, offset, limit_by }) if limit_by.is_empty() => {
            let limit = match limit {
                Some(Expr::Value(v)) if matches!(v.value, ast::Value::Null) => None,
                Some(expr) => Some(number(&expr, "LIMIT")?),
                None => None,
            };
            let offset = match offset {
                Some(Offset { value, .. }) => number(&value, "OFFSET")?,
                None => 0,
            };
            Ok(Window { limit, offset })
        }
        Some(other) => Err(unsupported(format_args!("FOR UPDATE/SHARE with{other}"))),
    }
}

/// Whether a select item calls a window function (`window`), or an
/// aggregate outside any subquery.
fn calls(item: &SelectItem, window: bool) -> bool {
    const AGGREGATES: &[&str] = &[
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "array_agg",
        "string_agg",
        "bool_and",
        "bool_or",
        "every",
        "json_agg",
        "jsonb_agg",
        "json_object_agg",
        "jsonb_object_agg",
        "bit_and",
        "bit_or",
    ];
    let expr = match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr,
        _ => return false,
    };
    struct Finder {
        window: bool,
        /// Inside a subquery (whose aggregates are its own business).
        depth: usize,
        found: bool,
    }
    impl ast::Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, _: &ast::Query) -> std::ops::ControlFlow<()> {
            self.depth += 1;
            std::ops::ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &ast::Query) -> std::ops::ControlFlow<()> {
            self.depth -= 1;
            std::ops::ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, e: &Expr) -> std::ops::ControlFlow<()> {
            if let Expr::Function(f) = e
                && self.depth == 0
            {
                self.found |= match self.window {
                    true => f.over.is_some(),
                    false => {
                        f.over.is_none() && AGGREGATES.contains(&f.name.to_string().to_lowercase().as_str())
                    }
                };
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut finder = Finder { window, depth: 0, found: false };
    let _ = ast::Visit::visit(expr, &mut finder);
    finder.found
}

/// Whether a query below the statement's top (a subquery, a CTE, INSERT's
/// source) has a locking clause: DataFusion would drop it, so it is
/// refused rather than ignored.
pub(super) fn nested_locks(statement: &Statement) -> bool {
    struct Finder {
        depth: usize,
        top_select: bool,
        found: bool,
    }
    impl ast::Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, query: &ast::Query) -> std::ops::ControlFlow<()> {
            self.depth += 1;
            let the_top_select = self.top_select && self.depth == 1;
            self.found |= !query.locks.is_empty() && !the_top_select;
            std::ops::ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _: &ast::Query) -> std::ops::ControlFlow<()> {
            self.depth -= 1;
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut finder = Finder { depth: 0, top_select: matches!(statement, Statement::Query(_)), found: false };
    let _ = ast::Visit::visit(statement, &mut finder);
    finder.found
}
