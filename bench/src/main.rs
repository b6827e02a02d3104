//! `dm-bench`: the benchmarks recorded in docs/BENCHMARKS.md.
//!
//! - `failover`: kill -9 the leader of a 3-process cluster; time until a new leader runs its
//!   leader components and answers a linearizable read.
//! - `write`: 256-byte writes over 10 000 keys through Raft with fsync, at several concurrencies,
//!   beside the same workload on a 3-member etcd cluster started in the same run.
//! - `growth`: 1 000 000 writes over 10 000 keys; disk bytes and RSS of each node on the way.

mod etcd;
mod failover;
mod growth;
mod procs;
mod stats;
mod write;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "dm-bench")]
struct Cli {
    /// The dm binary to benchmark (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/dm", global = true)]
    dm: PathBuf,
    /// Where clusters keep their data (default: a temp dir on the same disk as /tmp).
    #[arg(long, global = true)]
    work_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let dm = std::fs::canonicalize(&cli.dm).map_err(|e| anyhow::anyhow!("dm binary {}: {e}", cli.dm.display()))?;
    let work = match &cli.work_dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    match cli.command {
        Cmd::Failover { trials } => failover::run(&dm, work.path(), trials).await,
        Cmd::Write { concurrency, seconds, etcd } => write::run(&dm, work.path(), &concurrency, seconds, &etcd).await,
        Cmd::Growth { writes, checkpoints, concurrency } => {
            growth::run(&dm, work.path(), writes, &checkpoints, concurrency).await
        }
    }
}
