//! Blocking commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP, and XREAD/XREADGROUP with BLOCK (parsed and read by
//! `cmd/streams.rs`, waiting here like the others: [`block_stream`]).
//!
//! A command that finds its keys empty registers a waiter on each key, in
//! FIFO order, while it still holds the keyspace lock (so no push can slip in
//! between its try and its registration). A client whose command writes a key
//! with waiters serves them after the command ([`serve`]): the first waiter
//! is claimed (removed from every key it waits on), its operation runs under
//! the exclusive lock, and the result is sent to it; if the key was emptied
//! meanwhile the waiter goes back to the front. A waiter that times out or
//! whose client leaves withdraws itself; if it was claimed at that moment it
//! still takes the result. A waiter ends with a reply whatever happens to
//! its keys: a source of another type keeps it waiting (as in Redis), a
//! destination of another type or a failure answers it with the error.
//! CLIENT UNBLOCK claims a client's waiter the same way and answers it with
//! its timeout reply or an error ([`Waiters::unblock`]).

use crate::keyspace::value::{Value, errors};
use crate::keyspace::{KeyType, parse_f64};
use crate::resp::connection::{Conn, Outcome};
use crate::resp::server::{Server, lock};
use bytes::Bytes;
use orbit_shared::ActorGateway;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tokio::time::Instant;

#[derive(Debug, Clone)]
enum BlockOp {
    Pop { left: bool },
    Move { dst: Bytes, from_left: bool, to_left: bool },
    MPop { end: super::keys::End, count: i64 },
    ZPop { min: bool },
    Stream(super::streams::BlockedRead),
}

pub struct Waiter {
    id: u64,
    /// The blocked client (CLIENT UNBLOCK names it).
    client: u64,
    db: usize,
    keys: Vec<Bytes>,
    op: BlockOp,
    /// The reply when the wait ends without a result.
    on_timeout: Value,
    claimed: AtomicBool,
    reply: Mutex<Option<oneshot::Sender<Value>>>,
}

/// Waiters per (database, key), first come first served.
type Queues = HashMap<(usize, Bytes), VecDeque<Arc<Waiter>>>;

#[derive(Default)]
pub struct Waiters {
    map: Mutex<Queues>,
    count: AtomicUsize,
    next_id: AtomicU64,
}

impl Waiters {
    /// Clients blocked right now (INFO `blocked_clients`).
    pub fn blocked(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub fn has_waiters(&self, db: usize, key: &Bytes) -> bool {
        self.count.load(Ordering::Acquire) > 0 && lock(&self.map).contains_key(&(db, key.clone()))
    }

    /// The keys of database `db` clients are blocked on.
    pub fn keys_in(&self, db: usize) -> Vec<Bytes> {
        if self.count.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        lock(&self.map).keys().filter(|(d, _)| *d == db).map(|(_, key)| key.clone()).collect()
    }

    fn register(&self, waiter: &Arc<Waiter>, front: bool) {
        let mut map = lock(&self.map);
        for key in &waiter.keys {
            let queue = map.entry((waiter.db, key.clone())).or_default();
            if front { queue.push_front(waiter.clone()) } else { queue.push_back(waiter.clone()) }
        }
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    /// Removes `waiter` from every queue; false if it was claimed already.
    fn remove(&self, waiter: &Arc<Waiter>, map: &mut Queues) -> bool {
        if waiter.claimed.swap(true, Ordering::AcqRel) {
            return false;
        }
        for key in &waiter.keys {
            let slot = (waiter.db, key.clone());
            if let Some(queue) = map.get_mut(&slot) {
                queue.retain(|w| w.id != waiter.id);
                if queue.is_empty() {
                    map.remove(&slot);
                }
            }
        }
        self.count.fetch_sub(1, Ordering::AcqRel);
        true
    }

    /// Withdraws a waiter that gave up; false if it was claimed meanwhile.
    pub fn withdraw(&self, waiter: &Arc<Waiter>) -> bool {
        let mut map = lock(&self.map);
        self.remove(waiter, &mut map)
    }

    /// Claims the first waiter on `key`.
    fn claim(&self, db: usize, key: &Bytes) -> Option<Arc<Waiter>> {
        let mut map = lock(&self.map);
        let first = map.get(&(db, key.clone()))?.front()?.clone();
        self.remove(&first, &mut map).then_some(first)
    }

    fn unclaim(&self, waiter: &Arc<Waiter>) {
        waiter.claimed.store(false, Ordering::Release);
        self.register(waiter, true);
    }

    /// Ends the wait of `client`'s blocked command (CLIENT UNBLOCK): it is
    /// claimed, so no push serves it, and answered with its timeout reply
    /// or, with `error`, Redis' UNBLOCKED error. False if `client` is not
    /// waiting. Looks through every queue: fine for an admin command.
    pub fn unblock(&self, client: u64, error: bool) -> bool {
        let mut map = lock(&self.map);
        let found = map.values().flat_map(|queue| queue.iter()).find(|w| w.client == client).cloned();
        let Some(waiter) = found else { return false };
        if !self.remove(&waiter, &mut map) {
            return false;
        }
        drop(map);
        let value = if error {
            Value::err("UNBLOCKED client unblocked via CLIENT UNBLOCK")
        } else {
            waiter.on_timeout.clone()
        };
        if let Some(tx) = lock(&waiter.reply).take() {
            let _ = tx.send(value);
        }
        true
    }
}

/// A blocked command: wait with [`Blocked::wait`].
pub struct Blocked {
    pub waiter: Arc<Waiter>,
    rx: oneshot::Receiver<Value>,
    deadline: Option<Instant>,
}

impl Blocked {
    pub async fn wait<G: ActorGateway>(mut self, server: &Server<G>) -> Value {
        let outcome = match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, &mut self.rx).await.ok(),
            None => Some((&mut self.rx).await),
        };
        if let Some(Ok(value)) = outcome {
            return value;
        }
        let on_timeout = self.waiter.on_timeout.clone();
        if server.blocking.withdraw(&self.waiter) {
            return on_timeout;
        }
        // Claimed just now: the result is on its way.
        self.rx.await.unwrap_or(on_timeout)
    }
}

fn parse_timeout(arg: &[u8]) -> Result<Option<Instant>, Value> {
    let secs = parse_f64(arg).map_err(|_| Value::err("ERR timeout is not a float or out of range"))?;
    if secs < 0.0 {
        return Err(Value::err("ERR timeout is negative"));
    }
    if secs == 0.0 {
        return Ok(None);
    }
    let wait = std::time::Duration::try_from_secs_f64(secs)
        .map_err(|_| Value::err("ERR timeout is out of range"))?;
    Ok(Some(Instant::now().checked_add(wait).ok_or_else(|| Value::err("ERR timeout is out of range"))?))
}

fn side(arg: &[u8]) -> Result<bool, Value> {
    match super::lower(arg).as_slice() {
        b"left" => Ok(true),
        b"right" => Ok(false),
        _ => Err(Value::err(errors::SYNTAX)),
    }
}

/// Parses a blocking command into its keys, operation, deadline and the
/// reply on timeout.
fn parse(name: &str, argv: &[Bytes]) -> Result<(Vec<Bytes>, BlockOp, Option<Instant>, Value), Value> {
    let last = argv.len() - 1;
    Ok(match name {
        "blpop" | "brpop" => (
            argv[1..last].to_vec(),
            BlockOp::Pop { left: name == "blpop" },
            parse_timeout(&argv[last])?,
            Value::NilArray,
        ),
        "bzpopmin" | "bzpopmax" => (
            argv[1..last].to_vec(),
            BlockOp::ZPop { min: name == "bzpopmin" },
            parse_timeout(&argv[last])?,
            Value::NilArray,
        ),
        "brpoplpush" => {
            let op = BlockOp::Move { dst: argv[2].clone(), from_left: false, to_left: true };
            (vec![argv[1].clone()], op, parse_timeout(&argv[3])?, Value::Nil)
        }
        "blmove" => {
            let op =
                BlockOp::Move { dst: argv[2].clone(), from_left: side(&argv[3])?, to_left: side(&argv[4])? };
            (vec![argv[1].clone()], op, parse_timeout(&argv[5])?, Value::Nil)
        }
        _ => {
            // Redis checks the keys and options before the timeout.
            let (keys, end, count) = super::keys::parse_mpop(&argv[2..], name == "bzmpop")?;
            (keys, BlockOp::MPop { end, count }, parse_timeout(&argv[1])?, Value::NilArray)
        }
    })
}

pub(crate) async fn run<G: ActorGateway>(
    conn: &mut Conn<G>,
    name: &str,
    argv: &[Bytes],
    locked: bool,
) -> Outcome {
    let (keys, op, deadline, on_timeout) = match parse(name, argv) {
        Ok(parsed) => parsed,
        Err(e) => return e.into(),
    };
    if let Err(e) = super::keys::colocated(conn, &keys) {
        return e.into();
    }
    let server = conn.server.clone();
    let _guard = server.exclusive(locked).await;
    for key in &keys {
        match perform(&server, conn.db, key, &op).await {
            Ok(Some(value)) if value.is_error() => return value.into(),
            Ok(Some(value)) => {
                conn.wrote(key);
                if let BlockOp::Move { dst, .. } = &op {
                    conn.wrote(dst);
                }
                return value.into();
            }
            Ok(None) => {}
            Err(e) => return e.into(),
        }
    }
    if locked {
        // Inside MULTI a blocking command does not block.
        return on_timeout.into();
    }
    enqueue(conn, keys, op, on_timeout, deadline)
}

/// Registers a waiter on `keys` (the caller holds the keyspace lock, so
/// no write can slip in between its try and this).
fn enqueue<G: ActorGateway>(
    conn: &Conn<G>,
    keys: Vec<Bytes>,
    op: BlockOp,
    on_timeout: Value,
    deadline: Option<Instant>,
) -> Outcome {
    let server = &conn.server;
    let (tx, rx) = oneshot::channel();
    let waiter = Arc::new(Waiter {
        id: server.blocking.next_id.fetch_add(1, Ordering::Relaxed),
        client: conn.id,
        db: conn.db,
        keys,
        op,
        on_timeout,
        claimed: AtomicBool::new(false),
        reply: Mutex::new(Some(tx)),
    });
    server.blocking.register(&waiter, false);
    Outcome::Block(Blocked { waiter, rx, deadline })
}

/// Blocks an XREAD/XREADGROUP that found nothing; a timeout answers nil.
pub(crate) fn block_stream<G: ActorGateway>(
    conn: &Conn<G>,
    read: super::streams::BlockedRead,
    deadline: Option<Instant>,
) -> Outcome {
    let keys = read.keys();
    enqueue(conn, keys, BlockOp::Stream(read), Value::NilArray, deadline)
}

async fn call<G: ActorGateway>(
    server: &Server<G>,
    db: usize,
    name: &'static str,
    key: &Bytes,
    args: &[Bytes],
) -> Result<Value, Value> {
    let v = server.key_command(db, name, key, args).await;
    if v.is_error() { Err(v) } else { Ok(v) }
}

/// Runs a waiter's operation on `key`: `Ok(None)` if there is nothing to take.
async fn perform<G: ActorGateway>(
    server: &Server<G>,
    db: usize,
    key: &Bytes,
    op: &BlockOp,
) -> Result<Option<Value>, Value> {
    let some = |v| Ok(Some(v));
    match op {
        BlockOp::Pop { left } => match call(server, db, if *left { "lpop" } else { "rpop" }, key, &[]).await?
        {
            Value::Bulk(e) => some(Value::Array(vec![Value::Bulk(key.clone()), Value::Bulk(e)])),
            _ => Ok(None),
        },
        BlockOp::ZPop { min } => {
            match call(server, db, if *min { "zpopmin" } else { "zpopmax" }, key, &[]).await? {
                Value::Array(mut items) if items.len() == 2 => {
                    let score = items.pop().unwrap_or(Value::Nil);
                    let member = items.pop().unwrap_or(Value::Nil);
                    some(Value::Array(vec![Value::Bulk(key.clone()), member, score]))
                }
                Value::Pairs(mut pairs) if pairs.len() == 1 => {
                    let (member, score) = pairs.remove(0);
                    some(Value::Array(vec![Value::Bulk(key.clone()), member, score]))
                }
                _ => Ok(None),
            }
        }
        BlockOp::MPop { end, count } => super::keys::mpop_key(server, db, key, *end, *count).await,
        BlockOp::Stream(read) => {
            let (read, token) = super::streams::read_once(server, db, read).await?;
            server.gateway.wait_durable(token).await.map_err(|e| crate::resp::server::error_reply(&e))?;
            Ok(read.map(|(reply, _)| reply))
        }
        BlockOp::Move { dst, from_left, to_left } => {
            // Redis' order: an empty source blocks, then the source's type,
            // then the destination's.
            match call(server, db, "type", key, &[]).await? {
                Value::Simple(t) if t == "none" => return Ok(None),
                Value::Simple(t) if t != "list" => return Err(Value::err(errors::WRONGTYPE)),
                _ => {}
            }
            // A destination of another type answers the client with the
            // error and leaves the source as it was.
            if let Value::Simple(t) = call(server, db, "type", dst, &[]).await?
                && KeyType::parse(t.as_bytes()).is_some_and(|t| t != KeyType::List)
            {
                return some(Value::err(errors::WRONGTYPE));
            }
            let Value::Bulk(e) = call(server, db, if *from_left { "lpop" } else { "rpop" }, key, &[]).await?
            else {
                return Ok(None);
            };
            call(server, db, if *to_left { "lpush" } else { "rpush" }, dst, std::slice::from_ref(&e)).await?;
            some(Value::Bulk(e))
        }
    }
}

/// Serves the clients blocked on `written` keys, FIFO per key, following
/// the chain when a served BLMOVE pushes onto another watched key.
pub(crate) async fn serve<G: ActorGateway>(server: &Arc<Server<G>>, written: Vec<(usize, Bytes)>) {
    let mut pending: VecDeque<(usize, Bytes)> = written.into();
    while let Some((db, key)) = pending.pop_front() {
        // Stream readers each read from their own position: one that finds
        // nothing waits on, and the waiters after it are still tried.
        let mut passed = Vec::new();
        while let Some(waiter) = server.blocking.claim(db, &key) {
            let guard = server.keyspace.write().await;
            let result = perform(server, db, &key, &waiter.op).await;
            drop(guard);
            let value = match result {
                Ok(None) if matches!(waiter.op, BlockOp::Stream(_)) => {
                    passed.push(waiter);
                    continue;
                }
                Ok(None) => {
                    server.blocking.unclaim(&waiter);
                    break;
                }
                Ok(Some(value)) if value.is_error() => value,
                Ok(Some(value)) => {
                    server.watches.touch(db, &key);
                    if let BlockOp::Move { dst, .. } = &waiter.op {
                        server.watches.touch(db, dst);
                        if server.blocking.has_waiters(db, dst) {
                            pending.push_back((db, dst.clone()));
                        }
                    }
                    value
                }
                Err(e) if e == Value::err(errors::WRONGTYPE) => {
                    // The key holds another type now: Redis keeps the
                    // client blocked until a list (or zset) is there again.
                    server.blocking.unclaim(&waiter);
                    break;
                }
                // Any other failure ends the wait with it.
                Err(e) => e,
            };
            if let Some(tx) = lock(&waiter.reply).take() {
                let _ = tx.send(value);
            }
        }
        // Back at the front, in their order.
        for waiter in passed.iter().rev() {
            server.blocking.unclaim(waiter);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(waiters: &Waiters, client: u64) -> (Arc<Waiter>, oneshot::Receiver<Value>) {
        let (tx, rx) = oneshot::channel();
        let waiter = Arc::new(Waiter {
            id: client,
            client,
            db: 0,
            keys: vec![Bytes::from_static(b"k")],
            op: BlockOp::Pop { left: true },
            on_timeout: Value::NilArray,
            claimed: AtomicBool::new(false),
            reply: Mutex::new(Some(tx)),
        });
        waiters.register(&waiter, false);
        (waiter, rx)
    }

    #[test]
    fn unblock_answers_the_client_and_takes_its_waiter_off_the_keys() {
        let waiters = Waiters::default();
        let (_first, mut first) = waiter(&waiters, 1);
        let (_second, mut second) = waiter(&waiters, 2);
        assert!(waiters.unblock(1, false));
        assert_eq!(first.try_recv().ok(), Some(Value::NilArray), "the timeout reply");
        assert!(!waiters.unblock(1, false), "no longer waiting");
        assert!(waiters.unblock(2, true));
        let unblocked = Value::err("UNBLOCKED client unblocked via CLIENT UNBLOCK");
        assert_eq!(second.try_recv().ok(), Some(unblocked));
        assert_eq!(waiters.blocked(), 0);
        assert!(!waiters.has_waiters(0, &Bytes::from_static(b"k")));
        assert!(!waiters.unblock(3, false), "a client that never blocked");
    }
}
