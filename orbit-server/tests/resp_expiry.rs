//! Active expiry: keys whose TTL passes are deleted even if nobody reads
//! them, also when the TTL was set before a restart.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{PATIENCE, call, resp2, start_with};
use orbit_server::Config;
use orbit_server::config::StorageKind;
use redis::Value;
use std::time::{Duration, Instant};

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Polls `INFO stats` until `expired_keys` reaches `n`.
async fn wait_for_expired(con: &mut redis::aio::MultiplexedConnection, n: u64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let info = text(&call(con, &["INFO", "stats"]).await);
        let expired: u64 =
            info.lines().find_map(|l| l.strip_prefix("expired_keys:")).unwrap().trim().parse().unwrap();
        if expired >= n {
            assert_eq!(expired, n, "more keys expired than had a TTL");
            return;
        }
        assert!(Instant::now() < deadline, "expired_keys stayed at {expired}, expected {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::ephemeral();
    config.storage.backend = StorageKind::Lsm;
    config.node.data_dir = dir.to_path_buf();
    config.resp.expiry_sweep_interval = Duration::from_millis(10);
    config
}

#[tokio::test]
async fn unread_keys_are_deleted_when_their_ttl_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (node, addr) = start_with(config(dir.path())).await;
    let mut con = resp2(addr).await;
    call(&mut con, &["SET", "short", "v", "PX", "100"]).await;
    call(&mut con, &["SET", "long", "v", "EX", "1000"]).await;
    call(&mut con, &["SET", "forever", "v"]).await;
    call(&mut con, &["RPUSH", "list", "a", "b"]).await;
    call(&mut con, &["PEXPIRE", "list", "150"]).await;
    wait_for_expired(&mut con, 2).await;
    let keys = call(&mut con, &["KEYS", "*"]).await;
    let Value::Array(keys) = keys else { panic!("KEYS gave {keys:?}") };
    let mut keys: Vec<String> = keys.iter().map(text).collect();
    keys.sort();
    assert_eq!(keys, ["forever", "long"]);
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_ttl_set_before_a_restart_still_expires_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (node, addr) = start_with(config(dir.path())).await;
    let mut con = resp2(addr).await;
    call(&mut con, &["SET", "k", "v", "PX", "400"]).await;
    node.shutdown().await.unwrap();
    let (node, addr) = start_with(config(dir.path())).await;
    let mut con = resp2(addr).await;
    wait_for_expired(&mut con, 1).await;
    assert_eq!(call(&mut con, &["DBSIZE"]).await, Value::Int(0));
    node.shutdown().await.unwrap();
}
