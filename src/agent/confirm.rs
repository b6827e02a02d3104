//! Declarative confirmation, as DM's `waitOperationOk`: after a write, ask each affected worker
//! (through the pool) up to `attempts` times, `interval` apart, whether it reached what the write
//! asked for, and say per source whether it got there.

use std::time::Duration;

use futures::future::join_all;

use super::AgentPool;
use crate::error::{ErrorCode, UserError};
use crate::pb::master::CommonWorkerResponse;
use crate::pb::worker::QueryStatusResponse;

/// DM polls 10 times, 1 s apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmSpec {
    pub attempts: u32,
    pub interval: Duration,
}

impl Default for ConfirmSpec {
    fn default() -> Self {
        Self { attempts: 10, interval: Duration::from_secs(1) }
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
    /// It will not get there (an error in the status); stop polling.
    Failed(String),
}

/// Polls every probe concurrently. `no_worker` answers for a probe without a worker.
pub async fn confirm(
    pool: &AgentPool,
    probes: Vec<Probe>,
    task: &str,
    spec: ConfirmSpec,
    no_worker: impl Fn(&str) -> CommonWorkerResponse,
    check: impl Fn(&str, &QueryStatusResponse) -> Verdict,
) -> Vec<CommonWorkerResponse> {
    let check = &check;
    let runs = probes.into_iter().map(|p| {
        let no_worker = &no_worker;
        async move {
            let Some((name, addr)) = p.worker else {
                return no_worker(&p.source);
            };
            let mut last = String::from("no answer yet");
            for attempt in 0..spec.attempts.max(1) {
                if attempt > 0 {
                    tokio::time::sleep(spec.interval).await;
                }
                match pool.query_status(&name, &addr, task).await {
                    Ok(status) => match check(&p.source, &status) {
                        Verdict::Reached => return entry(true, String::new(), &p.source, &name),
                        Verdict::Failed(msg) => return entry(false, msg, &p.source, &name),
                        Verdict::Pending(seen) => last = seen,
                    },
                    Err(e) => last = e.to_string(),
                }
            }
            let e = UserError::new(
                ErrorCode::ExpectResultTimeout,
                format!(
                    "dm-worker {name} did not reach the expected state after {} checks ({last}); the change is stored and the worker will still act on it: check `query-status`",
                    spec.attempts
                ),
            );
            entry(false, e.to_string(), &p.source, &name)
        }
    });
    join_all(runs).await
}

pub fn entry(result: bool, msg: String, source: &str, worker: &str) -> CommonWorkerResponse {
    CommonWorkerResponse { result, msg, source: source.to_string(), worker: worker.to_string() }
}
