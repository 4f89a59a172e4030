//! Writing a value as a DUMP payload, in the plain encodings every Redis
//! since 2.x loads (7.0 and 7.2 convert them to their compact encodings as
//! they load): STRING, LIST (a count, then the elements), SET, HASH, and
//! ZSET_2 (binary scores). Strings are written raw, never compressed.

use super::{RDB_VERSION, RdbError, crc64::crc64, kinds};
use crate::keyspace::Data;
use bytes::{BufMut, Bytes, BytesMut};

/// `type | value | RDB version (u16 LE) | CRC-64 of all before (u64 LE)`.
/// Streams are not written (their RDB form is not implemented).
pub fn payload(data: &Data) -> Result<Bytes, RdbError> {
    let mut out = BytesMut::new();
    match data {
        Data::Stream(_) => return Err(RdbError::Unsupported("stream")),
        Data::Str(s) => {
            out.put_u8(kinds::STRING);
            string(&mut out, s);
        }
        Data::List(list) => {
            out.put_u8(kinds::LIST);
            length(&mut out, list.len());
            list.elements().for_each(|e| string(&mut out, e));
        }
        Data::Set(set) => {
            out.put_u8(kinds::SET);
            length(&mut out, set.len());
            set.members().for_each(|m| string(&mut out, m));
        }
        Data::Hash(hash) => {
            out.put_u8(kinds::HASH);
            length(&mut out, hash.len());
            for (field, value) in hash.pairs() {
                string(&mut out, field);
                string(&mut out, value);
            }
        }
        Data::ZSet(zset) => {
            out.put_u8(kinds::ZSET_2);
            length(&mut out, zset.len());
            for (member, score) in zset.pairs() {
                string(&mut out, member);
                out.put_f64_le(score);
            }
        }
    }
    out.put_u16_le(RDB_VERSION);
    let crc = crc64(&out);
    out.put_u64_le(crc);
    Ok(out.freeze())
}

/// The shortest of RDB's length forms.
fn length(out: &mut BytesMut, n: usize) {
    match u32::try_from(n) {
        Ok(n @ 0..64) => out.put_u8(n as u8),
        Ok(n @ 64..16384) => out.put_u16(0x4000 | n as u16),
        Ok(n) => {
            out.put_u8(0x80);
            out.put_u32(n);
        }
        Err(_) => {
            out.put_u8(0x81);
            out.put_u64(n as u64);
        }
    }
}

fn string(out: &mut BytesMut, s: &[u8]) {
    length(out, s.len());
    out.put_slice(s);
}

/// FUNCTION DUMP's payload body: each library's code after the
/// `RDB_OPCODE_FUNCTION2` opcode.
pub fn functions(codes: &[String]) -> BytesMut {
    let mut out = BytesMut::new();
    for code in codes {
        out.put_u8(super::FUNCTION2);
        string(&mut out, code.as_bytes());
    }
    out
}
