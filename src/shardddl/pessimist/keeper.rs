//! The pessimist's [`Keeper`]: the lock model fed from the replicated state.
//!
//! Rebuild (DM's buildLocks): Infos in (task, source) order join their locks (the smallest
//! source owns a lock rebuilt from Infos); every operation marks its lock synced, an exec
//! operation names the owner, a done one marks its source done. Then every lock is planned,
//! which re-sends missing operations and removes resolved locks.

use std::collections::{BTreeMap, BTreeSet};

use dm_storage::feed::ChangeBatch;
use dm_storage::scheduling::Subtasks;
use dm_storage::shardddl::{PessimismInfo, PessimismInfos, PessimismOp, PessimismOps};
use dm_storage::state::View;
use dm_storage::{Command, StoreError};

use super::lock::LockKeeper;
use crate::node::ctx::Applied;
use crate::node::error::NodeError;
use crate::shardddl::driver::{Keeper, Plan};

#[derive(Debug, Default)]
pub struct PessimistKeeper {
    pub locks: LockKeeper,
    /// Task → the sources it has subtasks on (the sources a lock waits for). Kept from the
    /// `subtasks` key space.
    pub task_sources: BTreeMap<String, BTreeSet<String>>,
}

impl PessimistKeeper {
    pub fn sources_of(&self, task: &str) -> Vec<String> {
        self.task_sources.get(task).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn plan_of(&self, lock_id: &str) -> Option<Plan> {
        self.locks.locks.get(lock_id).map(|l| Plan { lock_id: lock_id.to_string(), cmds: l.plan() })
    }

    fn join(&mut self, info: &PessimismInfo) -> Option<String> {
        let sources = self.sources_of(&info.task);
        match self.locks.try_sync(info, &sources) {
            Ok(lock) => Some(lock.id.clone()),
            Err(e) => {
                // Shown in the lock listing; the lock waits until the DDLs match or an unlock.
                tracing::warn!(error = %e, "shard DDL Info does not match its lock");
                None
            }
        }
    }
}

/// The records a pessimist rebuild starts from.
pub struct Stored {
    /// (source, task) of every subtask.
    subtasks: Vec<(String, String)>,
    infos: Vec<PessimismInfo>,
    ops: Vec<PessimismOp>,
}

impl Keeper for PessimistKeeper {
    type Stored = Stored;

    fn read(view: &View<'_>) -> Result<Stored, StoreError> {
        Ok(Stored {
            subtasks: view.list::<Subtasks>()?.into_iter().map(|(k, _)| k).collect(),
            infos: view.list::<PessimismInfos>()?.into_iter().map(|(_, r)| r.value).collect(),
            ops: view.list::<PessimismOps>()?.into_iter().map(|(_, r)| r.value).collect(),
        })
    }

    fn rebuild(&mut self, stored: Stored) -> Vec<Plan> {
        let mut fresh = PessimistKeeper::default();
        for (source, task) in stored.subtasks {
            fresh.task_sources.entry(task).or_default().insert(source);
        }
        for info in &stored.infos {
            fresh.join(info);
        }
        for op in &stored.ops {
            let sources = fresh.sources_of(&op.task);
            fresh.locks.recover_op(op, &sources);
        }
        *self = fresh;
        let ids: BTreeSet<String> = self.locks.locks.keys().cloned().collect();
        self.replan(&ids)
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Vec<Plan> {
        let mut touched = BTreeSet::new();
        for change in &batch.changes {
            if let Some(Ok(((source, task), record))) = change.decode::<Subtasks>() {
                if record.is_some() {
                    self.task_sources.entry(task).or_default().insert(source);
                } else {
                    if let Some(s) = self.task_sources.get_mut(&task) {
                        s.remove(&source);
                        if s.is_empty() {
                            self.task_sources.remove(&task);
                        }
                    }
                    touched.extend(self.locks.remove_source(&task, &source));
                }
            } else if let Some(Ok((_, Some(info)))) = change.decode::<PessimismInfos>() {
                touched.extend(self.join(&info.value));
            } else if let Some(Ok((_, Some(op)))) = change.decode::<PessimismOps>()
                && op.value.done
                && self.locks.mark_done(&op.value.lock_id, &op.value.source, op.value.exec).is_some()
            {
                touched.insert(op.value.lock_id);
            } else if let Some(Err(e)) = change.decode::<PessimismInfos>() {
                tracing::error!(error = %e, "unreadable pessimistic shard DDL Info skipped");
            }
        }
        self.replan(&touched)
    }

    fn planned(&mut self, plan: &Plan, results: &[Result<Applied, NodeError>]) {
        let removed = plan.cmds.iter().zip(results).any(|(c, r)| {
            matches!(c, Command::RemovePessimismLock { .. }) && (r.is_ok() || matches!(r, Err(NodeError::Rejected(_))))
        });
        if removed {
            tracing::info!(lock = %plan.lock_id, "pessimistic shard DDL lock resolved");
            self.locks.remove(&plan.lock_id);
        }
    }

    fn replan(&mut self, lock_ids: &BTreeSet<String>) -> Vec<Plan> {
        lock_ids.iter().filter_map(|id| self.plan_of(id)).collect()
    }
}
