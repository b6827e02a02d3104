//! The worker's side of shard-DDL coordination: the calls a sync unit makes to the leader — its
//! source's DDL (an Info), its routed tables, an operation done — each carrying the binding
//! epoch it works under, so a fenced worker's late calls are refused. Operations come back on
//! the assignment stream (`Assignment::shard_ddl_ops`).
//!
//! Every call is idempotent on the master (the same Info or ack again changes nothing), so it
//! may be retried through any master.

use thiserror::Error;

use crate::client::{ClientError, ClusterClient};
use crate::error::Coded;
use crate::pb::master::{
    AckShardDdlRequest, PutShardDdlInfoRequest, PutSourceTablesRequest, ShardDdlOperation, ShardDdlResponse, ShardMode,
    ShardTable,
};

#[derive(Debug, Error)]
pub enum ShardCallError {
    /// No master answered (or the call broke off).
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The master refused it; `code` is its stable code (e.g. 46013 stale epoch, 47002 op done).
    #[error("[code={code}] {message}")]
    Refused { code: i32, message: String },
}

impl ShardCallError {
    pub fn code(&self) -> i32 {
        match self {
            ShardCallError::Client(e) => e.code().as_i32(),
            ShardCallError::Refused { code, .. } => *code,
        }
    }
}

/// Who calls: the worker and the binding it works under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDdlCaller {
    pub worker: String,
    pub source: String,
    pub epoch: u64,
}

/// One optimistic Info: an upstream table's DDLs with its schema before and after each.
#[derive(Debug, Clone, Default)]
pub struct OptimisticDdl {
    pub table: ShardTable,
    pub ddls: Vec<String>,
    /// `CREATE TABLE` before the first DDL.
    pub before: String,
    /// `CREATE TABLE` after each DDL; empty = the master applies the DDLs itself.
    pub after: Vec<String>,
    pub ignore_conflict: bool,
}

fn revision(r: ShardDdlResponse) -> Result<u64, ShardCallError> {
    if r.result { Ok(r.revision) } else { Err(ShardCallError::Refused { code: r.code, message: r.msg }) }
}

impl ShardDdlCaller {
    fn info(&self, task: &str, mode: ShardMode, table: ShardTable, ddls: Vec<String>) -> PutShardDdlInfoRequest {
        PutShardDdlInfoRequest {
            worker: self.worker.clone(),
            source: self.source.clone(),
            epoch: self.epoch,
            task: task.to_string(),
            mode: mode as i32,
            table: Some(table),
            ddls,
            ..Default::default()
        }
    }

    /// A pessimistic Info: the source's DDLs for the downstream table, after merging its own
    /// shards of it. Returns the Info's revision.
    pub async fn put_pessimistic(
        &self,
        c: &mut ClusterClient,
        task: &str,
        down_schema: &str,
        down_table: &str,
        ddls: &[String],
    ) -> Result<u64, ShardCallError> {
        let table = ShardTable {
            down_schema: down_schema.to_string(),
            down_table: down_table.to_string(),
            ..Default::default()
        };
        let req = self.info(task, ShardMode::Pessimistic, table, ddls.to_vec());
        revision(crate::cluster_call!(c, put_shard_ddl_info, req)?)
    }

    /// An optimistic Info; its operation answers the returned revision.
    pub async fn put_optimistic(
        &self,
        c: &mut ClusterClient,
        task: &str,
        ddl: &OptimisticDdl,
    ) -> Result<u64, ShardCallError> {
        let req = PutShardDdlInfoRequest {
            table_before: ddl.before.clone(),
            tables_after: ddl.after.clone(),
            ignore_conflict: ddl.ignore_conflict,
            ..self.info(task, ShardMode::Optimistic, ddl.table.clone(), ddl.ddls.clone())
        };
        revision(crate::cluster_call!(c, put_shard_ddl_info, req)?)
    }

    /// Every upstream table of the source the task routes (optimistic mode), at subtask start
    /// and after CREATE/DROP TABLE.
    pub async fn put_source_tables(
        &self,
        c: &mut ClusterClient,
        task: &str,
        tables: &[ShardTable],
    ) -> Result<u64, ShardCallError> {
        let req = PutSourceTablesRequest {
            worker: self.worker.clone(),
            source: self.source.clone(),
            epoch: self.epoch,
            task: task.to_string(),
            tables: tables.to_vec(),
        };
        revision(crate::cluster_call!(c, put_source_tables, req)?)
    }

    /// The operation is done (executed or skipped as it said).
    pub async fn ack(&self, c: &mut ClusterClient, op: &ShardDdlOperation) -> Result<u64, ShardCallError> {
        let req = AckShardDdlRequest {
            worker: self.worker.clone(),
            source: self.source.clone(),
            epoch: self.epoch,
            task: op.task.clone(),
            mode: op.mode,
            lock_id: op.lock_id.clone(),
            up_schema: op.up_schema.clone(),
            up_table: op.up_table.clone(),
            info_revision: op.info_revision,
        };
        revision(crate::cluster_call!(c, ack_shard_ddl, req)?)
    }
}
