//! Reading the value of a DUMP payload (its body, without the footer):
//! every type and encoding Redis 7.0 and 7.2 write for strings, lists,
//! sets, sorted sets and hashes, and the older ones they still load. What
//! Redis refuses to load (an empty collection, a repeated member or field,
//! a NaN score) is refused here too.

use super::{RdbError, kinds, lzf, packed};
use crate::keyspace::{Data, Hash, List, Set, ZSet, parse_f64};
use bytes::Bytes;
use std::collections::HashSet;

type Result<T> = std::result::Result<T, RdbError>;

const BAD: RdbError = RdbError::BadFormat;

/// A length as RDB encodes it: a count or size, or the marker of a
/// specially encoded string (an integer, or LZF).
enum Length {
    Plain(u64),
    Encoded(u8),
}

struct Reader<'a> {
    input: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8> {
        let byte = *self.input.get(self.at).ok_or(BAD)?;
        self.at += 1;
        Ok(byte)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).ok_or(BAD)?;
        let taken = self.input.get(self.at..end).ok_or(BAD)?;
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.take(N)?.try_into().map_err(|_| BAD)
    }

    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.at)
    }

    /// `00xxxxxx` 6 bits, `01xxxxxx xxxxxxxx` 14 bits, `0x80` + 32 bits
    /// and `0x81` + 64 bits big-endian; `11xxxxxx` an encoded string.
    fn length(&mut self) -> Result<Length> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => Length::Plain(u64::from(first & 0x3f)),
            1 => Length::Plain((u64::from(first & 0x3f) << 8) | u64::from(self.byte()?)),
            3 => Length::Encoded(first & 0x3f),
            _ if first == 0x80 => Length::Plain(u64::from(u32::from_be_bytes(self.array()?))),
            _ if first == 0x81 => Length::Plain(u64::from_be_bytes(self.array()?)),
            _ => return Err(BAD),
        })
    }

    /// A plain length.
    fn len(&mut self) -> Result<usize> {
        match self.length()? {
            Length::Plain(n) => usize::try_from(n).map_err(|_| BAD),
            Length::Encoded(_) => Err(BAD),
        }
    }

    /// A string: raw, an 8/16/32-bit integer (little-endian, as its
    /// decimal text), or LZF-compressed (compressed size, size, data).
    fn string(&mut self) -> Result<Bytes> {
        let int = |v: i64| Ok(Bytes::from(v.to_string()));
        match self.length()? {
            Length::Plain(n) => {
                let n = usize::try_from(n).map_err(|_| BAD)?;
                Ok(Bytes::copy_from_slice(self.take(n)?))
            }
            Length::Encoded(0) => int(i64::from(i8::from_le_bytes(self.array()?))),
            Length::Encoded(1) => int(i64::from(i16::from_le_bytes(self.array()?))),
            Length::Encoded(2) => int(i64::from(i32::from_le_bytes(self.array()?))),
            Length::Encoded(3) => {
                let compressed = self.len()?;
                let len = self.len()?;
                let data = self.take(compressed)?;
                lzf::decompress(data, len).map(Bytes::from).ok_or(BAD)
            }
            Length::Encoded(_) => Err(BAD),
        }
    }

    /// A count, then that many items; an empty collection is refused.
    fn counted<T>(&mut self, mut item: impl FnMut(&mut Reader<'a>) -> Result<T>) -> Result<Vec<T>> {
        let n = self.len()?;
        if n == 0 {
            return Err(BAD);
        }
        // Every item takes at least a byte: the input bounds the allocation.
        let mut items = Vec::with_capacity(n.min(self.remaining()));
        for _ in 0..n {
            items.push(item(&mut *self)?);
        }
        Ok(items)
    }

    /// A score as the old ZSET type writes it: a length byte, then the
    /// text (253: NaN, 254: +inf, 255: -inf).
    fn text_score(&mut self) -> Result<f64> {
        match self.byte()? {
            253 => Err(BAD),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            len => score(self.take(usize::from(len))?),
        }
    }

    /// A score as ZSET_2 writes it: a little-endian IEEE double.
    fn binary_score(&mut self) -> Result<f64> {
        let score = f64::from_le_bytes(self.array()?);
        if score.is_nan() { Err(BAD) } else { Ok(score) }
    }

    /// A string holding a packed blob, decoded by `decode`.
    fn packed(&mut self, decode: fn(&[u8]) -> Option<Vec<Bytes>>) -> Result<Vec<Bytes>> {
        decode(&self.string()?).ok_or(BAD)
    }
}

fn score(text: &[u8]) -> Result<f64> {
    parse_f64(text).map_err(|_| BAD)
}

/// Decodes the type byte and the value after it.
pub fn object(body: &[u8]) -> Result<Data> {
    let mut r = Reader { input: body, at: 0 };
    let kind = r.byte()?;
    match kind {
        kinds::STRING => Ok(Data::Str(r.string()?)),
        kinds::LIST => list(r.counted(Reader::string)?),
        kinds::SET => set(r.counted(Reader::string)?),
        kinds::ZSET => zset(r.counted(|r| Ok((r.string()?, r.text_score()?)))?),
        kinds::ZSET_2 => zset(r.counted(|r| Ok((r.string()?, r.binary_score()?)))?),
        kinds::HASH => hash(r.counted(|r| Ok((r.string()?, r.string()?)))?),
        kinds::LIST_ZIPLIST => list(r.packed(packed::ziplist)?),
        kinds::SET_INTSET => set(r.packed(packed::intset)?),
        kinds::SET_LISTPACK => set(r.packed(packed::listpack)?),
        kinds::ZSET_ZIPLIST => zset(scored(r.packed(packed::ziplist)?)?),
        kinds::ZSET_LISTPACK => zset(scored(r.packed(packed::listpack)?)?),
        kinds::HASH_ZIPLIST => hash(paired(r.packed(packed::ziplist)?)?),
        kinds::HASH_LISTPACK => hash(paired(r.packed(packed::listpack)?)?),
        kinds::LIST_QUICKLIST => list(r.counted(|r| r.packed(packed::ziplist))?.concat()),
        kinds::LIST_QUICKLIST_2 => list(r.counted(quicklist_node)?.concat()),
        kinds::HASH_ZIPMAP => Err(RdbError::Unsupported("zipmap-encoded hash")),
        kinds::MODULE_PRE_GA | kinds::MODULE_2 => Err(RdbError::Unsupported("module")),
        kinds::STREAM_LISTPACKS | kinds::STREAM_LISTPACKS_2 | kinds::STREAM_LISTPACKS_3 => {
            Err(RdbError::Unsupported("stream"))
        }
        _ => Err(BAD),
    }
}

/// A QUICKLIST_2 node: its container (1 plain: one element; 2 packed: a
/// listpack of elements), then its data.
fn quicklist_node(r: &mut Reader<'_>) -> Result<Vec<Bytes>> {
    match r.len()? {
        1 => Ok(vec![r.string()?]),
        2 => r.packed(packed::listpack),
        _ => Err(BAD),
    }
}

fn paired(entries: Vec<Bytes>) -> Result<Vec<(Bytes, Bytes)>> {
    if !entries.len().is_multiple_of(2) {
        return Err(BAD);
    }
    let mut items = entries.into_iter();
    Ok(std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect())
}

fn scored(entries: Vec<Bytes>) -> Result<Vec<(Bytes, f64)>> {
    paired(entries)?.into_iter().map(|(member, text)| Ok((member, score(&text)?))).collect()
}

/// Refuses what Redis does not load: nothing, or a name twice.
fn distinct<'a>(names: impl Iterator<Item = &'a Bytes>) -> Result<()> {
    let mut seen = HashSet::new();
    let mut any = false;
    for name in names {
        any = true;
        if !seen.insert(name) {
            return Err(BAD);
        }
    }
    if any { Ok(()) } else { Err(BAD) }
}

fn list(elements: Vec<Bytes>) -> Result<Data> {
    if elements.is_empty() {
        return Err(BAD);
    }
    Ok(Data::List(List::from_elements(elements)))
}

fn set(members: Vec<Bytes>) -> Result<Data> {
    distinct(members.iter())?;
    Ok(Data::Set(Set::from_members(members)))
}

fn zset(pairs: Vec<(Bytes, f64)>) -> Result<Data> {
    distinct(pairs.iter().map(|(member, _)| member))?;
    Ok(Data::ZSet(ZSet::from_pairs(pairs)))
}

fn hash(pairs: Vec<(Bytes, Bytes)>) -> Result<Data> {
    distinct(pairs.iter().map(|(field, _)| field))?;
    Ok(Data::Hash(Hash::from_pairs(pairs)))
}

/// The libraries' code in a FUNCTION DUMP body.
pub fn functions(body: &[u8]) -> Result<Vec<String>> {
    let mut r = Reader { input: body, at: 0 };
    let mut codes = Vec::new();
    while r.remaining() > 0 {
        if r.byte()? != super::FUNCTION2 {
            return Err(BAD);
        }
        codes.push(String::from_utf8(r.string()?.to_vec()).map_err(|_| BAD)?);
    }
    Ok(codes)
}
