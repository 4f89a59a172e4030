//! The `idx:*` family: the entries of SQL secondary indexes
//! (`orbit_protocols::postgres::index`). An index's entries are the actors of
//! kind `idx:<index oid>`, one per distinct index key, each holding the
//! stored keys of the rows with that key. The actor knows nothing of SQL:
//! which rows carry which key, and uniqueness, are the front door's.

use crate::actor::{Actor, Context, MethodTable};
use futures::future::BoxFuture;
use orbit_protocols::sql::IndexEntry;
use orbit_shared::{Error, Invocation, Reply};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IndexActor {
    rows: BTreeSet<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyArgs {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

impl Actor for IndexActor {
    type Interface = IndexEntry;

    /// `get` -> the row keys; `apply {add, remove}` -> how many keys the
    /// entry holds after removing `remove` and adding `add`; `clear` ->
    /// how many it held (it holds none after).
    fn methods(table: &mut MethodTable<Self>) {
        table
            .add_dynamic("get", true, get)
            .add_dynamic("apply", false, apply)
            .add_dynamic("clear", false, clear);
    }

    /// An entry without rows takes no storage.
    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

fn get<'a>(
    actor: &'a mut IndexActor,
    _: &'a Invocation,
    _: &'a Context<'a>,
) -> BoxFuture<'a, Result<Reply, Error>> {
    Box::pin(std::future::ready(Reply::encode(&actor.rows)))
}

fn apply<'a>(
    actor: &'a mut IndexActor,
    inv: &'a Invocation,
    _: &'a Context<'a>,
) -> BoxFuture<'a, Result<Reply, Error>> {
    let result = inv.decode_args::<ApplyArgs>().and_then(|args| {
        for key in &args.remove {
            actor.rows.remove(key);
        }
        actor.rows.extend(args.add);
        Reply::encode(&actor.rows.len())
    });
    Box::pin(std::future::ready(result))
}

fn clear<'a>(
    actor: &'a mut IndexActor,
    _: &'a Invocation,
    _: &'a Context<'a>,
) -> BoxFuture<'a, Result<Reply, Error>> {
    let held = std::mem::take(&mut actor.rows).len();
    Box::pin(std::future::ready(Reply::encode(&held)))
}
