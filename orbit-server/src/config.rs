//! The node's configuration: defaults < TOML file < `ORBIT__SECTION__KEY`
//! environment variables < command-line flags (applied by `main`).

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub node: NodeConfig,
    pub storage: StorageConfig,
    pub actors: ActorsConfig,
    pub grpc: GrpcConfig,
    pub http: HttpConfig,
    pub resp: RespSection,
    pub mcp: McpSection,
    pub postgres: PostgresSection,
    pub backup: BackupConfig,
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
    /// Deadline of calls arriving through a front door.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
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

/// The Redis front door (`[resp]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RespSection {
    /// Serve RESP at all.
    pub enabled: bool,
    pub addr: SocketAddr,
    /// Password of the `default` user; clients must AUTH when set.
    pub requirepass: Option<String>,
    /// More users (ACL), each with all permissions.
    pub users: Vec<RespUser>,
    pub maxclients: usize,
    /// Largest bulk string a client may send (Redis' `proto-max-bulk-len`).
    pub proto_max_bulk_len: usize,
    /// Most unparsed bytes buffered per client (`client-query-buffer-limit`).
    pub client_query_buffer_limit: usize,
    /// Messages queued per pub/sub subscriber before it is disconnected.
    pub pubsub_buffer: usize,
    /// How often the background sweep looks for expired keys.
    #[serde(with = "humantime_serde")]
    pub expiry_sweep_interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespUser {
    pub name: String,
    /// `None`: the user needs no password (`nopass`).
    pub password: Option<String>,
}

impl Default for RespSection {
    fn default() -> Self {
        RespSection {
            enabled: true,
            addr: ([0, 0, 0, 0], 6379).into(),
            requirepass: None,
            users: Vec::new(),
            maxclients: 10_000,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            pubsub_buffer: 4096,
            expiry_sweep_interval: Duration::from_millis(100),
        }
    }
}

/// The PostgreSQL front door (`[postgres]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresSection {
    /// Serve the PostgreSQL protocol at all.
    pub enabled: bool,
    pub addr: SocketAddr,
    /// `trust` (no password), `password` (cleartext) or `scram-sha-256`.
    /// Without users only `trust` is possible.
    pub auth: PgAuth,
    pub users: Vec<PostgresUser>,
    /// PEM certificate chain (leaf first). With `tls_key`, `SSLRequest` is
    /// answered `S` and clients may use TLS; without both, `N`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert` (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PgAuth {
    Trust,
    Password,
    ScramSha256,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresUser {
    pub name: String,
    pub password: String,
}

impl Default for PostgresSection {
    fn default() -> Self {
        PostgresSection {
            enabled: true,
            addr: ([0, 0, 0, 0], 5432).into(),
            auth: PgAuth::Trust,
            users: Vec::new(),
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl PostgresSection {
    /// The front door's settings, with the TLS certificate and key read from
    /// their files when set.
    pub fn front_door(&self) -> Result<orbit_protocols::postgres::PgConfig, ConfigError> {
        use orbit_protocols::postgres::{AuthMethod, PgConfig, PgUser};
        let auth = match self.auth {
            PgAuth::Trust => AuthMethod::Trust,
            PgAuth::Password => AuthMethod::Password,
            PgAuth::ScramSha256 => AuthMethod::ScramSha256,
        };
        let users = self.users.iter().map(|u| PgUser { name: u.name.clone(), password: u.password.clone() });
        let tls = match self.tls_files()? {
            Some((cert, key)) => Some(crate::tls::server_config(cert, key)?),
            None => None,
        };
        Ok(PgConfig { auth, users: users.collect(), tls })
    }

    /// The certificate and key files, when TLS is configured: both or neither.
    fn tls_files(&self) -> Result<Option<(&Path, &Path)>, ConfigError> {
        let missing = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some((cert.as_path(), key.as_path()))),
            (None, None) => Ok(None),
            (Some(_), None) => missing("postgres.tls_cert needs postgres.tls_key (the certificate's key)"),
            (None, Some(_)) => missing("postgres.tls_key needs postgres.tls_cert (the certificate chain)"),
        }
    }
}

/// The MCP front door (`[mcp]`): streamable HTTP at `/mcp` on the HTTP
/// port; the `mcp` subcommand's stdio bridge reads it too.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpSection {
    /// Serve `/mcp` on the HTTP port.
    pub enabled: bool,
    /// Refuse tools that change data until an operator sets this to false.
    pub read_only: bool,
    /// When set, HTTP clients must send `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Accepted `Host` headers (`host` or `host:port`); `"*"` accepts any.
    /// Loopback names by default: add the names clients use to reach the
    /// node (the Service's DNS name in Kubernetes).
    pub allowed_hosts: Vec<String>,
    /// Accepted browser `Origin`s (`scheme://host:port`, `:*` for any
    /// port); empty: no Origin check.
    pub allowed_origins: Vec<String>,
    /// The largest tool result or resource, in bytes of JSON.
    pub max_result_bytes: usize,
    /// The most items a tool returns or examines per call.
    pub max_items: usize,
    /// How long one tool call, resource read or prompt may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for McpSection {
    fn default() -> Self {
        McpSection {
            enabled: true,
            read_only: true,
            token: None,
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
            max_result_bytes: 1 << 20,
            max_items: 1000,
            timeout: Duration::from_secs(10),
        }
    }
}

impl McpSection {
    /// The front door's settings and who may reach its HTTP endpoint.
    pub fn front_door(&self) -> (orbit_protocols::mcp::McpConfig, orbit_protocols::mcp::HttpAccess) {
        let config = orbit_protocols::mcp::McpConfig {
            read_only: self.read_only,
            max_result_bytes: self.max_result_bytes,
            max_items: self.max_items,
            timeout: self.timeout,
        };
        let access = orbit_protocols::mcp::HttpAccess {
            token: self.token.clone(),
            allowed_hosts: self.allowed_hosts.clone(),
            allowed_origins: self.allowed_origins.clone(),
        };
        (config, access)
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
            call_timeout: Duration::from_secs(30),
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
        if self.grpc.stream_window == 0 {
            return invalid("grpc.stream_window must be at least 1");
        }
        if self.postgres.auth != PgAuth::Trust && self.postgres.users.is_empty() {
            return invalid("postgres.auth needs postgres.users (or auth = \"trust\")");
        }
        self.postgres.tls_files()?;
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
            jail.create_file("orbit.toml", "[actors]\nidle_timeout = \"1m\"\nmailbox_capacity = 7\n")?;
            jail.set_env("ORBIT__ACTORS__MAILBOX_CAPACITY", "9");
            jail.set_env("ORBIT__STORAGE__BACKEND", "memory");
            let config = Config::load(Some(Path::new("orbit.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.actors.idle_timeout, Duration::from_secs(60));
            assert_eq!(config.actors.mailbox_capacity, 9);
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
        let err = config.postgres.front_door().expect_err("a key without its certificate");
        assert!(err.to_string().contains("postgres.tls_key needs postgres.tls_cert"), "{err}");
    }

    #[test]
    fn unreadable_or_garbage_tls_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "this is not a certificate\n").expect("write garbage");
        let mut section = PostgresSection {
            tls_cert: Some(garbage.clone()),
            tls_key: Some(garbage.clone()),
            ..PostgresSection::default()
        };
        let err = section.front_door().expect_err("no certificate in the file");
        let text = err.to_string();
        assert!(text.contains("TLS certificate") && text.contains("garbage.pem"), "{text}");
        assert!(text.contains("no certificate in it"), "{text}");

        let missing = dir.path().join("missing.pem");
        section.tls_cert = Some(missing);
        let err = section.front_door().expect_err("no such file");
        let text = err.to_string();
        assert!(text.contains("missing.pem") && text.contains("cannot read it"), "{text}");

        let truncated = dir.path().join("truncated.pem");
        std::fs::write(&truncated, "-----BEGIN CERTIFICATE-----\nMIIB\n").expect("write truncated");
        section.tls_cert = Some(truncated);
        let err = section.front_door().expect_err("a PEM block without its end");
        let text = err.to_string();
        assert!(text.contains("truncated.pem") && text.contains("not valid PEM"), "{text}");
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
