//! A linearizability checker for one object's history (Wing and Gong's
//! search with memoized states, as Knossos and Porcupine do it): is there an
//! order of the operations, consistent with real time, in which every
//! operation's output is what a sequential object would have answered?
//!
//! An operation whose outcome is unknown (its call failed or timed out) may
//! have taken effect at any time after it was called, or never; its output
//! is not checked. Histories are checked per key (linearizability composes).

use std::collections::HashSet;
use std::hash::Hash;
use std::time::Instant;

/// A sequential object: what an operation does to a state, and whether an
/// observed output is possible from that state.
pub trait Model {
    type State: Clone + Eq + Hash;
    type Op: PartialEq;
    type Out: PartialEq;
    /// The state after `op`, and the output it gives.
    fn step(&self, state: &Self::State, op: &Self::Op) -> (Self::State, Self::Out);
    /// Whether `op` leaves every state as it was (a read).
    fn reads(&self, op: &Self::Op) -> bool;
}

/// One operation as a client saw it.
#[derive(Debug, Clone)]
pub struct Entry<Op, Out> {
    pub op: Op,
    pub called: Instant,
    /// When the reply came and what it was; `None` when the outcome is
    /// unknown.
    pub returned: Option<(Instant, Out)>,
}

/// Checks `history` against `model` from `initial`; on failure says how far
/// the longest linearizable prefix got.
pub fn check<M: Model>(model: &M, initial: M::State, history: &[Entry<M::Op, M::Out>]) -> Result<(), String>
where
    M::Op: std::fmt::Debug,
    M::Out: std::fmt::Debug,
{
    // A read whose outcome is unknown changed nothing and showed nothing.
    let history: Vec<&Entry<M::Op, M::Out>> =
        history.iter().filter(|e| e.returned.is_some() || !model.reads(&e.op)).collect();
    assert!(history.len() <= 128, "histories are checked up to 128 operations per key");
    let mut seen: HashSet<(u128, M::State)> = HashSet::new();
    let all: u128 = if history.len() == 128 { u128::MAX } else { (1u128 << history.len()) - 1 };
    let mut best = 0;
    if search(model, &history, all, initial, &mut seen, &mut best) {
        Ok(())
    } else {
        Err(format!(
            "not linearizable: at most {best} of {} operations could be ordered; history: {history:?}",
            history.len()
        ))
    }
}

fn search<M: Model>(
    model: &M,
    history: &[&Entry<M::Op, M::Out>],
    left: u128,
    state: M::State,
    seen: &mut HashSet<(u128, M::State)>,
    best: &mut usize,
) -> bool {
    let done = history.len() - left.count_ones() as usize;
    *best = (*best).max(done);
    let pending = |i: usize| left & (1u128 << i) != 0;
    // Every operation with a known reply is ordered: the unknown ones left
    // may never have happened.
    let Some(first_return) = (0..history.len())
        .filter(|&i| pending(i))
        .filter_map(|i| history[i].returned.as_ref().map(|(at, _)| *at))
        .min()
    else {
        return true;
    };
    if !seen.insert((left, state.clone())) {
        return false;
    }
    // Candidates: operations called before every pending operation returned.
    // Of several candidates with the same operation and an unknown outcome,
    // only one is tried: any order using another is the same with the two
    // swapped.
    let mut tried_unknown: Vec<&M::Op> = Vec::new();
    for i in (0..history.len()).filter(|&i| pending(i) && history[i].called <= first_return) {
        if history[i].returned.is_none() {
            if tried_unknown.contains(&&history[i].op) {
                continue;
            }
            tried_unknown.push(&history[i].op);
        }
        let (next, out) = model.step(&state, &history[i].op);
        let fits = match &history[i].returned {
            Some((_, observed)) => *observed == out,
            None => true,
        };
        if fits && search(model, history, left & !(1u128 << i), next, seen, best) {
            return true;
        }
    }
    false
}

/// A register: writes replace the value, reads return it.
pub struct Register;

#[derive(Debug, Clone, PartialEq)]
pub enum RegisterOp {
    Write(String),
    Read,
}

impl Model for Register {
    type State = Option<String>;
    type Op = RegisterOp;
    /// `None` for a write's reply; the value read for a read.
    type Out = Option<String>;

    fn step(&self, state: &Option<String>, op: &RegisterOp) -> (Option<String>, Option<String>) {
        match op {
            RegisterOp::Write(v) => (Some(v.clone()), None),
            RegisterOp::Read => (state.clone(), state.clone()),
        }
    }

    fn reads(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read)
    }
}

/// A counter whose increments return the new value (fetch-and-add): two
/// activations of one counter serving at once would hand out a value twice,
/// which no sequential order explains.
pub struct Counter;

impl Model for Counter {
    type State = i64;
    /// The amount added (0 reads).
    type Op = i64;
    type Out = i64;

    fn step(&self, state: &i64, by: &i64) -> (i64, i64) {
        (state + by, state + by)
    }

    fn reads(&self, by: &i64) -> bool {
        *by == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    fn entry<Op, Out>(op: Op, base: Instant, called: u64, returned: Option<(u64, Out)>) -> Entry<Op, Out> {
        Entry { op, called: at(base, called), returned: returned.map(|(t, out)| (at(base, t), out)) }
    }

    #[test]
    fn overlapping_operations_may_take_effect_in_either_order() {
        let t = Instant::now();
        let history = vec![
            entry(RegisterOp::Write("a".into()), t, 0, Some((10, None))),
            entry(RegisterOp::Write("b".into()), t, 5, Some((20, None))),
            entry(RegisterOp::Read, t, 12, Some((15, Some("a".into())))),
            entry(RegisterOp::Read, t, 21, Some((25, Some("b".into())))),
        ];
        check(&Register, None, &history).unwrap();
    }

    #[test]
    fn a_read_of_an_overwritten_value_after_the_overwrite_returned_is_refused() {
        let t = Instant::now();
        let history = vec![
            entry(RegisterOp::Write("a".into()), t, 0, Some((10, None))),
            entry(RegisterOp::Write("b".into()), t, 11, Some((20, None))),
            entry(RegisterOp::Read, t, 21, Some((25, Some("a".into())))),
        ];
        assert!(check(&Register, None, &history).is_err());
    }

    #[test]
    fn a_write_with_unknown_outcome_may_or_may_not_have_happened() {
        let t = Instant::now();
        let applied = vec![
            entry(RegisterOp::Write("x".into()), t, 0, None),
            entry(RegisterOp::Read, t, 50, Some((55, Some("x".into())))),
        ];
        check(&Register, None, &applied).unwrap();
        let lost = vec![
            entry(RegisterOp::Write("x".into()), t, 0, None),
            entry(RegisterOp::Read, t, 50, Some((55, None))),
        ];
        check(&Register, None, &lost).unwrap();
    }

    #[test]
    fn many_increments_of_unknown_outcome_are_checked_without_trying_each_subset() {
        let base = Instant::now();
        // Forty increments failed (all overlapping), then increments that
        // returned values explained only by twenty of them having applied.
        let mut history: Vec<Entry<i64, i64>> = (0..40).map(|n| entry(1, base, n, None)).collect();
        history.extend((0..10).map(|n| entry(0, base, 50 + n, None)));
        history.extend((0..20).map(|n| entry(1, base, 100 + 2 * n, Some((101 + 2 * n, 21 + n as i64)))));
        check(&Counter, 0, &history).unwrap();
        // No order reaches 100: at most 61 increments happened.
        history.push(entry(1, base, 200, Some((201, 100))));
        assert!(check(&Counter, 0, &history).is_err());
    }

    #[test]
    fn a_counter_value_handed_out_twice_is_refused() {
        let t = Instant::now();
        let twice = vec![entry(1, t, 0, Some((10, 1))), entry(1, t, 2, Some((12, 1)))];
        assert!(check(&Counter, 0, &twice).is_err());
        let once_each = vec![entry(1, t, 0, Some((10, 2))), entry(1, t, 2, Some((12, 1)))];
        check(&Counter, 0, &once_each).unwrap();
    }
}
