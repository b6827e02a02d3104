//! Apply of the scheduler's commands: workers, sources, bindings, tasks and subtasks.
//!
//! Each function checks its preconditions with point lookups, writes through the [`Writer`]
//! overlay, and returns `Err(Rejected)` before or after writing — the caller drops the overlay of
//! a rejected command, so nothing it wrote is kept.

use std::collections::BTreeSet;

use crate::apply::{Outcome, TxError, Writer};
use crate::command::{CommandOutput, Expect, Rejected};
use crate::scheduling::{
    BoundRecord, Bounds, ExpectedStage, LastBounds, SourceRecord, SourceTasks, Sources, SubtaskRecord, Subtasks,
    TaskRecord, Tasks, WorkerBounds, WorkerRecord, Workers,
};

type Applied = Result<Outcome, TxError>;

fn done() -> Applied {
    Ok(Ok(CommandOutput::Done))
}

pub(crate) fn register_worker(w: &mut Writer<'_>, name: &str, addr: &str, keepalive_ttl_ms: u64) -> Applied {
    let key = name.to_string();
    let record = WorkerRecord { name: key.clone(), addr: addr.to_string(), keepalive_ttl_ms };
    match w.get::<Workers>(&key)? {
        Some(existing) if existing.value.addr != addr => {
            return Ok(Err(Rejected::WorkerNameTaken { name: key, addr: existing.value.addr }));
        }
        Some(existing) if existing.value == record => {}
        _ => {
            w.put::<Workers>(&key, record)?;
        }
    }
    done()
}

pub(crate) fn remove_worker(w: &mut Writer<'_>, name: &str) -> Applied {
    let key = name.to_string();
    if w.get::<Workers>(&key)?.is_none() {
        return Ok(Err(Rejected::WorkerNotFound { name: key }));
    }
    if let Some(source) = w.get::<WorkerBounds>(&key)? {
        return Ok(Err(Rejected::WorkerBound { worker: key, source_id: source.value }));
    }
    w.delete::<Workers>(&key)?;
    w.delete::<LastBounds>(&key)?;
    done()
}

pub(crate) fn create_source(w: &mut Writer<'_>, source: &SourceRecord) -> Applied {
    let key = source.source_id.clone();
    if w.get::<Sources>(&key)?.is_some() {
        return Ok(Err(Rejected::SourceExists { source_id: key }));
    }
    w.put::<Sources>(&key, source.clone())?;
    done()
}

pub(crate) fn remove_source(w: &mut Writer<'_>, source_id: &str) -> Applied {
    let key = source_id.to_string();
    if w.get::<Sources>(&key)?.is_none() {
        return Ok(Err(Rejected::SourceNotFound { source_id: key }));
    }
    if let Some(tasks) = w.get::<SourceTasks>(&key)?
        && !tasks.value.is_empty()
    {
        return Ok(Err(Rejected::SourceHasTasks { source_id: key, tasks: tasks.value.into_iter().collect() }));
    }
    if let Some(bound) = w.get::<Bounds>(&key)? {
        let worker = bound.value.worker;
        w.delete::<Bounds>(&key)?;
        w.delete::<WorkerBounds>(&worker)?;
        if w.get::<LastBounds>(&worker)?.is_some_and(|r| r.value == key) {
            w.delete::<LastBounds>(&worker)?;
        }
    }
    w.delete::<SourceTasks>(&key)?;
    w.delete::<Sources>(&key)?;
    done()
}

/// The worker must be registered and hold no source.
fn check_worker_free(w: &Writer<'_>, worker: &str) -> Result<Result<(), Rejected>, TxError> {
    let key = worker.to_string();
    if w.get::<Workers>(&key)?.is_none() {
        return Ok(Err(Rejected::WorkerNotFound { name: key }));
    }
    if let Some(source) = w.get::<WorkerBounds>(&key)? {
        return Ok(Err(Rejected::WorkerBound { worker: key, source_id: source.value }));
    }
    Ok(Ok(()))
}

fn write_bound(w: &mut Writer<'_>, source_id: &str, worker: &str) -> Applied {
    let (source, worker) = (source_id.to_string(), worker.to_string());
    let epoch = w.revision();
    w.put::<Bounds>(&source, BoundRecord { source: source.clone(), worker: worker.clone(), epoch })?;
    w.put::<WorkerBounds>(&worker, source.clone())?;
    w.put::<LastBounds>(&worker, source)?;
    Ok(Ok(CommandOutput::Bound { epoch }))
}

pub(crate) fn bind_source(w: &mut Writer<'_>, source_id: &str, worker: &str) -> Applied {
    let key = source_id.to_string();
    if w.get::<Sources>(&key)?.is_none() {
        return Ok(Err(Rejected::SourceNotFound { source_id: key }));
    }
    if let Some(b) = w.get::<Bounds>(&key)? {
        return Ok(Err(Rejected::SourceBound { source_id: key, worker: b.value.worker }));
    }
    if let Err(e) = check_worker_free(w, worker)? {
        return Ok(Err(e));
    }
    write_bound(w, source_id, worker)
}

/// The source's binding, which must be at `epoch`.
fn bound_at(w: &Writer<'_>, source_id: &str, epoch: u64) -> Result<Result<BoundRecord, Rejected>, TxError> {
    let key = source_id.to_string();
    Ok(match w.get::<Bounds>(&key)? {
        Some(b) if b.value.epoch == epoch => Ok(b.value),
        other => {
            Err(Rejected::BoundEpochMismatch { source_id: key, expected: epoch, actual: other.map(|b| b.value.epoch) })
        }
    })
}

pub(crate) fn unbind_source(w: &mut Writer<'_>, source_id: &str, epoch: u64) -> Applied {
    let bound = match bound_at(w, source_id, epoch)? {
        Ok(b) => b,
        Err(e) => return Ok(Err(e)),
    };
    w.delete::<Bounds>(&bound.source)?;
    w.delete::<WorkerBounds>(&bound.worker)?;
    done()
}

pub(crate) fn put_task(w: &mut Writer<'_>, task: &TaskRecord, expect: Expect) -> Applied {
    let existing = w.get::<Tasks>(&task.name)?;
    let ok = match expect {
        Expect::Any => true,
        Expect::Absent => existing.is_none(),
        Expect::ModRevision(r) => existing.as_ref().is_some_and(|e| e.mod_revision == r),
    };
    if !ok {
        return Ok(Err(match (expect, existing) {
            (Expect::Absent, _) => Rejected::TaskExists { name: task.name.clone() },
            (_, None) => Rejected::TaskNotFound { name: task.name.clone() },
            (_, Some(e)) => {
                Rejected::RevisionMismatch { key: task.name.clone(), expected: expect, actual: Some(e.mod_revision) }
            }
        }));
    }
    w.put::<Tasks>(&task.name, task.clone())?;
    done()
}

pub(crate) fn remove_task(w: &mut Writer<'_>, name: &str) -> Applied {
    let key = name.to_string();
    let Some(task) = w.get::<Tasks>(&key)? else {
        return Ok(Err(Rejected::TaskNotFound { name: key }));
    };
    let mut left = Vec::new();
    for source in &task.value.sources {
        if w.get::<Subtasks>(&(source.clone(), key.clone()))?.is_some() {
            left.push(source.clone());
        }
    }
    if !left.is_empty() {
        return Ok(Err(Rejected::TaskHasSubtasks { name: key, sources: left }));
    }
    w.delete::<Tasks>(&key)?;
    done()
}

fn edit_index(w: &mut Writer<'_>, source: &str, edit: impl FnOnce(&mut BTreeSet<String>)) -> Result<(), TxError> {
    let key = source.to_string();
    let mut tasks = w.get::<SourceTasks>(&key)?.map(|r| r.value).unwrap_or_default();
    edit(&mut tasks);
    if tasks.is_empty() {
        w.delete::<SourceTasks>(&key)?;
    } else {
        w.put::<SourceTasks>(&key, tasks)?;
    }
    Ok(())
}

pub(crate) fn put_subtasks(w: &mut Writer<'_>, subtasks: &[SubtaskRecord]) -> Applied {
    for st in subtasks {
        let key = (st.source.clone(), st.task.clone());
        if w.get::<Tasks>(&st.task)?.is_none() {
            return Ok(Err(Rejected::TaskNotFound { name: st.task.clone() }));
        }
        if w.get::<Sources>(&st.source)?.is_none() {
            return Ok(Err(Rejected::SourceNotFound { source_id: st.source.clone() }));
        }
        if w.get::<Subtasks>(&key)?.is_some() {
            return Ok(Err(Rejected::SubtaskExists { task: st.task.clone(), source_id: st.source.clone() }));
        }
        w.put::<Subtasks>(&key, st.clone())?;
        edit_index(w, &st.source, |t| {
            t.insert(st.task.clone());
        })?;
    }
    done()
}

fn existing_subtask(w: &Writer<'_>, task: &str, source: &str) -> Result<Result<SubtaskRecord, Rejected>, TxError> {
    Ok(match w.get::<Subtasks>(&(source.to_string(), task.to_string()))? {
        Some(r) => Ok(r.value),
        None => Err(Rejected::SubtaskNotFound { task: task.to_string(), source_id: source.to_string() }),
    })
}

pub(crate) fn set_subtask_stage(w: &mut Writer<'_>, task: &str, sources: &[String], stage: ExpectedStage) -> Applied {
    for source in sources {
        let mut st = match existing_subtask(w, task, source)? {
            Ok(st) => st,
            Err(e) => return Ok(Err(e)),
        };
        // Rewritten even when unchanged, as DM does: the worker re-applies it (idempotent).
        st.stage = stage;
        w.put::<Subtasks>(&(source.clone(), task.to_string()), st)?;
    }
    done()
}

pub(crate) fn remove_subtasks(w: &mut Writer<'_>, task: &str, sources: &[String]) -> Applied {
    for source in sources {
        if let Err(e) = existing_subtask(w, task, source)? {
            return Ok(Err(e));
        }
        w.delete::<Subtasks>(&(source.clone(), task.to_string()))?;
        crate::apply_shard::purge_subtask(w, task, source)?;
        edit_index(w, source, |t| {
            t.remove(task);
        })?;
    }
    done()
}
