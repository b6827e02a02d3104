//! Handing leadership to another master (openraft 0.9 has no transfer call).
//!
//! 1. Stop sending heartbeats, so the followers' leader lease runs out.
//! 2. Take the other voters most caught-up first. For each: wait (bounded) until it holds every
//!    entry of this leader's log — a candidate with a shorter log can never win — then ask it to
//!    campaign at once (`Campaign`, refused by an evicted master). A leader whose own lease has
//!    passed grants that vote, a majority in a 3-node cluster; in larger clusters the followers
//!    time out and elect among themselves shortly after.
//! 3. Wait (bounded) until another node leads, then resume heartbeats.
//!
//! Used by `operate-leader evict` (elections are disabled on this node first), when an evicted
//! master had to take leadership, and when leader components cannot start.

use std::time::{Duration, Instant};

use super::ctx::RaftCtx;
use super::error::NodeError;
use super::peers::Peers;

/// How long one candidate may take to catch up before the next is tried.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

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
    let started = Instant::now();
    if let Some(repl) = &m.replication {
        others.sort_by_key(|id| std::cmp::Reverse(repl.get(id).copied().flatten().map(|l| l.index)));
    }
    ctx.raft.runtime_config().heartbeat(false);
    for id in &others {
        let Some(info) = membership.get_node(id) else { continue };
        let caught_up = ctx
            .raft
            .wait(Some(CATCH_UP_WAIT))
            .metrics(
                |m| {
                    let matched = m.replication.as_ref().and_then(|r| r.get(id).copied().flatten()).map(|l| l.index);
                    matched.is_some() && matched >= m.last_log_index
                },
                "candidate holds the whole log",
            )
            .await;
        if caught_up.is_err() {
            tracing::warn!(node = id, "master not caught up; trying the next one");
            continue;
        }
        match peers.campaign(*id, &info.peer_addr, Duration::from_secs(2)).await {
            Ok(()) => break,
            Err(e) => tracing::warn!(node = id, error = %e, "campaign request refused; trying the next master"),
        }
    }
    let moved = ctx
        .raft
        .wait(Some(wait.saturating_sub(started.elapsed())))
        .metrics(|m| m.current_leader.is_some_and(|l| l != me), "leadership moved to another master")
        .await;
    ctx.raft.runtime_config().heartbeat(true);
    match moved {
        Ok(_) => Ok(()),
        Err(_) => Err(NodeError::Timeout { what: "handing leadership to another master", secs: wait.as_secs() }),
    }
}
