//! The pessimistic lock model, without I/O: one lock per (task, downstream table), waiting for
//! every source of the task; the first source to arrive owns it and executes the DDLs, then every
//! other source skips them; when all are done the lock goes.
//!
//! [`LockKeeper`] holds the locks; [`LockKeeper::plan`] turns a lock's state into the commands
//! that move it on, which the coordinator proposes.

use std::collections::{BTreeMap, BTreeSet};

use dm_storage::Command;
use dm_storage::shardddl::{PessimismInfo, PessimismOp};

/// Where a lock is; derived from its sources' ready/done flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockStage {
    /// Some sources of the task have not sent their DDLs yet.
    Waiting,
    /// Every source is waiting; the owner executes the DDLs downstream.
    Executing,
    /// The owner is done; the other sources skip the DDLs.
    Skipping,
    /// Every source is done: the lock's records can go.
    Resolved,
}

impl LockStage {
    /// Legal moves. A source joining the task sends a synced lock back to Waiting; a source
    /// leaving can complete a stage at once. An owner that executed stays the owner of record,
    /// so Skipping never goes back.
    pub fn can_become(self, next: LockStage) -> bool {
        use LockStage::*;
        matches!(
            (self, next),
            (Waiting, Executing)
                | (Executing, Waiting)
                | (Executing, Skipping)
                | (Skipping, Resolved)
                // A source leaving can complete a lock at once.
                | (Waiting, Skipping)
                | (Waiting, Resolved)
                | (Executing, Resolved)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LockStage::Waiting => "waiting",
            LockStage::Executing => "executing",
            LockStage::Skipping => "skipping",
            LockStage::Resolved => "resolved",
        }
    }
}

/// One source's part in a lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    /// It sent the lock's DDLs and waits for an operation.
    pub ready: bool,
    /// It did its operation (executed as owner, or skipped).
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub id: String,
    pub task: String,
    pub down_schema: String,
    pub down_table: String,
    /// The source that executes the DDLs: the first to arrive, or the operator's choice.
    pub owner: String,
    pub ddls: Vec<String>,
    /// Every source of the task. Added by try_sync (the task's sources), removed by
    /// remove_source.
    pub members: BTreeMap<String, Member>,
    /// The owner executed the DDLs downstream (kept when the owner leaves afterwards).
    pub executed: bool,
    /// Sources whose DDLs differ from the lock's, with the message shown in the lock listing.
    pub errors: BTreeMap<String, String>,
}

impl Lock {
    pub fn stage(&self) -> LockStage {
        if self.members.values().all(|m| m.done) && (self.executed || self.members.is_empty()) {
            LockStage::Resolved
        } else if self.executed {
            LockStage::Skipping
        } else if self.members.values().all(|m| m.ready) {
            LockStage::Executing
        } else {
            LockStage::Waiting
        }
    }

    pub fn synced(&self) -> Vec<String> {
        self.members.iter().filter(|(_, m)| m.ready).map(|(s, _)| s.clone()).collect()
    }

    pub fn unsynced(&self) -> Vec<String> {
        self.members.iter().filter(|(_, m)| !m.ready).map(|(s, _)| s.clone()).collect()
    }

    /// A fresh operation of this lock for `source`.
    pub fn op(&self, source: &str, exec: bool) -> PessimismOp {
        PessimismOp {
            lock_id: self.id.clone(),
            task: self.task.clone(),
            source: source.to_string(),
            ddls: self.ddls.clone(),
            exec,
            done: false,
        }
    }

    /// The commands that move the lock on from its stage: the owner's exec operation, the
    /// others' skip operations, or the removal of a resolved lock. Operations already done are
    /// kept (skip_done), so replanning is always safe.
    pub fn plan(&self) -> Vec<Command> {
        match self.stage() {
            LockStage::Waiting => Vec::new(),
            LockStage::Executing => {
                vec![Command::PutPessimismOps { ops: vec![self.op(&self.owner, true)], skip_done: true }]
            }
            LockStage::Skipping => {
                let ops: Vec<_> = self
                    .members
                    .iter()
                    // Only sources that sent the DDL: after an unlock the lock may go on
                    // without some, and they must not skip a DDL they never reached.
                    .filter(|(s, m)| m.ready && !m.done && **s != self.owner)
                    .map(|(s, _)| self.op(s, false))
                    .collect();
                if ops.is_empty() { Vec::new() } else { vec![Command::PutPessimismOps { ops, skip_done: true }] }
            }
            LockStage::Resolved => vec![self.removal(false)],
        }
    }

    /// The command that deletes the lock's operations (and Infos, for a forced removal).
    pub fn removal(&self, with_infos: bool) -> Command {
        let mut sources: BTreeSet<String> = self.members.keys().cloned().collect();
        sources.insert(self.owner.clone());
        Command::RemovePessimismLock {
            task: self.task.clone(),
            lock_id: self.id.clone(),
            sources: sources.into_iter().collect(),
            with_infos,
        }
    }
}

/// Why an Info could not join its lock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrySyncError {
    #[error(
        "source {source_id} sent DDLs {got:?} for lock {lock_id}, which waits for {want:?}; the sources' DDLs \
         must be the same: fix the upstream, or `shard-ddl-lock unlock` the lock"
    )]
    DdlsDiffer { lock_id: String, source_id: String, want: Vec<String>, got: Vec<String> },
}

/// Every pessimistic lock of this leader, by lock id.
#[derive(Debug, Default)]
pub struct LockKeeper {
    pub locks: BTreeMap<String, Lock>,
}

/// The downstream schema and table of a lock id `<task>-`schema`.`table``.
pub fn split_lock_id(task: &str, id: &str) -> (String, String) {
    let rest = id.strip_prefix(task).and_then(|r| r.strip_prefix("-`")).and_then(|r| r.strip_suffix('`'));
    match rest.and_then(|r| r.split_once("`.`")) {
        Some((s, t)) => (s.to_string(), t.to_string()),
        None => (String::new(), id.to_string()),
    }
}

fn same_ddls(a: &[String], b: &[String]) -> bool {
    let set = |v: &[String]| v.iter().map(|s| s.trim().to_string()).collect::<BTreeSet<_>>();
    set(a) == set(b)
}

impl LockKeeper {
    /// An Info arrived: creates its lock (the source owns it) or joins it. `sources` are the
    /// task's sources now; ones the lock did not know join as not ready.
    pub fn try_sync(&mut self, info: &PessimismInfo, sources: &[String]) -> Result<&Lock, TrySyncError> {
        let id = info.lock_id();
        let lock = self.locks.entry(id.clone()).or_insert_with(|| Lock {
            id: id.clone(),
            task: info.task.clone(),
            down_schema: info.down_schema.clone(),
            down_table: info.down_table.clone(),
            owner: info.source.clone(),
            ddls: info.ddls.clone(),
            members: BTreeMap::new(),
            executed: false,
            errors: BTreeMap::new(),
        });
        for s in sources {
            lock.members.entry(s.clone()).or_default();
        }
        // The owner left the task before anyone else was waiting: the next to arrive owns it.
        if !lock.executed && !lock.members.contains_key(&lock.owner) {
            lock.owner = info.source.clone();
        }
        if !same_ddls(&lock.ddls, &info.ddls) {
            let e = TrySyncError::DdlsDiffer {
                lock_id: id,
                source_id: info.source.clone(),
                want: lock.ddls.clone(),
                got: info.ddls.clone(),
            };
            lock.errors.insert(info.source.clone(), e.to_string());
            return Err(e);
        }
        lock.errors.remove(&info.source);
        lock.members.entry(info.source.clone()).or_default().ready = true;
        Ok(lock)
    }

    /// Recovery: an operation whose lock has no Info left (every source with an Info was done)
    /// recreates the lock from the operation. The lock counts every member as ready.
    pub fn recover_op(&mut self, op: &PessimismOp, sources: &[String]) {
        let lock = self.locks.entry(op.lock_id.clone()).or_insert_with(|| {
            let (schema, table) = split_lock_id(&op.task, &op.lock_id);
            Lock {
                id: op.lock_id.clone(),
                task: op.task.clone(),
                down_schema: schema,
                down_table: table,
                owner: op.source.clone(),
                ddls: op.ddls.clone(),
                members: BTreeMap::new(),
                executed: false,
                errors: BTreeMap::new(),
            }
        });
        for s in sources {
            lock.members.entry(s.clone()).or_default();
        }
        lock.members.entry(op.source.clone()).or_default();
        if op.exec {
            lock.owner = op.source.clone();
        } else {
            // Skip operations exist only once the owner executed (or the operator chose that
            // nobody does): never hand out an exec again, even if the owner's record is gone
            // with its subtask.
            lock.executed = true;
            if lock.owner == op.source {
                // A source told to skip is not the one that executed: the executor is unknown
                // (gone), so every member gets its skip.
                lock.owner.clear();
            }
        }
        let id = op.lock_id.clone();
        self.force_synced(&id);
        if op.done {
            self.mark_done(&id, &op.source, op.exec);
        }
    }

    /// A source did its operation. Returns the lock if it exists.
    pub fn mark_done(&mut self, lock_id: &str, source: &str, exec: bool) -> Option<&Lock> {
        let lock = self.locks.get_mut(lock_id)?;
        if exec || source == lock.owner {
            lock.executed = true;
        }
        if let Some(m) = lock.members.get_mut(source) {
            m.ready = true;
            m.done = true;
        }
        Some(lock)
    }

    /// Operations exist, so the lock was synced when they were written (recovery, unlock):
    /// every member counts as ready.
    pub fn force_synced(&mut self, lock_id: &str) {
        if let Some(lock) = self.locks.get_mut(lock_id) {
            for m in lock.members.values_mut() {
                m.ready = true;
            }
        }
    }

    /// A source left the task (stop-task on it): the lock stops waiting for it. If it owned the
    /// lock and had not executed, the first remaining ready source takes over. Returns the ids
    /// of the locks that changed.
    pub fn remove_source(&mut self, task: &str, source: &str) -> Vec<String> {
        let mut changed = Vec::new();
        for lock in self.locks.values_mut().filter(|l| l.task == task) {
            if lock.members.remove(source).is_none() && lock.owner != source {
                continue;
            }
            lock.errors.remove(source);
            if lock.owner == source && !lock.executed {
                let next = lock.members.iter().find(|(_, m)| m.ready).map(|(s, _)| s.clone());
                if let Some(next) = next {
                    lock.owner = next;
                }
            }
            changed.push(lock.id.clone());
        }
        changed
    }

    pub fn remove(&mut self, lock_id: &str) -> Option<Lock> {
        self.locks.remove(lock_id)
    }

    /// Every lock of a task (stop-task of the whole task).
    pub fn remove_task(&mut self, task: &str) {
        self.locks.retain(|_, l| l.task != task);
    }
}

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;
