//! `struct`: Roberto Ierusalimschy's struct library (struct.c 1.4) as Redis
//! 7 embeds it, with Redis' hardening (sizes checked for overflow, offsets
//! checked before reading). Sizes are those of x86-64 Linux, where Redis
//! runs: `h` 2, `i` 4, `l`/`L`/`T` 8, `f` 4, `d` 8; native order is little
//! endian and `!` alone aligns to 8.
//!
//! Format options: `>` big endian, `<` little endian, `![n]` alignment,
//! `x` a zero byte, `b`/`B` `h`/`H` `l`/`L` `T` `i[n]`/`I[n]` integers
//! (lower case signed, `n` up to 32 bytes), `f`/`d` floats, `c[n]` `n`
//! chars (`c0`: the whole string when packing, the previous number's length
//! when unpacking), `s` a zero-terminated string, ` ` ignored.

use super::{
    Failure, Fallible, LUA_STACK_SLOTS, MAX_RESULTS, Reply, Wrapper, c_i64, c_u64, check_number,
    check_string, opt_integer, to_number, type_error,
};
use mlua::{Lua, MultiValue, Table, Value};

/// `MAXINTSIZE`: the widest integer option.
const MAX_INT_SIZE: usize = 32;
/// `MAXALIGN`: the alignment of a double on x86-64.
const MAX_ALIGN: usize = 8;

struct Header {
    little: bool,
    align: usize,
}

impl Header {
    /// Native order (little endian), no alignment.
    fn new() -> Header {
        Header { little: true, align: 1 }
    }
}

/// A format string, read option by option. It ends at its first zero byte,
/// as the C string it is in the library.
struct Format<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Format<'a> {
    fn new(bytes: &'a [u8]) -> Format<'a> {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Format { bytes: &bytes[..end], at: 0 }
    }

    fn next_option(&mut self) -> Option<u8> {
        let opt = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(opt)
    }

    /// `getnum`: the digits after an option, or `default`; an `int` that
    /// would overflow is an error.
    fn number(&mut self, default: usize) -> Fallible<usize> {
        if !self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: i32 = 0;
        while let Some(&c) = self.bytes.get(self.at).filter(|c| c.is_ascii_digit()) {
            let digit = i32::from(c - b'0');
            if a > i32::MAX / 10 || a * 10 > i32::MAX - digit {
                return Err(Failure::error("integral size overflow"));
            }
            a = a * 10 + digit;
            self.at += 1;
        }
        Ok(a as usize)
    }
}

/// `optsize`: the bytes option `opt` takes (0 for the control options).
fn option_size(opt: u8, format: &mut Format<'_>) -> Fallible<usize> {
    Ok(match opt {
        b'B' | b'b' | b'x' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'c' => format.number(1)?,
        b'i' | b'I' => {
            let size = format.number(4)?;
            if size > MAX_INT_SIZE {
                return Err(Failure::error(format!(
                    "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                )));
            }
            size
        }
        _ => 0,
    })
}

/// `gettoalign`: padding before an option of `size` bytes at offset `len`.
fn padding(len: usize, header: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(header.align);
    size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
}

/// `controloptions`: endianness, alignment and spaces; anything else is
/// not an option.
fn control(opt: u8, format: &mut Format<'_>, header: &mut Header) -> Fallible<()> {
    match opt {
        b' ' => {}
        b'>' => header.little = false,
        b'<' => header.little = true,
        b'!' => {
            let a = format.number(MAX_ALIGN)?;
            if !a.is_power_of_two() {
                return Err(Failure::error(format!("alignment {a} is not a power of 2")));
            }
            header.align = a;
        }
        _ => return Err(Failure::Arg(1, format!("invalid format option '{}'", char::from(opt)))),
    }
    Ok(())
}

pub(super) fn module(lua: &Lua, wrap: &Wrapper) -> mlua::Result<Table> {
    let module = lua.create_table()?;
    wrap.register(lua, &module, "pack", pack)?;
    wrap.register(lua, &module, "unpack", unpack)?;
    wrap.register(lua, &module, "size", size)?;
    Ok(module)
}

/// `struct.pack(fmt, ...)`.
fn pack(lua: &Lua, args: MultiValue) -> Fallible<Reply> {
    let fmt = check_string(lua, &args, 1)?;
    let fmt = fmt.as_bytes();
    let mut format = Format::new(&fmt);
    let mut header = Header::new();
    let mut narg = 2;
    let mut out: Vec<u8> = Vec::new();
    while let Some(opt) = format.next_option() {
        let mut size = option_size(opt, &mut format)?;
        let pad = padding(out.len(), &header, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = pack_number(lua, &args, narg)?;
                narg += 1;
                put_integer(&mut out, n, header.little, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = pack_number(lua, &args, narg)? as f32;
                narg += 1;
                out.extend_from_slice(&if header.little { f.to_le_bytes() } else { f.to_be_bytes() });
            }
            b'd' => {
                let d = pack_number(lua, &args, narg)?;
                narg += 1;
                out.extend_from_slice(&if header.little { d.to_le_bytes() } else { d.to_be_bytes() });
            }
            b'c' | b's' => {
                let s = pack_string(lua, &args, narg)?;
                narg += 1;
                let s = s.as_bytes();
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(Failure::Arg(narg as i64, "string too short".into()));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => control(opt, &mut format, &mut header)?,
        }
    }
    Ok(Reply::One(Value::String(lua.create_string(&out)?)))
}

/// `luaL_checknumber` in `pack`, where a nil sits just past the arguments
/// (the library pushes it to mark their end).
fn pack_number(lua: &Lua, args: &MultiValue, narg: usize) -> Fallible<f64> {
    if narg == args.len() + 1 {
        return Err(type_error(narg, "number", Some(&Value::Nil)));
    }
    check_number(lua, args, narg)
}

/// `luaL_checklstring` in `pack` (see [`pack_number`]).
fn pack_string(lua: &Lua, args: &MultiValue, narg: usize) -> Fallible<mlua::String> {
    if narg == args.len() + 1 {
        return Err(type_error(narg, "string", Some(&Value::Nil)));
    }
    check_string(lua, args, narg)
}

/// `putinteger`: `n` converted to an unsigned long as the C casts do, its
/// low `size` bytes in order (bytes past the eighth are zero).
fn put_integer(out: &mut Vec<u8>, n: f64, little: bool, size: usize) {
    let mut value = if n < 0.0 { c_i64(n) as u64 } else { c_u64(n) };
    let mut bytes = Vec::with_capacity(size);
    for _ in 0..size {
        bytes.push((value & 0xff) as u8);
        value >>= 8;
    }
    if !little {
        bytes.reverse();
    }
    out.extend_from_slice(&bytes);
}

/// `getinteger`: `size` bytes as an unsigned long (only the last eight
/// count), sign-extended from bit `size * 8 - 1` (modulo 64, as x86
/// shifts) when signed.
fn get_integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let size = bytes.len();
    let shift_in = |l: u64, b: &u8| (l << 8) | u64::from(*b);
    let mut l = if little { bytes.iter().rev().fold(0, shift_in) } else { bytes.iter().fold(0, shift_in) };
    if !signed {
        return l as f64;
    }
    let mask = u64::MAX.wrapping_shl((size as u32).wrapping_mul(8).wrapping_sub(1));
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// `struct.unpack(fmt, s [, i])`: the values, then the position after them.
fn unpack(lua: &Lua, args: MultiValue) -> Fallible<Reply> {
    let fmt = check_string(lua, &args, 1)?;
    let data = check_string(lua, &args, 2)?;
    let start = opt_integer(lua, &args, 3, 1)? as u64 as usize;
    if start == 0 {
        return Err(Failure::Arg(3, "offset must be 1 or greater".into()));
    }
    let (fmt, data) = (fmt.as_bytes(), data.as_bytes());
    let ld = data.len();
    let mut pos = start - 1;
    let mut format = Format::new(&fmt);
    let mut header = Header::new();
    let results = lua.create_table()?;
    let mut n = 0usize;
    let mut last: Option<Value> = None;
    let short = || Failure::Arg(2, "data string too short".into());
    while let Some(opt) = format.next_option() {
        let mut size = option_size(opt, &mut format)?;
        pos = pos.wrapping_add(padding(pos, &header, opt, size));
        if size > ld || pos > ld - size {
            return Err(short());
        }
        // luaL_checkstack(L, 2, ...) over the two arguments and `n` results;
        // then room for this value and the position.
        if 2 + n + 2 > LUA_STACK_SLOTS || n + 2 > MAX_RESULTS {
            return Err(Failure::error("stack overflow (too many results)"));
        }
        let value = match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                Some(Value::Number(get_integer(&data[pos..pos + size], header.little, signed)))
            }
            b'x' => None,
            b'f' => {
                let raw: [u8; 4] = fixed(&data[pos..pos + 4]);
                let f = if header.little { f32::from_le_bytes(raw) } else { f32::from_be_bytes(raw) };
                Some(Value::Number(f64::from(f)))
            }
            b'd' => {
                let raw: [u8; 8] = fixed(&data[pos..pos + 8]);
                Some(Value::Number(if header.little {
                    f64::from_le_bytes(raw)
                } else {
                    f64::from_be_bytes(raw)
                }))
            }
            b'c' => {
                if size == 0 {
                    let previous = match &last {
                        Some(v) if n > 0 => to_number(lua, v)?,
                        _ => None,
                    };
                    let Some(length) = previous else {
                        return Err(Failure::error("format 'c0' needs a previous size"));
                    };
                    size = c_u64(length) as usize;
                    n -= 1;
                    if size > ld || pos > ld - size {
                        return Err(short());
                    }
                }
                Some(Value::String(lua.create_string(&data[pos..pos + size])?))
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(Failure::error("unfinished string in data"));
                };
                size = end + 1;
                Some(Value::String(lua.create_string(&data[pos..pos + end])?))
            }
            _ => {
                control(opt, &mut format, &mut header)?;
                None
            }
        };
        if let Some(value) = value {
            n += 1;
            results.raw_set(n, value.clone())?;
            last = Some(value);
        }
        pos = pos.wrapping_add(size);
    }
    results.raw_set(n + 1, (pos as i64).wrapping_add(1))?;
    Ok(Reply::Many(results, n + 1))
}

/// The first `N` bytes of a slice that has them.
fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

/// `struct.size(fmt)`: the bytes `pack` makes, for formats of fixed size.
fn size(lua: &Lua, args: MultiValue) -> Fallible<Reply> {
    let fmt = check_string(lua, &args, 1)?;
    let fmt = fmt.as_bytes();
    let mut format = Format::new(&fmt);
    let mut header = Header::new();
    let mut pos = 0usize;
    while let Some(opt) = format.next_option() {
        let size = option_size(opt, &mut format)?;
        pos = pos.wrapping_add(padding(pos, &header, opt, size));
        if opt == b's' {
            return Err(Failure::Arg(1, "option 's' has no fixed size".into()));
        }
        if opt == b'c' && size == 0 {
            return Err(Failure::Arg(1, "option 'c0' has no fixed size".into()));
        }
        if !opt.is_ascii_alphanumeric() {
            control(opt, &mut format, &mut header)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(Reply::One(Value::Integer(pos as i64)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{bytes, check, error, eval, lua};

    #[test]
    fn pack_matches_redis_bytes() {
        let lua = lua();
        let cases: &[(&str, &[u8])] = &[
            ("struct.pack('>I2', 258)", b"\x01\x02"),
            ("struct.pack('<I2', 258)", b"\x02\x01"),
            ("struct.pack('i', 1)", b"\x01\x00\x00\x00"),
            ("struct.pack('b', -1)", b"\xff"),
            ("struct.pack('B', 256)", b"\x00"),
            ("struct.pack('h', -2)", b"\xfe\xff"),
            ("struct.pack('L', -1)", b"\xff\xff\xff\xff\xff\xff\xff\xff"),
            ("struct.pack('T', 1)", b"\x01\x00\x00\x00\x00\x00\x00\x00"),
            ("struct.pack('>i3', -2)", b"\xff\xff\xfe"),
            ("struct.pack('i0', 1)", b""),
            ("struct.pack('c3', 'abcdef')", b"abc"),
            ("struct.pack('c0', 'abcdef')", b"abcdef"),
            ("struct.pack('s', 'abc')", b"abc\x00"),
            ("struct.pack('f', 1.5)", b"\x00\x00\xc0?"),
            ("struct.pack('>d', 1.5)", b"?\xf8\x00\x00\x00\x00\x00\x00"),
            ("struct.pack('x')", b"\x00"),
            ("struct.pack('!4 b i', 1, 2)", b"\x01\x00\x00\x00\x02\x00\x00\x00"),
            ("struct.pack('b d', 1, 2)", b"\x01\x00\x00\x00\x00\x00\x00\x00@"),
            ("struct.pack('!2 b d', 1, 2)", b"\x01\x00\x00\x00\x00\x00\x00\x00\x00@"),
            ("struct.pack('!b d', 1, 2)", b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00@"),
            ("struct.pack('i', '12')", b"\x0c\x00\x00\x00"),
            ("struct.pack('>I4', 2^32)", b"\x00\x00\x00\x00"),
            ("struct.pack('>i8', 2^63)", b"\x80\x00\x00\x00\x00\x00\x00\x00"),
            ("struct.pack('>I8', 2^64)", b"\x00\x00\x00\x00\x00\x00\x00\x00"),
            ("struct.pack('>I8', 0/0)", b"\x80\x00\x00\x00\x00\x00\x00\x00"),
            ("struct.pack('>I8', 1.9)", b"\x00\x00\x00\x00\x00\x00\x00\x01"),
            ("struct.pack('>i4', -1.9)", b"\xff\xff\xff\xff"),
            ("struct.pack(' < i', 1)", b"\x01\x00\x00\x00"),
        ];
        for (expr, expected) in cases {
            assert_eq!(bytes(&lua, expr), expected.to_vec(), "{expr}");
        }
        assert_eq!(bytes(&lua, "struct.pack('I16', 1)"), [&[1u8][..], &[0u8; 15][..]].concat());
    }

    #[test]
    fn unpack_returns_values_then_the_next_position() {
        let lua = lua();
        let cases = [
            ("table.concat({struct.unpack('>I2', '\\1\\2')}, ',')", "258,3"),
            ("table.concat({struct.unpack('>I2', '\\1\\2\\3\\4', 3)}, ',')", "772,5"),
            ("table.concat({struct.unpack('>i2', '\\255\\254')}, ',')", "-2,3"),
            ("table.concat({struct.unpack('<i3', '\\254\\255\\255')}, ',')", "-2,4"),
            ("table.concat({struct.unpack('>i8', string.rep('\\255', 8))}, ',')", "-1,9"),
            ("table.concat({struct.unpack('>i16', string.rep('\\255', 16))}, ',')", "-1,17"),
            ("table.concat({struct.unpack('B c0', '\\2abc')}, ',')", "ab,4"),
            ("table.concat({struct.unpack('s', 'ab\\0cd')}, ',')", "ab,4"),
            ("table.concat({struct.unpack('c2 x c1', 'abcd')}, ',')", "ab,d,5"),
            ("table.concat({struct.unpack('f', struct.pack('f', 1.5))}, ',')", "1.5,5"),
            ("table.concat({struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))}, ',')", "1,2,9"),
        ];
        for (expr, expected) in cases {
            assert_eq!(eval(&lua, expr), expected, "{expr}");
        }
        check(&lua, "struct.unpack('>I8', string.rep('\\255', 8)) == 2^64");
        check(&lua, "struct.unpack('d', struct.pack('d', 0.1)) == 0.1");
        check(&lua, "select('#', struct.unpack('x', 'a')) == 1");
    }

    #[test]
    fn size_counts_fixed_formats() {
        let lua = lua();
        for (expr, expected) in [
            ("struct.size('i')", "4"),
            ("struct.size('!4 b i')", "8"),
            ("struct.size('c5 d')", "13"),
            ("struct.size('y')", "0"),
            ("struct.size('c')", "1"),
        ] {
            assert_eq!(eval(&lua, expr), expected, "{expr}");
        }
    }

    #[test]
    fn errors_are_worded_as_the_library_words_them() {
        let lua = lua();
        let cases = [
            ("struct.pack('I33', 1)", "integral size 33 is larger than limit of 32"),
            ("struct.pack('c3', 'ab')", "bad argument #3 to 'pack' (string too short)"),
            ("struct.pack('z', 'abc')", "bad argument #1 to 'pack' (invalid format option 'z')"),
            ("struct.pack('!3 b i', 1, 2)", "alignment 3 is not a power of 2"),
            ("struct.pack('i')", "bad argument #2 to 'pack' (number expected, got nil)"),
            ("struct.pack('i', 'x')", "bad argument #2 to 'pack' (number expected, got string)"),
            ("struct.pack()", "bad argument #1 to 'pack' (string expected, got no value)"),
            ("struct.pack(12)", "bad argument #1 to 'pack' (invalid format option '1')"),
            ("struct.pack('i99999999999', 1)", "integral size overflow"),
            ("struct.unpack('>I2', '\\1\\2\\3', 3)", "bad argument #2 to 'unpack' (data string too short)"),
            ("struct.unpack('c0', 'abc')", "format 'c0' needs a previous size"),
            ("struct.unpack('s', 'abcd')", "unfinished string in data"),
            (
                "struct.unpack('>I2', '\\1\\2', 0)",
                "bad argument #3 to 'unpack' (offset must be 1 or greater)",
            ),
            ("struct.unpack('>I2', '\\1\\2', -1)", "bad argument #2 to 'unpack' (data string too short)"),
            ("struct.unpack('i')", "bad argument #2 to 'unpack' (string expected, got no value)"),
            (
                "struct.unpack('I2 I2 c0', '\\0\\1\\0\\2abcd')",
                "bad argument #2 to 'unpack' (data string too short)",
            ),
            ("struct.size('s')", "bad argument #1 to 'size' (option 's' has no fixed size)"),
            ("struct.size('c0')", "bad argument #1 to 'size' (option 'c0' has no fixed size)"),
            ("struct.size('I40')", "integral size 40 is larger than limit of 32"),
            ("struct.size('c99999999999')", "integral size overflow"),
        ];
        for (expr, expected) in cases {
            assert_eq!(error(&lua, expr), format!("user_script:1: {expected}"), "{expr}");
        }
    }

    #[test]
    fn too_many_results_is_an_error_not_a_crash() {
        let lua = lua();
        let e = error(&lua, "struct.unpack(string.rep('b', 9000), string.rep('a', 9000))");
        assert_eq!(e, "user_script:1: stack overflow (too many results)");
    }
}
