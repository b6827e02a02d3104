//! The loop both lock keepers run on the leader: rebuild from the key spaces, follow the change
//! feed, propose what the keeper decides, retry what failed.
//!
//! 1. Rebuild: under the keeper's mutex, read the key spaces at revision R and subscribe after
//!    R, atomically; the keeper rebuilds its locks and returns plans (commands per lock).
//! 2. Follow: each change batch goes to the keeper in revision order; it returns plans.
//! 3. Propose every plan's commands (concurrently across locks, in order within one), then tell
//!    the keeper how each plan went (e.g. a removed lock leaves memory only once its removal
//!    committed). A plan that failed is retried on the next tick: plans are idempotent.
//! 4. Resync when the feed says so (step 1 again); stop when the leader term ends.
//!
//! The keeper's mutex is not held while proposing, so operator calls (show, unlock) and the
//! loop interleave between steps, never inside one.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use dm_storage::feed::{ChangeBatch, FeedError};
use dm_storage::state::View;
use dm_storage::{Command, StoreError};
use futures::future::join_all;
use tokio::sync::{Mutex, watch};
use tokio_util::sync::CancellationToken;

use crate::node::ctx::{Applied, RaftCtx};
use crate::node::error::NodeError;

/// The commands that move one lock on.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub lock_id: String,
    pub cmds: Vec<Command>,
}

/// A lock keeper, as the driver sees it.
pub trait Keeper: Send + 'static {
    /// The records a rebuild starts from.
    type Stored: Send;
    /// Step 1's read: the records, at one revision. Only copies (applies wait meanwhile).
    fn read(view: &View<'_>) -> Result<Self::Stored, StoreError>;
    /// Step 1: replaces every lock from the records read.
    fn rebuild(&mut self, stored: Self::Stored) -> Vec<Plan>;
    /// Step 2: one change batch.
    fn apply(&mut self, batch: &ChangeBatch) -> Vec<Plan>;
    /// Step 3: a plan's commands all committed (or were rejected: the state moved on).
    fn planned(&mut self, _plan: &Plan, _results: &[Result<Applied, NodeError>]) {}
    /// Step 3's retry: the plans that move these locks on now.
    fn replan(&mut self, lock_ids: &BTreeSet<String>) -> Vec<Plan>;
}

/// A running keeper.
pub struct Driven<K> {
    pub keeper: Arc<Mutex<K>>,
    /// The revision the keeper reflects.
    revision: watch::Receiver<u64>,
}

impl<K> Clone for Driven<K> {
    fn clone(&self) -> Self {
        Self { keeper: self.keeper.clone(), revision: self.revision.clone() }
    }
}

impl<K: Keeper> Driven<K> {
    /// Step 1 now (a failed read fails the start), steps 2–4 on a task.
    pub async fn start(ctx: RaftCtx, keeper: K, retry: Duration, cancel: CancellationToken) -> Result<Self, NodeError> {
        let keeper = Arc::new(Mutex::new(keeper));
        let started = std::time::Instant::now();
        let (plans, sub, rev) = {
            let mut k = keeper.lock().await;
            let (read, sub) = ctx.reader.read_and_subscribe(|v| K::read(v).map(|s| (s, v.revision())));
            let (stored, rev) = read?;
            (k.rebuild(stored), sub, rev)
        };
        tracing::info!(
            keeper = std::any::type_name::<K>().rsplit("::").next().unwrap_or_default(),
            revision = rev,
            plans = plans.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "shard DDL keeper rebuilt its locks"
        );
        let (tx, rx) = watch::channel(rev);
        let driven = Driven { keeper: keeper.clone(), revision: rx };
        tokio::spawn(run(ctx, keeper, plans, sub, tx, retry, cancel));
        Ok(driven)
    }

    /// Waits until the keeper reflects `revision`, at most `timeout`.
    pub async fn wait_for(&self, revision: u64, timeout: Duration) -> bool {
        let mut rx = self.revision.clone();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision)).await.is_ok_and(|r| r.is_ok())
    }
}

async fn run<K: Keeper>(
    ctx: RaftCtx,
    keeper: Arc<Mutex<K>>,
    first: Vec<Plan>,
    mut sub: dm_storage::Subscription,
    tx: watch::Sender<u64>,
    retry: Duration,
    cancel: CancellationToken,
) {
    let mut failed = execute(&ctx, &keeper, first).await;
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => return,
            n = sub.next() => Some(n),
            _ = tokio::time::sleep(retry), if !failed.is_empty() => None,
        };
        let plans = match next {
            None => {
                let ids = std::mem::take(&mut failed);
                keeper.lock().await.replan(&ids)
            }
            Some(Ok(batch)) => {
                let plans = keeper.lock().await.apply(&batch);
                let _ = tx.send(batch.revision);
                plans
            }
            Some(Err(FeedError::Resync { .. })) => {
                let mut k = keeper.lock().await;
                let (read, new_sub) = ctx.reader.read_and_subscribe(|v| K::read(v).map(|s| (s, v.revision())));
                sub = new_sub;
                match read {
                    Ok((stored, rev)) => {
                        let plans = k.rebuild(stored);
                        let _ = tx.send(rev);
                        plans
                    }
                    Err(e) => {
                        // Never stop the leader for it: log; the operator repairs the data.
                        tracing::error!(error = %e, "shard DDL keeper could not re-read the state");
                        Vec::new()
                    }
                }
            }
            Some(Err(FeedError::Closed)) => return,
        };
        failed.extend(execute(&ctx, &keeper, plans).await);
    }
}

/// Step 3; returns the locks whose plans did not go through.
async fn execute<K: Keeper>(ctx: &RaftCtx, keeper: &Mutex<K>, plans: Vec<Plan>) -> BTreeSet<String> {
    let runs = plans.into_iter().filter(|p| !p.cmds.is_empty()).map(|plan| async move {
        let mut results = Vec::with_capacity(plan.cmds.len());
        for cmd in &plan.cmds {
            let r = ctx.propose(cmd.clone()).await;
            let stop = matches!(r, Err(ref e) if !matches!(e, NodeError::Rejected(_)));
            results.push(r);
            if stop {
                break;
            }
        }
        (plan, results)
    });
    let mut failed = BTreeSet::new();
    for (plan, results) in join_all(runs).await {
        for r in &results {
            if let Err(e) = r {
                tracing::warn!(lock = %plan.lock_id, error = %e, "shard DDL lock command not applied");
            }
        }
        if results.len() < plan.cmds.len()
            || results.iter().any(|r| matches!(r, Err(e) if !matches!(e, NodeError::Rejected(_))))
        {
            failed.insert(plan.lock_id.clone());
        }
        keeper.lock().await.planned(&plan, &results);
    }
    failed
}

/// Waits until `cond` holds on the replicated state, at most `timeout`; returns whether it did.
pub async fn wait_state(reader: &dm_storage::StateReader, timeout: Duration, cond: impl Fn(&View<'_>) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let (ok, mut sub) = reader.read_and_subscribe(&cond);
        if ok {
            return true;
        }
        loop {
            match tokio::time::timeout_at(deadline, sub.next()).await {
                Err(_) => return false,
                Ok(Ok(_)) => {
                    if reader.read(&cond) {
                        return true;
                    }
                }
                // Fell behind or a snapshot: read afresh.
                Ok(Err(FeedError::Resync { .. })) => break,
                Ok(Err(FeedError::Closed)) => return false,
            }
        }
    }
}
