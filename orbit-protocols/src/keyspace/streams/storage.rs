//! How a stream maps onto storage entries, and its reload.
//!
//! | sub-key | value |
//! |---|---|
//! | `m` | last ID (16) \| entries-added (u64) \| max-deleted-entry-id (16) |
//! | `e` + ID (16) | the entry: count (u32), then (len u32, bytes) per field and value |
//! | `g` + group | last-delivered ID (16) \| entries-read (i64, -1 unknown) |
//! | `c` + group length (u32) + group + consumer | seen-time (u64) \| active-time (i64, -1 never) |
//! | `p` + group length (u32) + group + ID (16) | delivery time (u64) \| delivery count (u64) \| consumer |
//!
//! Integers are big-endian. An append writes one `e` entry and `m`; a
//! delivery to a group writes one `p` entry per delivered ID, the group's
//! `g` and the consumer's `c`; so no command rewrites the whole stream.

use super::id::StreamId;
use super::{Consumer, Group, Nack, Stream};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use orbit_shared::WriteOp;

const META: u8 = b'm';
const ENTRY: u8 = b'e';
const GROUP: u8 = b'g';
const CONSUMER: u8 = b'c';
const PENDING: u8 = b'p';

pub fn meta_key() -> Bytes {
    Bytes::from_static(b"m")
}

pub fn entry_key(id: StreamId) -> Bytes {
    let mut out = BytesMut::with_capacity(17);
    out.put_u8(ENTRY);
    out.put_slice(&id.to_bytes());
    out.freeze()
}

pub fn group_key(group: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(1 + group.len());
    out.put_u8(GROUP);
    out.put_slice(group);
    out.freeze()
}

fn scoped(tag: u8, group: &[u8], rest: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + group.len() + rest.len());
    out.put_u8(tag);
    out.put_u32(group.len() as u32);
    out.put_slice(group);
    out.put_slice(rest);
    out.freeze()
}

pub fn consumer_key(group: &[u8], consumer: &[u8]) -> Bytes {
    scoped(CONSUMER, group, consumer)
}

pub fn nack_key(group: &[u8], id: StreamId) -> Bytes {
    scoped(PENDING, group, &id.to_bytes())
}

pub fn encode_meta(stream: &Stream) -> Bytes {
    let mut out = BytesMut::with_capacity(40);
    out.put_slice(&stream.last_id.to_bytes());
    out.put_u64(stream.entries_added);
    out.put_slice(&stream.max_deleted.to_bytes());
    out.freeze()
}

pub fn encode_fields(fields: &[Bytes]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + fields.iter().map(|f| 4 + f.len()).sum::<usize>());
    out.put_u32(fields.len() as u32);
    for field in fields {
        out.put_u32(field.len() as u32);
        out.put_slice(field);
    }
    out.freeze()
}

pub fn encode_group(group: &Group) -> Bytes {
    let mut out = BytesMut::with_capacity(24);
    out.put_slice(&group.last_id.to_bytes());
    out.put_i64(group.entries_read);
    out.freeze()
}

pub fn encode_consumer(consumer: &Consumer) -> Bytes {
    let mut out = BytesMut::with_capacity(16);
    out.put_u64(consumer.seen_ms);
    out.put_i64(consumer.active_ms.map_or(-1, |ms| ms as i64));
    out.freeze()
}

pub fn encode_nack(nack: &Nack) -> Bytes {
    let mut out = BytesMut::with_capacity(16 + nack.consumer.len());
    out.put_u64(nack.delivered_ms);
    out.put_u64(nack.count);
    out.put_slice(&nack.consumer);
    out.freeze()
}

fn take_id(input: &mut Bytes) -> Option<StreamId> {
    (input.remaining() >= 16).then(|| input.split_to(16)).and_then(|b| StreamId::from_bytes(&b))
}

fn take_u64(input: &mut Bytes) -> Option<u64> {
    (input.remaining() >= 8).then(|| input.get_u64())
}

fn decode_fields(mut input: Bytes) -> Option<Vec<Bytes>> {
    if input.remaining() < 4 {
        return None;
    }
    let count = input.get_u32() as usize;
    let mut fields = Vec::with_capacity(count.min(input.remaining() / 4));
    for _ in 0..count {
        if input.remaining() < 4 {
            return None;
        }
        let len = input.get_u32() as usize;
        if input.remaining() < len {
            return None;
        }
        fields.push(input.split_to(len));
    }
    (!input.has_remaining()).then_some(fields)
}

/// Splits a `c`/`p` sub-key body into the group name and the rest.
fn split_scoped(mut body: Bytes) -> Option<(Bytes, Bytes)> {
    if body.remaining() < 4 {
        return None;
    }
    let len = body.get_u32() as usize;
    (body.remaining() >= len).then(|| {
        let group = body.split_to(len);
        (group, body)
    })
}

/// The group a `c`/`p` entry belongs to; groups load before their parts.
fn group_of<'a>(stream: &'a mut Stream, name: &Bytes) -> Result<&'a mut Group, String> {
    stream.groups.get_mut(name).ok_or_else(|| format!("stream entry of unknown group {name:?}"))
}

/// Rebuilds a stream from its stored entries (sub-key, value), in any order.
pub fn load(entries: Vec<(Bytes, Bytes)>) -> Result<Stream, String> {
    let mut stream = Stream::default();
    let mut parts = Vec::new();
    for (sub, value) in entries {
        let bad = || format!("bad stream entry {sub:?}");
        let body = sub.slice(1.min(sub.len())..);
        match sub.first() {
            Some(&META) => {
                let mut input = value.clone();
                stream.last_id = take_id(&mut input).ok_or_else(bad)?;
                stream.entries_added = take_u64(&mut input).ok_or_else(bad)?;
                stream.max_deleted = take_id(&mut input).ok_or_else(bad)?;
            }
            Some(&ENTRY) => {
                let id = StreamId::from_bytes(&body).ok_or_else(bad)?;
                stream.entries.insert(id, decode_fields(value).ok_or_else(bad)?);
            }
            Some(&GROUP) => {
                let mut input = value.clone();
                let last_id = take_id(&mut input).ok_or_else(bad)?;
                let entries_read = take_u64(&mut input).ok_or_else(bad)? as i64;
                let group = Group { last_id, entries_read, ..Group::default() };
                stream.groups.insert(body, group);
            }
            Some(&CONSUMER | &PENDING) => parts.push((sub, value)),
            _ => return Err(bad()),
        }
    }
    for (sub, mut value) in parts {
        let bad = || format!("bad stream entry {sub:?}");
        let (group, rest) = split_scoped(sub.slice(1..)).ok_or_else(bad)?;
        let group = group_of(&mut stream, &group)?;
        if sub.first() == Some(&CONSUMER) {
            let seen_ms = take_u64(&mut value).ok_or_else(bad)?;
            let active = take_u64(&mut value).ok_or_else(bad)? as i64;
            let active_ms = (active >= 0).then_some(active as u64);
            group.consumers.insert(rest, Consumer { seen_ms, active_ms });
        } else {
            let id = StreamId::from_bytes(&rest).ok_or_else(bad)?;
            let delivered_ms = take_u64(&mut value).ok_or_else(bad)?;
            let count = take_u64(&mut value).ok_or_else(bad)?;
            group.pel.insert(id, Nack { consumer: value, delivered_ms, count });
        }
    }
    Ok(stream)
}

impl Stream {
    /// Every entry to store for this stream.
    pub fn storage_entries(&self) -> Vec<(Bytes, Bytes)> {
        let mut out = vec![(meta_key(), encode_meta(self))];
        out.extend(self.entries.iter().map(|(id, fields)| (entry_key(*id), encode_fields(fields))));
        for (name, group) in &self.groups {
            out.push((group_key(name), encode_group(group)));
            for (consumer, c) in &group.consumers {
                out.push((consumer_key(name, consumer), encode_consumer(c)));
            }
            for (id, nack) in &group.pel {
                out.push((nack_key(name, *id), encode_nack(nack)));
            }
        }
        out
    }

    pub fn subkeys(&self) -> impl Iterator<Item = Bytes> {
        self.storage_entries().into_iter().map(|(sub, _)| sub)
    }

    pub fn entries(&self) -> impl Iterator<Item = WriteOp> {
        self.storage_entries().into_iter().map(|(sub, value)| WriteOp::Put(sub, value))
    }
}
