//! `dm-bench`: the benchmarks recorded in docs/BENCHMARKS.md.
//!
//! - `failover`: kill -9 the leader of a 3-process cluster; time until a new leader runs its
//!   leader components and answers a linearizable read.
//! - `write`: 256-byte writes over 10 000 keys through Raft with fsync, at several concurrencies,
//!   beside the same workload on a 3-member etcd cluster started in the same run.
//! - `growth`: 1 000 000 writes over 10 000 keys; disk bytes and RSS of each node on the way.
//! - `workers`: N simulated workers heartbeating a 3-process cluster; CPU and RSS of each master,
//!   heartbeat latency.
//! - `start-task`: one task over N sources bound to N simulated workers; time until every
//!   subtask is delivered, and until StartTask returns.
//! - `worker-failover`: kill -9 the `dm worker` process bound to a source; time until another
//!   worker has it.
//! - `shard-pessimistic`: one pessimistic shard-DDL lock over N sources; time from the last Info
//!   until every operation is delivered, and until the lock is removed.
//! - `shard-optimistic`: one optimistic lock over many tables; Infos per second and latencies,
//!   then kill -9 the leader and time the new leader's rebuild of the lock.

mod ctl;
mod etcd;
mod failover;
mod growth;
mod procs;
mod shard_ops;
mod shard_optimistic;
mod shard_pessimistic;
mod shard_setup;
mod sim;
mod start_task;
mod stats;
mod worker_failover;
mod workers;
mod write;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "dm-bench")]
struct Cli {
    /// The dm binary to benchmark (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/dm", global = true)]
    dm: PathBuf,
    /// Where clusters keep their data (default: a temp dir on the same disk as /tmp).
    #[arg(long, global = true)]
    work_dir: Option<PathBuf>,
    /// Keep the work dir (data dirs and process logs) after the run, and print its path.
    #[arg(long, global = true)]
    keep: bool,
    #[command(subcommand)]
    command: Cmd,
}

/// Which master a client tries first.
#[derive(Clone, Copy, ValueEnum)]
pub enum Via {
    /// The leader (served locally).
    Leader,
    /// A follower (it forwards the call to the leader).
    Follower,
}

#[derive(Subcommand)]
enum Cmd {
    /// Leader failover time over repeated kill -9.
    Failover {
        #[arg(long, default_value_t = 20)]
        trials: usize,
    },
    /// Write throughput and latency, dm beside etcd.
    Write {
        /// Client concurrencies to run, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
        concurrency: Vec<usize>,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The etcd binary (Debian package etcd-server); "none" skips etcd.
        #[arg(long, default_value = "/usr/bin/etcd")]
        etcd: String,
    },
    /// Disk and memory of each node over a long write run.
    Growth {
        #[arg(long, default_value_t = 1_000_000)]
        writes: u64,
        #[arg(long, value_delimiter = ',', default_value = "100000,500000,1000000")]
        checkpoints: Vec<u64>,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Master CPU and RSS, and heartbeat latency, under many simulated workers.
    Workers {
        #[arg(long, default_value_t = 1000)]
        workers: usize,
        /// Seconds measured, after the warm-up.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        #[arg(long, default_value_t = 10)]
        warmup: u64,
        /// The first master of every worker's join list.
        #[arg(long, value_enum, default_value = "leader")]
        via: Via,
    },
    /// One StartTask over many sources, each bound to its own simulated worker.
    StartTask {
        #[arg(long, default_value_t = 1000)]
        sources: usize,
        /// Sources per OperateSource call while creating them.
        #[arg(long, default_value_t = 100)]
        batch: usize,
        /// The master the StartTask and query-status calls go to.
        #[arg(long, value_enum, default_value = "leader")]
        via: Via,
    },
    /// Time until a source moves after kill -9 of its `dm worker` (keepalive-ttl 3 s).
    WorkerFailover {
        #[arg(long, default_value_t = 20)]
        trials: usize,
    },
    /// Pessimistic shard DDL: last Info to every operation delivered, over N sources.
    ShardPessimistic {
        #[arg(long, default_value_t = 1024)]
        sources: usize,
        #[arg(long, default_value_t = 5)]
        trials: usize,
    },
    /// Optimistic shard DDL over many tables, then the new leader's rebuild after kill -9.
    ShardOptimistic {
        #[arg(long, default_value_t = 10_000)]
        tables: usize,
        #[arg(long, default_value_t = 4)]
        sources: usize,
        /// Info calls in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let dm = std::fs::canonicalize(&cli.dm).map_err(|e| anyhow::anyhow!("dm binary {}: {e}", cli.dm.display()))?;
    let work = match &cli.work_dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    if cli.keep {
        eprintln!("work dir (kept): {}", work.path().display());
    }
    let result = match cli.command {
        Cmd::Failover { trials } => failover::run(&dm, work.path(), trials).await,
        Cmd::Write { concurrency, seconds, etcd } => write::run(&dm, work.path(), &concurrency, seconds, &etcd).await,
        Cmd::Growth { writes, checkpoints, concurrency } => {
            growth::run(&dm, work.path(), writes, &checkpoints, concurrency).await
        }
        Cmd::Workers { workers, seconds, warmup, via } => {
            workers::run(&dm, work.path(), workers, seconds, warmup, via).await
        }
        Cmd::StartTask { sources, batch, via } => start_task::run(&dm, work.path(), sources, batch.max(1), via).await,
        Cmd::WorkerFailover { trials } => worker_failover::run(&dm, work.path(), trials).await,
        Cmd::ShardPessimistic { sources, trials } => shard_pessimistic::run(&dm, work.path(), sources, trials).await,
        Cmd::ShardOptimistic { tables, sources, concurrency } => {
            shard_optimistic::run(&dm, work.path(), tables, sources, concurrency.max(1)).await
        }
    };
    if cli.keep {
        let _ = work.keep();
    }
    result
}
