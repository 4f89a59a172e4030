//! `bit`: LuaBitOp 1.0.2 as Redis embeds it. Every argument becomes a
//! 32-bit integer the way LuaBitOp normalises a double (adding 2^52 + 2^51
//! and keeping the low 32 bits of the result, so 2^32 + 5 is 5 and 1.5
//! rounds to 2), and every result is that integer as a signed number.

use super::{Fallible, Reply, Wrapper, to_number, type_error};
use mlua::{Lua, MultiValue, Table, Value};

/// `barg`: argument `narg` as 32 bits. Lua 5.1's LuaBitOp reads it with
/// `lua_tonumber`, so a string that reads as a number is accepted.
fn barg(lua: &Lua, args: &MultiValue, narg: usize) -> Fallible<u32> {
    let value = args.get(narg - 1);
    let n = match value {
        Some(v) => to_number(lua, v)?,
        None => None,
    };
    match n {
        Some(n) => Ok(normalise(n)),
        None => Err(type_error(narg, "number", value)),
    }
}

/// The low 32 bits of `n + 2^52 + 2^51`: `n` rounded to an integer (ties to
/// even), modulo 2^32.
fn normalise(n: f64) -> u32 {
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

/// `BRET`: the bits as a signed 32-bit number.
fn bret(b: u32) -> Fallible<Reply> {
    Ok(Reply::One(Value::Integer(i64::from(b as i32))))
}

pub(super) fn module(lua: &Lua, wrap: &Wrapper) -> mlua::Result<Table> {
    let bit = lua.create_table()?;
    wrap.register(lua, &bit, "tobit", |lua, args| bret(barg(lua, &args, 1)?))?;
    wrap.register(lua, &bit, "bnot", |lua, args| bret(!barg(lua, &args, 1)?))?;
    wrap.register(lua, &bit, "band", |lua, args| fold(lua, &args, |a, b| a & b))?;
    wrap.register(lua, &bit, "bor", |lua, args| fold(lua, &args, |a, b| a | b))?;
    wrap.register(lua, &bit, "bxor", |lua, args| fold(lua, &args, |a, b| a ^ b))?;
    wrap.register(lua, &bit, "lshift", |lua, args| shift(lua, &args, |b, n| b << n))?;
    wrap.register(lua, &bit, "rshift", |lua, args| shift(lua, &args, |b, n| b >> n))?;
    wrap.register(lua, &bit, "arshift", |lua, args| shift(lua, &args, |b, n| ((b as i32) >> n) as u32))?;
    wrap.register(lua, &bit, "rol", |lua, args| shift(lua, &args, u32::rotate_left))?;
    wrap.register(lua, &bit, "ror", |lua, args| shift(lua, &args, u32::rotate_right))?;
    wrap.register(lua, &bit, "bswap", |lua, args| bret(barg(lua, &args, 1)?.swap_bytes()))?;
    wrap.register(lua, &bit, "tohex", tohex)?;
    Ok(bit)
}

/// `band`/`bor`/`bxor`: the first argument, then the others from the last
/// down (the order LuaBitOp reads them, so the highest bad one is reported).
fn fold(lua: &Lua, args: &MultiValue, op: fn(u32, u32) -> u32) -> Fallible<Reply> {
    let mut b = barg(lua, args, 1)?;
    for narg in (2..=args.len()).rev() {
        b = op(b, barg(lua, args, narg)?);
    }
    bret(b)
}

/// The shifts and rotations: the count is taken modulo 32.
fn shift(lua: &Lua, args: &MultiValue, op: fn(u32, u32) -> u32) -> Fallible<Reply> {
    let b = barg(lua, args, 1)?;
    let n = barg(lua, args, 2)? & 31;
    bret(op(b, n))
}

/// `tohex(x [, n])`: the low `|n|` hex digits (at most 8, default 8),
/// upper case when `n` is negative. A nil `n` is an error, as in LuaBitOp.
fn tohex(lua: &Lua, args: MultiValue) -> Fallible<Reply> {
    let mut b = barg(lua, &args, 1)?;
    let mut n = if args.len() < 2 { 8 } else { barg(lua, &args, 2)? as i32 };
    let digits: &[u8; 16] = if n < 0 {
        // -(-2^31) overflows in C too; the compiled library takes it as big.
        n = n.checked_neg().unwrap_or(i32::MAX);
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.clamp(0, 8) as usize;
    let mut out = [0u8; 8];
    for slot in out[..n].iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    Ok(Reply::One(Value::String(lua.create_string(&out[..n])?)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{error, eval, lua};
    use super::normalise;

    #[test]
    fn normalise_rounds_and_wraps_like_luabitop() {
        assert_eq!(normalise(1.5), 2);
        assert_eq!(normalise(2.5), 2);
        assert_eq!(normalise(-1.5) as i32, -2);
        assert_eq!(normalise(4294967301.0), 5);
        assert_eq!(normalise(f64::NAN), 0);
        assert_eq!(normalise(f64::INFINITY), 0);
        assert_eq!(normalise(1e300) as i32, -2013235812);
    }

    #[test]
    fn operations_match_redis() {
        let lua = lua();
        let cases = [
            ("bit.tohex(-1)", "ffffffff"),
            ("bit.tohex(255, 4)", "00ff"),
            ("bit.tohex(255, -4)", "00FF"),
            ("bit.tohex(255, 0)", ""),
            ("bit.tohex(255, 20)", "000000ff"),
            ("bit.tohex(255, -20)", "000000FF"),
            ("bit.tohex(0x12345678, 2)", "78"),
            ("bit.tohex(1, -2^31)", "00000001"),
            ("bit.band(0xffffffff, 7)", "7"),
            ("bit.tobit(0xffffffff)", "-1"),
            ("bit.tobit(2^32 + 5)", "5"),
            ("bit.tobit('12')", "12"),
            ("bit.tobit('0x10')", "16"),
            ("bit.bnot(0)", "-1"),
            ("bit.bor(1, 2, 4, 8)", "15"),
            ("bit.bxor(1, 3)", "2"),
            ("bit.band(1)", "1"),
            ("bit.lshift(1, 31)", "-2147483648"),
            ("bit.lshift(1, 32)", "1"),
            ("bit.lshift(1, 33)", "2"),
            ("bit.rshift(-1, 28)", "15"),
            ("bit.arshift(-256, 4)", "-16"),
            ("bit.rol(0x12345678, 8)", "878082066"),
            ("bit.ror(0x12345678, 8)", "2014458966"),
            ("bit.bswap(0x12345678)", "2018915346"),
        ];
        for (expr, expected) in cases {
            assert_eq!(eval(&lua, expr), expected, "{expr}");
        }
    }

    #[test]
    fn bad_arguments_are_reported_like_luabitop() {
        let lua = lua();
        let cases = [
            ("bit.tobit('abc')", "bad argument #1 to 'tobit' (number expected, got string)"),
            ("bit.tobit()", "bad argument #1 to 'tobit' (number expected, got no value)"),
            ("bit.tobit({})", "bad argument #1 to 'tobit' (number expected, got table)"),
            ("bit.tobit(nil)", "bad argument #1 to 'tobit' (number expected, got nil)"),
            ("bit.band()", "bad argument #1 to 'band' (number expected, got no value)"),
            ("bit.band(1, 'x', 'y')", "bad argument #3 to 'band' (number expected, got string)"),
            ("bit.lshift(1)", "bad argument #2 to 'lshift' (number expected, got no value)"),
            ("bit.tohex(1, nil)", "bad argument #2 to 'tohex' (number expected, got nil)"),
        ];
        for (expr, expected) in cases {
            assert_eq!(error(&lua, expr), format!("user_script:1: {expected}"), "{expr}");
        }
    }
}
