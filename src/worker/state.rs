//! The worker's state: the source it holds (with the binding epoch), the revision of the newest
//! assignment applied, whether it is fenced, and one runner per task. Every change of what the
//! worker works on goes through here, so the audit record and the heartbeat report stay true.

use std::collections::BTreeMap;
use std::sync::Mutex;

use dm_storage::scheduling::ExpectedStage;

use super::audit::{AuditKind, AuditSink};
use super::runner::Runner;
use super::unit::UnitFactory;
use crate::config::subtask::SubtaskConfig;
use crate::error::Coded;
use crate::pb::master::Assignment;
use crate::pb::worker::{QueryStatusResponse, SourceStatus};

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub holding: Option<Holding>,
    pub revision: u64,
    pub fenced: bool,
}

pub struct WorkerState {
    name: String,
    inner: tokio::sync::Mutex<Inner>,
    snap: Mutex<Snapshot>,
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
        Self { name: name.to_string(), inner: tokio::sync::Mutex::new(inner), snap: Mutex::new(Snapshot::default()) }
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snap.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        f(&mut self.snap.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Stops every runner, then records the end of work on the held source.
    async fn release(&self, inner: &mut Inner, audit: &AuditSink) {
        for (_, (r, _)) in std::mem::take(&mut inner.runners) {
            r.stop().await;
        }
        if let Some(h) = inner.holding.take() {
            audit.record(AuditKind::Stop, &self.name, &h.source, h.epoch);
            tracing::info!(source = %h.source, epoch = h.epoch, "stopped work on source");
        }
        self.update(|s| s.holding = None);
    }

    /// A crash, for tests: work stops now, nobody is told.
    pub async fn crash(&self, audit: &AuditSink) {
        let mut inner = self.inner.lock().await;
        for (_, (r, _)) in std::mem::take(&mut inner.runners) {
            r.abort();
        }
        inner.holding = None;
        audit.record(AuditKind::Crash, &self.name, "-", 0);
    }

    pub async fn release_all(&self, audit: &AuditSink) {
        let mut inner = self.inner.lock().await;
        self.release(&mut inner, audit).await;
    }

    /// Self-fencing: stop everything and forget the assignment (a fresh one is needed).
    pub async fn fence(&self, audit: &AuditSink) {
        self.update(|s| s.fenced = true);
        let mut inner = self.inner.lock().await;
        self.release(&mut inner, audit).await;
        self.update(|s| s.revision = 0);
    }

    pub fn unfence(&self) {
        self.update(|s| s.fenced = false);
    }

    /// The leader says this binding is no longer ours.
    pub async fn drop_stale(&self, stale: &Holding, audit: &AuditSink) {
        let mut inner = self.inner.lock().await;
        if inner.holding.as_ref() == Some(stale) {
            tracing::warn!(source = %stale.source, epoch = stale.epoch, "binding is stale; stopping work on it");
            self.release(&mut inner, audit).await;
            self.update(|s| s.revision = 0);
        }
    }

    /// Nothing changed for this worker up to `revision`.
    pub fn mark_current(&self, revision: u64) {
        self.update(|s| s.revision = s.revision.max(revision));
    }

    /// Reconciles to a whole assignment (ignored while fenced).
    pub async fn apply(&self, a: Assignment, units: &dyn UnitFactory, audit: &AuditSink) {
        let mut inner = self.inner.lock().await;
        if self.snapshot().fenced {
            return;
        }
        let want = a.bound.as_ref().map(|b| Holding { source: b.source_id.clone(), epoch: b.epoch });
        if inner.holding != want {
            self.release(&mut inner, audit).await;
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
                    r.stop().await;
                }
            }
            for (task, st) in desired {
                let stage = parse_stage(&st.expected_stage);
                match inner.runners.get_mut(&task) {
                    Some((r, rev)) if r.config == st.config => {
                        r.set_expected(stage, st.revision > *rev);
                        *rev = st.revision;
                    }
                    _ => {
                        if let Some((old, _)) = inner.runners.remove(&task) {
                            old.stop().await;
                        }
                        let runner = spawn_runner(&task, st.config, stage, units);
                        inner.runners.insert(task, (runner, st.revision));
                    }
                }
            }
        }
        self.update(|s| s.revision = a.revision);
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
        let sub_task_status =
            inner.runners.iter().filter(|(t, _)| task.is_empty() || *t == task).map(|(_, (r, _))| r.status()).collect();
        QueryStatusResponse { result: true, source_status: Some(source_status), sub_task_status, ..Default::default() }
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
