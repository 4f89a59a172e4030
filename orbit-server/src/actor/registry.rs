//! The actor kinds a node hosts. A registry is a value owned by its node, so
//! two nodes in one process can host different kinds.

use super::activation::{Activation, KindState};
use super::directory::AnyActivation;
use super::workers::Workers;
use super::{Actor, MethodInfo, MethodTable};
use crate::metrics::{KindMetrics, Metrics};
use crate::partition::Partition;
use orbit_shared::ActorId;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// A kind and its methods, as listed to front doors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindInfo {
    pub kind: &'static str,
    pub methods: Vec<MethodInfo>,
}

/// One registered kind, with its concrete actor type erased.
pub(crate) trait KindEntry: Send + Sync {
    fn info(&self) -> KindInfo;
    fn metrics(&self) -> &KindMetrics;
    /// See `ActorGateway::kind_changes`.
    fn changes(&self) -> u64;
    /// Moves [`KindEntry::changes`]: a change made elsewhere (another
    /// node's turn, applied here) was stored.
    fn changed(&self);
    fn activate(&self, id: ActorId, partition: Arc<Partition>, now_ms: u64) -> Arc<dyn AnyActivation>;
    /// A stateless worker kind ([`Actor::STATELESS_WORKERS`]): its calls
    /// run where they arrive.
    fn stateless(&self) -> bool;
}

struct Kind<A: Actor> {
    name: &'static str,
    state: Arc<KindState<A>>,
}

impl<A: Actor> KindEntry for Kind<A> {
    fn info(&self) -> KindInfo {
        KindInfo { kind: self.name, methods: self.state.methods.infos() }
    }

    fn metrics(&self) -> &KindMetrics {
        &self.state.metrics
    }

    fn changes(&self) -> u64 {
        self.state.changes.load(std::sync::atomic::Ordering::Acquire)
    }

    fn changed(&self) {
        self.state.changes.fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    fn activate(&self, id: ActorId, partition: Arc<Partition>, now_ms: u64) -> Arc<dyn AnyActivation> {
        if A::STATELESS_WORKERS > 0 {
            return Arc::new(Workers::new(id, self.state.clone(), now_ms));
        }
        Arc::new(Activation::new(id, partition, self.state.clone(), now_ms))
    }

    fn stateless(&self) -> bool {
        A::STATELESS_WORKERS > 0
    }
}

/// Builds the entry of actor type `A` hosted as kind `name` (usually
/// `A::Interface::KIND`); a fn pointer so builders can hold a list.
pub(crate) fn entry_of<A: Actor>(name: &'static str, metrics: &Metrics) -> Arc<dyn KindEntry> {
    let state = KindState {
        methods: MethodTable::<A>::of(),
        metrics: metrics.kind(name),
        changes: Default::default(),
    };
    Arc::new(Kind { name, state: Arc::new(state) })
}

pub(crate) type EntryFactory = fn(&'static str, &Metrics) -> Arc<dyn KindEntry>;

/// The kinds a node hosts: exact names (`counter`, `redis:3`) and families,
/// registered as a name ending in `:*` (`row:*`), which host every kind
/// with that prefix (`row:accounts`, `row:orders`...).
#[derive(Default)]
pub(crate) struct Registry {
    kinds: HashMap<&'static str, Arc<dyn KindEntry>>,
    /// Family prefixes with their `:` (`row:`), and the family's entry.
    families: Vec<(&'static str, Arc<dyn KindEntry>)>,
}

impl Registry {
    /// Registers every factory; a kind registered twice is an error.
    pub fn build(
        factories: &[(&'static str, EntryFactory)],
        metrics: &Metrics,
    ) -> Result<Self, &'static str> {
        let mut kinds = HashMap::new();
        let mut families = Vec::new();
        for &(kind, factory) in factories {
            if kinds.insert(kind, factory(kind, metrics)).is_some() {
                return Err(kind);
            }
            if let Some(prefix) = kind.strip_suffix('*').filter(|p| p.ends_with(':')) {
                families.push((prefix, kinds[kind].clone()));
            }
        }
        Ok(Registry { kinds, families })
    }

    /// The entry hosting `kind`: its own, else its family's. A family's
    /// pattern (`row:*`) is not itself a kind, nor is the bare prefix.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn KindEntry>> {
        if kind.ends_with('*') {
            return None;
        }
        self.kinds.get(kind).or_else(|| {
            let (prefix, _) = kind.split_at(kind.find(':')? + 1);
            let rest = &kind[prefix.len()..];
            if rest.is_empty() {
                return None;
            }
            self.families.iter().find(|(p, _)| *p == prefix).map(|(_, entry)| entry)
        })
    }

    /// The entry registered under exactly `name` (a family by its pattern).
    pub fn registered(&self, name: &str) -> Option<&Arc<dyn KindEntry>> {
        self.kinds.get(name)
    }

    pub fn infos(&self) -> Vec<KindInfo> {
        let mut infos: Vec<_> = self.kinds.values().map(|k| k.info()).collect();
        infos.sort_by_key(|k| k.kind);
        infos
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::counter::CounterActor;

    #[test]
    fn families_host_every_kind_with_their_prefix() {
        let metrics = Metrics::new();
        let factories: [(&'static str, EntryFactory); 2] =
            [("counter", entry_of::<CounterActor>), ("row:*", entry_of::<CounterActor>)];
        let registry = Registry::build(&factories, &metrics).unwrap();
        assert!(registry.get("counter").is_some());
        assert_eq!(registry.get("row:accounts").map(|e| e.info().kind), Some("row:*"));
        assert_eq!(registry.get("row:a:b").map(|e| e.info().kind), Some("row:*"));
        for not_a_kind in ["row:*", "row:", "row", "rows:x", "counter:x", ""] {
            assert!(registry.get(not_a_kind).is_none(), "{not_a_kind}");
        }
        assert!(registry.registered("row:*").is_some());
    }
}
