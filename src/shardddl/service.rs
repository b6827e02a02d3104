//! The shard-DDL calls on the `Master` service, served by the leader: what workers call (an
//! Info, their routed tables, an operation done) and what operators call (show, unlock).
//! Requests are checked here (names, modes, DDL text) so the keepers only see usable records;
//! the storage preconditions (subtask, binding epoch) fence the rest.

use dm_storage::Command;
use dm_storage::Rejected;
use dm_storage::shardddl::{PessimismInfo, RoutedTable, SourceTablesRecord, lock_id, table_key};

use super::error::ShardError;
use super::pessimist::Unlock;
use crate::config::subtask::SubtaskConfig;
use crate::config::task::ShardMode as TaskShardMode;
use crate::node::leader::LeaderHandle;
use crate::pb::master::*;

fn need(what: &str, value: &str) -> Result<(), ShardError> {
    if value.trim().is_empty() {
        return Err(ShardError::InvalidArgument(format!("{what} is required")));
    }
    Ok(())
}

fn mode_name(m: ShardMode) -> &'static str {
    match m {
        ShardMode::Pessimistic => "pessimistic",
        ShardMode::Optimistic => "optimistic",
        ShardMode::Unspecified => "unspecified",
    }
}

/// The worker may speak for the source at this epoch, and the task's subtask on it coordinates
/// shard DDL in `mode`.
fn check_writer(
    l: &LeaderHandle,
    worker: &str,
    source: &str,
    epoch: u64,
    task: &str,
    mode: ShardMode,
) -> Result<(), ShardError> {
    need("worker", worker)?;
    need("source", source)?;
    need("task", task)?;
    let view = l.scheduler.view.get();
    match view.bounds.get(source) {
        Some(b) if b.worker == worker && b.epoch == epoch => {}
        _ => {
            return Err(ShardError::StaleEpoch { source_id: source.to_string(), worker: worker.to_string(), epoch });
        }
    }
    let Some(st) = view.subtasks.get(&(task.to_string(), source.to_string())) else {
        return Err(Rejected::SubtaskNotFound { task: task.to_string(), source_id: source.to_string() }.into());
    };
    let actual = SubtaskConfig::from_stored(&st.config).ok().and_then(|c| c.shard_mode);
    let matches = matches!(
        (actual, mode),
        (Some(TaskShardMode::Pessimistic), ShardMode::Pessimistic)
            | (Some(TaskShardMode::Optimistic), ShardMode::Optimistic)
    );
    if !matches {
        return Err(ShardError::ModeMismatch {
            task: task.to_string(),
            actual: actual.map(|m| m.as_str()).unwrap_or("no").to_string(),
            requested: mode_name(mode).to_string(),
        });
    }
    Ok(())
}

fn mode_of(raw: i32) -> ShardMode {
    ShardMode::try_from(raw).unwrap_or(ShardMode::Unspecified)
}

fn check_ddls(ddls: &[String]) -> Result<(), ShardError> {
    if ddls.is_empty() {
        return Err(ShardError::InvalidArgument("a shard DDL Info needs at least one DDL".into()));
    }
    for ddl in ddls {
        super::schema::check_ddl(ddl).map_err(|e| ShardError::InvalidDdl(e.to_string()))?;
    }
    Ok(())
}

pub async fn put_info(l: &LeaderHandle, r: PutShardDdlInfoRequest) -> Result<ShardDdlResponse, ShardError> {
    let mode = mode_of(r.mode);
    check_writer(l, &r.worker, &r.source, r.epoch, &r.task, mode)?;
    let table = r.table.clone().unwrap_or_default();
    need("downstream schema", &table.down_schema)?;
    need("downstream table", &table.down_table)?;
    check_ddls(&r.ddls)?;
    let cmd = match mode {
        ShardMode::Pessimistic => Command::PutPessimismInfo {
            info: PessimismInfo {
                task: r.task,
                source: r.source,
                down_schema: table.down_schema,
                down_table: table.down_table,
                ddls: r.ddls,
            },
            epoch: r.epoch,
        },
        _ => super::optimist::info_command(r, table)?,
    };
    let applied = l.ctx.propose(cmd).await?;
    Ok(ShardDdlResponse { revision: applied.revision, ..Default::default() })
}

pub async fn put_source_tables(l: &LeaderHandle, r: PutSourceTablesRequest) -> Result<ShardDdlResponse, ShardError> {
    check_writer(l, &r.worker, &r.source, r.epoch, &r.task, ShardMode::Optimistic)?;
    let mut tables = Vec::with_capacity(r.tables.len());
    for t in r.tables {
        for (what, v) in [
            ("upstream schema", &t.up_schema),
            ("upstream table", &t.up_table),
            ("downstream schema", &t.down_schema),
            ("downstream table", &t.down_table),
        ] {
            need(what, v)?;
        }
        tables.push(RoutedTable {
            up_schema: t.up_schema,
            up_table: t.up_table,
            down_schema: t.down_schema,
            down_table: t.down_table,
        });
    }
    tables.sort();
    tables.dedup();
    let record = SourceTablesRecord { task: r.task, source: r.source, tables };
    let applied = l.ctx.propose(Command::PutSourceTables { tables: record, epoch: r.epoch }).await?;
    Ok(ShardDdlResponse { revision: applied.revision, ..Default::default() })
}

pub async fn ack(l: &LeaderHandle, r: AckShardDdlRequest) -> Result<ShardDdlResponse, ShardError> {
    let mode = mode_of(r.mode);
    check_writer(l, &r.worker, &r.source, r.epoch, &r.task, mode)?;
    let cmd = match mode {
        ShardMode::Pessimistic => {
            need("lock id", &r.lock_id)?;
            Command::DonePessimismOp { task: r.task, source: r.source, lock_id: r.lock_id, epoch: r.epoch }
        }
        _ => {
            need("upstream schema", &r.up_schema)?;
            need("upstream table", &r.up_table)?;
            Command::DoneOptimismOp {
                table: table_key(&r.task, &r.source, &r.up_schema, &r.up_table),
                info_revision: r.info_revision,
                epoch: r.epoch,
            }
        }
    };
    let applied = l.ctx.propose(cmd).await?;
    Ok(ShardDdlResponse { revision: applied.revision, ..Default::default() })
}

pub async fn show(l: &LeaderHandle, r: ShowDdlLocksRequest) -> Result<ShowDdlLocksResponse, ShardError> {
    let mut locks = l.shard_ddl.pessimist.show(&r.task, &r.sources).await;
    locks.extend(l.shard_ddl.optimist.show(&r.task, &r.sources).await);
    locks.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(ShowDdlLocksResponse { locks, ..Default::default() })
}

pub async fn unlock(l: &LeaderHandle, r: UnlockDdlLockRequest) -> Result<UnlockDdlLockResponse, ShardError> {
    need("lock id", &r.id)?;
    // None = the mode's default: the pessimistic owner executes (DM's unlock-ddl-lock); an
    // optimistic conflicted table skips (DM's shard-ddl-lock unlock --action default).
    let skip = match r.action.as_str() {
        "" => None,
        "exec" => Some(false),
        "skip" => Some(true),
        other => {
            return Err(ShardError::InvalidArgument(format!("--action must be exec or skip, not {other:?}")));
        }
    };
    let msg = if l.shard_ddl.pessimist.has_lock(&r.id).await {
        let u = Unlock {
            lock_id: r.id.clone(),
            replace_owner: (!r.replace_owner.is_empty()).then(|| r.replace_owner.clone()),
            skip: skip.unwrap_or(false),
            force_remove: r.force_remove,
        };
        l.shard_ddl.pessimist.unlock(&u).await?
    } else if l.shard_ddl.optimist.has_lock(&r.id).await {
        l.shard_ddl.optimist.unlock(&r, skip.unwrap_or(true)).await?
    } else {
        return Err(ShardError::LockNotFound(r.id));
    };
    Ok(UnlockDdlLockResponse { msg, ..Default::default() })
}

/// The lock id a downstream table of a task has (for listings and tests).
pub fn lock_of(task: &str, down_schema: &str, down_table: &str) -> String {
    lock_id(task, down_schema, down_table)
}
