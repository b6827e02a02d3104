//! Group commit of proposals. openraft 0.9 makes the leader wait for each appended entry to be
//! on disk before it takes the next one, so one entry per request would cap writes at one fsync
//! each. The proposer turns concurrent proposals into one entry:
//!
//! 1. Take the first waiting proposal, then a submission slot (at most `MAX_IN_FLIGHT` entries
//!    are being committed at once); proposals arriving meanwhile queue up.
//! 2. Drain the queue into the entry up to `MAX_BATCH` commands or `BATCH_BYTES` (no unbounded
//!    list in one entry). One proposal goes as itself; several as `Command::Batch`.
//! 3. Submit; when the entry is applied, answer each proposer with its own command's result.
//!    Every command of a batch is applied on its own, so one rejected command fails only its
//!    own proposer; a failed submission (leader lost, timeout) fails them all with that error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dm_storage::{BatchItem, Command, CommandOutput, CommandResult};
use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::ctx::Applied;
use super::error::NodeError;
use super::metrics::NodeMetrics;
use crate::raft::typ::Raft;

const MAX_BATCH: usize = 512;
const BATCH_BYTES: usize = 1 << 20;
const MAX_IN_FLIGHT: usize = 4;

type Reply = oneshot::Sender<Result<Applied, NodeError>>;

/// Handle for submitting proposals; clones share the queue.
#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<(Command, Reply)>,
}

impl Proposer {
    /// Starts the batching task; it ends with `shutdown` or when every handle is gone.
    pub fn start(raft: Raft, metrics: Arc<NodeMetrics>, timeout: Duration, shutdown: CancellationToken) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, metrics, timeout, rx, shutdown));
        Self { tx }
    }

    /// Proposes `cmd` and waits for its result.
    pub async fn propose(&self, cmd: Command) -> Result<Applied, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send((cmd, reply)).map_err(|_| NodeError::Raft("this master is shutting down".into()))?;
        rx.await.unwrap_or_else(|_| Err(NodeError::Raft("this master is shutting down".into())))
    }
}

async fn run(
    raft: Raft,
    metrics: Arc<NodeMetrics>,
    timeout: Duration,
    mut rx: mpsc::UnboundedReceiver<(Command, Reply)>,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        let first = tokio::select! {
            _ = shutdown.cancelled() => return,
            p = rx.recv() => match p { Some(p) => p, None => return },
        };
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut bytes = first.0.approx_size();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < BATCH_BYTES {
            match rx.try_recv() {
                Ok(p) => {
                    bytes += p.0.approx_size();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let (raft, metrics) = (raft.clone(), metrics.clone());
        tokio::spawn(async move {
            submit(&raft, &metrics, timeout, batch).await;
            drop(slot);
        });
    }
}

async fn submit(raft: &Raft, metrics: &NodeMetrics, timeout: Duration, batch: Vec<(Command, Reply)>) {
    let started = Instant::now();
    let (cmds, replies): (Vec<Command>, Vec<Reply>) = batch.into_iter().unzip();
    let single = cmds.len() == 1;
    let entry = if single { cmds.into_iter().next().expect("one command") } else { Command::Batch(cmds) };
    let res = tokio::time::timeout(timeout, raft.client_write(entry)).await;
    let elapsed = started.elapsed().as_secs_f64();
    for _ in 0..replies.len() {
        metrics.observe_proposal(elapsed);
    }
    let result: Result<CommandResult, NodeError> = match res {
        Err(_) => Err(NodeError::Timeout {
            what: "committing the change (it may still apply; check before retrying)",
            secs: timeout.as_secs(),
        }),
        Ok(Ok(resp)) => Ok(resp.data),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
            Err(NodeError::NotLeader { leader: f.leader_id.zip(f.leader_node) })
        }
        Ok(Err(e)) => Err(NodeError::Raft(e.to_string())),
    };
    match result {
        Err(e) => {
            for r in replies {
                let _ = r.send(Err(dup(&e)));
            }
        }
        Ok(r) if single => {
            let applied = r.outcome.map(|output| Applied { revision: r.revision, changed: r.changed, output });
            let _ = replies.into_iter().next().expect("one reply").send(applied.map_err(NodeError::Rejected));
        }
        Ok(r) => {
            let items = match r.outcome {
                Ok(CommandOutput::Batch(items)) if items.len() == replies.len() => items,
                other => {
                    let e = NodeError::Raft(format!("unexpected batch result {other:?}"));
                    for reply in replies {
                        let _ = reply.send(Err(dup(&e)));
                    }
                    return;
                }
            };
            for (reply, BatchItem { changed, outcome }) in replies.into_iter().zip(items) {
                let applied = outcome.map(|output| Applied { revision: r.revision, changed, output });
                let _ = reply.send(applied.map_err(NodeError::Rejected));
            }
        }
    }
}

/// The same submission error for every proposer of the entry.
fn dup(e: &NodeError) -> NodeError {
    match e {
        NodeError::NotLeader { leader } => NodeError::NotLeader { leader: leader.clone() },
        NodeError::Timeout { what, secs } => NodeError::Timeout { what, secs: *secs },
        other => NodeError::Raft(other.to_string()),
    }
}
