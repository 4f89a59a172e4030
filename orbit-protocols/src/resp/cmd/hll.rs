//! HyperLogLog commands the front door runs (called from `keys.rs` under
//! the exclusive keyspace lock): PFCOUNT (one key: its actor computes and
//! caches; several keys: the union's estimate from the sketches' bytes,
//! nothing written), PFMERGE (the registers merged here, written by the
//! destination's actor so its TTL and encoding follow Redis), and PFDEBUG.

use crate::keyspace::hll::sketch;
use crate::keyspace::value::Value;
use crate::resp::connection::Conn;
use bytes::Bytes;
use orbit_shared::ActorGateway;

type Result<T> = std::result::Result<T, Value>;

/// PFCOUNT key [key...]
pub(crate) async fn pfcount<G: ActorGateway>(conn: &mut Conn<G>, keys: &[Bytes]) -> Result<Value> {
    if let [key] = keys {
        // A write: a stale cached cardinality is stored back, as in Redis.
        let argv = [Bytes::from_static(b"pfcount"), key.clone()];
        return key_write(conn, &argv).await;
    }
    let (max, _) = merged(conn, keys).await?;
    Ok(Value::Int(sketch::count_registers(&max) as i64))
}

/// PFMERGE destkey [sourcekey...]: the destination is an input too.
pub(crate) async fn pfmerge<G: ActorGateway>(conn: &mut Conn<G>, keys: &[Bytes]) -> Result<Value> {
    let Some(dest) = keys.first() else { return Err(Value::err("ERR wrong number of arguments")) };
    let (max, dense) = merged(conn, keys).await?;
    let encoding: &'static [u8] = if dense { b"dense" } else { b"sparse" };
    let argv =
        [Bytes::from_static(b"orbit.pfmerge"), dest.clone(), Bytes::from(max), Bytes::from_static(encoding)];
    key_write(conn, &argv).await
}

/// PFDEBUG subcommand key
pub(crate) async fn pfdebug<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Result<Value> {
    let [sub, key, extra @ ..] = args else { return Err(Value::err("ERR wrong number of arguments")) };
    let mut argv = vec![Bytes::from_static(b"orbit.pfdebug"), key.clone(), sub.clone()];
    argv.extend_from_slice(extra);
    key_write(conn, &argv).await
}

/// Runs `argv` on its key's actor as a write, recording the change for
/// WATCH and blocked clients when the key changed.
async fn key_write<G: ActorGateway>(conn: &mut Conn<G>, argv: &[Bytes]) -> Result<Value> {
    let (reply, token, changed) = conn.server.call_key_visible(conn.db, argv, true).await;
    conn.unsynced = conn.unsynced.and(token);
    if changed {
        conn.wrote(&argv[1]);
    }
    if reply.is_error() { Err(reply) } else { Ok(reply) }
}

/// The register-wise maximum of the sketches at `keys` (missing keys count
/// as empty), and whether one of them is dense; Redis' errors for a key
/// that is not a sketch (checked key by key, in order) or a corrupt one.
async fn merged<G: ActorGateway>(conn: &Conn<G>, keys: &[Bytes]) -> Result<(Vec<u8>, bool)> {
    let mut max = vec![0u8; sketch::REGISTERS];
    let mut dense = false;
    for key in keys {
        let hll = match conn.server.key_command(conn.db, "get", key, &[]).await {
            Value::Nil => continue,
            Value::Bulk(hll) => hll,
            Value::Error(e) => return Err(Value::Error(e)),
            _ => return Err(Value::err("ERR internal error: unexpected GET reply")),
        };
        if !sketch::is_valid(&hll) {
            return Err(Value::err(sketch::NOT_HLL));
        }
        dense |= sketch::is_dense(&hll);
        sketch::merge_into(&mut max, &hll).map_err(|_| Value::err(sketch::CORRUPTED))?;
    }
    Ok((max, dense))
}
