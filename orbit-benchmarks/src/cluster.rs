//! `orbit-bench cluster`: a three-node cluster (replication factor 3)
//! against a single node, all on this machine. Every node runs the `lsm`
//! backend with `--durability always` on a fresh data directory under the
//! current directory; cluster node `i` listens on 127.0.0.`i`, gRPC on a
//! port shared by the three.
//!
//! Sections, each skippable with `--skip`:
//!
//! - throughput: `redis-benchmark -t set,get -r 100000 -P 1` against the
//!   node, and against the cluster as one process per node at once with a
//!   third of the connections and requests each (req/s summed, p50/p99 the
//!   highest of the three);
//! - client: closed-loop orbit-client `increment` calls on random counters,
//!   spread over connections to every node;
//! - pgbench: `pgbench -i` through the first node, then the TPC-B-like
//!   script and select-only (`-S`), both with `-n`, against the node, and
//!   against the cluster as one process per node at once with a third of
//!   the clients each (tps summed, average latency the highest of the
//!   three); every node carries its PostgreSQL connections to the node
//!   leading the SQL data;
//! - idle: CPU time of each node process over a quiet period after the load;
//! - failover: repeatedly SIGKILL the node leading the most raft groups and
//!   time until a write to every partition succeeds through the survivors;
//!   the node then restarts on its data directory and catches up before the
//!   next kill.
//!
//! Markdown tables go to stdout once everything ran, progress to stderr. A
//! section that failed keeps its row (`error: ...`) and fails the command
//! after the tables.

use crate::pg_vs_postgres::{self, DATABASE, Stats as PgbenchStats, finish, parse_report};
use crate::resp_vs_redis::{Stats, redis_benchmark_csv};
use crate::spawn::Server;
use anyhow::{Context, bail, ensure};
use hdrhistogram::Histogram;
use orbit_client::Client;
use orbit_server::partition::partition_of;
use orbit_shared::actors::counter::{Counter, Increment};
use orbit_shared::slot::slot_of;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

#[derive(clap::Args)]
pub struct Args {
    /// The server binary (build it with `cargo build --release -p orbit-server`); by default
    /// the one next to this binary.
    #[arg(long, default_value_t = crate::spawn::default_server_bin())]
    server_bin: String,
    /// Requests per redis-benchmark test (`-n`); split evenly over the nodes of the cluster.
    #[arg(long, default_value_t = 50_000)]
    requests: u64,
    /// redis-benchmark connections (`-c`); split evenly over the nodes of the cluster.
    #[arg(long, default_value_t = 50)]
    clients: u32,
    /// Length of each orbit-client run and of each pgbench run (`pgbench -T`).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// orbit-client callers, each with one call in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// pgbench clients (`pgbench -c`); split evenly over the nodes of the cluster.
    #[arg(long, default_value_t = 12)]
    pgbench_clients: u32,
    /// pgbench scale factor (`pgbench -i -s`): 100,000 accounts per unit.
    #[arg(long, default_value_t = 1)]
    pgbench_scale: u32,
    /// How long idle CPU is measured.
    #[arg(long, default_value_t = 10)]
    idle_seconds: u64,
    /// Kills of the busiest leader in the failover section.
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// Raft election timeout of the cluster nodes (the nodes' default); their heartbeat
    /// interval is a third of it.
    #[arg(long, default_value_t = 600)]
    election_timeout_ms: u64,
    /// Sections to leave out, comma-separated.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<Section>,
}

impl Args {
    fn skips(&self, section: Section) -> bool {
        self.skip.contains(&section)
    }

    fn heartbeat_ms(&self) -> u64 {
        self.election_timeout_ms / 3
    }

    /// The raft timings every cluster node gets, as environment variables.
    fn timings(&self) -> Vec<(String, String)> {
        vec![
            ("ORBIT__CLUSTER__ELECTION_TIMEOUT".to_string(), format!("{}ms", self.election_timeout_ms)),
            ("ORBIT__CLUSTER__HEARTBEAT_INTERVAL".to_string(), format!("{}ms", self.heartbeat_ms())),
        ]
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Section {
    Throughput,
    Client,
    Pgbench,
    Idle,
    Failover,
}

/// The sections run on the single node as well as on the cluster.
const COMPARED: [Section; 4] = [Section::Throughput, Section::Client, Section::Pgbench, Section::Idle];

/// The storage backend of every node.
const STORAGE: &str = "lsm";

/// Flags every node gets after the common ones.
const DURABLE: [&str; 2] = ["--durability", "always"];

/// The nodes' partition count (`node.partitions`, 64 by default).
const PARTITIONS: u16 = 64;

/// Raft groups of the cluster: one per partition and the metadata group.
const GROUPS: usize = PARTITIONS as usize + 1;

/// Distinct counters the orbit-client callers pick from.
const KEYS: u64 = 10_000;

/// redis-benchmark's random key space (`-r`).
const KEYSPACE: &str = "100000";

/// orbit-client connections to each node.
const CONNECTIONS_PER_NODE: usize = 2;

/// The pgbench runs, as (row name, flags). `-n` leaves out the vacuum that
/// would start each run by emptying `pgbench_history` under the feet of the
/// cluster's other processes.
const PGBENCH_RUNS: [(&str, &[&str]); 2] = [("TPC-B", &["-n"]), ("-S", &["-S", "-n"])];

/// The pgbench looked up on `PATH`.
const PGBENCH: &str = "pgbench";

/// Where the probe keys' names start (one key per partition).
const PROBE_PREFIX: &str = "cluster-probe:";

/// A node start (a cluster's formation, a restart) taking longer is an error.
const START_LIMIT: Duration = Duration::from_secs(60);

/// How long after a kill every partition must serve again; also bounds the
/// wait until a new cluster serves.
const FAILOVER_LIMIT: Duration = Duration::from_secs(60);

/// How long a restarted node may take to catch up.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);

/// How long a node may take to know a leader for every group.
const LEADER_LIMIT: Duration = Duration::from_secs(60);

/// Deadline of one probe write.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Deadline of one `/metrics` read.
const METRICS_TIMEOUT: Duration = Duration::from_secs(5);

/// Deadline of one orbit-client call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A redis-benchmark process still running after this long is killed, as
/// is a pgbench run this long after its `-T`, or `pgbench -i` this long per
/// unit of its scale.
const BENCHMARK_LIMIT: Duration = Duration::from_secs(600);

/// Quiet time between the end of the load and the idle CPU reading.
const SETTLE: Duration = Duration::from_secs(2);

/// Pause between two readings of a node's metrics.
const POLL: Duration = Duration::from_millis(200);

/// Pause between two rounds of probes.
const RETRY: Duration = Duration::from_millis(50);

/// A section's result, or why there is none.
type Outcome<T> = Result<T, String>;

/// redis-benchmark's rows: per test (`SET`, `GET`), its numbers.
type Results = Vec<(String, Stats)>;

/// Per entry of [`PGBENCH_RUNS`], its name and its numbers.
type PgbenchRuns = Vec<(&'static str, Outcome<PgbenchStats>)>;

/// Per node (its id, `-` for the single node), CPU time as % of one core.
type IdleCpu = Vec<(String, f64)>;

/// What the compared sections measured on one deployment; `None` when skipped.
#[derive(Default)]
struct Loads {
    throughput: Option<Outcome<Results>>,
    client: Option<Outcome<Calls>>,
    /// An error when the tables could not be loaded; each run's own otherwise.
    pgbench: Option<Outcome<PgbenchRuns>>,
    idle: Option<Outcome<IdleCpu>>,
}

impl Loads {
    fn failed(&self) -> bool {
        let pgbench_failed = match &self.pgbench {
            Some(Ok(runs)) => runs.iter().any(|(_, run)| run.is_err()),
            Some(Err(_)) => true,
            None => false,
        };
        matches!(self.throughput, Some(Err(_)))
            || matches!(self.client, Some(Err(_)))
            || pgbench_failed
            || matches!(self.idle, Some(Err(_)))
    }
}

/// One orbit-client run.
struct Calls {
    connections: usize,
    calls: u64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// The failover times in seconds, and what stopped the kills early, if anything.
struct Failovers {
    seconds: Vec<f64>,
    error: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    ensure!(args.election_timeout_ms >= 3, "--election-timeout-ms must be at least 3");
    let all = [Section::Throughput, Section::Client, Section::Pgbench, Section::Idle, Section::Failover];
    ensure!(all.iter().any(|s| !args.skips(*s)), "every section is skipped");
    if !args.skips(Section::Throughput) {
        let version = tokio::process::Command::new("redis-benchmark").arg("--version").output().await;
        version.context("cannot run redis-benchmark (apt-get install redis-tools)")?;
    }
    let pgbench_version = if args.skips(Section::Pgbench) {
        None
    } else {
        let version = pg_vs_postgres::version(Path::new(PGBENCH)).await;
        let needed = "pgbench is needed for the pgbench section (scripts/install-deps.sh --peers installs \
                      it, --skip pgbench leaves the section out)";
        Some(version.context(needed)?)
    };
    let compared = COMPARED.iter().any(|s| !args.skips(*s));
    let one = if compared { single_node(&args).await? } else { Loads::default() };
    let (three, failovers) = three_nodes(&args).await?;

    if !args.skips(Section::Throughput) {
        print_throughput(&args, &one.throughput, &three.throughput);
    }
    if !args.skips(Section::Client) {
        print_client(&args, &one.client, &three.client);
    }
    if let Some(version) = &pgbench_version {
        print_pgbench(&args, version, &one.pgbench, &three.pgbench);
    }
    if !args.skips(Section::Idle) {
        print_idle(&args, &one.idle, &three.idle);
    }
    if let Some(failovers) = &failovers {
        print_failovers(&args, failovers);
    }
    let failover_failed = failovers.as_ref().is_some_and(|f| f.error.is_some());
    if one.failed() || three.failed() || failover_failed {
        bail!("some measurements failed (see the tables)");
    }
    Ok(())
}

/// The compared sections on one node without a cluster.
async fn single_node(args: &Args) -> anyhow::Result<Loads> {
    let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
    eprintln!("[1 node] starting");
    let start = Server::start_with(&args.server_bin, dir.path(), STORAGE, &DURABLE);
    let server = within(START_LIMIT, "single node start", start).await?;
    let loads = measure(args, "1 node", &[&server]).await;
    server.kill().await?;
    Ok(loads)
}

/// The compared sections, then the failovers, on a new three-node cluster.
async fn three_nodes(args: &Args) -> anyhow::Result<(Loads, Option<Failovers>)> {
    let mut cluster = Cluster::start(args).await?;
    let servers: Vec<&Server> = cluster.members.iter().map(|m| &m.server).collect();
    let loads = measure(args, "3 nodes", &servers).await;
    let failovers = if args.skips(Section::Failover) {
        None
    } else {
        let mut seconds = Vec::new();
        let error = kill_leaders(args, &mut cluster, &mut seconds).await.err().map(|e| {
            eprintln!("[failover] failed: {e:#}");
            format!("{e:#}")
        });
        Some(Failovers { seconds, error })
    };
    if let Err(e) = cluster.stop().await {
        eprintln!("[3 nodes] stopping: {e:#}");
    }
    Ok((loads, failovers))
}

/// The compared sections not skipped, against `servers` (one node, or every
/// node of the cluster).
async fn measure(args: &Args, label: &str, servers: &[&Server]) -> Loads {
    let mut loads = Loads::default();
    if !args.skips(Section::Throughput) {
        eprintln!("[{label}] redis-benchmark -t set,get");
        let resp: Vec<&str> = servers.iter().map(|s| s.resp.as_str()).collect();
        loads.throughput = Some(outcome(label, throughput(args, &resp).await));
    }
    if !args.skips(Section::Client) {
        eprintln!("[{label}] orbit-client increments for {} s", args.seconds);
        let grpc: Vec<&str> = servers.iter().map(|s| s.grpc.as_str()).collect();
        loads.client = Some(outcome(label, client_calls(args, &grpc).await));
    }
    if !args.skips(Section::Pgbench) {
        let pg: Vec<&str> = servers.iter().map(|s| s.pg.as_str()).collect();
        loads.pgbench = Some(outcome(label, pgbench(args, label, &pg).await));
    }
    if !args.skips(Section::Idle) {
        eprintln!("[{label}] idle CPU over {} s", args.idle_seconds);
        loads.idle = Some(outcome(label, idle_cpu(args, servers).await));
    }
    loads
}

/// `result` kept for the tables: an error becomes its message, also
/// printed to stderr now.
fn outcome<T>(label: &str, result: anyhow::Result<T>) -> Outcome<T> {
    result.map_err(|e| {
        eprintln!("[{label}] failed: {e:#}");
        format!("{e:#}")
    })
}

/// `work`'s result, or an error naming `what` if it takes longer than `limit`.
async fn within<T>(
    limit: Duration,
    what: &str,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => bail!("{what}: not done within {} s", limit.as_secs()),
    }
}

/// One node of the local cluster: its place (127.0.0.`index`), its id and
/// its process.
struct Member {
    index: u8,
    node_id: u64,
    server: Server,
}

impl Member {
    async fn start(args: &Args, index: u8, port: u16, dir: &Path) -> anyhow::Result<Member> {
        let bin = &args.server_bin;
        let server = Server::start_member(bin, dir, STORAGE, index, port, &DURABLE, &args.timings()).await?;
        let node_id =
            server.node_id.with_context(|| format!("node on 127.0.0.{index} printed no node id"))?;
        Ok(Member { index, node_id, server })
    }
}

/// Three `orbit-server` processes on 127.0.0.1-3 forming one cluster.
struct Cluster {
    /// Declared before `dirs`: on drop the processes are killed before
    /// their directories are removed.
    members: Vec<Member>,
    /// Node `i`'s data directory at `i - 1`.
    dirs: Vec<tempfile::TempDir>,
    /// The gRPC port of every node.
    port: u16,
}

impl Cluster {
    /// Starts the three founders together (each is ready only once the
    /// cluster formed) and waits until every partition serves.
    async fn start(args: &Args) -> anyhow::Result<Cluster> {
        let port = crate::spawn::shared_port()?;
        let mut dirs = Vec::new();
        for _ in 0..3 {
            dirs.push(tempfile::tempdir_in(std::env::current_dir()?)?);
        }
        eprintln!("[3 nodes] starting on 127.0.0.1-3, gRPC port {port}");
        let founders = async {
            tokio::try_join!(
                Member::start(args, 1, port, dirs[0].path()),
                Member::start(args, 2, port, dirs[1].path()),
                Member::start(args, 3, port, dirs[2].path()),
            )
        };
        let (first, second, third) = within(START_LIMIT, "cluster formation", founders).await?;
        let cluster = Cluster { members: vec![first, second, third], dirs, port };
        cluster.wait_serving().await?;
        Ok(cluster)
    }

    /// Waits until every node knows a leader for every group and a write to
    /// each partition succeeds.
    async fn wait_serving(&self) -> anyhow::Result<()> {
        for member in &self.members {
            leader_view(&member.server).await?;
        }
        serve_all(&key_per_partition(PROBE_PREFIX), &self.resp_addrs(), Instant::now()).await?;
        Ok(())
    }

    /// The RESP address of every live node.
    fn resp_addrs(&self) -> Vec<String> {
        self.members.iter().map(|m| m.server.resp.clone()).collect()
    }

    /// Starts node `index` again on its data directory, with the same flags.
    async fn restart(&self, args: &Args, index: u8) -> anyhow::Result<Member> {
        let dir = self.dirs.get(usize::from(index) - 1).context("no data directory for the node")?;
        eprintln!("[3 nodes] restarting the node on 127.0.0.{index}");
        within(START_LIMIT, "restart", Member::start(args, index, self.port, dir.path())).await
    }

    /// SIGKILL of every node, waiting for each to be gone.
    async fn stop(self) -> anyhow::Result<()> {
        for member in self.members {
            member.server.kill().await?;
        }
        Ok(())
    }
}

/// `redis-benchmark` SET and GET against every RESP address in `resp` at
/// once, each with an equal share of the connections and requests; per
/// test, req/s summed and p50/p99 the highest of the processes.
async fn throughput(args: &Args, resp: &[&str]) -> anyhow::Result<Results> {
    let nodes = resp.len() as u64;
    let (clients, requests) = (share(u64::from(args.clients), nodes), share(args.requests, nodes));
    let mut runs = Vec::new();
    for addr in resp {
        let flags = benchmark_flags(addr, clients, requests)?;
        runs.push(tokio::spawn(async move { redis_benchmark_csv(&flags, BENCHMARK_LIMIT).await }));
    }
    let mut results = Vec::new();
    for run in runs {
        results.push(run.await.map_err(anyhow::Error::from).and_then(|result| result));
    }
    let results = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    combine(&results)
}

/// `total` split evenly over `nodes`, at least 1.
fn share(total: u64, nodes: u64) -> u64 {
    (total / nodes.max(1)).max(1)
}

/// The redis-benchmark flags (`--csv` aside) for the node at `addr`.
fn benchmark_flags(addr: &str, clients: u64, requests: u64) -> anyhow::Result<Vec<String>> {
    let (host, port) = addr.rsplit_once(':').with_context(|| format!("RESP address {addr:?} has no port"))?;
    let (clients, requests) = (clients.to_string(), requests.to_string());
    let flags =
        ["-h", host, "-p", port, "-t", "set,get", "-r", KEYSPACE, "-P", "1", "-c", &clients, "-n", &requests];
    Ok(flags.map(str::to_string).into())
}

/// Per test, in the first run's order: req/s summed over `runs`, p50 and
/// p99 the highest.
fn combine(runs: &[Results]) -> anyhow::Result<Results> {
    let first = runs.first().context("no redis-benchmark run")?;
    first
        .iter()
        .map(|(test, _)| {
            let mut total = Stats { rps: 0.0, p50_ms: 0.0, p99_ms: 0.0 };
            for run in runs {
                let found = run.iter().find(|(name, _)| name == test);
                let (_, stats) = found.with_context(|| format!("no {test} result from one of the nodes"))?;
                total.rps += stats.rps;
                total.p50_ms = total.p50_ms.max(stats.p50_ms);
                total.p99_ms = total.p99_ms.max(stats.p99_ms);
            }
            Ok((test.clone(), total))
        })
        .collect()
}

/// pgbench's tables loaded through the first of `pg` (`pgbench -i -q -s
/// <--pgbench-scale>`), then each of [`PGBENCH_RUNS`] for `--seconds`
/// against every PostgreSQL address in `pg` at once, each process with an
/// equal share of `--pgbench-clients`. A run that fails keeps its error and
/// the next one still runs; `label` prefixes the progress lines on stderr.
async fn pgbench(args: &Args, label: &str, pg: &[&str]) -> anyhow::Result<PgbenchRuns> {
    let addrs = pg.iter().map(|addr| {
        addr.parse::<SocketAddr>().with_context(|| format!("PostgreSQL address {addr:?} of orbit-server"))
    });
    let addrs = addrs.collect::<anyhow::Result<Vec<_>>>()?;
    let first = *addrs.first().context("no node to run pgbench against")?;
    eprintln!("[{label}] pgbench -i -s {} through {first}", args.pgbench_scale);
    let mut init = pg_vs_postgres::connect(Path::new(PGBENCH), first);
    init.args(["-i", "-q", "-s", &args.pgbench_scale.to_string(), DATABASE]);
    finish(init, BENCHMARK_LIMIT.saturating_mul(args.pgbench_scale.max(1)), "pgbench -i").await?;
    let clients = share(u64::from(args.pgbench_clients), addrs.len() as u64);
    let mut runs = Vec::new();
    for (name, flags) in PGBENCH_RUNS {
        eprintln!("[{label}] pgbench {name}, -c {clients} against each node for {} s", args.seconds);
        let run =
            outcome(&format!("{label}, pgbench {name}"), pgbench_run(args, &addrs, clients, flags).await);
        if let Ok(stats) = &run {
            eprintln!("[{label}] {:.0} tps, {} transactions", stats.tps, stats.processed);
        }
        runs.push((name, run));
    }
    Ok(runs)
}

/// One pgbench run of `flags` for `--seconds`: a process with `clients`
/// clients against each of `addrs`, all at once, combined by
/// [`combine_pgbench`].
async fn pgbench_run(
    args: &Args,
    addrs: &[SocketAddr],
    clients: u64,
    flags: &[&str],
) -> anyhow::Result<PgbenchStats> {
    let limit = Duration::from_secs(args.seconds) + BENCHMARK_LIMIT;
    let (clients, seconds) = (clients.to_string(), args.seconds.to_string());
    let mut processes = Vec::new();
    for addr in addrs {
        let mut command = pg_vs_postgres::connect(Path::new(PGBENCH), *addr);
        command.args(flags).args(["-c", &clients, "-T", &seconds, DATABASE]);
        processes.push(tokio::spawn(finish(command, limit, "pgbench")));
    }
    let mut reports = Vec::new();
    for process in processes {
        reports.push(process.await.map_err(anyhow::Error::from).and_then(|report| report));
    }
    let mut runs = Vec::new();
    for (addr, report) in addrs.iter().zip(reports) {
        let stats = report.and_then(|text| parse_report(&text));
        let stats = stats.with_context(|| format!("pgbench against {addr}"))?;
        ensure!(stats.processed > 0, "pgbench against {addr} processed no transaction");
        runs.push(stats);
    }
    combine_pgbench(&runs)
}

/// pgbench processes run at once as one: tps, transactions and failed
/// transactions summed, average latency the highest.
fn combine_pgbench(runs: &[PgbenchStats]) -> anyhow::Result<PgbenchStats> {
    ensure!(!runs.is_empty(), "no pgbench run");
    Ok(PgbenchStats {
        tps: runs.iter().map(|run| run.tps).sum(),
        latency_ms: runs.iter().map(|run| run.latency_ms).fold(0.0, f64::max),
        processed: runs.iter().map(|run| run.processed).sum(),
        failed: runs.iter().map(|run| run.failed).sum(),
    })
}

/// Closed-loop orbit-client load for `--seconds`: `--concurrency` callers,
/// each sending its next `increment` (on a random one of [`KEYS`]
/// counters) when the previous one returns, spread over
/// [`CONNECTIONS_PER_NODE`] connections to each node of `grpc`.
async fn client_calls(args: &Args, grpc: &[&str]) -> anyhow::Result<Calls> {
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS_PER_NODE {
        for addr in grpc {
            let connect = Client::builder(*addr).timeout(CALL_TIMEOUT).connect();
            clients.push(connect.await.with_context(|| format!("connect to {addr}"))?);
        }
    }
    ensure!(!clients.is_empty(), "no node to call");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let callers: Vec<_> = (0..args.concurrency)
        .map(|i| tokio::spawn(increments(clients[i % clients.len()].clone(), i as u64, deadline)))
        .collect();
    let mut all = Histogram::<u64>::new(3)?;
    for caller in callers {
        all.add(caller.await??)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Calls {
        connections: clients.len(),
        calls: all.len(),
        per_second: all.len() as f64 / elapsed,
        p50_ms: all.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: all.value_at_quantile(0.99) as f64 / 1000.0,
    })
}

/// One caller's `increment` calls until `deadline`; their latencies in µs.
async fn increments(client: Client, seed: u64, deadline: Instant) -> anyhow::Result<Histogram<u64>> {
    let mut latencies = Histogram::<u64>::new(3)?;
    let mut keys = Xorshift::new(seed);
    while Instant::now() < deadline {
        let counter = client.actor::<Counter>(format!("cluster-bench-{}", keys.draw() % KEYS));
        let begun = Instant::now();
        counter.call(Increment { by: 1 }).await?;
        latencies.record(begun.elapsed().as_micros() as u64)?;
    }
    Ok(latencies)
}

/// A xorshift64 sequence: the callers' random keys without a dependency.
struct Xorshift(u64);

impl Xorshift {
    /// Nearby seeds give unrelated sequences; the state is never 0.
    fn new(seed: u64) -> Xorshift {
        Xorshift(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn draw(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// After [`SETTLE`], each server's CPU time (user + system) over
/// `--idle-seconds`, as % of one core, labelled with its node id.
async fn idle_cpu(args: &Args, servers: &[&Server]) -> anyhow::Result<IdleCpu> {
    tokio::time::sleep(SETTLE).await;
    let ticks_per_second = clock_ticks() as f64;
    let pids = servers.iter().map(|s| s.pid().context("the server exited"));
    let pids = pids.collect::<anyhow::Result<Vec<_>>>()?;
    let before = pids.iter().map(|pid| cpu_ticks(*pid)).collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let after = pids.iter().map(|pid| cpu_ticks(*pid)).collect::<anyhow::Result<Vec<_>>>()?;
    let seconds = started.elapsed().as_secs_f64();
    let labels = servers.iter().map(|s| s.node_id.map_or_else(|| "-".to_string(), |id| id.to_string()));
    Ok(labels
        .zip(before.iter().zip(&after))
        .map(|(label, (before, after))| {
            let cpu_seconds = after.saturating_sub(*before) as f64 / ticks_per_second;
            (label, 100.0 * cpu_seconds / seconds)
        })
        .collect())
}

/// Clock ticks per second (`getconf CLK_TCK`), the unit of /proc CPU
/// times; 100, Linux's value on every architecture, if getconf cannot say.
fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok()?.trim().parse::<u64>().ok())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100)
}

/// utime + stime of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    stat_cpu_ticks(&stat).with_context(|| format!("parse {path}"))
}

/// Fields 14 (utime) and 15 (stime) of a `/proc/<pid>/stat` line, summed.
/// Field 2, the command name, is in parentheses and may hold spaces, so
/// fields are counted after its closing one (which starts at field 3).
fn stat_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let (_, rest) = stat.rsplit_once(')').context("no command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> anyhow::Result<u64> {
        let text = fields.get(n - 3).with_context(|| format!("no field {n}"))?;
        text.parse().with_context(|| format!("field {n} is {text:?}"))
    };
    Ok(field(14)? + field(15)?)
}

/// `--kills` times: SIGKILL the node leading the most groups, time until a
/// write to every partition succeeds through the survivors (pushed to
/// `seconds`), then restart the node on its data directory and wait until
/// it applied, in every group, what the survivors had applied once the
/// partitions served again.
async fn kill_leaders(args: &Args, cluster: &mut Cluster, seconds: &mut Vec<f64>) -> anyhow::Result<()> {
    let probes = key_per_partition(PROBE_PREFIX);
    for kill in 1..=args.kills {
        let (at, groups) = busiest_leader(&cluster.members).await?;
        let victim = cluster.members.remove(at);
        let (index, node_id) = (victim.index, victim.node_id);
        victim.server.kill().await?;
        let killed_at = Instant::now();
        let served = serve_all(&probes, &cluster.resp_addrs(), killed_at).await?;
        seconds.push(served.as_secs_f64());
        eprintln!(
            "[failover {kill}/{}] node {node_id} (leader of {groups} of {GROUPS} groups) killed: \
             every partition served again after {:.2} s",
            args.kills,
            served.as_secs_f64()
        );
        let target = applied_max(&cluster.members).await?;
        let back = cluster.restart(args, index).await?;
        ensure!(back.node_id == node_id, "node {node_id} came back as node {}", back.node_id);
        caught_up(&back, &target).await?;
        cluster.members.insert(at, back);
    }
    Ok(())
}

/// A key of each partition, as the node places keys
/// (`partition_of(slot_of(key))`), found by counting up from `prefix`0.
fn key_per_partition(prefix: &str) -> Vec<(u16, String)> {
    let mut keys = BTreeMap::new();
    let mut n = 0u64;
    while keys.len() < usize::from(PARTITIONS) {
        let key = format!("{prefix}{n}");
        keys.entry(partition_of(slot_of(key.as_bytes()), PARTITIONS)).or_insert(key);
        n += 1;
    }
    keys.into_iter().collect()
}

/// Rounds of concurrent probes, the key of each partition not yet served
/// through one of `resp` in turn, until every partition took a write; the
/// time from `since` to the last success. Not done within
/// [`FAILOVER_LIMIT`] of `since` is an error.
async fn serve_all(probes: &[(u16, String)], resp: &[String], since: Instant) -> anyhow::Result<Duration> {
    ensure!(!resp.is_empty(), "no node to probe");
    let mut pending = probes.to_vec();
    let mut last = since;
    let mut round = 0;
    while !pending.is_empty() {
        if since.elapsed() >= FAILOVER_LIMIT {
            let partitions: Vec<u16> = pending.iter().map(|(partition, _)| *partition).collect();
            bail!("partitions {partitions:?} not serving after {} s", FAILOVER_LIMIT.as_secs());
        }
        let mut probing = JoinSet::new();
        for (n, (partition, key)) in pending.drain(..).enumerate() {
            let addr = resp[(n + round) % resp.len()].clone();
            probing.spawn(async move {
                let served = probe(&addr, &key).await.then(Instant::now);
                (partition, key, served)
            });
        }
        while let Some(done) = probing.join_next().await {
            match done? {
                (_, _, Some(at)) => last = last.max(at),
                (partition, key, None) => pending.push((partition, key)),
            }
        }
        round += 1;
        if !pending.is_empty() {
            tokio::time::sleep(RETRY).await;
        }
    }
    let served = last.duration_since(since);
    ensure!(served <= FAILOVER_LIMIT, "the partitions served again only after {:.2} s", served.as_secs_f64());
    Ok(served)
}

/// `SET key x` over a new RESP connection to `resp`: whether `+OK` came
/// back within [`PROBE_TIMEOUT`].
async fn probe(resp: &str, key: &str) -> bool {
    let set = async {
        let mut stream = TcpStream::connect(resp).await?;
        let command = format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\nx\r\n", key.len());
        stream.write_all(command.as_bytes()).await?;
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).await?;
        anyhow::Ok(reply == "+OK\r\n")
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, set).await, Ok(Ok(true)))
}

/// The index in `members` of the node leading the most groups, as the
/// first of them sees it, and how many groups it leads.
async fn busiest_leader(members: &[Member]) -> anyhow::Result<(usize, usize)> {
    let first = members.first().context("no live node")?;
    let view = leader_view(&first.server).await?;
    let mut led: BTreeMap<u64, usize> = BTreeMap::new();
    for leader in view.values() {
        *led.entry(*leader).or_default() += 1;
    }
    let (&id, &groups) = led.iter().max_by_key(|(_, groups)| **groups).context("no group leaders")?;
    let at = members.iter().position(|m| m.node_id == id);
    let at = at.with_context(|| format!("group leader {id} is none of the live nodes"))?;
    Ok((at, groups))
}

/// The leader of each group as `server` knows it, once it knows one for
/// every group; polled for at most [`LEADER_LIMIT`].
async fn leader_view(server: &Server) -> anyhow::Result<BTreeMap<String, u64>> {
    let deadline = Instant::now() + LEADER_LIMIT;
    loop {
        let view = gauge(&metrics(&server.http).await?, "orbit_raft_leader");
        if view.len() == GROUPS && view.values().all(|leader| *leader != 0) {
            return Ok(view);
        }
        ensure!(
            Instant::now() < deadline,
            "node at {} knows no leader for some groups after {} s: {view:?}",
            server.grpc,
            LEADER_LIMIT.as_secs()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Per group, the highest applied log index any of `members` reports.
async fn applied_max(members: &[Member]) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut target: BTreeMap<String, u64> = BTreeMap::new();
    for member in members {
        for (group, index) in gauge(&metrics(&member.server.http).await?, "orbit_raft_applied_index") {
            let highest = target.entry(group).or_default();
            *highest = (*highest).max(index);
        }
    }
    ensure!(target.len() == GROUPS, "{} groups report an applied index, expected {GROUPS}", target.len());
    Ok(target)
}

/// Waits, at most [`CATCH_UP_LIMIT`], until `member` applied at least
/// `target` in every group.
async fn caught_up(member: &Member, target: &BTreeMap<String, u64>) -> anyhow::Result<()> {
    let deadline = Instant::now() + CATCH_UP_LIMIT;
    loop {
        let applied = gauge(&metrics(&member.server.http).await?, "orbit_raft_applied_index");
        let behind: Vec<&String> = target
            .iter()
            .filter(|(group, want)| applied.get(*group).is_none_or(|index| index < *want))
            .map(|(group, _)| group)
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "node {} did not catch up within {} s on groups {behind:?}",
            member.node_id,
            CATCH_UP_LIMIT.as_secs()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The Prometheus text a node serves at `http://<http>/metrics`. Asked over
/// HTTP/1.0, so the body is never chunked and ends with the connection.
async fn metrics(http: &str) -> anyhow::Result<String> {
    let fetch = async {
        let mut stream = TcpStream::connect(http).await?;
        stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        anyhow::Ok(response)
    };
    let what = format!("GET http://{http}/metrics");
    let response = within(METRICS_TIMEOUT, "read", fetch).await.with_context(|| what.clone())?;
    let (head, body) =
        response.split_once("\r\n\r\n").with_context(|| format!("{what}: no end of headers"))?;
    let status = head.lines().next().unwrap_or_default();
    ensure!(status.split(' ').nth(1) == Some("200"), "{what}: {status}");
    Ok(body.to_string())
}

/// Per `group` label, the value of gauge `name` in Prometheus text.
fn gauge(text: &str, name: &str) -> BTreeMap<String, u64> {
    let prefix = format!("{name}{{");
    text.lines()
        .filter(|line| line.starts_with(&prefix))
        .filter_map(|line| {
            let group = line.split('"').nth(1)?.to_string();
            let value: f64 = line.rsplit(' ').next()?.parse().ok()?;
            Some((group, value as u64))
        })
        .collect()
}

/// A measured section's value, or why there is none.
fn measured<T>(section: &Option<Outcome<T>>) -> Result<&T, String> {
    match section {
        Some(Ok(value)) => Ok(value),
        Some(Err(reason)) => Err(reason.clone()),
        None => Err("not measured".to_string()),
    }
}

fn error_cell(reason: &str) -> String {
    format!("error: {}", reason.replace('|', "\\|"))
}

fn print_throughput(args: &Args, one: &Option<Outcome<Results>>, three: &Option<Outcome<Results>>) {
    let (clients, requests) = (share(u64::from(args.clients), 3), share(args.requests, 3));
    println!("\n### SET and GET over RESP, 1 node vs 3 nodes (RF 3)\n");
    println!(
        "`redis-benchmark -t set,get -r {KEYSPACE} -P 1 -c {} -n {}` against the node; against the \
         cluster one `-c {clients} -n {requests}` per node at once (req/s summed, p50/p99 the \
         highest of the three)\n",
        args.clients, args.requests
    );
    println!("| test | 1 node req/s | 3 nodes req/s | ratio 3/1 | 1 node p50/p99 ms | 3 nodes p50/p99 ms |");
    println!("|---|---|---|---|---|---|");
    for test in ["SET", "GET"] {
        let (one, three) = (test_stats(one, test), test_stats(three, test));
        let ratio = match (&one, &three) {
            (Ok(one), Ok(three)) if one.rps > 0.0 => format!("{:.2}", three.rps / one.rps),
            _ => "-".to_string(),
        };
        println!(
            "| {test} | {} | {} | {ratio} | {} | {} |",
            rps_cell(&one),
            rps_cell(&three),
            latency_cell(&one),
            latency_cell(&three)
        );
    }
}

/// The row of `test` in a throughput result.
fn test_stats<'a>(results: &'a Option<Outcome<Results>>, test: &str) -> Result<&'a Stats, String> {
    let rows = measured(results)?;
    let row = rows.iter().find(|(name, _)| name == test);
    row.map(|(_, stats)| stats).ok_or_else(|| format!("no {test} result"))
}

fn rps_cell(stats: &Result<&Stats, String>) -> String {
    match stats {
        Ok(stats) => format!("{:.0}", stats.rps),
        Err(reason) => error_cell(reason),
    }
}

fn latency_cell(stats: &Result<&Stats, String>) -> String {
    match stats {
        Ok(stats) => format!("{:.3} / {:.3}", stats.p50_ms, stats.p99_ms),
        Err(_) => "-".to_string(),
    }
}

fn print_client(args: &Args, one: &Option<Outcome<Calls>>, three: &Option<Outcome<Calls>>) {
    println!("\n### orbit-client counter increments, 1 node vs 3 nodes (RF 3)\n");
    println!(
        "{} callers for {} s, each calling `increment` on a random one of {KEYS} counters when its \
         previous call returns, over {CONNECTIONS_PER_NODE} connections to each node\n",
        args.concurrency, args.seconds
    );
    println!("| nodes | connections | calls | calls/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    for (nodes, calls) in [("1", measured(one)), ("3", measured(three))] {
        match calls {
            Ok(c) => println!(
                "| {nodes} | {} | {} | {:.0} | {:.3} | {:.3} |",
                c.connections, c.calls, c.per_second, c.p50_ms, c.p99_ms
            ),
            Err(reason) => println!("| {nodes} | - | - | {} | - | - |", error_cell(&reason)),
        }
    }
}

fn print_pgbench(
    args: &Args,
    version: &str,
    one: &Option<Outcome<PgbenchRuns>>,
    three: &Option<Outcome<PgbenchRuns>>,
) {
    let clients = share(u64::from(args.pgbench_clients), 3);
    println!("\n### pgbench over PostgreSQL, 1 node vs 3 nodes (RF 3)\n");
    println!(
        "{version}; `pgbench -i -q -s {}` through the first node, then `pgbench -n -c {} -T {}` \
         (TPC-B) and the same with `-S` against the node; against the cluster one `-c {clients}` per \
         node at once (tps summed, average latency the highest of the three), each node carrying \
         its connections to the node leading the SQL data\n",
        args.pgbench_scale, args.pgbench_clients, args.seconds
    );
    println!("| run | 1 node | 3 nodes RF 3 | ratio 3/1 |");
    println!("|---|---|---|---|");
    for (name, _) in PGBENCH_RUNS {
        let (one, three) = (pgbench_stats(one, name), pgbench_stats(three, name));
        let ratio = match (&one, &three) {
            (Ok(one), Ok(three)) if one.tps > 0.0 => format!("{:.2}", three.tps / one.tps),
            _ => "-".to_string(),
        };
        println!(
            "| pgbench {name}, {} clients, tps (avg latency ms) | {} | {} | {ratio} |",
            args.pgbench_clients,
            pgbench_cell(&one),
            pgbench_cell(&three)
        );
    }
}

/// The numbers of run `name` in a pgbench result.
fn pgbench_stats<'a>(runs: &'a Option<Outcome<PgbenchRuns>>, name: &str) -> Result<&'a PgbenchStats, String> {
    let runs = measured(runs)?;
    let (_, run) = runs.iter().find(|(run, _)| *run == name).ok_or_else(|| format!("no {name} run"))?;
    run.as_ref().map_err(Clone::clone)
}

fn pgbench_cell(stats: &Result<&PgbenchStats, String>) -> String {
    match stats {
        Ok(stats) if stats.failed > 0 => {
            format!("{:.0} ({:.3}), {} failed", stats.tps, stats.latency_ms, stats.failed)
        }
        Ok(stats) => format!("{:.0} ({:.3})", stats.tps, stats.latency_ms),
        Err(reason) => error_cell(reason),
    }
}

fn print_idle(args: &Args, one: &Option<Outcome<IdleCpu>>, three: &Option<Outcome<IdleCpu>>) {
    println!("\n### Idle CPU, 1 node vs 3 nodes (RF 3)\n");
    println!(
        "utime + stime from /proc/<pid>/stat over {} s, starting {} s after the load stopped\n",
        args.idle_seconds,
        SETTLE.as_secs()
    );
    println!("| deployment | node | % of one core |");
    println!("|---|---|---|");
    for (deployment, idle) in [("1 node", measured(one)), ("3 nodes", measured(three))] {
        match idle {
            Ok(nodes) => {
                for (node, percent) in nodes {
                    println!("| {deployment} | {node} | {percent:.2} |");
                }
                if nodes.len() > 1 {
                    let total: f64 = nodes.iter().map(|(_, percent)| percent).sum();
                    println!("| {deployment} | all | {total:.2} |");
                }
            }
            Err(reason) => println!("| {deployment} | - | {} |", error_cell(&reason)),
        }
    }
}

fn print_failovers(args: &Args, failovers: &Failovers) {
    println!("\n### Failover, 3 nodes (RF 3)\n");
    println!(
        "SIGKILL of the node leading the most raft groups, restarted and caught up before the next \
         kill; time from the kill until a SET to a key of each of the {PARTITIONS} partitions \
         succeeds through the survivors (2 s per attempt). Election timeout {} ms, heartbeat {} ms\n",
        args.election_timeout_ms,
        args.heartbeat_ms()
    );
    println!("| kills | min s | p50 s | p99 s | max s |");
    println!("|---|---|---|---|---|");
    let mut sorted = failovers.seconds.clone();
    sorted.sort_by(f64::total_cmp);
    let cell = |q: f64| quantile(&sorted, q).map_or_else(|| "-".to_string(), |s| format!("{s:.2}"));
    println!("| {} | {} | {} | {} | {} |", sorted.len(), cell(0.0), cell(0.5), cell(0.99), cell(1.0));
    if let Some(reason) = &failovers.error {
        println!("\nStopped after {} of {} kills: {reason}", sorted.len(), args.kills);
    }
}

/// The nearest-rank `q` quantile of `sorted` (ascending); `None` when empty.
fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.max(1) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_group_gauges_from_prometheus_text() {
        let text = "# HELP orbit_raft_leader Node id of the group's leader (0: none known)\n\
                    # TYPE orbit_raft_leader gauge\n\
                    orbit_raft_leader{group=\"0\"} 2\n\
                    orbit_raft_leader{group=\"meta\"} 1\n\
                    orbit_raft_applied_index{group=\"0\"} 17\n";
        let leaders = gauge(text, "orbit_raft_leader");
        assert_eq!(leaders.len(), 2);
        assert_eq!(leaders["0"], 2);
        assert_eq!(leaders["meta"], 1);
        assert_eq!(gauge(text, "orbit_raft_applied_index")["0"], 17);
    }

    #[test]
    fn cpu_ticks_are_fields_14_and_15() {
        let stat = "4242 (orbit server) S 1 4242 4242 0 -1 4194560 900 0 0 0 31 7 0 0 20 0 9 0 100 0 0";
        assert_eq!(stat_cpu_ticks(stat).unwrap(), 38);
        assert!(stat_cpu_ticks("4242 (orbit) S 1").is_err());
    }

    #[test]
    fn cluster_throughput_sums_rates_and_keeps_the_worst_latency() {
        let run = |rps, p99_ms| vec![("SET".to_string(), Stats { rps, p50_ms: 0.5, p99_ms })];
        let total = combine(&[run(100.0, 1.0), run(200.0, 3.0), run(300.0, 2.0)]).unwrap();
        assert_eq!(total, vec![("SET".to_string(), Stats { rps: 600.0, p50_ms: 0.5, p99_ms: 3.0 })]);
        assert!(combine(&[run(1.0, 1.0), Vec::new()]).is_err());
    }

    #[test]
    fn cluster_pgbench_sums_transactions_and_keeps_the_worst_latency() {
        let run = |tps, latency_ms, failed| PgbenchStats { tps, latency_ms, processed: 10, failed };
        let total = combine_pgbench(&[run(100.0, 2.0, 0), run(200.0, 5.0, 1), run(300.0, 3.0, 2)]).unwrap();
        assert_eq!(total, PgbenchStats { tps: 600.0, latency_ms: 5.0, processed: 30, failed: 3 });
        assert!(combine_pgbench(&[]).is_err());
        assert_eq!(pgbench_cell(&Ok(&total)), "600 (5.000), 3 failed");
        assert_eq!(pgbench_cell(&Ok(&run(812.4, 14.7123, 0))), "812 (14.712)");
    }

    #[test]
    fn one_probe_key_per_partition() {
        let keys = key_per_partition(PROBE_PREFIX);
        assert_eq!(keys.len(), usize::from(PARTITIONS));
        for (partition, key) in &keys {
            assert_eq!(partition_of(slot_of(key.as_bytes()), PARTITIONS), *partition);
        }
    }

    #[test]
    fn nearest_rank_quantiles() {
        let sorted: Vec<f64> = (1..=20u8).map(f64::from).collect();
        assert_eq!(quantile(&sorted, 0.0), Some(1.0));
        assert_eq!(quantile(&sorted, 0.5), Some(10.0));
        assert_eq!(quantile(&sorted, 0.99), Some(20.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
