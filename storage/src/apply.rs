//! Deterministic apply of one [`Command`] inside the state machine's sled transaction.
//!
//! Writes of a command go to an overlay first; only a command whose preconditions all hold has its
//! overlay written into the transaction, so a rejected command changes nothing, whatever order its
//! handler checked and wrote in.

use std::collections::BTreeMap;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use crate::command::{Command, CommandOutput, Expect, Rejected};
use crate::error::StoreError;
use crate::feed::Change;
use crate::keys::KeyCodec;
use crate::keyspace::{KeySpace, Record, decode_record, encode};
use crate::spaces::{Cluster, Kv, KvValue, MemberRecord, MemberState, Members, SpaceId};

pub(crate) type TxError = ConflictableTransactionError<StoreError>;

/// Typed reads and buffered writes of one command at one revision.
pub(crate) struct Writer<'t> {
    trees: &'t [TransactionalTree],
    revision: u64,
    overlay: BTreeMap<(SpaceId, Vec<u8>), Option<Vec<u8>>>,
}

impl<'t> Writer<'t> {
    pub fn new(trees: &'t [TransactionalTree], revision: u64) -> Self {
        Self { trees, revision, overlay: BTreeMap::new() }
    }

    /// The revision this command applies at (its log index).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn get<S: KeySpace>(&self, key: &S::Key) -> Result<Option<Record<S::Value>>, TxError> {
        let k = key.encode();
        let raw = match self.overlay.get(&(S::ID, k.clone())) {
            Some(v) => v.clone(),
            None => self.trees[S::ID.index()].get(&k)?.map(|v| v.to_vec()),
        };
        raw.map(|v| decode_record::<S>(&v).map_err(ConflictableTransactionError::Abort)).transpose()
    }

    /// Puts `value`, keeping the create revision and bumping the version of an existing key.
    pub fn put<S: KeySpace>(&mut self, key: &S::Key, value: S::Value) -> Result<Record<S::Value>, TxError> {
        let record = match self.get::<S>(key)? {
            Some(old) => Record {
                value,
                create_revision: old.create_revision,
                mod_revision: self.revision,
                version: old.version + 1,
            },
            None => Record { value, create_revision: self.revision, mod_revision: self.revision, version: 1 },
        };
        self.overlay.insert((S::ID, key.encode()), Some(encode(&record)));
        Ok(record)
    }

    /// Deletes `key`; returns whether it existed.
    pub fn delete<S: KeySpace>(&mut self, key: &S::Key) -> Result<bool, TxError> {
        let existed = self.get::<S>(key)?.is_some();
        if existed {
            self.overlay.insert((S::ID, key.encode()), None);
        }
        Ok(existed)
    }

    /// Writes the overlay into the transaction; returns the changes for the feed.
    pub fn commit(self) -> Result<Vec<Change>, TxError> {
        let mut changes = Vec::with_capacity(self.overlay.len());
        for ((space, key), value) in self.overlay {
            let tree = &self.trees[space.index()];
            match &value {
                Some(v) => tree.insert(key.as_slice(), v.as_slice())?,
                None => tree.remove(key.as_slice())?,
            };
            changes.push(Change { space, key, value });
        }
        Ok(changes)
    }
}

/// Checks a compare on one key.
fn check_expect<S: KeySpace>(w: &Writer<'_>, key: &S::Key, name: &str, expect: Expect) -> Result<Step, TxError> {
    let actual = w.get::<S>(key)?.map(|r| r.mod_revision);
    let ok = match expect {
        Expect::Any => true,
        Expect::Absent => actual.is_none(),
        Expect::ModRevision(rev) => actual == Some(rev),
    };
    Ok(if ok { Ok(()) } else { Err(Rejected::RevisionMismatch { key: name.to_string(), expected: expect, actual }) })
}

type Step = Result<(), Rejected>;

/// What one command did: its output, or the precondition that failed.
pub(crate) type Outcome = Result<CommandOutput, Rejected>;

/// Applies `cmd`: `Ok(Ok(output))` applied, `Ok(Err(rejected))` precondition failed (overlay
/// dropped by the caller), `Err` storage failure.
pub(crate) fn apply_command(w: &mut Writer<'_>, cmd: &Command) -> Result<Outcome, TxError> {
    use crate::apply_sched as sched;
    use crate::apply_shard as shard;
    Ok(match cmd {
        Command::RegisterWorker { name, addr, keepalive_ttl_ms } => {
            sched::register_worker(w, name, addr, *keepalive_ttl_ms)?
        }
        Command::RemoveWorker { name } => sched::remove_worker(w, name)?,
        Command::CreateSource { source } => sched::create_source(w, source)?,
        Command::RemoveSource { source_id } => sched::remove_source(w, source_id)?,
        Command::BindSource { source_id, worker } => sched::bind_source(w, source_id, worker)?,
        Command::UnbindSource { source_id, epoch } => sched::unbind_source(w, source_id, *epoch)?,
        Command::PutTask { task, expect } => sched::put_task(w, task, *expect)?,
        Command::RemoveTask { name } => sched::remove_task(w, name)?,
        Command::PutSubtasks { subtasks } => sched::put_subtasks(w, subtasks)?,
        Command::SetSubtaskStage { task, sources, stage } => sched::set_subtask_stage(w, task, sources, *stage)?,
        Command::RemoveSubtasks { task, sources } => sched::remove_subtasks(w, task, sources)?,
        Command::PutPessimismInfo { info, epoch } => shard::put_pessimism_info(w, info, *epoch)?,
        Command::PutPessimismOps { ops, skip_done } => shard::put_pessimism_ops(w, ops, *skip_done)?,
        Command::DonePessimismOp { task, source, lock_id, epoch } => {
            shard::done_pessimism_op(w, task, source, lock_id, *epoch)?
        }
        Command::RemovePessimismLock { task, lock_id, sources, with_infos } => {
            shard::remove_pessimism_lock(w, task, lock_id, sources, *with_infos)?
        }
        Command::PutSourceTables { tables, epoch } => shard::put_source_tables(w, tables, *epoch)?,
        Command::PutOptimismInfo { info, epoch } => shard::put_optimism_info(w, info, *epoch)?,
        Command::PutOptimismOps { ops, skip_done } => shard::put_optimism_ops(w, ops, *skip_done)?,
        Command::DoneOptimismOp { table, info_revision, epoch } => {
            shard::done_optimism_op(w, table, *info_revision, *epoch)?
        }
        Command::RemoveOptimismLock { task, lock_id, tables } => shard::remove_optimism_lock(w, task, lock_id, tables)?,
        Command::SetDroppedColumn { task, lock_id, column, tables } => {
            shard::set_dropped_column(w, task, lock_id, column, tables)?
        }
        Command::InitCluster { info, members } => {
            if let Some(existing) = w.get::<Cluster>(&())? {
                return Ok(Err(Rejected::ClusterAlreadyInitialized { cluster_id: existing.value.cluster_id }));
            }
            w.put::<Cluster>(&(), info.clone())?;
            for m in members {
                w.put::<Members>(&m.name, m.clone())?;
            }
            Ok(CommandOutput::Done)
        }
        Command::ReserveMember { name, peer_addr, client_addr } => reserve_member(w, name, peer_addr, client_addr)?,
        Command::MemberJoined { name, node_id } => set_member_state(w, name, *node_id, MemberState::Joined)?,
        Command::MemberRemoving { name, node_id } => set_member_state(w, name, *node_id, MemberState::Removing)?,
        Command::RemoveMember { name, node_id } => match member_with_id(w, name, *node_id)? {
            Err(e) => Err(e),
            Ok(_) => {
                w.delete::<Members>(name)?;
                Ok(CommandOutput::Done)
            }
        },
        Command::KvPut { key, value, expect } => match check_expect::<Kv>(w, key, key, *expect)? {
            Err(e) => Err(e),
            Ok(()) => {
                let r = w.put::<Kv>(key, KvValue(value.clone()))?;
                Ok(CommandOutput::KvPut { create_revision: r.create_revision, version: r.version })
            }
        },
        Command::Batch(_) => Err(Rejected::NestedBatch),
        Command::KvDelete { key, expect } => match check_expect::<Kv>(w, key, key, *expect)? {
            Err(e) => Err(e),
            Ok(()) => Ok(CommandOutput::KvDeleted { existed: w.delete::<Kv>(key)? }),
        },
    })
}

fn reserve_member(
    w: &mut Writer<'_>,
    name: &str,
    peer_addr: &str,
    client_addr: &str,
) -> Result<Result<CommandOutput, Rejected>, TxError> {
    let Some(cluster) = w.get::<Cluster>(&())? else {
        return Ok(Err(Rejected::ClusterNotInitialized));
    };
    let name = name.to_string();
    if let Some(existing) = w.get::<Members>(&name)? {
        let m = existing.value;
        let same_node = m.state == MemberState::Joining && m.peer_addr == peer_addr && m.client_addr == client_addr;
        return Ok(if same_node {
            Ok(CommandOutput::MemberReserved { node_id: m.node_id })
        } else {
            Err(Rejected::MemberNameTaken { name, node_id: m.node_id })
        });
    }
    let mut info = cluster.value;
    let node_id = info.next_node_id;
    info.next_node_id += 1;
    w.put::<Cluster>(&(), info)?;
    let record = MemberRecord {
        name: name.clone(),
        node_id,
        peer_addr: peer_addr.to_string(),
        client_addr: client_addr.to_string(),
        state: MemberState::Joining,
    };
    w.put::<Members>(&name, record)?;
    Ok(Ok(CommandOutput::MemberReserved { node_id }))
}

fn set_member_state(
    w: &mut Writer<'_>,
    name: &str,
    node_id: u64,
    to: MemberState,
) -> Result<Result<CommandOutput, Rejected>, TxError> {
    let mut m = match member_with_id(w, name, node_id)? {
        Err(e) => return Ok(Err(e)),
        Ok(m) => m,
    };
    if m.state == to {
        return Ok(Ok(CommandOutput::Done));
    }
    if !m.state.can_become(to) {
        return Ok(Err(Rejected::MemberStateInvalid { name: name.to_string(), from: m.state, to }));
    }
    m.state = to;
    w.put::<Members>(&name.to_string(), m)?;
    Ok(Ok(CommandOutput::Done))
}

fn member_with_id(w: &Writer<'_>, name: &str, node_id: u64) -> Result<Result<MemberRecord, Rejected>, TxError> {
    Ok(match w.get::<Members>(&name.to_string())? {
        None => Err(Rejected::MemberNotFound { name: name.to_string() }),
        Some(r) if r.value.node_id != node_id => {
            Err(Rejected::MemberIdMismatch { name: name.to_string(), expected: node_id, actual: r.value.node_id })
        }
        Some(r) => Ok(r.value),
    })
}
