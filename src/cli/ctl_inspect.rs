//! `dm ctl` read-only commands: check-task (start-task's checks, nothing started) and
//! config task|source|master|worker (the stored or effective config, passwords masked).

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use super::ctl::{CfgKindArg, finish};
use super::ctl_tasks::read;
use crate::client::{ClientError, ClusterClient};
use crate::error::Coded;
use crate::pb::master::*;

pub async fn check_task(
    client: &mut ClusterClient,
    file: &Path,
    error_cnt: i64,
    warn_cnt: i64,
    start_time: String,
) -> anyhow::Result<ExitCode> {
    let req = CheckTaskRequest { task: read(file)?, error_cnt, warn_cnt, start_time };
    let r = crate::cluster_call!(client, check_task, req).map_err(|e: ClientError| e.to_user())?;
    Ok(finish(r.result, json!({"result": r.result, "msg": r.msg})))
}

pub async fn config(client: &mut ClusterClient, kind: CfgKindArg, name: String) -> anyhow::Result<ExitCode> {
    let typ = match kind {
        CfgKindArg::Task => CfgType::TaskType,
        CfgKindArg::Source => CfgType::SourceType,
        CfgKindArg::Master => CfgType::MasterType,
        CfgKindArg::Worker => CfgType::WorkerType,
    };
    let req = GetCfgRequest { r#type: typ as i32, name };
    let r = crate::cluster_call!(client, get_cfg, req).map_err(|e: ClientError| e.to_user())?;
    Ok(finish(r.result, json!({"result": r.result, "msg": r.msg, "cfg": r.cfg})))
}
