//! `dm master`: flags as DM's dm-master, merged over `--config`, then run until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tokio::net::TcpListener;

use crate::config::addr::bind_addr;
use crate::config::master::{MasterConfig, MasterConfigFile};
use crate::error::{Coded, ErrorCode, UserError};
use crate::node::{Listeners, MasterNode};
use crate::raft::faults::Faults;

#[derive(Debug, Args, Default)]
pub struct MasterArgs {
    /// TOML config file with DM's dm-master keys; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Master name, unique in the cluster [default: dm-master-<hostname>].
    #[arg(long)]
    pub name: Option<String>,
    /// Data directory [default: ./dm-data/<name>].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Client address for gRPC and HTTP [default: 127.0.0.1:8261].
    #[arg(long)]
    pub master_addr: Option<String>,
    /// Client address others dial [default: --master-addr].
    #[arg(long)]
    pub advertise_addr: Option<String>,
    /// Raft peer address [default: 127.0.0.1:8291].
    #[arg(long)]
    pub peer_urls: Option<String>,
    /// Peer address others dial [default: --peer-urls].
    #[arg(long)]
    pub advertise_peer_urls: Option<String>,
    /// A new cluster: name=URL,name=URL,… — the same list on every member.
    #[arg(long)]
    pub initial_cluster: Option<String>,
    /// DM's new|existing; accepted for compatibility (the data dir decides).
    #[arg(long)]
    pub initial_cluster_state: Option<String>,
    /// Join a running cluster through these masters' client addresses (comma-separated).
    #[arg(long)]
    pub join: Option<String>,
    /// debug, info, warn or error [default: info].
    #[arg(long, short = 'L')]
    pub log_level: Option<String>,
    /// Write logs to this file instead of stderr.
    #[arg(long)]
    pub log_file: Option<PathBuf>,
}

impl MasterArgs {
    fn into_file(self) -> MasterConfigFile {
        MasterConfigFile {
            name: self.name,
            data_dir: self.data_dir,
            master_addr: self.master_addr,
            advertise_addr: self.advertise_addr,
            peer_urls: self.peer_urls,
            advertise_peer_urls: self.advertise_peer_urls,
            initial_cluster: self.initial_cluster,
            initial_cluster_state: self.initial_cluster_state,
            join: self.join,
            log_level: self.log_level,
            log_file: self.log_file,
            ..Default::default()
        }
    }

    /// File, then flags, validated. Touches nothing on disk.
    pub fn resolve(mut self) -> Result<MasterConfig, UserError> {
        let file = match self.config.take() {
            Some(path) => MasterConfigFile::load(&path).map_err(|e| e.to_user())?,
            None => MasterConfigFile::default(),
        };
        file.merge(self.into_file()).validate().map_err(|e| e.to_user())
    }
}

async fn listen(addr: &str, what: &str, flag: &str) -> Result<TcpListener, UserError> {
    TcpListener::bind(bind_addr(addr)).await.map_err(|e| {
        UserError::new(
            ErrorCode::ListenFailed,
            format!("cannot listen on {addr} ({what}): {e}; stop what uses it or change {flag}"),
        )
    })
}

pub async fn run(args: MasterArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    super::logging::init(&config.log_level, config.log_file.as_deref())?;
    let listeners = Listeners {
        client: listen(&config.master_addr, "client port", "--master-addr").await?,
        peer: listen(&config.peer_addr, "peer port", "--peer-urls").await?,
    };
    tracing::info!(name = %config.name, client = %config.advertise_addr, peer = %config.advertise_peer_addr,
        data_dir = %config.data_dir.display(), "starting dm master");
    let node = MasterNode::start(config, listeners, Arc::new(Faults::default())).await.map_err(|e| e.to_user())?;
    wait_for_signal().await;
    tracing::info!("shutting down");
    node.shutdown().await;
    Ok(())
}

pub(super) async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
