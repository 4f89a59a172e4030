//! What a node reports about itself: version, readiness, storage, hosted
//! kinds with their counters, and the partitions with their leaders.

use super::NodeHandle;
use orbit_shared::{Error, KindDescription, MethodDescription, NodeDescription, PartitionDescription};

impl NodeHandle {
    pub(crate) async fn describe_node(&self) -> Result<NodeDescription, Error> {
        let stats = self.store().stats().await.ok();
        let storage = &self.metrics().storage;
        let leader = self.shared.grpc_addr.get().map_or_else(|| "local".to_string(), |a| a.to_string());
        let kinds = self
            .shared
            .registry
            .infos()
            .into_iter()
            .map(|info| {
                let metrics = self.shared.registry.registered(info.kind).map(|k| k.metrics().clone());
                let mut methods: Vec<_> = info
                    .methods
                    .iter()
                    .map(|m| MethodDescription { name: m.name.to_string(), read_only: m.read_only })
                    .collect();
                methods.sort_by(|a, b| a.name.cmp(&b.name));
                KindDescription {
                    kind: info.kind.to_string(),
                    methods,
                    activations: metrics.as_ref().map_or(0, |m| m.activations.get()),
                    invocations_ok: metrics.as_ref().map_or(0, |m| m.invocations_ok.get()),
                    mailbox_rejections: metrics.as_ref().map_or(0, |m| m.mailbox_rejections.get()),
                }
            })
            .collect();
        let partitions = self
            .shared
            .partitions
            .iter()
            .map(|p| PartitionDescription {
                id: u32::from(p.id),
                first_slot: u32::from(p.slots.start),
                end_slot: u32::from(p.slots.end),
                leader: leader.clone(),
            })
            .collect();
        Ok(NodeDescription {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ready: self.is_ready(),
            backend: self.store().backend().name().to_string(),
            durability: self.config().storage.durability.name().to_string(),
            uptime_ms: self.shared.epoch.elapsed().as_millis() as u64,
            grpc_addr: leader,
            kinds,
            partitions,
            active_actors: self.active_actors() as u64,
            storage_reads: storage.reads.get(),
            storage_writes: storage.writes.get(),
            storage_fsyncs: storage.fsyncs.get(),
            storage_keys: stats.as_ref().map_or(0, |s| s.keys),
            storage_disk_bytes: stats.as_ref().map_or(0, |s| s.disk_bytes),
        })
    }
}
