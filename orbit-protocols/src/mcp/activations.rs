//! The tool `list_activations`: which actors are resident on the node the
//! agent talks to, and what each is doing (age, idle time, callers waiting,
//! running timers). In a cluster each node lists its own.

use super::{McpError, OrbitMcp};
use crate::keyspace::view as kv;
use orbit_shared::{ActivationInfo, ActorGateway};
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListActivationsArgs {
    /// Only actors of this kind (see `list_actor_kinds`); every kind when
    /// omitted.
    pub kind: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Activations {
    /// By kind, then key; at most the server's `max_items`.
    pub activations: Vec<Activation>,
    /// More actors are resident than were returned.
    pub truncated: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Activation {
    pub kind: String,
    /// The key; bytes that are not UTF-8 are escaped as `\xNN`.
    pub key: String,
    /// Milliseconds since it was activated.
    pub age_ms: u64,
    /// Milliseconds since its last call (or its activation).
    pub idle_ms: u64,
    /// Callers waiting for its turn.
    pub waiting: usize,
    /// The names of its running timers.
    pub timers: Vec<String>,
}

impl From<ActivationInfo> for Activation {
    fn from(info: ActivationInfo) -> Self {
        Activation {
            key: kv::text(&info.id.key),
            kind: info.id.kind,
            age_ms: info.age_ms,
            idle_ms: info.idle_ms,
            waiting: info.waiting,
            timers: info.timers,
        }
    }
}

#[tool_router(router = activation_router, vis = "pub(super)")]
impl<G: ActorGateway> OrbitMcp<G> {
    #[tool(
        description = "The actors resident (activated, in memory) on this node, of one kind or all: each one's age and idle time in milliseconds, how many callers wait for its turn, and its running timers. In a cluster this node's only. Lists without activating anything.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_activations(
        &self,
        Parameters(args): Parameters<ListActivationsArgs>,
    ) -> Result<Json<Activations>, McpError> {
        let fut = async {
            let mut resident = self.gateway.activations(args.kind.as_deref()).await?;
            let truncated = resident.len() > self.config.max_items;
            resident.truncate(self.config.max_items);
            Ok(Activations { activations: resident.into_iter().map(Activation::from).collect(), truncated })
        };
        self.bounded(fut).await
    }
}
