//! Leader-only master membership operations: reserve an id for a joining master, promote it to
//! voter, remove a master. Reached only through [`LeaderHandle`].
//!
//! Join, as the leader sees it:
//! 1. `reserve_member`: `ReserveMember` command — checks the name, hands out a never-reused node id.
//! 2. `promote_member`: add the node as a learner and wait until it caught up; make it a voter;
//!    `MemberJoined`. Each step is skipped when already done, so a retried promotion resumes.
//!
//! Removal: leave the Raft membership first, then `RemoveMember`; a crash in between is repaired
//! by the next leader's reconcile step.

use std::collections::{BTreeMap, BTreeSet};

use dm_storage::spaces::MemberState;
use dm_storage::{Command, CommandOutput, Rejected};
use openraft::ChangeMembers;
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};

use super::error::NodeError;
use super::leader::LeaderHandle;
use crate::raft::typ::{NodeId, NodeInfo};

fn raft_err<E: std::fmt::Display>(e: RaftError<NodeId, ClientWriteError<NodeId, NodeInfo>>, what: E) -> NodeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => NodeError::NotLeader {
            leader: f.leader_id.zip(f.leader_node),
        },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(ChangeMembershipError::InProgress(_))) => {
            NodeError::Raft(format!(
                "{what}: another membership change is in progress; retry in a moment"
            ))
        }
        other => NodeError::Raft(format!("{what}: {other}")),
    }
}

impl LeaderHandle {
    /// Join step 1. Returns the node id and the cluster id.
    pub async fn reserve_member(
        &self,
        name: &str,
        peer_addr: &str,
        client_addr: &str,
    ) -> Result<(NodeId, u64), NodeError> {
        if name.is_empty() || peer_addr.is_empty() || client_addr.is_empty() {
            return Err(NodeError::InvalidArgument(
                "join needs a name, a peer address and a client address".into(),
            ));
        }
        let cmd = Command::ReserveMember {
            name: name.to_string(),
            peer_addr: peer_addr.to_string(),
            client_addr: client_addr.to_string(),
        };
        let (rev, out) = self.ctx.propose(cmd).await?;
        self.members.wait_for(rev).await;
        let CommandOutput::MemberReserved { node_id } = out else {
            return Err(NodeError::Raft(format!("unexpected ReserveMember output {out:?}")));
        };
        let cluster_id = self
            .cluster()
            .map(|c| c.cluster_id)
            .ok_or(Rejected::ClusterNotInitialized)?;
        Ok((node_id, cluster_id))
    }

    /// Join step 2: learner, catch up, voter, recorded as joined.
    pub async fn promote_member(&self, name: &str, node_id: NodeId) -> Result<(), NodeError> {
        let record = self
            .members
            .get()
            .members
            .get(name)
            .cloned()
            .ok_or_else(|| Rejected::MemberNotFound { name: name.to_string() })?;
        if record.node_id != node_id {
            return Err(Rejected::MemberIdMismatch {
                name: name.to_string(),
                expected: node_id,
                actual: record.node_id,
            }
            .into());
        }
        let info = NodeInfo {
            name: name.to_string(),
            peer_addr: record.peer_addr.clone(),
            client_addr: record.client_addr.clone(),
        };
        let membership = self.ctx.raft_metrics().membership_config.membership().clone();
        if membership.get_node(&node_id).is_none() {
            tracing::info!(%info, node_id, "adding joining master as learner");
            self.ctx
                .raft
                .add_learner(node_id, info, true)
                .await
                .map_err(|e| raft_err(e, "adding learner"))?;
        }
        let membership = self.ctx.raft_metrics().membership_config.membership().clone();
        if !membership.voter_ids().any(|v| v == node_id) {
            tracing::info!(node_id, "promoting learner to voter");
            let add = ChangeMembers::AddVoterIds(BTreeSet::from([node_id]));
            self.ctx
                .raft
                .change_membership(add, false)
                .await
                .map_err(|e| raft_err(e, "promoting to voter"))?;
        }
        if record.state == MemberState::Joining {
            self.ctx
                .propose(Command::MemberJoined {
                    name: name.to_string(),
                    node_id,
                })
                .await?;
        }
        Ok(())
    }

    /// `offline-member --master`: removes a master from the membership and forgets it.
    pub async fn remove_member(&self, name: &str) -> Result<(), NodeError> {
        let membership = self.ctx.raft_metrics().membership_config.membership().clone();
        let in_raft = membership.nodes().find(|(_, n)| n.name == name).map(|(id, _)| *id);
        let record = self.members.get().members.get(name).cloned();
        let node_id = match (in_raft, &record) {
            (Some(id), _) => id,
            (None, Some(r)) => r.node_id,
            (None, None) => return Err(Rejected::MemberNotFound { name: name.to_string() }.into()),
        };
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if voters.contains(&node_id) {
            if voters.len() == 1 {
                return Err(NodeError::LastVoter(name.to_string()));
            }
            tracing::info!(name, node_id, "removing voter from the Raft membership");
            let remove = ChangeMembers::RemoveVoters(BTreeSet::from([node_id]));
            self.ctx
                .raft
                .change_membership(remove, false)
                .await
                .map_err(|e| raft_err(e, "removing voter"))?;
        } else if in_raft.is_some() {
            tracing::info!(name, node_id, "removing learner from the Raft membership");
            let remove = ChangeMembers::RemoveNodes(BTreeSet::from([node_id]));
            self.ctx
                .raft
                .change_membership(remove, false)
                .await
                .map_err(|e| raft_err(e, "removing learner"))?;
        }
        if record.is_some() {
            match self
                .ctx
                .propose(Command::RemoveMember {
                    name: name.to_string(),
                    node_id,
                })
                .await
            {
                // Removing ourselves ends our leadership; the next leader's reconcile finishes.
                Ok(_) | Err(NodeError::NotLeader { .. }) | Err(NodeError::Rejected(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Records a master's current addresses in the Raft membership (see `announce`).
    pub async fn update_node(&self, node_id: NodeId, info: NodeInfo) -> Result<(), NodeError> {
        let set = ChangeMembers::SetNodes(BTreeMap::from([(node_id, info)]));
        self.ctx
            .raft
            .change_membership(set, false)
            .await
            .map_err(|e| raft_err(e, "updating node addresses"))?;
        Ok(())
    }
}
