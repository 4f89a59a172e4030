//! `cmsgpack`: lua-cmsgpack 0.4.0 as Redis embeds it.
//!
//! Encoding follows the library's choices: a number that is a 64-bit
//! integer takes the smallest int/uint format, any other number float32
//! when that is exact and float64 otherwise; strings are str8/16/32 (or
//! fixstr); a table is an array when its keys are exactly 1..n, else a map;
//! tables nested deeper than [`MAX_NESTING`] levels, functions, userdata
//! (`cjson.null` too) and nil become nil. Decoding refuses what the library
//! does not know (bin, ext and the reserved byte): "Bad data format in
//! input."
//!
//! Unpacking builds its values on the Lua stack in the library, so how many
//! it can return at once, nesting included, is bounded by that stack: the
//! same accounting is kept here (`slots`), with the same errors.

use super::{
    Failure, Fallible, LUA_STACK_SLOTS, MAX_OUTPUT, MAX_RESULTS, Reply, Wrapper, c_i32, check_integer,
    check_string, opt_integer,
};
use mlua::{Lua, MultiValue, Table, Value};

/// `LUACMSGPACK_MAX_NESTING`: tables deeper than this encode as nil.
const MAX_NESTING: usize = 16;

/// The deepest container `unpack` builds (each level holds Lua values in
/// Rust while its elements are decoded; see the parent module).
const MAX_DECODE_DEPTH: usize = super::MAX_NESTING;

const TOO_MANY_VALUES: &str = "too many return values at once; use unpack_one or unpack_limit instead.";

pub(super) fn module(lua: &Lua, wrap: &Wrapper) -> mlua::Result<Table> {
    let module = lua.create_table()?;
    wrap.register(lua, &module, "pack", pack)?;
    wrap.register(lua, &module, "unpack", |lua, args| unpack_full(lua, &args, 0, 0))?;
    wrap.register(lua, &module, "unpack_one", |lua, args| {
        let offset = opt_integer(lua, &args, 2, 0)?;
        unpack_full(lua, &args, 1, offset)
    })?;
    wrap.register(lua, &module, "unpack_limit", |lua, args| {
        let limit = check_integer(lua, &args, 2)?;
        let offset = opt_integer(lua, &args, 3, 0)?;
        unpack_full(lua, &args, limit, offset)
    })?;
    module.raw_set("_NAME", "cmsgpack")?;
    module.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    module.raw_set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    module.raw_set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(module)
}

/// `cmsgpack.pack(...)`: every argument encoded, one after the other.
fn pack(lua: &Lua, args: MultiValue) -> Fallible<Reply> {
    if args.is_empty() {
        return Err(Failure::Arg(0, "MessagePack pack needs input.".into()));
    }
    let mut out = Vec::new();
    for value in args.iter() {
        encode(&mut out, value, 0)?;
    }
    Ok(Reply::One(Value::String(lua.create_string(&out)?)))
}

fn encode(out: &mut Vec<u8>, value: &Value, level: usize) -> Fallible<()> {
    if out.len() > MAX_OUTPUT {
        return Err(Failure::error("MessagePack output too large"));
    }
    match value {
        Value::String(s) => encode_bytes(out, &s.as_bytes()),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_int(out, *i),
        Value::Number(n) => {
            if is_int64(*n) {
                encode_int(out, *n as i64);
            } else {
                encode_double(out, *n);
            }
        }
        Value::Table(t) if level < MAX_NESTING => encode_table(out, t, level)?,
        _ => out.push(0xc0),
    }
    Ok(())
}

/// `IS_INT64_EQUIVALENT`: finite, whole and inside the int64 range (the C
/// cast of anything outside it does not compare equal).
fn is_int64(n: f64) -> bool {
    n.is_finite()
        && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&n)
        && n.trunc() == n
}

fn encode_bytes(out: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

fn encode_double(out: &mut Vec<u8>, d: f64) {
    let f = d as f32;
    if f64::from(f) == d {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&d.to_be_bytes());
    }
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_table(out: &mut Vec<u8>, table: &Table, level: usize) -> Fallible<()> {
    if is_array(table)? {
        let len = table.raw_len();
        encode_header(out, len, 0x90, 0xdc);
        for i in 1..=len {
            let value: Value = table.get(i)?;
            encode(out, &value, level + 1)?;
        }
    } else {
        let mut len = 0usize;
        for pair in table.pairs::<Value, Value>() {
            pair?;
            len += 1;
        }
        encode_header(out, len, 0x80, 0xde);
        for pair in table.pairs::<Value, Value>() {
            let (key, value) = pair?;
            encode(out, &key, level + 1)?;
            encode(out, &value, level + 1)?;
        }
    }
    Ok(())
}

/// Array and map headers: fix (up to 15), 16-bit, 32-bit (`fix` and `wide`
/// are the fix and 16-bit type bytes; the 32-bit one follows the 16-bit).
fn encode_header(out: &mut Vec<u8>, n: usize, fix: u8, wide: u8) {
    if n <= 15 {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(wide);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(wide + 1);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// `table_is_an_array`: every key a positive number whose `int` cast is
/// itself, and the largest equal to the count (so the keys are 1..n).
fn is_array(table: &Table) -> Fallible<bool> {
    let (mut count, mut max) = (0i64, 0i32);
    for pair in table.pairs::<Value, Value>() {
        let n = match pair?.0 {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(false),
        };
        if n <= 0.0 || f64::from(c_i32(n)) != n {
            return Ok(false);
        }
        if n > f64::from(max) {
            max = c_i32(n);
        }
        count += 1;
    }
    Ok(i64::from(max) == count)
}

/// What one step of decoding read.
enum Item {
    Scalar(Value),
    /// An array header: this many elements follow.
    Array(usize),
    /// A map header: this many key/value pairs follow.
    Map(usize),
}

/// A container being filled.
enum Open {
    Array { table: Table, next: usize, len: usize },
    Map { table: Table, left: usize, key: Option<Value> },
}

#[derive(PartialEq, Eq)]
enum Step {
    /// Decode the next element of the innermost container.
    Next,
    /// The innermost container is complete.
    Closed,
}

impl Open {
    /// Takes the next decoded value: an array element, or a map key, or the
    /// value for the key read before it.
    fn accept(&mut self, value: Value, slots: &mut usize) -> Fallible<Step> {
        match self {
            Open::Array { table, next, len } => {
                table.raw_set(*next, value)?;
                *slots -= 1;
                if *next == *len {
                    return Ok(Step::Closed);
                }
                *next += 1;
                *slots += 1;
                Ok(Step::Next)
            }
            Open::Map { table, left, key } => match key.take() {
                None => {
                    *key = Some(value);
                    *slots += 1;
                    Ok(Step::Next)
                }
                Some(k) => {
                    *slots -= 1;
                    match &k {
                        Value::Nil => return Err(Failure::Plain("table index is nil".into())),
                        Value::Number(n) if n.is_nan() => {
                            return Err(Failure::Plain("table index is NaN".into()));
                        }
                        _ => {}
                    }
                    table.raw_set(k, value)?;
                    *left -= 1;
                    Ok(if *left == 0 { Step::Closed } else { Step::Next })
                }
            },
        }
    }

    fn into_table(self) -> Table {
        match self {
            Open::Array { table, .. } | Open::Map { table, .. } => table,
        }
    }
}

/// A cursor over the input, with the Lua stack accounting of the library.
struct Decoder<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    at: usize,
    /// Values on the library's Lua stack: the argument, the results so far
    /// and the containers being filled. The wrapper returns results with
    /// `unpack`, which needs two more slots than the library had.
    slots: usize,
    depth: usize,
}

fn missing() -> Failure {
    Failure::error("Missing bytes in input.")
}

fn bad_format() -> Failure {
    Failure::error("Bad data format in input.")
}

impl<'a> Decoder<'a> {
    fn left(&self) -> usize {
        self.data.len() - self.at
    }

    /// `mp_cur_need` then consume: the next `n` bytes.
    fn take(&mut self, n: usize) -> Fallible<&'a [u8]> {
        if self.left() < n {
            return Err(missing());
        }
        let data = self.data;
        let bytes = &data[self.at..self.at + n];
        self.at += n;
        Ok(bytes)
    }

    /// `luaL_checkstack(L, 1, why)` over the slots in use.
    fn check_stack(&self, why: &str) -> Fallible<()> {
        if self.slots + 1 > LUA_STACK_SLOTS {
            return Err(Failure::error(format!("stack overflow ({why})")));
        }
        Ok(())
    }

    /// `mp_decode_to_lua_type` without the recursion: one value, or the
    /// header of a container whose elements follow.
    fn item(&mut self) -> Fallible<Item> {
        if self.left() < 1 {
            return Err(missing());
        }
        self.check_stack(TOO_MANY_VALUES)?;
        let first = self.data[self.at];
        // Sizes are checked before the type byte is consumed, as the
        // library checks `1 + length` from the type byte.
        let value = match first {
            0xcc => Value::Integer(i64::from(self.header::<2>()?[1])),
            0xd0 => Value::Integer(i64::from(self.header::<2>()?[1] as i8)),
            0xcd => {
                let h = self.header::<3>()?;
                Value::Integer(i64::from(u16::from_be_bytes([h[1], h[2]])))
            }
            0xd1 => {
                let h = self.header::<3>()?;
                Value::Integer(i64::from(i16::from_be_bytes([h[1], h[2]])))
            }
            0xce => {
                let h = self.header::<5>()?;
                Value::Integer(i64::from(u32::from_be_bytes([h[1], h[2], h[3], h[4]])))
            }
            0xd2 => {
                let h = self.header::<5>()?;
                Value::Integer(i64::from(i32::from_be_bytes([h[1], h[2], h[3], h[4]])))
            }
            // uint 64 goes through lua_pushinteger: above 2^63 it wraps.
            0xcf => Value::Number(u64::from_be_bytes(self.tail8()?) as i64 as f64),
            0xd3 => Value::Number(i64::from_be_bytes(self.tail8()?) as f64),
            0xc0 => {
                self.at += 1;
                Value::Nil
            }
            0xc3 | 0xc2 => {
                self.at += 1;
                Value::Boolean(first == 0xc3)
            }
            0xca => {
                let h = self.header::<5>()?;
                Value::Number(f64::from(f32::from_be_bytes([h[1], h[2], h[3], h[4]])))
            }
            0xcb => Value::Number(f64::from_be_bytes(self.tail8()?)),
            0xd9 => {
                let len = usize::from(self.peek(2)?[1]);
                self.string(2, len)?
            }
            0xda => {
                let h = self.peek(3)?;
                let len = usize::from(u16::from_be_bytes([h[1], h[2]]));
                self.string(3, len)?
            }
            0xdb => {
                let h = self.header::<5>()?;
                let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
                self.string(0, len)?
            }
            0xdc => {
                let h = self.header::<3>()?;
                return Ok(Item::Array(usize::from(u16::from_be_bytes([h[1], h[2]]))));
            }
            0xdd => {
                let h = self.header::<5>()?;
                return Ok(Item::Array(u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize));
            }
            0xde => {
                let h = self.header::<3>()?;
                return Ok(Item::Map(usize::from(u16::from_be_bytes([h[1], h[2]]))));
            }
            0xdf => {
                let h = self.header::<5>()?;
                return Ok(Item::Map(u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize));
            }
            b if b & 0x80 == 0 => {
                self.at += 1;
                Value::Integer(i64::from(b))
            }
            b if b & 0xe0 == 0xe0 => {
                self.at += 1;
                Value::Integer(i64::from(b as i8))
            }
            b if b & 0xe0 == 0xa0 => self.string(1, usize::from(b & 0x1f))?,
            b if b & 0xf0 == 0x90 => {
                self.at += 1;
                return Ok(Item::Array(usize::from(b & 0xf)));
            }
            b if b & 0xf0 == 0x80 => {
                self.at += 1;
                return Ok(Item::Map(usize::from(b & 0xf)));
            }
            _ => return Err(bad_format()),
        };
        Ok(Item::Scalar(value))
    }

    /// The type byte and what follows it, `N` bytes in all, consumed.
    fn header<const N: usize>(&mut self) -> Fallible<[u8; N]> {
        let mut raw = [0u8; N];
        raw.copy_from_slice(self.take(N)?);
        Ok(raw)
    }

    /// The eight bytes after the type byte, all nine consumed.
    fn tail8(&mut self) -> Fallible<[u8; 8]> {
        let h = self.header::<9>()?;
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&h[1..]);
        Ok(raw)
    }

    /// The next `n` bytes, not consumed.
    fn peek(&self, n: usize) -> Fallible<&'a [u8]> {
        if self.left() < n {
            return Err(missing());
        }
        let data = self.data;
        Ok(&data[self.at..self.at + n])
    }

    /// A string of `len` bytes after a header of `skip` bytes (0: the
    /// header is already consumed).
    fn string(&mut self, skip: usize, len: usize) -> Fallible<Value> {
        let need = skip.checked_add(len).ok_or_else(missing)?;
        let bytes = self.take(need)?;
        let s = self.lua.create_string(&bytes[skip..])?;
        Ok(Value::String(s))
    }

    /// One value, containers included. Containers are filled in a loop
    /// over an explicit stack of the open ones, not by recursion, so deep
    /// input costs heap, not the thread's stack; the Lua stack accounting is
    /// the library's (`mp_decode_to_lua_array` keeps the table and the
    /// index of the element being decoded, `mp_decode_to_lua_hash` the
    /// table and the key).
    fn value(&mut self) -> Fallible<Value> {
        let mut open: Vec<Open> = Vec::new();
        loop {
            let mut value = match self.item()? {
                Item::Scalar(value) => value,
                Item::Array(len) => {
                    let table = self.enter("in function mp_decode_to_lua_array")?;
                    self.check_stack("in function mp_decode_to_lua_array")?;
                    if len > 0 {
                        self.slots += 1;
                        open.push(Open::Array { table, next: 1, len });
                        continue;
                    }
                    self.leave();
                    Value::Table(table)
                }
                Item::Map(len) => {
                    let table = self.enter(TOO_MANY_VALUES)?;
                    if len > 0 {
                        open.push(Open::Map { table, left: len, key: None });
                        continue;
                    }
                    self.leave();
                    Value::Table(table)
                }
            };
            // Hand the value to the innermost open container; a container
            // it completes is itself a value for the one around it.
            loop {
                let step = match open.last_mut() {
                    None => return Ok(value),
                    Some(container) => container.accept(value, &mut self.slots)?,
                };
                if step == Step::Next {
                    break;
                }
                let Some(done) = open.pop() else { return Err(bad_format()) };
                self.leave();
                value = Value::Table(done.into_table());
            }
        }
    }

    /// A new container on the stack, one level deeper.
    fn enter(&mut self, why: &str) -> Fallible<Table> {
        if self.depth >= MAX_DECODE_DEPTH {
            return Err(Failure::error(format!("stack overflow ({why})")));
        }
        self.depth += 1;
        self.slots += 1;
        Ok(self.lua.create_table()?)
    }

    fn leave(&mut self) {
        self.depth -= 1;
        self.slots -= 1;
    }
}

/// `mp_unpack_full`: up to `limit` values from `offset` (both 0: all of
/// them, without the offset in front).
fn unpack_full(lua: &Lua, args: &MultiValue, limit: i64, offset: i64) -> Fallible<Reply> {
    let s = check_string(lua, args, 1)?;
    let data = s.as_bytes();
    let len = data.len();
    if offset < 0 || limit < 0 {
        return Err(Failure::error(format!(
            "Invalid request to unpack with offset of {} and limit of {}.",
            offset as i32, len as i32
        )));
    }
    if offset as u64 > len as u64 {
        return Err(Failure::error(format!(
            "Start offset {} greater than input length {}.",
            offset as i32, len as i32
        )));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i64::from(i32::MAX) } else { limit };
    let results = lua.create_table()?;
    // The offset, when returned, comes first.
    let first = usize::from(!decode_all);
    // The library's stack holds its argument; the wrapper's `unpack` needs
    // two slots more than the library had.
    let mut decoder = Decoder { lua, data: &data, at: offset as usize, slots: 1 + 2, depth: 0 };
    let mut count = 0usize;
    while decoder.left() > 0 && (count as i64) < limit {
        let value = decoder.value()?;
        count += 1;
        decoder.slots += 1;
        results.raw_set(first + count, value)?;
    }
    if decode_all {
        return Ok(Reply::Many(results, count));
    }
    decoder.check_stack("in function mp_unpack_full")?;
    let next = if decoder.left() == 0 { -1 } else { decoder.at as i64 };
    results.raw_set(1, next)?;
    debug_assert!(count < MAX_RESULTS);
    Ok(Reply::Many(results, count + 1))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{bytes, check, error, eval, lua};

    #[test]
    fn pack_matches_redis_bytes() {
        let lua = lua();
        let cases: &[(&str, &[u8])] = &[
            ("cmsgpack.pack(1)", b"\x01"),
            ("cmsgpack.pack('a')", b"\xa1a"),
            ("cmsgpack.pack({1, 2})", b"\x92\x01\x02"),
            ("cmsgpack.pack({a = 1})", b"\x81\xa1a\x01"),
            ("cmsgpack.pack(1.5)", b"\xca?\xc0\x00\x00"),
            ("cmsgpack.pack(0.1)", b"\xcb?\xb9\x99\x99\x99\x99\x99\x9a"),
            ("cmsgpack.pack(-1)", b"\xff"),
            ("cmsgpack.pack(-33)", b"\xd0\xdf"),
            ("cmsgpack.pack(2^63)", b"\xca_\x00\x00\x00"),
            ("cmsgpack.pack(-2^63)", b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
            ("cmsgpack.pack(1/0)", b"\xca\x7f\x80\x00\x00"),
            ("cmsgpack.pack(-0)", b"\x00"),
            ("cmsgpack.pack(nil)", b"\xc0"),
            ("cmsgpack.pack(true, false, nil, 'x')", b"\xc3\xc2\xc0\xa1x"),
            ("cmsgpack.pack(function() end)", b"\xc0"),
            ("cmsgpack.pack({[1] = 1, [3] = 3})", b"\x82\x01\x01\x03\x03"),
            ("cmsgpack.pack({})", b"\x90"),
            ("cmsgpack.pack(cjson.null)", b"\xc0"),
            ("cmsgpack.pack({a = {b = {c = 1}}})", b"\x81\xa1a\x81\xa1b\x81\xa1c\x01"),
            (
                "cmsgpack.pack(65536, 4294967296, -129, -32769, -2147483649)",
                b"\xce\x00\x01\x00\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xd1\xff\x7f\xd2\xff\xff\x7f\xff\xd3\xff\xff\xff\xff\x7f\xff\xff\xff",
            ),
            ("cmsgpack.pack(string.rep('a', 300)):sub(1, 3)", b"\xda\x01,"),
            ("cmsgpack.pack(string.rep('a', 70000)):sub(1, 5)", b"\xdb\x00\x01\x11p"),
            ("cmsgpack.pack(string.rep('a', 40)):sub(1, 2)", b"\xd9("),
        ];
        for (expr, expected) in cases {
            assert_eq!(bytes(&lua, expr), expected.to_vec(), "{expr}");
        }
        // Seventeen nested tables: the innermost one is past the limit.
        let nested = format!("cmsgpack.pack({}1{})", "{".repeat(18), "}".repeat(18));
        assert_eq!(bytes(&lua, &nested), [vec![0x91u8; 16], vec![0xc0]].concat());
    }

    #[test]
    fn round_trips_keep_values() {
        let lua = lua();
        check(&lua, "cmsgpack.unpack(cmsgpack.pack(-2^63)) == -2^63");
        check(&lua, "cmsgpack.unpack(cmsgpack.pack(0.1)) == 0.1");
        check(&lua, "cmsgpack.unpack(cmsgpack.pack(1.5)) == 1.5");
        check(&lua, "cmsgpack.unpack(cmsgpack.pack(2^40)) == 2^40");
        check(&lua, "cmsgpack.unpack(cmsgpack.pack(-70000)) == -70000");
        let script = "local t = cmsgpack.unpack(cmsgpack.pack({a = {1, 2, {b = 'x'}}, c = true}))
            return t.a[1] == 1 and t.a[2] == 2 and t.a[3].b == 'x' and t.c == true";
        assert!(lua.load(script).eval::<bool>().unwrap());
        assert_eq!(eval(&lua, "table.concat({cmsgpack.unpack(cmsgpack.pack(1, 2, 'x'))}, ',')"), "1,2,x");
        assert_eq!(eval(&lua, "select('#', cmsgpack.unpack(''))"), "0");
        check(&lua, "cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255') == -1");
        check(&lua, "cmsgpack.unpack('\\202\\63\\192\\0\\0') == 1.5");
        check(&lua, "cmsgpack.unpack(1) == 49");
    }

    #[test]
    fn unpack_one_and_limit_return_the_next_offset_first() {
        let lua = lua();
        let cases = [
            ("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))", "1,1"),
            ("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)", "2,2"),
            ("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)", "-1,3"),
            ("cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)", "-1"),
            ("cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)", "2,1,2"),
            ("cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)", "1,2,3"),
            ("cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 1)", "1"),
        ];
        for (expr, expected) in cases {
            assert_eq!(eval(&lua, &format!("table.concat({{{expr}}}, ',')")), expected, "{expr}");
        }
    }

    #[test]
    fn bad_input_gets_the_library_errors() {
        let lua = lua();
        let cases = [
            ("cmsgpack.pack()", "user_script:1: bad argument #0 to 'pack' (MessagePack pack needs input.)"),
            (
                "cmsgpack.unpack()",
                "user_script:1: bad argument #1 to 'unpack' (string expected, got no value)",
            ),
            (
                "cmsgpack.unpack({})",
                "user_script:1: bad argument #1 to 'unpack' (string expected, got table)",
            ),
            ("cmsgpack.unpack('\\196\\1a')", "user_script:1: Bad data format in input."),
            ("cmsgpack.unpack('\\199\\1\\1a')", "user_script:1: Bad data format in input."),
            ("cmsgpack.unpack('\\193')", "user_script:1: Bad data format in input."),
            ("cmsgpack.unpack('\\205\\1')", "user_script:1: Missing bytes in input."),
            ("cmsgpack.unpack('\\129\\1')", "user_script:1: Missing bytes in input."),
            ("cmsgpack.unpack('\\219\\255\\255\\255\\255a')", "user_script:1: Missing bytes in input."),
            ("cmsgpack.unpack('\\221\\255\\255\\255\\255\\1')", "user_script:1: Missing bytes in input."),
            ("cmsgpack.unpack('\\129\\192\\1')", "table index is nil"),
            (
                "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 4)",
                "user_script:1: Start offset 4 greater than input length 3.",
            ),
            (
                "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)",
                "user_script:1: Invalid request to unpack with offset of -1 and limit of 3.",
            ),
            (
                "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)",
                "user_script:1: Invalid request to unpack with offset of 0 and limit of 3.",
            ),
            (
                "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3))",
                "user_script:1: bad argument #2 to 'unpack_limit' (number expected, got no value)",
            ),
        ];
        for (expr, expected) in cases {
            assert_eq!(error(&lua, expr), expected, "{expr}");
        }
    }

    #[test]
    fn too_many_values_at_once_is_an_error_not_a_crash() {
        let lua = lua();
        assert_eq!(eval(&lua, "select('#', cmsgpack.unpack(string.rep('\\1', 7990)))"), "7990");
        assert_eq!(
            error(&lua, "cmsgpack.unpack(string.rep('\\1', 8000))"),
            "user_script:1: stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)"
        );
        assert_eq!(
            error(&lua, "cmsgpack.unpack(string.rep('\\145', 5000) .. '\\1')"),
            "user_script:1: stack overflow (in function mp_decode_to_lua_array)"
        );
        assert_eq!(eval(&lua, "type(cmsgpack.unpack(string.rep('\\145', 900) .. '\\1'))"), "table");
    }
}
