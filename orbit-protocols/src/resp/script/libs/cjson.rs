//! `cjson`: lua-cjson 2.1.0 as Redis embeds it.
//!
//! Encoding: a table whose keys are all positive integers is an array
//! (holes are `null`) unless it is excessively sparse (by default: more
//! than twice as many slots as items, past index 10: an error); any other
//! table is an object with string or number keys; numbers print as `%.14g`;
//! strings escape `"`, `\`, `/` and control bytes, and pass other bytes
//! through. `cjson.null` (a NULL light userdata) and nil encode as `null`.
//!
//! Decoding: what `strtod` reads is a number (so `0x10`, `+1`, `inf` and
//! `nan` are accepted while `decode_invalid_numbers` is on, the default),
//! `null` is `cjson.null`, and the input ends at its first zero byte, as the
//! C string it is in the library.
//!
//! Each module table (the global one, and each `cjson.new()`) has its own
//! settings. `encode_keep_buffer` is stored and answered but changes
//! nothing here (it only chose whether the C library reused its buffer).

use super::{
    Failure, Fallible, MAX_NESTING, MAX_OUTPUT, Reply, Wrapper, c_i32, check_integer, check_string, format_g,
    type_name,
};
use mlua::{Function, LightUserData, Lua, MultiValue, Table, Value};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy)]
struct Config {
    sparse_convert: bool,
    sparse_ratio: i32,
    sparse_safe: i32,
    encode_max_depth: i32,
    decode_max_depth: i32,
    /// 0 off (an error), 1 on (`nan`, `inf`), 2 as `null`.
    encode_invalid_numbers: u8,
    decode_invalid_numbers: bool,
    keep_buffer: bool,
    precision: i32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            sparse_convert: false,
            sparse_ratio: 2,
            sparse_safe: 10,
            encode_max_depth: 1000,
            decode_max_depth: 1000,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: true,
            keep_buffer: true,
            precision: 14,
        }
    }
}

type Shared = Arc<Mutex<Config>>;

fn settings(shared: &Shared) -> Config {
    *shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The JSON null: a light userdata holding NULL, as in lua-cjson.
fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

pub(super) fn module(lua: &Lua, wrap: &Wrapper) -> mlua::Result<Table> {
    let shared: Shared = Arc::new(Mutex::new(Config::default()));
    let cjson = lua.create_table()?;
    let s = shared.clone();
    let next = wrap.next.clone();
    wrap.register(lua, &cjson, "encode", move |lua, args| encode(lua, &args, settings(&s), &next))?;
    let s = shared.clone();
    wrap.register(lua, &cjson, "decode", move |lua, args| decode(lua, &args, settings(&s)))?;
    let s = shared.clone();
    wrap.register(lua, &cjson, "encode_sparse_array", move |lua, args| {
        configure(&s, &args, 3, |cfg| {
            let convert = bool_option(lua, &args, 1, &mut cfg.sparse_convert)?;
            let ratio = integer_option(lua, &args, 2, &mut cfg.sparse_ratio, 0, i32::MAX)?;
            let safe = integer_option(lua, &args, 3, &mut cfg.sparse_safe, 0, i32::MAX)?;
            let values = lua.create_sequence_from([convert, ratio, safe])?;
            Ok(Reply::Many(values, 3))
        })
    })?;
    let s = shared.clone();
    wrap.register(lua, &cjson, "encode_max_depth", move |lua, args| {
        configure(&s, &args, 1, |cfg| {
            one(integer_option(lua, &args, 1, &mut cfg.encode_max_depth, 1, i32::MAX))
        })
    })?;
    let s = shared.clone();
    wrap.register(lua, &cjson, "decode_max_depth", move |lua, args| {
        configure(&s, &args, 1, |cfg| {
            one(integer_option(lua, &args, 1, &mut cfg.decode_max_depth, 1, i32::MAX))
        })
    })?;
    let s = shared.clone();
    wrap.register(lua, &cjson, "encode_number_precision", move |lua, args| {
        configure(&s, &args, 1, |cfg| one(integer_option(lua, &args, 1, &mut cfg.precision, 1, 14)))
    })?;
    let s = shared.clone();
    wrap.register(lua, &cjson, "encode_keep_buffer", move |lua, args| {
        configure(&s, &args, 1, |cfg| one(bool_option(lua, &args, 1, &mut cfg.keep_buffer)))
    })?;
    let s = shared.clone();
    wrap.register(lua, &cjson, "encode_invalid_numbers", move |lua, args| {
        configure(&s, &args, 1, |cfg| {
            let mut setting = cfg.encode_invalid_numbers;
            let answer = enum_option(lua, &args, 1, &mut setting, &["off", "on", "null"]);
            cfg.encode_invalid_numbers = setting;
            one(answer)
        })
    })?;
    let s = shared;
    wrap.register(lua, &cjson, "decode_invalid_numbers", move |lua, args| {
        configure(&s, &args, 1, |cfg| one(bool_option(lua, &args, 1, &mut cfg.decode_invalid_numbers)))
    })?;
    let w = wrap.clone();
    wrap.register(lua, &cjson, "new", move |lua, _| Ok(Reply::One(Value::Table(module(lua, &w)?))))?;
    cjson.raw_set("null", null())?;
    cjson.raw_set("_NAME", "cjson")?;
    cjson.raw_set("_VERSION", "2.1.0")?;
    Ok(cjson)
}

fn one(value: Fallible<Value>) -> Fallible<Reply> {
    Ok(Reply::One(value?))
}

/// `json_arg_init` then the setting's own work, on the module's settings
/// (a setting read before a later argument fails stays changed, as in C).
fn configure(
    shared: &Shared,
    args: &MultiValue,
    max_args: usize,
    f: impl FnOnce(&mut Config) -> Fallible<Reply>,
) -> Fallible<Reply> {
    if args.len() > max_args {
        return Err(Failure::Arg(max_args as i64 + 1, "found too many arguments".into()));
    }
    let mut cfg = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut cfg)
}

fn is_nil(args: &MultiValue, narg: usize) -> bool {
    matches!(args.get(narg - 1), None | Some(Value::Nil))
}

/// `json_enum_option`: a boolean (true is 1), or one of `options` by name;
/// the answer is a boolean for 0 and 1, else the option's name.
fn enum_option(
    lua: &Lua,
    args: &MultiValue,
    narg: usize,
    setting: &mut u8,
    options: &[&str],
) -> Fallible<Value> {
    if !is_nil(args, narg) {
        if let Some(Value::Boolean(b)) = args.get(narg - 1) {
            *setting = u8::from(*b);
        } else {
            let name = check_string(lua, args, narg)?;
            let name = name.as_bytes();
            match options.iter().position(|o| o.as_bytes() == &name[..]) {
                Some(i) => *setting = i as u8,
                None => {
                    let shown = String::from_utf8_lossy(&name);
                    return Err(Failure::Arg(narg as i64, format!("invalid option '{shown}'")));
                }
            }
        }
    }
    Ok(match *setting {
        0 | 1 => Value::Boolean(*setting == 1),
        n => Value::String(lua.create_string(options[usize::from(n)])?),
    })
}

/// An on/off setting (`json_enum_option` without a list).
fn bool_option(lua: &Lua, args: &MultiValue, narg: usize, setting: &mut bool) -> Fallible<Value> {
    let mut n = u8::from(*setting);
    let answer = enum_option(lua, args, narg, &mut n, &["off", "on"])?;
    *setting = n == 1;
    Ok(answer)
}

/// `json_integer_option`: an integer in `min..=max` (the error names
/// argument 1 whichever it was, as lua-cjson does).
fn integer_option(
    lua: &Lua,
    args: &MultiValue,
    narg: usize,
    setting: &mut i32,
    min: i32,
    max: i32,
) -> Fallible<Value> {
    if !is_nil(args, narg) {
        let value = check_integer(lua, args, narg)? as i32;
        if !(min..=max).contains(&value) {
            return Err(Failure::Arg(1, format!("expected integer between {min} and {max}")));
        }
        *setting = value;
    }
    Ok(Value::Integer(i64::from(*setting)))
}

// ---------------------------------------------------------------------------
// Encoding

fn encode(lua: &Lua, args: &MultiValue, cfg: Config, next: &Function) -> Fallible<Reply> {
    if args.len() != 1 {
        return Err(Failure::Arg(1, "expected 1 argument".into()));
    }
    let mut encoder = Encoder { cfg, out: Vec::new() };
    encoder.document(&args[0], next)?;
    Ok(Reply::One(Value::String(lua.create_string(&encoder.out)?)))
}

struct Encoder {
    cfg: Config,
    out: Vec<u8>,
}

fn unsupported(value: &Value, reason: &str) -> Failure {
    Failure::error(format!("Cannot serialise {}: {reason}", type_name(Some(value))))
}

/// A table being written.
enum Open {
    /// An array of `len` slots, `next` the slot to write next.
    Array { table: Table, len: i64, next: i64 },
    /// An object, walked with Lua's `next` from `key` (nil: not started).
    Object { table: Table, key: Value },
}

impl Encoder {
    /// `json_append_data` without the recursion: the tables being written
    /// are an explicit stack, so deep nesting costs heap, not the thread's
    /// stack. Objects are walked with Lua's `next` (the library's
    /// `lua_next`), one pair at a time.
    fn document(&mut self, root: &Value, next: &Function) -> Fallible<()> {
        let mut open: Vec<Open> = Vec::new();
        let mut current = root.clone();
        loop {
            if self.out.len() > MAX_OUTPUT {
                return Err(Failure::error("Cannot serialise, output too large"));
            }
            if let Value::Table(table) = &current {
                let depth = open.len() as i32 + 1;
                if depth > self.cfg.encode_max_depth || (depth as usize) > MAX_NESTING {
                    return Err(Failure::error(format!("Cannot serialise, excessive nesting ({depth})")));
                }
                let len = self.array_length(table)?;
                if len > 0 {
                    self.out.push(b'[');
                    open.push(Open::Array { table: table.clone(), len, next: 1 });
                } else {
                    self.out.push(b'{');
                    open.push(Open::Object { table: table.clone(), key: Value::Nil });
                }
            } else {
                self.scalar(&current)?;
            }
            // The next value to write, closing the tables that are done.
            loop {
                let closing = match open.last_mut() {
                    None => return Ok(()),
                    Some(Open::Array { table, len, next: slot }) => {
                        if *slot > *len {
                            Some(b']')
                        } else {
                            if *slot > 1 {
                                self.out.push(b',');
                            }
                            current = table.raw_get(*slot)?;
                            *slot += 1;
                            None
                        }
                    }
                    Some(Open::Object { table, key }) => {
                        let (k, v): (Value, Value) = next.call((table.clone(), key.clone()))?;
                        if k.is_nil() {
                            Some(b'}')
                        } else {
                            if !key.is_nil() {
                                self.out.push(b',');
                            }
                            self.key(&k)?;
                            *key = k;
                            current = v;
                            None
                        }
                    }
                };
                match closing {
                    Some(close) => {
                        self.out.push(close);
                        open.pop();
                    }
                    None => break,
                }
            }
        }
    }

    /// A value that is not a table.
    fn scalar(&mut self, value: &Value) -> Fallible<()> {
        match value {
            Value::String(s) => self.string(&s.as_bytes()),
            Value::Integer(i) => self.number(*i as f64)?,
            Value::Number(n) => self.number(*n)?,
            Value::Boolean(b) => self.out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Value::Nil => self.out.extend_from_slice(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.out.extend_from_slice(b"null"),
            other => return Err(unsupported(other, "type not supported")),
        }
        Ok(())
    }

    /// An object key: a string, or a number in quotes.
    fn key(&mut self, key: &Value) -> Fallible<()> {
        match key {
            Value::Integer(i) => self.number_key(*i as f64),
            Value::Number(n) => self.number_key(*n),
            Value::String(s) => {
                self.string(&s.as_bytes());
                self.out.push(b':');
                Ok(())
            }
            other => Err(unsupported(other, "table key must be a number or string")),
        }
    }

    fn number(&mut self, n: f64) -> Fallible<()> {
        match self.cfg.encode_invalid_numbers {
            0 if !n.is_finite() => {
                return Err(Failure::error("Cannot serialise number: must not be NaN or Inf"));
            }
            1 if n.is_nan() => {
                self.out.extend_from_slice(b"nan");
                return Ok(());
            }
            2 if !n.is_finite() => {
                self.out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {}
        }
        self.out.extend_from_slice(format_g(n, self.cfg.precision.max(1) as usize).as_bytes());
        Ok(())
    }

    /// A number key: the number in quotes.
    fn number_key(&mut self, n: f64) -> Fallible<()> {
        self.out.push(b'"');
        self.number(n)?;
        self.out.extend_from_slice(b"\":");
        Ok(())
    }

    fn string(&mut self, s: &[u8]) {
        self.out.push(b'"');
        for &b in s {
            match b {
                b'"' => self.out.extend_from_slice(b"\\\""),
                b'\\' => self.out.extend_from_slice(b"\\\\"),
                b'/' => self.out.extend_from_slice(b"\\/"),
                0x08 => self.out.extend_from_slice(b"\\b"),
                b'\t' => self.out.extend_from_slice(b"\\t"),
                b'\n' => self.out.extend_from_slice(b"\\n"),
                0x0c => self.out.extend_from_slice(b"\\f"),
                b'\r' => self.out.extend_from_slice(b"\\r"),
                0x00..=0x1f | 0x7f => self.out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                _ => self.out.push(b),
            }
        }
        self.out.push(b'"');
    }

    /// `lua_array_length`: the largest key when every key is a positive
    /// integer (and the table is not too sparse), else -1 (an object). The
    /// largest key is kept in a C `int`, as in the library.
    fn array_length(&self, table: &Table) -> Fallible<i64> {
        let (mut max, mut items) = (0i32, 0i32);
        for pair in table.pairs::<Value, Value>() {
            let k = match pair?.0 {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => return Ok(-1),
            };
            if k == 0.0 || k.floor() != k || k < 1.0 {
                return Ok(-1);
            }
            if k > f64::from(max) {
                max = c_i32(k);
            }
            items = items.wrapping_add(1);
        }
        let cfg = &self.cfg;
        if cfg.sparse_ratio > 0 && max > items.wrapping_mul(cfg.sparse_ratio) && max > cfg.sparse_safe {
            if !cfg.sparse_convert {
                return Err(Failure::error("Cannot serialise table: excessively sparse array"));
            }
            return Ok(-1);
        }
        Ok(i64::from(max))
    }
}

// ---------------------------------------------------------------------------
// Decoding

enum Token {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    /// What was wrong, as the message names it ("invalid token").
    Error(&'static str),
}

/// A token and where it starts (0-based).
struct Tok {
    kind: Token,
    index: usize,
}

fn token_name(token: &Token) -> &'static str {
    match token {
        Token::ObjBegin => "T_OBJ_BEGIN",
        Token::ObjEnd => "T_OBJ_END",
        Token::ArrBegin => "T_ARR_BEGIN",
        Token::ArrEnd => "T_ARR_END",
        Token::Str(_) => "T_STRING",
        Token::Number(_) => "T_NUMBER",
        Token::Boolean(_) => "T_BOOLEAN",
        Token::Null => "T_NULL",
        Token::Colon => "T_COLON",
        Token::Comma => "T_COMMA",
        Token::End => "T_END",
        Token::Error(what) => what,
    }
}

/// `json_throw_parse_error`.
fn expected(what: &str, token: &Tok) -> Failure {
    Failure::error(format!(
        "Expected {what} but found {} at character {}",
        token_name(&token.kind),
        token.index + 1
    ))
}

fn decode(lua: &Lua, args: &MultiValue, cfg: Config) -> Fallible<Reply> {
    if args.len() != 1 {
        return Err(Failure::Arg(1, "expected 1 argument".into()));
    }
    let text = check_string(lua, args, 1)?;
    let bytes = text.as_bytes();
    if bytes.len() >= 2 && (bytes[0] == 0 || bytes[1] == 0) {
        return Err(Failure::error("JSON parser does not support UTF-16 or UTF-32"));
    }
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let mut parser = Parser { lua, data: &bytes[..end], at: 0, cfg, depth: 0 };
    let token = parser.next_token();
    let value = parser.value(token)?;
    let token = parser.next_token();
    if !matches!(token.kind, Token::End) {
        return Err(expected("the end", &token));
    }
    Ok(Reply::One(value))
}

struct Parser<'a> {
    lua: &'a Lua,
    data: &'a [u8],
    at: usize,
    cfg: Config,
    depth: i32,
}

impl Parser<'_> {
    /// The byte at `i`; the end reads as the C string's terminating zero.
    fn byte(&self, i: usize) -> u8 {
        self.data.get(i).copied().unwrap_or(0)
    }

    fn starts_with(&self, word: &[u8]) -> bool {
        self.data.get(self.at..).is_some_and(|rest| rest.starts_with(word))
    }

    /// `json_next_token`.
    fn next_token(&mut self) -> Tok {
        while matches!(self.byte(self.at), b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
        let index = self.at;
        let single = |kind: Token| (kind, 1usize);
        let (kind, advance) = match self.byte(index) {
            b'{' => single(Token::ObjBegin),
            b'}' => single(Token::ObjEnd),
            b'[' => single(Token::ArrBegin),
            b']' => single(Token::ArrEnd),
            b',' => single(Token::Comma),
            b':' => single(Token::Colon),
            0 => (Token::End, 0),
            b'"' => return self.string_token(),
            b'-' | b'0'..=b'9' => {
                if !self.cfg.decode_invalid_numbers && self.is_invalid_number() {
                    (Token::Error("invalid number"), 0)
                } else {
                    return self.number_token();
                }
            }
            b'f' | b'i' | b'I' | b'n' | b'N' | b't' | b'+' => {
                if self.starts_with(b"true") {
                    (Token::Boolean(true), 4)
                } else if self.starts_with(b"false") {
                    (Token::Boolean(false), 5)
                } else if self.starts_with(b"null") {
                    (Token::Null, 4)
                } else if self.cfg.decode_invalid_numbers && self.is_invalid_number() {
                    return self.number_token();
                } else {
                    (Token::Error("invalid token"), 0)
                }
            }
            _ => (Token::Error("invalid token"), 0),
        };
        self.at += advance;
        Tok { kind, index }
    }

    /// `json_is_invalid_number`: forms `strtod` reads that JSON does not
    /// allow (a leading `+` or zero, hex, inf, nan).
    fn is_invalid_number(&self) -> bool {
        let mut p = self.at;
        if self.byte(p) == b'+' {
            return true;
        }
        if self.byte(p) == b'-' {
            p += 1;
        }
        if self.byte(p) == b'0' {
            let next = self.byte(p + 1);
            return (next | 0x20) == b'x' || next.is_ascii_digit();
        }
        if self.byte(p) <= b'9' {
            return false;
        }
        let rest = self.data.get(p..).unwrap_or_default();
        starts_with_ignore_case(rest, b"inf") || starts_with_ignore_case(rest, b"nan")
    }

    fn number_token(&mut self) -> Tok {
        let index = self.at;
        let (value, used) = strtod(self.data.get(index..).unwrap_or_default());
        if used == 0 {
            return Tok { kind: Token::Error("invalid number"), index };
        }
        self.at += used;
        Tok { kind: Token::Number(value), index }
    }

    /// `json_next_string_token`: errors point at the offending byte.
    fn string_token(&mut self) -> Tok {
        let index = self.at;
        self.at += 1;
        let mut text = Vec::new();
        loop {
            let ch = self.byte(self.at);
            match ch {
                b'"' => break,
                0 => return Tok { kind: Token::Error("unexpected end of string"), index: self.at },
                b'\\' => {
                    let escaped = match self.byte(self.at + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b't' => b'\t',
                        b'n' => b'\n',
                        b'f' => 0x0c,
                        b'r' => b'\r',
                        b'u' => {
                            if self.unicode_escape(&mut text) {
                                continue;
                            }
                            return Tok { kind: Token::Error("invalid unicode escape code"), index: self.at };
                        }
                        _ => return Tok { kind: Token::Error("invalid escape code"), index: self.at },
                    };
                    text.push(escaped);
                    self.at += 2;
                }
                _ => {
                    text.push(ch);
                    self.at += 1;
                }
            }
        }
        self.at += 1;
        Tok { kind: Token::Str(text), index }
    }

    /// Four hex digits at `at`.
    fn hex4(&self, at: usize) -> Option<u32> {
        (0..4).try_fold(0u32, |acc, i| Some((acc << 4) | char::from(self.byte(at + i)).to_digit(16)?))
    }

    /// `json_append_unicode_escape`: `\uXXXX`, or a surrogate pair of them,
    /// as UTF-8.
    fn unicode_escape(&mut self, text: &mut Vec<u8>) -> bool {
        let Some(mut codepoint) = self.hex4(self.at + 2) else { return false };
        let mut escape_len = 6;
        if codepoint & 0xF800 == 0xD800 {
            if codepoint & 0x400 != 0 {
                return false;
            }
            if self.byte(self.at + 6) != b'\\' || self.byte(self.at + 7) != b'u' {
                return false;
            }
            let Some(low) = self.hex4(self.at + 8) else { return false };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            codepoint = (((codepoint & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            escape_len = 12;
        }
        let Some(c) = char::from_u32(codepoint) else { return false };
        let mut buf = [0u8; 4];
        text.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        self.at += escape_len;
        true
    }

    /// `json_process_value` and the array and object contexts, without
    /// the recursion: the open containers are an explicit stack, so deep
    /// input costs heap, not the thread's stack. Tokens are read in the
    /// library's order, so errors name the same token and position.
    fn value(&mut self, first: Tok) -> Fallible<Value> {
        let mut open: Vec<Container> = Vec::new();
        let mut token = first;
        loop {
            let mut value = match &token.kind {
                Token::Str(s) => Value::String(self.lua.create_string(s)?),
                Token::Number(n) => Value::Number(*n),
                Token::Boolean(b) => Value::Boolean(*b),
                Token::Null => null(),
                Token::ObjBegin => {
                    self.descend()?;
                    let table = self.lua.create_table()?;
                    let next = self.next_token();
                    if matches!(next.kind, Token::ObjEnd) {
                        self.depth -= 1;
                        Value::Table(table)
                    } else {
                        let key = self.object_key(next)?;
                        open.push(Container::Object { table, key });
                        token = self.next_token();
                        continue;
                    }
                }
                Token::ArrBegin => {
                    self.descend()?;
                    let table = self.lua.create_table()?;
                    let next = self.next_token();
                    if matches!(next.kind, Token::ArrEnd) {
                        self.depth -= 1;
                        Value::Table(table)
                    } else {
                        open.push(Container::Array { table, index: 1 });
                        token = next;
                        continue;
                    }
                }
                _ => return Err(expected("value", &token)),
            };
            // Store the value in the innermost container, then read what
            // follows it: the next element, or the container's end (which
            // completes a value for the container around it).
            loop {
                let closed = match open.last_mut() {
                    None => return Ok(value),
                    Some(Container::Array { table, index }) => {
                        table.raw_set(*index, value)?;
                        *index += 1;
                        let after = self.next_token();
                        match after.kind {
                            Token::ArrEnd => true,
                            Token::Comma => false,
                            _ => return Err(expected("comma or array end", &after)),
                        }
                    }
                    Some(Container::Object { table, key }) => {
                        table.raw_set(key.clone(), value)?;
                        let after = self.next_token();
                        match after.kind {
                            Token::ObjEnd => true,
                            Token::Comma => {
                                let next = self.next_token();
                                *key = self.object_key(next)?;
                                false
                            }
                            _ => return Err(expected("comma or object end", &after)),
                        }
                    }
                };
                if !closed {
                    token = self.next_token();
                    break;
                }
                self.depth -= 1;
                let Some(done) = open.pop() else { return Err(Failure::error("JSON nesting lost")) };
                value = Value::Table(done.into_table());
            }
        }
    }

    /// An object's key and the colon after it.
    fn object_key(&mut self, token: Tok) -> Fallible<mlua::String> {
        let Token::Str(key) = &token.kind else {
            return Err(expected("object key string", &token));
        };
        let key = self.lua.create_string(key)?;
        let colon = self.next_token();
        if !matches!(colon.kind, Token::Colon) {
            return Err(expected("colon", &colon));
        }
        Ok(key)
    }

    /// `json_decode_descend`.
    fn descend(&mut self) -> Fallible<()> {
        self.depth += 1;
        if self.depth > self.cfg.decode_max_depth || (self.depth as usize) > MAX_NESTING {
            return Err(Failure::error(format!(
                "Found too many nested data structures ({}) at character {}",
                self.depth, self.at
            )));
        }
        Ok(())
    }
}

/// A JSON array or object being filled.
enum Container {
    Array {
        table: Table,
        index: i64,
    },
    /// `key` is the key whose value comes next.
    Object {
        table: Table,
        key: mlua::String,
    },
}

impl Container {
    fn into_table(self) -> Table {
        match self {
            Container::Array { table, .. } | Container::Object { table, .. } => table,
        }
    }
}

fn starts_with_ignore_case(s: &[u8], word: &[u8]) -> bool {
    s.len() >= word.len() && s[..word.len()].eq_ignore_ascii_case(word)
}

/// glibc's `strtod` on a byte string: the number at its start and how many
/// bytes it took (0: no number). Decimal, hexadecimal (`0x1.8p3`), `inf`,
/// `infinity` and `nan[(...)]`, each with an optional sign.
fn strtod(s: &[u8]) -> (f64, usize) {
    let (negative, mut i) = match s.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let signed = |v: f64| if negative { -v } else { v };
    let rest = &s[i..];
    if starts_with_ignore_case(rest, b"infinity") {
        return (signed(f64::INFINITY), i + 8);
    }
    if starts_with_ignore_case(rest, b"inf") {
        return (signed(f64::INFINITY), i + 3);
    }
    if starts_with_ignore_case(rest, b"nan") {
        let mut end = i + 3;
        if s.get(end) == Some(&b'(') {
            let close = s[end + 1..].iter().position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
            if let Some(k) = close.filter(|k| s.get(end + 1 + k) == Some(&b')')) {
                end += k + 2;
            }
        }
        return (signed(f64::NAN), end);
    }
    if rest.len() >= 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        return match hex_float(&s[i + 2..]) {
            Some((v, used)) => (signed(v), i + 2 + used),
            None => (signed(0.0), i + 1),
        };
    }
    let digits = |from: usize| s[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int_digits = digits(i);
    let int_part = &s[i..i + int_digits];
    i += int_digits;
    let mut frac_part: &[u8] = &[];
    if s.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if int_digits > 0 || n > 0 {
            frac_part = &s[i + 1..i + 1 + n];
            i += 1 + n;
        }
    }
    if int_digits == 0 && frac_part.is_empty() {
        return (0.0, 0);
    }
    let mut exponent: &[u8] = &[];
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(s.get(i + 1), Some(b'+' | b'-')));
        let n = digits(i + 1 + sign);
        if n > 0 {
            exponent = &s[i + 1..i + 1 + sign + n];
            i += 1 + sign + n;
        }
    }
    let mut text = String::with_capacity(int_part.len() + frac_part.len() + exponent.len() + 4);
    text.push_str(if int_part.is_empty() { "0" } else { std::str::from_utf8(int_part).unwrap_or("0") });
    text.push('.');
    text.push_str(if frac_part.is_empty() { "0" } else { std::str::from_utf8(frac_part).unwrap_or("0") });
    if !exponent.is_empty() {
        text.push('e');
        text.push_str(std::str::from_utf8(exponent).unwrap_or("0"));
    }
    (signed(text.parse::<f64>().unwrap_or(0.0)), i)
}

/// The part of a hexadecimal float after `0x`: its value and length, or
/// None without a hex digit.
fn hex_float(s: &[u8]) -> Option<(f64, usize)> {
    let hex = |c: u8| char::from(c).to_digit(16);
    let mut value = 0.0f64;
    let mut scale: i64 = 0;
    let mut i = 0;
    let mut any = false;
    while let Some(d) = s.get(i).and_then(|&c| hex(c)) {
        value = value * 16.0 + f64::from(d);
        any = true;
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        let mut j = i + 1;
        let mut fraction = false;
        while let Some(d) = s.get(j).and_then(|&c| hex(c)) {
            value = value * 16.0 + f64::from(d);
            scale -= 4;
            fraction = true;
            j += 1;
        }
        if any || fraction {
            i = j;
            any = true;
        }
    }
    if !any {
        return None;
    }
    if matches!(s.get(i), Some(b'p' | b'P')) {
        let sign = usize::from(matches!(s.get(i + 1), Some(b'+' | b'-')));
        let digits: Vec<u8> = s[i + 1 + sign..].iter().copied().take_while(u8::is_ascii_digit).collect();
        if !digits.is_empty() {
            let magnitude = digits.iter().fold(0i64, |acc, d| (acc * 10 + i64::from(d - b'0')).min(100_000));
            scale += if s[i + 1] == b'-' { -magnitude } else { magnitude };
            i += 1 + sign + digits.len();
        }
    }
    // Two steps, so a large exponent with a small mantissa does not
    // overflow the power alone.
    let half = (scale / 2).clamp(-4000, 4000) as i32;
    let other = (scale - scale / 2).clamp(-4000, 4000) as i32;
    Some((value * 2f64.powi(half) * 2f64.powi(other), i))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, error, eval, lua};
    use super::strtod;

    #[test]
    fn encode_matches_redis() {
        let lua = lua();
        let cases = [
            ("cjson.encode({1, 2, 3})", "[1,2,3]"),
            ("cjson.encode({a = 1})", r#"{"a":1}"#),
            ("cjson.encode({})", "{}"),
            (r#"cjson.encode("a/b\"c\\\n\1\127")"#, r#""a\/b\"c\\\n\u0001\u007f""#),
            ("cjson.encode(1/3)", "0.33333333333333"),
            ("cjson.encode(1e15)", "1e+15"),
            ("cjson.encode(123456789012345)", "1.2345678901234e+14"),
            ("cjson.encode(-0)", "-0"),
            ("cjson.encode(1e-5)", "1e-05"),
            ("cjson.encode(2^53)", "9.007199254741e+15"),
            ("cjson.encode({[1] = 1, [2] = 2, [4] = 4})", "[1,2,null,4]"),
            ("cjson.encode({[1] = 1, [10] = 2})", "[1,null,null,null,null,null,null,null,null,2]"),
            ("cjson.encode({[1.5] = 1})", r#"{"1.5":1}"#),
            ("cjson.encode({[-1] = 1})", r#"{"-1":1}"#),
            ("cjson.encode({true, false, cjson.null})", "[true,false,null]"),
            ("cjson.encode(nil)", "null"),
            ("cjson.encode({[3] = 1})", "[null,null,1]"),
            ("cjson.encode({n = 1, 1})", r#"{"1":1,"n":1}"#),
        ];
        for (expr, expected) in cases {
            assert_eq!(eval(&lua, expr), expected, "{expr}");
        }
        check(&lua, "cjson.encode('\\128\\255') == '\"\\128\\255\"'");
    }

    #[test]
    fn encode_errors_match_redis() {
        let lua = lua();
        let cases = [
            ("cjson.encode({[1] = 1, [20] = 2})", "Cannot serialise table: excessively sparse array"),
            ("cjson.encode()", "bad argument #1 to 'encode' (expected 1 argument)"),
            ("cjson.encode(1, 2)", "bad argument #1 to 'encode' (expected 1 argument)"),
            ("cjson.encode(function() end)", "Cannot serialise function: type not supported"),
            ("cjson.encode({f = function() end})", "Cannot serialise function: type not supported"),
            ("cjson.encode({[true] = 1})", "Cannot serialise boolean: table key must be a number or string"),
            ("cjson.encode(1/0)", "Cannot serialise number: must not be NaN or Inf"),
            ("cjson.encode(0/0)", "Cannot serialise number: must not be NaN or Inf"),
        ];
        for (expr, expected) in cases {
            assert_eq!(error(&lua, expr), format!("user_script:1: {expected}"), "{expr}");
        }
        let deep = "(function() local t = {} for i = 1, 1100 do t = {t} end local s = cjson.encode(t) return s end)()";
        assert_eq!(error(&lua, deep), "user_script:1: Cannot serialise, excessive nesting (1001)");
        let cyclic = "(function() local t = {} t[1] = t local s = cjson.encode(t) return s end)()";
        assert_eq!(error(&lua, cyclic), "user_script:1: Cannot serialise, excessive nesting (1001)");
    }

    #[test]
    fn settings_are_honoured() {
        let lua = lua();
        assert_eq!(eval(&lua, "cjson.encode_number_precision(3)"), "3");
        assert_eq!(eval(&lua, "cjson.encode(1/3)"), "0.333");
        assert_eq!(eval(&lua, "cjson.encode_number_precision()"), "3");
        assert_eq!(eval(&lua, "cjson.encode_number_precision(14)"), "14");
        assert_eq!(eval(&lua, "select(1, cjson.encode_sparse_array(true))"), "true");
        assert_eq!(eval(&lua, "cjson.encode({[1] = 1, [20] = 2})"), r#"{"1":1,"20":2}"#);
        assert_eq!(eval(&lua, "cjson.encode_sparse_array(false, 0)"), "false");
        assert_eq!(eval(&lua, "select(2, cjson.encode_sparse_array())"), "0");
        assert_eq!(
            eval(&lua, "cjson.encode({[1] = 1, [12] = 2})"),
            "[1,null,null,null,null,null,null,null,null,null,null,2]"
        );
        assert_eq!(eval(&lua, "cjson.encode_invalid_numbers('null')"), "null");
        assert_eq!(eval(&lua, "cjson.encode({1/0, 0/0})"), "[null,null]");
        assert_eq!(eval(&lua, "cjson.encode_invalid_numbers(true)"), "true");
        assert_eq!(eval(&lua, "cjson.encode({1/0, -1/0})"), "[inf,-inf]");
        assert_eq!(eval(&lua, "cjson.encode_max_depth(2)"), "2");
        assert_eq!(
            error(&lua, "cjson.encode({{{1}}})"),
            "user_script:1: Cannot serialise, excessive nesting (3)"
        );
        assert_eq!(eval(&lua, "cjson.decode_max_depth(2)"), "2");
        assert_eq!(
            error(&lua, "cjson.decode('[[[1]]]')"),
            "user_script:1: Found too many nested data structures (3) at character 3"
        );
        assert_eq!(eval(&lua, "cjson.decode_invalid_numbers(false)"), "false");
        assert_eq!(
            error(&lua, "cjson.decode('0x10')"),
            "user_script:1: Expected value but found invalid number at character 1"
        );
        assert_eq!(eval(&lua, "cjson.encode_keep_buffer(false)"), "false");
        assert_eq!(
            error(&lua, "cjson.encode_number_precision(15)"),
            "user_script:1: bad argument #1 to 'encode_number_precision' (expected integer between 1 and 14)"
        );
        assert_eq!(
            error(&lua, "cjson.encode_invalid_numbers('maybe')"),
            "user_script:1: bad argument #1 to 'encode_invalid_numbers' (invalid option 'maybe')"
        );
        assert_eq!(
            error(&lua, "cjson.encode_max_depth(1, 2)"),
            "user_script:1: bad argument #2 to 'encode_max_depth' (found too many arguments)"
        );
        // A new module starts from the defaults; the global one keeps its own.
        assert_eq!(eval(&lua, "cjson.new().encode(1/3)"), "0.33333333333333");
        assert_eq!(eval(&lua, "cjson.new().encode_max_depth()"), "1000");
    }

    #[test]
    fn decode_matches_redis() {
        let lua = lua();
        check(&lua, "cjson.decode('[1,2,3]')[3] == 3");
        check(&lua, "cjson.decode('{\"a\":1}').a == 1");
        check(&lua, "cjson.decode('[null]')[1] == cjson.null");
        check(&lua, "type(cjson.decode('null')) == 'userdata'");
        check(&lua, "cjson.decode(' 1 ') == 1");
        check(&lua, "cjson.decode('01') == 1");
        check(&lua, "cjson.decode('0x10') == 16");
        check(&lua, "cjson.decode('1e2') == 100");
        check(&lua, "cjson.decode('+1') == 1");
        check(&lua, "cjson.decode('-inf') == -1/0");
        check(&lua, "cjson.decode('nan') ~= cjson.decode('nan')");
        check(&lua, "cjson.decode(12) == 12");
        check(&lua, "cjson.decode('\"\\\\ud83d\\\\ude00\"') == '\\240\\159\\152\\128'");
        check(&lua, "cjson.decode('\"\\\\u00e9\"') == '\\195\\169'");
        check(&lua, "cjson.decode('\"a\\\\/b\\\\n\"') == 'a/b\\n'");
        check(&lua, "cjson.decode('[1]\\0garbage')[1] == 1");
        let nested = format!("cjson.decode('{}{}') ~= nil", "[".repeat(1000), "]".repeat(1000));
        check(&lua, &nested);
        check(&lua, "cjson.decode(cjson.encode({a = {1, 'x', {b = false}}})).a[3].b == false");
    }

    #[test]
    fn decode_errors_match_redis() {
        let lua = lua();
        let cases = [
            ("cjson.decode('x')", "Expected value but found invalid token at character 1"),
            ("cjson.decode('')", "Expected value but found T_END at character 1"),
            ("cjson.decode('[1,2')", "Expected comma or array end but found T_END at character 5"),
            ("cjson.decode('[1 2]')", "Expected comma or array end but found T_NUMBER at character 4"),
            ("cjson.decode('{\"a\" 1}')", "Expected colon but found T_NUMBER at character 6"),
            ("cjson.decode('{1:1}')", "Expected object key string but found T_NUMBER at character 2"),
            ("cjson.decode('\"\\\\x\"')", "Expected value but found invalid escape code at character 2"),
            (
                "cjson.decode('\"\\\\u12\"')",
                "Expected value but found invalid unicode escape code at character 2",
            ),
            ("cjson.decode('\"abc')", "Expected value but found unexpected end of string at character 5"),
            ("cjson.decode('[1,]')", "Expected value but found T_ARR_END at character 4"),
            ("cjson.decode('1 2')", "Expected the end but found T_NUMBER at character 3"),
            ("cjson.decode('-')", "Expected value but found invalid number at character 1"),
            ("cjson.decode('tru')", "Expected value but found invalid token at character 1"),
            ("cjson.decode('\"a\\0b\"')", "Expected value but found unexpected end of string at character 3"),
            ("cjson.decode('1\\0xyz')", "JSON parser does not support UTF-16 or UTF-32"),
            ("cjson.decode()", "bad argument #1 to 'decode' (expected 1 argument)"),
            ("cjson.decode({})", "bad argument #1 to 'decode' (string expected, got table)"),
            ("cjson.decode('a', 'b')", "bad argument #1 to 'decode' (expected 1 argument)"),
        ];
        for (expr, expected) in cases {
            assert_eq!(error(&lua, expr), format!("user_script:1: {expected}"), "{expr}");
        }
        let deep = format!("cjson.decode('{}')", "[".repeat(1001));
        assert_eq!(
            error(&lua, &deep),
            "user_script:1: Found too many nested data structures (1001) at character 1001"
        );
    }

    #[test]
    fn strtod_reads_what_glibc_reads() {
        assert_eq!(strtod(b"12abc"), (12.0, 2));
        assert_eq!(strtod(b"-1.5e3,"), (-1500.0, 6));
        assert_eq!(strtod(b"1e"), (1.0, 1));
        assert_eq!(strtod(b".5"), (0.5, 2));
        assert_eq!(strtod(b"5."), (5.0, 2));
        assert_eq!(strtod(b"0x1p4"), (16.0, 5));
        assert_eq!(strtod(b"0x"), (0.0, 1));
        assert_eq!(strtod(b"Infinity"), (f64::INFINITY, 8));
        assert_eq!(strtod(b"-"), (0.0, 0));
        assert_eq!(strtod(b"."), (0.0, 0));
        assert!(strtod(b"nan(x1)").0.is_nan());
        assert_eq!(strtod(b"nan(x1)").1, 7);
    }
}
