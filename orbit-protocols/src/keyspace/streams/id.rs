//! Stream IDs: `<ms>-<seq>`, two unsigned 64-bit numbers ordered by
//! milliseconds then sequence; the special forms `-` (smallest), `+`
//! (largest), `<ms>` (a missing sequence, 0 or the largest depending on
//! the bound), `(` exclusive range bounds and XADD's `<ms>-*`.

use crate::keyspace::value::Value;
use bytes::Bytes;

pub const INVALID: &str = "ERR Invalid stream ID specified as stream command argument";

/// Redis parses an ID from a buffer of 128 bytes.
const MAX_ID_TEXT: usize = 127;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::ZERO
    }

    /// The next ID; `None` after [`StreamId::MAX`].
    pub fn next(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (u64::MAX, u64::MAX) => None,
            (ms, u64::MAX) => Some(StreamId::new(ms + 1, 0)),
            (ms, seq) => Some(StreamId::new(ms, seq + 1)),
        }
    }

    /// The previous ID; `None` before 0-0.
    pub fn prev(self) -> Option<StreamId> {
        match (self.ms, self.seq) {
            (0, 0) => None,
            (ms, 0) => Some(StreamId::new(ms - 1, u64::MAX)),
            (ms, seq) => Some(StreamId::new(ms, seq - 1)),
        }
    }

    /// The 16-byte big-endian form, which sorts like the IDs.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    /// The inverse of [`StreamId::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Option<StreamId> {
        let ms: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
        let seq: [u8; 8] = bytes.get(8..16)?.try_into().ok()?;
        (bytes.len() == 16).then(|| StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq)))
    }

    pub fn reply(self) -> Value {
        Value::Bulk(Bytes::from(self.to_string()))
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

fn invalid() -> Value {
    Value::err(INVALID)
}

/// A number as Redis' `string2ull` reads it (digits, an optional `+`).
fn number(text: &str) -> Option<u64> {
    if text.starts_with('-') {
        return None;
    }
    text.parse::<u64>().ok()
}

/// Parses an ID. `strict` refuses `-` and `+`; a missing sequence is
/// `missing_seq`. With `star_seq`, `<ms>-*` is accepted and returns
/// `false` as its second value (sequence not given).
fn parse_generic(
    arg: &[u8],
    strict: bool,
    missing_seq: u64,
    star_seq: bool,
) -> Result<(StreamId, bool), Value> {
    if arg.len() > MAX_ID_TEXT {
        return Err(invalid());
    }
    let text = std::str::from_utf8(arg).map_err(|_| invalid())?;
    match text {
        "-" | "+" if strict => return Err(invalid()),
        "-" => return Ok((StreamId::ZERO, true)),
        "+" => return Ok((StreamId::MAX, true)),
        _ => {}
    }
    let (ms, seq) = match text.split_once('-') {
        None => (number(text).ok_or_else(invalid)?, missing_seq),
        Some((ms, "*")) if star_seq => return Ok((StreamId::new(number(ms).ok_or_else(invalid)?, 0), false)),
        Some((ms, seq)) => (number(ms).ok_or_else(invalid)?, number(seq).ok_or_else(invalid)?),
    };
    Ok((StreamId::new(ms, seq), true))
}

/// An ID where `-` and `+` are not accepted (XADD, XDEL, XACK, XCLAIM...).
pub fn parse_strict(arg: &[u8]) -> Result<StreamId, Value> {
    parse_generic(arg, true, 0, false).map(|(id, _)| id)
}

/// An ID where `-` and `+` are accepted.
pub fn parse_loose(arg: &[u8], missing_seq: u64) -> Result<StreamId, Value> {
    parse_generic(arg, false, missing_seq, false).map(|(id, _)| id)
}

/// XADD's explicit ID: the ID and whether its sequence was given
/// (`<ms>-*` leaves it to the stream).
pub fn parse_add(arg: &[u8]) -> Result<(StreamId, bool), Value> {
    parse_generic(arg, true, 0, true)
}

/// A range bound: `(id` exclusive (made inclusive by stepping), else as
/// [`parse_loose`]. `None`: an exclusive bound past the end of the ID
/// space, an empty range; `Err` with Redis' interval error otherwise.
pub fn parse_bound(arg: &[u8], start: bool) -> Result<StreamId, Value> {
    let missing_seq = if start { 0 } else { u64::MAX };
    match arg.strip_prefix(b"(") {
        Some(rest) if !rest.is_empty() => {
            let id = parse_generic(rest, true, missing_seq, false)?.0;
            let stepped = if start { id.next() } else { id.prev() };
            stepped.ok_or_else(|| {
                Value::err(if start {
                    "ERR invalid start ID for the interval"
                } else {
                    "ERR invalid end ID for the interval"
                })
            })
        }
        _ => parse_loose(arg, missing_seq),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_like_redis() {
        assert_eq!(parse_strict(b"5-3"), Ok(StreamId::new(5, 3)));
        assert_eq!(parse_strict(b"5"), Ok(StreamId::new(5, 0)));
        assert_eq!(parse_loose(b"5", u64::MAX), Ok(StreamId::new(5, u64::MAX)));
        assert_eq!(parse_loose(b"-", 0), Ok(StreamId::ZERO));
        assert_eq!(parse_loose(b"+", 0), Ok(StreamId::MAX));
        assert_eq!(parse_strict(b"-"), Err(Value::err(INVALID)));
        for bad in ["", "x", "1-x", "-1", "1--1", "1-2-3", "18446744073709551616", "1-*"] {
            assert_eq!(parse_strict(bad.as_bytes()), Err(Value::err(INVALID)), "{bad}");
        }
        assert_eq!(parse_add(b"7-*"), Ok((StreamId::new(7, 0), false)));
        assert_eq!(parse_add(b"7-1"), Ok((StreamId::new(7, 1), true)));
        assert!(parse_strict(&[b'1'; 200]).is_err());
    }

    #[test]
    fn bounds_step_past_exclusive_ids() {
        assert_eq!(parse_bound(b"(5-3", true), Ok(StreamId::new(5, 4)));
        assert_eq!(parse_bound(b"(5-0", false), Ok(StreamId::new(4, u64::MAX)));
        assert_eq!(parse_bound(b"(5", false), Ok(StreamId::new(5, u64::MAX - 1)));
        assert_eq!(parse_bound(b"(0-0", false), Err(Value::err("ERR invalid end ID for the interval")));
        let max = format!("({}", StreamId::MAX);
        assert_eq!(
            parse_bound(max.as_bytes(), true),
            Err(Value::err("ERR invalid start ID for the interval"))
        );
        assert_eq!(parse_bound(b"(-", true), Err(Value::err(INVALID)));
        assert_eq!(parse_bound(b"(", true), Err(Value::err(INVALID)));
    }

    #[test]
    fn byte_form_sorts_like_ids_and_round_trips() {
        let a = StreamId::new(1, u64::MAX);
        let b = StreamId::new(2, 0);
        assert!(a.to_bytes() < b.to_bytes());
        assert_eq!(StreamId::from_bytes(&b.to_bytes()), Some(b));
        assert_eq!(StreamId::from_bytes(b"short"), None);
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(a.next(), Some(b));
        assert_eq!(b.prev(), Some(a));
        assert_eq!(b.to_string(), "2-0");
    }
}
