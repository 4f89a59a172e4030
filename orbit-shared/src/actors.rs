//! Interfaces of the actor kinds every stock node registers.

pub mod counter;
pub mod reminders;
