//! Pessimistic shard DDL with fake workers: 4 sources (each merged its own 2 tables before
//! sending), the owner executes once and every other source skips; leader failover at each step
//! of a lock; a source leaving the task mid-lock; replays; stale epochs; unlock.

use std::collections::BTreeSet;

use dm::pb::master::*;

use crate::harness::shard::{ShardWorker, fail_over, locks, setup, shard_state};
use crate::harness::workers::Ctl;
use crate::harness::{TIMEOUT, wait_until};

const LOCK: &str = "shard-`shop`.`tb`";
const ADD: &str = "ALTER TABLE tb ADD COLUMN c INT";
const ADD_D: &str = "ALTER TABLE tb ADD COLUMN d INT";

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Every source but the owner skipped and the owner executed exactly once; the lock is gone.
async fn assert_finished(ctl: &Ctl, down: &crate::harness::shard::Downstream, owner: &str, n: usize) {
    wait_until(TIMEOUT, "the lock is resolved and removed", || async { locks(ctl, "shard").await.is_empty() }).await;
    assert_eq!(down.executed_by(LOCK), vec![owner.to_string()], "executed exactly once, by the owner");
    let others: BTreeSet<String> = (1..=n).map(|i| format!("s{i}")).filter(|s| s != owner).collect();
    assert_eq!(down.skipped_by(LOCK), others, "skipped everywhere else");
}

async fn send(ws: &[ShardWorker], which: &[usize]) {
    for i in which {
        let r = ws[*i].put_pessimistic("shard", &[ADD]).await;
        assert!(r.is_ok(), "s{}: {r:?}", i + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_owner_executes_others_skip() {
    let (c, ctl, ws, down) = setup(4, "pessimistic").await;
    send(&ws, &[1, 0, 2]).await;
    let l = &locks(&ctl, "shard").await[0];
    assert_eq!((l.id.as_str(), l.mode.as_str(), l.owner.as_str()), (LOCK, "pessimistic", "s2"), "{l:?}");
    assert_eq!(l.synced, vec!["s1", "s2", "s3"]);
    assert_eq!(l.unsynced, vec!["s4"]);
    assert_eq!(l.stage, "waiting");
    assert!(down.log().is_empty(), "nothing happens before every source arrived");
    send(&ws, &[3]).await;
    assert_finished(&ctl, &down, "s2", 4).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_leader_killed_after_some_infos() {
    let (mut c, ctl, ws, down) = setup(4, "pessimistic").await;
    send(&ws, &[0, 1]).await;
    fail_over(&mut c).await;
    wait_until(TIMEOUT, "the new leader rebuilt the lock", || async {
        locks(&ctl, "shard").await.first().is_some_and(|l| l.synced == vec!["s1", "s2"])
    })
    .await;
    send(&ws, &[2, 3]).await;
    assert_finished(&ctl, &down, "s1", 4).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_leader_killed_after_the_owners_exec_operation() {
    let (mut c, ctl, ws, down) = setup(4, "pessimistic").await;
    for w in &ws {
        w.set_auto(false);
    }
    send(&ws, &[0, 1, 2, 3]).await;
    wait_until(TIMEOUT, "the owner got its exec operation", || async {
        ws[0].ops().iter().any(|o| o.lock_id == LOCK && o.exec)
    })
    .await;
    fail_over(&mut c).await;
    for w in &ws {
        w.set_auto(true);
    }
    assert_finished(&ctl, &down, "s1", 4).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t40_leader_killed_after_some_done_acks() {
    let (mut c, ctl, ws, down) = setup(4, "pessimistic").await;
    for w in &ws[2..] {
        w.set_auto(false);
    }
    send(&ws, &[0, 1, 2, 3]).await;
    wait_until(TIMEOUT, "the owner executed and s2 skipped", || async {
        down.executed_by(LOCK) == vec!["s1"] && down.skipped_by(LOCK) == set(&["s2"])
    })
    .await;
    wait_until(TIMEOUT, "s3 and s4 got their skip operations", || async {
        ws[2..].iter().all(|w| w.ops().iter().any(|o| o.lock_id == LOCK && !o.exec))
    })
    .await;
    fail_over(&mut c).await;
    for w in &ws {
        w.set_auto(true);
    }
    assert_finished(&ctl, &down, "s1", 4).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t50_a_source_leaving_the_task_mid_lock() {
    let (c, ctl, ws, down) = setup(4, "pessimistic").await;
    send(&ws, &[0, 1, 2]).await;
    // s4 never sends its DDL; stop-task on s4 takes it out of the task, and the lock stops
    // waiting for it.
    let req = OperateTaskRequest { op: TaskOp::Delete as i32, name: "shard".into(), sources: vec!["s4".into()] };
    let r = dm::cluster_call!(ctl.client(), operate_task, req).unwrap();
    assert!(r.result, "{r:?}");
    wait_until(TIMEOUT, "the lock is resolved and removed", || async { locks(&ctl, "shard").await.is_empty() }).await;
    assert_eq!(down.executed_by(LOCK), vec!["s1"]);
    assert_eq!(down.skipped_by(LOCK), set(&["s2", "s3"]));
    // The owner leaving before it executed hands the lock to the first waiting source.
    for w in &ws {
        w.set_auto(false);
    }
    for i in [1, 2, 0] {
        assert!(ws[i].put_pessimistic("shard", &[ADD_D]).await.is_ok());
    }
    wait_until(TIMEOUT, "s2 owns the new lock", || async {
        locks(&ctl, "shard").await.first().is_some_and(|l| l.owner == "s2" && l.stage == "executing")
    })
    .await;
    let req = OperateTaskRequest { op: TaskOp::Delete as i32, name: "shard".into(), sources: vec!["s2".into()] };
    assert!(dm::cluster_call!(ctl.client(), operate_task, req).unwrap().result);
    wait_until(TIMEOUT, "s1 owns it now", || async {
        locks(&ctl, "shard").await.first().is_some_and(|l| l.owner == "s1")
    })
    .await;
    for w in &ws {
        w.set_auto(true);
    }
    wait_until(TIMEOUT, "the second lock is resolved", || async { locks(&ctl, "shard").await.is_empty() }).await;
    let executed: Vec<(String, Vec<String>)> =
        down.log().into_iter().filter(|d| !d.executed.is_empty()).map(|d| (d.source, d.executed)).collect();
    let want = vec![("s1".to_string(), vec![ADD.to_string()]), ("s1".to_string(), vec![ADD_D.to_string()])];
    assert_eq!(executed, want, "one execution per lock");
    assert!(down.log().iter().any(|d| d.source == "s3" && d.executed.is_empty() && d.lock_id == LOCK));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t60_replays_are_idempotent_and_stale_epochs_refused() {
    let (c, ctl, ws, down) = setup(2, "pessimistic").await;
    ws[1].set_auto(false);
    send(&ws, &[0, 0, 1]).await;
    wait_until(TIMEOUT, "the owner executed", || async { down.executed_by(LOCK) == vec!["s1"] }).await;
    wait_until(TIMEOUT, "s2 holds its skip operation", || async { ws[1].ops().iter().any(|o| !o.exec) }).await;
    let before = shard_state(&c).await;
    // The owner's ack and Info again: nothing changes (its Info was deleted with the ack; the
    // Info is refused while its operation is done).
    let op = PessimismAck::owner();
    let mut client = ws[0].fake.client();
    let again = ws[0].fake.caller().ack(&mut client, &op).await;
    assert!(again.is_ok(), "{again:?}");
    let info = ws[0].put_pessimistic("shard", &[ADD]).await;
    assert_eq!(info.as_ref().map_err(|e| e.code()).unwrap_err(), 47002, "{info:?}");
    // A stale epoch: refused with 46013.
    let mut stale = ws[1].fake.caller();
    stale.epoch -= 1;
    let r = stale.put_pessimistic(&mut client, "shard", "shop", "tb", &[ADD.to_string()]).await;
    assert_eq!(r.as_ref().map_err(|e| e.code()).unwrap_err(), 46013, "{r:?}");
    let r = stale.ack(&mut client, &ws[1].ops()[0]).await;
    assert_eq!(r.as_ref().map_err(|e| e.code()).unwrap_err(), 46013, "{r:?}");
    assert_eq!(before, shard_state(&c).await, "replays and stale calls changed nothing");
    ws[1].set_auto(true);
    wait_until(TIMEOUT, "the lock is resolved", || async { locks(&ctl, "shard").await.is_empty() }).await;
    assert_eq!(down.executed_by(LOCK), vec!["s1"]);
    c.shutdown().await;
}

/// The owner's exec operation as it acks it.
struct PessimismAck;
impl PessimismAck {
    fn owner() -> ShardDdlOperation {
        ShardDdlOperation {
            task: "shard".into(),
            mode: ShardMode::Pessimistic as i32,
            lock_id: LOCK.into(),
            exec: true,
            ..Default::default()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t70_bad_input_changes_nothing() {
    let (c, ctl, ws, _down) = setup(2, "pessimistic").await;
    send(&ws, &[0]).await;
    let before = shard_state(&c).await;
    let mut client = ws[0].fake.client();
    let caller = ws[0].fake.caller();
    let cases: Vec<(&str, Result<u64, dm::worker::shardddl::ShardCallError>, i32)> = vec![
        ("a DDL that does not parse", ws[0].put_pessimistic("shard", &["SELEC nonsense"]).await, 47006),
        ("no DDL at all", ws[0].put_pessimistic("shard", &[]).await, 38055),
        ("an unknown task", caller.put_pessimistic(&mut client, "nope", "shop", "tb", &[ADD.to_string()]).await, 46011),
        (
            "the wrong mode",
            caller.put_source_tables(&mut client, "shard", &[crate::harness::shard::routed("t1")]).await,
            47007,
        ),
        ("an ack of an operation that does not exist", caller.ack(&mut client, &PessimismAck::owner()).await, 47003),
    ];
    for (what, got, code) in cases {
        assert_eq!(got.as_ref().map_err(|e| e.code()).unwrap_err(), code, "{what}: {got:?}");
    }
    let other = dm::worker::shardddl::ShardDdlCaller { source: "s9".into(), ..caller.clone() };
    let r = other.put_pessimistic(&mut client, "shard", "shop", "tb", &[ADD.to_string()]).await;
    assert_eq!(r.as_ref().map_err(|e| e.code()).unwrap_err(), 46013, "an unknown source: {r:?}");
    let req = UnlockDdlLockRequest { id: "shard-`shop`.`nope`".into(), ..Default::default() };
    let r = dm::cluster_call!(ctl.client(), unlock_ddl_lock, req).unwrap();
    assert!(!r.result && r.code == 47001, "{r:?}");
    assert_eq!(before, shard_state(&c).await, "bad input changed nothing");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t80_unlock_with_another_owner_and_skip() {
    let (c, ctl, ws, down) = setup(3, "pessimistic").await;
    // s3 never sends its DDL: the lock waits; the operator unlocks it with s2 as the owner.
    send(&ws, &[0, 1]).await;
    let req = UnlockDdlLockRequest { id: LOCK.into(), replace_owner: "s2".into(), ..Default::default() };
    let r = dm::cluster_call!(ctl.client(), unlock_ddl_lock, req).unwrap();
    assert!(r.result, "{r:?}");
    assert!(locks(&ctl, "shard").await.is_empty());
    assert_eq!(down.executed_by(LOCK), vec!["s2"]);
    assert_eq!(down.skipped_by(LOCK), set(&["s1"]), "only sources that were waiting skip");
    // An owner that is not waiting is refused, and nothing changes.
    assert!(ws[0].put_pessimistic("shard", &[ADD_D]).await.is_ok());
    let before = shard_state(&c).await;
    let req = UnlockDdlLockRequest { id: LOCK.into(), replace_owner: "s3".into(), ..Default::default() };
    let r = dm::cluster_call!(ctl.client(), unlock_ddl_lock, req).unwrap();
    assert!(!r.result && r.code == 47008 && r.msg.contains("not waiting"), "{r:?}");
    assert_eq!(before, shard_state(&c).await);
    // Skip: nobody executes; the waiting source skips.
    let req = UnlockDdlLockRequest { id: LOCK.into(), action: "skip".into(), ..Default::default() };
    let r = dm::cluster_call!(ctl.client(), unlock_ddl_lock, req).unwrap();
    assert!(r.result, "{r:?}");
    assert!(locks(&ctl, "shard").await.is_empty());
    assert_eq!(down.executed_by(LOCK), vec!["s2"], "the skipped lock executed nowhere");
    c.shutdown().await;
}
