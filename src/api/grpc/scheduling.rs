//! The scheduler's calls on the `Master` service: what workers call (register, heartbeat,
//! assignment stream, stopping) and what dmctl calls (sources, tasks, status, transfer). Files are
//! parsed and checked here, so the scheduler only sees validated records.

use std::collections::BTreeMap;
use std::time::Duration;

use dm_storage::scheduling::{ExpectedStage, SourceRecord};

use crate::config::source::SourceConfig;
use crate::config::task::TaskConfig;
use crate::error::Coded;
use crate::node::leader::LeaderHandle;
use crate::pb::master::*;
use crate::scheduler::liveness::Report;
use crate::scheduler::tasks::{NewTask, TaskAction};
use crate::scheduler::{SchedError, policy};

/// Why `--start-time` is refused (start-task) or reported (check-task).
pub(super) const START_TIME_UNSUPPORTED: &str =
    "--start-time needs the binlog reader, which comes with the data path; start without it";

pub(super) fn config_err(e: impl Coded) -> SchedError {
    SchedError::Config(e.to_user())
}

fn ttl_of(ms: u64) -> Duration {
    if ms == 0 { policy::DEFAULT_KEEPALIVE_TTL } else { Duration::from_millis(ms) }
}

pub async fn register_worker(l: &LeaderHandle, r: RegisterWorkerRequest) -> Result<RegisterWorkerResponse, SchedError> {
    l.scheduler.register_worker(&r.name, &r.address, ttl_of(r.keepalive_ttl_ms)).await?;
    Ok(RegisterWorkerResponse::default())
}

pub fn heartbeat(l: &LeaderHandle, r: WorkerHeartbeatRequest) -> Result<WorkerHeartbeatResponse, SchedError> {
    let working = (!r.working_source.is_empty()).then(|| (r.working_source.clone(), r.working_epoch));
    let report = Report { working, assignment_revision: r.assignment_revision, subtasks: r.subtasks.clone() };
    let ack = l.scheduler.heartbeat(&r.name, ttl_of(r.keepalive_ttl_ms), report)?;
    let msg = if ack.stale_epoch {
        format!(
            "[code={}] source {} at epoch {} is no longer bound to this worker; stop work on it",
            crate::error::ErrorCode::StaleEpoch,
            r.working_source,
            r.working_epoch
        )
    } else {
        String::new()
    };
    Ok(WorkerHeartbeatResponse { term: l.term, stale_epoch: ack.stale_epoch, msg, ..Default::default() })
}

pub async fn operate_source(l: &LeaderHandle, r: OperateSourceRequest) -> Result<OperateSourceResponse, SchedError> {
    let s = &l.scheduler;
    let op = SourceOp::try_from(r.op).unwrap_or(SourceOp::InvalidSourceOp);
    let sources = match op {
        SourceOp::StartSource => {
            if r.config.is_empty() {
                return Err(SchedError::InvalidArgument("operate-source create needs source config files".into()));
            }
            let mut records = Vec::new();
            for text in &r.config {
                let cfg = SourceConfig::from_yaml(text).map_err(config_err)?;
                records.push(SourceRecord { source_id: cfg.source_id.clone(), config: cfg.to_stored() });
            }
            let worker = (!r.worker_name.is_empty()).then(|| r.worker_name.clone());
            s.create_sources(records, worker).await?
        }
        SourceOp::StopSource => {
            let mut ids = r.source_id.clone();
            for text in &r.config {
                ids.push(SourceConfig::from_yaml(text).map_err(config_err)?.source_id);
            }
            s.stop_sources(ids).await?
        }
        SourceOp::ShowSource => s.show_sources(r.source_id.clone()).await?,
        SourceOp::UpdateSource | SourceOp::InvalidSourceOp => {
            return Err(SchedError::InvalidArgument(
                "operate-source supports create, stop and show (update: stop the source and create it again)".into(),
            ));
        }
    };
    let result = sources.iter().all(|x| x.result);
    Ok(OperateSourceResponse { result, sources, ..Default::default() })
}

pub async fn start_task(l: &LeaderHandle, r: StartTaskRequest) -> Result<StartTaskResponse, SchedError> {
    if r.remove_meta {
        return Err(SchedError::InvalidArgument(
            "--remove-meta needs the downstream, which comes with the data path; start without it".into(),
        ));
    }
    if !r.start_time.is_empty() {
        return Err(SchedError::InvalidArgument(START_TIME_UNSUPPORTED.into()));
    }
    let (task, new) = build_task(l, &r.task)?;
    let sources = l.scheduler.start_task(new, &r.sources).await?;
    let result = sources.iter().all(|x| x.result);
    let msg = task.warnings.join("; ");
    Ok(StartTaskResponse { result, msg, sources, ..Default::default() })
}

/// Parses and checks a task file and resolves it against the stored sources into its subtasks
/// (what start-task and check-task both do before the scheduler's own checks).
pub(crate) fn build_task(l: &LeaderHandle, text: &str) -> Result<(TaskConfig, NewTask), SchedError> {
    let task = TaskConfig::from_yaml(text).map_err(config_err)?;
    let ids: Vec<String> = task.mysql_instances.iter().map(|i| i.source_id.clone()).collect();
    let stored = l.scheduler.source_configs(&ids)?;
    let mut sources = BTreeMap::new();
    for (id, text) in stored {
        sources.insert(id, SourceConfig::from_stored(&text).map_err(config_err)?);
    }
    let subtasks = task
        .subtasks(&sources)
        .map_err(config_err)?
        .into_iter()
        .map(|st| (st.source_id.clone(), st.to_stored()))
        .collect();
    let new = NewTask { name: task.name.clone(), text: text.to_string(), subtasks, stage: ExpectedStage::Running };
    Ok((task, new))
}

/// A task name, or the name inside a task file (dmctl accepts either).
fn task_name(name: &str) -> Result<String, SchedError> {
    if name.contains('\n') || name.ends_with(".yaml") || name.ends_with(".yml") {
        return Err(SchedError::InvalidArgument(format!(
            "\"{name}\" looks like a task file; give the task name (dm ctl reads the file for you)"
        )));
    }
    if name.is_empty() {
        return Err(SchedError::InvalidArgument("give a task name".into()));
    }
    Ok(name.to_string())
}

pub async fn operate_task(l: &LeaderHandle, r: OperateTaskRequest) -> Result<OperateTaskResponse, SchedError> {
    let op = TaskOp::try_from(r.op).unwrap_or(TaskOp::InvalidTaskOp);
    let action = match op {
        TaskOp::Pause => TaskAction::Set(ExpectedStage::Paused),
        TaskOp::Resume => TaskAction::Set(ExpectedStage::Running),
        TaskOp::Stop => TaskAction::Set(ExpectedStage::Stopped),
        TaskOp::Delete => TaskAction::Delete,
        _ => return Err(SchedError::InvalidArgument(format!("task operation {op:?} is not supported here"))),
    };
    let name = task_name(&r.name)?;
    let sources = l.scheduler.operate_task(action, &name, &r.sources).await?;
    let result = sources.iter().all(|x| x.result);
    Ok(OperateTaskResponse { result, op: r.op, sources, ..Default::default() })
}

pub async fn query_status(l: &LeaderHandle, r: QueryStatusListRequest) -> Result<QueryStatusListResponse, SchedError> {
    let sources = l.scheduler.query_status(&r.name, &r.sources).await?;
    Ok(QueryStatusListResponse { sources, ..Default::default() })
}

pub async fn transfer_source(l: &LeaderHandle, r: TransferSourceRequest) -> Result<TransferSourceResponse, SchedError> {
    l.scheduler.transfer_source(&r.source, &r.worker).await?;
    Ok(TransferSourceResponse::default())
}
