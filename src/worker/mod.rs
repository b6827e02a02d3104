//! `dm worker`: joins the masters, heartbeats, follows its assignment stream and runs one
//! subtask runner per task on its bound source; serves `QueryStatus` to the leader.
//!
//! Protocol:
//! 1. Serve the Worker gRPC service on the listener; register with any master (followers forward
//!    to the leader; the same name from another address is refused, and the worker exits).
//! 2. Heartbeat the leader every `heartbeat-interval` with what it works on (source, epoch, the
//!    revision of its newest assignment). A heartbeat saying the epoch is stale stops that work.
//! 3. Self-fencing: when no heartbeat has been acknowledged for 0.8 × keepalive-ttl (counted from
//!    the *send* time of the last acknowledged one) stop all work and drop the assignment; when
//!    heartbeats are acknowledged again, fetch the whole assignment anew before working. The
//!    leader gives the source to another worker only after a full TTL, so the two never overlap.
//! 4. Follow `WatchAssignments` on the leader, resuming from the last revision seen; reconcile to
//!    each assignment (see `assignments`).
//! 5. Shutdown: stop every runner, tell the leader (`WorkerStopping`) so the source is released
//!    at once, stop the server.

pub mod assignments;
pub mod audit;
pub mod runner;
pub mod service;
pub mod session;
pub mod shardddl;
pub mod stage;
pub mod state;
pub mod unit;

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::audit::AuditSink;
use self::state::WorkerState;
use self::unit::{NoUnits, UnitFactory};
use crate::client::ClientError;
use crate::config::worker::WorkerConfig;
use crate::error::{Coded, ErrorCode};

/// Why a worker could not start.
#[derive(Debug, Error)]
pub enum WorkerError {
    #[error("{msg}")]
    Refused { code: i32, msg: String },
    #[error("cannot reach the masters to register: {0}")]
    Unreachable(ClientError),
}

impl Coded for WorkerError {
    fn code(&self) -> ErrorCode {
        match self {
            WorkerError::Refused { code, .. } if *code == ErrorCode::WorkerNameTaken.as_i32() => {
                ErrorCode::WorkerNameTaken
            }
            WorkerError::Refused { .. } => ErrorCode::InvalidArgument,
            WorkerError::Unreachable(e) => e.code(),
        }
    }
}

/// Extras for tests and embedding.
#[derive(Clone)]
pub struct WorkerOptions {
    pub units: Arc<dyn UnitFactory>,
    pub audit: AuditSink,
    /// How long registration may take before the worker gives up.
    pub join_timeout: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self { units: Arc::new(NoUnits), audit: AuditSink::Off, join_timeout: Duration::from_secs(60) }
    }
}

/// What the worker's tasks share.
pub struct WorkerShared {
    pub config: WorkerConfig,
    pub state: WorkerState,
    pub opts: WorkerOptions,
    /// Send time of the last acknowledged heartbeat: the fence clock.
    pub acked: tokio::sync::watch::Sender<std::time::Instant>,
    /// Stops the heartbeat, fence and assignment loops (first step of a shutdown).
    pub loops: CancellationToken,
    /// Stops the server (last step); its cancellation also stops the loops.
    pub shutdown: CancellationToken,
}

pub struct WorkerNode {
    pub shared: Arc<WorkerShared>,
    server: JoinHandle<()>,
    loops: Vec<JoinHandle<()>>,
}

impl WorkerNode {
    /// Steps 1–4.
    pub async fn start(config: WorkerConfig, listener: TcpListener, opts: WorkerOptions) -> Result<Self, WorkerError> {
        let shutdown = CancellationToken::new();
        // The worker holds nothing yet, so the fence clock may start now.
        let (acked, _) = tokio::sync::watch::channel(std::time::Instant::now());
        let loops = shutdown.child_token();
        let shared =
            Arc::new(WorkerShared { state: WorkerState::new(&config.name), config, opts, acked, loops, shutdown });
        let server = tokio::spawn(service::serve(listener, shared.clone()));
        if let Err(e) = session::register(&shared).await {
            shared.shutdown.cancel();
            let _ = server.await;
            return Err(e);
        }
        let loops = vec![
            tokio::spawn(session::heartbeat_loop(shared.clone())),
            tokio::spawn(session::fence_watchdog(shared.clone())),
            tokio::spawn(assignments::follow(shared.clone())),
        ];
        tracing::info!(name = %shared.config.name, addr = %shared.config.advertise_addr, "dm worker registered");
        Ok(WorkerNode { shared, server, loops })
    }

    /// Step 5: take no new work, stop the loops (no heartbeat or assignment after this), stop
    /// every runner, say goodbye, stop the server.
    pub async fn shutdown(self) {
        self.shared.state.set_stopping();
        self.shared.loops.cancel();
        for t in self.loops {
            let _ = t.await;
        }
        self.shared.state.release_all(&self.shared.opts.audit).await;
        session::say_goodbye(&self.shared).await;
        self.shared.shutdown.cancel();
        let _ = self.server.await;
    }

    /// Stops at once without telling anyone (a crash, for tests).
    pub async fn kill(self) {
        self.shared.shutdown.cancel();
        for t in self.loops.iter().chain([&self.server]) {
            t.abort();
        }
        self.shared.state.crash(&self.shared.opts.audit).await;
    }
}
