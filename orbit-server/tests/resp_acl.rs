//! ACL rules over real sockets: users limited to some commands, keys and
//! channels, refused with Redis 7.2's `NOPERM` texts (also inside MULTI
//! and in pipelined runs on one key), ACL LOG, CAT, GETUSER, LIST, DRYRUN,
//! GENPASS and DELUSER; and the default user, which still runs everything.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{PATIENCE, call, resp2, resp3, run, show, start_with, try_call};
use orbit_server::{Config, Node};
use redis::Value;
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start() -> (Node, SocketAddr) {
    start_with(Config::ephemeral()).await
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => panic!("expected text, got {}", show(other)),
    }
}

/// Creates `user` with `rules` (as the default user) and returns a new
/// connection authenticated as it with password `pw`.
async fn login(addr: SocketAddr, user: &str, rules: &str) -> MultiplexedConnection {
    let mut admin = resp2(addr).await;
    assert_eq!(run(&mut admin, &format!("ACL SETUSER {user} on >pw {rules}")).await, "+OK");
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, &format!("AUTH {user} pw")).await, "+OK");
    c
}

const KEY_REFUSED: &str = "-NOPERM No permissions to access a key";
const CHANNEL_REFUSED: &str = "-NOPERM No permissions to access a channel";

fn command_refused(user: &str, command: &str) -> String {
    format!("-NOPERM User {user} has no permissions to run the '{command}' command")
}

/// Writes `request` on a new TCP connection and compares the next bytes
/// read with `expected`.
async fn exchange(addr: SocketAddr, request: &[u8], expected: &str) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(PATIENCE, stream.read(&mut chunk)).await.expect("a reply in time");
        let n = read.unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(String::from_utf8_lossy(&got), expected);
}

#[tokio::test]
async fn a_restricted_user_runs_only_its_commands_on_its_keys() {
    let (node, addr) = start().await;
    let mut c = login(addr, "cacheonly", "+get ~cache:*").await;
    assert_eq!(run(&mut c, "GET cache:1").await, "nil");
    assert_eq!(run(&mut c, "SET cache:1 v").await, command_refused("cacheonly", "set"));
    assert_eq!(run(&mut c, "GET other:1").await, KEY_REFUSED);
    assert_eq!(run(&mut c, "MGET cache:1 other:1").await, command_refused("cacheonly", "mget"));
    assert_eq!(run(&mut c, "AUTH cacheonly pw").await, "+OK", "AUTH is allowed to everybody");

    // A change of the user applies to its connections at once.
    let mut admin = resp2(addr).await;
    assert_eq!(run(&mut admin, "ACL SETUSER cacheonly +set +mget").await, "+OK");
    assert_eq!(run(&mut c, "SET cache:1 v").await, "+OK");
    assert_eq!(run(&mut c, "MGET cache:1 other:1").await, KEY_REFUSED);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn pipelined_commands_on_one_key_are_each_checked() {
    let (node, addr) = start().await;
    drop(login(addr, "cacheonly", "+get ~cache:*").await);
    let request = b"AUTH cacheonly pw\r\nGET other:1\r\nGET other:1\r\nSET other:1 v\r\nGET cache:1\r\n";
    let refused = "-NOPERM No permissions to access a key\r\n";
    let set = "-NOPERM User cacheonly has no permissions to run the 'set' command\r\n";
    exchange(addr, request, &format!("+OK\r\n{refused}{refused}{set}$-1\r\n")).await;
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_refusal_inside_multi_aborts_the_transaction() {
    let (node, addr) = start().await;
    let mut c = login(addr, "cacheonly", "+get +set +multi +exec ~cache:*").await;
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "SET cache:1 v").await, "+QUEUED");
    assert_eq!(run(&mut c, "GET other:1").await, KEY_REFUSED, "refused when queued");
    assert_eq!(run(&mut c, "EXEC").await, "-EXECABORT Transaction discarded because of previous errors.");
    assert_eq!(run(&mut c, "GET cache:1").await, "nil", "nothing of the transaction ran");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_permission_removed_after_queueing_refuses_the_command_at_exec() {
    let (node, addr) = start().await;
    let mut c = login(addr, "writer", "+get +set +multi +exec ~*").await;
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "SET a 1").await, "+QUEUED");
    assert_eq!(run(&mut c, "GET a").await, "+QUEUED");
    let mut admin = resp2(addr).await;
    assert_eq!(run(&mut admin, "ACL SETUSER writer -set").await, "+OK");
    let refused = command_refused("writer", "set");
    assert_eq!(run(&mut c, "EXEC").await, format!("[{refused}, nil]"));
    assert_eq!(run(&mut admin, "GET a").await, "nil", "the refused SET did not run");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn minus_dangerous_refuses_flushall_and_keys() {
    let (node, addr) = start().await;
    let mut c = login(addr, "ops", "+@all -@dangerous +flushdb ~* &*").await;
    assert_eq!(run(&mut c, "FLUSHALL").await, command_refused("ops", "flushall"));
    assert_eq!(run(&mut c, "KEYS *").await, command_refused("ops", "keys"));
    assert_eq!(run(&mut c, "CONFIG GET maxclients").await, command_refused("ops", "config|get"));
    assert_eq!(run(&mut c, "ACL SETUSER x").await, command_refused("ops", "acl|setuser"));
    assert_eq!(run(&mut c, "ACL WHOAMI").await, r#""ops""#, "ACL WHOAMI is not dangerous");
    assert_eq!(run(&mut c, "FLUSHDB").await, "+OK", "allowed again by a later rule");
    assert_eq!(run(&mut c, "SET k v").await, "+OK");
    assert_eq!(run(&mut c, "GET k").await, r#""v""#);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn channel_patterns_limit_publish() {
    let (node, addr) = start().await;
    let mut c = login(addr, "news", "+@all ~* &news:*").await;
    assert_eq!(run(&mut c, "PUBLISH news:1 hello").await, "0");
    assert_eq!(run(&mut c, "PUBLISH other hello").await, CHANNEL_REFUSED);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn read_only_key_patterns_refuse_writes() {
    let (node, addr) = start().await;
    let mut c = login(addr, "reader", "+@all %R~ro:* %W~wo:*").await;
    assert_eq!(run(&mut c, "GET ro:1").await, "nil");
    assert_eq!(run(&mut c, "SET ro:1 v").await, KEY_REFUSED);
    assert_eq!(run(&mut c, "SET wo:1 v").await, "+OK");
    assert_eq!(run(&mut c, "GET wo:1").await, KEY_REFUSED);
    assert_eq!(run(&mut c, "LMPOP 2 wo:1 ro:1 LEFT").await, KEY_REFUSED, "keys after a count are checked");
    node.shutdown().await.unwrap();
}

/// An ACL LOG entry in RESP2 (flat pairs), its values rendered by `show`.
fn log_entry(v: &Value) -> HashMap<String, String> {
    let Value::Array(items) = v else { panic!("an ACL LOG entry: {}", show(v)) };
    items.chunks(2).map(|pair| (text(&pair[0]), show(&pair[1]))).collect()
}

async fn acl_log(admin: &mut MultiplexedConnection, args: &[&str]) -> Vec<HashMap<String, String>> {
    let words: Vec<&str> = ["ACL", "LOG"].iter().chain(args).copied().collect();
    match call(admin, &words).await {
        Value::Array(entries) => entries.iter().map(log_entry).collect(),
        other => panic!("ACL LOG: {}", show(&other)),
    }
}

#[tokio::test]
async fn acl_log_records_refusals_newest_first() {
    let (node, addr) = start().await;
    let mut admin = resp2(addr).await;
    let mut c = login(addr, "cacheonly", "+get +multi +discard ~cache:*").await;
    assert_eq!(
        run(&mut c, "AUTH cacheonly wrong").await,
        "-WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(run(&mut c, "SET cache:1 v").await, command_refused("cacheonly", "set"));
    assert_eq!(run(&mut c, "GET other:1").await, KEY_REFUSED);
    assert_eq!(run(&mut c, "GET other:1").await, KEY_REFUSED);
    assert_eq!(run(&mut c, "MULTI").await, "+OK");
    assert_eq!(run(&mut c, "GET other:2").await, KEY_REFUSED);
    assert_eq!(run(&mut c, "DISCARD").await, "+OK");

    let log = acl_log(&mut admin, &[]).await;
    let summary: Vec<String> = log
        .iter()
        .map(|e| format!("{} {} {} {} {}", e["count"], e["reason"], e["context"], e["object"], e["username"]))
        .collect();
    assert_eq!(
        summary,
        [
            r#"1 "key" "multi" "other:2" "cacheonly""#,
            r#"2 "key" "toplevel" "other:1" "cacheonly""#,
            r#"1 "command" "toplevel" "set" "cacheonly""#,
            r#"1 "auth" "toplevel" "AUTH" "cacheonly""#,
        ]
    );
    let newest = &log[0];
    assert!(newest["client-info"].contains("user=cacheonly"), "{newest:?}");
    for field in ["age-seconds", "entry-id", "timestamp-created", "timestamp-last-updated"] {
        assert!(newest.contains_key(field), "{field} in {newest:?}");
    }
    assert_eq!(acl_log(&mut admin, &["1"]).await.len(), 1);
    assert_eq!(run(&mut admin, "ACL LOG RESET").await, "+OK");
    assert!(acl_log(&mut admin, &[]).await.is_empty());
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn acl_cat_lists_categories_and_their_commands() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let Value::Array(categories) = call(&mut c, &["ACL", "CAT"]).await else { panic!("ACL CAT") };
    let categories: Vec<String> = categories.iter().map(text).collect();
    assert_eq!(categories.len(), 21, "{categories:?}");
    let expected =
        ["keyspace", "read", "write", "string", "hash", "pubsub", "admin", "dangerous", "connection"];
    for name in expected {
        assert!(categories.iter().any(|c| c == name), "{name} in {categories:?}");
    }
    let Value::Array(dangerous) = call(&mut c, &["ACL", "CAT", "dangerous"]).await else { panic!("CAT") };
    let dangerous: Vec<String> = dangerous.iter().map(text).collect();
    for name in ["flushall", "keys", "config|set", "acl|setuser"] {
        assert!(dangerous.iter().any(|c| c == name), "{name} in {dangerous:?}");
    }
    assert!(!dangerous.iter().any(|c| c == "get"));
    assert_eq!(run(&mut c, "ACL CAT nope").await, "-ERR Unknown category 'nope'");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn acl_getuser_and_list_show_the_rules() {
    use sha2::Digest;
    let (node, addr) = start().await;
    let mut c = resp3(addr).await;
    let rules = "ACL SETUSER alice on >pw ~cache:* %R~ro:* &news:* -@all +get +@hash -hdel";
    assert_eq!(run(&mut c, rules).await, "+OK");
    let hash = hex::encode(sha2::Sha256::digest(b"pw"));
    let Value::Array(lines) = call(&mut c, &["ACL", "LIST"]).await else { panic!("ACL LIST") };
    let lines: Vec<String> = lines.iter().map(text).collect();
    let alice =
        format!("user alice on #{hash} ~cache:* %R~ro:* resetchannels &news:* -@all +get +@hash -hdel");
    assert!(lines.contains(&alice), "{lines:?}");
    assert!(lines.contains(&"user default on nopass ~* &* +@all".to_string()), "{lines:?}");
    assert_eq!(
        run(&mut c, "ACL GETUSER alice").await,
        format!(
            r#"{{"flags": ~["on"], "passwords": ["{hash}"], "commands": "-@all +get +@hash -hdel", "keys": "~cache:* %R~ro:*", "channels": "&news:*", "selectors": []}}"#
        )
    );
    assert_eq!(run(&mut c, "ACL GETUSER nobody").await, "nil");
    let mut two = resp2(addr).await;
    let flat = run(&mut two, "ACL GETUSER alice").await;
    assert!(flat.starts_with(r#"["flags", ["on"], "passwords", "#), "{flat}");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_rules_are_refused_and_change_nothing() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(
        run(&mut c, "ACL SETUSER x on bogus").await,
        "-ERR Error in ACL SETUSER modifier 'bogus': Syntax error"
    );
    assert_eq!(
        run(&mut c, "ACL SETUSER x +nope").await,
        "-ERR Error in ACL SETUSER modifier '+nope': Unknown command or category name in ACL"
    );
    assert_eq!(run(&mut c, "ACL GETUSER x").await, "nil", "a refused SETUSER creates no user");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn dryrun_and_genpass() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "ACL SETUSER cacheonly on >pw +get ~cache:*").await, "+OK");
    assert_eq!(run(&mut c, "ACL DRYRUN cacheonly GET cache:1").await, "+OK");
    assert_eq!(
        run(&mut c, "ACL DRYRUN cacheonly GET other:1").await,
        r#""User cacheonly has no permissions to access the 'other:1' key""#
    );
    assert_eq!(
        run(&mut c, "ACL DRYRUN cacheonly SET cache:1 v").await,
        r#""User cacheonly has no permissions to run the 'set' command""#
    );
    assert_eq!(run(&mut c, "ACL DRYRUN nobody GET k").await, "-ERR User 'nobody' not found");

    let first = text(&call(&mut c, &["ACL", "GENPASS"]).await);
    let second = text(&call(&mut c, &["ACL", "GENPASS"]).await);
    assert_eq!(first.len(), 64);
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    assert_ne!(first, second);
    assert_eq!(text(&call(&mut c, &["ACL", "GENPASS", "5"]).await).len(), 2);
    assert!(run(&mut c, "ACL GENPASS 0").await.starts_with("-ERR ACL GENPASS argument"));
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn deleting_a_user_disconnects_its_clients() {
    let (node, addr) = start().await;
    let mut admin = resp2(addr).await;
    let mut c = login(addr, "temp", "+@all ~*").await;
    assert_eq!(run(&mut c, "PING").await, "+PONG");
    assert_eq!(run(&mut admin, "ACL DELUSER temp").await, "1");
    let deadline = Instant::now() + PATIENCE;
    while text(&call(&mut admin, &["CLIENT", "LIST"]).await).contains("user=temp") {
        assert!(Instant::now() < deadline, "the client of a deleted user stayed connected");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(try_call(&mut c, &["PING"]).await.is_err(), "the connection is closed");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_default_user_still_runs_everything() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "SET k v").await, "+OK");
    assert_eq!(run(&mut c, "KEYS *").await, r#"["k"]"#);
    assert_eq!(run(&mut c, "PUBLISH anything hi").await, "0");
    assert!(run(&mut c, "CONFIG GET maxclients").await.starts_with(r#"["maxclients", "#));
    assert_eq!(run(&mut c, "FLUSHALL").await, "+OK");
    assert_eq!(run(&mut c, "ACL DRYRUN default FLUSHALL").await, "+OK");
    assert_eq!(run(&mut c, "ACL LOG").await, "[]", "nothing was refused");
    node.shutdown().await.unwrap();
}
