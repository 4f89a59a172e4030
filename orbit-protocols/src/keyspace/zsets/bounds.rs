//! Parsing scores and ranges the way Redis does: scores of ZADD/ZINCRBY,
//! score intervals (`(1.5`, `-inf`) and lex intervals (`[a`, `(b`, `-`, `+`).

use crate::keyspace::parse_f64;
use crate::keyspace::value::{Value, errors};
use bytes::Bytes;
use std::cmp::Ordering;

/// A ZADD/ZINCRBY score. Like Redis (strtod + ERANGE check) this refuses
/// values that overflow to infinity or underflow to zero, which
/// [`parse_f64`] alone would accept.
pub(super) fn parse_score(arg: &[u8]) -> Result<f64, Value> {
    let score = parse_f64(arg)?;
    let text = arg.to_ascii_lowercase();
    let spelled_infinite = text.ends_with(b"inf") || text.ends_with(b"infinity");
    let mantissa = text.split(|&c| c == b'e').next().unwrap_or_default();
    let nonzero_digits = mantissa.iter().any(|c| (b'1'..=b'9').contains(c));
    if (score.is_infinite() && !spelled_infinite) || (score == 0.0 && nonzero_digits) {
        return Err(Value::err(errors::NOT_FLOAT));
    }
    Ok(score)
}

/// C's `strtod` on a whole argument, as Redis' range parsing uses it: an
/// empty text is 0, leading spaces are skipped, overflow gives ±inf, NaN
/// is refused. (Hex floats, which strtod also reads, are not supported.)
fn strtod(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() {
        return Some(0.0);
    }
    let start = arg.iter().position(|c| !matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    let text = std::str::from_utf8(arg.get(start..)?).ok()?;
    let value: f64 = text.parse().ok()?;
    (!value.is_nan()).then_some(value)
}

/// A score interval; `minex`/`maxex` mark exclusive ends.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    /// `ERR min or max is not a float` unless both ends parse.
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, Value> {
        let end = |arg: &[u8]| match arg.split_first() {
            Some((b'(', rest)) => strtod(rest).map(|v| (v, true)),
            _ => strtod(arg).map(|v| (v, false)),
        };
        match (end(min), end(max)) {
            (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange { min, max, minex, maxex }),
            _ => Err(Value::err("ERR min or max is not a float")),
        }
    }

    /// Whether no score can be inside (Redis checks this before walking).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lex interval: `-`, `+`, `[member` or `(member`.
#[derive(Debug, Clone, PartialEq)]
enum LexBound {
    /// `-`: below every member.
    Lowest,
    /// `+`: above every member.
    Highest,
    Inclusive(Bytes),
    Exclusive(Bytes),
}

impl LexBound {
    fn parse(arg: &Bytes) -> Option<LexBound> {
        match arg.first()? {
            b'-' if arg.len() == 1 => Some(LexBound::Lowest),
            b'+' if arg.len() == 1 => Some(LexBound::Highest),
            b'[' => Some(LexBound::Inclusive(arg.slice(1..))),
            b'(' => Some(LexBound::Exclusive(arg.slice(1..))),
            _ => None,
        }
    }

    /// How `member` compares with this bound, ignoring exclusiveness.
    fn compare(&self, member: &[u8]) -> Ordering {
        match self {
            LexBound::Lowest => Ordering::Greater,
            LexBound::Highest => Ordering::Less,
            LexBound::Inclusive(b) | LexBound::Exclusive(b) => member.cmp(b),
        }
    }

    /// `-` and `+` count as exclusive, as in Redis.
    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Inclusive(_))
    }
}

/// A lex interval over member bytes (meant for members of equal score).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LexRange {
    min: LexBound,
    max: LexBound,
}

impl LexRange {
    /// `ERR min or max not valid string range item` unless both ends parse.
    pub fn parse(min: &Bytes, max: &Bytes) -> Result<LexRange, Value> {
        match (LexBound::parse(min), LexBound::parse(max)) {
            (Some(min), Some(max)) => Ok(LexRange { min, max }),
            _ => Err(Value::err("ERR min or max not valid string range item")),
        }
    }

    pub fn above_min(&self, member: &[u8]) -> bool {
        match self.min.compare(member) {
            Ordering::Greater => true,
            Ordering::Equal => !self.min.exclusive(),
            Ordering::Less => false,
        }
    }

    pub fn below_max(&self, member: &[u8]) -> bool {
        match self.max.compare(member) {
            Ordering::Less => true,
            Ordering::Equal => !self.max.exclusive(),
            Ordering::Greater => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(min: &str, max: &str) -> Result<ScoreRange, Value> {
        ScoreRange::parse(min.as_bytes(), max.as_bytes())
    }

    #[test]
    fn scores_refuse_overflow_underflow_and_nan() {
        assert_eq!(parse_score(b"1.5"), Ok(1.5));
        assert_eq!(parse_score(b"-inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+Infinity"), Ok(f64::INFINITY));
        assert_eq!(parse_score(b"0e10"), Ok(0.0));
        assert_eq!(parse_score(b"1e-320").map(|v| v > 0.0), Ok(true));
        for bad in ["1e400", "1e-400", "nan", "", " 1", "x"] {
            assert_eq!(parse_score(bad.as_bytes()), Err(Value::err(errors::NOT_FLOAT)), "{bad}");
        }
    }

    #[test]
    fn score_ranges_parse_like_strtod() {
        assert_eq!(
            range("(1", "+inf"),
            Ok(ScoreRange { min: 1.0, max: f64::INFINITY, minex: true, maxex: false })
        );
        assert_eq!(range("", " 2").map(|r| (r.min, r.max)), Ok((0.0, 2.0)));
        assert_eq!(range("(", "1e400").map(|r| (r.min, r.minex, r.max)), Ok((0.0, true, f64::INFINITY)));
        for (min, max) in [("1 ", "2"), ("((1", "2"), ("[1", "2"), ("(nan", "1"), ("a", "b"), (" ", "1")] {
            assert_eq!(range(min, max), Err(Value::err("ERR min or max is not a float")), "{min} {max}");
        }
        assert!(range("(1", "1").unwrap().is_empty());
        assert!(!range("1", "1").unwrap().is_empty());
    }

    #[test]
    fn lex_ranges() {
        let lex = |min: &'static str, max: &'static str| {
            LexRange::parse(&Bytes::from_static(min.as_bytes()), &Bytes::from_static(max.as_bytes()))
        };
        let all = lex("-", "+").unwrap();
        assert!(all.above_min(b"") && all.below_max(b"\xff"));
        let r = lex("[b", "(d").unwrap();
        assert!(r.above_min(b"b") && !r.above_min(b"a") && r.below_max(b"c") && !r.below_max(b"d"));
        let inverted = lex("+", "-").unwrap();
        assert!(!inverted.above_min(b"a") && !inverted.below_max(b"a"));
        assert_eq!(lex("[", "(").map(|r| r.above_min(b"")), Ok(true));
        for (min, max) in [("a", "+"), ("-", "++"), ("", "+"), ("-", "")] {
            assert_eq!(lex(min, max), Err(Value::err("ERR min or max not valid string range item")));
        }
    }
}
