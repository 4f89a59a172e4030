//! The `orbit-server` binary as a process: crash safety after `kill -9`
//! (acknowledged writes, reminders, calls with idempotency keys), graceful
//! SIGTERM, configuration output.

#![allow(clippy::unwrap_used)]

mod common;

use orbit_client::Client;
use orbit_shared::actors::counter::{Counter, Get, Increment};
use tokio::process::Command;

use common::{Spawned as Server, spawn_node as start};

impl Server {
    async fn client(&self) -> Client {
        Client::connect(self.grpc.to_string()).await.expect("client connects")
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path()).await;
    let client = server.client().await;
    // Acknowledged writes, from concurrent callers on several actors.
    let tasks: Vec<_> = (0..8)
        .map(|k| {
            let counter = client.actor::<Counter>(format!("crash-{k}"));
            tokio::spawn(async move {
                for _ in 0..25 {
                    counter.call(Increment { by: 1 }).await.expect("acknowledged");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    server.child.kill().await.unwrap(); // SIGKILL: no shutdown code runs.

    let server = start(dir.path()).await;
    let client = server.client().await;
    for k in 0..8 {
        let value = client.actor::<Counter>(format!("crash-{k}")).call(Get {}).await.unwrap();
        assert_eq!(value, 25, "crash-{k} lost acknowledged increments");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_fire_after_kill_9_and_restart() {
    use orbit_shared::actors::reminders::{List, Remind, Reminders};
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path()).await;
    let client = server.client().await;
    let remind = Remind {
        kind: "counter".into(),
        name: "tick".into(),
        period_ms: 200,
        due_ms: None,
        method: "increment".into(),
        args: serde_json::json!({"by": 1}),
    };
    // Registered through gRPC, as any actor call: the acknowledged reminder
    // is durable.
    client.actor::<Reminders>("reminded").call(remind).await.unwrap();
    server.child.kill().await.unwrap();

    let server = start(dir.path()).await;
    let client = server.client().await;
    let listed = client.actor::<Reminders>("reminded").call(List::default()).await.unwrap();
    assert_eq!(listed.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["tick"]);
    let counter = client.actor::<Counter>("reminded");
    let start_value = counter.call(Get {}).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while counter.call(Get {}).await.unwrap() < start_value + 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let value = counter.call(Get {}).await.unwrap();
    assert!(value >= start_value + 3, "the reminder fired {} times after the restart", value - start_value);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_retried_with_its_idempotency_key_is_applied_once_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path()).await;
    let client = server.client().await;
    let counter = client.actor::<Counter>("paid");
    assert_eq!(counter.call_once("payment-1", Increment { by: 30 }).await.unwrap(), 30);
    // The client did not see that reply (say its connection dropped) and
    // retries: same reply, applied once.
    assert_eq!(counter.call_once("payment-1", Increment { by: 30 }).await.unwrap(), 30);
    assert_eq!(counter.call(Get {}).await.unwrap(), 30);
    server.child.kill().await.unwrap();

    let server = start(dir.path()).await;
    let client = server.client().await;
    let counter = client.actor::<Counter>("paid");
    assert_eq!(counter.call_once("payment-1", Increment { by: 30 }).await.unwrap(), 30);
    assert_eq!(counter.call_once("payment-2", Increment { by: 12 }).await.unwrap(), 42);
    assert_eq!(counter.call(Get {}).await.unwrap(), 42, "a retried payment was applied twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_and_restart_restores_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path()).await;
    let client = server.client().await;
    assert_eq!(client.actor::<Counter>("graceful").call(Increment { by: 7 }).await.unwrap(), 7);
    server.signal("-TERM");
    let status = server.child.wait().await.unwrap();
    assert!(status.success(), "SIGTERM exit status {status}");

    let server = start(dir.path()).await;
    let client = server.client().await;
    assert_eq!(client.actor::<Counter>("graceful").call(Get {}).await.unwrap(), 7);
    let readiness = std::net::TcpStream::connect(server.http);
    assert!(readiness.is_ok(), "HTTP port is up after restart");
}

#[tokio::test]
async fn print_config_shows_flags_and_environment() {
    let output = Command::new(env!("CARGO_BIN_EXE_orbit-server"))
        .args(["--print-config", "--storage", "memory", "--grpc-addr", "127.0.0.1:7000"])
        .env("ORBIT__ACTORS__MAILBOX_CAPACITY", "77")
        .output()
        .await
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let config: toml::Value = toml::from_str(&text).expect("printed config is TOML");
    assert_eq!(config["storage"]["backend"].as_str(), Some("memory"));
    assert_eq!(config["grpc"]["addr"].as_str(), Some("127.0.0.1:7000"));
    assert_eq!(config["actors"]["mailbox_capacity"].as_integer(), Some(77));
    assert_eq!(config["http"]["addr"].as_str(), Some("0.0.0.0:8080"));
}

#[tokio::test]
async fn bad_configuration_exits_with_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_orbit-server"))
        .args(["--print-config"])
        .env("ORBIT__NODE__PARTITIONS", "0")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("partitions must be between 1 and 16384"), "{stderr}");
}
