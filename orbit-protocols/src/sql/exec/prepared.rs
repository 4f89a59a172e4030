//! SQL-level `PREPARE name [(types)] AS statement`, `EXECUTE name
//! [(values)]` and `DEALLOCATE [PREPARE] name | ALL`: a session's named
//! statements, kept outside transactions as PostgreSQL keeps them.
//! EXECUTE binds its values in place of `$n` (cast to the declared type,
//! where one is declared) and runs the statement as if sent so.

use super::*;
use std::collections::HashMap;

/// A session's prepared statements, by name.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    statements: HashMap<String, (Statement, Vec<ast::DataType>)>,
}

impl Prepared {
    pub fn prepare(
        &mut self,
        name: &ast::Ident,
        types: Vec<ast::DataType>,
        statement: Statement,
    ) -> Result<Outcome> {
        let name = ident(name);
        if !matches!(
            statement,
            Statement::Query(_) | Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)
        ) {
            return Err(error(
                Code::SyntaxError,
                format!(
                    "PREPARE takes SELECT, VALUES, INSERT, UPDATE or DELETE, not \"{}\"",
                    first_words(&statement.to_string())
                ),
            ));
        }
        if self.statements.contains_key(&name) {
            return Err(error(
                Code::DuplicatePreparedStatement,
                format!("prepared statement \"{name}\" already exists"),
            ));
        }
        self.statements.insert(name, (statement, types));
        Ok(Outcome::Done("PREPARE".into()))
    }

    pub fn deallocate(&mut self, name: &ast::Ident) -> Result<Outcome> {
        if name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all") {
            self.statements.clear();
            return Ok(Outcome::Done("DEALLOCATE ALL".into()));
        }
        let name = ident(name);
        match self.statements.remove(&name) {
            Some(_) => Ok(Outcome::Done("DEALLOCATE".into())),
            None => Err(undefined(&name)),
        }
    }

    /// The statement `name` names with `values` (constants) in place of
    /// its `$n`.
    pub fn bind(&self, name: &ObjectName, values: &[Literal]) -> Result<Statement> {
        let name = object_name(name)?;
        let Some((statement, types)) = self.statements.get(&name) else { return Err(undefined(&name)) };
        let mut statement = statement.clone();
        let mut wanted = types.len();
        let _ = ast::visit_expressions(&statement, |expr| {
            if let Some(n) = placeholder(expr) {
                wanted = wanted.max(n);
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        if values.len() != wanted {
            return Err(error(
                Code::SyntaxError,
                format!(
                    "wrong number of parameters for prepared statement \"{name}\": expected {wanted}, got {}",
                    values.len()
                ),
            ));
        }
        let _ = ast::visit_expressions_mut(&mut statement, |expr| {
            if let Some(n) = placeholder(expr) {
                let value = crate::sql::parse::literal_expr(values[n - 1].clone());
                *expr = match types.get(n - 1) {
                    Some(data_type) => Expr::Cast {
                        kind: ast::CastKind::Cast,
                        expr: Box::new(value),
                        data_type: data_type.clone(),
                        array: false,
                        format: None,
                    },
                    None => Expr::Nested(Box::new(value)),
                };
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        Ok(statement)
    }
}

impl<G: ActorGateway> Engine<G> {
    /// EXECUTE's values, each computed once (as PostgreSQL computes a
    /// parameter), over the transaction's writes.
    pub(super) async fn execute_values(&self, values: &[Expr], writes: Arc<Writes>) -> Result<Vec<Literal>> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = values.iter().map(ToString::to_string).collect();
        let query = crate::sql::parse::parse(&format!("SELECT {}", list.join(", ")))?.remove(0);
        let planned = self.planner.plan(query, writes.clone()).await?;
        let rows = self.planner.run(&planned, writes).await?;
        let row = rows.rows.into_iter().next().unwrap_or_default();
        Ok(row.iter().map(dml::json_literal).collect())
    }
}

fn undefined(name: &str) -> SqlError {
    error(Code::UndefinedPreparedStatement, format!("prepared statement \"{name}\" does not exist"))
}
