//! The packed encodings Redis stores small collections in, as they appear
//! inside DUMP payloads: listpacks (Redis 7), ziplists (older payloads) and
//! intsets. Each decodes to its entries in order, integers as their
//! decimal text, or `None` when the blob is malformed (never a panic: every
//! length is checked against the blob).

use bytes::Bytes;

fn le_bytes<const N: usize>(blob: &[u8], at: usize) -> Option<[u8; N]> {
    blob.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn text(value: i64) -> Bytes {
    Bytes::from(value.to_string())
}

fn slice(blob: &[u8], at: usize, len: usize) -> Option<Bytes> {
    blob.get(at..at.checked_add(len)?).map(Bytes::copy_from_slice)
}

/// A listpack: `total bytes (u32 LE) | count (u16 LE) | entries | 0xFF`,
/// each entry its encoding and data, then its length backwards.
pub fn listpack(blob: &[u8]) -> Option<Vec<Bytes>> {
    let total = u32::from_le_bytes(le_bytes(blob, 0)?) as usize;
    let count = u16::from_le_bytes(le_bytes(blob, 4)?);
    if total != blob.len() {
        return None;
    }
    let mut entries = Vec::new();
    let mut at = 6;
    while *blob.get(at)? != 0xff {
        let (entry, size) = listpack_entry(blob, at)?;
        entries.push(entry);
        at += size + backlen_size(size);
    }
    let counted = count == u16::MAX || usize::from(count) == entries.len();
    (counted && at + 1 == blob.len()).then_some(entries)
}

/// The bytes of a listpack entry's back length, by the size it encodes.
fn backlen_size(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..16383 => 2,
        16383..2_097_151 => 3,
        2_097_151..268_435_455 => 4,
        _ => 5,
    }
}

/// One listpack entry at `at`: its value and the size of its encoding and
/// data (without the back length).
fn listpack_entry(blob: &[u8], at: usize) -> Option<(Bytes, usize)> {
    let first = *blob.get(at)?;
    let next = || blob.get(at + 1).map(|&b| usize::from(b));
    Some(match first {
        0x00..=0x7f => (text(i64::from(first)), 1),
        0x80..=0xbf => {
            let len = usize::from(first & 0x3f);
            (slice(blob, at + 1, len)?, 1 + len)
        }
        0xc0..=0xdf => {
            let raw = ((usize::from(first & 0x1f) << 8) | next()?) as i64;
            (text(if raw >= 1 << 12 { raw - (1 << 13) } else { raw }), 2)
        }
        0xe0..=0xef => {
            let len = (usize::from(first & 0x0f) << 8) | next()?;
            (slice(blob, at + 2, len)?, 2 + len)
        }
        0xf0 => {
            let len = u32::from_le_bytes(le_bytes(blob, at + 1)?) as usize;
            (slice(blob, at + 5, len)?, 5 + len)
        }
        0xf1 => (text(i64::from(i16::from_le_bytes(le_bytes(blob, at + 1)?))), 3),
        0xf2 => {
            let [a, b, c] = le_bytes::<3>(blob, at + 1)?;
            (text(i64::from(i32::from_le_bytes([0, a, b, c]) >> 8)), 4)
        }
        0xf3 => (text(i64::from(i32::from_le_bytes(le_bytes(blob, at + 1)?))), 5),
        0xf4 => (text(i64::from_le_bytes(le_bytes(blob, at + 1)?)), 9),
        _ => return None,
    })
}

/// A ziplist: `total bytes (u32 LE) | tail offset (u32 LE) | count (u16
/// LE) | entries | 0xFF`, each entry the previous entry's length (1 or 5
/// bytes), its encoding and data.
pub fn ziplist(blob: &[u8]) -> Option<Vec<Bytes>> {
    let total = u32::from_le_bytes(le_bytes(blob, 0)?) as usize;
    if total != blob.len() {
        return None;
    }
    let mut entries = Vec::new();
    let mut at = 10;
    loop {
        at += match *blob.get(at)? {
            0xff => break,
            0xfe => 5,
            _ => 1,
        };
        let (entry, size) = ziplist_entry(blob, at)?;
        entries.push(entry);
        at += size;
    }
    (at + 1 == blob.len()).then_some(entries)
}

/// One ziplist entry's encoding and data at `at`: its value and size.
fn ziplist_entry(blob: &[u8], at: usize) -> Option<(Bytes, usize)> {
    let first = *blob.get(at)?;
    let int = |width: usize| -> Option<(Bytes, usize)> {
        let value = match width {
            1 => i64::from(i8::from_le_bytes(le_bytes(blob, at + 1)?)),
            2 => i64::from(i16::from_le_bytes(le_bytes(blob, at + 1)?)),
            3 => {
                let [a, b, c] = le_bytes::<3>(blob, at + 1)?;
                i64::from(i32::from_le_bytes([0, a, b, c]) >> 8)
            }
            4 => i64::from(i32::from_le_bytes(le_bytes(blob, at + 1)?)),
            _ => i64::from_le_bytes(le_bytes(blob, at + 1)?),
        };
        Some((text(value), 1 + width))
    };
    match first {
        0x00..=0x3f => {
            let len = usize::from(first);
            Some((slice(blob, at + 1, len)?, 1 + len))
        }
        0x40..=0x7f => {
            let len = (usize::from(first & 0x3f) << 8) | usize::from(*blob.get(at + 1)?);
            Some((slice(blob, at + 2, len)?, 2 + len))
        }
        0x80 => {
            let len = u32::from_be_bytes(le_bytes(blob, at + 1)?) as usize;
            Some((slice(blob, at + 5, len)?, 5 + len))
        }
        0xc0 => int(2),
        0xd0 => int(4),
        0xe0 => int(8),
        0xf0 => int(3),
        0xfe => int(1),
        0xf1..=0xfd => Some((text(i64::from(first & 0x0f) - 1), 1)),
        _ => None,
    }
}

/// An intset: `width (u32 LE: 2, 4 or 8) | count (u32 LE) | values LE`.
pub fn intset(blob: &[u8]) -> Option<Vec<Bytes>> {
    let width = u32::from_le_bytes(le_bytes(blob, 0)?) as usize;
    let count = u32::from_le_bytes(le_bytes(blob, 4)?) as usize;
    if !matches!(width, 2 | 4 | 8) || blob.len() != 8 + width.checked_mul(count)? {
        return None;
    }
    let values = blob[8..].chunks_exact(width).map(|chunk| {
        let value = match chunk {
            [a, b] => i64::from(i16::from_le_bytes([*a, *b])),
            [a, b, c, d] => i64::from(i32::from_le_bytes([*a, *b, *c, *d])),
            _ => chunk.try_into().map_or(0, i64::from_le_bytes),
        };
        text(value)
    });
    Some(values.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(entries: Option<Vec<Bytes>>) -> Option<Vec<String>> {
        entries.map(|e| e.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect())
    }

    #[test]
    fn listpack_decodes_every_encoding() {
        // The listpack of a quicklist node Redis 7.0 DUMPs for
        // RPUSH l a 1 b: "a", 7-bit 1, "b".
        let blob = b"\x0f\x00\x00\x00\x03\x00\x81a\x02\x01\x01\x81b\x02\xff";
        assert_eq!(texts(listpack(blob)), Some(vec!["a".into(), "1".into(), "b".into()]));
        // 13-bit -1, int16 1000, int24 -100000, int32, int64.
        let mut blob = vec![0u8; 6];
        blob.extend_from_slice(&[0xdf, 0xff, 2]);
        blob.extend_from_slice(&[0xf1, 0xe8, 0x03, 4]);
        blob.extend_from_slice(&[0xf2, 0x60, 0x79, 0xfe, 5]);
        blob.extend_from_slice(&[0xf3, 0x00, 0x00, 0x00, 0x80, 6]);
        blob.extend_from_slice(&[0xf4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 10]);
        blob.push(0xff);
        let total = blob.len() as u32;
        blob[..4].copy_from_slice(&total.to_le_bytes());
        blob[4..6].copy_from_slice(&5u16.to_le_bytes());
        let expected = ["-1", "1000", "-100000", "-2147483648", "9223372036854775807"];
        assert_eq!(texts(listpack(&blob)), Some(expected.map(String::from).to_vec()));
        blob[4] = 4;
        assert_eq!(listpack(&blob), None, "a count that does not match");
        assert_eq!(listpack(&blob[..blob.len() - 1]), None, "a truncated blob");
    }

    #[test]
    fn ziplist_decodes_strings_and_integers() {
        // zlbytes, zltail, zllen, then "ab", int8 -2, immediate 7, int16 300.
        let mut blob = vec![0u8; 10];
        blob.extend_from_slice(&[0, 0x02, b'a', b'b']);
        blob.extend_from_slice(&[4, 0xfe, 0xfe]);
        blob.extend_from_slice(&[3, 0xf8]);
        blob.extend_from_slice(&[2, 0xc0, 0x2c, 0x01]);
        blob.push(0xff);
        let total = blob.len() as u32;
        blob[..4].copy_from_slice(&total.to_le_bytes());
        assert_eq!(texts(ziplist(&blob)), Some(["ab", "-2", "7", "300"].map(String::from).to_vec()));
        assert_eq!(ziplist(&blob[..blob.len() - 2]), None);
    }

    #[test]
    fn intset_decodes_each_width() {
        let mut blob = 2u32.to_le_bytes().to_vec();
        blob.extend_from_slice(&2u32.to_le_bytes());
        blob.extend_from_slice(&(-5i16).to_le_bytes());
        blob.extend_from_slice(&7i16.to_le_bytes());
        assert_eq!(texts(intset(&blob)), Some(vec!["-5".into(), "7".into()]));
        blob.push(0);
        assert_eq!(intset(&blob), None);
        let mut wide = 8u32.to_le_bytes().to_vec();
        wide.extend_from_slice(&1u32.to_le_bytes());
        wide.extend_from_slice(&i64::MIN.to_le_bytes());
        assert_eq!(texts(intset(&wide)), Some(vec![i64::MIN.to_string()]));
        assert_eq!(intset(&[3, 0, 0, 0, 0, 0, 0, 0]), None, "an unknown width");
    }
}
