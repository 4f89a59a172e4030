//! CLIENT over real sockets: INFO and LIST lines with Redis 7.2's fields,
//! the TYPE filter, PAUSE and UNPAUSE, UNBLOCK, and REPLY (exact bytes on a
//! raw connection). Waits are on readiness signals (CLIENT LIST flags, INFO
//! `blocked_clients`); assertions are about order, not durations.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{PATIENCE, Raw, call, resp2, run, show, start_with, wait_for_blocked};
use orbit_server::{Config, Node};
use redis::Value;
use redis::aio::MultiplexedConnection;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Redis 7.2's CLIENT LIST fields, in its order.
const FIELDS: &str = concat!(
    "id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem multi-mem ",
    "rbs rbp obl oll omem tot-mem events cmd user redir resp lib-name lib-ver",
);

async fn start() -> (Node, SocketAddr) {
    start_with(Config::ephemeral()).await
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("expected text, got {}", show(other)),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("expected an integer, got {}", show(other)),
    }
}

/// The `name=value` fields of a CLIENT LIST line, in order.
fn fields(line: &str) -> Vec<(String, String)> {
    let pair = |kv: &str| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()));
    line.split(' ').map(|kv| pair(kv).unwrap_or_else(|| panic!("not name=value: {kv:?} in {line}"))).collect()
}

/// One field of a CLIENT LIST line.
fn field(line: &str, name: &str) -> String {
    let found = fields(line).into_iter().find(|(k, _)| k == name);
    found.unwrap_or_else(|| panic!("no {name} in {line}")).1
}

fn number(line: &str, name: &str) -> u64 {
    field(line, name).parse().unwrap_or_else(|_| panic!("{name} is not a count in {line}"))
}

/// Client `id`'s line in CLIENT LIST.
async fn line_of(con: &mut MultiplexedConnection, id: i64) -> String {
    let id = id.to_string();
    let list = text(&call(con, &["CLIENT", "LIST", "ID", &id]).await);
    assert_eq!(list.lines().count(), 1, "CLIENT LIST ID {id}: {list}");
    list.trim_end().to_string()
}

/// The id of the client named `name`.
async fn id_named(con: &mut MultiplexedConnection, name: &str) -> i64 {
    let list = text(&call(con, &["CLIENT", "LIST"]).await);
    let line = list.lines().find(|l| field(l, "name") == name);
    let line = line.unwrap_or_else(|| panic!("no client named {name}: {list}"));
    field(line, "id").parse().unwrap()
}

/// Waits until CLIENT LIST shows client `id` with `flag` among its flags.
async fn wait_for_flag(con: &mut MultiplexedConnection, id: i64, flag: char) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let line = line_of(con, id).await;
        if field(&line, "flags").contains(flag) {
            return line;
        }
        assert!(Instant::now() < deadline, "client {id} never showed flag {flag}: {line}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn client_info_has_every_redis_7_2_field_in_order() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SELECT 3").await, "+OK");
    assert_eq!(run(&mut c, "CLIENT SETNAME alpha").await, "+OK");
    let id = int(&call(&mut c, &["CLIENT", "ID"]).await);
    let info = text(&call(&mut c, &["CLIENT", "INFO"]).await);
    assert!(info.ends_with('\n') && info.lines().count() == 1, "{info:?}");
    let line = info.trim_end();
    let names: Vec<String> = fields(line).into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, FIELDS.split(' ').collect::<Vec<_>>(), "{line}");
    for (name, expected) in [
        ("id", id.to_string()),
        ("laddr", addr.to_string()),
        ("name", "alpha".into()),
        ("flags", "N".into()),
        ("db", "3".into()),
        ("sub", "0".into()),
        ("psub", "0".into()),
        ("ssub", "0".into()),
        ("multi", "-1".into()),
        // `*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n`, as Redis reports it.
        ("qbuf", "26".into()),
        ("argv-mem", "10".into()),
        ("multi-mem", "0".into()),
        ("obl", "0".into()),
        ("oll", "0".into()),
        ("omem", "0".into()),
        ("events", "r".into()),
        ("cmd", "client|info".into()),
        ("user", "default".into()),
        ("redir", "-1".into()),
        ("resp", "2".into()),
    ] {
        assert_eq!(field(line, name), expected, "{name} in {line}");
    }
    assert!(field(line, "addr").starts_with("127.0.0.1:"), "{line}");
    #[cfg(unix)]
    assert!(field(line, "fd").parse::<i32>().unwrap() >= 0, "{line}");
    let (rbs, rbp) = (number(line, "rbs"), number(line, "rbp"));
    assert!(rbp > 0 && rbp <= rbs, "the earlier replies went through the reply buffer: {line}");
    let tot_mem = number(line, "qbuf") + number(line, "qbuf-free") + number(line, "argv-mem") + rbs;
    assert_eq!(number(line, "tot-mem"), tot_mem, "{line}");
    number(line, "age");
    number(line, "idle");

    assert_eq!(run(&mut c, "CLIENT NO-EVICT on").await, "+OK");
    assert_eq!(run(&mut c, "CLIENT NO-TOUCH on").await, "+OK");
    assert_eq!(field(&text(&call(&mut c, &["CLIENT", "INFO"]).await), "flags"), "eT");
    assert_eq!(run(&mut c, "CLIENT NO-EVICT maybe").await, "-ERR syntax error");
    assert_eq!(run(&mut c, "RESET").await, "+RESET");
    assert_eq!(field(&text(&call(&mut c, &["CLIENT", "INFO"]).await), "flags"), "N");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_list_counts_a_transaction_s_queue() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let mut admin = resp2(addr).await;
    let id = int(&call(&mut c, &["CLIENT", "ID"]).await);
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    let line = line_of(&mut admin, id).await;
    assert_eq!(field(&line, "multi"), "0", "{line}");
    assert_eq!(field(&line, "flags"), "x", "{line}");
    assert_eq!(run(&mut c, "SET k v").await, "+QUEUED");
    assert_eq!(run(&mut c, "GET k").await, "+QUEUED");
    let line = line_of(&mut admin, id).await;
    assert_eq!(field(&line, "multi"), "2", "{line}");
    assert_eq!(field(&line, "multi-mem"), "9", "set k v, get k: {line}");
    assert_eq!(run(&mut c, "EXEC").await, r#"[+OK, "v"]"#);
    let line = line_of(&mut admin, id).await;
    assert_eq!(field(&line, "multi"), "-1", "{line}");
    assert_eq!(field(&line, "multi-mem"), "0", "{line}");
    assert_eq!(field(&line, "flags"), "N", "{line}");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_list_type_keeps_the_clients_of_that_type() {
    let (node, addr) = start().await;
    let mut admin = resp2(addr).await;
    let mut subscriber = Raw::connect(addr).await;
    subscriber.send(b"CLIENT SETNAME listener\r\nSUBSCRIBE ch\r\n").await;
    subscriber.expect(b"+OK\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n").await;
    let mut sharded = Raw::connect(addr).await;
    sharded.send(b"CLIENT SETNAME shard\r\nSSUBSCRIBE s\r\n").await;
    sharded.expect(b"+OK\r\n*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n").await;

    let pubsub = text(&call(&mut admin, &["CLIENT", "LIST", "TYPE", "pubsub"]).await);
    let lines: Vec<&str> = pubsub.lines().collect();
    assert_eq!(lines.len(), 2, "{pubsub}");
    let listener = lines.iter().find(|l| field(l, "name") == "listener").expect("the subscriber");
    assert_eq!(format!("{} {}", field(listener, "sub"), field(listener, "ssub")), "1 0", "{listener}");
    let shard = lines.iter().find(|l| field(l, "name") == "shard").expect("the shard subscriber");
    assert_eq!(format!("{} {}", field(shard, "sub"), field(shard, "ssub")), "0 1", "{shard}");
    assert!(lines.iter().all(|l| field(l, "flags") == "P"), "{pubsub}");

    let normal = text(&call(&mut admin, &["CLIENT", "LIST", "TYPE", "normal"]).await);
    assert_eq!(normal.lines().count(), 1, "only the admin: {normal}");
    assert_eq!(field(normal.trim_end(), "flags"), "N", "{normal}");
    assert_eq!(run(&mut admin, "CLIENT LIST TYPE master").await, r#""""#);
    assert_eq!(run(&mut admin, "CLIENT LIST TYPE replica").await, r#""""#);
    assert_eq!(run(&mut admin, "CLIENT LIST TYPE bogus").await, "-ERR Unknown client type 'bogus'");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_kill_laddr_spares_the_caller_unless_skipme_no() {
    let (node, addr) = start().await;
    let mut admin = resp2(addr).await;
    let mut others = Vec::new();
    for _ in 0..2 {
        let mut raw = Raw::connect(addr).await;
        raw.send(b"PING\r\n").await;
        raw.expect(b"+PONG\r\n").await;
        others.push(raw);
    }
    assert_eq!(run(&mut admin, &format!("CLIENT KILL LADDR {addr} SKIPME maybe")).await, "-ERR syntax error");
    assert_eq!(run(&mut admin, &format!("CLIENT KILL LADDR {addr}")).await, "2");
    assert_eq!(run(&mut admin, "PING").await, "+PONG", "the caller is spared");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let list = text(&call(&mut admin, &["CLIENT", "LIST"]).await);
        if list.lines().count() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the killed clients are still listed: {list}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_pause_write_holds_writes_until_unpause_and_lets_reads_run() {
    let (node, addr) = start().await;
    let mut admin = resp2(addr).await;
    let mut writer = resp2(addr).await;
    let mut reader = resp2(addr).await;
    let writer_id = int(&call(&mut writer, &["CLIENT", "ID"]).await);
    assert_eq!(run(&mut admin, "CLIENT PAUSE 60000 WRITE").await, "+OK");
    assert_eq!(run(&mut reader, "GET k").await, "nil", "a read runs at once");

    let set = tokio::spawn(async move { show(&call(&mut writer, &["SET", "k", "v"]).await) });
    let line = wait_for_flag(&mut admin, writer_id, 'b').await;
    assert_eq!(field(&line, "cmd"), "set", "{line}");
    assert_eq!(run(&mut reader, "GET k").await, "nil", "reads still answer; the SET has not run");
    let unblock = format!("CLIENT UNBLOCK {writer_id}");
    assert_eq!(run(&mut admin, &unblock).await, "0", "a paused client is not blocked on keys");
    assert!(!set.is_finished(), "the SET is held while paused");

    assert_eq!(run(&mut admin, "CLIENT UNPAUSE").await, "+OK");
    assert_eq!(set.await.unwrap(), "+OK");
    assert_eq!(run(&mut reader, "GET k").await, r#""v""#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn held_commands_run_in_order_once_the_pause_is_lifted() {
    let (node, addr) = start().await;
    let mut admin = resp2(addr).await;
    let mut writer = Raw::connect(addr).await;
    writer.send(b"CLIENT SETNAME writer\r\n").await;
    writer.expect(b"+OK\r\n").await;
    let id = id_named(&mut admin, "writer").await;
    assert_eq!(run(&mut admin, "CLIENT PAUSE 60000 WRITE").await, "+OK");
    writer.send(b"SET k 1\r\nINCR k\r\nGET k\r\n").await;
    wait_for_flag(&mut admin, id, 'b').await;
    let clients = text(&call(&mut admin, &["INFO", "clients"]).await);
    assert!(clients.contains("blocked_clients:0\r\n"), "a paused client is not counted: {clients}");
    assert_eq!(run(&mut admin, "GET k").await, "nil", "the SET has not run");
    assert_eq!(run(&mut admin, "CLIENT UNPAUSE").await, "+OK");
    writer.expect(b"+OK\r\n:2\r\n$1\r\n2\r\n").await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_write_pause_holds_the_pauser_publish_and_an_exec_with_a_write() {
    let (node, addr) = start().await;
    let mut pauser = resp2(addr).await;
    let mut admin = resp2(addr).await;
    let mut publisher = resp2(addr).await;
    let mut writes = resp2(addr).await;
    let mut reads = resp2(addr).await;
    let mut ids = Vec::new();
    for con in [&mut pauser, &mut publisher, &mut writes] {
        ids.push(int(&call(con, &["CLIENT", "ID"]).await));
    }
    assert_eq!(run(&mut writes, "MULTI").await, "+OK");
    assert_eq!(run(&mut writes, "SET k v").await, "+QUEUED");
    assert_eq!(run(&mut reads, "MULTI").await, "+OK");
    assert_eq!(run(&mut reads, "GET k").await, "+QUEUED");
    assert_eq!(run(&mut pauser, "CLIENT PAUSE 60000 WRITE").await, "+OK");

    let own = tokio::spawn(async move { run(&mut pauser, "SET own v").await });
    let publish = tokio::spawn(async move { run(&mut publisher, "PUBLISH ch m").await });
    let exec = tokio::spawn(async move { run(&mut writes, "EXEC").await });
    for id in ids {
        wait_for_flag(&mut admin, id, 'b').await;
    }
    assert_eq!(run(&mut reads, "EXEC").await, "[nil]", "a transaction of reads runs");
    assert_eq!(run(&mut admin, "CLIENT UNPAUSE").await, "+OK");
    assert_eq!(own.await.unwrap(), "+OK");
    assert_eq!(publish.await.unwrap(), "0");
    assert_eq!(exec.await.unwrap(), "[+OK]");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_pause_all_holds_reads_too_but_not_client_commands() {
    let (node, addr) = start().await;
    let mut admin = resp2(addr).await;
    let mut reader = resp2(addr).await;
    let reader_id = int(&call(&mut reader, &["CLIENT", "ID"]).await);
    assert_eq!(run(&mut admin, "CLIENT PAUSE 60000").await, "+OK");

    let get = tokio::spawn(async move { show(&call(&mut reader, &["GET", "k"]).await) });
    // CLIENT LIST answers while everything else waits.
    wait_for_flag(&mut admin, reader_id, 'b').await;
    assert!(!get.is_finished(), "the GET is held while paused");
    assert_eq!(run(&mut admin, "CLIENT UNPAUSE").await, "+OK");
    assert_eq!(get.await.unwrap(), "nil");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_pause_ends_by_itself_at_its_deadline() {
    let (node, addr) = start().await;
    let mut admin = resp2(addr).await;
    let mut writer = resp2(addr).await;
    assert_eq!(run(&mut admin, "CLIENT PAUSE 300 WRITE").await, "+OK");
    assert_eq!(run(&mut writer, "SET k v").await, "+OK", "answered once the pause is over");
    assert_eq!(run(&mut admin, "GET k").await, r#""v""#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_pause_refuses_bad_arguments_as_redis() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    for (line, reply) in [
        ("CLIENT PAUSE 100 FOO", "-ERR CLIENT PAUSE mode must be WRITE or ALL"),
        ("CLIENT PAUSE x", "-ERR timeout is not an integer or out of range"),
        ("CLIENT PAUSE x FOO", "-ERR CLIENT PAUSE mode must be WRITE or ALL"),
        ("CLIENT PAUSE -1", "-ERR timeout is negative"),
        ("CLIENT PAUSE", "-ERR wrong number of arguments for 'client|pause' command"),
        ("CLIENT UNPAUSE x", "-ERR wrong number of arguments for 'client|unpause' command"),
    ] {
        assert_eq!(run(&mut c, line).await, reply, "{line}");
    }
    assert_eq!(run(&mut c, "SET k v").await, "+OK", "no pause was started");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_unblock_ends_a_blocking_pop_with_its_timeout_reply_or_an_error() {
    let (node, addr) = start().await;
    let mut admin = resp2(addr).await;
    let mut blocked = resp2(addr).await;
    let id = int(&call(&mut blocked, &["CLIENT", "ID"]).await);

    let mut con = blocked.clone();
    let pop = tokio::spawn(async move { show(&call(&mut con, &["BLPOP", "list", "0"]).await) });
    wait_for_blocked(&mut admin, 1).await;
    let line = wait_for_flag(&mut admin, id, 'b').await;
    assert_eq!(field(&line, "cmd"), "blpop", "{line}");
    assert_eq!(run(&mut admin, &format!("CLIENT UNBLOCK {id}")).await, "1");
    assert_eq!(pop.await.unwrap(), "nil", "BLPOP's timeout reply");

    let mut con = blocked.clone();
    let blmove = ["BLMOVE", "a", "b", "LEFT", "LEFT", "0"];
    let pop = tokio::spawn(async move { show(&call(&mut con, &blmove).await) });
    wait_for_blocked(&mut admin, 1).await;
    assert_eq!(run(&mut admin, &format!("CLIENT UNBLOCK {id} ERROR")).await, "1");
    assert_eq!(pop.await.unwrap(), "-UNBLOCKED client unblocked via CLIENT UNBLOCK");

    wait_for_blocked(&mut admin, 0).await;
    assert_eq!(run(&mut admin, &format!("CLIENT UNBLOCK {id}")).await, "0", "not blocked any more");
    assert_eq!(run(&mut admin, "CLIENT UNBLOCK 999999").await, "0", "no such client");
    assert_eq!(
        run(&mut admin, &format!("CLIENT UNBLOCK {id} FOO")).await,
        "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
    );
    assert_eq!(run(&mut admin, "CLIENT UNBLOCK x").await, "-ERR value is not an integer or out of range");
    // Nobody waits on the lists any more: a push stays there.
    assert_eq!(run(&mut admin, "LPUSH list e").await, "1");
    assert_eq!(run(&mut blocked, "LLEN list").await, "1");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_reply_off_on_and_skip_drop_exactly_the_replies_they_should() {
    let (node, addr) = start().await;
    let mut raw = Raw::connect(addr).await;
    // OFF and SKIP have no reply; ON answers +OK; errors are dropped too.
    raw.send(b"CLIENT REPLY OFF\r\nSET a 1\r\nGET a\r\nNOSUCH\r\nCLIENT REPLY ON\r\nGET a\r\n").await;
    raw.expect(b"+OK\r\n$1\r\n1\r\n").await;
    raw.send(b"CLIENT REPLY SKIP\r\nSET b 2\r\nGET b\r\n").await;
    raw.expect(b"$1\r\n2\r\n").await;
    // ON right after SKIP answers and cancels the skip.
    raw.send(b"CLIENT REPLY SKIP\r\nCLIENT REPLY ON\r\nPING\r\n").await;
    raw.expect(b"+OK\r\n+PONG\r\n").await;
    // RESET turns replies back on.
    raw.send(b"CLIENT REPLY OFF\r\nPING\r\nRESET\r\nPING\r\n").await;
    raw.expect(b"+RESET\r\n+PONG\r\n").await;
    raw.send(b"CLIENT REPLY MAYBE\r\nPING\r\n").await;
    raw.expect(b"-ERR syntax error\r\n+PONG\r\n").await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn messages_reach_a_subscriber_whose_replies_are_off() {
    let (node, addr) = start().await;
    let mut admin = resp2(addr).await;
    let mut raw = Raw::connect(addr).await;
    raw.send(b"CLIENT REPLY OFF\r\nSUBSCRIBE ch\r\n").await;
    let deadline = Instant::now() + PATIENCE;
    while run(&mut admin, "PUBSUB NUMSUB ch").await != r#"["ch", 1]"# {
        assert!(Instant::now() < deadline, "the subscription never showed");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(run(&mut admin, "PUBLISH ch hi").await, "1");
    // The SUBSCRIBE reply was dropped; the message is the first thing sent.
    raw.expect(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n").await;
    node.shutdown().await.unwrap();
}
