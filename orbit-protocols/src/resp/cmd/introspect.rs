//! What the front door tells about itself beyond the data: counts per
//! command and per error (INFO commandstats, errorstats), the slow log
//! (SLOWLOG), latency events (LATENCY), INFO's cpu and memory sections,
//! LASTSAVE and ROLE.
//!
//! Every request is recorded once, when its reply is ready: a command that
//! ran counts a call and its time (and a failure if it answered an error);
//! one refused before running (arity, authentication, permissions, a
//! transaction's context) counts as rejected. Error replies count by their
//! first word, as Redis' errorstats.

use crate::keyspace::value::Value;
use crate::resp::server::{ClientInfo, lock};
use bytes::Bytes;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::SystemTime;

/// Arguments of a slow-log entry kept, and bytes of each.
const SLOWLOG_ARGS: usize = 32;
const SLOWLOG_ARG_BYTES: usize = 128;
/// Samples of one latency event kept (Redis keeps 160).
const LATENCY_SAMPLES: usize = 160;

#[derive(Debug, Default, Clone, Copy)]
struct CommandStat {
    calls: u64,
    usec: u64,
    rejected: u64,
    failed: u64,
}

/// One slow command.
#[derive(Debug, Clone)]
pub struct SlowEntry {
    id: u64,
    at: u64,
    usec: u64,
    argv: Vec<Bytes>,
    addr: String,
    name: Bytes,
}

/// One latency event (`command`): its latest samples, as (Unix seconds,
/// milliseconds), and the largest ever.
#[derive(Debug, Default)]
struct LatencyEvent {
    samples: VecDeque<(u64, u64)>,
    max: u64,
}

/// Durations in microseconds, in buckets of 1/8 of a power of two (a
/// value is known within 12.5%, as Redis' histograms keep 2 significant
/// digits), so a command's histogram is a fixed 4 KiB.
#[derive(Debug)]
struct Histogram {
    buckets: Box<[u64; HISTOGRAM_BUCKETS]>,
    count: u64,
}

const SUB_BUCKETS: u64 = 8;
const HISTOGRAM_BUCKETS: usize = 64 * SUB_BUCKETS as usize;

impl Default for Histogram {
    fn default() -> Self {
        Histogram { buckets: Box::new([0; HISTOGRAM_BUCKETS]), count: 0 }
    }
}

impl Histogram {
    /// The bucket of `usec`: below 8 one per microsecond, above that the
    /// power of two and the next 3 bits.
    fn bucket(usec: u64) -> usize {
        if usec < SUB_BUCKETS {
            return usec as usize;
        }
        let power = 63 - u64::from(usec.leading_zeros());
        let sub = (usec >> (power - 3)) & (SUB_BUCKETS - 1);
        ((power - 2) * SUB_BUCKETS + sub) as usize
    }

    /// The smallest value of bucket `i` (the inverse of [`Histogram::bucket`]).
    fn lowest(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB_BUCKETS {
            return i;
        }
        let power = i / SUB_BUCKETS + 2;
        (1 << power) | ((i % SUB_BUCKETS) << (power - 3))
    }

    fn add(&mut self, usec: u64) {
        self.buckets[Self::bucket(usec).min(HISTOGRAM_BUCKETS - 1)] += 1;
        self.count += 1;
    }

    /// The value under which `p` percent of the samples fall.
    fn percentile(&self, p: f64) -> u64 {
        let wanted = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                return Self::lowest(i);
            }
        }
        0
    }
}

/// How a request ended, for the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    /// It ran; `failed` when it answered an error.
    Ran { failed: bool },
    /// It was refused before running.
    Rejected,
}

/// A request as the slow log shows it.
pub struct Request<'a> {
    pub name: &'static str,
    pub argv: &'a [Bytes],
    pub usec: u64,
    pub ran: Ran,
    pub error: Option<&'a str>,
    /// The client that sent it (its address and name go in the slow log).
    pub client: Option<&'a Mutex<ClientInfo>>,
}

#[derive(Debug)]
pub struct Introspect {
    commands: Mutex<BTreeMap<&'static str, CommandStat>>,
    errors: Mutex<BTreeMap<String, u64>>,
    slowlog: Mutex<VecDeque<SlowEntry>>,
    slow_ids: AtomicU64,
    latency: Mutex<BTreeMap<&'static str, LatencyEvent>>,
    /// Per command, how long its calls took (INFO latencystats).
    histograms: Mutex<BTreeMap<&'static str, Histogram>>,
    /// `slowlog-log-slower-than`, microseconds; negative: off.
    pub slower_than: AtomicI64,
    /// `slowlog-max-len`.
    pub slowlog_max: AtomicU64,
    /// `latency-monitor-threshold`, milliseconds; 0: off.
    pub latency_threshold: AtomicU64,
    /// When the node started, Unix seconds (LASTSAVE).
    started: u64,
}

impl Default for Introspect {
    fn default() -> Self {
        Introspect {
            commands: Mutex::default(),
            errors: Mutex::default(),
            slowlog: Mutex::default(),
            slow_ids: AtomicU64::new(0),
            latency: Mutex::default(),
            histograms: Mutex::default(),
            slower_than: AtomicI64::new(10_000),
            slowlog_max: AtomicU64::new(128),
            latency_threshold: AtomicU64::new(0),
            started: unix_secs(),
        }
    }
}

fn unix_secs() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Introspect {
    /// Records one request of a known command.
    pub fn record(&self, request: &Request<'_>) {
        {
            let mut commands = lock(&self.commands);
            let stat = commands.entry(request.name).or_default();
            match request.ran {
                Ran::Ran { failed } => {
                    stat.calls += 1;
                    stat.usec += request.usec;
                    stat.failed += u64::from(failed);
                }
                Ran::Rejected => stat.rejected += 1,
            }
        }
        if let Some(error) = request.error {
            self.record_error(error);
        }
        if matches!(request.ran, Ran::Ran { .. }) {
            lock(&self.histograms).entry(request.name).or_default().add(request.usec);
            self.maybe_slow(request);
            self.maybe_latency(request.usec);
        }
    }

    /// Counts an error reply by its first word (`ERR`, `WRONGTYPE`...).
    pub fn record_error(&self, text: &str) {
        let code = text.split(' ').next().unwrap_or("ERR").to_string();
        *lock(&self.errors).entry(code).or_default() += 1;
    }

    fn maybe_slow(&self, request: &Request<'_>) {
        let threshold = self.slower_than.load(Ordering::Relaxed);
        if threshold < 0 || request.usec < threshold as u64 {
            return;
        }
        let mut argv: Vec<Bytes> = request
            .argv
            .iter()
            .take(if request.argv.len() > SLOWLOG_ARGS { SLOWLOG_ARGS - 1 } else { SLOWLOG_ARGS })
            .map(shorten)
            .collect();
        if request.argv.len() > SLOWLOG_ARGS {
            let more = request.argv.len() - (SLOWLOG_ARGS - 1);
            argv.push(Bytes::from(format!("... ({more} more arguments)")));
        }
        let (addr, name) = match request.client {
            Some(client) => {
                let info = lock(client);
                (info.addr.to_string(), info.name.clone().unwrap_or_default())
            }
            None => (String::new(), Bytes::new()),
        };
        let entry = SlowEntry {
            id: self.slow_ids.fetch_add(1, Ordering::Relaxed),
            at: unix_secs(),
            usec: request.usec,
            argv,
            addr,
            name,
        };
        let max = self.slowlog_max.load(Ordering::Relaxed) as usize;
        let mut log = lock(&self.slowlog);
        log.push_front(entry);
        log.truncate(max);
    }

    fn maybe_latency(&self, usec: u64) {
        let threshold = self.latency_threshold.load(Ordering::Relaxed);
        let ms = usec / 1000;
        if threshold == 0 || ms < threshold {
            return;
        }
        let mut events = lock(&self.latency);
        let event = events.entry("command").or_default();
        let now = unix_secs();
        match event.samples.back_mut() {
            // One sample per second: the largest.
            Some((at, worst)) if *at == now => *worst = (*worst).max(ms),
            _ => event.samples.push_back((now, ms)),
        }
        if event.samples.len() > LATENCY_SAMPLES {
            event.samples.pop_front();
        }
        event.max = event.max.max(ms);
    }

    /// CONFIG RESETSTAT: forgets the command and error counts.
    pub fn reset(&self) {
        lock(&self.commands).clear();
        lock(&self.errors).clear();
        lock(&self.histograms).clear();
    }

    /// INFO `# Latencystats`: per command, the given percentiles of its
    /// calls' durations in microseconds, as Redis writes them
    /// (`p50=1.003,p99=...`).
    pub fn latencystats(&self, percentiles: &[f64]) -> String {
        let mut out = String::from("# Latencystats\r\n");
        for (name, histogram) in lock(&self.histograms).iter() {
            let shown: Vec<String> =
                percentiles.iter().map(|p| format!("p{p}={:.3}", histogram.percentile(*p) as f64)).collect();
            out.push_str(&format!("latency_percentiles_usec_{name}:{}\r\n", shown.join(",")));
        }
        out + "\r\n"
    }

    /// INFO `# Commandstats`.
    pub fn commandstats(&self) -> String {
        let mut out = String::from("# Commandstats\r\n");
        for (name, s) in lock(&self.commands).iter() {
            let per_call = if s.calls == 0 { 0.0 } else { s.usec as f64 / s.calls as f64 };
            out.push_str(&format!(
                "cmdstat_{name}:calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
                s.calls, s.usec, s.rejected, s.failed
            ));
        }
        out + "\r\n"
    }

    /// INFO `# Errorstats`.
    pub fn errorstats(&self) -> String {
        let mut out = String::from("# Errorstats\r\n");
        for (code, count) in lock(&self.errors).iter() {
            out.push_str(&format!("errorstat_{code}:count={count}\r\n"));
        }
        out + "\r\n"
    }

    /// Error replies in total (INFO stats `total_error_replies`).
    pub fn error_replies(&self) -> u64 {
        lock(&self.errors).values().sum()
    }

    /// LASTSAVE: Orbit writes every change to storage as it happens and
    /// takes no snapshots, so this is when the node started.
    pub fn lastsave(&self) -> Value {
        Value::Int(self.started as i64)
    }

    /// SLOWLOG GET [count] | LEN | RESET | HELP.
    pub fn slowlog(&self, args: &[Bytes]) -> Value {
        let sub = super::lower(&args[0]);
        match (sub.as_slice(), &args[1..]) {
            (b"get", rest) if rest.len() <= 1 => {
                let count = match rest.first().map(|c| crate::keyspace::parse_i64(c)) {
                    None => 10,
                    Some(Ok(n)) if n >= -1 => n,
                    Some(_) => return Value::err("ERR count should be greater than or equal to -1"),
                };
                let log = lock(&self.slowlog);
                let take = if count < 0 { log.len() } else { count as usize };
                Value::Array(log.iter().take(take).map(slow_entry).collect())
            }
            (b"len", []) => Value::Int(lock(&self.slowlog).len() as i64),
            (b"reset", []) => {
                lock(&self.slowlog).clear();
                Value::ok()
            }
            (b"help", []) => help(&[
                "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
                "HELP",
                "    Print this help.",
            ]),
            _ => super::subcommand_error("slowlog", &args[0], &["get", "len", "reset", "help"]),
        }
    }

    /// LATENCY LATEST | HISTORY event | RESET [event ...] | DOCTOR | HELP.
    pub fn latency(&self, args: &[Bytes]) -> Value {
        let sub = super::lower(&args[0]);
        let events = &mut lock(&self.latency);
        match (sub.as_slice(), &args[1..]) {
            (b"latest", []) => Value::Array(
                events
                    .iter()
                    .filter_map(|(name, e)| {
                        let (at, ms) = e.samples.back()?;
                        Some(Value::Array(vec![
                            Value::bulk(*name),
                            Value::Int(*at as i64),
                            Value::Int(*ms as i64),
                            Value::Int(e.max as i64),
                        ]))
                    })
                    .collect(),
            ),
            (b"history", [event]) => {
                let samples = events.get(String::from_utf8_lossy(event).as_ref()).map(|e| &e.samples);
                Value::Array(
                    samples
                        .into_iter()
                        .flatten()
                        .map(|(at, ms)| Value::Array(vec![Value::Int(*at as i64), Value::Int(*ms as i64)]))
                        .collect(),
                )
            }
            (b"reset", names) => {
                let before = events.len();
                if names.is_empty() {
                    events.clear();
                } else {
                    events.retain(|name, _| !names.iter().any(|n| n.as_ref() == name.as_bytes()));
                }
                Value::Int((before - events.len()) as i64)
            }
            (b"doctor", []) => Value::Verbatim(self.doctor(events)),
            (b"help", []) => help(&[
                "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "DOCTOR",
                "    Return a human readable latency analysis report.",
                "HISTORY <event>",
                "    Return time-latency samples for the <event> class.",
                "LATEST",
                "    Return the latest latency samples for all events.",
                "RESET [<event> ...]",
                "    Reset latency data of one or more <event> classes.",
                "    (default: reset all data for all event classes)",
                "HELP",
                "    Print this help.",
            ]),
            _ => super::subcommand_error(
                "latency",
                &args[0],
                &["latest", "history", "reset", "doctor", "help"],
            ),
        }
    }

    fn doctor(&self, events: &BTreeMap<&'static str, LatencyEvent>) -> String {
        let threshold = self.latency_threshold.load(Ordering::Relaxed);
        if threshold == 0 {
            return "The latency monitor is off: CONFIG SET latency-monitor-threshold <milliseconds> turns it on.\n"
                .into();
        }
        if events.is_empty() {
            return format!("No command took {threshold} ms or more since the monitor was last reset.\n");
        }
        let mut out = String::new();
        for (name, e) in events {
            let average = e.samples.iter().map(|(_, ms)| ms).sum::<u64>() / e.samples.len().max(1) as u64;
            out.push_str(&format!(
                "{name}: {} samples, average {average} ms, worst {} ms (threshold {threshold} ms)\n",
                e.samples.len(),
                e.max
            ));
        }
        out
    }
}

fn shorten(arg: &Bytes) -> Bytes {
    if arg.len() <= SLOWLOG_ARG_BYTES {
        return arg.clone();
    }
    let more = arg.len() - SLOWLOG_ARG_BYTES;
    let mut out = arg.slice(..SLOWLOG_ARG_BYTES).to_vec();
    out.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
    Bytes::from(out)
}

fn slow_entry(e: &SlowEntry) -> Value {
    Value::Array(vec![
        Value::Int(e.id as i64),
        Value::Int(e.at as i64),
        Value::Int(e.usec as i64),
        Value::Array(e.argv.iter().cloned().map(Value::Bulk).collect()),
        Value::bulk(e.addr.clone()),
        Value::Bulk(e.name.clone()),
    ])
}

fn help(lines: &[&str]) -> Value {
    Value::Array(lines.iter().map(|l| Value::Simple((*l).into())).collect())
}

/// ROLE: a node answers as a master without replicas (a cluster's
/// replication is per partition and not Redis replication).
pub fn role() -> Value {
    Value::Array(vec![Value::bulk("master"), Value::Int(0), Value::Array(Vec::new())])
}

/// INFO `# CPU`: the process' CPU seconds, from `/proc/self/stat` (in
/// clock ticks of 1/100 s, Linux' fixed unit there); empty elsewhere.
pub fn cpu_section() -> String {
    let mut out = String::from("# CPU\r\n");
    if let Some(times) = proc_stat_times() {
        let [user, sys, child_user, child_sys] = times.map(|ticks| ticks as f64 / 100.0);
        out.push_str(&format!(
            "used_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:{child_sys:.6}\r\nused_cpu_user_children:{child_user:.6}\r\n"
        ));
    }
    out + "\r\n"
}

/// utime, stime, cutime, cstime of `/proc/self/stat`.
fn proc_stat_times() -> Option<[u64; 4]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start at 3.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some([field(14)?, field(15)?, field(16)?, field(17)?])
}

/// INFO `# Memory`: the process' resident memory (Orbit keeps no
/// allocator accounting, so `used_memory` is the resident set too), from
/// `/proc/self/status`; `maxmemory` and its policy as CONFIG SET them
/// (Orbit evicts no keys).
pub fn memory_section(maxmemory: u64, policy: &str) -> String {
    let mut out = String::from("# Memory\r\n");
    if let Some((rss, peak)) = process_memory() {
        out.push_str(&format!(
            "used_memory:{rss}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\n",
            human(rss),
            human(rss),
            human(peak)
        ));
    }
    out.push_str(&format!(
        "maxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{policy}\r\nmem_allocator:libc\r\n\r\n",
        human(maxmemory)
    ));
    out
}

/// The process' resident and peak resident bytes, from
/// `/proc/self/status` (`None` where there is none).
pub fn process_memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((kib("VmRSS:")?, kib("VmHWM:")?))
}

/// Bytes as Redis' `*_human` fields write them (`1.50M`).
pub fn human(bytes: u64) -> String {
    let units = [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)];
    match units.iter().find(|(_, size)| bytes >= *size) {
        Some((unit, size)) => format!("{:.2}{unit}", bytes as f64 / *size as f64),
        None => format!("{bytes}B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(name: &'static str, argv: &'a [Bytes], usec: u64, ran: Ran) -> Request<'a> {
        Request { name, argv, usec, ran, error: None, client: None }
    }

    #[test]
    fn calls_rejections_and_failures_are_counted_per_command() {
        let stats = Introspect::default();
        let argv = [Bytes::from_static(b"get"), Bytes::from_static(b"k")];
        stats.record(&request("get", &argv, 10, Ran::Ran { failed: false }));
        stats.record(&Request {
            error: Some("WRONGTYPE Operation"),
            ..request("get", &argv, 30, Ran::Ran { failed: true })
        });
        stats.record(&Request {
            error: Some("ERR wrong number"),
            ..request("get", &argv[..1], 0, Ran::Rejected)
        });
        let text = stats.commandstats();
        assert!(
            text.contains("cmdstat_get:calls=2,usec=40,usec_per_call=20.00,rejected_calls=1,failed_calls=1"),
            "{text}"
        );
        let errors = stats.errorstats();
        assert!(
            errors.contains("errorstat_ERR:count=1") && errors.contains("errorstat_WRONGTYPE:count=1"),
            "{errors}"
        );
        assert_eq!(stats.error_replies(), 2);
        stats.reset();
        assert_eq!(stats.commandstats(), "# Commandstats\r\n\r\n");
    }

    #[test]
    fn the_slow_log_keeps_the_newest_entries_with_long_arguments_cut() {
        let stats = Introspect::default();
        stats.slower_than.store(100, Ordering::Relaxed);
        stats.slowlog_max.store(2, Ordering::Relaxed);
        let long = Bytes::from(vec![b'x'; 200]);
        let argv: Vec<Bytes> =
            std::iter::once(Bytes::from_static(b"set")).chain(std::iter::repeat_n(long, 40)).collect();
        stats.record(&request("set", &argv, 99, Ran::Ran { failed: false }));
        assert_eq!(stats.slowlog(&[Bytes::from_static(b"len")]), Value::Int(0));
        for usec in [100, 200, 300] {
            stats.record(&request("set", &argv, usec, Ran::Ran { failed: false }));
        }
        assert_eq!(stats.slowlog(&[Bytes::from_static(b"LEN")]), Value::Int(2));
        let Value::Array(entries) = stats.slowlog(&[Bytes::from_static(b"get"), Bytes::from_static(b"1")])
        else {
            panic!("SLOWLOG GET is an array")
        };
        let Value::Array(entry) = &entries[0] else { panic!("an entry is an array") };
        assert_eq!(entry[0], Value::Int(2), "newest first");
        assert_eq!(entry[2], Value::Int(300));
        let Value::Array(args) = &entry[3] else { panic!("arguments") };
        assert_eq!(args.len(), SLOWLOG_ARGS);
        assert_eq!(args[1], Value::bulk(format!("{}... (72 more bytes)", "x".repeat(128))));
        assert_eq!(args[31], Value::bulk("... (10 more arguments)"));
        assert_eq!(stats.slowlog(&[Bytes::from_static(b"reset")]), Value::ok());
        assert_eq!(stats.slowlog(&[Bytes::from_static(b"len")]), Value::Int(0));
    }

    #[test]
    fn latency_events_are_recorded_over_the_threshold_only() {
        let stats = Introspect::default();
        stats.record(&request("get", &[], 50_000, Ran::Ran { failed: false }));
        assert_eq!(stats.latency(&[Bytes::from_static(b"latest")]), Value::Array(vec![]));
        stats.latency_threshold.store(10, Ordering::Relaxed);
        stats.record(&request("get", &[], 5_000, Ran::Ran { failed: false }));
        stats.record(&request("get", &[], 25_000, Ran::Ran { failed: false }));
        let Value::Array(latest) = stats.latency(&[Bytes::from_static(b"latest")]) else { panic!("array") };
        let Value::Array(event) = &latest[0] else { panic!("event") };
        assert_eq!(
            (&event[0], &event[2], &event[3]),
            (&Value::bulk("command"), &Value::Int(25), &Value::Int(25))
        );
        assert_eq!(stats.latency(&[Bytes::from_static(b"reset")]), Value::Int(1));
    }

    #[test]
    fn latency_percentiles_come_from_each_commands_histogram() {
        let stats = Introspect::default();
        for usec in 1..=100 {
            stats.record(&request("get", &[], usec, Ran::Ran { failed: false }));
        }
        stats.record(&request("set", &[], 5000, Ran::Ran { failed: false }));
        let text = stats.latencystats(&[50.0, 99.0, 99.9]);
        assert!(
            text.contains("latency_percentiles_usec_get:p50=48.000,p99=96.000,p99.9=96.000\r\n"),
            "{text}"
        );
        assert!(text.contains("latency_percentiles_usec_set:p50=4608.000,"), "{text}");
        for usec in [0, 7, 8, 9, 100, 5000, u64::MAX] {
            let bucket = Histogram::bucket(usec);
            assert!(
                Histogram::lowest(bucket) <= usec && usec - Histogram::lowest(bucket) <= usec / 8,
                "{usec}"
            );
        }
        stats.reset();
        assert_eq!(stats.latencystats(&[50.0]), "# Latencystats\r\n\r\n");
    }

    #[test]
    fn sizes_read_as_redis_writes_them() {
        assert_eq!(human(512), "512B");
        assert_eq!(human(1536 * 1024), "1.50M");
    }
}
