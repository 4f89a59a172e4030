//! The `counter` kind (interface in `orbit_shared::actors::counter`).

use crate::actor::{Actor, Context, Handler, MethodTable};
use orbit_shared::Error;
use orbit_shared::actors::counter::{Counter, Get, Increment, Reset};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CounterActor {
    value: i64,
}

impl Actor for CounterActor {
    type Interface = Counter;

    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Increment>().add::<Get>().add::<Reset>();
    }
}

impl Handler<Increment> for CounterActor {
    async fn handle(&mut self, msg: Increment, _ctx: &Context<'_>) -> Result<i64, Error> {
        self.value = self.value.checked_add(msg.by).ok_or_else(|| {
            Error::invalid(format!("increment by {} would overflow {}", msg.by, self.value))
        })?;
        Ok(self.value)
    }
}

impl Handler<Get> for CounterActor {
    async fn handle(&mut self, _msg: Get, _ctx: &Context<'_>) -> Result<i64, Error> {
        Ok(self.value)
    }
}

impl Handler<Reset> for CounterActor {
    async fn handle(&mut self, _msg: Reset, _ctx: &Context<'_>) -> Result<i64, Error> {
        Ok(std::mem::take(&mut self.value))
    }
}
