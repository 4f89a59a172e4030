//! The actor runtime: what a user implements ([`Actor`], [`Handler`]) and how
//! the node runs it.
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | the traits, [`Context`] and the [`MethodTable`] for dynamic calls |
//! | `activation.rs` | one resident actor: its turn, loading and persisting |
//! | `chain.rs` | call chains: the turns running code is part of (cycles, reentrancy) |
//! | `registry.rs` | the kinds a node hosts |
//! | `directory.rs` | the activation table, idle and explicit deactivation |
//! | `eviction.rs` | least recently used idle activations evicted over `max_activations` |
//! | `timers.rs` | an activation's timers: methods called later, as turns |
//! | `replies.rs` | replies kept for calls with an idempotency key (applied once) |
//! | `reentrant.rs` | reentrant methods: calls of a turn's own call chain run inside it |
//! | `workers.rs` | stateless worker kinds: many activations of one key, nothing stored |
//!
//! Turns: an activation runs one message at a time. A caller that finds the
//! actor idle takes the turn and runs the handler on its own task (no hop to
//! another task); callers that find it busy wait in FIFO order, at most
//! `mailbox_capacity` of them, and the next one is refused with
//! `MailboxFull`.

mod activation;
mod chain;
mod directory;
mod eviction;
mod reentrant;
mod registry;
mod replies;
mod timers;
mod workers;

pub(crate) use activation::{Activation, TurnError};
pub(crate) use chain::{call_chain, in_call_chain};
pub(crate) use directory::{AnyActivation, Directory, Residents, deactivate_all, reap_idle};
pub(crate) use eviction::evict_over_cap;
pub use reentrant::{Reentrant, Shared};
pub use registry::KindInfo;
pub(crate) use registry::{EntryFactory, KindEntry, Registry, entry_of};
pub use timers::Timer;
pub(crate) use timers::Timers;
pub(crate) use workers::Workers;

use crate::node::NodeHandle;
use bytes::Bytes;
use futures::future::BoxFuture;
use orbit_shared::WriteOp;
use orbit_shared::actors::reminders::{self, ReminderInfo};
use orbit_shared::{ActorId, ActorInterface, Error, Invocation, Message, Reply};
use serde::{Serialize, de::DeserializeOwned};
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// A virtual actor. The value itself is the actor's persistent state: it is
/// loaded (or `Default`ed) on activation and written after every turn of a
/// method that is not read-only and changed it. Fields that should not be
/// stored can be `#[serde(skip)]`.
///
/// A large state (a Redis hash of a million fields) keeps its parts in
/// *entries* beside the record, so that a turn rewrites only what changed:
/// set [`Actor::ENTRIES`], queue changes as [`WriteOp`]s, and hand them over
/// in [`Actor::drain_entry_ops`]; they are written in one batch with the
/// record after the turn, and given back to [`Actor::load_entries`] on
/// activation.
pub trait Actor: Serialize + DeserializeOwned + Default + Send + 'static {
    type Interface: ActorInterface;

    /// Whether this kind stores entries beside its record.
    const ENTRIES: bool = false;

    /// The version of this kind's state shape, stored with every record. A
    /// kind that changes its state's shape (renames, splits or retypes a
    /// field) raises it and upgrades older states in [`Actor::upgrade`]. A
    /// node refuses to load a state of a higher version than its code's
    /// ([`Error::StateVersionTooNew`]) and changes nothing.
    const STATE_VERSION: u32 = 1;

    /// Above zero, a stateless worker kind: up to this many activations of
    /// one key run calls in parallel on each node, on whichever node a call
    /// reaches; nothing is loaded or stored, and a call that changes the
    /// value changes only that activation's memory. Zero (the default): one
    /// activation per key, in its partition, with persistent state.
    const STATELESS_WORKERS: usize = 0;

    /// Turns a stored state of version `from` (lower than
    /// [`Actor::STATE_VERSION`]) into the JSON of the current version; it may
    /// step through the versions in between. Runs on activation, before
    /// `load_entries` and `on_activate` (entries are not upgraded); the
    /// upgraded state is stored by the next turn that writes, or on
    /// deactivation. The default upgrades nothing.
    fn upgrade(from: u32, _state: serde_json::Value) -> Result<serde_json::Value, Error> {
        Err(Error::Internal {
            reason: format!(
                "actor kind '{}' declares no upgrade of its state from version {from} to {}",
                Self::Interface::KIND,
                Self::STATE_VERSION
            ),
        })
    }

    /// Declares the messages this actor answers, for dynamic invocation.
    fn methods(table: &mut MethodTable<Self>);

    /// Receives the stored entries (sub-key, value), in sub-key order, after
    /// the record is decoded. Only called when [`Actor::ENTRIES`] is set.
    fn load_entries(&mut self, _entries: Vec<(Bytes, Bytes)>) -> Result<(), Error> {
        Ok(())
    }

    /// The entry changes made since the last call, in order.
    fn drain_entry_ops(&mut self) -> Vec<WriteOp> {
        Vec::new()
    }

    /// An empty actor takes no storage: its record is deleted instead of
    /// written (e.g. a deleted Redis key).
    fn is_empty(&self) -> bool {
        false
    }

    /// Runs after the state is loaded, before the first message.
    fn on_activate(&mut self, _ctx: &Context<'_>) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }

    /// Runs before the activation goes away; the state is persisted after it.
    fn on_deactivate(&mut self, _ctx: &Context<'_>) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }
}

/// How an actor answers message `M`.
pub trait Handler<M: Message>: Actor {
    fn handle(&mut self, msg: M, ctx: &Context<'_>) -> impl Future<Output = Result<M::Reply, Error>> + Send;
}

/// What a handler knows about where it runs: its own id, the node, through
/// which it can call other actors, and its activation's timers.
pub struct Context<'a> {
    id: &'a ActorId,
    node: &'a NodeHandle,
    timers: &'a Timers,
}

impl<'a> Context<'a> {
    pub(crate) fn new(id: &'a ActorId, node: &'a NodeHandle, timers: &'a Timers) -> Self {
        Context { id, node, timers }
    }

    /// Starts a timer on this activation (replacing a running one of the
    /// same name): its method runs as a turn of this actor, never during
    /// another. Timers end with the activation; see [`Timer`].
    pub fn start_timer(&self, timer: Timer) {
        self.timers.start(self.node, self.id, timer);
    }

    /// Stops timer `name`; whether it was running.
    pub fn stop_timer(&self, name: &str) -> bool {
        self.timers.stop(name)
    }

    /// The names of this activation's running timers, sorted.
    pub fn timers(&self) -> Vec<String> {
        self.timers.names()
    }

    /// Registers (or replaces) durable reminder `name` of this actor: `msg`
    /// is called every `period`, the first time one period from now, also
    /// after restarts and failover (activating the actor). Unlike a timer
    /// it outlives the activation; see `crate::reminders` for delivery.
    pub async fn remind<M: Message>(
        &self,
        name: &str,
        period: Duration,
        msg: &M,
    ) -> Result<ReminderInfo, Error> {
        if period.is_zero() {
            return Err(Error::InvalidArguments {
                method: M::METHOD.to_string(),
                reason: "a reminder's period must be more than zero (a one-shot call is a job)".into(),
            });
        }
        self.register(name, period.as_millis() as u64, None, msg).await
    }

    /// Registers (or replaces) durable job `name`: `msg` is called once,
    /// after `delay`, at least once even across restarts.
    pub async fn schedule_job<M: Message>(
        &self,
        name: &str,
        delay: Duration,
        msg: &M,
    ) -> Result<ReminderInfo, Error> {
        let at = self.node.wall_ms().saturating_add(delay.as_millis() as u64);
        self.register(name, 0, Some(at), msg).await
    }

    async fn register<M: Message>(
        &self,
        name: &str,
        period_ms: u64,
        due_ms: Option<u64>,
        msg: &M,
    ) -> Result<ReminderInfo, Error> {
        let args = serde_json::to_value(msg)
            .map_err(|e| Error::Internal { reason: format!("cannot encode {}: {e}", M::METHOD) })?;
        let remind = reminders::Remind {
            kind: self.id.kind.clone(),
            name: name.to_string(),
            period_ms,
            due_ms,
            method: M::METHOD.to_string(),
            args,
        };
        self.reminders_actor().call(remind).await
    }

    /// Removes this actor's reminder or job `name`; whether it existed.
    pub async fn unremind(&self, name: &str) -> Result<bool, Error> {
        let unremind = reminders::Unremind { kind: self.id.kind.clone(), name: name.to_string() };
        self.reminders_actor().call(unremind).await
    }

    /// This actor's reminders and jobs.
    pub async fn reminders(&self) -> Result<Vec<ReminderInfo>, Error> {
        self.reminders_actor().call(reminders::List { kind: Some(self.id.kind.clone()) }).await
    }

    fn reminders_actor(&self) -> crate::LocalRef<crate::actors::reminders::RemindersActor> {
        self.node.actor(self.id.key.clone())
    }

    pub fn id(&self) -> &ActorId {
        self.id
    }

    /// The node, e.g. `ctx.node().actor::<Other>(key).call(msg)`. A call
    /// back into an actor whose turn waits on this one (`A -> B -> A`) is
    /// refused at once with `Error::CallCycle` when both run on this node
    /// (actors are not reentrant); across nodes it waits for the timeout.
    pub fn node(&self) -> &NodeHandle {
        self.node
    }
}

/// A method called with an [`Invocation`]'s bytes as they are. Typed
/// messages use JSON; a kind may also take its own encoding (the Redis
/// keyspace takes a command line and answers a reply value).
pub type DynamicCall<A> =
    for<'a> fn(&'a mut A, &'a Invocation, &'a Context<'a>) -> BoxFuture<'a, Result<Reply, Error>>;

/// A reentrant method called with an [`Invocation`]'s JSON over the state
/// its turn shares with the calls of its chain.
pub(crate) type SharedCall<A> =
    for<'a> fn(&'a Shared<A>, &'a Invocation, &'a Context<'a>) -> BoxFuture<'a, Result<Reply, Error>>;

pub(crate) struct MethodEntry<A> {
    pub read_only: bool,
    pub call: DynamicCall<A>,
    /// Set for reentrant methods ([`MethodTable::add_reentrant`]).
    pub reentrant: Option<SharedCall<A>>,
    /// A read-only method that runs over the stored state while another
    /// turn holds the actor ([`MethodTable::add_interleaving`]).
    pub interleaving: bool,
}

/// The messages an actor kind answers by name.
pub struct MethodTable<A> {
    entries: HashMap<&'static str, MethodEntry<A>>,
}

/// A method as listed to front doors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodInfo {
    pub name: &'static str,
    pub read_only: bool,
}

impl<A: Actor> MethodTable<A> {
    pub(crate) fn of() -> Self {
        let mut table = MethodTable { entries: HashMap::new() };
        A::methods(&mut table);
        table
    }

    /// Makes `M` callable by its method name with JSON arguments.
    pub fn add<M: Message>(&mut self) -> &mut Self
    where
        A: Handler<M>,
    {
        self.add_dynamic(M::METHOD, M::READ_ONLY, call_json::<A, M>)
    }

    /// Makes `call` callable as `method`, with the invocation's bytes as
    /// they come (no JSON decoding).
    pub fn add_dynamic(&mut self, method: &'static str, read_only: bool, call: DynamicCall<A>) -> &mut Self {
        self.entries.insert(method, MethodEntry { read_only, call, reentrant: None, interleaving: false });
        self
    }

    /// Makes `M` callable by name like [`MethodTable::add`], and
    /// reentrant: a call of `M` that comes back to the actor along the
    /// call chain of a turn of a reentrant method (`A -> B -> A`) runs
    /// inside that turn (see [`Reentrant`]). Other callers wait for the
    /// turn as for any method.
    pub fn add_reentrant<M: Message>(&mut self) -> &mut Self
    where
        A: Reentrant<M>,
    {
        let entry = MethodEntry {
            read_only: M::READ_ONLY,
            call: call_json::<A, M>,
            reentrant: Some(call_shared::<A, M>),
            interleaving: false,
        };
        self.entries.insert(M::METHOD, entry);
        self
    }

    /// Makes read-only `M` callable by name like [`MethodTable::add`], and
    /// interleaving: a call that finds another turn holding the actor does
    /// not wait for it, but runs at once over a copy of the stored state
    /// (what the last finished turn wrote; `on_activate` does not run on the
    /// copy, so fields serde skips are at their default). A call that finds
    /// the actor free takes the turn as usual. `M` must be read-only: a
    /// method that is not does not compile here.
    pub fn add_interleaving<M: Message>(&mut self) -> &mut Self
    where
        A: Handler<M>,
    {
        const { assert!(M::READ_ONLY, "an interleaving method must be read-only") };
        let entry =
            MethodEntry { read_only: true, call: call_json::<A, M>, reentrant: None, interleaving: true };
        self.entries.insert(M::METHOD, entry);
        self
    }

    pub(crate) fn get(&self, method: &str) -> Option<&MethodEntry<A>> {
        self.entries.get(method)
    }

    pub(crate) fn infos(&self) -> Vec<MethodInfo> {
        let mut infos: Vec<_> =
            self.entries.iter().map(|(name, e)| MethodInfo { name, read_only: e.read_only }).collect();
        infos.sort_by_key(|m| m.name);
        infos
    }
}

fn call_shared<'a, A: Reentrant<M>, M: Message>(
    state: &'a Shared<A>,
    invocation: &'a Invocation,
    ctx: &'a Context<'a>,
) -> BoxFuture<'a, Result<Reply, Error>> {
    Box::pin(async move {
        let msg: M = invocation.decode_args()?;
        let reply = <A as Reentrant<M>>::handle(state, msg, ctx).await?;
        Reply::encode(&reply)
    })
}

fn call_json<'a, A: Handler<M>, M: Message>(
    actor: &'a mut A,
    invocation: &'a Invocation,
    ctx: &'a Context<'a>,
) -> BoxFuture<'a, Result<Reply, Error>> {
    Box::pin(async move {
        let msg: M = invocation.decode_args()?;
        let reply = actor.handle(msg, ctx).await?;
        Reply::encode(&reply)
    })
}
