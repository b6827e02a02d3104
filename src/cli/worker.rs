//! `dm worker`: flags as DM's dm-worker, merged over `--config`, then run until SIGINT/SIGTERM
//! (a clean stop tells the leader, so the source moves at once).

use std::path::PathBuf;

use clap::Args;
use tokio::net::TcpListener;

use crate::config::addr::bind_addr;
use crate::config::worker::{TtlValue, WorkerConfig, WorkerConfigFile};
use crate::error::{Coded, ErrorCode, UserError};
use crate::worker::audit::AuditSink;
use crate::worker::{WorkerNode, WorkerOptions};

#[derive(Debug, Args, Default)]
pub struct WorkerArgs {
    /// TOML config file with DM's dm-worker keys; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Worker name, unique in the cluster [default: the advertise address].
    #[arg(long)]
    pub name: Option<String>,
    /// Listen address for the master→worker gRPC service [default: 127.0.0.1:8262].
    #[arg(long)]
    pub worker_addr: Option<String>,
    /// Address masters dial [default: --worker-addr].
    #[arg(long)]
    pub advertise_addr: Option<String>,
    /// Masters' client addresses, comma-separated (any master will do).
    #[arg(long)]
    pub join: Option<String>,
    /// Seconds (or a duration like 15s) the leader waits without heartbeats before moving this
    /// worker's source [default: 15].
    #[arg(long)]
    pub keepalive_ttl: Option<String>,
    /// debug, info, warn or error [default: info].
    #[arg(long, short = 'L')]
    pub log_level: Option<String>,
    /// Write logs to this file instead of stderr.
    #[arg(long)]
    pub log_file: Option<PathBuf>,
    /// Append a line whenever work on a source starts or stops (for invariant checks).
    #[arg(long, hide = true)]
    pub audit_log: Option<PathBuf>,
}

impl WorkerArgs {
    pub fn resolve(&mut self) -> Result<WorkerConfig, UserError> {
        let file = match self.config.take() {
            Some(path) => WorkerConfigFile::load(&path).map_err(|e| e.to_user())?,
            None => WorkerConfigFile::default(),
        };
        let flags = WorkerConfigFile {
            name: self.name.take(),
            worker_addr: self.worker_addr.take(),
            advertise_addr: self.advertise_addr.take(),
            join: self.join.take(),
            keepalive_ttl: self.keepalive_ttl.take().map(TtlValue::Text),
            log_level: self.log_level.take(),
            log_file: self.log_file.take(),
            ..Default::default()
        };
        file.merge(flags).validate().map_err(|e| e.to_user())
    }
}

pub async fn run(mut args: WorkerArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    super::logging::init(&config.log_level, config.log_file.as_deref())?;
    let listener = TcpListener::bind(bind_addr(&config.worker_addr)).await.map_err(|e| {
        UserError::new(
            ErrorCode::ListenFailed,
            format!(
                "cannot listen on {} (worker port): {e}; stop what uses it or change --worker-addr",
                config.worker_addr
            ),
        )
    })?;
    let opts = WorkerOptions { audit: args.audit_log.map(AuditSink::File).unwrap_or_default(), ..Default::default() };
    tracing::info!(name = %config.name, addr = %config.advertise_addr, join = ?config.join, "starting dm worker");
    let node = WorkerNode::start(config, listener, opts).await.map_err(|e| e.to_user())?;
    super::master::wait_for_signal().await;
    tracing::info!("shutting down");
    node.shutdown().await;
    Ok(())
}
