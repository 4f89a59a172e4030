//! Three `orbit-server` processes on 127.0.0.1-3 form one cluster from
//! seeds. Load goes through every node with the `redis` crate and
//! `orbit-client`; the node leading the most partitions is killed with
//! SIGKILL; every acknowledged write is then read back from every survivor,
//! the time until every partition serves again is printed, and the killed
//! node restarts, rejoins with its data and catches up. A node stopped with
//! SIGTERM under load hands its leadership over first: a client that
//! retries once sees no failed request. PUBLISH and SPUBLISH on one node
//! reach subscribers connected to another. `psql` and `pgbench` connected
//! to every node at once work on the same SQL data.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "common/linearizability.rs"]
mod linearizability;

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
    pg: SocketAddr,
}

/// Reads as many bytes as `expected` from a raw RESP connection and
/// compares them.
async fn expect_bytes(stream: &mut tokio::net::TcpStream, expected: &[u8]) {
    let mut got = vec![0u8; expected.len()];
    let read = tokio::io::AsyncReadExt::read_exact(stream, &mut got);
    tokio::time::timeout(Duration::from_secs(5), read).await.expect("the bytes arrive").unwrap();
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expected));
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
        .env("ORBIT__MCP__READ_ONLY", "false")
        .env("ORBIT__MCP__ALLOWED_HOSTS", r#"["127.0.0.1", "127.0.0.2", "127.0.0.3"]"#)
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
        pg: field("pg"),
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

/// Calls forwarded by all nodes together (`orbit_forwarded_calls_total`).
async fn forwarded(procs: &[Proc]) -> u64 {
    let mut total = 0;
    for p in procs {
        let (_, body) = common::http_get(p.http, "/metrics").await;
        total += body
            .lines()
            .find(|l| l.starts_with("orbit_forwarded_calls_total "))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0);
    }
    total
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

type RegisterHistory = Vec<(String, linearizability::Entry<linearizability::RegisterOp, Option<String>>)>;
type CounterHistory = Vec<(String, linearizability::Entry<i64, i64>)>;

/// SETs and GETs on five keys through the node at `addr` until `recording`
/// ends (at most 60), each with its outcome or as unknown when it failed.
async fn record_registers(
    addr: SocketAddr,
    task: usize,
    recording: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> RegisterHistory {
    use linearizability::{Entry, RegisterOp};
    let mut con = redis(addr).await;
    let mut history = Vec::new();
    for n in 0..60 {
        if !recording.load(std::sync::atomic::Ordering::Acquire) {
            break;
        }
        let key = format!("lin:{}", (n + task) % 5);
        let write = n % 3 != 2;
        let value = format!("{task}-{n}");
        let called = Instant::now();
        let mut cmd = if write { redis::cmd("SET") } else { redis::cmd("GET") };
        cmd.arg(&key);
        if write {
            cmd.arg(&value);
        }
        let reply =
            tokio::time::timeout(Duration::from_secs(2), cmd.query_async::<Option<String>>(&mut con)).await;
        let returned = match reply {
            Ok(Ok(read)) => Some((Instant::now(), if write { None } else { read })),
            _ => None,
        };
        let op = if write { RegisterOp::Write(value) } else { RegisterOp::Read };
        history.push((key, Entry { op, called, returned }));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    history
}

/// The ten keys transaction writer `task` increments together (one hash
/// tag: one partition).
fn tx_keys(task: usize) -> Vec<String> {
    (0..10).map(|k| format!("{{tx{task}}}:{k}")).collect()
}

/// `MULTI`, `INCR` on [`tx_keys`], `EXEC` through the node at `addr` until
/// `recording` ends (at most 80); the highest value a transaction was
/// acknowledged with.
async fn record_transactions(
    addr: SocketAddr,
    task: usize,
    recording: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> i64 {
    let mut con = redis(addr).await;
    let keys = tx_keys(task);
    let mut acked = 0;
    for _ in 0..80 {
        if !recording.load(std::sync::atomic::Ordering::Acquire) {
            break;
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in &keys {
            pipe.cmd("INCR").arg(key);
        }
        let reply =
            tokio::time::timeout(Duration::from_secs(2), pipe.query_async::<Vec<i64>>(&mut con)).await;
        if let Ok(Ok(values)) = reply {
            assert!(
                values.iter().all(|v| *v == values[0]),
                "one transaction saw its keys differ: {values:?}"
            );
            acked = acked.max(values[0]);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    acked
}

/// Increments and reads of three counters through orbit-client connected
/// to `addr`, like [`record_registers`].
async fn record_counters(
    addr: String,
    recording: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> CounterHistory {
    let client = Client::builder(addr).timeout(Duration::from_secs(2)).connect().await.unwrap();
    let mut history = Vec::new();
    for n in 0..60 {
        if !recording.load(std::sync::atomic::Ordering::Acquire) {
            break;
        }
        let key = format!("lincount:{}", n % 3);
        let counter = client.actor::<Counter>(key.clone());
        let by = if n % 4 == 3 { 0 } else { 1 };
        let called = Instant::now();
        let reply = if by == 0 { counter.call(Get {}).await } else { counter.call(Increment { by }).await };
        let returned = reply.ok().map(|value| (Instant::now(), value));
        history.push((key, linearizability::Entry { op: by, called, returned }));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    history
}

/// Checks every key's history for linearizability.
async fn check_histories(
    registers: Vec<tokio::task::JoinHandle<RegisterHistory>>,
    counters: Vec<tokio::task::JoinHandle<CounterHistory>>,
) {
    let mut by_key: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for task in registers {
        for (key, entry) in task.await.unwrap() {
            by_key.entry(key).or_default().push(entry);
        }
    }
    let (mut ops, mut unknown) = (0, 0);
    for (key, history) in &by_key {
        ops += history.len();
        unknown += history.iter().filter(|e| e.returned.is_none()).count();
        linearizability::check(&linearizability::Register, None, history)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    let mut by_counter: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for task in counters {
        for (key, entry) in task.await.unwrap() {
            by_counter.entry(key).or_default().push(entry);
        }
    }
    for (key, history) in &by_counter {
        ops += history.len();
        unknown += history.iter().filter(|e| e.returned.is_none()).count();
        linearizability::check(&linearizability::Counter, 0, history)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    assert!(ops > 100, "the histories recorded {ops} operations");
    eprintln!(
        "linearizable: {ops} operations on {} keys through the fault ({unknown} with unknown outcome)",
        by_key.len() + by_counter.len()
    );
}

/// The tests here run one at a time (three processes each on two cores).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Three founding nodes, started together.
async fn start_three(dirs: &[tempfile::TempDir]) -> (u16, Vec<Proc>) {
    let port = shared_port();
    let starting = (1..=3u8).map(|i| {
        let dir = dirs[usize::from(i - 1)].path().to_path_buf();
        tokio::spawn(async move { spawn(i, port, &dir).await })
    });
    let mut procs = Vec::new();
    for s in starting.collect::<Vec<_>>() {
        procs.push(s.await.unwrap());
    }
    (port, procs)
}

/// The index in `procs` of the node leading the most groups, and how many.
async fn busiest_leader(procs: &[Proc]) -> (usize, usize, usize) {
    let view = leaders(&procs[0]).await;
    let mut led: BTreeMap<u64, usize> = BTreeMap::new();
    for leader in view.values() {
        *led.entry(*leader).or_default() += 1;
    }
    assert!(!led.contains_key(&0), "every group has a leader: {view:?}");
    let (&id, &groups) = led.iter().max_by_key(|(_, n)| **n).expect("leaders");
    (procs.iter().position(|p| p.node_id == id).unwrap(), groups, view.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_with_sigterm_under_load_fails_no_request_retried_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_, mut procs) = start_three(&dirs).await;
    let (victim, groups, _) = busiest_leader(&procs).await;
    let survivors: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for (t, &s) in survivors.iter().enumerate() {
        let (addr, stop) = (procs[s].resp, stop.clone());
        load.push(tokio::spawn(async move {
            // A client as Jedis is by default: a reply within 2 s, or the
            // request failed (the redis crate's own default is 500 ms).
            let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
            let config =
                redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(2)));
            let mut con = client.get_multiplexed_async_connection_with_config(&config).await.unwrap();
            let (mut acked, mut failed) = (Vec::new(), Vec::new());
            let mut slowest = Duration::ZERO;
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Acquire) && n < 20_000 {
                let key = format!("load:{t}:{n}");
                let mut errors = Vec::new();
                let began = std::time::Instant::now();
                for _attempt in 0..2 {
                    let mut set = redis::cmd("SET");
                    set.arg(&key).arg(n);
                    match set.query_async::<()>(&mut con).await {
                        Ok(()) => break,
                        Err(e) => errors.push(e.to_string()),
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                slowest = slowest.max(began.elapsed());
                if errors.len() < 2 {
                    acked.push(key)
                } else {
                    failed.push((key, errors))
                }
                n += 1;
            }
            (acked, failed, slowest)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = procs[victim].child.id().expect("running");
    let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(status.success());
    let exited = tokio::time::timeout(Duration::from_secs(30), procs[victim].child.wait()).await;
    let exited = exited.expect("the node stops within 30 s of SIGTERM").unwrap();
    assert!(exited.success(), "the node exits cleanly: {exited}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Release);
    let mut acked = Vec::new();
    let mut slowest = Duration::ZERO;
    for task in load {
        let (ok, failed, slow) = task.await.unwrap();
        slowest = slowest.max(slow);
        assert!(
            failed.is_empty(),
            "requests failed twice while node {} (leader of {groups} groups) stopped: {failed:?}",
            procs[victim].node_id
        );
        acked.extend(ok);
    }
    assert!(acked.len() > 20, "the load ran ({} writes)", acked.len());
    eprintln!(
        "{} writes through the survivors while the leader of {groups} groups stopped with SIGTERM; the slowest took {slowest:?}",
        acked.len()
    );
    for &s in &survivors {
        let mut con = redis(procs[s].resp).await;
        for key in acked.iter().step_by(5) {
            let got: Option<String> = redis::cmd("GET").arg(key).query_async(&mut con).await.unwrap();
            assert!(got.is_some(), "{key} through node {}", procs[s].node_id);
        }
    }
    for p in &mut procs {
        let _ = p.child.start_kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_serve_every_key_and_lose_nothing_when_the_busiest_leader_is_killed() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (port, mut procs) = start_three(&dirs).await;
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
    // orbit-client learned the partition map and calls each leader
    // directly: no node forwards its calls.
    let routes = clients[0].routes().expect("a cluster's partition map");
    assert_eq!(routes.len(), usize::from(PARTITIONS));
    assert!(routes.iter().all(|(_, _, leader)| !leader.is_empty()), "{routes:?}");
    let before = forwarded(&procs).await;
    for n in 0..60 {
        let key = format!("direct:{n}");
        clients[0].actor::<Counter>(key.clone()).call(Increment { by: 1 }).await.unwrap();
        counts.insert(key, 1);
    }
    assert_eq!(forwarded(&procs).await, before, "calls of a routing client were forwarded");
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
    // So is a command whose keys follow a count.
    let cross: redis::RedisResult<redis::Value> =
        redis::cmd("ZMPOP").arg("2").arg("a").arg("b").arg("MIN").query_async(&mut cons[0]).await;
    let err = cross.expect_err("ZMPOP across partitions");
    assert!(err.to_string().to_uppercase().contains("CROSSSLOT"), "{err}");
    // So is a transaction across partitions, which applies nothing.
    let tx: redis::RedisResult<()> =
        redis::pipe().atomic().set("tx:a", "1").set("tx:b", "2").query_async(&mut cons[2]).await;
    let err = tx.expect_err("MULTI/EXEC across partitions");
    let text = err.to_string().to_uppercase();
    assert!(text.contains("CROSSSLOT") || text.contains("EXECABORT"), "{err}");
    for key in ["tx:a", "tx:b"] {
        let got: Option<String> = redis::cmd("GET").arg(key).query_async(&mut cons[0]).await.unwrap();
        assert_eq!(got, None, "{key} written by a refused transaction");
    }
    redis::cmd("MSET")
        .arg("{t}a")
        .arg("1")
        .arg("{t}b")
        .arg("2")
        .query_async::<()>(&mut cons[1])
        .await
        .unwrap();
    acked.insert("{t}a".into(), "1".into());
    acked.insert("{t}b".into(), "2".into());
    // A transaction through every node (the ones that do not lead its
    // partition send it there as one session): later commands see earlier
    // ones, and its writes land together.
    for (n, con) in cons.iter_mut().enumerate() {
        let (count, seen, other): (i64, String, i64) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg("{x}a")
            .cmd("GET")
            .arg("{x}a")
            .cmd("INCR")
            .arg("{x}b")
            .query_async(con)
            .await
            .unwrap();
        let n = n as i64 + 1;
        assert_eq!((count, seen.as_str(), other), (n, n.to_string().as_str(), n), "EXEC through node {n}");
    }
    acked.insert("{x}a".into(), "3".into());
    acked.insert("{x}b".into(), "3".into());

    // Every node reports the cluster in INFO.
    for con in cons.iter_mut() {
        let info: String = redis::cmd("INFO").arg("cluster").query_async(con).await.unwrap();
        for line in ["cluster_enabled:1", "cluster_known_nodes:3", "cluster_partitions_without_leader:0"] {
            assert!(info.contains(line), "{line} in {info}");
        }
    }

    // PUBLISH reaches subscribers connected to every node.
    for (from, to) in [(0, 2), (2, 1)] {
        let client = redis::Client::open(format!("redis://{}/", procs[to].resp)).unwrap();
        let mut sub = client.get_async_pubsub().await.unwrap();
        sub.subscribe("news").await.unwrap();
        let mut messages = sub.on_message();
        let _: i64 = redis::cmd("PUBLISH")
            .arg("news")
            .arg(format!("from {from}"))
            .query_async(&mut cons[from])
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut messages)).await;
        let got: String = got.expect("the message arrives").expect("a message").get_payload().unwrap();
        assert_eq!(got, format!("from {from}"), "published on node {from}, read on node {to}");
    }
    // So does SPUBLISH, to the shard channel's subscribers; shard channels
    // in different partitions are refused as keys are.
    let mut sub = tokio::net::TcpStream::connect(procs[1].resp).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut sub, b"SSUBSCRIBE a b\r\n").await.unwrap();
    expect_bytes(&mut sub, b"-CROSSSLOT Keys in request don't hash to the same slot\r\n").await;
    tokio::io::AsyncWriteExt::write_all(&mut sub, b"SSUBSCRIBE snews\r\n").await.unwrap();
    expect_bytes(&mut sub, b"*3\r\n$10\r\nssubscribe\r\n$5\r\nsnews\r\n:1\r\n").await;
    let _: i64 = redis::cmd("SPUBLISH").arg("snews").arg("sharded").query_async(&mut cons[0]).await.unwrap();
    expect_bytes(&mut sub, b"*3\r\n$8\r\nsmessage\r\n$5\r\nsnews\r\n$7\r\nsharded\r\n").await;

    // Kill the node that leads the most partitions.
    let (victim, victim_groups, groups) = busiest_leader(&procs).await;
    let victim_id = procs[victim].node_id;
    // Histories recorded through every node while the fault happens.
    let recording = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let registers: Vec<_> = procs
        .iter()
        .enumerate()
        .map(|(n, p)| tokio::spawn(record_registers(p.resp, n, recording.clone())))
        .collect();
    let counters: Vec<_> =
        procs.iter().map(|p| tokio::spawn(record_counters(p.grpc.to_string(), recording.clone()))).collect();
    let transactions: Vec<_> = procs
        .iter()
        .enumerate()
        .map(|(n, p)| tokio::spawn(record_transactions(p.resp, n, recording.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
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
    tokio::time::sleep(Duration::from_secs(1)).await;
    recording.store(false, std::sync::atomic::Ordering::Release);
    check_histories(registers, counters).await;
    // Every transaction landed whole or not at all: each writer's keys hold
    // one value, at least the last one acknowledged.
    for (task, writer) in transactions.into_iter().enumerate() {
        let acked = writer.await.unwrap();
        for &s in &survivors {
            let values: Vec<Option<i64>> =
                redis::cmd("MGET").arg(tx_keys(task)).query_async(&mut cons[s]).await.unwrap();
            let first = values[0].unwrap_or(0);
            assert!(
                values.iter().all(|v| v.unwrap_or(0) == first) && first >= acked,
                "transactions of writer {task} through node {}: {values:?}, acknowledged {acked}",
                procs[s].node_id
            );
        }
    }
    eprintln!(
        "node {victim_id} (leader of {victim_groups} of {} groups) killed: every partition served again after {:.2} s",
        groups,
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

/// `psql` through the PostgreSQL port `addr`: one statement, tuples only,
/// unaligned; its output, trimmed.
async fn psql(addr: SocketAddr, sql: &str) -> String {
    let run = tokio::process::Command::new("psql")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string(), "-U", "app", "-d", "orbit"])
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("psql through {addr} did not finish within 60 s: {sql}"))
        .unwrap();
    assert!(out.status.success(), "psql through {addr}: {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `pgbench` with `args` through the PostgreSQL port `addr`, bounded by
/// `limit`; its report.
async fn pgbench(addr: SocketAddr, args: &[&str], limit: Duration) -> String {
    let run = tokio::process::Command::new("pgbench")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string(), "-U", "app"])
        .args(args)
        .arg("orbit")
        .env("PGCONNECT_TIMEOUT", "10")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(limit, run)
        .await
        .unwrap_or_else(|_| panic!("pgbench {args:?} through {addr} did not finish within {limit:?}"))
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "pgbench {args:?} through {addr}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Calls MCP tool `tool` with `sql` through node `http`'s MCP endpoint (an
/// rmcp client over streamable HTTP); returns its structured result.
async fn mcp_sql(http: SocketAddr, tool: &'static str, sql: &str) -> serde_json::Value {
    use rmcp::ServiceExt;
    let client = rmcp::model::ClientConfig::default()
        .serve(rmcp::transport::StreamableHttpClientTransport::from_uri(format!("http://{http}/mcp")))
        .await
        .expect("MCP client initializes");
    let serde_json::Value::Object(args) = serde_json::json!({ "sql": sql }) else { unreachable!() };
    let params = rmcp::model::CallToolRequestParams::new(tool).with_arguments(args);
    let result = client.call_tool(params).await.expect("MCP tool call");
    assert_ne!(result.is_error, Some(true), "{tool} {sql:?} through {http}: {:?}", result.content);
    let _ = client.cancel().await;
    result.structured_content.expect("structured result")
}

/// Every node serves the same SQL data: a table created through one node
/// is written through another and read through the third, also with MCP's
/// SQL tools through every node; `pgbench -i`
/// loads its tables through one node, then three `pgbench` runs of the
/// TPC-B-like script, one connected to each node, commit every transaction,
/// and every node reads balances that add up to the history's deltas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_with_clients_on_every_node_keeps_balances_consistent() {
    if !common::require_program("pgbench") || !common::require_program("psql") {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_, mut procs) = start_three(&dirs).await;
    let pg: Vec<SocketAddr> = procs.iter().map(|p| p.pg).collect();

    assert_eq!(psql(pg[1], "CREATE TABLE t (id INT PRIMARY KEY, v TEXT)").await, "CREATE TABLE");
    assert_eq!(psql(pg[2], "INSERT INTO t VALUES (1, 'a')").await, "INSERT 0 1");
    assert_eq!(psql(pg[0], "SELECT v FROM t WHERE id = 1").await, "a");
    assert_eq!(psql(pg[1], "SELECT v FROM t WHERE id = 1").await, "a");

    // MCP's SQL tools run where the SQL data is led too, from any node.
    for (n, p) in procs.iter().enumerate() {
        let insert = format!("INSERT INTO t VALUES ({}, 'mcp')", 10 + n);
        let done = mcp_sql(p.http, "sql_execute", &insert).await;
        assert_eq!(done["results"][0]["command"], "INSERT 0 1", "through node {}: {done}", n + 1);
    }
    for p in &procs {
        let counted = mcp_sql(p.http, "sql_query", "SELECT count(*) AS n FROM t WHERE v = 'mcp'").await;
        assert_eq!(counted["results"][0]["rows"][0][0], 3, "{counted}");
    }
    assert_eq!(psql(pg[2], "SELECT count(*) FROM t").await, "4");

    pgbench(pg[1], &["-i", "-s", "1", "-q"], Duration::from_secs(300)).await;
    assert_eq!(psql(pg[0], "SELECT count(*) FROM pgbench_accounts").await, "100000");

    // Without -n each run would truncate pgbench_history as it starts,
    // under the other runs' feet.
    let (clients, per_client) = (4u64, 50u64);
    let (c, t) = (clients.to_string(), per_client.to_string());
    let run = ["-n", "-c", c.as_str(), "-t", t.as_str()];
    let reports =
        futures::future::join_all(pg.iter().map(|&addr| pgbench(addr, &run, Duration::from_secs(120)))).await;
    for (n, report) in reports.iter().enumerate() {
        let processed = report
            .lines()
            .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
            .unwrap_or_else(|| panic!("no transaction count through node {}: {report}", n + 1));
        let (done, planned) =
            processed.trim().split_once('/').unwrap_or_else(|| panic!("not N/M: {processed}"));
        assert_eq!(done, planned, "transactions through node {}: {report}", n + 1);
        assert_eq!(planned, (clients * per_client).to_string(), "{report}");
        assert!(report.contains("number of failed transactions: 0 "), "{report}");
        for line in report.lines().filter(|l| l.starts_with("tps") || l.starts_with("latency average")) {
            println!("pgbench through node {}: {line}", n + 1);
        }
    }

    let sums = "SELECT (SELECT sum(abalance) FROM pgbench_accounts), \
                (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT sum(bbalance) FROM pgbench_branches), \
                (SELECT sum(delta) FROM pgbench_history), (SELECT count(*) FROM pgbench_history)";
    let first = psql(pg[0], sums).await;
    let values: Vec<&str> = first.split('|').collect();
    let [accounts, tellers, branches, deltas, history] = values[..] else {
        panic!("five columns: {first}");
    };
    assert_eq!(history, (3 * clients * per_client).to_string(), "history rows: {first}");
    assert_eq!(accounts, deltas, "{first}");
    assert_eq!(tellers, deltas, "{first}");
    assert_eq!(branches, deltas, "{first}");
    for (n, &addr) in pg.iter().enumerate().skip(1) {
        assert_eq!(psql(addr, sums).await, first, "the sums through node {}", n + 1);
    }
    for p in &mut procs {
        let _ = p.child.start_kill();
    }
}

/// What the Redis front door keeps per key follows writes made through
/// other nodes once its node applies them: a client blocked in BLPOP on one
/// node is served by an RPUSH through another, long before its timeout,
/// and a WATCH on one node makes EXEC fail after a SET through another.
/// PostgreSQL LISTEN and NOTIFY meet Redis pub/sub across nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_pops_and_watches_see_writes_made_through_other_nodes() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_, mut procs) = start_three(&dirs).await;
    let mut writer = redis(procs[0].resp).await;

    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(60)));
    let client = redis::Client::open(format!("redis://{}/", procs[2].resp)).unwrap();
    let mut waiter = client.get_multiplexed_async_connection_with_config(&config).await.unwrap();
    let blocked = tokio::spawn(async move {
        redis::cmd("BLPOP").arg("jobs").arg(30).query_async::<Option<(String, String)>>(&mut waiter).await
    });
    // Give the BLPOP time to block on node 3 before the push.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if blocked.is_finished() {
        panic!("BLPOP returned before anything was pushed: {:?}", blocked.await);
    }
    let pushed: i64 = redis::cmd("RPUSH").arg("jobs").arg("j1").query_async(&mut writer).await.unwrap();
    assert_eq!(pushed, 1);
    let popped = tokio::time::timeout(Duration::from_secs(10), blocked)
        .await
        .expect("the blocked client is served well before its 30 s timeout")
        .unwrap()
        .unwrap();
    assert_eq!(popped, Some(("jobs".to_string(), "j1".to_string())));

    let mut watcher = redis(procs[1].resp).await;
    let () = redis::cmd("WATCH").arg("w").query_async(&mut watcher).await.unwrap();
    let () = redis::cmd("SET").arg("w").arg("theirs").query_async(&mut writer).await.unwrap();
    // Node 2 applies the SET shortly after node 1 has its answer.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let exec: Option<((),)> =
        redis::pipe().atomic().set("w", "mine").query_async(&mut watcher).await.unwrap();
    assert_eq!(exec, None, "EXEC ran although a watched key was written through another node");
    let value: String =
        redis::cmd("GET").arg("w").query_async(&mut redis(procs[2].resp).await).await.unwrap();
    assert_eq!(value, "theirs");

    // A PostgreSQL session LISTENing through node 3 hears a Redis PUBLISH
    // on node 1, and a NOTIFY through node 2 reaches a Redis subscriber on
    // node 1.
    let (pg, mut heard) = common::sql::listener(procs[2].pg).await;
    pg.batch_execute("LISTEN news").await.unwrap();
    let client = redis::Client::open(format!("redis://{}/", procs[0].resp)).unwrap();
    let mut sub = client.get_async_pubsub().await.unwrap();
    sub.subscribe("news").await.unwrap();
    let mut messages = sub.on_message();
    let _: i64 = redis::cmd("PUBLISH").arg("news").arg("from redis").query_async(&mut writer).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .expect("LISTEN hears PUBLISH")
        .unwrap();
    assert_eq!((n.channel(), n.payload()), ("news", "from redis"));
    let got = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut messages)).await;
    assert_eq!(got.unwrap().unwrap().get_payload::<String>().unwrap(), "from redis");
    let notifier = common::sql::connect(procs[1].pg).await;
    notifier.batch_execute("NOTIFY news, 'from sql'").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut messages)).await;
    let got: String = got.expect("the subscriber hears NOTIFY").unwrap().get_payload().unwrap();
    assert_eq!(got, "from sql");
    let n = tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .expect("LISTEN hears NOTIFY")
        .unwrap();
    assert_eq!((n.channel(), n.payload()), ("news", "from sql"));
    for p in &mut procs {
        let _ = p.child.start_kill();
    }
}

/// Active expiry is the partition leader's: keys given a TTL through one
/// node expire on their own (nobody reads them) after that node is killed,
/// the leaders' sweeps delete them from every replica, and subscribers on
/// another node get each key's `expired` event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_given_a_ttl_through_a_killed_node_expire_on_their_partitions_leaders() {
    let _one = ONE_AT_A_TIME.lock().await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (_, mut procs) = start_three(&dirs).await;
    let keys: Vec<String> = key_per_partition("ttl").into_values().collect();
    let mut survivors = [redis(procs[0].resp).await, redis(procs[1].resp).await];
    for con in survivors.iter_mut() {
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("notify-keyspace-events")
            .arg("Ex")
            .query_async(con)
            .await
            .unwrap();
    }
    let client = redis::Client::open(format!("redis://{}/", procs[1].resp)).unwrap();
    let mut sub = client.get_async_pubsub().await.unwrap();
    sub.subscribe("__keyevent@0__:expired").await.unwrap();
    let mut events = sub.on_message();

    // Every key is set through node 3, which dies before the keys are due.
    let mut setter = redis(procs[2].resp).await;
    for key in &keys {
        let () =
            redis::cmd("SET").arg(key).arg("v").arg("PX").arg(4000).query_async(&mut setter).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: u64 = redis::cmd("DBSIZE").query_async(&mut survivors[0]).await.unwrap();
        if n == keys.len() as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "node 1 applied {n} of {} keys", keys.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    procs[2].child.start_kill().unwrap();
    procs[2].child.wait().await.unwrap();

    // DBSIZE counts stored keys, expired or not: it reaches 0 only once
    // the keys are deleted.
    let deadline = Instant::now() + Duration::from_secs(30);
    for con in survivors.iter_mut() {
        loop {
            let n: u64 = redis::cmd("DBSIZE").query_async(con).await.unwrap();
            if n == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{n} keys still stored 30 s after their TTL was set");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let mut expired = std::collections::BTreeSet::new();
    while expired.len() < keys.len() {
        let event = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut events)).await;
        let key: String =
            event.expect("an expired event for every key").expect("a message").get_payload().unwrap();
        expired.insert(key);
    }
    assert_eq!(
        expired,
        keys.iter().cloned().collect(),
        "an expired event per key, on a survivor's subscribers"
    );
    for p in &mut procs {
        let _ = p.child.start_kill();
    }
}
