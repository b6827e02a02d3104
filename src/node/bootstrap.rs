//! How a master starts, from its flags and its data dir, and the joining master's side of a join.
//!
//! 1. The data dir holds an identity → restart with the same node id; flags describing a new
//!    cluster are ignored (as DM does). Another `--name` is refused. With `--join`, the cluster
//!    behind those addresses must be the one the data dir belongs to.
//! 2. Empty data dir with `--initial-cluster` (or no cluster flag: a cluster of one) → node id =
//!    list position; every member initialises Raft with the same membership (safe in openraft);
//!    the first leader records the cluster id.
//! 3. Empty data dir with `--join` → ask the cluster for a node id (`JoinCluster`, which checks the
//!    name) *before* creating the data dir, so a refused join leaves nothing behind; persist the
//!    identity with `joined = false`; start Raft and the servers; `PromoteMember` (learner, catch
//!    up, voter); persist `joined = true`. A restart in between resumes at the promotion.

use std::collections::BTreeMap;
use std::time::Duration;

use dm_storage::spaces::Cluster;
use dm_storage::{NodeIdentity, OpenError, Store, StoreOptions};

use super::StartError;
use crate::client::ClusterClient;
use crate::config::master::{ClusterSpec, MasterConfig};
use crate::pb::master::{GetClusterInfoRequest, JoinClusterRequest};
use crate::raft::typ::{NodeId, NodeInfo};

/// What to do once Raft is created.
#[derive(Debug)]
pub enum StartPlan {
    /// Existing member: nothing to do.
    Restart,
    /// Fresh initial cluster: initialise Raft with these members.
    Initialize(BTreeMap<NodeId, NodeInfo>),
    /// Joined but not yet a voter: promote through these endpoints.
    Promote { endpoints: Vec<String> },
}

pub struct Prepared {
    pub store: Store,
    pub identity: NodeIdentity,
    pub plan: StartPlan,
}

/// How long a starting master keeps trying to reach the cluster it joins.
const JOIN_DEADLINE: Duration = Duration::from_secs(60);

fn store_options(config: &MasterConfig) -> StoreOptions {
    StoreOptions { cache_capacity_bytes: config.cache_capacity_bytes, ..Default::default() }
}

fn open(config: &MasterConfig) -> Result<Store, StartError> {
    Store::open(&config.data_dir, &store_options(config)).map_err(StartError::Open)
}

/// Steps 1–3 up to (not including) starting Raft.
pub async fn prepare(config: &MasterConfig) -> Result<Prepared, StartError> {
    if config.data_dir.join("db").exists() {
        let store = open(config)?;
        if let Some(identity) = store.local.identity().map_err(StartError::Storage)? {
            return restart(config, store, identity).await;
        }
        // A data dir created by a start that crashed before recording who it is: start fresh.
        drop(store);
    }
    match &config.cluster {
        ClusterSpec::Initial(members) => {
            let pos = members.iter().position(|m| m.name == config.name).expect("validated: self is listed");
            let nodes: Vec<(NodeId, NodeInfo)> = members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let info =
                        NodeInfo { name: m.name.clone(), peer_addr: m.peer_addr.clone(), client_addr: String::new() };
                    (i as NodeId + 1, info)
                })
                .collect();
            let store = open(config)?;
            let identity = NodeIdentity {
                name: config.name.clone(),
                node_id: pos as NodeId + 1,
                cluster_id: None,
                joined: true,
                join_endpoints: Vec::new(),
                initial_members: nodes.clone(),
            };
            store.local.set_identity(&identity).await.map_err(StartError::Storage)?;
            Ok(Prepared { store, identity, plan: StartPlan::Initialize(nodes.into_iter().collect()) })
        }
        ClusterSpec::Join(endpoints) => {
            let mut client = ClusterClient::new(endpoints.clone(), JOIN_DEADLINE)
                .with_attempt_timeout(Duration::from_secs(10))
                .idempotent();
            let req = JoinClusterRequest {
                name: config.name.clone(),
                peer_addr: config.advertise_peer_addr.clone(),
                client_addr: config.advertise_addr.clone(),
            };
            let resp = crate::cluster_call!(client, join_cluster, req).map_err(StartError::Client)?;
            if !resp.result {
                return Err(StartError::JoinRefused { code: resp.code, msg: resp.msg });
            }
            let store = open(config)?;
            let identity = NodeIdentity {
                name: config.name.clone(),
                node_id: resp.node_id,
                cluster_id: Some(resp.cluster_id),
                joined: false,
                join_endpoints: endpoints.clone(),
                initial_members: Vec::new(),
            };
            store.local.set_identity(&identity).await.map_err(StartError::Storage)?;
            tracing::info!(node_id = resp.node_id, cluster_id = resp.cluster_id, "reserved a node id in the cluster");
            Ok(Prepared { store, identity, plan: StartPlan::Promote { endpoints: endpoints.clone() } })
        }
    }
}

async fn restart(config: &MasterConfig, store: Store, identity: NodeIdentity) -> Result<Prepared, StartError> {
    if identity.name != config.name {
        return Err(StartError::NameMismatch {
            dir: config.data_dir.display().to_string(),
            found: identity.name,
            given: config.name.clone(),
        });
    }
    let ours =
        identity.cluster_id.or_else(|| store.reader.get::<Cluster>(&()).ok().flatten().map(|r| r.value.cluster_id));
    if let (ClusterSpec::Join(endpoints), Some(ours)) = (&config.cluster, ours) {
        let mut client = ClusterClient::new(endpoints.clone(), Duration::from_secs(5)).idempotent();
        match crate::cluster_call!(client, get_cluster_info, GetClusterInfoRequest {}) {
            Ok(info) if info.result && info.cluster_id != 0 && info.cluster_id != ours => {
                return Err(StartError::OtherCluster {
                    dir: config.data_dir.display().to_string(),
                    ours,
                    theirs: info.cluster_id,
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not check the --join cluster's id; restarting from the data dir")
            }
        }
    }
    let plan = if identity.joined && !identity.initial_members.is_empty() {
        // Initialising again is a no-op once done, and finishes one a crash interrupted.
        StartPlan::Initialize(identity.initial_members.iter().cloned().collect())
    } else if identity.joined {
        StartPlan::Restart
    } else {
        let endpoints = match &config.cluster {
            ClusterSpec::Join(e) => e.clone(),
            ClusterSpec::Initial(_) => identity.join_endpoints.clone(),
        };
        StartPlan::Promote { endpoints }
    };
    tracing::info!(node_id = identity.node_id, name = %identity.name, "restarting from the data dir");
    Ok(Prepared { store, identity, plan })
}

/// Maps an open failure to the start error (kept here so `mod.rs` stays about wiring).
pub fn open_error_code(e: &OpenError) -> crate::error::ErrorCode {
    use crate::error::ErrorCode::*;
    match e {
        OpenError::Locked { .. } => DataDirLocked,
        OpenError::NewerVersion { .. } => DataDirNewerVersion,
        OpenError::NotDmDataDir { .. } => DataDirForeign,
        OpenError::Io { .. } | OpenError::Store { .. } => StorageIo,
    }
}
