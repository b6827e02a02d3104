//! `/api/v1/tasks`: create (subtasks start Stopped, as in DM), list, get, delete, start, stop
//! and status, with DM's shapes. The task is stored as the task file it stands for
//! (`task_json.rs`), so `dm ctl` and the API see the same task.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, BodyErrors, ErrorBody, ServerErrors, sched};
use super::extract::{ApiJson, ApiPath, ApiQuery, Leader, read_view};
use super::sources::WithStatus;
use super::task_json::{SubTaskStatus, Task};
use crate::api::grpc::scheduling::build_task;
use crate::config::task::TaskConfig;
use crate::error::ErrorCode;
use crate::node::leader::LeaderHandle;
use crate::pb::worker::QueryStatusResponse;
use crate::scheduler::SchedError;
use crate::scheduler::tasks::TaskAction;
use crate::scheduler::view::SchedView;
use dm_storage::scheduling::ExpectedStage;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskRequest {
    pub task: Task,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreateTaskResponse {
    pub task: Task,
    /// What the checks found (warnings), or "" when nothing. The database prechecks come with
    /// the data path.
    pub check_result: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskList {
    pub total: usize,
    pub data: Vec<Task>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubTaskStatusList {
    pub total: usize,
    pub data: Vec<SubTaskStatus>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartTaskRequest {
    /// Only these sources (default: all of the task's).
    #[serde(default)]
    pub source_name_list: Vec<String>,
    /// Needs the data path; refused for now.
    #[serde(default)]
    pub remove_meta: bool,
    /// Needs the binlog reader; refused for now.
    #[serde(default)]
    pub start_time: Option<String>,
    /// Needs the sync unit; refused for now.
    #[serde(default)]
    pub safe_mode_time_duration: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopTaskRequest {
    /// Only these sources (default: all of the task's).
    #[serde(default)]
    pub source_name_list: Vec<String>,
    /// Needs the data units; refused for now.
    #[serde(default)]
    pub timeout_duration: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListTasksQuery {
    /// Also ask the workers for each subtask's status.
    #[serde(default)]
    pub with_status: bool,
    /// Only tasks with a subtask asked to be in this stage: Running | Paused | Stopped.
    #[serde(default)]
    pub stage: Option<String>,
    /// Only tasks on one of these sources (comma-separated).
    #[serde(default)]
    pub source_name_list: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SourceNames {
    /// Only these sources (comma-separated).
    #[serde(default)]
    pub source_name_list: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Force {
    /// Delete even while subtasks run (without it they must be Paused or Stopped).
    #[serde(default)]
    pub force: bool,
}

pub(super) fn split_list(v: &Option<String>) -> Vec<String> {
    v.as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn task_of(v: &SchedView, name: &str) -> ApiResult<Task> {
    let r = v.tasks.get(name).ok_or_else(|| sched(SchedError::TaskNotFound(name.to_string())))?;
    let cfg = TaskConfig::from_yaml(&r.config).map_err(ApiError::from)?;
    Ok(Task::from_config(&cfg))
}

/// Subtask statuses from query-status: one per (task, source).
fn statuses(task: &str, answers: Vec<QueryStatusResponse>) -> Vec<SubTaskStatus> {
    let mut out = Vec::new();
    for a in answers {
        let (source, worker) = a.source_status.map(|s| (s.source, s.worker)).unwrap_or_default();
        for st in a.sub_task_status.into_iter().filter(|s| s.name == task) {
            let error_msg = if !a.result {
                a.msg.clone()
            } else if st.error_code != 0 {
                st.msg.clone()
            } else {
                String::new()
            };
            out.push(SubTaskStatus {
                name: st.name,
                source_name: source.clone(),
                worker_name: worker.clone(),
                stage: st.stage,
                expected_stage: st.expected_stage,
                unit: st.unit,
                error_msg,
            });
        }
    }
    out
}

async fn status_of(l: &LeaderHandle, task: &str, only: &[String]) -> ApiResult<Vec<SubTaskStatus>> {
    let answers = l.scheduler.query_status(task, only).await.map_err(sched)?;
    Ok(statuses(task, answers))
}

/// The first entry the workers did not confirm, as an error.
fn confirmed(out: Vec<crate::pb::master::CommonWorkerResponse>) -> ApiResult<()> {
    match out.into_iter().find(|r| !r.result) {
        Some(r) => Err(ApiError::new(ErrorCode::ExpectResultTimeout, format!("source {}: {}", r.source, r.msg))),
        None => Ok(()),
    }
}

#[utoipa::path(post, path = "/api/v1/tasks", tag = "task", request_body = CreateTaskRequest,
    responses((status = 201, body = CreateTaskResponse), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), BodyErrors, ServerErrors))]
pub async fn create_task(
    Leader(l): Leader,
    ApiJson(req): ApiJson<CreateTaskRequest>,
) -> ApiResult<(StatusCode, axum::Json<CreateTaskResponse>)> {
    let file = req.task.to_task_file()?;
    let (cfg, mut new) = build_task(&l, &file).map_err(sched)?;
    new.stage = ExpectedStage::Stopped;
    let out = l.scheduler.start_task(new, &[]).await.map_err(sched)?;
    confirmed(out)?;
    let check_result = cfg.warnings.join("; ");
    Ok((StatusCode::CREATED, axum::Json(CreateTaskResponse { task: Task::from_config(&cfg), check_result })))
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "task", params(ListTasksQuery),
    responses((status = 200, body = TaskList), (status = 400, body = ErrorBody), ServerErrors))]
pub async fn list_tasks(Leader(l): Leader, ApiQuery(q): ApiQuery<ListTasksQuery>) -> ApiResult<axum::Json<TaskList>> {
    let stage = match q.stage.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            [ExpectedStage::Running, ExpectedStage::Paused, ExpectedStage::Stopped]
                .into_iter()
                .find(|st| st.as_str().eq_ignore_ascii_case(s))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("stage \"{s}\" is not one of Running, Paused, Stopped"))
                })?,
        ),
    };
    let sources = split_list(&q.source_name_list);
    let tasks = read_view(&l, |v| {
        v.tasks
            .keys()
            .filter(|name| {
                let subs: Vec<_> = v.task_subtasks(name).collect();
                stage.is_none_or(|st| subs.iter().any(|s| s.stage == st))
                    && (sources.is_empty() || subs.iter().any(|s| sources.contains(&s.source)))
            })
            .map(|name| task_of(v, name))
            .collect::<ApiResult<Vec<Task>>>()
    })
    .await??;
    let mut data = Vec::new();
    for task in tasks {
        let status_list = if q.with_status { Some(status_of(&l, &task.name, &[]).await?) } else { None };
        data.push(Task { status_list, ..task });
    }
    Ok(axum::Json(TaskList { total: data.len(), data }))
}

#[utoipa::path(get, path = "/api/v1/tasks/{task_name}", tag = "task", params(("task_name" = String, Path), WithStatus),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), ServerErrors))]
pub async fn get_task(
    Leader(l): Leader,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<WithStatus>,
) -> ApiResult<axum::Json<Task>> {
    let task = read_view(&l, |v| task_of(v, &name)).await??;
    let status_list = if q.with_status { Some(status_of(&l, &name, &[]).await?) } else { None };
    Ok(axum::Json(Task { status_list, ..task }))
}

#[utoipa::path(delete, path = "/api/v1/tasks/{task_name}", tag = "task", params(("task_name" = String, Path), Force),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 400, body = ErrorBody), ServerErrors))]
pub async fn delete_task(
    Leader(l): Leader,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<Force>,
) -> ApiResult<StatusCode> {
    let running = read_view(&l, |v| {
        if !v.tasks.contains_key(&name) && v.task_subtasks(&name).next().is_none() {
            return Err(sched(SchedError::TaskNotFound(name.clone())));
        }
        Ok(v.task_subtasks(&name)
            .filter(|s| s.stage == ExpectedStage::Running)
            .map(|s| s.source.clone())
            .collect::<Vec<_>>())
    })
    .await??;
    if !q.force && !running.is_empty() {
        return Err(ApiError::new(
            ErrorCode::PreconditionFailed,
            format!("task {name} runs on {running:?}; stop it first, or delete with force=true"),
        ));
    }
    confirmed(l.scheduler.operate_task(TaskAction::Delete, &name, &[]).await.map_err(sched)?)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/tasks/{task_name}/status", tag = "task", params(("task_name" = String, Path), SourceNames),
    responses((status = 200, body = SubTaskStatusList), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), ServerErrors))]
pub async fn task_status(
    Leader(l): Leader,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<SourceNames>,
) -> ApiResult<axum::Json<SubTaskStatusList>> {
    read_view(&l, |v| task_of(v, &name).map(|_| ())).await??;
    let data = status_of(&l, &name, &split_list(&q.source_name_list)).await?;
    Ok(axum::Json(SubTaskStatusList { total: data.len(), data }))
}

#[utoipa::path(post, path = "/api/v1/tasks/{task_name}/start", tag = "task", params(("task_name" = String, Path)),
    request_body(content = StartTaskRequest, description = "optional"),
    responses((status = 200, description = "the subtasks run"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), BodyErrors, ServerErrors))]
pub async fn start_task(
    Leader(l): Leader,
    ApiPath(name): ApiPath<String>,
    body: Option<ApiJson<StartTaskRequest>>,
) -> ApiResult<StatusCode> {
    let req = body.map(|b| b.0).unwrap_or_default();
    if req.remove_meta || req.start_time.is_some() || req.safe_mode_time_duration.is_some() {
        return Err(ApiError::bad_request(
            "remove_meta, start_time and safe_mode_time_duration need the data path, which is not in this build; start without them",
        ));
    }
    let out = l.scheduler.operate_task(TaskAction::Set(ExpectedStage::Running), &name, &req.source_name_list).await;
    confirmed(out.map_err(sched)?)?;
    Ok(StatusCode::OK)
}

#[utoipa::path(post, path = "/api/v1/tasks/{task_name}/stop", tag = "task", params(("task_name" = String, Path)),
    request_body(content = StopTaskRequest, description = "optional"),
    responses((status = 200, description = "the subtasks are stopped"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), BodyErrors, ServerErrors))]
pub async fn stop_task(
    Leader(l): Leader,
    ApiPath(name): ApiPath<String>,
    body: Option<ApiJson<StopTaskRequest>>,
) -> ApiResult<StatusCode> {
    let req = body.map(|b| b.0).unwrap_or_default();
    if req.timeout_duration.is_some() {
        return Err(ApiError::bad_request(
            "timeout_duration needs the data units, which are not in this build; stop without it",
        ));
    }
    let out = l.scheduler.operate_task(TaskAction::Set(ExpectedStage::Stopped), &name, &req.source_name_list).await;
    confirmed(out.map_err(sched)?)?;
    Ok(StatusCode::OK)
}
