//! The Redis data model, shared by the Redis front door, MCP and SQL's
//! views: every Redis key is an actor of kind `redis` or `redis:N` (N 1-15;
//! database N's kind until SWAPDB exchanges two, `databases.rs`), and this
//! module is one key as an actor's state: its value, its expiry, and how
//! both are stored. Pure logic: no I/O, no clock (the caller passes `now_ms`, Unix
//! milliseconds), so tests drive it directly.
//!
//! | file | commands |
//! |---|---|
//! | `generic.rs` | DEL, EXISTS, TYPE, TTL/PTTL, EXPIRE family, PERSIST, TOUCH, internal dump/restore |
//! | `strings.rs` | SET, GET, INCR..., APPEND, GETRANGE/SETRANGE... |
//! | `bits.rs` | SETBIT, GETBIT, BITCOUNT, BITPOS, BITFIELD, BITFIELD_RO on one key's string |
//! | `hashes.rs` | H* |
//! | `lists.rs` | L*/R* (non-blocking halves of the blocking pops) |
//! | `sets.rs` | S* on one key |
//! | `zsets.rs` | Z* on one key; GEO* (sorted sets of geohash scores) |
//! | `hll.rs` | PFADD, PFCOUNT of one key, the key's half of PFMERGE and PFDEBUG (Redis' HyperLogLog bytes) |
//! | `streams/` | X*: streams and their consumer groups (XREAD/XREADGROUP's per-key halves) |
//! | `encoding.rs` | OBJECT ENCODING/IDLETIME/REFCOUNT, MEMORY USAGE, DEBUG OBJECT of one key (internal `orbit.object`) |
//! | `dump.rs` | [`Dumped`]: a whole value, for RENAME/COPY/*STORE |
//! | `rdb/` | Redis' DUMP payload format: a value to and from RDB bytes (DUMP, RESTORE) |
//! | `random.rs` | the random picks of *RANDMEMBER, HRANDFIELD, SPOP and RANDOMKEY |
//! | `glob.rs` | Redis glob patterns (KEYS, SCAN MATCH, HSCAN...) |
//! | `value.rs` | [`Value`]: a reply, its binary form across the gateway, RESP2/RESP3 writing |
//! | `databases.rs` | which kind holds each database (SWAPDB's table) |
//! | `view.rs` | the keyspace through each key's actor, for MCP's tools and SQL's `orbit_redis` |
//!
//! Storage. The actor's record is the small [`Meta`] (type and expiry); the
//! data lives in entries beside it, one per element, so a command rewrites
//! only what it changed (a push writes one entry, not the record: a list's
//! head is the position of its first entry):
//!
//! | type | entry sub-key | entry value |
//! |---|---|---|
//! | string | empty | the string |
//! | hash | field | value |
//! | set | member | empty |
//! | zset | member | score, `f64::to_bits` big-endian |
//! | list | position, [`list_position`] | element |
//! | stream | a tag byte and an ID, group or consumer (`streams/storage.rs`) | entry, metadata, group, PEL entry |
//!
//! Invariants:
//! - Every change to the in-memory data queues the matching [`WriteOp`]s in
//!   `pending`, in order; the actor takes them after a write turn and writes
//!   them in one batch with the record.
//! - An empty collection does not exist: `data` becomes `None` (Redis deletes
//!   a key whose list, hash, set or zset becomes empty), and a key without
//!   data has no expiry. A stream is the exception: Redis keeps an empty one.
//! - An expired key is gone at the first command that sees it (lazy expiry).

mod bits;
pub mod databases;
mod dump;
pub(crate) mod encoding;
mod generic;
pub mod glob;
mod hashes;
pub(crate) mod hll;
mod lists;
pub(crate) mod random;
pub mod rdb;
mod sets;
pub(crate) mod streams;
mod strings;
pub mod value;
pub mod view;
mod zsets;

pub use dump::Dumped;
pub use hashes::Hash;
pub use lists::List;
pub use sets::Set;
pub use streams::Stream;
pub use value::Value;
pub use zsets::ZSet;
pub(crate) use zsets::geo;

use bytes::Bytes;
use orbit_shared::ActorInterface;
use orbit_shared::WriteOp;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use value::errors;

/// The kind of every Redis key (database 0).
pub struct RedisKeyspace;

impl ActorInterface for RedisKeyspace {
    const KIND: &'static str = "redis";
}

/// The actor kinds the 16 databases (`SELECT n`) live in; which database
/// is in which kind is [`databases::Databases`]' table (SWAPDB changes it).
pub const DATABASE_KINDS: [&str; 16] = [
    "redis", "redis:1", "redis:2", "redis:3", "redis:4", "redis:5", "redis:6", "redis:7", "redis:8",
    "redis:9", "redis:10", "redis:11", "redis:12", "redis:13", "redis:14", "redis:15",
];

/// A keyspace kind outside the databases: the front door's own records
/// (scripts loaded with SCRIPT LOAD, function libraries), stored like keys
/// but listed by no database.
pub const SCRIPTS_KIND: &str = "redis:scripts";

/// The wall clock in Unix milliseconds, as expiry deadlines are kept.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The data of a live key.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Str(Bytes),
    List(List),
    Hash(Hash),
    Set(Set),
    ZSet(ZSet),
    Stream(Stream),
}

/// The Redis type names, as `TYPE` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    String,
    List,
    Hash,
    Set,
    Zset,
    Stream,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::String => "string",
            KeyType::List => "list",
            KeyType::Hash => "hash",
            KeyType::Set => "set",
            KeyType::Zset => "zset",
            KeyType::Stream => "stream",
        }
    }

    /// Parses a `TYPE` name (SCAN ... TYPE), case-insensitively.
    pub fn parse(name: &[u8]) -> Option<KeyType> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"string" => KeyType::String,
            b"list" => KeyType::List,
            b"hash" => KeyType::Hash,
            b"set" => KeyType::Set,
            b"zset" => KeyType::Zset,
            b"stream" => KeyType::Stream,
            _ => return None,
        })
    }
}

impl Data {
    pub fn key_type(&self) -> KeyType {
        match self {
            Data::Str(_) => KeyType::String,
            Data::List(_) => KeyType::List,
            Data::Hash(_) => KeyType::Hash,
            Data::Set(_) => KeyType::Set,
            Data::ZSet(_) => KeyType::Zset,
            Data::Stream(_) => KeyType::Stream,
        }
    }
}

/// The stored record of a key: small, rewritten when it changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<KeyType>,
    /// Unix milliseconds.
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub expire_at: Option<u64>,
}

impl Meta {
    /// Whether a key with this record is live at `now_ms` (for scans that
    /// read storage without activating the key).
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.key_type.is_some() && self.expire_at.is_none_or(|at| at > now_ms)
    }
}

/// The state of one Redis key.
#[derive(Debug, Default)]
pub struct KeyState {
    pub(crate) data: Option<Data>,
    pub(crate) expire_at: Option<u64>,
    pub(crate) pending: Vec<WriteOp>,
    /// When a command last used the key (Unix ms, 0: not since it was
    /// loaded), for OBJECT IDLETIME; in memory only.
    pub(crate) last_access_ms: u64,
    /// Set by `from_meta`, consumed by `load_entries`.
    loading: Option<Meta>,
}

/// The sub-key of list position `pos`: the sign bit flipped so that
/// big-endian bytes sort like the numbers.
pub fn list_position(pos: i64) -> Bytes {
    Bytes::copy_from_slice(&((pos as u64) ^ (1 << 63)).to_be_bytes())
}

/// The inverse of [`list_position`].
pub fn parse_list_position(sub: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = sub.try_into().ok()?;
    Some((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

impl KeyState {
    /// A key about to be loaded: its record, before its entries.
    pub fn from_meta(meta: Meta) -> KeyState {
        KeyState { loading: Some(meta), ..KeyState::default() }
    }

    /// The record to store for the current state.
    pub fn meta(&self) -> Meta {
        Meta { key_type: self.data.as_ref().map(Data::key_type), expire_at: self.expire_at }
    }

    /// Rebuilds the data from the entries (sub-key, value) of a key whose
    /// record was given to [`KeyState::from_meta`].
    pub fn load_entries(&mut self, entries: Vec<(Bytes, Bytes)>) -> Result<(), String> {
        let Some(meta) = self.loading.take() else { return Ok(()) };
        self.expire_at = meta.expire_at;
        self.data = match meta.key_type {
            None => None,
            Some(KeyType::String) => {
                let value = entries.into_iter().find(|(sub, _)| sub.is_empty()).map(|(_, v)| v);
                Some(Data::Str(value.ok_or("string key without its value entry")?))
            }
            Some(KeyType::List) => {
                let head = entries.first().and_then(|(sub, _)| parse_list_position(sub)).unwrap_or(0);
                Some(Data::List(List::load(head, entries)?))
            }
            Some(KeyType::Hash) => Some(Data::Hash(Hash::load(entries)?)),
            Some(KeyType::Set) => Some(Data::Set(Set::load(entries)?)),
            Some(KeyType::Zset) => Some(Data::ZSet(ZSet::load(entries)?)),
            Some(KeyType::Stream) => Some(Data::Stream(streams::load(entries)?)),
        };
        if self.data.is_none() {
            self.expire_at = None;
        }
        Ok(())
    }

    /// Whether the key does not exist (its record should be deleted).
    pub fn is_empty(&self) -> bool {
        self.data.is_none()
    }

    /// Takes the entry changes made since the last call.
    pub fn drain_entry_ops(&mut self) -> Vec<WriteOp> {
        std::mem::take(&mut self.pending)
    }

    /// The key's type if it is live at `now_ms`.
    pub fn key_type(&mut self, now_ms: u64) -> Option<KeyType> {
        self.live(now_ms).map(|d| d.key_type())
    }

    /// The data if the key is live, expiring it first if its time has come.
    pub(crate) fn live(&mut self, now_ms: u64) -> Option<&mut Data> {
        if self.expire_at.is_some_and(|at| at <= now_ms) {
            self.clear();
        }
        self.data.as_mut()
    }

    /// Deletes the key: queues a delete for every entry, forgets the expiry.
    pub(crate) fn clear(&mut self) {
        match self.data.take() {
            None => {}
            Some(Data::Str(_)) => self.pending.push(WriteOp::Delete(Bytes::new())),
            Some(Data::List(list)) => self.pending.extend(list.subkeys().map(WriteOp::Delete)),
            Some(Data::Hash(hash)) => self.pending.extend(hash.subkeys().map(WriteOp::Delete)),
            Some(Data::Set(set)) => self.pending.extend(set.subkeys().map(WriteOp::Delete)),
            Some(Data::ZSet(zset)) => self.pending.extend(zset.subkeys().map(WriteOp::Delete)),
            Some(Data::Stream(stream)) => self.pending.extend(stream.subkeys().map(WriteOp::Delete)),
        }
        self.expire_at = None;
    }

    /// Replaces the key's data (clearing what was there), keeping no expiry.
    /// The new data's entries are queued.
    pub(crate) fn replace(&mut self, data: Data) {
        self.clear();
        match &data {
            Data::Str(s) => self.pending.push(WriteOp::Put(Bytes::new(), s.clone())),
            Data::List(list) => self.pending.extend(list.entries()),
            Data::Hash(hash) => self.pending.extend(hash.entries()),
            Data::Set(set) => self.pending.extend(set.entries()),
            Data::ZSet(zset) => self.pending.extend(zset.entries()),
            Data::Stream(stream) => self.pending.extend(stream.entries()),
        }
        self.data = Some(data);
    }

    /// Drops the data if a collection became empty (see the invariants).
    pub(crate) fn drop_if_empty(&mut self) {
        let empty = match &self.data {
            Some(Data::List(l)) => l.is_empty(),
            Some(Data::Hash(h)) => h.is_empty(),
            Some(Data::Set(s)) => s.is_empty(),
            Some(Data::ZSet(z)) => z.is_empty(),
            _ => false,
        };
        if empty {
            // Its entries were deleted one by one already.
            self.data = None;
            self.expire_at = None;
        }
    }

    /// [`KeyState::exec`], also telling whether the key changed (a write
    /// that changes nothing, like `SADD` of a present member, does not
    /// count: WATCH and blocked clients only hear of real changes).
    pub fn exec_tracked(&mut self, argv: &[Bytes], now_ms: u64) -> (Value, bool) {
        let before = (self.pending.len(), self.expire_at, self.data.is_some());
        let reply = self.exec(argv, now_ms);
        let changed = before != (self.pending.len(), self.expire_at, self.data.is_some());
        (reply, changed)
    }

    /// Runs one command on this key. `argv[0]` is the command name in lower
    /// case, `argv[1]` the key; the rest are its arguments. Errors come back
    /// as `Value::Error` with Redis' texts.
    pub fn exec(&mut self, argv: &[Bytes], now_ms: u64) -> Value {
        let Some(name) = argv.first() else { return Value::err("ERR empty command") };
        let Ok(name) = std::str::from_utf8(name) else { return Value::err("ERR unknown command") };
        if argv.len() < 2 {
            return Value::err(errors::arity(name));
        }
        let args = &argv[2..];
        let reply = generic::exec(self, name, args, now_ms)
            .or_else(|| strings::exec(self, name, args, now_ms))
            .or_else(|| bits::exec(self, name, args, now_ms))
            .or_else(|| hashes::exec(self, name, args, now_ms))
            .or_else(|| lists::exec(self, name, args, now_ms))
            .or_else(|| sets::exec(self, name, args, now_ms))
            .or_else(|| zsets::exec(self, name, args, now_ms))
            .or_else(|| encoding::exec(self, name, args, now_ms))
            .or_else(|| streams::exec(self, name, &argv[1], args, now_ms))
            .or_else(|| hll::exec(self, name, args, now_ms))
            .unwrap_or_else(|| Value::err(format!("ERR unknown command '{name}' for a key")));
        self.drop_if_empty();
        encoding::touch(self, name, now_ms);
        reply
    }
}

/// A command's body: the reply, or an error reply through `?`.
type Handler = fn(&mut KeyState, &[Bytes], u64) -> Result<Value, Value>;

/// How many arguments after the key a command takes.
enum Arity {
    Exact(usize),
    AtLeast(usize),
}

/// Checks a command's argument count, then runs its body.
fn run_checked(
    ks: &mut KeyState,
    name: &str,
    arity: Arity,
    run: Handler,
    args: &[Bytes],
    now_ms: u64,
) -> Value {
    let fits = match arity {
        Arity::Exact(n) => args.len() == n,
        Arity::AtLeast(n) => args.len() >= n,
    };
    if !fits {
        return Value::err(errors::arity(name));
    }
    run(ks, args, now_ms).unwrap_or_else(|err| err)
}

/// Argument `i`; the arity check guarantees it, this keeps it panic-free.
fn arg(args: &[Bytes], i: usize) -> Bytes {
    args.get(i).cloned().unwrap_or_default()
}

/// Parses an integer argument the way Redis does (`ERR value is not an
/// integer or out of range` otherwise).
pub fn parse_i64(arg: &[u8]) -> Result<i64, Value> {
    std::str::from_utf8(arg)
        .ok()
        .filter(|s| !(s.starts_with('+') || s.starts_with("-0") || (s.len() > 1 && s.starts_with('0'))))
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| Value::err(errors::NOT_INTEGER))
}

/// Parses a float argument the way Redis does (`inf`, `-inf`, `+inf`
/// accepted, NaN refused).
pub fn parse_f64(arg: &[u8]) -> Result<f64, Value> {
    let s = std::str::from_utf8(arg).map_err(|_| Value::err(errors::NOT_FLOAT))?;
    let v = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        t if t.is_empty() || t.contains(char::is_whitespace) => return Err(Value::err(errors::NOT_FLOAT)),
        t => t.parse::<f64>().map_err(|_| Value::err(errors::NOT_FLOAT))?,
    };
    if v.is_nan() {
        return Err(Value::err(errors::NOT_FLOAT));
    }
    Ok(v)
}

/// Formats a double the way Redis 7.2 prints scores: the shortest digits
/// that round-trip, `inf`/`-inf`, no trailing `.0`, and `%g`'s exponent form
/// (`1e+300`, `1e-05`) below 1e-4 and from 1e17 on.
pub fn format_f64(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..17).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    format!("{v}")
}

/// The arguments of a keyspace actor call: one or more command lines on the
/// same key, run in one turn. `now_ms (u64 LE) | commands (u32 LE) | per
/// command: words (u32 LE) | (len u32 LE, bytes)*` — not JSON.
pub fn encode_call(now_ms: u64, commands: &[&[Bytes]]) -> Bytes {
    use bytes::BufMut;
    let words: usize = commands.iter().map(|argv| 4 + argv.iter().map(|a| 4 + a.len()).sum::<usize>()).sum();
    let mut out = bytes::BytesMut::with_capacity(12 + words);
    out.put_u64_le(now_ms);
    out.put_u32_le(commands.len() as u32);
    for argv in commands {
        out.put_u32_le(argv.len() as u32);
        for arg in *argv {
            out.put_u32_le(arg.len() as u32);
            out.put_slice(arg);
        }
    }
    out.freeze()
}

/// The inverse of [`encode_call`] (zero-copy); `None` if malformed.
pub fn decode_call(args: &Bytes) -> Option<(u64, Vec<Vec<Bytes>>)> {
    use bytes::Buf;
    let mut input = args.clone();
    let take_u32 = |input: &mut Bytes| (input.remaining() >= 4).then(|| input.get_u32_le() as usize);
    if input.remaining() < 8 {
        return None;
    }
    let now_ms = input.get_u64_le();
    let count = take_u32(&mut input)?;
    let mut commands = Vec::with_capacity(count.min(input.remaining() / 4));
    for _ in 0..count {
        let words = take_u32(&mut input)?;
        let mut argv = Vec::with_capacity(words.min(input.remaining() / 4));
        for _ in 0..words {
            let len = take_u32(&mut input)?;
            if input.remaining() < len {
                return None;
            }
            argv.push(input.split_to(len));
        }
        commands.push(argv);
    }
    (!input.has_remaining()).then_some((now_ms, commands))
}

/// A keyspace actor's reply: per command, whether the key changed (`1`/`0`)
/// and the value in [`Value::encode`]'s form, after a `u32 LE` count.
pub fn encode_reply(results: &[(Value, bool)]) -> Bytes {
    use bytes::BufMut;
    let mut out = bytes::BytesMut::with_capacity(4 + 32 * results.len());
    out.put_u32_le(results.len() as u32);
    for (value, changed) in results {
        out.put_u8(u8::from(*changed));
        // The length goes before the value, written in place once known.
        let at = out.len();
        out.put_u32_le(0);
        value.encode_into(&mut out);
        let len = (out.len() - at - 4) as u32;
        out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }
    out.freeze()
}

/// The inverse of [`encode_reply`]; `None` if malformed.
pub fn decode_reply(reply: &Bytes) -> Option<Vec<(Value, bool)>> {
    use bytes::Buf;
    let mut input = reply.clone();
    if input.remaining() < 4 {
        return None;
    }
    let count = input.get_u32_le() as usize;
    let mut results = Vec::with_capacity(count.min(input.remaining() / 5));
    for _ in 0..count {
        if input.remaining() < 5 {
            return None;
        }
        let changed = match input.get_u8() {
            0 => false,
            1 => true,
            _ => return None,
        };
        let len = input.get_u32_le() as usize;
        if input.remaining() < len {
            return None;
        }
        results.push((Value::decode(&input.split_to(len))?, changed));
    }
    (!input.has_remaining()).then_some(results)
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn calls_and_replies_round_trip_and_reject_garbage() {
        let a = [Bytes::from_static(b"set"), Bytes::from_static(b"k"), Bytes::from_static(b"v")];
        let b = [Bytes::from_static(b"get"), Bytes::from_static(b"k")];
        let call = encode_call(7, &[&a, &b]);
        assert_eq!(decode_call(&call), Some((7, vec![a.to_vec(), b.to_vec()])));
        assert_eq!(decode_call(&call.slice(..call.len() - 1)), None);
        let results = vec![(Value::ok(), true), (Value::bulk("v"), false)];
        assert_eq!(decode_reply(&encode_reply(&results)), Some(results));
        assert_eq!(decode_reply(&Bytes::from_static(b"\x01\x00\x00\x00\x07")), None);
    }
}
