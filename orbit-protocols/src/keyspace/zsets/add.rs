//! ZADD and ZINCRBY (which is ZADD with INCR, options parsing included,
//! exactly as Redis implements it).

use super::bounds::parse_score;
use super::{ZSet, zset_mut};
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{Data, KeyState};
use bytes::Bytes;

#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What adding one pair did.
#[derive(Debug, PartialEq)]
enum Outcome {
    Added(f64),
    Updated(f64),
    /// The score did not change (same score, or an INCR by 0).
    Unchanged(f64),
    /// NX/XX/GT/LT ruled it out.
    Skipped,
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]`.
pub(super) fn zadd(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    if args.len() < 2 {
        return Err(Value::err(errors::arity(name)));
    }
    zadd_generic(ks, args, now_ms, Flags::default())
}

/// `ZINCRBY key increment member`: the new score as a double.
pub(super) fn zincrby(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    if args.len() != 2 {
        return Err(Value::err(errors::arity(name)));
    }
    zadd_generic(ks, args, now_ms, Flags { incr: true, ..Flags::default() })
}

fn zadd_generic(ks: &mut KeyState, args: &[Bytes], now_ms: u64, flags: Flags) -> Result<Value, Value> {
    let (flags, pairs) = parse_flags(args, flags);
    let (pairs, _) = check(flags, pairs)?.as_chunks::<2>();
    let scores = pairs.iter().map(|[score, _]| parse_score(score)).collect::<Result<Vec<f64>, Value>>()?;
    ks.live(now_ms);
    if ks.data.is_none() && !flags.xx {
        ks.data = Some(Data::ZSet(ZSet::default()));
    }
    let Some((zset, ops)) = zset_mut(ks, now_ms)? else {
        // A missing key with XX: nothing to do.
        return Ok(if flags.incr { Value::Nil } else { Value::Int(0) });
    };
    let (mut added, mut changed, mut last) = (0, 0, None);
    for ([_, member], score) in pairs.iter().zip(scores) {
        match add_one(zset, member, score, flags, ops)? {
            Outcome::Added(s) => (added, last) = (added + 1, Some(s)),
            Outcome::Updated(s) => (changed, last) = (changed + 1, Some(s)),
            Outcome::Unchanged(s) => last = Some(s),
            Outcome::Skipped => {}
        }
    }
    Ok(match (flags.incr, last) {
        (true, Some(score)) => Value::Double(score),
        (true, None) => Value::Nil,
        (false, _) => Value::Int(if flags.ch { added + changed } else { added }),
    })
}

/// Reads the leading options; the rest are the score-member pairs.
fn parse_flags(args: &[Bytes], mut flags: Flags) -> (Flags, &[Bytes]) {
    let mut rest = args;
    while let Some((option, tail)) = rest.split_first() {
        match option.to_ascii_lowercase().as_slice() {
            b"nx" => flags.nx = true,
            b"xx" => flags.xx = true,
            b"gt" => flags.gt = true,
            b"lt" => flags.lt = true,
            b"ch" => flags.ch = true,
            b"incr" => flags.incr = true,
            _ => break,
        }
        rest = tail;
    }
    (flags, rest)
}

/// Redis' checks, in its order, before any score is parsed.
fn check(flags: Flags, pairs: &[Bytes]) -> Result<&[Bytes], Value> {
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(Value::err(errors::SYNTAX));
    }
    if flags.nx && flags.xx {
        return Err(Value::err("ERR XX and NX options at the same time are not compatible"));
    }
    // At most one of GT, LT and NX.
    if [flags.gt, flags.lt, flags.nx].iter().filter(|&&f| f).count() > 1 {
        return Err(Value::err("ERR GT, LT, and/or NX options at the same time are not compatible"));
    }
    if flags.incr && pairs.len() > 2 {
        return Err(Value::err("ERR INCR option supports a single increment-element pair"));
    }
    Ok(pairs)
}

/// Redis' `zsetAdd` for one pair.
fn add_one(
    zset: &mut ZSet,
    member: &Bytes,
    score: f64,
    flags: Flags,
    ops: &mut Vec<crate::keyspace::WriteOp>,
) -> Result<Outcome, Value> {
    let Some(current) = zset.score(member) else {
        if flags.xx {
            return Ok(Outcome::Skipped);
        }
        zset.insert(member.clone(), score, ops);
        return Ok(Outcome::Added(score));
    };
    if flags.nx {
        return Ok(Outcome::Skipped);
    }
    let score = if flags.incr { current + score } else { score };
    if score.is_nan() {
        return Err(Value::err("ERR resulting score is not a number (NaN)"));
    }
    if (flags.lt && score >= current) || (flags.gt && score <= current) {
        return Ok(Outcome::Skipped);
    }
    if score == current {
        return Ok(Outcome::Unchanged(score));
    }
    zset.insert(member.clone(), score, ops);
    Ok(Outcome::Updated(score))
}

#[cfg(test)]
mod tests {
    use super::super::super::lists::test_support::*;
    use super::super::encode_score;
    use super::*;
    use crate::keyspace::WriteOp;

    fn zput(member: &'static str, score: f64) -> WriteOp {
        WriteOp::Put(Bytes::from_static(member.as_bytes()), encode_score(score))
    }

    fn zsetted(argv: &[&str]) -> KeyState {
        let mut ks = KeyState::default();
        assert!(!run(&mut ks, argv).is_error());
        ks.drain_entry_ops();
        ks
    }

    #[test]
    fn zadd_counts_added_or_changed_and_queues_puts() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["zadd", "z", "1", "a", "2", "b", "-0", "c"]), Value::Int(3));
        assert_eq!(ks.drain_entry_ops(), vec![zput("a", 1.0), zput("b", 2.0), zput("c", 0.0)]);
        assert_eq!(run(&mut ks, &["zadd", "z", "1", "a", "5", "b", "1", "d"]), Value::Int(1));
        assert_eq!(ks.drain_entry_ops(), vec![zput("b", 5.0), zput("d", 1.0)]);
        assert_eq!(run(&mut ks, &["zadd", "z", "CH", "1", "a", "6", "b", "1", "e"]), Value::Int(2));
    }

    #[test]
    fn zadd_option_conflicts() {
        let mut ks = zsetted(&["zadd", "z", "1", "a"]);
        let cases: &[(&[&str], &str)] = &[
            (
                &["zadd", "z", "nx", "xx", "1", "a"],
                "ERR XX and NX options at the same time are not compatible",
            ),
            (
                &["zadd", "z", "nx", "gt", "1", "a"],
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                &["zadd", "z", "gt", "lt", "1", "a"],
                "ERR GT, LT, and/or NX options at the same time are not compatible",
            ),
            (
                &["zadd", "z", "incr", "1", "a", "2", "b"],
                "ERR INCR option supports a single increment-element pair",
            ),
            (&["zadd", "z", "nx", "xx", "1"], errors::SYNTAX),
            (&["zadd", "z", "nx", "1"], errors::SYNTAX),
            (&["zadd", "z", "1", "a", "2"], errors::SYNTAX),
            (
                &["zadd", "z", "nx", "xx", "x", "a"],
                "ERR XX and NX options at the same time are not compatible",
            ),
            (&["zadd", "z", "x", "a"], errors::NOT_FLOAT),
            (&["zadd", "z", "1", "a", "nan", "b"], errors::NOT_FLOAT),
            (&["zadd", "z", "1"], "ERR wrong number of arguments for 'zadd' command"),
            (&["zincrby", "z", "nx", "a"], errors::SYNTAX),
            (&["zincrby", "z", "1"], "ERR wrong number of arguments for 'zincrby' command"),
        ];
        for (argv, error) in cases {
            assert_eq!(run(&mut ks, argv), err(error), "{argv:?}");
        }
        assert!(ks.drain_entry_ops().is_empty());
    }

    #[test]
    fn zadd_xx_nx_gt_lt() {
        let mut ks = zsetted(&["zadd", "z", "5", "a"]);
        assert_eq!(run(&mut ks, &["zadd", "z", "xx", "1", "new"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["zadd", "z", "nx", "1", "a", "1", "b"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["zadd", "z", "ch", "gt", "4", "a", "2", "b"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["zadd", "z", "ch", "lt", "6", "a", "1", "b"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["zadd", "z", "xx", "gt", "ch", "9", "a"]), Value::Int(1));
        assert_eq!(
            run(&mut ks, &["zrange", "z", "0", "-1", "withscores"]),
            Value::Array(vec![
                Value::Array(vec![bulk("b"), Value::Double(1.0)]),
                Value::Array(vec![bulk("a"), Value::Double(9.0)]),
            ])
        );
        let mut missing = KeyState::default();
        assert_eq!(run(&mut missing, &["zadd", "z", "xx", "1", "a"]), Value::Int(0));
        assert_eq!(run(&mut missing, &["zadd", "z", "xx", "incr", "1", "a"]), Value::Nil);
        assert!(missing.is_empty() && missing.drain_entry_ops().is_empty());
    }

    #[test]
    fn incr_returns_the_score_or_nil() {
        let mut ks = zsetted(&["zadd", "z", "inf", "m"]);
        assert_eq!(run(&mut ks, &["zincrby", "z", "2.5", "n"]), Value::Double(2.5));
        assert_eq!(ks.drain_entry_ops(), vec![zput("n", 2.5)]);
        assert_eq!(run(&mut ks, &["zadd", "z", "incr", "-1", "n"]), Value::Double(1.5));
        assert_eq!(
            run(&mut ks, &["zincrby", "z", "-inf", "m"]),
            err("ERR resulting score is not a number (NaN)")
        );
        assert_eq!(run(&mut ks, &["zadd", "z", "incr", "gt", "-1", "m"]), Value::Nil);
        assert_eq!(run(&mut ks, &["zadd", "z", "incr", "nx", "-1", "m"]), Value::Nil);
        assert_eq!(run(&mut ks, &["zincrby", "z", "0", "m"]), Value::Double(f64::INFINITY));
        assert_eq!(ks.drain_entry_ops(), vec![zput("n", 1.5)]);
        assert_eq!(run(&mut ks, &["zincrby", "z", "1e400", "m"]), err(errors::NOT_FLOAT));
    }

    #[test]
    fn wrong_type_is_checked_after_parsing() {
        let mut ks = KeyState::default();
        ks.replace(Data::Str(Bytes::from_static(b"x")));
        assert_eq!(run(&mut ks, &["zadd", "s", "x", "a"]), err(errors::NOT_FLOAT));
        assert_eq!(run(&mut ks, &["zadd", "s", "1", "a"]), err(errors::WRONGTYPE));
    }
}
