//! `orbit-bench storage`: every backend side by side, through the same
//! `Store` (and group commit) the node writes through.
//!
//! Workloads (values of 100 bytes over `--keys` keys):
//! fillseq, fillrandom, overwrite, readrandom, and YCSB A (50% reads, 50%
//! updates), B (95/5), C (reads only) and F (read-modify-write). Each write
//! workload runs without fsync (durability `none`) and durably (`always`,
//! group commit), each with 1, 8 and 64 concurrent writers; read-only
//! workloads run once with 8 readers.

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use orbit_server::config::{Durability, StorageKind};
use orbit_server::metrics::Metrics;
use orbit_server::storage::{self, Backend, Store};
use orbit_shared::WriteOp;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Every backend this build has (rocksdb needs `--features rocksdb`).
    #[arg(long)]
    all_backends: bool,
    /// Backends to run when not `--all-backends`.
    #[arg(long, value_delimiter = ',', default_value = "lsm")]
    backends: Vec<String>,
    /// Distinct keys.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Operations per non-durable run.
    #[arg(long, default_value_t = 200_000)]
    ops: u64,
    /// Length of each durable run.
    #[arg(long, default_value_t = 3)]
    durable_seconds: u64,
    /// Where to write the SVG chart.
    #[arg(long, default_value = "storage-bench.svg")]
    svg: std::path::PathBuf,
}

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    FillSeq,
    FillRandom,
    Overwrite,
    ReadRandom,
    YcsbA,
    YcsbB,
    YcsbC,
    YcsbF,
}

impl Workload {
    const ALL: [Workload; 8] = [
        Workload::FillSeq,
        Workload::FillRandom,
        Workload::Overwrite,
        Workload::ReadRandom,
        Workload::YcsbA,
        Workload::YcsbB,
        Workload::YcsbC,
        Workload::YcsbF,
    ];

    fn name(self) -> &'static str {
        match self {
            Workload::FillSeq => "fillseq",
            Workload::FillRandom => "fillrandom",
            Workload::Overwrite => "overwrite",
            Workload::ReadRandom => "readrandom",
            Workload::YcsbA => "ycsb-a",
            Workload::YcsbB => "ycsb-b",
            Workload::YcsbC => "ycsb-c",
            Workload::YcsbF => "ycsb-f",
        }
    }

    /// Percent of operations that write.
    fn write_percent(self) -> u64 {
        match self {
            Workload::ReadRandom | Workload::YcsbC => 0,
            Workload::YcsbA => 50,
            Workload::YcsbB => 5,
            _ => 100,
        }
    }

    /// Whether the keys must exist first.
    fn needs_load(self) -> bool {
        !matches!(self, Workload::FillSeq | Workload::FillRandom)
    }
}

struct Row {
    backend: &'static str,
    workload: &'static str,
    mode: String,
    ops: u64,
    ops_per_sec: f64,
    p50: u64,
    p99: u64,
    p999: u64,
    disk_bytes: u64,
    write_amp: Option<f64>,
}

fn key(i: u64) -> Bytes {
    Bytes::from(format!("user{i:012}").into_bytes())
}

fn value(seed: u64) -> Bytes {
    Bytes::from(format!("{seed:0100}").into_bytes())
}

/// xorshift: deterministic, cheap, good enough to pick keys.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Bytes this process has caused to be written to storage (Linux).
fn process_write_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|l| l.strip_prefix("write_bytes: ")?.trim().parse().ok())
}

fn open(kind: StorageKind, durability: Durability) -> anyhow::Result<(tempfile::TempDir, Arc<Store>)> {
    let dir = tempfile::tempdir_in(std::env::current_dir()?)?;
    let backend = storage::open_backend(kind, dir.path())?;
    // No read cache: these runs measure the engines.
    Ok((dir, Arc::new(Store::new(backend, durability, Metrics::new().storage.clone(), 0))))
}

fn load(backend: &dyn Backend, keys: u64) -> anyhow::Result<()> {
    for start in (0..keys).step_by(1000) {
        let ops: Vec<WriteOp> =
            (start..(start + 1000).min(keys)).map(|i| WriteOp::Put(key(i), value(i))).collect();
        backend.write(&ops)?;
    }
    backend.sync()?;
    Ok(())
}

struct Run {
    workload: Workload,
    writers: usize,
    keys: u64,
    ops: Option<u64>,
    duration: Duration,
}

async fn run_one(store: Arc<Store>, run: Run) -> anyhow::Result<(u64, Histogram<u64>, u64)> {
    let done = Arc::new(AtomicU64::new(0));
    let logical = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + run.duration;
    let per_writer = run.ops.map(|ops| ops / run.writers as u64);
    let tasks: Vec<_> = (0..run.writers)
        .map(|w| {
            let (store, done, logical) = (store.clone(), done.clone(), logical.clone());
            tokio::spawn(async move {
                let mut latencies = Histogram::<u64>::new(3)?;
                let backend = store.backend();
                let mut rng = 0x2545_F491_4F6C_DD1D ^ (w as u64 + 1);
                let mut n = 0u64;
                loop {
                    match per_writer {
                        Some(limit) if n >= limit => break,
                        None if Instant::now() >= deadline => break,
                        _ => {}
                    }
                    let i = match run.workload {
                        Workload::FillSeq => w as u64 + n * run.writers as u64,
                        _ => next(&mut rng) % run.keys,
                    };
                    let started = Instant::now();
                    let write = next(&mut rng) % 100 < run.workload.write_percent();
                    if run.workload == Workload::YcsbF || !write {
                        backend.get(&key(i))?;
                    }
                    if write || run.workload == Workload::YcsbF {
                        let seq = store.append(&[WriteOp::Put(key(i), value(n))]).await?;
                        store.wait_durable(seq).await?;
                        logical.fetch_add(112, Ordering::Relaxed);
                    }
                    latencies.record(started.elapsed().as_micros() as u64)?;
                    n += 1;
                    if n.is_multiple_of(64) {
                        tokio::task::yield_now().await;
                    }
                }
                done.fetch_add(n, Ordering::Relaxed);
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new(3)?;
    for task in tasks {
        all.add(task.await??)?;
    }
    Ok((done.load(Ordering::Relaxed), all, logical.load(Ordering::Relaxed)))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut kinds = Vec::new();
    let names: Vec<String> = if args.all_backends {
        ["memory", "lsm", "cow-btree", "rocksdb"].map(String::from).to_vec()
    } else {
        args.backends.clone()
    };
    for name in &names {
        let kind = StorageKind::from_name(name).with_context(|| format!("unknown backend {name}"))?;
        if kind == StorageKind::Rocksdb && !cfg!(feature = "rocksdb") {
            eprintln!("note: rocksdb skipped: build with --features rocksdb to include it");
            continue;
        }
        kinds.push(kind);
    }
    let mut modes: Vec<(String, Durability, usize)> = Vec::new();
    for durability in [Durability::None, Durability::Always] {
        for writers in [1, 8, 64] {
            let name = if durability == Durability::None { "none" } else { "always" };
            modes.push((format!("{name}, {writers} writers"), durability, writers));
        }
    }
    let total = kinds.len()
        * Workload::ALL.iter().map(|w| if w.write_percent() == 0 { 1 } else { modes.len() }).sum::<usize>();
    let mut rows = Vec::new();
    for kind in kinds {
        for workload in Workload::ALL {
            for (mode, durability, writers) in &modes {
                let read_only = workload.write_percent() == 0;
                if read_only && (*durability == Durability::Always || *writers != 8) {
                    continue;
                }
                let durable = *durability == Durability::Always && kind != StorageKind::Memory;
                eprintln!("[{}/{total}] {} {} ({mode})", rows.len() + 1, kind.name(), workload.name());
                let (_dir, store) = open(kind, *durability)?;
                if workload.needs_load() {
                    load(store.backend().as_ref(), args.keys)?;
                }
                let written_before = process_write_bytes();
                let started = Instant::now();
                let run = Run {
                    workload,
                    writers: *writers,
                    keys: args.keys,
                    ops: (!durable).then_some(args.ops),
                    duration: Duration::from_secs(args.durable_seconds),
                };
                let (ops, latencies, logical) = run_one(store.clone(), run).await?;
                store.sync_now().await?;
                let elapsed = started.elapsed().as_secs_f64();
                let written = process_write_bytes().zip(written_before).map(|(a, b)| a.saturating_sub(b));
                let stats = store.stats().await?;
                rows.push(Row {
                    backend: kind.name(),
                    workload: workload.name(),
                    mode: if read_only { format!("reads, {writers} readers") } else { mode.clone() },
                    ops,
                    ops_per_sec: ops as f64 / elapsed,
                    p50: latencies.value_at_quantile(0.5),
                    p99: latencies.value_at_quantile(0.99),
                    p999: latencies.value_at_quantile(0.999),
                    disk_bytes: stats.disk_bytes,
                    write_amp: written
                        .filter(|_| logical > 0 && kind != StorageKind::Memory)
                        .map(|w| w as f64 / logical as f64),
                });
                store.close().await?;
            }
        }
    }
    print_table(&rows);
    std::fs::write(&args.svg, svg(&rows)).with_context(|| format!("write {}", args.svg.display()))?;
    eprintln!("chart written to {}", args.svg.display());
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!(
        "| backend | workload | mode | ops | ops/s | p50 µs | p99 µs | p99.9 µs | disk MB | write amp |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let amp = r.write_amp.map(|a| format!("{a:.1}")).unwrap_or_else(|| "-".into());
        println!(
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {:.1} | {} |",
            r.backend,
            r.workload,
            r.mode,
            r.ops,
            r.ops_per_sec,
            r.p50,
            r.p99,
            r.p999,
            r.disk_bytes as f64 / 1e6,
            amp
        );
    }
}

/// A horizontal bar chart of ops/s (log scale), one bar per row.
fn svg(rows: &[Row]) -> String {
    let (bar, gap, left, width) = (14.0, 4.0, 330.0, 560.0);
    let height = 40.0 + rows.len() as f64 * (bar + gap);
    let max = rows.iter().map(|r| r.ops_per_sec).fold(10.0, f64::max).log10();
    let colour = |backend: &str| match backend {
        "memory" => "#8c8c8c",
        "lsm" => "#1f77b4",
        "cow-btree" => "#2ca02c",
        _ => "#d62728",
    };
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">orbit-bench storage: operations per second (log scale)</text>\n",
        left + width + 90.0
    );
    for (i, r) in rows.iter().enumerate() {
        let y = 34.0 + i as f64 * (bar + gap);
        let len = (r.ops_per_sec.max(1.0).log10() / max * width).max(1.0);
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} {} ({})</text>\
             <rect x=\"{left}\" y=\"{y}\" width=\"{len:.1}\" height=\"{bar}\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{}\">{:.0}</text>\n",
            left - 6.0,
            y + bar - 3.0,
            r.backend,
            r.workload,
            r.mode,
            colour(r.backend),
            left + len + 4.0,
            y + bar - 3.0,
            r.ops_per_sec
        ));
    }
    out.push_str("</svg>\n");
    out
}
