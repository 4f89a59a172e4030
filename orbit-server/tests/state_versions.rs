//! Versioned actor state: a kind that changes its state's shape raises
//! `Actor::STATE_VERSION` and upgrades older states when they load; the
//! upgraded state is stored as the new version; a node whose code is older
//! than a stored state refuses to load it and changes nothing.
//!
//! Three versions of one kind, `profile`, take turns on one data directory:
//! version 1 stores a name, version 2 splits it in two, version 3 adds a
//! nickname.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::lsm_config;
use orbit_server::partition::partition_of;
use orbit_server::storage::layout::{Record, actor_key};
use orbit_server::storage::{Backend, LsmBackend};
use orbit_server::{Actor, Context, Handler, MethodTable, Node};
use orbit_shared::{ActorId, ActorInterface, Error, ErrorKind, Message};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;

struct ProfileApi;
impl ActorInterface for ProfileApi {
    const KIND: &'static str = "profile";
}

/// Version 1: one name.
#[derive(Default, Serialize, Deserialize)]
struct ProfileV1 {
    name: String,
}

/// Version 2: the name split at its first space.
#[derive(Default, Serialize, Deserialize)]
struct ProfileV2 {
    first: String,
    last: String,
}

/// Version 3: version 2 and a nickname.
#[derive(Default, Serialize, Deserialize)]
struct ProfileV3 {
    first: String,
    last: String,
    nick: String,
}

#[derive(Serialize, Deserialize)]
struct SetName {
    name: String,
}
impl Message for SetName {
    const METHOD: &'static str = "set_name";
    const READ_ONLY: bool = false;
    type Reply = ();
}

#[derive(Serialize, Deserialize)]
struct SetNames {
    first: String,
    last: String,
}
impl Message for SetNames {
    const METHOD: &'static str = "set_names";
    const READ_ONLY: bool = false;
    type Reply = ();
}

#[derive(Serialize, Deserialize)]
struct GetNames {}
impl Message for GetNames {
    const METHOD: &'static str = "get_names";
    const READ_ONLY: bool = true;
    type Reply = (String, String);
}

#[derive(Serialize, Deserialize)]
struct SetNick {
    nick: String,
}
impl Message for SetNick {
    const METHOD: &'static str = "set_nick";
    const READ_ONLY: bool = false;
    type Reply = ();
}

#[derive(Serialize, Deserialize)]
struct GetNick {}
impl Message for GetNick {
    const METHOD: &'static str = "get_nick";
    const READ_ONLY: bool = true;
    type Reply = String;
}

/// Version 1 to 2: `{"name": "Ada Lovelace"}` to
/// `{"first": "Ada", "last": "Lovelace"}`.
fn split_name(v1: Value) -> Result<Value, Error> {
    let name = v1
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Internal { reason: format!("a version-1 profile without a name: {v1}") })?;
    let (first, last) = name.split_once(' ').unwrap_or((name, ""));
    Ok(json!({ "first": first, "last": last }))
}

impl Actor for ProfileV1 {
    type Interface = ProfileApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<SetName>();
    }
}

impl Handler<SetName> for ProfileV1 {
    async fn handle(&mut self, msg: SetName, _ctx: &Context<'_>) -> Result<(), Error> {
        self.name = msg.name;
        Ok(())
    }
}

impl Actor for ProfileV2 {
    type Interface = ProfileApi;
    const STATE_VERSION: u32 = 2;

    fn upgrade(from: u32, state: Value) -> Result<Value, Error> {
        match from {
            1 => split_name(state),
            _ => Err(Error::Internal { reason: format!("no profile version {from}") }),
        }
    }

    fn methods(table: &mut MethodTable<Self>) {
        table.add::<SetNames>().add::<GetNames>();
    }
}

impl Handler<SetNames> for ProfileV2 {
    async fn handle(&mut self, msg: SetNames, _ctx: &Context<'_>) -> Result<(), Error> {
        (self.first, self.last) = (msg.first, msg.last);
        Ok(())
    }
}

impl Handler<GetNames> for ProfileV2 {
    async fn handle(&mut self, _msg: GetNames, _ctx: &Context<'_>) -> Result<(String, String), Error> {
        Ok((self.first.clone(), self.last.clone()))
    }
}

impl Actor for ProfileV3 {
    type Interface = ProfileApi;
    const STATE_VERSION: u32 = 3;

    /// Steps through version 2: 1 -> 2 -> 3.
    fn upgrade(from: u32, state: Value) -> Result<Value, Error> {
        let mut v2 = match from {
            1 => split_name(state)?,
            2 => state,
            _ => return Err(Error::Internal { reason: format!("no profile version {from}") }),
        };
        let fields = v2
            .as_object_mut()
            .ok_or_else(|| Error::Internal { reason: "a version-2 profile is not an object".into() })?;
        fields.insert("nick".into(), json!(""));
        Ok(v2)
    }

    fn methods(table: &mut MethodTable<Self>) {
        table.add::<SetNames>().add::<GetNames>().add::<SetNick>().add::<GetNick>();
    }
}

impl Handler<SetNames> for ProfileV3 {
    async fn handle(&mut self, msg: SetNames, _ctx: &Context<'_>) -> Result<(), Error> {
        (self.first, self.last) = (msg.first, msg.last);
        Ok(())
    }
}

impl Handler<GetNames> for ProfileV3 {
    async fn handle(&mut self, _msg: GetNames, _ctx: &Context<'_>) -> Result<(String, String), Error> {
        Ok((self.first.clone(), self.last.clone()))
    }
}

impl Handler<SetNick> for ProfileV3 {
    async fn handle(&mut self, msg: SetNick, _ctx: &Context<'_>) -> Result<(), Error> {
        self.nick = msg.nick;
        Ok(())
    }
}

impl Handler<GetNick> for ProfileV3 {
    async fn handle(&mut self, _msg: GetNick, _ctx: &Context<'_>) -> Result<String, Error> {
        Ok(self.nick.clone())
    }
}

/// A node on `dir` running version `A` of the `profile` kind.
async fn node<A: Actor>(dir: &Path) -> Node {
    Node::builder(lsm_config(dir)).register::<A>().build().await.unwrap()
}

/// The stored bytes of profile `key` and their record, read from the data
/// directory of a node that has shut down.
fn stored(dir: &Path, key: &'static str) -> (Bytes, Record) {
    let id = ActorId::new(ProfileApi::KIND, key);
    let key = actor_key(partition_of(id.slot(), lsm_config(dir).node.partitions), &id);
    let backend = LsmBackend::open(&dir.join("lsm")).unwrap();
    let bytes = backend.get(&key).unwrap().expect("a stored record");
    backend.close().unwrap();
    let record = Record::decode(&key, bytes.clone()).unwrap();
    (bytes, record)
}

fn names(first: &str, last: &str) -> (String, String) {
    (first.to_string(), last.to_string())
}

#[tokio::test]
async fn an_older_state_is_upgraded_on_load_and_stored_as_the_new_version() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = node::<ProfileV1>(dir.path()).await;
    v1.actor::<ProfileV1>("ada").call(SetName { name: "Ada Lovelace".into() }).await.unwrap();
    v1.actor::<ProfileV1>("alan").call(SetName { name: "Alan Turing".into() }).await.unwrap();
    v1.shutdown().await.unwrap();
    let (bytes, record) = stored(dir.path(), "ada");
    assert_eq!(bytes[0], 1, "a kind at state version 1 keeps the first record format");
    assert_eq!(record.state_version, 1);

    let v2 = node::<ProfileV2>(dir.path()).await;
    let ada = v2.actor::<ProfileV2>("ada");
    assert_eq!(ada.call(GetNames {}).await.unwrap(), names("Ada", "Lovelace"), "upgraded on load");
    ada.call(SetNames { first: "Grace".into(), last: "Hopper".into() }).await.unwrap();
    // Only read: its upgraded state is stored when it deactivates.
    assert_eq!(v2.actor::<ProfileV2>("alan").call(GetNames {}).await.unwrap(), names("Alan", "Turing"));
    v2.shutdown().await.unwrap();
    let expected = [
        ("ada", json!({"first": "Grace", "last": "Hopper"})),
        ("alan", json!({"first": "Alan", "last": "Turing"})),
    ];
    for (key, state) in expected {
        let (_, record) = stored(dir.path(), key);
        assert_eq!(record.state_version, 2, "{key} is stored as version 2");
        assert_eq!(serde_json::from_slice::<Value>(&record.state).unwrap(), state);
    }

    // Version 2 reads its own records as they are.
    let v2 = node::<ProfileV2>(dir.path()).await;
    assert_eq!(v2.actor::<ProfileV2>("ada").call(GetNames {}).await.unwrap(), names("Grace", "Hopper"));
    assert_eq!(v2.actor::<ProfileV2>("alan").call(GetNames {}).await.unwrap(), names("Alan", "Turing"));
    v2.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_state_newer_than_the_code_is_refused_and_left_intact() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = node::<ProfileV1>(dir.path()).await;
    v1.actor::<ProfileV1>("grace").call(SetName { name: "Grace Hopper".into() }).await.unwrap();
    v1.shutdown().await.unwrap();

    // Version 3 upgrades through version 2 and writes a version-3 state.
    let v3 = node::<ProfileV3>(dir.path()).await;
    let grace = v3.actor::<ProfileV3>("grace");
    assert_eq!(grace.call(GetNames {}).await.unwrap(), names("Grace", "Hopper"));
    grace.call(SetNick { nick: "Amazing Grace".into() }).await.unwrap();
    v3.shutdown().await.unwrap();
    let (before, record) = stored(dir.path(), "grace");
    assert_eq!(record.state_version, 3);

    // A node still running version 2 refuses to read or write it.
    let v2 = node::<ProfileV2>(dir.path()).await;
    let grace = v2.actor::<ProfileV2>("grace");
    let refused = grace.call(GetNames {}).await.unwrap_err();
    assert_eq!(
        refused,
        Error::StateVersionTooNew { actor: ActorId::new("profile", "grace"), stored: 3, current: 2 }
    );
    assert_eq!(
        refused.to_string(),
        "stored state of profile/grace is version 3, newer than this code's version 2: \
         refusing to load it (no data was changed)"
    );
    assert_eq!(refused.kind(), ErrorKind::Unavailable);
    let refused = grace.call(SetNames { first: "G".into(), last: "H".into() }).await.unwrap_err();
    assert!(matches!(refused, Error::StateVersionTooNew { stored: 3, current: 2, .. }), "{refused:?}");
    v2.shutdown().await.unwrap();
    assert_eq!(stored(dir.path(), "grace").0, before, "the refusing node changed nothing");

    // Version 3 finds everything as it left it.
    let v3 = node::<ProfileV3>(dir.path()).await;
    let grace = v3.actor::<ProfileV3>("grace");
    assert_eq!(grace.call(GetNames {}).await.unwrap(), names("Grace", "Hopper"));
    assert_eq!(grace.call(GetNick {}).await.unwrap(), "Amazing Grace");
    v3.shutdown().await.unwrap();
}
