//! SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
//! [ALPHA] [STORE destination], and SORT_RO (no STORE), as Redis 7.2's
//! `sort.c`: lists, sets and sorted sets; numeric or byte order (ALPHA);
//! BY and GET read other keys through patterns (`*` stands for the element,
//! `->field` reads a hash field, `GET #` is the element itself); a BY
//! pattern without `*` does not sort; STORE writes a list.
//!
//! Patterns read keys other than the sorted one. As in Redis Cluster, that
//! is refused when the keys a pattern forms may live elsewhere: a pattern
//! whose `{tag}` comes before any wildcard is checked once, any other
//! pattern each time it forms a key (so outside a cluster every pattern
//! works). BY and GET also need the user to run unrestricted, as Redis
//! needs full key access.

use super::keys::{colocated, dump_in, restore_in};
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{Data, Dumped, List, parse_i64};
use crate::resp::connection::Conn;
use bytes::Bytes;
use orbit_shared::ActorGateway;
use std::cmp::Ordering;

type Result<T> = std::result::Result<T, Value>;

const BY_DENIED: &str =
    "ERR BY option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.";
const GET_DENIED: &str = "ERR GET option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.";
const BY_ACL: &str = "ERR BY option of SORT denied due to insufficient ACL permissions.";
const GET_ACL: &str = "ERR GET option of SORT denied due to insufficient ACL permissions.";

/// A parsed SORT line.
#[derive(Debug, Default, PartialEq)]
struct Sort {
    by: Option<Bytes>,
    /// BY a pattern without `*`: keep the native order.
    dont_sort: bool,
    limit: Option<(i64, i64)>,
    gets: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
}

/// What the option parser needs to know of the connection: whether the
/// user may read any key, and whether a key is colocated with the sorted
/// one.
struct Access<'a> {
    unrestricted: bool,
    colocated: &'a dyn Fn(&[u8]) -> bool,
}

/// Parses the options with Redis' errors, in order; `readonly`: SORT_RO.
fn parse(args: &[Bytes], readonly: bool, access: &Access<'_>) -> Result<Sort> {
    let mut sort = Sort::default();
    let mut i = 0;
    while i < args.len() {
        let left = args.len() - i - 1;
        match super::lower(&args[i]).as_slice() {
            b"asc" => sort.desc = false,
            b"desc" => sort.desc = true,
            b"alpha" => sort.alpha = true,
            b"limit" if left >= 2 => {
                sort.limit = Some((parse_i64(&args[i + 1])?, parse_i64(&args[i + 2])?));
                i += 2;
            }
            b"store" if !readonly && left >= 1 => {
                sort.store = Some(args[i + 1].clone());
                i += 1;
            }
            b"by" if left >= 1 => {
                let pattern = &args[i + 1];
                if !pattern.contains(&b'*') {
                    sort.dont_sort = true;
                } else {
                    check_pattern(pattern, access, BY_DENIED, BY_ACL)?;
                }
                sort.by = Some(pattern.clone());
                i += 1;
            }
            b"get" if left >= 1 => {
                let pattern = &args[i + 1];
                if *pattern != b"#"[..] {
                    check_pattern(pattern, access, GET_DENIED, GET_ACL)?;
                } else if !access.unrestricted {
                    return Err(Value::err(GET_ACL));
                }
                sort.gets.push(pattern.clone());
                i += 1;
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 1;
    }
    Ok(sort)
}

fn check_pattern(pattern: &[u8], access: &Access<'_>, denied: &str, acl: &str) -> Result<()> {
    if slot_key(pattern).is_some_and(|key| !(access.colocated)(key)) {
        return Err(Value::err(denied));
    }
    if !access.unrestricted {
        return Err(Value::err(acl));
    }
    Ok(())
}

/// A key in the slot of every key `pattern` can form, by Redis Cluster's
/// `patternHashSlot`: the pattern's first non-empty `{tag}` if no wildcard
/// or escape comes before it, the pattern itself if it has none; `None`
/// when the keys may be in any slot.
fn slot_key(pattern: &[u8]) -> Option<&[u8]> {
    let mut open = None;
    let mut empty_tag = false;
    for (i, &c) in pattern.iter().enumerate() {
        match c {
            b'*' | b'?' | b'[' | b'\\' => return None,
            b'{' if open.is_none() && !empty_tag => open = Some(i),
            b'}' => match open {
                Some(start) if i == start + 1 => {
                    open = None;
                    empty_tag = true;
                }
                Some(start) => return Some(&pattern[start..=i]),
                None => {}
            },
            _ => {}
        }
    }
    Some(pattern)
}

/// The key and hash field `pattern` forms for `element`: the first `*`
/// replaced, and what follows the first `->` after it (if anything does)
/// taken as a field. `None` for a pattern without `*`.
fn form(pattern: &[u8], element: &[u8]) -> Option<(Bytes, Option<Bytes>)> {
    let star = pattern.iter().position(|&c| c == b'*')?;
    let rest = &pattern[star + 1..];
    let arrow = rest.windows(2).position(|w| w == b"->").filter(|&at| at + 2 < rest.len());
    let (suffix, field) = match arrow {
        Some(at) => (&rest[..at], Some(Bytes::copy_from_slice(&rest[at + 2..]))),
        None => (rest, None),
    };
    let key = [&pattern[..star], element, suffix].concat();
    Some((Bytes::from(key), field))
}

/// What a pattern names for `element`: `#` the element, otherwise the
/// string at the formed key or the field of the hash there; `None` when
/// missing or of another type.
async fn lookup<G: ActorGateway>(
    conn: &Conn<G>,
    sorted: &Bytes,
    pattern: &[u8],
    element: &Bytes,
    denied: &str,
) -> Result<Option<Bytes>> {
    if pattern == b"#" {
        return Ok(Some(element.clone()));
    }
    let Some((key, field)) = form(pattern, element) else { return Ok(None) };
    if slot_key(pattern).is_none() && !conn.server.gateway.colocated(&[sorted, &key]) {
        return Err(Value::err(denied));
    }
    let reply = match &field {
        Some(field) => conn.server.key_command(conn.db, "hget", &key, std::slice::from_ref(field)).await,
        None => conn.server.key_command(conn.db, "get", &key, &[]).await,
    };
    match reply {
        Value::Bulk(value) => Ok(Some(value)),
        Value::Error(e) if !e.starts_with("WRONGTYPE") => Err(Value::Error(e)),
        _ => Ok(None),
    }
}

/// C's `strtod` over the whole text, as Redis converts a sort weight:
/// leading white space, decimal or hexadecimal integers, `inf`, `infinity`;
/// `None` for trailing bytes, NaN, or a value out of a double's range
/// (`ERANGE`). An empty text is 0.
fn strtod(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?;
    if text.is_empty() {
        return Some(0.0);
    }
    let t = text.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        let value = u64::from_str_radix(hex, 16).ok().filter(|_| !hex.starts_with('+'))? as f64;
        return Some(if negative { -value } else { value });
    }
    let value: f64 = t.parse().ok()?;
    let named = digits.as_bytes().first().is_some_and(|c| c.is_ascii_alphabetic());
    let mantissa_nonzero =
        digits.split(['e', 'E']).next().is_some_and(|m| m.bytes().any(|c| (b'1'..=b'9').contains(&c)));
    let out_of_range =
        (value.is_infinite() && !named) || (mantissa_nonzero && value.abs() < f64::MIN_POSITIVE);
    (!value.is_nan() && !out_of_range).then_some(value)
}

/// One element and what it sorts by.
struct Item {
    element: Bytes,
    score: f64,
    /// ALPHA with BY: the looked-up value (`None`: missing, sorts first).
    weight: Option<Bytes>,
}

fn compare(a: &Item, b: &Item, sort: &Sort) -> Ordering {
    let order = if !sort.alpha {
        a.score.partial_cmp(&b.score).unwrap_or(Ordering::Equal).then_with(|| a.element.cmp(&b.element))
    } else if sort.by.is_some() {
        a.weight.cmp(&b.weight)
    } else {
        a.element.cmp(&b.element)
    };
    if sort.desc { order.reverse() } else { order }
}

/// The inclusive range LIMIT selects of `len` elements, as Redis clamps it
/// (`None`: nothing).
fn window(limit: Option<(i64, i64)>, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let (offset, count) = limit.unwrap_or((0, -1));
    let mut start = offset.clamp(0, len);
    let count = count.clamp(-1, len);
    let mut end = if count < 0 { len - 1 } else { start + count - 1 };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    (end >= start && start >= 0).then_some((start as usize, end as usize))
}

pub(crate) async fn run<G: ActorGateway>(conn: &mut Conn<G>, name: &str, args: &[Bytes]) -> Result<Value> {
    let key = &args[0];
    let mut sort = {
        let unrestricted = super::acl::unrestricted(conn);
        let colocated_with =
            |other: &[u8]| conn.server.gateway.colocated(&[key, &Bytes::copy_from_slice(other)]);
        parse(&args[1..], name == "sort_ro", &Access { unrestricted, colocated: &colocated_with })?
    };
    if let Some(store) = &sort.store {
        colocated(conn, &[key.clone(), store.clone()])?;
    }
    let (elements, is_set) = match dump_in(conn, conn.db, key).await? {
        None => (Vec::new(), false),
        Some(Dumped { data: Data::List(list), .. }) => (list.elements().cloned().collect(), false),
        Some(Dumped { data: Data::Set(set), .. }) => (set.members().cloned().collect(), true),
        Some(Dumped { data: Data::ZSet(zset), .. }) => {
            (zset.pairs().map(|(m, _)| m.clone()).collect(), false)
        }
        Some(_) => return Err(Value::err(errors::WRONGTYPE)),
    };
    if sort.dont_sort && is_set && sort.store.is_some() {
        // A set has no native order to keep: what is stored is sorted.
        sort.dont_sort = false;
        sort.alpha = true;
        sort.by = None;
    }
    let items = sorted(conn, key, &sort, elements, is_set).await?;
    let Some((start, end)) = window(sort.limit, items.len()) else {
        return finish(conn, &sort, Vec::new()).await;
    };
    let mut output = Vec::with_capacity((end - start + 1) * sort.gets.len().max(1));
    for item in &items[start..=end] {
        if sort.gets.is_empty() {
            output.push(Some(item.element.clone()));
        }
        for pattern in &sort.gets {
            output.push(lookup(conn, key, pattern, &item.element, GET_DENIED).await?);
        }
    }
    finish(conn, &sort, output).await
}

/// The elements in SORT's order: native (reversed by DESC for lists and
/// sorted sets) when not sorting, else by weight.
async fn sorted<G: ActorGateway>(
    conn: &Conn<G>,
    key: &Bytes,
    sort: &Sort,
    elements: Vec<Bytes>,
    is_set: bool,
) -> Result<Vec<Item>> {
    let mut items: Vec<Item> =
        elements.into_iter().map(|element| Item { element, score: 0.0, weight: None }).collect();
    if sort.dont_sort {
        if sort.desc && !is_set {
            items.reverse();
        }
        return Ok(items);
    }
    let mut convertible = true;
    for item in &mut items {
        let weight = match &sort.by {
            Some(pattern) => match lookup(conn, key, pattern, &item.element, BY_DENIED).await? {
                Some(weight) => weight,
                None => continue,
            },
            None => item.element.clone(),
        };
        if !sort.alpha {
            match strtod(&weight) {
                Some(score) => item.score = score,
                None => convertible = false,
            }
        } else if sort.by.is_some() {
            item.weight = Some(weight);
        }
    }
    if !convertible {
        return Err(Value::err("ERR One or more scores can't be converted into double"));
    }
    items.sort_by(|a, b| compare(a, b, sort));
    Ok(items)
}

/// The reply; with STORE, the length of the list written (missing values
/// stored as empty strings; an empty result deletes the destination).
async fn finish<G: ActorGateway>(
    conn: &mut Conn<G>,
    sort: &Sort,
    output: Vec<Option<Bytes>>,
) -> Result<Value> {
    let Some(store) = &sort.store else {
        return Ok(Value::Array(output.into_iter().map(|v| v.map_or(Value::Nil, Value::Bulk)).collect()));
    };
    let n = output.len() as i64;
    let list: Vec<Bytes> = output.into_iter().map(Option::unwrap_or_default).collect();
    let value =
        (!list.is_empty()).then(|| Dumped { data: Data::List(List::from_elements(list)), expire_at: None });
    let db = conn.db;
    restore_in(conn, db, store, value.as_ref()).await?;
    Ok(Value::Int(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Bytes> {
        line.split_whitespace().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    fn parsed(line: &str, readonly: bool) -> Result<Sort> {
        let anywhere = |_: &[u8]| true;
        parse(&words(line), readonly, &Access { unrestricted: true, colocated: &anywhere })
    }

    #[test]
    fn options_parse_as_redis() {
        let sort = parsed("BY w_* LIMIT 1 2 GET # GET o_*->f DESC ALPHA STORE d", false).unwrap();
        assert_eq!(sort.by.as_deref(), Some(&b"w_*"[..]));
        assert_eq!(sort.limit, Some((1, 2)));
        assert_eq!(sort.gets, words("# o_*->f"));
        assert!(sort.desc && sort.alpha && !sort.dont_sort);
        assert_eq!(sort.store.as_deref(), Some(&b"d"[..]));
        assert!(parsed("by nosort", false).unwrap().dont_sort);
        let syntax = Err(Value::err(errors::SYNTAX));
        for bad in ["limit 1", "store", "by", "get", "foo", "alpha limit"] {
            assert_eq!(parsed(bad, false), syntax, "{bad}");
        }
        assert_eq!(parsed("store d", true), syntax, "SORT_RO has no STORE");
        assert_eq!(parsed("limit x 1", false), Err(Value::err(errors::NOT_INTEGER)));
    }

    #[test]
    fn patterns_are_refused_where_their_keys_may_be_elsewhere() {
        let only_tag = |key: &[u8]| key == b"{t}";
        let access = Access { unrestricted: true, colocated: &only_tag };
        assert!(parse(&words("by {t}w_* get {t}o_* get #"), false, &access).is_ok());
        assert_eq!(parse(&words("by {u}w_*"), false, &access), Err(Value::err(BY_DENIED)));
        assert_eq!(parse(&words("get {u}o_*"), false, &access), Err(Value::err(GET_DENIED)));
        assert!(parse(&words("by nosort get *"), false, &access).is_ok(), "checked as keys are formed");
        let anywhere = |_: &[u8]| true;
        let restricted = Access { unrestricted: false, colocated: &anywhere };
        assert_eq!(parse(&words("by w_*"), false, &restricted), Err(Value::err(BY_ACL)));
        assert_eq!(parse(&words("get #"), false, &restricted), Err(Value::err(GET_ACL)));
        assert!(parse(&words("by nosort desc"), false, &restricted).is_ok());
        assert_eq!(slot_key(b"a{b}*"), Some(&b"{b}"[..]));
        assert_eq!(slot_key(b"*{b}"), None);
        assert_eq!(slot_key(b"{}{b}*"), None);
        assert_eq!(slot_key(b"plain"), Some(&b"plain"[..]));
    }

    #[test]
    fn patterns_form_keys_and_fields() {
        let formed = |p: &str, e: &str| form(p.as_bytes(), e.as_bytes());
        assert_eq!(formed("w_*", "3"), Some((Bytes::from("w_3"), None)));
        assert_eq!(formed("h_*->f", "3"), Some((Bytes::from("h_3"), Some(Bytes::from("f")))));
        assert_eq!(formed("h_*->", "3"), Some((Bytes::from("h_3->"), None)), "an arrow with no field");
        assert_eq!(formed("a->b*c", "3"), Some((Bytes::from("a->b3c"), None)), "an arrow before the star");
        assert_eq!(formed("nostar", "3"), None);
    }

    #[test]
    fn weights_convert_as_strtod() {
        assert_eq!(strtod(b"1.5"), Some(1.5));
        assert_eq!(strtod(b"  -2"), Some(-2.0));
        assert_eq!(strtod(b""), Some(0.0));
        assert_eq!(strtod(b"0x10"), Some(16.0));
        assert_eq!(strtod(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod(b"1e3"), Some(1000.0));
        for bad in ["a", "1a", " ", "nan", "1e400", "1e-400", "1 "] {
            assert_eq!(strtod(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn limit_windows_clamp_as_redis() {
        assert_eq!(window(None, 5), Some((0, 4)));
        assert_eq!(window(Some((1, 2)), 5), Some((1, 2)));
        assert_eq!(window(Some((-3, 2)), 5), Some((0, 1)));
        assert_eq!(window(Some((3, -7)), 5), Some((3, 4)));
        assert_eq!(window(Some((3, 0)), 5), None);
        assert_eq!(window(Some((5, 1)), 5), None);
        assert_eq!(window(Some((i64::MAX, i64::MAX)), 5), None);
        assert_eq!(window(None, 0), None);
    }

    #[test]
    fn numeric_ties_go_by_element_and_desc_reverses_all() {
        let item =
            |e: &str, score: f64| Item { element: Bytes::copy_from_slice(e.as_bytes()), score, weight: None };
        let mut items = [item("b", 1.0), item("a", 1.0), item("c", 0.5)];
        let sort = Sort::default();
        items.sort_by(|x, y| compare(x, y, &sort));
        let order: Vec<&[u8]> = items.iter().map(|i| i.element.as_ref()).collect();
        assert_eq!(order, [&b"c"[..], &b"a"[..], &b"b"[..]]);
        let desc = Sort { desc: true, ..Sort::default() };
        items.sort_by(|x, y| compare(x, y, &desc));
        let order: Vec<&[u8]> = items.iter().map(|i| i.element.as_ref()).collect();
        assert_eq!(order, [&b"b"[..], &b"a"[..], &b"c"[..]]);
    }
}
