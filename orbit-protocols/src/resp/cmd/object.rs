//! OBJECT, MEMORY, DEBUG and SHUTDOWN: the front door's half. What one key
//! holds is answered inside its actor (`keyspace/encoding.rs`, internal
//! `orbit.object`) with the encoding thresholds CONFIG holds; the rest is
//! what the node knows of itself.
//!
//! DEBUG is refused unless `resp.enable_debug_command` allows the client
//! (Redis' `enable-debug-command`: `no` by default, `local` for loopback
//! clients). DEBUG SLEEP pauses the calling connection only: Orbit serves
//! every client concurrently, so there is no server to stop. SHUTDOWN asks
//! the node for its ordered shutdown (the one SIGTERM runs) and closes the
//! connection without a reply, as Redis does.

use crate::keyspace::encoding::{self, Thresholds};
use crate::keyspace::parse_i64;
use crate::keyspace::value::{Value, errors};
use crate::resp::connection::{Conn, Outcome};
use crate::resp::server::{Server, lock};
use bytes::Bytes;
use orbit_shared::ActorGateway;
use std::time::Duration;

/// Redis' refusal while `enable-debug-command` forbids the client.
const DEBUG_REFUSED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// DEBUG's subcommands in Redis 7.2 that Orbit does not run.
const DEBUG_UNSUPPORTED: &[&str] = &[
    "segfault",
    "panic",
    "restart",
    "crash-and-recover",
    "assert",
    "log",
    "leak",
    "reload",
    "loadaof",
    "drop-cluster-packet-filter",
    "close-cluster-link-on-packet-drop",
    "sdslen",
    "ziplist",
    "listpack",
    "quicklist-packed-threshold",
    "set-active-expire",
    "stringmatch-len",
    "protocol",
    "jmap",
    "change-repl-id",
    "populate",
    "digest",
    "digest-value",
    "mallctl",
    "mallctl-str",
    "client-eviction",
    "replybuffer",
    "set-skip-checksum-validation",
    "aof-flush-sleep",
    "pause-cron",
    "dict-resizing",
    "script",
    "set-disable-deny-scripts",
    "config-rewrite-force-all",
];

pub(crate) async fn run<G: ActorGateway>(conn: &mut Conn<G>, name: &str, argv: &[Bytes]) -> Outcome {
    match name {
        "object" => object(conn, &argv[1..]).await.into(),
        "memory" => memory(conn, &argv[1..]).await.into(),
        "debug" => debug(conn, &argv[1..]).await.into(),
        _ => shutdown(conn, &argv[1..]),
    }
}

fn lines(text: &[&str]) -> Value {
    Value::Array(text.iter().map(|l| Value::Simple((*l).into())).collect())
}

/// The encoding thresholds as CONFIG holds them now.
fn thresholds<G: ActorGateway>(server: &Server<G>) -> Thresholds {
    Thresholds::from_values(Thresholds::NAMES.map(|name| server.params.int(name)))
}

/// Asks `key`'s actor about its value (`what`: encoding, idletime,
/// refcount, usage or debug); nil for a missing key. A read of one key is
/// one turn of its actor, so it takes no keyspace lock (and runs inside
/// EXEC, which holds it).
async fn describe<G: ActorGateway>(conn: &Conn<G>, key: &Bytes, what: &'static str, samples: i64) -> Value {
    let mut argv = vec![
        Bytes::from_static(b"orbit.object"),
        key.clone(),
        Bytes::from_static(what.as_bytes()),
        Bytes::from(samples.to_string()),
    ];
    argv.extend(thresholds(&conn.server).to_args());
    conn.server.call_key(conn.db, &argv, false).await
}

/// The eviction policy tracks access frequency (an LFU policy).
fn lfu<G: ActorGateway>(server: &Server<G>) -> bool {
    server.params.get("maxmemory-policy").is_some_and(|p| p.ends_with("-lfu"))
}

/// OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key, OBJECT HELP.
async fn object<G: ActorGateway>(conn: &Conn<G>, args: &[Bytes]) -> Value {
    let sub = super::lower(&args[0]);
    let server = &conn.server;
    match (sub.as_slice(), &args[1..]) {
        (b"encoding", [key]) => describe(conn, key, "encoding", 0).await,
        (b"idletime", [key]) => match describe(conn, key, "idletime", 0).await {
            Value::Int(_) if lfu(server) => Value::err(
                "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ),
            other => other,
        },
        (b"refcount", [key]) => match describe(conn, key, "refcount", 0).await {
            // Redis shares small integers only while no LRU/LFU policy
            // with a memory limit needs per-key access data.
            Value::Int(n) if n > 1 && server.params.int("maxmemory") != 0 && lru_or_lfu(server) => {
                Value::Int(1)
            }
            other => other,
        },
        (b"freq", [key]) => match describe(conn, key, "encoding", 0).await {
            Value::Bulk(_) if !lfu(server) => Value::err(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ),
            Value::Bulk(_) => Value::err(
                "ERR OBJECT FREQ is not supported by Orbit: keys keep no access frequency (Orbit evicts no keys)",
            ),
            other => other,
        },
        (b"help", []) => lines(&[
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ]),
        _ => {
            super::subcommand_error("object", &args[0], &["encoding", "freq", "idletime", "refcount", "help"])
        }
    }
}

fn lru_or_lfu<G: ActorGateway>(server: &Server<G>) -> bool {
    server.params.get("maxmemory-policy").is_some_and(|p| p.ends_with("-lru") || p.ends_with("-lfu"))
}

/// MEMORY USAGE|STATS|DOCTOR|MALLOC-STATS|PURGE|HELP.
async fn memory<G: ActorGateway>(conn: &Conn<G>, args: &[Bytes]) -> Value {
    let sub = super::lower(&args[0]);
    match (sub.as_slice(), &args[1..]) {
        (b"usage", [key, options @ ..]) => {
            let samples = match options {
                [] => 5,
                [option, count] if super::lower(option) == b"samples" => match parse_i64(count) {
                    Ok(n) if n < 0 => return Value::err(errors::SYNTAX),
                    Ok(n) => n,
                    Err(e) => return e,
                },
                _ => return Value::err(errors::SYNTAX),
            };
            match describe(conn, key, "usage", samples).await {
                Value::Int(bytes) => Value::Int(bytes + encoding::sds(key.len()) as i64),
                other => other,
            }
        }
        (b"stats", []) => match stats(&conn.server).await {
            Ok(pairs) => Value::Map(pairs.into_iter().map(|(k, v)| (Value::bulk(k), v)).collect()),
            Err(e) => e,
        },
        (b"doctor", []) => match super::introspect::process_memory() {
            Some((rss, peak)) => Value::Verbatim(format!(
                "Orbit has no allocator report to analyse. The process holds {} resident ({} at its peak); keys live in their actors and in storage, and idle actors are deactivated to free memory.\n",
                super::introspect::human(rss),
                super::introspect::human(peak),
            )),
            None => Value::Verbatim("Orbit cannot read this process' memory on this platform.\n".into()),
        },
        // As Redis built without jemalloc, which Orbit is.
        (b"malloc-stats", []) => Value::Verbatim("Stats not supported for the current allocator\n".into()),
        (b"purge", []) => Value::ok(),
        (b"help", []) => lines(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help.",
        ]),
        _ => super::subcommand_error(
            "memory",
            &args[0],
            &["usage", "stats", "doctor", "malloc-stats", "purge", "help"],
        ),
    }
}

/// MEMORY STATS: the fields of Redis' reply that Orbit can measure.
async fn stats<G: ActorGateway>(server: &Server<G>) -> Result<Vec<(&'static str, Value)>, Value> {
    let mut keys = 0u64;
    for db in 0..crate::keyspace::DATABASE_KINDS.len() {
        keys += super::scan::dbsize(server, db).await?;
    }
    let (rss, peak) = super::introspect::process_memory().unwrap_or((0, 0));
    let per_key = rss.checked_div(keys).unwrap_or(0);
    let peak_percentage = if peak == 0 { 0.0 } else { rss as f64 * 100.0 / peak as f64 };
    Ok(vec![
        ("peak.allocated", Value::Int(peak as i64)),
        ("total.allocated", Value::Int(rss as i64)),
        ("keys.count", Value::Int(keys as i64)),
        ("keys.bytes-per-key", Value::Int(per_key as i64)),
        ("peak.percentage", Value::Double(peak_percentage)),
    ])
}

/// DEBUG SLEEP seconds | OBJECT key | HELP.
async fn debug<G: ActorGateway>(conn: &Conn<G>, args: &[Bytes]) -> Value {
    let peer = lock(&conn.info).addr.ip();
    if !lock(&conn.server.config).enable_debug_command.allows(peer) {
        return Value::err(DEBUG_REFUSED);
    }
    let sub = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    match (sub.as_str(), &args[1..]) {
        ("sleep", [seconds]) => {
            let seconds = std::str::from_utf8(seconds).ok().and_then(|s| s.trim().parse::<f64>().ok());
            let pause = Duration::try_from_secs_f64(seconds.unwrap_or(0.0).max(0.0)).unwrap_or(Duration::MAX);
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = conn.kill.cancelled() => {}
            }
            Value::ok()
        }
        ("object", [key]) => match describe(conn, key, "debug", 0).await {
            Value::Nil => Value::err(errors::NO_SUCH_KEY),
            other => other,
        },
        ("help", []) => lines(&[
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "OBJECT <key>",
            "    Show low level info about the key and associated value.",
            "SLEEP <seconds>",
            "    Pause this connection for <seconds>. Decimals allowed.",
            "HELP",
            "    Prints this help.",
            "Other Redis DEBUG subcommands are not supported by Orbit.",
        ]),
        (other, _) if DEBUG_UNSUPPORTED.contains(&other) => {
            Value::err(format!("ERR DEBUG {} is not supported by Orbit", other.to_ascii_uppercase()))
        }
        _ => Value::err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(&args[0])
        )),
    }
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. Orbit stores every write
/// as it happens and has no replicas to wait for: SAVE, NOSAVE, NOW and
/// FORCE all shut down at once, in order; there is never a shutdown in
/// progress to ABORT.
fn shutdown<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Outcome {
    let (mut save, mut nosave, mut other, mut abort) = (false, false, false, false);
    for arg in args {
        match super::lower(arg).as_slice() {
            b"save" => save = true,
            b"nosave" => nosave = true,
            b"now" | b"force" => other = true,
            b"abort" => abort = true,
            _ => return Value::err(errors::SYNTAX).into(),
        }
    }
    if (abort && (save || nosave || other)) || (save && nosave) {
        return Value::err(errors::SYNTAX).into();
    }
    if abort {
        return Value::err("ERR No shutdown in progress.").into();
    }
    tracing::info!(client = conn.id, "SHUTDOWN: the node shuts down");
    conn.server.runtime.stop_requested.cancel();
    conn.closing = true;
    Outcome::Replies(Vec::new())
}
