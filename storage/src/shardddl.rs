//! The shard-DDL key spaces: pessimistic Infos and Operations (one per task and source),
//! optimistic source tables, Infos and Operations (one per upstream table), and the optimistic
//! locks' partially dropped columns.
//!
//! Table schemas travel as opaque text (`CREATE TABLE` statements): the master's schema module
//! owns their meaning, so this crate stays free of SQL.

use serde::{Deserialize, Serialize};

use crate::keyspace::KeySpace;
use crate::spaces::SpaceId;

/// DM's lock id: `<task>-`<schema>`.`<table>`` of the downstream table.
pub fn lock_id(task: &str, down_schema: &str, down_table: &str) -> String {
    format!("{task}-`{down_schema}`.`{down_table}`")
}

/// `pessimism_infos`: (task, source) → the source's pending shard DDL. Put by the worker
/// (PutPessimismInfo), removed when its operation is done or the lock is removed.
pub struct PessimismInfos;
impl KeySpace for PessimismInfos {
    const ID: SpaceId = SpaceId::PessimismInfos;
    type Key = (String, String);
    type Value = PessimismInfo;
}

/// One source's shard DDL, after the worker merged its own shards of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PessimismInfo {
    pub task: String,
    pub source: String,
    /// The downstream (routed) table: it names the lock.
    pub down_schema: String,
    pub down_table: String,
    pub ddls: Vec<String>,
}

impl PessimismInfo {
    pub fn lock_id(&self) -> String {
        lock_id(&self.task, &self.down_schema, &self.down_table)
    }
}

/// `pessimism_ops`: (task, source) → what the source must do with its DDL. Put by the leader's
/// pessimist, marked done by the worker, removed with the lock.
pub struct PessimismOps;
impl KeySpace for PessimismOps {
    const ID: SpaceId = SpaceId::PessimismOps;
    type Key = (String, String);
    type Value = PessimismOp;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PessimismOp {
    pub lock_id: String,
    pub task: String,
    pub source: String,
    pub ddls: Vec<String>,
    /// The owner executes the DDLs downstream; everyone else skips them.
    pub exec: bool,
    /// The worker did it (set by DonePessimismOp).
    pub done: bool,
}

/// An upstream table and the downstream table it is routed to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoutedTable {
    pub up_schema: String,
    pub up_table: String,
    pub down_schema: String,
    pub down_table: String,
}

/// `optimism_source_tables`: (task, source) → every upstream table of the source the task
/// routes, with its target. Put by the worker at subtask start and on CREATE/DROP TABLE; removed
/// with the subtask. It is the membership of the optimistic locks.
pub struct OptimismSourceTables;
impl KeySpace for OptimismSourceTables {
    const ID: SpaceId = SpaceId::OptimismSourceTables;
    type Key = (String, String);
    type Value = SourceTablesRecord;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTablesRecord {
    pub task: String,
    pub source: String,
    pub tables: Vec<RoutedTable>,
}

/// Key of one upstream table's optimistic Info and Operation: (task, source, schema, table).
pub type TableKey = (String, String, String, String);

/// Builds a [`TableKey`].
pub fn table_key(task: &str, source: &str, up_schema: &str, up_table: &str) -> TableKey {
    (task.to_string(), source.to_string(), up_schema.to_string(), up_table.to_string())
}

/// `optimism_infos`: one upstream table's latest shard DDL. Put by the worker
/// (PutOptimismInfo), removed with its lock, its table or its task.
pub struct OptimismInfos;
impl KeySpace for OptimismInfos {
    const ID: SpaceId = SpaceId::OptimismInfos;
    type Key = TableKey;
    type Value = OptimismInfo;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptimismInfo {
    pub task: String,
    pub source: String,
    pub up_schema: String,
    pub up_table: String,
    pub down_schema: String,
    pub down_table: String,
    pub ddls: Vec<String>,
    /// The table before the first DDL, as a `CREATE TABLE` statement.
    pub table_before: String,
    /// The table after each DDL (one per DDL); empty = the master derives them.
    pub tables_after: Vec<String>,
    /// The worker asks to take the result as it is, without coordination (`--ignore-conflict`).
    pub ignore_conflict: bool,
}

impl OptimismInfo {
    pub fn key(&self) -> TableKey {
        table_key(&self.task, &self.source, &self.up_schema, &self.up_table)
    }

    pub fn lock_id(&self) -> String {
        lock_id(&self.task, &self.down_schema, &self.down_table)
    }
}

/// `optimism_ops`: what one upstream table must do with its latest Info. Put by the leader's
/// optimist, marked done by the worker, removed with the lock.
pub struct OptimismOps;
impl KeySpace for OptimismOps {
    const ID: SpaceId = SpaceId::OptimismOps;
    type Key = TableKey;
    type Value = OptimismOp;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptimismOp {
    pub lock_id: String,
    pub task: String,
    pub source: String,
    pub up_schema: String,
    pub up_table: String,
    /// DDLs to execute downstream (may be empty: nothing to do but go on).
    pub ddls: Vec<String>,
    pub stage: ConflictStage,
    pub message: String,
    pub done: bool,
    /// Columns this operation left partially dropped.
    pub cols: Vec<String>,
    /// Mod revision of the Info this operation answers.
    pub info_revision: u64,
}

impl OptimismOp {
    pub fn key(&self) -> TableKey {
        table_key(&self.task, &self.source, &self.up_schema, &self.up_table)
    }
}

/// `optimism_pending_ops`: the optimistic operations not done yet → their Info revision (an
/// index of `optimism_ops`, kept by apply): a worker's assignment lists its pending operations
/// without reading the done ones of thousands of tables.
pub struct OptimismPendingOps;
impl KeySpace for OptimismPendingOps {
    const ID: SpaceId = SpaceId::OptimismPendingOps;
    type Key = TableKey;
    type Value = u64;
}

/// DM's conflict stage of an optimistic operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConflictStage {
    /// No conflict: execute `ddls` (possibly none) and go on.
    None,
    /// The table's DDL conflicts with another table's: wait (or error in strict mode).
    Detected,
    /// The table changed in a way others have not yet: skip its DML and DDL until redirected.
    SkipAndWaitRedirect,
    /// The conflict is resolved by later DDLs: resume the skipped table.
    Resolved,
    /// The operator unlocked the table's conflict (skip or exec).
    Unlocked,
    /// The DDL can never be coordinated (e.g. re-adding a partially dropped column).
    Error,
}

impl ConflictStage {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStage::None => "none",
            ConflictStage::Detected => "detected",
            ConflictStage::SkipAndWaitRedirect => "skip and wait for redirect",
            ConflictStage::Resolved => "resolved",
            ConflictStage::Unlocked => "unlocked",
            ConflictStage::Error => "error",
        }
    }
}

/// `optimism_dropped_columns`: (task, lock id) → the lock's partially dropped columns, each with
/// the tables that dropped it so far. Set by the leader's optimist, removed with the lock.
pub struct OptimismDroppedColumns;
impl KeySpace for OptimismDroppedColumns {
    const ID: SpaceId = SpaceId::OptimismDroppedColumns;
    type Key = (String, String);
    type Value = Vec<DroppedColumn>;
}

/// A column some tables of a lock dropped while others still have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedColumn {
    pub column: String,
    pub tables: Vec<DroppedTable>,
}

/// One table's progress in dropping a column other tables still have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedTable {
    pub source: String,
    pub up_schema: String,
    pub up_table: String,
    pub stage: DropColumnStage,
}

/// DM's drop-column stage of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DropColumnStage {
    /// The table dropped the column; its operation is not done yet.
    NotDone,
    /// Its operation is done, without dropping the column downstream.
    PartiallyDone,
    /// Its operation dropped the column downstream.
    Done,
}
