//! State versions: a kind that changes its state's shape raises
//! `Actor::STATE_VERSION` and upgrades older states as they load; a node
//! whose code is older than a stored state refuses it and changes nothing.
//!
//! Two versions of kind `contact` take turns on one data directory (`lsm`):
//! version 1 stores one email address, version 2 a list of them.
//!
//! `cargo run -p orbit-server --example state_versions`

use orbit_server::config::StorageKind;
use orbit_server::{Actor, Config, Context, Handler, MethodTable, Node, NodeError};
use orbit_shared::{ActorInterface, Error, Message};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;

struct ContactApi;
impl ActorInterface for ContactApi {
    const KIND: &'static str = "contact";
}

/// Version 1 (the default `STATE_VERSION`).
#[derive(Default, Serialize, Deserialize)]
struct ContactV1 {
    email: String,
}

/// Version 2.
#[derive(Default, Serialize, Deserialize)]
struct ContactV2 {
    emails: Vec<String>,
}

/// Version 1 sets the address; version 2 adds one.
#[derive(Serialize, Deserialize)]
struct SetEmail {
    email: String,
}
impl Message for SetEmail {
    const METHOD: &'static str = "set_email";
    const READ_ONLY: bool = false;
    type Reply = ();
}

#[derive(Serialize, Deserialize)]
struct Emails {}
impl Message for Emails {
    const METHOD: &'static str = "emails";
    const READ_ONLY: bool = true;
    type Reply = Vec<String>;
}

impl Actor for ContactV1 {
    type Interface = ContactApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<SetEmail>();
    }
}

impl Handler<SetEmail> for ContactV1 {
    async fn handle(&mut self, msg: SetEmail, _ctx: &Context<'_>) -> Result<(), Error> {
        self.email = msg.email;
        Ok(())
    }
}

impl Actor for ContactV2 {
    type Interface = ContactApi;
    const STATE_VERSION: u32 = 2;

    /// `{"email": "a@b"}` (version 1) to `{"emails": ["a@b"]}`.
    fn upgrade(from: u32, state: Value) -> Result<Value, Error> {
        match (from, state.get("email").and_then(Value::as_str)) {
            (1, Some(email)) => Ok(json!({ "emails": [email] })),
            _ => Err(Error::Internal { reason: format!("no upgrade of contact version {from}: {state}") }),
        }
    }

    fn methods(table: &mut MethodTable<Self>) {
        table.add::<SetEmail>().add::<Emails>();
    }
}

impl Handler<SetEmail> for ContactV2 {
    async fn handle(&mut self, msg: SetEmail, _ctx: &Context<'_>) -> Result<(), Error> {
        self.emails.push(msg.email);
        Ok(())
    }
}

impl Handler<Emails> for ContactV2 {
    async fn handle(&mut self, _msg: Emails, _ctx: &Context<'_>) -> Result<Vec<String>, Error> {
        Ok(self.emails.clone())
    }
}

/// A node on `dir` running version `A` of the `contact` kind.
async fn node<A: Actor>(dir: &Path) -> Result<Node, NodeError> {
    let mut config = Config::ephemeral();
    config.storage.backend = StorageKind::Lsm;
    config.node.data_dir = dir.to_path_buf();
    Node::builder(config).register::<A>().build().await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;

    let v1 = node::<ContactV1>(dir.path()).await?;
    v1.actor::<ContactV1>("ada").call(SetEmail { email: "ada@example.com".into() }).await?;
    println!("version 1 stored ada@example.com");
    v1.shutdown().await?;

    let v2 = node::<ContactV2>(dir.path()).await?;
    let ada = v2.actor::<ContactV2>("ada");
    println!("version 2 loads it upgraded: {:?}", ada.call(Emails {}).await?);
    ada.call(SetEmail { email: "countess@example.com".into() }).await?;
    println!("version 2 adds one and stores version 2: {:?}", ada.call(Emails {}).await?);
    v2.shutdown().await?;

    // Rolled back to version 1: the newer state is refused, untouched.
    let v1 = node::<ContactV1>(dir.path()).await?;
    match v1.actor::<ContactV1>("ada").call(SetEmail { email: "old@example.com".into() }).await {
        Ok(()) => println!("version 1 overwrote it"),
        Err(e) => println!("version 1 refuses it ({:?}): {e}", e.kind()),
    }
    v1.shutdown().await?;

    let v2 = node::<ContactV2>(dir.path()).await?;
    println!("version 2 finds it unchanged: {:?}", v2.actor::<ContactV2>("ada").call(Emails {}).await?);
    v2.shutdown().await?;
    Ok(())
}
