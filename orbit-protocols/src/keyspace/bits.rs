//! Bitmap commands on one key's string: SETBIT, GETBIT, BITCOUNT, BITPOS,
//! BITFIELD and BITFIELD_RO (BITOP reads several keys: the front door runs
//! it, `resp/cmd/bitop.rs`). Bit 0 is the most significant bit of the
//! first byte; past the end a string reads as zeros. Replies, errors and
//! the order of the checks follow Redis 7.2.
//!
//! A write zero-pads the string up to the last bit it addresses and keeps
//! the key's TTL. The string is one entry (the empty sub-key), so each write
//! queues one `WriteOp::Put` of the whole value.

use super::strings::read;
use super::{Arity, Data, Handler, KeyState, WriteOp, arg, parse_i64, run_checked};
use crate::keyspace::value::{Value, errors};
use bytes::Bytes;

/// Bit offsets stop below 2^32, as Redis' `proto-max-bulk-len` (512 MB)
/// caps them: no write grows a string past 512 MB and 8 bytes.
const BIT_OFFSET_LIMIT: u64 = 512 * 1024 * 1024 * 8;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";
const BAD_BITPOS_BIT: &str = "ERR The bit argument must be 1 or 0.";
const BAD_FIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const BAD_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
const READ_ONLY_GET: &str = "ERR BITFIELD_RO only supports the GET subcommand";

pub(super) fn exec(ks: &mut KeyState, name: &str, args: &[Bytes], now_ms: u64) -> Option<Value> {
    use Arity::{AtLeast, Exact};
    let (arity, run): (Arity, Handler) = match name {
        "setbit" => (Exact(2), setbit),
        "getbit" => (Exact(1), getbit),
        "bitcount" => (AtLeast(0), bitcount),
        "bitpos" => (AtLeast(1), bitpos),
        "bitfield" => (AtLeast(0), |ks, args, now| bitfield(ks, args, now, false)),
        "bitfield_ro" => (AtLeast(0), |ks, args, now| bitfield(ks, args, now, true)),
        _ => return None,
    };
    Some(run_checked(ks, name, arity, run, args, now_ms))
}

/// Makes `value` the key's string, keeping its TTL (bit writes change a
/// string in place). Call after `read`, so the key is live or gone.
fn store(ks: &mut KeyState, value: Bytes) {
    if let Some(Data::Str(old)) = &mut ks.data {
        *old = value.clone();
        ks.pending.push(WriteOp::Put(Bytes::new(), value));
    } else {
        ks.replace(Data::Str(value));
    }
}

/// A bit offset: a non-negative integer below [`BIT_OFFSET_LIMIT`]. With
/// a field `width` (BITFIELD), `#n` means field `n`: bit `n * width`.
fn bit_offset(arg: &[u8], width: Option<u32>) -> Result<u64, Value> {
    let bad = || Value::err(BAD_OFFSET);
    let (digits, scale) = match (arg.split_first(), width) {
        (Some((b'#', rest)), Some(width)) => (rest, i64::from(width)),
        _ => (arg, 1),
    };
    let n = parse_i64(digits).map_err(|_| bad())?;
    let offset = n.checked_mul(scale).ok_or_else(bad)?;
    u64::try_from(offset).ok().filter(|&o| o < BIT_OFFSET_LIMIT).ok_or_else(bad)
}

/// Bit `offset` of `s`; zero past its end.
fn bit_at(s: &[u8], offset: u64) -> bool {
    let byte = usize::try_from(offset / 8).ok().and_then(|i| s.get(i));
    byte.is_some_and(|&b| b & (0x80u8 >> (offset % 8)) != 0)
}

/// SETBIT key offset 0|1: the bit's previous value. Writes only when the
/// bit changes or the string grows.
fn setbit(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let offset = bit_offset(&arg(args, 0), None)?;
    let on = match parse_i64(&arg(args, 1)) {
        Ok(bit @ (0 | 1)) => bit == 1,
        _ => return Err(Value::err(BAD_BIT)),
    };
    let current = read(ks, now_ms)?;
    let was = current.as_deref().is_some_and(|s| bit_at(s, offset));
    // Below 2^29: the offset is capped.
    let byte = (offset / 8) as usize;
    let grows = current.as_ref().is_none_or(|s| s.len() <= byte);
    if grows || was != on {
        let mut buf = current.map_or_else(Vec::new, |s| s.to_vec());
        if buf.len() <= byte {
            buf.resize(byte + 1, 0);
        }
        let mask = 0x80u8 >> (offset % 8);
        if let Some(b) = buf.get_mut(byte) {
            if on { *b |= mask } else { *b &= !mask }
        }
        store(ks, Bytes::from(buf));
    }
    Ok(Value::Int(i64::from(was)))
}

/// GETBIT key offset
fn getbit(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let offset = bit_offset(&arg(args, 0), None)?;
    let value = read(ks, now_ms)?;
    Ok(Value::Int(i64::from(value.as_deref().is_some_and(|s| bit_at(s, offset)))))
}

/// The unit of a BITCOUNT or BITPOS range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Byte,
    Bit,
}

impl Unit {
    fn parse(arg: &[u8]) -> Result<Unit, Value> {
        if arg.eq_ignore_ascii_case(b"bit") {
            Ok(Unit::Bit)
        } else if arg.eq_ignore_ascii_case(b"byte") {
            Ok(Unit::Byte)
        } else {
            Err(Value::err(errors::SYNTAX))
        }
    }

    /// How many units a string of `len` bytes has.
    fn count(self, len: usize) -> i64 {
        let len = len as i64;
        if self == Unit::Bit { len * 8 } else { len }
    }

    /// The first and last bit of units `from..=to`.
    fn bits(self, from: u64, to: u64) -> (u64, u64) {
        if self == Unit::Bit { (from, to) } else { (from * 8, to * 8 + 7) }
    }
}

/// An inclusive range over `len` units as Redis resolves it: a negative
/// index counts from the end, both ends are clamped to the string; `None`
/// when nothing is left.
fn clamp(len: i64, start: i64, end: i64) -> Option<(u64, u64)> {
    let from_end = |i: i64| if i < 0 { len.saturating_add(i).max(0) } else { i };
    let (start, end) = (from_end(start), from_end(end).min(len - 1));
    if start > end {
        return None;
    }
    Some((u64::try_from(start).ok()?, u64::try_from(end).ok()?))
}

/// The set bits from bit `from` to bit `to` (inclusive) of `s`.
fn count_ones(s: &[u8], from: u64, to: u64) -> i64 {
    let (first, last) = ((from / 8) as usize, (to / 8) as usize);
    let Some(bytes) = s.get(first..=last) else { return 0 };
    let all: u64 = bytes.iter().map(|b| u64::from(b.count_ones())).sum();
    // The bits of the first byte before `from`, of the last after `to`.
    let before = bytes.first().map_or(0, |&b| (b & !(0xFFu8 >> (from % 8))).count_ones());
    let after = bytes.last().map_or(0, |&b| (b & (0x7Fu8 >> (to % 8))).count_ones());
    (all - u64::from(before) - u64::from(after)) as i64
}

/// BITCOUNT key [start end [BYTE|BIT]]
fn bitcount(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let range = match args {
        [] => None,
        [start, end, rest @ ..] if rest.len() <= 1 => {
            let (start, end) = (parse_i64(start)?, parse_i64(end)?);
            let unit = rest.first().map_or(Ok(Unit::Byte), |u| Unit::parse(&u[..]))?;
            Some((start, end, unit))
        }
        _ => return Err(Value::err(errors::SYNTAX)),
    };
    let Some(s) = read(ks, now_ms)? else { return Ok(Value::Int(0)) };
    let (start, end, unit) = range.unwrap_or((0, -1, Unit::Byte));
    // Redis' shortcut, before the ends are clamped.
    if start < 0 && end < 0 && start > end {
        return Ok(Value::Int(0));
    }
    let Some((from, to)) = clamp(unit.count(s.len()), start, end) else { return Ok(Value::Int(0)) };
    let (from, to) = unit.bits(from, to);
    Ok(Value::Int(count_ones(&s, from, to)))
}

/// The first bit equal to `one` from bit `from` to bit `to` (inclusive)
/// of `s`.
fn first_bit(s: &[u8], one: bool, from: u64, to: u64) -> Option<u64> {
    let (first, last) = ((from / 8) as usize, (to / 8) as usize);
    let bytes = s.get(first..=last)?;
    let end = bytes.len().saturating_sub(1);
    bytes.iter().enumerate().find_map(|(i, &b)| {
        let mut in_range = 0xFFu8;
        if i == 0 {
            in_range &= 0xFFu8 >> (from % 8);
        }
        if i == end {
            in_range &= !(0x7Fu8 >> (to % 8));
        }
        let hits = (if one { b } else { !b }) & in_range;
        if hits == 0 {
            return None;
        }
        Some((first + i) as u64 * 8 + u64::from(hits.leading_zeros()))
    })
}

/// BITPOS key 0|1 [start [end [BYTE|BIT]]]: the first bit with that value
/// in the range, or -1. Without an end the string counts as followed by
/// zeros, so a clear bit is found just past it.
fn bitpos(ks: &mut KeyState, args: &[Bytes], now_ms: u64) -> Result<Value, Value> {
    let one = match parse_i64(&arg(args, 0))? {
        0 => false,
        1 => true,
        _ => return Err(Value::err(BAD_BITPOS_BIT)),
    };
    let range = args.get(1..).unwrap_or_default();
    if range.len() > 3 {
        return Err(Value::err(errors::SYNTAX));
    }
    // Redis' order: start, the unit, then end.
    let start = range.first().map(|a| parse_i64(&a[..])).transpose()?;
    let unit = range.get(2).map_or(Ok(Unit::Byte), |u| Unit::parse(&u[..]))?;
    let end = range.get(1).map(|a| parse_i64(&a[..])).transpose()?;
    let Some(s) = read(ks, now_ms)? else { return Ok(Value::Int(if one { -1 } else { 0 })) };
    let len = unit.count(s.len());
    let Some((from, to)) = clamp(len, start.unwrap_or(0), end.unwrap_or(len - 1)) else {
        return Ok(Value::Int(-1));
    };
    let (from, to) = unit.bits(from, to);
    Ok(Value::Int(match first_bit(&s, one, from, to) {
        Some(pos) => pos as i64,
        None if one || end.is_some() => -1,
        None => (to + 1) as i64,
    }))
}

/// What BITFIELD does when a value does not fit its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// A BITFIELD integer: `i1`..`i64` or `u1`..`u63` at a bit offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    signed: bool,
    bits: u32,
    offset: u64,
}

impl Field {
    /// Parses `i<bits>` or `u<bits>` (lower case, as Redis).
    fn parse_type(arg: &[u8]) -> Result<(bool, u32), Value> {
        let bad = || Value::err(BAD_FIELD_TYPE);
        let (signed, digits) = match arg.split_first() {
            Some((b'i', digits)) => (true, digits),
            Some((b'u', digits)) => (false, digits),
            _ => return Err(bad()),
        };
        let bits = parse_i64(digits).map_err(|_| bad())?;
        let widest = if signed { 64 } else { 63 };
        if !(1..=widest).contains(&bits) {
            return Err(bad());
        }
        Ok((signed, bits as u32))
    }

    /// The smallest and largest value the field holds.
    fn range(self) -> (i128, i128) {
        if self.signed {
            let half = 1i128 << (self.bits - 1);
            (-half, half - 1)
        } else {
            (0, (1i128 << self.bits) - 1)
        }
    }

    /// The field's value from its raw bits: the low `bits` of `raw`, sign
    /// extended for a signed field.
    fn value_of(self, raw: u64) -> i64 {
        if self.bits == 64 {
            return raw as i64;
        }
        let raw = raw & ((1u64 << self.bits) - 1);
        let negative = self.signed && raw & (1u64 << (self.bits - 1)) != 0;
        if negative { (raw | (u64::MAX << self.bits)) as i64 } else { raw as i64 }
    }

    fn get(self, s: &[u8]) -> i64 {
        let raw =
            (0..u64::from(self.bits)).fold(0u64, |raw, j| (raw << 1) | u64::from(bit_at(s, self.offset + j)));
        self.value_of(raw)
    }

    /// Writes the low `bits` of `value`; `buf` already reaches the field.
    fn set(self, buf: &mut [u8], value: i64) {
        let raw = value as u64;
        for j in 0..u64::from(self.bits) {
            let offset = self.offset + j;
            let mask = 0x80u8 >> (offset % 8);
            if let Some(b) = usize::try_from(offset / 8).ok().and_then(|i| buf.get_mut(i)) {
                if (raw >> (u64::from(self.bits) - 1 - j)) & 1 == 1 { *b |= mask } else { *b &= !mask }
            }
        }
    }

    /// `value` made to fit the field by `overflow`; `None` for FAIL.
    fn fit(self, value: i128, overflow: Overflow) -> Option<i64> {
        let (min, max) = self.range();
        if (min..=max).contains(&value) {
            // Within i64: the widest field is i64.
            return Some(value as i64);
        }
        match overflow {
            // Two's complement keeps the low bits, as Redis' unsigned sums.
            Overflow::Wrap => Some(self.value_of(value as u64)),
            Overflow::Sat => Some((if value > max { max } else { min }) as i64),
            Overflow::Fail => None,
        }
    }

    /// The last bit the field covers.
    fn last_bit(self) -> u64 {
        self.offset + u64::from(self.bits) - 1
    }
}

/// One BITFIELD operation, with the OVERFLOW mode in force where it stood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get(Field),
    Set(Field, i64, Overflow),
    IncrBy(Field, i64, Overflow),
}

impl FieldOp {
    /// The last bit a write covers; `None` for GET.
    fn last_written(&self) -> Option<u64> {
        match self {
            FieldOp::Get(_) => None,
            FieldOp::Set(f, ..) | FieldOp::IncrBy(f, ..) => Some(f.last_bit()),
        }
    }

    /// Runs on `buf`, which reaches every written field: GET and INCRBY
    /// answer the field's new value, SET its old one, a FAIL overflow nil
    /// (and writes nothing).
    fn apply(&self, buf: &mut [u8]) -> Value {
        let (field, target, overflow, old) = match *self {
            FieldOp::Get(f) => return Value::Int(f.get(buf)),
            FieldOp::Set(f, value, overflow) => {
                // An unsigned field reads a negative value as its u64 bits.
                let value = if f.signed { i128::from(value) } else { i128::from(value as u64) };
                (f, value, overflow, true)
            }
            FieldOp::IncrBy(f, incr, overflow) => {
                (f, i128::from(f.get(buf)) + i128::from(incr), overflow, false)
            }
        };
        let before = field.get(buf);
        let Some(new) = field.fit(target, overflow) else { return Value::Nil };
        field.set(buf, new);
        Value::Int(if old { before } else { new })
    }
}

/// BITFIELD's operations, checked left to right as Redis does: the
/// subcommand and its argument count, the type, the offset, the value.
fn parse_field_ops(args: &[Bytes]) -> Result<Vec<FieldOp>, Value> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 0;
    while let Some(word) = args.get(i) {
        let left = args.len() - i - 1;
        let word = word.to_ascii_lowercase();
        let words = match word.as_slice() {
            b"get" if left >= 2 => 2,
            b"set" | b"incrby" if left >= 3 => 3,
            b"overflow" if left >= 1 => {
                overflow = match arg(args, i + 1).to_ascii_lowercase().as_slice() {
                    b"wrap" => Overflow::Wrap,
                    b"sat" => Overflow::Sat,
                    b"fail" => Overflow::Fail,
                    _ => return Err(Value::err(BAD_OVERFLOW)),
                };
                i += 2;
                continue;
            }
            _ => return Err(Value::err(errors::SYNTAX)),
        };
        let (signed, bits) = Field::parse_type(&arg(args, i + 1))?;
        let offset = bit_offset(&arg(args, i + 2), Some(bits))?;
        let field = Field { signed, bits, offset };
        ops.push(match word.as_slice() {
            b"get" => FieldOp::Get(field),
            b"set" => FieldOp::Set(field, parse_i64(&arg(args, i + 3))?, overflow),
            _ => FieldOp::IncrBy(field, parse_i64(&arg(args, i + 3))?, overflow),
        });
        i += 1 + words;
    }
    Ok(ops)
}

/// BITFIELD / BITFIELD_RO key [GET type offset | SET type offset value |
/// INCRBY type offset increment | OVERFLOW WRAP|SAT|FAIL]...
///
/// With a write, the string is created or zero-padded up to the last bit
/// written before the operations run, and stays so even when every write
/// fails its overflow check (as in Redis).
fn bitfield(ks: &mut KeyState, args: &[Bytes], now_ms: u64, read_only: bool) -> Result<Value, Value> {
    let ops = parse_field_ops(args)?;
    let Some(last_bit) = ops.iter().filter_map(FieldOp::last_written).max() else {
        // Only GETs: read in place, create nothing.
        let s = read(ks, now_ms)?.unwrap_or_default();
        let gets = ops.iter().filter_map(|op| match op {
            FieldOp::Get(field) => Some(Value::Int(field.get(&s))),
            _ => None,
        });
        return Ok(Value::Array(gets.collect()));
    };
    if read_only {
        return Err(Value::err(READ_ONLY_GET));
    }
    let current = read(ks, now_ms)?;
    let mut buf = current.as_ref().map_or_else(Vec::new, |s| s.to_vec());
    // Below 2^29 + 8: offsets are capped.
    let needed = (last_bit / 8 + 1) as usize;
    if buf.len() < needed {
        buf.resize(needed, 0);
    }
    let replies = ops.iter().map(|op| op.apply(&mut buf)).collect();
    if current.as_deref() != Some(buf.as_slice()) {
        store(ks, Bytes::from(buf));
    }
    Ok(Value::Array(replies))
}

#[cfg(test)]
mod tests {
    use super::super::{Data, KeyState, WriteOp};
    use crate::keyspace::value::{Value, errors};
    use bytes::Bytes;

    const NOW: u64 = 1_700_000_000_000;

    fn run(ks: &mut KeyState, cmd: &[&str]) -> Value {
        let argv: Vec<Bytes> = cmd.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        ks.exec(&argv, NOW)
    }

    fn ints(values: &[i64]) -> Value {
        Value::Array(values.iter().map(|&v| Value::Int(v)).collect())
    }

    fn string(ks: &KeyState) -> Vec<u8> {
        match &ks.data {
            Some(Data::Str(s)) => s.to_vec(),
            other => panic!("not a string: {other:?}"),
        }
    }

    fn with_string(value: &[u8]) -> KeyState {
        let mut ks = KeyState::default();
        ks.replace(Data::Str(Bytes::copy_from_slice(value)));
        ks.drain_entry_ops();
        ks
    }

    #[test]
    fn setbit_pads_with_zeros_and_answers_the_old_bit() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["setbit", "k", "7", "1"]), Value::Int(0));
        assert_eq!(string(&ks), [0x01]);
        assert_eq!(run(&mut ks, &["setbit", "k", "7", "1"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["setbit", "k", "17", "1"]), Value::Int(0));
        assert_eq!(string(&ks), [0x01, 0x00, 0x40]);
        assert_eq!(run(&mut ks, &["setbit", "k", "7", "0"]), Value::Int(1));
        assert_eq!(string(&ks), [0x00, 0x00, 0x40]);
        let puts: Vec<WriteOp> = [&[0x01u8][..], &[0x01, 0x00, 0x40], &[0x00, 0x00, 0x40]]
            .iter()
            .map(|v| WriteOp::Put(Bytes::new(), Bytes::copy_from_slice(v)))
            .collect();
        assert_eq!(ks.drain_entry_ops(), puts, "one whole-value put per change, none for a no-op");
    }

    #[test]
    fn setbit_keeps_the_ttl_and_checks_its_arguments() {
        let mut ks = with_string(b"a");
        ks.expire_at = Some(NOW + 1000);
        assert_eq!(run(&mut ks, &["setbit", "k", "100", "1"]), Value::Int(0));
        assert_eq!(ks.expire_at, Some(NOW + 1000));
        let offset = Value::err(super::BAD_OFFSET);
        let bit = Value::err(super::BAD_BIT);
        for (off, value, want) in [
            ("4294967296", "1", &offset),
            ("-1", "1", &offset),
            ("x", "1", &offset),
            ("01", "1", &offset),
            ("4294967296", "2", &offset),
            ("0", "2", &bit),
            ("0", "-1", &bit),
            ("0", "x", &bit),
        ] {
            assert_eq!(&run(&mut ks, &["setbit", "k", off, value]), want, "{off} {value}");
        }
        assert_eq!(run(&mut ks, &["setbit", "k", "1"]), Value::err(errors::arity("setbit")));
    }

    #[test]
    fn getbit_reads_zero_past_the_end_and_on_missing_keys() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["getbit", "k", "3"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["getbit", "k", "4294967296"]), Value::err(super::BAD_OFFSET));
        assert_eq!(ks.data, None);
        let mut ks = with_string(&[0x10]);
        assert_eq!(run(&mut ks, &["getbit", "k", "3"]), Value::Int(1));
        assert_eq!(run(&mut ks, &["getbit", "k", "4"]), Value::Int(0));
        assert_eq!(run(&mut ks, &["getbit", "k", "4294967295"]), Value::Int(0));
    }

    #[test]
    fn bitcount_counts_byte_and_bit_ranges_as_redis() {
        let mut ks = with_string(b"hello");
        for (range, want) in [
            (&["1", "1"][..], 4),
            (&[][..], 21),
            (&["5", "30", "bit"][..], 12),
            (&["5", "30", "BIT"][..], 12),
            (&["0", "-1", "bit"][..], 21),
            (&["-1", "-2"][..], 0),
            (&["-2", "-1"][..], 10),
            (&["-100", "100"][..], 21),
            (&["3", "1"][..], 0),
            (&["0", "0", "byte"][..], 3),
            (&["7", "7", "bit"][..], 0),
            (&["1", "2", "bit"][..], 2),
            (&["-9223372036854775808", "9223372036854775807", "bit"][..], 21),
        ] {
            let mut cmd = vec!["bitcount", "k"];
            cmd.extend_from_slice(range);
            assert_eq!(run(&mut ks, &cmd), Value::Int(want), "{range:?}");
        }
        let syntax = Value::err(errors::SYNTAX);
        assert_eq!(run(&mut ks, &["bitcount", "k", "0"]), syntax);
        assert_eq!(run(&mut ks, &["bitcount", "k", "0", "1", "x"]), syntax);
        assert_eq!(run(&mut ks, &["bitcount", "k", "0", "1", "bit", "x"]), syntax);
        assert_eq!(run(&mut ks, &["bitcount", "k", "a", "1"]), Value::err(errors::NOT_INTEGER));
        let mut missing = KeyState::default();
        assert_eq!(run(&mut missing, &["bitcount", "k"]), Value::Int(0));
        // Redis 7.2 checks the arguments of a missing key too.
        assert_eq!(run(&mut missing, &["bitcount", "k", "0", "x"]), Value::err(errors::NOT_INTEGER));
        assert_eq!(run(&mut missing, &["bitcount", "k", "0", "1", "x"]), syntax);
    }

    #[test]
    fn bitpos_finds_bits_in_ranges_as_redis() {
        for (value, args, want) in [
            (Some(&b"hello"[..]), &["1"][..], 1),
            (Some(&b"hello"[..]), &["0"][..], 0),
            (Some(&b"hello"[..]), &["0", "0", "-1", "bit"][..], 0),
            (Some(&b"hello"[..]), &["1", "2", "-1", "byte"][..], 17),
            (Some(&b"hello"[..]), &["1", "2", "-1", "BYTE"][..], 17),
            (Some(&b"hello"[..]), &["1", "7", "15", "bit"][..], 9),
            (Some(&b"hello"[..]), &["1", "100"][..], -1),
            (Some(&b"hello"[..]), &["1", "3", "2"][..], -1),
            (Some(&b"\xff\xff"[..]), &["0"][..], 16),
            (Some(&b"\xff\xff"[..]), &["0", "1"][..], 16),
            (Some(&b"\xff\xff"[..]), &["0", "0", "-1"][..], -1),
            (Some(&b"\xff\xff"[..]), &["0", "0", "-1", "bit"][..], -1),
            (Some(&b"\xff\xff"[..]), &["1", "3", "5", "bit"][..], 3),
            (Some(&b"\xff\xff"[..]), &["0", "10"][..], -1),
            (Some(&b"\xff\xff"[..]), &["1", "-1"][..], 8),
            (Some(&b""[..]), &["0"][..], -1),
            (Some(&b""[..]), &["1"][..], -1),
            (None, &["0"][..], 0),
            (None, &["1"][..], -1),
            (None, &["0", "5", "10", "bit"][..], 0),
        ] {
            let mut ks = value.map_or_else(KeyState::default, with_string);
            let mut cmd = vec!["bitpos", "k"];
            cmd.extend_from_slice(args);
            assert_eq!(run(&mut ks, &cmd), Value::Int(want), "{value:?} {args:?}");
        }
        let mut ks = with_string(&[0x00, 0x0F, 0x00]);
        assert_eq!(run(&mut ks, &["bitpos", "k", "1", "10", "13", "bit"]), Value::Int(12));
        assert_eq!(run(&mut ks, &["bitpos", "k", "1", "10", "11", "bit"]), Value::Int(-1));
        assert_eq!(run(&mut ks, &["bitpos", "k", "0", "12", "15", "bit"]), Value::Int(-1));
        assert_eq!(run(&mut ks, &["bitpos", "k", "0", "12", "16", "bit"]), Value::Int(16));
        assert_eq!(run(&mut ks, &["bitpos", "k", "2"]), Value::err(super::BAD_BITPOS_BIT));
        assert_eq!(run(&mut ks, &["bitpos", "k", "x"]), Value::err(errors::NOT_INTEGER));
        assert_eq!(run(&mut ks, &["bitpos", "k", "1", "0", "1", "2"]), Value::err(errors::SYNTAX));
        assert_eq!(run(&mut ks, &["bitpos", "k", "1", "0", "x", "nope"]), Value::err(errors::SYNTAX));
        assert_eq!(run(&mut ks, &["bitpos", "k", "1", "0", "x", "bit"]), Value::err(errors::NOT_INTEGER));
        assert_eq!(run(&mut ks, &["bitpos", "k", "1", "0", "1", "bit", "x"]), Value::err(errors::SYNTAX));
        assert_eq!(run(&mut ks, &["bitpos", "k"]), Value::err(errors::arity("bitpos")));
    }

    #[test]
    fn bitfield_runs_get_set_incrby_with_each_overflow_mode() {
        let mut ks = KeyState::default();
        let reply = run(
            &mut ks,
            &[
                "bitfield", "k", "set", "i8", "0", "200", "get", "u4", "0", "incrby", "u2", "100", "1",
                "overflow", "sat", "incrby", "i8", "0", "-1000", "overflow", "fail", "incrby", "u8", "0",
                "300", "get", "i64", "0",
            ],
        );
        let want = [
            Value::Int(0),
            Value::Int(12),
            Value::Int(1),
            Value::Int(-128),
            Value::Nil,
            Value::Int(i64::MIN),
        ];
        assert_eq!(reply, Value::Array(want.to_vec()));
        assert_eq!(string(&ks).len(), 13);
        let mut ks = KeyState::default();
        for (op, want) in [
            (&["set", "u8", "0", "-1"][..], 0),
            (&["get", "u8", "0"][..], 255),
            (&["overflow", "sat", "set", "u8", "0", "-1"][..], 255),
            (&["overflow", "sat", "incrby", "u8", "0", "-300"][..], 0),
            (&["overflow", "wrap", "incrby", "u8", "0", "-1"][..], 255),
            (&["incrby", "u8", "0", "2"][..], 1),
            (&["set", "i64", "0", "9223372036854775807"][..], 1 << 56),
            (&["incrby", "i64", "0", "1"][..], i64::MIN),
            (&["overflow", "sat", "incrby", "i64", "0", "-1"][..], i64::MIN),
            (&["set", "i64", "0", "0"][..], i64::MIN),
            (&["incrby", "u63", "0", "-1"][..], i64::MAX),
            (&["overflow", "sat", "incrby", "u63", "0", "9223372036854775807"][..], i64::MAX),
            (&["set", "i1", "#5", "1"][..], -1),
            (&["get", "u1", "5"][..], 1),
        ] {
            let mut cmd = vec!["bitfield", "k"];
            cmd.extend_from_slice(op);
            assert_eq!(run(&mut ks, &cmd), ints(&[want]), "{op:?}");
        }
        let mut ks = with_string(&[0x7F]);
        let reply = run(&mut ks, &["bitfield", "k", "overflow", "fail", "incrby", "i8", "0", "1"]);
        assert_eq!(reply, Value::Array(vec![Value::Nil]));
        assert_eq!(string(&ks), [0x7F], "a failed write changes nothing");
        assert!(ks.drain_entry_ops().is_empty());
    }

    #[test]
    fn bitfield_checks_arguments_left_to_right() {
        let mut ks = with_string(b"x");
        let bad_type = Value::err(super::BAD_FIELD_TYPE);
        for (op, want) in [
            (&["set", "u64", "0", "1"][..], bad_type.clone()),
            (&["get", "I8", "0"][..], bad_type.clone()),
            (&["get", "i65", "0"][..], bad_type.clone()),
            (&["get", "i0", "0"][..], bad_type.clone()),
            (&["get", "i", "0"][..], bad_type.clone()),
            (&["get", "i08", "0"][..], bad_type.clone()),
            (&["get", "i8", "#-1"][..], Value::err(super::BAD_OFFSET)),
            (&["get", "i8", "#"][..], Value::err(super::BAD_OFFSET)),
            (&["get", "i8", "#536870912"][..], Value::err(super::BAD_OFFSET)),
            (&["get", "i64", "#9223372036854775807"][..], Value::err(super::BAD_OFFSET)),
            (&["get", "i8", "-1"][..], Value::err(super::BAD_OFFSET)),
            (&["get", "i8"][..], Value::err(errors::SYNTAX)),
            (&["get", "i8", "0", "foo"][..], Value::err(errors::SYNTAX)),
            (&["overflow"][..], Value::err(errors::SYNTAX)),
            (&["overflow", "foo", "get", "i8", "0"][..], Value::err(super::BAD_OVERFLOW)),
            (&["set", "i8", "0", "x"][..], Value::err(errors::NOT_INTEGER)),
            (&["get", "i8", "0", "set", "u64", "0", "1"][..], bad_type.clone()),
        ] {
            let mut cmd = vec!["bitfield", "k"];
            cmd.extend_from_slice(op);
            assert_eq!(run(&mut ks, &cmd), want, "{op:?}");
        }
        assert_eq!(string(&ks), b"x", "a refused command writes nothing");
        assert_eq!(run(&mut ks, &["bitfield", "k"]), ints(&[]));
        assert_eq!(run(&mut ks, &["bitfield", "k", "OVERFLOW", "SAT"]), ints(&[]));
        assert_eq!(run(&mut ks, &["bitfield", "k", "GET", "u8", "#0"]), ints(&[120]));
    }

    #[test]
    fn bitfield_ro_only_gets_and_missing_keys_stay_missing() {
        let mut ks = KeyState::default();
        assert_eq!(run(&mut ks, &["bitfield_ro", "k", "get", "i8", "0"]), ints(&[0]));
        assert_eq!(run(&mut ks, &["bitfield", "k", "get", "i8", "0"]), ints(&[0]));
        assert_eq!(ks.data, None, "GET creates nothing");
        assert_eq!(
            run(&mut ks, &["bitfield_ro", "k", "get", "i8", "0", "set", "i8", "0", "1"]),
            Value::err(super::READ_ONLY_GET)
        );
        assert_eq!(
            run(&mut ks, &["bitfield_ro", "k", "set", "u64", "0", "1"]),
            Value::err(super::BAD_FIELD_TYPE),
            "the arguments are checked first"
        );
        assert_eq!(ks.data, None);
        // A write creates the key even when its overflow check fails.
        assert_eq!(
            run(&mut ks, &["bitfield", "k", "overflow", "fail", "set", "u2", "0", "7"]),
            Value::Array(vec![Value::Nil])
        );
        assert_eq!(string(&ks), [0]);
    }

    #[test]
    fn wrong_type_is_refused_after_the_arguments() {
        let mut ks = KeyState::default();
        ks.replace(Data::Set(super::super::Set::from_members(vec![Bytes::from("m")])));
        let wrongtype = Value::err(errors::WRONGTYPE);
        for cmd in [
            &["setbit", "k", "1", "1"][..],
            &["getbit", "k", "1"],
            &["bitcount", "k"],
            &["bitcount", "k", "0", "1", "bit"],
            &["bitpos", "k", "1"],
            &["bitfield", "k", "get", "i8", "0"],
            &["bitfield", "k", "set", "i8", "0", "1"],
            &["bitfield_ro", "k", "get", "i8", "0"],
        ] {
            assert_eq!(run(&mut ks, cmd), wrongtype, "{cmd:?}");
        }
        assert_eq!(run(&mut ks, &["setbit", "k", "1", "2"]), Value::err(super::BAD_BIT));
        assert_eq!(run(&mut ks, &["bitcount", "k", "0"]), Value::err(errors::SYNTAX));
        assert!(matches!(ks.data, Some(Data::Set(_))));
    }

    #[test]
    fn expired_strings_read_as_missing() {
        let mut ks = with_string(&[0xFF]);
        ks.expire_at = Some(NOW);
        assert_eq!(run(&mut ks, &["getbit", "k", "0"]), Value::Int(0));
        let mut ks = with_string(&[0xFF]);
        ks.expire_at = Some(NOW);
        assert_eq!(run(&mut ks, &["setbit", "k", "9", "1"]), Value::Int(0));
        assert_eq!(string(&ks), [0x00, 0x40]);
        assert_eq!(ks.expire_at, None, "a new key has no TTL");
    }
}
