//! Reentrant methods: a method registered with
//! [`MethodTable::add_reentrant`](super::MethodTable::add_reentrant) reaches
//! the actor's state through [`Shared`] instead of holding `&mut self`
//! across its awaits, so a call that comes back to the actor along the
//! turn's own call chain (`A -> B -> A`) runs inside that turn instead of
//! being refused as a cycle.
//!
//! Only calls of the chain enter: another caller waits for the turn as
//! usual, so what an outside caller sees is always a finished turn. A
//! reentrant call's changes are stored with the turn it entered, when that
//! turn ends.

use super::{Actor, Context};
use orbit_shared::{Error, Message};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// How an actor answers message `M` in a turn that calls coming back along
/// its call chain may enter. Every `Reentrant` message is also a
/// [`Handler`](super::Handler) (typed calls and atomic groups use that).
pub trait Reentrant<M: Message>: Actor {
    /// Reads and changes the state only inside [`Shared::with`], never
    /// across an await: between two of its awaits a reentrant call may
    /// have changed it.
    fn handle(
        state: &Shared<Self>,
        msg: M,
        ctx: &Context<'_>,
    ) -> impl Future<Output = Result<M::Reply, Error>> + Send;
}

impl<A: Reentrant<M>, M: Message> super::Handler<M> for A {
    async fn handle(&mut self, msg: M, ctx: &Context<'_>) -> Result<M::Reply, Error> {
        let shared = Shared::new(std::mem::take(self));
        let reply = <A as Reentrant<M>>::handle(&shared, msg, ctx).await;
        *self = shared.into_inner();
        reply
    }
}

/// An actor's state during a reentrant turn, shared by the calls of its
/// call chain that enter it.
pub struct Shared<A> {
    state: Mutex<A>,
    /// A call that is not read-only entered the turn: the turn stores the
    /// state even if its own method is read-only.
    wrote: AtomicBool,
}

impl<A: Default> Shared<A> {
    pub(crate) fn new(state: A) -> Self {
        Shared { state: Mutex::new(state), wrote: AtomicBool::new(false) }
    }

    /// Runs `f` on the state. `f` cannot await: the state is the turn's
    /// again as soon as it returns.
    pub fn with<R>(&self, f: impl FnOnce(&mut A) -> R) -> R {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut state)
    }

    pub(crate) fn entered_by_writer(&self) {
        self.wrote.store(true, Ordering::Release);
    }

    pub(crate) fn wrote(&self) -> bool {
        self.wrote.load(Ordering::Acquire)
    }

    pub(crate) fn into_inner(self) -> A {
        self.state.into_inner().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, taken out of a `Shared` still referenced elsewhere (a
    /// call of the chain still running after the turn gave up on it): that
    /// call goes on over a default state, and its changes are not stored.
    pub(crate) fn take(&self) -> A {
        self.with(std::mem::take)
    }
}
