//! INFO [section ...]: Redis 7.2's sections in its order, each once, with
//! the fields clients parse. `default` (or no argument) is every section
//! but commandstats and latencystats; `all` and `everything` add those two
//! (Orbit has no modules, so they are the same); several sections may be
//! named in one call and unknown names add nothing, as in Redis.

use crate::keyspace::DATABASE_KINDS;
use crate::keyspace::value::Value;
use crate::resp::connection::Conn;
use crate::resp::server::{Server, lock};
use bytes::Bytes;
use orbit_shared::{ActorGateway, NodeDescription};
use std::sync::atomic::Ordering;

use super::admin::REDIS_VERSION;

/// The sections in the order Redis writes them, and whether `default`
/// includes them.
const SECTIONS: [(&str, bool); 13] = [
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// The sections an INFO call asks for, in Redis' order.
fn wanted(args: &[Bytes]) -> Vec<&'static str> {
    let names: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    let every = names.iter().any(|n| n == "all" || n == "everything");
    let default = names.is_empty() || names.iter().any(|n| n == "default");
    SECTIONS
        .iter()
        .filter(|(name, in_default)| every || (default && *in_default) || names.iter().any(|n| n == name))
        .map(|(name, _)| *name)
        .collect()
}

pub(crate) async fn run<G: ActorGateway>(conn: &Conn<G>, args: &[Bytes]) -> Value {
    let server = &conn.server;
    let mut out = String::new();
    for section in wanted(args) {
        let text = match section {
            "server" => server_section(server),
            "clients" => clients_section(server),
            "memory" => {
                let maxmemory = server.params.get("maxmemory").unwrap_or_default();
                let policy = server.params.get("maxmemory-policy").unwrap_or_default();
                super::introspect::memory_section(maxmemory.parse().unwrap_or(0), &policy)
            }
            "persistence" => persistence_section(server),
            "stats" => stats_section(server),
            "replication" => {
                "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_repl_offset:0\r\n\r\n"
                    .to_string()
            }
            "cpu" => super::introspect::cpu_section(),
            "modules" => "# Modules\r\n\r\n".to_string(),
            "commandstats" => server.introspect.commandstats(),
            "errorstats" => server.introspect.errorstats(),
            "latencystats" => latency_section(server),
            "cluster" => match server.gateway.describe().await {
                Ok(node) => cluster_section(&node),
                Err(e) => return crate::resp::server::error_reply(&e),
            },
            _ => match keyspace_section(server).await {
                Ok(text) => text,
                Err(e) => return e,
            },
        };
        out.push_str(&text);
    }
    if out.is_empty() {
        // Only unknown sections: an empty reply, as Redis.
        return Value::Verbatim(out);
    }
    Value::Verbatim(out.trim_end_matches("\r\n").to_string() + "\r\n")
}

fn server_section<G: ActorGateway>(server: &Server<G>) -> String {
    let uptime = server.started.elapsed().as_secs();
    let now_usec =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros());
    let hz = server.params.get("hz").unwrap_or_default();
    format!(
        "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_mode:standalone\r\norbit_version:{}\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{now_usec}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{hz}\r\nconfigured_hz:{hz}\r\nconfig_file:\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::process::id(),
        server.runtime.port,
        uptime / 86_400,
    )
}

fn clients_section<G: ActorGateway>(server: &Server<G>) -> String {
    let clients = lock(&server.clients).len();
    let maxclients = lock(&server.config).maxclients;
    format!(
        "# Clients\r\nconnected_clients:{clients}\r\ncluster_connections:0\r\nmaxclients:{maxclients}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\nclients_in_timeout_table:0\r\n\r\n",
        server.blocking.blocked(),
        server.tracking.clients()
    )
}

/// Orbit writes every change to storage as it happens: nothing is ever
/// pending a save, and the last "save" is the start of the node.
fn persistence_section<G: ActorGateway>(server: &Server<G>) -> String {
    let durability = server.runtime.durability;
    let started = match server.introspect.lastsave() {
        Value::Int(at) => at,
        _ => 0,
    };
    format!(
        "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{started}\r\nrdb_last_bgsave_status:ok\r\naof_enabled:{}\r\naof_rewrite_in_progress:0\r\naof_last_bgrewrite_status:ok\r\naof_last_write_status:ok\r\norbit_durability:{durability}\r\n\r\n",
        u8::from(durability != "none"),
    )
}

fn stats_section<G: ActorGateway>(server: &Server<G>) -> String {
    let s = &server.stats;
    format!(
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\ntotal_error_replies:{}\r\n\r\n",
        s.connections_received.load(Ordering::Relaxed),
        s.commands_processed.load(Ordering::Relaxed),
        s.rejected_connections.load(Ordering::Relaxed),
        s.expired_keys.load(Ordering::Relaxed),
        server.introspect.error_replies(),
    )
}

/// `# Latencystats`: the percentiles `latency-tracking-info-percentiles`
/// names of each command's latency; empty while `latency-tracking` is off.
fn latency_section<G: ActorGateway>(server: &Server<G>) -> String {
    if server.params.get("latency-tracking").as_deref() == Some("no") {
        return "# Latencystats\r\n\r\n".to_string();
    }
    let percentiles: Vec<f64> = server
        .params
        .get("latency-tracking-info-percentiles")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    server.introspect.latencystats(&percentiles)
}

/// INFO's `# Cluster` section: whether the node belongs to a cluster and,
/// when it does, the cluster and node ids, the nodes it knows, and the
/// partitions it sees: all of them, those it leads, and those without a
/// known leader.
fn cluster_section(node: &NodeDescription) -> String {
    if !node.clustered() {
        return "# Cluster\r\ncluster_enabled:0\r\n\r\n".to_string();
    }
    let leaderless = node.partitions.iter().filter(|p| p.leader.is_empty()).count();
    format!(
        "# Cluster\r\ncluster_enabled:1\r\ncluster_id:{}\r\ncluster_node_id:{}\r\ncluster_known_nodes:{}\r\ncluster_partitions:{}\r\ncluster_partitions_led:{}\r\ncluster_partitions_without_leader:{leaderless}\r\n\r\n",
        node.cluster_id,
        node.node_id,
        node.nodes.len(),
        node.partitions.len(),
        node.partitions_led(),
    )
}

/// `# Keyspace`: a line per database holding keys.
async fn keyspace_section<G: ActorGateway>(server: &Server<G>) -> Result<String, Value> {
    let mut out = String::from("# Keyspace\r\n");
    for db in 0..DATABASE_KINDS.len() {
        let (keys, expires) = keyspace_counts(server, db).await?;
        if keys > 0 {
            out.push_str(&format!("db{db}:keys={keys},expires={expires},avg_ttl=0\r\n"));
        }
    }
    Ok(out + "\r\n")
}

/// INFO's `keys` (from the stored counts) and `expires` (the keys the
/// active-expiry index holds) of database `db`.
async fn keyspace_counts<G: ActorGateway>(server: &Server<G>, db: usize) -> Result<(u64, u64), Value> {
    let keys = super::scan::dbsize(server, db).await?;
    Ok((keys, server.expiry.keys_with_ttl(db).min(keys)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_shared::{ClusterNodeDescription, PartitionDescription};

    fn partitions(leaders: &[&str]) -> Vec<PartitionDescription> {
        (0..leaders.len() as u32)
            .zip(leaders)
            .map(|(id, leader)| PartitionDescription { id, leader: leader.to_string(), ..Default::default() })
            .collect()
    }

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    #[test]
    fn sections_come_in_redis_order_once_whatever_was_asked() {
        assert_eq!(wanted(&args(&["keyspace", "SERVER", "server", "nope"])), vec!["server", "keyspace"]);
        let default = wanted(&[]);
        assert_eq!(default, wanted(&args(&["default"])));
        assert!(!default.contains(&"commandstats") && !default.contains(&"latencystats"));
        assert!(default.contains(&"errorstats") && default.contains(&"keyspace"));
        let all = wanted(&args(&["all"]));
        assert_eq!(all.len(), SECTIONS.len());
        assert_eq!(all, wanted(&args(&["everything"])));
        assert_eq!(wanted(&args(&["default", "commandstats"])).len(), default.len() + 1);
    }

    #[test]
    fn a_node_without_a_cluster_reports_cluster_disabled() {
        let node = NodeDescription { partitions: partitions(&["127.0.0.1:1"; 4]), ..Default::default() };
        assert_eq!(cluster_section(&node), "# Cluster\r\ncluster_enabled:0\r\n\r\n");
    }

    #[test]
    fn a_cluster_node_reports_its_cluster_and_partitions() {
        let node = NodeDescription {
            partitions: partitions(&["10.0.0.1:1", "10.0.0.2:1", "", "10.0.0.1:1"]),
            cluster_id: "c-1".into(),
            node_id: 1,
            nodes: vec![
                ClusterNodeDescription { id: 1, addr: "10.0.0.1:1".into(), partitions_led: 2 },
                ClusterNodeDescription { id: 2, addr: "10.0.0.2:1".into(), partitions_led: 1 },
                ClusterNodeDescription { id: 3, addr: "10.0.0.3:1".into(), partitions_led: 0 },
            ],
            ..Default::default()
        };
        let section = cluster_section(&node);
        assert!(section.starts_with("# Cluster\r\ncluster_enabled:1\r\n"), "{section}");
        for line in [
            "cluster_id:c-1",
            "cluster_node_id:1",
            "cluster_known_nodes:3",
            "cluster_partitions:4",
            "cluster_partitions_led:2",
            "cluster_partitions_without_leader:1",
        ] {
            assert!(section.contains(&format!("{line}\r\n")), "{line} in {section}");
        }
    }
}
