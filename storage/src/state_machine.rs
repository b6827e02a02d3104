//! openraft's state machine over [`crate::state`]: apply, snapshot build and install.
//!
//! Snapshot build copies the state under the read lock inside `get_snapshot_builder` (which runs
//! between applies), so the copy is exactly the state at its applied log id; the builder then
//! encodes and stores it off the apply path.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{OptionalSend, SnapshotMeta};

use crate::command::CommandResult;
use crate::snapshot::{SnapshotBlob, SnapshotFile};
use crate::state::{Shared, StateReader};
use crate::typ::{Entry, LogId, Snapshot, StorageError, StorageIOError, StoredMembership, TypeConfig};

/// The Raft state machine of one node.
pub struct StateMachine {
    shared: Arc<Shared>,
    file: SnapshotFile,
    /// Distinguishes snapshots built at the same log id.
    builds: Arc<AtomicU64>,
}

impl StateMachine {
    pub(crate) fn new(shared: Arc<Shared>, file: SnapshotFile) -> Self {
        Self { shared, file, builds: Arc::new(AtomicU64::new(0)) }
    }

    /// A read handle on the same state.
    pub fn reader(&self) -> StateReader {
        StateReader { shared: self.shared.clone() }
    }
}

/// Encodes and stores one copied state.
pub struct SnapshotBuilder {
    copy: Result<(Option<LogId>, StoredMembership, SnapshotBlob), crate::error::StoreError>,
    file: SnapshotFile,
    build_no: u64,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let (applied, membership, blob) = match &self.copy {
            Ok(c) => c.clone(),
            Err(e) => return Err(StorageIOError::read_state_machine(e).into()),
        };
        let snapshot_id = match applied {
            Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, self.build_no),
            None => format!("0-0-{}", self.build_no),
        };
        let meta = SnapshotMeta { last_log_id: applied, last_membership: membership, snapshot_id };
        let data = blob.to_bytes();
        self.file.save(&meta, &data).map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = self.shared.applied().map_err(|e| StorageIOError::read_state_machine(&e))?;
        let membership = self.shared.membership().map_err(|e| StorageIOError::read_state_machine(&e))?;
        Ok((applied, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        self.shared.apply(entries).map_err(|e| StorageIOError::write_state_machine(&e).into())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let build_no = self.builds.fetch_add(1, Ordering::Relaxed);
        SnapshotBuilder { copy: self.shared.dump(), file: self.file.clone(), build_no }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &openraft::SnapshotMeta<u64, crate::node::NodeInfo>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let sig = Some(meta.signature());
        let blob = SnapshotBlob::from_bytes(&data).map_err(|e| StorageIOError::read_snapshot(sig.clone(), &e))?;
        self.shared
            .restore(meta.last_log_id, &meta.last_membership, &blob)
            .map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        self.file.save(meta, &data).map_err(|e| StorageIOError::write_snapshot(sig.clone(), &e))?;
        crate::store::flush(&self.shared.db).await.map_err(|e| StorageIOError::write_snapshot(sig, &e))?;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let loaded = self.file.load().map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(loaded.map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}
