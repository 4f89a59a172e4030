//! `counter`: a persistent 64-bit counter, the built-in kind that shows the
//! request path end to end.
//!
//! | method | args | reply |
//! |---|---|---|
//! | `increment` | `{"by": n}` (default 1; may be negative) | the new value |
//! | `get` | `{}` | the value |
//! | `reset` | `{}` | the value before the reset |
//! | `next` | `{"increment": i, "min": a, "max": b, "start": s, "cycle": c}` | the next value of a sequence with those bounds (`null` once past a bound without `cycle`) |
//! | `set` | `{"value": v, "called": c}` | `v` (a sequence's `setval`) |
//! | `read` | `{}` | `{"value": v, "called": c}` (`v` is `null` before anything was drawn or set) |
//!
//! `next`, `set` and `read` make a counter a SQL sequence: beside its
//! value it knows whether that value was handed out (`is_called`).

use crate::{Accepts, ActorInterface, Message};
use serde::{Deserialize, Serialize};

/// The `counter` interface.
#[derive(Debug)]
pub struct Counter;

impl ActorInterface for Counter {
    const KIND: &'static str = "counter";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Increment {
    #[serde(default = "one")]
    pub by: i64,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Get {}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reset {}

impl Message for Increment {
    const METHOD: &'static str = "increment";
    const READ_ONLY: bool = false;
    type Reply = i64;
}

impl Message for Get {
    const METHOD: &'static str = "get";
    const READ_ONLY: bool = true;
    type Reply = i64;
}

impl Message for Reset {
    const METHOD: &'static str = "reset";
    const READ_ONLY: bool = false;
    type Reply = i64;
}

/// A sequence's next value: `start` first (or the value `set` left
/// uncalled), then the last value plus `increment`; past `max` (or below
/// `min`) it wraps to the other bound with `cycle`, else there is none.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Next {
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub start: i64,
    #[serde(default)]
    pub cycle: bool,
}

/// Sets the value, and whether it was handed out (so the next `next` gives
/// the value after it, or this one).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Set {
    pub value: i64,
    pub called: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Read {}

/// A counter as a sequence reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterState {
    /// The last value drawn or set; `None` when there is none yet.
    pub value: Option<i64>,
    /// Whether `value` was handed out.
    pub called: bool,
}

impl Message for Next {
    const METHOD: &'static str = "next";
    const READ_ONLY: bool = false;
    type Reply = Option<i64>;
}

impl Message for Set {
    const METHOD: &'static str = "set";
    const READ_ONLY: bool = false;
    type Reply = i64;
}

impl Message for Read {
    const METHOD: &'static str = "read";
    const READ_ONLY: bool = true;
    type Reply = CounterState;
}

impl Accepts<Increment> for Counter {}
impl Accepts<Next> for Counter {}
impl Accepts<Set> for Counter {}
impl Accepts<Read> for Counter {}
impl Accepts<Get> for Counter {}
impl Accepts<Reset> for Counter {}
