//! PostgreSQL's binary formats of the values Orbit stores, both ways:
//! results a client asks for in binary, and parameters it binds in binary.
//! One-dimensional arrays of every scalar type are framed as `array_send`
//! frames them (dimensions, a has-NULL flag, the element type's OID, then
//! each element's length and bytes).

use crate::sql::error::Code;
use crate::sql::types::{Literal, SqlType, ValueError, time};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use pgwire::api::Type;
use serde_json::Value as Json;

/// The Orbit type whose binary format a parameter of `pg_type` has; `None`
/// for types Orbit reads another way (`json`, unknown OIDs).
pub(crate) fn wire_type(pg_type: &Type) -> Option<SqlType> {
    SqlType::all().find(|t| t.pg() == *pg_type)
}

/// A stored value of `sql_type` in its binary format; `None` when the
/// value is not one of that type.
pub(crate) fn encode(sql_type: SqlType, value: &Json) -> Option<Vec<u8>> {
    if let Some(element) = sql_type.element() {
        return encode_array(element, value.as_array()?);
    }
    Some(match sql_type {
        SqlType::Bool => vec![u8::from(value.as_bool()?)],
        SqlType::Int2 => i16::try_from(value.as_i64()?).ok()?.to_be_bytes().to_vec(),
        SqlType::Int4 => i32::try_from(value.as_i64()?).ok()?.to_be_bytes().to_vec(),
        SqlType::Int8 => value.as_i64()?.to_be_bytes().to_vec(),
        SqlType::Float4 => (value.as_f64()? as f32).to_be_bytes().to_vec(),
        SqlType::Float8 => value.as_f64()?.to_be_bytes().to_vec(),
        SqlType::Text | SqlType::Varchar | SqlType::Char => value.as_str()?.as_bytes().to_vec(),
        SqlType::Date => {
            let date = NaiveDate::parse_from_str(value.as_str()?, "%Y-%m-%d").ok()?;
            i32::try_from((date - time::EPOCH_DATE).num_days()).ok()?.to_be_bytes().to_vec()
        }
        SqlType::Timestamp => micros(time::parse_naive(value.as_str()?)?)?.to_be_bytes().to_vec(),
        SqlType::TimestampTz => micros(time::parse_utc(value.as_str()?)?.naive_utc())?.to_be_bytes().to_vec(),
        // jsonb's version byte, then the text.
        SqlType::Jsonb => [&[1u8][..], value.as_str()?.as_bytes()].concat(),
        SqlType::Uuid => crate::sql::types::uuid::parse(value.as_str()?)?.to_vec(),
        SqlType::Bytea => crate::sql::types::bytea::parse(value.as_str()?).ok()?,
        SqlType::Numeric => crate::sql::types::numeric::to_binary(value.as_str()?)?,
        // Arrays are framed above.
        _ => return None,
    })
}

/// Microseconds since PostgreSQL's epoch, 2000-01-01 00:00.
fn micros(t: NaiveDateTime) -> Option<i64> {
    (t - time::EPOCH_DATE.and_time(chrono::NaiveTime::MIN)).num_microseconds()
}

fn encode_array(element: SqlType, items: &[Json]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let put = |out: &mut Vec<u8>, n: i32| out.extend_from_slice(&n.to_be_bytes());
    put(&mut out, i32::from(!items.is_empty()));
    put(&mut out, i32::from(items.iter().any(Json::is_null)));
    out.extend_from_slice(&element.oid().to_be_bytes());
    if !items.is_empty() {
        put(&mut out, i32::try_from(items.len()).ok()?);
        put(&mut out, 1);
    }
    for item in items {
        if item.is_null() {
            put(&mut out, -1);
            continue;
        }
        let bytes = encode(element, item)?;
        put(&mut out, i32::try_from(bytes.len()).ok()?);
        out.extend_from_slice(&bytes);
    }
    Some(out)
}

/// A parameter bound in binary as a value of `sql_type` (the client's
/// type, or the one Orbit deduced): a literal the column reads as it reads
/// SQL text. Bytes that are not of the type are `22P03`.
pub(crate) fn decode(sql_type: SqlType, bytes: &[u8]) -> Result<Literal, ValueError> {
    if let Some(element) = sql_type.element() {
        return decode_array(element, bytes);
    }
    let bad = || ValueError {
        code: Code::InvalidBinaryRepresentation,
        message: format!("incorrect binary data format in a {} parameter", sql_type.name()),
    };
    let fixed =
        |n: usize| -> Result<&[u8], ValueError> { if bytes.len() == n { Ok(bytes) } else { Err(bad()) } };
    let int = |n: usize| -> Result<i64, ValueError> {
        let bytes = fixed(n)?;
        Ok(bytes.iter().skip(1).fold(i64::from(bytes[0] as i8), |v, b| (v << 8) | i64::from(*b)))
    };
    let text = |bytes: &[u8]| {
        std::str::from_utf8(bytes).map(str::to_string).map_err(|_| ValueError {
            code: Code::CharacterNotInRepertoire,
            message: format!(
                "invalid byte sequence for encoding \"UTF8\" in a {} parameter",
                sql_type.name()
            ),
        })
    };
    let epoch = time::EPOCH_DATE.and_time(chrono::NaiveTime::MIN);
    let timestamp = || -> Result<NaiveDateTime, ValueError> {
        epoch.checked_add_signed(TimeDelta::microseconds(int(8)?)).ok_or_else(bad)
    };
    Ok(match sql_type {
        SqlType::Bool => Literal::Bool(fixed(1)?[0] != 0),
        SqlType::Int2 => Literal::Number(int(2)?.to_string()),
        SqlType::Int4 => Literal::Number(int(4)?.to_string()),
        SqlType::Int8 => Literal::Number(int(8)?.to_string()),
        SqlType::Float4 => Literal::Number(f32::from_bits(int(4)? as u32).to_string()),
        SqlType::Float8 => Literal::Number(f64::from_bits(int(8)? as u64).to_string()),
        SqlType::Text | SqlType::Varchar | SqlType::Char => Literal::String(text(bytes)?),
        SqlType::Date => {
            let date = time::EPOCH_DATE.checked_add_signed(TimeDelta::days(int(4)?)).ok_or_else(bad)?;
            Literal::String(date.format("%Y-%m-%d").to_string())
        }
        SqlType::Timestamp => Literal::String(time::show_timestamp(&timestamp()?)),
        SqlType::TimestampTz => Literal::String(time::show_timestamptz(&timestamp()?.and_utc())),
        SqlType::Jsonb => match bytes.split_first() {
            Some((1, json)) => Literal::String(text(json)?),
            _ => return Err(bad()),
        },
        SqlType::Uuid => {
            let uuid: [u8; 16] = bytes.try_into().map_err(|_| bad())?;
            Literal::String(crate::sql::types::uuid::format(&uuid))
        }
        SqlType::Bytea => Literal::String(crate::sql::types::bytea::format(bytes)),
        SqlType::Numeric => Literal::Number(crate::sql::types::numeric::from_binary(bytes).ok_or_else(bad)?),
        _ => return Err(bad()),
    })
}

/// A binary array as its text form (`{...}`), which the column parses.
fn decode_array(element: SqlType, bytes: &[u8]) -> Result<Literal, ValueError> {
    let bad = |why: &str| ValueError {
        code: Code::InvalidBinaryRepresentation,
        message: format!("incorrect binary data format in a {}[] parameter: {why}", element.name()),
    };
    let mut rest = bytes;
    let next = |rest: &mut &[u8], what: &str| -> Result<i32, ValueError> {
        let (head, tail) = rest.split_first_chunk::<4>().ok_or_else(|| bad(what))?;
        *rest = tail;
        Ok(i32::from_be_bytes(*head))
    };
    let dimensions = next(&mut rest, "no dimensions")?;
    let _has_null = next(&mut rest, "no NULL flag")?;
    let oid = next(&mut rest, "no element type")?;
    if oid as u32 != element.oid() {
        return Err(ValueError {
            code: Code::DatatypeMismatch,
            message: format!("wrong element type: {oid} (expected {})", element.oid()),
        });
    }
    let count = match dimensions {
        0 => 0,
        1 => {
            let count = next(&mut rest, "no length")?;
            if next(&mut rest, "no lower bound")? != 1 {
                return Err(ValueError {
                    code: Code::FeatureNotSupported,
                    message: "array lower bounds other than 1 are not supported by Orbit yet".into(),
                });
            }
            usize::try_from(count).map_err(|_| bad("a negative length"))?
        }
        n if n > 1 => {
            return Err(ValueError {
                code: Code::FeatureNotSupported,
                message: "multidimensional arrays are not supported by Orbit yet".into(),
            });
        }
        _ => return Err(bad("a negative number of dimensions")),
    };
    let mut items = Vec::with_capacity(count.min(bytes.len() / 4));
    for _ in 0..count {
        let length = next(&mut rest, "an element's length is missing")?;
        if length < 0 {
            items.push(Json::Null);
            continue;
        }
        let length = length as usize;
        if rest.len() < length {
            return Err(bad("an element is cut short"));
        }
        let (item, tail) = rest.split_at(length);
        rest = tail;
        items.push(match decode(element, item)? {
            Literal::Null => Json::Null,
            Literal::Bool(b) => Json::String(if b { "t" } else { "f" }.into()),
            Literal::Number(text) | Literal::String(text) => Json::String(text),
        });
    }
    if !rest.is_empty() {
        return Err(bad("bytes after the last element"));
    }
    Ok(Literal::String(crate::sql::types::array::format(SqlType::Text, &items)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::catalog;
    use serde_json::json;

    /// Each type's stored values survive their binary format both ways.
    #[test]
    fn values_round_trip_through_their_binary_format() {
        let cases: &[(SqlType, Json)] = &[
            (SqlType::Bool, json!(true)),
            (SqlType::Int2, json!(-7)),
            (SqlType::Int4, json!(123456)),
            (SqlType::Int8, json!(-9_000_000_000i64)),
            (SqlType::Float8, json!(1.5)),
            (SqlType::Text, json!("a b")),
            (SqlType::Date, json!("1999-12-31")),
            (SqlType::Timestamp, json!("2026-12-03 10:23:32.5")),
            (SqlType::TimestampTz, json!("1970-01-01 00:00:00+00")),
            (SqlType::Jsonb, json!("{\"a\": [1, 2]}")),
            (SqlType::Uuid, json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            (SqlType::Bytea, json!("\\x00ff")),
            (SqlType::Numeric, json!("-12.05")),
            (SqlType::DateArray, json!(["2024-02-29", null])),
            (SqlType::NumericArray, json!(["1.5", "-2"])),
            (SqlType::TextArray, json!([])),
            (SqlType::JsonbArray, json!(["{\"a\": 1}", "[]"])),
        ];
        for (sql_type, value) in cases {
            let bytes = encode(*sql_type, value).unwrap();
            let literal = decode(*sql_type, &bytes).unwrap();
            let column = catalog::Column::new("c", *sql_type);
            assert_eq!(&column.coerce(&literal).unwrap(), value, "{sql_type:?}");
        }
        assert_eq!(encode(SqlType::Int2, &json!(70000)), None);
        assert_eq!(encode(SqlType::DateArray, &json!("2024-02-29")), None);
    }

    #[test]
    fn bad_binary_parameters_are_errors() {
        assert_eq!(decode(SqlType::Int4, &[0, 1]).unwrap_err().code, Code::InvalidBinaryRepresentation);
        assert_eq!(decode(SqlType::Text, &[0xff]).unwrap_err().code, Code::CharacterNotInRepertoire);
        assert_eq!(decode(SqlType::Jsonb, b"{}").unwrap_err().code, Code::InvalidBinaryRepresentation);
        let dates = encode(SqlType::DateArray, &json!(["2024-02-29"])).unwrap();
        assert_eq!(decode(SqlType::Int4Array, &dates).unwrap_err().code, Code::DatatypeMismatch);
        assert_eq!(
            decode(SqlType::DateArray, &dates[..dates.len() - 1]).unwrap_err().code,
            Code::InvalidBinaryRepresentation
        );
        assert_eq!(
            decode(SqlType::DateArray, &[dates.as_slice(), &[0]].concat()).unwrap_err().code,
            Code::InvalidBinaryRepresentation
        );
        let mut two_dims = dates.clone();
        two_dims[3] = 2;
        assert_eq!(decode(SqlType::DateArray, &two_dims).unwrap_err().code, Code::FeatureNotSupported);
        let mut from_zero = dates.clone();
        from_zero[16..20].copy_from_slice(&0i32.to_be_bytes());
        assert_eq!(decode(SqlType::DateArray, &from_zero).unwrap_err().code, Code::FeatureNotSupported);
        let mut huge = dates;
        huge[12..16].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(decode(SqlType::DateArray, &huge).unwrap_err().code, Code::InvalidBinaryRepresentation);
    }
}
