//! Eviction: keeping the resident activations at most `actors.max_activations`.
//!
//! The rule: an insertion that takes the directory over the cap starts a
//! pass on a task of the node, unless one is running (one at a time per
//! node). A pass deactivates idle activations (no waiting caller), least
//! recently used first, with reason `evicted` (`on_deactivate` run and the
//! state persisted first, as for any deactivation), until the
//! directory holds at most [`target`]: 90% of the cap, so that the next pass
//! waits for a tenth of the cap of new activations rather than starting on
//! every insertion. An activation in a turn is skipped, never waited for.
//!
//! Passes repeat while the directory is over the cap (insertions during a
//! pass start none of their own), and stop when one evicts nothing: every
//! remaining activation is busy, and the next insertion tries again.

use super::AnyActivation;
use crate::node::NodeHandle;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Evictions one pass runs at once: fewer than shutdown's, since live calls
/// share the node with them.
const EVICTION_CONCURRENCY: usize = 64;

/// Where a pass stops: 90% of `cap`, rounded down, and at least one below it.
fn target(cap: usize) -> usize {
    cap - cap.div_ceil(10)
}

/// Called after an activation is inserted: starts eviction when the
/// directory is over `actors.max_activations` and no pass is running.
pub(crate) fn evict_over_cap(node: &NodeHandle) {
    let cap = node.config().actors.max_activations;
    if !over(node, cap) || node.directory().evicting.swap(true, Ordering::AcqRel) {
        return;
    }
    let node = node.clone();
    node.tasks().clone().spawn(async move { run(&node, cap).await });
}

fn over(node: &NodeHandle, cap: usize) -> bool {
    cap != 0 && node.directory().len() > cap
}

/// The eviction flag, taken; dropping gives it back, also when a pass
/// panics (in an actor's `on_deactivate`), so eviction goes on.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Runs passes with the flag taken (by the caller), then gives it back.
async fn run(node: &NodeHandle, cap: usize) {
    let flag = &node.directory().evicting;
    loop {
        let running = Running(flag);
        let mut progress = true;
        while progress && over(node, cap) {
            progress = pass(node, cap).await > 0;
        }
        drop(running);
        // An insertion that went over the cap after the last check saw the
        // flag still taken and started nothing: look once more.
        if !progress || !over(node, cap) || flag.swap(true, Ordering::AcqRel) {
            return;
        }
    }
}

/// One pass: evicts the least recently used idle activations until the
/// directory is down to [`target`]. Returns how many it retired.
async fn pass(node: &NodeHandle, cap: usize) -> usize {
    let excess = node.directory().len().saturating_sub(target(cap));
    // Each activation's last turn is read once: a sort by a key that moves
    // underneath it has no consistent order.
    let mut idle: Vec<(u64, Arc<dyn AnyActivation>)> = node
        .directory()
        .all()
        .into_iter()
        .filter(|a| a.waiting() == 0)
        .map(|a| (a.last_turn_ms(), a))
        .collect();
    idle.sort_unstable_by_key(|(last_turn_ms, _)| *last_turn_ms);
    let mut candidates = idle.into_iter().map(|(_, a)| a);
    let mut evicted = 0;
    // Busy activations are skipped, so the next ones stand in for them.
    while evicted < excess && node.check_open().is_ok() {
        let batch: Vec<_> = candidates.by_ref().take(excess - evicted).collect();
        if batch.is_empty() {
            break;
        }
        for chunk in batch.chunks(EVICTION_CONCURRENCY) {
            let retired = futures::future::join_all(chunk.iter().map(|a| evict(node, a))).await;
            evicted += retired.into_iter().filter(|r| *r).count();
        }
    }
    evicted
}

/// Deactivates `activation` unless it is in a turn; whether it was.
async fn evict(node: &NodeHandle, activation: &Arc<dyn AnyActivation>) -> bool {
    activation.deactivate(node, "evicted", Some(0)).await
}

#[cfg(test)]
mod tests {
    use super::target;

    #[test]
    fn a_pass_stops_at_ninety_percent_of_the_cap_and_below_it() {
        assert_eq!(target(50), 45);
        assert_eq!(target(1000), 900);
        assert_eq!(target(15), 13);
        assert_eq!(target(5), 4);
        assert_eq!(target(1), 0);
    }
}
