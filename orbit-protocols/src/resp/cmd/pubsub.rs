//! Pub/sub: channels and patterns, node-local (messages are not stored).
//!
//! Each subscriber has a bounded queue (`pubsub_buffer`); a subscriber that
//! falls that far behind is disconnected, as Redis does with its pub/sub
//! output buffer limit, instead of letting memory grow.

use crate::keyspace::glob;
use crate::keyspace::value::Value;
use crate::resp::connection::{Conn, Outcome};
use crate::resp::server::lock;
use bytes::Bytes;
use orbit_shared::ActorGateway;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

#[derive(Clone)]
struct Handle {
    tx: mpsc::Sender<Value>,
    overflow: Arc<AtomicBool>,
}

impl Handle {
    fn deliver(&self, message: Value) -> bool {
        match self.tx.try_send(message) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.overflow.store(true, Ordering::Release);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// One connection's subscriptions and its message queue.
pub struct Subscriber {
    id: u64,
    handle: Handle,
    rx: mpsc::Receiver<Value>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
}

impl Subscriber {
    pub fn new(id: u64, buffer: usize) -> Self {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let handle = Handle { tx, overflow: Arc::new(AtomicBool::new(false)) };
        Subscriber { id, handle, rx, channels: BTreeSet::new(), patterns: BTreeSet::new() }
    }

    pub fn active(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty()
    }

    fn count(&self) -> i64 {
        (self.channels.len() + self.patterns.len()) as i64
    }

    pub async fn next(&mut self) -> Option<Value> {
        self.rx.recv().await
    }

    pub fn overflowed(&self) -> bool {
        self.handle.overflow.load(Ordering::Acquire)
    }
}

#[derive(Default)]
pub struct Broker {
    channels: Mutex<HashMap<Bytes, HashMap<u64, Handle>>>,
    patterns: Mutex<HashMap<Bytes, HashMap<u64, Handle>>>,
}

impl Broker {
    /// Delivers to every subscriber of `channel` and every matching pattern;
    /// returns how many received it.
    pub fn publish(&self, channel: &Bytes, message: &Bytes) -> i64 {
        let mut received = 0;
        if let Some(subs) = lock(&self.channels).get(channel) {
            for handle in subs.values() {
                let push = Value::Push(vec![
                    Value::bulk("message"),
                    Value::Bulk(channel.clone()),
                    Value::Bulk(message.clone()),
                ]);
                received += i64::from(handle.deliver(push));
            }
        }
        for (pattern, subs) in lock(&self.patterns).iter() {
            if !glob::matches(pattern, channel) {
                continue;
            }
            for handle in subs.values() {
                let push = Value::Push(vec![
                    Value::bulk("pmessage"),
                    Value::Bulk(pattern.clone()),
                    Value::Bulk(channel.clone()),
                    Value::Bulk(message.clone()),
                ]);
                received += i64::from(handle.deliver(push));
            }
        }
        received
    }

    pub fn unsubscribe_all(&self, sub: &mut Subscriber) {
        let channels: Vec<Bytes> = sub.channels.iter().cloned().collect();
        let patterns: Vec<Bytes> = sub.patterns.iter().cloned().collect();
        for c in channels {
            self.remove(&self.channels, &mut sub.channels, sub.id, &c);
        }
        for p in patterns {
            self.remove(&self.patterns, &mut sub.patterns, sub.id, &p);
        }
    }

    fn remove(
        &self,
        map: &Mutex<HashMap<Bytes, HashMap<u64, Handle>>>,
        own: &mut BTreeSet<Bytes>,
        id: u64,
        name: &Bytes,
    ) -> bool {
        if !own.remove(name) {
            return false;
        }
        let mut map = lock(map);
        if let Some(subs) = map.get_mut(name) {
            subs.remove(&id);
            if subs.is_empty() {
                map.remove(name);
            }
        }
        true
    }
}

/// Delivers messages published on other nodes of the cluster to this
/// node's subscribers, until shutdown.
pub(crate) async fn deliver_relayed<G: ActorGateway>(
    server: std::sync::Arc<crate::resp::server::Server<G>>,
    mut relayed: tokio::sync::broadcast::Receiver<orbit_shared::Published>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = relayed.recv() => next,
        };
        match next {
            Ok(p) => {
                server.pubsub.publish(&p.channel, &p.message);
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "relayed PUBLISH messages dropped: subscribers too slow");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

fn ack(kind: &str, name: Option<Bytes>, count: i64) -> Value {
    Value::Push(vec![Value::bulk(kind.to_string()), name.map_or(Value::Nil, Value::Bulk), Value::Int(count)])
}

pub(crate) fn run<G: ActorGateway>(conn: &mut Conn<G>, name: &str, argv: &[Bytes]) -> Outcome {
    let broker = &conn.server.pubsub;
    let sub = &mut conn.subs;
    let replies = match name {
        "publish" => {
            let received = broker.publish(&argv[1], &argv[2]);
            let published = orbit_shared::Published { channel: argv[1].clone(), message: argv[2].clone() };
            conn.server.gateway.relay_published(published);
            // As Redis Cluster: the count of this node's receivers.
            return Value::Int(received).into();
        }
        "pubsub" => return introspect(broker, &argv[1..]).into(),
        "subscribe" | "psubscribe" => {
            let pattern = name == "psubscribe";
            let map = if pattern { &broker.patterns } else { &broker.channels };
            argv[1..]
                .iter()
                .map(|c| {
                    let own = if pattern { &mut sub.patterns } else { &mut sub.channels };
                    if own.insert(c.clone()) {
                        lock(map).entry(c.clone()).or_default().insert(sub.id, sub.handle.clone());
                    }
                    ack(name, Some(c.clone()), sub.count())
                })
                .collect::<Vec<_>>()
        }
        _ => {
            let pattern = name == "punsubscribe";
            let map = if pattern { &broker.patterns } else { &broker.channels };
            let own: Vec<Bytes> = if argv.len() > 1 {
                argv[1..].to_vec()
            } else if pattern {
                sub.patterns.iter().cloned().collect()
            } else {
                sub.channels.iter().cloned().collect()
            };
            if own.is_empty() {
                vec![ack(name, None, sub.count())]
            } else {
                own.into_iter()
                    .map(|c| {
                        let set = if pattern { &mut sub.patterns } else { &mut sub.channels };
                        broker.remove(map, set, sub.id, &c);
                        ack(name, Some(c), sub.count())
                    })
                    .collect()
            }
        }
    };
    let mut info = lock(&conn.info);
    info.subscriptions = conn.subs.channels.len();
    info.patterns = conn.subs.patterns.len();
    Outcome::Replies(replies)
}

/// PUBSUB CHANNELS [pattern] | NUMSUB [channel...] | NUMPAT
fn introspect(broker: &Broker, args: &[Bytes]) -> Value {
    match (crate::resp::cmd::lower(&args[0]).as_slice(), &args[1..]) {
        (b"channels", rest) if rest.len() <= 1 => {
            let channels = lock(&broker.channels);
            let mut names: Vec<&Bytes> =
                channels.keys().filter(|c| rest.first().is_none_or(|p| glob::matches(p, c))).collect();
            names.sort();
            Value::Array(names.into_iter().map(|c| Value::Bulk(c.clone())).collect())
        }
        (b"numsub", channels) => {
            let map = lock(&broker.channels);
            Value::Array(
                channels
                    .iter()
                    .flat_map(|c| {
                        [Value::Bulk(c.clone()), Value::Int(map.get(c).map_or(0, |s| s.len() as i64))]
                    })
                    .collect(),
            )
        }
        (b"numpat", []) => Value::Int(lock(&broker.patterns).len() as i64),
        _ => crate::resp::cmd::subcommand_error("pubsub", &args[0], &["channels", "numsub", "numpat"]),
    }
}
