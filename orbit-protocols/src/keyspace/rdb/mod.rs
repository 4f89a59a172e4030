//! Redis' own serialization of one value, as DUMP writes it and RESTORE
//! reads it, so values move between Orbit and redis-server both ways. Pure:
//! bytes in, [`Data`] out, and back.
//!
//! A payload is `type (u8) | value in RDB encoding | RDB version (u16 LE) |
//! CRC-64/Jones of everything before it (u64 LE)`. Orbit writes version 10
//! (Redis 7.0's), which Redis 7.0 and 7.2 both load, and reads payloads up
//! to version 11 (Redis 7.2's).
//!
//! | file | concept |
//! |---|---|
//! | `write.rs` | a value as a payload, in the plain encodings |
//! | `read.rs` | a payload's value, in every encoding Redis 7.0 and 7.2 write |
//! | `packed.rs` | listpacks, ziplists and intsets inside payloads |
//! | `lzf.rs` | LZF decompression of compressed strings |
//! | `crc64.rs` | the payload's checksum |

mod crc64;
mod lzf;
mod packed;
mod read;
mod write;

use super::Data;
use bytes::Bytes;

/// The RDB version Orbit's payloads carry (Redis 7.0's).
pub const RDB_VERSION: u16 = 10;

/// The newest RDB version Orbit reads (Redis 7.2's).
const NEWEST_READABLE: u16 = 11;

/// Why a payload cannot be restored; the front door answers Redis' text
/// for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdbError {
    /// Too short, a newer RDB version, or a checksum that does not match.
    Checksum,
    /// The value does not decode (or is one Redis refuses to load).
    BadFormat,
    /// A value of a kind Orbit does not hold (streams, modules...).
    Unsupported(&'static str),
}

/// The RDB object types (`RDB_TYPE_*` in Redis' `rdb.h`).
mod kinds {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// The DUMP payload of a value (`Unsupported` for a stream).
pub fn dump(data: &Data) -> Result<Bytes, RdbError> {
    write::payload(data)
}

/// The value of a DUMP payload, its version and checksum verified first.
pub fn restore(payload: &[u8]) -> Result<Data, RdbError> {
    read::object(verified(payload)?)
}

/// A payload's body, once its version and checksum are verified.
fn verified(payload: &[u8]) -> Result<&[u8], RdbError> {
    let body_len = payload.len().checked_sub(10).ok_or(RdbError::Checksum)?;
    let (body, footer) = payload.split_at(body_len);
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    let mut crc = [0u8; 8];
    crc.copy_from_slice(&footer[2..]);
    if version > NEWEST_READABLE || crc64::crc64(&payload[..body_len + 2]) != u64::from_le_bytes(crc) {
        return Err(RdbError::Checksum);
    }
    Ok(body)
}

/// `RDB_OPCODE_FUNCTION2`: a function library in a FUNCTION DUMP payload.
const FUNCTION2: u8 = 245;

/// FUNCTION DUMP: every library's code, sealed like a DUMP payload.
pub fn functions_payload(codes: &[String]) -> Bytes {
    let mut out = write::functions(codes);
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.freeze()
}

/// FUNCTION RESTORE: the libraries' code in a FUNCTION DUMP payload.
pub fn functions_from_payload(payload: &[u8]) -> Result<Vec<String>, RdbError> {
    read::functions(verified(payload)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::{Hash, List, Set, ZSet};

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn bs(items: &[&str]) -> Vec<Bytes> {
        items.iter().map(|s| b(s)).collect()
    }

    /// `body` with a valid footer.
    fn sealed(body: &[u8]) -> Vec<u8> {
        let mut p = body.to_vec();
        p.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = crc64::crc64(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }

    #[test]
    fn function_libraries_round_trip_and_read_what_redis_dumps() {
        let codes = vec!["#!lua name=a\nreturn 1".to_string(), "#!lua name=b\n".to_string()];
        assert_eq!(functions_from_payload(&functions_payload(&codes)), Ok(codes));
        // redis-server 7.0.15's FUNCTION DUMP of one library.
        let code = "#!lua name=lib1\nredis.register_function('f1', function(keys, args) return #keys end)";
        let mut body = vec![0xf5, 0x40, code.len() as u8];
        body.extend_from_slice(code.as_bytes());
        let dumped = functions_payload(&[code.to_string()]);
        assert_eq!(&dumped[..body.len()], body.as_slice());
        assert_eq!(functions_from_payload(b"garbage payload"), Err(RdbError::Checksum));
    }

    #[test]
    fn reads_plain_nodes_text_scores_and_ziplists() {
        let plain = sealed(&[18, 1, 1, 3, b'b', b'i', b'g']);
        assert_eq!(restore(&plain), Ok(Data::List(List::from_elements(bs(&["big"])))));
        let text_scores = sealed(&[3, 2, 1, b'm', 3, b'1', b'.', b'5', 1, b'n', 254]);
        let expected = ZSet::from_pairs(vec![(b("m"), 1.5), (b("n"), f64::INFINITY)]);
        assert_eq!(restore(&text_scores), Ok(Data::ZSet(expected)));
        let mut ziplist = vec![17, 0, 0, 0, 13, 0, 0, 0, 2, 0];
        ziplist.extend_from_slice(&[0, 0x01, b'f', 3, 0x01, b'v', 0xff]);
        let hash = sealed(&[&[13u8, 17][..], ziplist.as_slice()].concat());
        assert_eq!(restore(&hash), Ok(Data::Hash(Hash::from_pairs(vec![(b("f"), b("v"))]))));
        let odd =
            sealed(&[&[13u8, 14][..], &[14, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0x01, b'f', 0xff][..]].concat());
        assert_eq!(restore(&odd), Err(RdbError::BadFormat), "a field without its value");
    }

    #[test]
    fn every_type_round_trips() {
        let long: Vec<Bytes> = (0..20_000).map(|i| Bytes::from(format!("element-{i}"))).collect();
        let values = [
            Data::Str(b("")),
            Data::Str(Bytes::from(vec![7u8; 70_000])),
            Data::List(List::from_elements(bs(&["a", "", "a", "1"]))),
            Data::List(List::from_elements(long.clone())),
            Data::Set(Set::from_members(bs(&["3", "-1", "x"]))),
            Data::Set(Set::from_members(long.clone())),
            Data::Hash(Hash::from_pairs(vec![(b("f"), b("v")), (b("g"), b(""))])),
            Data::ZSet(ZSet::from_pairs(vec![(b("a"), 1.5), (b("b"), f64::NEG_INFINITY), (b("c"), 1e300)])),
        ];
        for value in values {
            assert_eq!(restore(&dump(&value).unwrap()), Ok(value));
        }
    }

    #[test]
    fn reads_what_redis_7_0_dumps() {
        // DUMP output of redis-server 7.0.15.
        let cases: [(&str, Data); 7] = [
            // SET n 12345: an int16-encoded string.
            ("00c139300a009d94ea2793fc08b9", Data::Str(b("12345"))),
            // SET big <100 x "a">: LZF-compressed.
            ("00c3094064016161e057000161610a00e8a3b507b06df271", Data::Str(Bytes::from(vec![b'a'; 100]))),
            // RPUSH ql a 1 b: QUICKLIST_2, one packed node.
            (
                "1201020f0f00000003008161020101816202ff0a009043a34ceb8e1b1c",
                Data::List(List::from_elements(bs(&["a", "1", "b"]))),
            ),
            // HSET h f v n 7: HASH_LISTPACK.
            (
                "1012120000000400816602817602816e020701ff0a00b82adea8407ffaa8",
                Data::Hash(Hash::from_pairs(vec![(b("f"), b("v")), (b("n"), b("7"))])),
            ),
            // ZADD z 1.5 a 2 b: ZSET_LISTPACK.
            (
                "111414000000040081610283312e35048162020201ff0a00fa02b425af188763",
                Data::ZSet(ZSet::from_pairs(vec![(b("a"), 1.5), (b("b"), 2.0)])),
            ),
            // SADD is 3 -1 1000: SET_INTSET.
            (
                "0b0e0200000003000000ffff0300e8030a00c06841a97dd3f5aa",
                Data::Set(Set::from_members(bs(&["-1", "3", "1000"]))),
            ),
            // SADD ls a 1: SET.
            ("02020161c0010a00ce387e029ce13e72", Data::Set(Set::from_members(bs(&["a", "1"])))),
        ];
        for (payload, value) in cases {
            assert_eq!(restore(&hex(payload)), Ok(value), "{payload}");
        }
    }

    #[test]
    fn refuses_bad_versions_checksums_and_values() {
        let mut payload = dump(&Data::Str(b("v"))).unwrap().to_vec();
        assert_eq!(restore(&payload[..9]), Err(RdbError::Checksum));
        payload[1] ^= 1;
        assert_eq!(restore(&payload), Err(RdbError::Checksum), "the checksum covers the value");
        payload[1] ^= 1;
        let n = payload.len();
        payload[n - 10] = 12;
        assert_eq!(restore(&payload), Err(RdbError::Checksum), "a newer RDB version");
        // Valid footers around values Redis refuses.
        assert_eq!(restore(&sealed(&[2, 0])), Err(RdbError::BadFormat), "an empty set");
        assert_eq!(
            restore(&sealed(&[2, 2, 1, b'a', 1, b'a'])),
            Err(RdbError::BadFormat),
            "a repeated member"
        );
        assert_eq!(restore(&sealed(&[0, 5, b'a'])), Err(RdbError::BadFormat), "a truncated string");
        assert_eq!(
            restore(&sealed(&[0, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
            Err(RdbError::BadFormat)
        );
        assert_eq!(
            restore(&sealed(&[1, 0x80, 0x7f, 0xff, 0xff, 0xff])),
            Err(RdbError::BadFormat),
            "a huge count"
        );
        assert_eq!(restore(&sealed(&[15, 0])), Err(RdbError::Unsupported("stream")));
        assert_eq!(restore(&sealed(&[42])), Err(RdbError::BadFormat));
        let nan = [&[5u8, 1, 1, b'm'][..], &f64::NAN.to_le_bytes()[..]].concat();
        assert_eq!(restore(&sealed(&nan)), Err(RdbError::BadFormat), "a NaN score");
    }
}
