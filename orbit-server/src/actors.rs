//! Built-in actor kinds, registered by the stock binary.

pub mod counter;
