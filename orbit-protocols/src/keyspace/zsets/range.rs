//! ZRANGE and its legacy forms (ZREVRANGE, Z[REV]RANGEBYSCORE,
//! Z[REV]RANGEBYLEX), ZCOUNT, ZLEXCOUNT and ZREMRANGEBY{RANK,SCORE,LEX}.

use super::bounds::{LexRange, ScoreRange};
use super::{ZSet, scored, zset_mut, zset_ref};
use crate::keyspace::lists::index_range;
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{KeyState, parse_i64};
use bytes::Bytes;

/// What the two range arguments mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum By {
    Rank,
    Score,
    Lex,
}

/// `Auto` lets ZRANGE take REV; the legacy commands fix the direction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Direction {
    Auto,
    Forward,
    Reverse,
}

/// A parsed range: which members (the direction is applied separately).
enum Selection {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// The options after `min max`.
struct Options {
    by: By,
    rev: bool,
    withscores: bool,
    /// LIMIT offset; a negative one selects nothing (as in Redis).
    offset: i64,
    /// LIMIT count; negative is no limit, and -1 also means "no LIMIT".
    limit: i64,
}

/// `ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count]
/// [WITHSCORES]` and the legacy commands, which fix `by` and `direction`.
pub(super) fn zrange(
    ks: &mut KeyState,
    name: &str,
    args: &[Bytes],
    now_ms: u64,
    by: Option<By>,
    direction: Direction,
) -> Result<Value, Value> {
    let [start, stop, options @ ..] = args else { return Err(Value::err(errors::arity(name))) };
    let options = parse_options(options, by, direction)?;
    // BYSCORE/BYLEX with REV take `max min`.
    let (min, max) = if options.rev && options.by != By::Rank { (stop, start) } else { (start, stop) };
    let selection = parse_selection(options.by, min, max)?;
    let Some(zset) = zset_ref(ks, now_ms)? else { return Ok(Value::Array(vec![])) };
    let picked = select(zset, &selection, options.rev);
    // Rank ranges ignore LIMIT (only `LIMIT x -1` gets this far).
    let picked = if options.by == By::Rank { picked } else { limit(picked, &options) };
    Ok(Value::Array(
        picked
            .map(
                |(member, score)| {
                    if options.withscores { scored(member, score) } else { Value::Bulk(member.clone()) }
                },
            )
            .collect(),
    ))
}

fn parse_options(args: &[Bytes], by: Option<By>, direction: Direction) -> Result<Options, Value> {
    let (mut by, mut direction) = (by, direction);
    let mut options = Options { by: By::Rank, rev: false, withscores: false, offset: 0, limit: -1 };
    let mut rest = args;
    while let Some((option, tail)) = rest.split_first() {
        rest = tail;
        match option.to_ascii_lowercase().as_slice() {
            b"withscores" => options.withscores = true,
            b"limit" if tail.len() >= 2 => {
                let [offset, count, after @ ..] = tail else { return Err(Value::err(errors::SYNTAX)) };
                options.offset = parse_i64(offset)?;
                options.limit = parse_i64(count)?;
                rest = after;
            }
            b"rev" if direction == Direction::Auto => direction = Direction::Reverse,
            b"bylex" if by.is_none() => by = Some(By::Lex),
            b"byscore" if by.is_none() => by = Some(By::Score),
            _ => return Err(Value::err(errors::SYNTAX)),
        }
    }
    options.by = by.unwrap_or(By::Rank);
    options.rev = direction == Direction::Reverse;
    // Redis tests the count alone, so `LIMIT 0 -1` passes with a rank range.
    if options.limit != -1 && options.by == By::Rank {
        return Err(Value::err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if options.withscores && options.by == By::Lex {
        return Err(Value::err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    Ok(options)
}

fn parse_selection(by: By, min: &Bytes, max: &Bytes) -> Result<Selection, Value> {
    Ok(match by {
        By::Rank => Selection::Rank(parse_i64(min)?, parse_i64(max)?),
        By::Score => Selection::Score(ScoreRange::parse(min, max)?),
        By::Lex => Selection::Lex(LexRange::parse(min, max)?),
    })
}

type Picked<'a> = Box<dyn Iterator<Item = (&'a Bytes, f64)> + 'a>;

/// The members a range selects, in the requested direction.
fn select<'a>(zset: &'a ZSet, selection: &'a Selection, rev: bool) -> Picked<'a> {
    match selection {
        Selection::Rank(start, stop) => {
            let Some((first, last)) = index_range(*start, *stop, zset.len()) else {
                return Box::new(std::iter::empty());
            };
            let count = last - first + 1;
            if rev {
                Box::new(zset.pairs().rev().skip(first).take(count))
            } else {
                Box::new(zset.pairs().skip(first).take(count))
            }
        }
        Selection::Score(range) => {
            if rev {
                Box::new(zset.score_range(range).rev())
            } else {
                Box::new(zset.score_range(range))
            }
        }
        // Like Redis, walk in set order from the first member past the
        // start bound and stop at the first one past the end bound: exact
        // when all scores are equal, which is what lex ranges are for.
        Selection::Lex(range) => {
            if rev {
                Box::new(
                    zset.pairs()
                        .rev()
                        .skip_while(|(m, _)| !range.below_max(m))
                        .take_while(|(m, _)| range.above_min(m)),
                )
            } else {
                Box::new(
                    zset.pairs()
                        .skip_while(|(m, _)| !range.above_min(m))
                        .take_while(|(m, _)| range.below_max(m)),
                )
            }
        }
    }
}

/// Applies LIMIT offset count.
fn limit<'a>(picked: Picked<'a>, options: &Options) -> Picked<'a> {
    let Ok(offset) = usize::try_from(options.offset) else { return Box::new(std::iter::empty()) };
    let count = usize::try_from(options.limit).unwrap_or(usize::MAX);
    Box::new(picked.skip(offset).take(count))
}

/// `ZCOUNT key min max` / `ZLEXCOUNT key min max`.
pub(super) fn zcount(
    ks: &mut KeyState,
    name: &str,
    args: &[Bytes],
    now_ms: u64,
    by: By,
) -> Result<Value, Value> {
    let [min, max] = args else { return Err(Value::err(errors::arity(name))) };
    let selection = parse_selection(by, min, max)?;
    let Some(zset) = zset_ref(ks, now_ms)? else { return Ok(Value::Int(0)) };
    Ok(Value::Int(select(zset, &selection, false).count() as i64))
}

/// `ZREMRANGEBYRANK|ZREMRANGEBYSCORE|ZREMRANGEBYLEX key min max`: how many
/// members went.
pub(super) fn zremrange(
    ks: &mut KeyState,
    name: &str,
    args: &[Bytes],
    now_ms: u64,
    by: By,
) -> Result<Value, Value> {
    let [min, max] = args else { return Err(Value::err(errors::arity(name))) };
    let selection = parse_selection(by, min, max)?;
    let Some((zset, ops)) = zset_mut(ks, now_ms)? else { return Ok(Value::Int(0)) };
    let doomed: Vec<Bytes> = select(zset, &selection, false).map(|(member, _)| member.clone()).collect();
    for member in &doomed {
        zset.remove(member, ops);
    }
    Ok(Value::Int(doomed.len() as i64))
}

#[cfg(test)]
mod tests {
    use super::super::super::lists::test_support::*;
    use super::*;
    use crate::keyspace::WriteOp;

    fn zsetted() -> KeyState {
        let mut ks = KeyState::default();
        run(&mut ks, &["zadd", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
        ks.drain_entry_ops();
        ks
    }

    fn lexed() -> KeyState {
        let mut ks = KeyState::default();
        run(&mut ks, &["zadd", "z", "0", "a", "0", "b", "0", "c", "0", "d"]);
        ks.drain_entry_ops();
        ks
    }

    fn pairs(items: &[(&str, f64)]) -> Value {
        Value::Array(items.iter().map(|(m, s)| Value::Array(vec![bulk(m), Value::Double(*s)])).collect())
    }

    #[test]
    fn zrange_by_rank() {
        let mut ks = zsetted();
        assert_eq!(run(&mut ks, &["zrange", "z", "0", "-1"]), bulks(&["a", "b", "c", "d"]));
        assert_eq!(run(&mut ks, &["zrange", "z", "0", "1", "rev"]), bulks(&["d", "c"]));
        assert_eq!(
            run(&mut ks, &["zrevrange", "z", "1", "2", "withscores"]),
            pairs(&[("c", 3.0), ("b", 2.0)])
        );
        assert_eq!(run(&mut ks, &["zrange", "z", "-100", "100"]), bulks(&["a", "b", "c", "d"]));
        assert_eq!(run(&mut ks, &["zrange", "z", "3", "1"]), bulks(&[]));
        assert_eq!(
            run(&mut ks, &["zrange", "z", "0", "-1", "limit", "2", "-1"]),
            bulks(&["a", "b", "c", "d"])
        );
        assert_eq!(run(&mut KeyState::default(), &["zrange", "nokey", "0", "-1"]), bulks(&[]));
    }

    #[test]
    fn zrange_by_score_with_limit() {
        let mut ks = zsetted();
        assert_eq!(run(&mut ks, &["zrange", "z", "(1", "3", "byscore"]), bulks(&["b", "c"]));
        assert_eq!(
            run(&mut ks, &["zrange", "z", "3", "1", "byscore", "rev", "withscores"]),
            pairs(&[("c", 3.0), ("b", 2.0), ("a", 1.0)])
        );
        assert_eq!(
            run(&mut ks, &["zrangebyscore", "z", "-inf", "+inf", "limit", "1", "2"]),
            bulks(&["b", "c"])
        );
        assert_eq!(
            run(&mut ks, &["zrangebyscore", "z", "-inf", "+inf", "limit", "1", "-1"]),
            bulks(&["b", "c", "d"])
        );
        assert_eq!(run(&mut ks, &["zrangebyscore", "z", "-inf", "+inf", "limit", "-1", "2"]), bulks(&[]));
        assert_eq!(run(&mut ks, &["zrangebyscore", "z", "-inf", "+inf", "limit", "1", "0"]), bulks(&[]));
        assert_eq!(run(&mut ks, &["zrevrangebyscore", "z", "(4", "2", "limit", "1", "5"]), bulks(&["b"]));
    }

    #[test]
    fn zrange_by_lex() {
        let mut ks = lexed();
        assert_eq!(run(&mut ks, &["zrange", "z", "[a", "(c", "bylex"]), bulks(&["a", "b"]));
        assert_eq!(run(&mut ks, &["zrangebylex", "z", "-", "+", "limit", "1", "2"]), bulks(&["b", "c"]));
        assert_eq!(run(&mut ks, &["zrevrangebylex", "z", "+", "(b"]), bulks(&["d", "c"]));
        assert_eq!(run(&mut ks, &["zrange", "z", "[c", "-", "bylex", "rev"]), bulks(&["c", "b", "a"]));
        assert_eq!(run(&mut ks, &["zrangebylex", "z", "+", "-"]), bulks(&[]));
        assert_eq!(run(&mut ks, &["zlexcount", "z", "(a", "[c"]), Value::Int(2));
    }

    #[test]
    fn zrange_argument_errors() {
        let mut ks = zsetted();
        let cases: &[(&[&str], &str)] = &[
            (
                &["zrange", "z", "0", "-1", "limit", "0", "1"],
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ),
            (
                &["zrange", "z", "-", "+", "bylex", "withscores"],
                "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ),
            (&["zrange", "z", "0", "-1", "byscore", "byscore"], errors::SYNTAX),
            (&["zrange", "z", "0", "-1", "rev", "rev"], errors::SYNTAX),
            (&["zrange", "z", "0", "-1", "byscore", "bylex"], errors::SYNTAX),
            (&["zrange", "z", "0", "-1", "limit", "0"], errors::SYNTAX),
            (&["zrange", "z", "0", "1", "byscore", "limit", "x", "1"], errors::NOT_INTEGER),
            (&["zrange", "z", "a", "b", "byscore"], "ERR min or max is not a float"),
            (&["zrange", "z", "a", "b", "bylex"], "ERR min or max not valid string range item"),
            (&["zrange", "z", "a", "1"], errors::NOT_INTEGER),
            (&["zrangebyscore", "z", "0", "1", "rev"], errors::SYNTAX),
            (&["zrangebyscore", "z", "0", "1", "byscore"], errors::SYNTAX),
            (&["zrevrange", "z", "0", "1", "rev"], errors::SYNTAX),
            (
                &["zrangebylex", "z", "-", "+", "withscores"],
                "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ),
            (&["zrange", "z", "0"], "ERR wrong number of arguments for 'zrange' command"),
            (&["zcount", "z", "(x", "1"], "ERR min or max is not a float"),
            (&["zlexcount", "z", "a", "+"], "ERR min or max not valid string range item"),
        ];
        for (argv, error) in cases {
            assert_eq!(run(&mut ks, argv), err(error), "{argv:?}");
        }
    }

    #[test]
    fn zcount_and_zremrange() {
        let mut ks = zsetted();
        assert_eq!(run(&mut ks, &["zcount", "z", "(1", "+inf"]), Value::Int(3));
        assert_eq!(run(&mut KeyState::default(), &["zcount", "nokey", "(1", "+inf"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["zremrangebyrank", "z", "-1", "-1"]), Value::Int(1));
        assert_eq!(ks.drain_entry_ops(), vec![WriteOp::Delete(Bytes::from_static(b"d"))]);
        assert_eq!(run(&mut ks, &["zremrangebyscore", "z", "(1", "2"]), Value::Int(1));
        assert_eq!(ks.drain_entry_ops(), vec![WriteOp::Delete(Bytes::from_static(b"b"))]);
        assert_eq!(run(&mut ks, &["zremrangebylex", "z", "-", "+"]), Value::Int(2));
        assert!(ks.is_empty());
        assert_eq!(run(&mut ks, &["zremrangebyrank", "z", "x", "1"]), err(errors::NOT_INTEGER));
        assert_eq!(run(&mut ks, &["zremrangebyrank", "z", "0", "1"]), Value::Int(0));
    }
}
