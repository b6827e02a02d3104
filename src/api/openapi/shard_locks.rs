//! `/api/v1/tasks/{task_name}/shard-ddl-locks` (DM has no such routes): list a task's shard DDL
//! locks, unlock one (POST) or force-remove it (DELETE). The same leader operations as
//! `dm ctl shard-ddl-lock`; a lock id that is not one of the task's locks is a 404 (47001).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, BodyErrors, ErrorBody, ServerErrors, sched};
use super::extract::{ApiJson, ApiPath, ApiQuery, Leader, read_view};
use super::tasks::{SourceNames, split_list};
use crate::node::leader::LeaderHandle;
use crate::pb::master::{DdlLock, ShowDdlLocksRequest, UnlockDdlLockRequest};
use crate::scheduler::SchedError;
use crate::shardddl::error::ShardError;
use crate::shardddl::service as shard;

/// One shard DDL lock.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShardDdlLock {
    /// task-`schema`.`table` of the downstream table.
    pub id: String,
    pub task: String,
    /// pessimistic | optimistic
    pub mode: String,
    /// Pessimistic: the source that executes the DDLs. Optimistic: the first conflicted table.
    pub owner: String,
    pub ddls: Vec<String>,
    /// Pessimistic: sources; optimistic: "<source>-`schema`.`table`" entries.
    pub synced: Vec<String>,
    pub unsynced: Vec<String>,
    /// Conflict and mismatch messages.
    pub messages: Vec<String>,
    /// Pessimistic: waiting | executing | skipping | resolved. Optimistic: the joined schema state.
    pub stage: String,
}

impl From<DdlLock> for ShardDdlLock {
    fn from(l: DdlLock) -> Self {
        ShardDdlLock {
            id: l.id,
            task: l.task,
            mode: l.mode,
            owner: l.owner,
            ddls: l.ddls,
            synced: l.synced,
            unsynced: l.unsynced,
            messages: l.messages,
            stage: l.stage,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShardDdlLockList {
    pub total: usize,
    pub data: Vec<ShardDdlLock>,
}

/// What an unlock does with the DDLs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UnlockAction {
    Exec,
    Skip,
}

/// Unlock a lock of the task (pessimistic: the owner, or `owner`, executes; optimistic: the
/// conflicted table `source`/`database`/`table` executes or skips its DDLs).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockLockRequest {
    pub lock_id: String,
    /// Default exec. Pessimistic skip: nobody executes, every source skips.
    #[serde(default)]
    pub action: Option<UnlockAction>,
    /// Pessimistic: this source executes instead of the lock's owner.
    #[serde(default)]
    pub owner: Option<String>,
    /// Optimistic: the conflicted table's source.
    #[serde(default)]
    pub source: Option<String>,
    /// Optimistic: the conflicted table's upstream database.
    #[serde(default)]
    pub database: Option<String>,
    /// Optimistic: the conflicted table's upstream table.
    #[serde(default)]
    pub table: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UnlockLockResponse {
    pub lock_id: String,
    /// Notes, e.g. sources that did not skip in time; "" when none.
    pub msg: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LockIdQuery {
    /// The lock to remove, as listed.
    pub lock_id: String,
}

async fn task_locks(l: &LeaderHandle, task: &str, sources: Vec<String>) -> ApiResult<Vec<DdlLock>> {
    if !read_view(l, |v| v.tasks.contains_key(task)).await? {
        return Err(sched(SchedError::TaskNotFound(task.to_string())));
    }
    let r = shard::show(l, ShowDdlLocksRequest { task: task.to_string(), sources }).await?;
    Ok(r.locks)
}

/// The lock must be one of the task's (the id alone would reach any task's lock).
async fn check_owned(l: &LeaderHandle, task: &str, lock_id: &str) -> ApiResult<()> {
    if lock_id.trim().is_empty() {
        return Err(ApiError::bad_request("lock_id is required; list the locks with GET on this path"));
    }
    let locks = task_locks(l, task, vec![]).await?;
    if !locks.iter().any(|k| k.id == lock_id) {
        return Err(ShardError::LockNotFound(format!("{lock_id} of task {task}")).into());
    }
    Ok(())
}

async fn unlock(l: &LeaderHandle, req: UnlockDdlLockRequest) -> ApiResult<String> {
    Ok(shard::unlock(l, req).await?.msg)
}

#[utoipa::path(get, path = "/api/v1/tasks/{task_name}/shard-ddl-locks", tag = "task",
    params(("task_name" = String, Path), SourceNames),
    responses((status = 200, body = ShardDdlLockList), (status = 404, body = ErrorBody),
        (status = 400, body = ErrorBody), ServerErrors))]
pub async fn list_locks(
    Leader(l): Leader,
    ApiPath(task): ApiPath<String>,
    ApiQuery(q): ApiQuery<SourceNames>,
) -> ApiResult<axum::Json<ShardDdlLockList>> {
    let locks = task_locks(&l, &task, split_list(&q.source_name_list)).await?;
    let data: Vec<ShardDdlLock> = locks.into_iter().map(ShardDdlLock::from).collect();
    Ok(axum::Json(ShardDdlLockList { total: data.len(), data }))
}

#[utoipa::path(post, path = "/api/v1/tasks/{task_name}/shard-ddl-locks", tag = "task",
    params(("task_name" = String, Path)), request_body = UnlockLockRequest,
    responses((status = 200, body = UnlockLockResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), BodyErrors, ServerErrors))]
pub async fn unlock_lock(
    Leader(l): Leader,
    ApiPath(task): ApiPath<String>,
    ApiJson(req): ApiJson<UnlockLockRequest>,
) -> ApiResult<axum::Json<UnlockLockResponse>> {
    check_owned(&l, &task, &req.lock_id).await?;
    let action = match req.action {
        None => "",
        Some(UnlockAction::Exec) => "exec",
        Some(UnlockAction::Skip) => "skip",
    };
    let r = UnlockDdlLockRequest {
        id: req.lock_id.clone(),
        replace_owner: req.owner.unwrap_or_default(),
        force_remove: false,
        action: action.to_string(),
        sources: req.source.into_iter().collect(),
        database: req.database.unwrap_or_default(),
        table: req.table.unwrap_or_default(),
    };
    let msg = unlock(&l, r).await?;
    Ok(axum::Json(UnlockLockResponse { lock_id: req.lock_id, msg }))
}

#[utoipa::path(delete, path = "/api/v1/tasks/{task_name}/shard-ddl-locks", tag = "task",
    params(("task_name" = String, Path), LockIdQuery),
    responses((status = 204, description = "the lock is removed"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 400, body = ErrorBody), ServerErrors))]
pub async fn remove_lock(
    Leader(l): Leader,
    ApiPath(task): ApiPath<String>,
    ApiQuery(q): ApiQuery<LockIdQuery>,
) -> ApiResult<StatusCode> {
    check_owned(&l, &task, &q.lock_id).await?;
    let r = UnlockDdlLockRequest { id: q.lock_id, force_remove: true, ..Default::default() };
    unlock(&l, r).await?;
    Ok(StatusCode::NO_CONTENT)
}
