//! What every connection of the front door shares.

pub use super::acl::AclUser;
use super::cmd::blocking::Waiters;
use super::cmd::pubsub::Broker;
use super::cmd::tx::Watches;
use crate::keyspace;
use crate::keyspace::Value;
use bytes::Bytes;
use orbit_shared::DurableToken;
use orbit_shared::{ActorGateway, ActorId, Error, ErrorKind, Invocation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The front door's settings: the `[resp]` section of the node's config,
/// as the TOML file and `ORBIT__RESP__*` spell them. CONFIG SET changes
/// some of them at run time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RespConfig {
    /// Serve RESP at all.
    pub enabled: bool,
    pub addr: SocketAddr,
    /// Password of the `default` user (`requirepass`); `None`: no password,
    /// otherwise clients must AUTH.
    pub requirepass: Option<String>,
    /// More users (ACL), each with all permissions (`ACL SETUSER` sets
    /// rules at run time).
    pub users: Vec<RespUser>,
    pub maxclients: usize,
    /// Largest bulk string a client may send (`proto-max-bulk-len`).
    pub proto_max_bulk_len: usize,
    /// Most unparsed bytes buffered per client (`client-query-buffer-limit`).
    pub client_query_buffer_limit: usize,
    /// Pub/sub messages queued per subscriber before it is disconnected.
    pub pubsub_buffer: usize,
    /// How often the background sweep looks for expired keys.
    #[serde(with = "humantime_serde")]
    pub expiry_sweep_interval: Duration,
    /// Who may run DEBUG (Redis' `enable-debug-command`, fixed at start).
    pub enable_debug_command: DebugCommand,
    /// Bytes the Lua state of scripts and functions may allocate; past it
    /// the allocating script ends with "not enough memory".
    pub script_memory_limit: usize,
}

/// Redis' `enable-debug-command`: `no` refuses DEBUG, `local` allows it
/// to clients on a loopback address, `yes` to every client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DebugCommand {
    #[default]
    No,
    Yes,
    Local,
}

impl DebugCommand {
    /// The name CONFIG GET reports.
    pub fn name(self) -> &'static str {
        match self {
            DebugCommand::No => "no",
            DebugCommand::Yes => "yes",
            DebugCommand::Local => "local",
        }
    }

    /// Whether a client connected from `peer` may run DEBUG.
    pub fn allows(self, peer: std::net::IpAddr) -> bool {
        match self {
            DebugCommand::No => false,
            DebugCommand::Yes => true,
            DebugCommand::Local => peer.is_loopback(),
        }
    }
}

impl Default for RespConfig {
    fn default() -> Self {
        RespConfig {
            enabled: true,
            addr: ([0, 0, 0, 0], 6379).into(),
            requirepass: None,
            users: Vec::new(),
            maxclients: 10_000,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            pubsub_buffer: 4096,
            expiry_sweep_interval: Duration::from_millis(100),
            enable_debug_command: DebugCommand::No,
            script_memory_limit: 512 * 1024 * 1024,
        }
    }
}

/// A configured user (`[[resp.users]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespUser {
    pub name: String,
    /// `None`: the user needs no password (`nopass`).
    pub password: Option<String>,
}

/// Facts of the running node that INFO and CONFIG GET report; not
/// settings.
#[derive(Debug, Clone)]
pub struct RespRuntime {
    /// The bound port (INFO `tcp_port`, CONFIG GET `port`).
    pub port: u16,
    /// The node's `storage.durability`: `always`, `periodic` or `none`
    /// (INFO `orbit_durability`, CONFIG GET `appendonly`, `appendfsync`).
    pub durability: &'static str,
    /// Cancelled by SHUTDOWN: the node watches it and runs its ordered
    /// shutdown.
    pub stop_requested: CancellationToken,
    /// Which kind holds each database (SWAPDB changes it), shared with the
    /// node's other front doors.
    pub databases: Arc<crate::keyspace::databases::Databases>,
    /// Pub/sub with the node's other front doors (PostgreSQL LISTEN/NOTIFY).
    pub bus: crate::bus::Bus,
}

/// A connected client, as CLIENT LIST shows it.
#[derive(Debug)]
pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    /// The server's end of the connection.
    pub laddr: SocketAddr,
    /// The socket's descriptor (-1 where the platform has none).
    pub fd: i32,
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub db: usize,
    pub resp: u8,
    pub user: String,
    /// The last command run, `container|sub` for a subcommand.
    pub last_command: &'static str,
    pub created: Instant,
    pub last_active: Instant,
    pub subscriptions: usize,
    pub patterns: usize,
    pub shard_subscriptions: usize,
    pub in_multi: bool,
    /// Commands queued since MULTI, and the bytes of their arguments.
    pub multi_commands: usize,
    pub multi_mem: usize,
    pub buffers: Buffers,
    /// Waiting in a blocking command or for the end of a CLIENT PAUSE.
    pub blocked: bool,
    /// To close once the replies so far are written (CLIENT KILL of itself).
    pub close_after_reply: bool,
    /// CLIENT NO-EVICT and CLIENT NO-TOUCH, as set.
    pub no_evict: bool,
    pub no_touch: bool,
    pub kill: CancellationToken,
    /// The connection's message queue (pub/sub, MONITOR, invalidations).
    pub(crate) pushes: super::cmd::pubsub::Handle,
    /// MONITOR is on (flag `O`).
    pub monitor: bool,
    /// CLIENT TRACKING as CLIENT LIST shows it.
    pub tracking: super::cmd::tracking::Shown,
}

impl ClientInfo {
    /// Subscribed to a channel, pattern or shard channel (CLIENT LIST's
    /// `pubsub` type).
    pub fn subscribed(&self) -> bool {
        self.subscriptions + self.patterns + self.shard_subscriptions > 0
    }
}

/// A connection's buffers as CLIENT LIST shows them (Redis' `qbuf`,
/// `qbuf-free`, `argv-mem`, `rbs`, `rbp`, `obl`), in bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Buffers {
    /// Query buffer: bytes held and spare capacity.
    pub qbuf: usize,
    pub qbuf_free: usize,
    /// The arguments of the command being run (0 while idle).
    pub argv_mem: usize,
    /// Reply buffer: capacity, and peak length in the current 5-second
    /// window (as measured each time it is written).
    pub rbs: usize,
    pub rbp: usize,
    /// Replies queued and not yet written.
    pub obl: usize,
}

/// Which commands a CLIENT PAUSE holds; `All` is the stronger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseMode {
    Write,
    All,
}

/// CLIENT PAUSE: until when, and which commands, clients wait. A pause
/// always has a deadline, so nothing waits forever.
#[derive(Default)]
pub struct Pause {
    state: Mutex<Option<(tokio::time::Instant, PauseMode)>>,
    /// Set while a pause may be in force: outside a pause a command reads
    /// this flag and nothing else.
    on: AtomicBool,
    /// Wakes the waiters when a pause is lifted.
    lifted: tokio::sync::Notify,
}

impl Pause {
    /// Pauses until `until`. As Redis, a pause in force keeps the later
    /// deadline and the stronger mode of the two.
    pub fn start(&self, until: tokio::time::Instant, mode: PauseMode) {
        let mut state = lock(&self.state);
        let merged = match *state {
            Some((end, old)) if end > tokio::time::Instant::now() => (end.max(until), old.max(mode)),
            _ => (until, mode),
        };
        *state = Some(merged);
        self.on.store(true, Ordering::Release);
    }

    /// Lifts the pause (CLIENT UNPAUSE): every waiting command runs.
    pub fn end(&self) {
        let mut state = lock(&self.state);
        *state = None;
        self.on.store(false, Ordering::Release);
        drop(state);
        self.lifted.notify_waiters();
    }

    /// A pause may be in force.
    pub fn in_force(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// The deadline of the pause that holds a command (`writes`: one that
    /// a WRITE pause holds too); `None` if it may run now.
    pub fn holding(&self, writes: bool) -> Option<tokio::time::Instant> {
        if !self.in_force() {
            return None;
        }
        let mut state = lock(&self.state);
        let (until, mode) = (*state)?;
        if until <= tokio::time::Instant::now() {
            *state = None;
            self.on.store(false, Ordering::Release);
            return None;
        }
        (mode == PauseMode::All || writes).then_some(until)
    }

    /// Waits until no pause holds a command (`writes` as in [`Pause::holding`]).
    pub async fn wait(&self, writes: bool) {
        loop {
            // Registered before the check, so a lift in between is not missed.
            let lifted = self.lifted.notified();
            let Some(until) = self.holding(writes) else { return };
            tokio::select! {
                () = lifted => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }
}

#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub commands_processed: AtomicU64,
    pub expired_keys: AtomicU64,
    pub rejected_connections: AtomicU64,
}

pub struct Server<G> {
    pub gateway: Arc<G>,
    pub config: Mutex<RespConfig>,
    pub runtime: RespRuntime,
    pub acl: Mutex<BTreeMap<String, AclUser>>,
    /// Bumped by every change of `acl`'s permissions, so connections reload
    /// theirs (`acl::Cached`); starts at 1.
    pub acl_epoch: AtomicU64,
    pub acl_log: Mutex<super::acl::log::Log>,
    pub clients: Mutex<BTreeMap<u64, Arc<Mutex<ClientInfo>>>>,
    next_client: AtomicU64,
    /// Shared by single-key commands, exclusive for multi-key ones and EXEC.
    pub keyspace: tokio::sync::RwLock<()>,
    pub stats: Stats,
    pub pubsub: Broker,
    pub blocking: Waiters,
    pub pause: Pause,
    pub watches: Watches,
    pub expiry: super::cmd::expiry::Expiry,
    /// Command and error counts, the slow log, latency events.
    pub introspect: super::cmd::introspect::Introspect,
    /// `notify-keyspace-events` and the publishing of keyspace events.
    pub notify: super::cmd::notify::Notify,
    /// Clients in MONITOR mode.
    pub monitors: super::cmd::monitor::Monitors,
    /// Client-side caching: who read which key.
    pub tracking: super::cmd::tracking::Tracking,
    /// CONFIG's parameters that live nowhere else (`cmd/config.rs`).
    pub params: super::cmd::config::Params,
    /// Scripts and functions: the Lua state, the script running now.
    pub scripts: Arc<super::script::Scripts>,
    pub cursors: Mutex<super::cmd::scan::Cursors>,
    pub started: Instant,
    pub shutdown: CancellationToken,
}

/// Locks a std mutex, tolerating a poisoned one (a panicked holder left
/// plain data behind, still usable).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A gateway failure as a Redis error reply, by its [`ErrorKind`]: the one
/// place the front door turns an [`Error`] into a reply. A timeout is
/// `ERR timeout: ...`; a full mailbox is `BUSY ...`, Redis' word for "busy
/// now, retry later"; the rest of the unavailable class (the node shutting
/// down, a storage failure, an unreachable node) and every other kind are
/// `ERR ...` with the error's text.
/// Redis Cluster's refusal of keys that do not share a slot (hash tags
/// `{...}` co-locate them).
pub(crate) const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

pub fn error_reply(e: &Error) -> Value {
    let text = match (e.kind(), e) {
        (ErrorKind::Timeout, _) => format!("ERR timeout: {e}"),
        (ErrorKind::Unavailable, Error::MailboxFull { .. }) => format!("BUSY {e}"),
        (ErrorKind::InvalidArgument, Error::InvalidActorId { reason }) => {
            format!("ERR invalid key: {reason}")
        }
        (_, Error::CrossPartition) => CROSSSLOT.into(),
        (_, Error::NotLeader { .. }) => format!("TRYAGAIN {e}"),
        (
            ErrorKind::NotFound
            | ErrorKind::InvalidArgument
            | ErrorKind::WrongType
            | ErrorKind::Unavailable
            | ErrorKind::Unauthenticated
            | ErrorKind::Internal,
            _,
        ) => format!("ERR {e}"),
    };
    Value::err(text)
}

impl<G: ActorGateway> Server<G> {
    pub fn new(
        gateway: Arc<G>,
        config: RespConfig,
        runtime: RespRuntime,
        shutdown: CancellationToken,
    ) -> Self {
        let params = super::cmd::config::Params::new(&config, &runtime);
        let scripts = Arc::new(super::script::Scripts::new(config.script_memory_limit));
        let mut acl = BTreeMap::new();
        let default = AclUser::unrestricted("default", config.requirepass.as_deref());
        acl.insert(default.name.clone(), default);
        for user in &config.users {
            let user = AclUser::unrestricted(&user.name, user.password.as_deref());
            acl.insert(user.name.clone(), user);
        }
        Server {
            gateway,
            config: Mutex::new(config),
            runtime,
            acl: Mutex::new(acl),
            acl_epoch: AtomicU64::new(1),
            acl_log: Mutex::default(),
            clients: Mutex::new(BTreeMap::new()),
            next_client: AtomicU64::new(1),
            keyspace: tokio::sync::RwLock::new(()),
            stats: Stats::default(),
            pubsub: Broker::default(),
            blocking: Waiters::default(),
            pause: Pause::default(),
            watches: Watches::default(),
            expiry: Default::default(),
            introspect: Default::default(),
            notify: Default::default(),
            monitors: Default::default(),
            tracking: Default::default(),
            params,
            scripts,
            cursors: Mutex::new(Default::default()),
            started: Instant::now(),
            shutdown,
        }
    }

    /// Takes the keyspace lock shared. A client still waiting for it when a
    /// script passes `busy-reply-threshold` is answered BUSY instead.
    pub async fn shared(&self) -> Result<tokio::sync::RwLockReadGuard<'_, ()>, Value> {
        if let Ok(guard) = self.keyspace.try_read() {
            return Ok(guard);
        }
        tokio::select! {
            guard = self.keyspace.read() => Ok(guard),
            () = self.scripts.running.busy() => Err(Value::err(self.scripts.running.busy_reply())),
        }
    }

    /// Takes the keyspace lock exclusively unless the caller (EXEC) holds it.
    pub async fn exclusive(&self, locked: bool) -> Option<tokio::sync::RwLockWriteGuard<'_, ()>> {
        if locked { None } else { Some(self.keyspace.write().await) }
    }

    /// Runs `work` as one atomic session of the gateway (every actor it
    /// calls held to the end, all its writes one batch, visible when this
    /// returns and durable once the token is: wait for it with
    /// [`Server::after_durable`] after releasing the keyspace lock), or as
    /// part of the session it already runs in. `Err`: the session did not
    /// commit, and nothing `work` did was written; dropped while `work`
    /// runs, nothing is written either.
    ///
    /// The session runs in a task of its own, so `work` may block its
    /// thread (a script does, under `block_in_place`) while its calls are
    /// served.
    pub async fn atomically<T>(
        self: &Arc<Self>,
        work: impl Future<Output = T>,
    ) -> Result<(T, DurableToken), Error> {
        if orbit_shared::gateway::current_session().is_some() {
            return Ok((work.await, DurableToken::NONE));
        }
        let (calls, steps) = tokio::sync::mpsc::channel(1);
        let server = self.clone();
        // Not aborted if this future is dropped: before the commit, the
        // session sees its calls end and writes nothing; after, it commits
        // whole.
        let session = tokio::spawn(async move { server.gateway.invoke_session(steps).await });
        let done = orbit_shared::gateway::in_session(calls.clone(), work).await;
        // A session that already failed has stopped reading: its error is
        // in its outcome.
        let _ = calls.send(orbit_shared::SessionStep::Commit).await;
        drop(calls);
        let outcome = match session.await {
            Ok(outcome) => outcome,
            Err(e) => Err(Error::Internal { reason: format!("the atomic session's task failed: {e}") }),
        };
        outcome.map(|token| (done, token))
    }

    /// `reply` once everything up to `token` is durable; the error instead
    /// if storage failed.
    /// Runs `work` with the keyspace lock held exclusively (unless the
    /// caller holds it: `locked`), then waits outside the lock until what it
    /// wrote is durable, so that commands run this way share fsyncs.
    pub async fn exclusively(
        &self,
        locked: bool,
        work: impl std::future::Future<Output = Result<(Value, DurableToken), Value>>,
    ) -> Value {
        let ran = {
            let _guard = self.exclusive(locked).await;
            work.await
        };
        match ran {
            Ok((reply, token)) => self.after_durable(token, reply).await,
            Err(e) => e,
        }
    }

    pub async fn after_durable(&self, token: DurableToken, reply: Value) -> Value {
        match self.gateway.wait_durable(token).await {
            Ok(()) => reply,
            Err(e) => error_reply(&e),
        }
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_client.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether a client must authenticate before its first command.
    pub fn auth_required(&self) -> bool {
        lock(&self.acl).get("default").is_none_or(|u| !u.nopass || !u.enabled)
    }

    /// Checks a user's password; `Err` carries Redis' reply text.
    pub fn authenticate(&self, user: &str, password: &[u8]) -> Result<(), &'static str> {
        let acl = lock(&self.acl);
        let ok = acl.get(user).is_some_and(|u| u.enabled && u.password_matches(password));
        if ok { Ok(()) } else { Err("WRONGPASS invalid username-password pair or user is disabled.") }
    }

    /// Runs one command line on the key `argv[1]` of database `db`
    /// (`argv[0]` the lower-case name), its reply durable. The caller holds
    /// the keyspace lock.
    pub async fn call_key(&self, db: usize, argv: &[Bytes], write: bool) -> Value {
        let (value, token, _) = self.call_key_visible(db, argv, write).await;
        match self.gateway.wait_durable(token).await {
            Ok(()) => value,
            Err(e) => error_reply(&e),
        }
    }

    /// `call_key` returning once the command's effect is visible, with the
    /// durability token to wait for before the reply is sent, and whether
    /// the key changed.
    pub async fn call_key_visible(
        &self,
        db: usize,
        argv: &[Bytes],
        write: bool,
    ) -> (Value, DurableToken, bool) {
        let (mut results, token) = self.call_key_batch(db, &[argv], write).await;
        let (value, changed) = results.pop().unwrap_or((Value::err("ERR internal error: no reply"), false));
        (value, token, changed)
    }

    /// Runs several command lines on one key (`commands[i][1]`, the same
    /// for all) in one turn of its actor: one reply and "changed" flag per
    /// command, and the durability token of the turn.
    pub async fn call_key_batch(
        &self,
        db: usize,
        commands: &[&[Bytes]],
        write: bool,
    ) -> (Vec<(Value, bool)>, DurableToken) {
        self.call_kind_batch(self.runtime.databases.kind(db), commands, write).await
    }

    /// One command on a key of a keyspace kind outside the 16 databases
    /// (`keyspace::SCRIPTS_KIND`): its reply once visible, and the token
    /// to wait for before acknowledging it.
    pub async fn call_kind(&self, kind: &'static str, argv: &[Bytes], write: bool) -> (Value, DurableToken) {
        let (mut results, token) = self.call_kind_batch(kind, &[argv], write).await;
        let value = results.pop().map_or(Value::err("ERR internal error: no reply"), |(v, _)| v);
        (value, token)
    }

    async fn call_kind_batch(
        &self,
        kind: &'static str,
        commands: &[&[Bytes]],
        write: bool,
    ) -> (Vec<(Value, bool)>, DurableToken) {
        let fail =
            |value: Value| (commands.iter().map(|_| (value.clone(), false)).collect(), DurableToken::NONE);
        let Some(key) = commands.first().and_then(|argv| argv.get(1)) else {
            return fail(Value::err("ERR missing key"));
        };
        let id = ActorId::new(kind, key.clone());
        let method = if write { "write" } else { "read" };
        let invocation = Invocation::new(method, keyspace::encode_call(keyspace::now_ms(), commands));
        match self.gateway.invoke_visible(id, invocation).await {
            Ok((reply, token)) => match keyspace::decode_reply(&reply.value) {
                Some(results) if results.len() == commands.len() => {
                    let results = results
                        .into_iter()
                        .zip(commands)
                        .map(|((value, changed), argv)| (pairs_reply(&argv[0], value), changed))
                        .collect();
                    (results, token)
                }
                _ => {
                    let (results, _) = fail(Value::err("ERR internal error: malformed keyspace reply"));
                    (results, token)
                }
            },
            Err(e) => fail(error_reply(&e)),
        }
    }

    /// `call_key` with the command name and key given apart.
    pub async fn key_command(&self, db: usize, name: &'static str, key: &Bytes, args: &[Bytes]) -> Value {
        let mut argv = Vec::with_capacity(2 + args.len());
        argv.push(Bytes::from_static(name.as_bytes()));
        argv.push(key.clone());
        argv.extend_from_slice(args);
        let write = super::table::lookup(name).is_none_or(|s| s.is_write()) || name.starts_with("orbit.");
        let write = write && name != "orbit.dump";
        self.call_key(db, &argv, write).await
    }
}

/// Commands whose reply is a list of pairs (WITHSCORES, WITHVALUES, a
/// counted pop): nested in RESP3, flat in RESP2.
fn pairs_reply(name: &[u8], reply: Value) -> Value {
    match reply {
        Value::Array(items)
            if !items.is_empty()
                && items.iter().all(|i| matches!(i, Value::Array(p) if p.len() == 2))
                && std::str::from_utf8(name)
                    .ok()
                    .and_then(super::table::lookup)
                    .is_some_and(|spec| spec.replies_pairs()) =>
        {
            Value::Pairs(
                items
                    .into_iter()
                    .filter_map(|i| match i {
                        Value::Array(mut p) => {
                            let second = p.pop()?;
                            Some((p.pop()?, second))
                        }
                        _ => None,
                    })
                    .collect(),
            )
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_errors_reply_by_their_kind() {
        let actor = ActorId::new("turnstile", Bytes::from_static(b"k"));
        let busy = Error::MailboxFull { actor, capacity: 1 };
        assert_eq!(error_reply(&busy), Value::err("BUSY mailbox of turnstile/k is full (1 waiting calls)"));
        let timeout = Error::Timeout { after_ms: 300 };
        assert_eq!(error_reply(&timeout), Value::err("ERR timeout: no reply within 300 ms"));
        let late = Error::Actor { kind: ErrorKind::Timeout, message: "the callee did not answer".into() };
        assert_eq!(error_reply(&late), Value::err("ERR timeout: the callee did not answer"));
        assert_eq!(error_reply(&Error::ShuttingDown), Value::err("ERR the node is shutting down"));
        let storage = Error::Storage { reason: "disk full".into() };
        assert_eq!(error_reply(&storage), Value::err("ERR storage failure: disk full"));
        let bad = Error::InvalidActorId { reason: "key too long".into() };
        assert_eq!(error_reply(&bad), Value::err("ERR invalid key: key too long"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_pause_holds_writes_until_its_deadline() {
        let pause = Pause::default();
        let until = tokio::time::Instant::now() + Duration::from_millis(300);
        pause.start(until, PauseMode::Write);
        assert_eq!(pause.holding(true), Some(until));
        assert_eq!(pause.holding(false), None, "reads run");
        pause.wait(true).await;
        assert!(tokio::time::Instant::now() >= until);
        assert!(!pause.in_force(), "the deadline ended the pause");
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_keeps_the_later_deadline_and_the_stronger_mode() {
        let pause = Pause::default();
        let now = tokio::time::Instant::now();
        pause.start(now + Duration::from_millis(200), PauseMode::All);
        pause.start(now + Duration::from_millis(20), PauseMode::Write);
        assert_eq!(pause.holding(false), Some(now + Duration::from_millis(200)));
    }

    #[tokio::test(start_paused = true)]
    async fn unpause_releases_the_waiters_before_the_deadline() {
        let pause = Arc::new(Pause::default());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        pause.start(deadline, PauseMode::All);
        let waiter = tokio::spawn({
            let pause = pause.clone();
            async move { pause.wait(false).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        pause.end();
        waiter.await.unwrap();
        assert!(tokio::time::Instant::now() < deadline, "released by UNPAUSE, not by the deadline");
    }
}
