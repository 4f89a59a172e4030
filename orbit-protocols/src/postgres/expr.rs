//! The expressions Orbit evaluates itself, on one row, on the fast paths
//! (`UPDATE t SET n = n + 1 WHERE pk = 7`): columns, constants, arithmetic
//! and `||`. Anything else is left to DataFusion ([`eval`] returns `None`).

use super::catalog::{Literal, SqlType, Table};
use super::sql::{SqlError, error, ident};
use serde_json::{Map, Value as Json};
use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value};

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Val {
    /// A stored value of a column of `sql_type`.
    pub fn of(sql_type: SqlType, value: Option<&Json>) -> Val {
        match (sql_type, value) {
            (_, None | Some(Json::Null)) => Val::Null,
            (SqlType::Bool, Some(v)) => v.as_bool().map_or(Val::Null, Val::Bool),
            (SqlType::Int2 | SqlType::Int4 | SqlType::Int8, Some(v)) => {
                v.as_i64().map_or(Val::Null, Val::Int)
            }
            (SqlType::Float4 | SqlType::Float8, Some(v)) => v.as_f64().map_or(Val::Null, Val::Float),
            (_, Some(v)) => Val::Text(v.as_str().map_or_else(|| v.to_string(), str::to_string)),
        }
    }

    /// As a literal, to coerce into a column.
    pub fn literal(self) -> Literal {
        match self {
            Val::Null => Literal::Null,
            Val::Bool(b) => Literal::Bool(b),
            Val::Int(n) => Literal::Number(n.to_string()),
            Val::Float(f) => Literal::Number(f.to_string()),
            Val::Text(s) => Literal::String(s),
        }
    }
}

/// Evaluates `expr` on `row` of `table`; `None` when the expression is not
/// one Orbit evaluates itself.
pub(crate) fn eval(expr: &Expr, table: &Table, row: &Map<String, Json>) -> Option<Result<Val, SqlError>> {
    Some(match expr {
        Expr::Identifier(id) => {
            let name = ident(id);
            let (_, column) = table.column(&name)?;
            Ok(Val::of(column.sql_type, row.get(&name)))
        }
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => {
                Ok(n.parse::<i64>().map(Val::Int).or_else(|_| n.parse::<f64>().map(Val::Float)).ok()?)
            }
            Value::SingleQuotedString(s) => Ok(Val::Text(s.clone())),
            Value::Boolean(b) => Ok(Val::Bool(*b)),
            Value::Null => Ok(Val::Null),
            _ => return None,
        },
        Expr::Nested(inner) => return eval(inner, table, row),
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match eval(expr, table, row)? {
            Ok(Val::Int(n)) => n.checked_neg().map(Val::Int).ok_or_else(out_of_range),
            Ok(Val::Float(f)) => Ok(Val::Float(-f)),
            Ok(Val::Null) => Ok(Val::Null),
            Ok(_) => return None,
            Err(e) => Err(e),
        },
        Expr::UnaryOp { op: UnaryOperator::Plus, expr } => return eval(expr, table, row),
        Expr::BinaryOp { left, op, right } => {
            let l = match eval(left, table, row)? {
                Ok(v) => v,
                Err(e) => return Some(Err(e)),
            };
            let r = match eval(right, table, row)? {
                Ok(v) => v,
                Err(e) => return Some(Err(e)),
            };
            return binary(l, op, r);
        }
        _ => return None,
    })
}

fn out_of_range() -> SqlError {
    error("22003", "integer out of range")
}

fn binary(l: Val, op: &BinaryOperator, r: Val) -> Option<Result<Val, SqlError>> {
    use BinaryOperator as B;
    Some(match (l, op, r) {
        (Val::Null, _, _) | (_, _, Val::Null) if is_arithmetic(op) => Ok(Val::Null),
        (Val::Int(a), op, Val::Int(b)) => match op {
            B::Plus => a.checked_add(b).map(Val::Int).ok_or_else(out_of_range),
            B::Minus => a.checked_sub(b).map(Val::Int).ok_or_else(out_of_range),
            B::Multiply => a.checked_mul(b).map(Val::Int).ok_or_else(out_of_range),
            B::Divide | B::Modulo if b == 0 => Err(error("22012", "division by zero")),
            B::Divide => a.checked_div(b).map(Val::Int).ok_or_else(out_of_range),
            B::Modulo => a.checked_rem(b).map(Val::Int).ok_or_else(out_of_range),
            _ => return None,
        },
        (a @ (Val::Int(_) | Val::Float(_)), op, b @ (Val::Int(_) | Val::Float(_))) => {
            let (a, b) = (float(&a), float(&b));
            match op {
                B::Plus => Ok(Val::Float(a + b)),
                B::Minus => Ok(Val::Float(a - b)),
                B::Multiply => Ok(Val::Float(a * b)),
                B::Divide if b == 0.0 => Err(error("22012", "division by zero")),
                B::Divide => Ok(Val::Float(a / b)),
                _ => return None,
            }
        }
        (Val::Text(a), B::StringConcat, Val::Text(b)) => Ok(Val::Text(a + &b)),
        _ => return None,
    })
}

fn is_arithmetic(op: &BinaryOperator) -> bool {
    use BinaryOperator as B;
    matches!(op, B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo | B::StringConcat)
}

fn float(v: &Val) -> f64 {
    match v {
        Val::Int(n) => *n as f64,
        Val::Float(f) => *f,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::catalog::Column;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    fn table() -> Table {
        let column = |name: &str, sql_type| Column {
            name: name.into(),
            sql_type,
            not_null: false,
            default: None,
            serial: false,
            length: None,
            default_expr: None,
        };
        Table {
            name: "t".into(),
            columns: vec![
                column("id", SqlType::Int4),
                column("n", SqlType::Int8),
                column("s", SqlType::Text),
            ],
            primary_key: Some(0),
            oid: 0,
        }
    }

    fn run(sql: &str) -> Option<Result<Val, SqlError>> {
        let expr = Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).unwrap().parse_expr().unwrap();
        let row = serde_json::json!({"id": 1, "n": 10, "s": "a"});
        eval(&expr, &table(), row.as_object().unwrap())
    }

    #[test]
    fn arithmetic_on_columns_and_constants() {
        assert_eq!(run("n + 5").unwrap().unwrap(), Val::Int(15));
        assert_eq!(run("-(n * 2) - 1").unwrap().unwrap(), Val::Int(-21));
        assert_eq!(run("n / 4").unwrap().unwrap(), Val::Int(2));
        assert_eq!(run("n + 0.5").unwrap().unwrap(), Val::Float(10.5));
        assert_eq!(run("s || 'b'").unwrap().unwrap(), Val::Text("ab".into()));
        assert_eq!(run("n + NULL").unwrap().unwrap(), Val::Null);
        assert_eq!(run("n / 0").unwrap().unwrap_err().code, "22012");
        assert_eq!(run("9223372036854775807 + n").unwrap().unwrap_err().code, "22003");
    }

    #[test]
    fn anything_else_is_left_to_the_engine() {
        assert!(run("abs(n)").is_none());
        assert!(run("missing + 1").is_none());
        assert!(run("n > 1").is_none());
    }
}
