//! Read-only calls for dmctl: check-task (start-task's checks, nothing written) and config
//! task|source|worker (stored configs, passwords masked). The master config is answered by the
//! named master itself (see `MasterService::get_cfg`).

use crate::config::show::mask_yaml;
use crate::config::source::SourceConfig;
use crate::error::Coded;
use crate::node::leader::LeaderHandle;
use crate::pb::master::*;
use crate::scheduler::SchedError;

use super::scheduling::{START_TIME_UNSUPPORTED, build_task, config_err};

/// DM's default for check-task's `--error` and `--warn`.
const DEFAULT_LIST_LIMIT: usize = 10;

/// What check-task cannot check yet, said in every answer so nobody takes a pass for more.
pub const PRECHECKS_NOT_RUN: &str = "not run: the database prechecks (privileges, binlog_format, binlog_row_image, \
server_id, versions, table schemas, shard consistency) need connections to the upstream and downstream, which come \
with the data path";

fn limit(n: i64) -> usize {
    if n <= 0 { DEFAULT_LIST_LIMIT } else { n as usize }
}

/// The errors start-task would meet with this file now, in its order.
fn task_errors(l: &LeaderHandle, r: &CheckTaskRequest) -> (Vec<SchedError>, Vec<String>) {
    let mut errors = Vec::new();
    if !r.start_time.is_empty() {
        errors.push(SchedError::InvalidArgument(START_TIME_UNSUPPORTED.into()));
    }
    let task = match crate::config::task::TaskConfig::from_yaml(&r.task) {
        Ok(t) => t,
        Err(e) => {
            errors.push(config_err(e));
            return (errors, Vec::new());
        }
    };
    let missing: Vec<String> = {
        let v = l.scheduler.view.get();
        task.mysql_instances
            .iter()
            .filter(|i| !v.sources.contains_key(&i.source_id))
            .map(|i| i.source_id.clone())
            .collect()
    };
    if !missing.is_empty() {
        errors.extend(missing.into_iter().map(SchedError::SourceNotFound));
        return (errors, task.warnings);
    }
    match build_task(l, &r.task) {
        Ok((_, new)) => errors.extend(l.scheduler.check_start(&new)),
        Err(e) => errors.push(e),
    }
    (errors, task.warnings)
}

/// Lists at most `max` items, then says how many were left out and which flag shows them.
fn listed(out: &mut Vec<String>, kind: &str, items: &[String], max: usize, flag: &str) {
    for (i, item) in items.iter().take(max).enumerate() {
        out.push(format!("{kind} {}: {item}", i + 1));
    }
    if items.len() > max {
        out.push(format!("… and {} more {kind}s (raise {flag} to list them)", items.len() - max));
    }
}

/// check-task: everything start-task checks before writing (the file, its sources, their
/// bindings, an existing task of that name), without writing.
pub fn check_task(l: &LeaderHandle, r: CheckTaskRequest) -> CheckTaskResponse {
    let (errors, warnings) = task_errors(l, &r);
    let code = errors.first().map(|e| e.code().as_i32()).unwrap_or(0);
    let texts: Vec<String> = errors.iter().map(|e| e.to_user().to_string()).collect();
    let mut msg = Vec::new();
    if errors.is_empty() {
        msg.push("check pass!!! (the task file, its sources and their workers)".to_string());
    } else {
        msg.push(format!("check failed: {} error(s), {} warning(s)", errors.len(), warnings.len()));
    }
    listed(&mut msg, "error", &texts, limit(r.error_cnt), "--error");
    listed(&mut msg, "warning", &warnings, limit(r.warn_cnt), "--warn");
    msg.push(PRECHECKS_NOT_RUN.to_string());
    CheckTaskResponse { result: errors.is_empty(), msg: msg.join("\n"), code }
}

/// config task|source|worker <name> from the leader's view.
pub fn get_cfg(l: &LeaderHandle, r: &GetCfgRequest) -> Result<GetCfgResponse, SchedError> {
    let typ = CfgType::try_from(r.r#type).unwrap_or(CfgType::InvalidType);
    if r.name.is_empty() {
        return Err(SchedError::InvalidArgument("config needs a name: config task|source|master|worker <name>".into()));
    }
    let v = l.scheduler.view.get();
    let cfg = match typ {
        CfgType::TaskType => {
            let t = v.tasks.get(&r.name).ok_or_else(|| SchedError::TaskNotFound(r.name.clone()))?;
            mask_yaml(&t.config).map_err(config_err)?
        }
        CfgType::SourceType => {
            let s = v.sources.get(&r.name).ok_or_else(|| SchedError::SourceNotFound(r.name.clone()))?;
            let cfg = SourceConfig::from_stored(&s.config).map_err(config_err)?.masked();
            serde_saphyr::to_string(&cfg)
                .map_err(|e| SchedError::InvalidArgument(format!("cannot print source {}: {e}", r.name)))?
        }
        CfgType::WorkerType => {
            let w = v.workers.get(&r.name).ok_or_else(|| SchedError::WorkerNotFound(r.name.clone()))?;
            return Err(SchedError::WorkerConfigUnknown { worker: r.name.clone(), addr: w.addr.clone() });
        }
        CfgType::MasterType | CfgType::InvalidType => {
            return Err(SchedError::InvalidArgument("config supports task, source, master and worker".into()));
        }
    };
    Ok(GetCfgResponse { cfg, ..Default::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_cut_at_the_limit_and_say_how_to_see_the_rest() {
        let items: Vec<String> = (1..=3).map(|i| format!("e{i}")).collect();
        let cases: [(i64, &[&str]); 4] = [
            (0, &["error 1: e1", "error 2: e2", "error 3: e3"]),
            (-5, &["error 1: e1", "error 2: e2", "error 3: e3"]),
            (2, &["error 1: e1", "error 2: e2", "… and 1 more errors (raise --error to list them)"]),
            (3, &["error 1: e1", "error 2: e2", "error 3: e3"]),
        ];
        for (n, want) in cases {
            let mut out = Vec::new();
            listed(&mut out, "error", &items, limit(n), "--error");
            assert_eq!(out, want, "limit {n}");
        }
    }
}
