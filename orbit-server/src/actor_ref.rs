//! [`LocalRef`]: a typed reference to an actor hosted by this node. Calls go
//! straight to the activation with the message value: no serialization.

use crate::actor::{Activation, Actor, Handler, TurnError};
use crate::node::NodeHandle;
use orbit_shared::{ActorId, Error, Message};
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
                let activation = activation.downcast::<Activation<A>>().map_err(|_| Error::Internal {
                    reason: format!("kind '{}' is registered with another actor type", self.id.kind),
                })?;
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
