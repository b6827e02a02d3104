//! The scheduler: leader-only. It binds sources to workers, tracks worker liveness, and drives
//! tasks through their subtasks' expected stages. Reached only through the `LeaderHandle`.
//!
//! Protocol (one scheduler per leader term, built by `LeaderHandle::start`):
//! 1. Build the view (`view::SchedView`) from the key spaces at the start revision and follow the
//!    change feed. Liveness starts empty at this leader's start time: a bound worker keeps its
//!    source for a full TTL unless heard from; an unbound worker is offline until it heartbeats.
//! 2. The loop, every `tick` and whenever woken (a worker comes online or reports a change, a
//!    source is added, a binding is dropped): under the decision lock, ask `policy` for bindings
//!    to drop (workers surely fenced) and bindings to make; propose them concurrently (each
//!    conditional on the state it was decided from) and wait until the view reflects them.
//! 3. Operator operations (sources, transfer, worker removal, tasks) check and propose under the
//!    same lock, so they never interleave with step 2.
//! 4. Cancelled with the leader handle. Nothing in memory needs saving: after a crash at any step
//!    the next leader starts from the committed commands; reservations and liveness are rebuilt
//!    from heartbeats within a TTL.

pub mod assign;
pub mod confirm;
pub mod error;
pub mod liveness;
pub mod policy;
pub mod sources;
pub mod stage;
pub mod tasks;
pub mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dm_storage::Command;
use futures::future::join_all;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::confirm::ConfirmSpec;
pub use self::error::SchedError;
use self::liveness::{Liveness, Report};
use self::policy::Inputs;
use self::tasks::Latch;
use self::view::SchedView;
use crate::agent::{AgentLimits, AgentPool};
use crate::node::ctx::{Applied, RaftCtx};
use crate::node::error::NodeError;
use crate::node::follow::Projected;

/// The scheduler's tunables (from the master config).
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// How often the loop re-checks liveness and unbound sources without being woken.
    pub tick: Duration,
    pub agent: AgentLimits,
    pub confirm: ConfirmSpec,
    /// Largest batch of subtasks in one command (bytes of configs).
    pub batch_bytes: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(500),
            agent: AgentLimits::default(),
            confirm: ConfirmSpec::default(),
            batch_bytes: 1 << 20,
        }
    }
}

pub struct Scheduler {
    ctx: RaftCtx,
    pub(crate) cfg: SchedulerConfig,
    /// The replicated scheduling state, as of the feed.
    pub view: Projected<SchedView>,
    /// Heartbeats seen by this leader.
    live: Mutex<Liveness>,
    /// Source → the worker a transfer in progress gives it to, and that operation's token.
    reserved: Mutex<HashMap<String, (String, u64)>>,
    /// Next reservation token.
    next_token: std::sync::atomic::AtomicU64,
    /// Serialises decide-and-propose (steps 2 and 3).
    decide: tokio::sync::Mutex<()>,
    wake: Notify,
    pub agents: AgentPool,
    /// What recent change batches touch, shared by the assignment streams.
    pub touched: Arc<assign::TouchCache>,
    /// Per-task latch: one mutation of a task at a time, others fail fast.
    pub(crate) latch: Latch,
    /// Fires when this leader term ends.
    pub(crate) cancel: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a heartbeat answer tells the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatAck {
    /// The reported binding is not the worker's any more: stop work on it now.
    pub stale_epoch: bool,
}

impl Scheduler {
    /// Step 1, and spawns the loop of step 2.
    pub fn start(ctx: RaftCtx, cfg: SchedulerConfig, cancel: CancellationToken) -> Result<Arc<Self>, NodeError> {
        let view = Projected::start(&ctx.reader, SchedView::default(), cancel.clone())?;
        let s = Arc::new(Scheduler {
            ctx,
            agents: AgentPool::new(cfg.agent),
            touched: Arc::default(),
            cfg,
            view,
            live: Mutex::new(Liveness::new(Instant::now())),
            reserved: Mutex::new(HashMap::new()),
            next_token: std::sync::atomic::AtomicU64::new(1),
            decide: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            latch: Latch::default(),
            cancel,
        });
        let looped = s.clone();
        tokio::spawn(async move { looped.run().await });
        Ok(s)
    }

    async fn run(&self) {
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.cfg.tick) => {}
            }
            self.reconcile().await;
        }
    }

    /// Runs `f` over the decision inputs at this instant.
    pub(crate) fn with_inputs<T>(&self, f: impl FnOnce(&Inputs<'_>) -> T) -> T {
        let view = self.view.get();
        let live = lock(&self.live);
        let reserved: HashMap<String, String> =
            lock(&self.reserved).iter().map(|(s, (w, _))| (s.clone(), w.clone())).collect();
        f(&Inputs { view: &view, live: &live, now: Instant::now(), reserved: &reserved })
    }

    /// Step 2.
    async fn reconcile(&self) {
        let _g = self.decide.lock().await;
        let cmds = self.with_inputs(|i| {
            let mut cmds = policy::expired_bounds(i);
            cmds.extend(policy::plan_bindings(i));
            cmds
        });
        if cmds.is_empty() {
            return;
        }
        for c in &cmds {
            match c {
                Command::UnbindSource { source_id, .. } => {
                    tracing::info!(source = %source_id, "dm-worker unseen for its keepalive TTL; unbinding its source")
                }
                Command::BindSource { source_id, worker } => {
                    tracing::info!(source = %source_id, worker = %worker, "binding source to dm-worker")
                }
                _ => {}
            }
        }
        for (cmd, res) in cmds.iter().zip(self.propose_all(cmds.clone()).await) {
            if let Err(e) = res {
                // A decision made on a view that moved on; the next round decides again.
                tracing::debug!(?cmd, error = %e, "scheduling command not applied");
            }
        }
    }

    /// Proposes commands concurrently and waits until the view reflects the applied ones.
    pub(crate) async fn propose_all(&self, cmds: Vec<Command>) -> Vec<Result<Applied, NodeError>> {
        let results = join_all(cmds.into_iter().map(|c| self.ctx.propose(c))).await;
        // Only entries that changed something publish a batch the view can reach.
        let changed = results.iter().filter_map(|r| r.as_ref().ok()).filter(|a| a.changed);
        if let Some(rev) = changed.map(|a| a.revision).max() {
            self.view.wait_for(rev).await;
        }
        results
    }

    /// Proposes one command and waits until the view reflects it.
    pub(crate) async fn propose(&self, cmd: Command) -> Result<Applied, NodeError> {
        let applied = self.ctx.propose(cmd).await?;
        if applied.changed {
            self.view.wait_for(applied.revision).await;
        }
        Ok(applied)
    }

    pub(crate) async fn decision_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.decide.lock().await
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn ctx(&self) -> &RaftCtx {
        &self.ctx
    }

    /// Reserves `source` for `worker`; returns the token that ends the reservation.
    pub(crate) fn reserve(&self, source: &str, worker: &str) -> u64 {
        let token = self.next_token.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        lock(&self.reserved).insert(source.to_string(), (worker.to_string(), token));
        token
    }

    /// Ends a reservation if it is still the one `token` made.
    pub(crate) fn unreserve(&self, source: &str, token: u64) {
        let mut r = lock(&self.reserved);
        if r.get(source).is_some_and(|(_, t)| *t == token) {
            r.remove(source);
        }
    }

    /// RegisterWorker: the same name from the same address is a restart; from another, an error.
    pub async fn register_worker(&self, name: &str, addr: &str, ttl: Duration) -> Result<(), SchedError> {
        sources::check_worker_name(name)?;
        if addr.is_empty() {
            return Err(SchedError::InvalidArgument("RegisterWorker needs the worker's address".into()));
        }
        let cmd = Command::RegisterWorker {
            name: name.to_string(),
            addr: addr.to_string(),
            keepalive_ttl_ms: ttl.as_millis() as u64,
        };
        self.propose(cmd).await?;
        lock(&self.live).registered(name);
        Ok(())
    }

    /// A heartbeat: records liveness and what the worker works on; wakes the loop when that
    /// may allow a binding.
    pub fn heartbeat(&self, name: &str, ttl: Duration, report: Report) -> Result<HeartbeatAck, SchedError> {
        let stale_epoch = {
            let view = self.view.get();
            if !view.workers.contains_key(name) {
                return Err(SchedError::WorkerNotFound(name.to_string()));
            }
            match &report.working {
                None => false,
                Some((source, epoch)) => match view.bounds.get(source) {
                    Some(b) if b.worker == name => b.epoch > *epoch,
                    // Not bound to it (any more) — unless the view has not caught up with the
                    // assignment the worker got.
                    _ => *epoch <= view.revision,
                },
            }
        };
        let mut live = lock(&self.live);
        let changed = live.report(name).map(|r| &r.working) != Some(&report.working);
        let came_online = live.heartbeat(name, ttl, report, Instant::now());
        drop(live);
        if came_online || changed {
            self.wake();
        }
        Ok(HeartbeatAck { stale_epoch })
    }

    /// A worker stopping cleanly (it has stopped all work): release its source at once.
    pub async fn worker_stopping(&self, name: &str) -> Result<(), SchedError> {
        let _g = self.decision_lock().await;
        lock(&self.live).gone(name, Instant::now());
        let bound = {
            let view = self.view.get();
            view.worker_source.get(name).and_then(|s| view.bounds.get(s)).cloned()
        };
        if let Some(b) = bound {
            tracing::info!(worker = %name, source = %b.source, "dm-worker stopped cleanly; unbinding its source");
            match self.propose(Command::UnbindSource { source_id: b.source, epoch: b.epoch }).await {
                Ok(_) | Err(NodeError::Rejected(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.wake();
        Ok(())
    }

    /// The leader handle is about to be published: heartbeats reach this scheduler from now on,
    /// so every worker's grace (a full TTL) starts now, not when the components were built.
    pub fn ready(&self) {
        lock(&self.live).restart_grace(Instant::now());
    }

    /// The worker's status as its last heartbeat reported it (for confirmations).
    pub(crate) fn reported_status(&self, worker: &str) -> Result<crate::pb::worker::QueryStatusResponse, String> {
        use crate::pb::worker::{QueryStatusResponse, SourceStatus};
        let live = lock(&self.live);
        let r = live.report(worker).ok_or_else(|| format!("no heartbeat from dm-worker {worker} yet"))?;
        let (source, epoch) = r.working.clone().unwrap_or_default();
        Ok(QueryStatusResponse {
            result: true,
            source_status: Some(SourceStatus {
                source,
                worker: worker.to_string(),
                result: true,
                epoch,
                ..Default::default()
            }),
            sub_task_status: r.subtasks.clone(),
            ..Default::default()
        })
    }

    /// Whether a worker is heard from within its TTL (for list-member and offline-member).
    pub fn online(&self, name: &str) -> bool {
        lock(&self.live).online(name, Instant::now())
    }
}
