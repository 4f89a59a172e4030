//! LLEN, LRANGE, LINDEX, LPOS: reading a list.

use super::{index_range, list_ref};
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{KeyState, parse_i64};
use bytes::Bytes;

/// `LLEN key`.
pub(super) fn llen(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    if !args.is_empty() {
        return Err(Value::err(errors::arity(name)));
    }
    Ok(Value::Int(list_ref(ks, now_ms)?.map_or(0, |l| l.len() as i64)))
}

/// `LRANGE key start stop` (indexes are parsed before the key is read).
pub(super) fn lrange(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [start, stop] = args else { return Err(Value::err(errors::arity(name))) };
    let (start, stop) = (parse_i64(start)?, parse_i64(stop)?);
    let Some(list) = list_ref(ks, now_ms)? else { return Ok(Value::Array(vec![])) };
    let Some((first, last)) = index_range(start, stop, list.len()) else { return Ok(Value::Array(vec![])) };
    Ok(Value::Array(list.items.range(first..=last).cloned().map(Value::Bulk).collect()))
}

/// `LINDEX key index`: the key is read first, so a missing key answers
/// nil even to a bad index.
pub(super) fn lindex(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [index] = args else { return Err(Value::err(errors::arity(name))) };
    let Some(list) = list_ref(ks, now_ms)? else { return Ok(Value::Nil) };
    let index = parse_i64(index)?;
    Ok(resolve_index(index, list.len()).and_then(|i| list.get(i)).cloned().map_or(Value::Nil, Value::Bulk))
}

/// A Redis element index (negative from the end) as a position, if in range.
pub(super) fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { index.checked_add(len as i64)? } else { index };
    usize::try_from(index).ok().filter(|&i| i < len)
}

/// The options of LPOS.
#[derive(Debug, PartialEq)]
struct LposOptions {
    /// Which match to start from; negative scans from the tail.
    rank: i64,
    /// `None`: reply with one index; `Some(0)`: all matches.
    count: Option<usize>,
    /// Elements to scan at most; 0 is no limit.
    maxlen: usize,
}

/// `LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]`.
pub(super) fn lpos(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some((element, options)) = args.split_first() else { return Err(Value::err(errors::arity(name))) };
    let options = parse_lpos_options(options)?;
    let Some(list) = list_ref(ks, now_ms)? else {
        return Ok(if options.count.is_some() { Value::Array(vec![]) } else { Value::Nil });
    };
    let len = list.len();
    let scan = if options.maxlen == 0 { len } else { options.maxlen.min(len) };
    let at = |i: usize| if options.rank < 0 { len - 1 - i } else { i };
    let skip = (options.rank.unsigned_abs() - 1) as usize;
    let mut matches = (0..scan).map(at).filter(|&i| list.get(i) == Some(element)).skip(skip);
    let Some(count) = options.count else {
        return Ok(matches.next().map_or(Value::Nil, |i| Value::Int(i as i64)));
    };
    let limit = if count == 0 { usize::MAX } else { count };
    Ok(Value::Array(matches.take(limit).map(|i| Value::Int(i as i64)).collect()))
}

fn parse_lpos_options(args: &[Bytes]) -> Result<LposOptions, Value> {
    let mut options = LposOptions { rank: 1, count: None, maxlen: 0 };
    let mut rest = args;
    while let Some((option, tail)) = rest.split_first() {
        let Some((value, tail)) = tail.split_first() else { return Err(Value::err(errors::SYNTAX)) };
        match option.to_ascii_uppercase().as_slice() {
            b"RANK" => options.rank = parse_rank(value)?,
            b"COUNT" => options.count = Some(parse_non_negative(value, "ERR COUNT can't be negative")?),
            b"MAXLEN" => options.maxlen = parse_non_negative(value, "ERR MAXLEN can't be negative")?,
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        rest = tail;
    }
    Ok(options)
}

fn parse_rank(arg: &[u8]) -> Result<i64, Value> {
    let rank = parse_i64(arg)?;
    if rank == i64::MIN {
        // Redis 7.2 refuses it: its negation would overflow.
        return Err(Value::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if rank == 0 {
        return Err(Value::err(
            "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
        ));
    }
    Ok(rank)
}

/// COUNT and MAXLEN: a non-number gets the same message as a negative.
fn parse_non_negative(arg: &[u8], message: &str) -> Result<usize, Value> {
    parse_i64(arg).ok().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| Value::err(message))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn listed() -> KeyState {
        let mut ks = KeyState::default();
        run(&mut ks, &["rpush", "l", "a", "b", "c", "a", "b", "c", "a"]);
        ks.drain_entry_ops();
        ks
    }

    fn ints(items: &[i64]) -> Value {
        Value::Array(items.iter().map(|&i| Value::Int(i)).collect())
    }

    #[test]
    fn lrange_clamps_and_parses_before_reading() {
        let mut ks = listed();
        assert_eq!(run(&mut ks, &["lrange", "l", "-2", "100"]), bulks(&["c", "a"]));
        assert_eq!(run(&mut ks, &["lrange", "l", "0", "-1000000000000000000"]), bulks(&[]));
        assert_eq!(run(&mut ks, &["lrange", "l", "x", "1"]), err(errors::NOT_INTEGER));
        assert_eq!(
            run(&mut ks, &["lrange", "l", "1"]),
            err("ERR wrong number of arguments for 'lrange' command")
        );
        assert!(ks.drain_entry_ops().is_empty());
    }

    #[test]
    fn lindex_and_llen() {
        let mut ks = listed();
        assert_eq!(run(&mut ks, &["lindex", "l", "-1"]), bulk("a"));
        assert_eq!(run(&mut ks, &["lindex", "l", "9"]), Value::Nil);
        assert_eq!(run(&mut ks, &["lindex", "l", "-9223372036854775808"]), Value::Nil);
        assert_eq!(run(&mut ks, &["lindex", "l", "x"]), err(errors::NOT_INTEGER));
        assert_eq!(run(&mut KeyState::default(), &["lindex", "l", "x"]), Value::Nil);
        assert_eq!(run(&mut ks, &["llen", "l"]), Value::Int(7));
        assert_eq!(run(&mut KeyState::default(), &["llen", "l"]), Value::Int(0));
    }

    #[test]
    fn lpos_rank_count_maxlen() {
        let mut ks = listed();
        assert_eq!(run(&mut ks, &["lpos", "l", "a"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "rank", "2"]), Value::Int(3));
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "rank", "-1"]), Value::Int(6));
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "count", "0"]), ints(&[0, 3, 6]));
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "maxlen", "2", "count", "0"]), ints(&[0]));
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "rank", "-2", "count", "2", "maxlen", "5"]), ints(&[3]));
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "RANK", "1", "rank", "3"]), Value::Int(6));
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "rank", "9223372036854775807"]), Value::Nil);
        assert_eq!(run(&mut ks, &["lpos", "l", "z", "count", "2"]), ints(&[]));
        assert_eq!(run(&mut ks, &["lpos", "nokey", "z"]), Value::Nil);
        assert_eq!(run(&mut ks, &["lpos", "nokey", "z", "count", "1"]), ints(&[]));
    }

    #[test]
    fn lpos_errors() {
        let mut ks = listed();
        let zero = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "rank", "0"]), err(zero));
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "rank", "x"]), err(errors::NOT_INTEGER));
        assert_eq!(
            run(&mut ks, &["lpos", "l", "a", "rank", "-9223372036854775808"]),
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        );
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "count", "x"]), err("ERR COUNT can't be negative"));
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "maxlen", "-1"]), err("ERR MAXLEN can't be negative"));
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "rank"]), err(errors::SYNTAX));
        assert_eq!(run(&mut ks, &["lpos", "l", "a", "foo"]), err(errors::SYNTAX));
        assert_eq!(run(&mut ks, &["lpos", "l"]), err("ERR wrong number of arguments for 'lpos' command"));
    }
}
