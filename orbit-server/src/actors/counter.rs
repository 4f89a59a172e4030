//! The `counter` kind (interface in `orbit_shared::actors::counter`).

use crate::actor::{Actor, Context, Handler, MethodTable};
use orbit_shared::Error;
use orbit_shared::actors::counter::{Counter, CounterState, Get, Increment, Next, Read, Reset, Set};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CounterActor {
    value: i64,
    /// Whether `value` was handed out (a sequence's `is_called`). `None`
    /// for a counter only ever incremented or reset, whose value was
    /// handed out unless it is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    called: Option<bool>,
}

impl CounterActor {
    fn called(&self) -> bool {
        self.called.unwrap_or(self.value != 0)
    }

    /// Nothing was drawn or set yet.
    fn fresh(&self) -> bool {
        self.called.is_none() && self.value == 0
    }
}

impl Actor for CounterActor {
    type Interface = Counter;

    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Increment>().add::<Get>().add::<Reset>().add::<Next>().add::<Set>().add::<Read>();
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
        self.called = None;
        Ok(std::mem::take(&mut self.value))
    }
}

impl Handler<Next> for CounterActor {
    async fn handle(&mut self, msg: Next, _ctx: &Context<'_>) -> Result<Option<i64>, Error> {
        if msg.increment == 0 || msg.min > msg.max {
            return Err(Error::invalid(format!(
                "a sequence steps by a nonzero increment within min <= max (got {}, {}..{})",
                msg.increment, msg.min, msg.max
            )));
        }
        let next = if self.fresh() {
            msg.start
        } else if !self.called() {
            self.value
        } else {
            match self.value.checked_add(msg.increment) {
                Some(v) if (msg.min..=msg.max).contains(&v) => v,
                _ if msg.cycle => {
                    if msg.increment > 0 {
                        msg.min
                    } else {
                        msg.max
                    }
                }
                _ => return Ok(None),
            }
        };
        if !(msg.min..=msg.max).contains(&next) {
            return Ok(None);
        }
        self.value = next;
        self.called = Some(true);
        Ok(Some(next))
    }
}

impl Handler<Set> for CounterActor {
    async fn handle(&mut self, msg: Set, _ctx: &Context<'_>) -> Result<i64, Error> {
        self.value = msg.value;
        self.called = Some(msg.called);
        Ok(msg.value)
    }
}

impl Handler<Read> for CounterActor {
    async fn handle(&mut self, _msg: Read, _ctx: &Context<'_>) -> Result<CounterState, Error> {
        Ok(CounterState { value: (!self.fresh()).then_some(self.value), called: self.called() })
    }
}
