//! A master node: opens the data dir, starts Raft, the peer and client servers, and the
//! background loops (leadership, address announcements, join promotion).
//!
//! Start: `bootstrap::prepare` (identity and plan) → Raft → servers on the given listeners →
//! the plan (initialise / promote) → loops. Shutdown: one token stops the servers and loops (and
//! through its children every leader component), then Raft; the data dir is released when the
//! last handle drops.

pub mod announce;
pub mod bootstrap;
pub mod ctx;
pub mod error;
pub mod evict;
pub mod follow;
pub mod forward;
pub mod leader;
pub mod leadership;
pub mod members;
pub mod membership;
pub mod metrics;
pub mod peers;
pub mod proposer;
pub mod transfer;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use dm_storage::{LocalMeta, NodeIdentity, OpenError, StoreError};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::bootstrap::StartPlan;
use self::ctx::RaftCtx;
use self::leadership::{Leadership, LeadershipDeps};
use self::metrics::NodeMetrics;
use self::peers::Peers;
use self::proposer::Proposer;
use self::transfer::HandOverGate;
use crate::client::{ClientError, ClusterClient};
use crate::config::master::MasterConfig;
use crate::error::{Coded, ErrorCode};
use crate::pb::master::PromoteMemberRequest;
use crate::raft::faults::Faults;
use crate::raft::network::PeerNetwork;
use crate::raft::typ::{NodeInfo, Raft};

/// Why a master could not start. Nothing is left half-done in the data dir by a refused start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("{0}")]
    Open(OpenError),
    #[error("data dir {dir} belongs to master {found}, not {given}; use that --name or another --data-dir")]
    NameMismatch { dir: String, found: String, given: String },
    #[error(
        "data dir {dir} belongs to cluster {ours}, but --join points at cluster {theirs}; use an empty --data-dir to join that cluster"
    )]
    OtherCluster { dir: String, ours: u64, theirs: u64 },
    #[error("the cluster refused the join: {msg}")]
    JoinRefused { code: i32, msg: String },
    #[error("cannot reach the cluster to join: {0}")]
    Client(ClientError),
    #[error("storage: {0}")]
    Storage(StoreError),
    #[error("raft: {0}")]
    Raft(String),
}

impl Coded for StartError {
    fn code(&self) -> ErrorCode {
        match self {
            StartError::Open(e) => bootstrap::open_error_code(e),
            StartError::NameMismatch { .. } => ErrorCode::DataDirNameMismatch,
            StartError::OtherCluster { .. } => ErrorCode::DataDirOtherCluster,
            StartError::JoinRefused { code, .. } if *code == ErrorCode::MemberNameTaken as i32 => {
                ErrorCode::MemberNameTaken
            }
            StartError::JoinRefused { .. } => ErrorCode::RaftFailed,
            StartError::Client(e) => e.code(),
            StartError::Storage(_) => ErrorCode::StorageIo,
            StartError::Raft(_) => ErrorCode::RaftFailed,
        }
    }
}

/// The bound sockets a master serves on (tests bind port 0 and pass them in).
pub struct Listeners {
    pub client: TcpListener,
    pub peer: TcpListener,
}

/// Everything the servers and loops of one master share.
pub struct NodeShared {
    pub config: MasterConfig,
    pub identity: NodeIdentity,
    /// This node as the membership should record it.
    pub info: NodeInfo,
    pub ctx: RaftCtx,
    pub leadership: Arc<Leadership>,
    pub peers: Arc<Peers>,
    /// One leadership hand-over at a time (evict, failed start, evicted leader).
    pub hand_over: Arc<HandOverGate>,
    pub faults: Arc<Faults>,
    /// Set by `operate-leader evict`, cleared by `cancel-evict`; in memory only, as in DM.
    pub evicted: Arc<AtomicBool>,
    pub local: LocalMeta,
    pub shutdown: CancellationToken,
}

pub struct MasterNode {
    pub shared: Arc<NodeShared>,
    tasks: Vec<JoinHandle<()>>,
    /// Dead once the data dir is released.
    store_alive: std::sync::Weak<()>,
}

impl MasterNode {
    pub async fn start(
        config: MasterConfig,
        listeners: Listeners,
        faults: Arc<Faults>,
    ) -> Result<MasterNode, StartError> {
        let prepared = bootstrap::prepare(&config).await?;
        let identity = prepared.identity;
        let node_id = identity.node_id;
        let metrics = Arc::new(NodeMetrics::new());
        let raft_config = crate::raft::openraft_config(&config.raft).map_err(StartError::Raft)?;
        let store_alive = prepared.store.liveness();
        let reader = prepared.store.reader.clone();
        let local = prepared.store.local.clone();
        let network = PeerNetwork::new(node_id, faults.clone());
        let raft = Raft::new(node_id, Arc::new(raft_config), network, prepared.store.log, prepared.store.state_machine)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        let shutdown = CancellationToken::new();
        let proposer = Proposer::start(raft.clone(), metrics.clone(), config.rpc_timeout, shutdown.clone());
        let ctx =
            RaftCtx { node_id, raft: raft.clone(), reader, metrics, proposer, request_timeout: config.rpc_timeout };
        let info = NodeInfo {
            name: config.name.clone(),
            peer_addr: config.advertise_peer_addr.clone(),
            client_addr: config.advertise_addr.clone(),
        };
        let shared = Arc::new(NodeShared {
            info,
            ctx: ctx.clone(),
            leadership: Leadership::new(),
            peers: Arc::new(Peers::new(node_id, faults.clone())),
            hand_over: Arc::new(HandOverGate::default()),
            faults,
            evicted: Arc::new(AtomicBool::new(false)),
            local,
            shutdown,
            identity,
            config,
        });
        let mut tasks = Vec::new();
        let token = shared.shutdown.clone();
        tasks.push(tokio::spawn(crate::api::serve_peer(listeners.peer, shared.clone(), token.clone())));
        tasks.push(tokio::spawn(crate::api::serve_client(listeners.client, shared.clone(), token.clone())));
        match prepared.plan {
            StartPlan::Restart => {}
            StartPlan::Initialize(members) => {
                if !raft.is_initialized().await.map_err(|e| StartError::Raft(e.to_string()))? {
                    tracing::info!(?members, "initialising a new cluster");
                    if let Err(e) = raft.initialize(members).await {
                        tracing::info!(error = %e, "cluster already initialised");
                    }
                }
            }
            StartPlan::Promote { endpoints } => tasks.push(tokio::spawn(promote(shared.clone(), endpoints))),
        }
        let tuning = &shared.config.raft;
        let deps = LeadershipDeps {
            leadership: shared.leadership.clone(),
            peers: shared.peers.clone(),
            hand_over: shared.hand_over.clone(),
            evicted: shared.evicted.clone(),
            lease: tuning.election_timeout_max,
            tick: tuning.heartbeat_interval,
            shutdown: token.clone(),
            scheduler: shared.config.scheduler.clone(),
            shard_ddl: shared.config.shard_ddl.clone(),
        };
        tasks.push(tokio::spawn(leadership::run(ctx, deps)));
        tasks.push(tokio::spawn(announce::run(shared.clone(), token)));
        Ok(MasterNode { shared, tasks, store_alive })
    }

    /// Graceful stop: servers and loops, leader components, then Raft; returns once the data dir
    /// is released (or after a bounded wait, logged).
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        let _ = self.shared.ctx.raft.shutdown().await;
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        drop(self.shared);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.store_alive.strong_count() > 0 {
            if tokio::time::Instant::now() > deadline {
                tracing::warn!("data dir still held 10s after shutdown");
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Join step 3 on the joining side: retry `PromoteMember` until this node is a voter.
async fn promote(node: Arc<NodeShared>, endpoints: Vec<String>) {
    let req = PromoteMemberRequest { name: node.identity.name.clone(), node_id: node.identity.node_id };
    loop {
        let mut client = ClusterClient::new(endpoints.clone(), Duration::from_secs(120)).idempotent();
        let res = tokio::select! {
            _ = node.shutdown.cancelled() => return,
            r = async { crate::cluster_call!(client, promote_member, req.clone()) } => r,
        };
        match res {
            Ok(r) if r.result => break,
            Ok(r) => tracing::warn!(msg = %r.msg, "promotion refused; retrying"),
            Err(e) => tracing::warn!(error = %e, "promotion failed; retrying"),
        }
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    let mut identity = node.identity.clone();
    identity.joined = true;
    match node.local.set_identity(&identity).await {
        Ok(()) => tracing::info!("joined the cluster as a voter"),
        Err(e) => tracing::error!(error = %e, "could not record the finished join; it is resumed on restart"),
    }
}
