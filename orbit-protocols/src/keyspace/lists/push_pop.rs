//! LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP: the ends of a list.

use super::{List, list_mut};
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{Data, KeyState, parse_i64};
use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum End {
    Front,
    Back,
}

/// `[L|R]PUSH[X] key element [element ...]`: the new length. The X forms
/// do nothing (0) on a missing key.
pub(super) fn push(
    ks: &mut KeyState,
    name: &str,
    args: &[Bytes],
    now_ms: u64,
    end: End,
    only_existing: bool,
) -> Result<Value, Value> {
    if args.is_empty() {
        return Err(Value::err(errors::arity(name)));
    }
    ks.live(now_ms);
    if ks.data.is_none() {
        if only_existing {
            return Ok(Value::Int(0));
        }
        ks.data = Some(Data::List(List::default()));
    }
    let Some((list, ops)) = list_mut(ks, now_ms)? else { return Ok(Value::Int(0)) };
    for item in args {
        match end {
            End::Front => list.push_front(item.clone(), ops),
            End::Back => list.push_back(item.clone(), ops),
        }
    }
    Ok(Value::Int(list.len() as i64))
}

/// `[L|R]POP key [count]`: a bulk (or nil) without count, an array with
/// one; a missing key with a count is a nil array (Redis 7).
pub(super) fn pop(
    ks: &mut KeyState,
    name: &str,
    args: &[Bytes],
    now_ms: u64,
    end: End,
) -> Result<Value, Value> {
    let count = match args {
        [] => None,
        [count] => Some(parse_count(count)?),
        _ => return Err(Value::err(errors::arity(name))),
    };
    let Some((list, ops)) = list_mut(ks, now_ms)? else {
        return Ok(if count.is_some() { Value::NilArray } else { Value::Nil });
    };
    let mut pop_one = || match end {
        End::Front => list.pop_front(ops),
        End::Back => list.pop_back(ops),
    };
    let Some(count) = count else { return Ok(pop_one().map_or(Value::Nil, Value::Bulk)) };
    // The loop stops at the list's end, so a huge count allocates nothing extra.
    let popped = std::iter::from_fn(pop_one).take(count).map(Value::Bulk).collect();
    Ok(Value::Array(popped))
}

/// A pop count: Redis answers any bad count, even a non-number, with the
/// same range error.
fn parse_count(arg: &[u8]) -> Result<usize, Value> {
    parse_i64(arg)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| Value::err("ERR value is out of range, must be positive"))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::keyspace::value::Value;
    use crate::keyspace::{KeyState, WriteOp, list_position};
    use bytes::Bytes;

    fn put(pos: i64, v: &'static str) -> WriteOp {
        WriteOp::Put(list_position(pos), Bytes::from_static(v.as_bytes()))
    }

    #[test]
    fn lpush_moves_the_head_down_and_rpush_appends() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["lpush", "l", "a", "b"]), Value::Int(2));
        assert_eq!(ks.drain_entry_ops(), vec![put(-1, "a"), put(-2, "b")]);
        assert_eq!(run(&mut ks, &["rpush", "l", "c"]), Value::Int(3));
        assert_eq!(ks.drain_entry_ops(), vec![put(0, "c")]);
        assert_eq!(run(&mut ks, &["lrange", "l", "0", "-1"]), bulks(&["b", "a", "c"]));
        assert!(matches!(&ks.data, Some(super::super::Data::List(l)) if l.head() == -2));
    }

    #[test]
    fn pushx_needs_an_existing_list() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["rpushx", "l", "a"]), Value::Int(0));
        assert!(ks.is_empty() && ks.drain_entry_ops().is_empty());
        run(&mut ks, &["rpush", "l", "a"]);
        assert_eq!(run(&mut ks, &["lpushx", "l", "b", "c"]), Value::Int(3));
        assert_eq!(run(&mut ks, &["lpush", "l"]), err("ERR wrong number of arguments for 'lpush' command"));
    }

    #[test]
    fn pops_delete_their_positions_and_the_empty_key() {
        let mut ks = KeyState::default();
        run(&mut ks, &["rpush", "l", "a", "b", "c"]);
        ks.drain_entry_ops();
        assert_eq!(run(&mut ks, &["lpop", "l"]), bulk("a"));
        assert_eq!(ks.drain_entry_ops(), vec![WriteOp::Delete(list_position(0))]);
        assert_eq!(run(&mut ks, &["rpop", "l", "5"]), bulks(&["c", "b"]));
        assert_eq!(
            ks.drain_entry_ops(),
            vec![WriteOp::Delete(list_position(2)), WriteOp::Delete(list_position(1))]
        );
        assert!(ks.is_empty());
        assert_eq!(run(&mut ks, &["lpop", "l"]), Value::Nil);
        assert_eq!(run(&mut ks, &["lpop", "l", "1"]), Value::NilArray);
        assert_eq!(run(&mut ks, &["lpop", "l", "0"]), Value::NilArray);
    }

    #[test]
    fn pop_count_rules() {
        let mut ks = KeyState::default();
        run(&mut ks, &["rpush", "l", "a"]);
        assert_eq!(run(&mut ks, &["lpop", "l", "0"]), Value::Array(vec![]));
        let range = err("ERR value is out of range, must be positive");
        assert_eq!(run(&mut ks, &["lpop", "l", "-1"]), range);
        assert_eq!(run(&mut ks, &["rpop", "l", "x"]), range);
        assert_eq!(run(&mut ks, &["lpop", "nokey", "-1"]), range);
        assert_eq!(
            run(&mut ks, &["lpop", "l", "1", "2"]),
            err("ERR wrong number of arguments for 'lpop' command")
        );
        assert_eq!(run(&mut ks, &["rpop", "l", "9223372036854775807"]), bulks(&["a"]));
    }

    #[test]
    fn wrong_type_is_refused() {
        let mut ks = KeyState::default();
        ks.replace(crate::keyspace::Data::Str(Bytes::from_static(b"x")));
        ks.drain_entry_ops();
        let wrongtype = err(crate::keyspace::value::errors::WRONGTYPE);
        assert_eq!(run(&mut ks, &["lpush", "s", "a"]), wrongtype);
        assert_eq!(run(&mut ks, &["lpushx", "s", "a"]), wrongtype);
        assert_eq!(run(&mut ks, &["lpop", "s", "0"]), wrongtype);
        assert!(ks.drain_entry_ops().is_empty());
    }
}
