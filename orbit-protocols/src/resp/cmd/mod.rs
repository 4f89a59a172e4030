//! Commands the front door runs itself (route `Door` in the table).

pub mod acl;
pub mod admin;
pub mod bitop;
pub mod blocking;
pub mod command;
pub mod config;
pub mod dump;
pub mod expiry;
pub mod geo;
pub mod hll;
pub mod info;
pub mod introspect;
pub mod keys;
pub mod lcs;
pub mod monitor;
pub mod notify;
pub mod object;
pub mod pubsub;
pub mod reminders;
pub mod scan;
pub mod sort;
pub mod streams;
pub mod tracking;
pub mod tx;

use super::connection::{Conn, Outcome};
use super::table::{Route, Spec};
use bytes::Bytes;
use orbit_shared::ActorGateway;

pub(crate) async fn dispatch<G: ActorGateway>(
    conn: &mut Conn<G>,
    spec: &'static Spec,
    argv: Vec<Bytes>,
    locked: bool,
) -> Outcome {
    let name = spec.name;
    if matches!(spec.route, Route::Keys | Route::Keyspace | Route::Blocking | Route::PubSub) {
        let keys = spec.keys(&argv);
        if keys.len() > 1 && !conn.server.gateway.colocated(&keys) {
            return crate::keyspace::Value::err(super::server::CROSSSLOT).into();
        }
    }
    match spec.route {
        Route::Keys => keys::run(conn, spec, &argv, locked).await.into(),
        Route::Keyspace => scan::run(conn, name, &argv, locked).await.into(),
        Route::Blocking => blocking::run(conn, name, &argv, locked).await,
        Route::PubSub => pubsub::run(conn, name, &argv, locked),
        Route::Tx => tx::run(conn, name, &argv).await,
        Route::Streams => streams::run(conn, name, &argv, locked).await,
        Route::Script => super::script::eval::run(conn, name, &argv, locked).await.into(),
        Route::Server | Route::Key => admin::run(conn, name, &argv).await,
    }
}

/// Lower-cased argument, for option matching.
pub(crate) fn lower(arg: &[u8]) -> Vec<u8> {
    arg.to_ascii_lowercase()
}

/// Redis 7's reply to a subcommand it cannot run: the arity error of
/// `command|sub` for a known subcommand, otherwise "unknown subcommand".
pub(crate) fn subcommand_error(command: &str, sub: &[u8], known: &[&str]) -> crate::keyspace::Value {
    let lower = String::from_utf8_lossy(sub).to_ascii_lowercase();
    if known.contains(&lower.as_str()) {
        return crate::keyspace::Value::err(format!(
            "ERR wrong number of arguments for '{command}|{lower}' command"
        ));
    }
    crate::keyspace::Value::err(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub),
        command.to_ascii_uppercase()
    ))
}
