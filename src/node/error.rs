//! Errors of a running master's operations (propose, read, membership), with their user codes.

use dm_storage::{Rejected, StoreError};
use thiserror::Error;

use crate::error::{Coded, ErrorCode};
use crate::raft::typ::{NodeId, NodeInfo};

#[derive(Debug, Error)]
pub enum NodeError {
    /// This node cannot serve the request; `leader` is who can, if known.
    #[error("{}", not_leader_msg(.leader))]
    NotLeader { leader: Option<(NodeId, NodeInfo)> },
    /// A precondition of the proposed command did not hold; nothing changed.
    #[error("{0}")]
    Rejected(Rejected),
    #[error("raft: {0}; retry, and check `dm ctl list-member` if it persists")]
    Raft(String),
    #[error("{what} did not finish within {secs}s; check that a majority of masters is up and retry")]
    Timeout { what: &'static str, secs: u64 },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("master {0} is the only voter; add another master before removing it")]
    LastVoter(String),
    #[error("no other master can take over leadership; start another master first")]
    NoOtherMaster,
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
}

fn not_leader_msg(leader: &Option<(NodeId, NodeInfo)>) -> String {
    match leader {
        Some((_, n)) if !n.client_addr.is_empty() => {
            format!(
                "master is not leader, and can't forward request to leader; the leader is {} at {}",
                n.name, n.client_addr
            )
        }
        _ => {
            "master is not leader, and no leader is known yet; retry in a moment or through another master".to_string()
        }
    }
}

impl From<Rejected> for NodeError {
    fn from(r: Rejected) -> Self {
        NodeError::Rejected(r)
    }
}

impl Coded for NodeError {
    fn code(&self) -> ErrorCode {
        match self {
            NodeError::NotLeader { .. } => ErrorCode::NotLeader,
            NodeError::Rejected(r) => match r {
                Rejected::ClusterAlreadyInitialized { .. } | Rejected::ClusterNotInitialized => {
                    ErrorCode::ClusterNotReady
                }
                Rejected::MemberNameTaken { .. } => ErrorCode::MemberNameTaken,
                Rejected::MemberNotFound { .. } | Rejected::MemberIdMismatch { .. } => ErrorCode::MemberNotFound,
                Rejected::MemberStateInvalid { .. } => ErrorCode::MemberStateInvalid,
                Rejected::RevisionMismatch { .. } => ErrorCode::PreconditionFailed,
                Rejected::NestedBatch => ErrorCode::InvalidArgument,
                Rejected::WorkerNameTaken { .. } => ErrorCode::WorkerNameTaken,
                Rejected::WorkerNotFound { .. } => ErrorCode::WorkerNotFound,
                Rejected::WorkerBound { .. } => ErrorCode::WorkerNotFree,
                Rejected::SourceExists { .. } => ErrorCode::SourceExists,
                Rejected::SourceNotFound { .. } => ErrorCode::SourceNotFound,
                Rejected::SourceBound { .. } | Rejected::BoundEpochMismatch { .. } => ErrorCode::PreconditionFailed,
                Rejected::SourceHasTasks { .. } | Rejected::TaskHasSubtasks { .. } => ErrorCode::SourceHasTasks,
                Rejected::TaskExists { .. } | Rejected::SubtaskExists { .. } => ErrorCode::TaskExists,
                Rejected::TaskNotFound { .. } | Rejected::SubtaskNotFound { .. } => ErrorCode::TaskNotFound,
                Rejected::ShardDdlOpDone { .. } => ErrorCode::ShardOpDone,
                Rejected::ShardDdlOpNotFound { .. } => ErrorCode::ShardOpNotFound,
                Rejected::ShardTableUnknown { .. } => ErrorCode::ShardTableUnknown,
                Rejected::ShardDdlInfoChanged { .. } => ErrorCode::ShardInfoChanged,
            },
            NodeError::Raft(_) => ErrorCode::RaftFailed,
            NodeError::Timeout { .. } => ErrorCode::Timeout,
            NodeError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            NodeError::LastVoter(_) => ErrorCode::LastVoter,
            NodeError::NoOtherMaster => ErrorCode::NoOtherMaster,
            NodeError::Storage(_) => ErrorCode::StorageIo,
        }
    }
}
