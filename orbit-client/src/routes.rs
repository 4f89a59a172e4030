//! Routing in a cluster: the partition map a node describes ([`Routes`]) and
//! the connections to the nodes that lead partitions ([`Router`]).
//!
//! A call goes to the leader of its actor's partition, found by the actor's
//! slot. It goes to the connected node instead when the leader is not known,
//! is the connected node itself, or cannot be reached; that node forwards
//! it. A [`Error::NotLeader`] answer means the call did not run: the map is
//! described again and the call sent once more. Any other failure is
//! returned as is, since the call may have run.

use crate::{ClientError, Connection, Settings};
use orbit_shared::proto::{InvokeAtomicRequest, InvokeRequest};
use orbit_shared::slot::actor_slot;
use orbit_shared::{Error, NodeDescription, PartitionDescription, Reply};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// The least time between two refreshes started because a leader could not
/// be reached.
const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// One partition: slots `first..end`, led by the node at `leader` (empty
/// when not known).
#[derive(Debug, Clone, PartialEq)]
struct Route {
    first: u16,
    end: u16,
    leader: String,
}

impl Route {
    /// `None` for a slot range that does not fit the slot space.
    fn of(partition: &PartitionDescription) -> Option<Route> {
        let first = u16::try_from(partition.first_slot).ok()?;
        let end = u16::try_from(partition.end_slot).ok()?;
        (first < end).then(|| Route { first, end, leader: partition.leader.clone() })
    }
}

/// A cluster's partition map, as one node described it.
#[derive(Debug, Clone, PartialEq)]
struct Routes {
    /// In slot order.
    routes: Vec<Route>,
    /// The connected node's own gRPC addresses: partitions it leads are
    /// served over the connection the client already has.
    home: Vec<String>,
    /// The other nodes' gRPC addresses, asked for the map when the
    /// connected node cannot answer.
    others: Vec<String>,
}

impl Routes {
    /// The map in `description`, with `home` the connected node's addresses;
    /// `None` when the describing node is not in a cluster.
    fn new(description: &NodeDescription, home: &[String]) -> Option<Routes> {
        if !description.clustered() {
            return None;
        }
        let mut routes: Vec<Route> = description.partitions.iter().filter_map(Route::of).collect();
        routes.sort_by_key(|route| route.first);
        let others = description
            .nodes
            .iter()
            .map(|node| node.addr.clone())
            .filter(|addr| !addr.is_empty() && !home.contains(addr))
            .collect();
        Some(Routes { routes, home: home.to_vec(), others })
    }

    /// Where a call for `slot` goes: the address of its partition's leader,
    /// or `None` for the connected node (no partition holds the slot, its
    /// leader is not known, or it is the connected node).
    fn leader(&self, slot: u16) -> Option<&str> {
        let after = self.routes.partition_point(|route| route.first <= slot);
        let route = self.routes.get(after.checked_sub(1)?)?;
        if slot >= route.end || !self.is_other(&route.leader) {
            return None;
        }
        Some(route.leader.as_str())
    }

    /// Whether `addr` names a node other than the connected one.
    fn is_other(&self, addr: &str) -> bool {
        !addr.is_empty() && !self.home.iter().any(|home| home == addr)
    }

    /// Every partition's first slot, end slot and leader, in slot order.
    fn list(&self) -> Vec<(u16, u16, String)> {
        self.routes.iter().map(|route| (route.first, route.end, route.leader.clone())).collect()
    }

    /// Takes `addr` for no partition's leader until the map is described
    /// again.
    fn forget(&mut self, addr: &str) {
        for route in self.routes.iter_mut().filter(|route| route.leader == addr) {
            route.leader.clear();
        }
    }
}

/// The addresses a node goes by in its own description: the one it serves
/// gRPC on and the one its cluster knows it by.
fn home_addresses(description: &NodeDescription) -> Vec<String> {
    let own = description.nodes.iter().filter(|node| node.id == description.node_id);
    let mut addrs: Vec<String> = std::iter::once(description.grpc_addr.clone())
        .chain(own.map(|node| node.addr.clone()))
        .filter(|addr| !addr.is_empty())
        .collect();
    addrs.dedup();
    addrs
}

/// The routing of a client connected to a node of a cluster.
pub(crate) struct Router {
    home: Arc<Connection>,
    settings: Settings,
    routes: RwLock<Routes>,
    /// Connections to other nodes by address, each opened once, on first
    /// use.
    others: Mutex<HashMap<String, Arc<OnceCell<Arc<Connection>>>>>,
    /// Counts the maps stored by refreshes.
    generation: AtomicU64,
    /// Held while refreshing, so refreshes wanted at once describe once.
    refreshing: tokio::sync::Mutex<()>,
    /// When the last refresh in the background started.
    last_background: Mutex<Option<Instant>>,
}

impl Router {
    /// Describes the connected node: a router when it is in a cluster,
    /// `None` when it is not or cannot describe itself.
    pub async fn start(home: Arc<Connection>, settings: Settings) -> Option<Arc<Router>> {
        let description = tokio::time::timeout(settings.timeout, home.describe()).await.ok()?.ok()?;
        let routes = Routes::new(&description, &home_addresses(&description))?;
        Some(Arc::new(Router {
            home,
            settings,
            routes: RwLock::new(routes),
            others: Mutex::default(),
            generation: AtomicU64::new(0),
            refreshing: tokio::sync::Mutex::new(()),
            last_background: Mutex::new(None),
        }))
    }

    /// See [`Routes::list`].
    pub fn routes(&self) -> Vec<(u16, u16, String)> {
        self.read().list()
    }

    /// One call, sent to the leader of its actor's partition.
    pub async fn send(self: &Arc<Self>, request: InvokeRequest) -> Result<Reply, ClientError> {
        let slot = actor_slot(&request.kind, &request.key);
        self.routed(slot, |node| {
            let request = request.clone();
            async move { node.send(request).await }
        })
        .await
    }

    /// An atomic group, sent to the leader of its first actor's partition.
    pub async fn invoke_atomic(
        self: &Arc<Self>,
        request: InvokeAtomicRequest,
    ) -> Result<Vec<Reply>, ClientError> {
        let Some(first) = request.calls.first() else {
            return self.home.invoke_atomic(request).await;
        };
        let slot = actor_slot(&first.kind, &first.key);
        self.routed(slot, |node| {
            let request = request.clone();
            async move { node.invoke_atomic(request).await }
        })
        .await
    }

    /// Runs `call` on the node leading `slot`'s partition; after a
    /// [`Error::NotLeader`] answer, describes the map again and runs it once
    /// more where the answer or the new map says.
    async fn routed<T, F, Fut>(self: &Arc<Self>, slot: u16, call: F) -> Result<T, ClientError>
    where
        F: Fn(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let seen = self.generation.load(Ordering::Acquire);
        let (node, other) = self.node(self.leader(slot)).await;
        match call(node).await {
            Err(ClientError::Remote(Error::NotLeader { leader, .. })) => {
                self.refresh(seen).await;
                let hint = leader.filter(|addr| self.read().is_other(addr));
                let (node, _) = self.node(self.leader(slot).or(hint)).await;
                call(node).await
            }
            Err(e) if other && unreachable(&e) => {
                self.refresh_in_background();
                Err(e)
            }
            outcome => outcome,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Routes> {
        self.routes.read().unwrap_or_else(|p| p.into_inner())
    }

    fn leader(&self, slot: u16) -> Option<String> {
        self.read().leader(slot).map(str::to_string)
    }

    /// The connection to `leader` and `true`, or the connected node's and
    /// `false` when there is no leader or its connection does not open
    /// (then the map is described again in the background).
    async fn node(self: &Arc<Self>, leader: Option<String>) -> (Arc<Connection>, bool) {
        let Some(addr) = leader else {
            return (self.home.clone(), false);
        };
        match self.other(&addr).await {
            Ok(node) => (node, true),
            Err(_) => {
                self.routes.write().unwrap_or_else(|p| p.into_inner()).forget(&addr);
                self.refresh_in_background();
                (self.home.clone(), false)
            }
        }
    }

    /// The connection to the node at `addr` with its call stream open,
    /// opened on first use.
    async fn other(&self, addr: &str) -> Result<Arc<Connection>, ClientError> {
        let cell = self.cell(addr);
        let node = cell
            .get_or_try_init(|| async { Connection::open(addr, &self.settings).await.map(Arc::new) })
            .await?;
        node.open_stream().await?;
        Ok(node.clone())
    }

    fn cell(&self, addr: &str) -> Arc<OnceCell<Arc<Connection>>> {
        let mut others = self.others.lock().unwrap_or_else(|p| p.into_inner());
        match others.get(addr) {
            Some(cell) => cell.clone(),
            None => others.entry(addr.to_string()).or_default().clone(),
        }
    }

    /// Starts describing the map again, unless that started less than
    /// [`REFRESH_INTERVAL`] ago.
    fn refresh_in_background(self: &Arc<Self>) {
        {
            let mut last = self.last_background.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < REFRESH_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        let router = self.clone();
        let seen = self.generation.load(Ordering::Acquire);
        tokio::spawn(async move { router.refresh(seen).await });
    }

    /// Describes the map again and keeps it, unless a refresh kept one since
    /// generation `seen`. Keeps the old map when no node describes one.
    async fn refresh(&self, seen: u64) {
        let _refreshing = self.refreshing.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return;
        }
        if let Some(routes) = self.describe_any().await {
            *self.routes.write().unwrap_or_else(|p| p.into_inner()) = routes;
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The map as the connected node describes it, or else the first other
    /// node that answers.
    async fn describe_any(&self) -> Option<Routes> {
        let (home, others) = {
            let routes = self.read();
            (routes.home.clone(), routes.others.clone())
        };
        if let Some(routes) = self.describe(&self.home, &home).await {
            return Some(routes);
        }
        for addr in others {
            let Ok(node) = self.other(&addr).await else { continue };
            if let Some(routes) = self.describe(&node, &home).await {
                return Some(routes);
            }
        }
        None
    }

    async fn describe(&self, node: &Connection, home: &[String]) -> Option<Routes> {
        let description = tokio::time::timeout(self.settings.timeout, node.describe()).await.ok()?.ok()?;
        Routes::new(&description, home)
    }
}

/// Whether `error` says the node could not be reached (rather than
/// answered).
fn unreachable(error: &ClientError) -> bool {
    matches!(error, ClientError::Transport(_) | ClientError::Connect { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_shared::ClusterNodeDescription;

    const A: &str = "10.0.0.1:50051";
    const B: &str = "10.0.0.2:50051";

    fn partition(id: u32, slots: std::ops::Range<u32>, leader: &str) -> PartitionDescription {
        PartitionDescription {
            id,
            first_slot: slots.start,
            end_slot: slots.end,
            leader: leader.to_string(),
            ..Default::default()
        }
    }

    /// Node 1 (`A`) of a two-node cluster, describing three partitions
    /// out of order: one led by `B`, one by itself, one without a leader.
    fn description() -> NodeDescription {
        NodeDescription {
            grpc_addr: "0.0.0.0:50051".to_string(),
            cluster_id: "c1".to_string(),
            node_id: 1,
            nodes: vec![
                ClusterNodeDescription { id: 1, addr: A.to_string(), partitions_led: 1 },
                ClusterNodeDescription { id: 2, addr: B.to_string(), partitions_led: 1 },
            ],
            partitions: vec![
                partition(1, 100..16000, A),
                partition(0, 0..100, B),
                partition(2, 16000..16384, ""),
            ],
            ..Default::default()
        }
    }

    fn routes() -> Routes {
        let description = description();
        Routes::new(&description, &home_addresses(&description)).unwrap()
    }

    #[test]
    fn no_map_without_a_cluster() {
        let description = NodeDescription { cluster_id: String::new(), ..description() };
        assert_eq!(Routes::new(&description, &home_addresses(&description)), None);
    }

    #[test]
    fn map_is_built_in_slot_order_with_the_home_and_other_nodes() {
        let routes = routes();
        assert_eq!(
            routes.list(),
            vec![(0, 100, B.to_string()), (100, 16000, A.to_string()), (16000, 16384, String::new())]
        );
        assert_eq!(routes.home, vec!["0.0.0.0:50051".to_string(), A.to_string()]);
        assert_eq!(routes.others, vec![B.to_string()]);
    }

    #[test]
    fn slot_ranges_include_the_first_slot_and_exclude_the_end() {
        let routes = routes();
        assert_eq!(routes.leader(0), Some(B));
        assert_eq!(routes.leader(99), Some(B));
        // Slots 100..16000 are led by the connected node itself.
        assert_eq!(routes.leader(100), None);
        assert_eq!(routes.leader(15999), None);
    }

    #[test]
    fn last_slot_is_routed() {
        let mut description = description();
        description.partitions[2].leader = B.to_string();
        let routes = Routes::new(&description, &home_addresses(&description)).unwrap();
        assert_eq!(routes.leader(16383), Some(B));
        assert_eq!(routes.leader(16000), Some(B));
    }

    #[test]
    fn unknown_leader_falls_back_to_the_connected_node() {
        let routes = routes();
        assert_eq!(routes.leader(16000), None);
        assert_eq!(routes.leader(16383), None);
        assert!(!routes.is_other(""));
        assert!(!routes.is_other(A));
        assert!(routes.is_other(B));
    }

    #[test]
    fn slots_outside_every_partition_go_to_the_connected_node() {
        let mut description = description();
        description.partitions.retain(|p| p.id == 0);
        let routes = Routes::new(&description, &home_addresses(&description)).unwrap();
        assert_eq!(routes.leader(100), None);
        assert_eq!(routes.leader(16383), None);
    }

    #[test]
    fn invalid_slot_ranges_are_skipped() {
        let mut description = description();
        description.partitions.push(partition(3, 70000..70001, B));
        description.partitions.push(partition(4, 50..50, B));
        assert_eq!(Routes::new(&description, &home_addresses(&description)).unwrap().list().len(), 3);
    }

    #[test]
    fn forgotten_leader_is_unknown() {
        let mut routes = routes();
        routes.forget(B);
        assert_eq!(routes.leader(0), None);
        assert_eq!(routes.list()[0], (0, 100, String::new()));
    }
}
