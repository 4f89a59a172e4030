//! The Lua libraries Redis embeds in its scripting engine, as the globals
//! `bit`, `cjson`, `cmsgpack` and `struct` with Redis' behaviour: the same
//! results, byte for byte, and the same error texts.
//!
//! | file | library |
//! |---|---|
//! | `mod.rs` | [`install`]; the C-API conventions the libraries share (argument checks, errors) |
//! | `bit.rs` | `bit`: LuaBitOp 1.0.2, 32-bit operations on Lua numbers |
//! | `cjson.rs` | `cjson`: lua-cjson 2.1.0, JSON encode/decode and its settings |
//! | `cmsgpack.rs` | `cmsgpack`: lua-cmsgpack 0.4.0, MessagePack pack/unpack |
//! | `structlib.rs` | `struct`: Roberto Ierusalimschy's struct library, binary pack/unpack |
//!
//! Errors. The C libraries raise plain Lua strings, positioned as
//! `luaL_error` positions them (`user_script:1: ` when a script line called
//! the function). An mlua callback can only raise a userdata error, so each
//! library function is a Rust callback behind a small Lua wrapper: the
//! callback answers `true` and its values, or `false` and the finished
//! message, and the wrapper raises that message as a string. The price: a
//! script that tail-calls a library function (`return cjson.decode(x)`)
//! replaces its own frame with the wrapper's, so an error there has no line
//! to name and comes without a position (a C function keeps its caller).
//!
//! Bounds. The Lua stack of a C function holds at most 8000 values and mlua
//! keeps every live Lua value of Rust in a stack of the same size, so no
//! library holds more than a bounded number of values at once: results are
//! gathered in a Lua table the wrapper unpacks, and nesting is capped at
//! [`MAX_NESTING`] levels (encode and decode recurse once per level).

mod bit;
mod cjson;
mod cmsgpack;
mod structlib;

use mlua::{Function, Lua, MultiValue, Table, Value};

/// The deepest nesting any library builds or walks. lua-cjson's default
/// limits (1000) fit under it; a higher `encode_max_depth` or
/// `decode_max_depth` is honoured up to here.
pub(super) const MAX_NESTING: usize = 1000;

/// The largest string a library builds (`proto-max-bulk-len`'s default):
/// a table that refers to itself many times over cannot grow an encoding
/// without bound.
pub(super) const MAX_OUTPUT: usize = 512 * 1024 * 1024;

/// Lua 5.1's `LUAI_MAXCSTACK`: the values a C function may have on its stack.
pub(super) const LUA_STACK_SLOTS: usize = 8000;

/// The most values a [`Reply::Many`] may hold: the wrapper returns them
/// with `unpack`, whose stack already holds its three arguments.
pub(super) const MAX_RESULTS: usize = LUA_STACK_SLOTS - 3;

/// Sets the globals `bit`, `cjson`, `cmsgpack` and `struct`.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let wrap = Wrapper::new(lua)?;
    let globals = lua.globals();
    globals.set("bit", bit::module(lua, &wrap)?)?;
    globals.set("cjson", cjson::module(lua, &wrap)?)?;
    globals.set("cmsgpack", cmsgpack::module(lua, &wrap)?)?;
    globals.set("struct", structlib::module(lua, &wrap)?)?;
    Ok(())
}

/// What a library function answers.
pub(super) enum Reply {
    /// One value.
    One(Value),
    /// Values `1..=n` of the table, in order (any number, nils included).
    Many(Table, usize),
}

/// Why a library function failed, in the C API's terms.
pub(super) enum Failure {
    /// `luaL_error`: the message, after the caller's position.
    Error(String),
    /// `luaL_argerror`: argument `narg` is wrong for the reason given.
    Arg(i64, String),
    /// An error the Lua VM raises without a position ("table index is nil").
    Plain(String),
    /// A failure of the interpreter itself (memory), passed on as it is.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Failure {
    fn from(e: mlua::Error) -> Self {
        Failure::Lua(e)
    }
}

pub(super) type Fallible<T> = std::result::Result<T, Failure>;

impl Failure {
    pub(super) fn error(message: impl Into<String>) -> Failure {
        Failure::Error(message.into())
    }

    /// The text the C library would raise. Called inside the callback, where
    /// stack level 1 is the wrapper (the function the script called) and
    /// level 2 the script's line that called it.
    fn message(self, lua: &Lua) -> mlua::Result<String> {
        Ok(match self {
            Failure::Plain(message) => message,
            Failure::Error(message) => format!("{}{message}", location(lua)),
            Failure::Arg(narg, extra) => format!("{}{}", location(lua), arg_message(lua, narg, &extra)),
            Failure::Lua(e) => return Err(e),
        })
    }
}

/// `luaL_where(L, 1)` as seen from the wrapper: `source:line: `, or nothing
/// when the caller is not a Lua line (a C function such as `pcall`).
fn location(lua: &Lua) -> String {
    lua.inspect_stack(2, |debug| match debug.current_line() {
        Some(line) if line > 0 => {
            let source = debug.source();
            format!("{}:{line}: ", source.short_src.as_deref().unwrap_or("?"))
        }
        _ => String::new(),
    })
    .unwrap_or_default()
}

/// `luaL_argerror`'s text, with the name the caller used for the function.
fn arg_message(lua: &Lua, narg: i64, extra: &str) -> String {
    let (name, method) = lua
        .inspect_stack(1, |debug| {
            let names = debug.names();
            (names.name.map(|n| n.into_owned()), names.name_what == Some("method"))
        })
        .unwrap_or((None, false));
    let name = name.unwrap_or_else(|| "?".to_owned());
    if method {
        if narg == 1 {
            return format!("calling '{name}' on bad self ({extra})");
        }
        return format!("bad argument #{} to '{name}' ({extra})", narg - 1);
    }
    format!("bad argument #{narg} to '{name}' ({extra})")
}

/// Turns Rust callbacks into library functions (see the module doc).
#[derive(Clone)]
pub(super) struct Wrapper {
    make: Function,
    /// Lua's `next`, taken when the libraries are installed (scripts may
    /// not see the real globals later).
    pub(super) next: Function,
}

/// Calls the callback; on success returns its value or unpacks its table,
/// on failure raises its message as a string error (level 0: the message
/// carries its position already).
const WRAPPER: &str = r#"
local raw = ...
local error, unpack = error, unpack
return function(...)
    local ok, a, n = raw(...)
    if ok then
        if n then return unpack(a, 1, n) end
        return a
    end
    error(a, 0)
end
"#;

impl Wrapper {
    fn new(lua: &Lua) -> mlua::Result<Wrapper> {
        let make = lua.load(WRAPPER).set_name("=[C]").into_function()?;
        let next = lua.globals().raw_get("next")?;
        Ok(Wrapper { make, next })
    }

    /// Sets `module[name]` to a library function running `f`.
    pub(super) fn register<F>(&self, lua: &Lua, module: &Table, name: &str, f: F) -> mlua::Result<()>
    where
        F: Fn(&Lua, MultiValue) -> Fallible<Reply> + Send + 'static,
    {
        let raw = lua.create_function(move |lua, args: MultiValue| {
            Ok(match f(lua, args) {
                Ok(Reply::One(v)) => (true, v, None),
                Ok(Reply::Many(t, n)) => (true, Value::Table(t), Some(n)),
                Err(failure) => {
                    let message = failure.message(lua)?;
                    (false, Value::String(lua.create_string(message)?), None)
                }
            })
        })?;
        let function: Function = self.make.call(raw)?;
        module.raw_set(name, function)
    }
}

/// `luaL_typename`: the type of argument `narg`, "no value" past the end.
pub(super) fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// `luaL_typerror`: "number expected, got nil".
pub(super) fn type_error(narg: usize, expected: &str, value: Option<&Value>) -> Failure {
    Failure::Arg(narg as i64, format!("{expected} expected, got {}", type_name(value)))
}

/// `lua_tonumber`: numbers, and strings Lua reads as numbers.
pub(super) fn to_number(lua: &Lua, value: &Value) -> mlua::Result<Option<f64>> {
    Ok(match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(_) => lua.coerce_number(value.clone())?,
        _ => None,
    })
}

/// `luaL_checknumber` on argument `narg` (1-based).
pub(super) fn check_number(lua: &Lua, args: &MultiValue, narg: usize) -> Fallible<f64> {
    let value = args.get(narg - 1);
    match value {
        Some(v) => to_number(lua, v)?.ok_or_else(|| type_error(narg, "number", value)),
        None => Err(type_error(narg, "number", None)),
    }
}

/// `luaL_checkinteger`: the number, truncated as C truncates it.
pub(super) fn check_integer(lua: &Lua, args: &MultiValue, narg: usize) -> Fallible<i64> {
    Ok(c_i64(check_number(lua, args, narg)?))
}

/// `luaL_optinteger`: `default` when the argument is absent or nil.
pub(super) fn opt_integer(lua: &Lua, args: &MultiValue, narg: usize, default: i64) -> Fallible<i64> {
    match args.get(narg - 1) {
        None | Some(Value::Nil) => Ok(default),
        Some(_) => check_integer(lua, args, narg),
    }
}

/// `luaL_checklstring`: strings, and numbers as Lua prints them.
pub(super) fn check_string(lua: &Lua, args: &MultiValue, narg: usize) -> Fallible<mlua::String> {
    let value = args.get(narg - 1);
    match value {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            lua.coerce_string(v.clone())?.ok_or_else(|| type_error(narg, "string", value))
        }
        _ => Err(type_error(narg, "string", value)),
    }
}

/// 2^63 (exact as a double).
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// A C cast of a double to a 64-bit signed integer on x86-64
/// (`cvttsd2si`): truncation, and `i64::MIN` when out of range or NaN.
pub(super) fn c_i64(n: f64) -> i64 {
    if n.is_nan() || !(-TWO_63..TWO_63).contains(&n) { i64::MIN } else { n as i64 }
}

/// A C cast of a double to a 64-bit unsigned integer as gcc compiles it on
/// x86-64: below 2^63 (and NaN) the signed conversion, above it the signed
/// conversion of `n - 2^63` with the top bit flipped.
pub(super) fn c_u64(n: f64) -> u64 {
    if n >= TWO_63 { (c_i64(n - TWO_63) as u64) ^ (1 << 63) } else { c_i64(n) as u64 }
}

/// A C cast of a double to a 32-bit `int` on x86-64: `i32::MIN` when out of
/// range or NaN.
pub(super) fn c_i32(n: f64) -> i32 {
    if n.is_nan() || !(-2_147_483_648.0..2_147_483_648.0).contains(&n) { i32::MIN } else { n as i32 }
}

/// printf's `%.<precision>g`.
pub(super) fn format_g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_owned();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_owned();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let p = precision.max(1);
    let scientific = format!("{:.*e}", p - 1, x);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific.as_str(), "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= p as i64 {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", strip_zeros(mantissa), exponent.abs())
    } else {
        let decimals = (p as i64 - 1 - exponent).max(0) as usize;
        strip_zeros(&format!("{x:.decimals$}")).to_owned()
    }
}

/// `%g` drops trailing zeros of the fraction, and the point if nothing is left.
fn strip_zeros(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

#[cfg(test)]
pub(super) mod testing {
    use mlua::Lua;

    /// A Lua state with the libraries, as scripts see it.
    pub fn lua() -> Lua {
        let lua = Lua::new();
        super::install(&lua).expect("install");
        lua
    }

    /// Evaluates `expr` and returns it as Lua's `tostring` prints it.
    pub fn eval(lua: &Lua, expr: &str) -> String {
        lua.load(format!("return tostring({expr})"))
            .set_name("=user_script")
            .eval::<String>()
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    /// Evaluates `expr`, expecting it to be true.
    pub fn check(lua: &Lua, expr: &str) {
        let ok: bool = lua
            .load(format!("return {expr}"))
            .set_name("=user_script")
            .eval()
            .unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert!(ok, "{expr} is false");
    }

    /// The error message `expr` raises, which must be a string.
    pub fn error(lua: &Lua, expr: &str) -> String {
        let code = format!(
            "local ok, e = pcall(function() local _ = {expr} end) \
             assert(not ok, 'no error') assert(type(e) == 'string', type(e)) return e"
        );
        lua.load(code).set_name("=user_script").eval::<String>().unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    /// The bytes of the string `expr` evaluates to.
    pub fn bytes(lua: &Lua, expr: &str) -> Vec<u8> {
        let s: mlua::String = lua
            .load(format!("return {expr}"))
            .set_name("=user_script")
            .eval()
            .unwrap_or_else(|e| panic!("{expr}: {e}"));
        s.as_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{check, error, eval, lua};
    use super::*;

    #[test]
    fn format_g_matches_printf() {
        assert_eq!(format_g(1.0 / 3.0, 14), "0.33333333333333");
        assert_eq!(format_g(1e15, 14), "1e+15");
        assert_eq!(format_g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(format_g(12345678901234.0, 14), "12345678901234");
        assert_eq!(format_g(0.1, 14), "0.1");
        assert_eq!(format_g(-0.0, 14), "-0");
        assert_eq!(format_g(1e-5, 14), "1e-05");
        assert_eq!(format_g(0.0001, 14), "0.0001");
        assert_eq!(format_g(1e100, 14), "1e+100");
        assert_eq!(format_g(2f64.powi(53), 14), "9.007199254741e+15");
        assert_eq!(format_g(100.0, 14), "100");
        assert_eq!(format_g(0.5, 1), "0.5");
        assert_eq!(format_g(15.0, 1), "2e+01");
        assert_eq!(format_g(f64::INFINITY, 14), "inf");
    }

    #[test]
    fn c_casts_follow_x86() {
        assert_eq!(c_i64(1.9), 1);
        assert_eq!(c_i64(-1.9), -1);
        assert_eq!(c_i64(TWO_63), i64::MIN);
        assert_eq!(c_i64(f64::NAN), i64::MIN);
        assert_eq!(c_u64(TWO_63), 1 << 63);
        assert_eq!(c_u64(2.0 * TWO_63), 0);
        assert_eq!(c_u64(f64::NAN), 1 << 63);
        assert_eq!(c_u64(-1.0), u64::MAX);
        assert_eq!(c_i32(1e300), i32::MIN);
    }

    #[test]
    fn globals_are_installed() {
        let lua = lua();
        for name in ["bit", "cjson", "cmsgpack", "struct"] {
            assert_eq!(eval(&lua, &format!("type({name})")), "table", "{name}");
        }
    }

    #[test]
    fn errors_are_strings_positioned_like_lual_error() {
        let lua = lua();
        // Called from a script line: the line's position comes first.
        assert_eq!(
            error(&lua, "bit.tobit()"),
            "user_script:1: bad argument #1 to 'tobit' (number expected, got no value)"
        );
        // Called by pcall (a C function): no position, and no name.
        let e = eval(&lua, "select(2, pcall(bit.tobit))");
        assert_eq!(e, "bad argument #1 to '?' (number expected, got no value)");
        check(&lua, "type(select(2, pcall(cjson.decode, 'x'))) == 'string'");
    }
}
