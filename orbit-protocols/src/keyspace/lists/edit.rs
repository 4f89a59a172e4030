//! LSET, LINSERT, LREM, LTRIM: changing a list in place.

use super::query::resolve_index;
use super::{index_range, list_mut};
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{KeyState, parse_i64};
use bytes::Bytes;

/// `LSET key index element`.
pub(super) fn lset(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [index, element] = args else { return Err(Value::err(errors::arity(name))) };
    let Some((list, ops)) = list_mut(ks, now_ms)? else { return Err(Value::err(errors::NO_SUCH_KEY)) };
    let index = parse_i64(index)?;
    match resolve_index(index, list.len()) {
        Some(i) if list.set(i, element.clone(), ops) => Ok(Value::ok()),
        _ => Err(Value::err(errors::OUT_OF_RANGE)),
    }
}

/// `LINSERT key BEFORE|AFTER pivot element`: the new length, -1 without
/// the pivot, 0 without the key.
pub(super) fn linsert(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [side, pivot, element] = args else { return Err(Value::err(errors::arity(name))) };
    let after = match side.to_ascii_lowercase().as_slice() {
        b"after" => true,
        b"before" => false,
        _ => return Err(Value::err(errors::SYNTAX)),
    };
    let Some((list, ops)) = list_mut(ks, now_ms)? else { return Ok(Value::Int(0)) };
    let Some(at) = list.elements().position(|e| e == pivot) else { return Ok(Value::Int(-1)) };
    list.insert(at + usize::from(after), element.clone(), ops);
    Ok(Value::Int(list.len() as i64))
}

/// `LREM key count element`: removes up to |count| matches (all for 0),
/// from the tail when count is negative.
pub(super) fn lrem(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [count, element] = args else { return Err(Value::err(errors::arity(name))) };
    let count = parse_i64(count)?;
    let Some((list, ops)) = list_mut(ks, now_ms)? else { return Ok(Value::Int(0)) };
    let limit =
        if count == 0 { usize::MAX } else { usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX) };
    // Indexes of the matches to remove, in list order.
    let matching = |(i, e): (usize, &Bytes)| (e == element).then_some(i);
    let mut doomed: Vec<usize> = if count < 0 {
        list.items.iter().enumerate().rev().filter_map(matching).take(limit).collect()
    } else {
        list.items.iter().enumerate().filter_map(matching).take(limit).collect()
    };
    doomed.sort_unstable();
    let removed = list.retain_from(|i, _| doomed.binary_search(&i).is_err(), ops);
    Ok(Value::Int(removed as i64))
}

/// `LTRIM key start stop`: keeps only the range (indexes parsed first).
pub(super) fn ltrim(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [start, stop] = args else { return Err(Value::err(errors::arity(name))) };
    let (start, stop) = (parse_i64(start)?, parse_i64(stop)?);
    let Some((list, ops)) = list_mut(ks, now_ms)? else { return Ok(Value::ok()) };
    let len = list.len();
    // An empty range empties the list (and so deletes the key).
    let (first, last) = index_range(start, stop, len).unwrap_or((len, len));
    for _ in 0..first {
        list.pop_front(ops);
    }
    for _ in last.saturating_add(1).min(len)..len {
        list.pop_back(ops);
    }
    Ok(Value::ok())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use crate::keyspace::{WriteOp, list_position};

    fn listed(items: &[&str]) -> KeyState {
        let mut ks = KeyState::default();
        let mut argv = vec!["rpush", "l"];
        argv.extend_from_slice(items);
        run(&mut ks, &argv);
        ks.drain_entry_ops();
        ks
    }

    fn put(pos: i64, v: &'static str) -> WriteOp {
        WriteOp::Put(list_position(pos), Bytes::from_static(v.as_bytes()))
    }

    #[test]
    fn lset_puts_one_position() {
        let mut ks = listed(&["a", "b", "c"]);
        assert_eq!(run(&mut ks, &["lset", "l", "-2", "B"]), Value::ok());
        assert_eq!(ks.drain_entry_ops(), vec![put(1, "B")]);
        assert_eq!(run(&mut ks, &["lset", "l", "3", "x"]), err(errors::OUT_OF_RANGE));
        assert_eq!(run(&mut ks, &["lset", "l", "x", "x"]), err(errors::NOT_INTEGER));
        assert_eq!(run(&mut KeyState::default(), &["lset", "l", "x", "x"]), err(errors::NO_SUCH_KEY));
    }

    #[test]
    fn linsert_shifts_the_shorter_side() {
        let mut ks = listed(&["a", "b", "c", "d"]);
        assert_eq!(run(&mut ks, &["linsert", "l", "BEFORE", "b", "x"]), Value::Int(5));
        assert_eq!(ks.drain_entry_ops(), vec![put(-1, "a"), put(0, "x")]);
        assert_eq!(run(&mut ks, &["linsert", "l", "after", "c", "y"]), Value::Int(6));
        assert_eq!(ks.drain_entry_ops(), vec![put(3, "y"), put(4, "d")]);
        assert_eq!(run(&mut ks, &["lrange", "l", "0", "-1"]), bulks(&["a", "x", "b", "c", "y", "d"]));
        assert_eq!(run(&mut ks, &["linsert", "l", "after", "zz", "y"]), Value::Int(-1));
        assert_eq!(run(&mut ks, &["linsert", "l", "middle", "a", "y"]), err(errors::SYNTAX));
        assert_eq!(run(&mut KeyState::default(), &["linsert", "l", "before", "a", "b"]), Value::Int(0));
    }

    #[test]
    fn lrem_compacts_from_the_first_removal() {
        let mut ks = listed(&["a", "x", "b", "x", "c", "x"]);
        assert_eq!(run(&mut ks, &["lrem", "l", "-2", "x"]), Value::Int(2));
        let deletes = [WriteOp::Delete(list_position(4)), WriteOp::Delete(list_position(5))];
        assert_eq!(ks.drain_entry_ops(), [vec![put(3, "c")], deletes.to_vec()].concat());
        assert_eq!(run(&mut ks, &["lrange", "l", "0", "-1"]), bulks(&["a", "x", "b", "c"]));
        assert_eq!(run(&mut ks, &["lrem", "l", "0", "zz"]), Value::Int(0));
        assert!(ks.drain_entry_ops().is_empty());
        assert_eq!(run(&mut ks, &["lrem", "l", "1", "a"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["lrange", "l", "0", "-1"]), bulks(&["x", "b", "c"]));
        assert_eq!(run(&mut ks, &["lrem", "l", "x", "a"]), err(errors::NOT_INTEGER));
    }

    #[test]
    fn ltrim_pops_both_ends() {
        let mut ks = listed(&["a", "b", "c", "d"]);
        assert_eq!(run(&mut ks, &["ltrim", "l", "1", "-2"]), Value::ok());
        assert_eq!(
            ks.drain_entry_ops(),
            vec![WriteOp::Delete(list_position(0)), WriteOp::Delete(list_position(3))]
        );
        assert_eq!(run(&mut ks, &["lrange", "l", "0", "-1"]), bulks(&["b", "c"]));
        assert_eq!(run(&mut ks, &["ltrim", "l", "5", "10"]), Value::ok());
        assert!(ks.is_empty());
        assert_eq!(ks.drain_entry_ops().len(), 2);
        assert_eq!(run(&mut ks, &["ltrim", "l", "0", "1"]), Value::ok());
        assert_eq!(run(&mut ks, &["ltrim", "l", "x", "1"]), err(errors::NOT_INTEGER));
    }
}
