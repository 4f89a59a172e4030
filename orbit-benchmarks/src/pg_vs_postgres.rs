//! `orbit-bench pg-vs-postgres`: `pgbench` against Orbit's PostgreSQL front
//! door and against a real PostgreSQL, both durable: Orbit
//! `--durability always` vs PostgreSQL `fsync=on synchronous_commit=on`
//! (both answer a commit only after fsync).
//!
//! Each server gets a fresh data directory under the current directory (so
//! both fsync to the same file system) and runs alone: `pgbench -i`, then
//! the select-only script with prepared statements (`-S -M prepared`), then
//! the default TPC-B-like script, with the same `-c -j -T`. After TPC-B the
//! balances must add up (see [`BALANCES`]). PostgreSQL is the newest
//! installed under `/usr/lib/postgresql/<version>/bin`, in a cluster made by
//! `initdb`; it refuses to run as root, so under root it runs as the
//! `postgres` user. One markdown table goes to stdout; a failed run or
//! balance check keeps its row and fails the command after the table.

use crate::spawn::Server;
use anyhow::{Context, anyhow, bail, ensure};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// The server binary (build it with `cargo build --release -p orbit-server`); by default
    /// the one next to this binary.
    #[arg(long, default_value_t = crate::spawn::default_server_bin())]
    server_bin: String,
    /// Orbit's storage backend: `lsm`, `cow-btree` (or `rocksdb` in a build with it).
    #[arg(long, default_value = "lsm")]
    storage: String,
    /// Concurrent clients (`pgbench -c`).
    #[arg(long, default_value_t = 16)]
    clients: u32,
    /// pgbench worker threads (`pgbench -j`).
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Length of each run (`pgbench -T`).
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Scale factor (`pgbench -i -s`): 100,000 accounts per unit.
    #[arg(long, default_value_t = 1)]
    scale: u32,
    /// A pgbench, psql or pg_ctl still running this long after its `-T` (or
    /// after it started, without one) counts as hung and is killed.
    #[arg(long, default_value_t = 300)]
    timeout_seconds: u64,
}

impl Args {
    /// How long a client process may take when its run lasts `seconds`.
    fn limit(&self, seconds: u64) -> Duration {
        Duration::from_secs(seconds + self.timeout_seconds)
    }
}

/// Where Debian's `postgresql-<version>` packages install.
const INSTALL_ROOT: &str = "/usr/lib/postgresql";

/// The database pgbench and psql connect to.
pub(crate) const DATABASE: &str = "postgres";

/// Every PostgreSQL program this benchmark runs.
const PROGRAMS: [&str; 5] = ["initdb", "pg_ctl", "postgres", "pgbench", "psql"];

/// PostgreSQL's settings matching Orbit's `--durability always`.
const POSTGRES_DURABLE: [&str; 2] = ["fsync=on", "synchronous_commit=on"];

/// The workloads, as (row name, pgbench flags). Select-only goes first:
/// every run starts by emptying `pgbench_history`, so a run after TPC-B
/// would break the balance check.
const WORKLOADS: [(&str, &[&str]); 2] =
    [("select-only (`-S -M prepared`)", &["-S", "-M", "prepared"]), ("TPC-B (default script)", &[])];

/// The columns whose sums agree after TPC-B: `pgbench -i` starts every
/// balance at 0, and each transaction adds one delta to an account, a
/// teller and a branch and records it in the history.
const BALANCES: [(&str, &str); 4] = [
    ("pgbench_accounts", "abalance"),
    ("pgbench_tellers", "tbalance"),
    ("pgbench_branches", "bbalance"),
    ("pgbench_history", "delta"),
];

/// The numbers kept from a pgbench report.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stats {
    /// Without the initial connection time.
    pub(crate) tps: f64,
    pub(crate) latency_ms: f64,
    /// Committed transactions.
    pub(crate) processed: u64,
    /// Transactions that ended in a serialization or deadlock error.
    pub(crate) failed: u64,
}

/// A workload's result on one server, or why there is none.
type Measured = Result<Stats, String>;

/// Everything one server produced.
struct ServerRun {
    /// One entry per [`WORKLOADS`] entry.
    workloads: Vec<Measured>,
    /// The common sum of the [`BALANCES`] after TPC-B.
    balances: Result<i64, String>,
}

impl ServerRun {
    /// Whether every workload ran and the balances added up.
    fn succeeded(&self) -> bool {
        self.balances.is_ok() && self.workloads.iter().all(Result::is_ok)
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let bin = bin_dir()?;
    let pgbench_version = version(&bin.join("pgbench")).await?;
    let postgres_version = version(&bin.join("postgres")).await?;

    let postgres = Postgres::start(&bin, args.limit(0)).await?;
    let postgres_run = bench_server(&args, &bin, "postgres", postgres.addr()).await;
    drop(postgres);

    let dir = tempfile::tempdir_in(std::env::current_dir()?).context("Orbit's data directory")?;
    let extra = ["--durability", "always"];
    let orbit = Server::start_with(&args.server_bin, dir.path(), &args.storage, &extra).await?;
    let addr: SocketAddr =
        orbit.pg.parse().with_context(|| format!("PostgreSQL address {:?} of orbit-server", orbit.pg))?;
    let orbit_run = bench_server(&args, &bin, "orbit", addr).await;
    orbit.kill().await?;

    let durable = POSTGRES_DURABLE.join(" ");
    println!("\n### Orbit `--durability always --storage {}` vs PostgreSQL `{durable}`\n", args.storage);
    println!("{pgbench_version}; {postgres_version}\n");
    println!(
        "`pgbench -i -s {}`, then per workload `pgbench -c {} -j {} -T {}`\n",
        args.scale, args.clients, args.threads, args.seconds
    );
    print_table(&postgres_run, &orbit_run);
    println!();
    let runs = [("PostgreSQL", &postgres_run), ("Orbit", &orbit_run)];
    for (name, run) in runs {
        match &run.balances {
            Ok(sum) => println!("- {name}: balances ok (every sum is {sum})"),
            Err(reason) => println!("- {name}: balance check failed: {reason}"),
        }
    }
    ensure!(runs.iter().all(|(_, run)| run.succeeded()), "a run or a balance check failed (see above)");
    Ok(())
}

/// The newest installed PostgreSQL's binary directory that has every one of
/// [`PROGRAMS`].
fn bin_dir() -> anyhow::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(INSTALL_ROOT)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.split('.').next()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            PROGRAMS.iter().all(|program| bin.join(program).exists()).then_some((major, bin))
        })
        .collect();
    found.sort();
    let Some((_, newest)) = found.pop() else {
        bail!(
            "PostgreSQL not found: no {INSTALL_ROOT}/<version>/bin with {} (scripts/install-deps.sh --peers)",
            PROGRAMS.join(", ")
        );
    };
    Ok(newest)
}

/// `program --version`, e.g. `pgbench (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
pub(crate) async fn version(program: &Path) -> anyhow::Result<String> {
    let mut command = tokio::process::Command::new(program);
    command.arg("--version");
    let text = finish(command, Duration::from_secs(30), &program.display().to_string()).await?;
    Ok(text.trim().to_string())
}

/// `pgbench -i`, every workload and the balance check against the server
/// at `addr`; `label` prefixes the progress lines on stderr.
async fn bench_server(args: &Args, bin: &Path, label: &str, addr: SocketAddr) -> ServerRun {
    eprintln!("[{label}] pgbench -i -s {}", args.scale);
    let mut init = client(bin, "pgbench", addr);
    init.args(["-i", "-q", "-s", &args.scale.to_string(), DATABASE]);
    if let Err(e) = finish(init, args.limit(0), "pgbench -i").await {
        let reason = format!("{e:#}");
        eprintln!("[{label}] {reason}");
        let workloads = vec![Err(reason.clone()); WORKLOADS.len()];
        return ServerRun { workloads, balances: Err(format!("not checked: {reason}")) };
    }
    let mut workloads = Vec::new();
    for (name, flags) in WORKLOADS {
        eprintln!("[{label}] {name}");
        let measured = measure(args, bin, addr, flags).await.map_err(|e| format!("{e:#}"));
        match &measured {
            Ok(stats) => eprintln!("[{label}] {:.0} tps, {} transactions", stats.tps, stats.processed),
            Err(reason) => eprintln!("[{label}] {name} failed: {reason}"),
        }
        workloads.push(measured);
    }
    let balances = check_balances(args, bin, addr).await.map_err(|e| format!("{e:#}"));
    ServerRun { workloads, balances }
}

/// One timed pgbench run of a workload's `flags`, with `-c -j -T` from `args`.
async fn measure(args: &Args, bin: &Path, addr: SocketAddr, flags: &[&str]) -> anyhow::Result<Stats> {
    let mut command = client(bin, "pgbench", addr);
    command.args(flags).args(["-c", &args.clients.to_string(), "-j", &args.threads.to_string()]).args([
        "-T",
        &args.seconds.to_string(),
        DATABASE,
    ]);
    let report = finish(command, args.limit(args.seconds), "pgbench").await?;
    let stats = parse_report(&report)?;
    ensure!(stats.processed > 0, "pgbench processed no transaction");
    Ok(stats)
}

/// Sums the [`BALANCES`] with psql and returns their common value, or an
/// error naming every sum when they differ.
async fn check_balances(args: &Args, bin: &Path, addr: SocketAddr) -> anyhow::Result<i64> {
    let mut sums = Vec::new();
    for (table, column) in BALANCES {
        let mut command = client(bin, "psql", addr);
        command.args(["-X", "-At", "-d", DATABASE, "-c", &format!("select sum({column}) from {table}")]);
        let text = finish(command, args.limit(0), "psql").await?;
        sums.push((table, parse_sum(&text).with_context(|| format!("sum of {table}.{column}"))?));
    }
    let (_, first) = sums[0];
    if sums.iter().all(|&(_, sum)| sum == first) {
        return Ok(first);
    }
    let listed: Vec<String> = sums.iter().map(|(table, sum)| format!("{table} {sum}")).collect();
    bail!("balances disagree: {}", listed.join(", "))
}

/// `program` (pgbench or psql) of the binaries in `bin`, connecting to
/// `addr` as in [`connect`].
fn client(bin: &Path, program: &str, addr: SocketAddr) -> tokio::process::Command {
    connect(&bin.join(program), addr)
}

/// `program` (pgbench or psql: a path, or a name looked up on `PATH`)
/// connecting to `addr` as `postgres`; the caller names the database
/// ([`DATABASE`]).
pub(crate) fn connect(program: &Path, addr: SocketAddr) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command.args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string(), "-U", "postgres"]);
    command
}

/// Runs `command` to its end within `limit` and returns its stdout; a
/// non-zero exit is an error with the end of stderr, where pgbench, psql
/// and the PostgreSQL tools name what went wrong.
pub(crate) async fn finish(
    mut command: tokio::process::Command,
    limit: Duration,
    what: &str,
) -> anyhow::Result<String> {
    command.stdin(Stdio::null()).kill_on_drop(true);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| anyhow!("{what}: no result within {} s (hung?), killed", limit.as_secs()))?
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!("{what} {}: {}", output.status, last_lines(&String::from_utf8_lossy(&output.stderr), 3));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The last `n` non-empty lines of `text`, on one line.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

/// The numbers of a pgbench (14 or later) run report on stdout.
pub(crate) fn parse_report(text: &str) -> anyhow::Result<Stats> {
    let tps = required(text, "tps = ")?;
    ensure!(
        tps.ends_with("(without initial connection time)"),
        "unexpected `tps = {tps}` (pgbench 14 or later reports tps without the connection time)"
    );
    // pgbench 14 prints no such line: it aborts a client on any error instead.
    let failed: u64 = match after(text, "number of failed transactions: ") {
        Some(rest) => leading_number(rest)?,
        None => 0,
    };
    Ok(Stats {
        tps: leading_number(tps)?,
        latency_ms: leading_number(required(text, "latency average = ")?)?,
        processed: leading_number(required(text, "number of transactions actually processed: ")?)?,
        failed,
    })
}

/// The rest of the first line of `text` that starts with `prefix`.
fn after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find_map(|line| line.trim().strip_prefix(prefix))
}

/// Like [`after`], with a missing line an error.
fn required<'a>(text: &'a str, prefix: &str) -> anyhow::Result<&'a str> {
    after(text, prefix).with_context(|| format!("no `{prefix}` line in pgbench output"))
}

/// The number at the start of `text`, up to a space or a `/` (pgbench `-t`
/// prints `processed: 5266/10000`).
fn leading_number<T: std::str::FromStr>(text: &str) -> anyhow::Result<T> {
    let word = text.split([' ', '/']).next().unwrap_or_default();
    word.parse().map_err(|_| anyhow!("bad number {word:?} in pgbench output"))
}

/// A `psql -At` sum: SQL NULL (the sum of no rows) prints as nothing and
/// counts as 0.
fn parse_sum(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    text.parse::<i64>().with_context(|| format!("not an integer: {text:?}"))
}

fn print_table(postgres_run: &ServerRun, orbit_run: &ServerRun) {
    print!("| workload | PostgreSQL tps | PostgreSQL latency ms ");
    println!("| Orbit tps | Orbit latency ms | tps ratio Orbit/PostgreSQL |");
    println!("|---|---|---|---|---|---|");
    let rows = WORKLOADS.iter().zip(&postgres_run.workloads).zip(&orbit_run.workloads);
    for (((name, _), postgres), orbit) in rows {
        let ratio = match (orbit, postgres) {
            (Ok(orbit), Ok(postgres)) if postgres.tps > 0.0 => format!("{:.2}", orbit.tps / postgres.tps),
            _ => "-".to_string(),
        };
        println!(
            "| {name} | {} | {} | {} | {} | {ratio} |",
            tps_cell(postgres),
            latency_cell(postgres),
            tps_cell(orbit),
            latency_cell(orbit)
        );
    }
}

fn tps_cell(measured: &Measured) -> String {
    match measured {
        Ok(stats) if stats.failed > 0 => format!("{:.0} ({} failed)", stats.tps, stats.failed),
        Ok(stats) => format!("{:.0}", stats.tps),
        Err(reason) => format!("error: {}", reason.replace('|', "\\|")),
    }
}

fn latency_cell(measured: &Measured) -> String {
    match measured {
        Ok(stats) => format!("{:.3}", stats.latency_ms),
        Err(_) => "-".to_string(),
    }
}

/// A PostgreSQL cluster made by `initdb` in a temporary directory under the
/// current one, on a free loopback port. Dropping it stops the server
/// (`pg_ctl stop -m fast`), so error paths leave none behind; the directory
/// goes after that, as fields drop after `drop`.
struct Postgres {
    bin: PathBuf,
    /// Whether the programs run as the `postgres` user (we are root).
    root: bool,
    dir: tempfile::TempDir,
    port: u16,
}

impl Postgres {
    async fn start(bin: &Path, limit: Duration) -> anyhow::Result<Postgres> {
        let root = is_root().await?;
        let dir = tempfile::tempdir_in(std::env::current_dir()?).context("PostgreSQL's directory")?;
        if root {
            let mut chown = tokio::process::Command::new("chown");
            chown.arg("postgres").arg(dir.path());
            finish(chown, limit, "chown postgres").await.context("PostgreSQL runs as the postgres user")?;
        }
        let server = Postgres { bin: bin.to_path_buf(), root, dir, port: crate::spawn::free_port()? };
        let mut initdb = server.command("initdb");
        initdb.arg("-D").arg(server.data());
        initdb.args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale", "C"]);
        finish(initdb.into(), limit, "initdb").await?;
        let mut pg_ctl = server.command("pg_ctl");
        pg_ctl.args(["start", "-w", "-D"]).arg(server.data()).arg("-l").arg(server.log());
        pg_ctl.arg("-o").arg(server.options()?);
        if let Err(e) = finish(pg_ctl.into(), limit, "pg_ctl start").await {
            bail!("{e:#}; server log: {}", server.log_tail());
        }
        Ok(server)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn log_tail(&self) -> String {
        match std::fs::read_to_string(self.log()) {
            Ok(text) => last_lines(&text, 5),
            Err(e) => format!("unreadable ({e})"),
        }
    }

    /// The server's flags for `pg_ctl -o`, which hands them to a shell: the
    /// socket directory is quoted.
    fn options(&self) -> anyhow::Result<String> {
        let sockets = self.dir.path().to_str().context("PostgreSQL's directory is not UTF-8")?;
        ensure!(!sockets.contains('\''), "PostgreSQL's directory {sockets:?} contains a quote");
        let durable: Vec<String> = POSTGRES_DURABLE.iter().map(|setting| format!("-c {setting}")).collect();
        Ok(format!(
            "-p {} -k '{sockets}' -c listen_addresses=127.0.0.1 -c max_connections=100 {}",
            self.port,
            durable.join(" ")
        ))
    }

    /// `program` from the PostgreSQL binaries, as the `postgres` user under
    /// root, in the cluster's directory (which that user owns).
    fn command(&self, program: &str) -> std::process::Command {
        let path = self.bin.join(program);
        let mut command = if self.root {
            let mut runuser = std::process::Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(path);
            runuser
        } else {
            std::process::Command::new(path)
        };
        command.current_dir(self.dir.path());
        command
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The server removes its pid file when it exits: none, nothing to stop.
        if !self.data().join("postmaster.pid").exists() {
            return;
        }
        let mut stop = self.command("pg_ctl");
        stop.args(["stop", "-w", "-m", "fast", "-D"]).arg(self.data()).stdin(Stdio::null());
        match stop.output() {
            Ok(output) if output.status.success() => {}
            Ok(output) => eprintln!(
                "pg_ctl stop {}: {}",
                output.status,
                last_lines(&String::from_utf8_lossy(&output.stderr), 3)
            ),
            Err(e) => eprintln!("cannot run pg_ctl stop: {e}"),
        }
    }
}

async fn is_root() -> anyhow::Result<bool> {
    let output = tokio::process::Command::new("id").arg("-u").output().await.context("cannot run id -u")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim() == "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Printed on stdout by pgbench 15.14 for `-S -M prepared -c 1 -j 1 -T 5`.
    const SAMPLE: &str = "pgbench (15.14 (Debian 15.14-0+deb12u1))
starting vacuum...end.
transaction type: <builtin: select only>
scaling factor: 1
query mode: prepared
number of clients: 1
number of threads: 1
maximum number of tries: 1
duration: 5 s
number of transactions actually processed: 5266
number of failed transactions: 0 (0.000%)
latency average = 0.949 ms
initial connection time = 2.651 ms
tps = 1053.541347 (without initial connection time)
";

    #[test]
    fn parses_pgbench_report() {
        let stats = parse_report(SAMPLE).unwrap();
        assert_eq!(stats, Stats { tps: 1053.541347, latency_ms: 0.949, processed: 5266, failed: 0 });
    }

    #[test]
    fn report_without_tps_line_is_an_error() {
        let cut = SAMPLE.replace("tps = 1053.541347 (without initial connection time)\n", "");
        assert_ne!(cut, SAMPLE);
        let error = parse_report(&cut).unwrap_err();
        assert!(format!("{error:#}").contains("no `tps = ` line"), "{error:#}");
    }

    #[test]
    fn tps_including_connections_is_refused() {
        let old = SAMPLE.replace("(without initial connection time)", "(including connections establishing)");
        assert!(parse_report(&old).is_err());
    }

    #[test]
    fn failed_transactions_are_counted_and_shown() {
        let text = SAMPLE.replace("failed transactions: 0 (0.000%)", "failed transactions: 12 (0.228%)");
        let stats = parse_report(&text).unwrap();
        assert_eq!(stats.failed, 12);
        assert_eq!(tps_cell(&Ok(stats)), "1054 (12 failed)");
    }

    #[test]
    fn processed_count_of_a_fixed_length_run_parses() {
        let text = SAMPLE.replace("processed: 5266", "processed: 10000/10000");
        assert_eq!(parse_report(&text).unwrap().processed, 10000);
    }

    #[test]
    fn null_sum_is_zero_and_text_is_an_error() {
        assert_eq!(parse_sum("\n").unwrap(), 0);
        assert_eq!(parse_sum("-1234\n").unwrap(), -1234);
        assert!(parse_sum("1.5\n").is_err());
    }

    #[test]
    fn error_text_is_the_end_of_stderr_on_one_line() {
        let stderr = "dropping old tables...\n\nerror: client 0 aborted\n  error: run aborted\n";
        assert_eq!(last_lines(stderr, 2), "error: client 0 aborted / error: run aborted");
        assert_eq!(last_lines("", 3), "");
        assert_eq!(tps_cell(&Err("a | b".to_string())), "error: a \\| b");
    }
}
