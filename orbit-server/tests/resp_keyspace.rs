//! Whole-keyspace commands cost what the live keys cost: DBSIZE and INFO's
//! keyspace section read the counts kept with the records, not the
//! records, however many keys were written and deleted before (`orbit-bench
//! keyspace` times them after 100,000).

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::{call, resp2, show, start_with};
use orbit_server::Config;
use orbit_server::config::StorageKind;
use redis::Value;

fn config(dir: &std::path::Path) -> Config {
    let mut config = Config::ephemeral();
    config.storage.backend = StorageKind::Lsm;
    config.node.data_dir = dir.to_path_buf();
    config
}

/// The value of counter `name` in the node's `/metrics`.
async fn metric(http: std::net::SocketAddr, name: &str) -> u64 {
    let (status, body) = common::http_get(http, "/metrics").await;
    assert_eq!(status, 200);
    let line = body.lines().find(|l| l.starts_with(name) && !l.starts_with('#'));
    line.and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbsize_and_info_read_no_record_after_20000_keys_were_written_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (node, addr) = start_with(config(dir.path())).await;
    let http = node.http_addr().unwrap();
    let mut con = resp2(addr).await;
    for batch in 0..20 {
        let mut pipe = redis::pipe();
        for n in batch * 1000..(batch + 1) * 1000 {
            let key = format!("churn:{n}");
            pipe.cmd("SET").arg(&key).arg(n).ignore().cmd("DEL").arg(&key).ignore();
        }
        let () = pipe.query_async(&mut con).await.unwrap();
    }
    call(&mut con, &["SET", "live:1", "a"]).await;
    call(&mut con, &["RPUSH", "live:2", "a", "b"]).await;
    call(&mut con, &["SELECT", "3"]).await;
    call(&mut con, &["HSET", "h", "f", "v"]).await;
    call(&mut con, &["SELECT", "0"]).await;

    let scanned = metric(http, "orbit_storage_scanned_pairs_total").await;
    assert_eq!(call(&mut con, &["DBSIZE"]).await, Value::Int(2));
    let info = show(&call(&mut con, &["INFO", "keyspace"]).await);
    assert!(info.contains("db0:keys=2,expires=0"), "{info}");
    assert!(info.contains("db3:keys=1,expires=0"), "{info}");
    assert!(!info.contains("db1:"), "{info}");
    assert_eq!(
        metric(http, "orbit_storage_scanned_pairs_total").await,
        scanned,
        "DBSIZE or INFO scanned stored records"
    );

    // The counts are stored with the records: they survive a restart.
    call(&mut con, &["DEL", "live:1"]).await;
    node.shutdown().await.unwrap();
    let (node, addr) = start_with(config(dir.path())).await;
    let mut con = resp2(addr).await;
    assert_eq!(call(&mut con, &["DBSIZE"]).await, Value::Int(1));
    call(&mut con, &["SELECT", "3"]).await;
    assert_eq!(call(&mut con, &["DBSIZE"]).await, Value::Int(1));
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn dbsize_counts_each_key_once_whatever_its_writes() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut con = resp2(addr).await;
    for _ in 0..3 {
        call(&mut con, &["SET", "s", "v"]).await;
        call(&mut con, &["APPEND", "s", "w"]).await;
        call(&mut con, &["RPUSH", "l", "a", "b"]).await;
        call(&mut con, &["LPOP", "l"]).await;
        call(&mut con, &["SADD", "set", "m"]).await;
    }
    assert_eq!(call(&mut con, &["DBSIZE"]).await, Value::Int(3));
    // Popping the last element deletes the key; so do DEL, RENAME's source
    // and an expired TTL.
    call(&mut con, &["LPOP", "l", "10"]).await;
    call(&mut con, &["RENAME", "set", "set2"]).await;
    assert_eq!(call(&mut con, &["DBSIZE"]).await, Value::Int(2));
    call(&mut con, &["DEL", "s", "set2", "missing"]).await;
    assert_eq!(call(&mut con, &["DBSIZE"]).await, Value::Int(0));
    // As in Redis, a key whose TTL ran out counts until it is deleted,
    // which the active expiry does soon after.
    call(&mut con, &["SET", "t", "v", "PX", "20"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(call(&mut con, &["GET", "t"]).await, Value::Nil);
    let deadline = std::time::Instant::now() + common::resp::PATIENCE;
    while call(&mut con, &["DBSIZE"]).await != Value::Int(0) {
        assert!(std::time::Instant::now() < deadline, "the expired key was never deleted");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomkey_picks_every_live_key_alike_and_never_an_expired_one() {
    let (node, addr) = start_with(Config::ephemeral()).await;
    let mut con = resp2(addr).await;
    assert_eq!(call(&mut con, &["RANDOMKEY"]).await, Value::Nil);
    for n in 0..10 {
        call(&mut con, &["SET", &format!("k{n}"), "v"]).await;
        call(&mut con, &["SET", &format!("gone{n}"), "v", "PX", "1"]).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut picks: std::collections::BTreeMap<String, u32> = Default::default();
    for _ in 0..4 {
        let mut pipe = redis::pipe();
        for _ in 0..500 {
            pipe.cmd("RANDOMKEY");
        }
        let keys: Vec<String> = pipe.query_async(&mut con).await.unwrap();
        for key in keys {
            *picks.entry(key).or_default() += 1;
        }
    }
    // 2,000 picks of 10 keys: 200 each, standard deviation 13.4.
    assert_eq!(picks.len(), 10, "{picks:?}");
    assert!(picks.iter().all(|(k, n)| k.starts_with('k') && (120..=280).contains(n)), "{picks:?}");
    node.shutdown().await.unwrap();
}
