//! Commands over a whole database, read from storage through
//! `ActorGateway::list_actors` (no key is activated to be listed).
//!
//! A SCAN cursor is a number standing for a listing position kept here (the
//! gateway's cursor is opaque bytes). The most recent [`MAX_CURSORS`]
//! positions are kept; an older cursor gets `ERR invalid cursor`.

use crate::keyspace::now_ms;
use crate::keyspace::random::Rng;
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{KeyType, Meta, glob, parse_i64};
use crate::resp::connection::Conn;
use crate::resp::server::{Server, lock};
use bytes::Bytes;
use orbit_shared::{ActorGateway, StoredActor};
use std::collections::{BTreeMap, VecDeque};

pub const MAX_CURSORS: usize = 65_536;
const PAGE: usize = 1000;

/// Listing positions behind SCAN cursors.
#[derive(Default)]
pub struct Cursors {
    next: u64,
    positions: BTreeMap<u64, (usize, Bytes)>,
    order: VecDeque<u64>,
}

impl Cursors {
    fn save(&mut self, db: usize, position: Bytes) -> u64 {
        self.next = self.next.wrapping_add(0x9E37_79B9_7F4A_7C15) | 1;
        let id = self.next;
        self.positions.insert(id, (db, position));
        self.order.push_back(id);
        if self.order.len() > MAX_CURSORS
            && let Some(old) = self.order.pop_front()
        {
            self.positions.remove(&old);
        }
        id
    }

    fn get(&self, id: u64, db: usize) -> Option<Bytes> {
        self.positions.get(&id).filter(|(d, _)| *d == db).map(|(_, p)| p.clone())
    }
}

pub(crate) fn meta_of(actor: &StoredActor) -> Option<Meta> {
    serde_json::from_slice(&actor.state).ok()
}

/// Every live key of database `db` (with its type), page by page.
pub(crate) async fn all_keys<G: ActorGateway>(
    server: &Server<G>,
    db: usize,
) -> Result<Vec<(Bytes, KeyType)>, Value> {
    let now = now_ms();
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = server
            .gateway
            .list_actors(server.runtime.databases.kind(db), cursor, PAGE)
            .await
            .map_err(|e| crate::resp::server::error_reply(&e))?;
        for actor in &page.actors {
            if let Some(meta) = meta_of(actor).filter(|m| m.is_live(now))
                && let Some(t) = meta.key_type
            {
                keys.push((actor.key.clone(), t));
            }
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(keys),
        }
    }
}

pub(crate) async fn run<G: ActorGateway>(
    conn: &mut Conn<G>,
    name: &str,
    argv: &[Bytes],
    locked: bool,
) -> Value {
    let result = match name {
        "dbsize" => dbsize(&conn.server, conn.db).await.map(|n| Value::Int(n as i64)),
        "keys" => keys(conn, &argv[1]).await,
        "scan" => scan(conn, &argv[1..]).await,
        "randomkey" => randomkey(conn).await,
        "swapdb" => super::dump::swapdb(conn, &argv[1], &argv[2], locked).await,
        _ => flush(conn, name, &argv[1..], locked).await,
    };
    result.unwrap_or_else(|e| e)
}

/// The keys of database `db`, counted as Redis counts them: every stored
/// key, including one whose TTL ran out and that no read or sweep has
/// deleted yet. No key is read.
pub(crate) async fn dbsize<G: ActorGateway>(server: &Server<G>, db: usize) -> Result<u64, Value> {
    server
        .gateway
        .count_actors(server.runtime.databases.kind(db))
        .await
        .map_err(|e| crate::resp::server::error_reply(&e))
}

async fn keys<G: ActorGateway>(conn: &Conn<G>, pattern: &[u8]) -> Result<Value, Value> {
    let keys = all_keys(&conn.server, conn.db).await?;
    Ok(Value::Array(
        keys.into_iter().filter(|(k, _)| glob::matches(pattern, k)).map(|(k, _)| Value::Bulk(k)).collect(),
    ))
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]
async fn scan<G: ActorGateway>(conn: &Conn<G>, args: &[Bytes]) -> Result<Value, Value> {
    let cursor: u64 = std::str::from_utf8(&args[0])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Value::err("ERR invalid cursor"))?;
    let (mut pattern, mut count, mut only) = (None, 10i64, None);
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).ok_or_else(|| Value::err(errors::SYNTAX))?;
        match super::lower(&args[i]).as_slice() {
            b"match" => pattern = Some(value.clone()),
            b"count" => {
                count = parse_i64(value)?;
                if count < 1 {
                    return Err(Value::err(errors::SYNTAX));
                }
            }
            b"type" => only = Some(KeyType::parse(value)),
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 2;
    }
    let position = match cursor {
        0 => None,
        c => {
            Some(lock(&conn.server.cursors).get(c, conn.db).ok_or_else(|| Value::err("ERR invalid cursor"))?)
        }
    };
    let limit = usize::try_from(count).unwrap_or(usize::MAX).min(orbit_shared::gateway::MAX_LIST_LIMIT);
    let page = conn
        .server
        .gateway
        .list_actors(conn.server.runtime.databases.kind(conn.db), position, limit)
        .await
        .map_err(|e| crate::resp::server::error_reply(&e))?;
    let now = now_ms();
    let keys: Vec<Value> = page
        .actors
        .iter()
        .filter_map(|a| Some((a, meta_of(a).filter(|m| m.is_live(now))?.key_type?)))
        .filter(|(_, t)| only.is_none_or(|o| o == Some(*t)))
        .filter(|(a, _)| pattern.as_ref().is_none_or(|p| glob::matches(p, &a.key)))
        .map(|(a, _)| Value::Bulk(a.key.clone()))
        .collect();
    let next = match page.cursor {
        None => 0,
        Some(position) => lock(&conn.server.cursors).save(conn.db, position),
    };
    Ok(Value::Array(vec![Value::Bulk(Bytes::from(next.to_string())), Value::Array(keys)]))
}

/// Tries for a live key before RANDOMKEY lists the database.
const RANDOM_TRIES: usize = 32;

/// RANDOMKEY: a stored key picked uniformly from the counts, read without
/// listing the database; an expired pick is drawn again. After
/// [`RANDOM_TRIES`] expired picks, one of the live keys of a listing.
async fn randomkey<G: ActorGateway>(conn: &Conn<G>) -> Result<Value, Value> {
    let (server, kind) = (&conn.server, conn.server.runtime.databases.kind(conn.db));
    let total = dbsize(server, conn.db).await?;
    let now = now_ms();
    let mut rng = Rng::new(now, total as usize);
    for _ in 0..RANDOM_TRIES.min(total as usize) {
        let n = rng.below(total as usize) as u64;
        let picked =
            server.gateway.nth_actor(kind, n).await.map_err(|e| crate::resp::server::error_reply(&e))?;
        if let Some(actor) = picked.filter(|a| meta_of(a).is_some_and(|m| m.is_live(now))) {
            return Ok(Value::Bulk(actor.key));
        }
    }
    let keys = all_keys(server, conn.db).await?;
    Ok(match keys.len() {
        0 => Value::Nil,
        len => Value::Bulk(keys[rng.below(len)].0.clone()),
    })
}

/// FLUSHDB / FLUSHALL [ASYNC|SYNC]: deletes key by key through the actors.
/// A WATCH of a key that was deleted fails its transaction; a WATCH of a
/// key that did not exist does not, as in Redis.
async fn flush<G: ActorGateway>(
    conn: &mut Conn<G>,
    name: &str,
    args: &[Bytes],
    locked: bool,
) -> Result<Value, Value> {
    match args {
        [] => {}
        [mode] if matches!(super::lower(mode).as_slice(), b"async" | b"sync") => {}
        _ => return Err(Value::err(errors::SYNTAX)),
    }
    let server = conn.server.clone();
    let _guard = server.exclusive(locked).await;
    let dbs = if name == "flushall" { 0..16 } else { conn.db..conn.db + 1 };
    for db in dbs {
        for (key, _) in all_keys(&server, db).await? {
            let v = server.key_command(db, "del", &key, &[]).await;
            if v.is_error() {
                return Err(v);
            }
            server.watches.touch(db, &key);
        }
    }
    Ok(Value::ok())
}
