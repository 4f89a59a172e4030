//! LZF decompression (liblzf's `lzf_d.c`), for the compressed strings of
//! DUMP payloads: Redis compresses a string over 20 bytes when that saves
//! space (`rdbcompression yes`, the default).
//!
//! The stream is a sequence of runs: a control byte below 32 is followed by
//! `ctrl + 1` literal bytes; any other is a back reference of
//! `(ctrl >> 5) + 2` bytes (an extra length byte when `ctrl >> 5 == 7`) at
//! distance `((ctrl & 0x1f) << 8) + next byte + 1` behind the output.

/// Most output one input byte can stand for: a 3-byte back reference copies
/// at most 264 bytes.
const MAX_RATIO: usize = 88;

/// Decompresses `input` into exactly `len` bytes; `None` if the stream is
/// malformed or does not produce `len` bytes.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    if len > input.len().saturating_mul(MAX_RATIO) {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    let mut at = 0;
    while at < input.len() {
        let ctrl = usize::from(input[at]);
        at += 1;
        if ctrl < 32 {
            let run = input.get(at..at + ctrl + 1)?;
            if out.len() + run.len() > len {
                return None;
            }
            out.extend_from_slice(run);
            at += ctrl + 1;
            continue;
        }
        let mut run = ctrl >> 5;
        if run == 7 {
            run += usize::from(*input.get(at)?);
            at += 1;
        }
        let distance = ((ctrl & 0x1f) << 8) + usize::from(*input.get(at)?) + 1;
        at += 1;
        run += 2;
        if distance > out.len() || out.len() + run > len {
            return None;
        }
        // Byte by byte: the reference may overlap what it produces.
        for _ in 0..run {
            let byte = out[out.len() - distance];
            out.push(byte);
        }
    }
    (out.len() == len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_literals_and_overlapping_references() {
        // What Redis 7.0 DUMPs for 100 times "a": a literal "aa", a
        // reference one byte back of 7 + 87 + 2 bytes, a literal "aa".
        let compressed = [0x01, b'a', b'a', 0xe0, 0x57, 0x00, 0x01, b'a', b'a'];
        assert_eq!(decompress(&compressed, 100), Some(vec![b'a'; 100]));
        assert_eq!(decompress(&compressed, 99), None, "a wrong length is refused");
        assert_eq!(decompress(&[0x02, b'x', b'y', b'z'], 3), Some(b"xyz".to_vec()));
        assert_eq!(decompress(&[0x20, 0x05], 3), None, "a reference before the start");
        assert_eq!(decompress(&[0x05, b'x'], 6), None, "a truncated literal run");
        assert_eq!(decompress(&[0x00, b'x'], usize::MAX), None, "an absurd length");
    }
}
