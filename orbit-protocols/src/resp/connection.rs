//! One client connection: read what arrived, run every complete request in
//! order, write the replies in one go (pipelining), repeat. Consecutive
//! pipelined commands on the same key run in one turn of its actor. While a
//! blocking command waits, the socket is still watched so a hang-up cancels
//! the wait. A CLIENT PAUSE holds a command after its checks and before it
//! runs or is queued; CLIENT REPLY decides which replies are written. What
//! CLIENT LIST shows of the connection's buffers is copied into its
//! [`ClientInfo`] under the lock each command takes anyway, and once more
//! before the connection waits for input.

use super::cmd::introspect::{Ran, Request};
use super::cmd::{self, blocking::Blocked, pubsub::Subscriber, tx};
use super::frame::{self, FrameError};
use super::server::{Buffers, ClientInfo, Server, lock};
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
/// How long the reply buffer's peak (CLIENT LIST `rbp`) is kept, as Redis.
const PEAK_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

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
    /// MONITOR is on: the connection receives every command of the node.
    pub monitoring: bool,
    /// CLIENT TRACKING of this connection.
    pub tracking: cmd::tracking::Local,
    /// Keys written by the last command, for waking blocked clients.
    pub written: Vec<(usize, Bytes)>,
    /// Durability token the replies not yet sent depend on (0: none).
    pub unsynced: orbit_shared::DurableToken,
    pub kill: CancellationToken,
    /// A command of the current request ran (else it was refused).
    ran: bool,
    /// The current request's command name as the client spelled it (the
    /// slow log shows it so).
    pub(crate) sent_name: Bytes,
    /// CLIENT REPLY: which replies are written.
    pub reply_mode: ReplyMode,
    /// The buffers now, and as CLIENT LIST last showed them.
    buffers: Buffers,
    shown: Buffers,
    /// When the reply buffer's peak (`rbp`) was last reset.
    peak_since: Instant,
    /// Bytes of the arguments queued since MULTI.
    multi_mem: usize,
}

/// CLIENT REPLY ON|OFF|SKIP. A command's reply is written unless replies
/// are off or skipped for it; OFF and SKIP have no reply themselves, ON
/// always answers.
#[derive(Debug, Default)]
pub(crate) struct ReplyMode {
    off: bool,
    /// The reply of the command now running is dropped.
    skip_current: bool,
    /// The reply of the command after it is dropped.
    skip_next: bool,
}

impl ReplyMode {
    pub fn on(&mut self) {
        *self = ReplyMode::default();
    }

    pub fn off(&mut self) {
        self.off = true;
        self.skip_current = true;
    }

    pub fn skip(&mut self) {
        self.skip_current = true;
        self.skip_next = !self.off;
    }

    /// Ends a command: whether its reply is written.
    fn finish(&mut self) -> bool {
        let shown = !self.off && !self.skip_current;
        self.skip_current = std::mem::take(&mut self.skip_next);
        shown
    }
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
    let Ok(local) = stream.local_addr() else { return };
    let mut conn = Conn::new(server.clone(), peer, local, raw_fd(&stream));
    lock(&server.clients).insert(conn.id, conn.info.clone());
    if let Err(e) = conn.serve(stream).await {
        tracing::debug!(client = conn.id, error = %e, "RESP connection ended");
    }
    conn.leave();
}

impl<G: ActorGateway> Conn<G> {
    fn new(server: Arc<Server<G>>, peer: SocketAddr, local: SocketAddr, fd: i32) -> Self {
        let id = server.next_client_id();
        let kill = server.shutdown.child_token();
        let now = Instant::now();
        let user = (!server.auth_required()).then(|| "default".to_string());
        let pubsub_buffer = lock(&server.config).pubsub_buffer;
        let subs = Subscriber::new(id, pubsub_buffer);
        let info = ClientInfo {
            id,
            addr: peer,
            laddr: local,
            fd,
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
            shard_subscriptions: 0,
            in_multi: false,
            multi_commands: 0,
            multi_mem: 0,
            buffers: Buffers::default(),
            blocked: false,
            close_after_reply: false,
            no_evict: false,
            no_touch: false,
            kill: kill.clone(),
            pushes: subs.handle(),
            monitor: false,
            tracking: Default::default(),
        };
        Conn {
            info: Arc::new(Mutex::new(info)),
            id,
            resp3: false,
            db: 0,
            user,
            perms: Default::default(),
            ran: false,
            sent_name: Bytes::new(),
            reply_mode: ReplyMode::default(),
            buffers: Buffers::default(),
            shown: Buffers::default(),
            peak_since: now,
            multi_mem: 0,
            multi: None,
            watch: tx::ClientWatch::default(),
            subs,
            closing: false,
            monitoring: false,
            tracking: Default::default(),
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
        cmd::monitor::stop(self);
        cmd::tracking::disable(self);
    }

    async fn serve(&mut self, mut stream: TcpStream) -> std::io::Result<()> {
        let mut input = BytesMut::with_capacity(16 * 1024);
        let mut out = BytesMut::with_capacity(16 * 1024);
        self.buffers.rbs = out.capacity();
        let (max_bulk, query_limit) = {
            let config = lock(&self.server.config);
            (config.proto_max_bulk_len, config.client_query_buffer_limit)
        };
        loop {
            let (requests, protocol_error) = self.parse_round(&mut input, max_bulk);
            let parsed = !requests.is_empty();
            if !self.run_round(requests, &mut stream, &mut out, &mut input).await? {
                return Ok(());
            }
            if let Some(FrameError::Protocol(text)) = protocol_error {
                Value::err(format!("ERR Protocol error: {text}")).write_resp(&mut out, self.resp3);
                self.flush(&mut stream, &mut out).await?;
                return Ok(());
            }
            if parsed && !input.is_empty() {
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
            self.show_idle(&input, &out);
            tokio::select! {
                read = stream.read_buf(&mut input) => {
                    if read? == 0 {
                        return Ok(());
                    }
                }
                // Pushes other than pub/sub (MONITOR lines, invalidations)
                // reach RESP3 and monitoring connections too.
                Some(message) = self.subs.next(), if self.subs.active() || self.resp3 || self.monitoring => {
                    message.write_resp(&mut out, self.resp3);
                }
                () = self.kill.cancelled() => return Ok(()),
            }
            self.buffers.qbuf = input.len();
            self.buffers.qbuf_free = input.capacity() - input.len();
            if self.subs.overflowed() {
                tracing::warn!(client = self.id, "closing a subscriber that does not keep up");
                return Ok(());
            }
        }
    }

    /// Runs a round of requests in order, queueing their replies in `out`;
    /// false when the connection is to close (QUIT, CLIENT KILL of itself,
    /// a hang-up while blocked).
    async fn run_round(
        &mut self,
        mut requests: Vec<Vec<Bytes>>,
        stream: &mut TcpStream,
        out: &mut BytesMut,
        input: &mut BytesMut,
    ) -> std::io::Result<bool> {
        let mut i = 0;
        while i < requests.len() {
            // While a pause may be in force, commands run one by one, each
            // checked against it.
            let paused = self.server.pause.in_force() || cmd::notify::one_by_one(self);
            let same_key = if paused { 0 } else { self.same_key_run(&requests[i..]) };
            self.buffers.obl = out.len();
            if same_key > 1 {
                let replies = self.execute_same_key(&mut requests[i..i + same_key]).await;
                i += same_key;
                for reply in &replies {
                    if self.reply_mode.finish() {
                        reply.write_resp(out, self.resp3);
                    }
                }
            } else {
                i += 1;
                let outcome = self.handle_recorded(std::mem::take(&mut requests[i - 1])).await;
                if !self.deliver(outcome, stream, out, input).await? {
                    return Ok(false);
                }
            }
            self.wake_blocked().await;
            if self.closing {
                self.flush(stream, out).await?;
                return Ok(false);
            }
            if out.len() >= FLUSH_AT {
                self.flush(stream, out).await?;
            }
        }
        Ok(true)
    }

    /// Queues a request's replies unless CLIENT REPLY drops them, first
    /// waiting for a blocked command's result; false if the client left
    /// while it waited.
    async fn deliver(
        &mut self,
        outcome: Outcome,
        stream: &mut TcpStream,
        out: &mut BytesMut,
        input: &mut BytesMut,
    ) -> std::io::Result<bool> {
        let shown = self.reply_mode.finish();
        match outcome {
            Outcome::Reply(v) if shown => v.write_resp(out, self.resp3),
            Outcome::Replies(vs) if shown => vs.iter().for_each(|v| v.write_resp(out, self.resp3)),
            Outcome::Reply(_) | Outcome::Replies(_) => {}
            Outcome::Block(blocked) => {
                self.flush(stream, out).await?;
                self.show_blocked(true);
                let waited = self.wait(blocked, stream, input).await;
                self.show_blocked(false);
                let Some(v) = waited? else { return Ok(false) };
                if shown {
                    v.write_resp(out, self.resp3);
                }
            }
        }
        Ok(true)
    }

    /// Shows the buffers in CLIENT LIST as they are between reads (one lock,
    /// taken only when something changed since last shown).
    fn show_idle(&mut self, input: &BytesMut, out: &BytesMut) {
        self.buffers.qbuf = input.len();
        self.buffers.qbuf_free = input.capacity() - input.len();
        self.buffers.argv_mem = 0;
        self.buffers.obl = out.len();
        if self.buffers != self.shown {
            lock(&self.info).buffers = self.buffers;
            self.shown = self.buffers;
        }
    }

    /// Notes the reply buffer as it is written: its capacity, and its peak
    /// length in the current window of [`PEAK_WINDOW`].
    fn note_reply_buffer(&mut self, out: &BytesMut) {
        let now = Instant::now();
        if now.duration_since(self.peak_since) >= PEAK_WINDOW {
            self.buffers.rbp = 0;
            self.peak_since = now;
        }
        self.buffers.rbp = self.buffers.rbp.max(out.len());
        self.buffers.rbs = out.capacity();
    }

    /// Shows in CLIENT LIST (flag `b`) whether the client waits.
    fn show_blocked(&self, blocked: bool) {
        lock(&self.info).blocked = blocked;
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
        self.buffers.argv_mem = run.iter().map(|argv| argv_bytes(argv)).sum();
        if let Some(last) = specs.last() {
            let mut info = lock(&self.info);
            info.last_command = last.name;
            info.last_active = Instant::now();
            info.buffers = self.buffers;
            self.shown = self.buffers;
        }
        let write = specs.iter().any(|s| s.is_write());
        let commands: Vec<&[Bytes]> = run.iter().map(Vec::as_slice).collect();
        let guard = match self.server.shared().await {
            Ok(guard) => guard,
            Err(busy) => return vec![busy; run.len()],
        };
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
        self.note_reply_buffer(out);
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
        let in_multi = self.multi.is_some();
        let outcome = self.handle(argv).await;
        if in_multi || self.multi.is_some() {
            self.show_multi();
        }
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
            self.buffers.argv_mem = argv_bytes(&argv);
            let mut info = lock(&self.info);
            info.last_command = command_id(spec, &argv);
            info.last_active = Instant::now();
            info.buffers = self.buffers;
            self.shown = self.buffers;
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
        if self.server.scripts.running.is_busy() && !allowed_while_busy(spec, &argv) {
            return Value::err(self.server.scripts.running.busy_reply()).into();
        }
        if self.subs.active() && !self.resp3 && !spec.allowed_when_subscribed() {
            return Value::err(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            ))
            .into();
        }
        if !self.unpaused(spec).await {
            return Outcome::Replies(Vec::new());
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
            self.multi_mem += argv_bytes(&argv);
            queue.commands.push((spec, argv, self.sent_name.clone()));
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
        if self.server.monitors.attached() {
            cmd::monitor::feed(self, spec, &kept);
        }
        if self.server.tracking.active() {
            cmd::tracking::after_command(self, spec, &kept, &outcome);
        }
        outcome
    }

    async fn execute_unrecorded(&mut self, spec: &'static Spec, argv: Vec<Bytes>, locked: bool) -> Outcome {
        match spec.route {
            Route::Key => {
                let guard = if locked {
                    None
                } else {
                    match self.server.shared().await {
                        Ok(guard) => Some(guard),
                        Err(busy) => return busy.into(),
                    }
                };
                let (reply, token, changed) = if self.server.notify.on() {
                    cmd::notify::call_key(self, spec, &argv).await
                } else {
                    self.server.call_key_visible(self.db, &argv, spec.is_write()).await
                };
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
            _ if self.server.notify.on() && cmd::notify::watched(spec) => {
                cmd::notify::around(self, spec, argv, locked).await
            }
            _ => cmd::dispatch(self, spec, argv, locked).await,
        }
    }

    /// Records a successful write of `key`: WATCH, blocked clients, and
    /// the clients tracking it.
    pub fn wrote(&mut self, key: &Bytes) {
        self.server.watches.touch(self.db, key);
        if self.server.tracking.active() {
            cmd::tracking::invalidate(&self.server, key, Some(self.id));
        }
        if self.server.blocking.has_waiters(self.db, key) {
            self.written.push((self.db, key.clone()));
        }
    }

    /// Shows the MULTI queue in CLIENT LIST: whether there is one, its
    /// commands and the bytes of their arguments.
    fn show_multi(&mut self) {
        let queued = self.multi.as_ref().map(|queue| queue.commands.len());
        if queued.is_none() {
            self.multi_mem = 0;
        }
        let mut info = lock(&self.info);
        info.in_multi = queued.is_some();
        info.multi_commands = queued.unwrap_or(0);
        info.multi_mem = self.multi_mem;
    }

    /// Waits while a CLIENT PAUSE holds `spec` (flag `b` meanwhile); false
    /// if the client was killed while it waited (it is then to close).
    async fn unpaused(&mut self, spec: &Spec) -> bool {
        if !self.server.pause.in_force() || !pausable(spec) {
            return true;
        }
        let writes = self.writes(spec);
        if self.server.pause.holding(writes).is_none() {
            return true;
        }
        self.show_blocked(true);
        let released = tokio::select! {
            () = self.server.pause.wait(writes) => true,
            () = self.kill.cancelled() => false,
        };
        self.show_blocked(false);
        self.closing |= !released;
        released
    }

    /// Whether a WRITE pause holds `spec`: as Redis, the commands that may
    /// write or replicate, and an EXEC with one of them queued.
    fn writes(&self, spec: &Spec) -> bool {
        let queued =
            || self.multi.as_ref().is_some_and(|q| q.commands.iter().any(|(s, _, _)| may_replicate(s)));
        may_replicate(spec) || (spec.name == "exec" && queued())
    }
}

/// Whether CLIENT PAUSE may hold `spec`: every command but CLIENT and those
/// allowed before AUTH (QUIT, HELLO, AUTH, RESET), so that a paused server
/// can still be unpaused.
fn pausable(spec: &Spec) -> bool {
    spec.flags & NOAUTH == 0 && spec.name != "client"
}

/// Redis' "may replicate" commands: writes, PUBLISH and SPUBLISH.
fn may_replicate(spec: &Spec) -> bool {
    spec.is_write() || matches!(spec.name, "publish" | "spublish")
}

/// The name CLIENT LIST shows for a command line: `container|sub` for a
/// subcommand, as Redis 7.
fn command_id(spec: &'static Spec, argv: &[Bytes]) -> &'static str {
    if spec.route == Route::Key {
        return spec.name;
    }
    super::acl::categories::command_id(spec.name, argv)
}

/// The bytes of a command line's arguments (CLIENT LIST `argv-mem`).
fn argv_bytes(argv: &[Bytes]) -> usize {
    argv.iter().map(Bytes::len).sum()
}

/// The socket's descriptor, as CLIENT LIST shows it.
#[cfg(unix)]
fn raw_fd(stream: &TcpStream) -> i32 {
    std::os::fd::AsRawFd::as_raw_fd(stream)
}

/// Without file descriptors: -1.
#[cfg(not(unix))]
fn raw_fd(_stream: &TcpStream) -> i32 {
    -1
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

/// What a client may run while a script is past `busy-reply-threshold`:
/// killing it, shutting down, and connection housekeeping.
fn allowed_while_busy(spec: &Spec, argv: &[Bytes]) -> bool {
    let sub = |word: &[u8]| argv.get(1).is_some_and(|a| a.eq_ignore_ascii_case(word));
    match spec.name {
        "auth" | "hello" | "quit" | "reset" | "shutdown" => true,
        "script" => sub(b"kill"),
        "function" => sub(b"kill") || sub(b"stats"),
        _ => false,
    }
}
