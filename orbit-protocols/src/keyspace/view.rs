//! The Redis keyspace as MCP and SQL's `orbit_redis` view see it: the
//! same keys `redis-cli` reads and writes, reached through each key's actor
//! with the commands the Redis front door sends (`keyspace`), so the
//! semantics are Redis' own. Failures are [`ViewError`]s: a gateway's
//! keeps its [`ErrorKind`], so each front door reports it in its own terms.

use crate::keyspace::Value;
use crate::keyspace::databases::Databases;
use crate::keyspace::{self, KeyType, Meta, glob};
use bytes::Bytes;
use orbit_shared::{ActorGateway, ActorId, ErrorKind, Invocation};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

/// A Redis database number: an integer 0-15.
pub(crate) fn database_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "integer",
        "minimum": 0,
        "maximum": 15,
        "default": 0,
        "description": "The Redis database, 0-15 (SELECT); 0 by default."
    })
}

/// A key's contents, as [`get`] returns them.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyValue {
    pub key: String,
    #[schemars(schema_with = "database_schema")]
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
    #[schemars(schema_with = "database_schema")]
    pub db: u8,
    /// `string`, `list`, `set`, `zset`, `hash`, `stream`, or `none` for a missing key.
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

/// Why reading or writing a key through its actor failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// The actor gateway's failure: a timeout, a full mailbox, a node
    /// shutting down, storage...
    #[error(transparent)]
    Gateway(#[from] orbit_shared::Error),
    #[error("db {db} does not exist: Redis databases are 0 to 15")]
    NoDatabase { db: u8 },
    #[error("bad cursor '{cursor}': pass back a cursor this tool returned")]
    BadCursor { cursor: String },
    #[error("ttl_ms must be at least 1 (omit it for a key without a TTL)")]
    ZeroTtl,
    /// The key's command answered with a Redis error reply, its text as
    /// Redis writes it (`WRONGTYPE ...`, `ERR ...`).
    #[error("{0}")]
    Command(String),
    #[error("malformed reply from the key's actor")]
    MalformedReply,
    /// A reply the command never gives (a bug, not the caller's doing).
    #[error("unexpected reply from the key's actor: {0}")]
    UnexpectedReply(String),
}

impl ViewError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ViewError::Gateway(e) => e.kind(),
            ViewError::NoDatabase { .. } | ViewError::BadCursor { .. } | ViewError::ZeroTtl => {
                ErrorKind::InvalidArgument
            }
            // A Redis error reply's first word is its class, by the protocol.
            ViewError::Command(text) if text.starts_with("WRONGTYPE") => ErrorKind::WrongType,
            ViewError::Command(_) => ErrorKind::InvalidArgument,
            ViewError::MalformedReply | ViewError::UnexpectedReply(_) => ErrorKind::Internal,
        }
    }
}

/// Text for bytes: UTF-8 as is, anything else escaped like `redis-cli` does.
pub fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.escape_ascii().to_string(),
    }
}

/// The kind holding database `db`, by the node's table.
pub fn database_kind(dbs: &Databases, db: u8) -> Result<&'static str, ViewError> {
    dbs.kind_of(db).ok_or(ViewError::NoDatabase { db })
}

/// A page cursor as the pages here (and MCP's `list_actors`) hand them
/// out: the hex of the storage key to continue after; absent or empty for
/// the first page.
pub fn decode_cursor(cursor: Option<&str>) -> Result<Option<Bytes>, ViewError> {
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(None),
        Some(c) => match hex::decode(c) {
            Ok(key) => Ok(Some(Bytes::from(key))),
            Err(_) => Err(ViewError::BadCursor { cursor: c.to_string() }),
        },
    }
}

fn command(parts: &[&[u8]]) -> Vec<Bytes> {
    parts.iter().map(|p| Bytes::copy_from_slice(p)).collect()
}

/// Runs command lines on one key in one turn of its actor (atomically) and
/// returns one reply per line.
async fn call<G: ActorGateway>(
    gateway: &G,
    dbs: &Databases,
    db: u8,
    key: &[u8],
    commands: &[Vec<Bytes>],
    write: bool,
) -> Result<Vec<Value>, ViewError> {
    let id = ActorId::new(database_kind(dbs, db)?, Bytes::copy_from_slice(key));
    let lines: Vec<&[Bytes]> = commands.iter().map(Vec::as_slice).collect();
    let args = keyspace::encode_call(keyspace::now_ms(), &lines);
    let method = if write { "write" } else { "read" };
    let reply = gateway.invoke(id, Invocation::new(method, args)).await?;
    let results = keyspace::decode_reply(&reply.value).ok_or(ViewError::MalformedReply)?;
    if results.len() != commands.len() {
        return Err(ViewError::MalformedReply);
    }
    Ok(results.into_iter().map(|(value, _)| value).collect())
}

fn int(value: &Value) -> Result<i64, ViewError> {
    match value {
        Value::Int(n) => Ok(*n),
        Value::Error(e) => Err(ViewError::Command(e.clone())),
        other => Err(ViewError::UnexpectedReply(format!("{other:?}"))),
    }
}

fn ttl(value: &Value) -> Result<Option<i64>, ViewError> {
    int(value).map(|ms| (ms >= 0).then_some(ms))
}

fn simple(value: &Value) -> Result<String, ViewError> {
    match value {
        Value::Simple(s) => Ok(s.clone()),
        Value::Error(e) => Err(ViewError::Command(e.clone())),
        other => Err(ViewError::UnexpectedReply(format!("{other:?}"))),
    }
}

fn bulk(value: &Value) -> Option<&Bytes> {
    match value {
        Value::Bulk(b) => Some(b),
        _ => None,
    }
}

fn items(value: Value) -> Result<Vec<Value>, ViewError> {
    match value {
        Value::Array(v) | Value::Set(v) => Ok(v),
        Value::Map(pairs) | Value::Pairs(pairs) => Ok(pairs.into_iter().flat_map(|(a, b)| [a, b]).collect()),
        Value::Error(e) => Err(ViewError::Command(e)),
        other => Err(ViewError::UnexpectedReply(format!("{other:?}"))),
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
pub async fn key_type<G: ActorGateway>(
    gateway: &G,
    dbs: &Databases,
    db: u8,
    key: &str,
) -> Result<KeyInfo, ViewError> {
    let k = key.as_bytes();
    let replies = call(gateway, dbs, db, k, &[command(&[b"type", k]), command(&[b"pttl", k])], false).await?;
    Ok(KeyInfo { key: key.into(), db, key_type: simple(&replies[0])?, ttl_ms: ttl(&replies[1])? })
}

/// Everything in `key`, at most `max_items` elements of a collection.
pub async fn get<G: ActorGateway>(
    gateway: &G,
    dbs: &Databases,
    db: u8,
    key: &[u8],
    max_items: usize,
) -> Result<KeyValue, ViewError> {
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
        command(&[b"xrange", k, b"-", b"+", b"count", max_items.max(1).to_string().as_bytes()]),
        command(&[b"xlen", k]),
    ];
    let mut replies = call(gateway, dbs, db, k, &commands, false).await?.into_iter();
    let mut next = || replies.next().unwrap_or(Value::Nil);
    let key_type = simple(&next())?;
    let ttl_ms = ttl(&next())?;
    let (string, strlen, hash, hlen, list, llen, set, scard, zset, zcard) =
        (next(), next(), next(), next(), next(), next(), next(), next(), next(), next());
    let (stream, xlen) = (next(), next());
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
        "stream" => {
            // Entries as `[id, [field, value, ...]]`.
            let mut entries = Vec::new();
            for entry in items(stream)? {
                let Value::Array(parts) = entry else { continue };
                let Some(id) = parts.first().map(bulk_text) else { continue };
                let mut fields = serde_json::Map::new();
                if let Some(Value::Array(flat)) = parts.get(1) {
                    for pair in flat.chunks(2) {
                        fields.insert(bulk_text(&pair[0]), json!(pair.get(1).map(bulk_text)));
                    }
                }
                entries.push(json!({ "id": id, "fields": fields }));
            }
            (Some(json!(entries)), int(&xlen)?)
        }
        other => return Err(ViewError::UnexpectedReply(format!("key type {other}"))),
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
    dbs: &Databases,
    db: u8,
    key: &str,
    value: &str,
    ttl_ms: Option<u64>,
) -> Result<(), ViewError> {
    let k = key.as_bytes();
    let mut line = command(&[b"set", k, value.as_bytes()]);
    if let Some(ms) = ttl_ms {
        if ms == 0 {
            return Err(ViewError::ZeroTtl);
        }
        line.push(Bytes::from_static(b"px"));
        line.push(Bytes::from(ms.to_string()));
    }
    let replies = call(gateway, dbs, db, k, &[line], true).await?;
    simple(&replies[0]).map(|_| ())
}

/// Deletes `keys`; returns how many existed.
pub async fn delete<G: ActorGateway>(
    gateway: &G,
    dbs: &Databases,
    db: u8,
    keys: &[String],
) -> Result<i64, ViewError> {
    let mut deleted = 0;
    for key in keys {
        let k = key.as_bytes();
        let replies = call(gateway, dbs, db, k, &[command(&[b"del", k])], true).await?;
        deleted += int(&replies[0])?;
    }
    Ok(deleted)
}

/// Live keys matching the glob `pattern`, reading at most `count` stored
/// keys per call (as Redis' `SCAN ... MATCH ... COUNT`, a page may hold
/// fewer matches than `count`, even none, with a cursor to go on).
pub async fn scan<G: ActorGateway>(
    gateway: &G,
    dbs: &Databases,
    db: u8,
    pattern: &str,
    cursor: Option<&str>,
    count: usize,
) -> Result<ScanPage, ViewError> {
    let cursor = decode_cursor(cursor)?;
    let page = gateway.list_actors(database_kind(dbs, db)?, cursor, count).await?;
    let now = keyspace::now_ms();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_class() {
        let timeout = ViewError::from(orbit_shared::Error::Timeout { after_ms: 5 });
        assert_eq!(timeout.kind(), ErrorKind::Timeout);
        let wrong = ViewError::Command("WRONGTYPE Operation against a key holding the wrong kind".into());
        assert_eq!(wrong.kind(), ErrorKind::WrongType);
        assert_eq!(ViewError::NoDatabase { db: 16 }.kind(), ErrorKind::InvalidArgument);
        assert_eq!(ViewError::MalformedReply.kind(), ErrorKind::Internal);
    }

    #[test]
    fn cursors_are_hex_and_empty_is_the_first_page() {
        assert_eq!(decode_cursor(None), Ok(None));
        assert_eq!(decode_cursor(Some("")), Ok(None));
        assert_eq!(decode_cursor(Some("6b")), Ok(Some(Bytes::from_static(b"k"))));
        assert_eq!(decode_cursor(Some("zz")), Err(ViewError::BadCursor { cursor: "zz".into() }));
    }
}
