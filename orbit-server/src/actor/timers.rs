//! Timers of one activation: a method of the actor called after a delay,
//! once or periodically, as a turn of that activation.
//!
//! Invariants:
//! - A tick is a turn like any call: it waits for the turn (and counts in
//!   the mailbox), so it never overlaps another turn of the actor.
//! - A periodic timer waits `period` after a tick's turn ends before the
//!   next, so a slow tick delays the next instead of piling them up.
//! - Timers live in memory and end with their activation (deactivation,
//!   eviction, shutdown, a partition moving away): a timer never activates
//!   its actor. What must survive is a durable reminder.
//! - A tick that does not keep the actor alive leaves its idle clock alone,
//!   so the actor is deactivated after `idle_timeout` without calls (and
//!   its timers with it); one that keeps it alive counts as a call.

use super::AnyActivation;
use crate::node::NodeHandle;
use orbit_shared::{ActorId, Error, Invocation, Message};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A timer to start with [`super::Context::start_timer`]: which method it
/// calls, when, and whether its ticks keep the actor active.
#[derive(Debug, Clone)]
pub struct Timer {
    name: String,
    due: Duration,
    period: Option<Duration>,
    invocation: Invocation,
    keep_alive: bool,
}

impl Timer {
    /// Calls `msg` once, after `due`.
    pub fn once<M: Message>(name: impl Into<String>, due: Duration, msg: &M) -> Result<Timer, Error> {
        Ok(Timer {
            name: name.into(),
            due,
            period: None,
            invocation: Invocation::of(msg)?,
            keep_alive: false,
        })
    }

    /// Calls `msg` every `period`, the first time after one period.
    pub fn every<M: Message>(name: impl Into<String>, period: Duration, msg: &M) -> Result<Timer, Error> {
        if period.is_zero() {
            return Err(Error::InvalidArguments {
                method: M::METHOD.to_string(),
                reason: "a periodic timer's period must be more than zero".into(),
            });
        }
        Ok(Timer {
            name: name.into(),
            due: period,
            period: Some(period),
            invocation: Invocation::of(msg)?,
            keep_alive: false,
        })
    }

    /// The first tick comes after `due` instead.
    pub fn first_after(mut self, due: Duration) -> Timer {
        self.due = due;
        self
    }

    /// Ticks count as calls for idle deactivation: the actor stays active
    /// while the timer runs (with a period under `idle_timeout`).
    pub fn keep_alive(mut self) -> Timer {
        self.keep_alive = true;
        self
    }
}

/// Every activation's serial number, so a timer knows its own activation
/// from a later one of the same actor.
static SERIALS: AtomicU64 = AtomicU64::new(1);

/// The timers of one activation.
pub(crate) struct Timers {
    serial: u64,
    /// Cancelled when the activation ends; every timer's token is a child.
    ended: CancellationToken,
    /// Running timers by name, with the start that made each (so a one-shot
    /// timer that ran removes itself, not a later timer of its name).
    running: Mutex<HashMap<String, (u64, CancellationToken)>>,
    starts: AtomicU64,
}

impl Timers {
    pub fn new() -> Self {
        Timers {
            serial: SERIALS.fetch_add(1, Ordering::Relaxed),
            ended: CancellationToken::new(),
            running: Mutex::default(),
            starts: AtomicU64::new(0),
        }
    }

    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Starts `timer` for actor `id`, replacing a running one of the same
    /// name. After the activation ended it does nothing.
    pub fn start(&self, node: &NodeHandle, id: &ActorId, timer: Timer) {
        let token = self.ended.child_token();
        let start = self.starts.fetch_add(1, Ordering::Relaxed);
        if let Some((_, replaced)) = self.lock().insert(timer.name.clone(), (start, token.clone())) {
            replaced.cancel();
        }
        let (node, id, serial) = (node.clone(), id.clone(), self.serial);
        node.tasks().clone().spawn(async move {
            token.run_until_cancelled(run(&node, &id, serial, start, &timer)).await;
        });
    }

    /// Stops timer `name`; whether it was running.
    pub fn stop(&self, name: &str) -> bool {
        self.lock().remove(name).inspect(|(_, token)| token.cancel()).is_some()
    }

    /// The names of the running timers.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        names
    }

    /// A one-shot timer ran: forgets it unless it was replaced meanwhile.
    fn finished(&self, name: &str, start: u64) {
        let mut running = self.lock();
        if running.get(name).is_some_and(|(s, _)| *s == start) {
            running.remove(name);
        }
    }

    /// Ends every timer, for good (the activation is going away).
    pub fn end(&self) {
        self.ended.cancel();
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, CancellationToken)>> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs a timer until it is stopped or its activation ends (the caller
/// cancels it then).
async fn run(node: &NodeHandle, id: &ActorId, serial: u64, start: u64, timer: &Timer) {
    let mut wait = timer.due;
    loop {
        tokio::time::sleep(wait).await;
        // The activation the timer was started on, or none: a later one of
        // the same actor did not start it.
        let Some(activation) = node.directory().get(id).filter(|a| a.timers().serial() == serial) else {
            return;
        };
        tick(node, id, &*activation, timer).await;
        match timer.period {
            Some(period) => wait = period,
            None => {
                activation.timers().finished(&timer.name, start);
                return;
            }
        }
    }
}

async fn tick(node: &NodeHandle, id: &ActorId, activation: &dyn AnyActivation, timer: &Timer) {
    match activation.tick(node, &timer.invocation, timer.keep_alive).await {
        Ok((Ok(_), _)) => {}
        Ok((Err(e), _)) => {
            tracing::warn!(actor = %id, timer = %timer.name, error = %e, "a timer's tick failed")
        }
        Err(super::TurnError::Failed(e)) => {
            tracing::warn!(actor = %id, timer = %timer.name, error = %e, "a timer's tick did not run")
        }
        Err(super::TurnError::Retired) => {}
    }
}
