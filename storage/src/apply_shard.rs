//! Apply of the shard-DDL commands: pessimistic Infos and Operations, optimistic source tables,
//! Infos, Operations and dropped columns.
//!
//! Worker writes are conditional on the subtask existing and on the binding epoch the worker
//! works under, so a fenced or stale worker cannot touch a lock. Every record of a source is
//! reachable by point lookups from its subtask key and its source-tables record, which is how
//! stop-task and a shrinking table list remove them inside the transaction.

use crate::apply::{Outcome, TxError, Writer};
use crate::command::{CommandOutput, Rejected};
use crate::scheduling::{Bounds, Subtasks};
use crate::shardddl::{
    ConflictStage, DroppedColumn, DroppedTable, OptimismDroppedColumns, OptimismInfo, OptimismInfos, OptimismOp,
    OptimismOps, OptimismPendingOps, OptimismSourceTables, OptimismTables, PessimismInfo, PessimismInfos, PessimismOp,
    PessimismOps, RoutedTable, SourceTablesRecord, TableKey, lock_id, table_key,
};

type Applied = Result<Outcome, TxError>;
type Check = Result<Result<(), Rejected>, TxError>;

fn done() -> Applied {
    Ok(Ok(CommandOutput::Done))
}

/// The subtask of `task` on `source` exists.
fn subtask_exists(w: &Writer<'_>, task: &str, source: &str) -> Check {
    Ok(match w.get::<Subtasks>(&(source.to_string(), task.to_string()))? {
        Some(_) => Ok(()),
        None => Err(Rejected::SubtaskNotFound { task: task.to_string(), source_id: source.to_string() }),
    })
}

/// A worker's write: the subtask exists and the source is bound at `epoch`.
fn worker_may_write(w: &Writer<'_>, task: &str, source: &str, epoch: u64) -> Check {
    if let Err(e) = subtask_exists(w, task, source)? {
        return Ok(Err(e));
    }
    let actual = w.get::<Bounds>(&source.to_string())?.map(|b| b.value.epoch);
    Ok(if actual == Some(epoch) {
        Ok(())
    } else {
        Err(Rejected::BoundEpochMismatch { source_id: source.to_string(), expected: epoch, actual })
    })
}

macro_rules! check {
    ($e:expr) => {
        if let Err(rejected) = $e? {
            return Ok(Err(rejected));
        }
    };
}

pub(crate) fn put_pessimism_info(w: &mut Writer<'_>, info: &PessimismInfo, epoch: u64) -> Applied {
    check!(worker_may_write(w, &info.task, &info.source, epoch));
    let key = (info.task.clone(), info.source.clone());
    if let Some(op) = w.get::<PessimismOps>(&key)?
        && op.value.done
    {
        return Ok(Err(Rejected::ShardDdlOpDone {
            task: info.task.clone(),
            source_id: info.source.clone(),
            lock_id: op.value.lock_id,
        }));
    }
    if w.get::<PessimismInfos>(&key)?.is_some_and(|r| &r.value == info) {
        return done();
    }
    w.put::<PessimismInfos>(&key, info.clone())?;
    done()
}

pub(crate) fn put_pessimism_ops(w: &mut Writer<'_>, ops: &[PessimismOp], skip_done: bool) -> Applied {
    for op in ops {
        check!(subtask_exists(w, &op.task, &op.source));
        let key = (op.task.clone(), op.source.clone());
        match w.get::<PessimismOps>(&key)? {
            Some(old) if skip_done && old.value.done && old.value.lock_id == op.lock_id => continue,
            Some(old) if &old.value == op => continue,
            _ => {
                w.put::<PessimismOps>(&key, op.clone())?;
            }
        }
    }
    done()
}

pub(crate) fn done_pessimism_op(w: &mut Writer<'_>, task: &str, source: &str, lock: &str, epoch: u64) -> Applied {
    check!(worker_may_write(w, task, source, epoch));
    let key = (task.to_string(), source.to_string());
    let mut op = match w.get::<PessimismOps>(&key)? {
        Some(r) if r.value.lock_id == lock => r.value,
        _ => {
            return Ok(Err(Rejected::ShardDdlOpNotFound {
                task: task.to_string(),
                source_id: source.to_string(),
                what: format!("for lock {lock}"),
            }));
        }
    };
    if op.done {
        return done();
    }
    op.done = true;
    w.put::<PessimismOps>(&key, op)?;
    w.delete::<PessimismInfos>(&key)?;
    done()
}

pub(crate) fn remove_pessimism_lock(
    w: &mut Writer<'_>,
    task: &str,
    lock: &str,
    sources: &[String],
    with_infos: bool,
) -> Applied {
    for source in sources {
        let key = (task.to_string(), source.clone());
        if w.get::<PessimismOps>(&key)?.is_some_and(|r| r.value.lock_id == lock) {
            w.delete::<PessimismOps>(&key)?;
        }
        if with_infos && w.get::<PessimismInfos>(&key)?.is_some_and(|r| r.value.lock_id() == lock) {
            w.delete::<PessimismInfos>(&key)?;
        }
    }
    done()
}

fn routed_key(task: &str, source: &str, t: &RoutedTable) -> TableKey {
    table_key(task, source, &t.up_schema, &t.up_table)
}

pub(crate) fn put_source_tables(w: &mut Writer<'_>, tables: &SourceTablesRecord, epoch: u64) -> Applied {
    check!(worker_may_write(w, &tables.task, &tables.source, epoch));
    let key = (tables.task.clone(), tables.source.clone());
    let old = w.get::<OptimismSourceTables>(&key)?.map(|r| r.value);
    if old.as_ref() == Some(tables) {
        return done();
    }
    // A table that left (DROP TABLE, a new route) takes its Info, operation and dropped-column
    // entries with it.
    for gone in old.iter().flat_map(|o| &o.tables).filter(|t| !tables.tables.contains(t)) {
        forget_table(w, &tables.task, &tables.source, gone)?;
    }
    for added in tables.tables.iter().filter(|t| !old.as_ref().is_some_and(|o| o.tables.contains(t))) {
        let down = (added.down_schema.clone(), added.down_table.clone());
        w.put::<OptimismTables>(&routed_key(&tables.task, &tables.source, added), down)?;
    }
    w.put::<OptimismSourceTables>(&key, tables.clone())?;
    done()
}

/// Deletes one upstream table's optimistic records.
fn forget_table(w: &mut Writer<'_>, task: &str, source: &str, t: &RoutedTable) -> Result<(), TxError> {
    let key = routed_key(task, source, t);
    w.delete::<OptimismTables>(&key)?;
    w.delete::<OptimismInfos>(&key)?;
    delete_op(w, &key)?;
    let cols_key = (task.to_string(), lock_id(task, &t.down_schema, &t.down_table));
    if let Some(cols) = w.get::<OptimismDroppedColumns>(&cols_key)? {
        let same = |d: &DroppedTable| d.source == source && d.up_schema == t.up_schema && d.up_table == t.up_table;
        let mut kept: Vec<DroppedColumn> = cols.value.clone();
        for c in &mut kept {
            c.tables.retain(|d| !same(d));
        }
        kept.retain(|c| !c.tables.is_empty());
        if kept.is_empty() {
            w.delete::<OptimismDroppedColumns>(&cols_key)?;
        } else if kept != cols.value {
            w.put::<OptimismDroppedColumns>(&cols_key, kept)?;
        }
    }
    Ok(())
}

pub(crate) fn put_optimism_info(w: &mut Writer<'_>, info: &OptimismInfo, epoch: u64) -> Applied {
    check!(worker_may_write(w, &info.task, &info.source, epoch));
    let key = info.key();
    let listed =
        w.get::<OptimismTables>(&key)?.is_some_and(|r| r.value.0 == info.down_schema && r.value.1 == info.down_table);
    if !listed {
        return Ok(Err(Rejected::ShardTableUnknown {
            task: info.task.clone(),
            source_id: info.source.clone(),
            schema: info.up_schema.clone(),
            table: info.up_table.clone(),
        }));
    }
    if w.get::<OptimismInfos>(&key)?.is_some_and(|r| &r.value == info) {
        return done();
    }
    w.put::<OptimismInfos>(&key, info.clone())?;
    done()
}

pub(crate) fn put_optimism_ops(w: &mut Writer<'_>, ops: &[OptimismOp], skip_done: bool) -> Applied {
    for op in ops {
        let key = op.key();
        // An operation answers one Info; a newer Info (or none) makes it moot.
        if w.get::<OptimismInfos>(&key)?.map(|r| r.mod_revision) != Some(op.info_revision) {
            continue;
        }
        match w.get::<OptimismOps>(&key)? {
            Some(old) if &old.value == op => continue,
            Some(old) if skip_done && old.value.done && old.value.info_revision >= op.info_revision => continue,
            _ => put_op(w, &key, op.clone())?,
        }
    }
    done()
}

pub(crate) fn done_optimism_op(w: &mut Writer<'_>, table: &TableKey, info_revision: u64, epoch: u64) -> Applied {
    let (task, source, schema, name) = table;
    check!(worker_may_write(w, task, source, epoch));
    // A waiting stage is not acked: the worker waits for the operation that replaces it (an
    // ack would let skip_done drop the later `resolved` redirect).
    let waiting = |op: &OptimismOp| {
        matches!(op.stage, ConflictStage::Detected | ConflictStage::SkipAndWaitRedirect | ConflictStage::Error)
    };
    let mut op = match w.get::<OptimismOps>(table)? {
        Some(r) if r.value.info_revision == info_revision && !waiting(&r.value) => r.value,
        _ => {
            return Ok(Err(Rejected::ShardDdlOpNotFound {
                task: task.clone(),
                source_id: source.clone(),
                what: format!("for `{schema}`.`{name}` at revision {info_revision}"),
            }));
        }
    };
    if op.done {
        return done();
    }
    op.done = true;
    put_op(w, table, op)?;
    done()
}

pub(crate) fn remove_optimism_lock(w: &mut Writer<'_>, task: &str, lock: &str, tables: &[(TableKey, u64)]) -> Applied {
    for (key, seen) in tables {
        if let Some(info) = w.get::<OptimismInfos>(key)?
            && info.mod_revision > *seen
        {
            return Ok(Err(Rejected::ShardDdlInfoChanged {
                lock_id: lock.to_string(),
                source_id: key.1.clone(),
                schema: key.2.clone(),
                table: key.3.clone(),
            }));
        }
    }
    for (key, _) in tables {
        w.delete::<OptimismInfos>(key)?;
        delete_op(w, key)?;
    }
    w.delete::<OptimismDroppedColumns>(&(task.to_string(), lock.to_string()))?;
    done()
}

pub(crate) fn set_dropped_column(
    w: &mut Writer<'_>,
    task: &str,
    lock: &str,
    column: &str,
    tables: &[DroppedTable],
) -> Applied {
    let key = (task.to_string(), lock.to_string());
    let old = w.get::<OptimismDroppedColumns>(&key)?.map(|r| r.value).unwrap_or_default();
    let mut cols: Vec<DroppedColumn> = old.iter().filter(|c| c.column != column).cloned().collect();
    if !tables.is_empty() {
        cols.push(DroppedColumn { column: column.to_string(), tables: tables.to_vec() });
        cols.sort_by(|a, b| a.column.cmp(&b.column));
    }
    if cols == old {
        return done();
    }
    if cols.is_empty() {
        w.delete::<OptimismDroppedColumns>(&key)?;
    } else {
        w.put::<OptimismDroppedColumns>(&key, cols)?;
    }
    done()
}

/// Writes an optimistic operation and keeps the pending index in step.
fn put_op(w: &mut Writer<'_>, key: &TableKey, op: OptimismOp) -> Result<(), TxError> {
    if op.done {
        w.delete::<OptimismPendingOps>(key)?;
    } else {
        w.put::<OptimismPendingOps>(key, op.info_revision)?;
    }
    w.put::<OptimismOps>(key, op)?;
    Ok(())
}

fn delete_op(w: &mut Writer<'_>, key: &TableKey) -> Result<(), TxError> {
    w.delete::<OptimismPendingOps>(key)?;
    w.delete::<OptimismOps>(key)?;
    Ok(())
}

/// Removes every shard-DDL record of a subtask (stop-task): DM leaves them and the lock stays
/// stuck (dm#1543); here they go with the subtask, in the same step.
pub(crate) fn purge_subtask(w: &mut Writer<'_>, task: &str, source: &str) -> Result<(), TxError> {
    let key = (task.to_string(), source.to_string());
    w.delete::<PessimismInfos>(&key)?;
    w.delete::<PessimismOps>(&key)?;
    if let Some(tables) = w.get::<OptimismSourceTables>(&key)? {
        for t in &tables.value.tables {
            forget_table(w, task, source, t)?;
        }
        w.delete::<OptimismSourceTables>(&key)?;
    }
    Ok(())
}
