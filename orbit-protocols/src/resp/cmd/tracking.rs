//! Client-side caching: CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO,
//! and the invalidation messages.
//!
//! In the default mode the node remembers, per key name (in every
//! database, as Redis), which tracking clients read it; the first write of
//! the key by anyone sends each of them an invalidation and forgets them
//! (NOLOOP skips the writer's own). OPTIN remembers only the reads after
//! `CLIENT CACHING YES`, OPTOUT all but those after `CLIENT CACHING NO`.
//! BCAST remembers nothing: every write of a key under one of the client's
//! prefixes (all keys without a prefix) is sent. FLUSHDB and FLUSHALL send
//! every tracking client a null invalidation.
//!
//! An invalidation is `>2 invalidate [key]` on the client's own connection
//! in RESP3; with REDIRECT it goes to the target client instead, as that
//! push in RESP3 or, in RESP2, as a `message` of `__redis__:invalidate` if
//! the target is subscribed (the RESP2 way). A redirect whose target left
//! is reported once per write with `>2 tracking-redir-broken id` to a
//! RESP3 client. Messages take the connection's message queue, the one
//! pub/sub uses, so they follow the reply of the command that caused them.
//!
//! The table holds at most `tracking-table-max-keys` keys (CONFIG; 0 for no
//! bound): past it, keys are dropped with an invalidation sent for them,
//! as in Redis.
//! Tracking is per node: a client hears of the writes made through the node
//! it is connected to. With no tracking client a write pays one atomic load.

use crate::keyspace::parse_i64;
use crate::keyspace::value::{Value, errors};
use crate::resp::connection::{Conn, Outcome};
use crate::resp::server::{Server, lock};
use crate::resp::table::Spec;
use bytes::Bytes;
use orbit_shared::ActorGateway;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A tracking client's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mode {
    /// Client receiving the invalidations; 0 for the client itself.
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// BCAST's prefixes, sorted; `[""]` for every key.
    pub prefixes: Vec<Bytes>,
}

/// Tracking as CLIENT LIST shows it (flags `t`, `R`, `B`, field `redir`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shown {
    pub on: bool,
    pub redirect: u64,
    pub bcast: bool,
    /// The redirect target is gone.
    pub broken: bool,
}

/// One connection's tracking: its mode while on, and whether CLIENT
/// CACHING was given for the next command.
#[derive(Debug, Default)]
pub struct Local {
    mode: Option<Mode>,
    caching: bool,
}

impl Local {
    pub fn on(&self) -> bool {
        self.mode.is_some()
    }
}

#[derive(Default)]
struct Table {
    /// Key name -> the clients that read it (default mode).
    keys: HashMap<Bytes, HashSet<u64>>,
    /// Every client with tracking on.
    clients: HashMap<u64, Mode>,
}

/// The node's tracking table.
#[derive(Default)]
pub struct Tracking {
    /// Clients with tracking on.
    active: AtomicUsize,
    table: Mutex<Table>,
}

impl Tracking {
    /// Some client tracks: writes must be checked.
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed) > 0
    }

    /// Clients with tracking on (INFO `tracking_clients`).
    pub fn clients(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    fn enable(&self, client: u64, mode: Mode) {
        let mut table = lock(&self.table);
        table.clients.insert(client, mode);
        self.active.store(table.clients.len(), Ordering::Release);
    }

    fn disable(&self, client: u64) {
        let mut table = lock(&self.table);
        table.clients.remove(&client);
        self.active.store(table.clients.len(), Ordering::Release);
    }

    /// Remembers that `client` read `keys`; the keys dropped to stay at
    /// `max_keys`, with their readers, are returned for invalidation.
    fn remember(&self, client: u64, keys: &[Bytes], max_keys: usize) -> Vec<(Bytes, Vec<u64>)> {
        let mut table = lock(&self.table);
        for key in keys {
            table.keys.entry(key.clone()).or_default().insert(client);
        }
        let mut dropped = Vec::new();
        while table.keys.len() > max_keys {
            let Some(key) = table.keys.keys().next().cloned() else { break };
            let readers = table.keys.remove(&key).unwrap_or_default();
            dropped.push((key, readers.into_iter().collect()));
        }
        dropped
    }

    /// The clients to tell that `key` changed (`writer` made the change),
    /// each with its redirect; the key's readers are forgotten.
    fn readers_of(&self, key: &Bytes, writer: Option<u64>) -> Vec<(u64, u64)> {
        let mut table = lock(&self.table);
        let readers = table.keys.remove(key).unwrap_or_default();
        let skips = |id: u64, mode: &Mode| mode.noloop && Some(id) == writer;
        let mut targets: Vec<(u64, u64)> = readers
            .into_iter()
            .filter_map(|id| table.clients.get(&id).map(|mode| (id, mode)))
            .filter(|(id, mode)| !mode.bcast && !skips(*id, mode))
            .map(|(id, mode)| (id, mode.redirect))
            .collect();
        targets.extend(
            table
                .clients
                .iter()
                .filter(|(id, mode)| mode.bcast && !skips(**id, mode))
                .filter(|(_, mode)| mode.prefixes.iter().any(|p| key.starts_with(p)))
                .map(|(id, mode)| (*id, mode.redirect)),
        );
        targets.sort_unstable();
        targets
    }

    /// Every tracking client with its redirect; the table is emptied.
    fn flush(&self) -> Vec<(u64, u64)> {
        let mut table = lock(&self.table);
        table.keys.clear();
        let mut all: Vec<(u64, u64)> = table.clients.iter().map(|(id, mode)| (*id, mode.redirect)).collect();
        all.sort_unstable();
        all
    }
}

/// Tells the readers of `key` that it changed; `writer`: the client whose
/// command changed it (NOLOOP), `None` for the expiry sweep.
pub(crate) fn invalidate<G: ActorGateway>(server: &Server<G>, key: &Bytes, writer: Option<u64>) {
    let payload = Value::Array(vec![Value::Bulk(key.clone())]);
    for (client, redirect) in server.tracking.readers_of(key, writer) {
        send(server, client, redirect, &payload);
    }
}

/// FLUSHDB, FLUSHALL: a null invalidation to every tracking client.
pub(crate) fn flushed<G: ActorGateway>(server: &Server<G>) {
    for (client, redirect) in server.tracking.flush() {
        send(server, client, redirect, &Value::Nil);
    }
}

/// Sends one invalidation (`keys`: an array of keys, or nil for all) for
/// `client` to where it goes.
fn send<G: ActorGateway>(server: &Server<G>, client: u64, redirect: u64, keys: &Value) {
    let clients = lock(&server.clients);
    let target = if redirect == 0 { client } else { redirect };
    let Some(target) = clients.get(&target) else {
        // The redirect target left: the client hears of it in RESP3.
        if let Some(own) = clients.get(&client) {
            let mut info = lock(own);
            info.tracking.broken = true;
            if info.resp == 3 {
                let broken = vec![Value::bulk("tracking-redir-broken"), Value::Int(redirect as i64)];
                info.pushes.deliver(Value::Push(broken));
            }
        }
        return;
    };
    let info = lock(target);
    if info.resp == 3 {
        info.pushes.deliver(Value::Push(vec![Value::bulk("invalidate"), keys.clone()]));
    } else if redirect != 0 && info.subscribed() {
        let message = vec![Value::bulk("message"), Value::bulk("__redis__:invalidate"), keys.clone()];
        info.pushes.deliver(Value::Push(message));
    }
}

/// After a command ran on a connection while some client tracks: the keys
/// of a read are remembered for a tracking connection, FLUSHDB/FLUSHALL
/// invalidate everything, and CLIENT CACHING lapses after the command that
/// followed it.
pub(crate) fn after_command<G: ActorGateway>(
    conn: &mut Conn<G>,
    spec: &Spec,
    argv: &[Bytes],
    outcome: &Outcome,
) {
    if matches!(spec.name, "flushdb" | "flushall") && matches!(outcome, Outcome::Reply(Value::Simple(_))) {
        flushed(&conn.server);
    }
    let Some(mode) = &conn.tracking.mode else { return };
    let caching = conn.tracking.caching;
    if spec.flags & crate::resp::table::READONLY != 0
        && !mode.bcast
        && (!mode.optin || caching)
        && !(mode.optout && caching)
    {
        let keys = super::notify::keys_of(spec, argv);
        let max_keys = conn.server.params.int("tracking-table-max-keys");
        let max_keys = usize::try_from(max_keys).ok().filter(|&m| m > 0).unwrap_or(usize::MAX);
        for (key, readers) in conn.server.tracking.remember(conn.id, &keys, max_keys) {
            let payload = Value::Array(vec![Value::Bulk(key)]);
            let targets: Vec<(u64, u64)> = {
                let table = lock(&conn.server.tracking.table);
                readers.iter().filter_map(|id| table.clients.get(id).map(|m| (*id, m.redirect))).collect()
            };
            for (client, redirect) in targets {
                send(&conn.server, client, redirect, &payload);
            }
        }
    }
    if spec.name != "client" && conn.multi.is_none() {
        conn.tracking.caching = false;
    }
}

/// Turns tracking off for a connection (CLIENT TRACKING OFF, RESET, the
/// client leaving).
pub(crate) fn disable<G: ActorGateway>(conn: &mut Conn<G>) {
    if conn.tracking.mode.take().is_some() {
        conn.server.tracking.disable(conn.id);
    }
    conn.tracking.caching = false;
    lock(&conn.info).tracking = Shown::default();
}

/// CLIENT TRACKING|CACHING|GETREDIR|TRACKINGINFO; `None` for another
/// subcommand.
pub(crate) fn client<G: ActorGateway>(conn: &mut Conn<G>, sub: &[u8], rest: &[Bytes]) -> Option<Value> {
    Some(match (sub, rest) {
        (b"tracking", [switch, options @ ..]) => tracking(conn, switch, options).unwrap_or_else(|e| e),
        (b"caching", [value]) => caching(conn, value).unwrap_or_else(|e| e),
        (b"getredir", []) => Value::Int(conn.tracking.mode.as_ref().map_or(-1, |m| m.redirect as i64)),
        (b"trackinginfo", []) => info(conn),
        _ => return None,
    })
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP], with Redis' checks in Redis' order.
fn tracking<G: ActorGateway>(conn: &mut Conn<G>, switch: &[u8], options: &[Bytes]) -> Result<Value, Value> {
    let mut mode = Mode::default();
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut i = 0;
    while i < options.len() {
        let more = i + 1 < options.len();
        match super::lower(&options[i]).as_slice() {
            b"redirect" if more => {
                i += 1;
                if mode.redirect != 0 {
                    return Err(Value::err("ERR A client can only redirect to a single other client"));
                }
                let id = parse_i64(&options[i])?;
                let known = u64::try_from(id).is_ok_and(|id| lock(&conn.server.clients).contains_key(&id));
                if !known {
                    return Err(Value::err("ERR The client ID you want redirect to does not exist"));
                }
                mode.redirect = id as u64;
            }
            b"bcast" => mode.bcast = true,
            b"optin" => mode.optin = true,
            b"optout" => mode.optout = true,
            b"noloop" => mode.noloop = true,
            b"prefix" if more => {
                i += 1;
                prefixes.push(options[i].clone());
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 1;
    }
    match super::lower(switch).as_slice() {
        b"on" => {}
        b"off" => {
            disable(conn);
            return Ok(Value::ok());
        }
        _ => return Err(Value::err(errors::SYNTAX)),
    }
    check(conn.tracking.mode.as_ref(), &mode, &prefixes)?;
    if mode.bcast {
        let mut all = conn.tracking.mode.as_ref().map(|m| m.prefixes.clone()).unwrap_or_default();
        if prefixes.is_empty() {
            prefixes.push(Bytes::new());
        }
        all.extend(prefixes);
        all.sort();
        all.dedup();
        mode.prefixes = all;
    }
    conn.server.tracking.enable(conn.id, mode.clone());
    lock(&conn.info).tracking = Shown { on: true, redirect: mode.redirect, bcast: mode.bcast, broken: false };
    conn.tracking.mode = Some(mode);
    Ok(Value::ok())
}

/// Redis' checks of CLIENT TRACKING ON against the options and the mode in
/// force.
fn check(current: Option<&Mode>, mode: &Mode, prefixes: &[Bytes]) -> Result<(), Value> {
    let err = |text: &str| Err(Value::err(format!("ERR {text}")));
    if !mode.bcast && !prefixes.is_empty() {
        return err("PREFIX option requires BCAST mode to be enabled");
    }
    if current.is_some_and(|c| c.bcast != mode.bcast) {
        return err(
            "You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        );
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return err("OPTIN and OPTOUT are not compatible with BCAST");
    }
    if mode.optin && mode.optout {
        return err("You can't use both OPTIN and OPTOUT");
    }
    if current.is_some_and(|c| (mode.optin && c.optout) || (mode.optout && c.optin)) {
        return err(
            "You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
        );
    }
    let overlaps = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let existing = current.map(|c| c.prefixes.as_slice()).unwrap_or_default();
    for (i, prefix) in prefixes.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlaps(old, prefix)) {
            return err(&format!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(prefix),
                String::from_utf8_lossy(old)
            ));
        }
        if let Some(other) = prefixes[i + 1..].iter().find(|other| overlaps(prefix, other)) {
            return err(&format!(
                "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(prefix),
                String::from_utf8_lossy(other)
            ));
        }
    }
    Ok(())
}

/// CLIENT CACHING YES|NO: for the next command, in OPTIN or OPTOUT mode.
fn caching<G: ActorGateway>(conn: &mut Conn<G>, value: &[u8]) -> Result<Value, Value> {
    let Some(mode) = &conn.tracking.mode else {
        return Err(Value::err(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    match super::lower(value).as_slice() {
        b"yes" if mode.optin => {}
        b"yes" => {
            return Err(Value::err(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        b"no" if mode.optout => {}
        b"no" => {
            return Err(Value::err(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        _ => return Err(Value::err(errors::SYNTAX)),
    }
    conn.tracking.caching = true;
    Ok(Value::ok())
}

/// CLIENT TRACKINGINFO: flags, redirect, prefixes, as Redis 7.2.
fn info<G: ActorGateway>(conn: &Conn<G>) -> Value {
    let shown = lock(&conn.info).tracking.clone();
    let mode = conn.tracking.mode.as_ref();
    let mut flags = vec![if mode.is_some() { "on" } else { "off" }];
    if let Some(mode) = mode {
        let caching = conn.tracking.caching;
        let named = [
            (mode.bcast, "bcast"),
            (mode.optin, "optin"),
            (mode.optin && caching, "caching-yes"),
            (mode.optout, "optout"),
            (mode.optout && caching, "caching-no"),
            (mode.noloop, "noloop"),
            (shown.broken, "broken_redirect"),
        ];
        flags.extend(named.iter().filter(|(on, _)| *on).map(|(_, name)| *name));
    }
    let redirect = mode.map_or(-1, |m| m.redirect as i64);
    let prefixes =
        mode.map(|m| m.prefixes.iter().map(|p| Value::Bulk(p.clone())).collect()).unwrap_or_default();
    Value::Map(vec![
        (Value::bulk("flags"), Value::Set(flags.into_iter().map(Value::bulk).collect())),
        (Value::bulk("redirect"), Value::Int(redirect)),
        (Value::bulk("prefixes"), Value::Array(prefixes)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn a_write_reaches_the_readers_once_and_forgets_them() {
        let tracking = Tracking::default();
        tracking.enable(1, Mode::default());
        tracking.enable(2, Mode { redirect: 9, ..Mode::default() });
        tracking.remember(1, &[b("k")], usize::MAX);
        tracking.remember(2, &[b("k"), b("other")], usize::MAX);
        assert_eq!(tracking.readers_of(&b("k"), None), vec![(1, 0), (2, 9)]);
        assert!(tracking.readers_of(&b("k"), None).is_empty(), "forgotten after one invalidation");
        assert_eq!(tracking.readers_of(&b("other"), None), vec![(2, 9)]);
    }

    #[test]
    fn noloop_skips_the_writer_and_bcast_matches_prefixes() {
        let tracking = Tracking::default();
        tracking.enable(1, Mode { noloop: true, ..Mode::default() });
        tracking.remember(1, &[b("k")], usize::MAX);
        assert!(tracking.readers_of(&b("k"), Some(1)).is_empty());
        let bcast = Mode { bcast: true, prefixes: vec![b("user:")], ..Mode::default() };
        tracking.enable(3, bcast);
        assert_eq!(tracking.readers_of(&b("user:1"), Some(1)), vec![(3, 0)]);
        assert!(tracking.readers_of(&b("order:1"), Some(1)).is_empty());
        tracking.disable(3);
        assert!(!tracking.readers_of(&b("user:1"), None).iter().any(|(id, _)| *id == 3));
        tracking.disable(1);
        assert!(!tracking.active());
    }

    #[test]
    fn past_the_bound_keys_are_dropped_with_their_readers() {
        let tracking = Tracking::default();
        tracking.enable(1, Mode::default());
        assert!(tracking.remember(1, &[b("a"), b("b")], 2).is_empty());
        let dropped = tracking.remember(1, &[b("c")], 2);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].1, vec![1]);
        assert_eq!(lock(&tracking.table).keys.len(), 2);
    }

    #[test]
    fn a_disabled_client_hears_nothing_of_keys_it_read() {
        let tracking = Tracking::default();
        tracking.enable(1, Mode::default());
        tracking.remember(1, &[b("k")], usize::MAX);
        tracking.disable(1);
        assert!(tracking.readers_of(&b("k"), None).is_empty());
    }

    #[test]
    fn options_are_checked_as_redis() {
        let bcast = Mode { bcast: true, ..Mode::default() };
        let error = |r: Result<(), Value>| match r {
            Err(Value::Error(text)) => text,
            other => panic!("{other:?}"),
        };
        assert!(error(check(None, &Mode::default(), &[b("a")])).contains("requires BCAST"));
        assert!(error(check(Some(&Mode::default()), &bcast, &[])).contains("switch BCAST"));
        let both = Mode { optin: true, optout: true, ..Mode::default() };
        assert!(error(check(None, &both, &[])).contains("both OPTIN and OPTOUT"));
        let optin = Mode { optin: true, ..Mode::default() };
        let optout = Mode { optout: true, ..Mode::default() };
        assert!(error(check(Some(&optin), &optout, &[])).contains("switch OPTIN/OPTOUT"));
        assert!(error(check(None, &bcast, &[b("ab"), b("a")])).contains("another provided prefix 'a'"));
        let current = Mode { bcast: true, prefixes: vec![b("user")], ..Mode::default() };
        assert!(error(check(Some(&current), &bcast, &[b("us")])).contains("existing prefix 'user'"));
        assert!(check(Some(&current), &bcast, &[b("order")]).is_ok());
    }
}
