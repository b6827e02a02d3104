//! The command line: `dm master`, `dm ctl …`. Errors reach `main` as `anyhow` with their code.

pub mod ctl;
pub mod ctl_tasks;
pub mod logging;
pub mod master;

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
    /// dmctl: operate the cluster through any master.
    Ctl(ctl::CtlArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Master(args) => master::run(*args).await.map(|_| ExitCode::SUCCESS),
        Command::Ctl(args) => ctl::run(args).await,
    }
}
