//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS: maps in
//! RESP3, flat arrays in RESP2, with Redis 7.2's fields in its order.
//!
//! `radix-tree-keys` and `radix-tree-nodes` describe Redis' in-memory
//! encoding; Orbit reports its own: the entry sub-keys, and those plus the
//! metadata sub-key.

use super::id::StreamId;
use super::{Group, Stream, entry_reply, groups, parse_count, stream_ref};
use crate::keyspace::KeyState;
use crate::keyspace::value::{Value, errors};
use bytes::Bytes;

/// XINFO STREAM FULL's default COUNT.
const FULL_DEFAULT_COUNT: usize = 10;

fn field(name: &'static str, value: Value) -> (Value, Value) {
    (Value::Bulk(Bytes::from_static(name.as_bytes())), value)
}

fn syntax(sub: &[u8]) -> Value {
    Value::err(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
        String::from_utf8_lossy(sub)
    ))
}

fn optional_int(value: Option<i64>) -> Value {
    value.map_or(Value::Nil, Value::Int)
}

/// `xinfo key SUB ...`: the front door moves the key first.
pub(super) fn xinfo(ks: &mut KeyState, key: &[u8], args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some((sub, rest)) = args.split_first() else { return Err(Value::err(errors::arity("xinfo"))) };
    let Some(stream) = stream_ref(ks, now_ms)? else { return Err(Value::err(errors::NO_SUCH_KEY)) };
    match (sub.to_ascii_lowercase().as_slice(), rest) {
        (b"consumers", [group]) => {
            let Some(g) = stream.groups.get(&group[..]) else {
                return Err(groups::nogroup_named(key, group));
            };
            Ok(Value::Array(g.consumers.keys().map(|name| consumer_info(g, name, now_ms)).collect()))
        }
        (b"groups", []) => {
            Ok(Value::Array(stream.groups.iter().map(|(n, g)| group_info(stream, n, g)).collect()))
        }
        (b"stream", []) => Ok(stream_info(stream, None)),
        (b"stream", [full]) if full.eq_ignore_ascii_case(b"full") => {
            Ok(stream_info(stream, Some(FULL_DEFAULT_COUNT)))
        }
        (b"stream", [full, count_word, count])
            if full.eq_ignore_ascii_case(b"full") && count_word.eq_ignore_ascii_case(b"count") =>
        {
            let count = parse_count(count)?;
            let count =
                if count < 0 { FULL_DEFAULT_COUNT } else { usize::try_from(count).unwrap_or(usize::MAX) };
            Ok(stream_info(stream, Some(if count == 0 { usize::MAX } else { count })))
        }
        _ => Err(syntax(sub)),
    }
}

fn consumer_info(g: &Group, name: &Bytes, now_ms: u64) -> Value {
    let Some(consumer) = g.consumers.get(name) else { return Value::Nil };
    let inactive = consumer.active_ms.map_or(-1, |at| now_ms.saturating_sub(at) as i64);
    Value::Map(vec![
        field("name", Value::Bulk(name.clone())),
        field("pending", Value::Int(g.pending_count(name) as i64)),
        field("idle", Value::Int(now_ms.saturating_sub(consumer.seen_ms) as i64)),
        field("inactive", Value::Int(inactive)),
    ])
}

fn group_info(stream: &Stream, name: &Bytes, g: &Group) -> Value {
    Value::Map(vec![
        field("name", Value::Bulk(name.clone())),
        field("consumers", Value::Int(g.consumers.len() as i64)),
        field("pending", Value::Int(g.pel.len() as i64)),
        field("last-delivered-id", g.last_id.reply()),
        field("entries-read", optional_int((g.entries_read >= 0).then_some(g.entries_read))),
        field("lag", optional_int(stream.lag(g))),
    ])
}

fn edge_entry(entry: Option<(&StreamId, &Vec<Bytes>)>) -> Value {
    entry.map_or(Value::Nil, |(id, fields)| entry_reply(*id, fields))
}

/// The stream's summary, or with `full` (a count) its entries and groups.
fn stream_info(stream: &Stream, full: Option<usize>) -> Value {
    let mut fields = vec![
        field("length", Value::Int(stream.len() as i64)),
        field("radix-tree-keys", Value::Int(stream.len() as i64)),
        field("radix-tree-nodes", Value::Int(stream.len() as i64 + 1)),
        field("last-generated-id", stream.last_id.reply()),
        field("max-deleted-entry-id", stream.max_deleted.reply()),
        field("entries-added", Value::Int(stream.entries_added as i64)),
        field("recorded-first-entry-id", stream.first_id().reply()),
    ];
    let Some(count) = full else {
        fields.push(field("groups", Value::Int(stream.groups.len() as i64)));
        fields.push(field("first-entry", edge_entry(stream.entries.iter().next())));
        fields.push(field("last-entry", edge_entry(stream.entries.iter().next_back())));
        return Value::Map(fields);
    };
    let entries = stream.entries.iter().take(count).map(|(id, f)| entry_reply(*id, f)).collect();
    fields.push(field("entries", Value::Array(entries)));
    let groups = stream.groups.iter().map(|(name, g)| full_group(stream, name, g, count)).collect();
    fields.push(field("groups", Value::Array(groups)));
    Value::Map(fields)
}

fn full_group(stream: &Stream, name: &Bytes, g: &Group, count: usize) -> Value {
    let pending = g
        .pel
        .iter()
        .take(count)
        .map(|(id, n)| {
            Value::Array(vec![
                id.reply(),
                Value::Bulk(n.consumer.clone()),
                Value::Int(n.delivered_ms as i64),
                Value::Int(n.count as i64),
            ])
        })
        .collect();
    let consumers = g
        .consumers
        .iter()
        .map(|(cname, c)| {
            let own = g
                .pel
                .iter()
                .filter(|(_, n)| n.consumer == *cname)
                .take(count)
                .map(|(id, n)| {
                    Value::Array(vec![
                        id.reply(),
                        Value::Int(n.delivered_ms as i64),
                        Value::Int(n.count as i64),
                    ])
                })
                .collect();
            Value::Map(vec![
                field("name", Value::Bulk(cname.clone())),
                field("seen-time", Value::Int(c.seen_ms as i64)),
                field("active-time", Value::Int(c.active_ms.map_or(-1, |at| at as i64))),
                field("pel-count", Value::Int(g.pending_count(cname) as i64)),
                field("pending", Value::Array(own)),
            ])
        })
        .collect();
    Value::Map(vec![
        field("name", Value::Bulk(name.clone())),
        field("last-delivered-id", g.last_id.reply()),
        field("entries-read", optional_int((g.entries_read >= 0).then_some(g.entries_read))),
        field("lag", optional_int(stream.lag(g))),
        field("pel-count", Value::Int(g.pel.len() as i64)),
        field("pending", Value::Array(pending)),
        field("consumers", Value::Array(consumers)),
    ])
}

#[cfg(test)]
mod tests {
    use super::super::super::lists::test_support::*;
    use super::*;

    fn get(map: &Value, name: &str) -> Value {
        let Value::Map(fields) = map else { panic!("not a map: {map:?}") };
        fields.iter().find(|(k, _)| *k == bulk(name)).map(|(_, v)| v.clone()).unwrap()
    }

    #[test]
    fn stream_info_counts_ids_and_lag() {
        let mut ks = KeyState::default();
        for id in ["1-1", "2-1", "3-1"] {
            run(&mut ks, &["xadd", "s", id, "f", "v"]);
        }
        run(&mut ks, &["xgroup", "s", "create", "g", "0"]);
        run(&mut ks, &["orbit.xreadgroup", "s", "g", "c", "1", "0", ">"]);
        run(&mut ks, &["xdel", "s", "2-1"]);
        let info = run(&mut ks, &["xinfo", "s", "stream"]);
        assert_eq!(get(&info, "length"), Value::Int(2));
        assert_eq!(get(&info, "max-deleted-entry-id"), bulk("2-1"));
        assert_eq!(get(&info, "entries-added"), Value::Int(3));
        assert_eq!(get(&info, "recorded-first-entry-id"), bulk("1-1"));
        assert_eq!(get(&info, "groups"), Value::Int(1));
        let Value::Array(groups) = run(&mut ks, &["xinfo", "s", "groups"]) else { panic!("groups") };
        assert_eq!(get(&groups[0], "entries-read"), Value::Int(1));
        assert_eq!(get(&groups[0], "lag"), Value::Nil, "a tombstone after the group's last ID");
        let Value::Array(consumers) = run(&mut ks, &["xinfo", "s", "consumers", "g"]) else {
            panic!("consumers")
        };
        assert_eq!(get(&consumers[0], "pending"), Value::Int(1));
        assert_eq!(
            run(&mut ks, &["xinfo", "s", "consumers", "h"]),
            err("NOGROUP No such consumer group 'h' for key name 's'")
        );
        assert_eq!(run(&mut KeyState::default(), &["xinfo", "n", "stream"]), err(errors::NO_SUCH_KEY));
        let full = run(&mut ks, &["xinfo", "s", "stream", "full", "count", "1"]);
        let Value::Array(entries) = get(&full, "entries") else { panic!("entries") };
        assert_eq!(entries.len(), 1);
    }
}
