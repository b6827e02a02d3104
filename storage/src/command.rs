//! `Command`: every change to the replicated state, one variant per mutation, and its result.
//!
//! A command carries everything its apply needs (ids, timestamps and random values are chosen by the
//! proposer), so apply is deterministic on every node. Each variant names its preconditions — the
//! compare half of an etcd txn; a failed precondition changes nothing and comes back as [`Rejected`].

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::scheduling::{ExpectedStage, SourceRecord, SubtaskRecord, TaskRecord};
use crate::shardddl::{
    DroppedTable, OptimismInfo, OptimismOp, PessimismInfo, PessimismOp, SourceTablesRecord, TableKey,
};
use crate::spaces::{ClusterInfo, MemberRecord, MemberState};
use crate::typ::NodeId;

/// One mutation of the replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Records the cluster identity and the initial members. Proposed once by the first leader.
    /// Precondition: no cluster record yet.
    InitCluster { info: ClusterInfo, members: Vec<MemberRecord> },
    /// Reserves a node id for a joining master (state Joining). Preconditions: cluster initialised;
    /// no other master with that name. The same name with the same addresses still Joining gets its
    /// earlier id back (a join retried after a crash).
    ReserveMember { name: String, peer_addr: String, client_addr: String },
    /// Marks a joining master as a voter. Precondition: the member exists with that node id and
    /// is Joining (or already Joined).
    MemberJoined { name: String, node_id: NodeId },
    /// Starts removing a master: from now on its promotion is refused. Precondition: the member
    /// exists with that node id.
    MemberRemoving { name: String, node_id: NodeId },
    /// Forgets a master removed from the Raft membership. Precondition: exists with that node id.
    RemoveMember { name: String, node_id: NodeId },
    /// Writes a key of the admin key space. Precondition: `expect`.
    KvPut {
        key: String,
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
        expect: Expect,
    },
    /// Deletes a key of the admin key space. Precondition: `expect`.
    KvDelete { key: String, expect: Expect },
    /// Registers a worker. The same name with the same address again is a restarted worker (its
    /// TTL is updated); the same name with another address is rejected.
    RegisterWorker { name: String, addr: String, keepalive_ttl_ms: u64 },
    /// Forgets a worker (offline-member --worker). Preconditions: registered, not bound.
    RemoveWorker { name: String },
    /// Adds a source config. Precondition: no source with that id.
    CreateSource { source: SourceRecord },
    /// Removes a source with its binding and its worker's last-bound. Preconditions: it exists and
    /// no task has a subtask on it.
    RemoveSource { source_id: String },
    /// Binds a source to a worker; the output carries the epoch (this revision). Preconditions:
    /// the source exists and is unbound; the worker is registered and unbound.
    BindSource { source_id: String, worker: String },
    /// Unbinds a source (its worker went offline or stopped). Precondition: bound at `epoch`.
    UnbindSource { source_id: String, epoch: u64 },
    /// Writes a task record. Precondition: `expect` on the task key.
    PutTask { task: TaskRecord, expect: Expect },
    /// Removes a task record. Preconditions: it exists and none of its subtasks remain.
    RemoveTask { name: String },
    /// Adds subtasks (one batch of a task's). Preconditions, each: the task record and the source
    /// exist and the subtask does not.
    PutSubtasks { subtasks: Vec<SubtaskRecord> },
    /// Sets the expected stage of some subtasks of a task. Precondition: each exists.
    SetSubtaskStage { task: String, sources: Vec<String>, stage: ExpectedStage },
    /// Removes subtasks of a task (stop-task). Precondition: each exists.
    RemoveSubtasks { task: String, sources: Vec<String> },
    /// A worker's pending pessimistic shard DDL. Preconditions: the subtask exists; the source is
    /// bound at `epoch`; the source's operation, if any, is not done yet (DM's
    /// PutInfoIfOpNotDone). The same Info again changes nothing.
    PutPessimismInfo { info: PessimismInfo, epoch: u64 },
    /// The pessimist's operations. With `skip_done`, an operation of the same lock already done
    /// is left as it is. Precondition: each operation's subtask exists.
    PutPessimismOps { ops: Vec<PessimismOp>, skip_done: bool },
    /// A worker did its operation: marks it done and deletes the source's Info, in one step.
    /// Preconditions: the source is bound at `epoch`; the operation exists for `lock_id`.
    /// Done again changes nothing.
    DonePessimismOp { task: String, source: String, lock_id: String, epoch: u64 },
    /// Removes a pessimistic lock's operations, and with `with_infos` its Infos too (unlock
    /// --force-remove). Only records of `lock_id` are removed.
    RemovePessimismLock { task: String, lock_id: String, sources: Vec<String>, with_infos: bool },
    /// A worker's routed upstream tables of a task. Preconditions: the subtask exists; the
    /// source is bound at `epoch`.
    PutSourceTables { tables: SourceTablesRecord, epoch: u64 },
    /// A worker's optimistic shard DDL of one upstream table. Preconditions: the subtask exists;
    /// the source is bound at `epoch`; the table is in the source's tables. The same Info again
    /// changes nothing.
    PutOptimismInfo { info: OptimismInfo, epoch: u64 },
    /// The optimist's operations. Each is skipped (not rejected) if a newer Info of its table
    /// exists, or, with `skip_done`, if an operation as new is already done — DM's three
    /// conditional puts.
    PutOptimismOps { ops: Vec<OptimismOp>, skip_done: bool },
    /// A worker did an optimistic operation. Preconditions: the source is bound at `epoch`; the
    /// table's operation answers the Info at `info_revision`.
    DoneOptimismOp { table: TableKey, info_revision: u64, epoch: u64 },
    /// Removes an optimistic lock's Infos, operations and dropped columns, guarded: every
    /// table's Info must be no newer than its `(key, revision)` entry (a newer Info aborts it).
    RemoveOptimismLock { task: String, lock_id: String, tables: Vec<(TableKey, u64)> },
    /// Sets the tables that dropped a column of a lock (empty = forget the column).
    SetDroppedColumn { task: String, lock_id: String, column: String, tables: Vec<DroppedTable> },
    /// Several independent commands in one log entry (the proposer batches concurrent
    /// proposals). Each is applied on its own, all or nothing, in order; they share the entry's
    /// revision. A batch inside a batch is rejected.
    Batch(Vec<Command>),
}

impl Command {
    /// Rough encoded size, for the proposer's byte budget.
    pub fn approx_size(&self) -> usize {
        const BASE: usize = 32;
        BASE + match self {
            Command::InitCluster { members, .. } => 64 + members.len() * 128,
            Command::ReserveMember { name, peer_addr, client_addr } => name.len() + peer_addr.len() + client_addr.len(),
            Command::MemberJoined { name, .. }
            | Command::MemberRemoving { name, .. }
            | Command::RemoveMember { name, .. } => name.len(),
            Command::KvPut { key, value, .. } => key.len() + value.len(),
            Command::KvDelete { key, .. } => key.len(),
            Command::RegisterWorker { name, addr, .. } => name.len() + addr.len(),
            Command::RemoveWorker { name } => name.len(),
            Command::CreateSource { source } => source.source_id.len() + source.config.len(),
            Command::RemoveSource { source_id } | Command::UnbindSource { source_id, .. } => source_id.len(),
            Command::BindSource { source_id, worker } => source_id.len() + worker.len(),
            Command::PutTask { task, .. } => task.name.len() + task.config.len() + strings(&task.sources),
            Command::RemoveTask { name } => name.len(),
            Command::PutSubtasks { subtasks } => {
                subtasks.iter().map(|s| 16 + s.task.len() + s.source.len() + s.config.len()).sum()
            }
            Command::SetSubtaskStage { task, sources, .. } | Command::RemoveSubtasks { task, sources } => {
                task.len() + strings(sources)
            }
            Command::PutPessimismInfo { info, .. } => info.task.len() + info.source.len() + strings(&info.ddls) + 64,
            Command::PutPessimismOps { ops, .. } => {
                ops.iter().map(|o| o.lock_id.len() + o.task.len() + o.source.len() + strings(&o.ddls) + 16).sum()
            }
            Command::DonePessimismOp { task, source, lock_id, .. } => task.len() + source.len() + lock_id.len(),
            Command::RemovePessimismLock { task, lock_id, sources, .. } => {
                task.len() + lock_id.len() + strings(sources)
            }
            Command::PutSourceTables { tables, .. } => tables
                .tables
                .iter()
                .map(|t| t.up_schema.len() + t.up_table.len() + t.down_schema.len() + t.down_table.len() + 16)
                .sum(),
            Command::PutOptimismInfo { info, .. } => {
                info.ddls.iter().chain(&info.tables_after).map(|s| s.len() + 8).sum::<usize>()
                    + info.table_before.len()
                    + 128
            }
            Command::PutOptimismOps { ops, .. } => {
                ops.iter().map(|o| o.lock_id.len() + strings(&o.ddls) + o.message.len() + strings(&o.cols) + 128).sum()
            }
            Command::DoneOptimismOp { table, .. } => table.0.len() + table.1.len() + table.2.len() + table.3.len(),
            Command::RemoveOptimismLock { tables, .. } => {
                tables.iter().map(|(t, _)| t.0.len() + t.1.len() + t.2.len() + t.3.len() + 16).sum()
            }
            Command::SetDroppedColumn { lock_id, column, tables, .. } => {
                lock_id.len()
                    + column.len()
                    + tables.iter().map(|t| t.source.len() + t.up_schema.len() + t.up_table.len() + 8).sum::<usize>()
            }
            Command::Batch(cmds) => cmds.iter().map(Command::approx_size).sum(),
        }
    }
}

fn strings(v: &[String]) -> usize {
    v.iter().map(|s| s.len() + 8).sum()
}

/// The compare of a conditional write on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expect {
    /// No condition.
    Any,
    /// The key must not exist.
    Absent,
    /// The key must exist with this mod revision.
    ModRevision(u64),
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Any => write!(f, "any"),
            Expect::Absent => write!(f, "absent"),
            Expect::ModRevision(r) => write!(f, "mod revision {r}"),
        }
    }
}

/// What an applied command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutput {
    /// Nothing beyond the revision (blank and membership entries, most commands).
    Done,
    /// `ReserveMember`: the node id the joining master must use.
    MemberReserved { node_id: NodeId },
    /// `KvPut`: the key's record revisions after the write.
    KvPut { create_revision: u64, version: u64 },
    /// `KvDelete`: whether the key existed.
    KvDeleted { existed: bool },
    /// `BindSource`: the binding's epoch.
    Bound { epoch: u64 },
    /// `Batch`: one result per command, in order.
    Batch(Vec<BatchItem>),
}

/// The result of one command of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItem {
    /// Whether this command changed any record.
    pub changed: bool,
    pub outcome: Result<CommandOutput, Rejected>,
}

/// A precondition that did not hold; the state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum Rejected {
    #[error("the cluster is already initialised (cluster id {cluster_id})")]
    ClusterAlreadyInitialized { cluster_id: u64 },
    #[error("the cluster is not initialised yet; retry once a leader is elected")]
    ClusterNotInitialized,
    #[error("a master named {name} already exists (node id {node_id}); choose another --name")]
    MemberNameTaken { name: String, node_id: NodeId },
    #[error("no master named {name} in the cluster")]
    MemberNotFound { name: String },
    #[error("master {name} has node id {actual}, not {expected}")]
    MemberIdMismatch { name: String, expected: NodeId, actual: NodeId },
    #[error("master {name} is {from:?} and cannot become {to:?}")]
    MemberStateInvalid { name: String, from: MemberState, to: MemberState },
    #[error("a batch cannot contain another batch")]
    NestedBatch,
    #[error("key {key}: expected {expected}, found {}", describe_revision(.actual))]
    RevisionMismatch { key: String, expected: Expect, actual: Option<u64> },
    #[error("dm-worker with name {name} already exists at {addr}; give this worker another --name")]
    WorkerNameTaken { name: String, addr: String },
    #[error("no dm-worker named {name} is registered")]
    WorkerNotFound { name: String },
    #[error("dm-worker {worker} is bound to source {source_id}")]
    WorkerBound { worker: String, source_id: String },
    #[error("source {source_id} already exists")]
    SourceExists { source_id: String },
    #[error("source {source_id} does not exist")]
    SourceNotFound { source_id: String },
    #[error("source {source_id} is already bound to dm-worker {worker}")]
    SourceBound { source_id: String, worker: String },
    #[error("source {source_id} is not bound at epoch {expected} (now: {})", describe_epoch(.actual))]
    BoundEpochMismatch { source_id: String, expected: u64, actual: Option<u64> },
    #[error("source {source_id} has existing tasks {tasks:?}; stop them first with stop-task")]
    SourceHasTasks { source_id: String, tasks: Vec<String> },
    #[error("task {name} already exists")]
    TaskExists { name: String },
    #[error("task {name} does not exist")]
    TaskNotFound { name: String },
    #[error("task {name} still has subtasks on {sources:?}")]
    TaskHasSubtasks { name: String, sources: Vec<String> },
    #[error("subtask of task {task} on source {source_id} already exists")]
    SubtaskExists { task: String, source_id: String },
    #[error("task {task} has no subtask on source {source_id}")]
    SubtaskNotFound { task: String, source_id: String },
    #[error(
        "the shard DDL operation of task {task} on source {source_id} is done; wait until its lock {lock_id} is resolved"
    )]
    ShardDdlOpDone { task: String, source_id: String, lock_id: String },
    #[error("no shard DDL operation {what} of task {task} on source {source_id}")]
    ShardDdlOpNotFound { task: String, source_id: String, what: String },
    #[error(
        "table `{schema}`.`{table}` of source {source_id} is not among the tables task {task} routes; put the source tables first"
    )]
    ShardTableUnknown { task: String, source_id: String, schema: String, table: String },
    #[error("table `{schema}`.`{table}` of source {source_id} sent a newer shard DDL; lock {lock_id} is kept")]
    ShardDdlInfoChanged { lock_id: String, source_id: String, schema: String, table: String },
}

fn describe_epoch(actual: &Option<u64>) -> String {
    match actual {
        None => "unbound".to_string(),
        Some(e) => format!("epoch {e}"),
    }
}

fn describe_revision(actual: &Option<u64>) -> String {
    match actual {
        None => "no key".to_string(),
        Some(r) => format!("mod revision {r}"),
    }
}

/// The result of one log entry: its revision, and the command's output or why it was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    /// Log index of the entry = revision of every change it made.
    pub revision: u64,
    /// Whether the entry changed any record (a change batch was published at `revision`).
    pub changed: bool,
    pub outcome: Result<CommandOutput, Rejected>,
}
