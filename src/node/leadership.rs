//! Starting and stopping the leader components as Raft leadership comes and goes.
//!
//! Protocol:
//! 1. Watch the Raft metrics (openraft publishes them on every turn of its loop), plus a tick for
//!    the eviction rules, plus a timer at the end of the leader lease.
//! 2. This node leads when all hold: Raft says Leader and the current leader is this node; the
//!    last applied entry is of the current term and by this node (its own blank entry is applied,
//!    so it has seen every command committed before); a quorum acknowledged it less than one
//!    leader lease ago; the node is not evicted. The acknowledgement time is taken when the
//!    metrics are published, never from a stale copy, and the lease timer fires exactly when it
//!    runs out. Followers refuse to vote within a lease of the last heartbeat and only campaign
//!    after a lease plus an election timeout, so a partitioned leader stops before another can
//!    start.
//! 3. Gaining: build a [`LeaderHandle`] in its own task (the loop keeps watching) under a fresh
//!    child token. When it is built, check step 2 and the term again, then publish it
//!    (`dm_is_leader` = 1). If a component cannot start, hand leadership to another master and
//!    try again no sooner than one lease later.
//! 4. Losing (any condition false, or a new term): unpublish first, then cancel the token, so no
//!    request reaches a stopping leader and every component stops at once; a start in progress
//!    is cancelled the same way.
//! 5. Each round also applies the eviction rules of `evict`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ctx::RaftCtx;
use super::error::NodeError;
use super::evict::{EvictAction, EvictState};
use super::leader::LeaderHandle;
use super::peers::Peers;
use super::transfer::HandOverGate;
use crate::raft::typ::{NodeId, RaftMetrics, ServerState};

/// The published leader handle of this node, if it leads.
pub struct Leadership {
    tx: watch::Sender<Option<Arc<LeaderHandle>>>,
}

impl Leadership {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { tx: watch::channel(None).0 })
    }

    /// The handle while this node leads; leader-only operations start here.
    pub fn current(&self) -> Option<Arc<LeaderHandle>> {
        self.tx.borrow().clone()
    }

    /// Waits up to `timeout` for this node to lead (used while a fresh leader is starting).
    pub async fn wait(&self, timeout: Duration) -> Option<Arc<LeaderHandle>> {
        let mut rx = self.tx.subscribe();
        match tokio::time::timeout(timeout, rx.wait_for(|h| h.is_some())).await {
            Ok(Ok(h)) => h.clone(),
            _ => None,
        }
    }

    /// Notified whenever this node starts or stops leading.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<LeaderHandle>>> {
        self.tx.subscribe()
    }

    fn publish(&self, handle: Option<Arc<LeaderHandle>>) {
        self.tx.send_replace(handle);
    }
}

/// What the loop reads from one publication of the Raft metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftView {
    pub id: NodeId,
    pub state: ServerState,
    pub current_leader: Option<NodeId>,
    pub term: u64,
    /// Term and node of the last applied entry's leader.
    pub applied_by: Option<(u64, NodeId)>,
    pub sole_voter: bool,
    /// When a quorum last acknowledged this node as leader.
    pub quorum_acked_at: Option<Instant>,
}

impl RaftView {
    /// Reads a publication received at `now`.
    pub fn read(m: &RaftMetrics, now: Instant) -> Self {
        Self {
            id: m.id,
            state: m.state,
            current_leader: m.current_leader,
            term: m.current_term,
            applied_by: m.last_applied.map(|l| (l.leader_id.term, l.leader_id.node_id)),
            sole_voter: m.membership_config.membership().voter_ids().eq(std::iter::once(m.id)),
            quorum_acked_at: m
                .millis_since_quorum_ack
                .map(|ms| now.checked_sub(Duration::from_millis(ms)).unwrap_or(now)),
        }
    }

    pub fn is_raft_leader(&self) -> bool {
        self.state == ServerState::Leader && self.current_leader == Some(self.id)
    }

    /// When the leader lease runs out (none for a sole voter, which needs no acknowledgement).
    pub fn lease_end(&self, lease: Duration) -> Option<Instant> {
        if self.sole_voter { None } else { self.quorum_acked_at.map(|t| t + lease) }
    }
}

/// Whether this node should run the leader components (step 2).
pub fn should_lead(v: &RaftView, now: Instant, lease: Duration, evicted: bool) -> bool {
    if evicted || !v.is_raft_leader() || v.applied_by != Some((v.term, v.id)) {
        return false;
    }
    v.sole_voter || v.lease_end(lease).is_some_and(|end| now < end)
}

/// What the loop needs besides the Raft context.
pub struct LeadershipDeps {
    pub leadership: Arc<Leadership>,
    pub peers: Arc<Peers>,
    pub hand_over: Arc<HandOverGate>,
    pub evicted: Arc<AtomicBool>,
    /// Leader lease (= maximum election timeout).
    pub lease: Duration,
    pub tick: Duration,
    pub shutdown: CancellationToken,
    /// Tunables of the leader components.
    pub scheduler: crate::scheduler::SchedulerConfig,
    pub shard_ddl: crate::shardddl::ShardDdlConfig,
}

enum Phase {
    Idle,
    Starting { term: u64, cancel: CancellationToken, task: JoinHandle<Result<Arc<LeaderHandle>, NodeError>> },
    Leading(Arc<LeaderHandle>),
}

/// Runs steps 1–5 until shutdown.
pub async fn run(ctx: RaftCtx, deps: LeadershipDeps) {
    let mut metrics = ctx.raft.metrics();
    let mut view = RaftView::read(&metrics.borrow_and_update(), Instant::now());
    let mut tick = tokio::time::interval(deps.tick);
    let mut phase = Phase::Idle;
    let mut retry_after: Option<Instant> = None;
    let mut evict = EvictState::default();
    loop {
        let far = Instant::now() + Duration::from_secs(3600);
        let lease_end = match phase {
            Phase::Idle => far,
            _ => view.lease_end(deps.lease).unwrap_or(far),
        };
        let started = tokio::select! {
            _ = deps.shutdown.cancelled() => break,
            changed = metrics.changed() => {
                if changed.is_err() { break }
                view = RaftView::read(&metrics.borrow_and_update(), Instant::now());
                None
            }
            // Re-evaluates the eviction rules (e.g. how long the cluster has been leaderless).
            _ = tick.tick() => None,
            _ = tokio::time::sleep_until(lease_end) => None,
            res = async {
                match &mut phase {
                    Phase::Starting { task, .. } => task.await,
                    _ => std::future::pending().await,
                }
            } => Some(res),
        };
        let now = Instant::now();
        let evicted = deps.evicted.load(Ordering::SeqCst);
        for action in evict.step(&view, evicted, now.into_std(), deps.lease) {
            match action {
                EvictAction::SetElect(on) => ctx.raft.runtime_config().elect(on),
                EvictAction::HandOver => spawn_hand_over(&ctx, &deps, "evicted master had to lead"),
            }
        }
        let lead = should_lead(&view, now, deps.lease, evicted);
        if let Some(res) = started {
            phase = match res {
                Ok(Ok(h)) if lead && h.term == view.term => {
                    // Workers' grace starts when they can reach this leader.
                    h.scheduler.ready();
                    deps.leadership.publish(Some(h.clone()));
                    ctx.metrics.set_leader(true);
                    tracing::info!(term = h.term, "leader components running");
                    Phase::Leading(h)
                }
                Ok(Ok(h)) => {
                    h.stop();
                    Phase::Idle
                }
                Ok(Err(e)) => {
                    cancel_start(&phase);
                    tracing::error!(error = %e, "leader components could not start; handing leadership over");
                    retry_after = Some(now + deps.lease);
                    spawn_hand_over(&ctx, &deps, "leader components could not start");
                    Phase::Idle
                }
                Err(e) => {
                    cancel_start(&phase);
                    tracing::error!(error = %e, "leader start task failed");
                    retry_after = Some(now + deps.lease);
                    Phase::Idle
                }
            };
        }
        phase = match phase {
            Phase::Leading(h) if !lead || h.term != view.term || h.is_stopped() => {
                tracing::info!(term = h.term, "stopping leader components");
                deps.leadership.publish(None);
                ctx.metrics.set_leader(false);
                h.stop();
                Phase::Idle
            }
            Phase::Starting { term, cancel, task } if !lead || term != view.term => {
                cancel.cancel();
                task.abort();
                Phase::Idle
            }
            Phase::Idle if lead && retry_after.is_none_or(|t| now >= t) => {
                tracing::info!(term = view.term, "starting leader components");
                let cancel = deps.shutdown.child_token();
                let task = tokio::spawn(LeaderHandle::start(
                    ctx.clone(),
                    view.term,
                    cancel.clone(),
                    deps.scheduler.clone(),
                    deps.shard_ddl.clone(),
                ));
                Phase::Starting { term: view.term, cancel, task }
            }
            other => other,
        };
    }
    deps.leadership.publish(None);
    ctx.metrics.set_leader(false);
    match phase {
        Phase::Leading(h) => h.stop(),
        Phase::Starting { cancel, task, .. } => {
            cancel.cancel();
            task.abort();
        }
        Phase::Idle => {}
    }
}

/// Stops whatever a failed start left running.
fn cancel_start(phase: &Phase) {
    if let Phase::Starting { cancel, .. } = phase {
        cancel.cancel();
    }
}

/// Starts a hand-over unless one is running; its failure is logged.
fn spawn_hand_over(ctx: &RaftCtx, deps: &LeadershipDeps, why: &'static str) {
    let wait = (deps.lease * 8).max(Duration::from_secs(10));
    if let Some(task) = deps.hand_over.start(ctx, &deps.peers, wait) {
        tokio::spawn(async move {
            if let Ok(Err(e)) = task.await {
                tracing::warn!(error = %e, why, "could not hand leadership over");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(
        sole_voter: bool,
        state: ServerState,
        applied_term: u64,
        acked_ms_ago: Option<u64>,
        now: Instant,
    ) -> RaftView {
        RaftView {
            id: 1,
            state,
            current_leader: Some(1),
            term: 3,
            applied_by: Some((applied_term, 1)),
            sole_voter,
            quorum_acked_at: acked_ms_ago.map(|ms| now - Duration::from_millis(ms)),
        }
    }

    #[test]
    fn t10_lead_only_with_own_blank_applied_and_a_fresh_quorum() {
        let lease = Duration::from_millis(400);
        let now = Instant::now();
        let cases = [
            ("leader, blank applied, quorum fresh", view(false, ServerState::Leader, 3, Some(100), now), false, true),
            ("blank of this term not applied yet", view(false, ServerState::Leader, 2, Some(100), now), false, false),
            ("quorum not heard within the lease", view(false, ServerState::Leader, 3, Some(400), now), false, false),
            ("no quorum ack at all", view(false, ServerState::Leader, 3, None, now), false, false),
            ("sole voter needs no ack", view(true, ServerState::Leader, 3, None, now), false, true),
            ("follower", view(false, ServerState::Follower, 3, Some(1), now), false, false),
            ("evicted", view(false, ServerState::Leader, 3, Some(100), now), true, false),
        ];
        for (what, v, evicted, want) in cases {
            assert_eq!(should_lead(&v, now, lease, evicted), want, "{what}");
        }
        // The lease ends exactly one lease after the acknowledgement.
        let v = view(false, ServerState::Leader, 3, Some(100), now);
        assert_eq!(v.lease_end(lease), Some(now + Duration::from_millis(300)));
        assert!(!should_lead(&v, now + Duration::from_millis(300), lease, false));
    }
}
