//! The Raft log on sled: entries in `raft_log` (big-endian index → entry), vote / committed /
//! last-purged in `raft_meta`.
//!
//! Durability: `append` writes the entries and queues its completion callback on one flusher task;
//! the flusher drains every queued callback, runs one fsync and then completes them
//! all, so concurrent appends share one fsync and nothing is acknowledged before it is on disk.
//! Vote and truncation are flushed before returning.

// openraft's trait fixes the error type (`StorageError`, large); helpers return it as is.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, OnceLock};

use openraft::storage::{RaftLogReader, RaftLogStorage};
use openraft::{OptionalSend, RaftLogId};
use tokio::sync::mpsc;

use crate::keyspace::{decode, encode};
use crate::typ::{Entry, LogFlushed, LogId, LogState, StorageError, StorageIOError, TypeConfig, Vote};

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_PURGED: &[u8] = b"last_purged";

/// The log store; clones share the same trees (the clone is the log reader).
#[derive(Clone)]
pub struct LogStore {
    /// Counts open handles on the data dir (see `Store::liveness`).
    _alive: Arc<()>,
    db: sled::Db,
    logs: sled::Tree,
    meta: sled::Tree,
    /// Group-commit queue, started on the first append (needs a runtime).
    flusher: Arc<OnceLock<mpsc::UnboundedSender<LogFlushed>>>,
}

impl LogStore {
    pub(crate) fn open(db: sled::Db, alive: Arc<()>) -> Result<Self, sled::Error> {
        let logs = db.open_tree("raft_log")?;
        let meta = db.open_tree("raft_meta")?;
        Ok(Self { _alive: alive, db, logs, meta, flusher: Arc::new(OnceLock::new()) })
    }

    fn flusher(&self) -> &mpsc::UnboundedSender<LogFlushed> {
        self.flusher.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_flusher(self.db.clone(), self._alive.clone(), rx));
            tx
        })
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, StorageError> {
        let raw = self.meta.get(key).map_err(|e| StorageIOError::read(&e))?;
        raw.map(|v| decode(&v, what)).transpose().map_err(|e| StorageIOError::read(&e).into())
    }

    fn last_purged(&self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(KEY_PURGED, "last purged log id")?.flatten())
    }
}

/// Completes queued append callbacks after one shared fsync each round.
async fn run_flusher(db: sled::Db, _alive: Arc<()>, mut rx: mpsc::UnboundedReceiver<LogFlushed>) {
    let mut pending = Vec::new();
    while let Some(first) = rx.recv().await {
        pending.push(first);
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        let res = crate::store::flush(&db).await;
        for cb in pending.drain(..) {
            let r = res.as_ref().map(|_| ()).map_err(|e| io::Error::other(e.to_string()));
            cb.log_io_completed(r);
        }
    }
}

fn to_bound(b: Bound<&u64>) -> Bound<[u8; 8]> {
    match b {
        Bound::Included(i) => Bound::Included(i.to_be_bytes()),
        Bound::Excluded(i) => Bound::Excluded(i.to_be_bytes()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn decode_entry(v: &[u8]) -> Result<Entry, StorageError> {
    decode(v, "raft log entry").map_err(|e| StorageIOError::read_logs(&e).into())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let range = (to_bound(range.start_bound()), to_bound(range.end_bound()));
        let mut out = Vec::new();
        for kv in self.logs.range::<[u8; 8], _>(range) {
            let (_, v) = kv.map_err(|e| StorageIOError::read_logs(&e))?;
            out.push(decode_entry(&v)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState, StorageError> {
        let last_purged_log_id = self.last_purged()?;
        let last = self.logs.last().map_err(|e| StorageIOError::read_logs(&e))?;
        // A crash between recording the purge point and deleting the entries can leave entries
        // below it; the last log id is never below the purge point.
        let last_log_id = match last {
            Some((_, v)) => Some(*decode_entry(&v)?.get_log_id()).max(last_purged_log_id),
            None => last_purged_log_id,
        };
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.meta.insert(KEY_VOTE, encode(vote)).map_err(|e| StorageIOError::write_vote(&e))?;
        crate::store::flush(&self.db).await.map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_meta(KEY_VOTE, "vote")
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Not flushed: a lost committed index is recomputed from the leader.
        self.meta.insert(KEY_COMMITTED, encode(&committed)).map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<Option<LogId>>(KEY_COMMITTED, "committed log id")?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            batch.insert(&entry.log_id.index.to_be_bytes(), encode(&entry));
        }
        self.logs.apply_batch(batch).map_err(|e| StorageIOError::write_logs(&e))?;
        if self.flusher().send(callback).is_err() {
            return Err(StorageIOError::write_logs(&io::Error::other("log flusher stopped")).into());
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for k in self.logs.range(log_id.index.to_be_bytes()..).keys() {
            batch.remove(k.map_err(|e| StorageIOError::write_logs(&e))?);
        }
        self.logs.apply_batch(batch).map_err(|e| StorageIOError::write_logs(&e))?;
        crate::store::flush(&self.db).await.map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: a crash in between leaves extra entries, never a gap.
        self.meta.insert(KEY_PURGED, encode(&Some(log_id))).map_err(|e| StorageIOError::write(&e))?;
        crate::store::flush(&self.db).await.map_err(|e| StorageIOError::write(&e))?;
        let mut batch = sled::Batch::default();
        for k in self.logs.range(..=log_id.index.to_be_bytes()).keys() {
            batch.remove(k.map_err(|e| StorageIOError::write_logs(&e))?);
        }
        self.logs.apply_batch(batch).map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}
