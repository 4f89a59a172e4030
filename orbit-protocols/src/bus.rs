//! The node's pub/sub bus between its front doors: a Redis PUBLISH reaches
//! PostgreSQL sessions that LISTEN on the channel, and a PostgreSQL NOTIFY
//! reaches Redis subscribers, on this node directly and on the cluster's
//! other nodes through the gateway's relay (which every front door reads).
//!
//! A channel is the same bytes on both sides: `PUBLISH jobs x` reaches
//! `LISTEN jobs`, and `NOTIFY "Jobs"` reaches `SUBSCRIBE Jobs`. Shard
//! channels (SPUBLISH) stay Redis'.

use bytes::Bytes;
use orbit_shared::Published;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// Messages the bus holds for a front door that falls behind.
const CAPACITY: usize = 4096;

/// A front door that publishes on the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Redis,
    Postgres,
}

#[derive(Debug, Clone)]
struct Message {
    from: Door,
    published: Published,
}

/// Shared by the node's front doors (cloning shares it).
#[derive(Debug, Clone)]
pub struct Bus {
    sender: broadcast::Sender<Message>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus { sender: broadcast::channel(CAPACITY).0 }
    }
}

impl Bus {
    /// Hands a message `from` one front door to the others on this node.
    pub fn publish(&self, from: Door, channel: Bytes, message: Bytes) {
        if self.sender.receiver_count() > 0 {
            let _ =
                self.sender.send(Message { from, published: Published { channel, message, sharded: false } });
        }
    }

    /// What `door`'s subscribers are to receive from elsewhere: messages
    /// the node's other front doors publish, and those the cluster's other
    /// nodes relay here (`relayed`: the gateway's
    /// [`orbit_shared::ActorGateway::relayed`]).
    pub fn inbound(&self, door: Door, relayed: Option<broadcast::Receiver<Published>>) -> Inbound {
        Inbound { door, bus: self.sender.subscribe(), relayed }
    }
}

/// See [`Bus::inbound`].
pub struct Inbound {
    door: Door,
    bus: broadcast::Receiver<Message>,
    relayed: Option<broadcast::Receiver<Published>>,
}

impl Inbound {
    /// The next message, or how many were missed because the front door
    /// fell behind; `None` once the sources are gone.
    pub async fn next(&mut self) -> Option<Result<Published, u64>> {
        enum Got {
            Bus(Result<Message, RecvError>),
            Relayed(Result<Published, RecvError>),
        }
        loop {
            let got = {
                let (bus, relayed) = (&mut self.bus, &mut self.relayed);
                let relayed = async {
                    match relayed.as_mut() {
                        Some(relayed) => relayed.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    message = bus.recv() => Got::Bus(message),
                    published = relayed => Got::Relayed(published),
                }
            };
            match got {
                Got::Bus(Ok(message)) if message.from == self.door => continue,
                Got::Bus(Ok(message)) => return Some(Ok(message.published)),
                Got::Relayed(Ok(published)) => return Some(Ok(published)),
                Got::Bus(Err(RecvError::Lagged(missed))) | Got::Relayed(Err(RecvError::Lagged(missed))) => {
                    return Some(Err(missed));
                }
                Got::Bus(Err(RecvError::Closed)) => return None,
                Got::Relayed(Err(RecvError::Closed)) => self.relayed = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_door_receives_what_the_other_door_publishes_and_not_its_own() {
        let bus = Bus::default();
        let mut redis = bus.inbound(Door::Redis, None);
        let mut postgres = bus.inbound(Door::Postgres, None);
        bus.publish(Door::Redis, Bytes::from_static(b"jobs"), Bytes::from_static(b"from redis"));
        bus.publish(Door::Postgres, Bytes::from_static(b"jobs"), Bytes::from_static(b"from postgres"));
        let got = postgres.next().await.unwrap().unwrap();
        assert_eq!((got.channel.as_ref(), got.message.as_ref()), (&b"jobs"[..], &b"from redis"[..]));
        let got = redis.next().await.unwrap().unwrap();
        assert_eq!(got.message.as_ref(), b"from postgres");
        let nothing_more = tokio::time::timeout(std::time::Duration::from_millis(50), postgres.next()).await;
        assert!(nothing_more.is_err(), "a door got its own message back");
    }
}
