//! `RaftCtx`: what every part of a master uses to talk to its Raft — propose a command, confirm
//! leadership for a linearizable read, look at the membership — with errors already mapped.

use std::sync::Arc;
use std::time::Duration;

use dm_storage::{Command, CommandOutput, StateReader};
use openraft::error::{CheckIsLeaderError, RaftError};

use super::error::NodeError;
use super::metrics::NodeMetrics;
use super::proposer::Proposer;
use crate::raft::typ::{ForwardToLeader, NodeId, NodeInfo, Raft, RaftMetrics};

/// An applied command.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Revision (log index) of the entry.
    pub revision: u64,
    /// Whether it changed any record (so a change batch exists at `revision`).
    pub changed: bool,
    pub output: CommandOutput,
}

#[derive(Clone)]
pub struct RaftCtx {
    pub node_id: NodeId,
    pub raft: Raft,
    pub reader: StateReader,
    pub metrics: Arc<NodeMetrics>,
    /// Batches concurrent proposals into one log entry.
    pub proposer: Proposer,
    /// Bound on waits inside one request (linearizable reads, membership changes).
    pub request_timeout: Duration,
}

fn not_leader(f: &ForwardToLeader) -> NodeError {
    NodeError::NotLeader { leader: f.leader_id.zip(f.leader_node.clone()) }
}

impl RaftCtx {
    /// Proposes `cmd` (batched with concurrent proposals, see `proposer`) and waits (bounded)
    /// for its apply; a rejected precondition is `NodeError::Rejected`. A timeout leaves the
    /// outcome unknown: the command may still apply.
    pub async fn propose(&self, cmd: Command) -> Result<Applied, NodeError> {
        self.proposer.propose(cmd).await
    }

    /// Confirms with a quorum that this node is still leader and waits until everything committed
    /// before the call is applied locally, so a read after it is linearizable.
    pub async fn linearizable(&self) -> Result<(), NodeError> {
        let secs = self.request_timeout.as_secs();
        match tokio::time::timeout(self.request_timeout, self.raft.ensure_linearizable()).await {
            Err(_) => Err(NodeError::Timeout { what: "confirming leadership with a quorum", secs }),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => Err(not_leader(&f)),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                Err(NodeError::Raft(format!("no quorum confirmed this leader: {e}")))
            }
            Ok(Err(e)) => Err(NodeError::Raft(e.to_string())),
        }
    }

    pub fn raft_metrics(&self) -> RaftMetrics {
        self.raft.metrics().borrow().clone()
    }

    /// The known leader and its info (not necessarily this node).
    pub fn known_leader(&self) -> Option<(NodeId, NodeInfo)> {
        let m = self.raft.metrics().borrow().clone();
        let id = m.current_leader?;
        let info = m.membership_config.membership().get_node(&id).cloned()?;
        Some((id, info))
    }
}
