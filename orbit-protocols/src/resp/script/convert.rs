//! Replies between Redis and Lua, by the rules Redis documents: a command's
//! reply as the script sees it (RESP2 shapes unless the script called
//! `redis.setresp(3)`), and a script's result as the client gets it.

use crate::keyspace::{Value, format_f64};
use bytes::Bytes;
use mlua::{Lua, Table, Value as Lua_};

/// Lua tables nested deeper than this are cut (a reply is not a cycle).
const MAX_DEPTH: usize = 512;

/// A command's reply as a Lua value. RESP2: nil is `false`, a status a
/// table `{ok=...}`, an error `{err=...}`, maps and sets flat arrays,
/// doubles strings, booleans 1/0. RESP3 keeps nil, booleans, `{map=...}`,
/// `{set=...}`, `{double=...}`, `{verbatim_string=...}`.
pub(crate) fn to_lua(lua: &Lua, value: Value, resp3: bool) -> mlua::Result<Lua_> {
    Ok(match value {
        Value::Nil | Value::NilArray if resp3 => Lua_::Nil,
        Value::Nil | Value::NilArray => Lua_::Boolean(false),
        Value::Int(n) => Lua_::Number(n as f64),
        Value::Bulk(b) => Lua_::String(lua.create_string(&b)?),
        Value::Simple(s) => single(lua, "ok", Lua_::String(lua.create_string(&s)?))?,
        Value::Error(e) => single(lua, "err", Lua_::String(lua.create_string(&e)?))?,
        Value::Array(items) | Value::Push(items) => array(lua, items, resp3)?,
        Value::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(to_lua(lua, item, resp3)?, true)?;
            }
            single(lua, "set", Lua_::Table(set))?
        }
        Value::Set(items) => array(lua, items, resp3)?,
        Value::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(to_lua(lua, k, resp3)?, to_lua(lua, v, resp3)?)?;
            }
            single(lua, "map", Lua_::Table(map))?
        }
        Value::Map(pairs) | Value::Pairs(pairs) if !resp3 => {
            array(lua, pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(), resp3)?
        }
        Value::Pairs(pairs) => {
            array(lua, pairs.into_iter().map(|(k, v)| Value::Array(vec![k, v])).collect(), resp3)?
        }
        Value::Map(_) => Lua_::Nil,
        Value::Double(d) if resp3 => single(lua, "double", Lua_::Number(d))?,
        Value::Double(d) => Lua_::String(lua.create_string(format_f64(d))?),
        Value::HumanDouble(d) if resp3 => single(lua, "double", Lua_::Number(d))?,
        Value::HumanDouble(d) => Lua_::String(lua.create_string(crate::keyspace::value::human(d))?),
        Value::Bool(b) if resp3 => Lua_::Boolean(b),
        Value::Bool(b) => Lua_::Number(f64::from(u8::from(b))),
        Value::Verbatim(text) if resp3 => {
            let inner = lua.create_table()?;
            inner.raw_set("format", "txt")?;
            inner.raw_set("string", lua.create_string(&text)?)?;
            single(lua, "verbatim_string", Lua_::Table(inner))?
        }
        Value::Verbatim(text) => Lua_::String(lua.create_string(&text)?),
    })
}

fn single(lua: &Lua, key: &str, value: Lua_) -> mlua::Result<Lua_> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(key, value)?;
    Ok(Lua_::Table(t))
}

fn array(lua: &Lua, items: Vec<Value>, resp3: bool) -> mlua::Result<Lua_> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.into_iter().enumerate() {
        t.raw_set(i + 1, to_lua(lua, item, resp3)?)?;
    }
    Ok(Lua_::Table(t))
}

/// A script's result as the reply to its client, `resp3` if the script
/// chose RESP3. Numbers are truncated to integers; `true` is 1 (RESP2) or
/// true; `false` is nil (RESP2) or false;
/// a table with `err`, `ok`, `double`, `map`, `set`, `big_number` or
/// `verbatim_string` is that reply; any other table is an array up to its
/// first nil.
pub(crate) fn to_reply(value: &Lua_, resp3: bool) -> Value {
    to_reply_at(value, resp3, 0)
}

fn to_reply_at(value: &Lua_, resp3: bool, depth: usize) -> Value {
    match value {
        Lua_::Nil => Value::Nil,
        Lua_::Boolean(true) if resp3 => Value::Bool(true),
        Lua_::Boolean(true) => Value::Int(1),
        Lua_::Boolean(false) if resp3 => Value::Bool(false),
        Lua_::Boolean(false) => Value::Nil,
        Lua_::Integer(n) => Value::Int(*n),
        Lua_::Number(n) => Value::Int(truncate(*n)),
        Lua_::String(s) => Value::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Lua_::Table(t) if depth < MAX_DEPTH => table_reply(t, resp3, depth),
        Lua_::Table(_) => Value::err("ERR reached lua stack limit"),
        _ => Value::Nil,
    }
}

/// `(long long)` of a double, as Redis converts: toward zero, saturating.
fn truncate(n: f64) -> i64 {
    if n.is_nan() { 0 } else { n as i64 }
}

fn text(value: &Lua_) -> Option<String> {
    match value {
        Lua_::String(s) => Some(s.to_string_lossy()),
        _ => None,
    }
}

fn table_reply(t: &Table, resp3: bool, depth: usize) -> Value {
    let field = |name: &str| t.raw_get::<Lua_>(name).unwrap_or(Lua_::Nil);
    if let Some(err) = text(&field("err")) {
        return Value::Error(err);
    }
    if let Some(ok) = text(&field("ok")) {
        return Value::Simple(ok);
    }
    if let Lua_::Number(_) | Lua_::Integer(_) = field("double") {
        let d = match field("double") {
            Lua_::Number(d) => d,
            Lua_::Integer(n) => n as f64,
            _ => 0.0,
        };
        return Value::Double(d);
    }
    if let Some(big) = text(&field("big_number")) {
        return Value::Bulk(Bytes::from(big));
    }
    if let Lua_::Table(map) = field("map") {
        let mut pairs = Vec::new();
        for (k, v) in map.pairs::<Lua_, Lua_>().flatten() {
            pairs.push((to_reply_at(&k, resp3, depth + 1), to_reply_at(&v, resp3, depth + 1)));
        }
        return Value::Map(pairs);
    }
    if let Lua_::Table(set) = field("set") {
        let members = set.pairs::<Lua_, Lua_>().flatten().map(|(k, _)| to_reply_at(&k, resp3, depth + 1));
        return Value::Set(members.collect());
    }
    if let Lua_::Table(verbatim) = field("verbatim_string") {
        let body = text(&verbatim.raw_get::<Lua_>("string").unwrap_or(Lua_::Nil)).unwrap_or_default();
        return Value::Verbatim(body);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Lua_>(i) {
            Ok(Lua_::Nil) | Err(_) => break,
            Ok(v) => items.push(to_reply_at(&v, resp3, depth + 1)),
        }
    }
    Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(lua: &Lua, code: &str, resp3: bool) -> Value {
        to_reply(&lua.load(code).eval::<Lua_>().unwrap(), resp3)
    }

    #[test]
    fn script_results_become_replies_as_redis_converts_them() {
        let lua = Lua::new();
        assert_eq!(eval(&lua, "return 3.99", false), Value::Int(3));
        assert_eq!(eval(&lua, "return -3.9", false), Value::Int(-3));
        assert_eq!(eval(&lua, "return true", false), Value::Int(1));
        assert_eq!(eval(&lua, "return false", false), Value::Nil);
        assert_eq!(eval(&lua, "return false", true), Value::Bool(false));
        assert_eq!(
            eval(&lua, "return {1, 'x', nil, 4}", false),
            Value::Array(vec![Value::Int(1), Value::bulk("x")])
        );
        assert_eq!(eval(&lua, "return {ok='fine'}", false), Value::Simple("fine".into()));
        assert_eq!(eval(&lua, "return {err='E x'}", false), Value::err("E x"));
        assert_eq!(eval(&lua, "return {double=1.5}", true), Value::Double(1.5));
        assert_eq!(
            eval(&lua, "return {map={a=1}}", true),
            Value::Map(vec![(Value::bulk("a"), Value::Int(1))])
        );
        // A table that holds itself ends in an error, not an endless reply.
        let mut cyclic = eval(&lua, "local t = {} t[1] = t return t", false);
        while let Value::Array(mut items) = cyclic {
            cyclic = items.pop().unwrap();
        }
        assert!(cyclic.is_error());
    }

    #[test]
    fn replies_reach_lua_in_the_shape_of_the_scripts_protocol() {
        let lua = Lua::new();
        let check = |value: Value, resp3: bool, code: &str| {
            lua.globals().set("r", to_lua(&lua, value, resp3).unwrap()).unwrap();
            assert!(lua.load(code).eval::<bool>().unwrap(), "{code}");
        };
        check(Value::Nil, false, "return r == false");
        check(Value::Nil, true, "return r == nil");
        check(Value::ok(), false, "return r.ok == 'OK'");
        check(Value::err("ERR x"), false, "return r.err == 'ERR x'");
        let map = Value::Map(vec![(Value::bulk("a"), Value::bulk("1"))]);
        check(map.clone(), false, "return r[1] == 'a' and r[2] == '1'");
        check(map, true, "return r.map.a == '1'");
        check(Value::Double(2.5), false, "return r == '2.5'");
        check(Value::Double(2.5), true, "return r.double == 2.5");
        check(Value::Bool(true), false, "return r == 1");
        check(Value::Bool(true), true, "return r == true");
    }
}
