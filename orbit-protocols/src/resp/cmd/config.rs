//! CONFIG GET/SET/RESETSTAT/REWRITE/HELP over every Redis 7.2 parameter.
//!
//! [`PARAMS`] is the one list of parameters: name, alias, type with Redis'
//! bounds, default as redis-server 7.2 reports it, whether CONFIG SET may
//! change it, and where Orbit keeps it ([`Home`]). A parameter Orbit acts
//! on is *applied* (its home is the setting it drives, or [`Params`] when
//! Orbit reads it from there: the encoding thresholds OBJECT ENCODING uses,
//! `busy-reply-threshold`, `maxmemory-policy`...); the others are *kept*:
//! validated like Redis, stored and reported, with no effect, because they
//! tune something Orbit does not have (RDB, AOF rewrites, replication,
//! allocator layouts). `docs/redis-config.md` lists them all.
//!
//! CONFIG SET is all or nothing, as in Redis 7: every name is looked up and
//! checked (unknown, immutable, protected, given twice) before any value is
//! parsed, every value is parsed before any is applied, and the only apply
//! that can fail (`notify-keyspace-events`) runs first.

use crate::keyspace::glob;
use crate::keyspace::value::Value;
use crate::resp::connection::Conn;
use crate::resp::server::{RespConfig, RespRuntime, Server, lock};
use bytes::Bytes;
use orbit_shared::ActorGateway;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

const INT_MIN: i128 = i32::MIN as i128;
const INT_MAX: i128 = i32::MAX as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;

/// A parameter's type, as Redis validates it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// `yes` / `no`, any case.
    Bool,
    /// An integer within the bounds (inclusive).
    Int(i128, i128),
    /// A byte count with an optional unit (`1k` = 1000, `1kb` = 1024, up to
    /// `gb`), within the bounds, reported in bytes.
    Mem(i128, i128),
    /// One of the values, any case, reported in lower case.
    Enum(&'static [&'static str]),
    /// Several of the values, space-separated (`shutdown-on-sigterm`).
    Flags(&'static [&'static str]),
    /// Free text.
    Str,
    Special(Special),
}

/// Parameters with a grammar of their own.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Special {
    /// `seconds changes` pairs.
    Save,
    /// `class hard soft seconds` groups.
    OutputBufferLimit,
    /// Three integers in -2000..=2000.
    OomValues,
    /// Percentiles in 0..=100.
    Percentiles,
    /// A byte count or `N%` (`maxmemory-clients`).
    MemOrPercent,
    /// An integer that Redis clamps to 1..=500.
    Hz,
    /// Letters, digits, `-` and `.`.
    Hostname,
    /// `{title}`-style variables only.
    ProcTitle,
}

/// Whether CONFIG SET may change a parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Mutable,
    Immutable,
    /// Redis refuses it unless `enable-protected-configs` (immutable, `no`).
    Protected,
    /// Mutable in Redis, fixed by Orbit's configuration file: CONFIG SET
    /// accepts only the value in force (the listener's address and port).
    Fixed,
}

/// Where a parameter's value lives and what uses it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Home {
    /// In [`Params`], with no effect on Orbit.
    Kept,
    /// In [`Params`], read by Orbit (encodings, scripting, OBJECT FREQ...).
    Used,
    Requirepass,
    Maxclients,
    ProtoMaxBulkLen,
    QueryBufferLimit,
    SlowerThan,
    SlowlogMax,
    LatencyThreshold,
    /// The keyspace notifier's flags.
    Notify,
    /// `resp.enable_debug_command` of the node's configuration.
    DebugCommand,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Param {
    name: &'static str,
    alias: Option<&'static str>,
    kind: Kind,
    default: &'static str,
    mode: Mode,
    home: Home,
}

impl Param {
    const fn alias(self, alias: &'static str) -> Param {
        Param { alias: Some(alias), ..self }
    }
    const fn immutable(self) -> Param {
        Param { mode: Mode::Immutable, ..self }
    }
    const fn mode(self, mode: Mode) -> Param {
        Param { mode, ..self }
    }
    const fn home(self, home: Home) -> Param {
        Param { home, ..self }
    }
}

const fn p(name: &'static str, kind: Kind, default: &'static str) -> Param {
    Param { name, alias: None, kind, default, mode: Mode::Mutable, home: Home::Kept }
}
const fn b(name: &'static str, default: &'static str) -> Param {
    p(name, Kind::Bool, default)
}
const fn i(name: &'static str, min: i128, max: i128, default: &'static str) -> Param {
    p(name, Kind::Int(min, max), default)
}
const fn m(name: &'static str, min: i128, max: i128, default: &'static str) -> Param {
    p(name, Kind::Mem(min, max), default)
}
const fn e(name: &'static str, values: &'static [&'static str], default: &'static str) -> Param {
    p(name, Kind::Enum(values), default)
}
const fn s(name: &'static str, default: &'static str) -> Param {
    p(name, Kind::Str, default)
}
const fn x(name: &'static str, special: Special, default: &'static str) -> Param {
    p(name, Kind::Special(special), default)
}

const OUTPUT_LIMITS: &str = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60";
const YES_NO_LOCAL: &[&str] = &["no", "yes", "local"];
const SHUTDOWN_FLAGS: &[&str] = &["default", "save", "nosave", "now", "force"];
const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
const SYSLOG_FACILITIES: &[&str] =
    &["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"];

use Home::{Used as U, *};
use Special::*;

/// Every parameter of Redis 7.2 that CONFIG GET * lists, by name.
static PARAMS: &[Param] = &[
    e("acl-pubsub-default", &["allchannels", "resetchannels"], "resetchannels"),
    s("aclfile", "").immutable(),
    i("acllog-max-len", 0, LONG_MAX, "128"),
    i("active-defrag-cycle-max", 1, 99, "25"),
    i("active-defrag-cycle-min", 1, 99, "1"),
    m("active-defrag-ignore-bytes", 1, LONG_MAX, "104857600"),
    i("active-defrag-max-scan-fields", 1, LONG_MAX, "1000"),
    i("active-defrag-threshold-lower", 0, 1000, "10"),
    i("active-defrag-threshold-upper", 0, 1000, "100"),
    i("active-expire-effort", 1, 10, "1"),
    b("activedefrag", "no"),
    b("activerehashing", "yes"),
    b("always-show-logo", "no").immutable(),
    b("aof-disable-auto-gc", "no"),
    b("aof-load-truncated", "yes"),
    b("aof-rewrite-incremental-fsync", "yes"),
    b("aof-timestamp-enabled", "no"),
    b("aof-use-rdb-preamble", "yes"),
    s("aof_rewrite_cpulist", "").immutable(),
    s("appenddirname", "appendonlydir").immutable(),
    s("appendfilename", "appendonly.aof").immutable(),
    e("appendfsync", &["everysec", "always", "no"], "everysec"),
    b("appendonly", "no"),
    m("auto-aof-rewrite-min-size", 0, LONG_MAX, "67108864"),
    i("auto-aof-rewrite-percentage", 0, INT_MAX, "100"),
    s("bgsave_cpulist", "").immutable(),
    s("bind", "* -::*").mode(Mode::Fixed),
    s("bind-source-addr", ""),
    s("bio_cpulist", "").immutable(),
    i("busy-reply-threshold", 0, LONG_MAX, "5000").alias("lua-time-limit").home(U),
    x("client-output-buffer-limit", OutputBufferLimit, OUTPUT_LIMITS),
    m("client-query-buffer-limit", 1024 * 1024, LONG_MAX, "1073741824").home(QueryBufferLimit),
    b("cluster-allow-pubsubshard-when-down", "yes"),
    b("cluster-allow-reads-when-down", "no"),
    b("cluster-allow-replica-migration", "yes"),
    i("cluster-announce-bus-port", 0, 65535, "0"),
    x("cluster-announce-hostname", Hostname, ""),
    s("cluster-announce-human-nodename", ""),
    s("cluster-announce-ip", ""),
    i("cluster-announce-port", 0, 65535, "0"),
    i("cluster-announce-tls-port", 0, 65535, "0"),
    s("cluster-config-file", "nodes.conf").immutable(),
    b("cluster-enabled", "no").immutable(),
    m("cluster-link-sendbuf-limit", 0, LONG_MAX, "0"),
    i("cluster-migration-barrier", 0, INT_MAX, "1"),
    i("cluster-node-timeout", 0, LONG_MAX, "15000"),
    i("cluster-port", 0, 65535, "0").immutable(),
    e("cluster-preferred-endpoint-type", &["ip", "hostname", "unknown-endpoint"], "ip"),
    b("cluster-replica-no-failover", "no").alias("cluster-slave-no-failover"),
    i("cluster-replica-validity-factor", 0, INT_MAX, "10").alias("cluster-slave-validity-factor"),
    b("cluster-require-full-coverage", "yes"),
    b("crash-log-enabled", "yes"),
    b("crash-memcheck-enabled", "yes"),
    b("daemonize", "no").immutable(),
    i("databases", 1, INT_MAX, "16").immutable(),
    s("dbfilename", "dump.rdb").mode(Mode::Protected),
    s("dir", "").mode(Mode::Protected),
    b("disable-thp", "yes").immutable(),
    b("dynamic-hz", "yes"),
    e("enable-debug-command", YES_NO_LOCAL, "no").immutable().home(DebugCommand),
    e("enable-module-command", YES_NO_LOCAL, "no").immutable(),
    e("enable-protected-configs", YES_NO_LOCAL, "no").immutable(),
    i("hash-max-listpack-entries", 0, LONG_MAX, "512").alias("hash-max-ziplist-entries").home(U),
    m("hash-max-listpack-value", 0, LONG_MAX, "64").alias("hash-max-ziplist-value").home(U),
    m("hll-sparse-max-bytes", 0, LONG_MAX, "3000"),
    x("hz", Hz, "10"),
    s("ignore-warnings", ""),
    i("io-threads", 1, 128, "1").immutable(),
    b("io-threads-do-reads", "no").immutable(),
    b("jemalloc-bg-thread", "yes"),
    i("latency-monitor-threshold", 0, LONG_MAX, "0").home(LatencyThreshold),
    b("latency-tracking", "yes").home(U),
    x("latency-tracking-info-percentiles", Percentiles, "50 99 99.9").home(U),
    b("lazyfree-lazy-eviction", "no"),
    b("lazyfree-lazy-expire", "no"),
    b("lazyfree-lazy-server-del", "no"),
    b("lazyfree-lazy-user-del", "no"),
    b("lazyfree-lazy-user-flush", "no"),
    i("lfu-decay-time", 0, INT_MAX, "1"),
    i("lfu-log-factor", 0, INT_MAX, "10"),
    i("list-compress-depth", 0, INT_MAX, "0"),
    i("list-max-listpack-size", INT_MIN, INT_MAX, "-2").alias("list-max-ziplist-size").home(U),
    s("locale-collate", ""),
    s("logfile", "").immutable(),
    e("loglevel", &["debug", "verbose", "notice", "warning", "nothing"], "notice"),
    s("masterauth", ""),
    s("masteruser", ""),
    i("maxclients", 1, UINT_MAX, "10000").home(Maxclients),
    m("maxmemory", 0, ULLONG_MAX, "0").home(U),
    x("maxmemory-clients", MemOrPercent, "0"),
    i("maxmemory-eviction-tenacity", 0, 100, "10"),
    e("maxmemory-policy", POLICIES, "noeviction").home(U),
    i("maxmemory-samples", 1, INT_MAX, "5"),
    i("min-replicas-max-lag", 0, INT_MAX, "10").alias("min-slaves-max-lag"),
    i("min-replicas-to-write", 0, INT_MAX, "0").alias("min-slaves-to-write"),
    b("no-appendfsync-on-rewrite", "no"),
    s("notify-keyspace-events", "").home(Notify),
    e("oom-score-adj", &["no", "yes", "relative", "absolute"], "no"),
    x("oom-score-adj-values", OomValues, "0 200 800"),
    s("pidfile", "").immutable(),
    i("port", 0, 65535, "6379").mode(Mode::Fixed),
    x("proc-title-template", ProcTitle, "{title} {listen-addr} {server-mode}"),
    e("propagation-error-behavior", &["ignore", "panic", "panic-on-replicas"], "ignore"),
    b("protected-mode", "yes"),
    m("proto-max-bulk-len", 1024 * 1024, LONG_MAX, "536870912").home(ProtoMaxBulkLen),
    b("rdb-del-sync-files", "no"),
    b("rdb-save-incremental-fsync", "yes"),
    b("rdbchecksum", "yes").immutable(),
    b("rdbcompression", "yes"),
    m("repl-backlog-size", 1, LONG_MAX, "1048576"),
    i("repl-backlog-ttl", 0, INT_MAX, "3600"),
    b("repl-disable-tcp-nodelay", "no"),
    e("repl-diskless-load", &["disabled", "on-empty-db", "swapdb"], "disabled"),
    b("repl-diskless-sync", "yes"),
    i("repl-diskless-sync-delay", 0, INT_MAX, "5"),
    i("repl-diskless-sync-max-replicas", 0, INT_MAX, "0"),
    i("repl-ping-replica-period", 1, INT_MAX, "10").alias("repl-ping-slave-period"),
    i("repl-timeout", 1, INT_MAX, "60"),
    s("replica-announce-ip", "").alias("slave-announce-ip"),
    i("replica-announce-port", 0, 65535, "0").alias("slave-announce-port"),
    b("replica-announced", "yes"),
    b("replica-ignore-disk-write-errors", "no"),
    b("replica-ignore-maxmemory", "yes").alias("slave-ignore-maxmemory"),
    b("replica-lazy-flush", "no").alias("slave-lazy-flush"),
    i("replica-priority", 0, INT_MAX, "100").alias("slave-priority"),
    b("replica-read-only", "yes").alias("slave-read-only"),
    b("replica-serve-stale-data", "yes").alias("slave-serve-stale-data"),
    s("replicaof", "").alias("slaveof").immutable(),
    s("requirepass", "").home(Requirepass),
    e("sanitize-dump-payload", &["no", "yes", "clients"], "no"),
    // Redis' default is "3600 1 300 100 60 10000"; Orbit takes no
    // snapshots (every write is stored as it happens), so it reports none.
    x("save", Save, ""),
    s("server_cpulist", "").immutable(),
    i("set-max-intset-entries", 0, LONG_MAX, "512").home(U),
    i("set-max-listpack-entries", 0, LONG_MAX, "128").home(U),
    m("set-max-listpack-value", 0, LONG_MAX, "64").home(U),
    b("set-proc-title", "yes").immutable(),
    p("shutdown-on-sigint", Kind::Flags(SHUTDOWN_FLAGS), "default"),
    p("shutdown-on-sigterm", Kind::Flags(SHUTDOWN_FLAGS), "default"),
    i("shutdown-timeout", 0, INT_MAX, "10"),
    i("slowlog-log-slower-than", -1, LONG_MAX, "10000").home(SlowerThan),
    i("slowlog-max-len", 0, LONG_MAX, "128").home(SlowlogMax),
    i("socket-mark-id", 0, UINT_MAX, "0").immutable(),
    b("stop-writes-on-bgsave-error", "yes"),
    m("stream-node-max-bytes", 0, LONG_MAX, "4096"),
    i("stream-node-max-entries", 0, LONG_MAX, "100"),
    e("supervised", &["upstart", "systemd", "auto", "no"], "no").immutable(),
    b("syslog-enabled", "no").immutable(),
    e("syslog-facility", SYSLOG_FACILITIES, "local0").immutable(),
    s("syslog-ident", "redis").immutable(),
    i("tcp-backlog", 0, INT_MAX, "511").immutable(),
    i("tcp-keepalive", 0, INT_MAX, "300"),
    i("timeout", 0, INT_MAX, "0"),
    e("tls-auth-clients", &["no", "yes", "optional"], "yes"),
    s("tls-ca-cert-dir", ""),
    s("tls-ca-cert-file", ""),
    s("tls-cert-file", ""),
    s("tls-ciphers", ""),
    s("tls-ciphersuites", ""),
    s("tls-client-cert-file", ""),
    s("tls-client-key-file", ""),
    s("tls-client-key-file-pass", ""),
    b("tls-cluster", "no"),
    s("tls-dh-params-file", ""),
    s("tls-key-file", ""),
    s("tls-key-file-pass", ""),
    i("tls-port", 0, 65535, "0").mode(Mode::Fixed),
    b("tls-prefer-server-ciphers", "no"),
    s("tls-protocols", ""),
    b("tls-replication", "no"),
    i("tls-session-cache-size", 0, INT_MAX, "20480"),
    i("tls-session-cache-timeout", 0, INT_MAX, "300"),
    b("tls-session-caching", "yes"),
    i("tracking-table-max-keys", 0, LONG_MAX, "1000000").home(U),
    s("unixsocket", "").immutable(),
    s("unixsocketperm", "0").immutable(),
    i("zset-max-listpack-entries", 0, LONG_MAX, "128").alias("zset-max-ziplist-entries").home(U),
    m("zset-max-listpack-value", 0, LONG_MAX, "64").alias("zset-max-ziplist-value").home(U),
];

/// The parameter named `name` (lower case) or aliased so.
fn lookup(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name == name || p.alias == Some(name))
}

/// The values of the parameters kept here (see [`Home`]); those applied
/// elsewhere (requirepass, maxclients, the slow log's...) live in the
/// setting they drive.
#[derive(Debug)]
pub struct Params {
    values: Mutex<HashMap<&'static str, String>>,
}

impl Params {
    /// Redis' defaults, with what the node's configuration fixes: the
    /// listener's address and port, the storage's durability (`appendonly`,
    /// `appendfsync`), the working directory.
    pub fn new(config: &RespConfig, runtime: &RespRuntime) -> Params {
        let mut values: HashMap<&'static str, String> = PARAMS
            .iter()
            .filter(|p| matches!(p.home, Kept | U))
            .map(|p| (p.name, p.default.to_string()))
            .collect();
        let fsync = match runtime.durability {
            "always" => "always",
            "periodic" => "everysec",
            _ => "no",
        };
        let appendonly = if runtime.durability == "none" { "no" } else { "yes" };
        let dir = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
        for (name, value) in [
            ("appendonly", appendonly.to_string()),
            ("appendfsync", fsync.to_string()),
            ("port", runtime.port.to_string()),
            ("bind", config.addr.ip().to_string()),
            ("dir", dir),
        ] {
            values.insert(name, value);
        }
        Params { values: Mutex::new(values) }
    }

    /// The value of a parameter kept here, by name or alias (any case).
    pub fn get(&self, name: &str) -> Option<String> {
        let param = lookup(&name.to_ascii_lowercase())?;
        lock(&self.values).get(param.name).cloned()
    }

    /// An integer parameter kept here (an encoding threshold...); 0 if it
    /// is not one.
    pub fn int(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    fn store(&self, name: &'static str, value: String) {
        lock(&self.values).insert(name, value);
    }
}

pub(crate) fn run<G: ActorGateway>(conn: &Conn<G>, args: &[Bytes]) -> Value {
    let sub = super::lower(&args[0]);
    let server = &conn.server;
    match (sub.as_slice(), &args[1..]) {
        (b"get", patterns) if !patterns.is_empty() => Value::Map(get(server, patterns)),
        (b"set", pairs) if !pairs.is_empty() && pairs.len() % 2 == 0 => set(server, pairs),
        (b"resetstat", []) => {
            let s = &server.stats;
            for counter in
                [&s.connections_received, &s.commands_processed, &s.expired_keys, &s.rejected_connections]
            {
                counter.store(0, Ordering::Relaxed);
            }
            server.introspect.reset();
            Value::ok()
        }
        (b"rewrite", []) => Value::err(
            "ERR CONFIG REWRITE is not supported: Orbit is configured by its TOML file and ORBIT__* environment variables, which it never rewrites; CONFIG SET changes last until the node restarts",
        ),
        (b"help", []) => Value::Array(
            [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|l| Value::Simple((*l).into()))
            .collect(),
        ),
        _ => super::subcommand_error("config", &args[0], &["get", "set", "resetstat", "rewrite", "help"]),
    }
}

/// The value CONFIG GET reports for `param` now.
fn current<G: ActorGateway>(server: &Server<G>, param: &Param) -> String {
    let config = || lock(&server.config);
    let introspect = &server.introspect;
    match param.home {
        Kept | U => server.params.get(param.name).unwrap_or_default(),
        Requirepass => config().requirepass.clone().unwrap_or_default(),
        Maxclients => config().maxclients.to_string(),
        ProtoMaxBulkLen => config().proto_max_bulk_len.to_string(),
        QueryBufferLimit => config().client_query_buffer_limit.to_string(),
        SlowerThan => introspect.slower_than.load(Ordering::Relaxed).to_string(),
        SlowlogMax => introspect.slowlog_max.load(Ordering::Relaxed).to_string(),
        LatencyThreshold => introspect.latency_threshold.load(Ordering::Relaxed).to_string(),
        Notify => server.notify.flags(),
        DebugCommand => config().enable_debug_command.name().to_string(),
    }
}

/// CONFIG GET's pairs: every parameter some pattern matches (by name or
/// alias), once, in the order first matched. As Redis, a pattern without
/// `*`, `?` or `[` names one parameter (any case) and the reply spells it as
/// the client did; glob patterns match without regard to case.
fn get<G: ActorGateway>(server: &Server<G>, patterns: &[Bytes]) -> Vec<(Value, Value)> {
    let mut found: Vec<(Bytes, String)> = Vec::new();
    for pattern in patterns {
        let lower = super::lower(pattern);
        let exact = !pattern.iter().any(|&c| matches!(c, b'*' | b'?' | b'['));
        for param in PARAMS {
            for name in std::iter::once(param.name).chain(param.alias) {
                let hit =
                    if exact { lower == name.as_bytes() } else { glob::matches(&lower, name.as_bytes()) };
                if hit && !found.iter().any(|(seen, _)| seen.eq_ignore_ascii_case(name.as_bytes())) {
                    let shown = if exact { pattern.clone() } else { Bytes::from_static(name.as_bytes()) };
                    found.push((shown, current(server, param)));
                }
            }
        }
    }
    found.into_iter().map(|(name, value)| (Value::Bulk(name), Value::bulk(value))).collect()
}

fn failed(given: &str, reason: &str) -> Value {
    Value::err(format!("ERR CONFIG SET failed (possibly related to argument '{given}') - {reason}"))
}

/// CONFIG SET name value [name value ...], all or nothing.
fn set<G: ActorGateway>(server: &Server<G>, pairs: &[Bytes]) -> Value {
    let mut planned: Vec<(&'static Param, String, &Bytes)> = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks(2) {
        let given = String::from_utf8_lossy(&pair[0]).into_owned();
        let Some(param) = lookup(&given.to_ascii_lowercase()) else {
            return Value::err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{given}'"
            ));
        };
        match param.mode {
            Mode::Immutable => return failed(&given, "can't set immutable config"),
            Mode::Protected => return failed(&given, "can't set protected config"),
            Mode::Mutable | Mode::Fixed => {}
        }
        if planned.iter().any(|(seen, _, _)| seen.name == param.name) {
            return failed(&given, "duplicate parameter");
        }
        planned.push((param, given, &pair[1]));
    }
    let mut parsed = Vec::with_capacity(planned.len());
    for (param, given, raw) in &planned {
        let value = match parse(param, raw, &current(server, param)) {
            Ok(value) => value,
            Err(reason) => return failed(given, &reason),
        };
        if param.mode == Mode::Fixed && value != current(server, param) {
            return failed(
                given,
                &format!(
                    "Orbit cannot change '{}' at run time: the node's configuration file sets its listener",
                    param.name
                ),
            );
        }
        parsed.push((*param, given.as_str(), value));
    }
    // The one apply that may fail goes first, so a failure changes nothing.
    if let Some((_, given, value)) = parsed.iter().find(|(p, _, _)| p.home == Notify)
        && server.notify.set_flags(value).is_err()
    {
        return failed(given, "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
    }
    for (param, _, value) in parsed {
        apply(server, param, value);
    }
    Value::ok()
}

/// Stores a parsed value where the parameter lives (the keyspace notifier's
/// flags are set by [`set`] itself).
fn apply<G: ActorGateway>(server: &Server<G>, param: &'static Param, value: String) {
    let number = value.parse::<i128>().unwrap_or(0);
    let size = usize::try_from(number).unwrap_or(usize::MAX);
    let introspect = &server.introspect;
    match param.home {
        Kept | U => server.params.store(param.name, value),
        Requirepass => {
            let password = (!value.is_empty()).then_some(value);
            lock(&server.config).requirepass = password.clone();
            if let Some(user) = lock(&server.acl).get_mut("default") {
                user.set_requirepass(password.as_deref());
            }
        }
        Maxclients => lock(&server.config).maxclients = size,
        ProtoMaxBulkLen => lock(&server.config).proto_max_bulk_len = size,
        QueryBufferLimit => lock(&server.config).client_query_buffer_limit = size,
        SlowerThan => introspect.slower_than.store(number as i64, Ordering::Relaxed),
        SlowlogMax => introspect.slowlog_max.store(number as u64, Ordering::Relaxed),
        LatencyThreshold => introspect.latency_threshold.store(number as u64, Ordering::Relaxed),
        Notify | DebugCommand => {}
    }
}

/// Validates a value as Redis does and returns it as CONFIG GET will
/// report it (`current`: the value now, which a partial
/// `client-output-buffer-limit` amends); `Err` is Redis' reason.
fn parse(param: &Param, raw: &[u8], current: &str) -> Result<String, String> {
    let text = String::from_utf8_lossy(raw).into_owned();
    match param.kind {
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            v @ ("yes" | "no") => Ok(v.to_string()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int(min, max) => {
            let n = integer(&text).ok_or("argument couldn't be parsed into an integer")?;
            within(n, min, max)
        }
        Kind::Mem(min, max) => {
            let n = memory(&text).ok_or("argument must be a memory value")?;
            within(n, min, max)
        }
        Kind::Enum(values) => {
            let lower = text.to_ascii_lowercase();
            values.iter().find(|v| **v == lower).map(|v| v.to_string()).ok_or_else(|| one_of(values))
        }
        Kind::Flags(values) => flags(&text, values),
        Kind::Str => Ok(text),
        Kind::Special(special) => parse_special(special, &text, current),
    }
}

fn within(n: i128, min: i128, max: i128) -> Result<String, String> {
    if (min..=max).contains(&n) {
        Ok(n.to_string())
    } else {
        Err(format!("argument must be between {min} and {max} inclusive"))
    }
}

fn one_of(values: &[&str]) -> String {
    format!("argument(s) must be one of the following: {}", values.join(", "))
}

/// Redis' `string2ll`: an optional `-`, digits, no leading zero, no `+`.
fn integer(text: &str) -> Option<i128> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|c| c.is_ascii_digit())
        && (text == "0" || !digits.starts_with('0'))
        && digits.len() <= 20;
    let n: i128 = if well_formed { text.parse().ok()? } else { return None };
    (i128::from(i64::MIN)..=i128::from(i64::MAX)).contains(&n).then_some(n)
}

/// Redis' `memtoull`: digits (leading zeros allowed, empty meaning 0) and
/// an optional unit, any case: b, k, kb, m, mb, g, gb.
fn memory(text: &str) -> Option<i128> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let multiplier: i128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.len() > 20 {
        return None;
    }
    let n: i128 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    let n = n.checked_mul(multiplier)?;
    (n <= ULLONG_MAX).then_some(n)
}

/// `shutdown-on-sig*`: `default` alone, or any of the others, SAVE and
/// NOSAVE not together; reported in the table's order.
fn flags(text: &str, values: &[&str]) -> Result<String, String> {
    let words: Vec<String> = text.split_whitespace().map(str::to_ascii_lowercase).collect();
    if words.is_empty() || words.iter().any(|w| !values.contains(&w.as_str())) {
        return Err(one_of(values));
    }
    let has = |v: &str| words.iter().any(|w| w.as_str() == v);
    if has("save") && has("nosave") {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
    }
    if has("default") && words.len() > 1 {
        return Err(one_of(values));
    }
    Ok(values.iter().filter(|v| has(v)).copied().collect::<Vec<_>>().join(" "))
}

fn parse_special(special: Special, text: &str, current: &str) -> Result<String, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match special {
        Save => {
            let valid = words.len().is_multiple_of(2)
                && words.chunks(2).all(|pair| {
                    let seconds = integer(pair[0]);
                    let changes = integer(pair[1]);
                    seconds.is_some_and(|s| s >= 1) && changes.is_some_and(|c| c >= 0)
                });
            if !valid {
                return Err("Invalid save parameters".into());
            }
            Ok(words.join(" "))
        }
        OutputBufferLimit => output_buffer_limit(&words, current),
        OomValues => {
            if words.len() != 3 {
                return Err("wrong number of arguments".into());
            }
            let values: Option<Vec<i128>> =
                words.iter().map(|w| integer(w).filter(|v| (-2000..=2000).contains(v))).collect();
            let values =
                values.ok_or("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")?;
            Ok(values.iter().map(i128::to_string).collect::<Vec<_>>().join(" "))
        }
        Percentiles => {
            let mut out = Vec::with_capacity(words.len());
            for word in &words {
                let v: f64 =
                    word.parse().map_err(|_| "Invalid latency-tracking-info-percentiles parameters")?;
                if !(0.0..=100.0).contains(&v) {
                    return Err(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into(),
                    );
                }
                out.push(format!("{v}"));
            }
            Ok(out.join(" "))
        }
        MemOrPercent => match text.strip_suffix('%') {
            Some(percent) => {
                let n = integer(percent)
                    .filter(|n| *n >= 0)
                    .ok_or("argument must be a memory or percent value")?;
                if n > 100 {
                    return Err("percentage argument must be less or equal to 100".into());
                }
                Ok(format!("{n}%"))
            }
            None => memory(text)
                .filter(|n| *n <= LONG_MAX)
                .map(|n| n.to_string())
                .ok_or_else(|| "argument must be a memory or percent value".into()),
        },
        Hz => {
            let n = integer(text).ok_or("argument couldn't be parsed into an integer")?;
            within(n, 0, INT_MAX)?;
            Ok(n.clamp(1, 500).to_string())
        }
        Hostname => {
            if text.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.') {
                Ok(text.to_string())
            } else {
                Err("Hostnames may only contain alphanumeric characters, hyphens or dots".into())
            }
        }
        ProcTitle => proc_title(text),
    }
}

/// `client-output-buffer-limit`: groups of `class hard soft seconds`
/// replace those classes' limits in `current`; the result lists all three.
fn output_buffer_limit(words: &[&str], current: &str) -> Result<String, String> {
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut classes: Vec<(String, [String; 3])> = current
        .split(' ')
        .collect::<Vec<_>>()
        .chunks(4)
        .filter(|c| c.len() == 4)
        .map(|c| (c[0].to_string(), [c[1].to_string(), c[2].to_string(), c[3].to_string()]))
        .collect();
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => return Err("Invalid client class specified in buffer limit configuration.".into()),
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.".to_string();
        let hard = memory(group[1]).ok_or_else(bad)?;
        let soft = memory(group[2]).ok_or_else(bad)?;
        let seconds = integer(group[3]).filter(|s| *s >= 0).ok_or_else(bad)?;
        if let Some((_, limits)) = classes.iter_mut().find(|(name, _)| name == class) {
            *limits = [hard.to_string(), soft.to_string(), seconds.to_string()];
        }
    }
    Ok(classes
        .iter()
        .map(|(name, l)| format!("{name} {} {} {}", l[0], l[1], l[2]))
        .collect::<Vec<_>>()
        .join(" "))
}

/// `proc-title-template`: text with `{variable}`s Redis knows.
fn proc_title(text: &str) -> Result<String, String> {
    const VARIABLES: &[&str] =
        &["title", "listen-addr", "server-mode", "port", "tls-port", "unixsocket", "config-file"];
    let invalid = || "template format is invalid or contains unknown variables".to_string();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(invalid)?;
        if !VARIABLES.contains(&&after[..close]) {
            return Err(invalid());
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') || text.trim().is_empty() {
        return Err(invalid());
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(name: &str, value: &str) -> Result<String, String> {
        let param = lookup(name).expect("a parameter");
        parse(param, value.as_bytes(), param.default)
    }

    #[test]
    fn names_and_aliases_are_unique_lower_case_and_sorted() {
        let mut seen = std::collections::HashSet::new();
        for p in PARAMS {
            for name in std::iter::once(p.name).chain(p.alias) {
                assert!(seen.insert(name), "{name} twice");
                assert_eq!(name, name.to_ascii_lowercase());
            }
        }
        assert!(PARAMS.windows(2).all(|w| w[0].name < w[1].name), "the table is in name order");
    }

    #[test]
    fn every_default_passes_its_own_validation_unchanged() {
        for p in PARAMS.iter().filter(|p| p.home != Home::Notify) {
            assert_eq!(parse(p, p.default.as_bytes(), p.default).as_deref(), Ok(p.default), "{}", p.name);
        }
    }

    #[test]
    fn values_are_checked_and_reported_as_redis_does() {
        assert_eq!(parsed("maxmemory", "100MB"), Ok("104857600".into()));
        assert_eq!(parsed("maxmemory", "1k"), Ok("1000".into()));
        assert_eq!(parsed("maxmemory", "01"), Ok("1".into()));
        assert_eq!(parsed("maxmemory", "-1"), Err("argument must be a memory value".into()));
        assert_eq!(parsed("maxmemory", "1.5gb"), Err("argument must be a memory value".into()));
        assert_eq!(parsed("hz", "+1"), Err("argument couldn't be parsed into an integer".into()));
        assert_eq!(parsed("hz", "600"), Ok("500".into()));
        assert_eq!(parsed("port", "70000"), Err("argument must be between 0 and 65535 inclusive".into()));
        assert_eq!(parsed("activerehashing", "YES"), Ok("yes".into()));
        assert_eq!(parsed("appendfsync", "Always"), Ok("always".into()));
        assert!(parsed("maxmemory-policy", "bad").unwrap_err().starts_with("argument(s) must be one of"));
        assert_eq!(parsed("maxmemory-clients", "5%"), Ok("5%".into()));
        assert_eq!(
            parsed("maxmemory-clients", "200%"),
            Err("percentage argument must be less or equal to 100".into())
        );
        assert_eq!(parsed("save", "3600 1 300 100"), Ok("3600 1 300 100".into()));
        assert_eq!(parsed("save", "3600 1 300"), Err("Invalid save parameters".into()));
        assert_eq!(parsed("save", ""), Ok(String::new()));
        assert_eq!(
            parsed("client-output-buffer-limit", "replica 1mb 2 3"),
            Ok("normal 0 0 0 slave 1048576 2 3 pubsub 33554432 8388608 60".into())
        );
        assert_eq!(parsed("shutdown-on-sigterm", "force NOSAVE"), Ok("nosave force".into()));
        assert!(parsed("shutdown-on-sigterm", "save nosave").is_err());
        assert_eq!(parsed("latency-tracking-info-percentiles", "50 99.5"), Ok("50 99.5".into()));
        assert!(parsed("proc-title-template", "{foo}").is_err());
    }
}
