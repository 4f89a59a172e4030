//! Durable reminders as the front doors offer them (RESP `ACTOR.REMIND`,
//! SQL `orbit_reminders`, MCP `remind`): the reminders and jobs of actor
//! `kind`/`key` are held by the `orbit:reminders` actor of that key
//! (`orbit_shared::actors::reminders`), so every surface is a call of that
//! actor through the gateway, or a read of its stored state.
//!
//! Periods and delays are written `500ms`, `1s`, `5m`, `2h`, `1d` (humantime,
//! as the config's durations) or as plain milliseconds.

use crate::keyspace::DATABASE_KINDS;
use bytes::Bytes;
use orbit_shared::actors::reminders::{self, List, Remind, ReminderInfo, Unremind};
use orbit_shared::{ActorGateway, ActorId, Error, Invocation, Message};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A period or delay that is not a duration (or a period of zero).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} '{text}' (use e.g. 500ms, 1s, 5m)")]
pub struct InvalidDuration {
    /// `period` or `delay`.
    pub what: &'static str,
    pub text: String,
}

/// A reminder's period in milliseconds: at least 1.
pub fn parse_period(text: &str) -> Result<u64, InvalidDuration> {
    duration_ms(text)
        .filter(|&ms| ms > 0)
        .ok_or_else(|| InvalidDuration { what: "period", text: text.into() })
}

/// A job's delay in milliseconds (0: as soon as possible).
pub fn parse_delay(text: &str) -> Result<u64, InvalidDuration> {
    duration_ms(text).ok_or_else(|| InvalidDuration { what: "delay", text: text.into() })
}

/// Plain milliseconds (`1500`), or a humantime duration (`500ms`, `1s`,
/// `5m`, `2h`, `1d`, `1h 30m`) truncated to milliseconds.
fn duration_ms(text: &str) -> Option<u64> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let duration = humantime_serde::re::humantime::parse_duration(text).ok()?;
    u64::try_from(duration.as_millis()).ok()
}

/// Calls the reminders actor of `key`.
async fn call<G: ActorGateway, M: Message>(gateway: &G, key: Bytes, msg: M) -> Result<M::Reply, Error> {
    let invocation = Invocation::of(&msg)?;
    gateway.invoke(ActorId::new(reminders::KIND, key), invocation).await?.decode()
}

/// Registers (or replaces) reminder `remind.name` of actor
/// `remind.kind`/`key`. Redis keys are refused, as `ACTOR.CALL` refuses
/// them: their commands run through the Redis front door.
pub async fn remind<G: ActorGateway>(gateway: &G, key: Bytes, remind: Remind) -> Result<ReminderInfo, Error> {
    if DATABASE_KINDS.contains(&remind.kind.as_str()) {
        return Err(Error::InvalidArguments {
            method: Remind::METHOD.into(),
            reason: "reminders cannot call Redis keys; use the Redis commands".into(),
        });
    }
    call(gateway, key, remind).await
}

/// The reminders and jobs of actor `kind`/`key`, by name.
pub async fn list<G: ActorGateway>(gateway: &G, kind: &str, key: Bytes) -> Result<Vec<ReminderInfo>, Error> {
    call(gateway, key, List { kind: Some(kind.to_string()) }).await
}

/// Removes reminder `name` of actor `kind`/`key`; whether it existed.
pub async fn unremind<G: ActorGateway>(
    gateway: &G,
    kind: &str,
    key: Bytes,
    name: &str,
) -> Result<bool, Error> {
    call(gateway, key, Unremind { kind: kind.to_string(), name: name.to_string() }).await
}

/// The state an `orbit:reminders` actor stores: reminders by the kind of
/// the actor they call, then by name.
#[derive(Deserialize)]
struct Stored {
    #[serde(default)]
    kinds: BTreeMap<String, BTreeMap<String, StoredReminder>>,
}

#[derive(Deserialize)]
struct StoredReminder {
    period_ms: u64,
    method: String,
    #[serde(default)]
    args: serde_json::Value,
    next_fire_ms: u64,
}

/// The reminders in a stored `orbit:reminders` state (read without
/// activating the actor), by kind then name.
pub fn stored(state: &[u8]) -> Result<Vec<ReminderInfo>, serde_json::Error> {
    let stored: Stored = serde_json::from_slice(state)?;
    let infos = stored.kinds.into_iter().flat_map(|(kind, named)| {
        named.into_iter().map(move |(name, r)| ReminderInfo {
            kind: kind.clone(),
            name,
            period_ms: r.period_ms,
            method: r.method,
            args: r.args,
            next_fire_ms: r.next_fire_ms,
        })
    });
    Ok(infos.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_take_units_or_plain_milliseconds() {
        for (text, ms) in [
            ("500ms", 500),
            ("1s", 1000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
            ("1h 30m", 5_400_000),
            ("250", 250),
        ] {
            assert_eq!(parse_period(text), Ok(ms), "{text}");
        }
        for bad in ["", "0", "0s", "soon", "-1s", "5 parsecs", "1us", "99999999999999999999"] {
            let err = parse_period(bad).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid period '{bad}' (use e.g. 500ms, 1s, 5m)"));
        }
    }

    #[test]
    fn a_delay_may_be_zero() {
        assert_eq!(parse_delay("0"), Ok(0));
        assert_eq!(parse_delay("10s"), Ok(10_000));
        assert_eq!(
            parse_delay("later").unwrap_err().to_string(),
            "invalid delay 'later' (use e.g. 500ms, 1s, 5m)"
        );
    }

    #[test]
    fn a_stored_state_lists_its_reminders_by_kind_then_name() {
        let state = br#"{"kinds": {
            "counter": {
                "tick": {"period_ms": 1000, "method": "increment", "args": {"by": 1}, "next_fire_ms": 5000},
                "once": {"period_ms": 0, "method": "reset", "args": null, "next_fire_ms": 9000}
            },
            "beeper": {"b": {"period_ms": 60000, "method": "beep", "args": {}, "next_fire_ms": 7000}}
        }}"#;
        let infos = stored(state).unwrap();
        let names: Vec<(&str, &str)> = infos.iter().map(|r| (r.kind.as_str(), r.name.as_str())).collect();
        assert_eq!(names, [("beeper", "b"), ("counter", "once"), ("counter", "tick")]);
        assert_eq!(infos[2].args, serde_json::json!({"by": 1}));
        assert_eq!((infos[2].period_ms, infos[2].next_fire_ms), (1000, 5000));
        assert!(stored(b"{}").unwrap().is_empty());
        assert!(stored(b"not json").is_err());
    }
}
