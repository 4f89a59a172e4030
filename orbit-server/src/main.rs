//! `orbit-server`: runs one Orbit node until SIGTERM or SIGINT, then shuts it
//! down in order (see `orbit_server::node`); or runs a tool subcommand.

mod cli;

use anyhow::Context as _;
use clap::Parser;
use cli::{Cli, Command};
use orbit_server::Node;
use std::io::IsTerminal;
use tokio::signal::unix::{SignalKind, signal};

/// mimalloc: the hot paths allocate small buffers per command (arguments,
/// replies, storage batches), where glibc's malloc spent a tenth of the
/// server's time (`docs/benchmarks/redis.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let serve = match cli.command {
        None => cli.serve,
        Some(Command::Serve(serve)) => serve,
        Some(tool) => return cli::run_tool(tool).await,
    };
    let config = serve.config()?;
    if serve.print_config {
        print!("{}", toml::to_string_pretty(&config)?);
        return Ok(());
    }
    let node = Node::builder(config).with_builtin_kinds().start().await.context("cannot start the node")?;
    let mut terminate = signal(SignalKind::terminate())?;
    let stop_requested = node.stop_requested();
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        () = stop_requested.cancelled() => tracing::info!("SHUTDOWN: shutting down"),
    }
    node.shutdown().await.context("shutdown failed")?;
    Ok(())
}
