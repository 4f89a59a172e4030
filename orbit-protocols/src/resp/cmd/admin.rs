//! Connection and server commands: PING, ECHO, QUIT, HELLO, AUTH, SELECT,
//! RESET, CLIENT, INFO, CONFIG, TIME, and ACTOR.CALL (any actor, JSON in
//! and out); COMMAND (`cmd/command.rs`), ACL (`cmd/acl.rs`), SLOWLOG and
//! LATENCY (`cmd/introspect.rs`) are dispatched from here.

use crate::keyspace::DATABASE_KINDS;
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{glob, parse_i64};
use crate::resp::connection::{Conn, Outcome};
use crate::resp::server::{Server, lock};
use bytes::Bytes;
use orbit_shared::{ActorGateway, ActorId, Invocation, NodeDescription};
use std::sync::atomic::Ordering;

/// The Redis version Orbit answers as (semantics followed: 7.2).
pub const REDIS_VERSION: &str = "7.2.4";

pub(crate) async fn run<G: ActorGateway>(conn: &mut Conn<G>, name: &str, argv: &[Bytes]) -> Outcome {
    let reply = match name {
        "ping" => ping(conn, argv),
        "echo" => Value::Bulk(argv[1].clone()),
        "quit" => {
            conn.closing = true;
            Value::ok()
        }
        "hello" => hello(conn, &argv[1..]),
        "auth" => auth(conn, &argv[1..]),
        "select" => select(conn, &argv[1]),
        "reset" => reset(conn),
        "client" => client(conn, &argv[1..]),
        "info" => info(conn, &argv[1..]).await,
        "config" => config(conn, &argv[1..]),
        "command" => super::command::run(&argv[1..]),
        "time" => time(),
        "slowlog" => conn.server.introspect.slowlog(&argv[1..]),
        "latency" => conn.server.introspect.latency(&argv[1..]),
        "lastsave" => conn.server.introspect.lastsave(),
        "role" => super::introspect::role(),
        "acl" => super::acl::run(conn, &argv[1..]),
        "actor.call" => actor_call(conn, &argv[1..]).await,
        _ => Value::err(format!("ERR unknown command '{name}'")),
    };
    reply.into()
}

fn ping<G: ActorGateway>(conn: &Conn<G>, argv: &[Bytes]) -> Value {
    if argv.len() > 2 {
        return Value::err(errors::arity("ping"));
    }
    if conn.subs.active() && !conn.resp3 {
        let message = argv.get(1).cloned().unwrap_or_default();
        return Value::Array(vec![Value::bulk("pong"), Value::Bulk(message)]);
    }
    match argv.get(1) {
        Some(m) => Value::Bulk(m.clone()),
        None => Value::Simple("PONG".into()),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// HELLO [protover [AUTH user pass] [SETNAME name]]
fn hello<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Value {
    let mut proto = if conn.resp3 { 3 } else { 2 };
    if let Some(version) = args.first() {
        match parse_i64(version) {
            Ok(v @ (2 | 3)) => proto = v,
            Ok(_) => return Value::err("NOPROTO unsupported protocol version"),
            Err(_) => return Value::err("ERR Protocol version is not an integer or out of range"),
        }
    }
    let mut i = 1;
    let mut name = None;
    while i < args.len() {
        match super::lower(&args[i]).as_slice() {
            b"auth" if i + 2 < args.len() => {
                if let Err(e) = super::acl::authenticate(conn, &text(&args[i + 1]), &args[i + 2]) {
                    return Value::err(e);
                }
                conn.user = Some(text(&args[i + 1]));
                i += 3;
            }
            b"setname" if i + 1 < args.len() => {
                if let Err(e) = check_name(&args[i + 1]) {
                    return e;
                }
                name = Some(args[i + 1].clone());
                i += 2;
            }
            other => return Value::err(format!("ERR Syntax error in HELLO option '{}'", text(other))),
        }
    }
    if conn.user.is_none() {
        return Value::err(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    conn.resp3 = proto == 3;
    let mut info = lock(&conn.info);
    info.resp = proto as u8;
    if let Some(user) = &conn.user {
        info.user = user.clone();
    }
    if name.is_some() {
        info.name = name;
    }
    Value::Map(vec![
        (Value::bulk("server"), Value::bulk("redis")),
        (Value::bulk("version"), Value::bulk(REDIS_VERSION)),
        (Value::bulk("proto"), Value::Int(proto)),
        (Value::bulk("id"), Value::Int(conn.id as i64)),
        (Value::bulk("mode"), Value::bulk("standalone")),
        (Value::bulk("role"), Value::bulk("master")),
        (Value::bulk("modules"), Value::Array(Vec::new())),
    ])
}

/// AUTH [username] password
fn auth<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Value {
    let (user, password) = match args {
        [password] => {
            if !conn.server.auth_required() {
                return Value::err(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                );
            }
            ("default".to_string(), password)
        }
        [user, password] => (text(user), password),
        _ => return Value::err(errors::SYNTAX),
    };
    match super::acl::authenticate(conn, &user, password) {
        Ok(()) => {
            lock(&conn.info).user = user.clone();
            conn.user = Some(user);
            Value::ok()
        }
        Err(e) => Value::err(e),
    }
}

fn select<G: ActorGateway>(conn: &mut Conn<G>, index: &[u8]) -> Value {
    match parse_i64(index) {
        Ok(db) if (0..DATABASE_KINDS.len() as i64).contains(&db) => {
            conn.db = db as usize;
            lock(&conn.info).db = conn.db;
            Value::ok()
        }
        Ok(_) => Value::err("ERR DB index is out of range"),
        Err(e) => e,
    }
}

fn reset<G: ActorGateway>(conn: &mut Conn<G>) -> Value {
    conn.multi = None;
    conn.server.watches.unwatch(&mut conn.watch);
    conn.server.pubsub.unsubscribe_all(&mut conn.subs);
    conn.resp3 = false;
    conn.db = 0;
    conn.user = (!conn.server.auth_required()).then(|| "default".to_string());
    conn.reply_mode.on();
    let mut info = lock(&conn.info);
    info.db = 0;
    info.resp = 2;
    info.name = None;
    info.in_multi = false;
    info.subscriptions = 0;
    info.patterns = 0;
    info.shard_subscriptions = 0;
    info.no_evict = false;
    info.no_touch = false;
    Value::Simple("RESET".into())
}

fn check_name(name: &[u8]) -> Result<(), Value> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(Value::err("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    Ok(())
}

/// A client as CLIENT LIST and CLIENT INFO show it: Redis 7.2's fields in
/// its order. Orbit keeps no reply list beside its reply buffer (`oll` and
/// `omem` are 0) and has no client tracking (`redir` is -1).
pub(crate) fn client_line(info: &crate::resp::server::ClientInfo) -> String {
    let name = |b: &Option<Bytes>| b.as_ref().map(|b| text(b)).unwrap_or_default();
    let buffers = &info.buffers;
    let multi = if info.in_multi { info.multi_commands as i64 } else { -1 };
    let events = if buffers.obl > 0 { "rw" } else { "r" };
    let tot_mem = buffers.qbuf + buffers.qbuf_free + buffers.argv_mem + buffers.rbs + info.multi_mem;
    let fields = [
        ("id", info.id.to_string()),
        ("addr", info.addr.to_string()),
        ("laddr", info.laddr.to_string()),
        ("fd", info.fd.to_string()),
        ("name", name(&info.name)),
        ("age", info.created.elapsed().as_secs().to_string()),
        ("idle", info.last_active.elapsed().as_secs().to_string()),
        ("flags", client_flags(info)),
        ("db", info.db.to_string()),
        ("sub", info.subscriptions.to_string()),
        ("psub", info.patterns.to_string()),
        ("ssub", info.shard_subscriptions.to_string()),
        ("multi", multi.to_string()),
        ("qbuf", buffers.qbuf.to_string()),
        ("qbuf-free", buffers.qbuf_free.to_string()),
        ("argv-mem", buffers.argv_mem.to_string()),
        ("multi-mem", info.multi_mem.to_string()),
        ("rbs", buffers.rbs.to_string()),
        ("rbp", buffers.rbp.to_string()),
        ("obl", buffers.obl.to_string()),
        ("oll", "0".to_string()),
        ("omem", "0".to_string()),
        ("tot-mem", tot_mem.to_string()),
        ("events", events.to_string()),
        ("cmd", info.last_command.to_string()),
        ("user", info.user.clone()),
        ("redir", "-1".to_string()),
        ("resp", info.resp.to_string()),
        ("lib-name", name(&info.lib_name)),
        ("lib-ver", name(&info.lib_ver)),
    ];
    fields.iter().map(|(field, value)| format!("{field}={value}")).collect::<Vec<_>>().join(" ")
}

/// Redis' flag letters, in its order: P subscribed, x in MULTI, b blocked
/// (a blocking command or a CLIENT PAUSE), c closing after the reply, e
/// no-evict, T no-touch; N for none of them.
fn client_flags(info: &crate::resp::server::ClientInfo) -> String {
    let letters = [
        (info.subscribed(), 'P'),
        (info.in_multi, 'x'),
        (info.blocked, 'b'),
        (info.close_after_reply, 'c'),
        (info.no_evict, 'e'),
        (info.no_touch, 'T'),
    ];
    let flags: String = letters.iter().filter(|(on, _)| *on).map(|(_, letter)| *letter).collect();
    if flags.is_empty() { "N".to_string() } else { flags }
}

fn client<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Value {
    let sub = super::lower(&args[0]);
    let rest = &args[1..];
    match (sub.as_slice(), rest) {
        (b"id", []) => Value::Int(conn.id as i64),
        (b"getname", []) => lock(&conn.info).name.clone().map_or(Value::Nil, Value::Bulk),
        (b"setname", [name]) => match check_name(name) {
            Ok(()) => {
                lock(&conn.info).name = (!name.is_empty()).then(|| name.clone());
                Value::ok()
            }
            Err(e) => e,
        },
        (b"setinfo", [attr, value]) => {
            let mut info = lock(&conn.info);
            match super::lower(attr).as_slice() {
                b"lib-name" => info.lib_name = Some(value.clone()),
                b"lib-ver" => info.lib_ver = Some(value.clone()),
                _ => return Value::err(format!("ERR Unrecognized option '{}'", text(attr))),
            }
            Value::ok()
        }
        (b"info", []) => Value::Verbatim(format!("{}\n", client_line(&lock(&conn.info)))),
        (b"list", filters) => client_list(conn, filters),
        (b"kill", filters) => client_kill(conn, filters),
        (b"no-evict" | b"no-touch", [value]) => client_switch(conn, &sub, value),
        (b"pause", [timeout]) => client_pause(conn, timeout, None),
        (b"pause", [timeout, mode]) => client_pause(conn, timeout, Some(mode)),
        (b"unpause", []) => {
            conn.server.pause.end();
            Value::ok()
        }
        (b"unblock", [id]) => client_unblock(conn, id, None),
        (b"unblock", [id, reason]) => client_unblock(conn, id, Some(reason)),
        (b"reply", [mode]) => client_reply(conn, mode),
        _ => super::subcommand_error(
            "client",
            &args[0],
            &[
                "id", "getname", "setname", "setinfo", "info", "list", "kill", "no-evict", "no-touch",
                "pause", "unpause", "unblock", "reply",
            ],
        ),
    }
}

/// CLIENT NO-EVICT|NO-TOUCH ON|OFF: recorded and shown (flags `e`, `T`).
/// Orbit evicts no keys and has no OBJECT IDLETIME, so nothing else
/// depends on them.
fn client_switch<G: ActorGateway>(conn: &Conn<G>, sub: &[u8], value: &[u8]) -> Value {
    let on = match super::lower(value).as_slice() {
        b"on" => true,
        b"off" => false,
        _ => return Value::err(errors::SYNTAX),
    };
    let mut info = lock(&conn.info);
    if sub == b"no-evict" {
        info.no_evict = on;
    } else {
        info.no_touch = on;
    }
    Value::ok()
}

/// CLIENT PAUSE timeout [WRITE|ALL]: the mode is checked before the
/// timeout (milliseconds), as Redis does.
fn client_pause<G: ActorGateway>(conn: &Conn<G>, timeout: &[u8], mode: Option<&Bytes>) -> Value {
    use crate::resp::server::PauseMode;
    let mode = match mode.map(|m| super::lower(m)).as_deref() {
        None | Some(b"all") => PauseMode::All,
        Some(b"write") => PauseMode::Write,
        Some(_) => return Value::err("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    let millis = match parse_i64(timeout) {
        Ok(ms) if ms < 0 => return Value::err("ERR timeout is negative"),
        Ok(ms) => ms.unsigned_abs(),
        Err(_) => return Value::err("ERR timeout is not an integer or out of range"),
    };
    let until = tokio::time::Instant::now().checked_add(std::time::Duration::from_millis(millis));
    let Some(until) = until else { return Value::err("ERR timeout is out of range") };
    conn.server.pause.start(until, mode);
    Value::ok()
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 if the client was waiting in a
/// blocking command (BLPOP...) and is now answered, else 0. A client held
/// by CLIENT PAUSE is not blocked in that sense, as in Redis.
fn client_unblock<G: ActorGateway>(conn: &Conn<G>, id: &[u8], reason: Option<&Bytes>) -> Value {
    let error = match reason.map(|r| super::lower(r)).as_deref() {
        None | Some(b"timeout") => false,
        Some(b"error") => true,
        Some(_) => return Value::err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let id = match parse_i64(id) {
        Ok(id) => id,
        Err(e) => return e,
    };
    let unblocked = u64::try_from(id).is_ok_and(|id| conn.server.blocking.unblock(id, error));
    Value::Int(i64::from(unblocked))
}

/// CLIENT REPLY ON|OFF|SKIP; OFF and SKIP go unanswered (the connection
/// drops their reply).
fn client_reply<G: ActorGateway>(conn: &mut Conn<G>, mode: &[u8]) -> Value {
    match super::lower(mode).as_slice() {
        b"on" => conn.reply_mode.on(),
        b"off" => conn.reply_mode.off(),
        b"skip" => conn.reply_mode.skip(),
        _ => return Value::err(errors::SYNTAX),
    }
    Value::ok()
}

/// Which clients CLIENT LIST shows.
enum Listed {
    Every,
    Ids(Vec<u64>),
    /// Subscribed ones (`TYPE pubsub`) or the others (`TYPE normal`).
    Subscribed(bool),
    /// `TYPE master|replica`: Orbit has no replication links.
    Nobody,
}

impl Listed {
    /// CLIENT LIST [TYPE normal|pubsub|master|replica] | [ID id ...]
    fn parse(filters: &[Bytes]) -> Result<Listed, Value> {
        Ok(match filters {
            [] => Listed::Every,
            [id, rest @ ..] if super::lower(id) == b"id" && !rest.is_empty() => {
                Listed::Ids(rest.iter().filter_map(|r| text(r).parse().ok()).collect())
            }
            [t, kind] if super::lower(t) == b"type" => match super::lower(kind).as_slice() {
                b"normal" => Listed::Subscribed(false),
                b"pubsub" => Listed::Subscribed(true),
                b"master" | b"replica" | b"slave" => Listed::Nobody,
                _ => return Err(Value::err(format!("ERR Unknown client type '{}'", text(kind)))),
            },
            _ => return Err(Value::err(errors::SYNTAX)),
        })
    }

    fn keeps(&self, info: &crate::resp::server::ClientInfo) -> bool {
        match self {
            Listed::Every => true,
            Listed::Ids(ids) => ids.contains(&info.id),
            Listed::Subscribed(subscribed) => info.subscribed() == *subscribed,
            Listed::Nobody => false,
        }
    }
}

fn client_list<G: ActorGateway>(conn: &Conn<G>, filters: &[Bytes]) -> Value {
    let listed = match Listed::parse(filters) {
        Ok(listed) => listed,
        Err(e) => return e,
    };
    let clients = lock(&conn.server.clients);
    let mut out = String::new();
    for info in clients.values() {
        let info = lock(info);
        if listed.keeps(&info) {
            out.push_str(&client_line(&info));
            out.push('\n');
        }
    }
    Value::Verbatim(out)
}

/// CLIENT KILL addr | CLIENT KILL ID id | ADDR addr | LADDR addr | USER name ...
fn client_kill<G: ActorGateway>(conn: &mut Conn<G>, filters: &[Bytes]) -> Value {
    let clients: Vec<_> = lock(&conn.server.clients).values().cloned().collect();
    let matches = |info: &crate::resp::server::ClientInfo, key: &[u8], value: &str| match key {
        b"id" => value.parse::<u64>().is_ok_and(|id| id == info.id),
        b"addr" => info.addr.to_string() == value,
        b"laddr" => info.laddr.to_string() == value,
        b"user" => info.user == value,
        _ => false,
    };
    if filters.is_empty() {
        return super::subcommand_error("client", b"kill", &["kill"]);
    }
    let (pairs, old_form): (Vec<(Vec<u8>, String)>, bool) = match filters {
        [addr] => (vec![(b"addr".to_vec(), text(addr))], true),
        pairs if !pairs.is_empty() && pairs.len() % 2 == 0 => {
            (pairs.chunks(2).map(|p| (super::lower(&p[0]), text(&p[1]))).collect(), false)
        }
        _ => return Value::err(errors::SYNTAX),
    };
    if pairs.iter().any(|(k, _)| !matches!(k.as_slice(), b"id" | b"addr" | b"laddr" | b"user" | b"skipme")) {
        return Value::err(errors::SYNTAX);
    }
    let skip_caller = match skips_caller(&pairs) {
        Ok(skip) => skip && !old_form,
        Err(e) => return e,
    };
    let mut killed = 0;
    for client in clients {
        let mut info = lock(&client);
        if skip_caller && info.id == conn.id {
            continue;
        }
        if pairs.iter().filter(|(k, _)| k != b"skipme").all(|(k, v)| matches(&info, k, v)) {
            if info.id == conn.id {
                conn.closing = true;
                info.close_after_reply = true;
            } else {
                info.kill.cancel();
            }
            killed += 1;
        }
    }
    if old_form {
        return if killed > 0 { Value::ok() } else { Value::err("ERR No such client") };
    }
    Value::Int(killed)
}

/// CLIENT KILL's `SKIPME yes|no` (the last one given; `yes` when absent):
/// whether the calling client is spared.
fn skips_caller(pairs: &[(Vec<u8>, String)]) -> Result<bool, Value> {
    match pairs.iter().rev().find(|(k, _)| k == b"skipme") {
        None => Ok(true),
        Some((_, v)) if v.eq_ignore_ascii_case("yes") => Ok(true),
        Some((_, v)) if v.eq_ignore_ascii_case("no") => Ok(false),
        Some(_) => Err(Value::err(errors::SYNTAX)),
    }
}

async fn info<G: ActorGateway>(conn: &Conn<G>, args: &[Bytes]) -> Value {
    let wanted: Vec<String> = args.iter().map(|a| text(a).to_ascii_lowercase()).collect();
    let every = wanted.iter().any(|w| matches!(w.as_str(), "all" | "everything"));
    let default = every || wanted.is_empty() || wanted.iter().any(|w| w == "default");
    // As Redis: commandstats only with `all`/`everything` or by name.
    let show = |s: &str| wanted.iter().any(|w| w == s) || every || (default && s != "commandstats");
    let server = &conn.server;
    let config = lock(&server.config).clone();
    let mut out = String::new();
    if show("server") {
        let uptime = server.started.elapsed().as_secs();
        out.push_str(&format!(
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\norbit_version:{}\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            server.runtime.port,
            uptime / 86_400,
        ));
    }
    if show("clients") {
        let clients = lock(&server.clients).len();
        out.push_str(&format!(
            "# Clients\r\nconnected_clients:{clients}\r\nmaxclients:{}\r\nblocked_clients:{}\r\n\r\n",
            config.maxclients,
            server.blocking.blocked()
        ));
    }
    if show("persistence") {
        out.push_str(&format!(
            "# Persistence\r\nloading:0\r\naof_enabled:{}\r\norbit_durability:{}\r\n\r\n",
            u8::from(server.runtime.durability != "none"),
            server.runtime.durability
        ));
    }
    if show("stats") {
        let s = &server.stats;
        out.push_str(&format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\ntotal_error_replies:{}\r\n\r\n",
            s.connections_received.load(Ordering::Relaxed),
            s.commands_processed.load(Ordering::Relaxed),
            s.rejected_connections.load(Ordering::Relaxed),
            s.expired_keys.load(Ordering::Relaxed),
            server.introspect.error_replies(),
        ));
    }
    if show("memory") {
        out.push_str(&super::introspect::memory_section());
    }
    if show("cpu") {
        out.push_str(&super::introspect::cpu_section());
    }
    if show("commandstats") {
        out.push_str(&server.introspect.commandstats());
    }
    if show("errorstats") {
        out.push_str(&server.introspect.errorstats());
    }
    if show("replication") {
        out.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n");
    }
    if show("cluster") {
        match server.gateway.describe().await {
            Ok(node) => out.push_str(&cluster_section(&node)),
            Err(e) => return crate::resp::server::error_reply(&e),
        }
    }
    if show("keyspace") {
        out.push_str("# Keyspace\r\n");
        for db in 0..DATABASE_KINDS.len() {
            match keyspace_counts(server, db).await {
                Ok((0, _)) => {}
                Ok((keys, expires)) => {
                    out.push_str(&format!("db{db}:keys={keys},expires={expires},avg_ttl=0\r\n"))
                }
                Err(e) => return e,
            }
        }
        out.push_str("\r\n");
    }
    Value::Verbatim(out.trim_end_matches("\r\n").to_string() + "\r\n")
}

/// INFO's `# Cluster` section: whether the node belongs to a cluster and,
/// when it does, the cluster and node ids, the nodes it knows, and the
/// partitions it sees: all of them, those it leads, and those without a
/// known leader.
fn cluster_section(node: &NodeDescription) -> String {
    if !node.clustered() {
        return "# Cluster\r\ncluster_enabled:0\r\n\r\n".to_string();
    }
    let leaderless = node.partitions.iter().filter(|p| p.leader.is_empty()).count();
    format!(
        "# Cluster\r\ncluster_enabled:1\r\ncluster_id:{}\r\ncluster_node_id:{}\r\ncluster_known_nodes:{}\r\ncluster_partitions:{}\r\ncluster_partitions_led:{}\r\ncluster_partitions_without_leader:{leaderless}\r\n\r\n",
        node.cluster_id,
        node.node_id,
        node.nodes.len(),
        node.partitions.len(),
        node.partitions_led(),
    )
}

/// INFO's `keys` (from the stored counts) and `expires` (the keys the
/// active-expiry index holds) of database `db`.
async fn keyspace_counts<G: ActorGateway>(server: &Server<G>, db: usize) -> Result<(u64, u64), Value> {
    let keys = super::scan::dbsize(server, db).await?;
    Ok((keys, server.expiry.keys_with_ttl(db).min(keys)))
}

/// The parameters CONFIG GET reports; `settable` ones take CONFIG SET.
fn parameters(
    config: &crate::resp::RespConfig,
    runtime: &crate::resp::RespRuntime,
) -> Vec<(&'static str, String)> {
    let fsync = match runtime.durability {
        "always" => "always",
        "periodic" => "everysec",
        _ => "no",
    };
    vec![
        ("save", String::new()),
        ("appendonly", if runtime.durability == "none" { "no" } else { "yes" }.into()),
        ("appendfsync", fsync.into()),
        ("databases", DATABASE_KINDS.len().to_string()),
        ("maxmemory", "0".into()),
        ("maxmemory-policy", "noeviction".into()),
        ("maxclients", config.maxclients.to_string()),
        ("requirepass", config.requirepass.clone().unwrap_or_default()),
        ("proto-max-bulk-len", config.proto_max_bulk_len.to_string()),
        ("client-query-buffer-limit", config.client_query_buffer_limit.to_string()),
        ("port", runtime.port.to_string()),
        ("timeout", "0".into()),
        ("notify-keyspace-events", String::new()),
    ]
}

/// The slow log's and latency monitor's parameters (CONFIG GET and SET).
fn introspect_parameters(i: &super::introspect::Introspect) -> [(&'static str, String); 3] {
    [
        ("slowlog-log-slower-than", i.slower_than.load(Ordering::Relaxed).to_string()),
        ("slowlog-max-len", i.slowlog_max.load(Ordering::Relaxed).to_string()),
        ("latency-monitor-threshold", i.latency_threshold.load(Ordering::Relaxed).to_string()),
    ]
}

fn config<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Value {
    let sub = super::lower(&args[0]);
    match (sub.as_slice(), &args[1..]) {
        (b"get", patterns) if !patterns.is_empty() => {
            let mut params = parameters(&lock(&conn.server.config), &conn.server.runtime);
            params.extend(introspect_parameters(&conn.server.introspect));
            Value::Map(config_get(&params, patterns))
        }
        (b"set", pairs) if !pairs.is_empty() && pairs.len() % 2 == 0 => {
            for pair in pairs.chunks(2) {
                if let Err(e) = config_set(&conn.server, &text(&super::lower(&pair[0])), &pair[1]) {
                    return e;
                }
            }
            Value::ok()
        }
        (b"resetstat", []) => {
            let s = &conn.server.stats;
            for counter in
                [&s.connections_received, &s.commands_processed, &s.expired_keys, &s.rejected_connections]
            {
                counter.store(0, Ordering::Relaxed);
            }
            conn.server.introspect.reset();
            Value::ok()
        }
        _ => super::subcommand_error("config", &args[0], &["get", "set", "resetstat"]),
    }
}

/// CONFIG GET's pairs: every parameter some pattern matches, once, in the
/// order first matched. As Redis, a pattern without `*`, `?` or `[` names
/// one parameter (any case) and the reply spells it as the client did;
/// glob patterns match without regard to case and reply with the name.
fn config_get(params: &[(&'static str, String)], patterns: &[Bytes]) -> Vec<(Value, Value)> {
    let mut found: Vec<(Bytes, &str)> = Vec::new();
    for pattern in patterns {
        let lower = super::lower(pattern);
        let exact = !pattern.iter().any(|&b| matches!(b, b'*' | b'?' | b'['));
        for (name, value) in params {
            let hit = if exact { lower == name.as_bytes() } else { glob::matches(&lower, name.as_bytes()) };
            if hit && !found.iter().any(|(seen, _)| seen.eq_ignore_ascii_case(name.as_bytes())) {
                let shown = if exact { pattern.clone() } else { Bytes::from(*name) };
                found.push((shown, value.as_str()));
            }
        }
    }
    found.into_iter().map(|(name, value)| (Value::Bulk(name), Value::bulk(value.to_string()))).collect()
}

fn not_integer(name: &str) -> Value {
    Value::err(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - argument couldn't be parsed into an integer"
    ))
}

fn config_set<G: ActorGateway>(server: &Server<G>, name: &str, value: &Bytes) -> Result<(), Value> {
    let number =
        || parse_i64(value).ok().and_then(|v| usize::try_from(v).ok()).ok_or_else(|| not_integer(name));
    let mut config = lock(&server.config);
    match name {
        "requirepass" => {
            let password = (!value.is_empty()).then(|| text(value));
            config.requirepass = password.clone();
            if let Some(user) = lock(&server.acl).get_mut("default") {
                user.set_requirepass(password.as_deref());
            }
        }
        "maxclients" => config.maxclients = number()?,
        "proto-max-bulk-len" => config.proto_max_bulk_len = number()?,
        "client-query-buffer-limit" => config.client_query_buffer_limit = number()?,
        "slowlog-log-slower-than" => {
            let micros = parse_i64(value).map_err(|_| not_integer(name))?;
            server.introspect.slower_than.store(micros, Ordering::Relaxed);
        }
        "slowlog-max-len" => server.introspect.slowlog_max.store(number()? as u64, Ordering::Relaxed),
        "latency-monitor-threshold" => {
            server.introspect.latency_threshold.store(number()? as u64, Ordering::Relaxed)
        }
        _ => {
            return Err(Value::err(format!(
                "ERR CONFIG SET of '{name}' is not supported (settable: requirepass, maxclients, proto-max-bulk-len, client-query-buffer-limit, slowlog-log-slower-than, slowlog-max-len, latency-monitor-threshold)"
            )));
        }
    }
    Ok(())
}

fn time() -> Value {
    let micros =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    Value::Array(vec![
        Value::Bulk(Bytes::from((micros / 1_000_000).to_string())),
        Value::Bulk(Bytes::from((micros % 1_000_000).to_string())),
    ])
}

/// ACTOR.CALL kind key method [json-args]
async fn actor_call<G: ActorGateway>(conn: &Conn<G>, args: &[Bytes]) -> Value {
    let (kind, key, method) = (text(&args[0]), args[1].clone(), text(&args[2]));
    let payload = match &args[3..] {
        [] => Bytes::new(),
        [json] => json.clone(),
        _ => return Value::err(errors::arity("actor.call")),
    };
    if DATABASE_KINDS.contains(&kind.as_str()) {
        return Value::err("ERR ACTOR.CALL cannot call Redis keys; use the Redis commands");
    }
    match conn.server.gateway.invoke(ActorId::new(kind, key), Invocation::new(method, payload)).await {
        Ok(reply) => Value::Bulk(reply.value),
        Err(e) => crate::resp::server::error_reply(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_shared::{ClusterNodeDescription, PartitionDescription};

    fn partitions(leaders: &[&str]) -> Vec<PartitionDescription> {
        (0..leaders.len() as u32)
            .zip(leaders)
            .map(|(id, leader)| PartitionDescription { id, leader: leader.to_string(), ..Default::default() })
            .collect()
    }

    #[test]
    fn a_node_without_a_cluster_reports_cluster_disabled() {
        let node = NodeDescription { partitions: partitions(&["127.0.0.1:1"; 4]), ..Default::default() };
        assert_eq!(cluster_section(&node), "# Cluster\r\ncluster_enabled:0\r\n\r\n");
    }

    #[test]
    fn a_cluster_node_reports_its_cluster_and_partitions() {
        let node = NodeDescription {
            partitions: partitions(&["10.0.0.1:1", "10.0.0.2:1", "", "10.0.0.1:1"]),
            cluster_id: "c-1".into(),
            node_id: 1,
            nodes: vec![
                ClusterNodeDescription { id: 1, addr: "10.0.0.1:1".into(), partitions_led: 2 },
                ClusterNodeDescription { id: 2, addr: "10.0.0.2:1".into(), partitions_led: 1 },
                ClusterNodeDescription { id: 3, addr: "10.0.0.3:1".into(), partitions_led: 0 },
            ],
            ..Default::default()
        };
        let section = cluster_section(&node);
        assert!(section.starts_with("# Cluster\r\ncluster_enabled:1\r\n"), "{section}");
        for line in [
            "cluster_id:c-1",
            "cluster_node_id:1",
            "cluster_known_nodes:3",
            "cluster_partitions:4",
            "cluster_partitions_led:2",
            "cluster_partitions_without_leader:1",
        ] {
            assert!(section.contains(&format!("{line}\r\n")), "{line} in {section}");
        }
    }
}
