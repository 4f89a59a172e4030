//! The keys a command line names and the access each needs. The table's
//! key positions find most keys; the keys that follow a count (LMPOP,
//! BLMPOP, SINTERCARD, ZUNION, the sources of ZUNIONSTORE...) are found
//! here, so that no key escapes the check. The channels of SPUBLISH and
//! SSUBSCRIBE sit at key positions in the table but are channels, checked
//! as such.
//!
//! Access: a command flagged write needs write permission on its keys,
//! others read permission. Closer to Redis' key specs: sources of stores
//! and COPY are read, their destinations written; a write whose reply
//! shows stored data (pops, moves, GETDEL, INCR, `SET ... GET`...) needs
//! both on the keys it reads.

use super::Access;
use crate::keyspace::parse_i64;
use crate::resp::table::{PUBSUB, Spec};
use bytes::Bytes;

/// Writes that also read: their reply carries what the key held (names
/// separated by spaces).
const READ_WRITE: &str = concat!(
    "getdel getset getex incr decr incrby decrby incrbyfloat hincrby hincrbyfloat zincrby ",
    "lpop rpop spop zpopmin zpopmax lmpop zmpop blpop brpop blmpop bzpopmin bzpopmax bzmpop",
);

/// Where the count sits in the line of a command whose keys follow it
/// (`numkeys`): the table's first/last/step cannot find those keys, so
/// COMMAND INFO flags such a command `movablekeys`.
pub fn key_count_at(name: &str) -> Option<usize> {
    match name {
        "lmpop" | "zmpop" | "sintercard" | "zunion" | "zinter" | "zdiff" | "zintercard" => Some(1),
        "blmpop" | "bzmpop" | "zunionstore" | "zinterstore" | "zdiffstore" => Some(2),
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => Some(2),
        _ => None,
    }
}

/// Whether a command names keys at all (channels at key positions do not
/// count).
pub fn has_keys(spec: &Spec) -> bool {
    let streams = matches!(spec.name, "xread" | "xreadgroup");
    spec.flags & PUBSUB == 0 && (spec.first_key > 0 || key_count_at(spec.name).is_some() || streams)
}

/// Each key of `argv` with the access it needs.
pub fn key_access<'a>(spec: &Spec, argv: &'a [Bytes]) -> Vec<(&'a Bytes, Access)> {
    if spec.flags & PUBSUB != 0 {
        return Vec::new();
    }
    let access = access_of(spec, argv);
    let with = |keys: &'a [Bytes], access: Access| keys.iter().map(move |k| (k, access));
    match (spec.name, key_count_at(spec.name)) {
        ("zunionstore" | "zinterstore" | "zdiffstore", Some(count)) => {
            with(at(argv, 1..2), Access::WRITE).chain(with(counted(argv, count), Access::READ)).collect()
        }
        (_, Some(count)) => with(counted(argv, count), access).collect(),
        ("sinterstore" | "sunionstore" | "sdiffstore" | "zrangestore", None) => {
            with(at(argv, 1..2), Access::WRITE).chain(with(at(argv, 2..argv.len()), Access::READ)).collect()
        }
        ("copy", None) => {
            with(at(argv, 1..2), Access::READ).chain(with(at(argv, 2..3), Access::WRITE)).collect()
        }
        ("sort" | "sort_ro", None) => {
            with(at(argv, 1..2), Access::READ).chain(with(sort_store(argv), Access::WRITE)).collect()
        }
        ("geosearchstore", None) => {
            with(at(argv, 1..2), Access::WRITE).chain(with(at(argv, 2..3), Access::READ)).collect()
        }
        // The source is only read; the key after STORE/STOREDIST is written.
        ("georadius" | "georadiusbymember", None) => {
            let store = crate::keyspace::geo::store_key(argv).map(std::slice::from_ref).unwrap_or_default();
            with(at(argv, 1..2), Access::READ).chain(with(store, Access::WRITE)).collect()
        }
        ("rename" | "renamenx" | "smove" | "lmove" | "rpoplpush" | "blmove" | "brpoplpush", None) => {
            with(at(argv, 1..2), Access::BOTH).chain(with(at(argv, 2..3), Access::WRITE)).collect()
        }
        ("xread" | "xreadgroup", None) => with(after_streams(argv), access).collect(),
        _ => spec.keys(argv).into_iter().map(|k| (k, access)).collect(),
    }
}

/// The access a command needs of its keys by its flags and name.
fn access_of(spec: &Spec, argv: &[Bytes]) -> Access {
    if !spec.is_write() {
        return Access::READ;
    }
    let set_get =
        spec.name == "set" && at(argv, 3..argv.len()).iter().any(|a| a.eq_ignore_ascii_case(b"get"));
    if set_get || READ_WRITE.split(' ').any(|n| n == spec.name) { Access::BOTH } else { Access::WRITE }
}

/// SORT's STORE destination, found as Redis' `sortGetKeys` does: LIMIT
/// takes two words, GET and BY one; the last STORE counts.
fn sort_store(argv: &[Bytes]) -> &[Bytes] {
    let mut found = at(argv, 0..0);
    let mut i = 2;
    while i < argv.len() {
        match argv[i].to_ascii_lowercase().as_slice() {
            b"limit" => i += 2,
            b"get" | b"by" => i += 1,
            b"store" => {
                found = at(argv, i + 1..i + 2);
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// XREAD's and XREADGROUP's keys: the first half of the words after STREAMS.
fn after_streams(argv: &[Bytes]) -> &[Bytes] {
    let Some(word) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"streams")) else { return &[] };
    let first = word + 1;
    at(argv, first..first + (argv.len() - first) / 2)
}

/// `argv[range]`, clamped to what is there.
fn at(argv: &[Bytes], range: std::ops::Range<usize>) -> &[Bytes] {
    let end = range.end.min(argv.len());
    argv.get(range.start.min(end)..end).unwrap_or_default()
}

/// The keys after the count at `argv[count_at]`, as many as it says and
/// are there (a bad count names no key: the command refuses it).
fn counted(argv: &[Bytes], count_at: usize) -> &[Bytes] {
    let count = argv.get(count_at).and_then(|n| parse_i64(n).ok()).and_then(|n| usize::try_from(n).ok());
    let start = count_at + 1;
    at(argv, start..start.saturating_add(count.unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::table;

    fn keys(line: &str) -> Vec<(String, Access)> {
        let argv: Vec<Bytes> = line.split(' ').map(|w| Bytes::from(w.to_string())).collect();
        let spec = table::lookup(line.split(' ').next().unwrap()).unwrap();
        key_access(spec, &argv)
            .into_iter()
            .map(|(k, a)| (String::from_utf8_lossy(k).into_owned(), a))
            .collect()
    }

    fn names(line: &str) -> Vec<String> {
        keys(line).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn keys_after_a_count_are_found() {
        assert_eq!(names("lmpop 2 a b left count 1"), ["a", "b"]);
        assert_eq!(names("blmpop 0 2 a b left"), ["a", "b"]);
        assert_eq!(names("zmpop 1 a min"), ["a"]);
        assert_eq!(names("sintercard 2 a b limit 1"), ["a", "b"]);
        assert_eq!(names("zunion 2 a b withscores"), ["a", "b"]);
        assert_eq!(names("zunionstore d 2 a b weights 1 2"), ["d", "a", "b"]);
        assert_eq!(names("lmpop 5 a b"), ["a", "b"], "a count past the end names what is there");
        assert!(names("lmpop x a b").is_empty());
        assert!(names("spublish a m").is_empty(), "shard channels are not keys");
        assert_eq!(names("zintercard 2 a b limit 1"), ["a", "b"]);
        assert_eq!(names("sort k by store limit 0 1 get store store d"), ["k", "d"]);
        assert_eq!(names("sort_ro k alpha"), ["k"]);
    }

    #[test]
    fn every_key_command_the_table_finds_no_keys_of_has_a_count() {
        use table::Route;
        for spec in table::all() {
            if matches!(spec.route, Route::Keys | Route::Blocking) && spec.first_key == 0 {
                assert!(key_count_at(spec.name).is_some(), "{}", spec.name);
            }
        }
        assert!(has_keys(table::lookup("zunion").unwrap()) && has_keys(table::lookup("get").unwrap()));
        assert!(!has_keys(table::lookup("ping").unwrap()) && !has_keys(table::lookup("ssubscribe").unwrap()));
    }

    #[test]
    fn sources_are_read_and_destinations_written() {
        use crate::resp::acl::Access as A;
        let own = |line| keys(line).into_iter().map(|(_, a)| a).collect::<Vec<_>>();
        assert_eq!(own("sinterstore d a b"), [A::WRITE, A::READ, A::READ]);
        assert_eq!(own("copy a b"), [A::READ, A::WRITE]);
        assert_eq!(own("lmove a b left right"), [A::BOTH, A::WRITE]);
        assert_eq!(own("mset a 1 b 2"), [A::WRITE, A::WRITE]);
        assert_eq!(own("set a 1"), [A::WRITE]);
        assert_eq!(own("set a 1 GET"), [A::BOTH]);
        assert_eq!(own("lpop a"), [A::BOTH]);
        assert_eq!(own("mget a b"), [A::READ, A::READ]);
        assert_eq!(own("georadius s 1 2 3 m store d"), [A::READ, A::WRITE]);
        assert_eq!(own("georadiusbymember s m 3 km"), [A::READ]);
        assert_eq!(own("geosearchstore d s frommember m byradius 1 m"), [A::WRITE, A::READ]);
    }
}
