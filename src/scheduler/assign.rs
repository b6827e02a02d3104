//! A worker's assignment stream (`WatchAssignments`), served by the leader from the replicated
//! state: the bound source with its epoch, the subtasks on it with their expected stages, and
//! their shard-DDL operations that are not done yet.
//!
//! 1. On connect, read the worker's assignment at revision R and subscribe after R, atomically.
//!    If the worker resumes from revision F and the history shows nothing of its own changed in
//!    (F, R], send only "unchanged as of R"; otherwise (or if the history is gone) send it whole.
//! 2. For every later change batch that touches the worker (its binding, its source's config or
//!    binding, a subtask or a shard-DDL operation on its source), send the whole assignment
//!    again, read at the current revision. The worker reconciles to each one, so a repeat is
//!    harmless.
//! 3. If the feed says resync, re-read and send the whole assignment.
//! 4. End when the leader term ends (the worker reconnects to the next leader) or the worker goes.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use dm_storage::feed::{ChangeBatch, FeedError};
use dm_storage::keys::KeyCodec;
use dm_storage::scheduling::{Bounds, Sources, Subtasks, WorkerBounds};
use dm_storage::shardddl::{OptimismOps, OptimismPendingOps, PessimismOps};
use dm_storage::state::View;
use dm_storage::{StateReader, StoreError};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::pb::master::{Assignment, BoundSource, ShardDdlOperation, ShardMode, SubtaskAssignment};

/// The worker's whole assignment at the view's revision.
pub fn assignment(view: &View<'_>, worker: &str) -> Result<Assignment, StoreError> {
    let mut out = Assignment { revision: view.revision(), ..Default::default() };
    let Some(source) = view.get::<WorkerBounds>(&worker.to_string())?.map(|r| r.value) else {
        return Ok(out);
    };
    let (Some(bound), Some(config)) = (view.get::<Bounds>(&source)?, view.get::<Sources>(&source)?) else {
        return Ok(out);
    };
    out.bound = Some(BoundSource { source_id: source.clone(), epoch: bound.value.epoch, config: config.value.config });
    out.subtasks = view
        .list_prefix::<Subtasks>(&source.encode())?
        .into_iter()
        .map(|(_, r)| SubtaskAssignment {
            task: r.value.task,
            config: r.value.config,
            expected_stage: r.value.stage.as_str().to_string(),
            revision: r.mod_revision,
        })
        .collect();
    for st in &out.subtasks {
        out.shard_ddl_ops.extend(shard_ddl_ops(view, &st.task, &source)?);
    }
    Ok(out)
}

/// The shard-DDL operations of a subtask that are not done yet.
fn shard_ddl_ops(view: &View<'_>, task: &str, source: &str) -> Result<Vec<ShardDdlOperation>, StoreError> {
    let key = (task.to_string(), source.to_string());
    let mut out = Vec::new();
    if let Some(op) = view.get::<PessimismOps>(&key)?.map(|r| r.value).filter(|op| !op.done) {
        out.push(ShardDdlOperation {
            task: op.task,
            mode: ShardMode::Pessimistic as i32,
            lock_id: op.lock_id,
            ddls: op.ddls,
            exec: op.exec,
            ..Default::default()
        });
    }
    for (table, _) in view.list_prefix::<OptimismPendingOps>(&key.encode())? {
        let Some(op) = view.get::<OptimismOps>(&table)?.map(|r| r.value).filter(|op| !op.done) else { continue };
        out.push(ShardDdlOperation {
            task: op.task,
            mode: ShardMode::Optimistic as i32,
            lock_id: op.lock_id,
            up_schema: op.up_schema,
            up_table: op.up_table,
            ddls: op.ddls,
            conflict_stage: op.stage.as_str().to_string(),
            conflict_message: op.message,
            info_revision: op.info_revision,
            cols: op.cols,
            ..Default::default()
        });
    }
    Ok(out)
}

/// The workers and sources whose assignments a change batch touches. Every worker's stream
/// looks at every batch, so this is computed once per batch ([`TouchCache`]), not per stream:
/// one command writing 1 000 operations would otherwise cost 1 000 streams × 1 000 key decodes.
#[derive(Debug, Default)]
pub struct Touched {
    /// Workers whose binding changed.
    workers: HashSet<String>,
    /// Sources whose config, binding, subtasks or shard-DDL operations changed.
    sources: HashSet<String>,
}

impl Touched {
    pub fn of(batch: &ChangeBatch) -> Touched {
        let mut t = Touched::default();
        for c in &batch.changes {
            if let Some(Ok(w)) = c.key::<WorkerBounds>() {
                t.workers.insert(w);
            } else if let Some(Ok(s)) = c.key::<Bounds>() {
                t.sources.insert(s);
            } else if let Some(Ok(s)) = c.key::<Sources>() {
                t.sources.insert(s);
            } else if let Some(Ok((s, _))) = c.key::<Subtasks>() {
                t.sources.insert(s);
            } else if let Some(Ok((_, s))) = c.key::<PessimismOps>() {
                t.sources.insert(s);
            } else if let Some(Ok((_, s, _, _))) = c.key::<OptimismOps>() {
                t.sources.insert(s);
            }
        }
        t
    }

    /// Whether the assignment of `worker`, bound to `source`, changed.
    pub fn touches(&self, worker: &str, source: Option<&str>) -> bool {
        self.workers.contains(worker) || source.is_some_and(|s| self.sources.contains(s))
    }
}

/// The [`Touched`] of recent batches, shared by the leader's streams (they read the same
/// batches at about the same time).
#[derive(Default)]
pub struct TouchCache {
    recent: Mutex<VecDeque<(u64, Arc<Touched>)>>,
}

impl TouchCache {
    const KEEP: usize = 256;

    pub fn get(&self, batch: &ChangeBatch) -> Arc<Touched> {
        let found = lock(&self.recent).iter().find(|(r, _)| *r == batch.revision).map(|(_, t)| t.clone());
        if let Some(t) = found {
            return t;
        }
        let t = Arc::new(Touched::of(batch));
        let mut recent = lock(&self.recent);
        if !recent.iter().any(|(r, _)| *r == batch.revision) {
            recent.push_back((batch.revision, t.clone()));
            if recent.len() > Self::KEEP {
                recent.pop_front();
            }
        }
        t
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `batch` changes the assignment of `worker`, whose bound source is `source`.
pub fn touches(batch: &ChangeBatch, worker: &str, source: Option<&str>) -> bool {
    Touched::of(batch).touches(worker, source)
}

fn source_of(a: &Assignment) -> Option<String> {
    a.bound.as_ref().map(|b| b.source_id.clone())
}

/// Steps 1–4 on a task; the stream ends with the task.
pub fn watch(
    reader: StateReader,
    touched: Arc<TouchCache>,
    worker: String,
    from: u64,
    cancel: CancellationToken,
) -> ReceiverStream<Result<Assignment, Status>> {
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        let (first, history, mut sub) = reader.resume(from, |v| assignment(v, &worker));
        let Some(mut current) = send_first(&tx, first, history, from, &worker).await else { return };
        loop {
            let next = tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tx.closed() => return,
                n = sub.next() => n,
            };
            let fresh = match next {
                Ok(batch) if !touched.get(&batch).touches(&worker, current.as_deref()) => continue,
                Ok(_) => reader.read(|v| assignment(v, &worker)),
                Err(FeedError::Resync { .. }) => {
                    let (a, s) = reader.read_and_subscribe(|v| assignment(v, &worker));
                    sub = s;
                    a
                }
                Err(FeedError::Closed) => return,
            };
            match fresh {
                Ok(a) => {
                    current = source_of(&a);
                    if tx.send(Ok(a)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(Status::internal(format!("reading the assignment: {e}")))).await;
                    return;
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// Step 1's answer; returns the bound source, or None if the stream is over.
async fn send_first(
    tx: &mpsc::Sender<Result<Assignment, Status>>,
    first: Result<Assignment, StoreError>,
    history: Result<Vec<Arc<ChangeBatch>>, FeedError>,
    from: u64,
    worker: &str,
) -> Option<Option<String>> {
    let a = match first {
        Ok(a) => a,
        Err(e) => {
            let _ = tx.send(Err(Status::internal(format!("reading the assignment: {e}")))).await;
            return None;
        }
    };
    let current = source_of(&a);
    let unchanged = from > 0 && history.is_ok_and(|h| h.iter().all(|b| !touches(b, worker, current.as_deref())));
    let msg = if unchanged { Assignment { revision: a.revision, unchanged: true, ..Default::default() } } else { a };
    tx.send(Ok(msg)).await.ok()?;
    Some(current)
}
