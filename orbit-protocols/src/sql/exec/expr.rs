//! The expressions Orbit evaluates itself, on one row, on the fast paths
//! (`UPDATE t SET n = n + 1 WHERE pk = 7`) and in `ON CONFLICT DO UPDATE`:
//! columns (`n`, `t.n`, `excluded.n`), constants, arithmetic, `||`,
//! comparisons, `AND`/`OR`/`NOT`, `IS [NOT] NULL` and `IS [NOT] DISTINCT
//! FROM`. Anything else is left to DataFusion ([`eval`] returns `None`).

use crate::sql::catalog::Table;
use crate::sql::error::Code;
use crate::sql::error::{SqlError, error};
use crate::sql::parse::ident;
use crate::sql::types;
use crate::sql::types::numeric::Decimal;
use crate::sql::types::{Literal, SqlType};
use serde_json::{Map, Value as Json};
use sqlparser::ast::{BinaryOperator, Expr, Ident, UnaryOperator, Value};
use std::cmp::Ordering;
use std::ops::ControlFlow;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// A value of a type stored as its canonical text (dates, timestamps,
    /// jsonb): compared only with values of its own type.
    Typed(SqlType, String),
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
            // An array as its text form, which the column parses back.
            (t, Some(Json::Array(items))) if t.element().is_some() => {
                Val::Typed(t, crate::sql::types::array::format(t.element().unwrap_or(SqlType::Text), items))
            }
            (t, Some(v)) => {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                if t.is_text() { Val::Text(text) } else { Val::Typed(t, text) }
            }
        }
    }

    /// As a literal, to coerce into a column.
    pub fn literal(self) -> Literal {
        match self {
            Val::Null => Literal::Null,
            // A numeric rounds into an integer column, as a number does.
            Val::Typed(SqlType::Numeric, n) => Literal::Number(n),
            Val::Bool(b) => Literal::Bool(b),
            Val::Int(n) => Literal::Number(n.to_string()),
            Val::Float(f) => Literal::Number(f.to_string()),
            Val::Text(s) | Val::Typed(_, s) => Literal::String(s),
        }
    }
}

/// The rows an expression reads: the target row of `table`, which the
/// statement calls `name` (the table's name or alias), and in `ON CONFLICT
/// DO UPDATE` the row proposed for insertion, `excluded`.
pub(crate) struct Scope<'a> {
    pub table: &'a Table,
    pub name: &'a str,
    pub row: &'a Map<String, Json>,
    pub excluded: Option<&'a Map<String, Json>>,
}

/// Evaluates `expr` on `row` of `table`; `None` when the expression is not
/// one Orbit evaluates itself.
pub(crate) fn eval(expr: &Expr, table: &Table, row: &Map<String, Json>) -> Option<Result<Val, SqlError>> {
    eval_in(expr, &Scope { table, name: &table.name, row, excluded: None })
}

/// Evaluates `expr` over the rows of `scope`; `None` when the expression
/// is not one Orbit evaluates itself (or names a column `scope` lacks).
pub(crate) fn eval_in(expr: &Expr, scope: &Scope) -> Option<Result<Val, SqlError>> {
    Some(match expr {
        Expr::Identifier(id) => Ok(column(scope, std::slice::from_ref(id))?),
        Expr::CompoundIdentifier(parts) => Ok(column(scope, parts)?),
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Ok(number(n)?),
            Value::SingleQuotedString(s) => Ok(Val::Text(s.clone())),
            Value::Boolean(b) => Ok(Val::Bool(*b)),
            Value::Null => Ok(Val::Null),
            _ => return None,
        },
        Expr::Nested(inner) => return eval_in(inner, scope),
        Expr::UnaryOp { op, expr } => return unary(*op, eval_in(expr, scope)?),
        Expr::IsNull(inner) => eval_in(inner, scope)?.map(|v| Val::Bool(v == Val::Null)),
        Expr::IsNotNull(inner) => eval_in(inner, scope)?.map(|v| Val::Bool(v != Val::Null)),
        Expr::IsDistinctFrom(l, r) | Expr::IsNotDistinctFrom(l, r) => {
            let (l, r) = match (eval_in(l, scope)?, eval_in(r, scope)?) {
                (Ok(l), Ok(r)) => (l, r),
                (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
            };
            // NULL is not distinct from NULL only.
            let same = if l == Val::Null || r == Val::Null {
                l == r
            } else {
                match compare(l, &BinaryOperator::Eq, r)? {
                    Ok(v) => v == Val::Bool(true),
                    Err(e) => return Some(Err(e)),
                }
            };
            Ok(Val::Bool(same == matches!(expr, Expr::IsNotDistinctFrom(..))))
        }
        Expr::BinaryOp { left, op, right } => {
            let l = match eval_in(left, scope)? {
                Ok(v) => v,
                Err(e) => return Some(Err(e)),
            };
            // As PostgreSQL: a side that decides AND or OR spares the other
            // (`b = 0 OR a / b > 1` divides only when b is not 0).
            match (op, &l) {
                (BinaryOperator::And, Val::Bool(false)) | (BinaryOperator::Or, Val::Bool(true)) => {
                    return Some(Ok(l));
                }
                _ => {}
            }
            let r = match eval_in(right, scope)? {
                Ok(v) => v,
                Err(e) => return Some(Err(e)),
            };
            return binary(l, op, r);
        }
        _ => return None,
    })
}

/// A number constant: an integer, a double when the double is exactly the
/// number written, else the exact numeric (which columns read exactly and
/// arithmetic leaves to DataFusion).
fn number(text: &str) -> Option<Val> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(Val::Int(n));
    }
    let f: f64 = text.parse().ok()?;
    let exact = |t: &str| Decimal::parse(t).map(Decimal::trimmed);
    Some(if exact(&f.to_string()) == exact(text) {
        Val::Float(f)
    } else {
        Val::Typed(SqlType::Numeric, text.to_string())
    })
}

/// A column reference: `c` or `<name>.c` reads the target row,
/// `excluded.c` the proposed one.
fn column(scope: &Scope, parts: &[Ident]) -> Option<Val> {
    let (row, name) = match parts {
        [c] => (scope.row, ident(c)),
        [q, c] if ident(q) == scope.name => (scope.row, ident(c)),
        [q, c] if ident(q) == "excluded" => (scope.excluded?, ident(c)),
        _ => return None,
    };
    let (_, column) = scope.table.column(&name)?;
    Some(Val::of(column.sql_type, row.get(&name)))
}

/// PostgreSQL's error for the first column reference in `expr` that
/// `scope` cannot resolve, if there is one (why [`eval_in`] gave up).
pub(crate) fn unresolved(expr: &Expr, scope: &Scope) -> Option<SqlError> {
    let mut found = None;
    let _ = sqlparser::ast::visit_expressions(expr, |e| {
        let parts = match e {
            Expr::Identifier(id) => std::slice::from_ref(id),
            Expr::CompoundIdentifier(parts) => parts.as_slice(),
            _ => return ControlFlow::Continue(()),
        };
        if column(scope, parts).is_none() {
            found = Some(unresolved_error(scope, parts));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    found
}

fn unresolved_error(scope: &Scope, parts: &[Ident]) -> SqlError {
    let names: Vec<String> = parts.iter().map(ident).collect();
    match names.as_slice() {
        [q, _] if *q != scope.name && (q != "excluded" || scope.excluded.is_none()) => {
            error(Code::UndefinedTable, format!("missing FROM-clause entry for table \"{q}\""))
        }
        [c] => error(Code::UndefinedColumn, format!("column \"{c}\" does not exist")),
        _ => error(Code::UndefinedColumn, format!("column {} does not exist", names.join("."))),
    }
}

fn out_of_range() -> SqlError {
    error(Code::NumericValueOutOfRange, "integer out of range")
}

fn unary(op: UnaryOperator, value: Result<Val, SqlError>) -> Option<Result<Val, SqlError>> {
    Some(match (op, value) {
        (_, Err(e)) => Err(e),
        (UnaryOperator::Plus, Ok(v @ (Val::Int(_) | Val::Float(_) | Val::Null))) => Ok(v),
        (UnaryOperator::Minus, Ok(Val::Int(n))) => n.checked_neg().map(Val::Int).ok_or_else(out_of_range),
        (UnaryOperator::Minus, Ok(Val::Float(f))) => Ok(Val::Float(-f)),
        (UnaryOperator::Minus | UnaryOperator::Not, Ok(Val::Null)) => Ok(Val::Null),
        (UnaryOperator::Not, Ok(Val::Bool(b))) => Ok(Val::Bool(!b)),
        _ => return None,
    })
}

fn binary(l: Val, op: &BinaryOperator, r: Val) -> Option<Result<Val, SqlError>> {
    use BinaryOperator as B;
    match op {
        B::And | B::Or => logic(l, op, r).map(Ok),
        B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq => compare(l, op, r),
        _ => arithmetic(l, op, r),
    }
}

/// AND and OR in SQL's three-valued logic.
fn logic(l: Val, op: &BinaryOperator, r: Val) -> Option<Val> {
    let truth = |v: &Val| match v {
        Val::Bool(b) => Some(Some(*b)),
        Val::Null => Some(None),
        _ => None,
    };
    let (l, r) = (truth(&l)?, truth(&r)?);
    let decided = matches!(op, BinaryOperator::Or);
    Some(match (l, r) {
        (Some(a), _) | (_, Some(a)) if a == decided => Val::Bool(decided),
        (Some(_), Some(_)) => Val::Bool(!decided),
        _ => Val::Null,
    })
}

/// A comparison; values of different kinds are left to the engine, except
/// text read as a value of the other side's stored type (a date literal).
fn compare(l: Val, op: &BinaryOperator, r: Val) -> Option<Result<Val, SqlError>> {
    use BinaryOperator as B;
    let ordering = match (&l, &r) {
        (Val::Null, _) | (_, Val::Null) => return Some(Ok(Val::Null)),
        (Val::Int(a), Val::Int(b)) => a.cmp(b),
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => float(&l).partial_cmp(&float(&r))?,
        (Val::Text(a), Val::Text(b)) => a.cmp(b),
        (Val::Bool(a), Val::Bool(b)) => a.cmp(b),
        (Val::Typed(t, a), Val::Typed(u, b)) if t == u && ordered(*t) => a.cmp(b),
        (Val::Typed(t, a), Val::Text(b)) if ordered(*t) => match stored(*t, b) {
            Ok(b) => a.as_str().cmp(b.as_str()),
            Err(e) => return Some(Err(e)),
        },
        (Val::Text(a), Val::Typed(t, b)) if ordered(*t) => match stored(*t, a) {
            Ok(a) => a.as_str().cmp(b.as_str()),
            Err(e) => return Some(Err(e)),
        },
        _ => return None,
    };
    Some(Ok(Val::Bool(match op {
        B::Eq => ordering == Ordering::Equal,
        B::NotEq => ordering != Ordering::Equal,
        B::Lt => ordering == Ordering::Less,
        B::LtEq => ordering != Ordering::Greater,
        B::Gt => ordering == Ordering::Greater,
        B::GtEq => ordering != Ordering::Less,
        _ => return None,
    })))
}

/// Whether the canonical texts of a type sort as its values do: dates and
/// timestamps (fixed-width ISO fields, then the fraction), uuids (fixed-width
/// lowercase hex), bytea (`\x` and lowercase hex: bytewise), not jsonb.
fn ordered(sql_type: SqlType) -> bool {
    matches!(
        sql_type,
        SqlType::Date | SqlType::Timestamp | SqlType::TimestampTz | SqlType::Uuid | SqlType::Bytea
    )
}

/// Text read as a value of `sql_type`, in its canonical stored text.
fn stored(sql_type: SqlType, text: &str) -> Result<String, SqlError> {
    match types::coerce(sql_type, &Literal::String(text.to_string()))? {
        Json::String(s) => Ok(s),
        other => Ok(other.to_string()),
    }
}

fn arithmetic(l: Val, op: &BinaryOperator, r: Val) -> Option<Result<Val, SqlError>> {
    use BinaryOperator as B;
    Some(match (l, op, r) {
        (Val::Null, _, _) | (_, _, Val::Null) if is_arithmetic(op) => Ok(Val::Null),
        (Val::Int(a), op, Val::Int(b)) => match op {
            B::Plus => a.checked_add(b).map(Val::Int).ok_or_else(out_of_range),
            B::Minus => a.checked_sub(b).map(Val::Int).ok_or_else(out_of_range),
            B::Multiply => a.checked_mul(b).map(Val::Int).ok_or_else(out_of_range),
            B::Divide | B::Modulo if b == 0 => Err(error(Code::DivisionByZero, "division by zero")),
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
                B::Divide if b == 0.0 => Err(error(Code::DivisionByZero, "division by zero")),
                B::Divide => Ok(Val::Float(a / b)),
                _ => return None,
            }
        }
        // bytea || bytea is bytea (a quoted literal read as bytea).
        (
            l @ (Val::Typed(SqlType::Bytea, _) | Val::Text(_)),
            B::StringConcat,
            r @ (Val::Typed(SqlType::Bytea, _) | Val::Text(_)),
        ) if matches!(l, Val::Typed(..)) || matches!(r, Val::Typed(..)) => bytea_concat(&l, &r),
        // A date, timestamp or jsonb concatenates as its output text.
        (Val::Text(a) | Val::Typed(_, a), B::StringConcat, Val::Text(b) | Val::Typed(_, b)) => {
            Ok(Val::Text(a + &b))
        }
        _ => return None,
    })
}

/// Two bytea values (or text read as bytea) end to end.
fn bytea_concat(l: &Val, r: &Val) -> Result<Val, SqlError> {
    let hex = |v: &Val| match v {
        Val::Text(text) => stored(SqlType::Bytea, text),
        Val::Typed(_, hex) => Ok(hex.clone()),
        _ => Ok(String::new()),
    };
    let (a, b) = (hex(l)?, hex(r)?);
    Ok(Val::Typed(SqlType::Bytea, a + b.strip_prefix("\\x").unwrap_or(&b)))
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
    use crate::sql::catalog::Column;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    fn table() -> Table {
        let column = Column::new;
        Table {
            name: "t".into(),
            columns: vec![
                column("id", SqlType::Int4),
                column("n", SqlType::Int8),
                column("s", SqlType::Text),
                column("day", SqlType::Date),
                column("u", SqlType::Uuid),
                column("b", SqlType::Bytea),
            ],
            primary_key: Some(0),
            ..Table::named("t")
        }
    }

    fn parse(sql: &str) -> Expr {
        Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).unwrap().parse_expr().unwrap()
    }

    fn run(sql: &str) -> Option<Result<Val, SqlError>> {
        let row = serde_json::json!({
            "id": 1, "n": 10, "s": "a", "day": "2024-02-29", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "b": "\\x00ff"
        });
        eval(&parse(sql), &table(), row.as_object().unwrap())
    }

    /// Evaluates over row (n = 10) and excluded (n = 3, s NULL).
    fn upsert(sql: &str) -> Option<Result<Val, SqlError>> {
        let table = table();
        let row = serde_json::json!({"id": 1, "n": 10, "s": "a"});
        let excluded = serde_json::json!({"id": 1, "n": 3});
        let scope = Scope {
            table: &table,
            name: "t",
            row: row.as_object().unwrap(),
            excluded: Some(excluded.as_object().unwrap()),
        };
        eval_in(&parse(sql), &scope)
    }

    #[test]
    fn arithmetic_on_columns_and_constants() {
        assert_eq!(run("n + 5").unwrap().unwrap(), Val::Int(15));
        assert_eq!(run("-(n * 2) - 1").unwrap().unwrap(), Val::Int(-21));
        assert_eq!(run("n / 4").unwrap().unwrap(), Val::Int(2));
        assert_eq!(run("n + 0.5").unwrap().unwrap(), Val::Float(10.5));
        // A number a double does not hold stays exact; arithmetic on it is DataFusion's.
        let exact = Val::Typed(SqlType::Numeric, "1234567890.123456789".into());
        assert_eq!(run("1234567890.123456789").unwrap().unwrap(), exact);
        assert_eq!(exact.literal(), Literal::Number("1234567890.123456789".into()));
        assert!(run("n + 1234567890.123456789").is_none());
        assert_eq!(run("s || 'b'").unwrap().unwrap(), Val::Text("ab".into()));
        assert_eq!(run("day || '!'").unwrap().unwrap(), Val::Text("2024-02-29!".into()));
        assert_eq!(run("b || '\\x01'").unwrap().unwrap(), Val::Typed(SqlType::Bytea, "\\x00ff01".into()));
        assert_eq!(run("'ab' || b").unwrap().unwrap(), Val::Typed(SqlType::Bytea, "\\x616200ff".into()));
        assert_eq!(run("n + NULL").unwrap().unwrap(), Val::Null);
        assert_eq!(run("n / 0").unwrap().unwrap_err().code, Code::DivisionByZero);
        assert_eq!(run("9223372036854775807 + n").unwrap().unwrap_err().code, Code::NumericValueOutOfRange);
    }

    #[test]
    fn comparisons_and_logic_follow_three_valued_sql() {
        assert_eq!(run("n > 1").unwrap().unwrap(), Val::Bool(true));
        assert_eq!(run("n <= 9.5").unwrap().unwrap(), Val::Bool(false));
        assert_eq!(run("s <> 'a'").unwrap().unwrap(), Val::Bool(false));
        assert_eq!(run("n = NULL").unwrap().unwrap(), Val::Null);
        assert_eq!(run("NULL AND false").unwrap().unwrap(), Val::Bool(false));
        assert_eq!(run("NULL OR true").unwrap().unwrap(), Val::Bool(true));
        assert_eq!(run("NULL AND true").unwrap().unwrap(), Val::Null);
        assert_eq!(run("NOT (n > 1)").unwrap().unwrap(), Val::Bool(false));
        assert_eq!(run("s IS NULL").unwrap().unwrap(), Val::Bool(false));
        assert_eq!(run("NULL IS NOT DISTINCT FROM NULL").unwrap().unwrap(), Val::Bool(true));
        assert_eq!(run("n IS DISTINCT FROM NULL").unwrap().unwrap(), Val::Bool(true));
        assert_eq!(run("day < '2024-03-01'").unwrap().unwrap(), Val::Bool(true));
        assert_eq!(run("day = '2024-02-30'").unwrap().unwrap_err().code, Code::DatetimeFieldOverflow);
        assert_eq!(run("u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'").unwrap().unwrap(), Val::Bool(true));
        assert_eq!(run("u < 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'").unwrap().unwrap(), Val::Bool(true));
        assert_eq!(run("u = 'nope'").unwrap().unwrap_err().code, Code::InvalidTextRepresentation);
        assert_eq!(run("b = '\\x00FF'").unwrap().unwrap(), Val::Bool(true));
        assert_eq!(run("b < '\\x01'").unwrap().unwrap(), Val::Bool(true));
        assert_eq!(run("b > '\\x00'").unwrap().unwrap(), Val::Bool(true));
    }

    #[test]
    fn excluded_and_qualified_columns_read_their_rows() {
        assert_eq!(upsert("t.n + excluded.n").unwrap().unwrap(), Val::Int(13));
        assert_eq!(upsert("excluded.s IS NULL AND n > excluded.n").unwrap().unwrap(), Val::Bool(true));
        assert!(upsert("other.n").is_none());
        let scope_table = table();
        let row = Map::new();
        let scope = Scope { table: &scope_table, name: "t", row: &row, excluded: Some(&row) };
        let missing = |sql: &str| unresolved(&parse(sql), &scope).unwrap();
        assert_eq!(missing("n + nope").code, Code::UndefinedColumn);
        assert_eq!(missing("excluded.nope").message, "column excluded.nope does not exist");
        assert_eq!(missing("other.n").code, Code::UndefinedTable);
        assert!(unresolved(&parse("abs(t.n)"), &scope).is_none());
    }

    #[test]
    fn anything_else_is_left_to_the_engine() {
        assert!(run("abs(n)").is_none());
        assert!(run("missing + 1").is_none());
        assert!(run("n IN (1, 2)").is_none());
        assert!(run("s > 1").is_none());
        assert!(run("excluded.n").is_none());
    }
}
