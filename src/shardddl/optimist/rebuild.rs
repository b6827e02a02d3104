//! Rebuilding the optimistic locks on a new leader (see keeper.rs): replay, then write only what
//! differs, in commands under the byte budget.

use std::collections::BTreeSet;

use dm_storage::Command;
use dm_storage::shardddl::{DropColumnStage, OptimismOp};

use super::{OptimistKeeper, Stored, tid};
use crate::shardddl::driver::Plan;
use crate::shardddl::optimist::lock::TableId;

/// Bytes of operations per command while rebuilding.
const BATCH_BYTES: usize = 512 << 10;

pub(super) fn rebuild(k: &mut OptimistKeeper, stored: Stored) -> Vec<Plan> {
    *k = OptimistKeeper::default();
    let Stored { subtasks, source_tables, infos, ops: stored_ops, dropped } = stored;
    for (source, task, config) in subtasks {
        k.note_subtask(&task, &source, Some(&config));
    }
    k.source_tables.extend(source_tables);
    let mut plans = Vec::new();
    for (revision, info) in &infos {
        plans.push(k.handle_info(info, *revision));
    }
    // Columns some tables dropped before their latest Info: as stored.
    for ((_, lock_id), cols) in dropped {
        let Some(lock) = k.locks.get_mut(&lock_id) else { continue };
        for c in cols {
            let entry = lock.columns.entry(c.column).or_default();
            for t in c.tables {
                entry.insert(TableId::new(&t.source, &t.up_schema, &t.up_table), t.stage);
            }
        }
    }
    for op in stored_ops.values().filter(|op| op.done) {
        // Only an operation answering the table's latest Info counts.
        if k.ops.get(&op.key()).is_some_and(|s| s.info_revision == op.info_revision)
            && let Some(lock) = k.locks.get_mut(&op.lock_id)
        {
            lock.mark_done(&tid(&op.key()));
            let done: Vec<String> = lock
                .columns
                .iter()
                .filter(|(_, t)| t.get(&tid(&op.key())) == Some(&DropColumnStage::NotDone))
                .map(|(c, _)| c.clone())
                .collect();
            let executed = k.ops.get(&op.key()).map(|s| s.dropped_downstream.clone()).unwrap_or_default();
            lock.columns_done(&tid(&op.key()), &done, &executed);
        }
    }
    batch(plans, &stored_ops, k)
}

/// Merges the replayed plans into few commands, leaving out operations already stored (done or
/// not) and keeping dropped-column records and removals as they are.
fn batch(
    plans: Vec<Plan>,
    stored: &std::collections::BTreeMap<dm_storage::shardddl::TableKey, OptimismOp>,
    k: &OptimistKeeper,
) -> Vec<Plan> {
    let mut ops: Vec<OptimismOp> = Vec::new();
    let mut others: Vec<Plan> = Vec::new();
    let mut seen = BTreeSet::new();
    // Later plans of a table win: walk backwards, keep the first seen.
    for plan in plans.into_iter().rev() {
        let mut rest = Vec::new();
        for cmd in plan.cmds {
            match cmd {
                Command::PutOptimismOps { ops: o, .. } => {
                    for op in o {
                        let same = stored.get(&op.key()).is_some_and(|s| {
                            let mut s = s.clone();
                            s.done = false;
                            s == op
                        });
                        if seen.insert(op.key()) && !same {
                            ops.push(op);
                        }
                    }
                }
                Command::RemoveOptimismLock { .. } => {}
                other => rest.push(other),
            }
        }
        if !rest.is_empty() {
            others.push(Plan { lock_id: plan.lock_id, cmds: rest });
        }
    }
    ops.reverse();
    let mut out = others;
    let mut cur = Vec::new();
    let mut bytes = 0;
    for op in ops {
        bytes += op.lock_id.len() + op.ddls.iter().map(String::len).sum::<usize>() + op.message.len() + 128;
        cur.push(op);
        if bytes >= BATCH_BYTES {
            out.push(Plan {
                lock_id: String::new(),
                cmds: vec![Command::PutOptimismOps { ops: std::mem::take(&mut cur), skip_done: true }],
            });
            bytes = 0;
        }
    }
    if !cur.is_empty() {
        out.push(Plan { lock_id: String::new(), cmds: vec![Command::PutOptimismOps { ops: cur, skip_done: true }] });
    }
    // Removals last, for the locks resolved after the replay.
    for (id, lock) in &k.locks {
        if lock.is_resolved() {
            out.push(Plan { lock_id: id.clone(), cmds: vec![super::removal(lock, false)] });
        }
    }
    out
}
