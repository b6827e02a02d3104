//! `dm ctl shard-ddl-lock`: list the shard DDL locks (DM's `show-ddl-locks`) and resolve one by
//! hand with `shard-ddl-lock unlock <lock-id>` (DM's `unlock-ddl-lock`). The leader decides;
//! this only builds the request and prints DM's JSON.

use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use super::ctl::finish;
use crate::client::{ClientError, ClusterClient};
use crate::error::Coded;
use crate::pb::master::*;

/// `shard-ddl-lock [task] [-s source]`, or `shard-ddl-lock unlock <lock-id> …`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ShardLockArgs {
    /// Only the locks of this task (all tasks when omitted).
    pub task: Option<String>,
    /// Only locks involving one of these sources (comma-separated or repeated).
    #[arg(long, short = 's', value_delimiter = ',')]
    pub source: Vec<String>,
    #[command(subcommand)]
    pub op: Option<ShardLockOp>,
}

#[derive(Debug, Subcommand)]
pub enum ShardLockOp {
    /// Resolve a lock by hand (see `dm ctl shard-ddl-lock` for the ids).
    Unlock(UnlockArgs),
}

/// What an unlock does with the lock's DDLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnlockAction {
    Exec,
    Skip,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The lock, as listed: task-`schema`.`table`.
    pub lock_id: String,
    /// Pessimistic: this source executes the DDLs instead of the lock's owner.
    #[arg(long, short = 'o')]
    pub owner: Option<String>,
    /// Remove the lock even if its DDLs are not executed (pessimistic: after the owner's wait;
    /// optimistic: at once, with its records).
    #[arg(long, short = 'f')]
    pub force_remove: bool,
    /// Pessimistic: skip = nobody executes (default exec: the owner does). Optimistic: what the
    /// conflicted table does with its DDLs (default skip, as in dmctl).
    #[arg(long, short = 'a', value_enum)]
    pub action: Option<UnlockAction>,
    /// Optimistic: the source of the conflicted table (exactly one).
    #[arg(long, short = 's', value_delimiter = ',')]
    pub source: Vec<String>,
    /// Optimistic: the upstream database of the conflicted table.
    #[arg(long, short = 'd', default_value = "")]
    pub database: String,
    /// Optimistic: the upstream table of the conflicted table.
    #[arg(long, short = 't', default_value = "")]
    pub table: String,
}

/// One lock as dmctl prints it (`ID`, `DDLs` spelled as DM does).
fn lock_json(l: &DdlLock) -> Value {
    json!({
        "ID": l.id,
        "task": l.task,
        "mode": l.mode,
        "owner": l.owner,
        "DDLs": l.ddls,
        "synced": l.synced,
        "unsynced": l.unsynced,
        "messages": l.messages,
        "stage": l.stage,
    })
}

pub async fn show(client: &mut ClusterClient, task: Option<String>, sources: Vec<String>) -> anyhow::Result<ExitCode> {
    let req = ShowDdlLocksRequest { task: task.unwrap_or_default(), sources };
    let r = crate::cluster_call!(client, show_ddl_locks, req).map_err(|e: ClientError| e.to_user())?;
    let locks: Vec<Value> = r.locks.iter().map(lock_json).collect();
    Ok(finish(r.result, json!({"result": r.result, "msg": r.msg, "locks": locks})))
}

/// The request an unlock sends (the leader checks the combination of flags per mode).
pub fn unlock_request(a: UnlockArgs) -> UnlockDdlLockRequest {
    let action = match a.action {
        None => "",
        Some(UnlockAction::Exec) => "exec",
        Some(UnlockAction::Skip) => "skip",
    };
    UnlockDdlLockRequest {
        id: a.lock_id,
        replace_owner: a.owner.unwrap_or_default(),
        force_remove: a.force_remove,
        action: action.to_string(),
        sources: a.source,
        database: a.database,
        table: a.table,
    }
}

pub async fn unlock(client: &mut ClusterClient, a: UnlockArgs) -> anyhow::Result<ExitCode> {
    let req = unlock_request(a);
    let r = crate::cluster_call!(client, unlock_ddl_lock, req).map_err(|e: ClientError| e.to_user())?;
    Ok(finish(r.result, json!({"result": r.result, "msg": r.msg})))
}

/// Runs `shard-ddl-lock` (or its DM aliases).
pub async fn run(client: &mut ClusterClient, args: ShardLockArgs) -> anyhow::Result<ExitCode> {
    match args.op {
        Some(ShardLockOp::Unlock(a)) => unlock(client, a).await,
        None => show(client, args.task, args.source).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ShardLockArgs,
    }

    fn parse(args: &[&str]) -> Result<ShardLockArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("shard-ddl-lock").chain(args.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn list_takes_an_optional_task_and_sources() {
        let a = parse(&["shard", "-s", "s1,s2"]).unwrap();
        assert_eq!((a.task.as_deref(), a.source.as_slice()), (Some("shard"), &["s1".into(), "s2".into()][..]));
        assert!(a.op.is_none());
        assert!(parse(&[]).unwrap().task.is_none());
    }

    #[test]
    fn unlock_flags_become_the_request() {
        let a = parse(&["unlock", "shard-`shop`.`tb`", "-a", "skip", "-s", "s2", "-d", "shop", "-t", "t1"]).unwrap();
        let Some(ShardLockOp::Unlock(u)) = a.op else { panic!("not an unlock: {a:?}") };
        let r = unlock_request(u);
        assert_eq!((r.id.as_str(), r.action.as_str()), ("shard-`shop`.`tb`", "skip"));
        assert_eq!((r.sources, r.database, r.table), (vec!["s2".to_string()], "shop".into(), "t1".into()));
        let a = parse(&["unlock", "x", "--owner", "s3", "--force-remove"]).unwrap();
        let Some(ShardLockOp::Unlock(u)) = a.op else { panic!("not an unlock") };
        let r = unlock_request(u);
        assert_eq!((r.replace_owner.as_str(), r.force_remove, r.action.as_str()), ("s3", true, ""));
    }

    #[test]
    fn unlock_usage_errors() {
        for bad in [&["unlock"][..], &["unlock", "x", "--action", "drop"], &["unlock", "x", "--bogus"]] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
