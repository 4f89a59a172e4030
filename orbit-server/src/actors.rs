//! Built-in actor kinds, registered by the stock binary: `counter`, and
//! `redis` (one Redis key; its semantics live in `orbit_protocols::resp`).

pub mod counter;
pub mod redis;
