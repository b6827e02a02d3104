//! The state machine's data: one sled tree per key space plus `sm_meta` (applied log id and
//! membership), the lock that orders applies against consistent reads, and [`StateReader`], the
//! read-only handle the rest of the program uses.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use sled::Transactional;
use sled::transaction::{TransactionError, TransactionalTree};

use crate::apply::{TxError, Writer, apply_command};
use crate::command::{BatchItem, Command, CommandOutput, CommandResult, Rejected};
use crate::error::StoreError;
use crate::feed::Change;
use crate::feed::{FeedError, FeedState, Subscription};
use crate::keys::KeyCodec;
use crate::keyspace::{KeySpace, Record, decode, decode_key, decode_record, encode};
use crate::snapshot::{SnapshotBlob, SpaceDump};
use crate::spaces::SpaceId;
use crate::typ::{Entry, EntryPayload, LogId, StoredMembership};

const META_TREE: &str = "sm_meta";
const KEY_APPLIED: &[u8] = b"applied";
const KEY_MEMBERSHIP: &[u8] = b"membership";

/// Shared between the state machine (writer) and every reader.
pub(crate) struct Shared {
    /// Counts open handles on the data dir (see `Store::liveness`).
    _alive: Arc<()>,
    pub db: sled::Db,
    /// Key space trees in `SpaceId` order, then `sm_meta`.
    trees: Vec<sled::Tree>,
    /// Held for writing while an apply or restore runs; for reading by consistent reads.
    feed: RwLock<FeedState>,
}

impl Shared {
    pub fn open(
        db: sled::Db,
        alive: Arc<()>,
        feed_buffer: usize,
        feed_history: usize,
    ) -> Result<Arc<Self>, StoreError> {
        let mut trees = Vec::new();
        for space in SpaceId::ALL {
            trees.push(db.open_tree(space.tree_name())?);
        }
        trees.push(db.open_tree(META_TREE)?);
        let mut shared =
            Shared { _alive: alive, db, trees, feed: RwLock::new(FeedState::new(0, feed_buffer, feed_history)) };
        let revision = shared.applied()?.map(|l| l.index).unwrap_or(0);
        shared.feed = RwLock::new(FeedState::new(revision, feed_buffer, feed_history));
        Ok(Arc::new(shared))
    }

    fn meta(&self) -> &sled::Tree {
        self.trees.last().expect("meta tree")
    }

    pub fn applied(&self) -> Result<Option<LogId>, StoreError> {
        self.meta().get(KEY_APPLIED)?.map(|v| decode(&v, "applied log id")).transpose()
    }

    pub fn membership(&self) -> Result<StoredMembership, StoreError> {
        Ok(self.meta().get(KEY_MEMBERSHIP)?.map(|v| decode(&v, "membership")).transpose()?.unwrap_or_default())
    }

    fn read(&self) -> RwLockReadGuard<'_, FeedState> {
        self.feed.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a batch of entries in one transaction, then publishes their changes.
    pub fn apply(&self, entries: Vec<Entry>) -> Result<Vec<CommandResult>, StoreError> {
        let Some(last) = entries.last().map(|e| e.log_id) else {
            return Ok(Vec::new());
        };
        let mut feed = self.feed.write().unwrap_or_else(|e| e.into_inner());
        let (results, changes) = self
            .trees
            .as_slice()
            .transaction(|trees| {
                let mut results = Vec::with_capacity(entries.len());
                let mut changes = Vec::new();
                for entry in &entries {
                    let revision = entry.log_id.index;
                    let mut changed = false;
                    let outcome = match &entry.payload {
                        EntryPayload::Blank => Ok(CommandOutput::Done),
                        EntryPayload::Normal(cmd) => {
                            let mut entry_changes = Vec::new();
                            let outcome = apply_entry_command(trees, revision, cmd, &mut entry_changes)?;
                            changed = !entry_changes.is_empty();
                            if changed {
                                changes.push((revision, entry_changes));
                            }
                            outcome
                        }
                        EntryPayload::Membership(m) => {
                            let stored = StoredMembership::new(Some(entry.log_id), m.clone());
                            meta_tree(trees).insert(KEY_MEMBERSHIP, encode(&stored))?;
                            Ok(CommandOutput::Done)
                        }
                    };
                    results.push(CommandResult { revision, changed, outcome });
                }
                meta_tree(trees).insert(KEY_APPLIED, encode(&Some(last)))?;
                Ok((results, changes))
            })
            .map_err(unwrap_tx)?;
        for (revision, c) in changes {
            feed.publish(revision, c);
        }
        feed.publish(last.index, Vec::new());
        Ok(results)
    }

    /// Copies the whole state for a snapshot. Runs under the read lock, so it is one revision.
    pub fn dump(&self) -> Result<(Option<LogId>, StoredMembership, SnapshotBlob), StoreError> {
        let _guard = self.read();
        let mut spaces = Vec::new();
        for space in SpaceId::ALL {
            let mut entries = Vec::new();
            for kv in self.trees[space.index()].iter() {
                let (k, v) = kv?;
                entries.push((k.to_vec(), v.to_vec()));
            }
            spaces.push(SpaceDump::new(space.tree_name(), entries));
        }
        Ok((self.applied()?, self.membership()?, SnapshotBlob::new(spaces)))
    }

    /// Replaces the whole state with a snapshot's, atomically; subscribers must resync.
    pub fn restore(
        &self,
        applied: Option<LogId>,
        membership: &StoredMembership,
        blob: &SnapshotBlob,
    ) -> Result<(), StoreError> {
        let mut feed = self.feed.write().unwrap_or_else(|e| e.into_inner());
        let mut existing = Vec::new();
        for space in SpaceId::ALL {
            let keys: Result<Vec<_>, _> = self.trees[space.index()].iter().keys().collect();
            existing.push(keys?);
        }
        let incoming = blob.by_space()?;
        self.trees
            .as_slice()
            .transaction(|trees| {
                for space in SpaceId::ALL {
                    let tree = &trees[space.index()];
                    for k in &existing[space.index()] {
                        tree.remove(k)?;
                    }
                    for (k, v) in incoming.get(&space).map(|v| v.as_slice()).unwrap_or_default() {
                        tree.insert(k.as_slice(), v.as_slice())?;
                    }
                }
                meta_tree(trees).insert(KEY_APPLIED, encode(&applied))?;
                meta_tree(trees).insert(KEY_MEMBERSHIP, encode(membership))?;
                Ok::<_, TxError>(())
            })
            .map_err(unwrap_tx)?;
        feed.reset(applied.map(|l| l.index).unwrap_or(0));
        Ok(())
    }
}

/// Applies one entry's command; a batch applies each of its commands on its own (each all or
/// nothing), so one rejected command does not affect the others.
fn apply_entry_command(
    trees: &[TransactionalTree],
    revision: u64,
    cmd: &Command,
    changes: &mut Vec<Change>,
) -> Result<Result<CommandOutput, Rejected>, TxError> {
    let Command::Batch(cmds) = cmd else {
        return apply_one(trees, revision, cmd, changes);
    };
    let mut items = Vec::with_capacity(cmds.len());
    for sub in cmds {
        let before = changes.len();
        let outcome = match sub {
            Command::Batch(_) => Err(Rejected::NestedBatch),
            _ => apply_one(trees, revision, sub, changes)?,
        };
        items.push(BatchItem { changed: changes.len() > before, outcome });
    }
    Ok(Ok(CommandOutput::Batch(items)))
}

fn apply_one(
    trees: &[TransactionalTree],
    revision: u64,
    cmd: &Command,
    changes: &mut Vec<Change>,
) -> Result<Result<CommandOutput, Rejected>, TxError> {
    let mut w = Writer::new(trees, revision);
    let outcome = apply_command(&mut w, cmd)?;
    if outcome.is_ok() {
        changes.extend(w.commit()?);
    }
    Ok(outcome)
}

fn meta_tree(trees: &[TransactionalTree]) -> &TransactionalTree {
    trees.last().expect("meta tree")
}

fn unwrap_tx(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    }
}

/// Every record of key space `S` with its key, in key order.
pub type Listed<S> = Vec<(<S as KeySpace>::Key, Record<<S as KeySpace>::Value>)>;

/// Read-only access to the replicated state, shared by every component of a node.
#[derive(Clone)]
pub struct StateReader {
    pub(crate) shared: Arc<Shared>,
}

/// A consistent view inside [`StateReader::read_and_subscribe`]: no apply runs while it exists.
pub struct View<'a> {
    shared: &'a Shared,
    revision: u64,
}

impl StateReader {
    /// The current revision (= last applied log index).
    pub fn revision(&self) -> u64 {
        self.shared.read().revision
    }

    pub fn get<S: KeySpace>(&self, key: &S::Key) -> Result<Option<Record<S::Value>>, StoreError> {
        let guard = self.shared.read();
        View { shared: &self.shared, revision: guard.revision }.get::<S>(key)
    }

    pub fn list<S: KeySpace>(&self) -> Result<Listed<S>, StoreError> {
        let guard = self.shared.read();
        View { shared: &self.shared, revision: guard.revision }.list::<S>()
    }

    /// The last applied membership (as the state machine recorded it).
    pub fn membership(&self) -> Result<StoredMembership, StoreError> {
        let _guard = self.shared.read();
        self.shared.membership()
    }

    /// Runs `read` on a consistent view (no apply runs meanwhile).
    pub fn read<T>(&self, read: impl FnOnce(&View<'_>) -> T) -> T {
        let guard = self.shared.read();
        read(&View { shared: &self.shared, revision: guard.revision })
    }

    /// Runs `read` on a consistent view and subscribes to every change after it, atomically.
    pub fn read_and_subscribe<T>(&self, read: impl FnOnce(&View<'_>) -> T) -> (T, Subscription) {
        let guard = self.shared.read();
        let out = read(&View { shared: &self.shared, revision: guard.revision });
        (out, guard.subscribe())
    }

    /// Like [`Self::read_and_subscribe`], and also returns the changes between `from` and the
    /// view (Resync if the history no longer holds them): a reconnecting subscriber decides from
    /// them whether anything it cares about changed while it was away.
    #[allow(clippy::type_complexity)]
    pub fn resume<T>(
        &self,
        from: u64,
        read: impl FnOnce(&View<'_>) -> T,
    ) -> (T, Result<Vec<std::sync::Arc<crate::feed::ChangeBatch>>, FeedError>, Subscription) {
        let guard = self.shared.read();
        let out = read(&View { shared: &self.shared, revision: guard.revision });
        (out, guard.history_after(from), guard.subscribe())
    }

    /// Subscribes to changes after revision `from`; [`FeedError::Resync`] if they are no longer kept.
    pub fn subscribe_from(&self, from: u64) -> Result<Subscription, FeedError> {
        self.shared.read().subscribe_from(from)
    }

    /// Bytes the database occupies on disk (sled's estimate).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.shared.db.size_on_disk()?)
    }
}

impl View<'_> {
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn get<S: KeySpace>(&self, key: &S::Key) -> Result<Option<Record<S::Value>>, StoreError> {
        self.shared.trees[S::ID.index()].get(key.encode())?.map(|v| decode_record::<S>(&v)).transpose()
    }

    pub fn list<S: KeySpace>(&self) -> Result<Listed<S>, StoreError> {
        self.list_prefix::<S>(&[])
    }

    /// Records whose encoded key starts with `prefix` (encode a leading tuple component with
    /// [`KeyCodec::encode`] to scan one group).
    pub fn list_prefix<S: KeySpace>(&self, prefix: &[u8]) -> Result<Listed<S>, StoreError> {
        let mut out = Vec::new();
        for kv in self.shared.trees[S::ID.index()].scan_prefix(prefix) {
            let (k, v) = kv?;
            out.push((decode_key::<S>(&k)?, decode_record::<S>(&v)?));
        }
        Ok(out)
    }
}
