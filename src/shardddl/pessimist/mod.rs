//! The pessimist: leader-only coordinator of pessimistic shard-DDL locks (DM's protocol,
//! reference dm-master §7).
//!
//! 1. A worker's `PutShardDdlInfo` stores its source's Info (conditional on its binding epoch
//!    and on its operation not being done).
//! 2. The keeper (driven by `driver`) joins the Info to its lock, waiting for every source of
//!    the task; the first source owns the lock. Synced → an exec operation for the owner.
//! 3. The owner executes the DDLs downstream and acks: its operation done and its Info deleted
//!    in one command. The keeper then writes skip operations for every other source.
//! 4. Each other source skips and acks; when all are done the lock's operations are deleted.
//!
//! A crash at any step leaves Infos and operations from which the next leader rebuilds the lock
//! (keeper.rs) and re-sends what is missing. stop-task deletes the subtask's records with the
//! subtask, and the lock stops waiting for that source. Unlock (below) is the operator's escape.

pub mod keeper;
pub mod lock;

use std::time::Duration;

use dm_storage::Command;
use dm_storage::shardddl::PessimismOps;
use tokio_util::sync::CancellationToken;

use self::keeper::PessimistKeeper;
use self::lock::Lock;
use super::driver::{Driven, wait_state};
use super::error::ShardError;
use crate::node::ctx::RaftCtx;
use crate::node::error::NodeError;
use crate::pb::master::DdlLock;

/// What the operator asks of a pessimistic lock.
#[derive(Debug, Clone, Default)]
pub struct Unlock {
    pub lock_id: String,
    /// Execute on this source instead of the owner.
    pub replace_owner: Option<String>,
    /// Nobody executes: every waiting source skips the DDLs.
    pub skip: bool,
    /// Remove the lock even if the owner does not execute in time.
    pub force_remove: bool,
}

pub struct Pessimist {
    ctx: RaftCtx,
    driven: Driven<PessimistKeeper>,
    /// How long unlock waits for the owner, then for the others (DM: 10 × 1 s each).
    unlock_wait: Duration,
}

impl Pessimist {
    pub async fn start(ctx: RaftCtx, unlock_wait: Duration, cancel: CancellationToken) -> Result<Self, NodeError> {
        let driven = Driven::start(ctx.clone(), PessimistKeeper::default(), Duration::from_secs(1), cancel).await?;
        Ok(Pessimist { ctx, driven, unlock_wait })
    }

    /// The locks of `task` ("" = all) that involve one of `sources` (empty = all).
    pub async fn show(&self, task: &str, sources: &[String]) -> Vec<DdlLock> {
        let k = self.driven.keeper.lock().await;
        k.locks
            .locks
            .values()
            .filter(|l| task.is_empty() || l.task == task)
            .filter(|l| sources.is_empty() || l.members.keys().any(|s| sources.contains(s)))
            .map(show_lock)
            .collect()
    }

    pub async fn has_lock(&self, lock_id: &str) -> bool {
        self.driven.keeper.lock().await.locks.locks.contains_key(lock_id)
    }

    /// DM's unlock-ddl-lock (reference §7.6), plus `skip` and a force-remove that also works
    /// when the owner is not waiting (a source that never sends its DDL: dm#2062):
    /// 1. The lock must exist; the owner (or `replace_owner`) must be waiting for it, unless
    ///    force-removing.
    /// 2. Write the owner's exec operation; wait for it to be done. If it is not, fail (the lock
    ///    stays as it was, its owner now the chosen one) — unless force-removing.
    /// 3. Write skip operations for the other waiting sources; wait for them (a failure here is
    ///    only reported).
    /// 4. Remove the lock with its Infos and operations.
    pub async fn unlock(&self, u: &Unlock) -> Result<String, ShardError> {
        let (lock, owner, holder) = {
            let mut k = self.driven.keeper.lock().await;
            let lock =
                k.locks.locks.get(&u.lock_id).cloned().ok_or_else(|| ShardError::LockNotFound(u.lock_id.clone()))?;
            let owner = u.replace_owner.clone().unwrap_or_else(|| lock.owner.clone());
            // One exec per lock: a source already holding the exec operation keeps it.
            let holder = lock.members.keys().find(|s| {
                **s != owner
                    && self
                        .ctx
                        .reader
                        .get::<PessimismOps>(&(lock.task.clone(), (*s).clone()))
                        .ok()
                        .flatten()
                        .is_some_and(|op| op.value.lock_id == lock.id && op.value.exec && !op.value.done)
            });
            if let Some(holder) = holder.filter(|_| !u.force_remove) {
                return Err(ShardError::UnlockRefused(format!(
                    "source {holder} already holds the exec operation of lock {}; wait for it to execute, or \
                     remove the lock with --force-remove only if it surely will not",
                    u.lock_id
                )));
            }
            let waiting = lock.members.get(&owner).is_some_and(|m| m.ready);
            if !u.skip && !waiting && !u.force_remove {
                return Err(ShardError::UnlockRefused(format!(
                    "source {owner} is not waiting for lock {}: it has not sent the lock's DDLs; choose a source \
                     that has (--owner, see `shard-ddl-lock`), or remove the lock with --force-remove",
                    u.lock_id
                )));
            }
            if let Some(l) = k.locks.locks.get_mut(&u.lock_id)
                && waiting
            {
                l.owner = owner.clone();
            }
            let holder = holder.cloned();
            (lock, waiting.then_some(owner), holder)
        };
        if let Some(holder) = holder {
            // --force-remove while another source holds the exec: no second exec, no skips that
            // could land on it mid-execution; the lock's records just go.
            self.propose(lock.removal(true)).await?;
            self.driven.keeper.lock().await.locks.remove(&lock.id);
            return Ok(format!("source {holder} held the exec operation; the lock is removed without new operations"));
        }
        let mut notes = Vec::new();
        if let (false, Some(owner)) = (u.skip, owner.as_deref())
            && !lock.executed
        {
            let op = lock.op(owner, true);
            self.propose(Command::PutPessimismOps { ops: vec![op], skip_done: true }).await?;
            if !self.wait_done(&lock, &[owner.to_string()]).await {
                if !u.force_remove {
                    return Err(ShardError::OwnerTimeout {
                        lock_id: lock.id.clone(),
                        owner: owner.to_string(),
                        secs: self.unlock_wait.as_secs(),
                    });
                }
                notes.push(format!("source {owner} did not execute the DDLs in time; the lock is removed anyway"));
            }
        }
        let skip_to: Vec<String> = lock.synced().into_iter().filter(|s| u.skip || Some(s) != owner.as_ref()).collect();
        if !skip_to.is_empty() {
            let ops = skip_to.iter().map(|s| lock.op(s, false)).collect();
            self.propose(Command::PutPessimismOps { ops, skip_done: true }).await?;
            if !self.wait_done(&lock, &skip_to).await {
                notes.push(format!("not every source of {skip_to:?} skipped the DDLs in time"));
            }
        }
        let removal = lock.removal(true);
        self.propose(removal).await?;
        self.driven.keeper.lock().await.locks.remove(&lock.id);
        tracing::info!(lock = %lock.id, "pessimistic shard DDL lock unlocked by the operator");
        Ok(notes.join("; "))
    }

    async fn propose(&self, cmd: Command) -> Result<(), ShardError> {
        self.ctx.propose(cmd).await?;
        Ok(())
    }

    /// Waits until the operations of `sources` in the lock are done (or gone).
    async fn wait_done(&self, lock: &Lock, sources: &[String]) -> bool {
        wait_state(&self.ctx.reader, self.unlock_wait, |v| {
            sources.iter().all(|s| {
                v.get::<PessimismOps>(&(lock.task.clone(), s.clone()))
                    .ok()
                    .flatten()
                    .is_none_or(|op| op.value.lock_id != lock.id || op.value.done)
            })
        })
        .await
    }
}

fn show_lock(l: &Lock) -> DdlLock {
    DdlLock {
        id: l.id.clone(),
        task: l.task.clone(),
        mode: "pessimistic".into(),
        owner: l.owner.clone(),
        ddls: l.ddls.clone(),
        synced: l.synced(),
        unsynced: l.unsynced(),
        messages: l.errors.values().cloned().collect(),
        stage: l.stage().as_str().into(),
    }
}
