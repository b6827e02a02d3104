//! Errors of the shard-DDL operations (workers' Infos and acks, operators' show and unlock),
//! each with its user code (47xxx) and a message that says what to do.

use thiserror::Error;

use crate::error::{Coded, ErrorCode};
use crate::node::error::NodeError;

#[derive(Debug, Error)]
pub enum ShardError {
    /// Proposing or reading failed, or a precondition did not hold (its own code).
    #[error("{0}")]
    Node(#[from] NodeError),
    #[error("no shard DDL lock {0}; list the locks with `dm ctl shard-ddl-lock`")]
    LockNotFound(String),
    #[error("{0}")]
    InvalidDdl(String),
    #[error("task {task} is in {actual} shard mode, not {requested}; check the task's shard-mode")]
    ModeMismatch { task: String, actual: String, requested: String },
    #[error("{0}")]
    UnlockRefused(String),
    #[error(
        "source {owner} did not execute the DDLs of lock {lock_id} within {secs}s; check its worker with \
         `query-status` and retry the unlock, or remove the lock with --force-remove"
    )]
    OwnerTimeout { lock_id: String, owner: String, secs: u64 },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("source {source_id} is not bound to dm-worker {worker} at epoch {epoch}; stop work on it")]
    StaleEpoch { source_id: String, worker: String, epoch: u64 },
}

impl Coded for ShardError {
    fn code(&self) -> ErrorCode {
        match self {
            ShardError::Node(e) => e.code(),
            ShardError::LockNotFound(_) => ErrorCode::ShardLockNotFound,
            ShardError::InvalidDdl(_) => ErrorCode::ShardDdlInvalid,
            ShardError::ModeMismatch { .. } => ErrorCode::ShardModeMismatch,
            ShardError::UnlockRefused(_) => ErrorCode::ShardUnlockRefused,
            ShardError::OwnerTimeout { .. } => ErrorCode::ShardOwnerTimeout,
            ShardError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            ShardError::StaleEpoch { .. } => ErrorCode::StaleEpoch,
        }
    }
}

impl From<dm_storage::Rejected> for ShardError {
    fn from(r: dm_storage::Rejected) -> Self {
        ShardError::Node(NodeError::Rejected(r))
    }
}
