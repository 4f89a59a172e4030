//! The reminder tools: `remind`, `list_reminders` and `unremind`, the
//! durable reminders and jobs of any actor (`crate::reminders`). A reminder
//! calls a method of its actor every period, a job once after a delay;
//! both survive restarts.

use super::tools::ActorArgs;
use super::{McpError, OrbitMcp};
use crate::reminders;
use orbit_shared::ActorGateway;
use orbit_shared::actors::reminders::{Remind, ReminderInfo};
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RemindArgs {
    /// The kind of the actor to call (see `list_actor_kinds`).
    pub kind: String,
    /// The actor's key (UTF-8).
    pub key: String,
    /// The reminder's name: one of the same name on this actor is replaced.
    pub name: String,
    /// How often to call, in milliseconds (or give `period`).
    pub period_ms: Option<u64>,
    /// How often to call, as text: `500ms`, `1s`, `5m`, `2h`, `1d` (or give
    /// `period_ms`).
    pub period: Option<String>,
    /// The method to call (see `list_actor_kinds`).
    pub method: String,
    /// The method's arguments as a JSON object; `{}` when omitted.
    #[serde(default)]
    pub args: Option<serde_json::Map<String, serde_json::Value>>,
    /// A one-shot job: call the method once, `delay_ms` from now, instead of
    /// every period.
    #[serde(default)]
    pub once: bool,
    /// Milliseconds from now until the job runs (with `once`), or until the
    /// first call of a reminder (one period by default).
    pub delay_ms: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnremindArgs {
    /// The kind of the actor the reminder calls.
    pub kind: String,
    /// The actor's key (UTF-8).
    pub key: String,
    /// The reminder's name.
    pub name: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Reminder {
    /// The kind of the actor it calls.
    pub kind: String,
    /// The key of the actor it calls.
    pub key: String,
    pub name: String,
    /// Milliseconds between calls; 0 for a one-shot job.
    pub period_ms: u64,
    pub method: String,
    pub args: serde_json::Value,
    /// When it fires next, in milliseconds since the Unix epoch.
    pub next_fire_ms: u64,
}

impl Reminder {
    fn of(key: &str, info: ReminderInfo) -> Reminder {
        Reminder {
            kind: info.kind,
            key: key.to_string(),
            name: info.name,
            period_ms: info.period_ms,
            method: info.method,
            args: info.args,
            next_fire_ms: info.next_fire_ms,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Reminders {
    /// By name.
    pub reminders: Vec<Reminder>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Unreminded {
    /// Whether the reminder existed.
    pub removed: bool,
}

/// The period (0 for a job) and first fire time (`None`: one period from
/// now) of a `remind` call made at `now_ms`.
fn schedule(args: &RemindArgs, now_ms: u64) -> Result<(u64, Option<u64>), McpError> {
    let bad = |reason: &'static str| Err(McpError::BadSchedule { reason });
    let period = match (args.period_ms, &args.period) {
        (Some(_), Some(_)) => return bad("give period_ms or period, not both"),
        (Some(0), None) => return bad("period_ms must be at least 1"),
        (Some(ms), None) => Some(ms),
        (None, Some(text)) => Some(reminders::parse_period(text)?),
        (None, None) => None,
    };
    let due = args.delay_ms.map(|delay| now_ms.saturating_add(delay));
    match (args.once, period, due) {
        (true, Some(_), _) => bad("a job (once) runs once: give delay_ms, not a period"),
        (true, None, None) => bad("a job (once) needs delay_ms"),
        (true, None, Some(due)) => Ok((0, Some(due))),
        (false, Some(period), due) => Ok((period, due)),
        (false, None, _) => bad("give period_ms or period (or once with delay_ms)"),
    }
}

#[tool_router(router = reminder_router, vis = "pub(super)")]
impl<G: ActorGateway> OrbitMcp<G> {
    #[tool(
        description = "Register a durable reminder on an actor: call one of its methods with JSON arguments every period (period_ms, or period as text like 500ms, 1s, 5m, 2h, 1d), or once after delay_ms with once: true. A reminder of the same name on the actor is replaced; reminders survive restarts. Returns the reminder with its next fire time. Refused while the server is read-only.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn remind(&self, Parameters(args): Parameters<RemindArgs>) -> Result<Json<Reminder>, McpError> {
        self.writable("remind")?;
        let (period_ms, due_ms) = schedule(&args, crate::keyspace::now_ms())?;
        let fut = async {
            let remind = Remind {
                kind: args.kind,
                name: args.name,
                period_ms,
                due_ms,
                method: args.method,
                args: serde_json::Value::Object(args.args.unwrap_or_default()),
            };
            let key = args.key.clone().into_bytes().into();
            Ok(Reminder::of(&args.key, reminders::remind(self.gateway.as_ref(), key, remind).await?))
        };
        self.bounded(fut).await
    }

    #[tool(
        description = "The durable reminders and jobs of one actor: name, period (0 for a job), method, arguments and next fire time (ms since the Unix epoch).",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_reminders(
        &self,
        Parameters(args): Parameters<ActorArgs>,
    ) -> Result<Json<Reminders>, McpError> {
        let fut = async {
            let key = args.key.clone().into_bytes().into();
            let infos = reminders::list(self.gateway.as_ref(), &args.kind, key).await?;
            Ok(Reminders { reminders: infos.into_iter().map(|info| Reminder::of(&args.key, info)).collect() })
        };
        self.bounded(fut).await
    }

    #[tool(
        description = "Remove a durable reminder or job of an actor by name; returns whether it existed. Refused while the server is read-only.",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn unremind(
        &self,
        Parameters(args): Parameters<UnremindArgs>,
    ) -> Result<Json<Unreminded>, McpError> {
        self.writable("unremind")?;
        let fut = async {
            let key = args.key.into_bytes().into();
            let removed = reminders::unremind(self.gateway.as_ref(), &args.kind, key, &args.name).await?;
            Ok(Unreminded { removed })
        };
        self.bounded(fut).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(period_ms: Option<u64>, period: Option<&str>, once: bool, delay_ms: Option<u64>) -> RemindArgs {
        RemindArgs {
            kind: "counter".into(),
            key: "k".into(),
            name: "r".into(),
            period_ms,
            period: period.map(String::from),
            method: "increment".into(),
            args: None,
            once,
            delay_ms,
        }
    }

    #[test]
    fn a_reminder_needs_one_period_and_a_job_a_delay() {
        let now = 1000;
        assert_eq!(schedule(&args(Some(500), None, false, None), now).unwrap(), (500, None));
        assert_eq!(schedule(&args(None, Some("5m"), false, Some(10)), now).unwrap(), (300_000, Some(1010)));
        assert_eq!(schedule(&args(None, None, true, Some(0)), now).unwrap(), (0, Some(1000)));
        for (bad, says) in [
            (args(Some(500), Some("1s"), false, None), "not both"),
            (args(Some(0), None, false, None), "at least 1"),
            (args(None, None, false, None), "give period_ms or period"),
            (args(None, None, true, None), "needs delay_ms"),
            (args(Some(500), None, true, Some(5)), "not a period"),
            (args(None, Some("soon"), false, None), "invalid period 'soon'"),
        ] {
            let err = schedule(&bad, now).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
            assert_eq!(err.class(), super::super::Class::InvalidArgument, "{err}");
        }
    }
}
