//! Pessimistic shard DDL with fake workers: 4 sources (each merged its own 2 tables before
//! sending), the owner executes once and every other source skips; leader failover at each step
//! of a lock; a source leaving the task mid-lock; replays; stale epochs; unlock.

use std::collections::BTreeSet;

use crate::harness::shard::{ShardWorker, locks, setup};
use crate::harness::workers::Ctl;
use crate::harness::{TIMEOUT, TestCluster, wait_until};

const LOCK: &str = "shard-`shop`.`tb`";
const ADD: &str = "ALTER TABLE tb ADD COLUMN c INT";

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

/// Kills the leader and waits for a new one.
async fn fail_over(c: &mut TestCluster) {
    let old = c.wait_leader().await;
    c.kill(old).await;
    let survivors: Vec<_> = c.live_ids();
    c.wait_leader_among(&survivors).await;
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
