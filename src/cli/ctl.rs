//! `dm ctl`: dmctl's commands against any master (`--master-addr a,b,c`). Prints JSON like dmctl
//! and exits non-zero when `result` is false. Later capabilities add the source and task commands.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use crate::client::ClusterClient;
use crate::config::duration;
use crate::error::{Coded, ErrorCode, UserError};
use crate::pb::master::*;

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// Master client addresses, comma-separated; any master will do.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:8261")]
    pub master_addr: Vec<String>,
    /// Deadline of one command, retries included.
    #[arg(long, default_value = "10m")]
    pub rpc_timeout: String,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Show the leader and the masters (all parts when no flag is given).
    ListMember {
        #[arg(long)]
        leader: bool,
        #[arg(long)]
        master: bool,
        /// Only these members (comma-separated).
        #[arg(long, short = 'n', value_delimiter = ',')]
        name: Vec<String>,
    },
    /// Remove a master from the cluster.
    OfflineMember {
        /// The member is a master.
        #[arg(long)]
        master: bool,
        #[arg(long)]
        name: String,
    },
    /// Evict the receiving master from leadership, or cancel that.
    OperateLeader { op: LeaderOpArg },
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
    println!("{}", String::from_utf8_lossy(&buf));
}

fn finish(result: bool, value: Value) -> ExitCode {
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
        })
        .collect();
    json!({"result": r.result, "msg": r.msg, "members": members})
}

pub async fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let deadline = duration::parse(&args.rpc_timeout)
        .map_err(|e| UserError::new(ErrorCode::ConfigInvalid, format!("invalid --rpc-timeout: {e}")))?;
    let endpoints: Vec<String> = args.master_addr.iter().map(|a| a.trim_start_matches("http://").to_string()).collect();
    let mut client =
        ClusterClient::new(endpoints, deadline).with_attempt_timeout(deadline.min(Duration::from_secs(60)));
    let to_user = |e: crate::client::ClientError| e.to_user();
    match args.command {
        CtlCommand::ListMember { leader, master, name } => {
            let req = ListMemberRequest { leader, master, names: name };
            let r = crate::cluster_call!(client, list_member, req).map_err(to_user)?;
            Ok(finish(r.result, members_json(&r)))
        }
        CtlCommand::OfflineMember { master, name } => {
            if !master {
                return Err(UserError::new(
                    ErrorCode::InvalidArgument,
                    "offline-member needs --master (workers come with the scheduler)",
                )
                .into());
            }
            let req = OfflineMemberRequest { r#type: "master".into(), name };
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
    }
}
