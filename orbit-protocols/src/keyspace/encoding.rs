//! What Redis would tell about one key's value: OBJECT ENCODING, IDLETIME,
//! REFCOUNT, MEMORY USAGE and DEBUG OBJECT, answered inside the key's actor
//! by the internal `orbit.object key what samples thresholds...` (the front
//! door passes the encoding thresholds of CONFIG, in [`Thresholds`]'s
//! order). A missing key answers nil.
//!
//! Encodings follow Redis 7.2's rules from the value as it is now: strings
//! `int` / `embstr` (<= 44 bytes) / `raw`; lists `listpack` while they fit
//! one node of `list-max-listpack-size`, else `quicklist`; hashes and
//! sorted sets `listpack` within their entry and value limits, else
//! `hashtable` / `skiplist`; sets `intset`, `listpack`, `hashtable`;
//! streams `stream`. Redis
//! keeps a converted encoding when a value shrinks again; Orbit's values do
//! not remember their past, so a value that shrank reports what its size
//! implies now.
//!
//! Sizes (MEMORY USAGE) follow Redis' `objectComputeSize` with jemalloc's
//! size classes: exact for the compact encodings, sampled for the others,
//! and for streams their stored bytes. `serializedlength` is the RDB length
//! without LZF compression (for streams, the stored records' length).

use super::{Data, KeyState, List, parse_i64};
use crate::keyspace::value::{Value, errors};
use bytes::Bytes;

/// Commands that do not count as an access of the key (Redis looks their
/// key up with `LOOKUP_NOTOUCH`).
const NO_TOUCH: &[&str] = &["orbit.object", "type", "ttl", "pttl", "expiretime", "pexpiretime", "exists"];

/// Notes an access of the key by command `name` (OBJECT IDLETIME).
pub(super) fn touch(ks: &mut KeyState, name: &str, now_ms: u64) {
    if ks.data.is_some() && !NO_TOUCH.contains(&name) {
        ks.last_access_ms = now_ms;
    }
}

/// The CONFIG parameters that decide encodings, in the order the internal
/// command takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub list_max_listpack_size: i64,
    pub list_compress_depth: i64,
    pub hash_max_listpack_entries: i64,
    pub hash_max_listpack_value: i64,
    pub set_max_intset_entries: i64,
    pub set_max_listpack_entries: i64,
    pub set_max_listpack_value: i64,
    pub zset_max_listpack_entries: i64,
    pub zset_max_listpack_value: i64,
}

impl Default for Thresholds {
    /// Redis 7.2's defaults.
    fn default() -> Self {
        Thresholds {
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
        }
    }
}

impl Thresholds {
    /// The parameters' names, in the order of [`Thresholds::to_args`].
    pub const NAMES: [&str; 9] = [
        "list-max-listpack-size",
        "list-compress-depth",
        "hash-max-listpack-entries",
        "hash-max-listpack-value",
        "set-max-intset-entries",
        "set-max-listpack-entries",
        "set-max-listpack-value",
        "zset-max-listpack-entries",
        "zset-max-listpack-value",
    ];

    fn values(&self) -> [i64; 9] {
        [
            self.list_max_listpack_size,
            self.list_compress_depth,
            self.hash_max_listpack_entries,
            self.hash_max_listpack_value,
            self.set_max_intset_entries,
            self.set_max_listpack_entries,
            self.set_max_listpack_value,
            self.zset_max_listpack_entries,
            self.zset_max_listpack_value,
        ]
    }

    /// From values in [`Thresholds::NAMES`]' order.
    pub fn from_values(v: [i64; 9]) -> Thresholds {
        Thresholds {
            list_max_listpack_size: v[0],
            list_compress_depth: v[1],
            hash_max_listpack_entries: v[2],
            hash_max_listpack_value: v[3],
            set_max_intset_entries: v[4],
            set_max_listpack_entries: v[5],
            set_max_listpack_value: v[6],
            zset_max_listpack_entries: v[7],
            zset_max_listpack_value: v[8],
        }
    }

    pub fn to_args(self) -> Vec<Bytes> {
        self.values().iter().map(|v| Bytes::from(v.to_string())).collect()
    }

    fn parse(args: &[Bytes]) -> Option<Thresholds> {
        let mut values = [0i64; 9];
        if args.len() != values.len() {
            return None;
        }
        for (slot, arg) in values.iter_mut().zip(args) {
            *slot = parse_i64(arg).ok()?;
        }
        Some(Thresholds::from_values(values))
    }
}

pub(super) fn exec(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Option<Value> {
    if name != "orbit.object" {
        return None;
    }
    let parsed = match args {
        [what, samples, rest @ ..] => parse_i64(samples).ok().zip(Thresholds::parse(rest)).map(|p| (what, p)),
        _ => None,
    };
    let Some((what, (samples, limits))) = parsed else { return Some(Value::err(errors::arity(name))) };
    let last_access = ks.last_access_ms;
    let Some(data) = ks.live(now_ms) else { return Some(Value::Nil) };
    let idle = if last_access == 0 { 0 } else { now_ms.saturating_sub(last_access) / 1000 };
    let samples = if samples <= 0 { usize::MAX } else { samples as usize };
    let reply = match &what[..] {
        b"encoding" => Value::bulk(encoding(data, &limits)),
        b"idletime" => Value::Int(idle as i64),
        b"refcount" => Value::Int(if shared_integer(data) { i64::from(i32::MAX) } else { 1 }),
        b"usage" => Value::Int(usage(data, &limits, samples) as i64),
        b"debug" => Value::Simple(debug_line(data, &limits, last_access, idle)),
        _ => Value::err(errors::SYNTAX),
    };
    Some(reply)
}

/// Redis' `string2ll`: the value of a string that is a canonical integer.
fn integer(s: &[u8]) -> Option<i64> {
    if s.len() > 20 { None } else { parse_i64(s).ok() }
}

/// Redis keeps the integers 0..10000 as shared objects (REFCOUNT answers
/// `INT_MAX` for them).
fn shared_integer(data: &Data) -> bool {
    matches!(data, Data::Str(s) if integer(s).is_some_and(|n| (0..10_000).contains(&n)))
}

/// The encoding Redis would use for `data` under `limits`.
pub fn encoding(data: &Data, limits: &Thresholds) -> &'static str {
    let within = |len: usize, max: i64| i64::try_from(len).is_ok_and(|len| len <= max);
    match data {
        Data::Str(s) if integer(s).is_some() => "int",
        Data::Str(s) if s.len() <= 44 => "embstr",
        Data::Str(_) => "raw",
        Data::List(list) if fits_one_node(list.len(), listpack_bytes(list.elements()), limits) => "listpack",
        Data::List(_) => "quicklist",
        Data::Hash(h) => {
            let small = |b: &Bytes| within(b.len(), limits.hash_max_listpack_value);
            if within(h.len(), limits.hash_max_listpack_entries)
                && h.pairs().all(|(f, v)| small(f) && small(v))
            {
                "listpack"
            } else {
                "hashtable"
            }
        }
        Data::Set(set) => {
            if within(set.len(), limits.set_max_intset_entries) && set.members().all(|m| integer(m).is_some())
            {
                "intset"
            } else if within(set.len(), limits.set_max_listpack_entries)
                && set.members().all(|m| within(m.len(), limits.set_max_listpack_value))
            {
                "listpack"
            } else {
                "hashtable"
            }
        }
        Data::ZSet(z) => {
            if within(z.len(), limits.zset_max_listpack_entries)
                && z.pairs().all(|(m, _)| within(m.len(), limits.zset_max_listpack_value))
            {
                "listpack"
            } else {
                "skiplist"
            }
        }
        Data::Stream(_) => "stream",
    }
}

/// Whether `count` elements taking `bytes` as a listpack fit one quicklist
/// node: a positive `list-max-listpack-size` counts entries (and a node
/// stays under 8 kB), a negative one is a size class, -1 = 4 kB ... -5 = 64 kB.
fn fits_one_node(count: usize, bytes: usize, limits: &Thresholds) -> bool {
    let fill = limits.list_max_listpack_size;
    if fill >= 0 {
        return i64::try_from(count).is_ok_and(|c| c <= fill) && bytes <= 8192;
    }
    let level = fill.unsigned_abs().clamp(1, 5) as u32;
    bytes <= 4096usize << (level - 1)
}

/// The bytes of one listpack entry holding `element`.
fn listpack_entry(element: &[u8]) -> usize {
    let body = match integer(element) {
        Some(n) => integer_entry(n),
        None if element.len() <= 63 => 1 + element.len(),
        None if element.len() <= 4095 => 2 + element.len(),
        None => 5 + element.len(),
    };
    let backlen = match body {
        0..=127 => 1,
        128..=16_382 => 2,
        16_383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    };
    body + backlen
}

/// The encoding and data bytes of an integer listpack entry.
fn integer_entry(n: i64) -> usize {
    if (0..=127).contains(&n) {
        1
    } else if (-4096..=4095).contains(&n) {
        2
    } else if i16::try_from(n).is_ok() {
        3
    } else if (-8_388_608..=8_388_607).contains(&n) {
        4
    } else if i32::try_from(n).is_ok() {
        5
    } else {
        9
    }
}

/// A listpack's total bytes: 6 of header, the entries, 1 terminator.
fn listpack_bytes<'a>(elements: impl Iterator<Item = &'a Bytes>) -> usize {
    7 + elements.map(|e| listpack_entry(e)).sum::<usize>()
}

/// A score as a zset listpack stores it: as an integer when it is one.
fn score_entry(score: f64) -> usize {
    let text = crate::keyspace::format_f64(score);
    listpack_entry(text.as_bytes())
}

/// jemalloc's size class for an allocation of `n` bytes.
fn alloc(n: usize) -> usize {
    if n <= 8 {
        return 8;
    }
    let k = usize::BITS - 1 - (n - 1).leading_zeros();
    let step = (1usize << k.saturating_sub(2)).max(16);
    n.div_ceil(step) * step
}

/// An sds string's allocation (header by length, as `sdsReqType`): what
/// MEMORY USAGE counts for the key's name.
pub fn sds(len: usize) -> usize {
    let header = match len {
        0..=31 => 1,
        32..=255 => 3,
        256..=65_535 => 5,
        _ if u32::try_from(len).is_ok() => 9,
        _ => 17,
    };
    alloc(header + len + 1)
}

const ROBJ: usize = 16;
const DICT: usize = 56;
const DICT_ENTRY: usize = 24;

/// A hash table of `n` entries: the dict and its bucket array.
fn dict(n: usize) -> usize {
    DICT + 8 * n.next_power_of_two().max(4)
}

/// The average of `size` over the first `samples` items, times `len`.
fn sampled<T>(
    items: impl Iterator<Item = T>,
    len: usize,
    samples: usize,
    size: impl Fn(T) -> usize,
) -> usize {
    let (total, taken) = items.take(samples).fold((0usize, 0usize), |(t, n), item| (t + size(item), n + 1));
    if taken == 0 { 0 } else { (total as f64 / taken as f64 * len as f64) as usize }
}

/// The quicklist nodes a list takes: (elements, listpack bytes) per node,
/// filled in order as pushes fill them.
fn quicklist_nodes(list: &List, limits: &Thresholds) -> Vec<(usize, usize)> {
    let mut nodes: Vec<(usize, usize)> = Vec::new();
    for element in list.elements() {
        let entry = listpack_entry(element);
        match nodes.last_mut() {
            Some((count, bytes)) if fits_one_node(*count + 1, *bytes + entry, limits) => {
                *count += 1;
                *bytes += entry;
            }
            _ => nodes.push((1, 7 + entry)),
        }
    }
    nodes
}

/// MEMORY USAGE of the value (the caller adds the key and its dict entry).
fn value_usage(data: &Data, limits: &Thresholds, samples: usize) -> usize {
    let encoded = encoding(data, limits);
    match data {
        Data::Str(_) if encoded == "int" => ROBJ,
        Data::Str(s) if encoded == "embstr" => alloc(ROBJ + 3 + s.len() + 1),
        Data::Str(s) => ROBJ + sds(s.len()),
        Data::List(list) if encoded == "listpack" => ROBJ + alloc(listpack_bytes(list.elements())),
        Data::List(list) => {
            let nodes = quicklist_nodes(list, limits);
            ROBJ + 40 + sampled(nodes.iter(), nodes.len(), samples, |(_, bytes)| 40 + alloc(*bytes))
        }
        Data::Hash(h) if encoded == "listpack" => {
            ROBJ + alloc(listpack_bytes(h.pairs().flat_map(|(f, v)| [f, v])))
        }
        Data::Hash(h) => {
            ROBJ + dict(h.len())
                + sampled(h.pairs(), h.len(), samples, |(f, v)| DICT_ENTRY + sds(f.len()) + sds(v.len()))
        }
        Data::Set(set) if encoded == "intset" => {
            let width = set.members().filter_map(|m| integer(m)).map(int_width).max().unwrap_or(2);
            ROBJ + alloc(8 + width * set.len())
        }
        Data::Set(set) if encoded == "listpack" => ROBJ + alloc(listpack_bytes(set.members())),
        Data::Set(set) => {
            ROBJ + dict(set.len()) + sampled(set.members(), set.len(), samples, |m| DICT_ENTRY + sds(m.len()))
        }
        Data::ZSet(z) if encoded == "listpack" => {
            let bytes = 7 + z.pairs().map(|(m, score)| listpack_entry(m) + score_entry(score)).sum::<usize>();
            ROBJ + alloc(bytes)
        }
        Data::ZSet(z) => {
            // zset, zskiplist, the dict, the skiplist's 32-level header.
            let fixed = ROBJ + 16 + 32 + dict(z.len()) + alloc(24 + 32 * 16);
            fixed + sampled(z.pairs(), z.len(), samples, |(m, _)| sds(m.len()) + DICT_ENTRY + alloc(24 + 16))
        }
        // The stream struct, then its entries and groups at their stored size.
        Data::Stream(stream) => ROBJ + 48 + stream_bytes(stream).0,
    }
}

/// A stream's stored bytes and records (its entries, groups, consumers
/// and pending entries).
fn stream_bytes(stream: &super::Stream) -> (usize, usize) {
    let records = stream.storage_entries();
    (records.iter().map(|(sub, value)| sub.len() + value.len()).sum(), records.len())
}

/// Bytes per member of an intset holding `n`.
fn int_width(n: i64) -> usize {
    if i16::try_from(n).is_ok() {
        2
    } else if i32::try_from(n).is_ok() {
        4
    } else {
        8
    }
}

fn usage(data: &Data, limits: &Thresholds, samples: usize) -> usize {
    value_usage(data, limits, samples) + DICT_ENTRY
}

/// The length RDB uses for a length or count.
fn rdb_len(n: usize) -> usize {
    match n {
        0..=63 => 1,
        64..=16_383 => 2,
        _ if u32::try_from(n).is_ok() => 5,
        _ => 9,
    }
}

/// A string as RDB writes it (integers of up to 32 bits in 2 to 5 bytes).
fn rdb_string(s: &[u8]) -> usize {
    match integer(s) {
        Some(n) if s.len() <= 11 && i8::try_from(n).is_ok() => 2,
        Some(n) if s.len() <= 11 && i16::try_from(n).is_ok() => 3,
        Some(n) if s.len() <= 11 && i32::try_from(n).is_ok() => 5,
        _ => rdb_len(s.len()) + s.len(),
    }
}

/// The blob of a compact encoding, as RDB writes it.
fn rdb_blob(bytes: usize) -> usize {
    rdb_len(bytes) + bytes
}

/// DEBUG OBJECT's `serializedlength`: the value's RDB length, uncompressed.
fn serialized_length(data: &Data, limits: &Thresholds) -> usize {
    let encoded = encoding(data, limits);
    match data {
        Data::Str(s) => rdb_string(s),
        Data::List(list) => {
            let nodes = quicklist_nodes(list, limits);
            rdb_len(nodes.len()) + nodes.iter().map(|(_, bytes)| 1 + rdb_blob(*bytes)).sum::<usize>()
        }
        Data::Hash(h) if encoded == "listpack" => {
            rdb_blob(listpack_bytes(h.pairs().flat_map(|(f, v)| [f, v])))
        }
        Data::Hash(h) => {
            rdb_len(h.len()) + h.pairs().map(|(f, v)| rdb_string(f) + rdb_string(v)).sum::<usize>()
        }
        Data::Set(set) if encoded == "intset" => {
            let width = set.members().filter_map(|m| integer(m)).map(int_width).max().unwrap_or(2);
            rdb_blob(8 + width * set.len())
        }
        Data::Set(set) if encoded == "listpack" => rdb_blob(listpack_bytes(set.members())),
        Data::Set(set) => rdb_len(set.len()) + set.members().map(|m| rdb_string(m)).sum::<usize>(),
        Data::ZSet(z) if encoded == "listpack" => {
            rdb_blob(7 + z.pairs().map(|(m, score)| listpack_entry(m) + score_entry(score)).sum::<usize>())
        }
        Data::ZSet(z) => rdb_len(z.len()) + z.pairs().map(|(m, _)| rdb_string(m) + 8).sum::<usize>(),
        Data::Stream(stream) => {
            let (bytes, records) = stream_bytes(stream);
            rdb_len(records) + bytes
        }
    }
}

/// DEBUG OBJECT's line, in Redis' format. An Orbit value has no address:
/// `Value at` is `0x0`, kept so that clients parsing the line find it.
fn debug_line(data: &Data, limits: &Thresholds, last_access_ms: u64, idle: u64) -> String {
    let encoded = encoding(data, limits);
    let refcount = if shared_integer(data) { i64::from(i32::MAX) } else { 1 };
    let lru = (last_access_ms / 1000) & ((1 << 24) - 1);
    let mut line = format!(
        "Value at:0x0 refcount:{refcount} encoding:{encoded} serializedlength:{} lru:{lru} lru_seconds_idle:{idle}",
        serialized_length(data, limits)
    );
    if let Data::List(list) = data
        && encoded == "quicklist"
    {
        let nodes = quicklist_nodes(list, limits);
        let average = list.len() as f64 / nodes.len().max(1) as f64;
        let uncompressed: usize = nodes.iter().map(|(_, bytes)| bytes).sum();
        line.push_str(&format!(
            " ql_nodes:{} ql_avg_node:{average:.2} ql_listpack_max:{} ql_compressed:{} ql_uncompressed_size:{uncompressed}",
            nodes.len(),
            limits.list_max_listpack_size,
            u8::from(limits.list_compress_depth != 0),
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ks: &mut KeyState, words: &[&str]) -> Value {
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        ks.exec(&argv, 1_000_000)
    }

    fn object(ks: &mut KeyState, what: &str, limits: &Thresholds, now_ms: u64) -> Value {
        let mut argv = vec![
            Bytes::from_static(b"orbit.object"),
            Bytes::from_static(b"k"),
            Bytes::copy_from_slice(what.as_bytes()),
            Bytes::from_static(b"5"),
        ];
        argv.extend(limits.to_args());
        ks.exec(&argv, now_ms)
    }

    fn encoding_of(ks: &mut KeyState, limits: &Thresholds) -> Value {
        object(ks, "encoding", limits, 1_000_000)
    }

    #[test]
    fn strings_are_int_embstr_or_raw() {
        let limits = Thresholds::default();
        let mut ks = KeyState::default();
        assert_eq!(encoding_of(&mut ks, &limits), Value::Nil, "a missing key");
        for (value, expected) in [("12345", "int"), ("-7", "int"), ("012", "embstr"), ("x", "embstr")] {
            run(&mut ks, &["set", "k", value]);
            assert_eq!(encoding_of(&mut ks, &limits), Value::bulk(expected), "{value}");
        }
        run(&mut ks, &["set", "k", &"a".repeat(44)]);
        assert_eq!(encoding_of(&mut ks, &limits), Value::bulk("embstr"));
        run(&mut ks, &["set", "k", &"a".repeat(45)]);
        assert_eq!(encoding_of(&mut ks, &limits), Value::bulk("raw"));
    }

    #[test]
    fn collections_convert_at_their_thresholds() {
        let limits = Thresholds {
            hash_max_listpack_entries: 2,
            set_max_intset_entries: 2,
            set_max_listpack_entries: 3,
            zset_max_listpack_entries: 2,
            list_max_listpack_size: 2,
            ..Thresholds::default()
        };
        let mut ks = KeyState::default();
        run(&mut ks, &["hset", "k", "a", "1", "b", "2"]);
        assert_eq!(encoding_of(&mut ks, &limits), Value::bulk("listpack"));
        run(&mut ks, &["hset", "k", "c", "3"]);
        assert_eq!(encoding_of(&mut ks, &limits), Value::bulk("hashtable"));
        run(&mut ks, &["del", "k"]);
        run(&mut ks, &["sadd", "k", "1", "2"]);
        assert_eq!(encoding_of(&mut ks, &limits), Value::bulk("intset"));
        run(&mut ks, &["sadd", "k", "3"]);
        assert_eq!(encoding_of(&mut ks, &limits), Value::bulk("listpack"));
        run(&mut ks, &["sadd", "k", "x"]);
        assert_eq!(encoding_of(&mut ks, &limits), Value::bulk("hashtable"));
        run(&mut ks, &["del", "k"]);
        run(&mut ks, &["zadd", "k", "1", "a", "2", "b"]);
        assert_eq!(encoding_of(&mut ks, &limits), Value::bulk("listpack"));
        run(&mut ks, &["zadd", "k", "3", &"m".repeat(65)]);
        assert_eq!(encoding_of(&mut ks, &limits), Value::bulk("skiplist"));
        run(&mut ks, &["del", "k"]);
        run(&mut ks, &["rpush", "k", "a", "b"]);
        assert_eq!(encoding_of(&mut ks, &limits), Value::bulk("listpack"));
        run(&mut ks, &["rpush", "k", "c"]);
        assert_eq!(encoding_of(&mut ks, &limits), Value::bulk("quicklist"));
        let by_size = Thresholds::default();
        run(&mut ks, &["del", "k"]);
        run(&mut ks, &["rpush", "k", &"x".repeat(9000)]);
        assert_eq!(encoding_of(&mut ks, &by_size), Value::bulk("quicklist"), "over 8 kB");
    }

    #[test]
    fn memory_usage_matches_redis_for_compact_values() {
        // Numbers redis-server 7 (jemalloc) answers for MEMORY USAGE, minus
        // the key's own sds ("k": 8 bytes).
        let limits = Thresholds::default();
        let mut ks = KeyState::default();
        let cases: [(&[&str], i64); 5] = [
            (&["set", "k", "bar"], 56),
            (&["set", "k", "12345"], 40),
            (&["hset", "k", "f", "v"], 56),
            (&["sadd", "k", "1", "2", "3"], 56),
            (&["zadd", "k", "1", "a"], 56),
        ];
        for (command, expected) in cases {
            run(&mut ks, &["del", "k"]);
            run(&mut ks, command);
            assert_eq!(object(&mut ks, "usage", &limits, 1_000_000), Value::Int(expected), "{command:?}");
        }
        run(&mut ks, &["set", "k", &"a".repeat(83)]);
        assert_eq!(object(&mut ks, "usage", &limits, 1_000_000), Value::Int(136));
    }

    #[test]
    fn idle_time_counts_from_the_last_access_but_not_from_object_itself() {
        let limits = Thresholds::default();
        let mut ks = KeyState::default();
        run(&mut ks, &["set", "k", "v"]);
        assert_eq!(object(&mut ks, "idletime", &limits, 1_000_000 + 7_500), Value::Int(7));
        assert_eq!(object(&mut ks, "idletime", &limits, 1_000_000 + 9_000), Value::Int(9));
        ks.exec(&[Bytes::from_static(b"get"), Bytes::from_static(b"k")], 1_000_000 + 9_000);
        assert_eq!(object(&mut ks, "idletime", &limits, 1_000_000 + 10_000), Value::Int(1));
    }

    #[test]
    fn debug_object_reports_redis_fields() {
        let limits = Thresholds::default();
        let mut ks = KeyState::default();
        run(&mut ks, &["set", "k", "bar"]);
        let Value::Simple(line) = object(&mut ks, "debug", &limits, 1_000_000) else { panic!("a status") };
        assert!(
            line.starts_with("Value at:0x0 refcount:1 encoding:embstr serializedlength:4 lru:"),
            "{line}"
        );
        run(&mut ks, &["set", "k", "5"]);
        assert_eq!(object(&mut ks, "refcount", &limits, 1_000_000), Value::Int(i64::from(i32::MAX)));
        let quick = Thresholds { list_max_listpack_size: 2, ..limits };
        run(&mut ks, &["del", "k"]);
        run(&mut ks, &["rpush", "k", "a", "b", "c"]);
        let Value::Simple(line) = object(&mut ks, "debug", &quick, 1_000_000) else { panic!("a status") };
        assert!(
            line.contains("encoding:quicklist") && line.contains(" ql_nodes:2 ql_avg_node:1.50"),
            "{line}"
        );
    }

    #[test]
    fn size_classes_follow_jemalloc() {
        let classes: Vec<usize> = [1, 8, 9, 17, 23, 33, 100, 129, 200, 257, 4097].map(alloc).to_vec();
        assert_eq!(classes, vec![8, 8, 16, 32, 32, 48, 112, 160, 224, 320, 5120]);
    }
}
