//! The node's configuration: defaults < TOML file < `ORBIT__SECTION__KEY`
//! environment variables < command-line flags (applied by `main`).
//!
//! The front doors' sections are defined next to their front doors, in
//! `orbit-protocols` ([`RespConfig`], [`PgConfig`], [`McpConfig`]), and
//! embedded here as they are; `validate` checks them with the rest.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use orbit_protocols::mcp::McpConfig;
pub use orbit_protocols::postgres::{PgAuth, PgConfig, PostgresUser};
pub use orbit_protocols::resp::{RespConfig, RespUser};

/// The most PostgreSQL connections a node may be configured to serve at
/// once (PostgreSQL's own upper bound for `max_connections`).
const MAX_PG_CONNECTIONS: usize = 262_143;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub node: NodeConfig,
    pub storage: StorageConfig,
    pub actors: ActorsConfig,
    pub grpc: GrpcConfig,
    pub http: HttpConfig,
    pub resp: RespConfig,
    pub mcp: McpConfig,
    pub postgres: PgConfig,
    pub backup: BackupConfig,
    pub cluster: ClusterConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    /// Fixed when the data directory is created; a restart with another
    /// count is refused.
    pub partitions: u16,
    /// How long shutdown waits for in-flight requests before deactivating.
    #[serde(with = "humantime_serde")]
    pub drain_timeout: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub backend: StorageKind,
    pub durability: Durability,
    /// fsync interval under `durability = "periodic"`.
    #[serde(with = "humantime_serde")]
    pub sync_interval: Duration,
    /// MiB of recently read records kept in memory for point reads
    /// (`storage/cache.rs`); 0 turns the cache off.
    pub read_cache_mb: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum StorageKind {
    Memory,
    Lsm,
    CowBtree,
    /// Only in builds with the `rocksdb` cargo feature.
    Rocksdb,
}

impl StorageKind {
    /// The name used in flags, config files and data directories.
    pub fn name(self) -> &'static str {
        match self {
            StorageKind::Memory => "memory",
            StorageKind::Lsm => "lsm",
            StorageKind::CowBtree => "cow-btree",
            StorageKind::Rocksdb => "rocksdb",
        }
    }

    pub fn from_name(name: &str) -> Option<StorageKind> {
        [StorageKind::Memory, StorageKind::Lsm, StorageKind::CowBtree, StorageKind::Rocksdb]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// When an acknowledged write is on disk (like Redis `appendfsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Fsynced before the reply (group commit shares fsyncs).
    Always,
    /// Fsynced every `sync_interval`; a crash may lose that much.
    Periodic,
    /// Left to the OS; a machine crash may lose recent writes.
    None,
}

impl Durability {
    pub fn name(self) -> &'static str {
        match self {
            Durability::Always => "always",
            Durability::Periodic => "periodic",
            Durability::None => "none",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActorsConfig {
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub idle_check_interval: Duration,
    /// Calls that may wait for one actor's turn; more are refused.
    pub mailbox_capacity: usize,
    /// Resident activations above which the least recently used idle ones
    /// are evicted (state persisted first), down to 90% of it; 0: no limit.
    pub max_activations: usize,
    /// Deadline of calls arriving through a front door.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// How long an actor remembers the reply of a call made with an
    /// idempotency key (a retry after that runs again).
    #[serde(with = "humantime_serde")]
    pub idempotency_retention: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    pub addr: SocketAddr,
    /// Calls one `InvokeStream` may have in flight.
    pub stream_window: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub addr: SocketAddr,
    /// Bearer token for the admin API (`/admin/...`). Without one, only
    /// loopback clients may use it.
    pub admin_token: Option<String>,
}

/// Joining a cluster. Without seeds the node is a cluster of one and
/// writes straight to its store (decision 0012).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The peers' gRPC addresses (`host:port`; names are resolved on every
    /// try). This node's own address may be among them.
    pub seeds: Vec<String>,
    /// How many nodes, this one included, found the cluster: it bootstraps
    /// once that many report an empty data directory. Defaults to the
    /// number of distinct seeds and this node.
    pub bootstrap_expect: Option<usize>,
    /// Replicas of each partition (capped by the cluster's size).
    pub replication_factor: usize,
    /// The gRPC address peers reach this node at; by default the gRPC
    /// listener's address.
    pub advertise_addr: Option<String>,
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// Without a leader's heartbeat for this long (randomized up to twice
    /// it), a replica starts an election.
    #[serde(with = "humantime_serde")]
    pub election_timeout: Duration,
    /// How long a node without a cluster keeps looking for its seeds.
    #[serde(with = "humantime_serde")]
    pub formation_timeout: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            seeds: Vec::new(),
            bootstrap_expect: None,
            replication_factor: 3,
            advertise_addr: None,
            heartbeat_interval: Duration::from_millis(200),
            election_timeout: Duration::from_millis(600),
            formation_timeout: Duration::from_secs(300),
        }
    }
}

impl ClusterConfig {
    pub fn enabled(&self) -> bool {
        !self.seeds.is_empty()
    }
}

/// Scheduled online backups: every `interval` into a new `backup-<unix ms>`
/// directory under `dir`, keeping the newest `keep`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Where scheduled backups go; no scheduled backups when absent.
    pub dir: Option<PathBuf>,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    pub keep: usize,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig { dir: None, interval: Duration::from_secs(24 * 3600), keep: 7 }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: PathBuf::from("./orbit-data"),
            partitions: 64,
            drain_timeout: Duration::from_secs(10),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: StorageKind::Lsm,
            durability: Durability::Always,
            sync_interval: Duration::from_secs(1),
            read_cache_mb: 64,
        }
    }
}

impl Default for ActorsConfig {
    fn default() -> Self {
        ActorsConfig {
            idle_timeout: Duration::from_secs(300),
            idle_check_interval: Duration::from_secs(30),
            mailbox_capacity: 1024,
            max_activations: 0,
            call_timeout: Duration::from_secs(30),
            idempotency_retention: Duration::from_secs(24 * 3600),
        }
    }
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig { addr: ([0, 0, 0, 0], 50051).into(), stream_window: 1024 }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { addr: ([0, 0, 0, 0], 8080).into(), admin_token: None }
    }
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot load configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A TLS certificate or key file that cannot serve.
    #[error("TLS {what} {}: {reason}", .path.display())]
    Tls { what: &'static str, path: PathBuf, reason: String },
}

impl Config {
    /// Defaults, then `file` if given, then `ORBIT__SECTION__KEY` variables.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!("config file {} not found", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config =
            figment.merge(Env::prefixed("ORBIT__").split("__")).extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    /// A node for tests and embedding: in-memory storage, ephemeral ports on
    /// loopback.
    pub fn ephemeral() -> Config {
        let mut config = Config::default();
        config.storage.backend = StorageKind::Memory;
        config.grpc.addr = ([127, 0, 0, 1], 0).into();
        config.http.addr = ([127, 0, 0, 1], 0).into();
        config.resp.addr = ([127, 0, 0, 1], 0).into();
        config.postgres.addr = ([127, 0, 0, 1], 0).into();
        config
    }

    /// The PostgreSQL front door's TLS settings, read from the files
    /// `postgres.tls_cert` and `postgres.tls_key` name; `None` without them.
    pub fn postgres_tls(&self) -> Result<Option<Arc<rustls::ServerConfig>>, ConfigError> {
        match pg_tls_files(&self.postgres)? {
            Some((cert, key)) => crate::tls::server_config(cert, key).map(Some),
            None => Ok(None),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.node.partitions == 0 || self.node.partitions > orbit_shared::slot::SLOT_COUNT {
            return invalid("node.partitions must be between 1 and 16384");
        }
        if self.actors.mailbox_capacity == 0 {
            return invalid("actors.mailbox_capacity must be at least 1");
        }
        if self.actors.idle_check_interval.is_zero() || self.actors.call_timeout.is_zero() {
            return invalid("actors.idle_check_interval and actors.call_timeout must be positive");
        }
        if self.storage.sync_interval.is_zero() {
            return invalid("storage.sync_interval must be positive");
        }
        if self.backup.interval.is_zero() || self.backup.keep == 0 {
            return invalid("backup.interval must be positive and backup.keep at least 1");
        }
        let cluster = &self.cluster;
        if cluster.replication_factor == 0 || cluster.bootstrap_expect == Some(0) {
            return invalid("cluster.replication_factor and cluster.bootstrap_expect must be at least 1");
        }
        if cluster.heartbeat_interval.is_zero() || cluster.election_timeout < cluster.heartbeat_interval * 3 {
            return invalid("cluster.election_timeout must be at least three cluster.heartbeat_interval");
        }
        if cluster.enabled() && cluster.advertise_addr.is_none() && self.grpc.addr.port() == 0 {
            return invalid("a cluster node needs a fixed grpc.addr port or cluster.advertise_addr");
        }
        if cluster.enabled() && cluster.advertise_addr.is_none() && self.grpc.addr.ip().is_unspecified() {
            return invalid("a cluster node listening on all interfaces needs cluster.advertise_addr");
        }
        if self.grpc.stream_window == 0 {
            return invalid("grpc.stream_window must be at least 1");
        }
        if self.postgres.auth != PgAuth::Trust && self.postgres.users.is_empty() {
            return invalid("postgres.auth needs postgres.users (or auth = \"trust\")");
        }
        if !(1..=MAX_PG_CONNECTIONS).contains(&self.postgres.max_connections) {
            return invalid("postgres.max_connections must be between 1 and 262143");
        }
        pg_tls_files(&self.postgres)?;
        let mcp = &self.mcp;
        if mcp.max_result_bytes < 1024 || mcp.max_items == 0 || mcp.timeout.is_zero() {
            return invalid(
                "mcp.max_result_bytes must be at least 1 KiB, mcp.max_items and mcp.timeout positive",
            );
        }
        let resp = &self.resp;
        if resp.maxclients == 0 || resp.pubsub_buffer == 0 || resp.expiry_sweep_interval.is_zero() {
            return invalid(
                "resp.maxclients, resp.pubsub_buffer and resp.expiry_sweep_interval must be positive",
            );
        }
        if resp.proto_max_bulk_len < 1024 || resp.client_query_buffer_limit < 1024 * 1024 {
            return invalid(
                "resp.proto_max_bulk_len must be at least 1 KiB, resp.client_query_buffer_limit at least 1 MiB",
            );
        }
        Ok(())
    }
}

/// The PostgreSQL certificate and key files, when TLS is configured: both
/// or neither.
fn pg_tls_files(pg: &PgConfig) -> Result<Option<(&Path, &Path)>, ConfigError> {
    let missing = |m: &str| Err(ConfigError::Invalid(m.to_string()));
    match (&pg.tls_cert, &pg.tls_key) {
        (Some(cert), Some(key)) => Ok(Some((cert.as_path(), key.as_path()))),
        (None, None) => Ok(None),
        (Some(_), None) => missing("postgres.tls_cert needs postgres.tls_key (the certificate's key)"),
        (None, Some(_)) => missing("postgres.tls_key needs postgres.tls_cert (the certificate chain)"),
    }
}

#[cfg(test)]
// figment's test jail returns its own large error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn example_toml_deserialises_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/orbit-server.example.toml");
        let text = std::fs::read_to_string(&path).expect("example config exists");
        let config: Config = toml::from_str(&text).expect("example config parses");
        config.validate().expect("example config is valid");
        assert_eq!(config.storage.backend, StorageKind::Lsm);
        assert_eq!(config.grpc.addr.port(), 50051);
        assert!(config.mcp.read_only, "the example keeps MCP read-only");
        assert_eq!(config.postgres.max_connections, 100);
    }

    #[test]
    fn kubernetes_configmap_holds_a_valid_config() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../k8s/configmap.yaml");
        let yaml = std::fs::read_to_string(&path).expect("configmap exists");
        // The TOML is the block scalar under `orbit.toml: |`, indented 4 spaces.
        let toml_text: String = yaml
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("orbit.toml: |"))
            .skip(1)
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        let config: Config = toml::from_str(&toml_text).expect("configmap TOML parses");
        config.validate().expect("configmap config is valid");
        assert_eq!(config.node.data_dir, PathBuf::from("/var/lib/orbit"));
        assert!(config.mcp.read_only);
        assert!(
            config.mcp.allowed_hosts.iter().any(|h| h == "orbit.default.svc"),
            "agents reach /mcp by Service name"
        );
    }

    #[test]
    fn environment_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "orbit.toml",
                "[actors]\nidle_timeout = \"1m\"\nmailbox_capacity = 7\nmax_activations = 500\n",
            )?;
            jail.set_env("ORBIT__ACTORS__MAILBOX_CAPACITY", "9");
            jail.set_env("ORBIT__STORAGE__BACKEND", "memory");
            let config = Config::load(Some(Path::new("orbit.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.actors.idle_timeout, Duration::from_secs(60));
            assert_eq!(config.actors.mailbox_capacity, 9);
            assert_eq!(config.actors.max_activations, 500);
            assert_eq!(config.storage.backend, StorageKind::Memory);
            assert_eq!(config.node.partitions, 64);
            Ok(())
        });
    }

    #[test]
    fn tls_certificate_and_key_go_together() {
        let mut config = Config::default();
        config.postgres.tls_cert = Some(PathBuf::from("server.crt"));
        let err = config.validate().expect_err("a certificate without its key");
        assert!(err.to_string().contains("postgres.tls_cert needs postgres.tls_key"), "{err}");
        config.postgres.tls_cert = None;
        config.postgres.tls_key = Some(PathBuf::from("server.key"));
        let err = config.postgres_tls().expect_err("a key without its certificate");
        assert!(err.to_string().contains("postgres.tls_key needs postgres.tls_cert"), "{err}");
    }

    #[test]
    fn unreadable_or_garbage_tls_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "this is not a certificate\n").expect("write garbage");
        let mut config = Config::default();
        config.postgres.tls_cert = Some(garbage.clone());
        config.postgres.tls_key = Some(garbage.clone());
        let err = config.postgres_tls().expect_err("no certificate in the file");
        let text = err.to_string();
        assert!(text.contains("TLS certificate") && text.contains("garbage.pem"), "{text}");
        assert!(text.contains("no certificate in it"), "{text}");

        let missing = dir.path().join("missing.pem");
        config.postgres.tls_cert = Some(missing);
        let err = config.postgres_tls().expect_err("no such file");
        let text = err.to_string();
        assert!(text.contains("missing.pem") && text.contains("cannot read it"), "{text}");

        let truncated = dir.path().join("truncated.pem");
        std::fs::write(&truncated, "-----BEGIN CERTIFICATE-----\nMIIB\n").expect("write truncated");
        config.postgres.tls_cert = Some(truncated);
        let err = config.postgres_tls().expect_err("a PEM block without its end");
        let text = err.to_string();
        assert!(text.contains("truncated.pem") && text.contains("not valid PEM"), "{text}");
    }

    #[test]
    fn postgres_max_connections_defaults_to_100_and_is_read_from_file_and_environment() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.postgres.max_connections, 100);
            jail.create_file(
                "orbit.toml",
                "[postgres]\nmax_connections = 7\nauth = \"scram-sha-256\"\n\
                 users = [{ name = \"app\", password = \"pw\" }]\n",
            )?;
            let config = Config::load(Some(Path::new("orbit.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.postgres.max_connections, 7);
            assert_eq!(config.postgres.auth, PgAuth::ScramSha256);
            jail.set_env("ORBIT__POSTGRES__MAX_CONNECTIONS", "2");
            let config = Config::load(Some(Path::new("orbit.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.postgres.max_connections, 2);
            jail.set_env("ORBIT__POSTGRES__MAX_CONNECTIONS", "0");
            let err = Config::load(None).expect_err("no connection allowed");
            assert!(err.to_string().contains("postgres.max_connections"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn front_door_sections_keep_their_keys_and_durations() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ORBIT__RESP__EXPIRY_SWEEP_INTERVAL", "250ms");
            jail.set_env("ORBIT__RESP__MAXCLIENTS", "5");
            jail.set_env("ORBIT__MCP__TIMEOUT", "3s");
            jail.set_env("ORBIT__MCP__READ_ONLY", "false");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.resp.expiry_sweep_interval, Duration::from_millis(250));
            assert_eq!(config.resp.maxclients, 5);
            assert_eq!(config.mcp.timeout, Duration::from_secs(3));
            assert!(!config.mcp.read_only);
            assert_eq!(config.mcp.allowed_hosts, ["localhost", "127.0.0.1", "::1"]);
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_rejected_with_a_reason() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ORBIT__NODE__PARTITIONS", "0");
            let err = Config::load(None).expect_err("zero partitions");
            assert!(err.to_string().contains("partitions"), "{err}");
            jail.set_env("ORBIT__NODE__PARTITIONS", "8");
            jail.set_env("ORBIT__STORAGE__BACKEND", "floppy");
            let err = Config::load(None).expect_err("unknown backend");
            assert!(err.to_string().contains("floppy"), "{err}");
            Ok(())
        });
    }
}
