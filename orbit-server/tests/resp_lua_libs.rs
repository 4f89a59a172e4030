//! The Lua libraries of the scripting engine (`cjson`, `cmsgpack`, `bit`,
//! `struct`) over real sockets: EVAL scripts that use them in RESP2 and
//! RESP3, and a differential part against `redis-server`, where the same
//! scripts must give the same replies, errors included. Binary results are
//! compared as hex, made by the script itself. Failing calls are not
//! tail calls (`local v = f() return v`): a tail-called library function
//! loses its caller's line (see `script/libs/mod.rs`).

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{connect_url, resp2, resp3, show, start_redis, start_with};
use orbit_server::Config;
use redis::Value;
use redis::aio::{ConnectionLike, MultiplexedConnection};

/// `EVAL script 0 args...` with binary arguments.
async fn eval(con: &mut MultiplexedConnection, script: &str, args: &[&[u8]]) -> Value {
    let mut cmd = redis::Cmd::new();
    cmd.arg("EVAL").arg(script).arg(0);
    for arg in args {
        cmd.arg(*arg);
    }
    con.req_packed_command(&cmd).await.unwrap_or_else(|e| panic!("{script}: no reply: {e}"))
}

/// A script returning the first value of `expr` (not as a tail call), with
/// `hex(s)` at hand for binary strings.
fn script(expr: &str) -> String {
    format!(
        "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end \
         local result = {expr} return result"
    )
}

/// An error reply's text up to the script's name, which the scripting
/// engine adds (these tests are about what the libraries raise).
fn without_script_suffix(shown: String) -> String {
    match shown.find(" script: ") {
        Some(at) if shown.starts_with('-') => shown[..at].to_owned(),
        _ => shown,
    }
}

#[tokio::test]
async fn libraries_answer_in_resp2_and_resp3() {
    for protocol3 in [false, true] {
        let (node, addr) = start_with(Config::ephemeral()).await;
        let mut c = if protocol3 { resp3(addr).await } else { resp2(addr).await };
        let cases: &[(&str, &[&[u8]], &str)] = &[
            ("cjson.encode({1, 2, 3})", &[], "\"[1,2,3]\""),
            ("cjson.encode({a = {b = 'x/y'}})", &[], r#""{\"a\":{\"b\":\"x\\/y\"}}""#),
            ("cjson.decode(ARGV[1]).list[2]", &[&br#"{"list":[10,20]}"#[..]], "20"),
            ("cjson.decode('[null]')[1] == cjson.null", &[], "1"),
            ("hex(cmsgpack.pack({1, 2}))", &[], "\"920102\""),
            ("hex(cmsgpack.pack({a = 1}, 'x', 1.5))", &[], "\"81a16101a178ca3fc00000\""),
            ("cmsgpack.unpack(ARGV[1])", &[&b"\x93\x01\xa1x\xc3"[..]], "[1, \"x\", 1]"),
            ("{cmsgpack.unpack_one(ARGV[1], 1)}", &[&b"\x01\x02\x03"[..]], "[2, 2]"),
            ("bit.tohex(-1)", &[], "\"ffffffff\""),
            ("bit.band(0xffffffff, 7)", &[], "7"),
            ("hex(struct.pack('>I2', 258))", &[], "\"0102\""),
            ("{struct.unpack('>I2 c0', ARGV[1])}", &[&b"\x00\x02ab"[..]], "[\"ab\", 5]"),
            ("struct.size('!4 b i')", &[], "8"),
        ];
        for (expr, args, expected) in cases {
            let got = show(&eval(&mut c, &script(expr), args).await);
            assert_eq!(got, *expected, "RESP{}: {expr}", if protocol3 { 3 } else { 2 });
        }
        let error = show(&eval(&mut c, "local v = cjson.decode('x') return v", &[]).await);
        assert!(
            error.starts_with("-ERR user_script:1: Expected value but found invalid token at character 1"),
            "{error}"
        );
        let caught = show(&eval(&mut c, "local ok, e = pcall(cmsgpack.unpack, '\\205') return e", &[]).await);
        assert_eq!(caught, "\"Missing bytes in input.\"");
        node.shutdown().await.unwrap();
    }
}

/// Expressions whose results (or errors) must be those of `redis-server`.
const CORPUS: &[&str] = &[
    // cjson
    "cjson.encode({1, 2, 3})",
    "cjson.encode({a = 1, b = 2, c = 3, d = 4})",
    "cjson.encode(cjson.decode('{\"b\":1,\"a\":2,\"c\":{\"x\":[1,2]}}'))",
    "hex(cjson.encode('a/b\"c\\\\\\n\\1\\127\\128'))",
    "cjson.encode({1/3, 1e15, -0, 1e-5, 2^53, 123456789012345, 0.1})",
    "cjson.encode({[1] = 1, [2] = 2, [4] = 4})",
    "cjson.encode({[1] = 1, [10] = 2})",
    "cjson.encode({[1] = 1, [20] = 2})",
    "cjson.encode({[1.5] = 1, [-1] = 2})",
    "cjson.encode({true, false, cjson.null})",
    "cjson.encode(function() end)",
    "cjson.encode({[true] = 1})",
    "cjson.encode(1/0)",
    "cjson.encode()",
    "cjson.decode('[1,2,3]')",
    "cjson.decode('{\"a\":[1,{\"b\":2}]}').a[2].b",
    "cjson.decode('x')",
    "cjson.decode('')",
    "cjson.decode('[1,2')",
    "cjson.decode('{\"a\" 1}')",
    "cjson.decode('\"\\\\ud83d\\\\ude00\"')",
    "cjson.decode('\"\\\\u12\"')",
    "cjson.decode('0x10')",
    "cjson.decode('1 2')",
    "cjson.decode({})",
    "cjson.decode(string.rep('[', 1001))",
    "cjson.decode('[null]')[1] == cjson.null",
    "{pcall(cjson.decode, 'x')}",
    "select(2, pcall(function() local v = cjson.decode('[') return v end))",
    "{cjson.encode_sparse_array()}",
    "cjson.new().encode(1/3)",
    // cmsgpack
    "hex(cmsgpack.pack(1, 'a', {1, 2}, {a = 1}, 1.5, 0.1, -33, 2^63, -2^63, true, false, nil))",
    "hex(cmsgpack.pack({a = {b = {c = 1}}, x = {1, 2, 3}, [5] = 'y'}))",
    "hex(cmsgpack.pack(65536, 4294967296, -129, -32769, -2147483649, 1/0, -0))",
    "hex(cmsgpack.pack(string.rep('a', 40), {[1] = 1, [3] = 3}, {}, function() end))",
    "hex(cmsgpack.pack({{{{{{{{{{{{{{{{{{1}}}}}}}}}}}}}}}}}}))",
    "cmsgpack.pack()",
    "{cmsgpack.unpack(cmsgpack.pack(1, 2, 'x'))}",
    "cmsgpack.unpack(cmsgpack.pack({a = {1, 2, {b = 'x'}}})).a[3].b",
    "{cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}",
    "{cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}",
    "{cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)}",
    "{cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 4)}",
    "{cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)}",
    "{cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
    "{cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0, 1)}",
    "{cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3))}",
    "cmsgpack.unpack('\\196\\1a')",
    "cmsgpack.unpack('\\205\\1')",
    "cmsgpack.unpack('\\129\\192\\1')",
    "cmsgpack.unpack({})",
    "#{cmsgpack.unpack(string.rep('\\1', 7000))}",
    "cmsgpack.unpack(string.rep('\\1', 8000))",
    // bit
    "{bit.tohex(-1), bit.tohex(255, -4), bit.tohex(255, 0), bit.tohex(0x12345678, 2)}",
    "{bit.tobit(0xffffffff), bit.tobit(2^32 + 5), bit.tobit(1.5), bit.tobit(2.5), bit.tobit(1e300), bit.tobit('0x10')}",
    "{bit.bnot(0), bit.bor(1, 2, 4, 8), bit.bxor(1, 3), bit.band(1)}",
    "{bit.lshift(1, 31), bit.lshift(1, 33), bit.rshift(-1, 28), bit.arshift(-256, 4)}",
    "{bit.rol(0x12345678, 8), bit.ror(0x12345678, 8), bit.bswap(0x12345678)}",
    "bit.tobit('abc')",
    "bit.band(1, 'x', 'y')",
    "bit.tohex(1, nil)",
    // struct
    "hex(struct.pack('>I2 <I2 i b B h l T', 258, 258, 1, -1, 256, -2, 1, 1))",
    "hex(struct.pack('>i3 c3 c0 s x f >d', -2, 'abcdef', 'xy', 'z', 1.5, 1.5))",
    "hex(struct.pack('!4 b i !b d !2 b d', 1, 2, 3, 4, 5, 6))",
    "hex(struct.pack('>I8 >I8 >i8 >I8', 2^64, 0/0, 2^63, 1.9))",
    "{struct.unpack('>I2 >i2 <i3 b', '\\1\\2\\255\\254\\254\\255\\255\\255')}",
    "{struct.unpack('B c0 s c2 x c1', '\\2abxy\\0cdzw')}",
    "{struct.unpack('>I2', '\\1\\2\\3\\4', 3)}",
    "{struct.size('i'), struct.size('!4 b i'), struct.size('c5 d'), struct.size('y')}",
    "struct.pack('I33', 1)",
    "struct.pack('c3', 'ab')",
    "struct.pack('z', 'abc')",
    "struct.pack('i')",
    "struct.pack('i99999999999', 1)",
    "struct.unpack('>I2', '\\1\\2\\3', 3)",
    "struct.unpack('>I2', '\\1\\2', 0)",
    "struct.unpack('c0', 'abc')",
    "struct.unpack('s', 'abcd')",
    "struct.size('s')",
];

#[tokio::test]
async fn libraries_match_redis_server() {
    if !common::require_program("redis-server") {
        return;
    }
    for protocol3 in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (_redis, redis_addr) = start_redis(dir.path()).await;
        let (node, orbit_addr) = start_with(Config::ephemeral()).await;
        let query = if protocol3 { "?protocol=resp3" } else { "" };
        let mut redis = connect_url(&format!("redis://{redis_addr}/{query}")).await;
        let mut orbit = connect_url(&format!("redis://{orbit_addr}/{query}")).await;
        let mut differences = Vec::new();
        for expr in CORPUS {
            let body = script(expr);
            let want = without_script_suffix(show(&eval(&mut redis, &body, &[]).await));
            let got = without_script_suffix(show(&eval(&mut orbit, &body, &[]).await));
            if got != want {
                differences.push(format!("{expr}\n  redis-server: {want}\n  orbit:        {got}"));
            }
        }
        let resp = if protocol3 { 3 } else { 2 };
        assert!(
            differences.is_empty(),
            "RESP{resp}: {} of {} replies differ:\n{}",
            differences.len(),
            CORPUS.len(),
            differences.join("\n")
        );
        node.shutdown().await.unwrap();
    }
}
