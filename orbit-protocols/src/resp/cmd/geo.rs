//! GEORADIUS, GEORADIUSBYMEMBER and GEOSEARCHSTORE: the geo searches that
//! may write a second key (STORE/STOREDIST, the destination). Run by the
//! front door under the keyspace lock (`keys.rs` dispatches them): the
//! source sorted set is read whole, searched with the keyspace's pure
//! [`geo::search`] (the same code as GEOSEARCH on the key), and the result
//! replaces the destination in one restore.

use super::keys::{colocated, dump_in, restore_in};
use crate::keyspace::geo::{self, Outcome};
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{Data, Dumped, ZSet};
use crate::resp::connection::Conn;
use bytes::Bytes;
use orbit_shared::ActorGateway;

/// Runs `name` (`argv[0]`) with Redis' replies and errors: the source's
/// type first, then the arguments, then the search.
pub(crate) async fn run<G: ActorGateway>(
    conn: &mut Conn<G>,
    name: &str,
    argv: &[Bytes],
) -> Result<Value, Value> {
    let (dest, src, rest) = match (name, argv) {
        ("geosearchstore", [_, dest, src, rest @ ..]) => (Some(dest), src, rest),
        (_, [_, src, rest @ ..]) => (None, src, rest),
        _ => return Err(Value::err(errors::arity(name))),
    };
    // The store key is a key of the command: it must live beside the source.
    if let Some(store) = geo::store_key(argv).filter(|_| dest.is_none()) {
        colocated(conn, &[src.clone(), store.clone()])?;
    }
    let db = conn.db;
    let source = match dump_in(conn, db, src).await? {
        None => None,
        Some(Dumped { data: Data::ZSet(zset), .. }) => Some(zset),
        Some(_) => return Err(Value::err(errors::WRONGTYPE)),
    };
    match geo::search(name, source.as_ref(), rest, dest)? {
        Outcome::Reply(reply) => Ok(reply),
        Outcome::Store { key, pairs } => {
            let stored = pairs.len() as i64;
            let value = (!pairs.is_empty())
                .then(|| Dumped { data: Data::ZSet(ZSet::from_pairs(pairs)), expire_at: None });
            restore_in(conn, db, &key, value.as_ref()).await?;
            Ok(Value::Int(stored))
        }
    }
}
