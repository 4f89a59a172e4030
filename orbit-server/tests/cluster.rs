//! Three `orbit-server` processes on 127.0.0.1-3 form one cluster from
//! seeds. Load goes through every node with the `redis` crate and
//! `orbit-client`; the node leading the most partitions is killed with
//! SIGKILL; every acknowledged write is then read back from every survivor,
//! the time until every partition serves again is printed, and the killed
//! node restarts, rejoins with its data and catches up.

mod common;

use orbit_client::Client;
use orbit_server::partition::partition_of;
use orbit_shared::actors::counter::{Counter, Get, Increment};
use orbit_shared::slot::slot_of;
use redis::aio::MultiplexedConnection;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const PARTITIONS: u16 = 64;

struct Proc {
    child: tokio::process::Child,
    node_id: u64,
    grpc: SocketAddr,
    http: SocketAddr,
    resp: SocketAddr,
}

/// A port free on 127.0.0.1, .2 and .3 alike.
fn shared_port() -> u16 {
    for _ in 0..50 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        let free = (2..=3).all(|i| std::net::TcpListener::bind(format!("127.0.0.{i}:{port}")).is_ok());
        if free {
            return port;
        }
    }
    panic!("no port free on 127.0.0.1-3");
}

fn seeds(port: u16) -> String {
    (1..=3).map(|i| format!("127.0.0.{i}:{port}")).collect::<Vec<_>>().join(",")
}

/// Starts node `i` (on 127.0.0.`i`) and waits until it is ready.
async fn spawn(i: u8, port: u16, dir: &Path) -> Proc {
    let ip = format!("127.0.0.{i}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orbit-server"))
        .args(["--data-dir", dir.to_str().unwrap(), "--durability", "always"])
        .args(["--grpc-addr", &format!("{ip}:{port}"), "--http-addr", &format!("{ip}:0")])
        .args(["--resp-addr", &format!("{ip}:0"), "--pg-addr", &format!("{ip}:0")])
        .args(["--seeds", &seeds(port), "--bootstrap-expect", "3"])
        .env("RUST_LOG", "info")
        .env("ORBIT__CLUSTER__HEARTBEAT_INTERVAL", "100ms")
        .env("ORBIT__CLUSTER__ELECTION_TIMEOUT", "500ms")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("orbit-server starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut node_id = None;
    let ready = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("server exited before it was ready");
            if line.contains("joined the cluster") {
                let at = line.find("node=").expect("node id in the join line") + 5;
                node_id = line[at..].split_whitespace().next().and_then(|n| n.parse::<u64>().ok());
            }
            if line.contains("node ready") {
                return line;
            }
        }
    })
    .await
    .expect("node ready within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let field = |name: &str| -> SocketAddr {
        let start = ready.find(&format!("{name}=")).expect("address in ready line") + name.len() + 1;
        ready[start..].split_whitespace().next().unwrap().parse().unwrap()
    };
    Proc {
        child,
        node_id: node_id.expect("joined line"),
        grpc: field("grpc"),
        http: field("http"),
        resp: field("resp"),
    }
}

async fn redis(addr: SocketAddr) -> MultiplexedConnection {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// The leader of each group as node `p` reports it (`orbit_raft_leader`).
async fn leaders(p: &Proc) -> BTreeMap<String, u64> {
    let (status, body) = common::http_get(p.http, "/metrics").await;
    assert_eq!(status, 200);
    body.lines()
        .filter(|l| l.starts_with("orbit_raft_leader{"))
        .filter_map(|l| {
            let group = l.split('"').nth(1)?.to_string();
            let leader = l.rsplit(' ').next()?.parse().ok()?;
            Some((group, leader))
        })
        .collect()
}

/// The last applied log index of each group on `p`.
async fn applied(p: &Proc) -> BTreeMap<String, u64> {
    let (status, body) = common::http_get(p.http, "/metrics").await;
    assert_eq!(status, 200);
    body.lines()
        .filter(|l| l.starts_with("orbit_raft_applied_index{"))
        .filter_map(|l| Some((l.split('"').nth(1)?.to_string(), l.rsplit(' ').next()?.parse().ok()?)))
        .collect()
}

/// A key of each partition.
fn key_per_partition(prefix: &str) -> BTreeMap<u16, String> {
    let mut keys = BTreeMap::new();
    let mut n = 0u32;
    while keys.len() < usize::from(PARTITIONS) {
        let key = format!("{prefix}{n}");
        keys.entry(partition_of(slot_of(key.as_bytes()), PARTITIONS)).or_insert(key);
        n += 1;
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_serve_every_key_and_lose_nothing_when_the_busiest_leader_is_killed() {
    let port = shared_port();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let starting = (1..=3u8).map(|i| {
        let dir = dirs[usize::from(i - 1)].path().to_path_buf();
        tokio::spawn(async move { spawn(i, port, &dir).await })
    });
    let mut procs = Vec::new();
    for s in starting.collect::<Vec<_>>() {
        procs.push(s.await.unwrap());
    }
    let mut ids: Vec<u64> = procs.iter().map(|p| p.node_id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3], "the founders are numbered 1-3");

    // Writes through every node: SETs with the redis crate, counter calls
    // with orbit-client. Every acknowledged write is remembered.
    let mut cons = Vec::new();
    let mut clients = Vec::new();
    for p in &procs {
        cons.push(redis(p.resp).await);
        clients.push(Client::connect(p.grpc.to_string()).await.unwrap());
    }
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    for n in 0..300 {
        let (key, value) = (format!("key:{n}"), format!("value-{n}"));
        let _: () = redis::cmd("SET").arg(&key).arg(&value).query_async(&mut cons[n % 3]).await.unwrap();
        acked.insert(key, value);
    }
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for n in 0..90 {
        let key = format!("hits:{}", n % 30);
        let value = clients[n % 3].actor::<Counter>(key.clone()).call(Increment { by: 1 }).await.unwrap();
        counts.insert(key, value);
    }
    for (n, con) in cons.iter_mut().enumerate() {
        for (key, value) in acked.iter().skip(n).step_by(7) {
            let got: Option<String> = redis::cmd("GET").arg(key).query_async(con).await.unwrap();
            assert_eq!(got.as_deref(), Some(value.as_str()), "GET {key} through node {n}");
        }
    }
    // A multi-key command across partitions is refused as Redis Cluster does.
    let cross: redis::RedisResult<()> =
        redis::cmd("MSET").arg("a").arg("1").arg("b").arg("2").query_async(&mut cons[0]).await;
    let err = cross.expect_err("MSET across partitions");
    assert!(err.to_string().to_uppercase().contains("CROSSSLOT"), "{err}");
    let tagged: () =
        redis::cmd("MSET").arg("{t}a").arg("1").arg("{t}b").arg("2").query_async(&mut cons[1]).await.unwrap();
    let _ = tagged;
    acked.insert("{t}a".into(), "1".into());
    acked.insert("{t}b".into(), "2".into());

    // Kill the node that leads the most partitions.
    let view = leaders(&procs[0]).await;
    let mut led: BTreeMap<u64, usize> = BTreeMap::new();
    for leader in view.values() {
        *led.entry(*leader).or_default() += 1;
    }
    let (&victim_id, &victim_groups) = led.iter().max_by_key(|(_, n)| **n).expect("leaders");
    assert!(victim_id > 0, "every group has a leader: {view:?}");
    let victim = procs.iter().position(|p| p.node_id == victim_id).unwrap();
    procs[victim].child.start_kill().unwrap();
    procs[victim].child.wait().await.unwrap();
    let killed_at = Instant::now();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != victim).collect();

    // Every partition serves again: a write to a key of each partition
    // succeeds through a survivor.
    let probes = key_per_partition("probe:");
    let mut pending: Vec<(u16, String)> = probes.into_iter().collect();
    let deadline = killed_at + Duration::from_secs(30);
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{} partitions still not serving 30 s after the kill",
            pending.len()
        );
        let mut still = Vec::new();
        for (n, (p, key)) in pending.into_iter().enumerate() {
            let con = &mut cons[survivors[n % 2]];
            let mut set = redis::cmd("SET");
            set.arg(&key).arg("after");
            match tokio::time::timeout(Duration::from_secs(2), set.query_async::<()>(con)).await {
                Ok(Ok(())) => {
                    acked.insert(key, "after".into());
                }
                _ => still.push((p, key)),
            }
        }
        pending = still;
    }
    let failover = killed_at.elapsed();
    eprintln!(
        "node {victim_id} (leader of {victim_groups} of {} groups) killed: every partition served again after {:.2} s",
        view.len(),
        failover.as_secs_f64()
    );

    // Nothing acknowledged is lost, read from every survivor.
    for &s in &survivors {
        for (key, value) in &acked {
            let got: Option<String> = redis::cmd("GET").arg(key).query_async(&mut cons[s]).await.unwrap();
            assert_eq!(
                got.as_deref(),
                Some(value.as_str()),
                "GET {key} through node {} after the kill",
                procs[s].node_id
            );
        }
        for (key, value) in &counts {
            let got = clients[s].actor::<Counter>(key.clone()).call(Get {}).await.unwrap();
            assert_eq!(got, *value, "counter {key} through node {}", procs[s].node_id);
        }
    }
    // Writes go on while the node is down.
    for n in 0..50 {
        let (key, value) = (format!("down:{n}"), format!("d{n}"));
        let con = &mut cons[survivors[n % 2]];
        let _: () = redis::cmd("SET").arg(&key).arg(&value).query_async(con).await.unwrap();
        acked.insert(key, value);
    }

    // What the survivors have applied, group by group.
    let mut target: BTreeMap<String, u64> = BTreeMap::new();
    for &s in &survivors {
        for (group, index) in applied(&procs[s]).await {
            let entry = target.entry(group).or_default();
            *entry = (*entry).max(index);
        }
    }
    assert_eq!(target.len(), usize::from(PARTITIONS) + 1, "every group is reported");

    // The killed node restarts with its data, rejoins, and serves every key.
    let dir = dirs[victim].path().to_path_buf();
    let i = procs[victim].grpc.ip().to_string().rsplit('.').next().unwrap().parse::<u8>().unwrap();
    procs[victim] = spawn(i, port, &dir).await;
    assert_eq!(procs[victim].node_id, victim_id, "the restarted node keeps its identity");
    let mut back = redis(procs[victim].resp).await;
    for (key, value) in &acked {
        let got: Option<String> = redis::cmd("GET").arg(key).query_async(&mut back).await.unwrap();
        assert_eq!(got.as_deref(), Some(value.as_str()), "GET {key} through the restarted node");
    }
    // Its replicas catch up: every group reaches what the survivors had
    // applied before it came back.
    let caught_up = Instant::now() + Duration::from_secs(30);
    loop {
        let applied = applied(&procs[victim]).await;
        let behind: Vec<&String> = target
            .iter()
            .filter(|(g, want)| applied.get(*g).is_none_or(|a| a < *want))
            .map(|(g, _)| g)
            .collect();
        if behind.is_empty() {
            break;
        }
        assert!(Instant::now() < caught_up, "the restarted node did not catch up on groups {behind:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for p in &mut procs {
        let _ = p.child.start_kill();
    }
}
