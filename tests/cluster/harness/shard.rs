//! Shard-DDL fixtures: a sharding task over fake workers, a fake downstream that records what
//! each source executed or skipped, and workers that act on their operations (automatically, or
//! when the test says so).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dm::pb::master::*;
use dm::worker::shardddl::OptimisticDdl;
use tokio::task::JoinHandle;

use super::fake::FakeWorker;
use super::workers::Ctl;
use super::{TIMEOUT, TestCluster, wait_until};

/// A task over `sources` merging `shop.t*` into `shop.tb` in `mode`.
pub fn sharded_task_yaml(name: &str, sources: &[&str], mode: &str) -> String {
    let mut t = format!(
        "name: {name}\ntask-mode: all\nshard-mode: {mode}\ntarget-database:\n  host: 127.0.0.1\n  port: 4000\n  user: root\n  password: \"\"\nmysql-instances:\n"
    );
    for s in sources {
        t.push_str(&format!("  - source-id: {s}\n    block-allow-list: instance\n    route-rules: [\"merge\"]\n"));
    }
    t.push_str("block-allow-list:\n  instance:\n    do-dbs: [\"shop\"]\n");
    t.push_str("routes:\n  merge:\n    schema-pattern: \"shop\"\n    table-pattern: \"t*\"\n    target-schema: \"shop\"\n    target-table: \"tb\"\n");
    t
}

/// One thing a source did downstream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Done {
    pub source: String,
    pub lock_id: String,
    /// Upstream table (optimistic), "" for pessimistic.
    pub table: String,
    /// DDLs executed ("" when skipped).
    pub executed: Vec<String>,
    pub stage: String,
}

/// What reached the (fake) downstream.
#[derive(Clone, Default)]
pub struct Downstream(pub Arc<Mutex<Vec<Done>>>);

impl Downstream {
    pub fn log(&self) -> Vec<Done> {
        self.0.lock().unwrap().clone()
    }

    /// Sources that executed `lock_id`'s DDLs (pessimistic).
    pub fn executed_by(&self, lock_id: &str) -> Vec<String> {
        self.log().into_iter().filter(|d| d.lock_id == lock_id && !d.executed.is_empty()).map(|d| d.source).collect()
    }

    pub fn skipped_by(&self, lock_id: &str) -> BTreeSet<String> {
        self.log().into_iter().filter(|d| d.lock_id == lock_id && d.executed.is_empty()).map(|d| d.source).collect()
    }
}

/// A fake worker that executes or skips its operations and acks them, once each (what a real
/// worker's checkpoint gives), while `auto` is on.
pub struct ShardWorker {
    pub fake: FakeWorker,
    pub auto: Arc<AtomicBool>,
    acting: JoinHandle<()>,
}

impl ShardWorker {
    pub async fn start(masters: &[String], name: &str, down: &Downstream) -> ShardWorker {
        let fake = FakeWorker::start(masters, name).await;
        let auto = Arc::new(AtomicBool::new(true));
        let (held, a, d, n, m) = (fake.held.clone(), auto.clone(), down.clone(), name.to_string(), masters.to_vec());
        let changed = fake.changed.clone();
        let acting = tokio::spawn(async move {
            // Operations already acted on (lock, table, Info revision, DDLs, exec, stage): a replayed
            // operation is only acked.
            let mut acted: BTreeSet<(String, String, u64, Vec<String>, bool, String)> = BTreeSet::new();
            let mut client = super::fake::client(&m);
            let mut failed = false;
            loop {
                // Act on each new assignment (or on set_auto(true)); after a failed ack, retry
                // when the next assignment comes or within a second.
                if failed {
                    let _ = tokio::time::timeout(Duration::from_secs(1), changed.notified()).await;
                } else {
                    changed.notified().await;
                }
                failed = false;
                if !a.load(Ordering::SeqCst) {
                    continue;
                }
                let h = held.lock().unwrap().clone();
                for op in h.ops {
                    let table = format!("{}.{}", op.up_schema, op.up_table);
                    let key = (
                        op.lock_id.clone(),
                        table.clone(),
                        op.info_revision,
                        op.ddls.clone(),
                        op.exec,
                        op.conflict_stage.clone(),
                    );
                    if acted.insert(key) {
                        let exec = op.mode == ShardMode::Pessimistic as i32 && op.exec
                            || op.mode == ShardMode::Optimistic as i32 && !op.ddls.is_empty();
                        let stage = op.conflict_stage.clone();
                        d.0.lock().unwrap().push(Done {
                            source: h.source.clone(),
                            lock_id: op.lock_id.clone(),
                            table: if op.mode == ShardMode::Optimistic as i32 { table } else { String::new() },
                            executed: if exec { op.ddls.clone() } else { Vec::new() },
                            stage,
                        });
                    }
                    // Stages that ask the worker to wait are not acked.
                    if matches!(op.conflict_stage.as_str(), "detected" | "skip and wait for redirect" | "error") {
                        continue;
                    }
                    let caller = dm::worker::shardddl::ShardDdlCaller {
                        worker: n.clone(),
                        source: h.source.clone(),
                        epoch: h.epoch,
                    };
                    failed |= caller.ack(&mut client, &op).await.is_err();
                }
            }
        });
        ShardWorker { fake, auto, acting }
    }

    pub fn set_auto(&self, on: bool) {
        self.auto.store(on, Ordering::SeqCst);
        self.fake.changed.notify_one();
    }

    pub fn ops(&self) -> Vec<ShardDdlOperation> {
        self.fake.held().ops
    }

    pub async fn put_pessimistic(
        &self,
        task: &str,
        ddls: &[&str],
    ) -> Result<u64, dm::worker::shardddl::ShardCallError> {
        let ddls: Vec<String> = ddls.iter().map(|d| d.to_string()).collect();
        self.fake.caller().put_pessimistic(&mut self.fake.client(), task, "shop", "tb", &ddls).await
    }

    pub async fn put_tables(&self, task: &str, tables: &[&str]) -> Result<u64, dm::worker::shardddl::ShardCallError> {
        let tables: Vec<ShardTable> = tables.iter().map(|t| routed(t)).collect();
        self.fake.caller().put_source_tables(&mut self.fake.client(), task, &tables).await
    }

    /// An optimistic Info of `table` going from `before` through `ddls` (schemas derived by the
    /// master).
    pub async fn put_optimistic(
        &self,
        task: &str,
        table: &str,
        before: &str,
        ddls: &[&str],
    ) -> Result<u64, dm::worker::shardddl::ShardCallError> {
        let ddl = OptimisticDdl {
            table: routed(table),
            ddls: ddls.iter().map(|d| d.to_string()).collect(),
            before: before.to_string(),
            ..Default::default()
        };
        self.fake.caller().put_optimistic(&mut self.fake.client(), task, &ddl).await
    }
}

impl Drop for ShardWorker {
    fn drop(&mut self) {
        self.acting.abort();
    }
}

pub fn routed(table: &str) -> ShardTable {
    ShardTable { up_schema: "shop".into(), up_table: table.into(), down_schema: "shop".into(), down_table: "tb".into() }
}

/// A 3-master cluster, `n` shard workers each bound to its own source, and a started task.
pub async fn setup(n: usize, mode: &str) -> (TestCluster, Ctl, Vec<ShardWorker>, Downstream) {
    setup_with(n, mode, |_| {}).await
}

/// [`setup`] with each master's config adjusted by `tweak` (e.g. a short `shard_ddl.unlock_wait`).
pub async fn setup_with(
    n: usize,
    mode: &str,
    tweak: impl Fn(&mut dm::config::master::MasterConfig),
) -> (TestCluster, Ctl, Vec<ShardWorker>, Downstream) {
    let c = TestCluster::start_with(3, tweak).await;
    c.wait_leader().await;
    let masters: Vec<String> = c.ids().iter().map(|id| c.client_addr(*id)).collect();
    let ctl = Ctl(masters.clone());
    let down = Downstream::default();
    let mut workers = Vec::new();
    let sources: Vec<String> = (1..=n).map(|i| format!("s{i}")).collect();
    for i in 1..=n {
        workers.push(ShardWorker::start(&masters, &format!("w{i}"), &down).await);
        let src = sources[i - 1].clone();
        let r = ctl.create_sources(&[src.as_str()]).await;
        assert!(r.result, "{r:?}");
        let w = &workers[i - 1];
        wait_until(TIMEOUT, "the worker holds its source", || async { w.fake.held().source == src }).await;
    }
    let refs: Vec<&str> = sources.iter().map(String::as_str).collect();
    let req = StartTaskRequest { task: sharded_task_yaml("shard", &refs, mode), ..Default::default() };
    let r = dm::cluster_call!(ctl.client(), start_task, req).unwrap();
    assert!(r.result, "{r:?}");
    (c, ctl, workers, down)
}

/// The locks as ShowDdlLocks lists them.
pub async fn locks(ctl: &Ctl, task: &str) -> Vec<DdlLock> {
    let req = ShowDdlLocksRequest { task: task.into(), sources: vec![] };
    let r = dm::cluster_call!(ctl.client(), show_ddl_locks, req).unwrap();
    assert!(r.result, "{r:?}");
    r.locks
}

/// Every shard-DDL record on the leader, for "nothing changed" checks.
pub async fn shard_state(c: &TestCluster) -> String {
    use dm_storage::shardddl::*;
    let leader = c.wait_leader().await;
    let r = &c.node(leader).shared.ctx.reader;
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        r.list::<PessimismInfos>().unwrap(),
        r.list::<PessimismOps>().unwrap(),
        r.list::<OptimismSourceTables>().unwrap(),
        r.list::<OptimismInfos>().unwrap(),
        r.list::<OptimismOps>().unwrap(),
        r.list::<OptimismDroppedColumns>().unwrap(),
        r.list::<OptimismPendingOps>().unwrap()
    )
}

/// Kills the leader, waits for a new one, and restarts the old one (so a later failover still
/// has a majority).
pub async fn fail_over(c: &mut TestCluster) {
    let old = c.wait_leader().await;
    c.kill(old).await;
    let survivors = c.live_ids();
    c.wait_leader_among(&survivors).await;
    c.restart(old).await;
}
