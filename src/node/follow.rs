//! Keeping an in-memory projection of some key spaces in step with the replicated state, for the
//! leader components.
//!
//! 1. Build: read the key spaces at revision R and subscribe to changes after R, atomically.
//! 2. Follow: apply each change batch in revision order; publish the revision reached.
//! 3. Resync: when the feed says the subscriber fell behind (or a snapshot replaced the state),
//!    rebuild from the current state and continue — no change is missed or applied twice.
//! 4. Stop when the leader's cancellation token fires.
//!
//! A batch the projection cannot use (a logic error in stored data) is logged and skipped: it must
//! never stop the leader; the operator repairs the data.

use std::sync::{Arc, Mutex, MutexGuard};

use dm_storage::feed::{ChangeBatch, FeedError};
use dm_storage::state::View;
use dm_storage::{StateReader, StoreError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// An in-memory view derived from key spaces.
pub trait Projection: Send + 'static {
    /// Replaces the whole content from a consistent view.
    fn rebuild(&mut self, view: &View<'_>) -> Result<(), StoreError>;
    /// Applies one change batch.
    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), StoreError>;
}

/// A running projection: its state and the revision it reflects.
pub struct Projected<P> {
    state: Arc<Mutex<P>>,
    revision: watch::Receiver<u64>,
}

impl<P: Projection> Projected<P> {
    /// Step 1, then spawns steps 2–4. Fails only if the initial read fails.
    pub fn start(reader: &StateReader, mut projection: P, cancel: CancellationToken) -> Result<Self, StoreError> {
        let (built, mut sub) = reader.read_and_subscribe(|v| projection.rebuild(v).map(|_| v.revision()));
        let revision = built?;
        let state = Arc::new(Mutex::new(projection));
        let (tx, rx) = watch::channel(revision);
        let task_state = state.clone();
        let reader = reader.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    _ = cancel.cancelled() => return,
                    n = sub.next() => n,
                };
                match next {
                    Ok(batch) => {
                        if let Err(e) = lock(&task_state).apply(&batch) {
                            tracing::error!(revision = batch.revision, error = %e, "leader view skipped a change it cannot read");
                        }
                        let _ = tx.send(batch.revision);
                    }
                    Err(FeedError::Resync { .. }) => {
                        let (res, new_sub) =
                            reader.read_and_subscribe(|v| lock(&task_state).rebuild(v).map(|_| v.revision()));
                        sub = new_sub;
                        match res {
                            Ok(rev) => {
                                let _ = tx.send(rev);
                            }
                            Err(e) => tracing::error!(error = %e, "leader view could not re-read the state"),
                        }
                    }
                    Err(FeedError::Closed) => return,
                }
            }
        });
        Ok(Self { state, revision: rx })
    }

    /// Locks the projection for reading.
    pub fn get(&self) -> MutexGuard<'_, P> {
        lock(&self.state)
    }

    /// Waits until the projection reflects `revision` (e.g. a command this leader just proposed).
    /// Only revisions that changed something are published: waiting for the revision of an entry
    /// that changed nothing lasts until the next change.
    pub async fn wait_for(&self, revision: u64) {
        let mut rx = self.revision.clone();
        let _ = rx.wait_for(|r| *r >= revision).await;
    }
}

fn lock<P>(m: &Mutex<P>) -> MutexGuard<'_, P> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
