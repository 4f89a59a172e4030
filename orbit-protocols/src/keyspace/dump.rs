//! [`Dumped`]: a whole key (value and expiry) as bytes, for the commands that
//! move values between keys (RENAME, COPY, SMOVE, *STORE). The front door
//! reads a key with the internal `orbit.dump`, computes, and writes the
//! result with `orbit.restore`.
//!
//! Format: `version (1) | type (u8) | has expiry (u8) | expiry (u64 LE) |
//! count (u32 LE) | items`, every item a `u32 LE` length and its bytes; a
//! hash stores field, value pairs, a zset member, score (8 bytes LE) pairs, a stream its storage entries
//! (sub-key, value pairs, `streams/storage.rs`).

use super::{Data, Hash, List, Set, ZSet};
use bytes::{Buf, BufMut, Bytes, BytesMut};

const VERSION: u8 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Dumped {
    pub data: Data,
    pub expire_at: Option<u64>,
}

fn put_item(out: &mut BytesMut, item: &[u8]) {
    out.put_u32_le(item.len() as u32);
    out.put_slice(item);
}

fn take_item(input: &mut Bytes) -> Option<Bytes> {
    if input.remaining() < 4 {
        return None;
    }
    let len = input.get_u32_le() as usize;
    (input.remaining() >= len).then(|| input.split_to(len))
}

impl Dumped {
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        out.put_u8(VERSION);
        let (tag, count) = match &self.data {
            Data::Str(_) => (0u8, 1),
            Data::List(l) => (1, l.len()),
            Data::Hash(h) => (2, h.len()),
            Data::Set(s) => (3, s.len()),
            Data::ZSet(z) => (4, z.len()),
            Data::Stream(st) => (5, st.storage_entries().len()),
        };
        out.put_u8(tag);
        out.put_u8(u8::from(self.expire_at.is_some()));
        out.put_u64_le(self.expire_at.unwrap_or(0));
        out.put_u32_le(count as u32);
        match &self.data {
            Data::Str(s) => put_item(&mut out, s),
            Data::List(l) => l.elements().for_each(|e| put_item(&mut out, e)),
            Data::Hash(h) => h.pairs().for_each(|(f, v)| {
                put_item(&mut out, f);
                put_item(&mut out, v);
            }),
            Data::Set(s) => s.members().for_each(|m| put_item(&mut out, m)),
            Data::ZSet(z) => z.pairs().for_each(|(m, score)| {
                put_item(&mut out, m);
                put_item(&mut out, &score.to_le_bytes());
            }),
            Data::Stream(st) => st.storage_entries().iter().for_each(|(sub, value)| {
                put_item(&mut out, sub);
                put_item(&mut out, value);
            }),
        }
        out.freeze()
    }

    /// Decodes a payload; `None` for anything malformed.
    pub fn decode(payload: &[u8]) -> Option<Dumped> {
        let mut input = Bytes::copy_from_slice(payload);
        if input.remaining() < 15 || input.get_u8() != VERSION {
            return None;
        }
        let tag = input.get_u8();
        let has_expiry = input.get_u8() == 1;
        let expire_at = input.get_u64_le();
        let count = input.get_u32_le() as usize;
        // Every item takes at least 4 bytes: bound the allocation by the input.
        let mut items = Vec::with_capacity(count.min(input.remaining() / 4));
        let per = if matches!(tag, 2 | 4 | 5) { 2 } else { 1 };
        for _ in 0..count.checked_mul(per)? {
            items.push(take_item(&mut input)?);
        }
        if input.has_remaining() {
            return None;
        }
        let data = match tag {
            0 => Data::Str(items.pop()?),
            1 => Data::List(List::from_elements(items)),
            2 => Data::Hash(Hash::from_pairs(pairs(items).collect())),
            3 => Data::Set(Set::from_members(items)),
            4 => {
                let mut scored = Vec::with_capacity(items.len() / 2);
                for (m, s) in pairs(items) {
                    let score = f64::from_le_bytes(s.as_ref().try_into().ok()?);
                    if score.is_nan() {
                        return None;
                    }
                    scored.push((m, score));
                }
                Data::ZSet(ZSet::from_pairs(scored))
            }
            5 => Data::Stream(super::streams::load(pairs(items).collect()).ok()?),
            _ => return None,
        };
        Some(Dumped { data, expire_at: has_expiry.then_some(expire_at) })
    }
}

fn pairs(items: Vec<Bytes>) -> impl Iterator<Item = (Bytes, Bytes)> {
    let mut it = items.into_iter();
    std::iter::from_fn(move || Some((it.next()?, it.next()?)))
}
