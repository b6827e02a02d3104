//! The optimist's [`Keeper`]: the optimistic locks fed from the replicated state.
//!
//! Rebuild (DM's rebuildLocks, batched — DM's leader wrote ~1 000 operations one by one for
//! about a minute, tiflow#3829): source tables give every lock's members; Infos replay in
//! revision order; done operations mark their tables done; stored dropped columns are put
//! back. Only operations that differ from the stored ones are written, in few large commands.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dm_storage::feed::ChangeBatch;
use dm_storage::scheduling::Subtasks;
use dm_storage::shardddl::{
    ConflictStage, DroppedTable, OptimismDroppedColumns, OptimismInfo, OptimismInfos, OptimismOp, OptimismOps,
    OptimismSourceTables, RoutedTable, TableKey, lock_id, table_key,
};
use dm_storage::state::View;
use dm_storage::{Command, StoreError};

use super::lock::{Lock, SyncInfo, TableId, normalize};
use crate::config::subtask::SubtaskConfig;
use crate::config::task::ShardMode;
use crate::node::ctx::Applied;
use crate::node::error::NodeError;
use crate::shardddl::driver::{Keeper, Plan};
use crate::shardddl::schema::{Table, apply, parse_create_table};

/// A table's latest operation, as the keeper decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpState {
    pub lock_id: String,
    pub stage: ConflictStage,
    pub message: String,
    pub info_revision: u64,
    /// Columns whose DROP this operation executes downstream.
    pub dropped_downstream: Vec<String>,
    pub cols: Vec<String>,
}

#[derive(Debug, Default)]
pub struct OptimistKeeper {
    /// (task, source) → the upstream tables it routes. Kept from `optimism_source_tables`.
    pub source_tables: BTreeMap<(String, String), Vec<RoutedTable>>,
    pub locks: BTreeMap<String, Lock>,
    /// Tasks with strict-optimistic-shard-mode (a conflict is an error at once), with the
    /// sources whose subtask says so. Kept from `subtasks`.
    pub strict: BTreeMap<String, BTreeSet<String>>,
    /// Each table's latest operation.
    pub ops: BTreeMap<TableKey, OpState>,
}

fn tid(key: &TableKey) -> TableId {
    TableId::new(&key.1, &key.2, &key.3)
}

fn key_of(task: &str, id: &TableId) -> TableKey {
    table_key(task, &id.source, &id.schema, &id.table)
}

/// The Info's schemas: before its first DDL and after each (derived by applying the DDLs when
/// the worker did not send them).
pub fn schemas(info: &OptimismInfo) -> Result<(Arc<Table>, Vec<Arc<Table>>), String> {
    let before = parse_create_table(&info.table_before).map_err(|e| e.to_string())?;
    let after = if info.tables_after.is_empty() {
        let mut out = Vec::with_capacity(info.ddls.len());
        let mut t = before.clone();
        for ddl in &info.ddls {
            t = apply(&t, ddl).map_err(|e| e.to_string())?.table;
            out.push(normalize(t.clone()));
        }
        out
    } else {
        let parsed: Result<Vec<_>, _> = info.tables_after.iter().map(|s| parse_create_table(s)).collect();
        parsed.map_err(|e| e.to_string())?.into_iter().map(normalize).collect()
    };
    Ok((normalize(before), after))
}

impl OptimistKeeper {
    /// Every upstream table of the task routed to the lock's downstream table.
    fn members(&self, task: &str, down_schema: &str, down_table: &str) -> Vec<TableId> {
        let from = (task.to_string(), String::new());
        self.source_tables
            .range(from..)
            .take_while(|((t, _), _)| t == task)
            .flat_map(|((_, source), tables)| {
                tables
                    .iter()
                    .filter(|r| r.down_schema == down_schema && r.down_table == down_table)
                    .map(move |r| TableId::new(source, &r.up_schema, &r.up_table))
            })
            .collect()
    }

    /// DM's handleInfo: the Info joins its lock; returns the commands for it.
    pub fn handle_info(&mut self, info: &OptimismInfo, revision: u64) -> Plan {
        let id = info.lock_id();
        let mut plan = Plan { lock_id: id.clone(), cmds: Vec::new() };
        let key = info.key();
        let (before, after) = match schemas(info) {
            Ok(s) => s,
            Err(e) => {
                let msg = format!("the shard DDL of this table cannot be coordinated: {e}");
                plan.cmds.push(self.op_command(info, revision, ConflictStage::Error, msg, Vec::new(), Vec::new()));
                return plan;
            }
        };
        if !self.locks.contains_key(&id) {
            let mut lock = Lock::new(&id, &info.task, &info.down_schema, &info.down_table, before.clone());
            for m in self.members(&info.task, &info.down_schema, &info.down_table) {
                lock.add_table(&m);
            }
            self.locks.insert(id.clone(), lock);
        }
        let sync = SyncInfo {
            table: tid(&key),
            ddls: info.ddls.clone(),
            before,
            after,
            ignore_conflict: info.ignore_conflict,
            revision,
        };
        let (out, redirects) = {
            let lock = self.locks.get_mut(&id).expect("inserted above");
            let out = lock.try_sync(&sync);
            plan.cmds.extend(out.cols.iter().map(|col| dropped_command(lock, col)));
            let redirects: Vec<(TableId, u64)> =
                out.redirects.iter().map(|r| (r.clone(), lock.versions.get(r).copied().unwrap_or(0))).collect();
            (out, redirects)
        };
        let mut stage = out.stage;
        let mut message = out.message;
        if self.strict.contains_key(&info.task)
            && matches!(stage, ConflictStage::Detected | ConflictStage::SkipAndWaitRedirect)
        {
            stage = ConflictStage::Error;
            message = format!("strict-optimistic-shard-mode: {message}");
        }
        if !info.ignore_conflict {
            let mut cmd = self.op_command(info, revision, stage, message, out.ddls, out.cols);
            if let Command::PutOptimismOps { ops, .. } = &mut cmd {
                for (r, rev) in redirects.into_iter().filter(|(_, rev)| *rev > 0) {
                    ops.push(self.redirect_op(&info.task, &id, &r, rev));
                }
            }
            if let Some(state) = self.ops.get_mut(&key) {
                state.dropped_downstream = out.dropped_downstream;
            }
            plan.cmds.push(cmd);
        }
        self.plan_removal(&mut plan);
        plan
    }

    fn op_command(
        &mut self,
        info: &OptimismInfo,
        revision: u64,
        stage: ConflictStage,
        message: String,
        ddls: Vec<String>,
        cols: Vec<String>,
    ) -> Command {
        let op = OptimismOp {
            lock_id: info.lock_id(),
            task: info.task.clone(),
            source: info.source.clone(),
            up_schema: info.up_schema.clone(),
            up_table: info.up_table.clone(),
            ddls,
            stage,
            message: message.clone(),
            done: false,
            cols: cols.clone(),
            info_revision: revision,
        };
        self.ops.insert(
            info.key(),
            OpState {
                lock_id: op.lock_id.clone(),
                stage,
                message,
                info_revision: revision,
                dropped_downstream: Vec::new(),
                cols,
            },
        );
        Command::PutOptimismOps { ops: vec![op], skip_done: true }
    }

    fn redirect_op(&mut self, task: &str, lock: &str, id: &TableId, info_revision: u64) -> OptimismOp {
        let key = key_of(task, id);
        self.ops.insert(
            key,
            OpState {
                lock_id: lock.to_string(),
                stage: ConflictStage::Resolved,
                message: String::new(),
                info_revision,
                dropped_downstream: Vec::new(),
                cols: Vec::new(),
            },
        );
        OptimismOp {
            lock_id: lock.to_string(),
            task: task.to_string(),
            source: id.source.clone(),
            up_schema: id.schema.clone(),
            up_table: id.table.clone(),
            ddls: Vec::new(),
            stage: ConflictStage::Resolved,
            message: String::new(),
            done: false,
            cols: Vec::new(),
            info_revision,
        }
    }

    /// DM's handleOperation for a done operation.
    pub fn handle_done(&mut self, op: &OptimismOp) -> Option<Plan> {
        let key = op.key();
        let executed = self.ops.get(&key).map(|s| s.dropped_downstream.clone()).unwrap_or_default();
        let lock = self.locks.get_mut(&op.lock_id)?;
        let id = tid(&key);
        let mut plan = Plan { lock_id: op.lock_id.clone(), cmds: Vec::new() };
        for (col, _) in lock.columns_done(&id, &op.cols, &executed) {
            plan.cmds.push(dropped_command(lock, &col));
        }
        lock.mark_done(&id);
        self.plan_removal(&mut plan);
        Some(plan)
    }

    /// A resolved lock's records go, guarded by the Info revisions it saw.
    fn plan_removal(&self, plan: &mut Plan) {
        let Some(lock) = self.locks.get(&plan.lock_id) else { return };
        if lock.is_resolved() {
            plan.cmds.push(removal(lock, false));
        }
    }

    /// The routed tables of (task, source) changed: tables join or leave their locks.
    fn handle_source_tables(&mut self, task: &str, source: &str, new: Vec<RoutedTable>) -> Vec<String> {
        let key = (task.to_string(), source.to_string());
        let old = self.source_tables.remove(&key).unwrap_or_default();
        let mut touched = BTreeSet::new();
        for gone in old.iter().filter(|t| !new.contains(t)) {
            let id = lock_id(task, &gone.down_schema, &gone.down_table);
            let tbl = TableId::new(source, &gone.up_schema, &gone.up_table);
            self.ops.remove(&key_of(task, &tbl));
            if let Some(lock) = self.locks.get_mut(&id)
                && lock.remove_table(&tbl)
            {
                if lock.is_empty() {
                    self.locks.remove(&id);
                } else {
                    touched.insert(id);
                }
            }
        }
        for added in new.iter().filter(|t| !old.contains(t)) {
            let id = lock_id(task, &added.down_schema, &added.down_table);
            if let Some(lock) = self.locks.get_mut(&id) {
                lock.add_table(&TableId::new(source, &added.up_schema, &added.up_table));
                touched.insert(id);
            }
        }
        if !new.is_empty() {
            self.source_tables.insert(key, new);
        }
        touched.into_iter().collect()
    }

    fn note_subtask(&mut self, task: &str, source: &str, config: Option<&str>) {
        let strict = config
            .and_then(|c| SubtaskConfig::from_stored(c).ok())
            .is_some_and(|c| c.shard_mode == Some(ShardMode::Optimistic) && c.strict_optimistic_shard_mode);
        if strict {
            self.strict.entry(task.to_string()).or_default().insert(source.to_string());
        } else if let Some(sources) = self.strict.get_mut(task) {
            sources.remove(source);
            if sources.is_empty() {
                self.strict.remove(task);
            }
        }
    }
}

/// The command recording a lock's partially dropped column as the lock has it now.
fn dropped_command(lock: &Lock, col: &str) -> Command {
    let tables = lock
        .columns
        .get(col)
        .map(|t| {
            t.iter()
                .map(|(id, stage)| DroppedTable {
                    source: id.source.clone(),
                    up_schema: id.schema.clone(),
                    up_table: id.table.clone(),
                    stage: *stage,
                })
                .collect()
        })
        .unwrap_or_default();
    Command::SetDroppedColumn { task: lock.task.clone(), lock_id: lock.id.clone(), column: col.to_string(), tables }
}

/// The command removing a lock's records; `force` drops the guard (the operator's force-remove).
pub fn removal(lock: &Lock, force: bool) -> Command {
    let tables = lock
        .table_ids()
        .map(|id| (key_of(&lock.task, id), if force { u64::MAX } else { lock.versions.get(id).copied().unwrap_or(0) }))
        .collect();
    Command::RemoveOptimismLock { task: lock.task.clone(), lock_id: lock.id.clone(), tables }
}

#[path = "rebuild.rs"]
mod rebuild;

#[cfg(test)]
#[path = "keeper_tests.rs"]
mod tests;

impl Keeper for OptimistKeeper {
    type Stored = Stored;

    fn read(view: &View<'_>) -> Result<Stored, StoreError> {
        read_stored(view)
    }

    fn rebuild(&mut self, stored: Stored) -> Vec<Plan> {
        rebuild::rebuild(self, stored)
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Vec<Plan> {
        let mut plans = Vec::new();
        let mut touched = BTreeSet::new();
        for change in &batch.changes {
            if let Some(Ok(((source, task), record))) = change.decode::<Subtasks>() {
                self.note_subtask(&task, &source, record.as_ref().map(|r| r.value.config.as_str()));
            } else if let Some(Ok(((task, source), record))) = change.decode::<OptimismSourceTables>() {
                let tables = record.map(|r| r.value.tables).unwrap_or_default();
                touched.extend(self.handle_source_tables(&task, &source, tables));
            } else if let Some(Ok((_, Some(info)))) = change.decode::<OptimismInfos>() {
                plans.push(self.handle_info(&info.value, info.mod_revision));
            } else if let Some(Ok((_, Some(op)))) = change.decode::<OptimismOps>()
                && op.value.done
                && let Some(plan) = self.handle_done(&op.value)
            {
                plans.push(plan);
            } else if let Some(Err(e)) = change.decode::<OptimismInfos>() {
                tracing::error!(error = %e, "unreadable optimistic shard DDL Info skipped");
            }
        }
        plans.extend(self.replan(&touched));
        plans
    }

    fn planned(&mut self, plan: &Plan, results: &[Result<Applied, NodeError>]) {
        for (cmd, r) in plan.cmds.iter().zip(results) {
            if let (Command::RemoveOptimismLock { tables, .. }, Ok(_)) = (cmd, r) {
                tracing::info!(lock = %plan.lock_id, "optimistic shard DDL lock resolved");
                self.locks.remove(&plan.lock_id);
                for (key, _) in tables {
                    self.ops.remove(key);
                }
            }
        }
    }

    fn replan(&mut self, lock_ids: &BTreeSet<String>) -> Vec<Plan> {
        lock_ids
            .iter()
            .map(|id| {
                let mut plan = Plan { lock_id: id.clone(), cmds: Vec::new() };
                self.plan_removal(&mut plan);
                plan
            })
            .collect()
    }
}

/// Read for `rebuild`: the stored records of every optimistic key space.
pub struct Stored {
    /// (source, task, subtask config) of every subtask.
    subtasks: Vec<(String, String, String)>,
    source_tables: Vec<((String, String), Vec<RoutedTable>)>,
    /// Infos with their revisions, oldest first.
    infos: Vec<(u64, OptimismInfo)>,
    ops: BTreeMap<TableKey, OptimismOp>,
    dropped: Vec<((String, String), Vec<dm_storage::shardddl::DroppedColumn>)>,
}

fn read_stored(view: &View<'_>) -> Result<Stored, StoreError> {
    let subtasks = view.list::<Subtasks>()?.into_iter().map(|((s, t), r)| (s, t, r.value.config)).collect();
    let source_tables = view.list::<OptimismSourceTables>()?.into_iter().map(|(k, r)| (k, r.value.tables)).collect();
    let mut infos: Vec<(u64, OptimismInfo)> =
        view.list::<OptimismInfos>()?.into_iter().map(|(_, r)| (r.mod_revision, r.value)).collect();
    infos.sort_by_key(|(rev, _)| *rev);
    let ops = view.list::<OptimismOps>()?.into_iter().map(|(k, r)| (k, r.value)).collect();
    let dropped = view.list::<OptimismDroppedColumns>()?.into_iter().map(|(k, r)| (k, r.value)).collect();
    Ok(Stored { subtasks, source_tables, infos, ops, dropped })
}
