//! `dm ctl`: dmctl's commands against any master (`--master-addr a,b,c`). Prints JSON like dmctl
//! and exits non-zero when `result` is false.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::ctl_inspect as inspect;
use super::ctl_shard as shard;
use super::ctl_tasks as tasks;
use crate::client::ClusterClient;
use crate::config::duration;
use crate::error::Coded;
use crate::pb::master::*;

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// Master client addresses, comma-separated; any master will do.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:8261")]
    pub master_addr: Vec<String>,
    /// Deadline of one command, retries included.
    #[arg(long, default_value = "10m", value_parser = duration::parse)]
    pub rpc_timeout: Duration,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Show the leader, the masters and the workers (all parts when no flag is given).
    ListMember {
        #[arg(long)]
        leader: bool,
        #[arg(long)]
        master: bool,
        #[arg(long)]
        worker: bool,
        /// Only these members (comma-separated).
        #[arg(long, short = 'n', value_delimiter = ',')]
        name: Vec<String>,
    },
    /// Remove a master, or an offline worker, from the cluster.
    #[command(group = clap::ArgGroup::new("kind").required(true).args(["master", "worker"]))]
    OfflineMember {
        /// The member is a master.
        #[arg(long)]
        master: bool,
        /// The member is a worker (it must be offline).
        #[arg(long)]
        worker: bool,
        #[arg(long)]
        name: String,
    },
    /// Create, stop or show upstream sources.
    OperateSource {
        #[arg(required_unless_present = "print_sample_config")]
        op: Option<SourceOpArg>,
        /// source.yaml files (create, stop).
        files: Vec<std::path::PathBuf>,
        /// Source ids (stop, show).
        #[arg(long, short = 's', value_delimiter = ',')]
        source: Vec<String>,
        /// Bind the created source to this free worker.
        #[arg(long, short = 'w')]
        worker: Option<String>,
        /// Print DM's sample source.yaml and exit (no master is contacted).
        #[arg(long)]
        print_sample_config: bool,
    },
    /// Start a task from its task.yaml.
    StartTask {
        #[arg(required_unless_present = "print_sample_config")]
        file: Option<std::path::PathBuf>,
        /// Only these sources of the task.
        #[arg(long, short = 's', value_delimiter = ',')]
        source: Vec<String>,
        #[arg(long)]
        remove_meta: bool,
        #[arg(long, default_value = "")]
        start_time: String,
        /// Print DM's sample task.yaml and exit (no master is contacted).
        #[arg(long)]
        print_sample_config: bool,
    },
    /// Run start-task's checks on a task.yaml without starting anything.
    CheckTask {
        file: std::path::PathBuf,
        /// List at most this many errors.
        #[arg(long, default_value_t = 10)]
        error: i64,
        /// List at most this many warnings.
        #[arg(long, default_value_t = 10)]
        warn: i64,
        #[arg(long, default_value = "")]
        start_time: String,
    },
    /// Show the config of a task, source, master or worker (passwords shown as ******).
    Config { kind: CfgKindArg, name: String },
    /// Pause a task (or some of its sources).
    PauseTask(TaskTarget),
    /// Resume a paused task.
    ResumeTask(TaskTarget),
    /// Stop a task and remove its subtasks (checkpoints stay downstream).
    StopTask(TaskTarget),
    /// Expected and actual stages of tasks, per source.
    QueryStatus {
        /// Task name (all tasks when omitted).
        task: Option<String>,
        #[arg(long, short = 's', value_delimiter = ',')]
        source: Vec<String>,
        /// Accepted for dmctl compatibility; the output is always complete.
        #[arg(long)]
        more: bool,
    },
    /// Move a source to another (free) worker.
    TransferSource { source: String, worker: String },
    /// Evict the receiving master from leadership, or cancel that.
    OperateLeader { op: LeaderOpArg },
    /// List shard DDL locks, or resolve one with `shard-ddl-lock unlock <lock-id>`.
    #[command(alias = "show-ddl-locks")]
    ShardDdlLock(Box<shard::ShardLockArgs>),
    /// DM's older name of `shard-ddl-lock unlock`.
    #[command(hide = true)]
    UnlockDdlLock(Box<shard::UnlockArgs>),
}

/// A task by name or by its task file, optionally limited to some sources.
#[derive(Debug, Args)]
pub struct TaskTarget {
    /// Task name, or the task.yaml it was started from.
    pub task: String,
    #[arg(long, short = 's', value_delimiter = ',')]
    pub source: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SourceOpArg {
    Create,
    Stop,
    Show,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CfgKindArg {
    Task,
    Source,
    Master,
    Worker,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LeaderOpArg {
    Evict,
    CancelEvict,
}

fn print(value: &Value) {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(value, &mut ser).expect("json");
    buf.push(b'\n');
    // A reader that went away (`dm ctl … | head`) is not an error of the command.
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, &buf).and_then(|()| std::io::Write::flush(&mut out));
}

pub(super) fn finish(result: bool, value: Value) -> ExitCode {
    print(&value);
    if result { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn members_json(r: &ListMemberResponse) -> Value {
    let members: Vec<Value> = r
        .members
        .iter()
        .filter_map(|m| m.member.as_ref())
        .map(|m| match m {
            members::Member::Leader(l) => json!({"leader": {"msg": l.msg, "name": l.name, "addr": l.addr}}),
            members::Member::Master(ms) => {
                json!({"master": {"msg": ms.msg, "masters": ms.masters.iter().map(|m| json!({
                "name": m.name, "memberID": m.member_id.to_string(), "alive": m.alive,
                "peerURLs": m.peer_urls, "clientURLs": m.client_urls, "role": m.role,
            })).collect::<Vec<_>>()}})
            }
            members::Member::Worker(ws) => {
                json!({"worker": {"msg": ws.msg, "workers": ws.workers.iter().map(|w| json!({
                "name": w.name, "addr": w.addr, "stage": w.stage, "source": w.source,
            })).collect::<Vec<_>>()}})
            }
        })
        .collect();
    json!({"result": r.result, "msg": r.msg, "members": members})
}

/// Prints a sample file as DM does (`--print-sample-config`).
fn print_sample(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, text.as_bytes()).and_then(|()| std::io::Write::flush(&mut out));
    ExitCode::SUCCESS
}

pub async fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        CtlCommand::OperateSource { print_sample_config: true, .. } => {
            return Ok(print_sample(crate::config::source::SourceConfig::sample()));
        }
        CtlCommand::StartTask { print_sample_config: true, .. } => {
            return Ok(print_sample(crate::config::task::TaskConfig::sample()));
        }
        _ => {}
    }
    let deadline = args.rpc_timeout;
    let endpoints: Vec<String> = args.master_addr.iter().map(|a| a.trim_start_matches("http://").to_string()).collect();
    let mut client =
        ClusterClient::new(endpoints, deadline).with_attempt_timeout(deadline.min(Duration::from_secs(60)));
    let to_user = |e: crate::client::ClientError| e.to_user();
    match args.command {
        CtlCommand::ListMember { leader, master, worker, name } => {
            let req = ListMemberRequest { leader, master, worker, names: name };
            let r = crate::cluster_call!(client, list_member, req).map_err(to_user)?;
            Ok(finish(r.result, members_json(&r)))
        }
        CtlCommand::OfflineMember { master, worker, name } => {
            // clap's group makes exactly one of them given.
            let kind = if master { "master" } else { "worker" };
            debug_assert!(master != worker);
            let req = OfflineMemberRequest { r#type: kind.into(), name };
            let r = crate::cluster_call!(client, offline_member, req).map_err(to_user)?;
            Ok(finish(r.result, json!({"result": r.result, "msg": r.msg})))
        }
        CtlCommand::OperateLeader { op } => {
            let op = match op {
                LeaderOpArg::Evict => LeaderOp::EvictLeader,
                LeaderOpArg::CancelEvict => LeaderOp::CancelEvictLeader,
            };
            let req = OperateLeaderRequest { op: op as i32 };
            let r = crate::cluster_call!(client, operate_leader, req).map_err(to_user)?;
            Ok(finish(r.result, json!({"result": r.result, "msg": r.msg})))
        }
        CtlCommand::OperateSource { op, files, source, worker, print_sample_config: _ } => {
            let op = op.expect("clap requires op without --print-sample-config");
            tasks::operate_source(&mut client, op, files, source, worker).await
        }
        CtlCommand::StartTask { file, source, remove_meta, start_time, print_sample_config: _ } => {
            let file = file.expect("clap requires the file without --print-sample-config");
            tasks::start_task(&mut client, &file, source, remove_meta, start_time).await
        }
        CtlCommand::CheckTask { file, error, warn, start_time } => {
            inspect::check_task(&mut client, &file, error, warn, start_time).await
        }
        CtlCommand::Config { kind, name } => inspect::config(&mut client, kind, name).await,
        CtlCommand::PauseTask(t) => tasks::pause_task(&mut client, t).await,
        CtlCommand::ResumeTask(t) => tasks::resume_task(&mut client, t).await,
        CtlCommand::StopTask(t) => tasks::stop_task(&mut client, t).await,
        CtlCommand::QueryStatus { task, source, more: _ } => tasks::query_status(&mut client, task, source).await,
        CtlCommand::TransferSource { source, worker } => tasks::transfer_source(&mut client, source, worker).await,
        CtlCommand::ShardDdlLock(a) => shard::run(&mut client, *a).await,
        CtlCommand::UnlockDdlLock(a) => shard::unlock(&mut client, *a).await,
    }
}
