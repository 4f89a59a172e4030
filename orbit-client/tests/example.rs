//! The `counter` example against a fresh node: two runs print 1, then 2.

#![allow(clippy::unwrap_used)]

use orbit_server::{Config, Node};
use std::path::PathBuf;

/// `target/<profile>/examples/counter`, built by `cargo test` beside the tests.
fn example_binary() -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    let profile_dir = test_binary.parent().and_then(|deps| deps.parent()).unwrap();
    let example = profile_dir.join("examples").join("counter");
    assert!(example.exists(), "{} is missing; `cargo test -p orbit-client` builds it", example.display());
    example
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_prints_1_then_2_against_a_fresh_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::ephemeral();
    config.storage.backend = orbit_server::config::StorageKind::Lsm;
    config.node.data_dir = dir.path().to_path_buf();
    let node = Node::builder(config).with_builtin_kinds().start().await.unwrap();
    let addr = format!("http://{}", node.grpc_addr().unwrap());
    for expected in ["1\n", "2\n"] {
        let output = tokio::process::Command::new(example_binary())
            .args(["--addr", &addr, "--key", "example", "--by", "1"])
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
    }
    node.shutdown().await.unwrap();
}

#[tokio::test]
async fn example_reports_an_unreachable_node() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let output = tokio::process::Command::new(example_binary())
        .args(["--addr", &format!("http://{unused}")])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot connect"));
}
