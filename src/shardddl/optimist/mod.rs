//! The optimist: leader-only coordinator of optimistic shard-DDL locks (DM's protocol,
//! reference dm-master §8).
//!
//! 1. A worker puts its routed tables (`PutSourceTables`) when its subtask starts and when a
//!    table is created or dropped: they are the locks' members.
//! 2. For each DDL on an upstream table the worker puts an Info: the table's schema before and
//!    after each DDL. It is stored per table (conditional on the binding epoch).
//! 3. The keeper joins it to the lock of its downstream table (lock.rs, sync.rs) and writes the
//!    table's operation: the DDLs that change the joined schema, the conflict stage, the
//!    partially dropped columns; a conflict this Info resolves redirects the other tables.
//! 4. The worker executes the operation's DDLs (possibly none) and acks it done.
//! 5. When every table has the joined schema and its operation done, the lock's records are
//!    removed, guarded by the Info revisions the keeper saw: a newer Info keeps the lock.
//!
//! A crash at any step: the next leader replays the stored Infos in revision order and writes
//! only what differs (keeper.rs). stop-task removes the subtask's records with it. Unlock and
//! force-remove (below) are the operator's escapes — DM has no force-remove for these locks.

pub mod bag;
pub mod keeper;
pub mod lock;

use std::sync::Arc;
use std::time::Duration;

use dm_storage::Command;
use dm_storage::shardddl::{ConflictStage, OptimismInfo, OptimismInfos, OptimismOp, table_key};
use tokio_util::sync::CancellationToken;

use self::keeper::{OptimistKeeper, removal, schemas};
use self::lock::{Lock, TableId};
use super::driver::Driven;
use super::error::ShardError;
use crate::node::ctx::RaftCtx;
use crate::node::error::NodeError;
use crate::pb::master::{DdlLock, PutShardDdlInfoRequest, ShardTable, UnlockDdlLockRequest};

pub struct Optimist {
    ctx: RaftCtx,
    driven: Driven<OptimistKeeper>,
}

/// Checks an optimistic Info request and builds its command: every schema must parse and the
/// DDLs must apply to it (or be given their schemas after).
pub fn info_command(r: PutShardDdlInfoRequest, table: ShardTable) -> Result<Command, ShardError> {
    if table.up_schema.trim().is_empty() || table.up_table.trim().is_empty() {
        return Err(ShardError::InvalidArgument("an optimistic shard DDL Info needs the upstream table".into()));
    }
    if !r.tables_after.is_empty() && r.tables_after.len() != r.ddls.len() {
        return Err(ShardError::InvalidDdl(format!(
            "{} DDLs but {} schemas after them; send one schema after each DDL, or none",
            r.ddls.len(),
            r.tables_after.len()
        )));
    }
    let info = OptimismInfo {
        task: r.task,
        source: r.source,
        up_schema: table.up_schema,
        up_table: table.up_table,
        down_schema: table.down_schema,
        down_table: table.down_table,
        ddls: r.ddls,
        table_before: r.table_before,
        tables_after: r.tables_after,
        ignore_conflict: r.ignore_conflict,
    };
    schemas(&info)
        .map_err(|e| ShardError::InvalidDdl(format!("{e} (table `{}`.`{}`)", info.up_schema, info.up_table)))?;
    Ok(Command::PutOptimismInfo { info, epoch: r.epoch })
}

impl Optimist {
    pub async fn start(ctx: RaftCtx, cancel: CancellationToken) -> Result<Self, NodeError> {
        let driven = Driven::start(ctx.clone(), OptimistKeeper::default(), Duration::from_secs(1), cancel).await?;
        Ok(Optimist { ctx, driven })
    }

    /// Waits until the keeper reflects `revision` (tests and benchmarks).
    pub async fn wait_for(&self, revision: u64, timeout: Duration) -> bool {
        self.driven.wait_for(revision, timeout).await
    }

    pub async fn has_lock(&self, lock_id: &str) -> bool {
        self.driven.keeper.lock().await.locks.contains_key(lock_id)
    }

    /// The locks of `task` ("" = all) with a table of one of `sources` (empty = all).
    pub async fn show(&self, task: &str, sources: &[String]) -> Vec<DdlLock> {
        let k = self.driven.keeper.lock().await;
        let mut out = Vec::new();
        for lock in k.locks.values() {
            if !task.is_empty() && lock.task != task {
                continue;
            }
            if !sources.is_empty() && !lock.table_ids().any(|t| sources.contains(&t.source)) {
                continue;
            }
            out.push(self.show_lock(&k, lock));
        }
        out
    }

    fn show_lock(&self, k: &OptimistKeeper, lock: &Lock) -> DdlLock {
        let (mut synced, mut unsynced) = (Vec::new(), Vec::new());
        for (id, ready) in lock.ready() {
            if ready { synced.push(id.display()) } else { unsynced.push(id.display()) }
        }
        let mut owner = String::new();
        let mut ddls = Vec::new();
        let mut messages = Vec::new();
        for id in lock.table_ids() {
            let key = table_key(&lock.task, &id.source, &id.schema, &id.table);
            let Some(state) = k.ops.get(&key) else { continue };
            if !state.message.is_empty() {
                messages.push(format!("{}: {} ({})", id.display(), state.message, state.stage.as_str()));
            }
            if state.stage == ConflictStage::Detected && owner.is_empty() {
                owner = id.display();
                if let Ok(Some(info)) = self.ctx.reader.get::<OptimismInfos>(&key) {
                    ddls = info.value.ddls;
                }
            }
        }
        let stage = if lock.conflicted().next().is_some() {
            "conflict"
        } else if unsynced.is_empty() {
            "synced"
        } else {
            "unsynced"
        };
        DdlLock {
            id: lock.id.clone(),
            task: lock.task.clone(),
            mode: "optimistic".into(),
            owner,
            ddls,
            synced,
            unsynced,
            messages,
            stage: stage.into(),
        }
    }

    /// Unlock of an optimistic lock:
    /// - `force_remove`: the lock and every record of it go now (the escape DM lacks:
    ///   tiflow#12840). Workers waiting on it resend their DDL after a pause/resume.
    /// - otherwise one table (one source, -d, -t) whose operation is conflicted (detected,
    ///   waiting for redirect, or error) gets an `unlocked` operation: with exec its Info's DDLs
    ///   run downstream and the lock takes its new schema; with skip they do not.
    pub async fn unlock(&self, r: &UnlockDdlLockRequest, skip: bool) -> Result<String, ShardError> {
        if r.force_remove {
            let cmd = {
                let k = self.driven.keeper.lock().await;
                let lock = k.locks.get(&r.id).ok_or_else(|| ShardError::LockNotFound(r.id.clone()))?;
                removal(lock, true)
            };
            self.ctx.propose(cmd).await?;
            let mut k = self.driven.keeper.lock().await;
            if let Some(lock) = k.locks.remove(&r.id) {
                for id in lock.table_ids() {
                    k.ops.remove(&table_key(&lock.task, &id.source, &id.schema, &id.table));
                }
            }
            tracing::info!(lock = %r.id, "optimistic shard DDL lock force-removed by the operator");
            return Ok(String::new());
        }
        let [source] = r.sources.as_slice() else {
            return Err(ShardError::InvalidArgument(
                "unlocking an optimistic lock needs exactly one source (-s), the database (-d) and the table (-t) \
                 of the conflicted table, or --force-remove"
                    .into(),
            ));
        };
        if r.database.is_empty() || r.table.is_empty() {
            return Err(ShardError::InvalidArgument("give the conflicted table with -d database -t table".into()));
        }
        let op = self.unlock_op(r, source, skip).await?;
        self.ctx.propose(Command::PutOptimismOps { ops: vec![op], skip_done: false }).await?;
        Ok(String::new())
    }

    async fn unlock_op(&self, r: &UnlockDdlLockRequest, source: &str, skip: bool) -> Result<OptimismOp, ShardError> {
        let mut k = self.driven.keeper.lock().await;
        let lock = k.locks.get(&r.id).ok_or_else(|| ShardError::LockNotFound(r.id.clone()))?;
        let task = lock.task.clone();
        let id = TableId::new(source, &r.database, &r.table);
        if !lock.has_table(&id) {
            return Err(ShardError::UnlockRefused(format!("lock {} has no table {}", r.id, id.display())));
        }
        let key = table_key(&task, source, &r.database, &r.table);
        let state = k.ops.get(&key).cloned();
        let conflicted = state.as_ref().is_some_and(|s| {
            matches!(s.stage, ConflictStage::Detected | ConflictStage::SkipAndWaitRedirect | ConflictStage::Error)
        });
        let Some(state) = state.filter(|_| conflicted) else {
            let stage = k.ops.get(&key).map(|s| s.stage.as_str()).unwrap_or("no operation");
            return Err(ShardError::UnlockRefused(format!(
                "table {} of lock {} is in {stage} status, not conflicted; nothing to unlock",
                id.display(),
                r.id
            )));
        };
        let info = self
            .ctx
            .reader
            .get::<OptimismInfos>(&key)
            .map_err(NodeError::from)?
            .filter(|i| i.mod_revision == state.info_revision)
            .ok_or_else(|| {
                ShardError::UnlockRefused(format!("the Info of table {} changed; list the locks again", id.display()))
            })?;
        let last: Option<Arc<_>> =
            if skip { None } else { schemas(&info.value).ok().and_then(|(_, a)| a.last().cloned()) };
        let lock = k.locks.get_mut(&r.id).expect("checked above");
        lock.unlock_table(&id, !skip, last.as_ref());
        let ddls = if skip { Vec::new() } else { info.value.ddls.clone() };
        if let Some(s) = k.ops.get_mut(&key) {
            s.stage = ConflictStage::Unlocked;
            s.message.clear();
        }
        Ok(OptimismOp {
            lock_id: r.id.clone(),
            task,
            source: source.to_string(),
            up_schema: r.database.clone(),
            up_table: r.table.clone(),
            ddls,
            stage: ConflictStage::Unlocked,
            message: String::new(),
            done: false,
            cols: Vec::new(),
            info_revision: state.info_revision,
        })
    }
}
