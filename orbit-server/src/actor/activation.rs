//! One resident actor.
//!
//! Invariants:
//! - The turn lock is held for a whole turn: load (if needed), handler,
//!   persist. Nothing else touches the actor value.
//! - During a turn the actor is taken out of its cell. If the turn ends
//!   early (the caller is cancelled, persisting fails) the cell stays
//!   `Unloaded`, and the next turn reloads the state from storage, which is
//!   the source of truth.
//! - A write reaches storage before the turn ends, but the reply waits for
//!   its durability only after the turn is released, so the next turn's
//!   write can share the same fsync. Every reply, read-only ones included,
//!   waits until the state it observed (`last_seq`) is durable.
//! - A call into an actor whose turn is up the caller's own call chain
//!   (`A -> B -> A`) is refused at once with `CallCycle`: waiting would
//!   never end. The chain is a task-local set around each handler (turns
//!   run in their caller's task), and a forwarded call carries it to the
//!   node it is forwarded to (`in_call_chain`). The one
//!   exception: when that turn runs a reentrant method and the call is of
//!   one, the call runs inside the turn, over its shared state
//!   (`reentrant.rs`); the turn stores what it changed when it ends.
//! - A keyed call (an idempotency key on a method that is not read-only)
//!   answered before gets its first reply and runs nothing; otherwise its
//!   reply is stored with its write (`replies.rs`).
//! - `Retired` is final: the activation has left the directory, and callers
//!   that were queued on it retry with a fresh activation.
//! - In a cluster a turn runs only while this node serves the partition
//!   (`Partition::serve`), and a state loaded in an earlier term is dropped
//!   unwritten and loaded again: another leader may have changed it since.

use super::{
    Actor, Context, Handler, MethodEntry, MethodTable, Shared, SharedCall, Timers, WriteOp, chain, replies,
};
use crate::metrics::KindMetrics;
use crate::node::NodeHandle;
use crate::partition::Partition;
use crate::storage::Seq;
use crate::storage::layout::{self, Record};
use bytes::Bytes;
use orbit_shared::{ActorId, Error, Invocation, Message, Reply};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::{Mutex, MutexGuard};

/// What an activation shares with every other activation of its kind.
pub(crate) struct KindState<A> {
    pub methods: MethodTable<A>,
    pub metrics: KindMetrics,
    /// Changes the kind's actors committed (`ActorGateway::kind_changes`):
    /// moved after each write that changed a record or its entries.
    pub changes: AtomicU64,
}

pub(crate) struct Activation<A: Actor> {
    id: ActorId,
    /// The id again, shared by the call chains of this actor's turns.
    chain_id: Arc<ActorId>,
    key: Bytes,
    partition: Arc<Partition>,
    kind: Arc<KindState<A>>,
    cell: Mutex<Cell<A>>,
    waiting: AtomicUsize,
    last_turn_ms: AtomicU64,
    /// When it was activated (node ms), for introspection.
    activated_ms: u64,
    timers: Timers,
    /// The turn in progress (its number and state) while it runs a
    /// reentrant method: calls of its chain enter it there.
    reentrant: ExposedTurn<A>,
}

/// A reentrant turn's number and state, while it runs.
type ExposedTurn<A> = std::sync::Mutex<Option<(u64, Arc<Shared<A>>)>>;

/// Shows a reentrant turn's state to its chain until dropped.
struct Exposed<'a, A>(&'a ExposedTurn<A>);

impl<A> Drop for Exposed<'_, A> {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

enum Cell<A> {
    Unloaded,
    Active(Loaded<A>),
    Retired,
}

struct Loaded<A> {
    actor: Box<A>,
    version: u64,
    /// Hash of the stored record's state and state version (`None`: nothing
    /// stored), to skip writes that change nothing. An upgraded state
    /// hashes differently from the record it came from (their state
    /// versions differ), so its next write is never skipped.
    stored_hash: Option<u64>,
    /// The write this state depends on; replies wait for it to be durable.
    last_seq: Seq,
    /// The partition's term when this state was loaded (0 without a cluster).
    term: u64,
    /// Writes of the turn beside the state's (a keyed call's reply, old
    /// replies to delete), stored in the same batch.
    extra: Vec<WriteOp>,
    /// The stored replies of keyed calls were checked for retention.
    replies_checked: bool,
}

pub(crate) enum TurnError {
    /// The activation was deactivated while the caller waited: retry.
    Retired,
    Failed(Error),
}

/// A finished dynamic call: the reply (or the handler's error) and the write
/// it depends on.
pub(crate) type Called = Result<(Result<Reply, Error>, Seq), TurnError>;

impl From<Error> for TurnError {
    fn from(e: Error) -> Self {
        TurnError::Failed(e)
    }
}

/// A turn in progress: the lock and the actor taken out of its cell.
pub(crate) struct Turn<'a, A> {
    cell: MutexGuard<'a, Cell<A>>,
    loaded: Loaded<A>,
}

/// Counts a caller as waiting until it gets the turn or gives up.
pub(super) struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a caller among the `waiting` callers of actor `id`, or refuses it
/// when `actors.mailbox_capacity` of them already wait.
pub(super) fn join_mailbox<'a>(
    waiting: &'a AtomicUsize,
    node: &NodeHandle,
    id: &ActorId,
    metrics: &KindMetrics,
) -> Result<Waiting<'a>, TurnError> {
    let capacity = node.config().actors.mailbox_capacity;
    let joined = Waiting(waiting);
    if waiting.fetch_add(1, Ordering::AcqRel) >= capacity {
        metrics.mailbox_rejections.inc();
        return Err(TurnError::Failed(Error::MailboxFull { actor: id.clone(), capacity }));
    }
    Ok(joined)
}

fn hash_record(state_version: u32, state: &[u8]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    state_version.hash(&mut hasher);
    state.hash(&mut hasher);
    hasher.finish()
}

impl<A: Actor> Activation<A> {
    pub fn new(id: ActorId, partition: Arc<Partition>, kind: Arc<KindState<A>>, now_ms: u64) -> Self {
        let key = crate::storage::layout::actor_key(partition.id, &id);
        Activation {
            chain_id: Arc::new(id.clone()),
            id,
            key,
            partition,
            kind,
            cell: Mutex::new(Cell::Unloaded),
            waiting: AtomicUsize::new(0),
            last_turn_ms: AtomicU64::new(now_ms),
            activated_ms: now_ms,
            timers: Timers::new(),
            reentrant: std::sync::Mutex::new(None),
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

    /// Runs typed message `msg` in a turn taken with [`Activation::enter`]:
    /// no serialization on the way in or out.
    pub async fn run<M: Message>(
        &self,
        mut turn: Turn<'_, A>,
        node: &NodeHandle,
        msg: M,
    ) -> Result<M::Reply, Error>
    where
        A: Handler<M>,
    {
        let reply =
            self.in_chain(turn.loaded.actor.handle(msg, &Context::new(&self.id, node, &self.timers))).await;
        let seq = self.finish(turn, node, !M::READ_ONLY, true).await?;
        self.partition.wait_durable(seq).await?;
        reply
    }

    /// Calls a method by name with its dynamic arguments. Returns as soon as
    /// the turn is over and its write visible, with the write the reply
    /// depends on: the caller waits for it to be durable before answering.
    pub async fn call_json(&self, node: &NodeHandle, invocation: &Invocation) -> Called {
        self.call_dynamic(node, invocation, true).await
    }

    /// A timer's tick: a dynamic call that counts as a call for idle
    /// deactivation only if `keep_alive`.
    pub async fn tick(&self, node: &NodeHandle, invocation: &Invocation, keep_alive: bool) -> Called {
        self.call_dynamic(node, invocation, keep_alive).await
    }

    async fn call_dynamic(&self, node: &NodeHandle, invocation: &Invocation, touch: bool) -> Called {
        let Some(&MethodEntry { read_only, call, reentrant, interleaving }) =
            self.kind.methods.get(&invocation.method)
        else {
            return Err(TurnError::Failed(Error::UnknownMethod {
                kind: self.id.kind.clone(),
                method: invocation.method.clone(),
            }));
        };
        let keyed = invocation.idempotency_key.as_deref().filter(|_| !read_only);
        if let Some(shared_call) = reentrant
            && keyed.is_none()
            && let Some((turn, shared)) = self.turn_of_chain()
        {
            if !read_only {
                shared.entered_by_writer();
            }
            let ctx = Context::new(&self.id, node, &self.timers);
            let reply =
                chain::scope(self.chain_id.clone(), turn, shared_call(&shared, invocation, &ctx)).await;
            return Ok((reply, self.partition.last_appended()));
        }
        // A call from the actor's own chain never interleaves: it would not
        // see what the waiting turn changed; it is refused as a cycle.
        if interleaving && !chain::contains(&self.id) && self.cell.try_lock().is_err() {
            return self.interleave(node, call, invocation).await;
        }
        let mut turn = self.enter(node).await?;
        if let Some(key) = keyed
            && let Some(first) = self.first_reply(node, &mut turn.loaded, key).await?
        {
            let seq = self.finish(turn, node, false, touch).await?;
            return Ok((first, seq));
        }
        let ctx = Context::new(&self.id, node, &self.timers);
        let (reply, wrote) = match reentrant {
            None => (self.in_chain(call(&mut turn.loaded.actor, invocation, &ctx)).await, !read_only),
            Some(shared_call) => {
                let (reply, entered_by_writer) =
                    self.reentrant_turn(&mut turn.loaded, shared_call, invocation, &ctx).await;
                (reply, !read_only || entered_by_writer)
            }
        };
        if let Some(key) = keyed {
            let record = replies::encode(node.wall_ms(), &reply);
            turn.loaded.extra.push(WriteOp::Put(replies::key(&self.key, key), record));
        }
        let seq = self.finish(turn, node, wrote, touch).await?;
        Ok((reply, seq))
    }

    /// Runs a reentrant method over the state, shown to the calls of its
    /// chain while it runs. Returns the reply and whether a call that may
    /// write entered the turn.
    async fn reentrant_turn(
        &self,
        loaded: &mut Loaded<A>,
        call: SharedCall<A>,
        invocation: &Invocation,
        ctx: &Context<'_>,
    ) -> (Result<Reply, Error>, bool) {
        let shared = Arc::new(Shared::new(std::mem::take(&mut *loaded.actor)));
        let turn = chain::new_turn();
        let exposed = Exposed(&self.reentrant);
        *exposed.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((turn, shared.clone()));
        let reply = chain::scope(self.chain_id.clone(), turn, call(&shared, invocation, ctx)).await;
        drop(exposed);
        let entered_by_writer = shared.wrote();
        *loaded.actor = match Arc::try_unwrap(shared) {
            Ok(shared) => shared.into_inner(),
            Err(shared) => shared.take(),
        };
        (reply, entered_by_writer)
    }

    /// The number and shared state of this actor's turn in progress, if it
    /// runs a reentrant method and the caller's own call chain holds that
    /// very turn (not an earlier one that ended while its chain went on).
    fn turn_of_chain(&self) -> Option<(u64, Arc<Shared<A>>)> {
        let exposed = self.reentrant.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        exposed.filter(|(turn, _)| chain::holds(&self.id, *turn))
    }

    /// Whether `method` is reentrant or interleaving: typed calls of it go
    /// through [`Activation::call_json`], where calls of the chain can enter
    /// a turn and interleaving calls need not wait for one.
    pub fn takes_dynamic_path(&self, method: &str) -> bool {
        self.kind.methods.get(method).is_some_and(|m| m.reentrant.is_some() || m.interleaving)
    }

    /// The reply this actor gave to the call with idempotency key `key`,
    /// if it is within retention. The first keyed call of an activation
    /// also queues the deletion of expired and surplus replies.
    async fn first_reply(
        &self,
        node: &NodeHandle,
        loaded: &mut Loaded<A>,
        key: &str,
    ) -> Result<Option<Result<Reply, Error>>, Error> {
        let now = node.wall_ms();
        let retention = node.config().actors.idempotency_retention.as_millis() as u64;
        if !loaded.replies_checked {
            loaded.replies_checked = true;
            let prefix = replies::prefix(&self.key);
            let mut stored = Vec::new();
            let mut after: Option<Bytes> = None;
            loop {
                let page = self.partition.scan(prefix.clone(), after.take(), 4096).await?;
                let full = page.len() == 4096;
                after = page.last().map(|(k, _)| k.clone());
                stored.extend(page.into_iter().filter_map(|(k, v)| Some((k, replies::decode(&v)?.0))));
                if !full {
                    break;
                }
            }
            let gone = replies::to_delete(stored, now, retention);
            loaded.extra.extend(gone.into_iter().map(WriteOp::Delete));
        }
        let found = self.partition.get(replies::key(&self.key, key)).await?;
        Ok(found
            .as_ref()
            .and_then(replies::decode)
            .filter(|(written, _)| now.saturating_sub(*written) <= retention)
            .map(|(_, reply)| reply))
    }

    /// Runs a handler's future as part of this actor's turn: calls it makes
    /// carry the call chain with this actor in it.
    fn in_chain<F: std::future::Future>(&self, future: F) -> impl std::future::Future<Output = F::Output> {
        chain::scope(self.chain_id.clone(), chain::new_turn(), future)
    }

    /// Waits for the turn (or refuses when the mailbox is full, or when this
    /// node does not serve the actor's partition, or at once when the
    /// caller's own call chain holds this actor's turn).
    pub async fn enter(&self, node: &NodeHandle) -> Result<Turn<'_, A>, TurnError> {
        if let Some(cycle) = chain::cycle_to(&self.id) {
            return Err(TurnError::Failed(Error::CallCycle { cycle }));
        }
        let waiting = join_mailbox(&self.waiting, node, &self.id, &self.kind.metrics)?;
        let mut cell = self.cell.lock().await;
        drop(waiting);
        let term = self.partition.serve().await?;
        let loaded = match std::mem::replace(&mut *cell, Cell::Unloaded) {
            Cell::Active(loaded) if loaded.term == term => loaded,
            Cell::Active(_) | Cell::Unloaded => self.load(node, term).await?,
            Cell::Retired => {
                *cell = Cell::Retired;
                return Err(TurnError::Retired);
            }
        };
        Ok(Turn { cell, loaded })
    }

    async fn load(&self, node: &NodeHandle, term: u64) -> Result<Loaded<A>, Error> {
        // Whatever is in storage may not be durable yet (a cancelled turn's
        // write): depend on everything appended so far.
        let last_seq = self.partition.last_appended();
        let (mut actor, version, stored_hash) = self.stored().await?;
        actor.on_activate(&Context::new(&self.id, node, &self.timers)).await?;
        self.kind.metrics.activations.inc();
        Ok(Loaded {
            actor: Box::new(actor),
            version,
            stored_hash,
            last_seq,
            term,
            extra: Vec::new(),
            replies_checked: false,
        })
    }

    /// The actor as stored (`Default` if nothing is), its record's version
    /// and hash.
    async fn stored(&self) -> Result<(A, u64, Option<u64>), Error> {
        Ok(match self.partition.get(self.key.clone()).await? {
            None => (A::default(), 0, None),
            Some(bytes) => {
                let record = Record::decode(&self.key, bytes)?;
                let mut actor = self.decode_state(&record)?;
                if A::ENTRIES {
                    actor.load_entries(self.load_entries().await?)?;
                }
                (actor, record.version, Some(hash_record(record.state_version, &record.state)))
            }
        })
    }

    /// Runs an interleaving method while another turn holds the actor: over
    /// a copy of the stored state (what the last finished turn wrote), with
    /// no `on_activate`, changing nothing.
    async fn interleave(
        &self,
        node: &NodeHandle,
        call: super::DynamicCall<A>,
        invocation: &Invocation,
    ) -> Called {
        self.partition.serve().await?;
        let last_seq = self.partition.last_appended();
        let (mut actor, _, _) = self.stored().await?;
        let ctx = Context::new(&self.id, node, &self.timers);
        let reply = self.in_chain(call(&mut actor, invocation, &ctx)).await;
        self.kind.metrics.interleaved.inc();
        Ok((reply, last_seq))
    }

    /// The actor a record stores, upgraded to this code's state version
    /// (`Actor::upgrade`) if it is older; a newer one is refused untouched.
    fn decode_state(&self, record: &Record) -> Result<A, Error> {
        let stored = record.state_version;
        let corrupt = |e: serde_json::Error| Error::Storage {
            reason: format!("stored state of {} does not decode: {e}", self.id),
        };
        if stored == A::STATE_VERSION {
            return serde_json::from_slice(&record.state).map_err(corrupt);
        }
        if stored > A::STATE_VERSION {
            return Err(Error::StateVersionTooNew {
                actor: self.id.clone(),
                stored,
                current: A::STATE_VERSION,
            });
        }
        let old: serde_json::Value = serde_json::from_slice(&record.state).map_err(corrupt)?;
        let upgraded = A::upgrade(stored, old)?;
        serde_json::from_value(upgraded).map_err(|e| Error::Internal {
            reason: format!(
                "state of {} upgraded from version {stored} to {} does not decode: {e}",
                self.id,
                A::STATE_VERSION
            ),
        })
    }

    /// Every entry of this actor, sub-keys without the actor prefix.
    async fn load_entries(&self) -> Result<Vec<(Bytes, Bytes)>, Error> {
        const PAGE: usize = 4096;
        let prefix = layout::entry_prefix(&self.key);
        let mut entries = Vec::new();
        let mut after: Option<Bytes> = None;
        loop {
            let page = self.partition.scan(prefix.clone(), after.take(), PAGE).await?;
            let full = page.len() == PAGE;
            after = page.last().map(|(k, _)| k.clone());
            entries.extend(page.into_iter().map(|(k, v)| (k.slice(prefix.len()..), v)));
            if !full {
                return Ok(entries);
            }
        }
    }

    /// Persists a changed state, puts the actor back and releases the turn.
    /// Returns the write the reply must wait for.
    /// With `touch`, the turn counts as a call for idle deactivation.
    async fn finish(
        &self,
        mut turn: Turn<'_, A>,
        node: &NodeHandle,
        wrote: bool,
        touch: bool,
    ) -> Result<Seq, Error> {
        if wrote {
            self.persist(&mut turn.loaded).await?;
        }
        let seq = turn.loaded.last_seq;
        *turn.cell = Cell::Active(turn.loaded);
        if touch {
            self.last_turn_ms.store(node.now_ms(), Ordering::Relaxed);
        }
        Ok(seq)
    }

    /// Writes the record (or deletes it when the actor is empty) and the
    /// queued entry changes, as one batch; writes nothing if nothing changed.
    async fn persist(&self, loaded: &mut Loaded<A>) -> Result<(), Error> {
        let (ops, stored_hash) = self.pending_writes(loaded)?;
        if ops.is_empty() {
            return Ok(());
        }
        loaded.last_seq = self.partition.append(&ops).await?;
        loaded.version += 1;
        loaded.stored_hash = stored_hash;
        self.kind.changes.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// The writes that would store the actor as it is now, and the hash of
    /// the record they store. Storing a first record or deleting the last
    /// one moves the partition's count of the kind's records.
    fn pending_writes(&self, loaded: &mut Loaded<A>) -> Result<(Vec<WriteOp>, Option<u64>), Error> {
        let mut ops = Vec::new();
        let mut stored_hash = None;
        if !loaded.actor.is_empty() {
            let state = serde_json::to_vec(&*loaded.actor).map_err(|e| Error::Internal {
                reason: format!("state of {} does not encode: {e}", self.id),
            })?;
            let hash = hash_record(A::STATE_VERSION, &state);
            stored_hash = Some(hash);
            if loaded.stored_hash != stored_hash {
                let record = Record {
                    version: loaded.version + 1,
                    state_version: A::STATE_VERSION,
                    state: state.into(),
                };
                ops.push(WriteOp::Put(self.key.clone(), record.encode()));
            }
            if loaded.stored_hash.is_none() {
                ops.push(WriteOp::Add(layout::count_key(self.partition.id, &self.id.kind), 1));
            }
        } else if loaded.stored_hash.is_some() {
            ops.push(WriteOp::Delete(self.key.clone()));
            ops.push(WriteOp::Add(layout::count_key(self.partition.id, &self.id.kind), -1));
        }
        for op in loaded.actor.drain_entry_ops() {
            ops.push(match op {
                WriteOp::Put(sub, value) => WriteOp::Put(layout::entry_key(&self.key, &sub), value),
                WriteOp::Delete(sub) => WriteOp::Delete(layout::entry_key(&self.key, &sub)),
                WriteOp::Add(sub, delta) => WriteOp::Add(layout::entry_key(&self.key, &sub), delta),
            });
        }
        ops.append(&mut loaded.extra);
        Ok((ops, stored_hash))
    }

    /// Takes the turn for a call group ([`HeldTurn`]).
    pub async fn hold(&self, node: &NodeHandle) -> Result<Held<'_, A>, TurnError> {
        let turn = self.enter(node).await?;
        Ok(Held { activation: self, turn, wrote: false, pending: None })
    }

    /// Ends the timers, runs `on_deactivate`, persists, and retires the
    /// activation. With
    /// `idle_ms`, gives up unless the actor is free and has been idle that
    /// long. Returns whether the activation was retired.
    pub async fn deactivate(&self, node: &NodeHandle, reason: &'static str, idle_ms: Option<u64>) -> bool {
        let mut cell = match idle_ms {
            None => self.cell.lock().await,
            Some(idle_ms) => match self.cell.try_lock() {
                Ok(cell) if self.waiting() == 0 && node.now_ms() >= self.last_turn_ms() + idle_ms => cell,
                _ => return false,
            },
        };
        let serving = self.partition.serve().await.ok();
        self.timers.end();
        if let Cell::Active(mut loaded) = std::mem::replace(&mut *cell, Cell::Retired)
            && serving == Some(loaded.term)
        {
            let ctx = Context::new(&self.id, node, &self.timers);
            if let Err(e) = loaded.actor.on_deactivate(&ctx).await {
                tracing::warn!(actor = %self.id, error = %e, "on_deactivate failed");
            }
            let persisted = match self.persist(&mut loaded).await {
                Ok(()) => self.partition.wait_durable(loaded.last_seq).await.map_err(Error::from),
                Err(e) => Err(e),
            };
            if let Err(e) = persisted {
                tracing::error!(actor = %self.id, error = %e, "state not persisted on deactivation");
            }
            self.kind.metrics.deactivated(reason);
        }
        node.directory().remove(&self.id, self);
        true
    }
}

/// A turn held by an atomic call group (`NodeHandle::invoke_atomic`): calls
/// run on the actor while every actor of the group is held; `writes` gives
/// what would store the result; `commit` puts the actor back as written.
/// Dropping a held turn without committing leaves the actor unloaded, so
/// its next turn reloads what storage holds: that is the group's rollback.
pub(crate) trait HeldTurn: Send {
    fn call<'b>(
        &'b mut self,
        node: &'b NodeHandle,
        invocation: &'b Invocation,
    ) -> futures::future::BoxFuture<'b, Result<Reply, Error>>;

    /// The writes the calls so far need (empty if they changed nothing).
    fn writes(&mut self) -> Result<Vec<WriteOp>, Error>;

    /// Puts the actor back; `seq` is the group's write, if it wrote.
    /// Returns the write the replies depend on.
    fn commit(self: Box<Self>, node: &NodeHandle, seq: Option<Seq>) -> Seq;
}

pub(crate) struct Held<'a, A: Actor> {
    activation: &'a Activation<A>,
    turn: Turn<'a, A>,
    /// A call that is not read-only ran.
    wrote: bool,
    /// The record hash `writes` computed, when it returned writes.
    pending: Option<Option<u64>>,
}

impl<A: Actor> HeldTurn for Held<'_, A> {
    fn call<'b>(
        &'b mut self,
        node: &'b NodeHandle,
        invocation: &'b Invocation,
    ) -> futures::future::BoxFuture<'b, Result<Reply, Error>> {
        Box::pin(async move {
            let id = &self.activation.id;
            let Some(&MethodEntry { read_only, call, .. }) =
                self.activation.kind.methods.get(&invocation.method)
            else {
                return Err(Error::UnknownMethod {
                    kind: id.kind.clone(),
                    method: invocation.method.clone(),
                });
            };
            self.wrote |= !read_only;
            let ctx = Context::new(id, node, &self.activation.timers);
            self.activation.in_chain(call(&mut self.turn.loaded.actor, invocation, &ctx)).await
        })
    }

    fn writes(&mut self) -> Result<Vec<WriteOp>, Error> {
        if !self.wrote {
            return Ok(Vec::new());
        }
        let (ops, hash) = self.activation.pending_writes(&mut self.turn.loaded)?;
        if !ops.is_empty() {
            self.pending = Some(hash);
        }
        Ok(ops)
    }

    fn commit(self: Box<Self>, node: &NodeHandle, seq: Option<Seq>) -> Seq {
        let Held { activation, mut turn, pending, .. } = *self;
        if let (Some(seq), Some(hash)) = (seq, pending) {
            turn.loaded.last_seq = seq;
            turn.loaded.version += 1;
            turn.loaded.stored_hash = hash;
            activation.kind.changes.fetch_add(1, Ordering::Release);
        }
        let depends_on = turn.loaded.last_seq;
        *turn.cell = Cell::Active(turn.loaded);
        activation.last_turn_ms.store(node.now_ms(), Ordering::Relaxed);
        depends_on
    }
}
