//! The slot function shared with Redis Cluster: `CRC16(key) & 16383`, where a
//! key containing `{tag}` (a `{`, a later `}`, at least one byte between them)
//! hashes only `tag`. Keys that share a tag share a slot, and cluster-aware
//! Redis clients compute the same slot we do.

/// Number of hash slots, as in Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// The slot of `key`.
pub fn slot_of(key: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(hash_tag(key)) & (SLOT_COUNT - 1)
}

/// The kind prefixes of the SQL data: table rows (`row:<table>`),
/// secondary index entries (`idx:<oid>`) and the catalog (`sql:table`).
pub const SQL_KIND_PREFIXES: [&str; 3] = ["row:", "idx:", "sql:"];

/// The slot of every actor of the SQL data: all of it lives in the
/// partition owning this slot, so a transaction over any tables is one
/// partition's atomic batch (in a cluster, one Raft group's entry).
pub const SQL_SLOT: u16 = 0;

/// Whether actors of `kind` are SQL data, placed at [`SQL_SLOT`].
pub fn is_sql_kind(kind: &str) -> bool {
    SQL_KIND_PREFIXES.iter().any(|prefix| kind.starts_with(prefix))
}

/// The slot of actor `kind`/`key`: [`SQL_SLOT`] for the SQL data's kinds,
/// the key's slot ([`slot_of`]) for every other kind.
pub fn actor_slot(kind: &str, key: &[u8]) -> u16 {
    if is_sql_kind(kind) { SQL_SLOT } else { slot_of(key) }
}

/// The part of `key` that is hashed: the first non-empty `{...}` section, or
/// the whole key.
fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    match key[open + 1..].iter().position(|&b| b == b'}') {
        Some(len) if len > 0 => &key[open + 1..open + 1 + len],
        _ => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_redis_known_values() {
        // Values from Redis' own `CLUSTER KEYSLOT` and the redis-protocol crate.
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"bar"), 5061);
        assert_eq!(slot_of(b"hello"), 866);
        assert_eq!(slot_of(b"8xjx7vWrfPq54mKfFD3Y1CcjjofpnAcQ"), 5458);
        assert_eq!(slot_of(b""), 0);
    }

    #[test]
    fn hash_tags_group_keys_in_one_slot() {
        let following = slot_of(b"{user1000}.following");
        assert_eq!(following, slot_of(b"{user1000}.followers"));
        assert_eq!(following, slot_of(b"user1000"));
    }

    #[test]
    fn empty_or_unclosed_tags_hash_the_whole_key() {
        assert_eq!(slot_of(b"foo{}{bar}"), crc(b"foo{}{bar}"));
        assert_eq!(slot_of(b"foo{bar"), crc(b"foo{bar"));
        assert_eq!(slot_of(b"foo{{bar}}zap"), slot_of(b"{bar"));
        assert_eq!(slot_of(b"foo{bar}{zap}"), slot_of(b"bar"));
    }

    #[test]
    fn binary_keys_are_accepted() {
        let key = [0u8, 255, b'{', 0, b'}', 7];
        assert_eq!(slot_of(&key), slot_of(&[0u8]));
    }

    #[test]
    fn sql_data_shares_one_slot_and_other_kinds_hash_their_key() {
        for kind in ["row:accounts", "idx:16500", "sql:table"] {
            assert_eq!(actor_slot(kind, b"foo"), SQL_SLOT);
            assert_eq!(actor_slot(kind, b"bar"), SQL_SLOT);
        }
        for kind in ["redis", "counter", "rows:x", "orbit:reminders", "sqlx"] {
            assert_eq!(actor_slot(kind, b"foo"), slot_of(b"foo"));
        }
    }

    fn crc(key: &[u8]) -> u16 {
        crc16::State::<crc16::XMODEM>::calculate(key) & (SLOT_COUNT - 1)
    }
}
