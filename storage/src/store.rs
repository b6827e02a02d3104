//! Opening a data dir: the sled database, the storage version header, and the handles built on it
//! (log store, state machine, state reader, local metadata).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use crate::error::{OpenError, StoreError};
use crate::local::LocalMeta;
use crate::log_store::LogStore;
use crate::snapshot::SnapshotFile;
use crate::state::{Shared, StateReader};
use crate::state_machine::StateMachine;

/// fsyncs everything written to `db` so far, on tokio's blocking pool. (sled's own
/// `flush_async` wakes every idle thread of its pool on each call, which costs more CPU than the
/// fsync itself at high write rates.)
pub(crate) async fn flush(db: &sled::Db) -> Result<usize, sled::Error> {
    let db = db.clone();
    match tokio::task::spawn_blocking(move || db.flush()).await {
        Ok(res) => res,
        Err(e) => Err(sled::Error::ReportableBug(format!("flush task failed: {e}"))),
    }
}

/// On-disk format version this binary writes and reads. A data dir with a larger one is refused.
pub const STORAGE_VERSION: u32 = 1;

/// Tunables of the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled page cache size (a soft cap; sled's default of 1 GiB is far more than dm needs).
    pub cache_capacity_bytes: u64,
    /// Change-feed broadcast buffer; a subscriber further behind resyncs.
    pub feed_buffer: usize,
    /// Change batches kept for subscribers that resume from a recent revision.
    pub feed_history: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self { cache_capacity_bytes: 64 << 20, feed_buffer: 4096, feed_history: 4096 }
    }
}

/// An open data dir.
pub struct Store {
    pub log: LogStore,
    pub state_machine: StateMachine,
    pub reader: StateReader,
    pub local: LocalMeta,
    pub dir: PathBuf,
    alive: Weak<()>,
}

impl Store {
    /// Opens (creating if needed) the data dir. Refuses a dir held by another process, one written
    /// by a newer storage version, and a database that is not dm's.
    pub fn open(dir: &Path, opts: &StoreOptions) -> Result<Store, OpenError> {
        let io = |source| OpenError::Io { dir: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let db_path = dir.join("db");
        let fresh = !db_path.exists();
        let db =
            sled::Config::new().path(&db_path).cache_capacity(opts.cache_capacity_bytes).open().map_err(
                |e| match e {
                    sled::Error::Io(ref ioe) if ioe.to_string().contains("could not acquire lock") => {
                        OpenError::Locked { dir: dir.to_path_buf() }
                    }
                    other => OpenError::Store { dir: dir.to_path_buf(), source: other.into() },
                },
            )?;
        let store_err = |source: StoreError| OpenError::Store { dir: dir.to_path_buf(), source };
        let alive = Arc::new(());
        let local_tree = db.open_tree("local").map_err(|e| store_err(e.into()))?;
        let local = LocalMeta::new(db.clone(), local_tree, alive.clone());
        match local.storage_version().map_err(store_err)? {
            Some(v) if v > STORAGE_VERSION => {
                return Err(OpenError::NewerVersion { dir: dir.to_path_buf(), found: v, supported: STORAGE_VERSION });
            }
            Some(_) => {}
            None if fresh || db.tree_names().len() <= 2 => {
                local.set_storage_version(STORAGE_VERSION).map_err(store_err)?;
            }
            None => return Err(OpenError::NotDmDataDir { dir: dir.to_path_buf() }),
        }
        let log = LogStore::open(&dir.join("raft-log"), db.clone(), alive.clone()).map_err(|e| store_err(e.into()))?;
        let shared = Shared::open(db, alive.clone(), opts.feed_buffer, opts.feed_history).map_err(store_err)?;
        let state_machine = StateMachine::new(shared, SnapshotFile::new(dir));
        let reader = state_machine.reader();
        Ok(Store { log, state_machine, reader, local, dir: dir.to_path_buf(), alive: Arc::downgrade(&alive) })
    }

    /// Becomes dead once every handle on the data dir (log store, state machine, readers, local
    /// metadata) is dropped, i.e. once the data dir is released for another open.
    pub fn liveness(&self) -> Weak<()> {
        self.alive.clone()
    }

    /// Writes a storage version header (tests use it to simulate a data dir from a newer binary).
    pub fn force_storage_version(&self, version: u32) -> Result<(), StoreError> {
        self.local.set_storage_version(version)
    }
}
