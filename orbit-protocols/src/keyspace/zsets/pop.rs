//! ZREM, ZPOPMIN, ZPOPMAX: taking members out.

use super::{scored, zset_mut};
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{KeyState, parse_i64};
use bytes::Bytes;

/// `ZREM key member [member ...]`: how many were there.
pub(super) fn zrem(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    if args.is_empty() {
        return Err(Value::err(errors::arity(name)));
    }
    let Some((zset, ops)) = zset_mut(ks, now_ms)? else { return Ok(Value::Int(0)) };
    let removed = args.iter().filter(|member| zset.remove(member, ops).is_some()).count();
    Ok(Value::Int(removed as i64))
}

/// `ZPOPMIN|ZPOPMAX key [count]`: without count a flat `[member, score]`,
/// with one an array of `[member, score]` pairs (RESP3 shape; the
/// connection flattens it for RESP2). Extra arguments are a syntax error
/// in Redis, not an arity one.
pub(super) fn zpop(ks: &mut KeyState, args: &[Bytes], now_ms: u64, max: bool) -> Result<Value, Value> {
    let count = match args {
        [] => None,
        [count] => Some(parse_count(count)?),
        _ => return Err(Value::err(errors::SYNTAX)),
    };
    let Some((zset, ops)) = zset_mut(ks, now_ms)? else { return Ok(Value::Array(vec![])) };
    let mut pop_one = || {
        let (member, _) = if max { zset.pairs().next_back() } else { zset.pairs().next() }?;
        let member = member.clone();
        let score = zset.remove(&member, ops)?;
        Some((member, score))
    };
    let Some(count) = count else {
        return Ok(Value::Array(pop_one().map_or(vec![], |(m, s)| vec![Value::Bulk(m), Value::Double(s)])));
    };
    Ok(Value::Array(std::iter::from_fn(pop_one).take(count).map(|(m, s)| scored(&m, s)).collect()))
}

/// Redis answers any bad count, even a non-number, with the range error.
fn parse_count(arg: &[u8]) -> Result<usize, Value> {
    parse_i64(arg)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| Value::err("ERR value is out of range, must be positive"))
}

#[cfg(test)]
mod tests {
    use super::super::super::lists::test_support::*;
    use super::*;
    use crate::keyspace::WriteOp;

    fn zsetted() -> KeyState {
        let mut ks = KeyState::default();
        run(&mut ks, &["zadd", "z", "1", "a", "2", "b", "3", "c"]);
        ks.drain_entry_ops();
        ks
    }

    fn delete(member: &'static str) -> WriteOp {
        WriteOp::Delete(Bytes::from_static(member.as_bytes()))
    }

    #[test]
    fn zrem_counts_and_deletes_entries() {
        let mut ks = zsetted();
        assert_eq!(run(&mut ks, &["zrem", "z", "a", "x", "a"]), Value::Int(1));
        assert_eq!(ks.drain_entry_ops(), vec![delete("a")]);
        assert_eq!(run(&mut ks, &["zrem", "nokey", "a"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["zrem", "z"]), err("ERR wrong number of arguments for 'zrem' command"));
    }

    #[test]
    fn zpop_shapes() {
        let mut ks = zsetted();
        assert_eq!(run(&mut ks, &["zpopmin", "z"]), Value::Array(vec![bulk("a"), Value::Double(1.0)]));
        assert_eq!(ks.drain_entry_ops(), vec![delete("a")]);
        assert_eq!(
            run(&mut ks, &["zpopmax", "z", "1"]),
            Value::Array(vec![Value::Array(vec![bulk("c"), Value::Double(3.0)])])
        );
        assert_eq!(run(&mut ks, &["zpopmax", "z", "0"]), Value::Array(vec![]));
        assert_eq!(
            run(&mut ks, &["zpopmin", "z", "10"]),
            Value::Array(vec![Value::Array(vec![bulk("b"), Value::Double(2.0)])])
        );
        assert!(ks.is_empty());
        assert_eq!(run(&mut ks, &["zpopmin", "z"]), Value::Array(vec![]));
    }

    #[test]
    fn zpop_errors() {
        let mut ks = zsetted();
        let range = err("ERR value is out of range, must be positive");
        assert_eq!(run(&mut ks, &["zpopmin", "z", "-1"]), range);
        assert_eq!(run(&mut ks, &["zpopmin", "nokey", "x"]), range);
        assert_eq!(run(&mut ks, &["zpopmin", "z", "1", "2"]), err(errors::SYNTAX));
        assert!(ks.drain_entry_ops().is_empty());
    }
}
