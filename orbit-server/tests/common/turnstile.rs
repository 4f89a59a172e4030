//! `turnstile`, a test actor kind whose `pass` waits at a named gate until
//! the test opens it: a request that stays in flight exactly as long as a
//! test wants (shutdown drains, timeouts, full mailboxes).

use orbit_server::{Actor, Config, Context, Handler, MethodTable, Node};
use orbit_shared::{Accepts, ActorInterface, Error, Message};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long any step may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub async fn within<F: Future>(work: F) -> F::Output {
    tokio::time::timeout(PATIENCE, work).await.expect("done within 30 s")
}

/// A test kind whose `pass` waits at a gate until the test opens it.
#[derive(Default, Serialize, Deserialize)]
pub struct Turnstile {}

pub struct TurnstileApi;
impl ActorInterface for TurnstileApi {
    const KIND: &'static str = "turnstile";
}

/// Waits at the gate named `gate`; replies `passed <gate>`. Read-only, so
/// SQL's `orbit_call` and a read-only MCP server may call it.
#[derive(Serialize, Deserialize)]
pub struct Pass {
    pub gate: String,
}
impl Message for Pass {
    const METHOD: &'static str = "pass";
    const READ_ONLY: bool = true;
    type Reply = String;
}

impl Accepts<Pass> for TurnstileApi {}

impl Actor for Turnstile {
    type Interface = TurnstileApi;
    fn methods(table: &mut MethodTable<Self>) {
        table.add::<Pass>();
    }
}

impl Handler<Pass> for Turnstile {
    async fn handle(&mut self, msg: Pass, _ctx: &Context<'_>) -> Result<String, Error> {
        let gate = gate(&msg.gate);
        gate.reached.notify_one();
        gate.opened.cancelled().await;
        Ok(format!("passed {}", msg.gate))
    }
}

/// One test's gate (tests run in parallel in this binary: each names its
/// own). Once opened it stays open: every call after passes too.
#[derive(Default)]
pub struct Gate {
    /// A call has arrived at the gate.
    pub reached: Notify,
    /// Cancelled when the test opens the gate.
    pub opened: CancellationToken,
}

static GATES: LazyLock<Mutex<HashMap<String, Arc<Gate>>>> = LazyLock::new(Default::default);

pub fn gate(name: &str) -> Arc<Gate> {
    GATES.lock().unwrap().entry(name.to_string()).or_default().clone()
}

/// A node with the built-in kinds and `turnstile`, listening.
pub async fn start(config: Config) -> Node {
    Node::builder(config).with_builtin_kinds().register::<Turnstile>().start().await.expect("node starts")
}
