//! Call chains: the turns the running code is part of, innermost first. A
//! turn's handler runs in its caller's task inside a task-local link
//! naming its actor and its turn, so a call it makes sees the chain of
//! turns waiting on it: a call back into one of them is a cycle
//! (`activation.rs` refuses it, or lets it enter a reentrant turn), and a
//! call forwarded to another node carries the chain there.
//!
//! Turn numbers start at a random value, so a chain sent by a gRPC client
//! cannot name a running turn by guessing.

use orbit_shared::ActorId;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

tokio::task_local! {
    static CHAIN: Option<Arc<Link>>;
}

/// One turn in a call chain.
struct Link {
    id: Arc<ActorId>,
    turn: u64,
    caller: Option<Arc<Link>>,
}

impl Link {
    fn iter(&self) -> impl Iterator<Item = &Link> {
        std::iter::successors(Some(self), |l| l.caller.as_deref())
    }
}

/// A turn number no other turn of this process has.
pub(crate) fn new_turn() -> u64 {
    static NEXT: LazyLock<AtomicU64> =
        LazyLock::new(|| AtomicU64::new(std::collections::hash_map::RandomState::new().hash_one(0u8)));
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn with_chain<R>(f: impl FnOnce(Option<&Link>) -> R) -> R {
    match CHAIN.try_with(|link| link.clone()) {
        Ok(link) => f(link.as_deref()),
        Err(_) => f(None),
    }
}

/// Whether a turn of `id` is in the chain.
pub(crate) fn contains(id: &ActorId) -> bool {
    with_chain(|link| link.is_some_and(|l| l.iter().any(|l| *l.id == *id)))
}

/// Whether turn `turn` of `id` is in the chain.
pub(crate) fn holds(id: &ActorId, turn: u64) -> bool {
    with_chain(|link| link.is_some_and(|l| l.iter().any(|l| l.turn == turn && *l.id == *id)))
}

/// The cycle a call into `id` would close, as `A -> B -> A`, if a turn of
/// `id` is in the chain.
pub(crate) fn cycle_to(id: &ActorId) -> Option<String> {
    with_chain(|link| {
        let mut path = Vec::new();
        for l in link?.iter() {
            path.push(l.id.to_string());
            if *l.id == *id {
                path.reverse();
                path.push(id.to_string());
                return Some(path.join(" -> "));
            }
        }
        None
    })
}

/// Runs `future` as turn `turn` of `id`, on top of the chain it is
/// polled in.
pub(crate) async fn scope<F: Future>(id: Arc<ActorId>, turn: u64, future: F) -> F::Output {
    let caller = CHAIN.try_with(Clone::clone).ok().flatten();
    CHAIN.scope(Some(Arc::new(Link { id, turn, caller })), future).await
}

/// The chain's turns, outermost first (empty outside any turn): a call
/// forwarded to another node carries it.
pub(crate) fn call_chain() -> Vec<(ActorId, u64)> {
    let mut chain: Vec<_> = with_chain(|link| {
        link.map(|l| l.iter().map(|l| ((*l.id).clone(), l.turn)).collect()).unwrap_or_default()
    });
    chain.reverse();
    chain
}

/// Runs `future` as a call made inside the turns of `chain` (outermost
/// first: a forwarded call's chain from another node).
pub(crate) fn in_call_chain<F: Future>(
    chain: Vec<(ActorId, u64)>,
    future: F,
) -> impl Future<Output = F::Output> {
    let link = chain
        .into_iter()
        .fold(None, |caller, (id, turn)| Some(Arc::new(Link { id: Arc::new(id), turn, caller })));
    CHAIN.scope(link, future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_chain_names_its_cycles_and_its_turns_and_travels_as_a_list() {
        let (a, b) = (Arc::new(ActorId::new("k", "a")), Arc::new(ActorId::new("k", "b")));
        let (ta, tb) = (new_turn(), new_turn());
        assert_ne!(ta, tb);
        assert!(!contains(&a) && cycle_to(&a).is_none() && call_chain().is_empty());
        let inner = async {
            assert!(contains(&a) && contains(&b));
            assert!(holds(&a, ta) && !holds(&a, tb));
            assert_eq!(cycle_to(&a).as_deref(), Some("k/a -> k/b -> k/a"));
            assert_eq!(cycle_to(&b).as_deref(), Some("k/b -> k/b"));
            let chain = call_chain();
            assert_eq!(chain, [((*a).clone(), ta), ((*b).clone(), tb)]);
            // Carried elsewhere, the same chain.
            in_call_chain(chain.clone(), async { call_chain() }).await
        };
        let carried = scope(a.clone(), ta, scope(b.clone(), tb, inner)).await;
        assert_eq!(carried, [((*a).clone(), ta), ((*b).clone(), tb)]);
    }
}
