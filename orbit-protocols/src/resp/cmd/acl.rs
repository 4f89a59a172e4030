//! ACL WHOAMI, USERS, LIST, GETUSER, SETUSER, DELUSER, CAT, GENPASS, LOG
//! and DRYRUN; the check every command passes before it runs or is queued
//! ([`refusal`]); and authentication with its ACL LOG entry.
//!
//! The permissions themselves live in `resp/acl.rs`. A connection keeps a
//! copy of its user's (`acl::Cached`) and reloads it when SETUSER or
//! DELUSER bumps the server's ACL epoch.

use crate::keyspace::value::{Value, errors};
use crate::keyspace::{now_ms, parse_i64};
use crate::resp::acl::categories::{self, CATEGORIES};
use crate::resp::acl::log::{Context, Entry, Refusal};
use crate::resp::acl::{AclUser, Denied, Reason};
use crate::resp::connection::Conn;
use crate::resp::server::lock;
use crate::resp::table::{self, NOAUTH, Spec};
use bytes::Bytes;
use orbit_shared::ActorGateway;
use sha2::Digest;
use std::sync::atomic::Ordering;

const SUBCOMMANDS: [&str; 10] =
    ["cat", "deluser", "dryrun", "genpass", "getuser", "list", "log", "setuser", "users", "whoami"];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// ACL subcommand args...
pub(crate) fn run<G: ActorGateway>(conn: &mut Conn<G>, args: &[Bytes]) -> Value {
    let sub = super::lower(&args[0]);
    match (sub.as_slice(), &args[1..]) {
        (b"whoami", []) => Value::bulk(conn.user.clone().unwrap_or_else(|| "default".into())),
        (b"users", []) => {
            Value::Array(lock(&conn.server.acl).keys().map(|n| Value::bulk(n.clone())).collect())
        }
        (b"list", []) => {
            Value::Array(lock(&conn.server.acl).values().map(|u| Value::bulk(u.describe())).collect())
        }
        (b"getuser", [name]) => lock(&conn.server.acl).get(&text(name)).map_or(Value::Nil, getuser),
        (b"setuser", [name, rules @ ..]) => setuser(conn, &text(name), rules),
        (b"deluser", names) if !names.is_empty() => deluser(conn, names),
        (b"cat", []) => Value::Array(CATEGORIES.iter().map(|c| Value::bulk(*c)).collect()),
        (b"cat", [category]) => cat(category),
        (b"genpass", []) => genpass(256),
        (b"genpass", [bits]) => match parse_i64(bits) {
            Ok(bits @ 1..=4096) => genpass(bits as usize),
            Ok(_) => Value::err(
                "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096",
            ),
            Err(e) => e,
        },
        (b"log", []) => log(conn, 10),
        (b"log", [arg]) if super::lower(arg) == b"reset" => {
            lock(&conn.server.acl_log).reset();
            Value::ok()
        }
        (b"log", [count]) => match parse_i64(count) {
            Ok(n) if n >= 0 => log(conn, usize::try_from(n).unwrap_or(usize::MAX)),
            Ok(_) => Value::err("ERR value is out of range, must be positive"),
            Err(e) => e,
        },
        (b"dryrun", [user, command, rest @ ..]) => dryrun(conn, &text(user), command, rest),
        _ => super::subcommand_error("acl", &args[0], &SUBCOMMANDS),
    }
}

/// ACL GETUSER's reply: a map in RESP3, flat pairs in RESP2.
fn getuser(user: &AclUser) -> Value {
    let flags = user.flags().into_iter().map(Value::bulk).collect();
    let passwords = user.passwords.iter().map(|p| Value::bulk(p.clone())).collect();
    Value::Map(vec![
        (Value::bulk("flags"), Value::Set(flags)),
        (Value::bulk("passwords"), Value::Array(passwords)),
        (Value::bulk("commands"), Value::bulk(user.perms.describe_commands())),
        (Value::bulk("keys"), Value::bulk(user.perms.describe_keys())),
        (Value::bulk("channels"), Value::bulk(user.perms.describe_channels())),
        (Value::bulk("selectors"), Value::Array(Vec::new())),
    ])
}

/// ACL SETUSER name rules...: all rules apply, in order, or none does.
fn setuser<G: ActorGateway>(conn: &Conn<G>, name: &str, rules: &[Bytes]) -> Value {
    let mut acl = lock(&conn.server.acl);
    let mut user = acl.get(name).cloned().unwrap_or_else(|| AclUser::new(name));
    for rule in rules {
        let rule = text(rule);
        if let Err(e) = user.apply(&rule) {
            return Value::err(format!("ERR Error in ACL SETUSER modifier '{rule}': {}", e.text()));
        }
    }
    acl.insert(name.to_string(), user);
    conn.server.acl_epoch.fetch_add(1, Ordering::AcqRel);
    Value::ok()
}

/// ACL DELUSER name...: the clients authenticated as a removed user are
/// disconnected, as in Redis.
fn deluser<G: ActorGateway>(conn: &mut Conn<G>, names: &[Bytes]) -> Value {
    let names: Vec<String> = names.iter().map(|n| text(n)).collect();
    if names.iter().any(|n| n == "default") {
        return Value::err("ERR The 'default' user cannot be removed");
    }
    let removed: Vec<String> = {
        let mut acl = lock(&conn.server.acl);
        names.into_iter().filter(|n| acl.remove(n).is_some()).collect()
    };
    conn.server.acl_epoch.fetch_add(1, Ordering::AcqRel);
    disconnect(conn, &removed);
    Value::Int(removed.len() as i64)
}

fn disconnect<G: ActorGateway>(conn: &mut Conn<G>, users: &[String]) {
    let clients: Vec<_> = lock(&conn.server.clients).values().cloned().collect();
    for client in clients {
        let info = lock(&client);
        if !users.contains(&info.user) {
            continue;
        }
        if info.id == conn.id {
            conn.closing = true;
        } else {
            info.kill.cancel();
        }
    }
}

/// ACL CAT category: the commands in it, subcommands as `container|sub`.
fn cat(category: &[u8]) -> Value {
    let Some(mask) = categories::category(&text(category).to_ascii_lowercase()) else {
        return Value::err(format!("ERR Unknown category '{}'", text(category)));
    };
    let ids = categories::commands().iter().filter(|c| c.categories & mask != 0);
    Value::Array(ids.map(|c| Value::bulk(c.id)).collect())
}

/// `bits` of randomness as hex, rounded up to whole hex digits. Each block
/// is the SHA-256 of two version 4 UUIDs (244 random bits from the
/// operating system).
fn genpass(bits: usize) -> Value {
    let digits = bits.div_ceil(4);
    let mut out = String::with_capacity(digits + 64);
    while out.len() < digits {
        let mut hasher = sha2::Sha256::new();
        hasher.update(uuid::Uuid::new_v4().as_bytes());
        hasher.update(uuid::Uuid::new_v4().as_bytes());
        out.push_str(&hex::encode(hasher.finalize()));
    }
    out.truncate(digits);
    Value::bulk(out)
}

/// ACL LOG [count]: the newest entries first.
fn log<G: ActorGateway>(conn: &Conn<G>, count: usize) -> Value {
    let now = now_ms();
    let log = lock(&conn.server.acl_log);
    Value::Array(log.latest(count).map(|e| log_entry(e, now)).collect())
}

fn log_entry(entry: &Entry, now_ms: u64) -> Value {
    let r = &entry.refusal;
    let age = now_ms.saturating_sub(entry.updated_ms) as f64 / 1000.0;
    let int = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
    Value::Map(vec![
        (Value::bulk("count"), int(entry.count)),
        (Value::bulk("reason"), Value::bulk(r.reason.as_str())),
        (Value::bulk("context"), Value::bulk(r.context.as_str())),
        (Value::bulk("object"), Value::bulk(r.object.clone())),
        (Value::bulk("username"), Value::bulk(r.username.clone())),
        (Value::bulk("age-seconds"), Value::Double(age)),
        (Value::bulk("client-info"), Value::bulk(r.client_info.clone())),
        (Value::bulk("entry-id"), int(entry.entry_id)),
        (Value::bulk("timestamp-created"), int(entry.created_ms)),
        (Value::bulk("timestamp-last-updated"), int(entry.updated_ms)),
    ])
}

/// ACL DRYRUN user command args...: `OK`, or why the user may not run it.
fn dryrun<G: ActorGateway>(conn: &Conn<G>, user: &str, command: &[u8], args: &[Bytes]) -> Value {
    let acl = lock(&conn.server.acl);
    let Some(user) = acl.get(user) else { return Value::err(format!("ERR User '{user}' not found")) };
    let Some(spec) = table::lookup(&text(command).to_ascii_lowercase()) else {
        return Value::err(format!("ERR Command '{}' not found", text(command)));
    };
    let mut argv = Vec::with_capacity(args.len() + 1);
    argv.push(Bytes::from_static(spec.name.as_bytes()));
    argv.extend_from_slice(args);
    if !spec.arity_ok(argv.len()) {
        return Value::err(errors::arity(spec.name));
    }
    match user.perms.check(spec, &argv) {
        Ok(()) => Value::ok(),
        Err(denied) => Value::bulk(denied.verbose(&user.name)),
    }
}

/// The refusal of `spec` by the connection's user's permissions, logged in
/// ACL LOG; `None` when it may run. Cheap for a user allowed everything.
pub(crate) fn refusal<G: ActorGateway>(conn: &mut Conn<G>, spec: &Spec, argv: &[Bytes]) -> Option<Value> {
    if spec.flags & NOAUTH != 0 {
        return None;
    }
    let user = conn.user.as_deref()?;
    let epoch = conn.server.acl_epoch.load(Ordering::Acquire);
    let denied = match conn.perms.get(&conn.server.acl, epoch, user) {
        Some(perms) if perms.allows_everything() => return None,
        Some(perms) => perms.check(spec, argv).err()?,
        // The user was removed: its clients are being disconnected.
        None => Denied { reason: Reason::Command, object: spec.name.to_string() },
    };
    let reply = denied.reply(user);
    let context = if conn.multi.is_some() { Context::Multi } else { Context::Toplevel };
    let refusal = Refusal {
        reason: denied.reason,
        context,
        object: denied.object,
        username: user.to_string(),
        client_info: super::admin::client_line(&lock(&conn.info)),
    };
    lock(&conn.server.acl_log).add(refusal, now_ms());
    Some(Value::err(reply))
}

/// Whether the connection's user may run anything, as last checked by
/// [`refusal`] and still current: then a same-key run may skip the check.
pub(crate) fn unrestricted<G: ActorGateway>(conn: &Conn<G>) -> bool {
    let Some(user) = conn.user.as_deref() else { return false };
    conn.perms.unrestricted(conn.server.acl_epoch.load(Ordering::Acquire), user)
}

/// Checks a password for AUTH and HELLO; a failure is logged in ACL LOG
/// (reason `auth`, object `AUTH`). `Err` carries Redis' reply text.
pub(crate) fn authenticate<G: ActorGateway>(
    conn: &Conn<G>,
    user: &str,
    password: &[u8],
) -> Result<(), &'static str> {
    let result = conn.server.authenticate(user, password);
    if result.is_err() {
        let context = if conn.multi.is_some() { Context::Multi } else { Context::Toplevel };
        let refusal = Refusal {
            reason: Reason::Auth,
            context,
            object: "AUTH".into(),
            username: user.to_string(),
            client_info: super::admin::client_line(&lock(&conn.info)),
        };
        lock(&conn.server.acl_log).add(refusal, now_ms());
    }
    result
}
