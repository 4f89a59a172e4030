//! How a node finds its cluster.
//!
//! A node's identity (cluster id, node id, the founding nodes and the
//! replication factor) lives in its data directory, never in a hostname or
//! a pod ordinal. A node with an identity restarts into its cluster. A node
//! without one asks its seeds who they are (names are resolved again on
//! every try); once `bootstrap_expect` nodes, itself included, all report
//! an empty data directory, the one with the smallest address bootstraps:
//! it picks the cluster id, numbers the nodes in address order, tells each
//! its identity (`Join`), then starts every group with its replicas. The
//! others wait to be told. A cluster bootstraps once: a node that finds a
//! seed already in a cluster waits to be joined instead.

use super::transport::{self, Frame, FrameHandler, Links, Request, Response, Transport};
use super::types::{META_GROUP, NodeId};
use super::{Cluster, Timings};
use crate::storage::Store;
use crate::storage::layout::system_key;
use bytes::Bytes;
use futures::future::BoxFuture;
use orbit_shared::{Error, WriteOp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::oneshot;

/// A node's place in its cluster, kept in its data directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub cluster_id: String,
    pub node_id: NodeId,
    /// The founding nodes: id to advertised gRPC address.
    pub nodes: BTreeMap<NodeId, String>,
    pub replication_factor: usize,
}

fn identity_key() -> Bytes {
    system_key("node/identity")
}

impl Identity {
    pub async fn load(store: &Store) -> Result<Option<Identity>, Error> {
        match store.get(identity_key()).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Storage { reason: format!("stored node identity does not decode: {e}") }),
        }
    }

    async fn save(&self, store: &Store) -> Result<(), Error> {
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Internal { reason: e.to_string() })?;
        store.append(&[WriteOp::Put(identity_key(), bytes.into())]).await?;
        Ok(store.sync_now().await?)
    }

    /// Whether this node holds a replica of partition `group`.
    pub fn hosts(&self, group: u16) -> bool {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        super::replicas(group, &ids, self.replication_factor).contains(&self.node_id)
    }
}

/// Answers internode frames for a node: formation's questions before it has
/// joined, then everything through its [`Cluster`].
pub struct Formation {
    addr: String,
    store: Arc<Store>,
    transport: Arc<dyn Transport>,
    cluster: OnceLock<Arc<Cluster>>,
    /// Set while waiting to be joined: the cluster id and node id told.
    joined: Mutex<Option<oneshot::Sender<Identity>>>,
    /// Set when this node has an identity (from the store, or told).
    identity: Mutex<Option<Identity>>,
    /// What the cluster tells the node.
    notify: super::Notify,
}

/// How [`Formation::run`] ended.
pub struct Formed {
    pub cluster: Arc<Cluster>,
    /// Whether this node bootstrapped the cluster just now.
    pub bootstrapped: bool,
}

impl Formation {
    pub fn new(
        addr: String,
        store: Arc<Store>,
        transport: Arc<dyn Transport>,
        notify: super::Notify,
    ) -> Arc<Formation> {
        Arc::new(Formation {
            addr,
            store,
            transport,
            cluster: OnceLock::new(),
            joined: Mutex::new(None),
            identity: Mutex::new(None),
            notify,
        })
    }

    /// The gRPC address this node advertises to its peers.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Finds or forms the cluster, then opens this node's groups. Gives up
    /// after `limit` without a cluster.
    pub async fn run(
        self: &Arc<Self>,
        seeds: &[String],
        expect: usize,
        rf: usize,
        partitions: u16,
        timings: &Timings,
        limit: Duration,
    ) -> Result<Formed, Error> {
        let deadline = tokio::time::Instant::now() + limit;
        let (identity, bootstrapped) = match Identity::load(&self.store).await? {
            Some(identity) => (identity, false),
            None => self.find(seeds, expect, rf, deadline).await?,
        };
        *self.identity.lock().unwrap_or_else(|e| e.into_inner()) = Some(identity.clone());
        let cluster = Cluster::open(
            identity.clone(),
            self.addr.clone(),
            self.store.clone(),
            partitions,
            self.transport.clone(),
            timings,
            self.notify.clone(),
        )
        .await?;
        let _ = self.cluster.set(cluster.clone());
        if bootstrapped {
            let left =
                deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_secs(30));
            cluster.initialize(&identity.nodes, identity.replication_factor, left).await?;
        }
        Ok(Formed { cluster, bootstrapped })
    }

    /// Asks the seeds until the cluster forms; returns this node's identity
    /// and whether it bootstrapped.
    async fn find(
        self: &Arc<Self>,
        seeds: &[String],
        expect: usize,
        rf: usize,
        deadline: tokio::time::Instant,
    ) -> Result<(Identity, bool), Error> {
        let (tx, mut rx) = oneshot::channel();
        *self.joined.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        let links =
            Links { transport: self.transport.clone(), cluster_id: "".into(), from: 0, group: META_GROUP };
        let mut reported = 0;
        loop {
            if let Some(identity) = self.identity.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                return Ok((identity, false));
            }
            let mut empty = vec![self.addr.clone()];
            let mut formed = None;
            for seed in seeds {
                let asked = transport::send_request(
                    &links,
                    0,
                    seed,
                    META_GROUP,
                    Request::Hello,
                    Duration::from_secs(1),
                );
                match asked.await {
                    Ok(Response::Hello { cluster_id: Some(id), .. }) => formed = Some(id),
                    Ok(Response::Hello { cluster_id: None, addr }) => empty.push(addr),
                    Ok(_) | Err(_) => {}
                }
            }
            empty.sort();
            empty.dedup();
            if empty.len() != reported {
                tracing::info!(found = empty.len(), expect, "looking for the cluster's founding nodes");
                reported = empty.len();
            }
            if formed.is_none() && empty.len() >= expect && empty[0] == self.addr {
                return Ok((self.bootstrap(&links, empty, rf).await?, true));
            }
            if let Some(id) = &formed {
                tracing::info!(cluster = %id, "a seed is in a cluster already; waiting to be joined");
            }
            tokio::select! {
                told = &mut rx => {
                    let identity = told.map_err(|_| Error::Internal { reason: "formation ended".into() })?;
                    return Ok((identity, false));
                }
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(Error::Unreachable {
                        reason: format!("no cluster formed: {} of {expect} founding nodes found", empty.len()),
                    });
                }
            }
        }
    }

    /// Numbers the founding nodes (`addrs`, sorted), tells each its
    /// identity, and saves this node's.
    async fn bootstrap(&self, links: &Links, addrs: Vec<String>, rf: usize) -> Result<Identity, Error> {
        let cluster_id = new_cluster_id(&self.addr);
        let nodes: BTreeMap<NodeId, String> = (1..).zip(addrs).collect();
        tracing::info!(cluster = %cluster_id, nodes = nodes.len(), "bootstrapping the cluster");
        let mut mine = None;
        for (&id, addr) in &nodes {
            let identity = Identity {
                cluster_id: cluster_id.clone(),
                node_id: id,
                nodes: nodes.clone(),
                replication_factor: rf,
            };
            if *addr == self.addr {
                mine = Some(identity);
                continue;
            }
            let links = Links { cluster_id: cluster_id.as_str().into(), ..links.clone() };
            let request = Request::Join { nodes: nodes.clone(), replication_factor: rf };
            match transport::send_request(&links, id, addr, META_GROUP, request, Duration::from_secs(5)).await
            {
                Ok(Response::Joined) => {}
                Ok(other) => {
                    return Err(Error::Internal { reason: format!("{addr} did not join: {other:?}") });
                }
                Err(reason) => return Err(Error::Unreachable { reason }),
            }
        }
        let mine = mine.ok_or(Error::Internal { reason: "this node is not among the founders".into() })?;
        mine.save(&self.store).await?;
        Ok(mine)
    }

    async fn handle_frame(&self, frame: Frame) -> Response {
        if let Some(cluster) = self.cluster.get() {
            return cluster.handle_frame(frame).await;
        }
        match frame.request {
            Request::Hello => {
                let cluster_id = self
                    .identity
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .map(|i| i.cluster_id.clone());
                Response::Hello { cluster_id, addr: self.addr.clone() }
            }
            Request::Join { .. } if frame.cluster_id.is_empty() || frame.to == 0 => {
                Response::Refused("a join names a cluster and a node id".into())
            }
            Request::Join { nodes, replication_factor } => {
                let identity =
                    Identity { cluster_id: frame.cluster_id, node_id: frame.to, nodes, replication_factor };
                if let Some(known) = self.identity.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                    return if *known == identity {
                        Response::Joined
                    } else {
                        Response::Refused(format!("already in cluster {}", known.cluster_id))
                    };
                }
                if let Err(e) = identity.save(&self.store).await {
                    return Response::Refused(e.to_string());
                }
                *self.identity.lock().unwrap_or_else(|e| e.into_inner()) = Some(identity.clone());
                if let Some(tx) = self.joined.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    let _ = tx.send(identity);
                }
                Response::Joined
            }
            _ => Response::Refused("this node has not joined its cluster yet".into()),
        }
    }
}

impl FrameHandler for Formation {
    fn handle(self: Arc<Self>, frame: Bytes) -> BoxFuture<'static, Bytes> {
        Box::pin(async move { transport::answer_frame(frame, async |f| self.handle_frame(f).await).await })
    }

    fn cluster_id(&self) -> Option<String> {
        self.identity.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|i| i.cluster_id.clone())
    }
}

/// A new cluster's id: a hash of the bootstrapping node's address and the
/// moment.
fn new_cluster_id(addr: &str) -> String {
    use sha2::Digest;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let digest = sha2::Sha256::digest(format!("{addr}/{}/{}", now.as_nanos(), std::process::id()));
    hex::encode(&digest[..8])
}
