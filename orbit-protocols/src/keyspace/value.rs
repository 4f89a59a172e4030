//! [`Value`]: a Redis reply before it is written in RESP2 or RESP3.
//!
//! Keyspace actors answer with a `Value`; it crosses the `ActorGateway` in
//! the compact binary form of [`Value::encode`], and the connection writes it
//! in the protocol version the client chose (`HELLO 3`).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// One reply. RESP3-only shapes (maps, sets, doubles) are flattened for
/// RESP2 clients the way Redis does it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Nil,
    /// A missing array (e.g. a blocking pop that timed out): `*-1` in RESP2.
    NilArray,
    Int(i64),
    Bulk(Bytes),
    /// A status reply such as `OK` or `QUEUED`.
    Simple(String),
    /// An error reply, its full text including the code (`ERR ...`, `WRONGTYPE ...`).
    Error(String),
    Array(Vec<Value>),
    /// Flattened to an array of key, value, key, value in RESP2.
    Map(Vec<(Value, Value)>),
    /// Pairs such as ZRANGE ... WITHSCORES: an array of 2-element arrays
    /// in RESP3, one flat array in RESP2.
    Pairs(Vec<(Value, Value)>),
    /// An array in RESP2.
    Set(Vec<Value>),
    /// A bulk string of the shortest round-tripping decimal in RESP2.
    Double(f64),
    /// A double in Redis' human form, `%.17Lf` without trailing zeros
    /// (GEOPOS and WITHCOORD coordinates): a bulk string in RESP2.
    HumanDouble(f64),
    /// `:1`/`:0` in RESP2.
    Bool(bool),
    /// Text meant for humans (INFO): a bulk string in RESP2.
    Verbatim(String),
    /// An out-of-band message (pub/sub): `>` in RESP3, an array in RESP2.
    Push(Vec<Value>),
}

impl Value {
    pub fn ok() -> Value {
        Value::Simple("OK".into())
    }

    pub fn bulk(b: impl Into<Bytes>) -> Value {
        Value::Bulk(b.into())
    }

    pub fn err(text: impl Into<String>) -> Value {
        Value::Error(text.into())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }
}

/// The error texts Redis uses, word for word: clients match on them.
pub mod errors {
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const SYNTAX: &str = "ERR syntax error";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const OUT_OF_RANGE: &str = "ERR index out of range";
    pub const NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";

    /// `ERR wrong number of arguments for 'get' command`.
    pub fn arity(command: &str) -> String {
        format!("ERR wrong number of arguments for '{}' command", command.to_ascii_lowercase())
    }
}

/// Deepest nesting [`Value::decode`] accepts.
const MAX_DEPTH: usize = 16;

impl Value {
    /// The binary form a keyspace actor replies with (tag byte, then the
    /// payload; lengths and counts `u32` LE).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(16);
        self.encode_into(&mut out);
        out.freeze()
    }

    pub(crate) fn encode_into(&self, out: &mut BytesMut) {
        let text = |out: &mut BytesMut, tag: u8, b: &[u8]| {
            out.put_u8(tag);
            out.put_u32_le(b.len() as u32);
            out.put_slice(b);
        };
        match self {
            Value::Nil => out.put_u8(0),
            Value::NilArray => out.put_u8(1),
            Value::Int(i) => {
                out.put_u8(2);
                out.put_i64_le(*i);
            }
            Value::Bulk(b) => text(out, 3, b),
            Value::Simple(s) => text(out, 4, s.as_bytes()),
            Value::Error(s) => text(out, 5, s.as_bytes()),
            Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                out.put_u8(match self {
                    Value::Array(_) => 6,
                    Value::Set(_) => 8,
                    _ => 13,
                });
                out.put_u32_le(items.len() as u32);
                items.iter().for_each(|v| v.encode_into(out));
            }
            Value::Map(pairs) | Value::Pairs(pairs) => {
                out.put_u8(if matches!(self, Value::Map(_)) { 7 } else { 12 });
                out.put_u32_le(pairs.len() as u32);
                for (k, v) in pairs {
                    k.encode_into(out);
                    v.encode_into(out);
                }
            }
            Value::Double(d) => {
                out.put_u8(9);
                out.put_f64_le(*d);
            }
            Value::HumanDouble(d) => {
                out.put_u8(14);
                out.put_f64_le(*d);
            }
            Value::Bool(b) => {
                out.put_u8(10);
                out.put_u8(u8::from(*b));
            }
            Value::Verbatim(s) => text(out, 11, s.as_bytes()),
        }
    }

    /// Decodes [`Value::encode`]'s form; `None` if malformed.
    pub fn decode(bytes: &Bytes) -> Option<Value> {
        let mut input = bytes.clone();
        let value = Value::decode_from(&mut input, 0)?;
        (!input.has_remaining()).then_some(value)
    }

    fn decode_from(input: &mut Bytes, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH || !input.has_remaining() {
            return None;
        }
        let take = |input: &mut Bytes| -> Option<Bytes> {
            if input.remaining() < 4 {
                return None;
            }
            let len = input.get_u32_le() as usize;
            (input.remaining() >= len).then(|| input.split_to(len))
        };
        let string = |input: &mut Bytes| take(input).and_then(|b| String::from_utf8(b.to_vec()).ok());
        let count = |input: &mut Bytes| (input.remaining() >= 4).then(|| input.get_u32_le() as usize);
        Some(match input.get_u8() {
            0 => Value::Nil,
            1 => Value::NilArray,
            2 if input.remaining() >= 8 => Value::Int(input.get_i64_le()),
            3 => Value::Bulk(take(input)?),
            4 => Value::Simple(string(input)?),
            5 => Value::Error(string(input)?),
            tag @ (6 | 8 | 13) => {
                let n = count(input)?;
                let mut items = Vec::with_capacity(n.min(input.remaining()));
                for _ in 0..n {
                    items.push(Value::decode_from(input, depth + 1)?);
                }
                match tag {
                    6 => Value::Array(items),
                    8 => Value::Set(items),
                    _ => Value::Push(items),
                }
            }
            tag @ (7 | 12) => {
                let n = count(input)?;
                let mut pairs = Vec::with_capacity(n.min(input.remaining()));
                for _ in 0..n {
                    let k = Value::decode_from(input, depth + 1)?;
                    pairs.push((k, Value::decode_from(input, depth + 1)?));
                }
                if tag == 7 { Value::Map(pairs) } else { Value::Pairs(pairs) }
            }
            9 if input.remaining() >= 8 => Value::Double(input.get_f64_le()),
            14 if input.remaining() >= 8 => Value::HumanDouble(input.get_f64_le()),
            10 if input.has_remaining() => Value::Bool(input.get_u8() == 1),
            11 => Value::Verbatim(string(input)?),
            _ => return None,
        })
    }

    /// Writes this reply in RESP2 (`resp3 == false`) or RESP3.
    pub fn write_resp(&self, out: &mut BytesMut, resp3: bool) {
        match self {
            Value::Nil if resp3 => out.put_slice(b"_\r\n"),
            Value::Nil => out.put_slice(b"$-1\r\n"),
            Value::NilArray if resp3 => out.put_slice(b"_\r\n"),
            Value::NilArray => out.put_slice(b"*-1\r\n"),
            Value::Int(i) => line(out, b':', i.to_string().as_bytes()),
            Value::Bulk(b) => bulk(out, b),
            Value::Simple(s) => line(out, b'+', s.as_bytes()),
            Value::Error(s) => line(out, b'-', s.replace(['\r', '\n'], " ").as_bytes()),
            Value::Array(items) => {
                line(out, b'*', items.len().to_string().as_bytes());
                items.iter().for_each(|v| v.write_resp(out, resp3));
            }
            Value::Set(items) | Value::Push(items) => {
                let tag = match (resp3, self) {
                    (false, _) => b'*',
                    (true, Value::Set(_)) => b'~',
                    _ => b'>',
                };
                line(out, tag, items.len().to_string().as_bytes());
                items.iter().for_each(|v| v.write_resp(out, resp3));
            }
            Value::Map(pairs) | Value::Pairs(pairs) if !resp3 => {
                line(out, b'*', (pairs.len() * 2).to_string().as_bytes());
                write_pairs(out, pairs, resp3);
            }
            Value::Map(pairs) => {
                line(out, b'%', pairs.len().to_string().as_bytes());
                write_pairs(out, pairs, resp3);
            }
            Value::Pairs(pairs) => {
                line(out, b'*', pairs.len().to_string().as_bytes());
                for pair in pairs {
                    out.put_slice(b"*2\r\n");
                    write_pairs(out, std::slice::from_ref(pair), resp3);
                }
            }
            Value::Double(d) if resp3 => line(out, b',', crate::keyspace::format_f64(*d).as_bytes()),
            Value::Double(d) => bulk(out, crate::keyspace::format_f64(*d).as_bytes()),
            Value::HumanDouble(d) if resp3 => line(out, b',', human(*d).as_bytes()),
            Value::HumanDouble(d) => bulk(out, human(*d).as_bytes()),
            Value::Bool(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Value::Bool(b) => out.put_slice(if *b { b":1\r\n" } else { b":0\r\n" }),
            Value::Verbatim(s) if resp3 => {
                line(out, b'=', (s.len() + 4).to_string().as_bytes());
                out.put_slice(b"txt:");
                out.put_slice(s.as_bytes());
                out.put_slice(b"\r\n");
            }
            Value::Verbatim(s) => bulk(out, s.as_bytes()),
        }
    }
}

/// Redis' `ld2string(..., LD_STR_HUMAN)`: 17 decimals, trailing zeros and
/// a trailing dot removed, `-0` as `0`.
pub(crate) fn human(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d.is_nan() {
        return "nan".into();
    }
    let fixed = format!("{d:.17}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" { "0".into() } else { trimmed.into() }
}

fn write_pairs(out: &mut BytesMut, pairs: &[(Value, Value)], resp3: bool) {
    for (k, v) in pairs {
        k.write_resp(out, resp3);
        v.write_resp(out, resp3);
    }
}

fn line(out: &mut BytesMut, tag: u8, body: &[u8]) {
    out.put_u8(tag);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

fn bulk(out: &mut BytesMut, body: &[u8]) {
    line(out, b'$', body.len().to_string().as_bytes());
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(v: &Value, resp3: bool) -> String {
        let mut out = BytesMut::new();
        v.write_resp(&mut out, resp3);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn binary_form_round_trips_and_rejects_garbage() {
        let v = Value::Array(vec![
            Value::Nil,
            Value::Int(-3),
            Value::bulk("x"),
            Value::Map(vec![(Value::bulk("k"), Value::Double(1.5))]),
            Value::Pairs(vec![(Value::bulk("m"), Value::Double(2.0))]),
            Value::Set(vec![Value::Bool(true)]),
            Value::err("ERR x"),
        ]);
        assert_eq!(Value::decode(&v.encode()), Some(v));
        assert_eq!(Value::decode(&Bytes::from_static(b"\x06\xff\xff\xff\xff")), None);
        assert_eq!(Value::decode(&Bytes::from_static(b"\x02\x01")), None);
    }

    #[test]
    fn resp2_flattens_what_resp3_types() {
        let map = Value::Map(vec![(Value::bulk("a"), Value::bulk("1"))]);
        assert_eq!(resp(&map, false), "*2\r\n$1\r\na\r\n$1\r\n1\r\n");
        assert_eq!(resp(&map, true), "%1\r\n$1\r\na\r\n$1\r\n1\r\n");
        let pairs = Value::Pairs(vec![(Value::bulk("m"), Value::Double(1.5))]);
        assert_eq!(resp(&pairs, false), "*2\r\n$1\r\nm\r\n$3\r\n1.5\r\n");
        assert_eq!(resp(&pairs, true), "*1\r\n*2\r\n$1\r\nm\r\n,1.5\r\n");
        assert_eq!(resp(&Value::Nil, false), "$-1\r\n");
        assert_eq!(resp(&Value::NilArray, false), "*-1\r\n");
        assert_eq!(resp(&Value::NilArray, true), "_\r\n");
        let coordinate = Value::HumanDouble(13.361389338970184);
        assert_eq!(resp(&coordinate, false), "$20\r\n13.36138933897018433\r\n");
        assert_eq!(resp(&coordinate, true), ",13.36138933897018433\r\n");
        assert_eq!(resp(&Value::HumanDouble(180.0), false), "$3\r\n180\r\n");
        assert_eq!(resp(&Value::HumanDouble(-0.0), true), ",0\r\n");
        assert_eq!(Value::decode(&coordinate.encode()), Some(coordinate));
    }
}
