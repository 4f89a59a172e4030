//! Redis sorted sets: [`ZSet`], how it maps onto storage entries, and the
//! Z* command dispatch (the commands live in the submodules), GEO* included
//! (a geo key is a sorted set of geohash scores: `geo.rs`, `geohash.rs`).
//!
//! Each member is one entry: sub-key the member, value the score as
//! `f64::to_bits` big-endian. In memory, a map gives a member's score and
//! an ordered set of (score, member) gives Redis' order: by score, ties by
//! member bytes. Ranks are counted by walking the ordered set (O(rank)).

mod add;
mod bounds;
pub(crate) mod geo;
mod geohash;
mod pop;
mod random;
mod range;
mod read;

use super::{Data, KeyState, WriteOp};
use crate::keyspace::value::{Value, errors};
use bytes::Bytes;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

/// A score with a total order, so that it can key the ordered set. NaN is
/// never stored, and -0.0 is stored as 0.0, so this is the numeric order.
#[derive(Debug, Clone, Copy)]
struct Score(f64);

impl PartialEq for Score {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZSet {
    order: BTreeSet<(Score, Bytes)>,
    scores: HashMap<Bytes, f64>,
}

/// -0.0 becomes 0.0 so that equal scores have one representation.
fn normalise(score: f64) -> f64 {
    if score == 0.0 { 0.0 } else { score }
}

fn encode_score(score: f64) -> Bytes {
    Bytes::copy_from_slice(&score.to_bits().to_be_bytes())
}

impl ZSet {
    /// Rebuilds a sorted set from its stored entries (member, score bits).
    pub fn load(entries: Vec<(Bytes, Bytes)>) -> Result<Self, String> {
        let mut zset = ZSet::default();
        for (member, value) in entries {
            let bits: [u8; 8] =
                value.as_ref().try_into().map_err(|_| format!("bad score entry for {member:?}"))?;
            let score = f64::from_bits(u64::from_be_bytes(bits));
            if score.is_nan() {
                return Err(format!("NaN score stored for {member:?}"));
            }
            zset.set(member, score);
        }
        Ok(zset)
    }

    /// A sorted set of these pairs (RESTORE, *STORE); NaN scores are skipped.
    pub fn from_pairs(pairs: Vec<(Bytes, f64)>) -> ZSet {
        let mut zset = ZSet::default();
        for (member, score) in pairs.into_iter().filter(|(_, s)| !s.is_nan()) {
            zset.set(member, score);
        }
        zset
    }

    /// (member, score) in score order, ties by member bytes.
    pub fn pairs(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> + ExactSizeIterator {
        self.order.iter().map(|(score, member)| (member, score.0))
    }

    pub fn subkeys(&self) -> impl Iterator<Item = Bytes> + '_ {
        self.order.iter().map(|(_, member)| member.clone())
    }

    pub fn entries(&self) -> impl Iterator<Item = WriteOp> + '_ {
        self.order.iter().map(|(score, member)| WriteOp::Put(member.clone(), encode_score(score.0)))
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub(crate) fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets a member's score in memory only; returns the old score.
    fn set(&mut self, member: Bytes, score: f64) -> Option<f64> {
        let score = normalise(score);
        let old = self.scores.insert(member.clone(), score);
        if let Some(old) = old {
            self.order.remove(&(Score(old), member.clone()));
        }
        self.order.insert((Score(score), member));
        old
    }

    /// Sets a member's score and queues its entry; returns the old score.
    fn insert(&mut self, member: Bytes, score: f64, ops: &mut Vec<WriteOp>) -> Option<f64> {
        ops.push(WriteOp::Put(member.clone(), encode_score(normalise(score))));
        self.set(member, score)
    }

    /// Removes a member and queues the entry's deletion.
    fn remove(&mut self, member: &[u8], ops: &mut Vec<WriteOp>) -> Option<f64> {
        let (member, score) = self.scores.remove_entry(member)?;
        self.order.remove(&(Score(score), member.clone()));
        ops.push(WriteOp::Delete(member));
        Some(score)
    }

    /// 0-based rank from the lowest score (from the highest if `rev`), and
    /// the score.
    fn rank(&self, member: &[u8], rev: bool) -> Option<(usize, f64)> {
        let (member, &score) = self.scores.get_key_value(member)?;
        let below = self.order.range(..(Score(score), member.clone())).count();
        Some((if rev { self.len() - 1 - below } else { below }, score))
    }

    /// The members whose score is in `range`, in score order.
    fn score_range(&self, range: &bounds::ScoreRange) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> {
        let low = if range.minex { range.min.next_up() } else { range.min };
        let low = (Score(low), Bytes::new());
        // Every member with a score below the bound sorts before (bound, "").
        let high = match (range.maxex, range.max == f64::INFINITY) {
            (false, true) => Bound::Unbounded,
            (false, false) => Bound::Excluded((Score(range.max.next_up()), Bytes::new())),
            (true, _) => Bound::Excluded((Score(range.max), Bytes::new())),
        };
        // BTreeSet::range panics on an inverted range: make it empty instead.
        let high = match high {
            _ if range.is_empty() => Bound::Excluded(low.clone()),
            Bound::Excluded(h) if h < low => Bound::Excluded(low.clone()),
            h => h,
        };
        self.order.range((Bound::Included(low), high)).map(|(score, member)| (member, score.0))
    }
}

/// The sorted set at this key for writing, with the pending entry ops
/// beside it; `Ok(None)` if the key does not exist.
fn zset_mut(ks: &mut KeyState, now_ms: u64) -> Result<Option<(&mut ZSet, &mut Vec<WriteOp>)>, Value> {
    ks.live(now_ms);
    match &mut ks.data {
        None => Ok(None),
        Some(Data::ZSet(zset)) => Ok(Some((zset, &mut ks.pending))),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

/// The sorted set at this key for reading; `Ok(None)` if it does not exist.
fn zset_ref(ks: &mut KeyState, now_ms: u64) -> Result<Option<&ZSet>, Value> {
    match ks.live(now_ms) {
        None => Ok(None),
        Some(Data::ZSet(zset)) => Ok(Some(zset)),
        Some(_) => Err(Value::err(errors::WRONGTYPE)),
    }
}

/// A WITHSCORES element: `[member, score]` (flattened for RESP2 clients).
fn scored(member: &Bytes, score: f64) -> Value {
    Value::Array(vec![Value::Bulk(member.clone()), Value::Double(score)])
}

/// Runs `name` if it is a sorted-set command. `args` follow the key.
pub(super) fn exec(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Option<Value> {
    use range::{By, Direction};
    let reply = match name {
        "zadd" => add::zadd(ks, name, args, now_ms),
        "zincrby" => add::zincrby(ks, name, args, now_ms),
        "zscore" => read::zscore(ks, name, args, now_ms),
        "zmscore" => read::zmscore(ks, name, args, now_ms),
        "zcard" => read::zcard(ks, name, args, now_ms),
        "zrank" => read::zrank(ks, name, args, now_ms, false),
        "zrevrank" => read::zrank(ks, name, args, now_ms, true),
        "zscan" => read::zscan(ks, name, args, now_ms),
        "zrem" => pop::zrem(ks, name, args, now_ms),
        "zpopmin" => pop::zpop(ks, args, now_ms, false),
        "zpopmax" => pop::zpop(ks, args, now_ms, true),
        "zrandmember" => random::zrandmember(ks, args, now_ms),
        "zrange" => range::zrange(ks, name, args, now_ms, None, Direction::Auto),
        "zrevrange" => range::zrange(ks, name, args, now_ms, Some(By::Rank), Direction::Reverse),
        "zrangebyscore" => range::zrange(ks, name, args, now_ms, Some(By::Score), Direction::Forward),
        "zrevrangebyscore" => range::zrange(ks, name, args, now_ms, Some(By::Score), Direction::Reverse),
        "zrangebylex" => range::zrange(ks, name, args, now_ms, Some(By::Lex), Direction::Forward),
        "zrevrangebylex" => range::zrange(ks, name, args, now_ms, Some(By::Lex), Direction::Reverse),
        "zcount" => range::zcount(ks, name, args, now_ms, By::Score),
        "zlexcount" => range::zcount(ks, name, args, now_ms, By::Lex),
        "zremrangebyrank" => range::zremrange(ks, name, args, now_ms, By::Rank),
        "zremrangebyscore" => range::zremrange(ks, name, args, now_ms, By::Score),
        "zremrangebylex" => range::zremrange(ks, name, args, now_ms, By::Lex),
        "geoadd" => geo::geoadd(ks, args, now_ms),
        "geopos" => geo::geopos(ks, args, now_ms),
        "geodist" => geo::geodist(ks, name, args, now_ms),
        "geohash" => geo::geohash_strings(ks, args, now_ms),
        "geosearch" | "georadius_ro" | "georadiusbymember_ro" => geo::search_here(ks, name, args, now_ms),
        _ => return None,
    };
    Some(reply.unwrap_or_else(|e| e))
}

#[cfg(test)]
mod tests {
    use super::super::lists::test_support::*;
    use super::*;
    use std::collections::BTreeMap;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn order_is_by_score_then_member() {
        let z = ZSet::from_pairs(vec![(b("b"), 1.0), (b("a"), 1.0), (b("c"), -0.0), (b("d"), f64::NAN)]);
        let pairs: Vec<_> = z.pairs().map(|(m, s)| (m.clone(), s)).collect();
        assert_eq!(pairs, vec![(b("c"), 0.0), (b("a"), 1.0), (b("b"), 1.0)]);
        assert!(z.score(b"c").is_some_and(|s| s.is_sign_positive()));
        assert_eq!(z.rank(b"b", false), Some((2, 1.0)));
        assert_eq!(z.rank(b"b", true), Some((0, 1.0)));
    }

    #[test]
    fn load_checks_score_entries() {
        assert!(ZSet::load(vec![(b("a"), b("short"))]).is_err());
        assert!(ZSet::load(vec![(b("a"), encode_score(f64::NAN))]).is_err());
        let z = ZSet::load(vec![(b("a"), encode_score(2.5))]).unwrap();
        assert_eq!(z.score(b"a"), Some(2.5));
    }

    #[test]
    fn score_range_bounds_never_panic() {
        let z = ZSet::from_pairs(vec![(b("a"), 1.0), (b("b"), 2.0), (b("i"), f64::INFINITY)]);
        let count = |min: &str, max: &str| {
            bounds::ScoreRange::parse(min.as_bytes(), max.as_bytes())
                .map(|r| z.score_range(&r).count())
                .unwrap()
        };
        assert_eq!(count("-inf", "+inf"), 3);
        assert_eq!(count("(1", "2"), 1);
        assert_eq!(count("1", "(2"), 1);
        assert_eq!(count("(1", "(1"), 0);
        assert_eq!(count("3", "1"), 0);
        assert_eq!(count("(inf", "inf"), 0);
        assert_eq!(count("inf", "(inf"), 0);
        assert_eq!(count("2", "inf"), 2);
    }

    #[test]
    fn every_edit_survives_a_reload() {
        let mut ks = KeyState::default();
        let mut store = BTreeMap::new();
        let script: &[&[&str]] = &[
            &["zadd", "z", "1", "a", "2", "b", "3", "c", "-0", "d"],
            &["zincrby", "z", "5", "a"],
            &["zadd", "z", "xx", "ch", "0.5", "b"],
            &["zrem", "z", "c", "nope"],
            &["zpopmax", "z"],
            &["zremrangebyscore", "z", "0.5", "0.5"],
        ];
        for argv in script {
            assert!(!run(&mut ks, argv).is_error(), "{argv:?}");
            apply(&mut store, &mut ks);
            assert_eq!(reload(&ks, &store).data, ks.data, "after {argv:?}");
        }
        assert_eq!(run(&mut ks, &["zrange", "z", "0", "-1"]), bulks(&["d"]));
        run(&mut ks, &["zpopmin", "z"]);
        apply(&mut store, &mut ks);
        assert!(ks.is_empty() && store.is_empty());
    }

    #[test]
    fn random_commands_never_panic_and_storage_follows() {
        let commands = [
            "zadd",
            "zincrby",
            "zscore",
            "zmscore",
            "zrem",
            "zcard",
            "zcount",
            "zlexcount",
            "zrank",
            "zrevrank",
            "zrange",
            "zrangebyscore",
            "zrevrangebyscore",
            "zrangebylex",
            "zrevrangebylex",
            "zrevrange",
            "zremrangebyrank",
            "zremrangebyscore",
            "zremrangebylex",
            "zpopmin",
            "zpopmax",
            "zrandmember",
            "zscan",
        ];
        let vocabulary = [
            "a",
            "b",
            "c",
            "0",
            "1",
            "-1",
            "2.5",
            "-0",
            "inf",
            "-inf",
            "(1",
            "(inf",
            "[a",
            "(b",
            "-",
            "+",
            "",
            "x",
            "nx",
            "xx",
            "gt",
            "lt",
            "ch",
            "incr",
            "withscores",
            "withscore",
            "byscore",
            "bylex",
            "rev",
            "limit",
            "9223372036854775807",
            "-9223372036854775808",
            "-5",
            "match",
            "count",
            "*",
        ];
        fuzz(&commands, &vocabulary, 20_000);
    }

    #[test]
    fn other_families_are_not_ours() {
        assert_eq!(exec(&mut KeyState::default(), "lpush", &[], 0), None);
    }
}
