//! MULTI/EXEC/DISCARD/WATCH/UNWATCH.
//!
//! EXEC holds the keyspace lock exclusively while it runs the queued
//! commands, so nothing interleaves with them. A command refused while
//! queueing (unknown, wrong arity) makes EXEC answer `EXECABORT`; runtime
//! errors are elements of EXEC's reply. WATCH marks the client dirty when any
//! watched key is written (by anyone, including itself), and EXEC then
//! answers a null array.

use crate::keyspace::value::Value;
use crate::resp::connection::{Conn, Outcome};
use crate::resp::server::lock;
use crate::resp::table::{Route, Spec};
use bytes::Bytes;
use orbit_shared::ActorGateway;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The commands queued since MULTI.
#[derive(Default)]
pub struct Queue {
    /// Each command with its name as the client spelled it (MONITOR and
    /// the slow log show it so).
    pub commands: Vec<(&'static Spec, Vec<Bytes>, Bytes)>,
    /// A command was refused while queueing.
    pub failed: bool,
    /// The first key queued: every later key must be colocated with it.
    pub first_key: Option<Bytes>,
}

/// What one client watches.
#[derive(Default)]
pub struct ClientWatch {
    keys: Vec<(usize, Bytes)>,
    /// Watched keys that existed at WATCH time: if one is gone at EXEC
    /// without a write having marked the client, it expired meanwhile.
    existed: Vec<(usize, Bytes)>,
    dirty: Arc<AtomicBool>,
}

/// The dirty flags of the clients watching each (database, key).
type Watchers = HashMap<(usize, Bytes), Vec<Arc<AtomicBool>>>;

/// Who watches which key.
#[derive(Default)]
pub struct Watches {
    map: Mutex<Watchers>,
    /// Watched keys in total: writes skip the map when nobody watches.
    count: AtomicUsize,
}

impl Watches {
    pub fn touch(&self, db: usize, key: &Bytes) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        if let Some(watchers) = lock(&self.map).get(&(db, key.clone())) {
            watchers.iter().for_each(|d| d.store(true, Ordering::Release));
        }
    }

    /// The keys of database `db` someone watches.
    pub fn keys_in(&self, db: usize) -> Vec<Bytes> {
        if self.count.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        lock(&self.map).keys().filter(|(d, _)| *d == db).map(|(_, key)| key.clone()).collect()
    }

    fn watch(&self, client: &mut ClientWatch, db: usize, key: Bytes) {
        if client.keys.iter().any(|(d, k)| *d == db && *k == key) {
            return;
        }
        lock(&self.map).entry((db, key.clone())).or_default().push(client.dirty.clone());
        self.count.fetch_add(1, Ordering::AcqRel);
        client.keys.push((db, key));
    }

    /// Forgets everything `client` watches and clears its dirty flag.
    pub fn unwatch(&self, client: &mut ClientWatch) {
        client.existed.clear();
        if client.keys.is_empty() {
            client.dirty.store(false, Ordering::Release);
            return;
        }
        let mut map = lock(&self.map);
        for key in client.keys.drain(..) {
            if let Some(watchers) = map.get_mut(&key) {
                watchers.retain(|d| !Arc::ptr_eq(d, &client.dirty));
                if watchers.is_empty() {
                    map.remove(&key);
                }
            }
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
        drop(map);
        client.dirty = Arc::new(AtomicBool::new(false));
    }
}

pub(crate) async fn run<G: ActorGateway>(conn: &mut Conn<G>, name: &str, argv: &[Bytes]) -> Outcome {
    match name {
        "multi" => {
            if conn.multi.is_some() {
                return Value::err("ERR MULTI calls can not be nested").into();
            }
            conn.multi = Some(Queue::default());
            lock(&conn.info).in_multi = true;
            Value::ok().into()
        }
        "discard" => {
            if conn.multi.take().is_none() {
                return Value::err("ERR DISCARD without MULTI").into();
            }
            lock(&conn.info).in_multi = false;
            conn.server.watches.unwatch(&mut conn.watch);
            Value::ok().into()
        }
        "watch" => {
            if conn.multi.is_some() {
                return Value::err("ERR WATCH inside MULTI is not allowed").into();
            }
            for key in &argv[1..] {
                conn.server.watches.watch(&mut conn.watch, conn.db, key.clone());
                if conn.server.key_command(conn.db, "exists", key, &[]).await == Value::Int(1) {
                    conn.watch.existed.push((conn.db, key.clone()));
                }
            }
            Value::ok().into()
        }
        "unwatch" => {
            conn.server.watches.unwatch(&mut conn.watch);
            Value::ok().into()
        }
        _ => exec(conn).await.into(),
    }
}

/// Whether a watched key that existed at WATCH time is gone (expired: a
/// delete would have marked the client dirty).
async fn expired_since_watch<G: ActorGateway>(conn: &Conn<G>) -> bool {
    for (db, key) in &conn.watch.existed {
        if conn.server.key_command(*db, "exists", key, &[]).await == Value::Int(0) {
            return true;
        }
    }
    false
}

async fn exec<G: ActorGateway>(conn: &mut Conn<G>) -> Value {
    let Some(queue) = conn.multi.take() else { return Value::err("ERR EXEC without MULTI") };
    lock(&conn.info).in_multi = false;
    if queue.failed {
        conn.server.watches.unwatch(&mut conn.watch);
        return Value::err("EXECABORT Transaction discarded because of previous errors.");
    }
    let server = conn.server.clone();
    let guard = server.keyspace.write().await;
    if conn.watch.dirty.load(Ordering::Acquire) || expired_since_watch(conn).await {
        conn.server.watches.unwatch(&mut conn.watch);
        return Value::NilArray;
    }
    // A keyspace-wide write (FLUSHALL, SWAPDB) spans every partition and
    // changes the node's memory: a transaction with one queued runs its
    // commands isolated (under the exclusive lock), each its own write.
    let keyspace_wide =
        queue.commands.iter().any(|(spec, _, _)| matches!(spec.route, Route::Keyspace) && spec.is_write());
    // One atomic session: the commands' writes land in one batch (in a
    // cluster, one Raft entry) or not at all, also across a crash.
    let run = async {
        let mut replies = Vec::with_capacity(queue.commands.len());
        for (spec, argv, sent) in queue.commands {
            conn.sent_name = sent;
            // Permissions may have changed since the command was queued: as
            // Redis, the command is refused in its slot.
            if let Some(refused) = super::acl::refusal(conn, spec, &argv) {
                replies.push(refused);
                continue;
            }
            let outcome = Box::pin(conn.execute(spec, argv, true)).await;
            replies.push(match outcome {
                Outcome::Reply(v) => v,
                Outcome::Replies(vs) => Value::Array(vs),
                Outcome::Block(_) => Value::NilArray,
            });
        }
        replies
    };
    let done = match keyspace_wide {
        true => Ok((run.await, orbit_shared::DurableToken::NONE)),
        false => server.atomically(run).await,
    };
    drop(guard);
    conn.server.watches.unwatch(&mut conn.watch);
    // Durable outside the lock, so transactions share fsyncs.
    match done {
        Ok((replies, token)) => server.after_durable(token, Value::Array(replies)).await,
        Err(e) => crate::resp::server::error_reply(&e),
    }
}
