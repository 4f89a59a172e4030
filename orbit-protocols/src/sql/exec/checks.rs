//! The expressions a table's schema evaluates on its rows: CHECK
//! constraints (checked on every staged row), generated columns
//! (`GENERATED ALWAYS AS (...) STORED`, computed at each insert and update)
//! and DEFAULT expressions that are not constants.
//!
//! Orbit evaluates what `expr.rs` can; anything else DataFusion computes,
//! over the rows shown to it as a scratch table of the table's columns
//! ([`Engine::compute`]), so every function and operator a query may use
//! may be used here too.

use super::*;
use crate::sql::catalog::Check;
use crate::sql::catalog::entries::choose_name;
use std::collections::BTreeSet;
use std::ops::ControlFlow;

/// The name the rows being computed go by as a table. No statement can
/// name it: a NUL never reaches one.
const SCRATCH: &str = "\0computed";

impl<G: ActorGateway> Engine<G> {
    /// Each of `exprs` on each of `rows` of `table` (the expressions may
    /// name the table's columns, bare or qualified by its name).
    pub(super) async fn compute(
        &self,
        table: &Table,
        exprs: &[Expr],
        rows: &[Map<String, Json>],
    ) -> Result<Vec<Vec<Literal>>> {
        let mut out = Vec::with_capacity(rows.len());
        // The rows some expression of which Orbit does not evaluate.
        let mut rest = Vec::new();
        'rows: for (i, row) in rows.iter().enumerate() {
            let mut values = Vec::with_capacity(exprs.len());
            for e in exprs {
                match expr::eval(e, table, row) {
                    Some(value) => values.push(value?.literal()),
                    None => {
                        rest.push(i);
                        out.push(Vec::new());
                        continue 'rows;
                    }
                }
            }
            out.push(values);
        }
        if rest.is_empty() {
            return Ok(out);
        }
        // Boxed: DataFusion's planning future is large, and this one is
        // awaited deep in the statement's (ON CONFLICT DO UPDATE, a foreign
        // key's action).
        for row in Box::pin(self.datafusion_compute(table, exprs, rows, &rest)).await?.rows {
            let position = row
                .first()
                .and_then(Json::as_str)
                .and_then(|key| key.trim_start_matches('\0').parse::<usize>().ok())
                .filter(|&i| i < out.len())
                .ok_or_else(|| error(Code::Internal, "a computed row lost its position"))?;
            out[position] = row[1..].iter().map(dml::json_literal).collect();
        }
        Ok(out)
    }

    /// [`Engine::compute`] by DataFusion, for the rows at `positions`: a
    /// row per position, its first column the position's hidden key.
    async fn datafusion_compute(
        &self,
        table: &Table,
        exprs: &[Expr],
        rows: &[Map<String, Json>],
        positions: &[usize],
    ) -> Result<Rows> {
        let scratch = Table {
            // Nullable: `try_expressions` computes over a row of NULLs.
            columns: table.columns.iter().map(|c| Column { not_null: false, ..c.clone() }).collect(),
            // Its hidden row keys are the rows' positions.
            ..Table::named(SCRATCH)
        };
        let mut writes = Writes::default();
        let staged =
            positions.iter().map(|&i| (catalog::hidden_key(i as i64), Some(rows[i].clone()))).collect();
        writes.rows.insert(SCRATCH.to_string(), staged);
        writes.tables.insert(SCRATCH.to_string(), Some(Arc::new(scratch)));
        let writes = Arc::new(writes);
        let planned = self.planner.plan_keyed(scratch_query(&table.name, exprs), writes.clone()).await?;
        Ok(self.planner.run(&planned, writes).await?)
    }

    /// 23514 unless every CHECK of `table` holds for each of `rows` (is
    /// true or NULL). New rows are checked where they are made: rows to
    /// insert before their conflicts are looked for (as PostgreSQL does),
    /// updated rows, and rows a foreign key's action changes.
    pub(super) async fn check_rows(&self, table: &Table, rows: &[Map<String, Json>]) -> Result<()> {
        if table.checks.is_empty() {
            return Ok(());
        }
        let exprs = table.checks.iter().map(|c| parse_expr(&c.expr)).collect::<Result<Vec<_>>>()?;
        for values in self.compute(table, &exprs, rows).await? {
            for (check, value) in table.checks.iter().zip(values) {
                if !holds(check, &value)? {
                    return Err(error(
                        Code::CheckViolation,
                        format!(
                            "new row for relation \"{}\" violates check constraint \"{}\"",
                            table.name, check.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// ADD CONSTRAINT ... CHECK: 23514 unless `check` holds for every row
    /// of `table` the transaction sees.
    pub(super) async fn validate_check(&self, txn: &Txn, table: &Table, check: &Check) -> Result<()> {
        let rows: Vec<Map<String, Json>> = self.rows_seen(txn, table).await?.into_values().collect();
        let values = self.compute(table, &[parse_expr(&check.expr)?], &rows).await?;
        for value in values {
            if !holds(check, value.first().unwrap_or(&Literal::Null))? {
                return Err(error(
                    Code::CheckViolation,
                    format!(
                        "check constraint \"{}\" of relation \"{}\" is violated by some row",
                        check.name, table.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Sets each row's generated columns from its other columns.
    pub(super) async fn generate(&self, table: &Table, rows: &mut [Map<String, Json>]) -> Result<()> {
        let mut generated = Vec::new();
        for (i, column) in table.columns.iter().enumerate() {
            if let Some(sql) = &column.generated {
                generated.push((i, parse_expr(sql)?));
            }
        }
        if generated.is_empty() || rows.is_empty() {
            return Ok(());
        }
        let exprs: Vec<Expr> = generated.iter().map(|(_, e)| e.clone()).collect();
        let values = self.compute(table, &exprs, rows).await?;
        for (row, values) in rows.iter_mut().zip(values) {
            for ((i, _), value) in generated.iter().zip(values) {
                let column = &table.columns[*i];
                let value = column.coerce(&value)?;
                if value.is_null() {
                    dml::check_not_null(table, column)?;
                    row.remove(&column.name);
                } else {
                    row.insert(column.name.clone(), value);
                }
            }
        }
        Ok(())
    }

    /// `count` values of `column`'s DEFAULT expression, computed once for
    /// each (so `random()` or `gen_random_uuid()` differ row to row).
    pub(super) async fn default_values(&self, column: &Column, count: usize) -> Result<Vec<Json>> {
        let Some(sql) = &column.default_expr else {
            return Ok(vec![column.default.clone().unwrap_or(Json::Null); count]);
        };
        let expr = parse_expr(sql)?;
        if let Ok(literal) = constant(&expr)
            && !volatile(&expr)
        {
            return Ok(vec![column.coerce(&literal)?; count]);
        }
        let none = Table::named("");
        let values = self.compute(&none, &[expr], &vec![Map::new(); count]).await?;
        values.iter().map(|v| Ok(column.coerce(v.first().unwrap_or(&Literal::Null))?)).collect()
    }

    /// Every expression of a new or altered `table` computed once (on a
    /// row of NULLs), so an unknown function, a value of the wrong type or
    /// a CHECK that is not a boolean (42804) is refused by CREATE or ALTER
    /// TABLE, not by the first insert.
    pub(super) async fn try_expressions(&self, table: &Table) -> Result<()> {
        let row = [Map::new()];
        for column in &table.columns {
            if let Some(sql) = &column.default_expr {
                if draws_from_a_sequence(sql) {
                    // Planned, not run: running it would draw a value.
                    let query = crate::sql::parse::parse(&format!("SELECT {sql}"))?.remove(0);
                    self.planner.plan(query, Arc::default()).await?;
                } else {
                    self.default_values(column, 1).await?;
                }
            }
            if let Some(sql) = &column.generated {
                // A data error on NULLs (`coalesce(s, '')::int`) says
                // nothing of the rows to come: only a planning error counts.
                let computed = self.compute(table, &[parse_expr(sql)?], &row).await;
                match computed
                    .and_then(|value| Ok(column.coerce(value[0].first().unwrap_or(&Literal::Null))?))
                {
                    Err(e) if e.code.as_str().starts_with("22") => {}
                    other => {
                        other?;
                    }
                }
            }
        }
        for check in &table.checks {
            let expr = parse_expr(&check.expr)?;
            let computed = match self.datafusion_compute(table, std::slice::from_ref(&expr), &row, &[0]).await
            {
                Err(e) if e.code.as_str().starts_with("22") => continue,
                computed => computed?,
            };
            let typed = computed.columns.get(1).is_none_or(|(_, t)| *t == SqlType::Bool);
            if !typed && !matches!(&expr, Expr::Value(v) if v.value == ast::Value::Null) {
                return Err(error(
                    Code::DatatypeMismatch,
                    format!("argument of CHECK constraint \"{}\" must be type boolean", check.name),
                ));
            }
        }
        Ok(())
    }
}

/// Whether an expression's text calls a function that changes a
/// sequence (`nextval`, `setval`).
fn draws_from_a_sequence(sql: &str) -> bool {
    let sql = sql.to_ascii_lowercase();
    sql.contains("nextval(") || sql.contains("setval(")
}

/// Whether a CHECK's value lets the row in: true or NULL does; a value
/// that is not a boolean is a 42804.
fn holds(check: &Check, value: &Literal) -> Result<bool> {
    match value {
        Literal::Bool(b) => Ok(*b),
        Literal::Null => Ok(true),
        _ => Err(error(
            Code::DatatypeMismatch,
            format!("argument of CHECK constraint \"{}\" must be type boolean", check.name),
        )),
    }
}

/// Whether an expression gives a new value at each call.
pub(super) fn volatile(expr: &Expr) -> bool {
    let text = expr.to_string().to_lowercase();
    ["random", "gen_random_uuid", "clock_timestamp", "nextval", "uuid"].iter().any(|f| text.contains(f))
}

/// `SELECT ctid, exprs... FROM <scratch> AS "<table>"`.
fn scratch_query(table: &str, exprs: &[Expr]) -> Statement {
    let mut statement = dml::shadow_statement(&Table::named(SCRATCH), Vec::new(), None);
    if let Statement::Query(query) = &mut statement
        && let SetExpr::Select(select) = query.body.as_mut()
    {
        let key = Expr::Identifier(ast::Ident::with_quote('"', crate::sql::plan::ROW_KEY));
        select.projection =
            std::iter::once(key).chain(exprs.iter().cloned()).map(SelectItem::UnnamedExpr).collect();
        if let Some(from) = select.from.first_mut()
            && let TableFactor::Table { alias, .. } = &mut from.relation
        {
            *alias = Some(dml::table_alias(ast::Ident::with_quote('"', table)));
        }
    }
    statement
}

/// The distinct column names an expression reads (bare, or the last part
/// of a qualified name), in the order first read.
pub(crate) fn columns_read(expr: &Expr) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let _ = ast::visit_expressions(expr, |e| {
        let name = match e {
            Expr::Identifier(id) => Some(ident(id)),
            Expr::CompoundIdentifier(parts) => parts.last().map(ident),
            _ => None,
        };
        if let Some(name) = name
            && !names.contains(&name)
        {
            names.push(name);
        }
        ControlFlow::<()>::Continue(())
    });
    names
}

/// A CHECK constraint of `table` from its declaration: the name given, or
/// PostgreSQL's choice (`<table>_<column>_check` when the expression reads
/// one column, else `<table>_check`, numbered past the names in `taken`).
/// The columns it reads must be `table`'s (42703).
pub(super) fn declare_check(
    table: &Table,
    name: Option<&ast::Ident>,
    expr: &Expr,
    taken: &BTreeSet<String>,
) -> Result<Check> {
    let read = columns_read(expr);
    if let Some(missing) = read.iter().find(|c| table.column(c).is_none()) {
        return Err(error(Code::UndefinedColumn, format!("column \"{missing}\" does not exist")));
    }
    let name = match name {
        Some(given) => {
            let given = ident(given);
            if taken.contains(&given) {
                return Err(error(
                    Code::DuplicateObject,
                    format!("constraint \"{given}\" for relation \"{}\" already exists", table.name),
                ));
            }
            given
        }
        None if read.len() == 1 => choose_name(&table.name, &read, "check", taken),
        None => choose_name(&table.name, &[], "check", taken),
    };
    Ok(Check { name, expr: expr.to_string(), oid: 0 })
}

/// The names of `table`'s constraints (and indexes), which a new
/// constraint's may not repeat.
pub(super) fn constraint_names(table: &Table) -> BTreeSet<String> {
    let mut taken: BTreeSet<String> = table.indexes.iter().map(|i| i.name.clone()).collect();
    taken.extend(table.foreign_keys.iter().map(|k| k.name.clone()));
    taken.extend(table.checks.iter().map(|c| c.name.clone()));
    if table.has_primary_key() {
        taken.insert(format!("{}_pkey", table.name));
    }
    taken
}

/// Adds `check` to `table`, keeping the checks in name order.
pub(super) fn add_check(table: &mut Table, check: Check) {
    let at = table.checks.partition_point(|c| c.name < check.name);
    table.checks.insert(at, check);
}

/// A generated column's expression, checked: it reads only `table`'s
/// other columns, none of them generated (42P17), as PostgreSQL requires.
pub(super) fn check_generation(table: &Table, column: &Column) -> Result<()> {
    let Some(sql) = &column.generated else { return Ok(()) };
    for name in columns_read(&parse_expr(sql)?) {
        match table.column(&name) {
            None => return Err(error(Code::UndefinedColumn, format!("column \"{name}\" does not exist"))),
            Some((_, read)) if read.generated.is_some() => {
                return Err(error(
                    Code::InvalidObjectDefinition,
                    format!("cannot use generated column \"{name}\" in column generation expression"),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `sql` with every column named `from` renamed `to` (RENAME COLUMN).
pub(super) fn rename_read(sql: &str, from: &str, to: &str) -> Result<String> {
    let mut expr = parse_expr(sql)?;
    let _ = ast::visit_expressions_mut(&mut expr, |e| {
        let id = match e {
            Expr::Identifier(id) => Some(id),
            Expr::CompoundIdentifier(parts) => parts.last_mut(),
            _ => None,
        };
        if let Some(id) = id
            && ident(id) == from
        {
            *id = ast::Ident::with_quote('"', to);
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(expr.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            columns: vec![Column::new("a", SqlType::Int4), Column::new("b", SqlType::Int4)],
            ..Table::named("t")
        }
    }

    fn declared(sql: &str, taken: &[&str]) -> Result<Check> {
        let taken = taken.iter().map(|s| s.to_string()).collect();
        declare_check(&table(), None, &parse_expr(sql)?, &taken)
    }

    #[test]
    fn checks_are_named_after_the_one_column_they_read() {
        assert_eq!(declared("a > 0", &[]).unwrap().name, "t_a_check");
        assert_eq!(declared("a > b", &[]).unwrap().name, "t_check");
        assert_eq!(declared("t.a > 0 AND a < 9", &[]).unwrap().name, "t_a_check");
        assert_eq!(declared("a > 0", &["t_a_check"]).unwrap().name, "t_a_check1");
        assert_eq!(declared("1 > 0", &["t_check", "t_check1"]).unwrap().name, "t_check2");
        assert_eq!(declared("c > 0", &[]).unwrap_err().code, Code::UndefinedColumn);
    }

    #[test]
    fn checks_keep_name_order_and_renames_reach_their_columns() {
        let mut t = table();
        for name in ["t_b_check", "t_a_check", "z"] {
            add_check(&mut t, Check { name: name.into(), expr: "true".into(), oid: 0 });
        }
        let names: Vec<&str> = t.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["t_a_check", "t_b_check", "z"]);
        assert_eq!(rename_read("a > t.a + b", "a", "x").unwrap(), "\"x\" > t.\"x\" + b");
    }

    #[test]
    fn generation_reads_plain_columns_only() {
        let mut t = table();
        t.columns.push(Column { generated: Some("a * 2".into()), ..Column::new("g", SqlType::Int4) });
        assert!(check_generation(&t, &t.columns[2]).is_ok());
        let reads_g = Column { generated: Some("g + 1".into()), ..Column::new("h", SqlType::Int4) };
        assert_eq!(check_generation(&t, &reads_g).unwrap_err().code, Code::InvalidObjectDefinition);
        let reads_c = Column { generated: Some("c + 1".into()), ..Column::new("h", SqlType::Int4) };
        assert_eq!(check_generation(&t, &reads_c).unwrap_err().code, Code::UndefinedColumn);
    }

    #[test]
    fn check_values_other_than_booleans_are_refused() {
        let check = Check { name: "c".into(), expr: "a".into(), oid: 0 };
        assert!(!holds(&check, &Literal::Bool(false)).unwrap());
        assert!(holds(&check, &Literal::Null).unwrap());
        assert_eq!(holds(&check, &Literal::Number("1".into())).unwrap_err().code, Code::DatatypeMismatch);
    }
}
