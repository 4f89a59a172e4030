//! COMMAND over real sockets with the `redis` crate: LIST with
//! subcommands and FILTERBY, INFO's Redis 7 fields (ACL categories,
//! `movablekeys`, nested subcommands) and GETKEYS. Expected replies follow
//! `redis-server` 7.2.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{call, resp2, resp3, run, show, start_with};
use orbit_server::{Config, Node};
use redis::Value;
use redis::aio::MultiplexedConnection;
use std::net::SocketAddr;

async fn start() -> (Node, SocketAddr) {
    start_with(Config::ephemeral()).await
}

/// The texts of an array or set reply of bulk or status strings.
fn texts(v: &Value) -> Vec<String> {
    let (Value::Array(items) | Value::Set(items)) = v else { panic!("a list: {}", show(v)) };
    let text = |item: &Value| match item {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => panic!("text: {}", show(other)),
    };
    items.iter().map(text).collect()
}

async fn list(con: &mut MultiplexedConnection, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    texts(&call(con, &words).await)
}

/// COMMAND INFO of one command: its ten fields.
async fn info(con: &mut MultiplexedConnection, name: &str) -> Vec<Value> {
    let reply = call(con, &["COMMAND", "INFO", name]).await;
    let Value::Array(mut found) = reply else { panic!("COMMAND INFO {name}: {}", show(&reply)) };
    let Some(Value::Array(fields)) = found.pop() else { panic!("COMMAND INFO {name}: no entry") };
    assert_eq!(fields.len(), 10, "{name}");
    fields
}

#[tokio::test]
async fn command_list_names_commands_and_subcommands() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let names = list(&mut c, "COMMAND LIST").await;
    for name in ["get", "config|get", "client|list", "command|getkeys", "slowlog|get"] {
        assert!(names.contains(&name.to_string()), "{name} in {names:?}");
    }
    let count = run(&mut c, "COMMAND COUNT").await;
    assert_eq!(names.iter().filter(|n| !n.contains('|')).count().to_string(), count);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn command_list_filters_by_category_pattern_and_module() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let strings = list(&mut c, "COMMAND LIST FILTERBY ACLCAT string").await;
    assert!(strings.contains(&"get".to_string()), "{strings:?}");
    assert!(!strings.contains(&"hset".to_string()), "{strings:?}");
    let mut stores = list(&mut c, "COMMAND LIST FILTERBY PATTERN z*store").await;
    stores.sort();
    assert_eq!(stores, ["zdiffstore", "zinterstore", "zrangestore", "zunionstore"]);
    assert_eq!(list(&mut c, "command list filterby pattern CONFIG|G*").await, ["config|get"]);
    assert!(list(&mut c, "COMMAND LIST FILTERBY ACLCAT nope").await.is_empty());
    assert!(list(&mut c, "COMMAND LIST FILTERBY MODULE search").await.is_empty());
    for bad in ["COMMAND LIST FILTERBY", "COMMAND LIST FILTERBY COLOR red", "COMMAND LIST x y z w"] {
        assert_eq!(run(&mut c, bad).await, "-ERR syntax error", "{bad}");
    }
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn command_info_reports_categories_keys_and_subcommands() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    let get = info(&mut c, "get").await;
    assert_eq!(show(&get[0]), r#""get""#);
    let categories = texts(&get[6]);
    for category in ["@read", "@string", "@fast"] {
        assert!(categories.contains(&category.to_string()), "{category} in {categories:?}");
    }
    let lmpop = info(&mut c, "lmpop").await;
    assert!(texts(&lmpop[2]).contains(&"movablekeys".to_string()), "{}", show(&lmpop[2]));
    assert_eq!(lmpop[3..6].iter().map(show).collect::<Vec<_>>(), ["0", "0", "0"]);
    let zunionstore = info(&mut c, "zunionstore").await;
    assert!(texts(&zunionstore[2]).contains(&"movablekeys".to_string()));
    assert_eq!(zunionstore[3..6].iter().map(show).collect::<Vec<_>>(), ["1", "1", "1"]);
    assert!(!texts(&get[2]).contains(&"movablekeys".to_string()));

    let config = info(&mut c, "config").await;
    let Value::Array(subs) = &config[9] else { panic!("subcommands: {}", show(&config[9])) };
    let config_get = subs.iter().find_map(|s| match s {
        Value::Array(fields) if show(&fields[0]) == r#""config|get""# => Some(show(&fields[1])),
        _ => None,
    });
    assert_eq!(config_get.as_deref(), Some("-3"), "{}", show(&config[9]));
    let by_name = info(&mut c, "CONFIG|GET").await;
    assert_eq!(show(&by_name[1]), "-3");
    assert!(texts(&by_name[6]).contains(&"@admin".to_string()));
    assert_eq!(run(&mut c, "COMMAND INFO nope get|x").await, "[nil, nil]");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn command_info_uses_sets_in_resp3() {
    let (node, addr) = start().await;
    let mut c = resp3(addr).await;
    let get = info(&mut c, "get").await;
    assert_eq!(show(&get[2]), "~[+readonly, +fast]");
    assert_eq!(show(&get[6]), "~[+@read, +@string, +@fast]");
    assert_eq!((show(&get[7]), show(&get[8])), ("~[]".into(), "[]".into()), "no tips, no key specs");
    assert_eq!(show(&get[9]), "~[]", "no subcommands: an empty set, as Redis");
    let config = info(&mut c, "config").await;
    assert!(matches!(&config[9], Value::Array(subs) if !subs.is_empty()), "{}", show(&config[9]));
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn command_getkeys_finds_the_keys_of_a_command_line() {
    let (node, addr) = start().await;
    let mut c = resp2(addr).await;
    assert_eq!(run(&mut c, "COMMAND GETKEYS MSET a 1 b 2").await, r#"["a", "b"]"#);
    assert_eq!(run(&mut c, "COMMAND GETKEYS ZUNIONSTORE d 2 x y").await, r#"["d", "x", "y"]"#);
    assert_eq!(run(&mut c, "COMMAND GETKEYS LMPOP 2 a b LEFT").await, r#"["a", "b"]"#);
    assert_eq!(run(&mut c, "COMMAND GETKEYS PING").await, "-ERR The command has no key arguments");
    assert_eq!(run(&mut c, "COMMAND GETKEYS nope a").await, "-ERR Invalid command specified");
    assert_eq!(
        run(&mut c, "COMMAND GETKEYS GET a b").await,
        "-ERR Invalid number of arguments specified for command"
    );
    assert_eq!(
        run(&mut c, "COMMAND GETKEYS GET").await,
        "-ERR Invalid number of arguments specified for command"
    );
    assert_eq!(
        run(&mut c, "COMMAND GETKEYS").await,
        "-ERR wrong number of arguments for 'command|getkeys' command"
    );
    node.shutdown().await.unwrap();
}
