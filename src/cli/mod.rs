//! The command line: `dm master`, `dm worker`, `dm ctl …`. Errors reach `main` as `anyhow` with their code.

pub mod ctl;
pub mod ctl_inspect;
pub mod ctl_shard;
pub mod ctl_tasks;
pub mod logging;
pub mod master;
pub mod worker;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "dm", version, about = "Data-migration control plane in the shape of TiDB DM")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a master node (no cluster flags: a single-node cluster with data in ./dm-data/<name>).
    Master(Box<master::MasterArgs>),
    /// Run a worker that joins the masters and migrates the sources bound to it.
    Worker(Box<worker::WorkerArgs>),
    /// dmctl: operate the cluster through any master.
    Ctl(ctl::CtlArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Master(args) => master::run(*args).await.map(|_| ExitCode::SUCCESS),
        Command::Worker(args) => worker::run(*args).await.map(|_| ExitCode::SUCCESS),
        Command::Ctl(args) => ctl::run(args).await,
    }
}
