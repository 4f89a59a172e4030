//! Commands on any key: existence, type, expiry, and the internal dump and
//! restore that multi-key commands (RENAME, COPY, *STORE, SMOVE) build on.

use super::{Dumped, KeyState, parse_i64};
use crate::keyspace::value::{Value, errors};
use bytes::Bytes;

pub(super) fn exec(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Option<Value> {
    let reply = match name {
        "del" | "unlink" => Value::Int(i64::from(exists(ks, now_ms) && clear(ks))),
        "exists" | "touch" => Value::Int(i64::from(exists(ks, now_ms))),
        "type" => Value::Simple(ks.key_type(now_ms).map_or("none", |t| t.name()).into()),
        "ttl" => ttl(ks, now_ms, false, false),
        "pttl" => ttl(ks, now_ms, true, false),
        "expiretime" => ttl(ks, now_ms, false, true),
        "pexpiretime" => ttl(ks, now_ms, true, true),
        "expire" | "pexpire" | "expireat" | "pexpireat" => expire(ks, name, args, now_ms),
        "persist" => persist(ks, now_ms),
        "orbit.dump" => dump(ks, now_ms),
        "orbit.restore" => restore(ks, args, now_ms),
        _ => return None,
    };
    Some(reply)
}

fn exists(ks: &mut KeyState, now_ms: u64) -> bool {
    ks.live(now_ms).is_some()
}

fn clear(ks: &mut KeyState) -> bool {
    ks.clear();
    true
}

/// TTL/PTTL/EXPIRETIME/PEXPIRETIME: -2 for a missing key, -1 without expiry.
fn ttl(ks: &mut KeyState, now_ms: u64, in_ms: bool, absolute: bool) -> Value {
    if ks.live(now_ms).is_none() {
        return Value::Int(-2);
    }
    let Some(at) = ks.expire_at else { return Value::Int(-1) };
    let at = at as i64;
    let value = if absolute { at } else { (at - now_ms as i64).max(0) };
    Value::Int(if in_ms { value } else { (value + 500) / 1000 })
}

#[derive(Default)]
struct Conditions {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_conditions(args: &[Bytes]) -> Result<Conditions, Value> {
    let mut c = Conditions::default();
    for arg in args {
        match arg.to_ascii_lowercase().as_slice() {
            b"nx" => c.nx = true,
            b"xx" => c.xx = true,
            b"gt" => c.gt = true,
            b"lt" => c.lt = true,
            // Named as the client spelled it, as Redis does.
            _ => return Err(Value::err(format!("ERR Unsupported option {}", String::from_utf8_lossy(arg)))),
        }
    }
    if c.nx && (c.xx || c.gt || c.lt) {
        return Err(Value::err("ERR NX and XX, GT or LT options at the same time are not compatible"));
    }
    if c.gt && c.lt {
        return Err(Value::err("ERR GT and LT options at the same time are not compatible"));
    }
    Ok(c)
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT with NX/XX/GT/LT (Redis 7.0 rules: a
/// key without expiry counts as an infinite TTL for GT and LT; a time in the
/// past deletes the key). The options are checked before the time, as
/// Redis does, so a bad option is reported even when the time is bad too.
fn expire(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Value {
    let Some((amount, options)) = args.split_first() else { return Value::err(errors::arity(name)) };
    let c = match parse_conditions(options) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let at = match deadline(name, amount, now_ms) {
        Ok(at) => at,
        Err(e) => return e,
    };
    if ks.live(now_ms).is_none() {
        return Value::Int(0);
    }
    let current = ks.expire_at;
    let allowed = match current {
        None => !c.xx && !c.gt,
        Some(cur) => !c.nx && (!c.gt || at > cur as i64) && (!c.lt || at < cur as i64),
    };
    if !allowed {
        return Value::Int(0);
    }
    if at <= now_ms as i64 {
        ks.clear();
    } else {
        ks.expire_at = Some(at as u64);
    }
    Value::Int(1)
}

/// The absolute deadline in Unix milliseconds that `amount` names for
/// command `name` (seconds or milliseconds, relative or absolute).
fn deadline(name: &str, amount: &[u8], now_ms: u64) -> Result<i64, Value> {
    let amount = parse_i64(amount)?;
    let invalid = || Value::err(format!("ERR invalid expire time in '{name}' command"));
    let unit = if name.starts_with('p') { 1 } else { 1000 };
    let ms = amount.checked_mul(unit).ok_or_else(invalid)?;
    let at = if name.ends_with("at") { Some(ms) } else { ms.checked_add(now_ms as i64) };
    at.ok_or_else(invalid)
}

fn persist(ks: &mut KeyState, now_ms: u64) -> Value {
    if ks.live(now_ms).is_none() || ks.expire_at.is_none() {
        return Value::Int(0);
    }
    ks.expire_at = None;
    Value::Int(1)
}

/// The whole value and its expiry, or nil for a missing key.
fn dump(ks: &mut KeyState, now_ms: u64) -> Value {
    match ks.live(now_ms) {
        None => Value::Nil,
        Some(data) => Value::Bulk(Dumped { data: data.clone(), expire_at: ks.expire_at }.encode()),
    }
}

/// `orbit.restore payload`: replaces the key with a dumped value (and its
/// expiry); an empty payload deletes the key.
fn restore(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Value {
    let [payload] = args else { return Value::err(errors::arity("orbit.restore")) };
    if payload.is_empty() {
        ks.clear();
        return Value::ok();
    }
    let Some(dumped) = Dumped::decode(payload) else {
        return Value::err("ERR DUMP payload version or checksum are wrong");
    };
    ks.replace(dumped.data);
    ks.expire_at = dumped.expire_at;
    if dumped.expire_at.is_some_and(|at| at <= now_ms) {
        ks.clear();
    }
    Value::ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ks: &mut KeyState, now: u64, argv: &[&str]) -> Value {
        let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a.as_bytes())).collect();
        ks.exec(&argv, now)
    }

    #[test]
    fn expire_options_follow_redis_rules() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, 0, &["expire", "k", "10"]), Value::Int(0));
        run(&mut ks, 0, &["set", "k", "v"]);
        assert_eq!(run(&mut ks, 0, &["expire", "k", "10", "xx"]), Value::Int(0));
        assert_eq!(run(&mut ks, 0, &["expire", "k", "10", "gt"]), Value::Int(0));
        assert_eq!(run(&mut ks, 0, &["expire", "k", "10", "lt"]), Value::Int(1));
        assert_eq!(run(&mut ks, 0, &["ttl", "k"]), Value::Int(10));
        assert_eq!(run(&mut ks, 0, &["expire", "k", "5", "gt"]), Value::Int(0));
        assert_eq!(run(&mut ks, 0, &["pexpire", "k", "20000", "gt"]), Value::Int(1));
        assert_eq!(run(&mut ks, 0, &["pttl", "k"]), Value::Int(20000));
        assert_eq!(run(&mut ks, 1000, &["expiretime", "k"]), Value::Int(20));
        assert!(run(&mut ks, 0, &["expire", "k", "1", "nx", "xx"]).is_error());
        assert!(run(&mut ks, 0, &["expire", "k", "x"]).is_error());
        assert!(run(&mut ks, 0, &["expire", "k", "9223372036854775807"]).is_error());
        assert_eq!(run(&mut ks, 0, &["persist", "k"]), Value::Int(1));
        assert_eq!(run(&mut ks, 0, &["ttl", "k"]), Value::Int(-1));
    }

    #[test]
    fn expire_option_errors_use_redis_texts() {
        let mut ks = KeyState::default();
        run(&mut ks, 0, &["set", "k", "v"]);
        let cases: &[(&[&str], &str)] = &[
            (&["expire", "k", "10", "Foo"], "ERR Unsupported option Foo"),
            (&["pexpireat", "k", "10", "nx", "bar"], "ERR Unsupported option bar"),
            (&["expire", "k", "abc", "Foo"], "ERR Unsupported option Foo"),
            (&["expire", "k", "abc", "nx"], errors::NOT_INTEGER),
            (
                &["expire", "k", "10", "NX", "GT"],
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ),
            (&["expire", "k", "10", "gt", "LT"], "ERR GT and LT options at the same time are not compatible"),
            (&["expire", "missing", "10", "foo"], "ERR Unsupported option foo"),
        ];
        for (argv, error) in cases {
            assert_eq!(run(&mut ks, 0, argv), Value::err(*error), "{argv:?}");
        }
        assert_eq!(run(&mut ks, 0, &["ttl", "k"]), Value::Int(-1), "no failed EXPIRE set a TTL");
    }

    #[test]
    fn expired_keys_vanish_and_their_entries_are_deleted() {
        let mut ks = KeyState::default();
        run(&mut ks, 0, &["set", "k", "v", "px", "100"]);
        ks.drain_entry_ops();
        assert_eq!(run(&mut ks, 99, &["exists", "k"]), Value::Int(1));
        assert_eq!(run(&mut ks, 100, &["exists", "k"]), Value::Int(0));
        assert_eq!(run(&mut ks, 100, &["ttl", "k"]), Value::Int(-2));
        assert!(ks.is_empty());
        assert_eq!(ks.drain_entry_ops(), vec![super::super::WriteOp::Delete(Bytes::new())]);
    }

    #[test]
    fn a_past_expire_deletes_the_key() {
        let mut ks = KeyState::default();
        run(&mut ks, 5000, &["set", "k", "v"]);
        assert_eq!(run(&mut ks, 5000, &["expireat", "k", "1"]), Value::Int(1));
        assert_eq!(run(&mut ks, 5000, &["type", "k"]), Value::Simple("none".into()));
    }

    #[test]
    fn dump_and_restore_round_trip_with_expiry() {
        let mut src = KeyState::default();
        run(&mut src, 0, &["set", "k", "v", "px", "5000"]);
        let Value::Bulk(payload) = run(&mut src, 0, &["orbit.dump", "k"]) else { panic!("no dump") };
        let mut dst = KeyState::default();
        let argv = [Bytes::from_static(b"orbit.restore"), Bytes::from_static(b"d"), payload];
        assert_eq!(dst.exec(&argv, 0), Value::ok());
        assert_eq!(run(&mut dst, 0, &["get", "d"]), Value::bulk("v"));
        assert_eq!(run(&mut dst, 0, &["pttl", "d"]), Value::Int(5000));
        assert!(run(&mut dst, 0, &["orbit.restore", "d", "garbage"]).is_error());
    }
}
