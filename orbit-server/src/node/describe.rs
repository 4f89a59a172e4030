//! What a node reports about itself: version, readiness, storage, hosted
//! kinds with their counters, the partitions with their leaders, replicas
//! and Raft progress, and in a cluster the cluster's nodes.

use super::NodeHandle;
use crate::cluster::{Cluster, GroupId, GroupReport, Leader, META_GROUP, NodeId};
use orbit_shared::{
    ClusterNodeDescription, Error, KindDescription, MethodDescription, NodeDescription, PartitionDescription,
};
use std::collections::{BTreeMap, HashMap};

/// The cluster's part of a node's description; empty without a cluster.
#[derive(Default)]
struct Membership {
    cluster_id: String,
    node_id: u64,
    nodes: Vec<ClusterNodeDescription>,
}

impl NodeHandle {
    pub(crate) async fn describe_node(&self) -> Result<NodeDescription, Error> {
        let stats = self.store().stats().await.ok();
        let storage = &self.metrics().storage;
        let own = self.shared.grpc_addr.get().map_or_else(|| "local".to_string(), |a| a.to_string());
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
        let mut partitions: Vec<PartitionDescription> = self
            .shared
            .partitions
            .iter()
            .map(|p| PartitionDescription {
                id: u32::from(p.id),
                first_slot: u32::from(p.slots.start),
                end_slot: u32::from(p.slots.end),
                ..Default::default()
            })
            .collect();
        let membership = match self.partitions().cluster() {
            // A single node leads and holds every partition.
            Ok(None) => {
                for p in &mut partitions {
                    p.leader = own.clone();
                    p.replicas = vec![own.clone()];
                }
                Membership::default()
            }
            Ok(Some(cluster)) => describe_cluster(cluster, &mut partitions),
            // Still joining: no leader or replica is known yet.
            Err(_) => Membership::default(),
        };
        Ok(NodeDescription {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ready: self.is_ready(),
            backend: self.store().backend().name().to_string(),
            durability: self.config().storage.durability.name().to_string(),
            uptime_ms: self.shared.epoch.elapsed().as_millis() as u64,
            grpc_addr: own,
            kinds,
            partitions,
            active_actors: self.active_actors() as u64,
            storage_reads: storage.reads.get(),
            storage_writes: storage.writes.get(),
            storage_fsyncs: storage.fsyncs.get(),
            storage_keys: stats.as_ref().map_or(0, |s| s.keys),
            storage_disk_bytes: stats.as_ref().map_or(0, |s| s.disk_bytes),
            cluster_id: membership.cluster_id,
            node_id: membership.node_id,
            nodes: membership.nodes,
        })
    }
}

/// Fills in each partition's leader, replicas and Raft progress as this
/// node knows them, and lists the cluster's nodes with how many partitions
/// each leads. A partition this node holds no replica of has no known
/// leader here, no progress, and the replicas the metadata group records
/// (or the founding placement before it is recorded).
fn describe_cluster(cluster: &Cluster, partitions: &mut [PartitionDescription]) -> Membership {
    let identity = cluster.identity();
    let meta = cluster.meta();
    // Node addresses: the founding ones, then whatever the metadata group
    // records since.
    let mut book: BTreeMap<NodeId, String> = identity.nodes.clone();
    book.extend(meta.nodes.iter().map(|(id, addr)| (*id, addr.clone())));
    let addr_of = |id: &NodeId| book.get(id).cloned().unwrap_or_else(|| format!("node {id}"));
    let founders: Vec<NodeId> = identity.nodes.keys().copied().collect();
    let reports: HashMap<GroupId, GroupReport> =
        cluster.report().into_iter().filter(|r| r.group != META_GROUP).map(|r| (r.group, r)).collect();
    let mut led: BTreeMap<NodeId, u32> = BTreeMap::new();
    for p in partitions.iter_mut() {
        let Ok(group) = GroupId::try_from(p.id) else { continue };
        p.leader = match cluster.leader(group) {
            Leader::Local => {
                *led.entry(cluster.node_id()).or_default() += 1;
                cluster.addr().to_string()
            }
            Leader::Remote { node, addr } => {
                *led.entry(node).or_default() += 1;
                addr
            }
            Leader::Unknown => String::new(),
        };
        match reports.get(&group) {
            Some(report) => {
                p.replicas = report.replicas.iter().map(addr_of).collect();
                p.term = report.term;
                p.applied = report.applied;
                p.lag = report.lag.as_ref().and_then(|lag| lag.values().max().copied()).unwrap_or(0);
            }
            None => {
                let ids = meta.replicas.get(&group).cloned().unwrap_or_else(|| {
                    crate::cluster::replicas(group, &founders, identity.replication_factor)
                });
                p.replicas = ids.iter().map(addr_of).collect();
            }
        }
    }
    let nodes = book
        .iter()
        .map(|(id, addr)| ClusterNodeDescription {
            id: *id,
            addr: addr.clone(),
            partitions_led: led.get(id).copied().unwrap_or(0),
        })
        .collect();
    Membership { cluster_id: cluster.cluster_id().to_string(), node_id: cluster.node_id(), nodes }
}
