//! Pub/sub: channels, patterns and shard channels, node-local (messages
//! are not stored). Shard channels (SSUBSCRIBE, SPUBLISH) are a namespace of
//! their own: a PUBLISH never reaches a shard channel's subscribers, nor an
//! SPUBLISH a channel's or a pattern's.
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

/// The sending end of a connection's message queue: pub/sub messages,
/// MONITOR lines and client-side caching invalidations all take it.
#[derive(Clone, Debug)]
pub(crate) struct Handle {
    tx: mpsc::Sender<Value>,
    overflow: Arc<AtomicBool>,
}

impl Handle {
    /// Queues a message; false if the queue is full (the connection is then
    /// closed as a subscriber that does not keep up) or gone.
    pub(crate) fn deliver(&self, message: Value) -> bool {
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

/// What a subscription names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Channel, Kind::Pattern, Kind::Shard];
}

/// Subscribers by channel, pattern or shard channel.
type Subs = HashMap<Bytes, HashMap<u64, Handle>>;

/// One connection's subscriptions and its message queue.
pub struct Subscriber {
    id: u64,
    handle: Handle,
    rx: mpsc::Receiver<Value>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    shard_channels: BTreeSet<Bytes>,
}

impl Subscriber {
    pub fn new(id: u64, buffer: usize) -> Self {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        let handle = Handle { tx, overflow: Arc::new(AtomicBool::new(false)) };
        Subscriber {
            id,
            handle,
            rx,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            shard_channels: BTreeSet::new(),
        }
    }

    /// Subscribed to anything (RESP2's subscribed mode).
    pub fn active(&self) -> bool {
        Kind::ALL.iter().any(|&kind| !self.names(kind).is_empty())
    }

    fn names(&self, kind: Kind) -> &BTreeSet<Bytes> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

    fn names_mut(&mut self, kind: Kind) -> &mut BTreeSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// The count a (un)subscribe reply carries, as Redis: channels and
    /// patterns together, shard channels apart.
    fn count(&self, kind: Kind) -> i64 {
        let n = match kind {
            Kind::Shard => self.shard_channels.len(),
            Kind::Channel | Kind::Pattern => self.channels.len() + self.patterns.len(),
        };
        n as i64
    }

    /// The sending end of this connection's queue.
    pub(crate) fn handle(&self) -> Handle {
        self.handle.clone()
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
    channels: Mutex<Subs>,
    patterns: Mutex<Subs>,
    shard_channels: Mutex<Subs>,
}

impl Broker {
    fn subs(&self, kind: Kind) -> &Mutex<Subs> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

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

    /// Delivers to every subscriber of shard channel `channel` (patterns
    /// do not apply); returns how many received it.
    pub fn spublish(&self, channel: &Bytes, message: &Bytes) -> i64 {
        let map = lock(&self.shard_channels);
        let Some(subs) = map.get(channel) else { return 0 };
        let push = Value::Push(vec![
            Value::bulk("smessage"),
            Value::Bulk(channel.clone()),
            Value::Bulk(message.clone()),
        ]);
        subs.values().map(|handle| i64::from(handle.deliver(push.clone()))).sum()
    }

    pub fn unsubscribe_all(&self, sub: &mut Subscriber) {
        for kind in Kind::ALL {
            let names: Vec<Bytes> = sub.names(kind).iter().cloned().collect();
            for name in names {
                self.remove(sub, kind, &name);
            }
        }
    }

    /// Subscribes `sub` to each of `names`: one reply each.
    fn subscribe(&self, sub: &mut Subscriber, kind: Kind, command: &str, names: &[Bytes]) -> Vec<Value> {
        let mut replies = Vec::with_capacity(names.len());
        for name in names {
            if sub.names_mut(kind).insert(name.clone()) {
                lock(self.subs(kind)).entry(name.clone()).or_default().insert(sub.id, sub.handle.clone());
            }
            replies.push(ack(command, Some(name.clone()), sub.count(kind)));
        }
        replies
    }

    /// Unsubscribes `sub` from each of `names`, or from all its
    /// subscriptions of `kind` when none are named: one reply each, or one
    /// naming nothing when there is nothing to leave.
    fn unsubscribe(&self, sub: &mut Subscriber, kind: Kind, command: &str, names: &[Bytes]) -> Vec<Value> {
        let names: Vec<Bytes> =
            if names.is_empty() { sub.names(kind).iter().cloned().collect() } else { names.to_vec() };
        if names.is_empty() {
            return vec![ack(command, None, sub.count(kind))];
        }
        let mut replies = Vec::with_capacity(names.len());
        for name in names {
            self.remove(sub, kind, &name);
            replies.push(ack(command, Some(name), sub.count(kind)));
        }
        replies
    }

    fn remove(&self, sub: &mut Subscriber, kind: Kind, name: &Bytes) {
        if !sub.names_mut(kind).remove(name) {
            return;
        }
        let mut map = lock(self.subs(kind));
        if let Some(subs) = map.get_mut(name) {
            subs.remove(&sub.id);
            if subs.is_empty() {
                map.remove(name);
            }
        }
    }
}

/// Delivers messages published elsewhere (PostgreSQL NOTIFY on this node,
/// PUBLISH and NOTIFY on the cluster's other nodes) to this node's
/// subscribers, until shutdown.
pub(crate) async fn deliver_inbound<G: ActorGateway>(
    server: std::sync::Arc<crate::resp::server::Server<G>>,
    mut inbound: crate::bus::Inbound,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = inbound.next() => next,
        };
        match next {
            Some(Ok(p)) if p.sharded => {
                server.pubsub.spublish(&p.channel, &p.message);
            }
            Some(Ok(p)) => {
                server.pubsub.publish(&p.channel, &p.message);
            }
            Some(Err(missed)) => {
                tracing::warn!(missed, "PUBLISH messages from elsewhere dropped: subscribers too slow");
            }
            None => return,
        }
    }
}

fn ack(kind: &str, name: Option<Bytes>, count: i64) -> Value {
    Value::Push(vec![Value::bulk(kind.to_string()), name.map_or(Value::Nil, Value::Bulk), Value::Int(count)])
}

/// Runs a pub/sub command. `locked`: inside EXEC, where Redis refuses
/// SSUBSCRIBE (a transaction's client cannot block on messages).
pub(crate) fn run<G: ActorGateway>(conn: &mut Conn<G>, name: &str, argv: &[Bytes], locked: bool) -> Outcome {
    match name {
        "publish" | "spublish" => return publish(conn, name == "spublish", &argv[1], &argv[2]).into(),
        "pubsub" => return introspect(&conn.server.pubsub, &argv[1..]).into(),
        "ssubscribe" if locked => {
            return Value::err("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client").into();
        }
        _ => {}
    }
    let (broker, sub) = (&conn.server.pubsub, &mut conn.subs);
    let replies = match name {
        "subscribe" => broker.subscribe(sub, Kind::Channel, name, &argv[1..]),
        "psubscribe" => broker.subscribe(sub, Kind::Pattern, name, &argv[1..]),
        "ssubscribe" => broker.subscribe(sub, Kind::Shard, name, &argv[1..]),
        "unsubscribe" => broker.unsubscribe(sub, Kind::Channel, name, &argv[1..]),
        "punsubscribe" => broker.unsubscribe(sub, Kind::Pattern, name, &argv[1..]),
        _ => broker.unsubscribe(sub, Kind::Shard, name, &argv[1..]),
    };
    let mut info = lock(&conn.info);
    info.subscriptions = conn.subs.channels.len();
    info.patterns = conn.subs.patterns.len();
    info.shard_subscriptions = conn.subs.shard_channels.len();
    Outcome::Replies(replies)
}

/// PUBLISH, SPUBLISH: delivers here (PUBLISH also to PostgreSQL sessions
/// LISTENing on the channel) and relays to the cluster's other nodes; as
/// Redis Cluster, the reply counts this node's Redis receivers.
fn publish<G: ActorGateway>(conn: &Conn<G>, sharded: bool, channel: &Bytes, message: &Bytes) -> Value {
    let broker = &conn.server.pubsub;
    let received = if sharded { broker.spublish(channel, message) } else { broker.publish(channel, message) };
    if !sharded {
        conn.server.runtime.bus.publish(crate::bus::Door::Redis, channel.clone(), message.clone());
    }
    let published = orbit_shared::Published { channel: channel.clone(), message: message.clone(), sharded };
    conn.server.gateway.relay_published(published);
    Value::Int(received)
}

/// PUBSUB CHANNELS|SHARDCHANNELS [pattern] | NUMSUB|SHARDNUMSUB [channel...]
/// | NUMPAT
fn introspect(broker: &Broker, args: &[Bytes]) -> Value {
    match (crate::resp::cmd::lower(&args[0]).as_slice(), &args[1..]) {
        (b"channels", rest) if rest.len() <= 1 => active(&broker.channels, rest.first()),
        (b"shardchannels", rest) if rest.len() <= 1 => active(&broker.shard_channels, rest.first()),
        (b"channels" | b"shardchannels", _) => Value::err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
            String::from_utf8_lossy(&args[0])
        )),
        (b"numsub", channels) => numsub(&broker.channels, channels),
        (b"shardnumsub", channels) => numsub(&broker.shard_channels, channels),
        (b"numpat", []) => Value::Int(lock(&broker.patterns).len() as i64),
        _ => crate::resp::cmd::subcommand_error(
            "pubsub",
            &args[0],
            &["channels", "numsub", "numpat", "shardchannels", "shardnumsub"],
        ),
    }
}

/// The names with subscribers, sorted, that match `pattern` if given.
fn active(subs: &Mutex<Subs>, pattern: Option<&Bytes>) -> Value {
    let subs = lock(subs);
    let mut names: Vec<&Bytes> =
        subs.keys().filter(|c| pattern.is_none_or(|p| glob::matches(p, c))).collect();
    names.sort();
    Value::Array(names.into_iter().map(|c| Value::Bulk(c.clone())).collect())
}

/// Each channel followed by its number of subscribers.
fn numsub(subs: &Mutex<Subs>, channels: &[Bytes]) -> Value {
    let subs = lock(subs);
    let count = |c: &Bytes| Value::Int(subs.get(c).map_or(0, |s| s.len() as i64));
    Value::Array(channels.iter().flat_map(|c| [Value::Bulk(c.clone()), count(c)]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    fn acked(kind: &str, name: &'static str, count: i64) -> Value {
        ack(kind, Some(b(name)), count)
    }

    #[test]
    fn shard_channels_are_a_namespace_of_their_own() {
        let broker = Broker::default();
        let (mut plain, mut shard) = (Subscriber::new(1, 8), Subscriber::new(2, 8));
        broker.subscribe(&mut plain, Kind::Channel, "subscribe", &[b("x")]);
        broker.subscribe(&mut plain, Kind::Pattern, "psubscribe", &[b("*")]);
        broker.subscribe(&mut shard, Kind::Shard, "ssubscribe", &[b("x")]);
        assert_eq!(broker.spublish(&b("x"), &b("m")), 1);
        let smessage = Value::Push(vec![Value::bulk("smessage"), Value::bulk("x"), Value::bulk("m")]);
        assert_eq!(shard.rx.try_recv().ok(), Some(smessage));
        assert!(plain.rx.try_recv().is_err(), "SPUBLISH reaches no channel or pattern");
        assert_eq!(broker.publish(&b("x"), &b("m")), 2);
        assert!(shard.rx.try_recv().is_err(), "PUBLISH reaches no shard channel");
        assert_eq!(broker.spublish(&b("y"), &b("m")), 0);
    }

    #[test]
    fn shard_subscriptions_are_counted_apart() {
        let broker = Broker::default();
        let mut sub = Subscriber::new(1, 8);
        let replies = broker.subscribe(&mut sub, Kind::Channel, "subscribe", &[b("c")]);
        assert_eq!(replies, [acked("subscribe", "c", 1)]);
        let replies = broker.subscribe(&mut sub, Kind::Shard, "ssubscribe", &[b("a"), b("b"), b("a")]);
        assert_eq!(
            replies,
            [acked("ssubscribe", "a", 1), acked("ssubscribe", "b", 2), acked("ssubscribe", "a", 2)]
        );
        let replies = broker.unsubscribe(&mut sub, Kind::Shard, "sunsubscribe", &[b("b")]);
        assert_eq!(replies, [acked("sunsubscribe", "b", 1)]);
        let replies = broker.unsubscribe(&mut sub, Kind::Shard, "sunsubscribe", &[]);
        assert_eq!(replies, [acked("sunsubscribe", "a", 0)]);
        let replies = broker.unsubscribe(&mut sub, Kind::Shard, "sunsubscribe", &[]);
        assert_eq!(replies, [ack("sunsubscribe", None, 0)]);
        assert!(sub.active(), "still subscribed to a channel");
        broker.unsubscribe_all(&mut sub);
        assert!(!sub.active());
        assert_eq!(
            numsub(&broker.shard_channels, &[b("a")]),
            Value::Array(vec![Value::bulk("a"), Value::Int(0)])
        );
    }
}
