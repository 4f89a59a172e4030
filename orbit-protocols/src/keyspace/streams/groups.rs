//! Consumer groups: XGROUP, the per-key half of XREADGROUP
//! (`orbit.xreadgroup`, `orbit.xhasgroup`), XACK, XPENDING, XCLAIM and
//! XAUTOCLAIM. The group PEL holds every delivered, unacknowledged ID
//! with its consumer, delivery time and delivery count.

use super::id::{self, StreamId};
use super::{
    Consumer, Group, Nack, Stream, UNKNOWN_READS, create, entry_reply, parse_count, stream_mut, stream_ref,
};
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{KeyState, WriteOp};
use bytes::Bytes;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `NOGROUP No such key 'k' or consumer group 'g'` (XPENDING, XCLAIM...).
pub fn nogroup(key: &[u8], group: &[u8]) -> Value {
    Value::err(format!("NOGROUP No such key '{}' or consumer group '{}'", text(key), text(group)))
}

/// XREADGROUP's NOGROUP error.
pub fn nogroup_read(key: &[u8], group: &[u8]) -> Value {
    Value::err(format!(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        text(key),
        text(group)
    ))
}

/// XGROUP's and XINFO CONSUMERS' NOGROUP error.
pub fn nogroup_named(key: &[u8], group: &[u8]) -> Value {
    Value::err(format!("NOGROUP No such consumer group '{}' for key name '{}'", text(group), text(key)))
}

fn subcommand_syntax(sub: &[u8]) -> Value {
    Value::err(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
        text(sub)
    ))
}

fn entries_read_arg(arg: &[u8]) -> Result<i64, Value> {
    let n = parse_count(arg)?;
    if n < 0 && n != UNKNOWN_READS {
        return Err(Value::err("ERR value for ENTRIESREAD must be positive or -1"));
    }
    Ok(n)
}

impl Stream {
    /// Takes a group out to edit it beside the stream; [`Stream::put_back`]
    /// returns it.
    fn take_group(&mut self, name: &[u8]) -> Option<(Bytes, Group)> {
        self.groups.remove_entry(name)
    }

    fn put_back(&mut self, name: Bytes, group: Group) {
        self.groups.insert(name, group);
    }
}

impl Group {
    /// The consumer, created if missing, its seen-time now (both stored).
    fn touch_consumer(&mut self, group: &[u8], name: &Bytes, now_ms: u64, ops: &mut Vec<WriteOp>) -> bool {
        let created = !self.consumers.contains_key(name);
        let consumer = self.consumers.entry(name.clone()).or_insert_with(|| Consumer::new(now_ms));
        consumer.seen_ms = now_ms;
        Stream::put_consumer(group, name, consumer, ops);
        created
    }

    fn mark_active(&mut self, group: &[u8], name: &Bytes, now_ms: u64, ops: &mut Vec<WriteOp>) {
        if let Some(consumer) = self.consumers.get_mut(name) {
            consumer.seen_ms = now_ms;
            consumer.active_ms = Some(now_ms);
            Stream::put_consumer(group, name, consumer, ops);
        }
    }

    /// How many PEL entries name `consumer`.
    pub(super) fn pending_count(&self, consumer: &[u8]) -> usize {
        self.pel.values().filter(|n| n.consumer[..] == *consumer).count()
    }

    fn set_nack(&mut self, group: &[u8], id: StreamId, nack: Nack, ops: &mut Vec<WriteOp>) {
        Stream::put_nack(group, id, &nack, ops);
        self.pel.insert(id, nack);
    }

    fn drop_nack(&mut self, group: &[u8], id: StreamId, ops: &mut Vec<WriteOp>) -> bool {
        let dropped = self.pel.remove(&id).is_some();
        if dropped {
            Stream::delete_nack(group, id, ops);
        }
        dropped
    }
}

/// `xgroup key SUB group ...`: the front door moves the key first.
pub(super) fn xgroup(ks: &mut KeyState, key: &[u8], args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [sub, group, rest @ ..] = args else { return Err(Value::err(errors::arity("xgroup"))) };
    let argc = args.len() + 2;
    let op = sub.to_ascii_lowercase();
    let mut mkstream = false;
    let mut entries_read = UNKNOWN_READS;
    match op.as_slice() {
        b"create" => {
            let mut i = 1;
            while i < rest.len() {
                if rest[i].eq_ignore_ascii_case(b"mkstream") {
                    mkstream = true;
                    i += 1;
                } else if rest[i].eq_ignore_ascii_case(b"entriesread") && i + 1 < rest.len() {
                    entries_read = entries_read_arg(&rest[i + 1])?;
                    i += 2;
                } else {
                    return Err(subcommand_syntax(sub));
                }
            }
        }
        b"setid" if argc == 7 => {
            if !rest[1].eq_ignore_ascii_case(b"entriesread") {
                return Err(subcommand_syntax(sub));
            }
            entries_read = entries_read_arg(&rest[2])?;
        }
        b"setid" if argc != 5 => return Err(subcommand_syntax(sub)),
        _ => {}
    }
    let exists = stream_ref(ks, now_ms)?.is_some();
    if !exists && !mkstream {
        return Err(Value::err(
            "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
        ));
    }
    let has_group = stream_ref(ks, now_ms)?.is_some_and(|s| s.groups.contains_key(&group[..]));
    if exists && !has_group && matches!(op.as_slice(), b"setid" | b"createconsumer" | b"delconsumer") {
        return Err(nogroup_named(key, group));
    }
    match (op.as_slice(), argc) {
        (b"create", 5..=8) => {
            let last = stream_ref(ks, now_ms)?.map_or(StreamId::ZERO, |s| s.last_id);
            let start = if rest[0][..] == *b"$" { last } else { id::parse_strict(&rest[0])? };
            if !exists {
                create(ks);
            }
            let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Ok(Value::Nil) };
            if has_group {
                return Err(Value::err("BUSYGROUP Consumer Group name already exists"));
            }
            let created = Group { last_id: start, entries_read, ..Group::default() };
            Stream::put_group(group, &created, ops);
            stream.groups.insert(group.clone(), created);
            Ok(Value::ok())
        }
        (b"setid", _) => {
            let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Ok(Value::Nil) };
            let start = if rest[0][..] == *b"$" { stream.last_id } else { id::parse_loose(&rest[0], 0)? };
            let Some(g) = stream.groups.get_mut(&group[..]) else {
                return Err(nogroup_named(key, group));
            };
            g.last_id = start;
            g.entries_read = entries_read;
            Stream::put_group(group, g, ops);
            Ok(Value::ok())
        }
        (b"destroy", 4) => {
            let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Ok(Value::Int(0)) };
            let Some((name, g)) = stream.take_group(group) else { return Ok(Value::Int(0)) };
            ops.push(WriteOp::Delete(super::storage::group_key(&name)));
            for consumer in g.consumers.keys() {
                ops.push(WriteOp::Delete(super::storage::consumer_key(&name, consumer)));
            }
            for id in g.pel.keys() {
                Stream::delete_nack(&name, *id, ops);
            }
            Ok(Value::Int(1))
        }
        (b"createconsumer", 5) => {
            let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Ok(Value::Nil) };
            let Some(g) = stream.groups.get_mut(&group[..]) else {
                return Err(nogroup_named(key, group));
            };
            if g.consumers.contains_key(&rest[0]) {
                return Ok(Value::Int(0));
            }
            let consumer = Consumer::new(now_ms);
            Stream::put_consumer(group, &rest[0], &consumer, ops);
            g.consumers.insert(rest[0].clone(), consumer);
            Ok(Value::Int(1))
        }
        (b"delconsumer", 5) => {
            let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Ok(Value::Nil) };
            let Some(g) = stream.groups.get_mut(&group[..]) else {
                return Err(nogroup_named(key, group));
            };
            if g.consumers.remove(&rest[0]).is_none() {
                return Ok(Value::Int(0));
            }
            ops.push(WriteOp::Delete(super::storage::consumer_key(group, &rest[0])));
            let owned: Vec<StreamId> =
                g.pel.iter().filter(|(_, n)| n.consumer == rest[0]).map(|(id, _)| *id).collect();
            for id in &owned {
                g.drop_nack(group, *id, ops);
            }
            Ok(Value::Int(owned.len() as i64))
        }
        _ => Err(subcommand_syntax(sub)),
    }
}

/// `orbit.xhasgroup key group`: 1 if the stream has the group, else 0.
pub(super) fn has_group(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [group] = args else { return Err(Value::err(errors::arity("orbit.xhasgroup"))) };
    let found = stream_ref(ks, now_ms)?.is_some_and(|s| s.groups.contains_key(&group[..]));
    Ok(Value::Int(i64::from(found)))
}

/// `orbit.xreadgroup key group consumer count noack id`: with `>` the
/// entries never delivered to the group (nil when there are none), else
/// the consumer's pending entries after `id` (deleted ones with a nil
/// body), each delivery recorded in the PEL.
pub(super) fn read_group(ks: &mut KeyState, key: &[u8], args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [group, consumer, count, noack, from] = args else {
        return Err(Value::err(errors::arity("orbit.xreadgroup")));
    };
    let count = usize::try_from(parse_count(count)?).unwrap_or(0);
    let limit = if count == 0 { usize::MAX } else { count };
    let noack = noack[..] == *b"1";
    let new_only = from[..] == *b">";
    let after = if new_only { StreamId::ZERO } else { id::parse_strict(from)? };
    let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Err(nogroup_read(key, group)) };
    let Some((name, mut g)) = stream.take_group(group) else { return Err(nogroup_read(key, group)) };
    let fresh: Vec<StreamId> = match g.last_id.next() {
        Some(start) if new_only => {
            stream.range(start, StreamId::MAX).take(limit).map(|(id, _)| *id).collect()
        }
        _ => Vec::new(),
    };
    if new_only && fresh.is_empty() {
        // As Redis 7.0: with nothing new to serve the consumers stay as they were.
        stream.put_back(name, g);
        return Ok(Value::Nil);
    }
    g.touch_consumer(&name, consumer, now_ms, ops);
    let mut items = Vec::new();
    if new_only {
        for id in fresh {
            if g.entries_read != UNKNOWN_READS && !stream.has_tombstones_from(id) {
                g.entries_read = g.entries_read.wrapping_add(1);
            } else if stream.entries_added > 0 {
                g.entries_read = stream.reads_up_to(id);
            }
            g.last_id = id;
            if !noack {
                let nack = Nack { consumer: consumer.clone(), delivered_ms: now_ms, count: 1 };
                g.set_nack(&name, id, nack, ops);
            }
            if let Some(fields) = stream.entries.get(&id) {
                items.push(entry_reply(id, fields));
            }
        }
        if items.is_empty() {
            stream.put_back(name, g);
            return Ok(Value::Nil);
        }
        Stream::put_group(&name, &g, ops);
    } else if let Some(start) = after.next() {
        let mine: Vec<StreamId> = g
            .pel
            .range(start..)
            .filter(|(_, n)| n.consumer == *consumer)
            .take(limit)
            .map(|(id, _)| *id)
            .collect();
        for id in mine {
            match stream.entries.get(&id) {
                Some(fields) => {
                    items.push(entry_reply(id, fields));
                    if let Some(nack) = g.pel.get_mut(&id) {
                        nack.delivered_ms = now_ms;
                        nack.count += 1;
                        Stream::put_nack(&name, id, nack, ops);
                    }
                }
                None => items.push(Value::Array(vec![id.reply(), Value::NilArray])),
            }
        }
    }
    if !items.is_empty() {
        g.mark_active(&name, consumer, now_ms, ops);
    }
    stream.put_back(name, g);
    Ok(Value::Array(items))
}

/// XACK key group id [id ...]
pub(super) fn xack(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some((group, ids)) = args.split_first() else { return Err(Value::err(errors::arity("xack"))) };
    let exists = stream_ref(ks, now_ms)?.is_some();
    let ids = ids.iter().map(|a| id::parse_strict(a)).collect::<Result<Vec<_>, _>>()?;
    if !exists {
        return Ok(Value::Int(0));
    }
    let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Ok(Value::Int(0)) };
    let Some(g) = stream.groups.get_mut(&group[..]) else { return Ok(Value::Int(0)) };
    let acked = ids.into_iter().filter(|id| g.drop_nack(group, *id, ops)).count();
    Ok(Value::Int(acked as i64))
}

/// XPENDING key group [[IDLE min-idle] start end count [consumer]]
pub(super) fn xpending(ks: &mut KeyState, key: &[u8], args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let argc = args.len() + 2;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(Value::err(errors::SYNTAX));
    }
    let group = &args[0];
    let mut range = None;
    if argc >= 6 {
        let mut at = 1;
        let mut min_idle = 0;
        if args[1].eq_ignore_ascii_case(b"idle") {
            min_idle = parse_count(&args[2])?;
            if argc < 8 {
                return Err(Value::err(errors::SYNTAX));
            }
            at += 2;
        }
        let count = parse_count(&args[at + 2])?.max(0);
        let start = id::parse_bound(&args[at], true)?;
        let end = id::parse_bound(&args[at + 1], false)?;
        range = Some((min_idle, start, end, count, args.get(at + 3).cloned()));
    }
    let Some(stream) = stream_ref(ks, now_ms)? else { return Err(nogroup(key, group)) };
    let Some(g) = stream.groups.get(&group[..]) else { return Err(nogroup(key, group)) };
    let Some((min_idle, start, end, count, consumer)) = range else { return Ok(pending_summary(g)) };
    if consumer.as_ref().is_some_and(|c| !g.consumers.contains_key(c)) {
        return Ok(Value::Array(Vec::new()));
    }
    let limit = usize::try_from(count).unwrap_or(usize::MAX);
    let valid = start <= end;
    let items = g
        .pel
        .range(start..=end.max(start))
        .filter(|_| valid)
        .filter(|(_, n)| consumer.as_ref().is_none_or(|c| n.consumer == *c))
        .filter(|(_, n)| min_idle <= 0 || now_ms.saturating_sub(n.delivered_ms) as i64 >= min_idle)
        .take(limit)
        .map(|(id, n)| {
            Value::Array(vec![
                id.reply(),
                Value::Bulk(n.consumer.clone()),
                Value::Int(now_ms.saturating_sub(n.delivered_ms) as i64),
                Value::Int(n.count as i64),
            ])
        })
        .collect();
    Ok(Value::Array(items))
}

fn pending_summary(g: &Group) -> Value {
    let (Some((first, _)), Some((last, _))) = (g.pel.first_key_value(), g.pel.last_key_value()) else {
        return Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::NilArray]);
    };
    let mut per: std::collections::BTreeMap<&Bytes, usize> = Default::default();
    for nack in g.pel.values() {
        *per.entry(&nack.consumer).or_default() += 1;
    }
    let consumers = per
        .into_iter()
        .map(|(c, n)| Value::Array(vec![Value::Bulk(c.clone()), Value::Bulk(Bytes::from(n.to_string()))]))
        .collect();
    Value::Array(vec![Value::Int(g.pel.len() as i64), first.reply(), last.reply(), Value::Array(consumers)])
}

/// XCLAIM's options after its IDs.
struct ClaimOptions {
    force: bool,
    justid: bool,
    delivered_ms: Option<i64>,
    retry_count: Option<i64>,
    last_id: StreamId,
}

fn claim_options(options: &[Bytes], now_ms: u64) -> Result<ClaimOptions, Value> {
    let mut parsed = ClaimOptions {
        force: false,
        justid: false,
        delivered_ms: None,
        retry_count: None,
        last_id: StreamId::ZERO,
    };
    let number = |arg: &[u8], what: &str| {
        parse_count(arg).map_err(|_| Value::err(format!("ERR Invalid {what} option argument for XCLAIM")))
    };
    let mut j = 0;
    while j < options.len() {
        let more = j + 1 < options.len();
        match options[j].to_ascii_lowercase().as_slice() {
            b"force" => parsed.force = true,
            b"justid" => parsed.justid = true,
            b"idle" if more => {
                j += 1;
                parsed.delivered_ms = Some((now_ms as i64).saturating_sub(number(&options[j][..], "IDLE")?));
            }
            b"time" if more => {
                j += 1;
                parsed.delivered_ms = Some(number(&options[j][..], "TIME")?);
            }
            b"retrycount" if more => {
                j += 1;
                parsed.retry_count = Some(number(&options[j][..], "RETRYCOUNT")?);
            }
            b"lastid" if more => {
                j += 1;
                parsed.last_id = id::parse_strict(&options[j])?;
            }
            _ => {
                return Err(Value::err(format!("ERR Unrecognized XCLAIM option '{}'", text(&options[j]))));
            }
        }
        j += 1;
    }
    Ok(parsed)
}

fn min_idle_arg(arg: &[u8], command: &str) -> Result<u64, Value> {
    let idle = parse_count(arg)
        .map_err(|_| Value::err(format!("ERR Invalid min-idle-time argument for {command}")))?;
    Ok(idle.max(0) as u64)
}

/// XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms]
/// [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id]
pub(super) fn xclaim(ks: &mut KeyState, key: &[u8], args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [group, consumer, min_idle, rest @ ..] = args else {
        return Err(Value::err(errors::arity("xclaim")));
    };
    let Some(stream) = stream_ref(ks, now_ms)? else { return Err(nogroup(key, group)) };
    if !stream.groups.contains_key(&group[..]) {
        return Err(nogroup(key, group));
    }
    let min_idle = min_idle_arg(min_idle, "XCLAIM")?;
    let id_count = rest.iter().take_while(|a| id::parse_strict(a).is_ok()).count();
    let ids: Vec<StreamId> = rest[..id_count].iter().filter_map(|a| id::parse_strict(a).ok()).collect();
    let options = claim_options(&rest[id_count..], now_ms)?;
    let delivered =
        options.delivered_ms.filter(|t| (0..=now_ms as i64).contains(t)).map_or(now_ms, |t| t as u64);
    let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Err(nogroup(key, group)) };
    let Some((name, mut g)) = stream.take_group(group) else { return Err(nogroup(key, group)) };
    if options.last_id > g.last_id {
        g.last_id = options.last_id;
        Stream::put_group(&name, &g, ops);
    }
    let mut items = Vec::new();
    let mut touched = false;
    for id in ids {
        if !stream.entries.contains_key(&id) {
            g.drop_nack(&name, id, ops);
            continue;
        }
        let existing = g.pel.get(&id).cloned();
        let nack = match existing {
            Some(nack) if min_idle > 0 && now_ms.saturating_sub(nack.delivered_ms) < min_idle => continue,
            Some(nack) => nack,
            None if options.force => Nack { consumer: Bytes::new(), delivered_ms: now_ms, count: 1 },
            None => continue,
        };
        if !touched {
            g.touch_consumer(&name, consumer, now_ms, ops);
            touched = true;
        }
        let count = match options.retry_count {
            Some(n) if n >= 0 => n as u64,
            _ if options.justid => nack.count,
            _ => nack.count + 1,
        };
        g.set_nack(&name, id, Nack { consumer: consumer.clone(), delivered_ms: delivered, count }, ops);
        items.push(match (options.justid, stream.entries.get(&id)) {
            (true, _) => id.reply(),
            (false, Some(fields)) => entry_reply(id, fields),
            (false, None) => Value::Nil,
        });
    }
    if touched {
        g.mark_active(&name, consumer, now_ms, ops);
    }
    stream.put_back(name, g);
    Ok(Value::Array(items))
}

/// Largest XAUTOCLAIM COUNT (Redis: LONG_MAX / 16).
const MAX_AUTOCLAIM_COUNT: i64 = i64::MAX / 16;
/// PEL entries XAUTOCLAIM examines per entry it may claim.
const ATTEMPTS_FACTOR: usize = 10;

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT n] [JUSTID]:
/// `[next cursor, claimed, deleted IDs]`.
pub(super) fn xautoclaim(ks: &mut KeyState, key: &[u8], args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [group, consumer, min_idle, start, options @ ..] = args else {
        return Err(Value::err(errors::arity("xautoclaim")));
    };
    let min_idle = min_idle_arg(min_idle, "XAUTOCLAIM")?;
    let start = id::parse_bound(start, true)?;
    let mut count: usize = 100;
    let mut justid = false;
    let mut j = 0;
    while j < options.len() {
        if options[j].eq_ignore_ascii_case(b"count") && j + 1 < options.len() {
            let n = parse_count(&options[j + 1])
                .ok()
                .filter(|n| (1..=MAX_AUTOCLAIM_COUNT).contains(n))
                .ok_or_else(|| Value::err("ERR COUNT must be > 0"))?;
            count = usize::try_from(n).unwrap_or(usize::MAX);
            j += 1;
        } else if options[j].eq_ignore_ascii_case(b"justid") {
            justid = true;
        } else {
            return Err(Value::err(errors::SYNTAX));
        }
        j += 1;
    }
    let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Err(nogroup(key, group)) };
    let Some((name, mut g)) = stream.take_group(group) else { return Err(nogroup(key, group)) };
    let mut attempts = count.saturating_mul(ATTEMPTS_FACTOR);
    // Only as many PEL IDs as can be looked at (one more for the cursor).
    let candidates: Vec<StreamId> =
        g.pel.range(start..).take(attempts.saturating_add(1)).map(|(id, _)| *id).collect();
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut touched = false;
    let mut next = 0;
    while attempts > 0 && count > 0 && next < candidates.len() {
        let id = candidates[next];
        next += 1;
        attempts -= 1;
        if !stream.entries.contains_key(&id) {
            g.drop_nack(&name, id, ops);
            deleted.push(id.reply());
            count -= 1;
            continue;
        }
        let Some(nack) = g.pel.get(&id).cloned() else { continue };
        if min_idle > 0 && now_ms.saturating_sub(nack.delivered_ms) < min_idle {
            continue;
        }
        if !touched {
            g.touch_consumer(&name, consumer, now_ms, ops);
            touched = true;
        }
        let delivered = if justid { nack.count } else { nack.count + 1 };
        g.set_nack(
            &name,
            id,
            Nack { consumer: consumer.clone(), delivered_ms: now_ms, count: delivered },
            ops,
        );
        claimed.push(match (justid, stream.entries.get(&id)) {
            (false, Some(fields)) => entry_reply(id, fields),
            _ => id.reply(),
        });
        count -= 1;
    }
    let cursor = candidates.get(next).copied().unwrap_or(StreamId::ZERO);
    if touched {
        g.mark_active(&name, consumer, now_ms, ops);
    }
    stream.put_back(name, g);
    Ok(Value::Array(vec![cursor.reply(), Value::Array(claimed), Value::Array(deleted)]))
}

#[cfg(test)]
mod tests {
    use super::super::super::lists::test_support::*;
    use super::*;

    fn stream_with_group(ids: &[&str]) -> KeyState {
        let mut ks = KeyState::default();
        for id in ids {
            run(&mut ks, &["xadd", "s", id, "f", id]);
        }
        assert_eq!(run(&mut ks, &["xgroup", "s", "create", "g", "0"]), Value::ok());
        ks
    }

    fn entry(id: &str) -> Value {
        Value::Array(vec![bulk(id), bulks(&["f", id])])
    }

    #[test]
    fn a_group_delivers_each_entry_once_and_tracks_it() {
        let mut ks = stream_with_group(&["1-1", "2-1", "3-1"]);
        let read = |ks: &mut KeyState, c: &str, n: &str, from: &str| {
            run(ks, &["orbit.xreadgroup", "s", "g", c, n, "0", from])
        };
        assert_eq!(read(&mut ks, "a", "2", ">"), Value::Array(vec![entry("1-1"), entry("2-1")]));
        assert_eq!(read(&mut ks, "b", "0", ">"), Value::Array(vec![entry("3-1")]));
        assert_eq!(read(&mut ks, "b", "0", ">"), Value::Nil);
        assert_eq!(read(&mut ks, "a", "0", "0"), Value::Array(vec![entry("1-1"), entry("2-1")]));
        let summary = run(&mut ks, &["xpending", "s", "g"]);
        let expected = Value::Array(vec![
            Value::Int(3),
            bulk("1-1"),
            bulk("3-1"),
            Value::Array(vec![bulks(&["a", "2"]), bulks(&["b", "1"])]),
        ]);
        assert_eq!(summary, expected);
        let detail = run(&mut ks, &["xpending", "s", "g", "-", "+", "10", "a"]);
        let Value::Array(rows) = detail else { panic!("not an array") };
        assert_eq!(rows[0], Value::Array(vec![bulk("1-1"), bulk("a"), Value::Int(0), Value::Int(2)]));
        assert_eq!(run(&mut ks, &["xack", "s", "g", "1-1", "1-1", "9-9"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["xdel", "s", "2-1"]), Value::Int(1));
        assert_eq!(
            read(&mut ks, "a", "0", "0"),
            Value::Array(vec![Value::Array(vec![bulk("2-1"), Value::NilArray])])
        );
    }

    #[test]
    fn claims_move_entries_and_drop_deleted_ones() {
        let mut ks = stream_with_group(&["1-1", "2-1", "3-1"]);
        run(&mut ks, &["orbit.xreadgroup", "s", "g", "a", "0", "0", ">"]);
        assert_eq!(run(&mut ks, &["xclaim", "s", "g", "b", "0", "1-1", "justid"]), bulks(&["1-1"]));
        assert_eq!(run(&mut ks, &["xclaim", "s", "g", "b", "1000", "2-1"]), Value::Array(vec![]));
        assert_eq!(
            run(&mut ks, &["xclaim", "s", "g", "b", "0", "2-1", "retrycount", "7"]),
            Value::Array(vec![entry("2-1")])
        );
        assert_eq!(
            run(&mut ks, &["xclaim", "s", "g", "b", "0", "1-1", "bogus"]),
            err("ERR Unrecognized XCLAIM option 'bogus'")
        );
        run(&mut ks, &["xdel", "s", "3-1"]);
        let auto = run(&mut ks, &["xautoclaim", "s", "g", "c", "0", "0", "count", "1"]);
        assert_eq!(
            auto,
            Value::Array(vec![bulk("2-1"), Value::Array(vec![entry("1-1")]), Value::Array(vec![])])
        );
        let auto = run(&mut ks, &["xautoclaim", "s", "g", "c", "0", "2-1", "justid"]);
        assert_eq!(auto, Value::Array(vec![bulk("0-0"), bulks(&["2-1"]), bulks(&["3-1"])]));
        assert_eq!(
            run(&mut ks, &["xautoclaim", "s", "g", "c", "0", "0", "count", "0"]),
            err("ERR COUNT must be > 0")
        );
        assert_eq!(
            run(&mut ks, &["xautoclaim", "s", "h", "c", "0", "0"]),
            err("NOGROUP No such key 's' or consumer group 'h'")
        );
    }

    #[test]
    fn xgroup_errors_follow_redis() {
        let mut ks = stream_with_group(&["1-1"]);
        assert_eq!(
            run(&mut ks, &["xgroup", "s", "create", "g", "$"]),
            err("BUSYGROUP Consumer Group name already exists")
        );
        assert_eq!(
            run(&mut ks, &["xgroup", "s", "createconsumer", "h", "c"]),
            err("NOGROUP No such consumer group 'h' for key name 's'")
        );
        assert_eq!(
            run(&mut ks, &["xgroup", "s", "create", "h", "0", "bogus"]),
            err("ERR unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP.")
        );
        let mut n = KeyState::default();
        assert!(run(&mut n, &["xgroup", "n", "create", "g", "0"]).is_error());
        assert_eq!(run(&mut n, &["xgroup", "n", "create", "g", "$", "mkstream"]), Value::ok());
        assert_eq!(run(&mut ks, &["xgroup", "s", "createconsumer", "g", "c"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["xgroup", "s", "createconsumer", "g", "c"]), Value::Int(0));
        run(&mut ks, &["orbit.xreadgroup", "s", "g", "c", "0", "0", ">"]);
        assert_eq!(run(&mut ks, &["xgroup", "s", "delconsumer", "g", "c"]), Value::Int(1));
        assert_eq!(
            run(&mut ks, &["xpending", "s", "g"]),
            Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::NilArray])
        );
        assert_eq!(run(&mut ks, &["xgroup", "s", "destroy", "g"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["xgroup", "s", "destroy", "g"]), Value::Int(0));
        assert_eq!(
            run(&mut ks, &["orbit.xreadgroup", "s", "g", "c", "0", "0", ">"]),
            err("NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option")
        );
    }
}
