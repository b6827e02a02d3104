//! Leader-only master membership operations: reserve an id for a joining master, promote it to
//! voter, remove a master, record addresses. Reached only through [`LeaderHandle`]; every Raft
//! call is bounded by the request timeout.
//!
//! Join, as the leader sees it:
//! 1. `reserve_member`: `ReserveMember` — checks the name, hands out a never-reused node id
//!    (state Joining).
//! 2. `promote_member` (only for a Joining master): add it as a learner; wait (bounded) until it
//!    holds the whole log; make it a voter; `MemberJoined`. Each step is skipped when done, so a
//!    retried promotion resumes — and never promotes a learner that has not caught up.
//!
//! Removal: `MemberRemoving` first (promotion is refused from then on), then leave the Raft
//! membership, then `RemoveMember`. Promotion, removal and address updates hold one lock, so
//! their steps never interleave. The next leader's reconcile step finishes a removal a crash
//! interrupted (see `leader`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use dm_storage::spaces::MemberState;
use dm_storage::{Command, CommandOutput, Rejected};
use openraft::ChangeMembers;
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};

use super::error::NodeError;
use super::leader::LeaderHandle;
use crate::raft::typ::{NodeId, NodeInfo};

type WriteResult<T> = Result<T, RaftError<NodeId, ClientWriteError<NodeId, NodeInfo>>>;

fn raft_err(e: RaftError<NodeId, ClientWriteError<NodeId, NodeInfo>>, what: &str) -> NodeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            NodeError::NotLeader { leader: f.leader_id.zip(f.leader_node) }
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(ChangeMembershipError::InProgress(_))) => {
            NodeError::Raft(format!("{what}: another membership change is still in progress"))
        }
        other => NodeError::Raft(format!("{what}: {other}")),
    }
}

impl LeaderHandle {
    /// Runs one Raft membership call within the request timeout.
    /// Runs one Raft membership call within the request timeout. Membership changes are one at a
    /// time (each a joint then a uniform step); a call that finds another in progress (a join,
    /// an address update) waits for it and tries again.
    async fn bounded<T, F, Fut>(&self, what: &'static str, mut call: F) -> Result<T, NodeError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = WriteResult<T>>,
    {
        let attempt = async {
            let mut pause = Duration::from_millis(20);
            loop {
                match call().await {
                    Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                        ChangeMembershipError::InProgress(_),
                    ))) => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(500));
                    }
                    other => return other,
                }
            }
        };
        match tokio::time::timeout(self.ctx.request_timeout, attempt).await {
            Ok(res) => res.map_err(|e| raft_err(e, what)),
            Err(_) => Err(NodeError::Timeout { what, secs: self.ctx.request_timeout.as_secs() }),
        }
    }

    /// Join step 1. Returns the node id and the cluster id.
    pub async fn reserve_member(
        &self,
        name: &str,
        peer_addr: &str,
        client_addr: &str,
    ) -> Result<(NodeId, u64), NodeError> {
        if name.is_empty() || peer_addr.is_empty() || client_addr.is_empty() {
            return Err(NodeError::InvalidArgument("join needs a name, a peer address and a client address".into()));
        }
        let cmd = Command::ReserveMember {
            name: name.to_string(),
            peer_addr: peer_addr.to_string(),
            client_addr: client_addr.to_string(),
        };
        let applied = self.ctx.propose(cmd).await?;
        if applied.changed {
            self.members.wait_for(applied.revision).await;
        }
        let CommandOutput::MemberReserved { node_id } = applied.output else {
            return Err(NodeError::Raft(format!("unexpected ReserveMember output {:?}", applied.output)));
        };
        let cluster_id = self.cluster().map(|c| c.cluster_id).ok_or(Rejected::ClusterNotInitialized)?;
        Ok((node_id, cluster_id))
    }

    /// Join step 2: learner, caught up, voter, recorded as joined.
    pub async fn promote_member(&self, name: &str, node_id: NodeId) -> Result<(), NodeError> {
        let _serial = self.membership_lock.lock().await;
        let record = self.members.get().members.get(name).cloned();
        let record = record.ok_or_else(|| Rejected::MemberNotFound { name: name.to_string() })?;
        if record.node_id != node_id {
            return Err(Rejected::MemberIdMismatch {
                name: name.to_string(),
                expected: node_id,
                actual: record.node_id,
            }
            .into());
        }
        let membership = self.ctx.raft_metrics().membership_config.membership().clone();
        let is_voter = membership.voter_ids().any(|v| v == node_id);
        match record.state {
            MemberState::Joining => {}
            MemberState::Joined if is_voter => return Ok(()),
            from => {
                return Err(
                    Rejected::MemberStateInvalid { name: name.to_string(), from, to: MemberState::Joined }.into()
                );
            }
        }
        if membership.get_node(&node_id).is_none() {
            let info =
                NodeInfo { name: name.to_string(), peer_addr: record.peer_addr, client_addr: record.client_addr };
            tracing::info!(%info, node_id, "adding joining master as learner");
            self.bounded("adding the learner", || self.ctx.raft.add_learner(node_id, info.clone(), false)).await?;
        }
        if !is_voter {
            self.wait_caught_up(node_id).await?;
            tracing::info!(node_id, "promoting learner to voter");
            let add = ChangeMembers::AddVoterIds(BTreeSet::from([node_id]));
            self.bounded("promoting the learner to voter", || self.ctx.raft.change_membership(add.clone(), false))
                .await?;
        }
        self.ctx.propose(Command::MemberJoined { name: name.to_string(), node_id }).await?;
        Ok(())
    }

    /// Waits (bounded) until `node_id` holds every entry of this leader's log.
    async fn wait_caught_up(&self, node_id: NodeId) -> Result<(), NodeError> {
        let caught_up = self
            .ctx
            .raft
            .wait(Some(self.ctx.request_timeout))
            .metrics(
                |m| {
                    let matched = m.replication.as_ref().and_then(|r| r.get(&node_id).copied().flatten());
                    matched.is_some_and(|l| Some(l.index) >= m.last_log_index)
                },
                "learner caught up",
            )
            .await;
        caught_up.map(|_| ()).map_err(|_| NodeError::Timeout {
            what: "the joining master catching up (the join resumes on its own)",
            secs: self.ctx.request_timeout.as_secs(),
        })
    }

    /// `offline-member --master`: removes a master from the membership and forgets it.
    pub async fn remove_member(&self, name: &str) -> Result<(), NodeError> {
        let _serial = self.membership_lock.lock().await;
        let membership = self.ctx.raft_metrics().membership_config.membership().clone();
        let in_raft = membership.nodes().find(|(_, n)| n.name == name).map(|(id, _)| *id);
        let record = self.members.get().members.get(name).cloned();
        let node_id = match (in_raft, &record) {
            (Some(id), _) => id,
            (None, Some(r)) => r.node_id,
            (None, None) => return Err(Rejected::MemberNotFound { name: name.to_string() }.into()),
        };
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if voters.contains(&node_id) && voters.len() == 1 {
            return Err(NodeError::LastVoter(name.to_string()));
        }
        if record.as_ref().is_some_and(|r| r.node_id == node_id && r.state != MemberState::Removing) {
            self.ctx.propose(Command::MemberRemoving { name: name.to_string(), node_id }).await?;
        }
        self.leave_membership(node_id).await?;
        if record.is_some() {
            match self.ctx.propose(Command::RemoveMember { name: name.to_string(), node_id }).await {
                // Removing ourselves ends our leadership; the next leader's reconcile finishes.
                Ok(_) | Err(NodeError::NotLeader { .. }) | Err(NodeError::Rejected(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Takes `node_id` out of the Raft membership (voter or learner); a no-op if not in it.
    pub(super) async fn leave_membership(&self, node_id: NodeId) -> Result<(), NodeError> {
        let membership = self.ctx.raft_metrics().membership_config.membership().clone();
        if membership.voter_ids().any(|v| v == node_id) {
            tracing::info!(node_id, "removing voter from the Raft membership");
            let remove = ChangeMembers::RemoveVoters(BTreeSet::from([node_id]));
            self.bounded("removing the voter", || self.ctx.raft.change_membership(remove.clone(), false)).await?;
        } else if membership.get_node(&node_id).is_some() {
            tracing::info!(node_id, "removing learner from the Raft membership");
            let remove = ChangeMembers::RemoveNodes(BTreeSet::from([node_id]));
            self.bounded("removing the learner", || self.ctx.raft.change_membership(remove.clone(), false)).await?;
        }
        Ok(())
    }

    /// Records a master's current addresses in the Raft membership (see `announce`).
    pub async fn update_node(&self, node_id: NodeId, info: NodeInfo) -> Result<(), NodeError> {
        let _serial = self.membership_lock.lock().await;
        let set = ChangeMembers::SetNodes(BTreeMap::from([(node_id, info)]));
        self.bounded("updating node addresses", || self.ctx.raft.change_membership(set.clone(), false)).await?;
        Ok(())
    }
}
