//! BullMQ (npm), unmodified, against Orbit: its queue, worker, delayed,
//! retried and repeatable jobs and queue events run on Lua scripts (with
//! `cmsgpack`), streams and blocking sorted-set pops. The check itself is
//! `clients/bullmq/check.mjs`, the same file that passes against
//! redis-server; `scripts/install-deps.sh --clients` installs BullMQ from
//! its lock file.

#![allow(clippy::unwrap_used)]

mod common;

use common::resp::start_with;
use orbit_server::Config;
use std::path::PathBuf;
use std::time::Duration;

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../clients/bullmq")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bullmq_queues_workers_and_schedules_run_on_orbit() {
    if !common::require_program("node") {
        return;
    }
    let dir = client_dir();
    if !dir.join("node_modules/bullmq").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "BullMQ is required under CI: run scripts/install-deps.sh --clients"
        );
        eprintln!("skipped: BullMQ is not installed (scripts/install-deps.sh --clients)");
        return;
    }
    let (node, addr) = start_with(Config::ephemeral()).await;
    let run = tokio::process::Command::new("node")
        .arg("check.mjs")
        .arg(addr.port().to_string())
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let output =
        tokio::time::timeout(Duration::from_secs(120), run).await.expect("BullMQ's check ends").unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "BullMQ's check failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ok all"), "{stdout}");
    node.shutdown().await.unwrap();
}
