//! The Redis keyspace as MCP (and SQL's `orbit_redis` view) sees it: the
//! same keys `redis-cli` reads and writes, reached through each key's actor
//! with the commands the Redis front door sends (`resp::keyspace`), so the
//! semantics are Redis' own.

use crate::resp::keyspace::{self, KeyType, Meta, glob};
use crate::resp::{DATABASE_KINDS, Value};
use bytes::Bytes;
use orbit_shared::{ActorGateway, ActorId, Invocation};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

/// A key's contents, as [`get`] returns them.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyValue {
    pub key: String,
    #[schemars(schema_with = "super::tools::database")]
    pub db: u8,
    /// `none` when the key does not exist.
    #[serde(rename = "type")]
    pub key_type: String,
    /// Milliseconds left to live; absent without a TTL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<i64>,
    /// A string's value; a hash as an object; a list or set as an array; a
    /// sorted set as an array of `{member, score}` in score order. Absent for
    /// a missing key. Bytes that are not UTF-8 are escaped as `\xNN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// Elements in the key (characters in bytes for a string).
    pub length: i64,
    /// More elements exist than were returned (see `max_items`).
    pub truncated: bool,
}

/// A key's type and TTL, as [`key_type`] returns them.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyInfo {
    pub key: String,
    #[schemars(schema_with = "super::tools::database")]
    pub db: u8,
    /// `string`, `list`, `set`, `zset`, `hash`, or `none` for a missing key.
    #[serde(rename = "type")]
    pub key_type: String,
    /// Milliseconds left to live; absent without a TTL or key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<i64>,
}

/// One page of [`scan`].
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScanPage {
    pub keys: Vec<ScannedKey>,
    /// Pass back as `cursor` for the next page; absent after the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ScannedKey {
    pub key: String,
    #[serde(rename = "type")]
    pub key_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<i64>,
}

/// Text for bytes: UTF-8 as is, anything else escaped like `redis-cli` does.
pub fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.escape_ascii().to_string(),
    }
}

pub fn database_kind(db: u8) -> Result<&'static str, String> {
    DATABASE_KINDS
        .get(usize::from(db))
        .copied()
        .ok_or_else(|| format!("db {db} does not exist: Redis databases are 0 to 15"))
}

fn command(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

/// Runs command lines on one key in one turn of its actor (atomically) and
/// returns one reply per line; a gateway failure becomes the error text.
async fn call<G: ActorGateway>(
    gateway: &G,
    db: u8,
    key: &[u8],
    commands: &[Vec<Bytes>],
    write: bool,
) -> Result<Vec<Value>, String> {
    let id = ActorId::new(database_kind(db)?, Bytes::copy_from_slice(key));
    let lines: Vec<&[Bytes]> = commands.iter().map(Vec::as_slice).collect();
    let args = keyspace::encode_call(crate::resp::now_ms(), &lines);
    let method = if write { "write" } else { "read" };
    let reply = gateway.invoke(id, Invocation::new(method, args)).await.map_err(|e| e.to_string())?;
    let results = keyspace::decode_reply(&reply.value).ok_or("malformed reply from the key's actor")?;
    if results.len() != commands.len() {
        return Err("malformed reply from the key's actor".into());
    }
    Ok(results.into_iter().map(|(value, _)| value).collect())
}

fn int(value: &Value) -> Result<i64, String> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::Error(e) => Err(e.clone()),
        other => Err(format!("unexpected reply {other:?}")),
    }
}

fn ttl(value: &Value) -> Result<Option<i64>, String> {
    int(value).map(|ms| (ms >= 0).then_some(ms))
}

fn simple(value: &Value) -> Result<String, String> {
    match value {
        Value::Simple(s) => Ok(s.clone()),
        Value::Error(e) => Err(e.clone()),
        other => Err(format!("unexpected reply {other:?}")),
    }
}

fn bulk(value: &Value) -> Option<&Bytes> {
    match value {
        Value::Bulk(b) => Some(b),
        _ => None,
    }
}

fn items(value: Value) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(v) | Value::Set(v) => Ok(v),
        Value::Map(pairs) | Value::Pairs(pairs) => Ok(pairs.into_iter().flat_map(|(a, b)| [a, b]).collect()),
        Value::Error(e) => Err(e),
        other => Err(format!("unexpected reply {other:?}")),
    }
}

fn bulk_text(value: &Value) -> String {
    match value {
        Value::Bulk(b) => text(b),
        Value::Double(d) => keyspace::format_f64(*d),
        Value::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// The type and TTL of `key`.
pub async fn key_type<G: ActorGateway>(gateway: &G, db: u8, key: &str) -> Result<KeyInfo, String> {
    let k = key.as_bytes();
    let replies = call(gateway, db, k, &[command(&[b"type", k]), command(&[b"pttl", k])], false).await?;
    Ok(KeyInfo { key: key.into(), db, key_type: simple(&replies[0])?, ttl_ms: ttl(&replies[1])? })
}

/// Everything in `key`, at most `max_items` elements of a collection.
pub async fn get<G: ActorGateway>(
    gateway: &G,
    db: u8,
    key: &[u8],
    max_items: usize,
) -> Result<KeyValue, String> {
    let k = key;
    let last = max_items.saturating_sub(1).to_string();
    let last = last.as_bytes();
    // One turn: the type and the reads of every type, so they agree.
    let commands = [
        command(&[b"type", k]),
        command(&[b"pttl", k]),
        command(&[b"get", k]),
        command(&[b"strlen", k]),
        command(&[b"hgetall", k]),
        command(&[b"hlen", k]),
        command(&[b"lrange", k, b"0", last]),
        command(&[b"llen", k]),
        command(&[b"smembers", k]),
        command(&[b"scard", k]),
        command(&[b"zrange", k, b"0", last, b"withscores"]),
        command(&[b"zcard", k]),
    ];
    let mut replies = call(gateway, db, k, &commands, false).await?.into_iter();
    let mut next = || replies.next().unwrap_or(Value::Nil);
    let key_type = simple(&next())?;
    let ttl_ms = ttl(&next())?;
    let (string, strlen, hash, hlen, list, llen, set, scard, zset, zcard) =
        (next(), next(), next(), next(), next(), next(), next(), next(), next(), next());
    let (value, length) = match key_type.as_str() {
        "none" => (None, 0),
        "string" => (bulk(&string).map(|b| json!(text(b))), int(&strlen)?),
        "hash" => {
            let fields = items(hash)?;
            let mut map = serde_json::Map::new();
            for pair in fields.chunks(2).take(max_items) {
                map.insert(bulk_text(&pair[0]), json!(pair.get(1).map(bulk_text)));
            }
            (Some(serde_json::Value::Object(map)), int(&hlen)?)
        }
        "list" => (Some(json!(items(list)?.iter().map(bulk_text).collect::<Vec<_>>())), int(&llen)?),
        "set" => {
            let mut members: Vec<String> = items(set)?.iter().map(bulk_text).collect();
            members.sort();
            members.truncate(max_items);
            (Some(json!(members)), int(&scard)?)
        }
        "zset" => {
            // WITHSCORES: [member, score] pairs, or one flat array.
            let mut flat = Vec::new();
            for item in items(zset)? {
                match item {
                    Value::Array(pair) => flat.extend(pair),
                    other => flat.push(other),
                }
            }
            let pairs = flat.chunks(2).map(|p| {
                let score = bulk_text(p.get(1).unwrap_or(&Value::Nil));
                let score = score.parse::<f64>().map_or(json!(score), |s| json!(s));
                json!({ "member": bulk_text(&p[0]), "score": score })
            });
            (Some(json!(pairs.collect::<Vec<_>>())), int(&zcard)?)
        }
        other => return Err(format!("key type {other} cannot be shown")),
    };
    let returned = match &value {
        Some(serde_json::Value::Array(a)) => a.len() as i64,
        Some(serde_json::Value::Object(o)) => o.len() as i64,
        _ => length,
    };
    Ok(KeyValue { key: text(key), db, key_type, ttl_ms, value, length, truncated: returned < length })
}

/// `SET key value [PX ttl_ms]`.
pub async fn set<G: ActorGateway>(
    gateway: &G,
    db: u8,
    key: &str,
    value: &str,
    ttl_ms: Option<u64>,
) -> Result<(), String> {
    let k = key.as_bytes();
    let mut line = command(&[b"set", k, value.as_bytes()]);
    if let Some(ms) = ttl_ms {
        if ms == 0 {
            return Err("ttl_ms must be at least 1 (omit it for a key without a TTL)".into());
        }
        line.push(Bytes::from_static(b"px"));
        line.push(Bytes::from(ms.to_string()));
    }
    let replies = call(gateway, db, k, &[line], true).await?;
    simple(&replies[0]).map(|_| ())
}

/// Deletes `keys`; returns how many existed.
pub async fn delete<G: ActorGateway>(gateway: &G, db: u8, keys: &[String]) -> Result<i64, String> {
    let mut deleted = 0;
    for key in keys {
        let k = key.as_bytes();
        let replies = call(gateway, db, k, &[command(&[b"del", k])], true).await?;
        deleted += int(&replies[0])?;
    }
    Ok(deleted)
}

/// Live keys matching the glob `pattern`, reading at most `count` stored
/// keys per call (as Redis' `SCAN ... MATCH ... COUNT`, a page may hold
/// fewer matches than `count`, even none, with a cursor to go on).
pub async fn scan<G: ActorGateway>(
    gateway: &G,
    db: u8,
    pattern: &str,
    cursor: Option<&str>,
    count: usize,
) -> Result<ScanPage, String> {
    let cursor = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(Bytes::from(
            hex::decode(c).map_err(|_| format!("bad cursor '{c}': pass back a cursor this tool returned"))?,
        )),
    };
    let page = gateway.list_actors(database_kind(db)?, cursor, count).await.map_err(|e| e.to_string())?;
    let now = crate::resp::now_ms();
    let keys = page
        .actors
        .iter()
        .filter(|a| glob::matches(pattern.as_bytes(), &a.key))
        .filter_map(|a| {
            let meta: Meta = serde_json::from_slice(&a.state).ok()?;
            if !meta.is_live(now) {
                return None;
            }
            Some(ScannedKey {
                key: text(&a.key),
                key_type: meta.key_type.map_or("none", KeyType::name).to_string(),
                ttl_ms: meta.expire_at.map(|at| at.saturating_sub(now) as i64),
            })
        })
        .collect();
    Ok(ScanPage { keys, cursor: page.cursor.map(hex::encode) })
}
