//! Commands the front door runs itself (route `Door` in the table).

pub mod admin;
pub mod blocking;
pub mod expiry;
pub mod keys;
pub mod pubsub;
pub mod scan;
pub mod tx;

use super::connection::{Conn, Outcome};
use super::table::Spec;
use bytes::Bytes;
use orbit_shared::ActorGateway;

pub(crate) async fn dispatch<G: ActorGateway>(
    conn: &mut Conn<G>,
    spec: &'static Spec,
    argv: Vec<Bytes>,
    locked: bool,
) -> Outcome {
    let name = spec.name;
    match name {
        "mget" | "mset" | "msetnx" | "del" | "unlink" | "exists" | "touch" | "rename" | "renamenx"
        | "copy" | "smove" | "lmove" | "rpoplpush" | "lmpop" | "sinter" | "sunion" | "sdiff"
        | "sinterstore" | "sunionstore" | "sdiffstore" | "sintercard" | "zunionstore" | "zinterstore"
        | "zdiffstore" | "zunion" | "zinter" | "zdiff" | "zrangestore" => {
            keys::run(conn, name, &argv, locked).await.into()
        }
        "scan" | "keys" | "randomkey" | "dbsize" | "flushdb" | "flushall" => {
            scan::run(conn, name, &argv, locked).await.into()
        }
        "blpop" | "brpop" | "blmove" | "brpoplpush" | "blmpop" | "bzpopmin" | "bzpopmax" => {
            blocking::run(conn, name, &argv, locked).await
        }
        "subscribe" | "unsubscribe" | "psubscribe" | "punsubscribe" | "publish" | "pubsub" => {
            pubsub::run(conn, name, &argv)
        }
        "multi" | "exec" | "discard" | "watch" | "unwatch" => tx::run(conn, name, &argv).await,
        _ => admin::run(conn, name, &argv).await,
    }
}

/// Lower-cased argument, for option matching.
pub(crate) fn lower(arg: &[u8]) -> Vec<u8> {
    arg.to_ascii_lowercase()
}
