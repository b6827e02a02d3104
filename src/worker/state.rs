//! The worker's state: the source it holds (with the binding epoch), the revision of the newest
//! assignment applied, whether it is fenced, and one runner per task. Every change of what the
//! worker works on goes through here, so the audit record and the heartbeat report stay true.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dm_storage::scheduling::ExpectedStage;
use tokio::sync::watch;

use super::audit::{AuditKind, AuditSink};
use super::runner::{Runner, RunnerView};
use super::unit::UnitFactory;
use crate::config::subtask::SubtaskConfig;
use crate::error::Coded;
use crate::pb::master::Assignment;
use crate::pb::worker::{QueryStatusResponse, SourceStatus, SubTaskStatus};

/// The source this worker works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub source: String,
    pub epoch: u64,
}

struct Inner {
    holding: Option<Holding>,
    /// Task → runner and the revision of the subtask write it follows.
    runners: BTreeMap<String, (Runner, u64)>,
}

/// What a heartbeat reports, readable without waiting for a reconcile.
#[derive(Clone, Default)]
pub struct Snapshot {
    pub holding: Option<Holding>,
    pub revision: u64,
    pub fenced: bool,
    /// Shutting down: no new work is taken.
    pub stopping: bool,
    /// The runners, with the revision of the subtask write each follows.
    pub runners: Vec<(RunnerView, u64)>,
}

impl Snapshot {
    /// The subtasks' statuses, as heartbeats and QueryStatus report them.
    pub fn subtasks(&self) -> Vec<SubTaskStatus> {
        self.runners
            .iter()
            .map(|(v, rev)| {
                let mut st = v.status();
                st.revision = *rev;
                st
            })
            .collect()
    }
}

/// How long releasing a source may take before its runners are aborted.
pub const RELEASE_DEADLINE: Duration = Duration::from_secs(30);

pub struct WorkerState {
    name: String,
    inner: tokio::sync::Mutex<Inner>,
    snap: Mutex<Snapshot>,
    /// Bumped by every fence (the assignment stream in use is void) and unfence.
    fences: watch::Sender<u64>,
}

fn parse_stage(s: &str) -> ExpectedStage {
    match s {
        "Paused" => ExpectedStage::Paused,
        "Stopped" => ExpectedStage::Stopped,
        _ => ExpectedStage::Running,
    }
}

impl WorkerState {
    pub fn new(name: &str) -> Self {
        let inner = Inner { holding: None, runners: BTreeMap::new() };
        Self {
            name: name.to_string(),
            inner: tokio::sync::Mutex::new(inner),
            snap: Mutex::new(Snapshot::default()),
            fences: watch::channel(0).0,
        }
    }

    /// Changes whenever the worker fences or unfences itself.
    pub fn fences(&self) -> watch::Receiver<u64> {
        self.fences.subscribe()
    }

    /// No new work from now on (shutdown).
    pub fn set_stopping(&self) {
        self.update(|s| s.stopping = true);
    }

    /// Whether an assignment may start work now.
    fn may_work(&self) -> bool {
        let s = self.snapshot();
        !s.fenced && !s.stopping
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snap.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        f(&mut self.snap.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Stops every runner (aborting those not stopped by `deadline`), then records the end of
    /// work on the held source.
    async fn release(&self, inner: &mut Inner, audit: &AuditSink, deadline: Instant) {
        for (task, (r, _)) in std::mem::take(&mut inner.runners) {
            stop_by(r, &task, deadline).await;
        }
        if let Some(h) = inner.holding.take() {
            audit.record(AuditKind::Stop, &self.name, &h.source, h.epoch);
            tracing::info!(source = %h.source, epoch = h.epoch, "stopped work on source");
        }
        self.update(|s| {
            s.holding = None;
            s.runners.clear();
        });
    }

    /// A crash, for tests: work stops now, nobody is told.
    pub async fn crash(&self, audit: &AuditSink) {
        let mut inner = self.inner.lock().await;
        for (_, (r, _)) in std::mem::take(&mut inner.runners) {
            r.abort();
        }
        inner.holding = None;
        self.update(|s| {
            s.holding = None;
            s.runners.clear();
        });
        audit.record(AuditKind::Crash, &self.name, "-", 0);
    }

    pub async fn release_all(&self, audit: &AuditSink) {
        let mut inner = self.inner.lock().await;
        self.release(&mut inner, audit, Instant::now() + RELEASE_DEADLINE).await;
    }

    /// Self-fencing: no new work and the assignment is void at once (a fresh, whole one is needed
    /// after the fence), then everything stops; runners not stopped by `deadline` are aborted.
    pub async fn fence(&self, audit: &AuditSink, deadline: Instant) {
        self.update(|s| {
            s.fenced = true;
            s.revision = 0;
        });
        self.fences.send_modify(|g| *g += 1);
        let mut inner = self.inner.lock().await;
        self.release(&mut inner, audit, deadline).await;
    }

    /// Heartbeats are acknowledged again. Waits for a fence in progress to finish first.
    pub async fn unfence(&self) {
        let _inner = self.inner.lock().await;
        self.update(|s| s.fenced = false);
        self.fences.send_modify(|g| *g += 1);
    }

    /// The leader says this binding is no longer ours.
    pub async fn drop_stale(&self, stale: &Holding, audit: &AuditSink) {
        let mut inner = self.inner.lock().await;
        if inner.holding.as_ref() == Some(stale) {
            tracing::warn!(source = %stale.source, epoch = stale.epoch, "binding is stale; stopping work on it");
            self.update(|s| s.revision = 0);
            self.release(&mut inner, audit, Instant::now() + RELEASE_DEADLINE).await;
        }
    }

    /// Nothing changed for this worker up to `revision`.
    pub fn mark_current(&self, revision: u64) {
        self.update(|s| s.revision = s.revision.max(revision));
    }

    /// Reconciles to a whole assignment (ignored while fenced or stopping).
    pub async fn apply(&self, a: Assignment, units: &dyn UnitFactory, audit: &AuditSink) {
        let mut inner = self.inner.lock().await;
        if !self.may_work() {
            return;
        }
        let want = a.bound.as_ref().map(|b| Holding { source: b.source_id.clone(), epoch: b.epoch });
        if inner.holding != want {
            self.release(&mut inner, audit, Instant::now() + RELEASE_DEADLINE).await;
            if !self.may_work() {
                return;
            }
            if let Some(h) = want {
                audit.record(AuditKind::Start, &self.name, &h.source, h.epoch);
                tracing::info!(source = %h.source, epoch = h.epoch, "working on source");
                inner.holding = Some(h.clone());
                self.update(|s| s.holding = Some(h));
            }
        }
        if inner.holding.is_some() {
            let desired: BTreeMap<String, _> = a.subtasks.into_iter().map(|s| (s.task.clone(), s)).collect();
            let gone: Vec<String> = inner.runners.keys().filter(|t| !desired.contains_key(*t)).cloned().collect();
            for t in gone {
                if let Some((r, _)) = inner.runners.remove(&t) {
                    stop_by(r, &t, Instant::now() + RELEASE_DEADLINE).await;
                }
            }
            for (task, st) in desired {
                // A fence may have started while a runner was stopping.
                if !self.may_work() {
                    return;
                }
                let stage = parse_stage(&st.expected_stage);
                match inner.runners.get_mut(&task) {
                    Some((r, rev)) if r.config == st.config => {
                        r.set_expected(stage, st.revision > *rev);
                        *rev = st.revision;
                    }
                    _ => {
                        if let Some((old, _)) = inner.runners.remove(&task) {
                            stop_by(old, &task, Instant::now() + RELEASE_DEADLINE).await;
                        }
                        let runner = spawn_runner(&task, st.config, stage, units);
                        inner.runners.insert(task, (runner, st.revision));
                    }
                }
            }
        }
        let runners: Vec<(RunnerView, u64)> = inner.runners.values().map(|(r, rev)| (r.view(), *rev)).collect();
        self.update(|s| {
            s.runners = runners;
            s.revision = a.revision;
        });
    }

    /// QueryStatus: the held source and the subtasks (one task's, or all).
    pub async fn status(&self, task: &str) -> QueryStatusResponse {
        let inner = self.inner.lock().await;
        let snap = self.snapshot();
        let source_status = SourceStatus {
            source: inner.holding.as_ref().map(|h| h.source.clone()).unwrap_or_default(),
            worker: self.name.clone(),
            result: true,
            msg: if snap.fenced { "fenced: no heartbeat acknowledged; all work stopped".into() } else { String::new() },
            epoch: inner.holding.as_ref().map(|h| h.epoch).unwrap_or(0),
            fenced: snap.fenced,
        };
        let sub_task_status = inner
            .runners
            .iter()
            .filter(|(t, _)| task.is_empty() || *t == task)
            .map(|(_, (r, rev))| {
                let mut st = r.status();
                st.revision = *rev;
                st
            })
            .collect();
        QueryStatusResponse { result: true, source_status: Some(source_status), sub_task_status, ..Default::default() }
    }
}

/// Stops a runner, aborting it if it has not stopped by `deadline`.
async fn stop_by(r: Runner, task: &str, deadline: Instant) {
    let aborter = r.aborter();
    if tokio::time::timeout_at(deadline.into(), r.stop()).await.is_err() {
        tracing::error!(task, "subtask did not stop in time; aborted");
        aborter.abort();
    }
}

fn spawn_runner(task: &str, config: String, stage: ExpectedStage, units: &dyn UnitFactory) -> Runner {
    match SubtaskConfig::from_stored(&config) {
        Ok(cfg) => {
            let units_for = units.units(&cfg);
            Runner::spawn(task, config, stage, units_for, units.missing_reason().to_string())
        }
        Err(e) => {
            let u = e.to_user();
            Runner::failed(task, config, stage, u.code.as_i32(), format!("cannot read the subtask config: {u}"))
        }
    }
}
