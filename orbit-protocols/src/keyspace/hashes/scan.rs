//! HSCAN/SSCAN (and ZSCAN) arguments and replies. A key's collection is
//! scanned whole in one call: the reply holds every matching element and
//! cursor 0, which Redis itself does for small (listpack) collections, and
//! which every client loop accepts.

use crate::keyspace::value::{Value, errors};
use crate::keyspace::{glob, parse_i64};
use bytes::Bytes;

/// Checks a cursor as Redis does with `strtoul`: optional sign, decimal
/// digits, no overflow; the empty string is 0 and `-1` wraps around.
/// C stops at a NUL byte, so what follows one is ignored.
pub(crate) fn parse_cursor(arg: &[u8]) -> Result<u64, Value> {
    let text = arg.split(|&b| b == 0).next().unwrap_or_default();
    if text.is_empty() {
        return Ok(0);
    }
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let value = std::str::from_utf8(digits)
        .ok()
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u64>().ok())
        .ok_or_else(|| Value::err("ERR invalid cursor"))?;
    Ok(if neg { value.wrapping_neg() } else { value })
}

/// Parses `[MATCH pattern] [COUNT n]` (any order, repeatable) and returns
/// the pattern. COUNT is checked and otherwise ignored.
pub(crate) fn parse_options(args: &[Bytes]) -> Result<Option<Bytes>, Value> {
    let mut pattern = None;
    let mut i = 0;
    while let Some(option) = args.get(i) {
        let value = args.get(i + 1);
        match (option.to_ascii_lowercase().as_slice(), value) {
            (b"count", Some(n)) => {
                if parse_i64(n)? < 1 {
                    return Err(Value::err(errors::SYNTAX));
                }
            }
            (b"match", Some(p)) => pattern = Some(p.clone()),
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 2;
    }
    Ok(pattern)
}

/// Whether `element` passes the MATCH filter.
pub(crate) fn keep(pattern: Option<&Bytes>, element: &[u8]) -> bool {
    pattern.is_none_or(|p| glob::matches(p, element))
}

/// `[cursor "0", [items...]]`.
pub(crate) fn reply(items: Vec<Value>) -> Value {
    Value::Array(vec![Value::bulk("0"), Value::Array(items)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_follow_strtoul() {
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"+1"), Ok(1));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"5\0junk"), Ok(5));
        let invalid = Err(Value::err("ERR invalid cursor"));
        for bad in [&b" 1"[..], b"18446744073709551616", b"x", b"+", b"1x", b"-"] {
            assert_eq!(parse_cursor(bad), invalid, "{bad:?}");
        }
    }

    #[test]
    fn options_are_checked() {
        let args = |a: &[&str]| a.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect::<Vec<_>>();
        assert_eq!(parse_options(&args(&["MATCH", "a*", "count", "10"])), Ok(Some(Bytes::from("a*"))));
        assert_eq!(parse_options(&args(&["count", "0"])), Err(Value::err(errors::SYNTAX)));
        assert_eq!(parse_options(&args(&["count", "x"])), Err(Value::err(errors::NOT_INTEGER)));
        assert_eq!(parse_options(&args(&["match"])), Err(Value::err(errors::SYNTAX)));
        assert_eq!(parse_options(&args(&["type", "string"])), Err(Value::err(errors::SYNTAX)));
        assert_eq!(parse_options(&args(&["novalues"])), Err(Value::err(errors::SYNTAX)));
    }
}
