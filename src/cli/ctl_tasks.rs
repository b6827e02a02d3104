//! `dm ctl` source and task commands: operate-source, start-task, pause/resume/stop-task,
//! query-status, transfer-source. Files are read here and sent as text; the leader checks them.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::ctl::{SourceOpArg, TaskTarget, finish};
use crate::client::{ClientError, ClusterClient};
use crate::error::{Coded, ErrorCode, UserError};
use crate::pb::master::*;
use crate::pb::worker::QueryStatusResponse;

pub(super) fn read(path: &Path) -> Result<String, UserError> {
    std::fs::read_to_string(path).map_err(|e| {
        UserError::new(ErrorCode::ConfigFile, format!("cannot read {}: {e}; check the path", path.display()))
    })
}

fn sources_json(sources: &[CommonWorkerResponse]) -> Vec<Value> {
    sources.iter().map(|s| json!({"result": s.result, "msg": s.msg, "source": s.source, "worker": s.worker})).collect()
}

fn status_json(s: &QueryStatusResponse) -> Value {
    let src = s.source_status.clone().unwrap_or_default();
    json!({
        "result": s.result,
        "msg": s.msg,
        "sourceStatus": {"source": src.source, "worker": src.worker, "result": src.result, "msg": src.msg,
            "epoch": src.epoch, "fenced": src.fenced},
        "subTaskStatus": s.sub_task_status.iter().map(|t| json!({
            "name": t.name, "stage": t.stage, "expectedStage": t.expected_stage, "unit": t.unit,
            "msg": t.msg, "errorCode": t.error_code,
        })).collect::<Vec<_>>(),
    })
}

/// A task name, or the `name:` inside a task file (dmctl accepts both).
fn task_name(arg: &str) -> Result<String, UserError> {
    let path = Path::new(arg);
    if !(arg.ends_with(".yaml") || arg.ends_with(".yml")) {
        return Ok(arg.to_string());
    }
    if !path.exists() {
        return Err(UserError::new(
            ErrorCode::ConfigFile,
            format!("{arg} looks like a task file but does not exist; give the task name or the path of its task.yaml"),
        ));
    }
    let text = read(path)?;
    let cfg = crate::config::task::TaskConfig::from_yaml(&text).map_err(|e| e.to_user())?;
    Ok(cfg.name)
}

async fn operate_task(client: &mut ClusterClient, op: TaskOp, t: TaskTarget) -> anyhow::Result<ExitCode> {
    let req = OperateTaskRequest { op: op as i32, name: task_name(&t.task)?, sources: t.source };
    let r = crate::cluster_call!(client, operate_task, req).map_err(|e: ClientError| e.to_user())?;
    Ok(finish(
        r.result,
        json!({"op": format!("{op:?}"), "result": r.result, "msg": r.msg, "sources": sources_json(&r.sources)}),
    ))
}

pub async fn operate_source(
    client: &mut ClusterClient,
    op: SourceOpArg,
    files: Vec<std::path::PathBuf>,
    source: Vec<String>,
    worker: Option<String>,
) -> anyhow::Result<ExitCode> {
    let config = files.iter().map(|f| read(f)).collect::<Result<Vec<_>, _>>()?;
    let op = match op {
        SourceOpArg::Create => SourceOp::StartSource,
        SourceOpArg::Stop => SourceOp::StopSource,
        SourceOpArg::Show => SourceOp::ShowSource,
    };
    let req =
        OperateSourceRequest { op: op as i32, config, source_id: source, worker_name: worker.unwrap_or_default() };
    let r = crate::cluster_call!(client, operate_source, req).map_err(|e: ClientError| e.to_user())?;
    Ok(finish(r.result, json!({"result": r.result, "msg": r.msg, "sources": sources_json(&r.sources)})))
}

pub async fn start_task(
    client: &mut ClusterClient,
    file: &Path,
    sources: Vec<String>,
    remove_meta: bool,
    start_time: String,
) -> anyhow::Result<ExitCode> {
    let req = StartTaskRequest { task: read(file)?, sources, remove_meta, start_time };
    let r = crate::cluster_call!(client, start_task, req).map_err(|e: ClientError| e.to_user())?;
    let v =
        json!({"result": r.result, "msg": r.msg, "sources": sources_json(&r.sources), "checkResult": r.check_result});
    Ok(finish(r.result, v))
}

pub async fn pause_task(client: &mut ClusterClient, t: TaskTarget) -> anyhow::Result<ExitCode> {
    operate_task(client, TaskOp::Pause, t).await
}

pub async fn resume_task(client: &mut ClusterClient, t: TaskTarget) -> anyhow::Result<ExitCode> {
    operate_task(client, TaskOp::Resume, t).await
}

pub async fn stop_task(client: &mut ClusterClient, t: TaskTarget) -> anyhow::Result<ExitCode> {
    operate_task(client, TaskOp::Delete, t).await
}

pub async fn query_status(
    client: &mut ClusterClient,
    task: Option<String>,
    sources: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let name = match task {
        Some(t) => task_name(&t)?,
        None => String::new(),
    };
    let req = QueryStatusListRequest { name, sources };
    let r = crate::cluster_call!(client, query_status, req).map_err(|e: ClientError| e.to_user())?;
    let v = json!({"result": r.result, "msg": r.msg, "sources": r.sources.iter().map(status_json).collect::<Vec<_>>()});
    Ok(finish(r.result, v))
}

pub async fn transfer_source(client: &mut ClusterClient, source: String, worker: String) -> anyhow::Result<ExitCode> {
    let req = TransferSourceRequest { source, worker };
    let r = crate::cluster_call!(client, transfer_source, req).map_err(|e: ClientError| e.to_user())?;
    Ok(finish(r.result, json!({"result": r.result, "msg": r.msg})))
}
