//! Source and worker operations of the scheduler: create / stop / show sources, transfer a
//! source, remove an offline worker, list workers. Each checks against the view and proposes
//! under the decision lock; the answers are DM's per-source entries.

use std::time::{Duration, Instant};

use dm_storage::Command;
use dm_storage::scheduling::SourceRecord;

use super::confirm::{self, Probe, Verdict};
use super::stage::WorkerStage;
use super::{SchedError, Scheduler};
use crate::node::error::NodeError;
use crate::pb::master::{CommonWorkerResponse, WorkerInfo};

/// DM's answer for a source that no worker holds.
pub const NO_FREE_WORKER: &str = "source is added but there is no free worker to bound";

/// The stage as shown in a "not free" error.
fn stage_text(stage: WorkerStage) -> String {
    match stage {
        WorkerStage::Free => "free but still releasing its last source".to_string(),
        other => other.to_string(),
    }
}

/// How long create / transfer wait for the binding to show, beyond a scheduling round.
const BIND_WAIT: Duration = Duration::from_secs(3);

/// Worker names become keys: keep them plain. ':' is allowed (a worker is named after its
/// address when it has no `--name`).
pub fn check_worker_name(name: &str) -> Result<(), SchedError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(SchedError::InvalidArgument(format!(
            "worker name {name:?} is not valid: use 1–128 letters, digits, '-', '_', '.' or ':'"
        )))
    }
}

impl Scheduler {
    /// Waits (bounded) until `done` holds on the view; polls because bindings come from the loop.
    async fn wait_view(&self, within: Duration, done: impl Fn(&super::view::SchedView) -> bool) -> bool {
        let end = Instant::now() + within;
        loop {
            if done(&self.view.get()) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// operate-source create: adds every source or none (a failure removes those already added),
    /// then waits for their bindings and for the workers to report them.
    pub async fn create_sources(
        &self,
        sources: Vec<SourceRecord>,
        worker: Option<String>,
    ) -> Result<Vec<CommonWorkerResponse>, SchedError> {
        if worker.is_some() && sources.len() != 1 {
            return Err(SchedError::InvalidArgument("--worker/-w can bind only one source; give one config".into()));
        }
        let mut ids: Vec<String> = sources.iter().map(|s| s.source_id.clone()).collect();
        ids.sort();
        if let Some(d) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(SchedError::InvalidArgument(format!("source {} is given twice", d[0])));
        }
        let reservation;
        {
            let _g = self.decision_lock().await;
            if let Some(w) = &worker {
                let (known, free, stage) =
                    self.with_inputs(|i| (i.view.workers.contains_key(w), i.free_for_work(w), i.stage(w)));
                if !known {
                    return Err(SchedError::WorkerNotFound(w.clone()));
                }
                if !free {
                    return Err(SchedError::WorkerNotFree { worker: w.clone(), stage: stage_text(stage) });
                }
            }
            let mut added = Vec::new();
            for s in &sources {
                if let Err(e) = self.propose(Command::CreateSource { source: s.clone() }).await {
                    for id in added {
                        let _ = self.propose(Command::RemoveSource { source_id: id }).await;
                    }
                    return Err(e.into());
                }
                added.push(s.source_id.clone());
            }
            reservation = worker.as_ref().map(|w| self.reserve(&sources[0].source_id, w));
        }
        self.wake();
        let within = self.cfg.tick + BIND_WAIT;
        self.wait_view(within, |v| ids.iter().all(|id| v.bounds.contains_key(id))).await;
        if let Some(token) = reservation {
            self.unreserve(&sources[0].source_id, token);
        }
        Ok(self.confirm_sources(ids, true).await)
    }

    /// Asks each source's worker whether it holds (`held`) or released it.
    async fn confirm_sources(&self, ids: Vec<String>, held: bool) -> Vec<CommonWorkerResponse> {
        let probes =
            ids.into_iter().map(|id| Probe { worker: self.view.get().bound_worker(&id), source: id }).collect();
        let no_worker = |s: &str| confirm::entry(true, NO_FREE_WORKER.to_string(), s, "");
        let report = |w: &str| self.reported_status(w);
        confirm::confirm(probes, self.cfg.confirm, &self.cancel, report, no_worker, |source, st| {
            let holds = st.source_status.as_ref().is_some_and(|s| s.source == source);
            match (holds, held) {
                (true, true) | (false, false) => Verdict::Reached,
                (_, true) => Verdict::Pending("the worker does not hold the source yet".into()),
                (_, false) => Verdict::Pending("the worker still holds the source".into()),
            }
        })
        .await
    }

    /// operate-source stop: refuses a source a task uses; each source is removed on its own.
    pub async fn stop_sources(&self, ids: Vec<String>) -> Result<Vec<CommonWorkerResponse>, SchedError> {
        if ids.is_empty() {
            return Err(SchedError::InvalidArgument("operate-source stop needs source ids".into()));
        }
        let mut out = Vec::new();
        let mut released = Vec::new();
        let _g = self.decision_lock().await;
        // Check every id first, so a bad one removes nothing.
        let mut plan = Vec::new();
        for id in ids {
            let v = self.view.get();
            if !v.sources.contains_key(&id) {
                return Err(SchedError::SourceNotFound(id));
            }
            let tasks: Vec<String> = v.source_subtasks(&id).map(|s| s.task.clone()).collect();
            if !tasks.is_empty() {
                return Err(dm_storage::Rejected::SourceHasTasks { source_id: id, tasks }.into());
            }
            let worker = v.bound_worker(&id);
            plan.push((id, worker));
        }
        for (id, worker) in plan {
            self.propose(Command::RemoveSource { source_id: id.clone() }).await?;
            match worker {
                Some(w) => released.push(Probe { source: id, worker: Some(w) }),
                None => out.push(confirm::entry(
                    true,
                    "source is stopped and hasn't bound to worker before being stopped".into(),
                    &id,
                    "",
                )),
            }
        }
        drop(_g);
        let no_worker = |s: &str| confirm::entry(true, String::new(), s, "");
        let report = |w: &str| self.reported_status(w);
        out.extend(
            confirm::confirm(released, self.cfg.confirm, &self.cancel, report, no_worker, |source, st| {
                if st.source_status.as_ref().is_some_and(|s| s.source == source) {
                    Verdict::Pending("the worker still holds the source".into())
                } else {
                    Verdict::Reached
                }
            })
            .await,
        );
        Ok(out)
    }

    /// operate-source show: each source (all when `ids` is empty) with its worker.
    pub async fn show_sources(&self, ids: Vec<String>) -> Result<Vec<CommonWorkerResponse>, SchedError> {
        self.ctx().linearizable().await?;
        let v = self.view.get();
        let ids: Vec<String> = if ids.is_empty() { v.sources.keys().cloned().collect() } else { ids };
        let mut out = Vec::new();
        for id in ids {
            if !v.sources.contains_key(&id) {
                return Err(SchedError::SourceNotFound(id));
            }
            out.push(match v.bounds.get(&id) {
                Some(b) => confirm::entry(true, String::new(), &id, &b.worker),
                None => confirm::entry(true, NO_FREE_WORKER.to_string(), &id, ""),
            });
        }
        Ok(out)
    }

    /// transfer-source: unbinds the source from its worker (which stops work on it) and gives it
    /// to `worker` once the old worker has released it (see `policy`). The target must be free.
    pub async fn transfer_source(&self, source: &str, worker: &str) -> Result<(), SchedError> {
        let old = {
            let _g = self.decision_lock().await;
            let (exists, known, free, stage, bound, old_ttl, busy) = self.with_inputs(|i| {
                let b = i.view.bounds.get(source).cloned();
                let ttl = b.as_ref().and_then(|b| i.view.workers.get(&b.worker)).map(|w| w.keepalive_ttl_ms);
                let free = i.may_take(worker, Some(source));
                let busy = i.reserved.contains_key(source);
                (
                    i.view.sources.contains_key(source),
                    i.view.workers.contains_key(worker),
                    free,
                    i.stage(worker),
                    b,
                    ttl,
                    busy,
                )
            });
            if !exists {
                return Err(SchedError::SourceNotFound(source.to_string()));
            }
            if !known {
                return Err(SchedError::WorkerNotFound(worker.to_string()));
            }
            if bound.as_ref().is_some_and(|b| b.worker == worker) {
                return Ok(());
            }
            if !free {
                return Err(SchedError::WorkerNotFree { worker: worker.to_string(), stage: stage_text(stage) });
            }
            if busy {
                return Err(SchedError::InvalidArgument(format!(
                    "source {source} is being moved by another operation; retry when it finishes"
                )));
            }
            let token = self.reserve(source, worker);
            if let Some(b) = &bound {
                let cmd = Command::UnbindSource { source_id: source.to_string(), epoch: b.epoch };
                if let Err(e) = self.propose(cmd).await {
                    self.unreserve(source, token);
                    return Err(e.into());
                }
            }
            (token, old_ttl.map(Duration::from_millis).unwrap_or(super::policy::DEFAULT_KEEPALIVE_TTL))
        };
        let (token, old) = old;
        self.wake();
        // The old worker releases within a heartbeat when alive, or is fenced after its TTL.
        let within = old + BIND_WAIT;
        let moved = self.wait_view(within, |v| v.bounds.get(source).is_some_and(|b| b.worker == worker)).await;
        self.unreserve(source, token);
        if moved {
            Ok(())
        } else {
            Err(SchedError::Timeout {
                what: format!("binding source {source} to dm-worker {worker}"),
                secs: within.as_secs(),
                hint: "the source is unbound and goes to a free worker; check `operate-source show`",
            })
        }
    }

    /// offline-member --worker: only a worker that is offline (not heard from, holding nothing).
    pub async fn offline_worker(&self, name: &str) -> Result<(), SchedError> {
        let _g = self.decision_lock().await;
        let (known, stage, addr) = self.with_inputs(|i| {
            let w = i.view.workers.get(name);
            (w.is_some(), i.stage(name), w.map(|w| w.addr.clone()).unwrap_or_default())
        });
        if !known {
            return Err(SchedError::WorkerNotFound(name.to_string()));
        }
        if stage != WorkerStage::Offline {
            return Err(SchedError::WorkerOnline(name.to_string()));
        }
        match self.propose(Command::RemoveWorker { name: name.to_string() }).await {
            Ok(_) => {}
            Err(NodeError::Rejected(dm_storage::Rejected::WorkerBound { .. })) => {
                return Err(SchedError::WorkerOnline(name.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
        self.agents.drop_client(&addr);
        Ok(())
    }

    /// list-member --worker: every worker (or the named ones) with stage and source.
    pub fn list_workers(&self, names: &[String]) -> Vec<WorkerInfo> {
        self.with_inputs(|i| {
            i.view
                .workers
                .values()
                .filter(|w| names.is_empty() || names.contains(&w.name))
                .map(|w| WorkerInfo {
                    name: w.name.clone(),
                    addr: w.addr.clone(),
                    stage: i.stage(&w.name).to_string(),
                    source: i.view.worker_source.get(&w.name).cloned().unwrap_or_default(),
                })
                .collect()
        })
    }
}
