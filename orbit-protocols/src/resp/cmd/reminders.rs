//! ACTOR.REMIND, ACTOR.JOB, ACTOR.REMINDERS and ACTOR.UNREMIND: the durable
//! reminders and jobs of any actor (`crate::reminders`), each reminder
//! answered as JSON, as ACTOR.CALL answers.
//!
//! ```text
//! ACTOR.REMIND kind key name period method [json]   -> the reminder (JSON)
//! ACTOR.JOB kind key name delay method [json]       -> the job (JSON)
//! ACTOR.REMINDERS kind key                          -> one JSON per reminder, by name
//! ACTOR.UNREMIND kind key name                      -> 1 if it existed, else 0
//! ```

use crate::keyspace::value::{Value, errors};
use crate::reminders;
use crate::resp::connection::Conn;
use bytes::Bytes;
use orbit_shared::ActorGateway;
use orbit_shared::actors::reminders::{Remind, ReminderInfo};

/// Runs `name` with `args`, the words after the command name (the table
/// has checked the least arity).
pub(crate) async fn run<G: ActorGateway>(conn: &Conn<G>, name: &str, args: &[Bytes]) -> Value {
    let gateway = conn.server.gateway.as_ref();
    let (kind, key) = (text(&args[0]), args[1].clone());
    let done = match name {
        "actor.remind" | "actor.job" => {
            let remind = match parse(name, args, crate::keyspace::now_ms()) {
                Ok(remind) => remind,
                Err(refused) => return refused,
            };
            reminders::remind(gateway, key, remind).await.map(|info| json(&info))
        }
        "actor.reminders" => reminders::list(gateway, &kind, key)
            .await
            .map(|infos| Value::Array(infos.iter().map(json).collect())),
        "actor.unremind" => {
            reminders::unremind(gateway, &kind, key, &text(&args[2])).await.map(|r| Value::Int(i64::from(r)))
        }
        _ => return Value::err(format!("ERR unknown command '{name}'")),
    };
    done.unwrap_or_else(|e| crate::resp::server::error_reply(&e))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `kind key name period method [json]` (ACTOR.REMIND) or `kind key name
/// delay method [json]` (ACTOR.JOB: once, `delay` after `now_ms`) as the
/// message to the reminders actor; arguments default to `{}`.
fn parse(name: &str, args: &[Bytes], now_ms: u64) -> Result<Remind, Value> {
    let (kind, reminder, time, method, json) = match args {
        [kind, _key, reminder, time, method] => (kind, reminder, time, method, None),
        [kind, _key, reminder, time, method, json] => (kind, reminder, time, method, Some(json)),
        _ => return Err(Value::err(errors::arity(name))),
    };
    let refused = |e: reminders::InvalidDuration| Value::err(format!("ERR {e}"));
    let (period_ms, due_ms) = match name {
        "actor.job" => {
            (0, Some(now_ms.saturating_add(reminders::parse_delay(&text(time)).map_err(refused)?)))
        }
        _ => (reminders::parse_period(&text(time)).map_err(refused)?, None),
    };
    let args = match json {
        None => serde_json::json!({}),
        Some(json) => serde_json::from_slice(json)
            .map_err(|e| Value::err(format!("ERR invalid JSON arguments: {e}")))?,
    };
    Ok(Remind { kind: text(kind), name: text(reminder), period_ms, due_ms, method: text(method), args })
}

/// A reminder as a bulk string of its JSON.
fn json(info: &ReminderInfo) -> Value {
    match serde_json::to_vec(info) {
        Ok(bytes) => Value::Bulk(bytes.into()),
        Err(e) => Value::err(format!("ERR cannot encode the reminder: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &[&str]) -> Vec<Bytes> {
        line.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn a_reminder_takes_a_period_and_a_job_a_delay_from_now() {
        let remind = parse("actor.remind", &words(&["counter", "k", "r", "5m", "increment"]), 1000).unwrap();
        assert_eq!((remind.period_ms, remind.due_ms), (300_000, None));
        assert_eq!((remind.kind.as_str(), remind.name.as_str()), ("counter", "r"));
        assert_eq!(remind.args, serde_json::json!({}));
        let line = ["counter", "k", "j", "2s", "increment", r#"{"by": 2}"#];
        let job = parse("actor.job", &words(&line), 1000).unwrap();
        assert_eq!((job.period_ms, job.due_ms), (0, Some(3000)));
        assert_eq!(job.args, serde_json::json!({"by": 2}));
    }

    #[test]
    fn bad_periods_delays_json_and_arity_are_refused() {
        let refused = |name: &str, line: &[&str]| parse(name, &words(line), 0).unwrap_err();
        assert_eq!(
            refused("actor.remind", &["counter", "k", "r", "soon", "increment"]),
            Value::err("ERR invalid period 'soon' (use e.g. 500ms, 1s, 5m)")
        );
        assert_eq!(
            refused("actor.remind", &["counter", "k", "r", "0", "increment"]),
            Value::err("ERR invalid period '0' (use e.g. 500ms, 1s, 5m)")
        );
        assert_eq!(
            refused("actor.job", &["counter", "k", "j", "later", "increment"]),
            Value::err("ERR invalid delay 'later' (use e.g. 500ms, 1s, 5m)")
        );
        let Value::Error(bad_json) =
            refused("actor.remind", &["counter", "k", "r", "1s", "increment", "{oops"])
        else {
            panic!("bad JSON is an error")
        };
        assert!(bad_json.starts_with("ERR invalid JSON arguments: "), "{bad_json}");
        assert_eq!(
            refused("actor.remind", &["counter", "k", "r", "1s", "increment", "{}", "extra"]),
            Value::err("ERR wrong number of arguments for 'actor.remind' command")
        );
    }
}
