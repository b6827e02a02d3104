//! `RaftCtx`: what every part of a master uses to talk to its Raft — propose a command, confirm
//! leadership for a linearizable read, look at the membership — with errors already mapped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dm_storage::{Command, CommandOutput, StateReader};
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};

use super::error::NodeError;
use super::metrics::NodeMetrics;
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
    /// Bound on waits inside one request (linearizable reads, membership changes).
    pub request_timeout: Duration,
}

fn not_leader(f: &ForwardToLeader) -> NodeError {
    NodeError::NotLeader { leader: f.leader_id.zip(f.leader_node.clone()) }
}

impl RaftCtx {
    /// Proposes `cmd` and waits (bounded) for its apply; a rejected precondition is
    /// `NodeError::Rejected`. A timeout leaves the outcome unknown: the command may still apply.
    pub async fn propose(&self, cmd: Command) -> Result<Applied, NodeError> {
        let started = Instant::now();
        let res = tokio::time::timeout(self.request_timeout, self.raft.client_write(cmd)).await;
        self.metrics.observe_proposal(started.elapsed().as_secs_f64());
        match res {
            Err(_) => Err(NodeError::Timeout {
                what: "committing the change (it may still apply; check before retrying)",
                secs: self.request_timeout.as_secs(),
            }),
            Ok(Ok(resp)) => {
                let r = resp.data;
                let (revision, changed) = (r.revision, r.changed);
                r.outcome.map(|output| Applied { revision, changed, output }).map_err(NodeError::Rejected)
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => Err(not_leader(&f)),
            Ok(Err(e)) => Err(NodeError::Raft(e.to_string())),
        }
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

    /// The node info of `id` in the current membership.
    pub fn node_info(&self, id: NodeId) -> Option<NodeInfo> {
        self.raft.metrics().borrow().membership_config.membership().get_node(&id).cloned()
    }

    /// The known leader and its info (not necessarily this node).
    pub fn known_leader(&self) -> Option<(NodeId, NodeInfo)> {
        let m = self.raft.metrics().borrow().clone();
        let id = m.current_leader?;
        let info = m.membership_config.membership().get_node(&id).cloned()?;
        Some((id, info))
    }
}
