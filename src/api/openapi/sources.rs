//! `/api/v1/sources`: create, list, get, delete, status, enable, disable and transfer, with
//! DM's shapes. Passwords are write-only: every answer shows `******`.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, BodyErrors, ErrorBody, ServerErrors, sched};
use super::extract::{ApiJson, ApiPath, ApiQuery, Leader, read_view};
use crate::config::source::SourceConfig;
use crate::node::leader::LeaderHandle;
use crate::scheduler::SchedError;
use crate::scheduler::tasks::TaskAction;
use crate::scheduler::view::SchedView;
use dm_storage::scheduling::{ExpectedStage, SourceRecord};

/// DM's mask for secrets in answers.
pub const MASK: &str = "******";

/// An upstream MySQL or MariaDB server.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The source id (`source-id` in source.yaml), at most 32 characters.
    pub source_name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Write-only: answers show `******`.
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub enable_gtid: bool,
    #[serde(default = "yes")]
    pub enable: bool,
    /// mysql or mariadb (empty: detected from the server).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flavor: String,
    /// Read-only, in answers (with `with_status`): where the source runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub status_list: Option<Vec<SourceStatus>>,
    /// Read-only, in answers (with `with_status`): the tasks that use the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub task_name_list: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// Where a source runs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SourceStatus {
    pub source_name: String,
    /// The bound dm-worker ("" while none is free).
    pub worker_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error_msg: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSourceRequest {
    pub source: Source,
    /// Bind to this free worker instead of letting the scheduler choose.
    #[serde(default)]
    pub worker_name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SourceList {
    pub total: usize,
    pub data: Vec<Source>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SourceStatusList {
    pub total: usize,
    pub data: Vec<SourceStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerNameRequest {
    pub worker_name: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WithStatus {
    /// Also show the status: for a source where it runs and which tasks use it, for a task
    /// each subtask's stage.
    #[serde(default)]
    pub with_status: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Force {
    /// Remove the source's subtasks first (without it a source a task uses is refused).
    #[serde(default)]
    pub force: bool,
}

impl Source {
    /// The source.yaml this body stands for, decoded and checked like a file.
    fn to_config(&self) -> Result<SourceConfig, ApiError> {
        // Read-only fields are in the schema (so answers match it) but refused in a request.
        if self.status_list.is_some() || self.task_name_list.is_some() {
            return Err(ApiError::bad_request("status_list and task_name_list are read-only; leave them out"));
        }
        let mut doc = serde_json::json!({
            "source-id": self.source_name,
            "enable-gtid": self.enable_gtid,
            "enable": self.enable,
            "from": {"host": self.host, "port": self.port, "user": self.user, "password": self.password},
        });
        if !self.flavor.is_empty() {
            doc["flavor"] = self.flavor.clone().into();
        }
        // JSON is YAML: the text goes through the same decoder and checks as a source.yaml.
        SourceConfig::from_yaml(&doc.to_string()).map_err(ApiError::from)
    }

    fn from_config(c: &SourceConfig) -> Source {
        Source {
            source_name: c.source_id.clone(),
            host: c.from.host.clone(),
            port: c.from.port,
            user: c.from.user.clone(),
            password: MASK.to_string(),
            enable_gtid: c.enable_gtid,
            enable: c.enable,
            flavor: c.flavor.clone(),
            status_list: None,
            task_name_list: None,
        }
    }
}

fn status_of(v: &SchedView, id: &str) -> SourceStatus {
    let worker = v.bounds.get(id).map(|b| b.worker.clone()).unwrap_or_default();
    let error_msg = if worker.is_empty() { "no free dm-worker; start one".to_string() } else { String::new() };
    SourceStatus { source_name: id.to_string(), worker_name: worker, error_msg }
}

fn source_view(v: &SchedView, r: &SourceRecord, with_status: bool) -> ApiResult<Source> {
    let cfg = SourceConfig::from_stored(&r.config)?;
    let mut s = Source::from_config(&cfg);
    if with_status {
        s.status_list = Some(vec![status_of(v, &r.source_id)]);
        let mut tasks: Vec<String> = v.source_subtasks(&r.source_id).map(|t| t.task.clone()).collect();
        tasks.sort();
        tasks.dedup();
        s.task_name_list = Some(tasks);
    }
    Ok(s)
}

fn known(v: &SchedView, name: &str) -> ApiResult<()> {
    if v.sources.contains_key(name) { Ok(()) } else { Err(sched(SchedError::SourceNotFound(name.to_string()))) }
}

#[utoipa::path(post, path = "/api/v1/sources", tag = "source", request_body = CreateSourceRequest,
    responses((status = 201, body = Source), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        BodyErrors, ServerErrors))]
pub async fn create_source(
    Leader(l): Leader,
    ApiJson(req): ApiJson<CreateSourceRequest>,
) -> ApiResult<(StatusCode, axum::Json<Source>)> {
    let cfg = req.source.to_config()?;
    let record = SourceRecord { source_id: cfg.source_id.clone(), config: cfg.to_stored() };
    l.scheduler.create_sources(vec![record], req.worker_name).await.map_err(sched)?;
    let mut out = Source::from_config(&cfg);
    out.status_list = Some(vec![status_of(&l.scheduler.view.get(), &cfg.source_id)]);
    Ok((StatusCode::CREATED, axum::Json(out)))
}

#[utoipa::path(get, path = "/api/v1/sources", tag = "source", params(WithStatus),
    responses((status = 200, body = SourceList), (status = 400, body = ErrorBody), ServerErrors))]
pub async fn list_sources(Leader(l): Leader, ApiQuery(q): ApiQuery<WithStatus>) -> ApiResult<axum::Json<SourceList>> {
    let data =
        read_view(&l, |v| v.sources.values().map(|r| source_view(v, r, q.with_status)).collect::<ApiResult<Vec<_>>>())
            .await??;
    Ok(axum::Json(SourceList { total: data.len(), data }))
}

#[utoipa::path(get, path = "/api/v1/sources/{source_name}", tag = "source", params(("source_name" = String, Path), WithStatus),
    responses((status = 200, body = Source), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        ServerErrors))]
pub async fn get_source(
    Leader(l): Leader,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<WithStatus>,
) -> ApiResult<axum::Json<Source>> {
    let s = read_view(&l, |v| {
        known(v, &name)?;
        source_view(v, &v.sources[&name], q.with_status)
    })
    .await??;
    Ok(axum::Json(s))
}

#[utoipa::path(delete, path = "/api/v1/sources/{source_name}", tag = "source", params(("source_name" = String, Path), Force),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), ServerErrors))]
pub async fn delete_source(
    Leader(l): Leader,
    ApiPath(name): ApiPath<String>,
    ApiQuery(q): ApiQuery<Force>,
) -> ApiResult<StatusCode> {
    let tasks = read_view(&l, |v| known(v, &name).map(|()| tasks_on(v, &name))).await??;
    if q.force {
        for task in tasks {
            l.scheduler.operate_task(TaskAction::Delete, &task, std::slice::from_ref(&name)).await.map_err(sched)?;
        }
    }
    let out = l.scheduler.stop_sources(vec![name]).await.map_err(sched)?;
    match out.into_iter().find(|r| !r.result) {
        Some(r) => Err(ApiError::new(crate::error::ErrorCode::ExpectResultTimeout, r.msg)),
        None => Ok(StatusCode::NO_CONTENT),
    }
}

fn tasks_on(v: &SchedView, source: &str) -> Vec<String> {
    let mut tasks: Vec<String> = v.source_subtasks(source).map(|t| t.task.clone()).collect();
    tasks.sort();
    tasks.dedup();
    tasks
}

#[utoipa::path(get, path = "/api/v1/sources/{source_name}/status", tag = "source", params(("source_name" = String, Path)),
    responses((status = 200, body = SourceStatusList), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), ServerErrors))]
pub async fn source_status(
    Leader(l): Leader,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<axum::Json<SourceStatusList>> {
    let st = read_view(&l, |v| known(v, &name).map(|()| status_of(v, &name))).await??;
    Ok(axum::Json(SourceStatusList { total: 1, data: vec![st] }))
}

/// Sets the stage of every subtask on the source.
async fn set_source_tasks(l: &LeaderHandle, name: String, stage: ExpectedStage) -> ApiResult<()> {
    let tasks = read_view(l, |v| known(v, &name).map(|()| tasks_on(v, &name))).await??;
    for task in tasks {
        let out = l
            .scheduler
            .operate_task(TaskAction::Set(stage), &task, std::slice::from_ref(&name))
            .await
            .map_err(sched)?;
        if let Some(r) = out.into_iter().find(|r| !r.result) {
            return Err(ApiError::new(crate::error::ErrorCode::ExpectResultTimeout, r.msg));
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/sources/{source_name}/enable", tag = "source", params(("source_name" = String, Path)),
    responses((status = 200, description = "the source's subtasks run"), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), ServerErrors))]
pub async fn enable_source(Leader(l): Leader, ApiPath(name): ApiPath<String>) -> ApiResult<StatusCode> {
    set_source_tasks(&l, name, ExpectedStage::Running).await.map(|()| StatusCode::OK)
}

#[utoipa::path(post, path = "/api/v1/sources/{source_name}/disable", tag = "source", params(("source_name" = String, Path)),
    responses((status = 200, description = "the source's subtasks are stopped"), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), ServerErrors))]
pub async fn disable_source(Leader(l): Leader, ApiPath(name): ApiPath<String>) -> ApiResult<StatusCode> {
    set_source_tasks(&l, name, ExpectedStage::Stopped).await.map(|()| StatusCode::OK)
}

#[utoipa::path(post, path = "/api/v1/sources/{source_name}/transfer", tag = "source", params(("source_name" = String, Path)),
    request_body = WorkerNameRequest,
    responses((status = 200, description = "the source runs on the worker"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), BodyErrors, ServerErrors))]
pub async fn transfer_source(
    Leader(l): Leader,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<WorkerNameRequest>,
) -> ApiResult<StatusCode> {
    l.scheduler.transfer_source(&name, &req.worker_name).await.map_err(sched)?;
    Ok(StatusCode::OK)
}
