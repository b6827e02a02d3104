//! Declarative confirmation, as DM's `waitOperationOk`: after a write, wait (bounded) until each
//! affected worker reports what the write asked for, and say per source whether it got there.
//!
//! DM polls every worker's QueryStatus (10 × 1 s, through the rate-limited AgentPool). Here the
//! workers' heartbeats already carry their subtask stages and the source they work on, so
//! confirming reads the leader's liveness table: no extra RPC per source, which keeps a start-task
//! over a thousand sources from queueing behind the rate limit. A report only answers for a write
//! once its subtask revision has reached that write.

use std::time::Duration;

use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::error::{ErrorCode, UserError};
use crate::pb::master::CommonWorkerResponse;
use crate::pb::worker::QueryStatusResponse;

/// How long to wait for the workers (DM: 10 polls 1 s apart) and how often to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmSpec {
    pub within: Duration,
    pub poll: Duration,
}

impl Default for ConfirmSpec {
    fn default() -> Self {
        Self { within: Duration::from_secs(10), poll: Duration::from_millis(100) }
    }
}

/// One source to confirm, on the worker that should act on it.
#[derive(Debug, Clone)]
pub struct Probe {
    pub source: String,
    /// (name, address) of the worker; None = no worker holds the source.
    pub worker: Option<(String, String)>,
}

/// What a worker's status says about the expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Reached,
    /// Not yet; the text says what was seen.
    Pending(String),
    /// It will not get there (an error in the status); stop waiting.
    Failed(String),
}

/// Waits for every probe concurrently. `report` is the worker's latest reported status (or why
/// there is none); `no_worker` answers for a probe without a worker. Stops early when `term_over`
/// fires: heartbeats go to the next leader, so this one can no longer confirm anything.
pub async fn confirm(
    probes: Vec<Probe>,
    spec: ConfirmSpec,
    term_over: &CancellationToken,
    report: impl Fn(&str) -> Result<QueryStatusResponse, String>,
    no_worker: impl Fn(&str) -> CommonWorkerResponse,
    check: impl Fn(&str, &QueryStatusResponse) -> Verdict,
) -> Vec<CommonWorkerResponse> {
    let (report, check, no_worker) = (&report, &check, &no_worker);
    let runs = probes.into_iter().map(|p| async move {
        let Some((name, _)) = p.worker else {
            return no_worker(&p.source);
        };
        let end = tokio::time::Instant::now() + spec.within;
        let mut last;
        loop {
            match report(&name) {
                Ok(status) => match check(&p.source, &status) {
                    Verdict::Reached => return entry(true, String::new(), &p.source, &name),
                    Verdict::Failed(msg) => return entry(false, msg, &p.source, &name),
                    Verdict::Pending(seen) => last = seen,
                },
                Err(e) => last = e,
            }
            if tokio::time::Instant::now() >= end {
                break;
            }
            tokio::select! {
                _ = term_over.cancelled() => {
                    let msg = "the leader changed before the worker confirmed; the change is stored: check `query-status`";
                    return entry(false, msg.to_string(), &p.source, &name);
                }
                _ = tokio::time::sleep(spec.poll) => {}
            }
        }
        let e = UserError::new(
            ErrorCode::ExpectResultTimeout,
            format!(
                "dm-worker {name} did not report the expected state within {}s ({last}); the change is stored and the worker will still act on it: check `query-status`",
                spec.within.as_secs()
            ),
        );
        entry(false, e.to_string(), &p.source, &name)
    });
    join_all(runs).await
}

pub fn entry(result: bool, msg: String, source: &str, worker: &str) -> CommonWorkerResponse {
    CommonWorkerResponse { result, msg, source: source.to_string(), worker: worker.to_string() }
}
