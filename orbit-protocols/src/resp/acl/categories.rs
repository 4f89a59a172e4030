//! Redis 7.2's ACL categories and the command ids that rules name and
//! checks look up: every command of the table, and each subcommand of the
//! container commands (`acl|whoami`, `config|set`...: `table::subcommands`),
//! which Redis permits one by one.
//!
//! A command's categories are those its table flags imply, as in Redis
//! (`write`, `read`, `admin` and `dangerous`, `pubsub`, `fast` or else
//! `slow`, `blocking`), plus the ones named here: its data type,
//! `keyspace`, `connection`, `transaction` and the dangerous extras. A
//! subcommand has the named categories of its container.

use crate::resp::table::{self, Spec};
use std::sync::OnceLock;

/// The categories, in the order ACL CAT lists them; bit `i` of a mask is
/// `CATEGORIES[i]`.
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

const KEYSPACE: u32 = 1;
const READ: u32 = 1 << 1;
const WRITE: u32 = 1 << 2;
const SET: u32 = 1 << 3;
const SORTEDSET: u32 = 1 << 4;
const LIST: u32 = 1 << 5;
const HASH: u32 = 1 << 6;
const STRING: u32 = 1 << 7;
const BITMAP: u32 = 1 << 8;
const HYPERLOGLOG: u32 = 1 << 9;
const GEO: u32 = 1 << 10;
const STREAM: u32 = 1 << 11;
const PUBSUB: u32 = 1 << 12;
const ADMIN: u32 = 1 << 13;
const FAST: u32 = 1 << 14;
const SLOW: u32 = 1 << 15;
const BLOCKING: u32 = 1 << 16;
const DANGEROUS: u32 = 1 << 17;
const CONNECTION: u32 = 1 << 18;
const TRANSACTION: u32 = 1 << 19;
const SCRIPTING: u32 = 1 << 20;

/// Commands by the category their name places them in (the table's flags
/// cannot tell a hash command from a list command), names separated by
/// spaces.
const NAMED: &[(u32, &str)] = &[
    (
        STRING,
        concat!(
            "get set setnx setex psetex getex getdel getset incr decr incrby decrby ",
            "incrbyfloat append strlen getrange substr setrange mget mset msetnx",
        ),
    ),
    (
        KEYSPACE,
        concat!(
            "del unlink exists touch type ttl pttl expiretime pexpiretime expire pexpire ",
            "expireat pexpireat persist rename renamenx copy scan keys randomkey dbsize ",
            "flushdb flushall",
        ),
    ),
    (
        HASH,
        concat!(
            "hset hsetnx hmset hget hmget hgetall hdel hexists hlen hkeys hvals hincrby ",
            "hincrbyfloat hstrlen hrandfield hscan",
        ),
    ),
    (
        LIST,
        concat!(
            "lpush rpush lpushx rpushx lpop rpop lrange llen lindex lset linsert lrem ltrim ",
            "lpos lmove rpoplpush lmpop blpop brpop blmove brpoplpush blmpop",
        ),
    ),
    (
        SET,
        concat!(
            "sadd srem smembers sismember smismember scard spop srandmember sscan smove ",
            "sinter sunion sdiff sinterstore sunionstore sdiffstore sintercard",
        ),
    ),
    (
        SORTEDSET,
        concat!(
            "zadd zincrby zscore zmscore zrem zcard zcount zlexcount zrank zrevrank zrange ",
            "zrangebyscore zrevrangebyscore zrangebylex zrevrangebylex zrevrange ",
            "zremrangebyrank zremrangebyscore zremrangebylex zpopmin zpopmax zrandmember ",
            "zscan zunionstore zinterstore zdiffstore zunion zinter zdiff zmpop zrangestore ",
            "bzpopmin bzpopmax bzmpop",
        ),
    ),
    (HYPERLOGLOG, "pfadd pfcount pfmerge pfdebug"),
    (
        GEO,
        concat!(
            "geoadd geopos geodist geohash geosearch geosearchstore georadius georadius_ro ",
            "georadiusbymember georadiusbymember_ro",
        ),
    ),
    (BITMAP, "setbit getbit bitcount bitpos bitfield bitfield_ro bitop"),
    (SET | SORTEDSET | LIST | DANGEROUS, "sort sort_ro"),
    (STRING, "lcs"),
    (SORTEDSET, "zintercard"),
    (KEYSPACE, "dump restore move swapdb object"),
    (DANGEROUS, "restore swapdb"),
    (
        STREAM,
        concat!(
            "xadd xlen xrange xrevrange xdel xtrim xsetid xack xpending xclaim xautoclaim xread ",
            "xreadgroup xgroup xinfo",
        ),
    ),
    (CONNECTION, "ping echo quit hello auth select reset client command"),
    (TRANSACTION, "multi exec discard watch unwatch"),
    (SCRIPTING, "eval evalsha eval_ro evalsha_ro script fcall fcall_ro function"),
    (DANGEROUS, "keys flushdb flushall info"),
    // The ACTOR commands reach any actor: key patterns do not apply to them.
    (ADMIN | DANGEROUS, "actor.call actor.remind actor.job actor.reminders actor.unremind"),
];

/// A command or subcommand as rules and checks see it.
#[derive(Debug)]
pub struct Command {
    /// `get`, or `container|sub` for a subcommand.
    pub id: &'static str,
    /// A mask of [`CATEGORIES`].
    pub categories: u32,
}

impl Command {
    /// The container of a subcommand (`acl` for `acl|whoami`).
    pub fn container(&self) -> Option<&'static str> {
        self.id.split_once('|').map(|(container, _)| container)
    }
}

/// Every command id: the table's commands, then the subcommands.
pub fn commands() -> &'static [Command] {
    static ALL: OnceLock<Vec<Command>> = OnceLock::new();
    ALL.get_or_init(|| {
        let specs = table::all().iter().chain(table::subcommands());
        specs.map(|s| Command { id: s.name, categories: of(s) }).collect()
    })
}

/// The categories of a command or subcommand, a mask of [`CATEGORIES`].
pub fn of(spec: &Spec) -> u32 {
    implied(spec.flags) | named(spec.container().unwrap_or(spec.name))
}

/// The names of the categories in `mask`, in ACL CAT's order.
pub fn names(mask: u32) -> impl Iterator<Item = &'static str> {
    CATEGORIES.iter().enumerate().filter(move |(i, _)| mask & (1u32 << i) != 0).map(|(_, c)| *c)
}

/// The categories Redis derives from a command's flags.
fn implied(flags: u16) -> u32 {
    let pairs = [
        (table::WRITE, WRITE),
        (table::READONLY, READ),
        (table::ADMIN, ADMIN | DANGEROUS),
        (table::PUBSUB, PUBSUB),
        (table::FAST, FAST),
        (table::BLOCKING, BLOCKING),
    ];
    let found = pairs.iter().filter(|(flag, _)| flags & flag != 0).fold(0u32, |mask, (_, c)| mask | *c);
    if flags & table::FAST == 0 { found | SLOW } else { found }
}

fn named(name: &str) -> u32 {
    NAMED.iter().filter(|(_, names)| names.split(' ').any(|n| n == name)).fold(0u32, |mask, (c, _)| mask | *c)
}

/// The mask of a category by name (lower case); `None` for an unknown one.
pub fn category(name: &str) -> Option<u32> {
    CATEGORIES.iter().position(|c| *c == name).map(|i| 1 << i)
}

/// The id a command line runs as: `container|sub` for a known subcommand
/// of a container, otherwise the command's name.
pub fn command_id(name: &'static str, argv: &[bytes::Bytes]) -> &'static str {
    let Some(sub) = argv.get(1) else { return name };
    table::subcommand(name, sub).map_or(name, |s| s.name)
}

/// The ids a `+name` or `-name` rule covers: a command with, for a
/// container, all its subcommands; or one subcommand. `None`: unknown.
pub fn rule_ids(name: &str) -> Option<Vec<&'static str>> {
    let found = commands().iter().find(|c| c.id == name)?.id;
    let covered = commands().iter().filter(|c| c.id == found || c.container() == Some(found));
    Some(covered.map(|c| c.id).collect())
}

/// Whether `name` is a container command (one with subcommands).
pub fn is_container(name: &str) -> bool {
    table::subcommands_of(name).next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_category(id: &str, name: &str) -> bool {
        let mask = category(name).unwrap();
        commands().iter().any(|c| c.id == id && c.categories & mask != 0)
    }

    #[test]
    fn category_bits_follow_the_acl_cat_order() {
        let bits = [
            ("keyspace", KEYSPACE),
            ("read", READ),
            ("write", WRITE),
            ("set", SET),
            ("sortedset", SORTEDSET),
            ("list", LIST),
            ("hash", HASH),
            ("string", STRING),
            ("bitmap", BITMAP),
            ("hyperloglog", HYPERLOGLOG),
            ("geo", GEO),
            ("pubsub", PUBSUB),
            ("admin", ADMIN),
            ("fast", FAST),
            ("slow", SLOW),
            ("blocking", BLOCKING),
            ("dangerous", DANGEROUS),
            ("connection", CONNECTION),
            ("transaction", TRANSACTION),
        ];
        for (name, bit) in bits {
            assert_eq!(category(name), Some(bit), "{name}");
        }
        assert_eq!(category("all"), None, "@all is a rule, not a category");
    }

    #[test]
    fn categories_follow_flags_and_names_as_redis() {
        assert!(in_category("get", "read") && in_category("get", "string") && in_category("get", "fast"));
        assert!(in_category("del", "keyspace") && in_category("del", "write") && in_category("del", "slow"));
        assert!(in_category("config|set", "admin") && in_category("config|set", "dangerous"));
        assert!(in_category("flushall", "dangerous") && in_category("keys", "dangerous"));
        assert!(!in_category("acl|whoami", "dangerous") && in_category("acl|setuser", "dangerous"));
        assert!(in_category("blpop", "blocking") && in_category("blpop", "list"));
        assert!(in_category("publish", "pubsub") && in_category("multi", "transaction"));
        assert!(in_category("ping", "connection") && in_category("client|id", "connection"));
        assert!(in_category("actor.call", "admin") && in_category("actor.call", "dangerous"));
        assert!(in_category("actor.remind", "admin") && in_category("actor.unremind", "dangerous"));
        assert!(in_category("actor.reminders", "read") && in_category("actor.job", "write"));
        assert!(in_category("slowlog|get", "admin") && !in_category("slowlog|help", "admin"));
        assert!(in_category("command|getkeys", "connection") && in_category("pubsub|numpat", "pubsub"));
    }

    #[test]
    fn category_names_follow_the_mask() {
        let get = table::lookup("get").unwrap();
        assert_eq!(names(of(get)).collect::<Vec<_>>(), ["read", "string", "fast"]);
    }

    #[test]
    fn every_key_command_has_a_data_type_or_keyspace_category() {
        use table::Route;
        let types = KEYSPACE | STRING | HASH | LIST | SET | SORTEDSET | HYPERLOGLOG | BITMAP | GEO | STREAM;
        for spec in table::all() {
            if matches!(spec.route, Route::Key | Route::Keys | Route::Keyspace | Route::Blocking) {
                assert!(named(spec.name) & types != 0, "{} has no data type category", spec.name);
            }
        }
    }

    #[test]
    fn subcommands_are_named_by_their_container() {
        let argv: Vec<bytes::Bytes> = ["acl", "WhoAmI"].map(bytes::Bytes::from).to_vec();
        assert_eq!(command_id("acl", &argv), "acl|whoami");
        let argv: Vec<bytes::Bytes> = ["acl", "nope"].map(bytes::Bytes::from).to_vec();
        assert_eq!(command_id("acl", &argv), "acl");
        assert_eq!(command_id("get", &argv), "get");
        let acl = rule_ids("acl").unwrap();
        assert!(acl.contains(&"acl") && acl.contains(&"acl|setuser"));
        assert_eq!(rule_ids("acl|cat"), Some(vec!["acl|cat"]));
        assert_eq!(rule_ids("nope"), None);
        assert!(is_container("config") && !is_container("get"));
    }
}
