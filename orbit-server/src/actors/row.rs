//! The `row:*` family: one actor per SQL table row, kind `row:<table>`,
//! keyed by the row's primary key (`orbit_protocols::postgres`). The actor
//! keeps the row as a JSON object and knows nothing of SQL: types,
//! constraints and transactions are the front door's. The table catalog
//! (`sql:table`, one actor per table holding its schema) is the same kind
//! of actor.

use crate::actor::{Actor, Context, MethodTable};
use futures::future::BoxFuture;
use orbit_protocols::sql::TableRow;
use orbit_shared::{Error, Invocation, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RowActor {
    row: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowArgs {
    row: Map<String, Value>,
}

impl Actor for RowActor {
    type Interface = TableRow;

    /// `get` -> the row or null; `insert {row}` -> whether it was inserted
    /// (false, and nothing changes, when a row exists); `put {row}` -> the
    /// previous row or null; `delete` -> the previous row or null.
    fn methods(table: &mut MethodTable<Self>) {
        table
            .add_dynamic("get", true, get)
            .add_dynamic("insert", false, insert)
            .add_dynamic("put", false, put)
            .add_dynamic("delete", false, delete);
    }

    fn is_empty(&self) -> bool {
        self.row.is_none()
    }
}

fn args(invocation: &Invocation) -> Result<Map<String, Value>, Error> {
    invocation.decode_args::<RowArgs>().map(|a| a.row)
}

fn reply(value: &impl Serialize) -> BoxFuture<'static, Result<Reply, Error>> {
    Box::pin(std::future::ready(Reply::encode(value)))
}

fn get<'a>(
    actor: &'a mut RowActor,
    _: &'a Invocation,
    _: &'a Context<'a>,
) -> BoxFuture<'a, Result<Reply, Error>> {
    reply(&actor.row)
}

fn insert<'a>(
    actor: &'a mut RowActor,
    inv: &'a Invocation,
    _: &'a Context<'a>,
) -> BoxFuture<'a, Result<Reply, Error>> {
    match args(inv) {
        Ok(row) if actor.row.is_none() => {
            actor.row = Some(row);
            reply(&true)
        }
        Ok(_) => reply(&false),
        Err(e) => Box::pin(std::future::ready(Err(e))),
    }
}

fn put<'a>(
    actor: &'a mut RowActor,
    inv: &'a Invocation,
    _: &'a Context<'a>,
) -> BoxFuture<'a, Result<Reply, Error>> {
    match args(inv) {
        Ok(row) => reply(&actor.row.replace(row)),
        Err(e) => Box::pin(std::future::ready(Err(e))),
    }
}

fn delete<'a>(
    actor: &'a mut RowActor,
    _: &'a Invocation,
    _: &'a Context<'a>,
) -> BoxFuture<'a, Result<Reply, Error>> {
    reply(&actor.row.take())
}
