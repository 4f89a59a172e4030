//! ZRANDMEMBER, with the generator HRANDFIELD and SRANDMEMBER use.

use super::{ZSet, scored, zset_ref};
use crate::keyspace::random::Rng;
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{KeyState, parse_i64};
use bytes::Bytes;

/// `ZRANDMEMBER key [count [WITHSCORES]]`: one member (or nil) without
/// count; with a positive count up to that many distinct members, with a
/// negative one exactly |count| members, repeats allowed.
pub(super) fn zrandmember(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some((count, options)) = args.split_first() else { return random_one(ks, now_ms) };
    let count = parse_i64(count)?;
    if count == i64::MIN {
        return Err(Value::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    let withscores = match options {
        [] => false,
        [option] if option.eq_ignore_ascii_case(b"withscores") => true,
        _ => return Err(Value::err(errors::SYNTAX)),
    };
    // Redis' bound, because WITHSCORES doubles the RESP2 reply length.
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Value::err("ERR value is out of range"));
    }
    let Some(zset) = zset_ref(ks, now_ms)? else { return Ok(Value::Array(vec![])) };
    let reply = |(member, score): (&Bytes, f64)| {
        if withscores { scored(member, score) } else { Value::Bulk(member.clone()) }
    };
    let mut rng = Rng::new(now_ms, zset.len());
    let picked: Vec<Value> = if count < 0 {
        with_repeats(zset, count.unsigned_abs(), &mut rng).map(reply).collect()
    } else {
        distinct(zset, count as u64, &mut rng).into_iter().map(reply).collect()
    };
    Ok(Value::Array(picked))
}

fn random_one(ks: &mut KeyState, now_ms: u64) -> Result<Value, Value> {
    let Some(zset) = zset_ref(ks, now_ms)? else { return Ok(Value::Nil) };
    let mut rng = Rng::new(now_ms, zset.len());
    Ok(with_repeats(zset, 1, &mut rng).next().map_or(Value::Nil, |(member, _)| Value::Bulk(member.clone())))
}

/// `count` members drawn independently. The reply grows as they are drawn
/// (Redis streams as many as asked for, however many that is).
fn with_repeats<'a>(
    zset: &'a ZSet,
    count: u64,
    rng: &'a mut Rng,
) -> impl Iterator<Item = (&'a Bytes, f64)> + 'a {
    let all: Vec<(&Bytes, f64)> = zset.pairs().collect();
    let count = if all.is_empty() { 0 } else { count };
    (0..count).filter_map(move |_| all.get(rng.below(all.len())).copied())
}

/// Up to `count` distinct members: all of them when `count` covers the set
/// (highest score first, as Redis iterates), else a random sample in
/// random order.
fn distinct<'a>(zset: &'a ZSet, count: u64, rng: &mut Rng) -> Vec<(&'a Bytes, f64)> {
    let mut all: Vec<(&Bytes, f64)> = zset.pairs().rev().collect();
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count >= all.len() {
        return all;
    }
    // Partial Fisher-Yates: the first `count` slots become the sample.
    for i in 0..count {
        let j = i + rng.below(all.len() - i);
        all.swap(i, j);
    }
    all.truncate(count);
    all
}

#[cfg(test)]
mod tests {
    use super::super::super::lists::test_support::*;
    use super::*;
    use std::collections::HashSet;

    fn zsetted() -> KeyState {
        let mut ks = KeyState::default();
        run(&mut ks, &["zadd", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        ks.drain_entry_ops();
        ks
    }

    fn members(reply: Value) -> Vec<Value> {
        match reply {
            Value::Array(items) => items,
            other => panic!("not an array: {other:?}"),
        }
    }

    #[test]
    fn positive_count_is_distinct_and_capped() {
        let mut ks = zsetted();
        assert_eq!(run(&mut ks, &["zrandmember", "z", "10"]), bulks(&["d", "c", "b", "a"]));
        for _ in 0..20 {
            let picked = members(run(&mut ks, &["zrandmember", "z", "3"]));
            let unique: HashSet<_> = picked.iter().map(|v| format!("{v:?}")).collect();
            assert_eq!((picked.len(), unique.len()), (3, 3));
        }
        assert_eq!(run(&mut ks, &["zrandmember", "z", "0"]), bulks(&[]));
    }

    #[test]
    fn negative_count_repeats_and_withscores_pairs() {
        let mut ks = zsetted();
        let picked = members(run(&mut ks, &["zrandmember", "z", "-10", "withscores"]));
        assert_eq!(picked.len(), 10);
        for pair in picked {
            let Value::Array(pair) = pair else { panic!("not a pair") };
            let [Value::Bulk(member), Value::Double(score)] = pair.as_slice() else { panic!("bad pair") };
            assert_eq!(f64::from(member[0] - b'a' + 1), *score);
        }
        assert!(ks.drain_entry_ops().is_empty());
    }

    #[test]
    fn single_member_and_missing_key() {
        let mut ks = zsetted();
        assert!(matches!(run(&mut ks, &["zrandmember", "z"]), Value::Bulk(_)));
        let mut empty = KeyState::default();
        assert_eq!(run(&mut empty, &["zrandmember", "z"]), Value::Nil);
        assert_eq!(run(&mut empty, &["zrandmember", "z", "-5"]), bulks(&[]));
    }

    #[test]
    fn count_errors() {
        let mut ks = zsetted();
        let cases: &[(&[&str], &str)] = &[
            (&["zrandmember", "z", "x"], errors::NOT_INTEGER),
            (&["zrandmember", "z", "x", "foo"], errors::NOT_INTEGER),
            (&["zrandmember", "z", "1", "foo"], errors::SYNTAX),
            (&["zrandmember", "z", "1", "withscores", "x"], errors::SYNTAX),
            (
                &["zrandmember", "z", "-9223372036854775808"],
                "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            ),
            (&["zrandmember", "z", "-4611686018427387904", "withscores"], "ERR value is out of range"),
            (&["zrandmember", "z", "4611686018427387904", "withscores"], "ERR value is out of range"),
        ];
        for (argv, error) in cases {
            assert_eq!(run(&mut ks, argv), err(error), "{argv:?}");
        }
    }
}
