//! Built-in actor kinds, registered by the stock binary: `counter`,
//! `redis` (one Redis key; its semantics live in `orbit_protocols::resp`)
//! and `row:*` (one SQL table row; `orbit_protocols::postgres`).

pub mod counter;
pub mod redis;
pub mod row;
