//! Handing leadership to another master (openraft 0.9 has no transfer call).
//!
//! For each other voter, most caught-up first, until the time is up:
//! 1. With heartbeats still on (a follower that stops hearing from the leader campaigns on its
//!    own — with a shorter log it can never win, and its higher term unseats us), wait until it
//!    holds every entry of this leader's log.
//! 2. Stop heartbeats and ask it to campaign at once (`Campaign`, refused by an evicted master).
//!    A leader whose own lease has passed grants that vote (a majority in a 3-node cluster); in
//!    larger clusters the followers' leases run out and they elect among themselves.
//! 3. If another node leads within a few leases, done; otherwise resume heartbeats and try the
//!    next voter.
//!
//! Used by `operate-leader evict` (elections are disabled on this node first), when an evicted
//! master had to take leadership, and when leader components cannot start.

use std::time::{Duration, Instant};

use super::ctx::RaftCtx;
use super::error::NodeError;
use super::peers::Peers;

/// How long one candidate may take to catch up before the next is tried.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);
/// How long a candidate that was asked to campaign may take to win.
const CAMPAIGN_WAIT: Duration = Duration::from_secs(2);

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
    let deadline = Instant::now() + wait;
    if let Some(repl) = &m.replication {
        others.sort_by_key(|id| std::cmp::Reverse(repl.get(id).copied().flatten().map(|l| l.index)));
    }
    let moved = |m: &crate::raft::typ::RaftMetrics| m.current_leader.is_some_and(|l| l != me);
    while Instant::now() < deadline {
        for id in &others {
            let Some(info) = membership.get_node(id) else { continue };
            let left = deadline.saturating_duration_since(Instant::now());
            let caught_up = ctx
                .raft
                .wait(Some(CATCH_UP_WAIT.min(left)))
                .metrics(
                    |m| {
                        let matched = m.replication.as_ref().and_then(|r| r.get(id).copied().flatten());
                        moved(m) || matched.is_some_and(|l| Some(l.index) >= m.last_log_index)
                    },
                    "candidate holds the whole log",
                )
                .await;
            match caught_up {
                Ok(m) if moved(&m) => return Ok(()),
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!(node = id, "master not caught up; trying the next one");
                    continue;
                }
            }
            ctx.raft.runtime_config().heartbeat(false);
            let asked = peers.campaign(*id, &info.peer_addr, Duration::from_secs(2)).await;
            let res = match asked {
                Ok(()) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    ctx.raft.wait(Some(CAMPAIGN_WAIT.min(left))).metrics(moved, "leadership moved").await.is_ok()
                }
                Err(e) => {
                    tracing::warn!(node = id, error = %e, "campaign request refused; trying the next master");
                    false
                }
            };
            ctx.raft.runtime_config().heartbeat(true);
            if res {
                return Ok(());
            }
            if Instant::now() >= deadline {
                break;
            }
        }
    }
    if moved(&ctx.raft_metrics()) {
        return Ok(());
    }
    Err(NodeError::Timeout { what: "handing leadership to another master", secs: wait.as_secs() })
}
