//! [`LocalRef`]: a typed reference to an actor hosted by this node. Calls go
//! straight to the activation with the message value: no serialization,
//! except for reentrant and interleaving methods, which take the dynamic
//! path (where calls of a chain can enter a turn, and interleaving calls
//! need not wait for one).

use crate::actor::{Activation, Actor, Handler, TurnError, Workers};
use crate::node::NodeHandle;
use orbit_shared::{ActorId, Error, Invocation, Message};
use std::marker::PhantomData;
use std::sync::Arc;

pub struct LocalRef<A> {
    node: NodeHandle,
    id: ActorId,
    actor: PhantomData<fn() -> A>,
}

impl<A: Actor> LocalRef<A> {
    pub(crate) fn new(node: NodeHandle, id: ActorId) -> Self {
        LocalRef { node, id, actor: PhantomData }
    }

    pub fn id(&self) -> &ActorId {
        &self.id
    }

    /// Sends `msg` and waits for the reply (no timeout: wrap the call in
    /// `tokio::time::timeout` to bound it).
    pub async fn call<M: Message>(&self, msg: M) -> Result<M::Reply, Error>
    where
        A: Handler<M>,
    {
        let node = &self.node;
        let kind = node.kind(&self.id.kind)?;
        let started = std::time::Instant::now();
        let result = async {
            self.id.validate()?;
            loop {
                node.check_open()?;
                let activation: Arc<dyn std::any::Any + Send + Sync> = node.activation(&self.id, kind);
                let activation = match activation.downcast::<Workers<A>>() {
                    Ok(workers) => match workers.lend(node).await {
                        Err(TurnError::Retired) => continue,
                        Err(TurnError::Failed(e)) => return Err(e),
                        Ok(lent) => return workers.run(lent, node, msg).await,
                    },
                    Err(activation) => activation,
                };
                let activation = activation.downcast::<Activation<A>>().map_err(|_| Error::Internal {
                    reason: format!("kind '{}' is registered with another actor type", self.id.kind),
                })?;
                if activation.takes_dynamic_path(M::METHOD) {
                    // Boxed: typed calls nest inside handlers, and this
                    // future is large.
                    match Box::pin(activation.call_json(node, &Invocation::of(&msg)?)).await {
                        Err(TurnError::Retired) => continue,
                        Err(TurnError::Failed(e)) => return Err(e),
                        Ok((reply, seq)) => {
                            node.partitions().wait_durable(seq).await?;
                            return reply?.decode();
                        }
                    }
                }
                match activation.enter(node).await {
                    Err(TurnError::Retired) => continue,
                    Err(TurnError::Failed(e)) => return Err(e),
                    Ok(turn) => return activation.run(turn, node, msg).await,
                }
            }
        }
        .await;
        kind.metrics()
            .record(result.as_ref().map(|_| ()).map_err(Error::kind), started.elapsed().as_secs_f64());
        result
    }
}
