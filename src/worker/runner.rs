//! One subtask's runner: a task that moves the actual stage towards the expected stage and runs
//! the subtask's units in order while Running.
//!
//! 1. Expected Running: start (or resume) the current unit; when it is done start the next; when
//!    all are done the subtask is Finished (final). A failed unit pauses the subtask with its
//!    error (DM's auto-pause); expected Running again resumes it.
//! 2. Expected Paused / Stopped: stop the current unit (it keeps its checkpoint) and take that stage.
//! 3. `stop()` (the worker releases the source or the subtask is removed): stop the unit, end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use dm_storage::scheduling::ExpectedStage;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::stage::SubtaskStage;
use super::unit::{Unit, UnitOutcome};
use crate::pb::worker::SubTaskStatus;

/// What the runner shows in QueryStatus.
#[derive(Debug, Clone)]
struct Status {
    stage: SubtaskStage,
    unit: &'static str,
    msg: String,
    error_code: i32,
}

/// A read-only handle on a runner's status, for heartbeats (no await needed).
#[derive(Clone)]
pub struct RunnerView {
    task: String,
    expected: watch::Receiver<ExpectedStage>,
    status: Arc<Mutex<Status>>,
}

impl RunnerView {
    pub fn status(&self) -> SubTaskStatus {
        let s = lock(&self.status).clone();
        SubTaskStatus {
            name: self.task.clone(),
            stage: s.stage.as_str().to_string(),
            unit: s.unit.to_string(),
            expected_stage: self.expected.borrow().as_str().to_string(),
            msg: s.msg,
            error_code: s.error_code,
            revision: 0,
        }
    }
}

pub struct Runner {
    task: String,
    /// The stored config it was started with (a changed config restarts the runner).
    pub config: String,
    expected: watch::Sender<ExpectedStage>,
    status: Arc<Mutex<Status>>,
    cancel: CancellationToken,
    join: JoinHandle<()>,
}

/// A unit's task; aborted if the run loop is dropped (a runner aborted on a deadline), so no
/// unit outlives its runner.
struct UnitTask(JoinHandle<(Box<dyn Unit>, UnitOutcome)>);

impl Drop for UnitTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Running = (UnitTask, CancellationToken);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Runner {
    /// Starts a runner; `units` empty means none is available (`missing` says why).
    pub fn spawn(
        task: &str,
        config: String,
        expected: ExpectedStage,
        units: Vec<Box<dyn Unit>>,
        missing: String,
    ) -> Runner {
        let (tx, rx) = watch::channel(expected);
        let status =
            Arc::new(Mutex::new(Status { stage: SubtaskStage::New, unit: "", msg: String::new(), error_code: 0 }));
        let cancel = CancellationToken::new();
        let join = tokio::spawn(run(rx, status.clone(), units.into(), missing, cancel.clone()));
        Runner { task: task.to_string(), config, expected: tx, status, cancel, join }
    }

    /// A runner that cannot start (its config is unusable): Paused with the error, no loop.
    pub fn failed(task: &str, config: String, expected: ExpectedStage, code: i32, msg: String) -> Runner {
        let (tx, _) = watch::channel(expected);
        let status = Arc::new(Mutex::new(Status { stage: SubtaskStage::Paused, unit: "", msg, error_code: code }));
        let join = tokio::spawn(async {});
        Runner { task: task.to_string(), config, expected: tx, status, cancel: CancellationToken::new(), join }
    }

    /// A handle that aborts the runner's task even after `stop` took the runner.
    pub fn aborter(&self) -> tokio::task::AbortHandle {
        self.join.abort_handle()
    }

    /// Sets the expected stage. `rewritten`: the master wrote it again (resume-task after an
    /// auto-pause keeps "Running" but must resume), so the runner looks even if unchanged.
    pub fn set_expected(&self, stage: ExpectedStage, rewritten: bool) {
        if rewritten {
            self.expected.send_replace(stage);
        } else {
            self.expected.send_if_modified(|s| std::mem::replace(s, stage) != stage);
        }
    }

    /// Ends the runner and its unit at once (a crash).
    pub fn abort(self) {
        self.cancel.cancel();
        self.join.abort();
    }

    /// Step 3: returns once the unit has stopped.
    pub async fn stop(self) {
        self.cancel.cancel();
        let _ = self.join.await;
    }

    pub fn view(&self) -> RunnerView {
        RunnerView { task: self.task.clone(), expected: self.expected.subscribe(), status: self.status.clone() }
    }

    pub fn status(&self) -> SubTaskStatus {
        self.view().status()
    }
}

fn set_stage(status: &Mutex<Status>, to: SubtaskStage) {
    let mut s = lock(status);
    if s.stage == to {
        return;
    }
    if !s.stage.can_become(to) {
        tracing::error!(from = %s.stage, %to, "subtask stage change outside the table; ignored");
        return;
    }
    s.stage = to;
    if to != SubtaskStage::Paused {
        s.error_code = 0;
    }
}

async fn halt(active: &mut Option<Running>, units: &mut VecDeque<Box<dyn Unit>>) {
    if let Some((mut task, stop)) = active.take() {
        stop.cancel();
        if let Ok((unit, _)) = (&mut task.0).await {
            units.push_front(unit);
        }
    }
}

async fn run(
    mut expected: watch::Receiver<ExpectedStage>,
    status: Arc<Mutex<Status>>,
    mut units: VecDeque<Box<dyn Unit>>,
    missing: String,
    cancel: CancellationToken,
) {
    let had_units = !units.is_empty();
    let mut active: Option<Running> = None;
    loop {
        let want = *expected.borrow_and_update();
        let stage = lock(&status).stage;
        match want {
            _ if stage == SubtaskStage::Finished => {}
            ExpectedStage::Running => set_stage(&status, SubtaskStage::Running),
            ExpectedStage::Paused if stage != SubtaskStage::Stopped => {
                halt(&mut active, &mut units).await;
                set_stage(&status, SubtaskStage::Paused);
            }
            ExpectedStage::Paused => {}
            ExpectedStage::Stopped => {
                halt(&mut active, &mut units).await;
                set_stage(&status, SubtaskStage::Stopped);
            }
        }
        if lock(&status).stage == SubtaskStage::Running && active.is_none() {
            match units.pop_front() {
                Some(mut unit) => {
                    let stop = CancellationToken::new();
                    let token = stop.clone();
                    {
                        let mut s = lock(&status);
                        s.unit = unit.kind().as_str();
                        s.msg.clear();
                    }
                    let task = UnitTask(tokio::spawn(async move {
                        let out = unit.run(token).await;
                        (unit, out)
                    }));
                    active = Some((task, stop));
                }
                None if had_units => set_stage(&status, SubtaskStage::Finished),
                None => {
                    let mut s = lock(&status);
                    s.unit = "";
                    s.msg = missing.clone();
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = expected.changed() => if changed.is_err() { break },
            done = async { (&mut active.as_mut().expect("guarded").0.0).await }, if active.is_some() => {
                active = None;
                match done {
                    Ok((_, UnitOutcome::Done)) => {}
                    Ok((unit, UnitOutcome::Stopped)) => units.push_front(unit),
                    Ok((unit, UnitOutcome::Failed(e))) => {
                        units.push_front(unit);
                        set_stage(&status, SubtaskStage::Paused);
                        let mut s = lock(&status);
                        s.msg = e.to_string();
                        s.error_code = e.code.as_i32();
                    }
                    Err(e) => {
                        set_stage(&status, SubtaskStage::Paused);
                        lock(&status).msg = format!("the unit crashed: {e}");
                    }
                }
                // Paused by a failure: wait for a new expected stage before resuming.
                if lock(&status).stage == SubtaskStage::Paused {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        changed = expected.changed() => if changed.is_err() { break },
                    }
                }
            }
        }
    }
    halt(&mut active, &mut units).await;
    let s = lock(&status).stage;
    if s != SubtaskStage::Finished && s != SubtaskStage::Stopped {
        set_stage(&status, SubtaskStage::Stopped);
    }
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
