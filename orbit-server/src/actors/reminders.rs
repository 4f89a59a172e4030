//! The `orbit:reminders` kind (interface in
//! `orbit_shared::actors::reminders`): the reminders and jobs of the actors
//! sharing its key, stored as one record in their partition. Every change
//! is also handed to the node's scheduler (`crate::reminders`), which fires
//! them while this node serves the partition.

use crate::actor::{Actor, Context, Handler, MethodTable};
use crate::reminders::Tick;
use orbit_shared::actors::reminders::{
    self, Fired, List, Remind, ReminderInfo, Reminders, Unremind, next_tick,
};
use orbit_shared::{ActorId, Error, Message};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Reminders by the kind of the actor they call, then by name.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RemindersActor {
    kinds: BTreeMap<String, BTreeMap<String, Stored>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    period_ms: u64,
    method: String,
    args: serde_json::Value,
    next_fire_ms: u64,
}

impl Stored {
    fn info(&self, kind: &str, name: &str) -> ReminderInfo {
        ReminderInfo {
            kind: kind.to_string(),
            name: name.to_string(),
            period_ms: self.period_ms,
            method: self.method.clone(),
            args: self.args.clone(),
            next_fire_ms: self.next_fire_ms,
        }
    }
}

impl RemindersActor {
    /// Every reminder, as listed.
    pub(crate) fn infos(&self) -> impl Iterator<Item = ReminderInfo> + '_ {
        self.kinds.iter().flat_map(|(kind, named)| named.iter().map(|(name, s)| s.info(kind, name)))
    }
}

impl Actor for RemindersActor {
    type Interface = Reminders;

    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Remind>().add::<Unremind>().add::<List>().add::<Fired>();
    }

    fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }
}

fn invalid(method: &str, reason: impl Into<String>) -> Error {
    Error::InvalidArguments { method: method.to_string(), reason: reason.into() }
}

/// The actor a reminder of `kind` stored by `ctx`'s actor calls.
fn target(ctx: &Context<'_>, kind: &str) -> ActorId {
    ActorId::new(kind, ctx.id().key.clone())
}

impl Handler<Remind> for RemindersActor {
    async fn handle(&mut self, msg: Remind, ctx: &Context<'_>) -> Result<ReminderInfo, Error> {
        let method = Remind::METHOD;
        if msg.name.is_empty() {
            return Err(invalid(method, "a reminder needs a name"));
        }
        if msg.kind == reminders::KIND {
            return Err(invalid(method, "reminders cannot call the reminders kind"));
        }
        let target = target(ctx, &msg.kind);
        target.validate()?;
        let info = ctx.node().kind(&msg.kind)?.info();
        if !info.methods.iter().any(|m| m.name == msg.method) {
            return Err(Error::UnknownMethod { kind: msg.kind, method: msg.method });
        }
        let now = ctx.node().wall_ms();
        let next_fire_ms = match (msg.due_ms, msg.period_ms) {
            (Some(due), _) => due,
            (None, 0) => return Err(invalid(method, "a job (period 0) needs the time it runs at")),
            (None, period) => now.saturating_add(period),
        };
        let stored = Stored { period_ms: msg.period_ms, method: msg.method, args: msg.args, next_fire_ms };
        let info = stored.info(&msg.kind, &msg.name);
        self.kinds.entry(msg.kind).or_default().insert(msg.name.clone(), stored);
        ctx.node().scheduler().set(target, msg.name, Some(Tick::of(&info)));
        Ok(info)
    }
}

impl Handler<Unremind> for RemindersActor {
    async fn handle(&mut self, msg: Unremind, ctx: &Context<'_>) -> Result<bool, Error> {
        let Some(named) = self.kinds.get_mut(&msg.kind) else { return Ok(false) };
        let removed = named.remove(&msg.name).is_some();
        if named.is_empty() {
            self.kinds.remove(&msg.kind);
        }
        if removed {
            ctx.node().scheduler().set(target(ctx, &msg.kind), msg.name, None);
        }
        Ok(removed)
    }
}

impl Handler<List> for RemindersActor {
    async fn handle(&mut self, msg: List, _ctx: &Context<'_>) -> Result<Vec<ReminderInfo>, Error> {
        Ok(self.infos().filter(|r| msg.kind.as_ref().is_none_or(|k| *k == r.kind)).collect())
    }
}

impl Handler<Fired> for RemindersActor {
    async fn handle(&mut self, msg: Fired, ctx: &Context<'_>) -> Result<Option<u64>, Error> {
        let Some(named) = self.kinds.get_mut(&msg.kind) else { return Ok(None) };
        let Some(stored) = named.get_mut(&msg.name) else { return Ok(None) };
        let next = match stored.next_fire_ms == msg.due_ms {
            // Fired already, or replaced since: the reminder as it is now
            // stands.
            false => Some(stored.next_fire_ms),
            true => next_tick(msg.due_ms, stored.period_ms, ctx.node().wall_ms()),
        };
        let tick = match next {
            Some(next) => {
                stored.next_fire_ms = next;
                Some(Tick::of(&stored.info(&msg.kind, &msg.name)))
            }
            None => {
                named.remove(&msg.name);
                if named.is_empty() {
                    self.kinds.remove(&msg.kind);
                }
                None
            }
        };
        ctx.node().scheduler().set(target(ctx, &msg.kind), msg.name, tick);
        Ok(next)
    }
}
