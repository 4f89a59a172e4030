//! Connection and server commands: PING, ECHO, QUIT, HELLO, AUTH, SELECT,
//! RESET, CLIENT, TIME, and ACTOR.CALL (any actor, JSON in and out);
//! COMMAND (`cmd/command.rs`), ACL (`cmd/acl.rs`), SLOWLOG and LATENCY
//! (`cmd/introspect.rs`), INFO (`cmd/info.rs`), CONFIG (`cmd/config.rs`),
//! OBJECT, MEMORY, DEBUG and SHUTDOWN (`cmd/object.rs`), and ACTOR.REMIND,
//! ACTOR.JOB, ACTOR.REMINDERS and ACTOR.UNREMIND (`cmd/reminders.rs`) are
//! dispatched from here.

use crate::keyspace::DATABASE_KINDS;
use crate::keyspace::parse_i64;
use crate::keyspace::value::{Value, errors};
use crate::resp::connection::{Conn, Outcome};
use crate::resp::server::lock;
use bytes::Bytes;
use orbit_shared::{ActorGateway, ActorId, Invocation};

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
        "monitor" => return super::monitor::start(conn),
        "client" => client(conn, &argv[1..]),
        "info" => super::info::run(conn, &argv[1..]).await,
        "config" => super::config::run(conn, &argv[1..]),
        "object" | "memory" | "debug" | "shutdown" => return super::object::run(conn, name, argv).await,
        "command" => super::command::run(&argv[1..]),
        "time" => time(),
        "slowlog" => conn.server.introspect.slowlog(&argv[1..]),
        "latency" => conn.server.introspect.latency(&argv[1..]),
        "lastsave" => conn.server.introspect.lastsave(),
        "role" => super::introspect::role(),
        "acl" => super::acl::run(conn, &argv[1..]),
        "actor.call" => actor_call(conn, &argv[1..]).await,
        "actor.remind" | "actor.job" | "actor.reminders" | "actor.unremind" => {
            super::reminders::run(conn, name, &argv[1..]).await
        }
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
    super::monitor::stop(conn);
    super::tracking::disable(conn);
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
/// `omem` are 0); `redir` is the tracking redirect (0 for none, -1 when
/// tracking is off).
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
        ("redir", if info.tracking.on { info.tracking.redirect.to_string() } else { "-1".to_string() }),
        ("resp", info.resp.to_string()),
        ("lib-name", name(&info.lib_name)),
        ("lib-ver", name(&info.lib_ver)),
    ];
    fields.iter().map(|(field, value)| format!("{field}={value}")).collect::<Vec<_>>().join(" ")
}

/// Redis' flag letters, in its order: O monitor, P subscribed, x in MULTI,
/// b blocked (a blocking command or a CLIENT PAUSE), t tracking, R its
/// redirect broken, B broadcast tracking, c closing after the reply, e
/// no-evict, T no-touch; N for none of them.
fn client_flags(info: &crate::resp::server::ClientInfo) -> String {
    let letters = [
        (info.monitor, 'O'),
        (info.subscribed(), 'P'),
        (info.in_multi, 'x'),
        (info.blocked, 'b'),
        (info.tracking.on, 't'),
        (info.tracking.on && info.tracking.broken, 'R'),
        (info.tracking.on && info.tracking.bcast, 'B'),
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
    if let Some(reply) = super::tracking::client(conn, &sub, rest) {
        return reply;
    }
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
                "id",
                "getname",
                "setname",
                "setinfo",
                "info",
                "list",
                "kill",
                "no-evict",
                "no-touch",
                "pause",
                "unpause",
                "unblock",
                "reply",
                "tracking",
                "caching",
                "getredir",
                "trackinginfo",
            ],
        ),
    }
}

/// CLIENT NO-EVICT|NO-TOUCH ON|OFF: recorded and shown (flags `e`, `T`).
/// Orbit evicts no keys, and a key's actor does not know which client
/// called it, so OBJECT IDLETIME counts a no-touch client's accesses too.
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
