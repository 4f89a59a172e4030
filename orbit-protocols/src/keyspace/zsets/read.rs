//! ZSCORE, ZMSCORE, ZCARD, ZRANK, ZREVRANK, ZSCAN: reading a sorted set.

use super::zset_ref;
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{KeyState, format_f64, glob, parse_i64};
use bytes::Bytes;

/// `ZSCORE key member`: a double, or nil.
pub(super) fn zscore(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [member] = args else { return Err(Value::err(errors::arity(name))) };
    let score = zset_ref(ks, now_ms)?.and_then(|z| z.score(member));
    Ok(score.map_or(Value::Nil, Value::Double))
}

/// `ZMSCORE key member [member ...]`: a double or nil per member.
pub(super) fn zmscore(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    if args.is_empty() {
        return Err(Value::err(errors::arity(name)));
    }
    let zset = zset_ref(ks, now_ms)?;
    let score = |member: &Bytes| zset.and_then(|z| z.score(member)).map_or(Value::Nil, Value::Double);
    Ok(Value::Array(args.iter().map(score).collect()))
}

/// `ZCARD key`.
pub(super) fn zcard(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    if !args.is_empty() {
        return Err(Value::err(errors::arity(name)));
    }
    Ok(Value::Int(zset_ref(ks, now_ms)?.map_or(0, |z| z.len() as i64)))
}

/// `ZRANK|ZREVRANK key member [WITHSCORE]` (WITHSCORE: Redis 7.2): the
/// rank, or `[rank, score]`; nil (a nil array with WITHSCORE) if absent.
pub(super) fn zrank(
    ks: &mut KeyState,
    name: &str,
    args: &[Bytes],
    now_ms: u64,
    rev: bool,
) -> Result<Value, Value> {
    let (member, withscore) = match args {
        [member] => (member, false),
        [member, option] if option.eq_ignore_ascii_case(b"withscore") => (member, true),
        [_, _] => return Err(Value::err(errors::SYNTAX)),
        _ => return Err(Value::err(errors::arity(name))),
    };
    let missing = if withscore { Value::NilArray } else { Value::Nil };
    let Some((rank, score)) = zset_ref(ks, now_ms)?.and_then(|z| z.rank(member, rev)) else {
        return Ok(missing);
    };
    Ok(if withscore {
        Value::Array(vec![Value::Int(rank as i64), Value::Double(score)])
    } else {
        Value::Int(rank as i64)
    })
}

/// `ZSCAN key cursor [MATCH pattern] [COUNT count]`: everything that
/// matches in one reply, with cursor 0 (what Redis does for small sets).
/// Scores are bulk strings here, as in Redis.
pub(super) fn zscan(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some((cursor, options)) = args.split_first() else { return Err(Value::err(errors::arity(name))) };
    if !valid_cursor(cursor) {
        return Err(Value::err("ERR invalid cursor"));
    }
    let reply = |items: Vec<Value>| Value::Array(vec![Value::bulk("0"), Value::Array(items)]);
    // Like Redis, the options are only checked when the key exists.
    let Some(zset) = zset_ref(ks, now_ms)? else { return Ok(reply(vec![])) };
    let pattern = parse_scan_options(options)?;
    let wanted = |member: &Bytes| pattern.as_ref().is_none_or(|p| glob::matches(p, member));
    let items = zset
        .pairs()
        .filter(|(member, _)| wanted(member))
        .flat_map(|(member, score)| [Value::Bulk(member.clone()), Value::bulk(format_f64(score))])
        .collect();
    Ok(reply(items))
}

/// A cursor as C's `strtoul` reads it for Redis: an optional sign and
/// decimal digits that fit 64 bits (the empty text is cursor 0).
fn valid_cursor(cursor: &[u8]) -> bool {
    let digits = match cursor.split_first() {
        None => return true,
        Some((b'+' | b'-', rest)) => rest,
        Some(_) => cursor,
    };
    !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(digits).is_ok_and(|d| d.parse::<u64>().is_ok())
}

/// MATCH and COUNT; returns the pattern unless it matches everything.
fn parse_scan_options(args: &[Bytes]) -> Result<Option<Bytes>, Value> {
    let mut pattern = None;
    let mut rest = args;
    while let [option, value, tail @ ..] = rest {
        match option.to_ascii_lowercase().as_slice() {
            b"count" if parse_i64(value)? < 1 => return Err(Value::err(errors::SYNTAX)),
            b"count" => {}
            b"match" => pattern = (value.as_ref() != b"*").then(|| value.clone()),
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        rest = tail;
    }
    if rest.is_empty() { Ok(pattern) } else { Err(Value::err(errors::SYNTAX)) }
}

#[cfg(test)]
mod tests {
    use super::super::super::lists::test_support::*;
    use super::*;

    fn zsetted() -> KeyState {
        let mut ks = KeyState::default();
        run(&mut ks, &["zadd", "z", "1", "a", "2.5", "b", "3", "c"]);
        ks.drain_entry_ops();
        ks
    }

    #[test]
    fn scores_and_cardinality() {
        let mut ks = zsetted();
        assert_eq!(run(&mut ks, &["zscore", "z", "b"]), Value::Double(2.5));
        assert_eq!(run(&mut ks, &["zscore", "z", "x"]), Value::Nil);
        assert_eq!(
            run(&mut ks, &["zmscore", "z", "a", "x"]),
            Value::Array(vec![Value::Double(1.0), Value::Nil])
        );
        assert_eq!(run(&mut KeyState::default(), &["zmscore", "nokey", "a"]), Value::Array(vec![Value::Nil]));
        assert_eq!(run(&mut ks, &["zcard", "z"]), Value::Int(3));
        assert_eq!(
            run(&mut ks, &["zcard", "z", "x"]),
            err("ERR wrong number of arguments for 'zcard' command")
        );
        assert_eq!(
            run(&mut ks, &["zmscore", "z"]),
            err("ERR wrong number of arguments for 'zmscore' command")
        );
    }

    #[test]
    fn ranks_with_and_without_score() {
        let mut ks = zsetted();
        assert_eq!(run(&mut ks, &["zrank", "z", "c"]), Value::Int(2));
        assert_eq!(run(&mut ks, &["zrevrank", "z", "c"]), Value::Int(0));
        assert_eq!(
            run(&mut ks, &["zrank", "z", "b", "WITHSCORE"]),
            Value::Array(vec![Value::Int(1), Value::Double(2.5)])
        );
        assert_eq!(run(&mut ks, &["zrank", "z", "x"]), Value::Nil);
        assert_eq!(run(&mut ks, &["zrevrank", "z", "x", "withscore"]), Value::NilArray);
        assert_eq!(run(&mut ks, &["zrank", "z", "a", "foo"]), err(errors::SYNTAX));
        assert_eq!(
            run(&mut ks, &["zrank", "z", "a", "withscore", "x"]),
            err("ERR wrong number of arguments for 'zrank' command")
        );
    }

    #[test]
    fn zscan_returns_everything_at_once() {
        let mut ks = zsetted();
        let all = Value::Array(vec![
            Value::bulk("0"),
            Value::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2.5"), bulk("c"), bulk("3")]),
        ]);
        assert_eq!(run(&mut ks, &["zscan", "z", "0"]), all);
        assert_eq!(run(&mut ks, &["zscan", "z", "0", "count", "1", "match", "*"]), all);
        assert_eq!(
            run(&mut ks, &["zscan", "z", "0", "MATCH", "b*"]),
            Value::Array(vec![Value::bulk("0"), Value::Array(vec![bulk("b"), bulk("2.5")])])
        );
        assert_eq!(
            run(&mut KeyState::default(), &["zscan", "nokey", "0", "count", "0"]),
            Value::Array(vec![Value::bulk("0"), Value::Array(vec![])])
        );
    }

    #[test]
    fn zscan_errors() {
        let mut ks = zsetted();
        for cursor in ["x", " 1", "1 ", "18446744073709551616", "+", "-"] {
            assert_eq!(run(&mut ks, &["zscan", "z", cursor]), err("ERR invalid cursor"), "{cursor:?}");
        }
        for cursor in ["", "-1", "+7", "18446744073709551615"] {
            assert!(!run(&mut ks, &["zscan", "z", cursor]).is_error(), "{cursor:?}");
        }
        assert_eq!(run(&mut ks, &["zscan", "z", "0", "count", "0"]), err(errors::SYNTAX));
        assert_eq!(run(&mut ks, &["zscan", "z", "0", "count", "x"]), err(errors::NOT_INTEGER));
        assert_eq!(run(&mut ks, &["zscan", "z", "0", "match"]), err(errors::SYNTAX));
        assert_eq!(run(&mut ks, &["zscan", "z", "0", "novalues"]), err(errors::SYNTAX));
        assert_eq!(run(&mut ks, &["zscan", "z"]), err("ERR wrong number of arguments for 'zscan' command"));
    }
}
