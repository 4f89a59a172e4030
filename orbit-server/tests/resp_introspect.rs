//! What the front door tells about itself: INFO's sections, command and
//! error statistics, the slow log, latency events, LASTSAVE and ROLE.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{call, resp2, show, start_with};
use orbit_server::Config;
use redis::Value;

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).unwrap(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// The `name:value` fields of an INFO reply.
fn fields(info: &str) -> std::collections::BTreeMap<String, String> {
    info.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn info_reports_cpu_memory_errors_and_commands_by_section() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut con = resp2(addr).await;
    let info = text(&call(&mut con, &["INFO"]).await);
    for section in
        ["# Server", "# Clients", "# Memory", "# Stats", "# CPU", "# Errorstats", "# Cluster", "# Keyspace"]
    {
        assert!(info.contains(section), "INFO lacks {section}: {info}");
    }
    assert!(!info.contains("# Commandstats"), "commandstats is not a default section");
    let f = fields(&info);
    assert_eq!(f["cluster_enabled"], "0");
    assert!(f["used_memory"].parse::<u64>().unwrap() > 1 << 20, "{}", f["used_memory"]);
    assert!(f["used_cpu_user"].parse::<f64>().unwrap() >= 0.0);
    assert_eq!(f["maxmemory_policy"], "noeviction");

    call(&mut con, &["SET", "s", "v"]).await;
    call(&mut con, &["GET", "s"]).await;
    call(&mut con, &["LPUSH", "s", "x"]).await; // WRONGTYPE: ran and failed
    call(&mut con, &["GET"]).await; // arity: rejected
    call(&mut con, &["NOPE"]).await; // unknown: an error, no command
    let stats = fields(&text(&call(&mut con, &["INFO", "commandstats", "errorstats", "stats"]).await));
    let get = &stats["cmdstat_get"];
    assert!(get.starts_with("calls=1,") && get.ends_with("rejected_calls=1,failed_calls=0"), "{get}");
    assert!(stats["cmdstat_lpush"].ends_with("rejected_calls=0,failed_calls=1"), "{stats:?}");
    assert_eq!(stats["errorstat_WRONGTYPE"], "count=1");
    assert_eq!(stats["errorstat_ERR"], "count=2");
    assert_eq!(stats["total_error_replies"], "3");
    assert_eq!(show(&call(&mut con, &["CONFIG", "RESETSTAT"]).await), "+OK");
    let stats = text(&call(&mut con, &["INFO", "commandstats"]).await);
    assert!(!stats.contains("cmdstat_get"), "{stats}");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_slow_log_records_commands_over_the_threshold() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut con = resp2(addr).await;
    call(&mut con, &["CLIENT", "SETNAME", "slowpoke"]).await;
    assert_eq!(
        show(&call(&mut con, &["CONFIG", "GET", "slowlog-log-slower-than"]).await),
        "[\"slowlog-log-slower-than\", \"10000\"]"
    );
    call(&mut con, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]).await;
    call(&mut con, &["SET", "k", "v"]).await;
    let Value::Array(entries) = call(&mut con, &["SLOWLOG", "GET", "1"]).await else { panic!("array") };
    let Value::Array(entry) = &entries[0] else { panic!("entry") };
    assert_eq!(show(&entry[3]), "[\"SET\", \"k\", \"v\"]");
    assert_eq!(show(&entry[5]), "\"slowpoke\"");
    assert!(matches!(entry[2], Value::Int(us) if us >= 0));
    let Value::Int(len) = call(&mut con, &["SLOWLOG", "LEN"]).await else { panic!("int") };
    assert!(len >= 2, "CONFIG SET and SET are logged ({len})");
    call(&mut con, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]).await;
    call(&mut con, &["SLOWLOG", "RESET"]).await;
    call(&mut con, &["SET", "k", "w"]).await;
    assert_eq!(call(&mut con, &["SLOWLOG", "LEN"]).await, Value::Int(0));
    let err = show(&call(&mut con, &["SLOWLOG", "NOPE"]).await);
    assert!(err.starts_with("-ERR unknown subcommand 'NOPE'"), "{err}");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn latency_lastsave_and_role_answer_as_redis_shapes_them() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut con = resp2(addr).await;
    assert_eq!(show(&call(&mut con, &["LATENCY", "LATEST"]).await), "[]");
    assert_eq!(show(&call(&mut con, &["LATENCY", "RESET"]).await), "0");
    let doctor = text(&call(&mut con, &["LATENCY", "DOCTOR"]).await);
    assert!(doctor.contains("latency-monitor-threshold"), "{doctor}");
    let Value::Int(saved) = call(&mut con, &["LASTSAVE"]).await else { panic!("int") };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - 600..=now).contains(&saved), "LASTSAVE {saved}, now {now}");
    assert_eq!(show(&call(&mut con, &["ROLE"]).await), "[\"master\", 0, []]");
    node.shutdown().await.unwrap();
}
