//! INSERT, UPDATE, DELETE and TRUNCATE: rows checked, locked and staged in
//! the transaction (by primary key directly; otherwise rows found by
//! DataFusion, then locked), and the helpers that read targets and keys out
//! of the statements.

use super::*;

impl<G: ActorGateway> Engine<G> {
    pub(super) async fn insert(&self, insert: ast::Insert, txn: &mut Txn) -> Result<Outcome> {
        let name = match &insert.table {
            TableObject::TableName(name) => object_name(name)?,
            other => return Err(unsupported(format_args!("INSERT INTO {other}"))),
        };
        let table = self.target(txn, &name).await?;
        let scope = insert.table_alias.as_ref().map_or_else(|| table.name.clone(), |a| ident(&a.alias));
        let on_conflict = conflict::on_conflict(&insert, &table)?;
        let targets = insert_targets(&table, &insert.columns)?;
        let Some(source) = insert.source.as_deref() else {
            return Err(unsupported("INSERT without VALUES or a query"));
        };
        let rows = match source.body.as_ref() {
            SetExpr::Values(values) if source.with.is_none() && constants_or_default(&values.rows) => {
                &values.rows
            }
            // A query, or VALUES computing something: DataFusion computes
            // the rows, seeing this transaction's writes.
            _ => {
                let planned = self.plan(Statement::Query(Box::new(source.clone())), txn).await?;
                check_width(planned.columns.len(), targets.len(), &insert.columns)?;
                let rows = self.planner.run(&planned, Arc::new(txn.writes.clone())).await?.rows;
                let prepared = rows
                    .into_iter()
                    .map(|row| {
                        let mut values: Vec<Option<Json>> = vec![None; table.columns.len()];
                        for (value, &index) in row.iter().zip(&targets) {
                            let column = &table.columns[index];
                            if always_generated(column) {
                                return Err(generated_always(column));
                            }
                            values[index] = Some(column.coerce(&json_literal(value))?);
                        }
                        Ok(values)
                    })
                    .collect::<Result<Vec<_>>>()?;
                let staged = self.stage_inserts(&table, prepared, &on_conflict, txn).await?;
                return self.finish_dml(&table, &scope, "INSERT 0", staged, insert.returning.as_deref());
            }
        };
        // Check every row before staging any.
        let mut prepared = Vec::with_capacity(rows.len());
        for exprs in rows {
            check_width(exprs.len(), targets.len(), &insert.columns)?;
            let mut values: Vec<Option<Json>> = vec![None; table.columns.len()];
            for (expr, &index) in exprs.iter().zip(&targets) {
                let column = &table.columns[index];
                values[index] = match expr {
                    // DEFAULT: filled below like an omitted column.
                    expr if is_default(expr) => None,
                    _ if always_generated(column) => return Err(generated_always(column)),
                    expr => Some(column.coerce(&constant(expr)?)?),
                };
            }
            prepared.push(values);
        }
        let staged = self.stage_inserts(&table, prepared, &on_conflict, txn).await?;
        self.finish_dml(&table, &scope, "INSERT 0", staged, insert.returning.as_deref())
    }

    /// Completes rows, then locks and stages each. A row whose key exists
    /// is a 23505, skipped, or updated, as `on_conflict` says. Returns the
    /// rows inserted and updated, in order.
    pub(super) async fn stage_inserts(
        &self,
        table: &Table,
        prepared: Vec<Vec<Option<Json>>>,
        on_conflict: &OnConflict,
        txn: &mut Txn,
    ) -> Result<Vec<Map<String, Json>>> {
        let rows = self.complete_rows(table, prepared).await?;
        self.check_rows(table, &rows).await?;
        let keys: Vec<Vec<u8>> = if table.primary_key.is_none() {
            // Rows of a table without a primary key get new hidden keys,
            // which nothing else can hold.
            self.next_rowids(table, rows.len()).await?.map(catalog::hidden_key).collect()
        } else {
            rows.iter().map(|row| row_key(table, row)).collect::<Result<_>>()?
        };
        let mut staged = Vec::with_capacity(rows.len());
        // Keys this statement inserted or updated: ON CONFLICT DO UPDATE
        // may not affect a row twice.
        let mut affected = HashSet::new();
        for (key, row) in keys.into_iter().zip(rows) {
            // The existing row the new one conflicts with, on the primary
            // key or on a unique index ON CONFLICT names.
            let mut conflict = None;
            if table.primary_key.is_some() {
                self.lock(txn, &table.name, &key).await?;
                if let Some(existing) = self.current(txn, table, &key).await? {
                    if !on_conflict.covers_key() {
                        return Err(duplicate(table, &row));
                    }
                    conflict = Some((key.clone(), existing));
                }
            }
            if conflict.is_none()
                && let Some(holder) =
                    self.arbiter_holder(txn, table, &on_conflict.arbiters(table), &key, &row).await?
            {
                self.lock(txn, &table.name, &holder).await?;
                conflict = self.current(txn, table, &holder).await?.map(|existing| (holder, existing));
            }
            let Some((existing_key, existing)) = conflict else {
                self.stage_row(txn, table, key.clone(), None, Some(row.clone())).await?;
                affected.insert(key);
                staged.push(row);
                continue;
            };
            match on_conflict {
                OnConflict::Fail => return Err(duplicate(table, &row)),
                OnConflict::Skip(_) => {}
                OnConflict::Update(update) => {
                    if affected.contains(&existing_key) {
                        return Err(error(
                            Code::CardinalityViolation,
                            "ON CONFLICT DO UPDATE command cannot affect row a second time",
                        ));
                    }
                    let updated = self
                        .conflict_update(txn, table, existing_key.clone(), existing, &row, update)
                        .await?;
                    if let Some(updated) = updated {
                        let key = if table.primary_key.is_some() {
                            row_key(table, &updated)?
                        } else {
                            existing_key
                        };
                        affected.insert(key);
                        staged.push(updated);
                    }
                }
            }
        }
        Ok(staged)
    }

    /// Rows as INSERT completes them: an omitted column or DEFAULT takes
    /// the column's default (or its sequence's next value); an explicit
    /// value (NULL included) stays; NULL in a NOT NULL column is a 23502.
    pub(super) async fn complete_rows(
        &self,
        table: &Table,
        prepared: Vec<Vec<Option<Json>>>,
    ) -> Result<Vec<Map<String, Json>>> {
        let mut rows = Vec::with_capacity(prepared.len());
        // The rows (by position) each column's DEFAULT is computed for
        // below: an expression Orbit does not evaluate, or a volatile one.
        let mut computed: Vec<Vec<usize>> = vec![Vec::new(); table.columns.len()];
        for values in prepared {
            let mut row = Map::new();
            for (i, (column, value)) in table.columns.iter().zip(values).enumerate() {
                let value = match value {
                    Some(v) => v,
                    // Set by `generate` below.
                    None if column.generated.is_some() => continue,
                    None if column.serial => self.next_serial(table, column).await?,
                    None => match &column.default_expr {
                        Some(sql) => {
                            let expr = parse_expr(sql)?;
                            match constant(&expr) {
                                Ok(literal) if !checks::volatile(&expr) => column.coerce(&literal)?,
                                _ => {
                                    computed[i].push(rows.len());
                                    continue;
                                }
                            }
                        }
                        None => column.default.clone().unwrap_or(Json::Null),
                    },
                };
                if value.is_null() {
                    check_not_null(table, column)?;
                    continue;
                }
                row.insert(column.name.clone(), value);
            }
            rows.push(row);
        }
        for (column, positions) in table.columns.iter().zip(computed) {
            if positions.is_empty() {
                continue;
            }
            for (position, value) in positions.iter().zip(self.default_values(column, positions.len()).await?)
            {
                if value.is_null() {
                    check_not_null(table, column)?;
                } else {
                    rows[*position].insert(column.name.clone(), value);
                }
            }
        }
        self.generate(table, &mut rows).await?;
        Ok(rows)
    }

    pub(super) async fn update(&self, update: ast::Update, txn: &mut Txn) -> Result<Outcome> {
        let (name, alias) = dml_table(&update.table)?;
        let table = self.target(txn, &name).await?;
        let scope = alias.as_ref().map_or_else(|| table.name.clone(), ident);
        let from = match update.from {
            None => Vec::new(),
            Some(ast::UpdateTableFromKind::AfterSet(from)) => from,
            Some(ast::UpdateTableFromKind::BeforeSet(_)) => {
                return Err(error(
                    Code::SyntaxError,
                    "syntax error at or near \"FROM\" (FROM goes after SET)",
                ));
            }
        };
        let returning = update.returning.as_deref();
        let sets = set_targets(&table, &update.assignments)?;
        if from.iter().all(|f| !names_table(f, &table.name)) {
            refuse_hidden_name(&table, alias.as_ref(), sets.iter().map(|(_, e)| e).chain(&update.selection))?;
        }
        // Fast path: one row by primary key, expressions Orbit evaluates.
        if let Some(value) = pk_equals(&table, update.selection.as_ref())
            && from.is_empty()
            && let Ok(literal) = literal(&value)
        {
            let Some(key) = pk_key(&table, &literal)? else {
                return self.finish_dml(&table, &scope, "UPDATE", Vec::new(), returning);
            };
            self.lock(txn, &table.name, &key).await?;
            let Some(row) = self.current(txn, &table, &key).await? else {
                return self.finish_dml(&table, &scope, "UPDATE", Vec::new(), returning);
            };
            let mut computed = Vec::with_capacity(sets.len());
            let row_scope = expr::Scope { table: &table, name: &scope, row: &row, excluded: None };
            for (index, expr) in &sets {
                match expr::eval_in(expr, &row_scope) {
                    Some(v) => computed.push((*index, v?.literal())),
                    None => break,
                }
            }
            if computed.len() == sets.len() {
                let updated = self.apply_update(txn, &table, key, row, computed).await?;
                return self.finish_dml(&table, &scope, "UPDATE", vec![updated], returning);
            }
        }
        // General path: DataFusion finds the rows (joined with FROM's) and
        // computes the values; the rows are locked first and the values
        // computed again, so they come from rows no one else can change.
        // A row FROM matches several times is updated once, as in
        // PostgreSQL (with one of the matches).
        let mut projection = vec![key_expr_in(&table, &scope)];
        projection.extend(sets.iter().map(|(_, e)| e.clone()));
        let statement = joined_statement(&table, alias, from, projection, update.selection);
        let rows = self.locked_matches(&table, statement, txn).await?;
        let mut updated = Vec::with_capacity(rows.len());
        let mut seen = HashSet::new();
        for values in rows {
            let key = key_from(&table, &values[0])?;
            if !seen.insert(key.clone()) {
                continue;
            }
            let Some(row) = self.current(txn, &table, &key).await? else { continue };
            let computed = sets.iter().zip(&values[1..]).map(|((i, _), v)| (*i, json_literal(v))).collect();
            updated.push(self.apply_update(txn, &table, key, row, computed).await?);
        }
        self.finish_dml(&table, &scope, "UPDATE", updated, returning)
    }

    /// TRUNCATE: every row of every table named is deleted in the
    /// transaction (so it commits or rolls back with it).
    pub(super) async fn truncate(&self, truncate: ast::Truncate, txn: &mut Txn) -> Result<Outcome> {
        if truncate.partitions.is_some() || truncate.identity == Some(ast::TruncateIdentityOption::Restart) {
            return Err(unsupported("TRUNCATE ... RESTART IDENTITY or PARTITION"));
        }
        let mut tables = Vec::with_capacity(truncate.table_names.len());
        for target in &truncate.table_names {
            let name = object_name(&target.name)?;
            // As PostgreSQL's ACCESS EXCLUSIVE lock: no commit writes the
            // table until this transaction ends, so the rows read are all.
            self.close_gate(txn, &name).await?;
            match self.schema(&txn.writes, &name).await? {
                Some(table) if !table.has_rows() => {
                    return Err(super::views::rowless(&table, "TRUNCATE"));
                }
                Some(table) => tables.push(table),
                None if truncate.if_exists => {}
                None => {
                    return Err(error(Code::UndefinedTable, format!("relation \"{name}\" does not exist")));
                }
            }
        }
        // Every table referring to one truncated must be truncated too
        // (CASCADE adds them), so no key is checked.
        let cascade = matches!(truncate.cascade, Some(ast::CascadeOption::Cascade));
        let mut i = 0;
        while i < tables.len() {
            for child in tables[i].referenced_by.clone() {
                if tables.iter().any(|t| t.name == child) {
                    continue;
                }
                if !cascade {
                    // PostgreSQL's refusal, with its SQLSTATE.
                    return Err(error(
                        Code::FeatureNotSupported,
                        format!(
                            "cannot truncate a table referenced in a foreign key constraint (table \"{child}\" references \"{}\"; truncate it too, or use TRUNCATE ... CASCADE)",
                            tables[i].name
                        ),
                    ));
                }
                self.close_gate(txn, &child).await?;
                if let Some(table) = self.schema(&txn.writes, &child).await? {
                    tables.push(table);
                }
            }
            i += 1;
        }
        for table in tables {
            for (key, row) in self.rows_seen(txn, &table).await? {
                self.lock(txn, &table.name, &key).await?;
                self.stage_checked(txn, &table, key, Some(&row), None, false).await?;
            }
        }
        Ok(Outcome::Done("TRUNCATE TABLE".into()))
    }

    /// Stages `row` with `computed` values set; a changed primary key moves
    /// the row. Returns the new row.
    pub(super) async fn apply_update(
        &self,
        txn: &mut Txn,
        table: &Table,
        key: Vec<u8>,
        mut row: Map<String, Json>,
        computed: Vec<(usize, Literal)>,
    ) -> Result<Map<String, Json>> {
        let keeps =
            !table.indexes.is_empty() || !table.foreign_keys.is_empty() || !table.referenced_by.is_empty();
        let old = keeps.then(|| row.clone());
        for (index, literal) in computed {
            let column = &table.columns[index];
            let value = column.coerce(&literal)?;
            if value.is_null() {
                check_not_null(table, column)?;
                row.remove(&column.name);
            } else {
                row.insert(column.name.clone(), value);
            }
        }
        self.generate(table, std::slice::from_mut(&mut row)).await?;
        self.check_rows(table, std::slice::from_ref(&row)).await?;
        let new_key = if table.primary_key.is_some() { row_key(table, &row)? } else { key.clone() };
        if new_key != key {
            self.lock(txn, &table.name, &new_key).await?;
            if self.current(txn, table, &new_key).await?.is_some() {
                return Err(duplicate(table, &row));
            }
            // A row moving to another key is one update to the rows
            // referring to it (ON UPDATE), not a delete and an insert.
            self.stage_checked(txn, table, key.clone(), old.as_ref(), None, false).await?;
            self.stage_checked(txn, table, new_key, None, Some(row.clone()), false).await?;
            let moved = Some(row.clone());
            self.enforce(txn, table, &key, old.as_ref(), &moved).await?;
        } else {
            self.stage_row(txn, table, new_key, old.as_ref(), Some(row.clone())).await?;
        }
        Ok(row)
    }

    pub(super) async fn delete(&self, delete: ast::Delete, txn: &mut Txn) -> Result<Outcome> {
        let tables = match &delete.from {
            FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
        };
        if !delete.tables.is_empty() {
            return Err(unsupported("DELETE from several tables"));
        }
        let [from] = tables.as_slice() else { return Err(unsupported("DELETE from several tables")) };
        let (name, alias) = dml_table(from)?;
        let table = self.target(txn, &name).await?;
        let scope = alias.as_ref().map_or_else(|| table.name.clone(), ident);
        let using = delete.using.unwrap_or_default();
        if using.iter().all(|f| !names_table(f, &table.name)) {
            refuse_hidden_name(&table, alias.as_ref(), &delete.selection)?;
        }
        let pinned = pk_equals(&table, delete.selection.as_ref()).filter(|_| using.is_empty());
        let keys: Vec<Vec<u8>> = match pinned.map(|v| literal(&v)) {
            Some(Ok(literal)) => pk_key(&table, &literal)?.into_iter().collect(),
            _ => {
                let projection = vec![key_expr_in(&table, &scope)];
                let statement = joined_statement(&table, alias, using, projection, delete.selection);
                let rows = self.locked_matches(&table, statement, txn).await?;
                rows.iter().map(|r| key_from(&table, &r[0])).collect::<Result<_>>()?
            }
        };
        let mut deleted = Vec::with_capacity(keys.len());
        for key in keys {
            self.lock(txn, &table.name, &key).await?;
            if let Some(row) = self.current(txn, &table, &key).await? {
                self.stage_row(txn, &table, key, Some(&row), None).await?;
                deleted.push(row);
            }
        }
        self.finish_dml(&table, &scope, "DELETE", deleted, delete.returning.as_deref())
    }

    /// The rows `statement` (a query whose first column is the key of a
    /// row of `table`) returns, their rows locked: DataFusion finds them,
    /// their locks are taken, and the query runs again until it matches no
    /// row it has not locked, so the values come from rows no one else can
    /// change.
    pub(super) async fn locked_matches(
        &self,
        table: &Table,
        statement: Statement,
        txn: &mut Txn,
    ) -> Result<Vec<Vec<Json>>> {
        let mut locked = std::collections::BTreeSet::new();
        // A statement drawing from a sequence finds and locks its rows
        // without drawing, then runs once more to draw once per row.
        let probe = crate::sql::plan::sequences::without_draws(&statement);
        loop {
            let rows = self.shadow_select(probe.clone().unwrap_or_else(|| statement.clone()), txn).await?;
            let mut fresh = false;
            for row in &rows {
                let key = key_from(table, &row[0])?;
                if locked.insert(key.clone()) {
                    self.lock(txn, &table.name, &key).await?;
                    fresh = true;
                }
            }
            if fresh {
                continue;
            }
            if probe.is_none() {
                return Ok(rows);
            }
            let rows = self.shadow_select(statement, txn).await?;
            for row in &rows {
                let key = key_from(table, &row[0])?;
                if locked.insert(key.clone()) {
                    self.lock(txn, &table.name, &key).await?;
                }
            }
            return Ok(rows);
        }
    }

    /// A query DML runs to find its rows, through DataFusion, seeing this
    /// transaction's writes (tables without a primary key show their
    /// hidden keys).
    pub(super) async fn shadow_select(&self, statement: Statement, txn: &Txn) -> Result<Vec<Vec<Json>>> {
        let writes = Arc::new(txn.writes.clone());
        let planned = self.planner.plan_keyed(statement, writes).await?;
        Ok(self.planner.run(&planned, Arc::new(txn.writes.clone())).await?.rows)
    }

    /// A DML statement's outcome: its tag and count, or its RETURNING rows.
    /// `scope` is what the statement calls the table (its name or alias).
    pub(super) fn finish_dml(
        &self,
        table: &Table,
        scope: &str,
        tag: &str,
        rows: Vec<Map<String, Json>>,
        returning: Option<&[SelectItem]>,
    ) -> Result<Outcome> {
        let Some(items) = returning else {
            return Ok(Outcome::Done(format!("{tag} {}", rows.len())));
        };
        let mut output: Vec<(String, Option<usize>, Option<&Expr>)> = Vec::new();
        for item in items {
            match item {
                SelectItem::Wildcard(_) => {
                    output.extend(
                        table.columns.iter().enumerate().map(|(i, c)| (c.name.clone(), Some(i), None)),
                    );
                }
                SelectItem::UnnamedExpr(expr) => output.push((output_name(expr), None, Some(expr))),
                SelectItem::ExprWithAlias { expr, alias } => output.push((ident(alias), None, Some(expr))),
                other => return Err(unsupported(format_args!("RETURNING {other}"))),
            }
        }
        let mut columns = Vec::with_capacity(output.len());
        let row_scope = |row| expr::Scope { table, name: scope, row, excluded: None };
        let first = rows.first().cloned().unwrap_or_default();
        for (name, index, expr) in &output {
            let sql_type = match (index, expr) {
                (Some(i), _) => table.columns[*i].sql_type,
                (None, Some(expr)) => match expr::eval_in(expr, &row_scope(&first)) {
                    Some(Ok(v)) => val_type(&v, expr, table),
                    Some(Err(e)) => return Err(e),
                    None => return Err(unsupported(format_args!("RETURNING {expr}"))),
                },
                (None, None) => SqlType::Text,
            };
            columns.push((name.clone(), sql_type));
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut values = Vec::with_capacity(output.len());
            for ((_, index, expr), (_, sql_type)) in output.iter().zip(&columns) {
                values.push(match (index, expr) {
                    (Some(i), _) => row.get(&table.columns[*i].name).cloned().unwrap_or(Json::Null),
                    (None, Some(expr)) => match expr::eval_in(expr, &row_scope(row)) {
                        Some(v) => types::coerce(*sql_type, &v?.literal())?,
                        None => return Err(unsupported(format_args!("RETURNING {expr}"))),
                    },
                    (None, None) => Json::Null,
                });
            }
            out.push(values);
        }
        Ok(Outcome::Rows(Rows { columns, rows: out }, tag.to_string()))
    }
}

/// The columns an UPDATE's (or ON CONFLICT DO UPDATE's) SET assigns, and
/// their expressions.
pub(super) fn set_targets(table: &Table, assignments: &[Assignment]) -> Result<Vec<(usize, Expr)>> {
    let mut sets: Vec<(usize, Expr)> = Vec::with_capacity(assignments.len());
    for Assignment { target, value } in assignments {
        let AssignmentTarget::ColumnName(name) = target else {
            return Err(unsupported("a tuple of columns in UPDATE ... SET"));
        };
        let column = object_name(name)?;
        let (index, found) = table.column(&column).ok_or_else(|| {
            error(
                Code::UndefinedColumn,
                format!("column \"{column}\" of relation \"{}\" does not exist", table.name),
            )
        })?;
        if sets.iter().any(|(i, _)| *i == index) {
            return Err(error(
                Code::SyntaxError,
                format!("multiple assignments to same column \"{column}\""),
            ));
        }
        if always_generated(found) && !is_default(value) {
            return Err(error(
                Code::GeneratedAlways,
                format!("column \"{column}\" can only be updated to DEFAULT"),
            ));
        }
        // A generated column is computed again whatever the SET.
        if found.generated.is_some() {
            continue;
        }
        sets.push((index, value.clone()));
    }
    Ok(sets)
}

/// Whether an expression is the keyword DEFAULT (a column's default).
/// Whether every expression of VALUES is a constant, DEFAULT or an array
/// literal (so the rows need no evaluation, and an array literal Orbit
/// refuses, of several dimensions, is refused as such).
fn constants_or_default(rows: &[impl std::ops::Deref<Target = Vec<Expr>>]) -> bool {
    rows.iter()
        .flat_map(|row| row.iter())
        .all(|e| is_default(e) || matches!(e, Expr::Array(_)) || constant(e).is_ok())
}

/// An INSERT row of `width` values for `targets` columns (`columns` as
/// listed, empty without a list): too many values are an error; too few
/// leave the remaining columns to their defaults only without a list, as
/// in PostgreSQL.
fn check_width(width: usize, targets: usize, columns: &[ObjectName]) -> Result<()> {
    if width > targets {
        return Err(error(Code::SyntaxError, "INSERT has more expressions than target columns"));
    }
    if width < targets && !columns.is_empty() {
        return Err(error(Code::SyntaxError, "INSERT has more target columns than expressions"));
    }
    Ok(())
}

/// Whether a column takes no value but its own: an identity column
/// `GENERATED ALWAYS`, or a generated column.
fn always_generated(column: &Column) -> bool {
    column.identity == Some(Identity::Always) || column.generated.is_some()
}

fn generated_always(column: &Column) -> SqlError {
    error(Code::GeneratedAlways, format!("cannot insert a non-DEFAULT value into column \"{}\"", column.name))
}

pub(super) fn is_default(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(id) if id.quote_style.is_none() && ident(id) == "default")
}

/// The columns an INSERT fills, in order.
pub(crate) fn insert_targets(table: &Table, columns: &[ObjectName]) -> Result<Vec<usize>> {
    if columns.is_empty() {
        return Ok((0..table.columns.len()).collect());
    }
    let mut targets = Vec::new();
    for column in columns {
        let name = object_name(column)?;
        let (index, _) = table.column(&name).ok_or_else(|| {
            error(
                Code::UndefinedColumn,
                format!("column \"{name}\" of relation \"{}\" does not exist", table.name),
            )
        })?;
        if targets.contains(&index) {
            return Err(error(Code::DuplicateColumn, format!("column \"{name}\" specified more than once")));
        }
        targets.push(index);
    }
    Ok(targets)
}

pub(super) fn check_not_null(table: &Table, column: &Column) -> Result<()> {
    if column.not_null {
        return Err(error(
            Code::NotNullViolation,
            format!(
                "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                column.name, table.name
            ),
        ));
    }
    Ok(())
}

/// The stored key of a primary-key value: `None` for NULL.
pub(super) fn pk_key(table: &Table, literal: &Literal) -> Result<Option<Vec<u8>>> {
    let pk =
        table.pk().ok_or_else(|| error(Code::Internal, format!("\"{}\" has no primary key", table.name)))?;
    Ok(types::key_of(&pk.coerce(literal)?))
}

/// The stored key of a row of a table with a primary key.
pub(super) fn row_key(table: &Table, row: &Map<String, Json>) -> Result<Vec<u8>> {
    let pk =
        table.pk().ok_or_else(|| error(Code::Internal, format!("\"{}\" has no primary key", table.name)))?;
    row.get(&pk.name)
        .and_then(types::key_of)
        .ok_or_else(|| error(Code::Internal, format!("the primary key \"{}\" has no stored form", pk.name)))
}

/// The stored key of a row from the key DataFusion returned for it
/// ([`key_expr`]): the primary key's value, or the hidden key itself.
pub(super) fn key_from(table: &Table, value: &Json) -> Result<Vec<u8>> {
    match table.pk() {
        Some(pk) => types::key_of(&pk.coerce(&json_literal(value))?)
            .ok_or_else(|| error(Code::Internal, "a row without a primary key")),
        None => value
            .as_str()
            .map(|k| k.as_bytes().to_vec())
            .ok_or_else(|| error(Code::Internal, "a row without a key")),
    }
}

pub(super) fn json_literal(value: &Json) -> Literal {
    match value {
        Json::Null => Literal::Null,
        Json::Bool(b) => Literal::Bool(*b),
        Json::Number(n) => Literal::Number(n.to_string()),
        Json::String(s) => Literal::String(s.clone()),
        // An array (DataFusion's list) as PostgreSQL's text form.
        Json::Array(items) => Literal::String(crate::sql::types::array::format(SqlType::Text, items)),
        other => Literal::String(other.to_string()),
    }
}

pub(super) fn duplicate(table: &Table, row: &Map<String, Json>) -> SqlError {
    let Some(pk) = table.pk() else { return error(Code::UniqueViolation, "duplicate key value") };
    let value = row.get(&pk.name).and_then(|v| types::text_of(pk.sql_type, v)).unwrap_or_default();
    error(
        Code::UniqueViolation,
        format!(
            "duplicate key value violates unique constraint \"{}_pkey\" (Key ({})=({value}) already exists.)",
            table.name, pk.name
        ),
    )
}

/// The value `selection` pins the primary key to (`pk = value`).
pub(super) fn pk_equals(table: &Table, selection: Option<&Expr>) -> Option<Expr> {
    let Some(Expr::BinaryOp { left, op: ast::BinaryOperator::Eq, right }) = selection else { return None };
    let (column, value) = match (left.as_ref(), right.as_ref()) {
        (Expr::Identifier(id), value) if !matches!(value, Expr::Identifier(_)) => (id, value),
        (value, Expr::Identifier(id)) if !matches!(value, Expr::Identifier(_)) => (id, value),
        _ => return None,
    };
    (Some(table.column(&ident(column))?.0) == table.primary_key).then(|| value.clone())
}

/// What identifies a row in a query: its primary key, or the hidden key
/// the planner shows as `ctid` when asked ([`Planner::plan_keyed`]).
pub(super) fn key_expr(table: &Table) -> Expr {
    let name = table.pk().map_or(crate::sql::plan::ROW_KEY, |pk| pk.name.as_str());
    Expr::Identifier(ast::Ident::with_quote('"', name))
}

/// [`key_expr`] qualified by what the query calls the table (`scope`).
pub(super) fn key_expr_in(table: &Table, scope: &str) -> Expr {
    let name = table.pk().map_or(crate::sql::plan::ROW_KEY, |pk| pk.name.as_str());
    Expr::CompoundIdentifier(vec![ast::Ident::with_quote('"', scope), ast::Ident::with_quote('"', name)])
}

/// `SELECT projection FROM "table" WHERE selection`.
pub(crate) fn shadow_statement(table: &Table, projection: Vec<Expr>, selection: Option<Expr>) -> Statement {
    joined_statement(table, None, Vec::new(), projection, selection)
}

/// `SELECT projection FROM "table" [AS alias] [, from...] WHERE selection`:
/// the rows of an UPDATE ... FROM or a DELETE ... USING.
pub(crate) fn joined_statement(
    table: &Table,
    alias: Option<ast::Ident>,
    from: Vec<TableWithJoins>,
    projection: Vec<Expr>,
    selection: Option<Expr>,
) -> Statement {
    let sql = format!("SELECT 1 FROM \"{}\"", table.name.replace('"', "\"\""));
    let mut statement = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, &sql)
        .ok()
        .and_then(|mut s| s.pop())
        .unwrap_or(Statement::Commit { chain: false, end: false, modifier: None });
    if let Statement::Query(query) = &mut statement
        && let SetExpr::Select(select) = query.body.as_mut()
    {
        select.projection = projection.into_iter().map(SelectItem::UnnamedExpr).collect();
        select.selection = selection;
        if let Some(TableFactor::Table { alias: slot, .. }) = select.from.first_mut().map(|f| &mut f.relation)
        {
            *slot = alias.map(table_alias);
        }
        select.from.extend(from);
    }
    statement
}

/// 42P01 when a statement that calls its table by an alias names it by
/// its table name in `exprs` (PostgreSQL's rule: the alias hides the name).
pub(super) fn refuse_hidden_name<'a>(
    table: &Table,
    alias: Option<&ast::Ident>,
    exprs: impl IntoIterator<Item = &'a Expr>,
) -> Result<()> {
    if alias.is_none_or(|a| ident(a) == table.name) {
        return Ok(());
    }
    let mut hidden = false;
    for expr in exprs {
        let _ = ast::visit_expressions(expr, |e| {
            if let Expr::CompoundIdentifier(parts) = e
                && parts.len() == 2
                && ident(&parts[0]) == table.name
            {
                hidden = true;
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
    if hidden {
        return Err(error(
            Code::UndefinedTable,
            format!("invalid reference to FROM-clause entry for table \"{}\"", table.name),
        ));
    }
    Ok(())
}

/// Whether a FROM item reads table `name` under that name.
fn names_table(from: &TableWithJoins, name: &str) -> bool {
    std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation)).any(|r| match r {
        TableFactor::Table { name: n, alias, .. } => match alias {
            Some(a) => ident(&a.name) == name,
            None => object_name(n).is_ok_and(|n| n == name),
        },
        _ => false,
    })
}

/// `AS name`.
pub(super) fn table_alias(name: ast::Ident) -> ast::TableAlias {
    ast::TableAlias { explicit: true, at: None, name, columns: Vec::new() }
}

/// The table an UPDATE or DELETE writes, and its alias if given.
pub(super) fn dml_table(from: &TableWithJoins) -> Result<(String, Option<ast::Ident>)> {
    if !from.joins.is_empty() {
        return Err(unsupported("joins in UPDATE or DELETE (name the other tables in FROM or USING)"));
    }
    match &from.relation {
        TableFactor::Table { name, alias, .. } => {
            if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
                return Err(unsupported("column aliases in UPDATE or DELETE"));
            }
            Ok((object_name(name)?, alias.as_ref().map(|a| a.name.clone())))
        }
        other => Err(unsupported(format_args!("\"{other}\" in UPDATE or DELETE"))),
    }
}

pub(super) fn output_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(id) => ident(id),
        Expr::CompoundIdentifier(parts) if !parts.is_empty() => parts.last().map(ident).unwrap_or_default(),
        _ => "?column?".into(),
    }
}

pub(super) fn val_type(v: &Val, expr: &Expr, table: &Table) -> SqlType {
    if let Expr::Identifier(id) = expr
        && let Some((_, c)) = table.column(&ident(id))
    {
        return c.sql_type;
    }
    match v {
        Val::Bool(_) => SqlType::Bool,
        Val::Int(_) => SqlType::Int8,
        Val::Float(_) => SqlType::Float8,
        Val::Null | Val::Text(_) => SqlType::Text,
        Val::Typed(t, _) => *t,
    }
}
