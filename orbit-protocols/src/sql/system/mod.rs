//! What clients read about the database and the node: PostgreSQL's system
//! catalogs and Orbit's actor views.
//!
//! | file | concept |
//! |---|---|
//! | `pg_catalog/` | `pg_catalog` and `information_schema`, and PostgreSQL's catalog functions |
//! | `views.rs` | actor views (`orbit_actors`, `orbit_partitions`, `orbit_nodes`, `orbit_redis`, `orbit_reminders`, `orbit_activations`) and `orbit_call` |

pub(crate) mod pg_catalog;
pub(crate) mod views;
