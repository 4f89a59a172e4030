//! `counter`: a persistent 64-bit counter, the built-in kind that shows the
//! request path end to end.
//!
//! | method | args | reply |
//! |---|---|---|
//! | `increment` | `{"by": n}` (default 1; may be negative) | the new value |
//! | `get` | `{}` | the value |
//! | `reset` | `{}` | the value before the reset |

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

impl Accepts<Increment> for Counter {}
impl Accepts<Get> for Counter {}
impl Accepts<Reset> for Counter {}
