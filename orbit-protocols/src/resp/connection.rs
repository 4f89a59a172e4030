//! One client connection: read what arrived, run every complete request in
//! order, write the replies in one go (pipelining), repeat. Consecutive
//! pipelined commands on the same key run in one turn of its actor. While a
//! blocking command waits, the socket is still watched so a hang-up cancels
//! the wait.

use super::cmd::introspect::{Ran, Request};
use super::cmd::{self, blocking::Blocked, pubsub::Subscriber, tx};
use super::frame::{self, FrameError};
use super::server::{ClientInfo, Server, lock};
use super::table::{self, NOAUTH, Route, Spec};
use crate::keyspace::Value;
use bytes::{Bytes, BytesMut};
use orbit_shared::ActorGateway;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Replies are written once this many bytes are pending, even mid-pipeline.
const FLUSH_AT: usize = 64 * 1024;
/// Most requests parsed before they are run.
const ROUND: usize = 256;
/// Most consecutive same-key commands run in one actor turn.
const SAME_KEY_RUN: usize = 64;

/// What running a request produced.
pub(crate) enum Outcome {
    Reply(Value),
    /// Several replies (SUBSCRIBE a b gives one per channel).
    Replies(Vec<Value>),
    /// A blocking command found nothing: wait for a push or the timeout.
    Block(Blocked),
}

impl From<Value> for Outcome {
    fn from(v: Value) -> Self {
        Outcome::Reply(v)
    }
}

pub(crate) struct Conn<G> {
    pub server: Arc<Server<G>>,
    pub info: Arc<Mutex<ClientInfo>>,
    pub id: u64,
    pub resp3: bool,
    pub db: usize,
    /// The authenticated user; `None` until AUTH when a password is set.
    pub user: Option<String>,
    /// The user's permissions, as last loaded.
    pub perms: super::acl::Cached,
    pub multi: Option<tx::Queue>,
    pub watch: tx::ClientWatch,
    pub subs: Subscriber,
    /// Close after the replies so far are written (QUIT, CLIENT KILL self).
    pub closing: bool,
    /// Keys written by the last command, for waking blocked clients.
    pub written: Vec<(usize, Bytes)>,
    /// Durability token the replies not yet sent depend on (0: none).
    pub unsynced: orbit_shared::DurableToken,
    pub kill: CancellationToken,
    /// A command of the current request ran (else it was refused).
    ran: bool,
    /// The current request's command name as the client spelled it (the
    /// slow log shows it so).
    sent_name: Bytes,
}

pub(crate) async fn run<G: ActorGateway>(server: Arc<Server<G>>, stream: TcpStream, peer: SocketAddr) {
    server.stats.connections_received.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    let maxclients = lock(&server.config).maxclients;
    if lock(&server.clients).len() >= maxclients {
        server.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let mut stream = stream;
        let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
        return;
    }
    let mut conn = Conn::new(server.clone(), peer);
    lock(&server.clients).insert(conn.id, conn.info.clone());
    if let Err(e) = conn.serve(stream).await {
        tracing::debug!(client = conn.id, error = %e, "RESP connection ended");
    }
    conn.leave();
}

impl<G: ActorGateway> Conn<G> {
    fn new(server: Arc<Server<G>>, peer: SocketAddr) -> Self {
        let id = server.next_client_id();
        let kill = server.shutdown.child_token();
        let now = Instant::now();
        let user = (!server.auth_required()).then(|| "default".to_string());
        let info = ClientInfo {
            id,
            addr: peer,
            name: None,
            lib_name: None,
            lib_ver: None,
            db: 0,
            resp: 2,
            user: "default".into(),
            last_command: "NULL",
            created: now,
            last_active: now,
            subscriptions: 0,
            patterns: 0,
            in_multi: false,
            kill: kill.clone(),
        };
        let pubsub_buffer = lock(&server.config).pubsub_buffer;
        Conn {
            info: Arc::new(Mutex::new(info)),
            id,
            resp3: false,
            db: 0,
            user,
            perms: Default::default(),
            ran: false,
            sent_name: Bytes::new(),
            multi: None,
            watch: tx::ClientWatch::default(),
            subs: Subscriber::new(id, pubsub_buffer),
            closing: false,
            written: Vec::new(),
            unsynced: orbit_shared::DurableToken::NONE,
            kill,
            server,
        }
    }

    /// Unregisters everything this client holds in shared state.
    fn leave(&mut self) {
        lock(&self.server.clients).remove(&self.id);
        self.server.pubsub.unsubscribe_all(&mut self.subs);
        self.server.watches.unwatch(&mut self.watch);
    }

    async fn serve(&mut self, mut stream: TcpStream) -> std::io::Result<()> {
        let mut input = BytesMut::with_capacity(16 * 1024);
        let mut out = BytesMut::with_capacity(16 * 1024);
        let (max_bulk, query_limit) = {
            let config = lock(&self.server.config);
            (config.proto_max_bulk_len, config.client_query_buffer_limit)
        };
        loop {
            let (mut requests, protocol_error) = self.parse_round(&mut input, max_bulk);
            let mut i = 0;
            while i < requests.len() {
                let same_key = self.same_key_run(&requests[i..]);
                let outcome = if same_key > 1 {
                    let replies = self.execute_same_key(&mut requests[i..i + same_key]).await;
                    i += same_key;
                    Outcome::Replies(replies)
                } else {
                    i += 1;
                    self.handle_recorded(std::mem::take(&mut requests[i - 1])).await
                };
                match outcome {
                    Outcome::Reply(v) => v.write_resp(&mut out, self.resp3),
                    Outcome::Replies(vs) => vs.iter().for_each(|v| v.write_resp(&mut out, self.resp3)),
                    Outcome::Block(blocked) => {
                        self.flush(&mut stream, &mut out).await?;
                        let Some(v) = self.wait(blocked, &mut stream, &mut input).await? else {
                            return Ok(());
                        };
                        v.write_resp(&mut out, self.resp3);
                    }
                }
                self.wake_blocked().await;
                if self.closing {
                    self.flush(&mut stream, &mut out).await?;
                    return Ok(());
                }
                if out.len() >= FLUSH_AT {
                    self.flush(&mut stream, &mut out).await?;
                }
            }
            if let Some(FrameError::Protocol(text)) = protocol_error {
                Value::err(format!("ERR Protocol error: {text}")).write_resp(&mut out, self.resp3);
                self.flush(&mut stream, &mut out).await?;
                return Ok(());
            }
            if !requests.is_empty() && !input.is_empty() {
                // More complete requests may be buffered: parse another round.
                continue;
            }
            if !out.is_empty() {
                self.flush(&mut stream, &mut out).await?;
            }
            if input.len() > query_limit {
                tracing::warn!(client = self.id, "closing a client over the query buffer limit");
                return Ok(());
            }
            tokio::select! {
                read = stream.read_buf(&mut input) => {
                    if read? == 0 {
                        return Ok(());
                    }
                }
                Some(message) = self.subs.next(), if self.subs.active() => {
                    message.write_resp(&mut out, self.resp3);
                }
                () = self.kill.cancelled() => return Ok(()),
            }
            if self.subs.overflowed() {
                tracing::warn!(client = self.id, "closing a subscriber that does not keep up");
                return Ok(());
            }
        }
    }

    /// Takes the complete requests buffered now, up to [`ROUND`]; stops
    /// after AUTH or HELLO, which change the limits that apply to parsing.
    fn parse_round(&self, input: &mut BytesMut, max_bulk: usize) -> (Vec<Vec<Bytes>>, Option<FrameError>) {
        let mut requests = Vec::new();
        let mut authenticated = self.user.is_some();
        while requests.len() < ROUND {
            match frame::next_request(input, max_bulk, authenticated) {
                Ok(Some(argv)) if argv.is_empty() => {}
                Ok(Some(argv)) => {
                    let changes_auth =
                        argv[0].eq_ignore_ascii_case(b"auth") || argv[0].eq_ignore_ascii_case(b"hello");
                    requests.push(argv);
                    if changes_auth {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => return (requests, Some(e)),
            }
            authenticated = self.user.is_some();
        }
        (requests, None)
    }

    /// The spec of a request that may join a same-key run: a valid
    /// single-key command outside MULTI and subscribed mode, sent by a
    /// user allowed everything (the others' commands are checked one by one).
    fn keyed(&self, argv: &[Bytes]) -> Option<&'static Spec> {
        if self.user.is_none() || self.multi.is_some() || self.subs.active() {
            return None;
        }
        if !cmd::acl::unrestricted(self) {
            return None;
        }
        let spec = table::lookup(&String::from_utf8_lossy(&argv[0]).to_ascii_lowercase())?;
        (spec.route == Route::Key && spec.arity_ok(argv.len())).then_some(spec)
    }

    /// How many requests from the start of `requests` are single-key
    /// commands on the same key (at most [`SAME_KEY_RUN`]).
    fn same_key_run(&self, requests: &[Vec<Bytes>]) -> usize {
        let Some(first) = requests.first() else { return 0 };
        if self.keyed(first).is_none() {
            return 0;
        }
        let key = &first[1];
        let run = requests
            .iter()
            .take(SAME_KEY_RUN)
            .take_while(|r| r.get(1) == Some(key) && self.keyed(r).is_some());
        run.count()
    }

    /// Runs a same-key run in one turn of the key's actor (one lock, one
    /// storage batch); the replies are those of running them one by one.
    async fn execute_same_key(&mut self, run: &mut [Vec<Bytes>]) -> Vec<Value> {
        let mut specs = Vec::with_capacity(run.len());
        for argv in run.iter_mut() {
            let Some(spec) = self.keyed(argv) else { continue };
            argv[0] = Bytes::from_static(spec.name.as_bytes());
            specs.push(spec);
        }
        self.server.stats.commands_processed.fetch_add(run.len() as u64, Ordering::Relaxed);
        let started = Instant::now();
        if let Some(last) = specs.last() {
            let mut info = lock(&self.info);
            info.last_command = last.name;
            info.last_active = Instant::now();
        }
        let write = specs.iter().any(|s| s.is_write());
        let commands: Vec<&[Bytes]> = run.iter().map(Vec::as_slice).collect();
        let guard = self.server.keyspace.read().await;
        let (results, token) = self.server.call_key_batch(self.db, &commands, write).await;
        drop(guard);
        self.unsynced = self.unsynced.and(token);
        let mut replies = Vec::with_capacity(results.len());
        for ((value, changed), (argv, spec)) in results.into_iter().zip(run.iter().zip(&specs)) {
            if changed {
                self.wrote(&argv[1]);
                if cmd::expiry::sets_ttl(spec.name, argv.len()) {
                    self.server.expiry.candidate(self.db, &argv[1]);
                }
            }
            replies.push(value);
        }
        // One turn ran them all: each is recorded with its share of it.
        let usec = started.elapsed().as_micros() as u64 / run.len().max(1) as u64;
        for ((argv, spec), reply) in run.iter().zip(&specs).zip(&replies) {
            let error = match reply {
                Value::Error(text) => Some(text.as_str()),
                _ => None,
            };
            let request = self.request(spec.name, argv, usec, Ran::Ran { failed: error.is_some() }, error);
            self.server.introspect.record(&request);
        }
        replies
    }

    /// Writes the pending replies once what they report is durable. If it
    /// cannot become durable the connection closes without them: a client
    /// must never see an acknowledgement of a write that may be lost.
    async fn flush(&mut self, stream: &mut TcpStream, out: &mut BytesMut) -> std::io::Result<()> {
        if !self.unsynced.is_none() {
            let token = std::mem::take(&mut self.unsynced);
            if let Err(e) = self.server.gateway.wait_durable(token).await {
                tracing::error!(client = self.id, error = %e, "replies withheld: writes not durable");
                return Err(std::io::Error::other(e.to_string()));
            }
        }
        stream.write_all(out).await?;
        out.clear();
        Ok(())
    }

    /// Waits for a blocked command's result while buffering what the client
    /// sends meanwhile; `None` when the client left (the wait is withdrawn).
    async fn wait(
        &mut self,
        blocked: Blocked,
        stream: &mut TcpStream,
        input: &mut BytesMut,
    ) -> std::io::Result<Option<Value>> {
        let server = self.server.clone();
        let waiter = blocked.waiter.clone();
        let mut waiting = std::pin::pin!(blocked.wait(&server));
        let mut open = true;
        loop {
            tokio::select! {
                value = &mut waiting => return Ok(Some(value)),
                read = stream.read_buf(input), if open => {
                    if read? == 0 {
                        open = false;
                    }
                }
                () = self.kill.cancelled() => break,
            }
            if !open {
                break;
            }
        }
        server.blocking.withdraw(&waiter);
        Ok(None)
    }

    /// Serves clients blocked on the keys the last command wrote.
    async fn wake_blocked(&mut self) {
        if self.written.is_empty() {
            return;
        }
        let written = std::mem::take(&mut self.written);
        cmd::blocking::serve(&self.server, written).await;
    }

    /// [`Conn::handle`]; a request refused before any command ran counts
    /// as a rejected call of its command (INFO commandstats, errorstats).
    async fn handle_recorded(&mut self, argv: Vec<Bytes>) -> Outcome {
        self.ran = false;
        self.sent_name = argv[0].clone();
        let name = table::lookup(&String::from_utf8_lossy(&argv[0]).to_ascii_lowercase()).map(|s| s.name);
        let outcome = self.handle(argv).await;
        if !self.ran
            && let Outcome::Reply(Value::Error(text)) = &outcome
        {
            let introspect = &self.server.introspect;
            match name {
                Some(name) => introspect.record(&self.request(name, &[], 0, Ran::Rejected, Some(text))),
                None => introspect.record_error(text),
            }
        }
        outcome
    }

    /// A request as the statistics and the slow log record it.
    fn request<'a>(
        &'a self,
        name: &'static str,
        argv: &'a [Bytes],
        usec: u64,
        ran: Ran,
        error: Option<&'a str>,
    ) -> Request<'a> {
        Request { name, argv, usec, ran, error, client: Some(&self.info) }
    }

    /// Checks a request (auth, arity, context) and runs or queues it.
    async fn handle(&mut self, mut argv: Vec<Bytes>) -> Outcome {
        self.server.stats.commands_processed.fetch_add(1, Ordering::Relaxed);
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        let spec = table::lookup(&name);
        if let Some(spec) = spec {
            argv[0] = Bytes::from_static(spec.name.as_bytes());
            let mut info = lock(&self.info);
            info.last_command = spec.name;
            info.last_active = Instant::now();
        }
        if self.user.is_none() && spec.is_none_or(|s| s.flags & NOAUTH == 0) {
            return Value::err("NOAUTH Authentication required.").into();
        }
        let refused = match spec {
            None => Some(Value::err(unknown_command(&argv))),
            Some(spec) if !spec.arity_ok(argv.len()) => {
                Some(Value::err(crate::keyspace::value::errors::arity(spec.name)))
            }
            Some(_) => None,
        };
        if let Some(error) = refused {
            if let Some(queue) = &mut self.multi {
                queue.failed = true;
            }
            return error.into();
        }
        let Some(spec) = spec else { return Value::err("ERR unknown command").into() };
        if let Some(error) = cmd::acl::refusal(self, spec, &argv) {
            if let Some(queue) = &mut self.multi {
                queue.failed = true;
            }
            return error.into();
        }
        if self.subs.active() && !self.resp3 && !spec.allowed_when_subscribed() {
            return Value::err(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            ))
            .into();
        }
        if let Some(queue) = &mut self.multi
            && !matches!(spec.name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset")
        {
            // As Redis Cluster: a transaction's keys share a slot's node
            // (here, a partition), else the command is refused and EXEC
            // aborts. Colocation is checked against the first key queued.
            let mut keys = spec.keys(&argv);
            if queue.first_key.is_none() {
                queue.first_key = keys.first().map(|k| (*k).clone());
            }
            keys.extend(queue.first_key.as_ref());
            if keys.len() > 1 && !self.server.gateway.colocated(&keys) {
                queue.failed = true;
                return Value::err(super::server::CROSSSLOT).into();
            }
            queue.commands.push((spec, argv));
            return Value::Simple("QUEUED".into()).into();
        }
        self.execute(spec, argv, false).await
    }

    /// Runs a checked command. `locked`: the caller (EXEC) already holds the
    /// keyspace lock exclusively. Recorded as a call of the command, with
    /// its time, in the statistics and the slow log.
    pub async fn execute(&mut self, spec: &'static Spec, argv: Vec<Bytes>, locked: bool) -> Outcome {
        self.ran = true;
        let started = Instant::now();
        let mut kept = argv.clone();
        if kept[0].eq_ignore_ascii_case(&self.sent_name) {
            kept[0] = self.sent_name.clone();
        }
        let outcome = self.execute_unrecorded(spec, argv, locked).await;
        let error = match &outcome {
            Outcome::Reply(Value::Error(text)) => Some(text.as_str()),
            _ => None,
        };
        let usec = started.elapsed().as_micros() as u64;
        let ran = Ran::Ran { failed: error.is_some() };
        self.server.introspect.record(&self.request(spec.name, &kept, usec, ran, error));
        outcome
    }

    async fn execute_unrecorded(&mut self, spec: &'static Spec, argv: Vec<Bytes>, locked: bool) -> Outcome {
        match spec.route {
            Route::Key => {
                let guard = if locked { None } else { Some(self.server.keyspace.read().await) };
                let (reply, token, changed) =
                    self.server.call_key_visible(self.db, &argv, spec.is_write()).await;
                drop(guard);
                self.unsynced = self.unsynced.and(token);
                if changed {
                    self.wrote(&argv[1]);
                    if cmd::expiry::sets_ttl(spec.name, argv.len()) {
                        self.server.expiry.candidate(self.db, &argv[1]);
                    }
                }
                reply.into()
            }
            _ => cmd::dispatch(self, spec, argv, locked).await,
        }
    }

    /// Records a successful write of `key`: WATCH and blocked clients.
    pub fn wrote(&mut self, key: &Bytes) {
        self.server.watches.touch(self.db, key);
        if self.server.blocking.has_waiters(self.db, key) {
            self.written.push((self.db, key.clone()));
        }
    }
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' `, as Redis.
fn unknown_command(argv: &[Bytes]) -> String {
    let name = String::from_utf8_lossy(&argv[0]);
    let mut text = format!("ERR unknown command '{}', with args beginning with: ", truncate(&name, 128));
    let mut budget = 128usize;
    for arg in &argv[1..] {
        if budget == 0 {
            break;
        }
        let arg = String::from_utf8_lossy(arg);
        let shown = truncate(&arg, budget);
        budget = budget.saturating_sub(shown.len());
        text.push_str(&format!("'{shown}' "));
    }
    text
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
