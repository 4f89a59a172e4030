//! SQL types and values: the types a column may have, constants in
//! statements, how a literal becomes a stored value (a JSON value) and how
//! a stored value prints as PostgreSQL prints it.
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | [`SqlType`], [`Literal`], coercion and text output, dates and times |
//! | `array.rs` | one-dimensional arrays: PostgreSQL's text form |
//! | `jsonb.rs` | the jsonb type: canonical text, operators and functions |
//! | `uuid.rs` | the uuid type: input forms, text and binary, `gen_random_uuid()` |
//! | `bytea.rs` | the bytea type: hex and escape input, hex output, `x::bytea` |
//! | `numeric.rs` | the numeric type: exact decimals, typmods, Arrow decimals, binary format |

pub(crate) mod array;
pub(crate) mod bytea;
pub(crate) mod jsonb;
pub(crate) mod numeric;
pub(crate) mod uuid;

use crate::sql::error::Code;
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
    /// `varchar(n)`: text of at most the column's `length` characters.
    Varchar,
    /// `char(n)` (`bpchar`): text blank-padded to the column's `length`.
    Char,
    Date,
    /// `timestamp` (without time zone), microseconds.
    Timestamp,
    /// `timestamptz`, microseconds, stored and shown in UTC.
    TimestampTz,
    /// `jsonb` (and `json`), stored as its canonical text (`super::jsonb`).
    Jsonb,
    /// `uuid`, stored as its lowercase hyphenated text (`super::uuid`).
    Uuid,
    /// `bytea`, stored as its hex output text, `\x...` (`super::bytea`).
    Bytea,
    /// `numeric` (`decimal`), stored as its text (`super::numeric`); a
    /// column's precision and scale are [`Column::numeric`].
    Numeric,
    /// One-dimensional arrays of scalars, stored as JSON arrays of their
    /// elements' values (`super::array`).
    BoolArray,
    Int2Array,
    Int4Array,
    Int8Array,
    Float4Array,
    Float8Array,
    TextArray,
    /// `varchar(n)[]`, `char(n)[]`, `numeric(p, s)[]`: the column's
    /// `length` and `numeric` describe the elements.
    VarcharArray,
    CharArray,
    NumericArray,
    ByteaArray,
    DateArray,
    TimestampArray,
    TimestampTzArray,
    UuidArray,
    JsonbArray,
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
            SqlType::Varchar => Type::VARCHAR,
            SqlType::Char => Type::BPCHAR,
            SqlType::Date => Type::DATE,
            SqlType::Timestamp => Type::TIMESTAMP,
            SqlType::TimestampTz => Type::TIMESTAMPTZ,
            SqlType::Jsonb => Type::JSONB,
            SqlType::Uuid => Type::UUID,
            SqlType::Bytea => Type::BYTEA,
            SqlType::Numeric => Type::NUMERIC,
            SqlType::BoolArray => Type::BOOL_ARRAY,
            SqlType::Int2Array => Type::INT2_ARRAY,
            SqlType::Int4Array => Type::INT4_ARRAY,
            SqlType::Int8Array => Type::INT8_ARRAY,
            SqlType::Float4Array => Type::FLOAT4_ARRAY,
            SqlType::Float8Array => Type::FLOAT8_ARRAY,
            SqlType::TextArray => Type::TEXT_ARRAY,
            SqlType::VarcharArray => Type::VARCHAR_ARRAY,
            SqlType::CharArray => Type::BPCHAR_ARRAY,
            SqlType::NumericArray => Type::NUMERIC_ARRAY,
            SqlType::ByteaArray => Type::BYTEA_ARRAY,
            SqlType::DateArray => Type::DATE_ARRAY,
            SqlType::TimestampArray => Type::TIMESTAMP_ARRAY,
            SqlType::TimestampTzArray => Type::TIMESTAMPTZ_ARRAY,
            SqlType::UuidArray => Type::UUID_ARRAY,
            SqlType::JsonbArray => Type::JSONB_ARRAY,
        }
    }

    /// Every type Orbit has.
    pub fn all() -> impl Iterator<Item = SqlType> {
        ARRAYS.iter().flat_map(|(scalar, array)| [*scalar, *array])
    }

    /// An array type's element type; `None` for scalars.
    pub fn element(self) -> Option<SqlType> {
        ARRAYS.iter().find(|(_, array)| *array == self).map(|(element, _)| *element)
    }

    /// The array type of `element`, if Orbit has one.
    pub fn array_of(element: SqlType) -> Option<SqlType> {
        ARRAYS.iter().find(|(scalar, _)| *scalar == element).map(|(_, array)| *array)
    }

    /// Whether values are strings (text of any kind).
    pub fn is_text(self) -> bool {
        matches!(self, SqlType::Text | SqlType::Varchar | SqlType::Char)
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
            SqlType::Varchar => "character varying",
            SqlType::Char => "character",
            SqlType::Date => "date",
            SqlType::Timestamp => "timestamp without time zone",
            SqlType::TimestampTz => "timestamp with time zone",
            SqlType::Jsonb => "jsonb",
            SqlType::Uuid => "uuid",
            SqlType::Bytea => "bytea",
            SqlType::Numeric => "numeric",
            SqlType::BoolArray => "boolean[]",
            SqlType::Int2Array => "smallint[]",
            SqlType::Int4Array => "integer[]",
            SqlType::Int8Array => "bigint[]",
            SqlType::Float4Array => "real[]",
            SqlType::Float8Array => "double precision[]",
            SqlType::TextArray => "text[]",
            SqlType::VarcharArray => "character varying[]",
            SqlType::CharArray => "character[]",
            SqlType::NumericArray => "numeric[]",
            SqlType::ByteaArray => "bytea[]",
            SqlType::DateArray => "date[]",
            SqlType::TimestampArray => "timestamp without time zone[]",
            SqlType::TimestampTzArray => "timestamp with time zone[]",
            SqlType::UuidArray => "uuid[]",
            SqlType::JsonbArray => "jsonb[]",
        }
    }

    /// The type's OID in `pg_type`.
    pub fn oid(self) -> u32 {
        self.pg().oid()
    }
}

/// Each scalar type and its one-dimensional array type.
const ARRAYS: [(SqlType, SqlType); 16] = [
    (SqlType::Bool, SqlType::BoolArray),
    (SqlType::Int2, SqlType::Int2Array),
    (SqlType::Int4, SqlType::Int4Array),
    (SqlType::Int8, SqlType::Int8Array),
    (SqlType::Float4, SqlType::Float4Array),
    (SqlType::Float8, SqlType::Float8Array),
    (SqlType::Text, SqlType::TextArray),
    (SqlType::Varchar, SqlType::VarcharArray),
    (SqlType::Char, SqlType::CharArray),
    (SqlType::Numeric, SqlType::NumericArray),
    (SqlType::Bytea, SqlType::ByteaArray),
    (SqlType::Date, SqlType::DateArray),
    (SqlType::Timestamp, SqlType::TimestampArray),
    (SqlType::TimestampTz, SqlType::TimestampTzArray),
    (SqlType::Uuid, SqlType::UuidArray),
    (SqlType::Jsonb, SqlType::JsonbArray),
];

/// `numeric(precision, scale)`: `numeric(p)` is scale 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumericTypmod {
    pub precision: u32,
    pub scale: u32,
}

/// How an identity column takes explicit values.
/// A value that does not fit its column: SQLSTATE and message.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueError {
    pub code: crate::sql::error::Code,
    pub message: String,
}

pub(crate) fn invalid(code: crate::sql::error::Code, message: String) -> ValueError {
    ValueError { code, message }
}

/// A SQL value of a column's type, from a literal: a number, a string
/// (read as the type's text input, as PostgreSQL does for quoted
/// literals), a boolean, or NULL (`Json::Null`).
pub fn coerce(sql_type: SqlType, literal: &Literal) -> Result<Json, ValueError> {
    let out_of_range =
        || invalid(Code::NumericValueOutOfRange, format!("value out of range for type {}", sql_type.name()));
    let bad_text = |text: &str| {
        invalid(
            Code::InvalidTextRepresentation,
            format!("invalid input syntax for type {}: \"{text}\"", sql_type.name()),
        )
    };
    if let Some(element) = sql_type.element() {
        return array::coerce(element, literal);
    }
    match (sql_type, literal) {
        (_, Literal::Null) => Ok(Json::Null),
        (t, Literal::String(s)) if t.is_text() => Ok(Json::String(s.clone())),
        (t, Literal::Number(n)) if t.is_text() => Ok(Json::String(n.clone())),
        (t, Literal::Bool(b)) if t.is_text() => Ok(Json::String(b.to_string())),
        (SqlType::Jsonb, Literal::String(s)) => {
            jsonb::parse(s).map(|v| Json::String(jsonb::canonical(&v))).ok_or_else(|| {
                invalid(Code::InvalidTextRepresentation, format!("{}: \"{s}\"", jsonb::INVALID_JSON))
            })
        }
        (SqlType::Uuid, Literal::String(s)) => uuid::canonical(s)
            .map(Json::String)
            .ok_or_else(|| invalid(Code::InvalidTextRepresentation, uuid::bad_input_message(s))),
        (SqlType::Bytea, Literal::String(s)) => {
            bytea::canonical(s).map(Json::String).map_err(|bad| invalid(bad.code, bad.message))
        }
        (SqlType::Numeric, Literal::Number(n) | Literal::String(n)) => {
            numeric::canonical(n).map(Json::String)
        }
        (SqlType::Date | SqlType::Timestamp | SqlType::TimestampTz, Literal::String(s)) => {
            time::parse(sql_type, s).map(Json::String).ok_or_else(|| time::bad_input(sql_type, s))
        }
        (SqlType::Date | SqlType::Timestamp | SqlType::TimestampTz, Literal::Number(_)) => Err(invalid(
            Code::DatatypeMismatch,
            format!("column is of type {} but expression is of type integer", sql_type.name()),
        )),
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
                    return Err(invalid(
                        Code::FeatureNotSupported,
                        "NaN and infinities are not supported yet".into(),
                    ));
                }
                t => t.parse().map_err(|_| bad_text(n))?,
            };
            if sql_type == SqlType::Float4 && value.is_finite() && (value as f32).is_infinite() {
                return Err(out_of_range());
            }
            serde_json::Number::from_f64(value).map(Json::Number).ok_or_else(out_of_range)
        }
        (_, Literal::Bool(_)) => Err(invalid(
            Code::DatatypeMismatch,
            format!("column is of type {} but expression is of type boolean", sql_type.name()),
        )),
        (SqlType::Bool, Literal::Number(_)) => Err(invalid(
            Code::DatatypeMismatch,
            "column is of type boolean but expression is of type integer".to_string(),
        )),
        (_, Literal::Number(_) | Literal::String(_)) => Err(invalid(
            Code::DatatypeMismatch,
            format!("a value of type {} cannot be read from this literal", sql_type.name()),
        )),
    }
}

/// Dates and timestamps: PostgreSQL's ISO text in, and the canonical text
/// Orbit stores (`2026-11-26`, `2026-11-26 19:49:09.5`, `... +00` for
/// timestamptz, always in UTC).
pub mod time {
    use super::SqlType;
    use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};

    const DATE: &str = "%Y-%m-%d";
    const TIMESTAMP: &str = "%Y-%m-%d %H:%M:%S%.f";
    pub const EPOCH_DATE: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date");

    /// Reads `text` as a value of `sql_type` and returns its stored text.
    pub fn parse(sql_type: SqlType, text: &str) -> Option<String> {
        let text = text.trim();
        match sql_type {
            SqlType::Date => Some(parse_date(text)?.format(DATE).to_string()),
            SqlType::Timestamp => Some(show_timestamp(&parse_naive(text)?)),
            _ => Some(show_timestamptz(&parse_utc(text)?)),
        }
    }

    fn parse_date(text: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(text, DATE).ok().or_else(|| parse_naive(text).map(|t| t.date()))
    }

    /// A timestamp without zone: ISO date and time (space or `T`), or a
    /// date alone (midnight); a zone given is ignored, as PostgreSQL does.
    pub fn parse_naive(text: &str) -> Option<NaiveDateTime> {
        let text = text.trim();
        for format in [TIMESTAMP, "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                return Some(t);
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(text, DATE) {
            return Some(d.and_time(NaiveTime::MIN));
        }
        parse_zoned(text).map(|t| t.naive_local())
    }

    /// A timestamp with zone: with an offset (`+02`, `+02:00`, `Z`), or
    /// without one, read in UTC (the session's TimeZone).
    pub fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
        match parse_zoned(text) {
            Some(t) => Some(t.with_timezone(&Utc)),
            None => parse_naive_only(&text.trim().replacen('T', " ", 1)).map(|t| t.and_utc()),
        }
    }

    /// A timestamp written with a zone.
    fn parse_zoned(text: &str) -> Option<DateTime<FixedOffset>> {
        let spaced = text.trim().replacen('T', " ", 1);
        if let Some(rest) = spaced.strip_suffix('Z').or_else(|| spaced.strip_suffix(" UTC")) {
            return parse_naive_only(rest.trim_end()).map(|t| t.and_utc().fixed_offset());
        }
        for candidate in [spaced.clone(), format!("{spaced}:00"), format!("{spaced}00")] {
            for format in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f %#z"] {
                if let Ok(t) = DateTime::parse_from_str(&candidate, format) {
                    return Some(t);
                }
            }
        }
        None
    }

    fn parse_naive_only(text: &str) -> Option<NaiveDateTime> {
        for format in [TIMESTAMP, "%Y-%m-%d %H:%M"] {
            if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
                return Some(t);
            }
        }
        NaiveDate::parse_from_str(text, DATE).ok().map(|d| d.and_time(NaiveTime::MIN))
    }

    /// PostgreSQL's error for text that is not a value of `sql_type`: a
    /// date-shaped text out of range is `22008`, anything else `22007`.
    pub fn bad_input(sql_type: SqlType, text: &str) -> super::ValueError {
        let shaped = text
            .trim()
            .as_bytes()
            .iter()
            .take(10)
            .enumerate()
            .all(|(i, b)| if i == 4 || i == 7 { *b == b'-' } else { b.is_ascii_digit() })
            && text.trim().len() >= 10;
        if shaped {
            super::invalid(
                crate::sql::error::Code::DatetimeFieldOverflow,
                format!("date/time field value out of range: \"{text}\""),
            )
        } else {
            super::invalid(
                crate::sql::error::Code::InvalidDatetimeFormat,
                format!("invalid input syntax for type {}: \"{text}\"", sql_type.name()),
            )
        }
    }

    /// PostgreSQL's output: seconds' fraction without trailing zeros.
    pub fn show_timestamp(t: &NaiveDateTime) -> String {
        let mut text = t.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
        while text.ends_with('0') {
            text.pop();
        }
        if text.ends_with('.') {
            text.pop();
        }
        text
    }

    pub fn show_timestamptz(t: &DateTime<Utc>) -> String {
        format!("{}+00", show_timestamp(&t.naive_utc()))
    }

    /// The current time as a stored timestamptz.
    pub fn now() -> String {
        show_timestamptz(&Utc::now())
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
        Json::Array(items) => match sql_type.element() {
            Some(element) => Some(array::format(element, items)),
            None => Some(value.to_string()),
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
        assert_eq!(coerce(SqlType::Int2, &num("40000")).unwrap_err().code, Code::NumericValueOutOfRange);
        assert_eq!(
            coerce(SqlType::Int8, &num("99999999999999999999")).unwrap_err().code,
            Code::NumericValueOutOfRange
        );
        let bad = coerce(SqlType::Int4, &Literal::String("abc".into())).unwrap_err();
        assert_eq!(
            (bad.code, bad.message.as_str()),
            (Code::InvalidTextRepresentation, "invalid input syntax for type integer: \"abc\"")
        );
        assert_eq!(coerce(SqlType::Bool, &Literal::String("yes".into())), Ok(Json::Bool(true)));
        assert_eq!(coerce(SqlType::Bool, &num("1")).unwrap_err().code, Code::DatatypeMismatch);
        assert_eq!(coerce(SqlType::Text, &num("1.50")), Ok(Json::String("1.50".into())));
        assert_eq!(coerce(SqlType::Float8, &num("1e400")).unwrap_err().code, Code::NumericValueOutOfRange);
        assert_eq!(coerce(SqlType::Float4, &num("1e39")).unwrap_err().code, Code::NumericValueOutOfRange);
        assert_eq!(coerce(SqlType::Text, &Literal::Null), Ok(Json::Null));
    }

    #[test]
    fn dates_and_timestamps_read_postgres_input_and_store_iso_text() {
        let ts = |t: &str| time::parse(SqlType::Timestamp, t);
        assert_eq!(ts("2024-02-29 13:45:01.500").as_deref(), Some("2024-02-29 13:45:01.5"));
        assert_eq!(ts("2024-02-29T13:45:01").as_deref(), Some("2024-02-29 13:45:01"));
        assert_eq!(ts("2024-02-29").as_deref(), Some("2024-02-29 00:00:00"));
        // A zone on a timestamp without one is ignored, as PostgreSQL does.
        assert_eq!(ts("2024-02-29 13:45:01+02").as_deref(), Some("2024-02-29 13:45:01"));
        let tz = |t: &str| time::parse(SqlType::TimestampTz, t);
        assert_eq!(tz("2024-02-29 13:45:01+02").as_deref(), Some("2024-02-29 11:45:01+00"));
        assert_eq!(tz("2024-02-29 13:45:01Z").as_deref(), Some("2024-02-29 13:45:01+00"));
        assert_eq!(tz("2024-02-29 13:45:01").as_deref(), Some("2024-02-29 13:45:01+00"));
        assert_eq!(time::parse(SqlType::Date, "2024-02-29").as_deref(), Some("2024-02-29"));
        assert_eq!(time::parse(SqlType::Date, "2023-02-29"), None);
        let bad = coerce(SqlType::Timestamp, &Literal::String("yesterday-ish".into())).unwrap_err();
        assert_eq!(bad.code, Code::InvalidDatetimeFormat);
        assert_eq!(
            coerce(SqlType::Date, &Literal::String("2023-02-29".into())).unwrap_err().code,
            Code::DatetimeFieldOverflow
        );
        assert_eq!(coerce(SqlType::Date, &num("20240229")).unwrap_err().code, Code::DatatypeMismatch);
    }

    #[test]
    fn uuid_literals_store_lowercase_hyphenated_text() {
        let stored = coerce(SqlType::Uuid, &Literal::String("{A0EEBC999C0B4EF8BB6D6BB9BD380A11}".into()));
        assert_eq!(stored, Ok(Json::String("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())));
        let bad = coerce(SqlType::Uuid, &Literal::String("a0ee".into())).unwrap_err();
        assert_eq!(bad.code, Code::InvalidTextRepresentation);
        assert_eq!(bad.message, "invalid input syntax for type uuid: \"a0ee\"");
        assert_eq!(coerce(SqlType::Uuid, &num("1")).unwrap_err().code, Code::DatatypeMismatch);
    }

    #[test]
    fn bytea_literals_store_hex_text() {
        let s = |t: &str| Literal::String(t.into());
        assert_eq!(coerce(SqlType::Bytea, &s("\\x0A0b")), Ok(Json::String("\\x0a0b".into())));
        assert_eq!(coerce(SqlType::Bytea, &s("ab")), Ok(Json::String("\\x6162".into())));
        assert_eq!(coerce(SqlType::Bytea, &s("\\x1")).unwrap_err().code, Code::InvalidParameterValue);
        assert_eq!(coerce(SqlType::Bytea, &s("\\q")).unwrap_err().code, Code::InvalidTextRepresentation);
        assert_eq!(coerce(SqlType::Bytea, &num("1")).unwrap_err().code, Code::DatatypeMismatch);
        assert_eq!(text_of(SqlType::Bytea, &Json::String("\\x0a".into())).as_deref(), Some("\\x0a"));
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
