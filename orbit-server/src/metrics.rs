//! Prometheus metrics, one registry per node (two nodes in one process keep
//! separate counts). Hot paths hold pre-resolved handles, never look up labels.

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};
use std::collections::HashMap;

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    activations: IntCounterVec,
    deactivations: IntCounterVec,
    invocations: IntCounterVec,
    invocation_seconds: HistogramVec,
    mailbox_rejections: IntCounterVec,
    interleaved: IntCounterVec,
    pub storage: StorageMetrics,
    /// Set from the backend's stats when metrics are rendered.
    pub storage_keys: IntGaugeVec,
    pub storage_disk_bytes: IntGaugeVec,
    pub storage_compactions: IntGaugeVec,
    backups: IntCounterVec,
    /// Set from the directory when metrics are rendered.
    pub active_actors: IntGauge,
    /// Set from the directory when metrics are rendered, by kind
    /// ([`Metrics::set_residents`]).
    active_by_kind: IntGaugeVec,
    oldest_activation: GaugeVec,
    /// Calls this node forwarded to a partition's leader elsewhere.
    pub forwarded_calls: IntCounter,
    /// Reminder and job ticks delivered by this node's scheduler.
    pub reminders_fired: IntCounter,
    /// Reminders and jobs this node's scheduler holds (those of the
    /// partitions it serves).
    pub reminders_scheduled: IntGauge,
    /// Set from the cluster's groups when metrics are rendered (by group;
    /// the metadata group is `meta`).
    pub group_leader: IntGaugeVec,
    pub group_term: IntGaugeVec,
    pub group_applied: IntGaugeVec,
    /// On a group's leader: entries its most lagging replica is behind.
    pub group_lag: IntGaugeVec,
    /// Groups this node leads that have a replica behind or unreachable.
    pub under_replicated: IntGauge,
}

/// Storage-side handles, shared with the commit path.
#[derive(Clone)]
pub struct StorageMetrics {
    pub reads: IntCounter,
    pub read_cache_hits: IntCounter,
    pub scanned: IntCounter,
    pub writes: IntCounter,
    pub write_seconds: Histogram,
    pub fsyncs: IntCounter,
    pub fsync_seconds: Histogram,
}

/// The handles of one actor kind.
#[derive(Clone)]
pub struct KindMetrics {
    pub activations: IntCounter,
    pub invocations_ok: IntCounter,
    pub invocation_seconds: Histogram,
    pub mailbox_rejections: IntCounter,
    /// Calls of interleaving methods run over the stored state while
    /// another turn held the actor.
    pub interleaved: IntCounter,
    deactivations: IntCounterVec,
    invocations: IntCounterVec,
    kind: &'static str,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

fn must<T>(r: prometheus::Result<T>) -> T {
    // Only fails on malformed names or duplicate registration, both fixed at
    // compile time here; a test registers everything once.
    r.unwrap_or_else(|e| panic!("metric definition is invalid: {e}"))
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let reg = |c: Box<dyn prometheus::core::Collector>| must(registry.register(c));
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = must(IntCounterVec::new(Opts::new(name, help), labels));
            reg(Box::new(c.clone()));
            c
        };
        let histogram = |name: &str, help: &str| {
            let h =
                must(Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec())));
            reg(Box::new(h.clone()));
            h
        };
        let counter = |name: &str, help: &str| {
            let c = must(IntCounter::new(name, help));
            reg(Box::new(c.clone()));
            c
        };
        let activations = counter_vec("orbit_activations_total", "Actor activations", &["kind"]);
        let deactivations =
            counter_vec("orbit_deactivations_total", "Actor deactivations by reason", &["kind", "reason"]);
        let active_actors = must(IntGauge::new("orbit_active_actors", "Resident activations"));
        reg(Box::new(active_actors.clone()));
        let active_by_kind = must(IntGaugeVec::new(
            Opts::new("orbit_active_actors_by_kind", "Resident activations by kind"),
            &["kind"],
        ));
        reg(Box::new(active_by_kind.clone()));
        let oldest_activation = must(GaugeVec::new(
            Opts::new("orbit_oldest_activation_seconds", "Age of the oldest resident activation by kind"),
            &["kind"],
        ));
        reg(Box::new(oldest_activation.clone()));
        let invocations = counter_vec(
            "orbit_invocations_total",
            "Actor invocations by kind and outcome",
            &["kind", "outcome"],
        );
        let invocation_seconds = must(HistogramVec::new(
            HistogramOpts::new("orbit_invocation_duration_seconds", "Invocation latency")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["kind"],
        ));
        reg(Box::new(invocation_seconds.clone()));
        let mailbox_rejections = counter_vec(
            "orbit_mailbox_rejections_total",
            "Calls refused because an actor's mailbox was full",
            &["kind"],
        );
        let interleaved = counter_vec(
            "orbit_interleaved_calls_total",
            "Calls of interleaving methods run over the stored state while another turn held the actor",
            &["kind"],
        );
        let storage = StorageMetrics {
            reads: counter("orbit_storage_reads_total", "Point reads"),
            scanned: counter("orbit_storage_scanned_pairs_total", "Key-value pairs returned by scans"),
            read_cache_hits: counter(
                "orbit_storage_read_cache_hits_total",
                "Point reads answered by the read cache",
            ),
            writes: counter("orbit_storage_writes_total", "Atomic batches written"),
            write_seconds: histogram("orbit_storage_write_duration_seconds", "Time to append a batch"),
            fsyncs: counter("orbit_storage_fsyncs_total", "Fsyncs (each may cover many writes)"),
            fsync_seconds: histogram("orbit_storage_fsync_duration_seconds", "Fsync latency"),
        };
        let gauge_vec = |name: &str, help: &str| {
            let g = must(IntGaugeVec::new(Opts::new(name, help), &["backend"]));
            reg(Box::new(g.clone()));
            g
        };
        let backups = counter_vec("orbit_backups_total", "Scheduled backups by outcome", &["outcome"]);
        let storage_keys =
            gauge_vec("orbit_storage_keys", "Keys in the backend (an estimate for lsm and rocksdb)");
        let storage_disk_bytes = gauge_vec("orbit_storage_disk_bytes", "Bytes the backend holds on disk");
        let storage_compactions =
            gauge_vec("orbit_storage_compactions", "Compactions the backend has completed");
        let group_gauge = |name: &str, help: &str| {
            let g = must(IntGaugeVec::new(Opts::new(name, help), &["group"]));
            reg(Box::new(g.clone()));
            g
        };
        let group_leader = group_gauge("orbit_raft_leader", "Node id of the group's leader (0: none known)");
        let group_term = group_gauge("orbit_raft_term", "The group's current Raft term");
        let group_applied = group_gauge("orbit_raft_applied_index", "Last log index applied on this node");
        let group_lag =
            group_gauge("orbit_raft_replication_lag", "On the leader: entries the slowest replica is behind");
        let under_replicated = must(IntGauge::new(
            "orbit_raft_under_replicated_groups",
            "Groups this node leads with a replica more than 100 entries behind",
        ));
        reg(Box::new(under_replicated.clone()));
        let forwarded_calls =
            counter("orbit_forwarded_calls_total", "Calls forwarded to a partition's leader");
        let reminders_fired =
            counter("orbit_reminders_fired_total", "Reminder and job ticks delivered by this node");
        let reminders_scheduled =
            must(IntGauge::new("orbit_reminders_scheduled", "Reminders and jobs scheduled on this node"));
        reg(Box::new(reminders_scheduled.clone()));
        Metrics {
            forwarded_calls,
            reminders_fired,
            reminders_scheduled,
            group_leader,
            group_term,
            group_applied,
            group_lag,
            under_replicated,
            registry,
            activations,
            deactivations,
            invocations,
            invocation_seconds,
            mailbox_rejections,
            interleaved,
            storage,
            backups,
            storage_keys,
            storage_disk_bytes,
            storage_compactions,
            active_actors,
            active_by_kind,
            oldest_activation,
        }
    }

    pub fn kind(&self, kind: &'static str) -> KindMetrics {
        KindMetrics {
            activations: self.activations.with_label_values(&[kind]),
            invocations_ok: self.invocations.with_label_values(&[kind, "ok"]),
            invocation_seconds: self.invocation_seconds.with_label_values(&[kind]),
            mailbox_rejections: self.mailbox_rejections.with_label_values(&[kind]),
            interleaved: self.interleaved.with_label_values(&[kind]),
            deactivations: self.deactivations.clone(),
            invocations: self.invocations.clone(),
            kind,
        }
    }

    /// Records the state of this node's Raft groups.
    pub fn set_groups(&self, groups: &[crate::cluster::GroupReport]) {
        let mut under = 0;
        for g in groups {
            let label =
                if g.group == crate::cluster::META_GROUP { "meta".to_string() } else { g.group.to_string() };
            let set = |v: &IntGaugeVec, n: u64| {
                v.with_label_values(&[label.as_str()]).set(i64::try_from(n).unwrap_or(i64::MAX))
            };
            set(&self.group_leader, g.leader.unwrap_or(0));
            set(&self.group_term, g.term);
            set(&self.group_applied, g.applied);
            let lag = g.lag.as_ref().map(|l| l.values().copied().max().unwrap_or(0));
            set(&self.group_lag, lag.unwrap_or(0));
            if lag.is_some_and(|l| l > 100) {
                under += 1;
            }
        }
        self.under_replicated.set(under);
    }

    /// Records what a backend reports about itself.
    pub fn set_backend_stats(&self, backend: &str, stats: &crate::storage::BackendStats) {
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.storage_keys.with_label_values(&[backend]).set(clamp(stats.keys));
        self.storage_disk_bytes.with_label_values(&[backend]).set(clamp(stats.disk_bytes));
        if let Some(compactions) = stats.compactions {
            self.storage_compactions.with_label_values(&[backend]).set(clamp(compactions));
        }
    }

    /// Records the resident activations of each kind (`Directory::by_kind`)
    /// at node time `now_ms`. The vectors are reset first, so a kind with
    /// none left drops out.
    pub(crate) fn set_residents(&self, kinds: &HashMap<String, crate::actor::Residents>, now_ms: u64) {
        self.active_by_kind.reset();
        self.oldest_activation.reset();
        for (kind, residents) in kinds {
            let count = i64::try_from(residents.count).unwrap_or(i64::MAX);
            self.active_by_kind.with_label_values(&[kind.as_str()]).set(count);
            let age_ms = now_ms.saturating_sub(residents.oldest_activated_ms);
            self.oldest_activation.with_label_values(&[kind.as_str()]).set(age_ms as f64 / 1000.0);
        }
    }

    pub fn backup_done(&self, ok: bool) {
        self.backups.with_label_values(&[if ok { "ok" } else { "error" }]).inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl KindMetrics {
    pub fn record(&self, outcome: Result<(), orbit_shared::ErrorKind>, seconds: f64) {
        self.invocation_seconds.observe(seconds);
        match outcome {
            Ok(()) => self.invocations_ok.inc(),
            Err(kind) => self.invocations.with_label_values(&[self.kind, kind.as_str()]).inc(),
        }
    }

    pub fn deactivated(&self, reason: &'static str) {
        self.deactivations.with_label_values(&[self.kind, reason]).inc();
    }
}

impl StorageMetrics {
    /// Handles registered nowhere, for components tested alone.
    #[cfg(test)]
    pub fn unregistered() -> StorageMetrics {
        Metrics::new().storage
    }
}
