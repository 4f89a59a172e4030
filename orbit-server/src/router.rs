//! The call path: a call for an actor reaches its partition's activation on
//! this node and returns once its writes are visible, then durable (DESIGN
//! §3: gateway, router, partition, activation, storage). Atomic groups hold
//! every member's turn and commit their writes as one batch.
//!
//! In a cluster a call runs on its partition's leader: a call arriving
//! elsewhere is forwarded there over gRPC (one hop: a forwarded call is
//! served or refused, never forwarded again), and the forwarding node asks
//! again when leadership moved, until the call's deadline.

use crate::actor;
use crate::cluster::Leader;
use crate::node::NodeHandle;
use crate::storage::Seq;
use bytes::Bytes;
use orbit_shared::gateway::{call_in_session, current_session};
use orbit_shared::{
    ActivationInfo, ActorGateway, ActorId, ActorPage, DurableToken, Error, Invocation, NodeDescription,
    Reply, SessionSteps,
};
use std::time::Duration;

/// How long a call waits before asking again for a partition's leader.
pub(crate) const LEADER_RETRY: Duration = Duration::from_millis(50);
/// How long SQL (a PostgreSQL connection, MCP's SQL tools) waits for the
/// SQL data's leader to be known before it is served where it arrived.
const SQL_LEADER_WAIT: Duration = Duration::from_secs(5);

impl NodeHandle {
    /// Where a call for `partition` runs: `None` here, or the gRPC address
    /// of its leader. A forwarded call is refused rather than forwarded
    /// again; so is any call while no leader is known.
    pub(crate) fn route(&self, partition: u16, forwarded: bool) -> Result<Option<String>, Error> {
        match self.partitions().cluster()?.map(|c| c.leader(partition)) {
            None | Some(Leader::Local) => Ok(None),
            Some(Leader::Remote { addr, .. }) if !forwarded => {
                self.metrics().forwarded_calls.inc();
                Ok(Some(addr))
            }
            Some(Leader::Remote { addr, .. }) => Err(Error::NotLeader { partition, leader: Some(addr) }),
            Some(Leader::Unknown) => Err(Error::NotLeader { partition, leader: None }),
        }
    }

    /// After `outcome`: whether to ask for the leader again (the leadership
    /// moved or is being decided, and the call came from a client).
    async fn retry_on_leader(
        &self,
        outcome: &Result<impl Sized, Error>,
        forwarded: bool,
    ) -> Result<bool, Error> {
        if forwarded || !matches!(outcome, Err(Error::NotLeader { .. })) {
            return Ok(false);
        }
        self.check_open()?;
        tokio::time::sleep(LEADER_RETRY).await;
        Ok(true)
    }

    pub(crate) fn cluster_for_forwarding(&self) -> Result<&std::sync::Arc<crate::cluster::Cluster>, Error> {
        self.partitions().cluster()?.ok_or(Error::Internal { reason: "forwarding without a cluster".into() })
    }

    /// One dynamic call, returning once its write is visible; the reply is
    /// not to be shown before `Seq` is durable.
    async fn invoke_untimed(
        &self,
        id: ActorId,
        invocation: Invocation,
        forwarded: bool,
    ) -> Result<(Reply, Seq), Error> {
        id.validate()?;
        let kind = self.kind(&id.kind)?;
        if kind.stateless() {
            return self.invoke_here(&id, kind, &invocation).await;
        }
        let partition = self.partitions().for_slot(id.slot()).id;
        loop {
            let outcome = match self.route(partition, forwarded) {
                Ok(None) => self.invoke_here(&id, kind, &invocation).await,
                Ok(Some(addr)) => {
                    self.cluster_for_forwarding()?.forward(&addr, &id, &invocation).await.map(|r| (r, 0))
                }
                Err(e) => Err(e),
            };
            if !self.retry_on_leader(&outcome, forwarded).await? {
                return outcome;
            }
        }
    }

    /// A call on this node's activation.
    async fn invoke_here(
        &self,
        id: &ActorId,
        kind: &std::sync::Arc<dyn crate::actor::KindEntry>,
        invocation: &Invocation,
    ) -> Result<(Reply, Seq), Error> {
        let started = std::time::Instant::now();
        let result = async {
            loop {
                self.check_open().map_err(|e| (e, None))?;
                match self.activation(id, kind).call_json(self, invocation).await {
                    Err(actor::TurnError::Retired) => continue,
                    Err(actor::TurnError::Failed(e)) => return Err((e, None)),
                    Ok((Ok(reply), seq)) => return Ok((reply, seq)),
                    Ok((Err(e), seq)) => return Err((e, Some(seq))),
                }
            }
        }
        .await;
        kind.metrics()
            .record(result.as_ref().map(|_| ()).map_err(|(e, _)| e.kind()), started.elapsed().as_secs_f64());
        match result {
            Ok(done) => Ok(done),
            // An error reply may report state that is not durable yet.
            Err((e, Some(seq))) => {
                self.partitions().wait_durable(seq).await?;
                Err(e)
            }
            Err((e, None)) => Err(e),
        }
    }

    /// [`ActorGateway::invoke_atomic`] without the time limit. In a cluster
    /// the group's actors must share a partition, and the group runs on its
    /// leader.
    async fn invoke_atomic_untimed(
        &self,
        calls: Vec<(ActorId, Invocation)>,
        forwarded: bool,
    ) -> Result<Vec<Reply>, Error> {
        if self.partitions().cluster()?.is_none() {
            self.validate_group(&calls)?;
            return self.invoke_atomic_here(&calls, None).await;
        }
        let Some(partition) = self.group_partition(&calls)? else { return Ok(Vec::new()) };
        loop {
            let outcome = match self.route(partition, forwarded) {
                Ok(None) => self.invoke_atomic_here(&calls, None).await,
                Ok(Some(addr)) => self.cluster_for_forwarding()?.forward_atomic(&addr, &calls).await,
                Err(e) => Err(e),
            };
            if !self.retry_on_leader(&outcome, forwarded).await? {
                return outcome;
            }
        }
    }

    /// Checks every call's actor id and kind.
    fn validate_group(&self, calls: &[(ActorId, Invocation)]) -> Result<(), Error> {
        for (id, _) in calls {
            id.validate()?;
            self.kind(&id.kind)?;
        }
        Ok(())
    }

    /// The one partition of a group's actors in a cluster (`None` for an
    /// empty group); [`Error::CrossPartition`] when they span several.
    fn group_partition(&self, calls: &[(ActorId, Invocation)]) -> Result<Option<u16>, Error> {
        self.validate_group(calls)?;
        let mut partitions = calls.iter().map(|(id, _)| self.partitions().for_slot(id.slot()).id);
        let Some(partition) = partitions.next() else { return Ok(None) };
        if !partitions.all(|p| p == partition) {
            return Err(Error::CrossPartition);
        }
        Ok(Some(partition))
    }

    /// [`ActorGateway::invoke_atomic_in_term`] without the time limit.
    async fn invoke_atomic_in_term_untimed(
        &self,
        calls: Vec<(ActorId, Invocation)>,
        term: u64,
    ) -> Result<Vec<Reply>, Error> {
        if self.partitions().cluster()?.is_none() {
            return self.invoke_atomic_untimed(calls, false).await;
        }
        let Some(partition) = self.group_partition(&calls)? else { return Ok(Vec::new()) };
        let serving = self.partitions().for_slot(calls[0].0.slot()).serve().await?;
        if serving != term {
            return Err(Error::NotLeader { partition, leader: None });
        }
        self.invoke_atomic_here(&calls, Some(term)).await
    }

    /// The cluster and the gRPC address of the node leading the SQL data's
    /// partition, when that is another node (waiting up to
    /// [`SQL_LEADER_WAIT`] for a leader to be known); `None`: serve here.
    async fn sql_leader(&self) -> Result<Option<(&std::sync::Arc<crate::cluster::Cluster>, String)>, Error> {
        let Some(cluster) = self.partitions().cluster()? else { return Ok(None) };
        let partition = self.partitions().for_slot(orbit_shared::slot::SQL_SLOT).id;
        let deadline = tokio::time::Instant::now() + SQL_LEADER_WAIT;
        loop {
            match cluster.leader(partition) {
                Leader::Local => return Ok(None),
                Leader::Remote { addr, .. } => return Ok(Some((cluster, addr))),
                Leader::Unknown if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(LEADER_RETRY).await;
                }
                Leader::Unknown => return Ok(None),
            }
        }
    }

    /// An atomic group on this node's activations.
    /// `term`: in a cluster, the writes apply only if committed in that term
    /// of the partition's group.
    async fn invoke_atomic_here(
        &self,
        calls: &[(ActorId, Invocation)],
        term: Option<u64>,
    ) -> Result<Vec<Reply>, Error> {
        let mut ids: Vec<ActorId> = calls.iter().map(|(id, _)| id.clone()).collect();
        ids.sort_unstable();
        ids.dedup();
        let slots: Vec<usize> =
            calls.iter().map(|(id, _)| ids.binary_search(id).unwrap_or_default()).collect();
        let started = std::time::Instant::now();
        'retry: loop {
            self.check_open()?;
            let mut activations = Vec::with_capacity(ids.len());
            for id in &ids {
                activations.push(self.activation(id, self.kind(&id.kind)?));
            }
            let mut held = Vec::with_capacity(ids.len());
            for activation in &activations {
                match activation.hold(self).await {
                    Ok(turn) => held.push(turn),
                    // Dropping the turns taken so far changes nothing.
                    Err(actor::TurnError::Retired) => continue 'retry,
                    Err(actor::TurnError::Failed(e)) => return Err(e),
                }
            }
            let mut replies = Vec::with_capacity(calls.len());
            for ((id, invocation), &slot) in calls.iter().zip(&slots) {
                let reply = held[slot].call(self, invocation).await;
                if let Ok(kind) = self.kind(&id.kind) {
                    kind.metrics().record(
                        reply.as_ref().map(|_| ()).map_err(|e| e.kind()),
                        started.elapsed().as_secs_f64(),
                    );
                }
                // A failed call drops every held turn unwritten: rollback.
                replies.push(reply?);
            }
            let mut ops = Vec::new();
            for turn in &mut held {
                ops.extend(turn.writes()?);
            }
            let seq =
                if ops.is_empty() { None } else { Some(self.partitions().commit_group(&ops, term).await?) };
            let mut depends_on = seq.unwrap_or_default();
            for turn in held {
                depends_on = depends_on.max(turn.commit(self, seq));
            }
            self.partitions().wait_durable(depends_on).await?;
            return Ok(replies);
        }
    }

    async fn invoke_timed(
        &self,
        id: ActorId,
        invocation: Invocation,
        forwarded: bool,
    ) -> Result<(Reply, Seq), Error> {
        let limit = self.config().actors.call_timeout;
        tokio::time::timeout(limit, self.invoke_untimed(id, invocation, forwarded))
            .await
            .unwrap_or(Err(Error::Timeout { after_ms: limit.as_millis() as u64 }))
    }

    async fn invoke_atomic_timed(
        &self,
        calls: Vec<(ActorId, Invocation)>,
        forwarded: bool,
    ) -> Result<Vec<Reply>, Error> {
        let limit = self.config().actors.call_timeout;
        tokio::time::timeout(limit, self.invoke_atomic_untimed(calls, forwarded))
            .await
            .unwrap_or(Err(Error::Timeout { after_ms: limit.as_millis() as u64 }))
    }
}

impl ActorGateway for NodeHandle {
    /// Dynamic invocation with the node's `actors.call_timeout`; inside a
    /// session ([`orbit_shared::gateway::in_session`]), a call of the session.
    async fn invoke(&self, id: ActorId, invocation: Invocation) -> Result<Reply, Error> {
        if let Some(session) = current_session() {
            return call_in_session(&session, id, invocation).await;
        }
        let (reply, seq) = self.invoke_timed(id, invocation, false).await?;
        self.partitions().wait_durable(seq).await?;
        Ok(reply)
    }

    fn relay_published(&self, published: orbit_shared::Published) {
        if let Ok(Some(cluster)) = self.partitions().cluster() {
            cluster.relay_published(published);
        }
    }

    fn relayed(&self) -> Option<tokio::sync::broadcast::Receiver<orbit_shared::Published>> {
        self.config().cluster.enabled().then(|| NodeHandle::relayed(self).subscribe())
    }

    fn applied(&self) -> Option<tokio::sync::broadcast::Receiver<orbit_shared::AppliedWrite>> {
        self.config().cluster.enabled().then(|| NodeHandle::applied(self).subscribe())
    }

    fn colocated(&self, keys: &[&Bytes]) -> bool {
        if !matches!(self.partitions().cluster(), Ok(Some(_))) {
            return true;
        }
        let partition = |key: &Bytes| self.partitions().for_slot(orbit_shared::slot::slot_of(key)).id;
        let mut partitions = keys.iter().map(|k| partition(k));
        let first = partitions.next();
        partitions.all(|p| Some(p) == first)
    }

    async fn invoke_forwarded(&self, id: ActorId, invocation: Invocation) -> Result<Reply, Error> {
        let (reply, seq) = self.invoke_timed(id, invocation, true).await?;
        self.partitions().wait_durable(seq).await?;
        Ok(reply)
    }

    /// An atomic group with the node's `actors.call_timeout`; inside a
    /// session, its calls are the session's.
    async fn invoke_atomic(&self, calls: Vec<(ActorId, Invocation)>) -> Result<Vec<Reply>, Error> {
        if let Some(session) = current_session() {
            let mut replies = Vec::with_capacity(calls.len());
            for (id, invocation) in calls {
                replies.push(call_in_session(&session, id, invocation).await?);
            }
            return Ok(replies);
        }
        self.invoke_atomic_timed(calls, false).await
    }

    async fn invoke_session(&self, calls: SessionSteps) -> Result<DurableToken, Error> {
        self.run_session(calls, false).await
    }

    async fn invoke_session_forwarded(&self, calls: SessionSteps) -> Result<DurableToken, Error> {
        self.run_session(calls, true).await
    }

    async fn invoke_atomic_forwarded(&self, calls: Vec<(ActorId, Invocation)>) -> Result<Vec<Reply>, Error> {
        self.invoke_atomic_timed(calls, true).await
    }

    async fn serving_term(&self, id: &ActorId) -> Result<u64, Error> {
        self.partitions().for_slot(id.slot()).serve().await
    }

    /// In a cluster: the term checked, then the group run here, its entry
    /// applied only if committed in that term (a node deposed and elected
    /// again before it proposed is refused too).
    async fn invoke_atomic_in_term(
        &self,
        calls: Vec<(ActorId, Invocation)>,
        term: u64,
    ) -> Result<Vec<Reply>, Error> {
        let limit = self.config().actors.call_timeout;
        tokio::time::timeout(limit, self.invoke_atomic_in_term_untimed(calls, term))
            .await
            .unwrap_or(Err(Error::Timeout { after_ms: limit.as_millis() as u64 }))
    }

    /// In a cluster, while another node leads the SQL data's partition: a
    /// tunnel to that node's PostgreSQL front door.
    async fn postgres_tunnel(&self) -> Result<Option<tokio::io::DuplexStream>, Error> {
        match self.sql_leader().await? {
            Some((cluster, addr)) => cluster.postgres_tunnel(&addr).await.map(Some),
            None => Ok(None),
        }
    }

    /// In a cluster, while another node leads the SQL data's partition: the
    /// text run there.
    async fn sql_at_leader(&self, text: &str, read_only: bool) -> Result<Option<Bytes>, Error> {
        match self.sql_leader().await? {
            Some((cluster, addr)) => cluster.run_sql(&addr, text, read_only).await.map(Some),
            None => Ok(None),
        }
    }

    async fn invoke_visible(
        &self,
        id: ActorId,
        invocation: Invocation,
    ) -> Result<(Reply, DurableToken), Error> {
        if let Some(session) = current_session() {
            // Durable when the session ends.
            return Ok((call_in_session(&session, id, invocation).await?, DurableToken::NONE));
        }
        let (reply, seq) = self.invoke_timed(id, invocation, false).await?;
        Ok((reply, DurableToken::at(seq)))
    }

    async fn wait_durable(&self, token: DurableToken) -> Result<(), Error> {
        Ok(self.partitions().wait_durable(token.position()).await?)
    }

    /// Walks the kind's prefix partition by partition; the cursor is the
    /// storage key to continue after.
    async fn list_actors(&self, kind: &str, cursor: Option<Bytes>, limit: usize) -> Result<ActorPage, Error> {
        self.check_open()?;
        self.kind(kind)?;
        let limit = limit.clamp(1, orbit_shared::gateway::MAX_LIST_LIMIT);
        let directory = self.directory();
        self.partitions().list_actors(kind, cursor, limit, |id| directory.get(id).is_some()).await
    }

    /// From the counts each partition keeps with its records.
    async fn count_actors(&self, kind: &str) -> Result<u64, Error> {
        self.check_open()?;
        self.kind(kind)?;
        self.partitions().count_actors(kind).await
    }

    async fn nth_actor(&self, kind: &str, n: u64) -> Result<Option<orbit_shared::StoredActor>, Error> {
        self.check_open()?;
        self.kind(kind)?;
        let directory = self.directory();
        self.partitions().nth_actor(kind, n, |id| directory.get(id).is_some()).await
    }

    async fn read_actor(&self, id: ActorId) -> Result<Option<Bytes>, Error> {
        self.check_open()?;
        id.validate()?;
        self.kind(&id.kind)?;
        self.partitions().for_slot(id.slot()).read_state(&id).await
    }

    /// Counted per registered kind: a family (`row:*`) counts the changes
    /// of all its kinds together.
    fn kind_changes(&self, kind: &str) -> Option<u64> {
        self.registry().get(kind).map(|entry| entry.changes())
    }

    /// This node's activations only: in a cluster, those of the
    /// partitions it leads (calls run on their partition's leader), not
    /// the cluster's. A kind the node does not host is `UnknownKind`.
    async fn activations(&self, kind: Option<&str>) -> Result<Vec<ActivationInfo>, Error> {
        self.check_open()?;
        if let Some(kind) = kind {
            self.kind(kind)?;
        }
        Ok(self.directory().list(kind, self.now_ms()))
    }

    async fn describe(&self) -> Result<NodeDescription, Error> {
        self.describe_node().await
    }
}
