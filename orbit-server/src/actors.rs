//! Built-in actor kinds, registered by the stock binary: `counter`,
//! `redis` (one Redis key; its semantics live in `orbit_protocols::resp`)
//! `row:*` (one SQL table row) and `idx:*` (one key of a SQL secondary index;
//! both `orbit_protocols::postgres`); and `orbit:reminders` (the durable
//! reminders of the actors of one key), which every node hosts.

pub mod counter;
pub mod index;
pub mod redis;
pub mod reminders;
pub mod row;
