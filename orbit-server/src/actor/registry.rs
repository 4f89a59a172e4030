//! The actor kinds a node hosts. A registry is a value owned by its node, so
//! two nodes in one process can host different kinds.

use super::activation::{Activation, KindState};
use super::directory::AnyActivation;
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
    fn activate(&self, id: ActorId, partition: Arc<Partition>, now_ms: u64) -> Arc<dyn AnyActivation>;
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

    fn activate(&self, id: ActorId, partition: Arc<Partition>, now_ms: u64) -> Arc<dyn AnyActivation> {
        Arc::new(Activation::new(id, partition, self.state.clone(), now_ms))
    }
}

/// Builds the entry of actor type `A` hosted as kind `name` (usually
/// `A::Interface::KIND`); a fn pointer so builders can hold a list.
pub(crate) fn entry_of<A: Actor>(name: &'static str, metrics: &Metrics) -> Arc<dyn KindEntry> {
    let state = KindState { methods: MethodTable::<A>::of(), metrics: metrics.kind(name) };
    Arc::new(Kind { name, state: Arc::new(state) })
}

pub(crate) type EntryFactory = fn(&'static str, &Metrics) -> Arc<dyn KindEntry>;

#[derive(Default)]
pub(crate) struct Registry {
    kinds: HashMap<&'static str, Arc<dyn KindEntry>>,
}

impl Registry {
    /// Registers every factory; a kind registered twice is an error.
    pub fn build(
        factories: &[(&'static str, EntryFactory)],
        metrics: &Metrics,
    ) -> Result<Self, &'static str> {
        let mut kinds = HashMap::new();
        for &(kind, factory) in factories {
            if kinds.insert(kind, factory(kind, metrics)).is_some() {
                return Err(kind);
            }
        }
        Ok(Registry { kinds })
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<dyn KindEntry>> {
        self.kinds.get(kind)
    }

    pub fn infos(&self) -> Vec<KindInfo> {
        let mut infos: Vec<_> = self.kinds.values().map(|k| k.info()).collect();
        infos.sort_by_key(|k| k.kind);
        infos
    }
}
