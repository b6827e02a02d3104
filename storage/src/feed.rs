//! The change feed: after each applied entry, `(revision, changes)` is published to subscribers.
//!
//! 1. Apply publishes a [`ChangeBatch`] per entry that changed something, under the state lock, so
//!    a subscriber created under the same lock misses nothing and sees nothing twice.
//! 2. A short history (the last `history` batches, at most 8 MiB) lets a subscriber resume from a
//!    recent revision.
//! 3. A subscriber that falls behind the broadcast buffer, asks for a revision older than the
//!    history, or sees a snapshot replace the state gets [`FeedError::Resync`]: it re-reads the key
//!    spaces it needs at the current revision and subscribes again — the recovery an etcd watcher
//!    does after compaction.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::error::StoreError;
use crate::keyspace::{KeySpace, Record, decode_key, decode_record};
use crate::spaces::SpaceId;

/// One key written or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub space: SpaceId,
    /// Encoded key.
    pub key: Vec<u8>,
    /// Encoded record after the change; `None` = deleted.
    pub value: Option<Vec<u8>>,
}

impl Change {
    /// The typed key and record if this change is in key space `S`.
    #[allow(clippy::type_complexity)]
    pub fn decode<S: KeySpace>(&self) -> Option<Result<(S::Key, Option<Record<S::Value>>), StoreError>> {
        if self.space != S::ID {
            return None;
        }
        Some((|| {
            let key = decode_key::<S>(&self.key)?;
            let value = self.value.as_deref().map(decode_record::<S>).transpose()?;
            Ok((key, value))
        })())
    }
}

impl Change {
    /// Only the typed key, if this change is in key space `S` (cheaper than [`Change::decode`]
    /// when the record is not needed).
    pub fn key<S: KeySpace>(&self) -> Option<Result<S::Key, StoreError>> {
        (self.space == S::ID).then(|| decode_key::<S>(&self.key))
    }
}

/// Every change made by one log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeBatch {
    pub revision: u64,
    pub changes: Vec<Change>,
}

impl ChangeBatch {
    /// Approximate memory held by the batch.
    pub fn bytes(&self) -> usize {
        self.changes.iter().map(|c| 48 + c.key.len() + c.value.as_ref().map_or(0, Vec::len)).sum::<usize>() + 32
    }
}

/// The history never holds more than this many bytes of changes, whatever its batch count.
const HISTORY_BYTES: usize = 8 << 20;

/// What the broadcast carries.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    Batch(Arc<ChangeBatch>),
    /// A snapshot replaced the whole state at this revision.
    Reset {
        revision: u64,
    },
}

/// Why a subscription cannot deliver the next batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// Re-read the state and subscribe again.
    #[error("change feed subscriber must re-read the state (now at revision {revision})")]
    Resync { revision: u64 },
    /// The state machine is gone (node shutting down).
    #[error("change feed closed")]
    Closed,
}

/// Feed bookkeeping, guarded by the state lock together with the data it describes.
pub(crate) struct FeedState {
    /// Revision = applied log index.
    pub revision: u64,
    history: VecDeque<Arc<ChangeBatch>>,
    history_cap: usize,
    /// Approximate bytes held by `history`, kept under `HISTORY_BYTES`.
    history_bytes: usize,
    /// Every batch with revision > `floor` is in `history`.
    floor: u64,
    tx: broadcast::Sender<FeedEvent>,
}

impl FeedState {
    pub fn new(revision: u64, buffer: usize, history_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(buffer.max(1));
        Self { revision, history: VecDeque::new(), history_cap, history_bytes: 0, floor: revision, tx }
    }

    /// Records an applied entry; publishes its batch if it changed anything.
    pub fn publish(&mut self, revision: u64, changes: Vec<Change>) {
        self.revision = revision;
        if changes.is_empty() {
            return;
        }
        let batch = Arc::new(ChangeBatch { revision, changes });
        if self.history_cap > 0 {
            self.history_bytes += batch.bytes();
            self.history.push_back(batch.clone());
            while self.history.len() > self.history_cap || self.history_bytes > HISTORY_BYTES {
                let Some(old) = self.history.pop_front() else { break };
                self.history_bytes -= old.bytes();
                self.floor = old.revision;
            }
        } else {
            self.floor = revision;
        }
        let _ = self.tx.send(FeedEvent::Batch(batch));
    }

    /// Records a snapshot install: history is void, subscribers resync.
    pub fn reset(&mut self, revision: u64) {
        self.revision = revision;
        self.history.clear();
        self.history_bytes = 0;
        self.floor = revision;
        let _ = self.tx.send(FeedEvent::Reset { revision });
    }

    /// A subscription that starts after the current revision.
    pub fn subscribe(&self) -> Subscription {
        Subscription { backlog: VecDeque::new(), rx: self.tx.subscribe(), revision: self.revision }
    }

    /// The batches after `from` (exclusive) up to now, if the history still holds them all.
    pub fn history_after(&self, from: u64) -> Result<Vec<Arc<ChangeBatch>>, FeedError> {
        if from > self.revision || from < self.floor {
            return Err(FeedError::Resync { revision: self.revision });
        }
        Ok(self.history.iter().filter(|b| b.revision > from).cloned().collect())
    }

    /// A subscription that first replays the history after `from` (exclusive).
    pub fn subscribe_from(&self, from: u64) -> Result<Subscription, FeedError> {
        if from > self.revision || from < self.floor {
            return Err(FeedError::Resync { revision: self.revision });
        }
        let backlog = self.history.iter().filter(|b| b.revision > from).cloned().collect();
        Ok(Subscription { backlog, rx: self.tx.subscribe(), revision: from })
    }
}

/// A live subscription to the change feed.
pub struct Subscription {
    backlog: VecDeque<Arc<ChangeBatch>>,
    rx: broadcast::Receiver<FeedEvent>,
    /// Revision of the last batch delivered (or the start revision).
    revision: u64,
}

impl Subscription {
    /// The revision the subscriber has seen everything up to.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The next batch in revision order.
    pub async fn next(&mut self) -> Result<Arc<ChangeBatch>, FeedError> {
        loop {
            let batch = match self.backlog.pop_front() {
                Some(b) => b,
                None => match self.rx.recv().await {
                    Ok(FeedEvent::Batch(b)) => b,
                    Ok(FeedEvent::Reset { revision }) => return Err(FeedError::Resync { revision }),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return Err(FeedError::Resync { revision: self.revision });
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err(FeedError::Closed),
                },
            };
            // The broadcast may repeat what the backlog already delivered.
            if batch.revision > self.revision {
                self.revision = batch.revision;
                return Ok(batch);
            }
        }
    }
}
