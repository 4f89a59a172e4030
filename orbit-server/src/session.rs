//! Atomic sessions ([`ActorGateway::invoke_session`]): an atomic group whose
//! calls arrive one at a time. Each actor's turn is taken when the session
//! first calls it and is held by a task of its own (so the session can take
//! more turns as it goes) until the session commits every turn's writes as
//! one batch, or drops them all: a dropped held turn leaves its actor to
//! reload what storage holds.
//!
//! In a cluster the session runs on its partition's leader: where another
//! node leads it, the calls go there on one `ActorService.Session` stream
//! ([`crate::cluster::Cluster::forward_session`]), and that node runs the
//! session as if it were its own.
//!
//! [`ActorGateway::invoke_session`]: orbit_shared::ActorGateway::invoke_session

use crate::actor::TurnError;
use crate::node::NodeHandle;
use crate::storage::Seq;
use orbit_shared::gateway::{fail_session, next_call};
use orbit_shared::{ActorId, DurableToken, Error, Invocation, Reply, SessionCall, SessionSteps, WriteOp};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

/// What a held turn's task is asked to do.
enum TurnOp {
    Call(Invocation, oneshot::Sender<Result<Reply, Error>>),
    Writes(oneshot::Sender<Result<Vec<WriteOp>, Error>>),
    Commit(Option<Seq>, oneshot::Sender<Seq>),
}

/// A turn held for a session, by its task: dropping it rolls the actor back.
struct HeldBy {
    ops: mpsc::Sender<TurnOp>,
}

fn turn_lost() -> Error {
    Error::Internal { reason: "a held turn ended before the session did".to_string() }
}

impl HeldBy {
    /// Takes `id`'s turn in a task that keeps it until told to commit, or
    /// until this handle is dropped.
    async fn take(node: &NodeHandle, id: &ActorId) -> Result<HeldBy, Error> {
        let kind = node.kind(&id.kind)?.clone();
        let (ops, mut asked) = mpsc::channel(1);
        let (ready, taken) = oneshot::channel();
        let (node, id) = (node.clone(), id.clone());
        tokio::spawn(async move {
            let mut ready = Some(ready);
            loop {
                let activation = node.activation(&id, &kind);
                let mut held = match activation.hold(&node).await {
                    Ok(held) => held,
                    Err(TurnError::Retired) => continue,
                    Err(TurnError::Failed(e)) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(Err(e));
                        }
                        return;
                    }
                };
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
                while let Some(op) = asked.recv().await {
                    match op {
                        TurnOp::Call(invocation, reply) => {
                            let _ = reply.send(held.call(&node, &invocation).await);
                        }
                        TurnOp::Writes(reply) => {
                            let _ = reply.send(held.writes());
                        }
                        TurnOp::Commit(seq, reply) => {
                            let _ = reply.send(held.commit(&node, seq));
                            return;
                        }
                    }
                }
                return;
            }
        });
        taken.await.map_err(|_| turn_lost())??;
        Ok(HeldBy { ops })
    }

    async fn ask<T>(&self, op: impl FnOnce(oneshot::Sender<T>) -> TurnOp) -> Result<T, Error> {
        let (reply, replied) = oneshot::channel();
        self.ops.send(op(reply)).await.map_err(|_| turn_lost())?;
        replied.await.map_err(|_| turn_lost())
    }
}

/// The turns a session holds, in the order it took them.
#[derive(Default)]
struct Held {
    turns: Vec<HeldBy>,
    by_id: HashMap<ActorId, usize>,
}

impl NodeHandle {
    /// [`orbit_shared::ActorGateway::invoke_session`]; `forwarded`: another
    /// node sent the session here as its partition's leader (run here or
    /// refused, never forwarded again).
    pub(crate) async fn run_session(
        &self,
        mut calls: SessionSteps,
        forwarded: bool,
    ) -> Result<DurableToken, Error> {
        let Some(first) = next_call(&mut calls).await? else { return Ok(DurableToken::NONE) };
        if let Err(e) = first.id.validate().and_then(|()| self.kind(&first.id.kind).map(drop)) {
            return fail_all(calls, first, e).await;
        }
        let partition = self.partitions().for_slot(first.id.slot()).id;
        let clustered = self.partitions().cluster()?.is_some();
        let limit = self.config().actors.call_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        // Where the session runs, decided once: a leadership that is
        // moving is waited for until the call timeout.
        loop {
            match self.route(partition, forwarded) {
                Ok(None) => break,
                Ok(Some(addr)) => {
                    let cluster = self.cluster_for_forwarding()?.clone();
                    return cluster.forward_session(&addr, first, calls).await;
                }
                Err(Error::NotLeader { .. }) if !forwarded && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(crate::router::LEADER_RETRY).await;
                }
                Err(e) => return fail_all(calls, first, e).await,
            }
        }
        // The term the session is served in: its writes apply only if
        // committed in it (a leader deposed and elected again meanwhile
        // may have missed another leader's writes).
        let term = match clustered {
            true => match self.partitions().for_slot(first.id.slot()).serve().await {
                Ok(term) => Some(term),
                Err(e) => return fail_all(calls, first, e).await,
            },
            false => None,
        };
        let mut held = Held::default();
        let mut next = Some(first);
        while let Some(SessionCall { id, invocation, reply }) = next {
            let same_partition = !clustered || self.partitions().for_slot(id.slot()).id == partition;
            let outcome = if same_partition {
                tokio::time::timeout(limit, self.session_call(&mut held, &id, invocation))
                    .await
                    .unwrap_or(Err(Error::Timeout { after_ms: limit.as_millis() as u64 }))
            } else {
                Err(Error::CrossPartition)
            };
            if let Err(e) = outcome {
                drop(held);
                let _ = reply.send(Err(e.clone()));
                return fail_session(calls, e).await;
            }
            let _ = reply.send(outcome);
            // Steps ending without the commit drop the held turns: nothing
            // is written.
            next = next_call(&mut calls).await?;
        }
        self.commit_session(held, term).await
    }

    async fn session_call(
        &self,
        held: &mut Held,
        id: &ActorId,
        invocation: Invocation,
    ) -> Result<Reply, Error> {
        let slot = match held.by_id.get(id) {
            Some(&slot) => slot,
            None => {
                id.validate()?;
                let turn = HeldBy::take(self, id).await?;
                held.turns.push(turn);
                held.by_id.insert(id.clone(), held.turns.len() - 1);
                held.turns.len() - 1
            }
        };
        held.turns[slot].ask(|reply| TurnOp::Call(invocation, reply)).await?
    }

    /// Appends every held turn's writes as one batch (in a cluster, applied
    /// only if committed in `term`), then puts the actors back; durable
    /// once the token it returns is.
    async fn commit_session(&self, held: Held, term: Option<u64>) -> Result<DurableToken, Error> {
        let mut ops = Vec::new();
        for turn in &held.turns {
            ops.extend(turn.ask(TurnOp::Writes).await??);
        }
        let seq = if ops.is_empty() { None } else { Some(self.partitions().commit_group(&ops, term).await?) };
        let mut depends_on = seq.unwrap_or_default();
        for turn in &held.turns {
            depends_on = depends_on.max(turn.ask(|reply| TurnOp::Commit(seq, reply)).await?);
        }
        Ok(DurableToken::at(depends_on))
    }
}

/// Refuses `first` and every later call with `error`.
pub(crate) async fn fail_all<T>(calls: SessionSteps, first: SessionCall, error: Error) -> Result<T, Error> {
    let _ = first.reply.send(Err(error.clone()));
    fail_session(calls, error).await
}
