//! The geo commands: a geo key is a sorted set whose scores are 52-bit
//! geohashes (`geohash.rs`). GEOADD, GEOPOS, GEODIST, GEOHASH and the
//! read-only searches (GEOSEARCH, GEORADIUS_RO, GEORADIUSBYMEMBER_RO) run
//! here, on the key; GEORADIUS, GEORADIUSBYMEMBER and GEOSEARCHSTORE may
//! write a second key, so the front door runs them (`resp/cmd/geo.rs`)
//! through the same [`search`].
//!
//! [`search`] is Redis' `georadiusGeneric`: the same argument checks in
//! the same order, the same cells scanned in the same order, so results,
//! their order and every error text match Redis.

use super::bounds::parse_score;
use super::geohash::{self, Extent, Shape};
use super::{Score, ZSet, zset_ref};
use crate::keyspace::value::{Value, errors};
use crate::keyspace::{KeyState, parse_i64};
use bytes::Bytes;
use std::ops::Bound;

/// Argument `i`, or empty (the arity checks make it present).
fn word(args: &[Bytes], i: usize) -> &[u8] {
    args.get(i).map_or(&[][..], |a| &a[..])
}

fn lower(arg: &[u8]) -> Vec<u8> {
    arg.to_ascii_lowercase()
}

/// A double argument as Redis' `getDoubleFromObjectOrReply` reads it;
/// `message` is the error otherwise.
fn double(arg: &[u8], message: &str) -> Result<f64, Value> {
    parse_score(arg).map_err(|_| Value::err(message))
}

/// Redis' `extractLongLatOrReply`: a longitude and a latitude in range.
fn long_lat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), Value> {
    let x = double(lon, errors::NOT_FLOAT)?;
    let y = double(lat, errors::NOT_FLOAT)?;
    let in_range = (geohash::LONG_MIN..=geohash::LONG_MAX).contains(&x)
        && (geohash::LAT_MIN..=geohash::LAT_MAX).contains(&y);
    if !in_range {
        return Err(Value::err(format!("ERR invalid longitude,latitude pair {x:.6},{y:.6}")));
    }
    Ok((x, y))
}

/// A unit's size in metres (any case).
fn unit(arg: &[u8]) -> Result<f64, Value> {
    match lower(arg).as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(Value::err("ERR unsupported unit provided. please use M, KM, FT, MI")),
    }
}

/// `radius unit`: the radius (in the unit) and the unit's size in metres.
fn radius(value: &[u8], unit_arg: &[u8]) -> Result<(f64, f64), Value> {
    let r = double(value, "ERR need numeric radius")?;
    if r < 0.0 {
        return Err(Value::err("ERR radius cannot be negative"));
    }
    Ok((r, unit(unit_arg)?))
}

/// `width height unit`.
fn rectangle(width: &[u8], height: &[u8], unit_arg: &[u8]) -> Result<(Extent, f64), Value> {
    let w = double(width, "ERR need numeric width")?;
    let h = double(height, "ERR need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err(Value::err("ERR height or width cannot be negative"));
    }
    Ok((Extent::Box { width: w, height: h }, unit(unit_arg)?))
}

/// The position of a member, or Redis' error for a missing one.
fn member_position(zset: &ZSet, member: &[u8]) -> Result<(f64, f64), Value> {
    zset.score(member)
        .map(geohash::decode_score)
        .ok_or_else(|| Value::err("ERR could not decode requested zset member"))
}

/// `GEOADD key [NX|XX] [CH] longitude latitude member ...`: ZADD of the
/// members' geohash scores.
pub(super) fn geoadd(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let options = args.iter().take_while(|a| matches!(lower(a).as_slice(), b"nx" | b"xx" | b"ch")).count();
    let (flags, triples) = args.split_at(options);
    let has = |option: &[u8]| flags.iter().any(|f| f.eq_ignore_ascii_case(option));
    if triples.is_empty()
        || !triples.len().is_multiple_of(3)
        || (has(b"nx".as_slice()) && has(b"xx".as_slice()))
    {
        return Err(Value::err(errors::SYNTAX));
    }
    let mut zadd = flags.to_vec();
    for triple in triples.chunks(3) {
        let (x, y) = long_lat(word(triple, 0), word(triple, 1))?;
        let score = geohash::score_of(x, y)
            .ok_or_else(|| Value::err(format!("ERR invalid longitude,latitude pair {x:.6},{y:.6}")))?;
        zadd.push(Bytes::from(score.to_string()));
        zadd.push(triple.get(2).cloned().unwrap_or_default());
    }
    super::add::zadd(ks, "zadd", &zadd, now_ms)
}

/// A coordinate as Redis prints it (see [`Value::HumanDouble`]).
fn coordinates((x, y): (f64, f64)) -> Value {
    Value::Array(vec![Value::HumanDouble(x), Value::HumanDouble(y)])
}

/// `GEOPOS key member...`: each position, a nil array for a missing one.
pub(super) fn geopos(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let zset = zset_ref(ks, now_ms)?;
    let position = |member: &Bytes| match zset.and_then(|z| z.score(member)) {
        Some(score) => coordinates(geohash::decode_score(score)),
        None => Value::NilArray,
    };
    Ok(Value::Array(args.iter().map(position).collect()))
}

/// `GEODIST key member1 member2 [unit]`: nil unless both are there.
pub(super) fn geodist(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let conversion = match args.len() {
        2 => 1.0,
        3 => unit(word(args, 2))?,
        n if n > 3 => return Err(Value::err(errors::SYNTAX)),
        _ => return Err(Value::err(errors::arity(name))),
    };
    let Some(zset) = zset_ref(ks, now_ms)? else { return Ok(Value::Nil) };
    let (Some(a), Some(b)) = (zset.score(word(args, 0)), zset.score(word(args, 1))) else {
        return Ok(Value::Nil);
    };
    let ((x1, y1), (x2, y2)) = (geohash::decode_score(a), geohash::decode_score(b));
    Ok(Value::bulk(geohash::format_distance(geohash::distance(x1, y1, x2, y2) / conversion)))
}

/// `GEOHASH key member...`: standard geohash strings, nil for a missing one.
pub(super) fn geohash_strings(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let zset = zset_ref(ks, now_ms)?;
    let hash = |member: &Bytes| {
        zset.and_then(|z| z.score(member))
            .and_then(geohash::standard_geohash)
            .map_or(Value::Nil, |hash| Value::Bulk(Bytes::from(hash)))
    };
    Ok(Value::Array(args.iter().map(hash).collect()))
}

/// GEOSEARCH, GEORADIUS_RO and GEORADIUSBYMEMBER_RO on this key.
pub(super) fn search_here(
    ks: &mut KeyState,
    name: &str,
    args: &[Bytes],
    now_ms: u64,
) -> Result<Value, Value> {
    let zset = zset_ref(ks, now_ms)?;
    match search(name, zset, args, None)? {
        Outcome::Reply(reply) => Ok(reply),
        // These forms refuse STORE while parsing.
        Outcome::Store { .. } => Err(Value::err(errors::SYNTAX)),
    }
}

/// What a search ends with: a reply, or the sorted set to store.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    Reply(Value),
    /// Replace `key` by these members and scores (none: delete it); the
    /// reply is their count.
    Store {
        key: Bytes,
        pairs: Vec<(Bytes, f64)>,
    },
}

/// Which search, as Redis' `georadiusGeneric` flags tell them apart.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    /// GEORADIUS[_RO] key longitude latitude radius unit ...
    Coordinates,
    /// GEORADIUSBYMEMBER[_RO] key member radius unit ...
    Member,
    /// GEOSEARCH key / GEOSEARCHSTORE dest key, then FROM... BY...
    Search,
}

fn form(name: &str) -> Option<(Form, bool)> {
    Some(match name {
        "georadius" => (Form::Coordinates, true),
        "georadius_ro" => (Form::Coordinates, false),
        "georadiusbymember" => (Form::Member, true),
        "georadiusbymember_ro" => (Form::Member, false),
        "geosearch" | "geosearchstore" => (Form::Search, false),
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sort {
    None,
    Asc,
    Desc,
}

#[derive(Debug)]
struct Options {
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    any: bool,
    sort: Sort,
    /// 0: no COUNT.
    count: i64,
    store: Option<Bytes>,
    storedist: bool,
    from_member: bool,
    from_lonlat: bool,
    by_radius: bool,
    by_box: bool,
}

/// A match: the member, its score and position, its distance in metres.
struct Point {
    member: Bytes,
    score: f64,
    position: (f64, f64),
    distance: f64,
}

/// The key GEORADIUS or GEORADIUSBYMEMBER stores into (`argv` the whole
/// line), found as Redis' `georadiusGetKeys` finds it: the word after the
/// last STORE or STOREDIST from the sixth word on.
pub fn store_key(argv: &[Bytes]) -> Option<&Bytes> {
    let mut found = None;
    let mut i = 5;
    while i + 1 < argv.len() {
        let option = lower(word(argv, i));
        if option == b"store" || option == b"storedist" {
            found = argv.get(i + 1);
            i += 1;
        }
        i += 1;
    }
    found
}

/// Redis' `georadiusGeneric` for the search `name` on `zset` (`None`: the
/// key does not exist), `args` following the source key, `dest` the
/// destination of GEOSEARCHSTORE.
pub(crate) fn search(
    name: &str,
    zset: Option<&ZSet>,
    args: &[Bytes],
    dest: Option<&Bytes>,
) -> Result<Outcome, Value> {
    let (form, may_store) = form(name).ok_or_else(|| Value::err(format!("ERR unknown command '{name}'")))?;
    let mut shape = Shape { longitude: 0.0, latitude: 0.0, extent: Extent::Radius(0.0), conversion: 1.0 };
    let base = match form {
        Form::Coordinates => {
            (shape.longitude, shape.latitude) = long_lat(word(args, 0), word(args, 1))?;
            let (r, conversion) = radius(word(args, 2), word(args, 3))?;
            (shape.extent, shape.conversion) = (Extent::Radius(r), conversion);
            4
        }
        Form::Member => {
            // A missing key still has its options parsed (STORE decides the reply).
            if let Some(zset) = zset {
                (shape.longitude, shape.latitude) = member_position(zset, word(args, 0))?;
                let (r, conversion) = radius(word(args, 1), word(args, 2))?;
                (shape.extent, shape.conversion) = (Extent::Radius(r), conversion);
            }
            3
        }
        Form::Search => 0,
    };
    let options =
        parse_options(form, may_store, dest, zset, args.get(base..).unwrap_or_default(), &mut shape)?;
    check_options(name, form, dest.is_some(), &options)?;
    let Some(zset) = zset else {
        return Ok(match options.store {
            Some(key) => Outcome::Store { key, pairs: Vec::new() },
            None => Outcome::Reply(Value::Array(Vec::new())),
        });
    };
    Ok(answer(zset, &shape, options))
}

/// The options after the fixed arguments, in Redis' order and with its
/// errors; FROMMEMBER, FROMLONLAT, BYRADIUS and BYBOX fill in `shape`.
fn parse_options(
    form: Form,
    may_store: bool,
    dest: Option<&Bytes>,
    zset: Option<&ZSet>,
    opts: &[Bytes],
    shape: &mut Shape,
) -> Result<Options, Value> {
    let mut o = Options {
        withdist: false,
        withhash: false,
        withcoord: false,
        any: false,
        sort: Sort::None,
        count: 0,
        store: dest.cloned(),
        storedist: false,
        from_member: false,
        from_lonlat: false,
        by_radius: false,
        by_box: false,
    };
    let search = form == Form::Search;
    let mut i = 0;
    while i < opts.len() {
        let rest = opts.get(i + 1..).unwrap_or_default();
        let option = lower(word(opts, i));
        match option.as_slice() {
            b"withdist" => o.withdist = true,
            b"withhash" => o.withhash = true,
            b"withcoord" => o.withcoord = true,
            b"any" => o.any = true,
            b"asc" => o.sort = Sort::Asc,
            b"desc" => o.sort = Sort::Desc,
            b"count" if !rest.is_empty() => {
                o.count = parse_i64(word(rest, 0))?;
                if o.count <= 0 {
                    return Err(Value::err("ERR COUNT must be > 0"));
                }
                i += 1;
            }
            b"store" | b"storedist" if !rest.is_empty() && may_store => {
                o.store = rest.first().cloned();
                o.storedist = option == b"storedist";
                i += 1;
            }
            b"storedist" if search && dest.is_some() => o.storedist = true,
            b"frommember" if !rest.is_empty() && search && !o.from_lonlat => {
                if let Some(zset) = zset {
                    (shape.longitude, shape.latitude) = member_position(zset, word(rest, 0))?;
                }
                o.from_member = true;
                i += 1;
            }
            b"fromlonlat" if rest.len() >= 2 && search && !o.from_member => {
                (shape.longitude, shape.latitude) = long_lat(word(rest, 0), word(rest, 1))?;
                o.from_lonlat = true;
                i += 2;
            }
            b"byradius" if rest.len() >= 2 && search && !o.by_box => {
                let (r, conversion) = radius(word(rest, 0), word(rest, 1))?;
                (shape.extent, shape.conversion) = (Extent::Radius(r), conversion);
                o.by_radius = true;
                i += 2;
            }
            b"bybox" if rest.len() >= 3 && search && !o.by_radius => {
                (shape.extent, shape.conversion) = rectangle(word(rest, 0), word(rest, 1), word(rest, 2))?;
                o.by_box = true;
                i += 3;
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        }
        i += 1;
    }
    Ok(o)
}

/// The checks Redis makes once the options are read, in its order.
fn check_options(name: &str, form: Form, searchstore: bool, o: &Options) -> Result<(), Value> {
    if o.store.is_some() && (o.withdist || o.withhash || o.withcoord) {
        let what = if searchstore { "GEOSEARCHSTORE" } else { "STORE option in GEORADIUS" };
        return Err(Value::err(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    if form == Form::Search && !(o.from_member || o.from_lonlat) {
        return Err(Value::err(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if form == Form::Search && !(o.by_radius || o.by_box) {
        return Err(Value::err(format!("ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")));
    }
    if o.any && o.count == 0 {
        return Err(Value::err("ERR the ANY argument requires COUNT argument"));
    }
    Ok(())
}

/// Runs the search and shapes its result: the reply, or what to store.
fn answer(zset: &ZSet, shape: &Shape, mut o: Options) -> Outcome {
    // COUNT without an order means the nearest ones (but not with ANY).
    if o.count != 0 && o.sort == Sort::None && !o.any {
        o.sort = Sort::Asc;
    }
    let limit = if o.any { o.count as usize } else { 0 };
    let mut found = points(zset, shape, limit);
    // Stable, like the merge sort behind glibc's qsort.
    match o.sort {
        Sort::Asc => found.sort_by(|a, b| a.distance.total_cmp(&b.distance)),
        Sort::Desc => found.sort_by(|a, b| b.distance.total_cmp(&a.distance)),
        Sort::None => {}
    }
    if o.count > 0 {
        found.truncate(o.count as usize);
    }
    let conversion = shape.conversion;
    if let Some(key) = o.store {
        let pairs = found
            .into_iter()
            .map(|p| {
                let score = if o.storedist { p.distance / conversion } else { p.score };
                (p.member, score)
            })
            .collect();
        return Outcome::Store { key, pairs };
    }
    let plain = !(o.withdist || o.withhash || o.withcoord);
    let item = |p: Point| {
        if plain {
            return Value::Bulk(p.member);
        }
        let mut fields = vec![Value::Bulk(p.member)];
        if o.withdist {
            fields.push(Value::bulk(geohash::format_distance(p.distance / conversion)));
        }
        if o.withhash {
            fields.push(Value::Int(p.score as i64));
        }
        if o.withcoord {
            fields.push(coordinates(p.position));
        }
        Value::Array(fields)
    };
    Outcome::Reply(Value::Array(found.into_iter().map(item).collect()))
}

/// Redis' `membersOfAllNeighbors`: the members in the shape, cell by cell,
/// each cell's in score order; with `limit` (ANY), stops once it has that
/// many.
fn points(zset: &ZSet, shape: &Shape, limit: usize) -> Vec<Point> {
    let mut found = Vec::new();
    let full = |n: usize| limit > 0 && n >= limit;
    for cell in shape.cells() {
        if full(found.len()) {
            break;
        }
        let (min, max) = geohash::score_interval(cell);
        // BTreeSet::range refuses an inverted range.
        if min >= max {
            continue;
        }
        let range =
            (Bound::Included((Score(min), Bytes::new())), Bound::Excluded((Score(max), Bytes::new())));
        for (score, member) in zset.order.range(range) {
            if let Some((position, distance)) = shape.contains(score.0) {
                found.push(Point { member: member.clone(), score: score.0, position, distance });
            }
            if full(found.len()) {
                break;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::super::lists::test_support::*;
    use super::*;
    use std::collections::BTreeMap;

    fn sicily() -> KeyState {
        let mut ks = KeyState::default();
        let added = run(
            &mut ks,
            &["geoadd", "Sicily", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"],
        );
        assert_eq!(added, Value::Int(2));
        ks.drain_entry_ops();
        ks
    }

    fn human(x: f64, y: f64) -> Value {
        Value::Array(vec![Value::HumanDouble(x), Value::HumanDouble(y)])
    }

    #[test]
    fn geoadd_stores_redis_scores_and_honours_nx_xx_ch() {
        let mut ks = sicily();
        assert_eq!(
            run(&mut ks, &["zrange", "Sicily", "0", "-1", "withscores"]),
            Value::Array(vec![
                Value::Array(vec![bulk("Palermo"), Value::Double(3479099956230698.0)]),
                Value::Array(vec![bulk("Catania"), Value::Double(3479447370796909.0)]),
            ])
        );
        assert_eq!(
            run(&mut ks, &["geoadd", "Sicily", "nx", "13", "38", "Palermo", "1", "1", "x"]),
            Value::Int(1)
        );
        assert_eq!(
            run(&mut ks, &["geoadd", "Sicily", "xx", "ch", "13", "38", "Palermo", "2", "2", "y"]),
            Value::Int(1)
        );
        assert_eq!(run(&mut ks, &["zcard", "Sicily"]), Value::Int(3));
        assert_eq!(run(&mut ks, &["geoadd", "Sicily", "ch", "13", "38", "Palermo"]), Value::Int(0));
    }

    #[test]
    fn geoadd_errors_are_redis_texts() {
        let mut ks = sicily();
        let cases: &[(&[&str], &str)] = &[
            (&["geoadd", "k", "181", "0", "m"], "ERR invalid longitude,latitude pair 181.000000,0.000000"),
            (&["geoadd", "k", "0", "85.06", "m"], "ERR invalid longitude,latitude pair 0.000000,85.060000"),
            (&["geoadd", "k", "x", "0", "m"], errors::NOT_FLOAT),
            (&["geoadd", "k", "1", "2", "m", "3"], errors::SYNTAX),
            (&["geoadd", "k", "nx", "xx", "1", "2", "m"], errors::SYNTAX),
            (&["geoadd", "k", "gt", "1", "2", "m"], errors::SYNTAX),
            (&["geoadd", "k", "ch", "ch", "ch"], errors::SYNTAX),
        ];
        for (argv, error) in cases {
            assert_eq!(run(&mut ks, argv), err(error), "{argv:?}");
        }
        let mut string = KeyState::default();
        run(&mut string, &["set", "s", "v"]);
        assert_eq!(run(&mut string, &["geoadd", "s", "1", "2", "m"]), err(errors::WRONGTYPE));
        assert_eq!(run(&mut string, &["geoadd", "s", "1", "x", "m"]), err(errors::NOT_FLOAT));
    }

    #[test]
    fn geopos_geodist_geohash() {
        let mut ks = sicily();
        let (x, y) = geohash::decode_score(3479099956230698.0);
        assert_eq!(
            run(&mut ks, &["geopos", "Sicily", "Palermo", "nope"]),
            Value::Array(vec![human(x, y), Value::NilArray])
        );
        assert_eq!(run(&mut ks, &["geodist", "Sicily", "Palermo", "Catania"]), bulk("166274.1516"));
        assert_eq!(run(&mut ks, &["geodist", "Sicily", "Palermo", "Catania", "KM"]), bulk("166.2742"));
        assert_eq!(run(&mut ks, &["geodist", "Sicily", "Palermo", "Catania", "mi"]), bulk("103.3182"));
        assert_eq!(run(&mut ks, &["geodist", "Sicily", "Palermo", "nope"]), Value::Nil);
        assert_eq!(
            run(&mut ks, &["geodist", "Sicily", "Palermo", "Catania", "yd"]),
            err("ERR unsupported unit provided. please use M, KM, FT, MI")
        );
        assert_eq!(run(&mut ks, &["geodist", "Sicily", "a", "b", "km", "x"]), err(errors::SYNTAX));
        assert_eq!(
            run(&mut ks, &["geohash", "Sicily", "Palermo", "Catania", "nope"]),
            Value::Array(vec![bulk("sqc8b49rny0"), bulk("sqdtr74hyu0"), Value::Nil])
        );
        let mut missing = KeyState::default();
        assert_eq!(run(&mut missing, &["geodist", "k", "a", "b"]), Value::Nil);
        assert_eq!(run(&mut missing, &["geopos", "k", "a"]), Value::Array(vec![Value::NilArray]));
        assert_eq!(run(&mut missing, &["geohash", "k", "a"]), Value::Array(vec![Value::Nil]));
    }

    #[test]
    fn geosearch_by_radius_and_box_with_options() {
        let mut ks = sicily();
        let near = ["geosearch", "Sicily", "fromlonlat", "15", "37", "byradius", "200", "km"];
        assert_eq!(run(&mut ks, &[&near[..], &["asc"][..]].concat()), bulks(&["Catania", "Palermo"]));
        assert_eq!(run(&mut ks, &[&near[..], &["desc"][..]].concat()), bulks(&["Palermo", "Catania"]));
        assert_eq!(run(&mut ks, &[&near[..], &["count", "1"][..]].concat()), bulks(&["Catania"]));
        let detailed = run(&mut ks, &[&near[..], &["withdist", "withhash", "count", "1"][..]].concat());
        assert_eq!(
            detailed,
            Value::Array(vec![Value::Array(vec![
                bulk("Catania"),
                bulk("56.4413"),
                Value::Int(3479447370796909)
            ])])
        );
        let boxed = ["geosearch", "Sicily", "frommember", "Palermo", "bybox", "400", "400", "km", "asc"];
        assert_eq!(run(&mut ks, &boxed), bulks(&["Palermo", "Catania"]));
        let narrow = ["geosearch", "Sicily", "frommember", "Palermo", "bybox", "10", "400", "km"];
        assert_eq!(run(&mut ks, &narrow), bulks(&["Palermo"]));
        let ro = ["georadius_ro", "Sicily", "15", "37", "100", "km", "withdist"];
        assert_eq!(
            run(&mut ks, &ro),
            Value::Array(vec![Value::Array(vec![bulk("Catania"), bulk("56.4413")])])
        );
        let by_member = ["georadiusbymember_ro", "Sicily", "Palermo", "200", "km", "asc"];
        assert_eq!(run(&mut ks, &by_member), bulks(&["Palermo", "Catania"]));
    }

    #[test]
    fn search_errors_follow_redis_order_and_texts() {
        let mut ks = sicily();
        let cases: &[(&[&str], &str)] = &[
            (
                &["geosearch", "Sicily", "frommember", "nope", "byradius", "1", "km"],
                "ERR could not decode requested zset member",
            ),
            (
                &["geosearch", "Sicily", "byradius", "1", "km"],
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch",
            ),
            (
                &["geosearch", "Sicily", "fromlonlat", "1", "2"],
                "ERR exactly one of BYRADIUS and BYBOX can be specified for geosearch",
            ),
            (
                &["geosearch", "Sicily", "fromlonlat", "1", "2", "frommember", "a", "byradius", "1", "m"],
                errors::SYNTAX,
            ),
            (
                &["geosearch", "Sicily", "fromlonlat", "1", "2", "byradius", "-1", "m"],
                "ERR radius cannot be negative",
            ),
            (
                &["geosearch", "Sicily", "fromlonlat", "1", "2", "byradius", "x", "m"],
                "ERR need numeric radius",
            ),
            (
                &["geosearch", "Sicily", "fromlonlat", "1", "2", "bybox", "x", "1", "m"],
                "ERR need numeric width",
            ),
            (
                &["geosearch", "Sicily", "fromlonlat", "1", "2", "bybox", "1", "-1", "m"],
                "ERR height or width cannot be negative",
            ),
            (
                &["geosearch", "Sicily", "fromlonlat", "1", "2", "byradius", "1", "yd"],
                "ERR unsupported unit provided. please use M, KM, FT, MI",
            ),
            (
                &["geosearch", "Sicily", "fromlonlat", "1", "2", "byradius", "1", "m", "count", "0"],
                "ERR COUNT must be > 0",
            ),
            (
                &["geosearch", "Sicily", "fromlonlat", "1", "2", "byradius", "1", "m", "count", "x"],
                errors::NOT_INTEGER,
            ),
            (
                &["geosearch", "Sicily", "fromlonlat", "1", "2", "byradius", "1", "m", "any"],
                "ERR the ANY argument requires COUNT argument",
            ),
            (
                &["geosearch", "Sicily", "fromlonlat", "1", "2", "byradius", "1", "m", "store", "d"],
                errors::SYNTAX,
            ),
            (&["georadius_ro", "Sicily", "1", "2", "1", "m", "store", "d"], errors::SYNTAX),
            (
                &["georadius_ro", "Sicily", "200", "2", "1", "m"],
                "ERR invalid longitude,latitude pair 200.000000,2.000000",
            ),
        ];
        for (argv, error) in cases {
            assert_eq!(run(&mut ks, argv), err(error), "{argv:?}");
        }
        let mut missing = KeyState::default();
        let line = ["georadiusbymember_ro", "k", "m", "-1", "km"];
        assert_eq!(run(&mut missing, &line), Value::Array(vec![]), "a missing key skips the member's radius");
        let mut string = KeyState::default();
        run(&mut string, &["set", "s", "v"]);
        assert_eq!(run(&mut string, &["georadius_ro", "s", "x", "2", "1", "m"]), err(errors::WRONGTYPE));
    }

    #[test]
    fn store_forms_give_pairs_and_the_store_key() {
        let z = ZSet::from_pairs(vec![
            (Bytes::from_static(b"Palermo"), 3479099956230698.0),
            (Bytes::from_static(b"Catania"), 3479447370796909.0),
        ]);
        fn words(w: &[&str]) -> Vec<Bytes> {
            w.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect()
        }
        let stored =
            search("georadius", Some(&z), &words(&["15", "37", "200", "km", "storedist", "d"]), None);
        let Ok(Outcome::Store { key, pairs }) = stored else { panic!("expected a store") };
        assert_eq!(key, "d");
        let mut pairs: Vec<String> =
            pairs.iter().map(|(m, s)| format!("{}={s:?}", String::from_utf8_lossy(m))).collect();
        pairs.sort();
        assert_eq!(pairs, ["Catania=56.4412578701582", "Palermo=190.44242984775784"]);
        let dest = Bytes::from_static(b"d");
        let opts = words(&["fromlonlat", "15", "37", "byradius", "200", "km", "withdist"]);
        assert_eq!(
            search("geosearchstore", Some(&z), &opts, Some(&dest)),
            Err(Value::err(
                "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
            ))
        );
        assert_eq!(
            search("geosearchstore", None, &opts[..6], Some(&dest)),
            Ok(Outcome::Store { key: dest.clone(), pairs: vec![] })
        );
        let line = words(&["georadius", "k", "1", "2", "3", "m", "store", "a", "storedist", "b", "count"]);
        assert_eq!(store_key(&line), Some(&Bytes::from_static(b"b")));
        assert_eq!(store_key(&line[..6]), None);
    }

    #[test]
    fn limits_of_the_projection_are_redis_ones() {
        // Expected values as redis-server prints them.
        let mut ks = KeyState::default();
        let line =
            ["geoadd", "p", "180", "85.05112878", "ne", "-180", "-85.05112878", "sw", "179.99", "-0.5", "am"];
        assert_eq!(run(&mut ks, &line), Value::Int(3));
        assert_eq!(run(&mut ks, &["zscore", "p", "sw"]), Value::Double(0.0));
        assert_eq!(run(&mut ks, &["zscore", "p", "ne"]), Value::Double(13510798882111488.0));
        assert_eq!(run(&mut ks, &["zscore", "p", "am"]), Value::Double(3377678242651951.0));
        // The neighbour cells wrap around the antimeridian.
        let across = ["geosearch", "p", "fromlonlat", "-179.99", "-0.5", "byradius", "10", "km", "withdist"];
        assert_eq!(run(&mut ks, &across), Value::Array(vec![Value::Array(vec![bulk("am"), bulk("2.2247")])]));
        let same_side = ["geosearch", "p", "fromlonlat", "179.98", "-0.5", "byradius", "10", "km"];
        assert_eq!(run(&mut ks, &same_side), bulks(&["am"]));
        // A point on the top edge has a score past 2^52: no cell holds it.
        let corner = ["geosearch", "p", "fromlonlat", "180", "85", "byradius", "100", "km"];
        assert_eq!(run(&mut ks, &corner), Value::Array(vec![]));
        let Value::Array(positions) = run(&mut ks, &["geopos", "p", "ne", "sw"]) else { panic!("array") };
        assert_eq!(positions[0], human(180.0, 85.05112878));
    }

    #[test]
    fn every_edit_survives_a_reload_and_fuzzing_never_panics() {
        let mut ks = KeyState::default();
        let mut store = BTreeMap::new();
        run(&mut ks, &["geoadd", "k", "1", "2", "a", "3", "4", "b"]);
        apply(&mut store, &mut ks);
        assert_eq!(reload(&ks, &store).data, ks.data);
        let commands =
            ["geoadd", "geopos", "geodist", "geohash", "geosearch", "georadius_ro", "georadiusbymember_ro"];
        let vocabulary = [
            "a",
            "b",
            "0",
            "1",
            "-1",
            "15",
            "37",
            "181",
            "85.06",
            "inf",
            "-inf",
            "x",
            "m",
            "km",
            "ft",
            "mi",
            "nx",
            "xx",
            "ch",
            "frommember",
            "fromlonlat",
            "byradius",
            "bybox",
            "asc",
            "desc",
            "count",
            "any",
            "withdist",
            "withhash",
            "withcoord",
            "store",
            "storedist",
            "1e400",
            "5000",
        ];
        fuzz(&commands, &vocabulary, 20_000);
    }
}
