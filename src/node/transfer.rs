//! Handing leadership to another master (openraft 0.9 has no transfer call).
//!
//! 1. Stop sending heartbeats, so the followers' leader lease runs out.
//! 2. Ask the most caught-up other voter to campaign at once (`Campaign` on its client port); a
//!    leader whose own lease has passed grants that vote, which is a majority in a 3-node cluster.
//!    In larger clusters the followers time out and elect among themselves shortly after.
//! 3. Wait (bounded) until another node leads, then resume heartbeats.
//!
//! Used by `operate-leader evict` (with elections disabled on this node first) and when leader
//! components cannot start.

use std::time::Duration;

use super::ctx::RaftCtx;
use super::error::NodeError;
use super::peers::Peers;

pub async fn hand_over(ctx: &RaftCtx, peers: &Peers, wait: Duration) -> Result<(), NodeError> {
    let m = ctx.raft_metrics();
    let me = ctx.node_id;
    let membership = m.membership_config.membership().clone();
    let mut others: Vec<u64> = membership.voter_ids().filter(|id| *id != me).collect();
    if others.is_empty() {
        return Err(NodeError::NoOtherMaster);
    }
    if m.current_leader != Some(me) {
        return Ok(());
    }
    // Most caught-up first.
    if let Some(repl) = &m.replication {
        others.sort_by_key(|id| std::cmp::Reverse(repl.get(id).copied().flatten().map(|l| l.index)));
    }
    ctx.raft.runtime_config().heartbeat(false);
    for id in &others {
        let Some(info) = membership.get_node(id) else { continue };
        match peers.campaign(*id, &info.peer_addr, Duration::from_secs(2)).await {
            Ok(()) => break,
            Err(e) => tracing::warn!(node = id, error = %e, "campaign request failed; trying the next master"),
        }
    }
    let moved = ctx
        .raft
        .wait(Some(wait))
        .metrics(
            |m| m.current_leader.is_some_and(|l| l != me),
            "leadership moved to another master",
        )
        .await;
    ctx.raft.runtime_config().heartbeat(true);
    match moved {
        Ok(_) => Ok(()),
        Err(_) => Err(NodeError::Timeout {
            what: "handing leadership to another master",
            secs: wait.as_secs(),
        }),
    }
}
