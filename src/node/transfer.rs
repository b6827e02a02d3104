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
//! master had to take leadership, and when leader components cannot start — always through
//! [`HandOverGate`]: one hand-over at a time, in a task of its own, so a caller that goes away
//! cannot leave heartbeats switched off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::ctx::RaftCtx;
use super::error::NodeError;
use super::peers::Peers;
use crate::raft::typ::Raft;

/// How long one candidate may take to catch up before the next is tried.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);
/// How long a candidate that was asked to campaign may take to win.
const CAMPAIGN_WAIT: Duration = Duration::from_secs(2);
/// Pause between rounds over the voters.
const ROUND_PAUSE: Duration = Duration::from_millis(200);

/// Heartbeats off for as long as it lives (also when the future holding it is dropped).
struct HeartbeatsOff<'a>(&'a Raft);

impl<'a> HeartbeatsOff<'a> {
    fn new(raft: &'a Raft) -> Self {
        raft.runtime_config().heartbeat(false);
        Self(raft)
    }
}

impl Drop for HeartbeatsOff<'_> {
    fn drop(&mut self) {
        self.0.runtime_config().heartbeat(true);
    }
}

/// One hand-over at a time per master.
#[derive(Default)]
pub struct HandOverGate {
    running: Arc<AtomicBool>,
}

impl HandOverGate {
    /// Starts a hand-over in a task of its own, unless one is already running (then `None`).
    pub fn start(
        &self,
        ctx: &RaftCtx,
        peers: &Arc<Peers>,
        wait: Duration,
    ) -> Option<JoinHandle<Result<(), NodeError>>> {
        if self.running.swap(true, Ordering::SeqCst) {
            return None;
        }
        let (ctx, peers, running) = (ctx.clone(), peers.clone(), self.running.clone());
        Some(tokio::spawn(async move {
            let res = hand_over(&ctx, &peers, wait).await;
            running.store(false, Ordering::SeqCst);
            res
        }))
    }

    /// Hands leadership over and waits for the outcome; if a hand-over is already running, waits
    /// (bounded) for leadership to move instead.
    pub async fn run(&self, ctx: &RaftCtx, peers: &Arc<Peers>, wait: Duration) -> Result<(), NodeError> {
        match self.start(ctx, peers, wait) {
            Some(task) => task.await.map_err(|e| NodeError::Raft(format!("hand-over task failed: {e}")))?,
            None => {
                let me = ctx.node_id;
                let moved =
                    ctx.raft.wait(Some(wait)).metrics(|m| m.current_leader.is_some_and(|l| l != me), "moved").await;
                moved.map(|_| ()).map_err(|_| NodeError::Timeout {
                    what: "handing leadership to another master",
                    secs: wait.as_secs(),
                })
            }
        }
    }
}

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
        if ctx.raft_metrics().running_state.is_err() {
            return Err(NodeError::Raft("this master is shutting down".into()));
        }
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
            let heartbeats_off = HeartbeatsOff::new(&ctx.raft);
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
            drop(heartbeats_off);
            if res {
                return Ok(());
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        // Nobody could take over this round (not caught up, refused): pause before the next.
        tokio::time::sleep(ROUND_PAUSE.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
    if moved(&ctx.raft_metrics()) {
        return Ok(());
    }
    Err(NodeError::Timeout { what: "handing leadership to another master", secs: wait.as_secs() })
}
