//! The activation table: which actors are resident on this node, by
//! partition, what each is doing (for introspection and metrics), plus
//! idle and bulk deactivation (eviction over the cap is in `eviction.rs`).

use super::activation::{Activation, Called, HeldTurn, TurnError};
use super::workers::Workers;
use super::{Actor, Timers};
use crate::node::NodeHandle;
use crate::partition::partition_of;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use futures::future::BoxFuture;
use futures::stream::StreamExt;
use orbit_shared::{ActivationInfo, ActorId, Invocation};
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio_util::sync::CancellationToken;

/// An activation with its actor type erased, for dynamic calls and upkeep.
pub(crate) trait AnyActivation: Any + Send + Sync {
    fn call_json<'a>(&'a self, node: &'a NodeHandle, invocation: &'a Invocation) -> BoxFuture<'a, Called>;
    /// A timer's tick ([`Activation::tick`]).
    fn tick<'a>(
        &'a self,
        node: &'a NodeHandle,
        invocation: &'a Invocation,
        keep_alive: bool,
    ) -> BoxFuture<'a, Called>;
    fn timers(&self) -> &Timers;
    fn deactivate<'a>(
        &'a self,
        node: &'a NodeHandle,
        reason: &'static str,
        idle_ms: Option<u64>,
    ) -> BoxFuture<'a, bool>;
    fn waiting(&self) -> usize;
    fn last_turn_ms(&self) -> u64;
    /// When it was activated (node ms).
    fn activated_ms(&self) -> u64;
    /// Takes the actor's turn for an atomic call group.
    fn hold<'a>(&'a self, node: &'a NodeHandle) -> BoxFuture<'a, Result<Box<dyn HeldTurn + 'a>, TurnError>>;
}

impl<A: Actor> AnyActivation for Activation<A> {
    fn call_json<'a>(&'a self, node: &'a NodeHandle, invocation: &'a Invocation) -> BoxFuture<'a, Called> {
        Box::pin(Activation::call_json(self, node, invocation))
    }

    fn tick<'a>(
        &'a self,
        node: &'a NodeHandle,
        invocation: &'a Invocation,
        keep_alive: bool,
    ) -> BoxFuture<'a, Called> {
        Box::pin(Activation::tick(self, node, invocation, keep_alive))
    }

    fn timers(&self) -> &Timers {
        Activation::timers(self)
    }

    fn deactivate<'a>(
        &'a self,
        node: &'a NodeHandle,
        reason: &'static str,
        idle_ms: Option<u64>,
    ) -> BoxFuture<'a, bool> {
        Box::pin(Activation::deactivate(self, node, reason, idle_ms))
    }

    fn waiting(&self) -> usize {
        Activation::waiting(self)
    }

    fn last_turn_ms(&self) -> u64 {
        Activation::last_turn_ms(self)
    }

    fn activated_ms(&self) -> u64 {
        Activation::activated_ms(self)
    }

    fn hold<'a>(&'a self, node: &'a NodeHandle) -> BoxFuture<'a, Result<Box<dyn HeldTurn + 'a>, TurnError>> {
        Box::pin(async move {
            let held = Activation::hold(self, node).await?;
            Ok(Box::new(held) as Box<dyn HeldTurn + 'a>)
        })
    }
}

impl<A: Actor> AnyActivation for Workers<A> {
    fn call_json<'a>(&'a self, node: &'a NodeHandle, invocation: &'a Invocation) -> BoxFuture<'a, Called> {
        Box::pin(self.call_dynamic(node, invocation, true))
    }

    fn tick<'a>(
        &'a self,
        node: &'a NodeHandle,
        invocation: &'a Invocation,
        keep_alive: bool,
    ) -> BoxFuture<'a, Called> {
        Box::pin(self.call_dynamic(node, invocation, keep_alive))
    }

    fn timers(&self) -> &Timers {
        Workers::timers(self)
    }

    fn deactivate<'a>(
        &'a self,
        node: &'a NodeHandle,
        reason: &'static str,
        idle_ms: Option<u64>,
    ) -> BoxFuture<'a, bool> {
        Box::pin(Workers::deactivate(self, node, reason, idle_ms))
    }

    fn waiting(&self) -> usize {
        Workers::waiting(self)
    }

    fn last_turn_ms(&self) -> u64 {
        Workers::last_turn_ms(self)
    }

    fn activated_ms(&self) -> u64 {
        Workers::activated_ms(self)
    }

    fn hold<'a>(&'a self, _node: &'a NodeHandle) -> BoxFuture<'a, Result<Box<dyn HeldTurn + 'a>, TurnError>> {
        Box::pin(async move { Err(self.refuse_group()) })
    }
}

/// How many deactivations run at once during shutdown.
const DEACTIVATION_CONCURRENCY: usize = 256;

/// The resident activations, one table per partition: a partition's
/// activations are found, and can be stopped, apart from the others'.
pub(crate) struct Directory {
    partitions: Vec<Table>,
    /// Entries in all tables: added under the table's lock when one is
    /// inserted, taken away once one is removed, so `len` walks nothing.
    resident: AtomicUsize,
    /// An eviction pass is running (`eviction.rs`).
    pub(super) evicting: AtomicBool,
}

/// One partition's activations by id. foldhash rather than SipHash: the
/// lookup is on every call's path, and foldhash's per-table random seed
/// still keeps client-chosen keys from aiming at one bucket.
type Table = DashMap<ActorId, Arc<dyn AnyActivation>, foldhash::fast::RandomState>;

impl Directory {
    pub fn new(partitions: u16) -> Self {
        Directory {
            partitions: (0..partitions).map(|_| DashMap::with_hasher(Default::default())).collect(),
            resident: AtomicUsize::new(0),
            evicting: AtomicBool::new(false),
        }
    }

    /// The table of the partition that owns `id`.
    fn table(&self, id: &ActorId) -> &Table {
        let count = self.partitions.len() as u16;
        &self.partitions[usize::from(partition_of(id.slot(), count))]
    }

    /// The activation registered for `id`, or a new one from `activate`,
    /// and whether it was inserted by this call.
    pub fn get_or_activate(
        &self,
        id: &ActorId,
        activate: impl FnOnce() -> Arc<dyn AnyActivation>,
    ) -> (Arc<dyn AnyActivation>, bool) {
        let table = self.table(id);
        if let Some(found) = table.get(id) {
            return (found.clone(), false);
        }
        match table.entry(id.clone()) {
            Entry::Occupied(found) => (found.get().clone(), false),
            Entry::Vacant(slot) => {
                self.resident.fetch_add(1, Ordering::Relaxed);
                (slot.insert(activate()).clone(), true)
            }
        }
    }

    pub fn get(&self, id: &ActorId) -> Option<Arc<dyn AnyActivation>> {
        self.table(id).get(id).map(|a| a.clone())
    }

    /// Removes `activation` if it is still the one registered for `id`.
    /// Removes `activation` (an `Activation` or `Workers`) if it is still
    /// the one listed for `id`.
    pub fn remove<T>(&self, id: &ActorId, activation: &T) {
        let target = activation as *const T as *const ();
        let removed = self.table(id).remove_if(id, |_, current| Arc::as_ptr(current) as *const () == target);
        if removed.is_some() {
            self.resident.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub fn len(&self) -> usize {
        self.resident.load(Ordering::Relaxed)
    }

    pub(super) fn all(&self) -> Vec<Arc<dyn AnyActivation>> {
        self.partitions
            .iter()
            .flat_map(|table| table.iter().map(|e| e.value().clone()).collect::<Vec<_>>())
            .collect()
    }

    /// The resident activations (of `kind` only, when given) by id, as of
    /// node time `now_ms`. The tables are only walked under their locks;
    /// timers are read after.
    pub fn list(&self, kind: Option<&str>, now_ms: u64) -> Vec<ActivationInfo> {
        let mut found: Vec<(ActorId, Arc<dyn AnyActivation>)> = Vec::new();
        for table in &self.partitions {
            found.extend(
                table
                    .iter()
                    .filter(|e| kind.is_none_or(|k| e.key().kind == k))
                    .map(|e| (e.key().clone(), e.value().clone())),
            );
        }
        found.sort_by(|(a, _), (b, _)| a.cmp(b));
        let info = |(id, activation): (ActorId, Arc<dyn AnyActivation>)| ActivationInfo {
            id,
            age_ms: now_ms.saturating_sub(activation.activated_ms()),
            idle_ms: now_ms.saturating_sub(activation.last_turn_ms()),
            waiting: activation.waiting(),
            timers: activation.timers().names(),
        };
        found.into_iter().map(info).collect()
    }

    /// The resident activations of each kind that has any, counted without
    /// copying ids (metrics read this at every scrape).
    pub fn by_kind(&self) -> HashMap<String, Residents> {
        let mut kinds: HashMap<String, Residents> = HashMap::new();
        for table in &self.partitions {
            for entry in table.iter() {
                let activated_ms = entry.value().activated_ms();
                match kinds.get_mut(entry.key().kind.as_str()) {
                    Some(kind) => {
                        kind.count += 1;
                        kind.oldest_activated_ms = kind.oldest_activated_ms.min(activated_ms);
                    }
                    None => {
                        let first = Residents { count: 1, oldest_activated_ms: activated_ms };
                        kinds.insert(entry.key().kind.clone(), first);
                    }
                }
            }
        }
        kinds
    }
}

/// The resident activations of one kind ([`Directory::by_kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Residents {
    pub count: usize,
    /// When the oldest of them was activated (node ms).
    pub oldest_activated_ms: u64,
}

/// Deactivates actors idle for `actors.idle_timeout`, checking every
/// `actors.idle_check_interval`, until cancelled. Each deactivation runs as a
/// task of the node so that it finishes even if this loop is cancelled.
pub(crate) async fn reap_idle(node: NodeHandle, cancel: CancellationToken) {
    let idle_ms = node.config().actors.idle_timeout.as_millis() as u64;
    let mut ticks = tokio::time::interval(node.config().actors.idle_check_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while cancel.run_until_cancelled(ticks.tick()).await.is_some() {
        let now = node.now_ms();
        for activation in node.directory().all() {
            if activation.waiting() == 0 && now >= activation.last_turn_ms() + idle_ms {
                let node = node.clone();
                node.tasks().clone().spawn(async move {
                    activation.deactivate(&node, "idle", Some(idle_ms)).await;
                });
            }
        }
    }
}

/// Deactivates every resident actor (on shutdown), persisting each.
pub(crate) async fn deactivate_all(node: &NodeHandle) {
    loop {
        let all = node.directory().all();
        if all.is_empty() {
            return;
        }
        futures::stream::iter(all)
            .for_each_concurrent(DEACTIVATION_CONCURRENCY, |a| async move {
                a.deactivate(node, "shutdown", None).await;
            })
            .await;
    }
}
