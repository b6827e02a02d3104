//! The storage integration tests' harness: a state machine in a temp dir, commands applied one
//! per log entry, and a dump of every record for "a rejected command changed nothing" checks.
#![allow(dead_code)]

use dm_storage::scheduling::*;
use dm_storage::shardddl::*;
use dm_storage::typ::{Entry, EntryPayload, LogId};
use dm_storage::{Command, CommandOutput, Rejected, StateMachine, Store, StoreOptions};
use openraft::CommittedLeaderId;
use openraft::storage::RaftStateMachine;

pub struct T {
    _dir: tempfile::TempDir,
    pub store: Store,
    next: u64,
}

impl T {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        T { _dir: dir, store, next: 1 }
    }

    pub async fn run(&mut self, cmd: Command) -> (u64, Result<CommandOutput, Rejected>) {
        let log_id = LogId::new(CommittedLeaderId::new(1, 1), self.next);
        self.next += 1;
        let sm: &mut StateMachine = &mut self.store.state_machine;
        let mut res = sm.apply(vec![Entry { log_id, payload: EntryPayload::Normal(cmd) }]).await.unwrap();
        let r = res.pop().unwrap();
        (r.revision, r.outcome)
    }

    pub async fn ok(&mut self, cmd: Command) -> u64 {
        let (rev, out) = self.run(cmd.clone()).await;
        assert!(out.is_ok(), "{cmd:?}: {out:?}");
        rev
    }

    pub async fn rejected(&mut self, cmd: Command) -> Rejected {
        let before = self.dump();
        let (_, out) = self.run(cmd.clone()).await;
        assert_eq!(self.dump(), before, "a rejected {cmd:?} changed the state");
        out.expect_err("expected a rejection")
    }

    /// Every scheduling and shard-DDL record, for "nothing changed" checks.
    pub fn dump(&self) -> String {
        let r = &self.store.reader;
        format!(
            "{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}{:?}",
            r.list::<Workers>().unwrap(),
            r.list::<Sources>().unwrap(),
            r.list::<Bounds>().unwrap(),
            r.list::<WorkerBounds>().unwrap(),
            r.list::<LastBounds>().unwrap(),
            r.list::<SourceTasks>().unwrap(),
            r.list::<Tasks>().unwrap(),
            r.list::<Subtasks>().unwrap(),
            r.list::<PessimismInfos>().unwrap(),
            r.list::<PessimismOps>().unwrap(),
            r.list::<OptimismSourceTables>().unwrap(),
            r.list::<OptimismInfos>().unwrap(),
            r.list::<OptimismOps>().unwrap(),
            r.list::<OptimismDroppedColumns>().unwrap(),
            r.list::<OptimismPendingOps>().unwrap()
        )
    }
}

pub fn reg(name: &str, addr: &str) -> Command {
    Command::RegisterWorker { name: name.into(), addr: addr.into(), keepalive_ttl_ms: 15_000 }
}

pub fn source(id: &str) -> Command {
    Command::CreateSource { source: SourceRecord { source_id: id.into(), config: format!("cfg-{id}") } }
}

pub fn bind(s: &str, w: &str) -> Command {
    Command::BindSource { source_id: s.into(), worker: w.into() }
}

pub fn task(name: &str, sources: &[&str]) -> Command {
    Command::PutTask {
        task: TaskRecord {
            name: name.into(),
            config: "name: t".into(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
        },
        expect: dm_storage::command::Expect::Absent,
    }
}

pub fn subtask(task: &str, source: &str) -> SubtaskRecord {
    SubtaskRecord { task: task.into(), source: source.into(), config: "{}".into(), stage: ExpectedStage::Running }
}
