//! `orbit:reminders`: the durable reminders and jobs of every actor whose
//! key is this actor's key (the same key lands in the same partition, so an
//! actor's reminders are stored, replicated and moved with it).
//!
//! A reminder calls `method` with `args` on actor `kind`/key every
//! `period_ms`; a job (`period_ms` 0) calls it once. Times are milliseconds
//! since the Unix epoch by the serving node's clock.
//!
//! | method | args | reply |
//! |---|---|---|
//! | `remind` | [`Remind`] | the stored [`ReminderInfo`] |
//! | `unremind` | `{"kind", "name"}` | whether it existed |
//! | `list` | `{"kind"}` (optional) | every [`ReminderInfo`], by kind and name |
//! | `fired` | `{"kind", "name", "due_ms"}` | the next fire time, or none |

use crate::{Accepts, ActorInterface, Message};
use serde::{Deserialize, Serialize};

/// The kind holding reminders.
pub const KIND: &str = "orbit:reminders";

/// The `orbit:reminders` interface.
#[derive(Debug)]
pub struct Reminders;

impl ActorInterface for Reminders {
    const KIND: &'static str = KIND;
}

/// One reminder or job, as stored and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReminderInfo {
    /// The kind of the actor it calls (its key is the reminders actor's).
    pub kind: String,
    pub name: String,
    /// 0 for a one-shot job.
    pub period_ms: u64,
    pub method: String,
    pub args: serde_json::Value,
    /// When it fires next (ms since the Unix epoch).
    pub next_fire_ms: u64,
}

/// Registers (or replaces) reminder `name` of actor `kind`/key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remind {
    pub kind: String,
    pub name: String,
    /// 0: a one-shot job.
    pub period_ms: u64,
    /// The first fire (ms since the Unix epoch); by default one period from
    /// now (a job needs it).
    #[serde(default)]
    pub due_ms: Option<u64>,
    pub method: String,
    #[serde(default)]
    pub args: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unremind {
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct List {
    /// Only this kind's reminders.
    #[serde(default)]
    pub kind: Option<String>,
}

/// A reminder fired for its tick due at `due_ms`: the node's scheduler
/// moves it to its next tick (or removes a job). A tick that is no longer
/// the reminder's next (fired already, replaced) changes nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fired {
    pub kind: String,
    pub name: String,
    pub due_ms: u64,
}

impl Message for Remind {
    const METHOD: &'static str = "remind";
    const READ_ONLY: bool = false;
    type Reply = ReminderInfo;
}

impl Message for Unremind {
    const METHOD: &'static str = "unremind";
    const READ_ONLY: bool = false;
    type Reply = bool;
}

impl Message for List {
    const METHOD: &'static str = "list";
    const READ_ONLY: bool = true;
    type Reply = Vec<ReminderInfo>;
}

impl Message for Fired {
    const METHOD: &'static str = "fired";
    const READ_ONLY: bool = false;
    type Reply = Option<u64>;
}

impl Accepts<Remind> for Reminders {}
impl Accepts<Unremind> for Reminders {}
impl Accepts<List> for Reminders {}
impl Accepts<Fired> for Reminders {}

/// The next tick of a reminder due at `due_ms` that fired at `now_ms`: one
/// period later, or, when ticks were missed (the node was down), the first
/// tick of the period grid after `now_ms`: missed ticks fire once, not once
/// each. `None` for a job (period 0).
pub fn next_tick(due_ms: u64, period_ms: u64, now_ms: u64) -> Option<u64> {
    if period_ms == 0 {
        return None;
    }
    let next = due_ms.saturating_add(period_ms);
    if next > now_ms {
        return Some(next);
    }
    let missed = (now_ms - next) / period_ms + 1;
    Some(next.saturating_add(missed.saturating_mul(period_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_ticks_fire_once_and_the_period_grid_holds() {
        assert_eq!(next_tick(1000, 100, 1000), Some(1100));
        assert_eq!(next_tick(1000, 100, 1099), Some(1100));
        // Down from 1000 to 1550: one fire now, the next on the grid.
        assert_eq!(next_tick(1000, 100, 1550), Some(1600));
        assert_eq!(next_tick(1000, 100, 1600), Some(1700));
        assert_eq!(next_tick(1000, 0, 5000), None);
        assert_eq!(next_tick(u64::MAX - 1, 100, 0), Some(u64::MAX));
    }
}
