//! `LeaderHandle`: the only way to reach leader-only operations, and the registry of leader
//! components (the members view and the scheduler; the shard-DDL keepers come as fields built in
//! `start` too).
//!
//! Start protocol (run by `leadership` once this node's own blank entry is applied, so every
//! command committed before this term is in the state):
//! 1. Build each component from the state at the current revision and follow the change feed.
//! 2. Cluster bootstrap: with no cluster record yet, propose `InitCluster` (random id, members
//!    from the Raft membership). It is conditional, so an earlier one wins.
//! 3. Reconcile members with the Raft membership: a Joining member that is already a voter gets
//!    `MemberJoined`; a Joined member whose node left the membership, and a Removing member (after
//!    leaving the membership), get `RemoveMember`. This completes a join or removal whose leader
//!    crashed between its steps.
//! 4. Publish the handle. One cancellation token (a child of the node's) stops every component.
//!
//! A crash at any step leaves state that the next leader's steps 2–3 complete.

use std::collections::BTreeSet;
use std::sync::Arc;

use dm_storage::spaces::{ClusterInfo, MemberRecord, MemberState};
use dm_storage::{Command, Rejected};
use tokio_util::sync::CancellationToken;

use super::ctx::RaftCtx;
use super::error::NodeError;
use super::follow::Projected;
use super::members::MembersView;
use crate::raft::typ::NodeId;
use crate::scheduler::{Scheduler, SchedulerConfig};

/// Internal version of the replicated data layout, recorded in the cluster record.
pub const CLUSTER_VERSION: u32 = 1;

pub struct LeaderHandle {
    /// The Raft term this handle leads; a new term means a new handle.
    pub term: u64,
    pub ctx: RaftCtx,
    cancel: CancellationToken,
    /// Master members and the cluster record.
    pub members: Projected<MembersView>,
    /// Workers, sources, tasks (see `scheduler`).
    pub scheduler: Arc<Scheduler>,
    /// The shard-DDL lock keepers (see `shardddl`).
    pub shard_ddl: crate::shardddl::ShardDdl,
    /// Serialises membership operations (promote, remove, address updates), so a removal and a
    /// promotion of the same master never interleave.
    pub(super) membership_lock: tokio::sync::Mutex<()>,
}

impl LeaderHandle {
    /// Runs steps 1–3; the caller publishes the handle (step 4).
    pub async fn start(
        ctx: RaftCtx,
        term: u64,
        cancel: CancellationToken,
        sched: SchedulerConfig,
        shard: crate::shardddl::ShardDdlConfig,
    ) -> Result<Arc<Self>, NodeError> {
        let members = Projected::start(&ctx.reader, MembersView::default(), cancel.clone())?;
        let scheduler = Scheduler::start(ctx.clone(), sched, cancel.clone())?;
        let shard_ddl = crate::shardddl::ShardDdl::start(ctx.clone(), &shard, cancel.clone()).await?;
        let handle = Arc::new(LeaderHandle {
            term,
            ctx,
            cancel,
            members,
            scheduler,
            shard_ddl,
            membership_lock: tokio::sync::Mutex::new(()),
        });
        handle.bootstrap_cluster().await?;
        handle.reconcile_members().await?;
        Ok(handle)
    }

    /// Stops every leader component.
    pub fn stop(&self) {
        self.cancel.cancel();
    }

    /// Fires when this handle's term ends (streams served by the leader end with it).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    pub fn is_stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }

    pub fn cluster(&self) -> Option<ClusterInfo> {
        self.members.get().cluster.clone()
    }

    async fn bootstrap_cluster(&self) -> Result<(), NodeError> {
        if self.members.get().cluster.is_some() {
            return Ok(());
        }
        let membership = self.ctx.raft_metrics().membership_config.membership().clone();
        let members: Vec<MemberRecord> = membership
            .nodes()
            .map(|(id, n)| MemberRecord {
                name: n.name.clone(),
                node_id: *id,
                peer_addr: n.peer_addr.clone(),
                client_addr: n.client_addr.clone(),
                state: MemberState::Joined,
            })
            .collect();
        let next_node_id = members.iter().map(|m| m.node_id).max().unwrap_or(0) + 1;
        let info = ClusterInfo { cluster_id: new_cluster_id(), version: CLUSTER_VERSION, next_node_id };
        match self.ctx.propose(Command::InitCluster { info, members }).await {
            Ok(applied) => {
                self.members.wait_for(applied.revision).await;
                Ok(())
            }
            Err(NodeError::Rejected(Rejected::ClusterAlreadyInitialized { .. })) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn reconcile_members(&self) -> Result<(), NodeError> {
        let membership = self.ctx.raft_metrics().membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let in_membership: BTreeSet<NodeId> = membership.nodes().map(|(id, _)| *id).collect();
        let records: Vec<MemberRecord> = self.members.get().members.values().cloned().collect();
        for m in records {
            let (name, node_id) = (m.name.clone(), m.node_id);
            let cmd = match m.state {
                MemberState::Joining if voters.contains(&node_id) => Command::MemberJoined { name, node_id },
                MemberState::Joined if !in_membership.contains(&node_id) => Command::RemoveMember { name, node_id },
                MemberState::Removing => {
                    self.leave_membership(node_id).await?;
                    Command::RemoveMember { name, node_id }
                }
                _ => continue,
            };
            tracing::info!(member = %m.name, ?cmd, "reconciling member record with the Raft membership");
            match self.ctx.propose(cmd).await {
                Ok(_) | Err(NodeError::Rejected(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// DM's cluster id shape: unix seconds in the high half, random low half.
fn new_cluster_id() -> u64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    (secs << 32) | u64::from(rand::random::<u32>())
}
