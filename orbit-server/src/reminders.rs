//! The node's reminder scheduler: fires the durable reminders and jobs of
//! the partitions this node serves.
//!
//! Reminders are stored by the `orbit:reminders` actors
//! (`crate::actors::reminders`), one per key, in their actors' partition;
//! the scheduler only holds, in memory, when each fires next:
//! - it reads a partition's reminders from storage when it starts serving
//!   the partition (at start, and in a cluster when it becomes the leader
//!   in a new term), and forgets them when another node serves it;
//! - every change made by a reminders actor (which runs on the partition's
//!   leader) is handed to it at once ([`Scheduler::set`]).
//!
//! Firing a tick calls the target's method through the gateway (activating
//! the actor if needed), then tells the reminders actor (`fired`), which
//! moves the reminder to its next tick durably. Delivery is at least once:
//! a crash between the two fires the tick again after the restart. Ticks
//! missed while no node served the partition fire once, then the period
//! grid resumes (`orbit_shared::actors::reminders::next_tick`). A call
//! that finds the actor unavailable (no leader, shutting down, timeout) is
//! tried again a second later; a method that fails counts as delivered.
//!
//! Times are the node's clock in milliseconds since the Unix epoch: the
//! wall clock read at start plus the monotonic time since
//! ([`NodeHandle::wall_ms`]), so paused tokio time drives it in tests.

use crate::actors::reminders::RemindersActor;
use crate::node::NodeHandle;
use crate::partition::{Partition, partition_of};
use crate::storage::layout::{self, Record};
use bytes::Bytes;
use orbit_shared::actors::reminders::{self, Fired, ReminderInfo};
use orbit_shared::{ActorGateway, ActorId, Error, ErrorKind, Invocation};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// A reminder's next tick, and what it calls.
#[derive(Debug, Clone)]
pub(crate) struct Tick {
    /// The tick's time as stored (what `fired` names).
    pub due_ms: u64,
    pub method: String,
    pub args: Bytes,
}

impl Tick {
    pub fn of(info: &ReminderInfo) -> Tick {
        Tick { due_ms: info.next_fire_ms, method: info.method.clone(), args: info.args.to_string().into() }
    }
}

/// Ticks fired at once, at most.
const FIRING: usize = 1024;
/// How long a tick waits after the actor was unavailable.
const RETRY_MS: u64 = 1000;
/// How often a cluster node looks for partitions it started or stopped
/// serving.
const REFRESH: Duration = Duration::from_secs(1);
/// Storage pairs read per page when loading a partition's reminders.
const PAGE: usize = 1024;

type Reminder = (ActorId, String);

#[derive(Default)]
pub(crate) struct Scheduler {
    inner: Mutex<Schedule>,
    changed: Notify,
}

#[derive(Default)]
struct Schedule {
    /// (fire at, reminder), in time order.
    queue: BTreeSet<(u64, Reminder)>,
    /// Every scheduled reminder: when it fires (a tick tried again fires
    /// after its due time) and its tick.
    ticks: HashMap<Reminder, (u64, Tick)>,
    /// Partitions whose reminders are loaded, with the term they were read
    /// in.
    loaded: HashMap<u16, u64>,
}

impl Schedule {
    fn remove(&mut self, reminder: &Reminder) {
        if let Some((at, _)) = self.ticks.remove(reminder) {
            self.queue.remove(&(at, reminder.clone()));
        }
    }

    fn insert(&mut self, reminder: Reminder, at: u64, tick: Tick) {
        self.remove(&reminder);
        self.queue.insert((at, reminder.clone()));
        self.ticks.insert(reminder, (at, tick));
    }
}

impl Scheduler {
    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reminder `name` of actor `target` fires next at `tick` (`None`: it
    /// is gone).
    pub fn set(&self, target: ActorId, name: String, tick: Option<Tick>) {
        let mut schedule = self.lock();
        let reminder = (target, name);
        match tick {
            Some(tick) => schedule.insert(reminder, tick.due_ms, tick),
            None => schedule.remove(&reminder),
        }
        drop(schedule);
        self.changed.notify_one();
    }

    /// Takes up to `limit` reminders due at `now_ms`, earliest first.
    fn take_due(&self, now_ms: u64, limit: usize) -> Vec<(Reminder, Tick)> {
        let mut schedule = self.lock();
        let mut due = Vec::new();
        while due.len() < limit {
            let Some((at, reminder)) = schedule.queue.first().cloned() else { break };
            if at > now_ms {
                break;
            }
            schedule.queue.pop_first();
            if let Some((_, tick)) = schedule.ticks.remove(&reminder) {
                due.push((reminder, tick));
            }
        }
        due
    }

    /// A tick to try again at `at`, unless the reminder changed meanwhile.
    fn retry(&self, reminder: Reminder, at: u64, tick: Tick) {
        let mut schedule = self.lock();
        if !schedule.ticks.contains_key(&reminder) {
            schedule.insert(reminder, at, tick);
        }
    }

    /// When the earliest reminder fires.
    fn next_at(&self) -> Option<u64> {
        self.lock().queue.first().map(|(at, _)| *at)
    }

    fn len(&self) -> usize {
        self.lock().ticks.len()
    }
}

/// Fires reminders until cancelled (a task of the node's upkeep).
pub(crate) async fn run(node: NodeHandle, cancel: CancellationToken) {
    let firing = Arc::new(Semaphore::new(FIRING));
    let clustered = node.config().cluster.enabled();
    loop {
        let changed = node.scheduler().changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if cancel.run_until_cancelled(refresh(&node)).await.is_none() {
            return;
        }
        let now = node.wall_ms();
        for (reminder, tick) in node.scheduler().take_due(now, FIRING) {
            let Some(Ok(permit)) = cancel.run_until_cancelled(firing.clone().acquire_owned()).await else {
                return;
            };
            let node = node.clone();
            node.tasks().clone().spawn(async move {
                fire(&node, reminder, tick).await;
                drop(permit);
            });
        }
        node.metrics().reminders_scheduled.set(node.scheduler().len() as i64);
        let mut wait = match node.scheduler().next_at() {
            Some(at) => Duration::from_millis(at.saturating_sub(node.wall_ms())),
            None => Duration::from_secs(3600),
        };
        if clustered {
            wait = wait.min(REFRESH);
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
            () = &mut changed => {}
        }
    }
}

/// Loads the reminders of partitions this node now serves in a new term,
/// and forgets those of partitions it no longer serves.
async fn refresh(node: &NodeHandle) {
    for partition in node.partitions().iter() {
        let serving = partition.serve().await.ok();
        let loaded = node.scheduler().lock().loaded.get(&partition.id).copied();
        if serving == loaded {
            continue;
        }
        forget(node, partition.id);
        if let Some(term) = serving {
            match load(partition).await {
                Ok(found) => {
                    let mut schedule = node.scheduler().lock();
                    for (target, info) in found {
                        let tick = Tick::of(&info);
                        schedule.insert((target, info.name), tick.due_ms, tick);
                    }
                    schedule.loaded.insert(partition.id, term);
                }
                Err(e) => {
                    tracing::warn!(partition = partition.id, error = %e, "cannot read the partition's reminders")
                }
            }
        }
    }
}

/// Drops partition `id`'s reminders from the schedule.
fn forget(node: &NodeHandle, id: u16) {
    let count = node.partitions().len() as u16;
    let mut schedule = node.scheduler().lock();
    schedule.loaded.remove(&id);
    let gone: Vec<Reminder> = schedule
        .ticks
        .keys()
        .filter(|(target, _)| partition_of(target.slot(), count) == id)
        .cloned()
        .collect();
    for reminder in gone {
        schedule.remove(&reminder);
    }
}

/// Every reminder stored in `partition`, with the actor it calls.
async fn load(partition: &Partition) -> Result<Vec<(ActorId, ReminderInfo)>, Error> {
    let prefix = layout::kind_prefix(partition.id, reminders::KIND);
    let mut found = Vec::new();
    let mut after: Option<Bytes> = None;
    loop {
        let page = partition.scan(prefix.clone(), after.take(), PAGE).await?;
        let full = page.len() == PAGE;
        after = page.last().map(|(k, _)| k.clone());
        for (stored, value) in page {
            let Some(key) = layout::record_actor_key(&stored) else { continue };
            let key = Bytes::copy_from_slice(key);
            let record = Record::decode(&stored, value)?;
            let actor: RemindersActor =
                serde_json::from_slice(&record.state).map_err(|e| Error::Storage {
                    reason: format!("stored reminders of key {} do not decode: {e}", key.escape_ascii()),
                })?;
            found.extend(actor.infos().map(|info| (ActorId::new(info.kind.clone(), key.clone()), info)));
        }
        if !full {
            return Ok(found);
        }
    }
}

/// Whether a call failed because the actor could not be reached now.
fn unavailable(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout)
}

/// Delivers one tick, then moves the reminder on.
async fn fire(node: &NodeHandle, reminder: Reminder, tick: Tick) {
    let (target, name) = &reminder;
    let retry = |node: &NodeHandle, reminder: Reminder, tick: Tick| {
        node.scheduler().retry(reminder, node.wall_ms() + RETRY_MS, tick);
    };
    match node.invoke(target.clone(), Invocation::new(tick.method.clone(), tick.args.clone())).await {
        Ok(_) => {}
        Err(e) if unavailable(&e) => return retry(node, reminder, tick),
        Err(e) => tracing::warn!(actor = %target, reminder = %name, error = %e, "a reminder's method failed"),
    }
    node.metrics().reminders_fired.inc();
    let fired = Fired { kind: target.kind.clone(), name: name.clone(), due_ms: tick.due_ms };
    let holder = ActorId::new(reminders::KIND, target.key.clone());
    let moved = match Invocation::of(&fired) {
        Ok(invocation) => node.invoke(holder, invocation).await,
        Err(e) => Err(e),
    };
    match moved {
        Ok(_) => {}
        Err(e) if unavailable(&e) => retry(node, reminder, tick),
        Err(e) => {
            tracing::error!(actor = %target, reminder = %name, error = %e, "a fired reminder was not moved on")
        }
    }
}
