//! Command-line flags of `orbit-server`; each overrides the config file and
//! the environment.

use crate::config::{Config, ConfigError, Durability, StorageKind};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "orbit-server", version, about = "Orbit node: persistent virtual actors over gRPC")]
pub struct Cli {
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
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl Cli {
    /// The effective configuration: file and environment, then these flags.
    pub fn config(&self) -> Result<Config, ConfigError> {
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
        config.validate()?;
        Ok(config)
    }
}
