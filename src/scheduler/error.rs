//! Errors of the scheduler's operations, each with its user code (46xxx, DM's scheduler range)
//! and a message that says what to do.

use thiserror::Error;

use crate::error::{Coded, ErrorCode, UserError};
use crate::node::error::NodeError;

#[derive(Debug, Error)]
pub enum SchedError {
    /// Proposing or reading failed, or a precondition did not hold.
    #[error("{0}")]
    Node(#[from] NodeError),
    /// A source or task file that cannot be used (its own code).
    #[error("{}", .0.message)]
    Config(UserError),
    #[error("dm-worker {0} is not registered; check the name with `list-member --worker`")]
    WorkerNotFound(String),
    #[error("dm-worker with name {0} is still online; stop it first, then offline it")]
    WorkerOnline(String),
    #[error("dm-worker {worker} is {stage}, not free; choose a free worker (`list-member --worker`)")]
    WorkerNotFree { worker: String, stage: String },
    #[error("source {0} does not exist; create it with `operate-source create`")]
    SourceNotFound(String),
    #[error("sources {0:?} have not bound to a dm-worker; start (or free) a dm-worker and retry")]
    SourcesUnbound(Vec<String>),
    #[error("task {0} does not exist; check its name with `query-status`")]
    TaskNotFound(String),
    #[error("subtasks of task {task} already exist on {sources:?}; stop the task first or start it on other sources")]
    TaskExists { task: String, sources: Vec<String> },
    #[error("when {op}, resource {task} is in use by other client; retry when that operation finishes")]
    TaskBusy { op: &'static str, task: String },
    #[error("{0}")]
    InvalidArgument(String),
    #[error(
        "the masters do not keep dm-worker configs: {worker} registered only its name and address ({addr}); read its config file (dm worker --config) on that host"
    )]
    WorkerConfigUnknown { worker: String, addr: String },
    #[error("{what} did not happen within {secs}s; {hint}")]
    Timeout { what: String, secs: u64, hint: &'static str },
}

impl Coded for SchedError {
    fn code(&self) -> ErrorCode {
        match self {
            SchedError::Node(e) => e.code(),
            SchedError::Config(e) => e.code,
            SchedError::WorkerNotFound(_) => ErrorCode::WorkerNotFound,
            SchedError::WorkerOnline(_) => ErrorCode::WorkerOnline,
            SchedError::WorkerNotFree { .. } => ErrorCode::WorkerNotFree,
            SchedError::SourceNotFound(_) => ErrorCode::SourceNotFound,
            SchedError::SourcesUnbound(_) => ErrorCode::SourcesUnbound,
            SchedError::TaskNotFound(_) => ErrorCode::TaskNotFound,
            SchedError::TaskExists { .. } => ErrorCode::TaskExists,
            SchedError::TaskBusy { .. } => ErrorCode::TaskBusy,
            SchedError::InvalidArgument(_) => ErrorCode::InvalidArgument,
            SchedError::WorkerConfigUnknown { .. } => ErrorCode::WorkerConfigUnknown,
            SchedError::Timeout { .. } => ErrorCode::Timeout,
        }
    }
}

impl From<dm_storage::Rejected> for SchedError {
    fn from(r: dm_storage::Rejected) -> Self {
        SchedError::Node(NodeError::Rejected(r))
    }
}
