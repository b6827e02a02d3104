//! Task operations of the scheduler: start (one subtask per source, written in bounded batches),
//! pause / resume / stop (expected stages), and query-status (expected stages merged with what
//! the workers report, through the AgentPool).
//!
//! start-task, step by step (a crash between steps leaves a state the same call completes):
//! 1. Latch the task (a concurrent mutation of it fails fast).
//! 2. Under the decision lock: every new source must be bound; write the task record (absent, or
//!    the same text), then the subtasks in batches of at most `batch_bytes`.
//! 3. Confirm: ask each source's worker until its subtask reaches Running (or Finished).
//!
//! Retrying start-task after a partial write adds only the missing subtasks.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use dm_storage::Command;
use dm_storage::command::Expect;
use dm_storage::scheduling::{ExpectedStage, SubtaskRecord, TaskRecord};
use futures::future::join_all;

use super::confirm::{self, Probe, Verdict};
use super::view::SchedView;
use super::{SchedError, Scheduler, lock};
use crate::agent::AgentError;
use crate::error::Coded;
use crate::pb::master::CommonWorkerResponse;
use crate::pb::worker::{QueryStatusResponse, SourceStatus, SubTaskStatus};

/// How long query-status waits for rate-limit tokens before answering from heartbeat reports
/// (at DM's 10 calls/s, burst 40: about 60 workers are asked directly).
const QUERY_TOKEN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The per-task latch (DM's subtaskLatch): non-blocking; a busy task is an error.
#[derive(Default)]
pub struct Latch(Mutex<HashSet<String>>);

pub struct LatchGuard<'a> {
    latch: &'a Latch,
    task: String,
}

impl Latch {
    pub fn acquire(&self, op: &'static str, task: &str) -> Result<LatchGuard<'_>, SchedError> {
        if !lock(&self.0).insert(task.to_string()) {
            return Err(SchedError::TaskBusy { op, task: task.to_string() });
        }
        Ok(LatchGuard { latch: self, task: task.to_string() })
    }
}

impl Drop for LatchGuard<'_> {
    fn drop(&mut self) {
        lock(&self.latch.0).remove(&self.task);
    }
}

/// A validated task, with one stored subtask config per source.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub name: String,
    /// The task file as submitted.
    pub text: String,
    /// Source id → stored subtask config, for every source of the task.
    pub subtasks: BTreeMap<String, String>,
    /// The stage the subtasks start in: Running for start-task, Stopped for a task created
    /// through the API (started later with `/start`).
    pub stage: ExpectedStage,
}

/// What an operation on a task's stages does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    Set(ExpectedStage),
    /// stop-task: remove the subtasks (and the task once none is left).
    Delete,
}

impl TaskAction {
    fn op_name(self) -> &'static str {
        match self {
            TaskAction::Set(ExpectedStage::Running) => "resume-task",
            TaskAction::Set(ExpectedStage::Paused) => "pause-task",
            TaskAction::Set(ExpectedStage::Stopped) => "stop-task (stage Stopped)",
            TaskAction::Delete => "stop-task",
        }
    }
}

/// Splits `items` into runs whose summed `size` stays under `budget` (one item at least each).
fn batches<T>(items: Vec<T>, budget: usize, size: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut used = 0;
    for item in items {
        let s = size(&item);
        match out.last_mut() {
            Some(last) if used + s <= budget => last.push(item),
            _ => {
                out.push(vec![item]);
                used = 0;
            }
        }
        used += s;
    }
    out
}

/// Whether a worker's status shows `task` at the expected stage (None = removed), judged only
/// once the worker has applied the write at `written` (an older status says nothing about it).
fn stage_verdict(task: &str, want: Option<ExpectedStage>, written: u64, st: &QueryStatusResponse) -> Verdict {
    let sub = st.sub_task_status.iter().find(|s| s.name == task);
    match (want, sub) {
        (None, None) => Verdict::Reached,
        (None, Some(s)) => Verdict::Pending(format!("subtask still {}", s.stage)),
        (Some(_), None) => Verdict::Pending("subtask not started yet".into()),
        (Some(_), Some(s)) if s.revision < written => {
            Verdict::Pending(format!("the worker has not applied the change yet (it is {})", s.stage))
        }
        (Some(w), Some(s)) => {
            let reached = s.stage == w.as_str() || (w == ExpectedStage::Running && s.stage == "Finished");
            if reached {
                Verdict::Reached
            } else if s.error_code != 0 {
                Verdict::Failed(s.msg.clone())
            } else {
                Verdict::Pending(format!("subtask is {}", s.stage))
            }
        }
    }
}

/// What start-task would do on a view: the sources of the task that already have their subtask,
/// those it would write, the unbound ones among those, and the stored task record if any
/// (whether its text is the same, whether any of its subtasks exist).
struct StartPlan {
    existing: Vec<String>,
    fresh: Vec<String>,
    unbound: Vec<String>,
    record: Option<(bool, bool)>,
}

impl StartPlan {
    fn of(v: &SchedView, task: &NewTask, only: &[String]) -> StartPlan {
        let wanted = task.subtasks.keys().filter(|s| only.is_empty() || only.contains(s));
        let (existing, fresh): (Vec<String>, Vec<String>) =
            wanted.cloned().partition(|s| v.subtasks.contains_key(&(task.name.clone(), s.clone())));
        let unbound: Vec<String> = fresh.iter().filter(|s| !v.bounds.contains_key(*s)).cloned().collect();
        let has_any = v.task_subtasks(&task.name).next().is_some();
        let record = v.tasks.get(&task.name).map(|t| (t.config == task.text, has_any));
        StartPlan { existing, fresh, unbound, record }
    }

    /// Why start-task would refuse, in the order it checks (empty: it would go ahead).
    fn refusals(&self, task: &str) -> Vec<SchedError> {
        let mut out = Vec::new();
        // A record whose text differs is another task of that name, unless none of its
        // subtasks exist (a start or stop interrupted midway): then it is replaced.
        if self.fresh.is_empty() || self.record == Some((false, true)) {
            out.push(SchedError::TaskExists { task: task.to_string(), sources: self.existing.clone() });
        }
        if !self.unbound.is_empty() {
            out.push(SchedError::SourcesUnbound(self.unbound.clone()));
        }
        out
    }
}

impl Scheduler {
    /// check-task: every reason start-task of `task` would be refused now; changes nothing.
    pub fn check_start(&self, task: &NewTask) -> Vec<SchedError> {
        StartPlan::of(&self.view.get(), task, &[]).refusals(&task.name)
    }

    fn probes(&self, sources: &[String]) -> Vec<Probe> {
        let v = self.view.get();
        sources.iter().map(|s| Probe { source: s.clone(), worker: v.bound_worker(s) }).collect()
    }

    /// Waits until each source's worker reports `task` at `want` for the write at `written[source]`.
    async fn confirm_stage(
        &self,
        task: &str,
        written: BTreeMap<String, u64>,
        want: Option<ExpectedStage>,
    ) -> Vec<CommonWorkerResponse> {
        let probes = self.probes(&written.keys().cloned().collect::<Vec<_>>());
        let no_worker = |s: &str| {
            confirm::entry(false, "source not bound to any dm-worker; the change waits for one".into(), s, "")
        };
        let report = |w: &str| self.reported_status(w);
        let written = &written;
        confirm::confirm(probes, self.cfg.confirm, &self.cancel, report, no_worker, |source, st| {
            stage_verdict(task, want, written.get(source).copied().unwrap_or(0), st)
        })
        .await
    }

    /// The stored source configs of `ids` (for generating subtasks).
    pub fn source_configs(&self, ids: &[String]) -> Result<BTreeMap<String, String>, SchedError> {
        let v = self.view.get();
        ids.iter()
            .map(|id| match v.sources.get(id) {
                Some(s) => Ok((id.clone(), s.config.clone())),
                None => Err(SchedError::SourceNotFound(id.clone())),
            })
            .collect()
    }

    /// Proposes `cmd` for the sources of one batch; records the revision that wrote them.
    async fn write_batch(
        &self,
        cmd: Command,
        sources: impl Iterator<Item = String>,
        written: &mut BTreeMap<String, u64>,
    ) -> Result<(), SchedError> {
        let applied = self.propose(cmd).await?;
        written.extend(sources.map(|s| (s, applied.revision)));
        Ok(())
    }

    /// start-task (steps 1–3); `only` limits it to some of the task's sources.
    pub async fn start_task(&self, task: NewTask, only: &[String]) -> Result<Vec<CommonWorkerResponse>, SchedError> {
        if let Some(s) = only.iter().find(|s| !task.subtasks.contains_key(*s)) {
            return Err(SchedError::InvalidArgument(format!("source {s} is not in task {}", task.name)));
        }
        let written = {
            let _latch = self.latch.acquire("start-task", &task.name)?;
            let _g = self.decision_lock().await;
            let plan = StartPlan::of(&self.view.get(), &task, only);
            if let Some(refusal) = plan.refusals(&task.name).into_iter().next() {
                return Err(refusal);
            }
            let StartPlan { existing, fresh, record, .. } = plan;
            let expect = match record {
                None => Some(Expect::Absent),
                Some((false, _)) => Some(Expect::Any),
                Some((true, _)) => None,
            };
            if let Some(expect) = expect {
                let r = TaskRecord {
                    name: task.name.clone(),
                    config: task.text.clone(),
                    sources: task.subtasks.keys().cloned().collect(),
                };
                self.propose(Command::PutTask { task: r, expect }).await?;
            }
            let records: Vec<SubtaskRecord> = fresh
                .iter()
                .map(|s| SubtaskRecord {
                    task: task.name.clone(),
                    source: s.clone(),
                    config: task.subtasks[s].clone(),
                    stage: task.stage,
                })
                .collect();
            // Sources that already had their subtask (a retried start-task) are confirmed too.
            let mut written: BTreeMap<String, u64> = existing.iter().map(|s| (s.clone(), 0)).collect();
            for batch in batches(records, self.cfg.batch_bytes, |r| r.config.len() + r.source.len() + 64) {
                let sources: Vec<String> = batch.iter().map(|r| r.source.clone()).collect();
                self.write_batch(Command::PutSubtasks { subtasks: batch }, sources.into_iter(), &mut written).await?;
            }
            written
        };
        Ok(self.confirm_stage(&task.name, written, Some(task.stage)).await)
    }

    /// pause-task / resume-task / stop-task on all of a task's sources, or the given ones.
    pub async fn operate_task(
        &self,
        action: TaskAction,
        name: &str,
        only: &[String],
    ) -> Result<Vec<CommonWorkerResponse>, SchedError> {
        let written = {
            let _latch = self.latch.acquire(action.op_name(), name)?;
            let _g = self.decision_lock().await;
            let (sources, record) = {
                let v = self.view.get();
                let have: Vec<String> = v.task_subtasks(name).map(|s| s.source.clone()).collect();
                let record = v.tasks.get(name).cloned();
                if have.is_empty() && !(action == TaskAction::Delete && record.is_some()) {
                    return Err(SchedError::TaskNotFound(name.to_string()));
                }
                if let Some(s) = only.iter().find(|s| !have.contains(s)) {
                    return Err(SchedError::InvalidArgument(format!("task {name} has no subtask on source {s}")));
                }
                (if only.is_empty() { have } else { only.to_vec() }, record)
            };
            let mut written = BTreeMap::new();
            for group in batches(sources.clone(), self.cfg.batch_bytes, |s| s.len() + 16) {
                let cmd = match action {
                    TaskAction::Set(stage) => {
                        Command::SetSubtaskStage { task: name.to_string(), sources: group.clone(), stage }
                    }
                    TaskAction::Delete => Command::RemoveSubtasks { task: name.to_string(), sources: group.clone() },
                };
                self.write_batch(cmd, group.into_iter(), &mut written).await?;
            }
            if action == TaskAction::Delete {
                self.settle_task_record(name, record).await?;
            }
            written
        };
        let want = match action {
            TaskAction::Set(stage) => Some(stage),
            TaskAction::Delete => None,
        };
        Ok(self.confirm_stage(name, written, want).await)
    }

    /// After stop-task: drop the task record when no subtask is left, else narrow its sources.
    async fn settle_task_record(&self, name: &str, record: Option<TaskRecord>) -> Result<(), SchedError> {
        let left: Vec<String> = self.view.get().task_subtasks(name).map(|s| s.source.clone()).collect();
        match record {
            None => Ok(()),
            Some(_) if left.is_empty() => {
                self.propose(Command::RemoveTask { name: name.to_string() }).await?;
                Ok(())
            }
            Some(mut r) => {
                r.sources = left;
                self.propose(Command::PutTask { task: r, expect: Expect::Any }).await?;
                Ok(())
            }
        }
    }

    /// query-status: per source, the worker's answer with expected stages filled in, or an entry
    /// saying why there is none (not bound, or the worker did not answer).
    pub async fn query_status(&self, name: &str, only: &[String]) -> Result<Vec<QueryStatusResponse>, SchedError> {
        self.ctx().linearizable().await?;
        // Source → (task → expected stage), and the source's worker.
        let (expected, workers) = {
            let v = self.view.get();
            if !name.is_empty() && v.task_subtasks(name).next().is_none() {
                return Err(SchedError::TaskNotFound(name.to_string()));
            }
            let mut expected: BTreeMap<String, BTreeMap<String, ExpectedStage>> = BTreeMap::new();
            for st in v.subtasks.values() {
                if (name.is_empty() || st.task == name) && (only.is_empty() || only.contains(&st.source)) {
                    expected.entry(st.source.clone()).or_default().insert(st.task.clone(), st.stage);
                }
            }
            let workers: BTreeMap<String, Option<(String, String, u64)>> = expected
                .keys()
                .map(|s| {
                    let w = v.bounds.get(s).map(|b| {
                        let addr = v.workers.get(&b.worker).map(|w| w.addr.clone()).unwrap_or_default();
                        (b.worker.clone(), addr, b.epoch)
                    });
                    (s.clone(), w)
                })
                .collect();
            (expected, workers)
        };
        // Ask every worker the rate limit allows within QUERY_TOKEN_WAIT; a worker it leaves
        // unasked answers with its last heartbeat report (at most a heartbeat old).
        let token_deadline = tokio::time::Instant::now() + QUERY_TOKEN_WAIT.min(self.agents.call_timeout());
        let asks = workers.into_iter().map(|(source, w)| {
            let tasks = expected[&source].clone();
            async move {
                let Some((worker, addr, epoch)) = w else {
                    return unanswered(&source, "source not bound", "source not bound to any dm-worker", &tasks);
                };
                match self.agents.query_status(&worker, &addr, name, token_deadline).await {
                    Ok(r) => merge(r, &source, &worker, epoch, &tasks),
                    Err(AgentError::RateLimited(_)) => match self.reported_status(&worker) {
                        Ok(r) => {
                            let mut r = merge(r, &source, &worker, epoch, &tasks);
                            r.msg =
                                "from the worker's last heartbeat (the master→worker rate limit was reached)".into();
                            r
                        }
                        Err(e) => unanswered(&source, &worker, &e, &tasks),
                    },
                    Err(e) => unanswered(&source, &worker, &e.to_user().to_string(), &tasks),
                }
            }
        });
        Ok(join_all(asks).await)
    }
}

/// DM's fake entry for a source without an answer: expected stages only.
fn unanswered(source: &str, worker: &str, msg: &str, tasks: &BTreeMap<String, ExpectedStage>) -> QueryStatusResponse {
    QueryStatusResponse {
        result: false,
        msg: msg.to_string(),
        code: 0,
        source_status: Some(SourceStatus {
            source: source.to_string(),
            worker: worker.to_string(),
            ..Default::default()
        }),
        sub_task_status: tasks
            .iter()
            .map(|(t, e)| SubTaskStatus {
                name: t.clone(),
                expected_stage: e.as_str().to_string(),
                ..Default::default()
            })
            .collect(),
    }
}

/// The worker's answer for `source`, limited to `tasks`, with their expected stages.
fn merge(
    mut r: QueryStatusResponse,
    source: &str,
    worker: &str,
    epoch: u64,
    tasks: &BTreeMap<String, ExpectedStage>,
) -> QueryStatusResponse {
    let status = r.source_status.get_or_insert_with(Default::default);
    if status.source != source || status.epoch != epoch {
        let msg = format!(
            "dm-worker {worker} does not work on source {source} at epoch {epoch} yet (it reports {:?} at epoch {}); it will start on its next assignment",
            status.source, status.epoch
        );
        return unanswered(source, worker, &msg, tasks);
    }
    r.sub_task_status.retain(|s| tasks.contains_key(&s.name));
    for s in &mut r.sub_task_status {
        s.expected_stage = tasks[&s.name].as_str().to_string();
    }
    for (t, e) in tasks {
        if !r.sub_task_status.iter().any(|s| &s.name == t) {
            r.sub_task_status.push(SubTaskStatus {
                name: t.clone(),
                expected_stage: e.as_str().to_string(),
                msg: "not started on the worker yet".into(),
                ..Default::default()
            });
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t10_batches_respect_the_budget_and_keep_order() {
        let b = batches(vec![3, 3, 3, 5, 1], 6, |x| *x);
        assert_eq!(b, vec![vec![3, 3], vec![3], vec![5, 1]]);
        assert_eq!(batches(vec![10], 6, |x| *x), vec![vec![10]], "an oversized item goes alone");
        assert!(batches(Vec::<usize>::new(), 6, |x| *x).is_empty());
    }

    #[test]
    fn t20_latch_fails_fast_and_frees_on_drop() {
        let l = Latch::default();
        let g = l.acquire("start-task", "t1").unwrap();
        let e = l.acquire("pause-task", "t1").err().unwrap();
        assert!(e.to_string().contains("in use by other client"), "{e}");
        assert!(l.acquire("pause-task", "t2").is_ok());
        drop(g);
        assert!(l.acquire("pause-task", "t1").is_ok());
    }

    #[test]
    fn t30_stage_verdicts_judge_only_statuses_that_applied_the_write() {
        let st = |stage: &str, code: i32, revision: u64| QueryStatusResponse {
            sub_task_status: vec![SubTaskStatus {
                name: "t".into(),
                stage: stage.into(),
                error_code: code,
                msg: "boom".into(),
                revision,
                ..Default::default()
            }],
            ..Default::default()
        };
        use ExpectedStage::*;
        assert_eq!(stage_verdict("t", Some(Running), 5, &st("Running", 0, 5)), Verdict::Reached);
        assert_eq!(stage_verdict("t", Some(Running), 5, &st("Finished", 0, 6)), Verdict::Reached);
        assert_eq!(stage_verdict("t", Some(Running), 5, &st("Paused", 7, 5)), Verdict::Failed("boom".into()));
        // An auto-paused subtask that has not seen the resume yet is not a failure of the resume.
        assert!(matches!(stage_verdict("t", Some(Running), 5, &st("Paused", 7, 4)), Verdict::Pending(_)));
        assert!(matches!(stage_verdict("t", Some(Paused), 5, &st("Running", 0, 5)), Verdict::Pending(_)));
        assert!(matches!(stage_verdict("t", None, 5, &st("Running", 0, 5)), Verdict::Pending(_)));
        assert_eq!(stage_verdict("t", None, 5, &QueryStatusResponse::default()), Verdict::Reached);
    }
}
