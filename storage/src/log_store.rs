//! openraft's log store over [`Wal`]: the segment files under `<data-dir>/raft-log/`.
//!
//! Durability: `append` writes the records and queues its completion callback on one flusher
//! task; the flusher drains every queued callback, runs one fdatasync of the active segment and
//! then completes them all, so concurrent appends share one fsync and nothing is acknowledged
//! before it is on disk. Vote, truncate and purge are durable before they return.
//!
//! Purge first makes the state machine (sled) durable: entries may only disappear from the log
//! once the applied state that covers them survives a crash.

// openraft's trait fixes the error type (`StorageError`, large); helpers return it as is.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use openraft::OptionalSend;
use openraft::storage::{RaftLogReader, RaftLogStorage};
use tokio::sync::mpsc;

use crate::keyspace::{decode, encode};
use crate::typ::{Entry, LogFlushed, LogId, LogState, StorageError, StorageIOError, TypeConfig, Vote};
use crate::wal::{Wal, read_record};

/// The log store; clones share the same log (the clone is the log reader).
#[derive(Clone)]
pub struct LogStore {
    /// Counts open handles on the data dir (see `Store::liveness`).
    _alive: Arc<()>,
    wal: Arc<Mutex<Wal>>,
    /// The state machine's database, flushed before a purge.
    sm_db: sled::Db,
    /// Group-commit queue, started on the first append (needs a runtime).
    flusher: Arc<OnceLock<mpsc::UnboundedSender<LogFlushed>>>,
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(io::Error::other)?
}

impl LogStore {
    pub(crate) fn open(dir: &Path, sm_db: sled::Db, alive: Arc<()>) -> io::Result<Self> {
        let wal = Wal::open(dir)?;
        Ok(Self { _alive: alive, wal: Arc::new(Mutex::new(wal)), sm_db, flusher: Arc::new(OnceLock::new()) })
    }

    fn wal(&self) -> MutexGuard<'_, Wal> {
        self.wal.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn flusher(&self) -> &mpsc::UnboundedSender<LogFlushed> {
        self.flusher.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_flusher(self.wal.clone(), self._alive.clone(), rx));
            tx
        })
    }

    /// Runs `f` on the log on a blocking thread.
    async fn with_wal<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Wal) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let wal = self.wal.clone();
        blocking(move || f(&mut wal.lock().unwrap_or_else(|e| e.into_inner()))).await
    }
}

/// Completes queued append callbacks after one shared fdatasync each round.
async fn run_flusher(wal: Arc<Mutex<Wal>>, _alive: Arc<()>, mut rx: mpsc::UnboundedReceiver<LogFlushed>) {
    let mut pending = Vec::new();
    while let Some(first) = rx.recv().await {
        pending.push(first);
        while let Ok(more) = rx.try_recv() {
            pending.push(more);
        }
        let file = wal.lock().unwrap_or_else(|e| e.into_inner()).active_file();
        let res = match file {
            Some(f) => blocking(move || f.sync_data()).await,
            None => Ok(()),
        };
        for cb in pending.drain(..) {
            cb.log_io_completed(res.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string())));
        }
    }
}

fn decode_entry(v: &[u8]) -> Result<Entry, StorageError> {
    decode(v, "raft log entry").map_err(|e| StorageIOError::read_logs(&e).into())
}

fn start_end<RB: RangeBounds<u64>>(range: &RB) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(i) => i.saturating_add(1),
        Bound::Excluded(i) => *i,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let (start, end) = start_end(&range);
        let locs = self.wal().locate(start, end);
        let mut out = Vec::with_capacity(locs.len());
        for (file, offset, len) in locs {
            let body = read_record(&file, offset, len).map_err(|e| StorageIOError::read_logs(&e))?;
            out.push(decode_entry(&body)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState, StorageError> {
        let wal = self.wal();
        let last_purged_log_id = wal.meta.last_purged;
        // Never below the purge point (a crash may leave a log shorter than a snapshot).
        let last_log_id = wal.last.max(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.with_wal(move |w| w.save_vote(&vote)).await.map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.wal().meta.vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let records: Vec<(LogId, Vec<u8>)> = entries.into_iter().map(|e| (e.log_id, encode(&e))).collect();
        self.wal().append(&records).map_err(|e| StorageIOError::write_logs(&e))?;
        if self.flusher().send(callback).is_err() {
            return Err(StorageIOError::write_logs(&io::Error::other("log flusher stopped")).into());
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.with_wal(move |w| w.truncate(log_id.index)).await.map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        crate::store::flush(&self.sm_db).await.map_err(|e| StorageIOError::write_state_machine(&e))?;
        self.with_wal(move |w| w.purge(log_id)).await.map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}
