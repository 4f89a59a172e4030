//! `orbit-bench`: load against a running node, and resource measurements.
//!
//! ```text
//! orbit-bench actors --reminders 30000 --period-ms 1000 --timers 1000 --cold 10000
//! orbit-bench grpc --addr 127.0.0.1:50051 --concurrency 64 --seconds 10
//! orbit-bench idle-memory --server-bin target/release/orbit-server
//! orbit-bench storage --all-backends
//! orbit-bench recovery --actors 1000000
//! orbit-bench keyspace --keys 100000
//! orbit-bench resp-vs-redis --requests 100000 --pipelines 1,16
//! orbit-bench pg-vs-postgres --clients 16 --threads 2 --seconds 30
//! orbit-bench cluster --kills 20 --election-timeout-ms 1000 --skip idle
//! ```

mod actors;
mod cluster;
mod grpc;
mod idle_memory;
mod keyspace;
mod pg_vs_postgres;
mod recovery;
mod resp_vs_redis;
mod spawn;
mod storage;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "orbit-bench", about = "Orbit load generator and measurements")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The actor runtime's rates in process: reminder ticks, timer turns, cold activations.
    Actors(actors::Args),
    /// Concurrent counter calls over gRPC through orbit-client.
    Grpc(grpc::Args),
    /// Resident memory of an idle orbit-server process.
    IdleMemory(idle_memory::Args),
    Keyspace(keyspace::Args),
    /// Every storage backend side by side: fill, read and YCSB workloads.
    Storage(storage::Args),
    /// Restart time after kill -9 with many actors stored.
    Recovery(recovery::Args),
    /// redis-benchmark against Orbit's RESP front door and a real redis-server.
    RespVsRedis(resp_vs_redis::Args),
    /// pgbench (select-only and TPC-B) against Orbit's PostgreSQL front door and a real PostgreSQL.
    PgVsPostgres(pg_vs_postgres::Args),
    /// Three nodes (RF 3) vs one: RESP throughput, orbit-client calls, pgbench, idle CPU, failover time.
    Cluster(cluster::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Actors(args) => actors::run(args).await,
        Command::Grpc(args) => grpc::run(args).await,
        Command::IdleMemory(args) => idle_memory::run(args).await,
        Command::Keyspace(args) => keyspace::run(args).await,
        Command::Storage(args) => storage::run(args).await,
        Command::Recovery(args) => recovery::run(args).await,
        Command::RespVsRedis(args) => resp_vs_redis::run(args).await,
        Command::PgVsPostgres(args) => pg_vs_postgres::run(args).await,
        Command::Cluster(args) => cluster::run(args).await,
    }
}
