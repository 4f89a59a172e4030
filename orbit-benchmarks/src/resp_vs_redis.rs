//! `orbit-bench resp-vs-redis`: `redis-benchmark` against Orbit's RESP front
//! door and against a real `redis-server`, in two matching configurations:
//!
//! - Orbit `--durability none` vs `redis-server --save "" --appendonly no`;
//! - Orbit `--durability always` vs `redis-server --save "" --appendonly yes
//!   --appendfsync always` (both reply only after fsync).
//!
//! Orbit runs the `lsm` backend. Each server gets a fresh data directory
//! under the current directory and runs alone; each test runs as its own
//! `redis-benchmark` process, so an error reply or a hang in one test is
//! reported in its row and does not hide the others. One markdown table per
//! configuration and pipeline depth goes to stdout.
//!
//! Keys are drawn from `--keyspace` random names (`redis-benchmark -r`), as a
//! real load spreads over keys (0: one key per test, redis-benchmark's
//! default). Besides redis-benchmark's own tests, `xadd`, `xreadgroup`,
//! `evalsha`, `setbit`, `pfadd` and `geoadd` run as custom commands, with
//! their setup (consumer groups, the loaded script) done first on each server.

use crate::spawn::{Redis, Server};
use anyhow::{Context, anyhow, bail};
use std::process::Stdio;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// The server binary (build it with `cargo build --release -p orbit-server`); by default
    /// the one next to this binary.
    #[arg(long, default_value_t = crate::spawn::default_server_bin())]
    server_bin: String,
    /// Requests per test (`redis-benchmark -n`).
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Parallel connections (`redis-benchmark -c`).
    #[arg(long, default_value_t = 50)]
    clients: u32,
    /// Pipeline depths (`redis-benchmark -P`), one table each.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    pipelines: Vec<u32>,
    /// Tests: `redis-benchmark -t` names, or the custom ones (xadd, xreadgroup, evalsha,
    /// setbit, pfadd, geoadd).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "set,get,incr,lpush,rpop,sadd,hset,zadd,xadd,xreadgroup,evalsha,setbit,pfadd,geoadd"
    )]
    tests: Vec<String>,
    /// Random key names per test (`redis-benchmark -r`); 0 for one key.
    #[arg(long, default_value_t = 100_000)]
    keyspace: u64,
    /// A test still running after this long counts as hung and is killed.
    #[arg(long, default_value_t = 120)]
    timeout_seconds: u64,
}

#[derive(Clone, Copy)]
enum Persistence {
    None,
    Always,
}

impl Persistence {
    fn orbit_durability(self) -> &'static str {
        match self {
            Persistence::None => "none",
            Persistence::Always => "always",
        }
    }

    fn redis_config(self) -> &'static [&'static str] {
        match self {
            Persistence::None => &["--save", "", "--appendonly", "no"],
            Persistence::Always => &["--save", "", "--appendonly", "yes", "--appendfsync", "always"],
        }
    }

    fn title(self) -> &'static str {
        match self {
            Persistence::None => "Orbit `--durability none` vs Redis `--save \"\" --appendonly no`",
            Persistence::Always => {
                "Orbit `--durability always` vs Redis `--save \"\" --appendonly yes --appendfsync always`"
            }
        }
    }
}

/// The numbers kept from one row of `redis-benchmark --csv`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stats {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

/// A test's result on one server, or why there is none.
type Measured = Result<Stats, String>;

/// Results per test, in redis-benchmark's names (`-t zadd` prints `ZADD`).
type Results = Vec<(String, Measured)>;

struct Row {
    test: String,
    orbit: Measured,
    redis: Measured,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let version = tokio::process::Command::new("redis-benchmark").arg("--version").output().await;
    version.context("cannot run redis-benchmark (apt-get install redis-tools)")?;
    for persistence in [Persistence::None, Persistence::Always] {
        let durability = persistence.orbit_durability();
        let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
        let extra = ["--durability", durability];
        let orbit = Server::start_with(&args.server_bin, dir.path(), "lsm", &extra).await?;
        let port = orbit.resp.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
        let port = port.with_context(|| format!("RESP address {:?} has no port", orbit.resp))?;
        let orbit_results = bench_server(&args, &format!("orbit {durability}"), port).await;
        orbit.kill().await?;

        let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
        let port = crate::spawn::free_port()?;
        let redis = Redis::start(port, dir.path(), persistence.redis_config()).await?;
        let redis_results = bench_server(&args, &format!("redis {durability}"), port).await;
        redis.kill().await?;

        for ((pipeline, orbit), redis) in args.pipelines.iter().zip(&orbit_results).zip(&redis_results) {
            println!("\n### {}, pipeline {pipeline}\n", persistence.title());
            println!(
                "`redis-benchmark -c {} -n {} -P {pipeline} -r {}`\n",
                args.clients, args.requests, args.keyspace
            );
            print_table(&merge(orbit, redis));
        }
    }
    Ok(())
}

/// Every test at every pipeline depth against the server on `port`; one
/// `Results` per entry of `args.pipelines`.
async fn bench_server(args: &Args, label: &str, port: u16) -> Vec<Results> {
    let mut all = Vec::new();
    for &pipeline in &args.pipelines {
        let mut results = Results::new();
        for test in &args.tests {
            eprintln!("[{label}] {test} -P {pipeline}");
            match redis_benchmark(args, port, test, pipeline).await {
                Ok(rows) => results.extend(rows.into_iter().map(|(name, stats)| (name, Ok(stats)))),
                Err(e) => {
                    eprintln!("[{label}] {test} -P {pipeline} failed: {e:#}");
                    results.push((test.to_uppercase(), Err(format!("{e:#}"))));
                }
            }
        }
        all.push(results);
    }
    all
}

async fn redis_benchmark(
    args: &Args,
    port: u16,
    test: &str,
    pipeline: u32,
) -> anyhow::Result<Vec<(String, Stats)>> {
    let (port_text, clients, requests, pipeline) =
        (port.to_string(), args.clients.to_string(), args.requests.to_string(), pipeline.to_string());
    let mut flags: Vec<String> =
        ["-h", "127.0.0.1", "-p", &port_text, "-c", &clients, "-n", &requests, "-P", &pipeline]
            .map(str::to_string)
            .to_vec();
    if args.keyspace > 0 {
        flags.extend(["-r".to_string(), args.keyspace.to_string()]);
    }
    let limit = Duration::from_secs(args.timeout_seconds);
    match custom_command(test, port, args.keyspace).await? {
        Some(command) => {
            flags.extend(command);
            let rows = redis_benchmark_csv(&flags, limit).await?;
            Ok(rows.into_iter().map(|(_, stats)| (test.to_uppercase(), stats)).collect())
        }
        None => {
            flags.extend(["-t".to_string(), test.to_string()]);
            redis_benchmark_csv(&flags, limit).await
        }
    }
}

/// The command line of a custom test, after its setup on the server at
/// `port`; `None` for redis-benchmark's own tests.
async fn custom_command(test: &str, port: u16, keyspace: u64) -> anyhow::Result<Option<Vec<String>>> {
    let words = |w: &[&str]| Some(w.iter().map(|s| s.to_string()).collect());
    Ok(match test {
        "xadd" => words(&["XADD", "xs:__rand_int__", "*", "field", "value"]),
        "xreadgroup" => {
            // Every stream the test may read gets the group first.
            let mut con = connect(port).await?;
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for n in 0..keyspace.max(1) {
                pipe.cmd("XGROUP").arg("CREATE").arg(format!("xs:{n:012}")).arg("g").arg("0").arg("MKSTREAM");
                if pipe.len() >= 1000 {
                    pipe.query_async::<redis::Value>(&mut con).await?;
                    pipe.clear();
                }
            }
            if !pipe.is_empty() {
                pipe.query_async::<redis::Value>(&mut con).await?;
            }
            words(&["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "xs:__rand_int__", ">"])
        }
        "evalsha" => {
            let mut con = connect(port).await?;
            let sha: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg("return redis.call('incr', KEYS[1])")
                .query_async(&mut con)
                .await?;
            words(&["EVALSHA", &sha, "1", "counter:__rand_int__"])
        }
        "setbit" => words(&["SETBIT", "bits:__rand_int__", "4096", "1"]),
        "pfadd" => words(&["PFADD", "hll:__rand_int__", "__rand_int__"]),
        "geoadd" => words(&["GEOADD", "geo:__rand_int__", "13.361389", "38.115556", "__rand_int__"]),
        _ => None,
    })
}

async fn connect(port: u16) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    Ok(client.get_multiplexed_async_connection().await?)
}

/// Runs `redis-benchmark` with `flags` and `--csv` and returns its rows; a
/// run still going after `limit` counts as hung and is killed.
pub(crate) async fn redis_benchmark_csv(
    flags: &[String],
    limit: Duration,
) -> anyhow::Result<Vec<(String, Stats)>> {
    let mut command = tokio::process::Command::new("redis-benchmark");
    // `--csv` first: redis-benchmark takes every word after a custom
    // command's name as part of that command.
    command.arg("--csv").args(flags).stdin(Stdio::null()).kill_on_drop(true);
    let output = tokio::time::timeout(limit, command.output())
        .await
        .map_err(|_| anyhow!("no result within {} s (hung?), killed", limit.as_secs()))?
        .context("redis-benchmark")?;
    if !output.status.success() {
        // redis-benchmark 7 exits on the first error reply, naming it on stderr.
        let stderr = String::from_utf8_lossy(&output.stderr);
        match stderr.lines().rfind(|l| !l.trim().is_empty()) {
            Some(last) => bail!("{}", last.trim()),
            None => bail!("redis-benchmark {}", output.status),
        }
    }
    parse_csv(&String::from_utf8_lossy(&output.stdout))
}

/// The rows of `redis-benchmark --csv` (7.0): a header naming the columns,
/// then one quoted line per test.
pub(crate) fn parse_csv(text: &str) -> anyhow::Result<Vec<(String, Stats)>> {
    let fields = |line: &str| -> Vec<String> {
        line.trim().trim_matches('"').split("\",\"").map(str::to_string).collect()
    };
    let mut lines = text.lines().skip_while(|l| !l.starts_with("\"test\"")).filter(|l| !l.trim().is_empty());
    let header = fields(lines.next().context("no CSV header in redis-benchmark output")?);
    let column =
        |name: &str| header.iter().position(|h| h == name).with_context(|| format!("no {name} column"));
    let (rps, p50, p99) = (column("rps")?, column("p50_latency_ms")?, column("p99_latency_ms")?);
    let number = |row: &[String], i: usize| -> anyhow::Result<f64> {
        let text = row.get(i).context("short CSV row")?;
        text.parse().with_context(|| format!("bad number {text:?}"))
    };
    lines
        .map(|line| {
            let row = fields(line);
            let stats =
                Stats { rps: number(&row, rps)?, p50_ms: number(&row, p50)?, p99_ms: number(&row, p99)? };
            Ok((row[0].clone(), stats))
        })
        .collect()
}

/// One row per test either server reported, Redis's order first.
fn merge(orbit: &Results, redis: &Results) -> Vec<Row> {
    let mut names: Vec<&String> = redis.iter().map(|(name, _)| name).collect();
    for (name, _) in orbit {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let find = |results: &Results, name: &str| {
        results.iter().find(|(n, _)| n == name).map_or_else(|| Err("no result".to_string()), |r| r.1.clone())
    };
    names
        .into_iter()
        .map(|name| Row { test: name.clone(), orbit: find(orbit, name), redis: find(redis, name) })
        .collect()
}

fn print_table(rows: &[Row]) {
    println!(
        "| test | Orbit req/s | Redis req/s | ratio Orbit/Redis | Orbit p50/p99 ms | Redis p50/p99 ms |"
    );
    println!("|---|---|---|---|---|---|");
    for row in rows {
        let ratio = match (&row.orbit, &row.redis) {
            (Ok(orbit), Ok(redis)) if redis.rps > 0.0 => format!("{:.2}", orbit.rps / redis.rps),
            _ => "-".to_string(),
        };
        println!(
            "| {} | {} | {} | {ratio} | {} | {} |",
            row.test,
            rps_cell(&row.orbit),
            rps_cell(&row.redis),
            latency_cell(&row.orbit),
            latency_cell(&row.redis)
        );
    }
}

fn rps_cell(measured: &Measured) -> String {
    match measured {
        Ok(stats) => format!("{:.0}", stats.rps),
        Err(reason) => format!("error: {}", reason.replace('|', "\\|")),
    }
}

fn latency_cell(measured: &Measured) -> String {
    match measured {
        Ok(stats) => format!("{:.3} / {:.3}", stats.p50_ms, stats.p99_ms),
        Err(_) => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Printed by redis-benchmark 7.0.15 against redis-server 7.0.15.
    const SAMPLE: &str = r#""test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","95238.10","0.341","0.072","0.319","0.575","0.839","3.167"
"ZADD","80645.16","0.407","0.120","0.367","0.607","1.951","4.127"
"#;

    #[test]
    fn parses_redis_benchmark_csv() {
        let rows = parse_csv(SAMPLE).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], ("SET".to_string(), Stats { rps: 95238.10, p50_ms: 0.319, p99_ms: 0.839 }));
        assert_eq!(rows[1].0, "ZADD");
    }

    #[test]
    fn output_without_csv_header_is_an_error() {
        assert!(parse_csv("Could not connect to Redis at 127.0.0.1:1: Connection refused\n").is_err());
    }

    #[test]
    fn failed_orbit_test_keeps_its_row() {
        let stats = Stats { rps: 1.0, p50_ms: 0.1, p99_ms: 0.2 };
        let orbit = vec![("GET".to_string(), Ok(stats.clone())), ("LPUSH".to_string(), Err("boom".into()))];
        let redis = vec![("GET".to_string(), Ok(stats.clone())), ("LPUSH".to_string(), Ok(stats))];
        let rows = merge(&orbit, &redis);
        assert_eq!(rows.iter().map(|r| r.test.as_str()).collect::<Vec<_>>(), ["GET", "LPUSH"]);
        assert_eq!(rows[1].orbit, Err("boom".to_string()));
        assert_eq!(rps_cell(&rows[1].orbit), "error: boom");
    }
}
