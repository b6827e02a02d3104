//! Starting and stopping the leader components as Raft leadership comes and goes.
//!
//! Protocol:
//! 1. Watch the Raft metrics, plus a tick (a leader that lost its quorum changes no metric).
//! 2. This node leads when all hold: Raft says Leader and the current leader is this node; the
//!    last applied entry is of the current term and by this node (its own blank entry is applied,
//!    so it has seen every command committed before); a quorum acknowledged it within the leader
//!    lease (followers refuse to elect anyone else within that lease); the node is not evicted.
//! 3. Gaining: build a [`LeaderHandle`] under a fresh child token, then publish it (`dm_is_leader`
//!    = 1). If a component cannot start, stop, hand leadership to another master and try again no
//!    sooner than one lease later.
//! 4. Losing (any condition false, or a new term): unpublish first, then cancel the token, so no
//!    request reaches a stopping leader and every component stops at once.
//! 5. Each round also applies the eviction rules of `evict` (when an evicted master may campaign,
//!    when it must hand leadership on).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::ctx::RaftCtx;
use super::evict::{EvictAction, EvictState};
use super::leader::LeaderHandle;
use super::peers::Peers;
use super::transfer::hand_over;
use crate::raft::typ::{RaftMetrics, ServerState};

/// The published leader handle of this node, if it leads.
pub struct Leadership {
    tx: watch::Sender<Option<Arc<LeaderHandle>>>,
}

impl Leadership {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            tx: watch::channel(None).0,
        })
    }

    /// The handle while this node leads; leader-only operations start here.
    pub fn current(&self) -> Option<Arc<LeaderHandle>> {
        self.tx.borrow().clone()
    }

    /// Waits up to `timeout` for this node to lead (used while a fresh leader is starting).
    pub async fn wait(&self, timeout: Duration) -> Option<Arc<LeaderHandle>> {
        let mut rx = self.tx.subscribe();
        let res = tokio::time::timeout(timeout, rx.wait_for(|h| h.is_some())).await;
        match res {
            Ok(Ok(h)) => h.clone(),
            _ => None,
        }
    }

    fn publish(&self, handle: Option<Arc<LeaderHandle>>) {
        self.tx.send_replace(handle);
    }
}

/// Whether this node should run the leader components (step 2).
pub fn should_lead(m: &RaftMetrics, lease: Duration, evicted: bool) -> bool {
    if evicted || m.state != ServerState::Leader || m.current_leader != Some(m.id) {
        return false;
    }
    let own_blank_applied = m
        .last_applied
        .is_some_and(|l| l.leader_id.term == m.current_term && l.leader_id.node_id == m.id);
    if !own_blank_applied {
        return false;
    }
    let membership = m.membership_config.membership();
    let sole_voter = membership.voter_ids().eq(std::iter::once(m.id));
    sole_voter
        || m.millis_since_quorum_ack
            .is_some_and(|ms| u128::from(ms) <= lease.as_millis())
}

/// What the loop needs besides the Raft context.
pub struct LeadershipDeps {
    pub leadership: Arc<Leadership>,
    pub peers: Arc<Peers>,
    pub evicted: Arc<AtomicBool>,
    /// Leader lease (= maximum election timeout).
    pub lease: Duration,
    pub tick: Duration,
    pub shutdown: CancellationToken,
}

/// Runs steps 1–4 until shutdown.
pub async fn run(ctx: RaftCtx, deps: LeadershipDeps) {
    let mut metrics = ctx.raft.metrics();
    let mut tick = tokio::time::interval(deps.tick);
    let mut current: Option<Arc<LeaderHandle>> = None;
    let mut retry_after: Option<Instant> = None;
    let mut evict = EvictState::default();
    loop {
        tokio::select! {
            _ = deps.shutdown.cancelled() => break,
            changed = metrics.changed() => if changed.is_err() { break },
            _ = tick.tick() => {}
        }
        let m = metrics.borrow().clone();
        ctx.metrics.observe_raft(&m);
        let evicted = deps.evicted.load(Ordering::SeqCst);
        for action in evict.step(&m, evicted, Instant::now(), deps.lease) {
            match action {
                EvictAction::SetElect(on) => ctx.raft.runtime_config().elect(on),
                EvictAction::HandOver => {
                    let (ctx, peers, wait) = (ctx.clone(), deps.peers.clone(), deps.lease * 8);
                    tokio::spawn(async move {
                        if let Err(e) = hand_over(&ctx, &peers, wait).await {
                            tracing::warn!(error = %e, "evicted master could not hand leadership over");
                        }
                    });
                }
            }
        }
        let lead = should_lead(&m, deps.lease, evicted);
        if let Some(h) = &current
            && (!lead || h.term != m.current_term || h.is_stopped())
        {
            tracing::info!(term = h.term, "stopping leader components");
            deps.leadership.publish(None);
            ctx.metrics.set_leader(false);
            h.stop();
            current = None;
        }
        if current.is_some() || !lead || retry_after.is_some_and(|t| Instant::now() < t) {
            continue;
        }
        tracing::info!(term = m.current_term, "starting leader components");
        match LeaderHandle::start(ctx.clone(), m.current_term, deps.shutdown.child_token()).await {
            Ok(h) => {
                deps.leadership.publish(Some(h.clone()));
                ctx.metrics.set_leader(true);
                tracing::info!(term = h.term, "leader components running");
                current = Some(h);
                retry_after = None;
            }
            Err(e) => {
                tracing::error!(error = %e, "leader components could not start; handing leadership over");
                retry_after = Some(Instant::now() + deps.lease);
                if let Err(e) = hand_over(&ctx, &deps.peers, deps.lease * 4).await {
                    tracing::warn!(error = %e, "could not hand leadership over");
                }
            }
        }
    }
    if let Some(h) = current {
        deps.leadership.publish(None);
        ctx.metrics.set_leader(false);
        h.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::typ::{LogId, Membership, StoredMembership};
    use openraft::CommittedLeaderId;
    use std::collections::BTreeSet;

    fn metrics(voters: &[u64], state: ServerState, applied_term: u64, quorum_ms: Option<u64>) -> RaftMetrics {
        let mut m = RaftMetrics::new_initial(1);
        let ids: BTreeSet<u64> = voters.iter().copied().collect();
        let membership: Membership = Membership::new(vec![ids], ());
        m.membership_config = Arc::new(StoredMembership::new(None, membership));
        m.state = state;
        m.current_term = 3;
        m.current_leader = Some(1);
        m.last_applied = Some(LogId::new(CommittedLeaderId::new(applied_term, 1), 10));
        m.millis_since_quorum_ack = quorum_ms;
        m
    }

    #[test]
    fn t10_lead_only_with_own_blank_applied_and_a_fresh_quorum() {
        let lease = Duration::from_millis(800);
        let cases = [
            (
                "leader, blank applied, quorum fresh",
                metrics(&[1, 2, 3], ServerState::Leader, 3, Some(100)),
                false,
                true,
            ),
            (
                "blank of this term not applied yet",
                metrics(&[1, 2, 3], ServerState::Leader, 2, Some(100)),
                false,
                false,
            ),
            (
                "quorum not heard within lease",
                metrics(&[1, 2, 3], ServerState::Leader, 3, Some(900)),
                false,
                false,
            ),
            (
                "no quorum ack at all",
                metrics(&[1, 2, 3], ServerState::Leader, 3, None),
                false,
                false,
            ),
            (
                "sole voter needs no ack",
                metrics(&[1], ServerState::Leader, 3, None),
                false,
                true,
            ),
            (
                "follower",
                metrics(&[1, 2, 3], ServerState::Follower, 3, Some(1)),
                false,
                false,
            ),
            (
                "evicted",
                metrics(&[1, 2, 3], ServerState::Leader, 3, Some(100)),
                true,
                false,
            ),
        ];
        for (what, m, evicted, want) in cases {
            assert_eq!(should_lead(&m, lease, evicted), want, "{what}");
        }
    }
}
