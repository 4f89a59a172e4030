//! In-process clusters over [`LocalNet`]: replication, a leader cut off and
//! replaced (its writes refused), writes through lost and delayed messages,
//! a follower far behind caught up by snapshot, a restart, and formation
//! from seeds, a large write staged in parts.

use super::*;
use crate::config::Durability;
use crate::metrics::StorageMetrics;
use crate::storage::{MemoryBackend, layout};
use orbit_shared::ActorId;

const PARTITIONS: u16 = 4;

fn fast(snapshot_every: u64, keep: u64) -> Timings {
    Timings {
        heartbeat: Duration::from_millis(50),
        election: (Duration::from_millis(200), Duration::from_millis(400)),
        snapshot_every,
        keep_after_snapshot: keep,
    }
}

fn store() -> Arc<Store> {
    Arc::new(Store::new(
        Arc::new(MemoryBackend::default()),
        Durability::None,
        StorageMetrics::unregistered(),
        0,
    ))
}

struct Node {
    addr: String,
    store: Arc<Store>,
    cluster: Arc<Cluster>,
}

/// `n` nodes with every partition on every node, started by node 1.
async fn start(net: &Arc<LocalNet>, n: u64, timings: &Timings) -> Vec<Node> {
    let nodes: BTreeMap<NodeId, String> = (1..=n).map(|id| (id, format!("node-{id}"))).collect();
    let mut started = Vec::new();
    for (&id, addr) in &nodes {
        let identity =
            Identity { cluster_id: "test".into(), node_id: id, nodes: nodes.clone(), replication_factor: 3 };
        let store = store();
        let cluster = Cluster::open(
            identity,
            addr.clone(),
            store.clone(),
            PARTITIONS,
            net.transport(addr),
            timings,
            super::Notify::none(),
        )
        .await
        .expect("open");
        net.register(addr, cluster.clone());
        started.push(Node { addr: addr.clone(), store, cluster });
    }
    started[0].cluster.initialize(&nodes, 3, Duration::from_secs(10)).await.expect("initialize");
    started
}

/// Waits until some node leads `group` and all nodes not in `except` agree
/// on it; returns its index.
async fn leader_of(nodes: &[Node], group: GroupId, except: &[usize]) -> usize {
    for _ in 0..200 {
        let leaders: Vec<usize> = (0..nodes.len())
            .filter(|i| !except.contains(i) && nodes[*i].cluster.leader(group) == Leader::Local)
            .collect();
        if let [one] = leaders[..] {
            let id = nodes[one].cluster.node_id();
            let agreed = (0..nodes.len())
                .filter(|i| !except.contains(i) && *i != one)
                .all(|i| matches!(nodes[i].cluster.leader(group), Leader::Remote { node, .. } if node == id));
            if agreed {
                return one;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no agreed leader for group {group}");
}

fn key(p: GroupId, name: &str) -> Bytes {
    layout::actor_key(p, &ActorId::new("k", Bytes::copy_from_slice(name.as_bytes())))
}

fn put(p: GroupId, name: &str, value: &str) -> Vec<WriteOp> {
    vec![WriteOp::Put(key(p, name), Bytes::copy_from_slice(value.as_bytes()))]
}

async fn value(node: &Node, p: GroupId, name: &str) -> Option<String> {
    node.store.get(key(p, name)).await.expect("read").map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// Waits up to 5 s for `name` to read `want` on `node`.
async fn eventually(node: &Node, p: GroupId, name: &str, want: Option<&str>) {
    for _ in 0..100 {
        if value(node, p, name).await.as_deref() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{}: {name} is {:?}, not {want:?}", node.addr, value(node, p, name).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_replicate_and_a_cut_off_leader_is_replaced_and_refused() {
    let net = Arc::new(LocalNet::default());
    let nodes = start(&net, 3, &fast(10_000, 1_000)).await;
    let p = 1;
    let first = leader_of(&nodes, p, &[]).await;
    nodes[first].cluster.write(p, put(p, "a", "1")).await.expect("write on the leader");
    for node in &nodes {
        eventually(node, p, "a", Some("1")).await;
    }
    // A follower refuses writes and names the leader.
    let follower = (first + 1) % 3;
    match nodes[follower].cluster.write(p, put(p, "b", "x")).await {
        Err(Error::NotLeader { leader: Some(addr), .. }) => assert_eq!(addr, nodes[first].addr),
        other => panic!("a follower's write: {other:?}"),
    }

    // Cut the leader off: the others elect a new one, and the old leader's
    // write never commits.
    net.isolate(&nodes[first].addr);
    let refused =
        tokio::time::timeout(Duration::from_secs(2), nodes[first].cluster.write(p, put(p, "c", "lost")));
    let second = leader_of(&nodes, p, &[first]).await;
    assert_ne!(second, first);
    assert!(!matches!(refused.await, Ok(Ok(()))), "an isolated leader's write committed");
    nodes[second].cluster.write(p, put(p, "c", "kept")).await.expect("write on the new leader");
    assert!(nodes[first].cluster.serve(p).await.is_err(), "the cut-off node still serves");

    // Healed, the old leader follows and holds the new leader's write.
    net.heal();
    for node in &nodes {
        eventually(node, p, "c", Some("kept")).await;
        eventually(node, p, "a", Some("1")).await;
    }
    assert_eq!(leader_of(&nodes, p, &[]).await, second, "leadership moved back without a reason");
    for node in &nodes {
        node.cluster.shutdown().await;
    }
}

/// What the staging area of partition `p` holds on `node`.
async fn staged(node: &Node, p: GroupId) -> usize {
    node.store.scan(machine::staging_prefix(p, None), None, 1000).await.expect("scan").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_write_is_staged_and_applies_whole_or_not_at_all_and_fenced_writes_only_in_their_term() {
    let net = Arc::new(LocalNet::default());
    let nodes = start(&net, 3, &fast(10_000, 1_000)).await;
    let p = 2;
    let leader = leader_of(&nodes, p, &[]).await;
    let big = "x".repeat(1000);
    let ops: Vec<WriteOp> =
        (0..1000).map(|i| WriteOp::Put(key(p, &format!("k{i}")), Bytes::from(big.clone()))).collect();
    assert!(split(ops.clone(), MAX_ENTRY_BYTES).len() > 2, "the write must need several parts");
    nodes[leader].cluster.write(p, ops).await.expect("a staged write");
    for node in &nodes {
        eventually(node, p, "k0", Some(&big)).await;
        eventually(node, p, "k999", Some(&big)).await;
    }
    assert_eq!(staged(&nodes[leader], p).await, 0, "the commit clears its parts");

    // A part staged by a leader whose term then ends is cleared by the next
    // term's first entry, and its commit applies nothing.
    let g = nodes[leader].cluster.group(p).expect("group");
    let part = Command::Stage { id: 7, part: 0, ops: put(p, "s", "staged") };
    assert!(nodes[leader].cluster.propose(g, part).await.expect("stage"));
    assert_eq!(value(&nodes[leader], p, "s").await, None, "a staged part is not applied");
    for node in &nodes {
        let mut waited = 0;
        while staged(node, p).await != 1 {
            assert!(waited < 100, "{}: the part never arrived", node.addr);
            waited += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let first_term = nodes[leader].cluster.serve(p).await.expect("the leader serves");
    net.isolate(&nodes[leader].addr);
    let second = leader_of(&nodes, p, &[leader]).await;
    let g = nodes[second].cluster.group(p).expect("group");
    let commit = Command::Commit { id: 7, parts: 1, term: None, ops: put(p, "t", "committed") };
    assert!(!nodes[second].cluster.propose(g, commit).await.expect("commit"), "a commit missing a part");
    assert_eq!(value(&nodes[second], p, "s").await, None);
    assert_eq!(value(&nodes[second], p, "t").await, None);
    assert_eq!(staged(&nodes[second], p).await, 0);

    // Writes fenced by a term apply only in it: the first leader's term
    // is over, the second's is not.
    let late = nodes[second].cluster.write_in_term(p, put(p, "u", "late"), first_term).await;
    assert!(matches!(late, Err(Error::NotLeader { .. })), "a write fenced by an ended term: {late:?}");
    assert_eq!(value(&nodes[second], p, "u").await, None);
    let second_term = nodes[second].cluster.serve(p).await.expect("the new leader serves");
    assert!(second_term > first_term);
    nodes[second].cluster.write_in_term(p, put(p, "u", "now"), second_term).await.expect("in its term");
    assert_eq!(value(&nodes[second], p, "u").await.as_deref(), Some("now"));
    net.heal();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_far_behind_catches_up_by_snapshot() {
    let net = Arc::new(LocalNet::default());
    let nodes = start(&net, 3, &fast(20, 0)).await;
    let p = 2;
    let leader = leader_of(&nodes, p, &[]).await;
    let behind = (leader + 1) % 3;
    net.isolate(&nodes[behind].addr);
    for i in 0..120 {
        nodes[leader].cluster.write(p, put(p, &format!("k{i}"), &i.to_string())).await.expect("write");
    }
    nodes[leader].cluster.write(p, vec![WriteOp::Delete(key(p, "k7"))]).await.expect("delete");
    // The leader's log soon no longer reaches back to what the follower has.
    let g = nodes[leader].cluster.group(p).expect("group");
    let mut purged = 0;
    for _ in 0..100 {
        let (p, snapshot) = {
            let m = g.raft.metrics().borrow().clone();
            (m.purged.map_or(0, |l| l.index), m.snapshot)
        };
        purged = p;
        if purged > 20 {
            break;
        }
        eprintln!("purged {purged}, snapshot {snapshot:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(purged > 20, "the leader kept its whole log (purged up to {purged})");
    assert_eq!(value(&nodes[behind], p, "k100").await, None);

    net.heal();
    eventually(&nodes[behind], p, "k119", Some("119")).await;
    eventually(&nodes[behind], p, "k0", Some("0")).await;
    eventually(&nodes[behind], p, "k7", None).await;
    let installed = {
        let g = nodes[behind].cluster.group(p).expect("group");
        g.raft.metrics().borrow().snapshot
    };
    assert!(installed.is_some(), "the follower caught up without a snapshot");
    for node in &nodes {
        node.cluster.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_commit_and_replicas_converge_when_messages_are_lost_and_delayed() {
    let net = Arc::new(LocalNet::default());
    let nodes = start(&net, 3, &fast(10_000, 1_000)).await;
    let p = 0;
    leader_of(&nodes, p, &[]).await;
    // One message (or its answer) in seven is lost, every one is late.
    net.set_delay(Duration::from_millis(3));
    net.drop_one_in(7);
    let mut acked = Vec::new();
    for i in 0..40 {
        let (name, value) = (format!("lossy{i}"), i.to_string());
        // A write whose outcome is unknown (its leader moved) is retried
        // on the leader of the moment: writes are absolute, so a retry is safe.
        for _ in 0..50 {
            let leader = leader_of(&nodes, p, &[]).await;
            if nodes[leader].cluster.write(p, put(p, &name, &value)).await.is_ok() {
                acked.push((name.clone(), value.clone()));
                break;
            }
        }
    }
    assert_eq!(acked.len(), 40, "every write committed despite the losses");
    net.drop_one_in(0);
    net.set_delay(Duration::ZERO);
    for node in &nodes {
        for (name, value) in &acked {
            eventually(node, p, name, Some(value)).await;
        }
    }
    for node in &nodes {
        node.cluster.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_resumes_its_groups_from_its_store() {
    let net = Arc::new(LocalNet::default());
    let timings = fast(10_000, 1_000);
    let nodes = start(&net, 3, &timings).await;
    let p = 3;
    let leader = leader_of(&nodes, p, &[]).await;
    nodes[leader].cluster.write(p, put(p, "before", "1")).await.expect("write");
    for node in &nodes {
        eventually(node, p, "before", Some("1")).await;
    }
    // Stop one node and open its groups again over the same store.
    let restarted = (leader + 2) % 3;
    nodes[restarted].cluster.shutdown().await;
    let identity = nodes[restarted].cluster.identity.clone();
    let addr = nodes[restarted].addr.clone();
    let cluster = Cluster::open(
        identity,
        addr.clone(),
        nodes[restarted].store.clone(),
        PARTITIONS,
        net.transport(&addr),
        &timings,
        super::Notify::none(),
    )
    .await
    .expect("reopen");
    net.register(&addr, cluster.clone());
    let leader = leader_of(&nodes, p, &[restarted]).await;
    nodes[leader].cluster.write(p, put(p, "after", "2")).await.expect("write");
    let reopened = Node { addr, store: nodes[restarted].store.clone(), cluster };
    eventually(&reopened, p, "after", Some("2")).await;
    eventually(&reopened, p, "before", Some("1")).await;
    reopened.cluster.shutdown().await;
    for node in &nodes {
        node.cluster.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_form_one_cluster_and_frames_of_another_cluster_are_refused() {
    let net = Arc::new(LocalNet::default());
    let addrs: Vec<String> = (1..=3).map(|i| format!("seed-{i}")).collect();
    let mut formations = Vec::new();
    for addr in &addrs {
        let formation = Formation::new(addr.clone(), store(), net.transport(addr), super::Notify::none());
        net.register(addr, formation.clone());
        formations.push(formation);
    }
    let timings = fast(10_000, 1_000);
    let runs = formations.iter().map(|f| {
        let (f, seeds, timings) = (f.clone(), addrs.clone(), timings.clone());
        tokio::spawn(async move { f.run(&seeds, 3, 3, PARTITIONS, &timings, Duration::from_secs(20)).await })
    });
    let mut formed = Vec::new();
    for run in runs.collect::<Vec<_>>() {
        formed.push(run.await.expect("task").expect("formed"));
    }
    assert_eq!(formed.iter().filter(|f| f.bootstrapped).count(), 1, "one node bootstraps");
    let id = formed[0].cluster.cluster_id().to_string();
    assert!(formed.iter().all(|f| f.cluster.cluster_id() == id));
    let mut ids: Vec<NodeId> = formed.iter().map(|f| f.cluster.node_id()).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3]);
    let nodes: Vec<Node> = formed
        .iter()
        .zip(&addrs)
        .map(|(f, addr)| Node { addr: addr.clone(), store: store(), cluster: f.cluster.clone() })
        .collect();
    leader_of(&nodes, META_GROUP, &[]).await;
    // Each partition's first replica starts it, so leadership is spread.
    let mut leaders = BTreeSet::new();
    for p in 0..PARTITIONS {
        leaders.insert(leader_of(&nodes, p, &[]).await);
    }
    assert_eq!(leaders.len(), 3, "partition leaders: {leaders:?}");
    let leader = leader_of(&nodes, 0, &[]).await;
    nodes[leader].cluster.write(0, put(0, "x", "1")).await.expect("write");

    // A frame claiming another cluster is refused.
    let links = Links { transport: net.transport("stranger"), cluster_id: "other".into(), from: 9, group: 0 };
    let to = nodes[leader].cluster.node_id();
    let answer =
        transport::send_request(&links, to, &addrs[leader], 0, Request::Elect, Duration::from_secs(1)).await;
    assert!(matches!(&answer, Err(reason) if reason.contains("not other")), "{answer:?}");
    for node in &nodes {
        node.cluster.shutdown().await;
    }
}
