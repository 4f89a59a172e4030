//! XADD, XLEN, XRANGE/XREVRANGE, XDEL, XTRIM, XSETID, and the per-key
//! reads XREAD is made of (`orbit.xread`, `orbit.xlast`).

use super::id::{self, StreamId};
use super::{NODE_ENTRIES, Stream, create, entry_reply, parse_count, stream_mut, stream_ref};
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{KeyState, WriteOp};
use bytes::Bytes;

pub const NOT_GREATER: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
const EXHAUSTED: &str = "ERR The stream has exhausted the last possible ID, unable to add more items";

/// Redis' LIMIT when `~` is given without one (100 × node entries).
const DEFAULT_APPROX_LIMIT: usize = 100 * NODE_ENTRIES;

#[derive(Debug, Clone, Copy)]
enum Strategy {
    MaxLen(u64),
    MinId(StreamId),
}

/// A trimming request (MAXLEN/MINID, `=`/`~`, LIMIT; 0 = no limit).
#[derive(Debug, Clone, Copy)]
struct Trim {
    strategy: Strategy,
    approx: bool,
    limit: usize,
}

/// What XADD's options said, and where its ID argument sits.
#[derive(Debug, Default)]
struct AddArgs {
    trim: Option<Trim>,
    no_mkstream: bool,
    /// The explicit ID and whether its sequence was given; `None` for `*`.
    id: Option<(StreamId, bool)>,
    /// Index of the ID argument (`args.len()` if none).
    id_at: usize,
}

fn lower(arg: &[u8]) -> Vec<u8> {
    arg.to_ascii_lowercase()
}

/// Parses the options of XADD (`xadd`) or XTRIM, as Redis'
/// `streamParseAddOrTrimArgsOrReply`.
fn parse_add_or_trim(args: &[Bytes], xadd: bool) -> Result<AddArgs, Value> {
    let mut parsed = AddArgs::default();
    let mut strategy = None;
    let mut approx = false;
    let mut limit: Option<i64> = None;
    let mut i = 0;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = lower(&args[i]);
        match opt.as_slice() {
            b"*" if xadd => break,
            b"maxlen" | b"minid" if more > 0 => {
                if strategy.is_some() {
                    return Err(Value::err(
                        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                    ));
                }
                approx = false;
                let next = &args[i + 1][..];
                if more >= 2 && (next == b"~" || next == b"=") {
                    approx = next == b"~";
                    i += 1;
                }
                let value = &args[i + 1];
                strategy = Some(if opt == b"maxlen" {
                    let n = parse_count(value)?;
                    if n < 0 {
                        return Err(Value::err("ERR The MAXLEN argument must be >= 0."));
                    }
                    Strategy::MaxLen(n as u64)
                } else {
                    Strategy::MinId(id::parse_strict(value)?)
                });
                i += 1;
            }
            b"limit" if more > 0 => {
                let n = parse_count(&args[i + 1])?;
                if n < 0 {
                    return Err(Value::err("ERR The LIMIT argument must be >= 0."));
                }
                limit = Some(n);
                i += 1;
            }
            b"nomkstream" if xadd => parsed.no_mkstream = true,
            _ if xadd => {
                parsed.id = Some(id::parse_add(&args[i])?);
                break;
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 1;
    }
    parsed.id_at = i;
    if limit.is_some_and(|l| l != 0) && strategy.is_none() {
        return Err(Value::err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && strategy.is_none() {
        return Err(Value::err("ERR syntax error, XTRIM must be called with a trimming strategy"));
    }
    let limit = match limit {
        Some(_) if !approx => {
            return Err(Value::err("ERR syntax error, LIMIT cannot be used without the special ~ option"));
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None if approx => DEFAULT_APPROX_LIMIT,
        None => 0,
    };
    parsed.trim = strategy.map(|strategy| Trim { strategy, approx, limit });
    Ok(parsed)
}

impl Stream {
    /// Trims as Redis' `streamTrim`: exactly, or (`~`) by whole blocks of
    /// [`NODE_ENTRIES`] from the head, within the LIMIT. Returns how many
    /// entries were removed.
    fn trim(&mut self, trim: &Trim, ops: &mut Vec<WriteOp>) -> usize {
        let mut deleted = 0usize;
        loop {
            if let Strategy::MaxLen(max) = trim.strategy
                && self.len() as u64 <= max
            {
                break;
            }
            let block: Vec<StreamId> = self.entries.keys().take(NODE_ENTRIES).copied().collect();
            let Some(&last) = block.last() else { break };
            if trim.limit != 0 && deleted + block.len() > trim.limit {
                break;
            }
            let whole = match trim.strategy {
                Strategy::MaxLen(max) => (self.len() - block.len()) as u64 >= max,
                Strategy::MinId(min) => last < min,
            };
            if whole {
                deleted += block.len();
                for id in block {
                    self.remove_entry(id, ops);
                }
                continue;
            }
            if trim.approx {
                break;
            }
            // Exact trimming inside the block, one entry at a time.
            for id in block {
                let done = match trim.strategy {
                    Strategy::MaxLen(max) => self.len() as u64 <= max,
                    Strategy::MinId(min) => id >= min,
                };
                if done {
                    break;
                }
                self.remove_entry(id, ops);
                deleted += 1;
            }
            break;
        }
        deleted
    }
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [...]
pub(super) fn xadd(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let parsed = parse_add_or_trim(args, true)?;
    let fields = args.get(parsed.id_at + 1..).unwrap_or_default();
    if fields.len() < 2 || !fields.len().is_multiple_of(2) {
        return Err(Value::err(errors::arity("xadd")));
    }
    if let Some((given, true)) = parsed.id
        && given.is_zero()
    {
        return Err(Value::err("ERR The ID specified in XADD must be greater than 0-0"));
    }
    if stream_ref(ks, now_ms)?.is_none() {
        if parsed.no_mkstream {
            return Ok(Value::Nil);
        }
        create(ks);
    }
    let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Ok(Value::Nil) };
    if stream.last_id == StreamId::MAX {
        return Err(Value::err(EXHAUSTED));
    }
    let new_id = match parsed.id {
        Some((given, true)) => given,
        Some((given, false)) if given.ms == stream.last_id.ms => {
            stream.last_id.next().filter(|n| n.ms == given.ms).ok_or_else(|| Value::err(NOT_GREATER))?
        }
        Some((given, false)) => given,
        None if now_ms > stream.last_id.ms => StreamId::new(now_ms, 0),
        None => stream.last_id.next().ok_or_else(|| Value::err(EXHAUSTED))?,
    };
    if new_id <= stream.last_id {
        return Err(Value::err(NOT_GREATER));
    }
    ops.push(WriteOp::Put(super::storage::entry_key(new_id), super::storage::encode_fields(fields)));
    stream.entries.insert(new_id, fields.to_vec());
    stream.last_id = new_id;
    stream.entries_added += 1;
    if let Some(trim) = &parsed.trim {
        stream.trim(trim, ops);
    }
    stream.put_meta(ops);
    Ok(new_id.reply())
}

pub(super) fn xlen(ks: &mut KeyState, now_ms: u64) -> Result<Value, Value> {
    Ok(Value::Int(stream_ref(ks, now_ms)?.map_or(0, |s| s.len() as i64)))
}

/// XRANGE key start end [COUNT n], XREVRANGE key end start [COUNT n].
pub(super) fn xrange(ks: &mut KeyState, args: &[Bytes], now_ms: u64, rev: bool) -> Result<Value, Value> {
    let [first, second, options @ ..] = args else { return Err(Value::err(errors::arity("xrange"))) };
    let (start, end) = if rev { (second, first) } else { (first, second) };
    let start = id::parse_bound(start, true)?;
    let end = id::parse_bound(end, false)?;
    let mut count: Option<i64> = None;
    let mut i = 0;
    while i < options.len() {
        if options[i].eq_ignore_ascii_case(b"count") && i + 1 < options.len() {
            count = Some(parse_count(&options[i + 1])?.max(0));
            i += 2;
        } else {
            return Err(Value::err(errors::SYNTAX));
        }
    }
    let Some(stream) = stream_ref(ks, now_ms)? else { return Ok(Value::Array(Vec::new())) };
    if count == Some(0) {
        return Ok(Value::NilArray);
    }
    let limit = count.map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX));
    let range = stream.range(start, end);
    let items: Vec<Value> = if rev {
        range.rev().take(limit).map(|(id, f)| entry_reply(*id, f)).collect()
    } else {
        range.take(limit).map(|(id, f)| entry_reply(*id, f)).collect()
    };
    Ok(Value::Array(items))
}

pub(super) fn xdel(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Ok(Value::Int(0)) };
    let ids = args.iter().map(|a| id::parse_strict(a)).collect::<Result<Vec<_>, _>>()?;
    let mut deleted = 0;
    for id in ids {
        if stream.remove_entry(id, ops) {
            stream.max_deleted = stream.max_deleted.max(id);
            deleted += 1;
        }
    }
    if deleted > 0 {
        stream.put_meta(ops);
    }
    Ok(Value::Int(deleted))
}

pub(super) fn xtrim(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    if stream_ref(ks, now_ms)?.is_none() {
        return Ok(Value::Int(0));
    }
    let parsed = parse_add_or_trim(args, false)?;
    let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Ok(Value::Int(0)) };
    let Some(trim) = parsed.trim else { return Ok(Value::Int(0)) };
    let deleted = stream.trim(&trim, ops);
    if deleted > 0 {
        stream.put_meta(ops);
    }
    Ok(Value::Int(deleted as i64))
}

/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
pub(super) fn xsetid(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let Some((last, options)) = args.split_first() else { return Err(Value::err(errors::arity("xsetid"))) };
    let last = id::parse_strict(last)?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::ZERO;
    let mut i = 0;
    while i < options.len() {
        let has_value = i + 1 < options.len();
        match lower(&options[i]).as_slice() {
            b"entriesadded" if has_value => {
                let n = parse_count(&options[i + 1])?;
                if n < 0 {
                    return Err(Value::err("ERR entries_added must be positive"));
                }
                entries_added = Some(n as u64);
            }
            b"maxdeletedid" if has_value => {
                max_deleted = id::parse_strict(&options[i + 1])?;
                if last < max_deleted {
                    return Err(Value::err(
                        "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                    ));
                }
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 2;
    }
    let Some((stream, ops)) = stream_mut(ks, now_ms)? else { return Err(Value::err(errors::NO_SUCH_KEY)) };
    if last < stream.max_deleted {
        return Err(Value::err(
            "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id",
        ));
    }
    if let Some(&top) = stream.entries.keys().next_back() {
        if last < top {
            return Err(Value::err(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| (stream.len() as u64) > n) {
            return Err(Value::err(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    stream.last_id = last;
    if let Some(n) = entries_added {
        stream.entries_added = n;
    }
    if !max_deleted.is_zero() {
        stream.max_deleted = max_deleted;
    }
    stream.put_meta(ops);
    Ok(Value::ok())
}

/// `orbit.xread key id count`: the entries after `id` (at most `count`, 0
/// for all); an empty array for a missing key.
pub(super) fn read_after(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let [after, count] = args else { return Err(Value::err(errors::arity("orbit.xread"))) };
    let after = id::parse_loose(after, 0)?;
    let count = usize::try_from(parse_count(count)?).unwrap_or(0);
    let Some(stream) = stream_ref(ks, now_ms)? else { return Ok(Value::Array(Vec::new())) };
    let Some(start) = after.next() else { return Ok(Value::Array(Vec::new())) };
    let limit = if count == 0 { usize::MAX } else { count };
    let items = stream.range(start, StreamId::MAX).take(limit).map(|(id, f)| entry_reply(*id, f)).collect();
    Ok(Value::Array(items))
}

/// `orbit.xlast key`: the stream's last ID (`$`), 0-0 for a missing key.
pub(super) fn last_id(ks: &mut KeyState, now_ms: u64) -> Result<Value, Value> {
    Ok(stream_ref(ks, now_ms)?.map_or(StreamId::ZERO, |s| s.last_id).reply())
}

#[cfg(test)]
mod tests {
    use super::super::super::lists::test_support::*;
    use super::*;

    fn entry(id: &str, fields: &[&str]) -> Value {
        Value::Array(vec![bulk(id), bulks(fields)])
    }

    #[test]
    fn xadd_generates_and_checks_ids() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["xadd", "s", "*", "a", "1"]), bulk(&format!("{NOW}-0")));
        assert_eq!(run(&mut ks, &["xadd", "s", "*", "a", "1"]), bulk(&format!("{NOW}-1")));
        let next = format!("{NOW}-*");
        assert_eq!(run(&mut ks, &["xadd", "s", &next, "a", "1"]), bulk(&format!("{NOW}-2")));
        assert_eq!(run(&mut ks, &["xadd", "s", "5-1", "a", "1"]), err(NOT_GREATER));
        assert_eq!(
            run(&mut ks, &["xadd", "s", "0-0", "a", "1"]),
            err("ERR The ID specified in XADD must be greater than 0-0")
        );
        assert_eq!(
            run(&mut ks, &["xadd", "s", "*", "a"]),
            err("ERR wrong number of arguments for 'xadd' command")
        );
        // Each key is its own state.
        let mut n = KeyState::default();
        assert_eq!(run(&mut n, &["xadd", "n", "nomkstream", "*", "a", "1"]), Value::Nil);
        assert_eq!(run(&mut n, &["xlen", "n"]), Value::Int(0));
        let mut m = KeyState::default();
        let max = StreamId::MAX.to_string();
        assert_eq!(run(&mut m, &["xadd", "m", &max, "a", "1"]), bulk(&max));
        assert_eq!(run(&mut m, &["xadd", "m", "*", "a", "1"]), err(EXHAUSTED));
    }

    #[test]
    fn xadd_trims_exactly_or_by_whole_blocks() {
        let mut ks = KeyState::default();
        for i in 1..=250 {
            run(&mut ks, &["xadd", "s", &format!("{i}-0"), "f", "v"]);
        }
        assert_eq!(run(&mut ks, &["xadd", "s", "maxlen", "~", "100", "251-0", "f", "v"]), bulk("251-0"));
        assert_eq!(run(&mut ks, &["xlen", "s"]), Value::Int(151), "one whole block of 100 went");
        assert_eq!(run(&mut ks, &["xtrim", "s", "maxlen", "=", "10"]), Value::Int(141));
        assert_eq!(run(&mut ks, &["xtrim", "s", "minid", "245"]), Value::Int(3));
        assert_eq!(
            run(&mut ks, &["xrange", "s", "-", "+", "count", "1"]),
            Value::Array(vec![entry("245-0", &["f", "v"])])
        );
        assert_eq!(
            run(&mut ks, &["xtrim", "s", "maxlen", "-1"]),
            err("ERR The MAXLEN argument must be >= 0.")
        );
        assert_eq!(
            run(&mut ks, &["xtrim", "s", "maxlen", "1", "limit", "5"]),
            err("ERR syntax error, LIMIT cannot be used without the special ~ option")
        );
        assert_eq!(
            run(&mut ks, &["xadd", "s", "maxlen", "1", "minid", "1", "*", "f", "v"]),
            err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")
        );
        assert_eq!(run(&mut KeyState::default(), &["xtrim", "nope", "bogus"]), Value::Int(0));
    }

    #[test]
    fn ranges_follow_bounds_and_counts() {
        let mut ks = KeyState::default();
        for id in ["1-1", "1-2", "2-1"] {
            run(&mut ks, &["xadd", "s", id, "k", id]);
        }
        assert_eq!(
            run(&mut ks, &["xrange", "s", "(1-1", "+"]),
            Value::Array(vec![entry("1-2", &["k", "1-2"]), entry("2-1", &["k", "2-1"])])
        );
        assert_eq!(
            run(&mut ks, &["xrange", "s", "1", "1"]),
            Value::Array(vec![entry("1-1", &["k", "1-1"]), entry("1-2", &["k", "1-2"])])
        );
        assert_eq!(
            run(&mut ks, &["xrevrange", "s", "+", "-", "count", "1"]),
            Value::Array(vec![entry("2-1", &["k", "2-1"])])
        );
        assert_eq!(run(&mut ks, &["xrange", "s", "-", "+", "count", "0"]), Value::NilArray);
        assert_eq!(run(&mut ks, &["xrange", "s", "+", "-"]), Value::Array(vec![]));
        assert_eq!(run(&mut ks, &["xrange", "s", "-", "+", "bogus"]), err(errors::SYNTAX));
        assert_eq!(
            run(&mut KeyState::default(), &["xrange", "nope", "-", "+", "count", "0"]),
            Value::Array(vec![])
        );
        assert_eq!(run(&mut ks, &["xdel", "s", "1-2", "9-9"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["xdel", "s", "+"]), err(id::INVALID));
        assert_eq!(
            run(&mut ks, &["orbit.xread", "s", "1-1", "0"]),
            Value::Array(vec![entry("2-1", &["k", "2-1"])])
        );
        assert_eq!(run(&mut ks, &["orbit.xlast", "s"]), bulk("2-1"));
    }

    #[test]
    fn xsetid_guards_monotonicity() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["xsetid", "s", "1-1"]), err(errors::NO_SUCH_KEY));
        run(&mut ks, &["xadd", "s", "5-5", "a", "1"]);
        assert_eq!(
            run(&mut ks, &["xsetid", "s", "5-4"]),
            err("ERR The ID specified in XSETID is smaller than the target stream top item")
        );
        assert_eq!(
            run(&mut ks, &["xsetid", "s", "6-0", "entriesadded", "0"]),
            err("ERR The entries_added specified in XSETID is smaller than the target stream length")
        );
        assert_eq!(run(&mut ks, &["xsetid", "s", "6-0", "maxdeletedid", "5-9"]), Value::ok());
        assert_eq!(run(&mut ks, &["xadd", "s", "6-0", "a", "1"]), err(NOT_GREATER));
        assert_eq!(run(&mut ks, &["xadd", "s", "6-*", "a", "1"]), bulk("6-1"));
    }
}
