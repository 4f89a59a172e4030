//! MONITOR: a client that sends it receives, as status lines, every command
//! any client of this node runs afterwards, in Redis' format
//! (`+1700000000.123456 [0 127.0.0.1:5000] "set" "k" "v"`), until it
//! disconnects or sends RESET. As Redis, a command is shown once it ran
//! (so MULTI's commands come before EXEC), in the database the client is
//! in after it, with AUTH's and HELLO's credentials redacted; commands
//! refused before they ran and administrative commands (MONITOR, CONFIG,
//! CLIENT KILL...) are not shown.
//!
//! The lines travel on the monitoring connection's message queue, the one
//! pub/sub messages take. Monitors are per node: a client sees the commands
//! of this node's clients. With no monitor attached a command pays one
//! atomic load.

use crate::keyspace::value::Value;
use crate::resp::cmd::pubsub::Handle;
use crate::resp::connection::{Conn, Outcome};
use crate::resp::server::lock;
use crate::resp::table::{self, ADMIN, Spec};
use bytes::Bytes;
use orbit_shared::ActorGateway;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The node's monitoring clients.
#[derive(Default)]
pub struct Monitors {
    count: AtomicUsize,
    list: Mutex<Vec<(u64, Handle)>>,
}

impl Monitors {
    /// Some client monitors (the only check a command makes otherwise).
    pub fn attached(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    fn add(&self, client: u64, handle: Handle) {
        let mut list = lock(&self.list);
        if list.iter().all(|(id, _)| *id != client) {
            list.push((client, handle));
            self.count.store(list.len(), Ordering::Release);
        }
    }

    /// Stops sending to `client` (it left, or sent RESET).
    pub(crate) fn remove(&self, client: u64) {
        let mut list = lock(&self.list);
        list.retain(|(id, _)| *id != client);
        self.count.store(list.len(), Ordering::Release);
    }

    fn send(&self, line: &str) {
        for (_, handle) in lock(&self.list).iter() {
            handle.deliver(Value::Simple(line.to_string()));
        }
    }
}

/// MONITOR: the connection starts receiving the lines. A client already
/// monitoring gets no reply, as in Redis.
pub(crate) fn start<G: ActorGateway>(conn: &mut Conn<G>) -> Outcome {
    if conn.monitoring {
        return Outcome::Replies(Vec::new());
    }
    conn.monitoring = true;
    conn.server.monitors.add(conn.id, conn.subs.handle());
    lock(&conn.info).monitor = true;
    Value::ok().into()
}

/// Ends monitoring (RESET, or the client left).
pub(crate) fn stop<G: ActorGateway>(conn: &mut Conn<G>) {
    if std::mem::take(&mut conn.monitoring) {
        conn.server.monitors.remove(conn.id);
        lock(&conn.info).monitor = false;
    }
}

/// Shows a command that ran (`argv` as the client sent it) to the
/// monitors, unless Redis hides it.
pub(crate) fn feed<G: ActorGateway>(conn: &Conn<G>, spec: &Spec, argv: &[Bytes]) {
    if !shown(spec, argv) {
        return;
    }
    let addr = lock(&conn.info).addr;
    let line = line(SystemTime::now(), conn.db, addr, spec.name, argv);
    conn.server.monitors.send(&line);
}

/// Whether MONITOR shows a command: not an administrative one (for a
/// container command, as its subcommand is flagged).
fn shown(spec: &Spec, argv: &[Bytes]) -> bool {
    let flags = match argv.get(1).and_then(|sub| table::subcommand(spec.name, sub)) {
        Some(sub) => sub.flags,
        None => spec.flags,
    };
    flags & ADMIN == 0
}

/// The line of one command: time, database and client, then each argument
/// quoted as Redis' `sdscatrepr`, credentials redacted.
fn line(at: SystemTime, db: usize, addr: SocketAddr, name: &str, argv: &[Bytes]) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut line = format!("{}.{:06} [{db} {addr}]", since.as_secs(), since.subsec_micros());
    let secret = redacted(name, argv);
    for (i, arg) in argv.iter().enumerate() {
        line.push(' ');
        if secret.contains(&i) {
            line.push_str("\"(redacted)\"");
        } else {
            repr(&mut line, arg);
        }
    }
    line
}

/// The positions Redis redacts: AUTH's password (and username), HELLO's
/// `AUTH username password`.
fn redacted(name: &str, argv: &[Bytes]) -> Vec<usize> {
    match name {
        "auth" if argv.len() <= 3 => (1..argv.len()).collect(),
        "hello" => {
            let mut secret = Vec::new();
            let mut j = 2;
            while j < argv.len() {
                let more = argv.len() - 1 - j;
                if argv[j].eq_ignore_ascii_case(b"auth") && more >= 2 {
                    secret.extend([j + 1, j + 2]);
                    j += 2;
                } else if argv[j].eq_ignore_ascii_case(b"setname") && more >= 1 {
                    j += 1;
                }
                j += 1;
            }
            secret
        }
        _ => Vec::new(),
    }
}

/// `arg` in double quotes with Redis' escapes: `\\`, `\"`, `\n`, `\r`,
/// `\t`, `\a`, `\b`, and `\xHH` for other unprintable bytes.
fn repr(out: &mut String, arg: &[u8]) {
    out.push('"');
    for &b in arg {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn a_line_has_the_time_the_client_and_quoted_arguments() {
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_042);
        let addr: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let line = line(at, 3, addr, "set", &argv(&["SET", "k", "a \"b\"\n\\\u{1}é"]));
        assert_eq!(line, r#"1700000000.000042 [3 127.0.0.1:5000] "SET" "k" "a \"b\"\n\\\x01\xc3\xa9""#);
    }

    #[test]
    fn credentials_are_redacted() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let at = UNIX_EPOCH;
        let auth = line(at, 0, addr, "auth", &argv(&["auth", "pw"]));
        assert_eq!(auth, r#"0.000000 [0 127.0.0.1:1] "auth" "(redacted)""#);
        let auth = line(at, 0, addr, "auth", &argv(&["AUTH", "user", "pw"]));
        assert!(auth.ends_with(r#""AUTH" "(redacted)" "(redacted)""#), "{auth}");
        let hello = line(at, 0, addr, "hello", &argv(&["hello", "3", "SETNAME", "n", "AUTH", "u", "p"]));
        assert!(hello.ends_with(r#""hello" "3" "SETNAME" "n" "AUTH" "(redacted)" "(redacted)""#), "{hello}");
    }

    #[test]
    fn administrative_commands_are_not_shown() {
        let config = table::lookup("config").unwrap();
        assert!(!shown(config, &argv(&["config", "get", "x"])));
        let client = table::lookup("client").unwrap();
        assert!(shown(client, &argv(&["client", "id"])));
        assert!(!shown(client, &argv(&["client", "kill", "id", "1"])));
        let set = table::lookup("set").unwrap();
        assert!(shown(set, &argv(&["set", "k", "v"])));
    }
}
