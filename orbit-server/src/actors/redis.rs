//! The `redis` kinds: one actor per Redis key (`redis` for database 0,
//! `redis:N` for database N). The command semantics are
//! `orbit_protocols::keyspace`; this file hosts them in the runtime:
//! the record is the key's `Meta`, the elements are entries.

use crate::actor::{Actor, Context, MethodTable};
use bytes::Bytes;
use futures::future::BoxFuture;
use orbit_protocols::keyspace::RedisKeyspace;
use orbit_protocols::keyspace::{self, KeyState, Meta};
use orbit_shared::WriteOp;
use orbit_shared::{Error, Invocation, Reply};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Default)]
pub struct RedisKey {
    state: KeyState,
}

impl Serialize for RedisKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.state.meta().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RedisKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(RedisKey { state: KeyState::from_meta(Meta::deserialize(deserializer)?) })
    }
}

impl Actor for RedisKey {
    type Interface = RedisKeyspace;
    const ENTRIES: bool = true;

    /// `read` runs read-only commands (nothing is written after the turn),
    /// `write` any others; the front door picks by the commands' flags. A
    /// call carries one or more command lines on this key, run in one turn.
    fn methods(table: &mut MethodTable<Self>) {
        table.add_dynamic("read", true, run).add_dynamic("write", false, run);
    }

    fn load_entries(&mut self, entries: Vec<(Bytes, Bytes)>) -> Result<(), Error> {
        self.state.load_entries(entries).map_err(|reason| Error::Storage { reason })
    }

    fn drain_entry_ops(&mut self) -> Vec<WriteOp> {
        self.state.drain_entry_ops()
    }

    fn is_empty(&self) -> bool {
        self.state.is_empty()
    }
}

fn run<'a>(
    key: &'a mut RedisKey,
    invocation: &'a Invocation,
    _ctx: &'a Context<'a>,
) -> BoxFuture<'a, Result<Reply, Error>> {
    let reply = match keyspace::decode_call(&invocation.args) {
        Some((now_ms, commands)) => {
            let results: Vec<_> = commands.iter().map(|argv| key.state.exec_tracked(argv, now_ms)).collect();
            Ok(Reply { value: keyspace::encode_reply(&results) })
        }
        None => Err(Error::InvalidArguments {
            method: invocation.method.clone(),
            reason: "not a keyspace command line".into(),
        }),
    };
    Box::pin(std::future::ready(reply))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_protocols::keyspace::Value;

    #[test]
    fn the_record_is_the_meta_and_loads_back_with_entries() {
        let mut key = RedisKey::default();
        let argv = [Bytes::from_static(b"set"), Bytes::from_static(b"k"), Bytes::from_static(b"v")];
        assert_eq!(key.state.exec(&argv, 0), Value::ok());
        let record = serde_json::to_vec(&key).unwrap();
        assert_eq!(record, br#"{"t":"string"}"#);
        let entries: Vec<_> = key
            .drain_entry_ops()
            .into_iter()
            .filter_map(|op| match op {
                WriteOp::Put(sub, value) => Some((sub, value)),
                WriteOp::Delete(_) | WriteOp::Add(..) => None,
            })
            .collect();
        let mut loaded: RedisKey = serde_json::from_slice(&record).unwrap();
        loaded.load_entries(entries).unwrap();
        let get = [Bytes::from_static(b"get"), Bytes::from_static(b"k")];
        assert_eq!(loaded.state.exec(&get, 0), Value::bulk("v"));
    }
}
