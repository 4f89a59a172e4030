//! Scripting over real sockets with the `redis` crate: EVAL and functions
//! against a real `redis-server` (same script, same reply, errors included),
//! the libraries Redis embeds, BUSY and SCRIPT KILL, ACL inside scripts,
//! scripts and libraries surviving a restart, and bad input. Tests on a
//! multi-threaded runtime run scripts in place on the client's thread; those
//! on a current-thread runtime run them on the blocking pool.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{PATIENCE, call, connect_url, resp2, resp3, show, start_with};
use orbit_server::Config;
use redis::aio::MultiplexedConnection;
use std::time::{Duration, Instant};

/// Script, then keys, then arguments (`|` separates keys from arguments).
const CORPUS: &[(&str, &str)] = &[
    ("return 1", ""),
    ("return 3.99", ""),
    ("return -3.9", ""),
    ("return true", ""),
    ("return false", ""),
    ("return nil", ""),
    ("return 'text'", ""),
    ("return {1, 2, {3, 'x'}, nil, 4}", ""),
    ("return {ok='fine'}", ""),
    ("return {err='my err'}", ""),
    ("return redis.error_reply('MYERR x')", ""),
    ("return redis.error_reply('plain')", ""),
    ("return redis.status_reply('FINE')", ""),
    ("return redis.sha1hex('')", ""),
    ("return redis.sha1hex('abc')", ""),
    ("return {KEYS[1], KEYS[2], ARGV[1], #KEYS, #ARGV}", "a b | x"),
    ("return redis.call('set', KEYS[1], ARGV[1])", "k | v"),
    ("return redis.call('get', KEYS[1])", "k |"),
    ("return type(redis.call('get', 'missing'))", ""),
    ("local r = redis.call('set', 'k2', 'v') return type(r) .. ':' .. r.ok", ""),
    ("return redis.call('incr', KEYS[1])", "k |"),
    ("return redis.pcall('incr', KEYS[1])", "k |"),
    ("local r = redis.pcall('incr', KEYS[1]) return r.err", "k |"),
    ("return redis.call('nosuch')", ""),
    ("return redis.pcall('nosuch')", ""),
    ("return redis.call()", ""),
    ("return redis.call('get')", ""),
    ("return redis.call('get', {})", ""),
    ("error('boom')", ""),
    ("error({err='E2 tbl'})", ""),
    ("x = 5", ""),
    ("return y", ""),
    ("redis.call = nil", ""),
    ("return string.rep('ab', 3)", ""),
    ("return math.floor(7.9)", ""),
    ("return table.concat({'a', 'b'}, '-')", ""),
    ("return tonumber('12') + 1", ""),
    ("return type(io)", ""),
    ("return type(os)", ""),
    ("return type(print)", ""),
    ("return type(loadstring)", ""),
    ("return loadstring('return 1 + 1')()", ""),
    ("return cjson.encode({1, 2, 3})", ""),
    ("return cjson.decode('[1,2,3]')[2]", ""),
    ("return cjson.encode({a = {b = 'c'}})", ""),
    ("return bit.band(0xff, 0x0f)", ""),
    ("return bit.tohex(255)", ""),
    ("return cmsgpack.unpack(cmsgpack.pack({1, 2, 'x'}))[3]", ""),
    ("return struct.pack('>I2', 258)", ""),
    ("return struct.unpack('>I2', '\\1\\2')", ""),
    ("redis.call('rpush', KEYS[1], 'a', 'b') return redis.call('lrange', KEYS[1], 0, -1)", "l |"),
    ("redis.call('hset', KEYS[1], 'f', 'v') return redis.call('hgetall', KEYS[1])", "h |"),
    ("redis.setresp(3) local r = redis.call('hgetall', KEYS[1]) return r.map.f", "h |"),
    ("redis.setresp(3) return redis.call('hgetall', KEYS[1])", "h |"),
    ("return redis.setresp(4)", ""),
    (
        "redis.call('zadd', KEYS[1], 1, 'a', 2.5, 'b') return redis.call('zrange', KEYS[1], 0, -1, 'withscores')",
        "z |",
    ),
    ("return redis.call('zscore', KEYS[1], 'b')", "z |"),
    ("return redis.call('exists', KEYS[1], KEYS[2])", "k nope |"),
    ("redis.call('set', KEYS[1], '1') redis.call('incr', KEYS[1]) return redis.call('get', KEYS[1])", "n |"),
    ("return redis.call('type', KEYS[1])", "l |"),
    ("return {double=3.5}", ""),
    ("return redis.call('lpush', KEYS[1], 'x')", "k |"),
    ("return redis.call('multi')", ""),
    ("return redis.call('subscribe', 'ch')", ""),
    ("return redis.call('select', 0)", ""),
    ("return redis.call('ping')", ""),
    (
        "redis.call('xadd', KEYS[1], '1-1', 'f', 'v') return redis.call('xread', 'streams', KEYS[1], '0')",
        "st |",
    ),
    ("return redis.call('blpop', 'nolist', 0)", ""),
    ("return redis.call('bzpopmin', 'nozset', 1)", ""),
    ("return redis.call('blmpop', 0, 1, 'nolist', 'left')", ""),
    ("redis.call('rpush', KEYS[1], 'a', 'b') return redis.call('blmpop', 0, 1, KEYS[1], 'right')", "bl |"),
    ("redis.call('zadd', KEYS[1], 1, 'a') return redis.call('bzmpop', 5, 1, KEYS[1], 'max')", "bz |"),
    ("return redis.call('blmove', 'nolist', 'other', 'left', 'left', 0)", ""),
    ("return redis.call('XREAD', 'BLOCK', 0, 'STREAMS', 'st', '$')", ""),
    ("return redis.call('xread', 'count', 1, 'block', 10, 'streams', 'st', '0')", ""),
    ("return redis.call('xread', 'streams', 'block', '0')", ""),
    ("return redis.call('echo', 12)", ""),
    ("return redis.call('set', 'num', 1.5)", ""),
    ("return redis.call('get', 'num')", ""),
    ("retur 1", ""),
    ("return", ""),
];

fn words(script: &str, spec: &str) -> Vec<String> {
    let (keys, args) = spec.split_once('|').unwrap_or((spec, ""));
    let keys: Vec<&str> = keys.split_whitespace().collect();
    let mut w = vec!["eval".to_string(), script.to_string(), keys.len().to_string()];
    w.extend(keys.iter().map(|s| s.to_string()));
    w.extend(args.split_whitespace().map(str::to_string));
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_reply_as_redis_server_does() {
    for resp3 in [false, true] {
        let Some(mut p) = common::resp::peers(resp3).await else { return };
        let mut differ = Vec::new();
        for (script, spec) in CORPUS {
            let w = words(script, spec);
            let (want, got) = (show(&call(&mut p.redis, &w).await), show(&call(&mut p.orbit, &w).await));
            if want != got {
                differ.push(format!("{script}\n  redis: {want}\n  orbit: {got}"));
            }
        }
        assert!(
            differ.is_empty(),
            "resp3={resp3}: {} of {} differ:\n{}",
            differ.len(),
            CORPUS.len(),
            differ.join("\n")
        );
        p.node.shutdown().await.unwrap();
    }
}

const LIBRARY: &str = "#!lua name=mylib
local function incr_by(keys, args)
  return redis.call('incrby', keys[1], args[1])
end
redis.register_function('incr_by', incr_by)
redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}}
redis.register_function('boom', function(keys, args) return redis.call('incr', 'str') end)
redis.register_function('ro_write', function() return redis.call('set', 'x', '1') end)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_reply_as_redis_server_does_and_move_between_them() {
    let Some(mut p) = common::resp::peers(false).await else { return };
    let steps: &[&[&str]] = &[
        &["function", "load", LIBRARY],
        &["function", "load", LIBRARY],
        &["set", "str", "text"],
        &["fcall", "incr_by", "1", "counter", "5"],
        &["fcall", "incr_by", "1", "counter", "2"],
        &["fcall", "peek", "1", "counter"],
        &["fcall_ro", "peek", "1", "counter"],
        &["fcall_ro", "incr_by", "1", "counter", "1"],
        &["fcall", "boom", "0"],
        &["fcall", "nosuch", "0"],
        &["fcall", "incr_by", "-1"],
        &["fcall", "incr_by", "5", "a"],
        &["function", "load", "redis.register_function('x', function() end)"],
        &["function", "load", "#!lua name=lib2\nredis.call('set','a','b')"],
        &["function", "load", "#!lua name=lib3\nreturn 1"],
        &["function", "load", "#!python name=lib4\nreturn 1"],
        &["function", "load", "#!lua\nreturn 1"],
        &["function", "load", "#!lua name=x engine=y\nreturn 1"],
        &["function", "load", "#!lua name=dup\nredis.register_function('peek', function() return 1 end)"],
        &["function", "load", "#!lua name=bad\nredis.register_function('bad name', function() return 1 end)"],
        &["function", "delete", "nolib"],
        &["function", "load", "replace", LIBRARY],
        &["function", "list", "libraryname", "nomatch*"],
        &["function", "delete", "mylib"],
        &["fcall", "peek", "1", "counter"],
    ];
    for step in steps {
        let (want, got) = (show(&call(&mut p.redis, step).await), show(&call(&mut p.orbit, step).await));
        assert_eq!(got, want, "{step:?}");
    }
    // FUNCTION DUMP of one restores into the other, both ways.
    call(&mut p.redis, &["function", "load", LIBRARY]).await;
    let redis::Value::BulkString(from_redis) = call(&mut p.redis, &["function", "dump"]).await else {
        panic!("dump")
    };
    let restored =
        redis::cmd("function").arg("restore").arg(from_redis).query_async::<redis::Value>(&mut p.orbit).await;
    assert_eq!(show(&restored.unwrap()), "+OK");
    assert_eq!(show(&call(&mut p.orbit, &["fcall", "incr_by", "1", "moved", "3"]).await), "3");
    let redis::Value::BulkString(from_orbit) = call(&mut p.orbit, &["function", "dump"]).await else {
        panic!("dump")
    };
    call(&mut p.redis, &["function", "flush"]).await;
    let restored = redis::cmd("function")
        .arg("restore")
        .arg(from_orbit.clone())
        .query_async::<redis::Value>(&mut p.redis)
        .await;
    assert_eq!(show(&restored.unwrap()), "+OK");
    assert_eq!(show(&call(&mut p.redis, &["fcall", "incr_by", "1", "moved", "3"]).await), "3");
    // APPEND (the default) refuses a library that exists; REPLACE takes it.
    let again = redis::cmd("function")
        .arg("restore")
        .arg(from_orbit.clone())
        .query_async::<redis::Value>(&mut p.orbit)
        .await;
    assert!(again.is_err(), "{again:?}");
    let replace = redis::cmd("function")
        .arg("restore")
        .arg(from_orbit)
        .arg("replace")
        .query_async::<redis::Value>(&mut p.orbit)
        .await;
    assert_eq!(show(&replace.unwrap()), "+OK");
    let mut corrupt = b"\xf5garbage".to_vec();
    corrupt.extend_from_slice(&[0; 10]);
    let bad =
        redis::cmd("function").arg("restore").arg(corrupt).query_async::<redis::Value>(&mut p.orbit).await;
    assert!(bad.is_err(), "{bad:?}");
    p.node.shutdown().await.unwrap();
}

#[tokio::test]
async fn script_cache_and_the_redis_crates_script_api() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut con = resp2(addr).await;
    let sha = show(&call(&mut con, &["script", "load", "return ARGV[1] .. '!'"]).await);
    assert_eq!(sha.len(), 42, "a quoted SHA1: {sha}");
    assert_eq!(show(&call(&mut con, &["evalsha", &sha[1..41], "0", "hi"]).await), "\"hi!\"");
    assert_eq!(show(&call(&mut con, &["script", "exists", &sha[1..41], "0000"]).await), "[1, 0]");
    assert_eq!(
        show(&call(&mut con, &["evalsha", "0000000000000000000000000000000000000000", "0"]).await),
        "-NOSCRIPT No matching script. Please use EVAL."
    );
    // The redis crate's Script: EVALSHA first, EVAL when the cache misses.
    let script = redis::Script::new("return redis.call('incrby', KEYS[1], ARGV[1])");
    let n: i64 = script.key("counter").arg(4).invoke_async(&mut con).await.unwrap();
    let m: i64 = script.key("counter").arg(4).invoke_async(&mut con).await.unwrap();
    assert_eq!((n, m), (4, 8));
    assert_eq!(show(&call(&mut con, &["script", "flush"]).await), "+OK");
    assert_eq!(show(&call(&mut con, &["script", "exists", &sha[1..41]]).await), "[0]");
    let n: i64 = script.key("counter").arg(1).invoke_async(&mut con).await.unwrap();
    assert_eq!(n, 9, "the crate falls back to EVAL after a flush");
    // EVAL_RO refuses writes; a read-only shebang too.
    let writes = "return redis.call('set', KEYS[1], 'x')";
    let sha = show(&call(&mut con, &["script", "load", writes]).await);
    assert_eq!(
        show(&call(&mut con, &["eval_ro", writes, "1", "k"]).await),
        format!(
            "-ERR Write commands are not allowed from read-only scripts. script: {}, on @user_script:1.",
            &sha[1..41]
        )
    );
    let shebang = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])";
    assert_eq!(show(&call(&mut con, &["eval_ro", shebang, "1", "counter"]).await), "\"9\"");
    let writer = "#!lua\nreturn redis.call('get', KEYS[1])";
    assert_eq!(
        show(&call(&mut con, &["eval_ro", writer, "1", "counter"]).await),
        "-ERR Can not execute a script with write flag using *_ro command."
    );
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_script_that_fails_halfway_keeps_what_it_wrote() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut con = resp3(addr).await;
    let script = "redis.call('set', KEYS[1], 'written') redis.call('incr', KEYS[1]) redis.call('set', KEYS[2], 'never')";
    let reply = show(&call(&mut con, &["eval", script, "2", "a", "b"]).await);
    assert!(reply.starts_with("-ERR value is not an integer or out of range script:"), "{reply}");
    assert_eq!(show(&call(&mut con, &["get", "a"]).await), "\"written\"");
    assert_eq!(show(&call(&mut con, &["exists", "b"]).await), "0");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_script_answers_busy_to_others_and_can_be_killed() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut admin = resp2(addr).await;
    assert_eq!(show(&call(&mut admin, &["config", "set", "busy-reply-threshold", "100"]).await), "+OK");
    assert_eq!(
        show(&call(&mut admin, &["script", "kill"]).await),
        "-NOTBUSY No scripts in execution right now."
    );
    // A script that never ends, killed.
    let mut runner = resp2(addr).await;
    let spin =
        tokio::spawn(async move { show(&call(&mut runner, &["eval", "while true do end", "0"]).await) });
    let busy = wait_busy(&mut admin).await;
    assert_eq!(
        busy,
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
    );
    assert_eq!(show(&call(&mut admin, &["script", "kill"]).await), "+OK");
    let killed = tokio::time::timeout(PATIENCE, spin).await.unwrap().unwrap();
    assert!(killed.starts_with("-ERR Script killed by user with SCRIPT KILL..."), "{killed}");
    assert_eq!(show(&call(&mut admin, &["get", "k"]).await), "nil", "the node serves again");
    // A script that wrote cannot be killed: it runs to its end.
    let mut runner = resp2(addr).await;
    let writer = "redis.call('set', KEYS[1], 'w') local t0 = tonumber(redis.call('time')[1]) \
                  while tonumber(redis.call('time')[1]) < t0 + 2 do end return 'done'";
    let spin = tokio::spawn(async move { show(&call(&mut runner, &["eval", writer, "1", "k"]).await) });
    wait_busy(&mut admin).await;
    let unkillable = show(&call(&mut admin, &["script", "kill"]).await);
    assert!(unkillable.starts_with("-UNKILLABLE"), "{unkillable}");
    assert_eq!(tokio::time::timeout(PATIENCE, spin).await.unwrap().unwrap(), "\"done\"");
    assert_eq!(show(&call(&mut admin, &["get", "k"]).await), "\"w\"");
    // A function is killed with FUNCTION KILL.
    call(
        &mut admin,
        &[
            "function",
            "load",
            "#!lua name=spin\nredis.register_function('spin', function() while true do end end)",
        ],
    )
    .await;
    let mut runner = resp2(addr).await;
    let spin = tokio::spawn(async move { show(&call(&mut runner, &["fcall", "spin", "0"]).await) });
    let busy = wait_busy(&mut admin).await;
    assert_eq!(
        busy,
        "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
    );
    let stats = show(&call(&mut admin, &["function", "stats"]).await);
    assert!(stats.contains("\"spin\""), "{stats}");
    assert_eq!(show(&call(&mut admin, &["function", "kill"]).await), "+OK");
    let killed = tokio::time::timeout(PATIENCE, spin).await.unwrap().unwrap();
    assert!(killed.starts_with("-ERR Script killed by user with FUNCTION KILL..."), "{killed}");
    node.shutdown().await.unwrap();
}

/// Sends GET until the node answers BUSY (a script is past the threshold).
/// One runtime worker: a script runs on it in place, so it must hand the
/// worker's other tasks (the other clients' connections) to another thread
/// once it runs long, or no one else is served until it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_long_script_on_the_only_worker_leaves_the_other_clients_served() {
    // Starved, the runtime could not even run a timeout: a thread of its
    // own ends the process instead of letting the test hang.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watched = done.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(120));
        if !watched.load(std::sync::atomic::Ordering::Acquire) {
            eprintln!("a long script starved the only worker: no client was served for 120 s");
            std::process::abort();
        }
    });
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut admin = resp2(addr).await;
    assert_eq!(show(&call(&mut admin, &["config", "set", "busy-reply-threshold", "100"]).await), "+OK");
    let mut runner = resp2(addr).await;
    let spin =
        tokio::spawn(async move { show(&call(&mut runner, &["eval", "while true do end", "0"]).await) });
    wait_busy(&mut admin).await;
    assert_eq!(show(&call(&mut admin, &["script", "kill"]).await), "+OK");
    let killed = tokio::time::timeout(PATIENCE, spin).await.unwrap().unwrap();
    assert!(killed.starts_with("-ERR Script killed by user with SCRIPT KILL..."), "{killed}");
    // Short scripts and their commands still run, on the worker again.
    for i in 0..50 {
        let reply = show(&call(&mut admin, &["eval", "return redis.call('incr', KEYS[1])", "1", "n"]).await);
        assert_eq!(reply, (i + 1).to_string());
    }
    node.shutdown().await.unwrap();
    done.store(true, std::sync::atomic::Ordering::Release);
}

async fn wait_busy(con: &mut MultiplexedConnection) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let reply = show(&call(con, &["get", "probe"]).await);
        if reply.starts_with("-BUSY") {
            return reply;
        }
        assert!(Instant::now() < deadline, "never busy: {reply}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn scripts_run_with_the_permissions_of_their_user() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut admin = resp2(addr).await;
    let rules = ["acl", "setuser", "cache", "on", ">pw", "+eval", "+evalsha", "+get", "+set", "~cache:*"];
    assert_eq!(show(&call(&mut admin, &rules).await), "+OK");
    let mut user = connect_url(&format!("redis://cache:pw@{addr}/")).await;
    assert_eq!(
        show(&call(&mut user, &["eval", "return redis.call('set', KEYS[1], 'v')", "1", "cache:1"]).await),
        "+OK"
    );
    let other = show(&call(&mut user, &["eval", "return redis.call('set', 'other', 'v')", "0"]).await);
    assert!(other.starts_with("-NOPERM"), "{other}");
    let del = show(&call(&mut user, &["eval", "return redis.call('del', 'cache:1')", "0"]).await);
    assert!(del.starts_with("-NOPERM"), "{del}");
    let check = "return {redis.acl_check_cmd('get', 'cache:1') and 1 or 0, redis.acl_check_cmd('del', 'cache:1') and 1 or 0}";
    assert_eq!(show(&call(&mut user, &["eval", check, "0"]).await), "[1, 0]");
    // The declared keys are checked before the script runs.
    let declared = show(&call(&mut user, &["eval", "return 1", "1", "secret"]).await);
    assert!(declared.starts_with("-NOPERM"), "{declared}");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn loaded_scripts_and_libraries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (node, addr) = start_with(common::lsm_config(dir.path())).await;
    let mut con = resp2(addr).await;
    let sha = show(&call(&mut con, &["script", "load", "return 'kept'"]).await);
    assert_eq!(show(&call(&mut con, &["function", "load", LIBRARY]).await), "\"mylib\"");
    node.shutdown().await.unwrap();
    let (node, addr) = start_with(common::lsm_config(dir.path())).await;
    let mut con = resp2(addr).await;
    assert_eq!(show(&call(&mut con, &["evalsha", &sha[1..41], "0"]).await), "\"kept\"");
    assert_eq!(show(&call(&mut con, &["fcall", "incr_by", "1", "c", "7"]).await), "7");
    let list = show(&call(&mut con, &["function", "list"]).await);
    assert!(list.contains("\"mylib\"") && list.contains("\"incr_by\""), "{list}");
    // Deleted and flushed ones stay gone.
    call(&mut con, &["function", "delete", "mylib"]).await;
    call(&mut con, &["script", "flush"]).await;
    node.shutdown().await.unwrap();
    let (node, addr) = start_with(common::lsm_config(dir.path())).await;
    let mut con = resp2(addr).await;
    assert_eq!(show(&call(&mut con, &["script", "exists", &sha[1..41]]).await), "[0]");
    assert_eq!(show(&call(&mut con, &["fcall", "incr_by", "1", "c", "1"]).await), "-ERR Function not found");
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_scripts_get_errors_and_the_node_stays_healthy() {
    let mut config = Config::ephemeral();
    config.resp.script_memory_limit = 16 << 20;
    let (node, addr) = start_with(config).await;
    let mut con = resp2(addr).await;
    let cases: &[(&[&str], &str)] = &[
        (&["eval", "return 1", "-1"], "-ERR Number of keys can't be negative"),
        (&["eval", "return 1", "5", "a"], "-ERR Number of keys can't be greater than number of args"),
        (&["eval", "return 1", "x"], "-ERR value is not an integer or out of range"),
        (&["eval", "return 1", "99999999999999999999"], "-ERR value is not an integer or out of range"),
        (&["eval", "#!lua flags=nope\nreturn 1", "0"], "-ERR Unexpected flag in script shebang: nope"),
        (&["eval", "#!perl\nreturn 1", "0"], "-ERR Could not find engine 'perl'"),
        (&["script", "flush", "later"], "-ERR SCRIPT FLUSH only support SYNC|ASYNC option"),
        (&["function", "restore", "garbage"], "-ERR payload version or checksum are wrong"),
    ];
    for (words, want) in cases {
        assert_eq!(show(&call(&mut con, words).await), *want, "{words:?}");
    }
    let syntax = show(&call(&mut con, &["eval", "retur 1", "0"]).await);
    assert!(syntax.starts_with("-ERR Error compiling script (new function): user_script:1:"), "{syntax}");
    // A script that allocates without bound ends with an error.
    let hog = "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 4096) .. i end return #t";
    let reply = show(&call(&mut con, &["eval", hog, "0"]).await);
    assert!(reply.contains("not enough memory"), "{reply}");
    // Deep recursion is a Lua error, not a crash.
    let deep = "local function f(n) return f(n + 1) + 1 end return f(1)";
    let reply = show(&call(&mut con, &["eval", deep, "0"]).await);
    assert!(reply.starts_with("-ERR"), "{reply}");
    assert_eq!(show(&call(&mut con, &["eval", "return redis.call('ping')", "0"]).await), "+PONG");
    assert_eq!(show(&call(&mut con, &["ping"]).await), "+PONG");
    node.shutdown().await.unwrap();
}

/// A script queued in MULTI runs inside EXEC beside other commands, and a
/// script's own multi-key write is one session (driven from under the
/// script's blocking region): neither waits on itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_inside_exec_and_multi_key_writes_inside_scripts_complete() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut con = connect_url(&format!("redis://{addr}/")).await;
    let (set, got, after): (String, String, i64) = tokio::time::timeout(
        PATIENCE,
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg("{s}k")
            .arg("1")
            .cmd("EVAL")
            .arg("return redis.call('GET', KEYS[1])")
            .arg(1)
            .arg("{s}k")
            .cmd("INCR")
            .arg("{s}k")
            .query_async(&mut con),
    )
    .await
    .expect("EXEC with a script answers")
    .unwrap();
    assert_eq!((set.as_str(), got.as_str(), after), ("OK", "1", 2));
    let script = "redis.call('MSET', KEYS[1], ARGV[1], KEYS[2], ARGV[1]) \
                  return redis.call('MGET', KEYS[1], KEYS[2])";
    let both: Vec<String> = tokio::time::timeout(
        PATIENCE,
        redis::cmd("EVAL").arg(script).arg(2).arg("{s}a").arg("{s}b").arg("v").query_async(&mut con),
    )
    .await
    .expect("a script's MSET answers")
    .unwrap();
    assert_eq!(both, ["v", "v"]);
    node.shutdown().await.unwrap();
}
