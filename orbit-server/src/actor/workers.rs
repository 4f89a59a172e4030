//! Stateless worker kinds ([`Actor::STATELESS_WORKERS`] above zero): many
//! activations of one key run calls in parallel, for work that needs no
//! state (CPU-bound computation, fan-out to other actors).
//!
//! Invariants:
//! - A key has at most `STATELESS_WORKERS` activations per node, each
//!   running one call at a time; further callers wait in FIFO order (a
//!   semaphore), at most `mailbox_capacity` of them.
//! - Nothing is loaded or stored: an activation starts from `Default`
//!   (then `on_activate`) and whatever a method changes stays in that
//!   activation's memory until it is deactivated. Read-only or not, no call
//!   writes.
//! - A call runs on the node it reaches, whichever node leads the key's
//!   partition: there is no single activation to route to.
//! - A worker's call runs in the call chain like a turn. A call into its
//!   own key from that chain (directly or through other actors) takes a
//!   free activation or is refused at once as a cycle: waiting for one
//!   could be waiting for itself.
//! - Deactivation retires the key's workers and leaves the directory at
//!   once (a new call starts fresh ones), then waits for the running calls
//!   before `on_deactivate` runs on each.
//! - They take no part in atomic groups and sessions.

use super::activation::{Called, KindState, TurnError, join_mailbox};
use super::{Actor, Context, Handler, MethodEntry, Timers, chain};
use crate::node::NodeHandle;
use orbit_shared::{ActorId, Error, Invocation, Message};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{Notify, Semaphore, SemaphorePermit, TryAcquireError};

pub(crate) struct Workers<A: Actor> {
    id: ActorId,
    /// The id again, shared by the call chains of the workers' calls.
    chain_id: Arc<ActorId>,
    kind: Arc<KindState<A>>,
    /// Activations free for the next call.
    idle: Mutex<Vec<Box<A>>>,
    /// One permit per activation that may run a call.
    permits: Semaphore,
    waiting: AtomicUsize,
    /// Calls holding an activation; `returned` is signalled as each ends.
    running: AtomicUsize,
    returned: Notify,
    retired: AtomicBool,
    last_turn_ms: AtomicU64,
    activated_ms: u64,
    timers: Timers,
}

/// An activation taken for one call; back to the idle ones when dropped
/// after a call that ended (a cancelled call's activation is dropped, as
/// its state may be half changed).
pub(crate) struct Lent<'a, A: Actor> {
    workers: &'a Workers<A>,
    actor: Option<Box<A>>,
    permit: Option<SemaphorePermit<'a>>,
}

impl<A: Actor> Lent<'_, A> {
    fn give_back(mut self) {
        if let Some(actor) = self.actor.take() {
            self.workers.idle.lock().unwrap_or_else(PoisonError::into_inner).push(actor);
        }
    }
}

impl<A: Actor> Drop for Lent<'_, A> {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.workers.running.fetch_sub(1, Ordering::AcqRel);
        self.workers.returned.notify_waiters();
    }
}

impl<A: Actor> Workers<A> {
    pub fn new(id: ActorId, kind: Arc<KindState<A>>, now_ms: u64) -> Self {
        Workers {
            chain_id: Arc::new(id.clone()),
            id,
            kind,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(A::STATELESS_WORKERS),
            waiting: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            returned: Notify::new(),
            retired: AtomicBool::new(false),
            last_turn_ms: AtomicU64::new(now_ms),
            activated_ms: now_ms,
            timers: Timers::new(),
        }
    }

    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    pub fn last_turn_ms(&self) -> u64 {
        self.last_turn_ms.load(Ordering::Relaxed)
    }

    pub fn activated_ms(&self) -> u64 {
        self.activated_ms
    }

    pub fn timers(&self) -> &Timers {
        &self.timers
    }

    /// Waits for a free activation (or refuses when the mailbox is full, or
    /// at once when the caller's own chain holds this key and none is free);
    /// starts one if none is idle.
    pub async fn lend(&self, node: &NodeHandle) -> Result<Lent<'_, A>, TurnError> {
        let waiting = join_mailbox(&self.waiting, node, &self.id, &self.kind.metrics)?;
        let permit = match chain::cycle_to(&self.id) {
            None => self.permits.acquire().await.map_err(|_| TurnError::Retired)?,
            Some(cycle) => match self.permits.try_acquire() {
                Ok(permit) => permit,
                Err(TryAcquireError::Closed) => return Err(TurnError::Retired),
                Err(TryAcquireError::NoPermits) => {
                    return Err(TurnError::Failed(Error::CallCycle {
                        cycle: format!("{cycle} (every stateless worker of the key is busy)"),
                    }));
                }
            },
        };
        drop(waiting);
        self.running.fetch_add(1, Ordering::AcqRel);
        let mut lent = Lent { workers: self, actor: None, permit: Some(permit) };
        if self.retired.load(Ordering::Acquire) {
            return Err(TurnError::Retired);
        }
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let actor = match idle {
            Some(actor) => actor,
            None => {
                let mut actor = Box::<A>::default();
                actor.on_activate(&Context::new(&self.id, node, &self.timers)).await?;
                self.kind.metrics.activations.inc();
                actor
            }
        };
        lent.actor = Some(actor);
        Ok(lent)
    }

    /// Runs typed message `msg` on an activation taken with
    /// [`Workers::lend`].
    pub async fn run<M: Message>(
        &self,
        mut lent: Lent<'_, A>,
        node: &NodeHandle,
        msg: M,
    ) -> Result<M::Reply, Error>
    where
        A: Handler<M>,
    {
        let ctx = Context::new(&self.id, node, &self.timers);
        let actor = lent.actor.as_mut().expect("a lent activation holds its actor until given back");
        let reply = chain::scope(self.chain_id.clone(), chain::new_turn(), actor.handle(msg, &ctx)).await;
        lent.give_back();
        self.last_turn_ms.store(node.now_ms(), Ordering::Relaxed);
        reply
    }

    /// Calls a method by name on a free activation. Nothing is written, so
    /// the reply depends on no write of this call (`Seq` 0).
    pub async fn call_dynamic(&self, node: &NodeHandle, invocation: &Invocation, touch: bool) -> Called {
        let Some(&MethodEntry { call, .. }) = self.kind.methods.get(&invocation.method) else {
            return Err(TurnError::Failed(Error::UnknownMethod {
                kind: self.id.kind.clone(),
                method: invocation.method.clone(),
            }));
        };
        let mut lent = self.lend(node).await?;
        let ctx = Context::new(&self.id, node, &self.timers);
        let actor = lent.actor.as_mut().expect("a lent activation holds its actor until given back");
        let reply =
            chain::scope(self.chain_id.clone(), chain::new_turn(), call(actor, invocation, &ctx)).await;
        lent.give_back();
        if touch {
            self.last_turn_ms.store(node.now_ms(), Ordering::Relaxed);
        }
        Ok((reply, 0))
    }

    /// Ends the timers and every activation of the key (`on_deactivate`
    /// runs on each once the running calls end; nothing is stored). With
    /// `idle_ms`, gives up unless no call runs or waits and none ran for
    /// that long.
    pub async fn deactivate(&self, node: &NodeHandle, reason: &'static str, idle_ms: Option<u64>) -> bool {
        if let Some(idle_ms) = idle_ms {
            if self.waiting() > 0 || node.now_ms() < self.last_turn_ms() + idle_ms {
                return false;
            }
            // Held while retiring, so no call starts meanwhile.
            let Ok(_all) = self.permits.try_acquire_many(A::STATELESS_WORKERS as u32) else { return false };
            self.retire(node);
        } else {
            self.retire(node);
        }
        loop {
            let returned = self.returned.notified();
            if self.running.load(Ordering::Acquire) == 0 {
                break;
            }
            returned.await;
        }
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        let ctx = Context::new(&self.id, node, &self.timers);
        for mut actor in idle {
            if let Err(e) = actor.on_deactivate(&ctx).await {
                tracing::warn!(actor = %self.id, error = %e, "on_deactivate failed");
            }
            self.kind.metrics.deactivated(reason);
        }
        true
    }

    /// Takes the key's workers out of service: callers waiting for one
    /// retry on fresh ones, which a new call finds in the directory.
    fn retire(&self, node: &NodeHandle) {
        self.retired.store(true, Ordering::Release);
        self.timers.end();
        self.permits.close();
        node.directory().remove(&self.id, self);
    }

    pub fn refuse_group(&self) -> TurnError {
        TurnError::Failed(Error::Unsupported {
            what: format!(
                "atomic groups and sessions over stateless worker kind '{}' (it keeps no state to commit)",
                self.id.kind
            ),
        })
    }
}
