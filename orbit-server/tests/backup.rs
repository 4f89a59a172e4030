//! Backups, restores and migrations through the real `orbit-server`
//! subcommands, against a node that keeps taking writes.

#![allow(clippy::unwrap_used)]

mod common;

use common::lsm_config;
use orbit_server::actors::counter::CounterActor;
use orbit_server::config::StorageKind;
use orbit_server::{Config, Node};
use orbit_shared::actors::counter::{Get, Increment};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

async fn tool(args: &[&str]) -> (bool, String, String) {
    let output =
        tokio::process::Command::new(env!("CARGO_BIN_EXE_orbit-server")).args(args).output().await.unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn node_at(dir: &Path, storage: StorageKind) -> Node {
    let mut config = lsm_config(dir);
    config.storage.backend = storage;
    Node::builder(config).with_builtin_kinds().start().await.unwrap()
}

/// Four writers incrementing `{prefix}0..3` until stopped, each recording
/// the last value acknowledged to it.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Vec<Arc<AtomicI64>>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(node: &Node, prefix: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Vec<_> = (0..4).map(|_| Arc::new(AtomicI64::new(0))).collect();
        let writers = (0..4)
            .map(|w| {
                let counter = node.actor::<CounterActor>(format!("{prefix}{w}"));
                let (stop, acked) = (stop.clone(), acked[w].clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let value = counter.call(Increment { by: 1 }).await.expect("writes go on meanwhile");
                        acked.store(value, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        Load { stop, acked, writers }
    }

    fn acked(&self) -> Vec<i64> {
        self.acked.iter().map(|a| a.load(Ordering::Relaxed)).collect()
    }

    /// Waits until every writer has had `n` more writes acknowledged than in `since`.
    async fn progress(&self, since: &[i64], n: i64) {
        while self.acked().iter().zip(since).any(|(a, s)| *a < s + n) {
            tokio::task::yield_now().await;
        }
    }

    async fn stop(self) -> Vec<i64> {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.writers {
            w.await.unwrap();
        }
        self.acked.iter().map(|a| a.load(Ordering::Relaxed)).collect()
    }
}

async fn get(node: &Node, key: &str) -> i64 {
    node.actor::<CounterActor>(key.to_string()).call(Get {}).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_backup_during_load_restores_onto_a_fresh_node() {
    let dirs = tempfile::tempdir().unwrap();
    let node = node_at(&dirs.path().join("live"), StorageKind::Lsm).await;
    for i in 0..200i64 {
        node.actor::<CounterActor>(format!("c{i}")).call(Increment { by: i }).await.unwrap();
    }
    // Writers keep going while the backup runs.
    let load = Load::start(&node, "load");
    load.progress(&[0; 4], 5).await;
    let floor = load.acked();
    let backup_dir = dirs.path().join("backup");
    let admin = node.http_addr().unwrap().to_string();
    let args = ["backup", "--to", backup_dir.to_str().unwrap(), "--admin", admin.as_str()];
    let (ok, stdout, stderr) = tool(&args).await;
    assert!(ok, "backup failed: {stderr}");
    let manifest: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(manifest["backend"], "lsm");
    load.stop().await;
    let ceiling: Vec<i64> = futures_values(&node).await;
    node.shutdown().await.unwrap();

    // Restore into another backend, verified against the manifest.
    let restored = dirs.path().join("restored");
    let (ok, stdout, stderr) = tool(&[
        "restore",
        "--from",
        backup_dir.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--storage",
        "cow-btree",
    ])
    .await;
    assert!(ok, "restore failed: {stderr}");
    let restored_manifest: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(restored_manifest["fingerprint"], manifest["fingerprint"], "same contents, another engine");

    let node = node_at(&restored, StorageKind::CowBtree).await;
    for i in 0..200i64 {
        assert_eq!(get(&node, &format!("c{i}")).await, i, "c{i} after restore");
    }
    for w in 0..4 {
        let value = get(&node, &format!("load{w}")).await;
        assert!(
            value >= floor[w] && value <= ceiling[w],
            "load{w} = {value}, outside [{}, {}]",
            floor[w],
            ceiling[w]
        );
    }
    node.shutdown().await.unwrap();
}

async fn futures_values(node: &Node) -> Vec<i64> {
    let mut values = Vec::new();
    for w in 0..4 {
        values.push(get(node, &format!("load{w}")).await);
    }
    values
}

#[tokio::test]
async fn backup_refuses_a_non_empty_directory_and_unauthorised_callers() {
    let dirs = tempfile::tempdir().unwrap();
    let mut config = lsm_config(&dirs.path().join("live"));
    config.http.admin_token = Some("s3cret".into());
    let node = Node::builder(config).with_builtin_kinds().start().await.unwrap();
    let admin = node.http_addr().unwrap().to_string();
    let target = dirs.path().join("b");
    let target = target.to_str().unwrap();
    let args = ["backup", "--to", target, "--admin", admin.as_str()];
    let (ok, _, stderr) = tool(&args).await;
    assert!(!ok && stderr.contains("403"), "no token: {stderr}");
    let (ok, _, stderr) = tool(&[&args[..], &["--token", "wrong"]].concat()).await;
    assert!(!ok && stderr.contains("403"), "wrong token: {stderr}");
    let (ok, _, stderr) = tool(&[&args[..], &["--token", "s3cret"]].concat()).await;
    assert!(ok, "right token: {stderr}");
    let (ok, _, stderr) = tool(&[&args[..], &["--token", "s3cret"]].concat()).await;
    assert!(!ok && stderr.contains("must be empty"), "second backup into the same dir: {stderr}");
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn migrate_copies_a_stopped_node_to_another_backend() {
    let dirs = tempfile::tempdir().unwrap();
    let (from, to) = (dirs.path().join("lsm-node"), dirs.path().join("btree-node"));
    let node = node_at(&from, StorageKind::Lsm).await;
    for i in 0..300i64 {
        node.actor::<CounterActor>(format!("m{i}")).call(Increment { by: i * 3 }).await.unwrap();
    }
    node.shutdown().await.unwrap();

    let (ok, stdout, stderr) = tool(&[
        "migrate",
        "--from",
        &format!("lsm:{}", from.display()),
        "--to",
        &format!("cow-btree:{}", to.display()),
    ])
    .await;
    assert!(ok, "migrate failed: {stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // Each partition holding counters keeps a count of them; the system
    // partition holds the partition count and the markers that counts are
    // kept and that the SQL data is in its partition.
    let counted: std::collections::BTreeSet<u16> = (0..300)
        .map(|i| {
            orbit_server::partition::partition_of(orbit_shared::slot::slot_of(format!("m{i}").as_bytes()), 64)
        })
        .collect();
    assert_eq!(
        report["keys"],
        300 + counted.len() + 3,
        "counters, their counts, partition count and markers"
    );
    assert_eq!(report["checksum"].as_str().unwrap().len(), 64);

    let node = node_at(&to, StorageKind::CowBtree).await;
    for i in 0..300i64 {
        assert_eq!(get(&node, &format!("m{i}")).await, i * 3);
    }
    node.shutdown().await.unwrap();

    // The data directory remembers its backend.
    let mut config = Config::ephemeral();
    config.node.data_dir = to.clone();
    config.storage.backend = StorageKind::Lsm;
    let err = Node::builder(config).build().await.err().expect("wrong backend refused");
    assert!(err.to_string().contains("holds a cow-btree backend"), "{err}");

    let (ok, _, stderr) = tool(&[
        "migrate",
        "--from",
        &format!("lsm:{}", from.display()),
        "--to",
        &format!("cow-btree:{}", to.display()),
    ])
    .await;
    assert!(!ok && stderr.contains("must be empty"), "{stderr}");
    let (ok, _, stderr) = tool(&["migrate", "--from", "floppy:/x", "--to", "lsm:/y"]).await;
    assert!(!ok && stderr.contains("unknown backend 'floppy'"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swap_moves_a_serving_node_to_another_backend_without_losing_writes() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_at(dir.path(), StorageKind::Lsm).await;
    for i in 0..500i64 {
        node.actor::<CounterActor>(format!("pre{i}")).call(Increment { by: i }).await.unwrap();
    }
    let load = Load::start(&node, "swap");
    let http = node.http_addr().unwrap();
    let (status, body) =
        common::http_post_json(http, "/admin/storage", &serde_json::json!({"backend": "cow-btree"})).await;
    assert_eq!(status, 200, "{body}");
    // Writes keep landing after the cut-over too.
    load.progress(&load.acked(), 10).await;
    let acked = load.stop().await;
    let (status, body) =
        common::http_post_json(http, "/admin/storage", &serde_json::json!({"backend": "cow-btree"})).await;
    assert_eq!(status, 409, "switching to the current backend: {body}");
    let (status, _) =
        common::http_post_json(http, "/admin/storage", &serde_json::json!({"backend": "tape"})).await;
    assert_eq!(status, 400);
    node.shutdown().await.unwrap();

    // Everything acknowledged is in the new backend, which the data dir now names.
    let node = node_at(dir.path(), StorageKind::CowBtree).await;
    for i in 0..500i64 {
        assert_eq!(get(&node, &format!("pre{i}")).await, i);
    }
    for (w, acked) in acked.iter().enumerate() {
        assert_eq!(get(&node, &format!("swap{w}")).await, *acked, "swap{w}");
    }
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_run_and_keep_the_newest() {
    let dirs = tempfile::tempdir().unwrap();
    let backups = dirs.path().join("backups");
    let mut config = lsm_config(&dirs.path().join("live"));
    config.backup.dir = Some(backups.clone());
    config.backup.interval = std::time::Duration::from_millis(50);
    config.backup.keep = 2;
    let node = Node::builder(config).with_builtin_kinds().build().await.unwrap();
    node.actor::<CounterActor>("kept").call(Increment { by: 42 }).await.unwrap();
    let taken = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let metrics = node.metrics().render();
            let ok = metrics
                .lines()
                .find_map(|l| l.strip_prefix(r#"orbit_backups_total{outcome="ok"} "#)?.parse::<u64>().ok());
            if ok.unwrap_or(0) >= 4 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(taken.is_ok(), "four scheduled backups within 30 s");
    node.shutdown().await.unwrap();
    let mut kept: Vec<_> = std::fs::read_dir(&backups).unwrap().map(|e| e.unwrap().path()).collect();
    kept.sort();
    assert_eq!(kept.len(), 2, "only the newest two are kept: {kept:?}");
    let restored = dirs.path().join("restored");
    let (ok, _, stderr) =
        tool(&["restore", "--from", kept[1].to_str().unwrap(), "--data-dir", restored.to_str().unwrap()])
            .await;
    assert!(ok, "{stderr}");
    let node = node_at(&restored, StorageKind::Lsm).await;
    assert_eq!(get(&node, "kept").await, 42);
    node.shutdown().await.unwrap();
}
