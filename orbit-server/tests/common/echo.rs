//! `echo`, a test actor kind for call chains: `bounce` visits the actors
//! of a path in order, so a path can come back to an actor whose turn
//! waits (`A -> B -> A`); `bounce` and `look` are reentrant, `pass` is not.
//! Each visit by `bounce` or `pass` counts in the stored state.

use orbit_server::{Actor, Context, Handler, MethodTable, Reentrant, Shared};
use orbit_shared::{Accepts, ActorGateway, ActorId, ActorInterface, Error, Invocation, Message};
use serde::{Deserialize, Serialize};

/// Counts its visits; `bounce` and `look` are reentrant, `pass` is not.
#[derive(Default, Serialize, Deserialize)]
pub struct Echo {
    pub visits: u32,
}

pub struct EchoApi;
impl ActorInterface for EchoApi {
    const KIND: &'static str = "echo";
}

/// Visits the actors of `path` in order, each step by the method its
/// suffix names: `a` bounce (reentrant), `a?` look (reentrant,
/// read-only: it does not count the visit), `a!` pass (not reentrant).
#[derive(Serialize, Deserialize)]
pub struct Bounce {
    pub path: Vec<String>,
}
impl Message for Bounce {
    const METHOD: &'static str = "bounce";
    const READ_ONLY: bool = false;
    type Reply = Vec<String>;
}
impl Accepts<Bounce> for EchoApi {}

#[derive(Serialize, Deserialize)]
pub struct Look {
    pub path: Vec<String>,
}
impl Message for Look {
    const METHOD: &'static str = "look";
    const READ_ONLY: bool = true;
    type Reply = Vec<String>;
}
impl Accepts<Look> for EchoApi {}

#[derive(Serialize, Deserialize)]
pub struct Visits;
impl Message for Visits {
    const METHOD: &'static str = "visits";
    const READ_ONLY: bool = true;
    type Reply = u32;
}
impl Accepts<Visits> for EchoApi {}

/// Like `bounce`, but not reentrant.
#[derive(Serialize, Deserialize)]
pub struct Pass {
    pub path: Vec<String>,
}
impl Message for Pass {
    const METHOD: &'static str = "pass";
    const READ_ONLY: bool = false;
    type Reply = Vec<String>;
}
impl Accepts<Pass> for EchoApi {}

impl Actor for Echo {
    type Interface = EchoApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add_reentrant::<Bounce>().add_reentrant::<Look>().add::<Pass>().add::<Visits>();
    }
}

/// The rest of the path after this actor, as the replies of each step.
async fn go_on(mut path: Vec<String>, ctx: &Context<'_>) -> Result<Vec<String>, Error> {
    let me = String::from_utf8_lossy(&ctx.id().key).into_owned();
    if path.is_empty() {
        return Ok(vec![me]);
    }
    let next = path.remove(0);
    let (key, invocation) = if let Some(key) = next.strip_suffix('!') {
        (key.to_string(), Invocation::of(&Pass { path })?)
    } else if let Some(key) = next.strip_suffix('?') {
        (key.to_string(), Invocation::of(&Look { path })?)
    } else {
        (next, Invocation::of(&Bounce { path })?)
    };
    let reply = ctx.node().invoke(ActorId::new("echo", key), invocation).await?;
    let mut visited: Vec<String> = reply.decode()?;
    visited.insert(0, me);
    Ok(visited)
}

impl Reentrant<Bounce> for Echo {
    async fn handle(state: &Shared<Self>, msg: Bounce, ctx: &Context<'_>) -> Result<Vec<String>, Error> {
        state.with(|s| s.visits += 1);
        go_on(msg.path, ctx).await
    }
}

impl Reentrant<Look> for Echo {
    async fn handle(_state: &Shared<Self>, msg: Look, ctx: &Context<'_>) -> Result<Vec<String>, Error> {
        go_on(msg.path, ctx).await
    }
}

impl Handler<Pass> for Echo {
    async fn handle(&mut self, msg: Pass, ctx: &Context<'_>) -> Result<Vec<String>, Error> {
        self.visits += 1;
        go_on(msg.path, ctx).await
    }
}

impl Handler<Visits> for Echo {
    async fn handle(&mut self, _: Visits, _: &Context<'_>) -> Result<u32, Error> {
        Ok(self.visits)
    }
}
