//! The stream commands the front door runs: XREAD and XREADGROUP over
//! several keys (with BLOCK), and XGROUP and XINFO, whose key follows a
//! subcommand. The per-key work runs in each key's actor
//! (`keyspace/streams/`); this module parses, checks colocation, holds the
//! keyspace lock for the whole command, and assembles the reply: an array
//! of `[key, entries]` in RESP2, a map of key to entries in RESP3.
//!
//! A read that finds nothing and has BLOCK waits as a blocking pop does
//! (`cmd/blocking.rs`, [`BlockedRead`]): registered while the lock is held,
//! `$` already replaced by each stream's last ID, and woken by writes to
//! its keys, FIFO per key. Served, it reads all its keys again, as Redis
//! re-runs the command.

use crate::keyspace::streams::id::{self, StreamId};
use crate::keyspace::value::{Value, errors};
use crate::resp::connection::{Conn, Outcome};
use crate::resp::server::Server;
use crate::resp::table;
use bytes::Bytes;
use orbit_shared::{ActorGateway, DurableToken};

type Result<T> = std::result::Result<T, Value>;

/// Where a blocked or running read starts on one stream.
#[derive(Debug, Clone)]
enum Cursor {
    /// The entries after this ID (XREAD; XREADGROUP's pending history).
    After(StreamId),
    /// `>`: the entries never delivered to the group.
    New,
}

#[derive(Debug, Clone)]
struct GroupRead {
    group: Bytes,
    consumer: Bytes,
    noack: bool,
}

/// An XREAD or XREADGROUP, parsed, its `$` IDs resolved.
#[derive(Debug, Clone)]
pub(crate) struct BlockedRead {
    streams: Vec<(Bytes, Cursor)>,
    group: Option<GroupRead>,
    /// 0: no limit.
    count: i64,
    resp3: bool,
}

impl BlockedRead {
    pub(crate) fn keys(&self) -> Vec<Bytes> {
        self.streams.iter().map(|(key, _)| key.clone()).collect()
    }
}

/// The arguments of XREAD/XREADGROUP before the keys are looked at.
struct Parsed {
    group: Option<GroupRead>,
    count: i64,
    /// Milliseconds; `Some(0)` blocks forever.
    block_ms: Option<u64>,
    keys: Vec<Bytes>,
    ids: Vec<Bytes>,
}

fn parse_block(arg: &[u8]) -> Result<u64> {
    let ms = crate::keyspace::parse_i64(arg)
        .map_err(|_| Value::err("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(Value::err("ERR timeout is negative"));
    }
    Ok(ms as u64)
}

fn parse_read(argv: &[Bytes], xreadgroup: bool) -> Result<Parsed> {
    let mut parsed = Parsed { group: None, count: 0, block_ms: None, keys: Vec::new(), ids: Vec::new() };
    let mut noack = false;
    let mut streams_at = None;
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        match super::lower(&argv[i]).as_slice() {
            b"block" if more > 0 => {
                i += 1;
                parsed.block_ms = Some(parse_block(&argv[i])?);
            }
            b"count" if more > 0 => {
                i += 1;
                parsed.count = crate::keyspace::parse_i64(&argv[i])?.max(0);
            }
            b"streams" if more > 0 => {
                streams_at = Some(i + 1);
                break;
            }
            b"group" if more >= 2 => {
                if !xreadgroup {
                    return Err(Value::err(
                        "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                    ));
                }
                parsed.group = Some(GroupRead {
                    group: argv[i + 1].clone(),
                    consumer: argv[i + 2].clone(),
                    noack: false,
                });
                i += 2;
            }
            b"noack" => {
                if !xreadgroup {
                    return Err(Value::err(
                        "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                    ));
                }
                noack = true;
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 1;
    }
    let Some(at) = streams_at else { return Err(Value::err(errors::SYNTAX)) };
    let rest = &argv[at..];
    if !rest.len().is_multiple_of(2) {
        return Err(Value::err(
            "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
        ));
    }
    if xreadgroup && parsed.group.is_none() {
        return Err(Value::err("ERR Missing GROUP option for XREADGROUP"));
    }
    if let Some(group) = &mut parsed.group {
        group.noack = noack;
    }
    let (keys, ids) = rest.split_at(rest.len() / 2);
    parsed.keys = keys.to_vec();
    parsed.ids = ids.to_vec();
    Ok(parsed)
}

async fn call<G: ActorGateway>(
    server: &Server<G>,
    db: usize,
    argv: Vec<Bytes>,
    write: bool,
) -> Result<Value> {
    let v = server.call_key(db, &argv, write).await;
    if v.is_error() { Err(v) } else { Ok(v) }
}

fn word(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// Checks every key (type, group) and resolves its ID, as Redis does
/// before reading any.
async fn resolve<G: ActorGateway>(conn: &Conn<G>, parsed: &Parsed) -> Result<Vec<(Bytes, Cursor)>> {
    let mut streams = Vec::with_capacity(parsed.keys.len());
    for (key, given) in parsed.keys.iter().zip(&parsed.ids) {
        let last = match &parsed.group {
            None => call(&conn.server, conn.db, vec![word("orbit.xlast"), key.clone()], false).await?,
            Some(g) => {
                let argv = vec![word("orbit.xhasgroup"), key.clone(), g.group.clone()];
                if call(&conn.server, conn.db, argv, false).await? != Value::Int(1) {
                    return Err(crate::keyspace::streams::nogroup_read(key, &g.group));
                }
                Value::Nil
            }
        };
        let cursor = match &given[..] {
            b"$" if parsed.group.is_some() => {
                return Err(Value::err(concat!(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history ",
                    "of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID ",
                    "would just return an empty result set."
                )));
            }
            b"$" => {
                let Value::Bulk(last) = last else {
                    return Err(Value::err("ERR internal error: no last ID"));
                };
                Cursor::After(id::parse_strict(&last)?)
            }
            b">" if parsed.group.is_none() => {
                return Err(Value::err(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            b">" => Cursor::New,
            _ => Cursor::After(id::parse_strict(given)?),
        };
        streams.push((key.clone(), cursor));
    }
    Ok(streams)
}

/// Reads every stream of `read` once: the reply, or `None` when no stream
/// had anything to serve.
///
/// The reads' writes (a group's delivered entries) are visible when this
/// returns; the token says when they are durable, for the caller to wait
/// on before replying, without holding the keyspace lock meanwhile.
pub(crate) async fn read_once<G: ActorGateway>(
    server: &Server<G>,
    db: usize,
    read: &BlockedRead,
) -> Result<(Option<(Value, Vec<Bytes>)>, DurableToken)> {
    let mut served = Vec::new();
    let mut written = Vec::new();
    let mut token = DurableToken::NONE;
    for (key, cursor) in &read.streams {
        let count = Bytes::from(read.count.to_string());
        let from = match cursor {
            Cursor::After(id) => Bytes::from(id.to_string()),
            Cursor::New => word(">"),
        };
        let value = match &read.group {
            None => match call(server, db, vec![word("orbit.xread"), key.clone(), from, count], false).await?
            {
                Value::Array(entries) if entries.is_empty() => continue,
                other => other,
            },
            Some(g) => {
                let noack = word(if g.noack { "1" } else { "0" });
                let argv = vec![
                    word("orbit.xreadgroup"),
                    key.clone(),
                    g.group.clone(),
                    g.consumer.clone(),
                    count,
                    noack,
                    from,
                ];
                let (value, wrote, _) = server.call_key_visible(db, &argv, true).await;
                token = token.and(wrote);
                if value.is_error() {
                    return Err(value);
                }
                match value {
                    Value::Nil => continue,
                    other => {
                        if matches!(&other, Value::Array(entries) if !entries.is_empty()) {
                            written.push(key.clone());
                        }
                        other
                    }
                }
            }
        };
        served.push((Value::Bulk(key.clone()), value));
    }
    if served.is_empty() {
        return Ok((None, token));
    }
    let reply = if read.resp3 {
        Value::Map(served)
    } else {
        Value::Array(served.into_iter().map(|(k, v)| Value::Array(vec![k, v])).collect())
    };
    Ok((Some((reply, written)), token))
}

async fn xread<G: ActorGateway>(conn: &mut Conn<G>, name: &str, argv: &[Bytes], locked: bool) -> Outcome {
    let parsed = match parse_read(argv, name == "xreadgroup") {
        Ok(parsed) => parsed,
        Err(e) => return e.into(),
    };
    if let Err(e) = super::keys::colocated(conn, &parsed.keys) {
        return e.into();
    }
    let server = conn.server.clone();
    // One stream read without BLOCK is one key's business, like any
    // single-key command; reading several at once, or registering a wait
    // with no write slipping in after the try, takes the lock exclusively.
    let (_shared, guard) = if parsed.block_ms.is_none() && parsed.keys.len() == 1 && !locked {
        match server.shared().await {
            Ok(shared) => (Some(shared), None),
            Err(busy) => return busy.into(),
        }
    } else {
        (None, server.exclusive(locked).await)
    };
    let streams = match resolve(conn, &parsed).await {
        Ok(streams) => streams,
        Err(e) => return e.into(),
    };
    let read = BlockedRead { streams, group: parsed.group, count: parsed.count, resp3: conn.resp3 };
    let read_now = read_once(&server, conn.db, &read).await;
    if let Ok((_, token)) = &read_now {
        conn.unsynced = conn.unsynced.and(*token);
    }
    match read_now {
        Err(e) => return e.into(),
        Ok((Some((reply, written)), _)) => {
            written.iter().for_each(|key| conn.wrote(key));
            return reply.into();
        }
        Ok((None, _)) => {}
    }
    let Some(block_ms) = parsed.block_ms else { return Value::NilArray.into() };
    if locked {
        // Inside MULTI a blocking command does not block.
        return Value::NilArray.into();
    }
    // BLOCK 0, or a wait past what the clock can count, waits forever.
    let deadline = if block_ms == 0 {
        None
    } else {
        tokio::time::Instant::now().checked_add(std::time::Duration::from_millis(block_ms))
    };
    let outcome = super::blocking::block_stream(conn, read, deadline);
    drop(guard);
    outcome
}

/// XGROUP and XINFO: the subcommand's arity, HELP, then the key's actor
/// runs it with the key moved to the front.
async fn keyed_container<G: ActorGateway>(
    conn: &mut Conn<G>,
    name: &'static str,
    argv: &[Bytes],
    locked: bool,
) -> Value {
    let sub = &argv[1];
    let known: &[&str] = if name == "xgroup" {
        &["create", "setid", "destroy", "createconsumer", "delconsumer", "help"]
    } else {
        &["stream", "groups", "consumers", "help"]
    };
    let Some(spec) = table::subcommand(name, sub).filter(|s| s.arity_ok(argv.len())) else {
        return super::subcommand_error(name, sub, known);
    };
    if spec.name.ends_with("|help") {
        return help(name);
    }
    let mut line = Vec::with_capacity(argv.len());
    line.push(Bytes::from_static(name.as_bytes()));
    line.push(argv[2].clone());
    line.push(sub.clone());
    line.extend_from_slice(&argv[3..]);
    let write = name == "xgroup";
    // As a one-key command: the shared keyspace lock unless EXEC holds it.
    let server = conn.server.clone();
    let guard = if locked { None } else { Some(server.keyspace.read().await) };
    let (reply, token, changed) = server.call_key_visible(conn.db, &line, write).await;
    drop(guard);
    conn.unsynced = conn.unsynced.and(token);
    if changed {
        conn.wrote(&argv[2]);
    }
    reply
}

fn help(name: &str) -> Value {
    let lines: &[&str] = if name == "xgroup" {
        &[
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Print this help.",
        ]
    } else {
        &[
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Prints this help.",
        ]
    };
    Value::Array(lines.iter().map(|l| Value::Simple((*l).to_string())).collect())
}

pub(crate) async fn run<G: ActorGateway>(
    conn: &mut Conn<G>,
    name: &str,
    argv: &[Bytes],
    locked: bool,
) -> Outcome {
    match name {
        "xread" | "xreadgroup" => xread(conn, name, argv, locked).await,
        "xgroup" => keyed_container(conn, "xgroup", argv, locked).await.into(),
        "xinfo" => keyed_container(conn, "xinfo", argv, locked).await.into(),
        _ => Value::err(format!("ERR unknown command '{name}'")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<Bytes> {
        line.split(' ').map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn read_options_parse_like_redis() {
        let p = parse_read(&argv("xread COUNT 2 BLOCK 100 STREAMS a b 0 $"), false).unwrap();
        assert_eq!((p.count, p.block_ms, p.keys.len(), p.ids.len()), (2, Some(100), 2, 2));
        let p = parse_read(&argv("xreadgroup GROUP g c NOACK STREAMS a >"), true).unwrap();
        assert!(p.group.is_some_and(|g| g.noack && g.consumer == "c"));
        let err = |line: &str, group: bool| parse_read(&argv(line), group).err().unwrap();
        assert!(
            matches!(err("xread STREAMS a b 0", false), Value::Error(t) if t.starts_with("ERR Unbalanced"))
        );
        assert_eq!(err("xread BLOCK -1 STREAMS a 0", false), Value::err("ERR timeout is negative"));
        assert_eq!(
            err("xread BLOCK x STREAMS a 0", false),
            Value::err("ERR timeout is not an integer or out of range")
        );
        assert_eq!(
            err("xreadgroup STREAMS a >", true),
            Value::err("ERR Missing GROUP option for XREADGROUP")
        );
        assert_eq!(err("xread COUNT 1", false), Value::err(errors::SYNTAX));
        assert!(
            matches!(err("xread GROUP g c STREAMS a 0", false), Value::Error(t) if t.contains("only supported by XREADGROUP"))
        );
    }
}
