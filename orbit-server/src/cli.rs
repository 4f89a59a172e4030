//! `orbit-server`'s command line: `serve` (the default) and the offline and
//! admin subcommands. Flags override the config file and the environment.

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use orbit_server::backup;
use orbit_server::config::{Config, Durability, StorageKind};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "orbit-server", version, about = "Orbit node: persistent virtual actors over gRPC")]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node (the default).
    Serve(ServeArgs),
    /// Take a consistent online backup of a running node (through its admin API).
    Backup {
        /// Directory on the node's machine; must be empty or absent.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// The node's HTTP address.
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
        admin: String,
        /// Bearer token, when the node sets `http.admin_token`.
        #[arg(long, env = "ORBIT_ADMIN_TOKEN")]
        token: Option<String>,
        /// Backend of the backup (the node's own by default).
        #[arg(long, value_enum)]
        storage: Option<StorageKind>,
    },
    /// Build a fresh data directory from a backup, verifying its checksum.
    Restore {
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        /// Backend of the new data directory (the backup's by default).
        #[arg(long, value_enum)]
        storage: Option<StorageKind>,
    },
    /// Serve MCP on stdin/stdout for an LLM agent, against a running node
    /// reached over gRPC. The `[mcp]` section of the config (file or
    /// ORBIT__MCP__* environment) applies, read-only by default.
    Mcp {
        /// The node's gRPC address.
        #[arg(long, default_value = "127.0.0.1:50051", value_name = "ADDR")]
        connect: String,
        /// TOML configuration file (its `[mcp]` section is used).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Copy a stopped node's data directory to another backend, verified by checksum.
    Migrate {
        /// `BACKEND:PATH`, e.g. `lsm:./orbit-data`.
        #[arg(long, value_parser = parse_backend_path)]
        from: (StorageKind, PathBuf),
        /// `BACKEND:PATH` of a new data directory.
        #[arg(long, value_parser = parse_backend_path)]
        to: (StorageKind, PathBuf),
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file (see config/orbit-server.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long, value_enum)]
    pub storage: Option<StorageKind>,
    #[arg(long, value_enum)]
    pub durability: Option<Durability>,
    #[arg(long, value_name = "ADDR")]
    pub grpc_addr: Option<SocketAddr>,
    #[arg(long, value_name = "ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// The Redis (RESP) listener, default 0.0.0.0:6379.
    #[arg(long, value_name = "ADDR")]
    pub resp_addr: Option<SocketAddr>,
    /// The PostgreSQL listener, default 0.0.0.0:5432.
    #[arg(long, value_name = "ADDR")]
    pub pg_addr: Option<SocketAddr>,
    /// PEM certificate chain for PostgreSQL TLS (with --pg-tls-key).
    #[arg(long, value_name = "FILE")]
    pub pg_tls_cert: Option<PathBuf>,
    /// PEM private key of --pg-tls-cert.
    #[arg(long, value_name = "FILE")]
    pub pg_tls_key: Option<PathBuf>,
    /// Peers' gRPC addresses (`host:port,...`): join or form a cluster
    /// with them. Without seeds the node is a cluster of one.
    #[arg(long, value_name = "ADDRS", value_delimiter = ',')]
    pub seeds: Option<Vec<String>>,
    /// Nodes (this one included) that found a new cluster: it bootstraps
    /// once that many report an empty data directory.
    #[arg(long, value_name = "N")]
    pub bootstrap_expect: Option<usize>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

fn parse_backend_path(text: &str) -> Result<(StorageKind, PathBuf), String> {
    let (kind, path) = text.split_once(':').ok_or("expected BACKEND:PATH, e.g. lsm:./orbit-data")?;
    let kind = StorageKind::from_name(kind).ok_or_else(|| format!("unknown backend '{kind}'"))?;
    if kind == StorageKind::Memory {
        return Err("the memory backend has no data directory".into());
    }
    Ok((kind, PathBuf::from(path)))
}

impl ServeArgs {
    /// The effective configuration: file and environment, then these flags.
    pub fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.node.data_dir = dir.clone();
        }
        if let Some(storage) = self.storage {
            config.storage.backend = storage;
        }
        if let Some(durability) = self.durability {
            config.storage.durability = durability;
        }
        if let Some(addr) = self.grpc_addr {
            config.grpc.addr = addr;
        }
        if let Some(addr) = self.http_addr {
            config.http.addr = addr;
        }
        if let Some(addr) = self.resp_addr {
            config.resp.addr = addr;
        }
        if let Some(addr) = self.pg_addr {
            config.postgres.addr = addr;
        }
        if let Some(cert) = &self.pg_tls_cert {
            config.postgres.tls_cert = Some(cert.clone());
        }
        if let Some(key) = &self.pg_tls_key {
            config.postgres.tls_key = Some(key.clone());
        }
        if let Some(seeds) = &self.seeds {
            config.cluster.seeds = seeds.iter().filter(|s| !s.is_empty()).cloned().collect();
        }
        if let Some(expect) = self.bootstrap_expect {
            config.cluster.bootstrap_expect = Some(expect);
        }
        config.validate()?;
        Ok(config)
    }
}

/// Runs the offline subcommands; prints what was done as JSON.
pub async fn run_tool(command: Command) -> anyhow::Result<()> {
    let report = match command {
        Command::Serve(_) => bail!("serve is not a tool"),
        Command::Mcp { connect, config } => return serve_mcp(&connect, config.as_deref()).await,
        Command::Backup { to, admin, token, storage } => request_backup(&admin, token, to, storage).await?,
        Command::Restore { from, data_dir, storage } => {
            let manifest =
                tokio::task::spawn_blocking(move || backup::restore(&from, &data_dir, storage)).await??;
            serde_json::to_value(manifest)?
        }
        Command::Migrate { from, to } => {
            let copied =
                tokio::task::spawn_blocking(move || backup::migrate((from.0, &from.1), (to.0, &to.1)))
                    .await??;
            serde_json::to_value(copied)?
        }
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// The stdio MCP bridge: nothing but MCP on stdout (logs go to stderr).
async fn serve_mcp(connect: &str, config: Option<&std::path::Path>) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    config.validate()?;
    let mcp = config.mcp;
    let client = orbit_client::Client::builder(connect)
        .timeout(mcp.timeout)
        .connect()
        .await
        .with_context(|| format!("cannot reach the node at {connect}"))?;
    orbit_protocols::mcp::serve_stdio(std::sync::Arc::new(client), mcp).await?;
    Ok(())
}

async fn request_backup(
    admin: &str,
    token: Option<String>,
    to: PathBuf,
    storage: Option<StorageKind>,
) -> anyhow::Result<serde_json::Value> {
    use http_body_util::{BodyExt, Full};
    // The node resolves the path on its side: send it absolute, as the user meant it here.
    let to = std::path::absolute(&to).with_context(|| format!("bad path {}", to.display()))?;
    let body = serde_json::json!({ "to": to, "backend": storage.map(StorageKind::name) });
    let uri = format!("http://{}/admin/backup", admin.trim_start_matches("http://"));
    let mut request = hyper::Request::post(&uri).header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Full::new(bytes::Bytes::from(serde_json::to_vec(&body)?)))?;
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let response = client.request(request).await.with_context(|| format!("cannot reach {uri}"))?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let reply: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|_| serde_json::json!({}));
    if !status.is_success() {
        bail!("backup failed ({status}): {}", reply["error"].as_str().unwrap_or("no reason given"));
    }
    Ok(reply)
}
