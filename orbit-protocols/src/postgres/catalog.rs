//! Table schemas (stored in the `sql:table` actor of each table), SQL types
//! and values, and how a row is stored: a JSON object of its non-null
//! columns, in the `row:<table>` actor keyed by the primary key's text.

use pgwire::api::Type;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The SQL types a column may have today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Text,
}

impl SqlType {
    pub fn pg(self) -> Type {
        match self {
            SqlType::Bool => Type::BOOL,
            SqlType::Int2 => Type::INT2,
            SqlType::Int4 => Type::INT4,
            SqlType::Int8 => Type::INT8,
            SqlType::Float4 => Type::FLOAT4,
            SqlType::Float8 => Type::FLOAT8,
            SqlType::Text => Type::TEXT,
        }
    }

    /// PostgreSQL's name of the type, as in error messages.
    pub fn name(self) -> &'static str {
        match self {
            SqlType::Bool => "boolean",
            SqlType::Int2 => "smallint",
            SqlType::Int4 => "integer",
            SqlType::Int8 => "bigint",
            SqlType::Float4 => "real",
            SqlType::Float8 => "double precision",
            SqlType::Text => "text",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub sql_type: SqlType,
    pub not_null: bool,
    /// A constant default, already of the column's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Json>,
    /// SERIAL/BIGSERIAL/identity: the default is the next value of the
    /// table's sequence for this column.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub serial: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// Index into `columns` of the primary key.
    pub primary_key: usize,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<(usize, &Column)> {
        self.columns.iter().enumerate().find(|(_, c)| c.name == name)
    }

    pub fn pk(&self) -> &Column {
        &self.columns[self.primary_key]
    }

    /// The actor kind of this table's rows.
    pub fn row_kind(&self) -> String {
        format!("row:{}", self.name)
    }

    /// The actor key of the sequence behind a serial column (a `counter`).
    pub fn sequence_key(&self, column: &str) -> String {
        format!("{}_{}_seq", self.name, column)
    }
}

/// A value that does not fit its column: SQLSTATE and message.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueError {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: String) -> ValueError {
    ValueError { code, message }
}

/// A SQL value of a column's type, from a literal: a number, a string
/// (read as the type's text input, as PostgreSQL does for quoted
/// literals), a boolean, or NULL (`Json::Null`).
pub fn coerce(sql_type: SqlType, literal: &Literal) -> Result<Json, ValueError> {
    let out_of_range = || invalid("22003", format!("value out of range for type {}", sql_type.name()));
    let bad_text = |text: &str| {
        invalid("22P02", format!("invalid input syntax for type {}: \"{text}\"", sql_type.name()))
    };
    match (sql_type, literal) {
        (_, Literal::Null) => Ok(Json::Null),
        (SqlType::Text, Literal::String(s)) => Ok(Json::String(s.clone())),
        (SqlType::Text, Literal::Number(n)) => Ok(Json::String(n.clone())),
        (SqlType::Text, Literal::Bool(b)) => Ok(Json::String(b.to_string())),
        (SqlType::Bool, Literal::Bool(b)) => Ok(Json::Bool(*b)),
        (SqlType::Bool, Literal::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => Ok(Json::Bool(true)),
            "f" | "false" | "n" | "no" | "off" | "0" => Ok(Json::Bool(false)),
            _ => Err(bad_text(s)),
        },
        (SqlType::Int2 | SqlType::Int4 | SqlType::Int8, Literal::Number(n) | Literal::String(n)) => {
            let text = n.trim();
            let value: i64 = match text.parse() {
                Ok(v) => v,
                Err(_) if matches!(literal, Literal::Number(_)) && text.parse::<f64>().is_ok() => {
                    // 2.5 into an integer column rounds, as PostgreSQL does.
                    let f: f64 = text.parse().map_err(|_| bad_text(n))?;
                    let r = f.round();
                    if !(i64::MIN as f64..=i64::MAX as f64).contains(&r) {
                        return Err(out_of_range());
                    }
                    r as i64
                }
                Err(_)
                    if text.trim_start_matches('-').chars().all(|c| c.is_ascii_digit())
                        && !text.is_empty() =>
                {
                    return Err(out_of_range());
                }
                Err(_) => return Err(bad_text(n)),
            };
            let fits = match sql_type {
                SqlType::Int2 => i16::try_from(value).is_ok(),
                SqlType::Int4 => i32::try_from(value).is_ok(),
                _ => true,
            };
            if fits { Ok(Json::from(value)) } else { Err(out_of_range()) }
        }
        (SqlType::Float4 | SqlType::Float8, Literal::Number(n) | Literal::String(n)) => {
            let value: f64 = match n.trim().to_ascii_lowercase().as_str() {
                "nan" | "infinity" | "-infinity" | "inf" | "-inf" => {
                    return Err(invalid("0A000", "NaN and infinities are not supported yet".into()));
                }
                t => t.parse().map_err(|_| bad_text(n))?,
            };
            if sql_type == SqlType::Float4 && value.is_finite() && (value as f32).is_infinite() {
                return Err(out_of_range());
            }
            serde_json::Number::from_f64(value).map(Json::Number).ok_or_else(out_of_range)
        }
        (_, Literal::Bool(_)) => Err(invalid(
            "42804",
            format!("column is of type {} but expression is of type boolean", sql_type.name()),
        )),
        (SqlType::Bool, Literal::Number(_)) => {
            Err(invalid("42804", "column is of type boolean but expression is of type integer".to_string()))
        }
    }
}

/// A constant in a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    /// The number as written.
    Number(String),
    String(String),
}

/// The primary key's stored form: the value's text (its JSON for
/// numbers, the string itself for text).
pub fn key_of(value: &Json) -> Option<Vec<u8>> {
    match value {
        Json::String(s) => Some(s.as_bytes().to_vec()),
        Json::Number(n) => Some(n.to_string().into_bytes()),
        Json::Bool(b) => Some(b.to_string().into_bytes()),
        _ => None,
    }
}

/// A stored value as PostgreSQL's text output.
pub fn text_of(sql_type: SqlType, value: &Json) -> Option<String> {
    match value {
        Json::Null => None,
        Json::Bool(b) => Some(if *b { "t" } else { "f" }.to_string()),
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => match sql_type {
            SqlType::Float4 | SqlType::Float8 => n.as_f64().map(|f| format_float(sql_type, f)),
            _ => Some(n.to_string()),
        },
        other => Some(other.to_string()),
    }
}

/// Shortest text that reads back as the same float (PostgreSQL 12+ with
/// extra_float_digits = 1, its default for clients).
fn format_float(sql_type: SqlType, f: f64) -> String {
    let text = if sql_type == SqlType::Float4 { (f as f32).to_string() } else { f.to_string() };
    match text.as_str() {
        "inf" => "Infinity".into(),
        "-inf" => "-Infinity".into(),
        "NaN" => "NaN".into(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(n: &str) -> Literal {
        Literal::Number(n.into())
    }

    #[test]
    fn literals_take_their_column_type_or_fail_with_postgres_codes() {
        assert_eq!(coerce(SqlType::Int4, &num("42")), Ok(Json::from(42)));
        assert_eq!(coerce(SqlType::Int4, &Literal::String(" 7 ".into())), Ok(Json::from(7)));
        assert_eq!(coerce(SqlType::Int4, &num("2.5")), Ok(Json::from(3)));
        assert_eq!(coerce(SqlType::Int2, &num("40000")).unwrap_err().code, "22003");
        assert_eq!(coerce(SqlType::Int8, &num("99999999999999999999")).unwrap_err().code, "22003");
        let bad = coerce(SqlType::Int4, &Literal::String("abc".into())).unwrap_err();
        assert_eq!(
            (bad.code, bad.message.as_str()),
            ("22P02", "invalid input syntax for type integer: \"abc\"")
        );
        assert_eq!(coerce(SqlType::Bool, &Literal::String("yes".into())), Ok(Json::Bool(true)));
        assert_eq!(coerce(SqlType::Bool, &num("1")).unwrap_err().code, "42804");
        assert_eq!(coerce(SqlType::Text, &num("1.50")), Ok(Json::String("1.50".into())));
        assert_eq!(coerce(SqlType::Float8, &num("1e400")).unwrap_err().code, "22003");
        assert_eq!(coerce(SqlType::Float4, &num("1e39")).unwrap_err().code, "22003");
        assert_eq!(coerce(SqlType::Text, &Literal::Null), Ok(Json::Null));
    }

    #[test]
    fn values_print_as_postgres_prints_them() {
        assert_eq!(text_of(SqlType::Bool, &Json::Bool(true)).as_deref(), Some("t"));
        assert_eq!(text_of(SqlType::Float8, &serde_json::json!(0.1)).as_deref(), Some("0.1"));
        assert_eq!(text_of(SqlType::Float4, &serde_json::json!(0.1f32 as f64)).as_deref(), Some("0.1"));
        assert_eq!(text_of(SqlType::Int8, &serde_json::json!(-5)).as_deref(), Some("-5"));
        assert_eq!(text_of(SqlType::Text, &Json::Null), None);
    }
}
