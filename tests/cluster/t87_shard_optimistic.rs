//! Optimistic shard DDL with fake workers: 4 sources × 2 tables merged into one table. Only DDLs
//! that change the joined schema reach the downstream; a rename waits for every table and then
//! redirects; leader failover mid-lock; stop-task removes the lock; bad input changes nothing.

use std::collections::BTreeSet;

use dm::pb::master::*;

use crate::harness::shard::{ShardWorker, fail_over, locks, setup, shard_state};
use crate::harness::{TIMEOUT, wait_until};

const LOCK: &str = "shard-`shop`.`tb`";
const BEFORE: &str = "CREATE TABLE t (id INT PRIMARY KEY, a INT)";
const ADD: &str = "ALTER TABLE t ADD COLUMN c INT";
const TABLES: [&str; 2] = ["t1", "t2"];

/// Every (worker index, table) of the lock, in order.
fn all_tables(n: usize) -> Vec<(usize, &'static str)> {
    (0..n).flat_map(|w| TABLES.iter().map(move |t| (w, *t))).collect()
}

async fn put_tables(ws: &[ShardWorker]) {
    for w in ws {
        let r = w.put_tables("shard", &TABLES).await;
        assert!(r.is_ok(), "{r:?}");
    }
}

async fn send(ws: &[ShardWorker], which: &[(usize, &str)], ddl: &str) {
    for (w, t) in which {
        let r = ws[*w].put_optimistic("shard", t, BEFORE, &[ddl]).await;
        assert!(r.is_ok(), "s{} {t}: {r:?}", w + 1);
    }
}

/// (source, table) that executed `ddl`.
fn executed(down: &crate::harness::shard::Downstream, ddl: &str) -> BTreeSet<(String, String)> {
    down.log().into_iter().filter(|d| d.executed.iter().any(|e| e == ddl)).map(|d| (d.source, d.table)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_add_column_on_every_table() {
    let (c, ctl, ws, down) = setup(4, "optimistic").await;
    put_tables(&ws).await;
    let tables = all_tables(4);
    send(&ws, &tables[..3], ADD).await;
    wait_until(TIMEOUT, "three tables executed the ADD", || async { executed(&down, ADD).len() == 3 }).await;
    let l = &locks(&ctl, "shard").await[0];
    assert_eq!((l.id.as_str(), l.mode.as_str(), l.stage.as_str()), (LOCK, "optimistic", "unsynced"), "{l:?}");
    assert_eq!(l.synced, vec!["s1-`shop`.`t1`", "s1-`shop`.`t2`", "s2-`shop`.`t1`"], "tables with the joined schema");
    assert_eq!(l.unsynced.len(), 5);
    send(&ws, &tables[3..], ADD).await;
    wait_until(TIMEOUT, "the lock is resolved and removed", || async { locks(&ctl, "shard").await.is_empty() }).await;
    assert_eq!(executed(&down, ADD).len(), 8, "each table's ADD reaches the downstream (idempotent there)");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_partial_drop_is_not_emitted_until_the_last_table() {
    let (c, ctl, ws, down) = setup(2, "optimistic").await;
    put_tables(&ws).await;
    let drop = "ALTER TABLE t DROP COLUMN a";
    let tables = all_tables(2);
    send(&ws, &tables[..3], drop).await;
    wait_until(TIMEOUT, "three tables acked their (empty) operations", || async {
        down.log().iter().filter(|d| d.lock_id == LOCK).count() == 3
    })
    .await;
    assert!(executed(&down, drop).is_empty(), "a is still on one table: not dropped downstream");
    send(&ws, &tables[3..], drop).await;
    wait_until(TIMEOUT, "the lock is resolved", || async { locks(&ctl, "shard").await.is_empty() }).await;
    assert_eq!(executed(&down, drop), [("s2".to_string(), "shop.t2".to_string())].into(), "dropped once, by the last");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_rename_waits_then_redirects() {
    let (c, ctl, ws, down) = setup(2, "optimistic").await;
    put_tables(&ws).await;
    let rename = "ALTER TABLE t RENAME COLUMN a TO b";
    let tables = all_tables(2);
    send(&ws, &tables[..3], rename).await;
    wait_until(TIMEOUT, "three tables wait for redirect", || async {
        ws.iter().flat_map(|w| w.ops()).filter(|o| o.conflict_stage == "skip and wait for redirect").count() == 3
    })
    .await;
    let l = &locks(&ctl, "shard").await[0];
    assert_eq!(l.stage, "conflict", "{l:?}");
    assert_eq!(l.messages.len(), 3, "{l:?}");
    send(&ws, &tables[3..], rename).await;
    wait_until(TIMEOUT, "the lock is resolved", || async { locks(&ctl, "shard").await.is_empty() }).await;
    assert_eq!(executed(&down, rename), [("s2".to_string(), "shop.t2".to_string())].into());
    let redirected: BTreeSet<String> =
        down.log().into_iter().filter(|d| d.stage == "resolved").map(|d| format!("{}.{}", d.source, d.table)).collect();
    assert_eq!(redirected.len(), 3, "every waiting table was redirected: {:?}", down.log());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t40_leader_killed_mid_lock() {
    let (mut c, ctl, ws, down) = setup(4, "optimistic").await;
    put_tables(&ws).await;
    let tables = all_tables(4);
    for w in &ws {
        w.set_auto(false);
    }
    // Some Infos answered but not acked.
    send(&ws, &tables[..3], ADD).await;
    wait_until(TIMEOUT, "three operations delivered", || async {
        ws.iter().map(|w| w.ops().len()).sum::<usize>() == 3
    })
    .await;
    fail_over(&mut c).await;
    wait_until(TIMEOUT, "the new leader rebuilt the lock", || async {
        locks(&ctl, "shard").await.first().is_some_and(|l| l.synced.len() == 3)
    })
    .await;
    ws[0].set_auto(true);
    wait_until(TIMEOUT, "s1's tables acked", || async { executed(&down, ADD).len() == 2 }).await;
    // Then after some done acks.
    fail_over(&mut c).await;
    for w in &ws {
        w.set_auto(true);
    }
    send(&ws, &tables[3..], ADD).await;
    wait_until(TIMEOUT, "the lock is resolved", || async { locks(&ctl, "shard").await.is_empty() }).await;
    assert_eq!(executed(&down, ADD).len(), 8);
    assert_eq!(down.log().len(), 8, "each table acted once: {:?}", down.log());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t50_stop_task_removes_the_lock_and_its_records() {
    let (c, ctl, ws, _down) = setup(2, "optimistic").await;
    put_tables(&ws).await;
    send(&ws, &all_tables(2)[..1], "ALTER TABLE t RENAME COLUMN a TO b").await;
    wait_until(TIMEOUT, "the lock exists", || async { !locks(&ctl, "shard").await.is_empty() }).await;
    let req = OperateTaskRequest { op: TaskOp::Delete as i32, name: "shard".into(), sources: vec![] };
    assert!(dm::cluster_call!(ctl.client(), operate_task, req).unwrap().result);
    wait_until(TIMEOUT, "no lock is left", || async { locks(&ctl, "").await.is_empty() }).await;
    let state = shard_state(&c).await;
    assert_eq!(state, "[]\n[]\n[]\n[]\n[]\n[]\n[]", "every record went with the task");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t60_bad_input_changes_nothing() {
    let (c, ctl, ws, _down) = setup(2, "optimistic").await;
    put_tables(&ws).await;
    send(&ws, &all_tables(2)[..1], ADD).await;
    wait_until(TIMEOUT, "its operation is done", || async {
        !shard_state(&c).await.contains("done: false") && shard_state(&c).await.contains("done: true")
    })
    .await;
    let before = shard_state(&c).await;
    let w = &ws[0];
    let mut client = w.fake.client();
    let caller = w.fake.caller();
    let cases: Vec<(&str, Result<u64, dm::worker::shardddl::ShardCallError>, i32)> = vec![
        ("an unknown table", w.put_optimistic("shard", "t9", BEFORE, &[ADD]).await, 47004),
        ("a DDL that does not parse", w.put_optimistic("shard", "t1", BEFORE, &["SELEC 1"]).await, 47006),
        (
            "a DDL that does not fit the table",
            w.put_optimistic("shard", "t1", BEFORE, &["ALTER TABLE t DROP COLUMN zz"]).await,
            47006,
        ),
        ("a schema that is not CREATE TABLE", w.put_optimistic("shard", "t1", "CREATE TABL x", &[ADD]).await, 47006),
        ("the wrong mode", w.put_pessimistic("shard", &[ADD]).await, 47007),
        (
            "an ack of an operation that does not exist",
            caller
                .ack(
                    &mut client,
                    &ShardDdlOperation {
                        task: "shard".into(),
                        mode: ShardMode::Optimistic as i32,
                        up_schema: "shop".into(),
                        up_table: "t2".into(),
                        info_revision: 1,
                        ..Default::default()
                    },
                )
                .await,
            47003,
        ),
    ];
    for (what, got, code) in cases {
        assert_eq!(got.as_ref().map_err(|e| e.code()).unwrap_err(), code, "{what}: {got:?}");
    }
    let req = UnlockDdlLockRequest {
        id: LOCK.into(),
        sources: vec!["s1".into()],
        database: "shop".into(),
        table: "t1".into(),
        ..Default::default()
    };
    let r = dm::cluster_call!(ctl.client(), unlock_ddl_lock, req).unwrap();
    assert!(!r.result && r.code == 47008 && r.msg.contains("not conflicted"), "a table without conflict: {r:?}");
    assert_eq!(before, shard_state(&c).await, "bad input changed nothing");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t70_a_source_leaving_mid_lock_and_stale_epochs() {
    let (c, ctl, ws, down) = setup(3, "optimistic").await;
    put_tables(&ws).await;
    let tables = all_tables(3);
    // s1 and s2 add the column; s3 never does.
    send(&ws, &tables[..4], ADD).await;
    wait_until(TIMEOUT, "four tables executed the ADD and acked", || async {
        executed(&down, ADD).len() == 4 && !shard_state(&c).await.contains("done: false")
    })
    .await;
    // A stale epoch is refused and changes nothing.
    let before = shard_state(&c).await;
    let mut stale = ws[2].fake.caller();
    stale.epoch -= 1;
    let ddl = dm::worker::shardddl::OptimisticDdl {
        table: crate::harness::shard::routed("t1"),
        ddls: vec![ADD.to_string()],
        before: BEFORE.to_string(),
        ..Default::default()
    };
    let r = stale.put_optimistic(&mut ws[2].fake.client(), "shard", &ddl).await;
    assert_eq!(r.as_ref().map_err(|e| e.code()).unwrap_err(), 46013, "{r:?}");
    // A replayed Info changes nothing either.
    send(&ws, &tables[..1], ADD).await;
    assert_eq!(before, shard_state(&c).await, "a stale call and a replay changed nothing");
    assert_eq!(locks(&ctl, "shard").await[0].unsynced.len(), 2, "s3's tables lack the column");
    // s3 leaves the task: its tables leave the lock, which resolves.
    let req = OperateTaskRequest { op: TaskOp::Delete as i32, name: "shard".into(), sources: vec!["s3".into()] };
    assert!(dm::cluster_call!(ctl.client(), operate_task, req).unwrap().result);
    wait_until(TIMEOUT, "the lock is resolved and removed", || async { locks(&ctl, "shard").await.is_empty() }).await;
    assert_eq!(executed(&down, ADD).len(), 4);
    c.shutdown().await;
}
