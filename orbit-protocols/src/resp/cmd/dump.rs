//! DUMP and RESTORE in Redis' own serialization (`keyspace::rdb`), so values
//! move between Orbit and redis-server both ways; MOVE between databases
//! (under the keyspace lock `keys::run` takes, so RESTORE's existence check
//! and its write are one step); SWAPDB, a write of the node's database table
//! (`keyspace::databases`; `scan::run` dispatches it).

use super::keys::{dump_in, restore_in};
use crate::keyspace::rdb::{self, RdbError};
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{Dumped, now_ms, parse_i64};
use crate::resp::connection::Conn;
use bytes::Bytes;
use orbit_shared::ActorGateway;

type Result<T> = std::result::Result<T, Value>;

pub(crate) async fn run<G: ActorGateway>(conn: &mut Conn<G>, name: &str, args: &[Bytes]) -> Result<Value> {
    match name {
        "dump" => dump(conn, &args[0]).await,
        "restore" => restore(conn, args).await,
        _ => move_key(conn, &args[0], &args[1]).await,
    }
}

/// DUMP key: the payload, or nil for a missing key. The TTL is not part of
/// it, as in Redis.
async fn dump<G: ActorGateway>(conn: &Conn<G>, key: &Bytes) -> Result<Value> {
    Ok(match dump_in(conn, conn.db, key).await? {
        None => Value::Nil,
        Some(dumped) => match rdb::dump(&dumped.data) {
            Ok(payload) => Value::Bulk(payload),
            Err(RdbError::Unsupported(what)) => {
                return Err(Value::err(format!("ERR DUMP of a {what} value is not supported")));
            }
            Err(error) => return Err(payload_error(error)),
        },
    })
}

/// RESTORE's options; IDLETIME and FREQ are checked and then ignored (Orbit
/// keeps no LRU or LFU data).
#[derive(Debug, Default, PartialEq)]
struct RestoreOptions {
    replace: bool,
    absttl: bool,
}

/// Parses `[REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]` (IDLETIME and FREQ
/// exclude each other) with Redis' errors, left to right.
fn restore_options(args: &[Bytes]) -> Result<RestoreOptions> {
    let mut options = RestoreOptions::default();
    let (mut idle, mut freq) = (false, false);
    let mut i = 0;
    while i < args.len() {
        let more = i + 1 < args.len();
        match super::lower(&args[i]).as_slice() {
            b"replace" => options.replace = true,
            b"absttl" => options.absttl = true,
            b"idletime" if more && !freq => {
                if parse_i64(&args[i + 1])? < 0 {
                    return Err(Value::err("ERR Invalid IDLETIME value, must be >= 0"));
                }
                idle = true;
                i += 1;
            }
            b"freq" if more && !idle => {
                if !(0..=255).contains(&parse_i64(&args[i + 1])?) {
                    return Err(Value::err("ERR Invalid FREQ value, must be >= 0 and <= 255"));
                }
                freq = true;
                i += 1;
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 1;
    }
    Ok(options)
}

/// Redis' reply to a payload that cannot be restored.
fn payload_error(error: RdbError) -> Value {
    match error {
        RdbError::Checksum => Value::err("ERR DUMP payload version or checksum are wrong"),
        RdbError::BadFormat => Value::err("ERR Bad data format"),
        RdbError::Unsupported(what) => Value::err(format!("ERR RESTORE of a {what} value is not supported")),
    }
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f], checked
/// in Redis' order: options, existence, TTL, payload.
async fn restore<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Result<Value> {
    let (key, ttl, payload) = (&args[0], &args[1], &args[2]);
    let options = restore_options(&args[3..])?;
    let db = conn.db;
    if !options.replace && conn.server.key_command(db, "exists", key, &[]).await == Value::Int(1) {
        return Err(Value::err("BUSYKEY Target key name already exists."));
    }
    let ttl = parse_i64(ttl)?;
    if ttl < 0 {
        return Err(Value::err("ERR Invalid TTL value, must be >= 0"));
    }
    let data = rdb::restore(payload).map_err(payload_error)?;
    let now = now_ms();
    let expire_at = match ttl as u64 {
        0 => None,
        at if options.absttl => Some(at),
        ttl => Some(now.saturating_add(ttl)),
    };
    if expire_at.is_some_and(|at| at <= now) {
        // Already expired: the key is only deleted (by REPLACE).
        if options.replace {
            restore_in(conn, db, key, None).await?;
        }
        return Ok(Value::ok());
    }
    restore_in(conn, db, key, Some(&Dumped { data, expire_at })).await?;
    Ok(Value::ok())
}

/// A database index as MOVE and SWAPDB take it: an integer in C `int`'s
/// range (`range` the error otherwise), then one of the 16 databases.
fn database(arg: &[u8], range: &str) -> Result<usize> {
    let index =
        i32::try_from(parse_i64(arg).map_err(|_| Value::err(range))?).map_err(|_| Value::err(range))?;
    usize::try_from(index)
        .ok()
        .filter(|&db| db < 16)
        .ok_or_else(|| Value::err("ERR DB index is out of range"))
}

/// MOVE key db: 1 when moved with its TTL, 0 when the key is missing or
/// the destination holds the key already.
async fn move_key<G: ActorGateway>(conn: &mut Conn<G>, key: &Bytes, db: &[u8]) -> Result<Value> {
    parse_i64(db)?;
    let target = database(db, "ERR value is out of range, value must between -2147483648 and 2147483647")?;
    let source = conn.db;
    if target == source {
        return Err(Value::err("ERR source and destination objects are the same"));
    }
    let Some(value) = dump_in(conn, source, key).await? else { return Ok(Value::Int(0)) };
    if conn.server.key_command(target, "exists", key, &[]).await == Value::Int(1) {
        return Ok(Value::Int(0));
    }
    restore_in(conn, target, key, Some(&value)).await?;
    // Clients blocked on the key in the other database are served too.
    if conn.server.blocking.has_waiters(target, key) {
        conn.written.push((target, key.clone()));
    }
    restore_in(conn, source, key, None).await?;
    Ok(Value::Int(1))
}

/// SWAPDB index1 index2: the two databases exchange their keys by one
/// durable write of the node's database table (`keyspace::databases`),
/// made under the keyspace lock held exclusively, so no command sees half
/// a swap. Then, as in Redis, transactions watching a key that exists in
/// either database fail and clients blocked on a key of either are asked
/// again; tracking clients are told to drop their whole cache.
pub(crate) async fn swapdb<G: ActorGateway>(
    conn: &mut Conn<G>,
    first: &[u8],
    second: &[u8],
    locked: bool,
) -> Result<Value> {
    let a = database(first, "ERR invalid first DB index")?;
    let b = database(second, "ERR invalid second DB index")?;
    let server = conn.server.clone();
    let dbs = &server.runtime.databases;
    if !dbs.swappable() {
        return Err(Value::err("ERR SWAPDB is not allowed in cluster mode"));
    }
    if a == b {
        return Ok(Value::ok());
    }
    let _guard = server.exclusive(locked).await;
    let table = dbs.swapped(a, b);
    let argv = [
        Bytes::from_static(b"set"),
        Bytes::from_static(crate::keyspace::databases::RECORD),
        Bytes::copy_from_slice(&table),
    ];
    let (reply, token) = server.call_kind(crate::keyspace::SCRIPTS_KIND, &argv, true).await;
    if reply.is_error() {
        return Err(reply);
    }
    conn.unsynced = conn.unsynced.and(token);
    dbs.set(table);
    server.expiry.swap(a, b);
    for db in [a, b] {
        for key in server.watches.keys_in(db) {
            let mut exists = false;
            for either in [a, b] {
                exists = exists || server.key_command(either, "exists", &key, &[]).await == Value::Int(1);
            }
            if exists {
                server.watches.touch(db, &key);
            }
        }
        conn.written.extend(server.blocking.keys_in(db).into_iter().map(|key| (db, key)));
    }
    if server.tracking.active() {
        super::tracking::flushed(&server);
    }
    Ok(Value::ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Bytes> {
        line.split_whitespace().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn restore_options_are_checked_like_redis() {
        let parsed = |line: &str| restore_options(&words(line));
        assert_eq!(parsed(""), Ok(RestoreOptions::default()));
        assert_eq!(parsed("REPLACE absttl"), Ok(RestoreOptions { replace: true, absttl: true }));
        assert_eq!(parsed("idletime 10 replace"), Ok(RestoreOptions { replace: true, absttl: false }));
        assert_eq!(parsed("freq 255"), Ok(RestoreOptions::default()));
        let syntax = Err(Value::err(errors::SYNTAX));
        for bad in ["foo", "idletime", "freq", "idletime 1 freq 1", "freq 1 idletime 1"] {
            assert_eq!(parsed(bad), syntax, "{bad}");
        }
        assert_eq!(parsed("idletime -1"), Err(Value::err("ERR Invalid IDLETIME value, must be >= 0")));
        assert_eq!(parsed("freq 256"), Err(Value::err("ERR Invalid FREQ value, must be >= 0 and <= 255")));
        assert_eq!(parsed("freq x"), Err(Value::err(errors::NOT_INTEGER)));
    }

    #[test]
    fn database_indexes_are_checked_like_redis() {
        assert_eq!(database(b"15", "range"), Ok(15));
        assert_eq!(database(b"16", "range"), Err(Value::err("ERR DB index is out of range")));
        assert_eq!(database(b"-1", "range"), Err(Value::err("ERR DB index is out of range")));
        assert_eq!(database(b"4294967296", "range"), Err(Value::err("range")));
        assert_eq!(
            database(b"x", "ERR invalid first DB index"),
            Err(Value::err("ERR invalid first DB index"))
        );
    }
}
