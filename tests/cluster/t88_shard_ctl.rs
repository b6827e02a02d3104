//! `dm ctl shard-ddl-lock` end to end: the real binary, through a follower, against fake shard
//! workers. Pessimistic: list, unlock by the owner, force-remove when the owner never acks.
//! Optimistic: a conflict listed, the detected table skipped, the lock force-removed. Bad input:
//! unknown lock (47001, exit 1), usage errors (exit 2).

use serde_json::{Value, json};

use crate::harness::ctl_run::{Run, ctl_at};
use crate::harness::shard::{ShardWorker, locks, setup, setup_with};
use crate::harness::{TIMEOUT, TestCluster, wait_until};

const LOCK: &str = "shard-`shop`.`tb`";
const ADD: &str = "ALTER TABLE tb ADD COLUMN c INT";
const ADD2: &str = "ALTER TABLE tb ADD COLUMN d INT";
const T1: &str = "CREATE TABLE t1 (id INT PRIMARY KEY, a INT)";

/// The lock listing of a `shard-ddl-lock` answer.
fn locks_of(r: &Run) -> Vec<Value> {
    r.json["locks"].as_array().cloned().unwrap_or_else(|| panic!("no locks array in {}", r.out))
}

/// `dm ctl <args>` against a follower of `c` (the request is forwarded to the leader).
async fn ctl(c: &TestCluster, args: &[&str]) -> Run {
    let leader = c.wait_leader().await;
    let follower = c.ids().into_iter().find(|id| *id != leader).expect("a follower");
    ctl_at(&c.client_addr(follower), &std::env::temp_dir(), args).await
}

async fn send(ws: &[ShardWorker], which: &[usize], ddl: &str) {
    for i in which {
        let r = ws[*i].put_pessimistic("shard", &[ddl]).await;
        assert!(r.is_ok(), "s{}: {r:?}", i + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_pessimistic_list_unlock_and_force_remove() {
    let wait = std::time::Duration::from_secs(2);
    let (c, ctl_, ws, down) = setup_with(3, "pessimistic", |cfg| cfg.shard_ddl.unlock_wait = wait).await;
    send(&ws, &[0, 1], ADD).await;
    wait_until(TIMEOUT, "s1 and s2 wait in the lock", || async {
        locks(&ctl_, "shard").await.first().is_some_and(|l| l.synced.len() == 2)
    })
    .await;
    let listed = ctl(&c, &["shard-ddl-lock", "shard"]).await.ok();
    let want = json!({"ID": LOCK, "task": "shard", "mode": "pessimistic", "owner": "s1", "DDLs": [ADD],
        "synced": ["s1", "s2"], "unsynced": ["s3"], "messages": [], "stage": "waiting"});
    assert_eq!(locks_of(&listed), vec![want], "{}", listed.out);
    // DM's older name, and the source filter.
    assert_eq!(locks_of(&ctl(&c, &["show-ddl-locks", "-s", "s2"]).await.ok()).len(), 1);
    assert!(locks_of(&ctl(&c, &["shard-ddl-lock", "other-task"]).await.ok()).is_empty());

    // The owner executes (the fake workers ack), the other waiting source skips; s3 never sent.
    ctl(&c, &["shard-ddl-lock", "unlock", LOCK]).await.ok();
    assert!(locks(&ctl_, "shard").await.is_empty(), "the unlock answers once the lock is removed");
    assert_eq!(down.executed_by(LOCK), vec!["s1"]);
    let skipped: std::collections::BTreeSet<String> = ["s2".to_string()].into();
    assert_eq!(down.skipped_by(LOCK), skipped, "only the waiting source skips, not s3: {:?}", down.log());

    // A second lock whose owner never acts: force-remove gives up on it after the unlock wait.
    ws[1].set_auto(false);
    send(&ws, &[1, 0], ADD2).await;
    wait_until(TIMEOUT, "the second lock is listed with owner s2", || async {
        locks(&ctl_, "shard").await.first().is_some_and(|l| l.owner == "s2" && l.synced == vec!["s1", "s2"])
    })
    .await;
    let removed = ctl(&c, &["unlock-ddl-lock", LOCK, "--force-remove"]).await.ok();
    let msg = removed.json["msg"].as_str().unwrap().to_string();
    assert!(msg.contains("source s2 did not execute"), "{}", removed.out);
    // The fake workers log one entry per lock id and source, so s1's skip of this second lock is
    // seen in the answer: a source that did not skip in time would be named there.
    assert!(!msg.contains("skipped"), "s1 acked its skip: {msg}");
    assert!(locks_of(&ctl(&c, &["shard-ddl-lock"]).await.ok()).is_empty());
    let log = down.log();
    assert!(!log.iter().any(|d| d.executed.contains(&ADD2.to_string())), "nobody executed {ADD2}: {log:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_optimistic_conflict_skip_and_force_remove() {
    let (c, ctl_, ws, down) = setup(2, "optimistic").await;
    for w in &ws {
        w.put_tables("shard", &["t1", "t2"]).await.expect("tables");
    }
    ws[0].put_optimistic("shard", "t1", T1, &["ALTER TABLE t1 RENAME COLUMN a TO b"]).await.expect("s1 rename");
    wait_until(TIMEOUT, "s1's rename waits in the lock", || async {
        locks(&ctl_, "shard").await.first().is_some_and(|l| l.messages.iter().any(|m| m.starts_with("s1-")))
    })
    .await;
    let listed = ctl(&c, &["shard-ddl-lock", "shard"]).await.ok();
    let l = &locks_of(&listed)[0];
    assert_eq!((&l["ID"], &l["mode"]), (&json!(LOCK), &json!("optimistic")), "{}", listed.out);
    let messages = l["messages"].to_string();
    assert!(messages.contains("s1-`shop`.`t1`") && messages.contains("skip and wait for redirect"), "{messages}");

    // Another table renames the same column differently: detected.
    ws[1].put_optimistic("shard", "t1", T1, &["ALTER TABLE t1 RENAME COLUMN a TO c"]).await.expect("s2 rename");
    wait_until(TIMEOUT, "the conflict is detected", || async {
        let l = &locks(&ctl_, "shard").await[0];
        l.messages.iter().any(|m| m.starts_with("s2-`shop`.`t1`") && m.contains("detected"))
    })
    .await;
    let listed = ctl(&c, &["shard-ddl-lock"]).await.ok();
    assert_eq!(locks_of(&listed)[0]["owner"], json!("s2-`shop`.`t1`"), "{}", listed.out);

    // Unlocking needs the table; a table that is not conflicted is refused.
    let r = ctl(&c, &["shard-ddl-lock", "unlock", LOCK, "-a", "skip"]).await;
    assert_eq!((r.code, &r.json["result"]), (1, &json!(false)), "{}", r.out);
    let r = ctl(&c, &["shard-ddl-lock", "unlock", LOCK, "-a", "skip", "-s", "s1", "-d", "shop", "-t", "t2"]).await;
    assert!(r.code == 1 && r.out.contains("[code=47008]"), "{}", r.out);

    ctl(&c, &["shard-ddl-lock", "unlock", LOCK, "-a", "skip", "-s", "s2", "-d", "shop", "-t", "t1"]).await.ok();
    // The fake worker logs a table's operation once per Info, so the `unlocked` one is read from
    // what s2 holds.
    wait_until(TIMEOUT, "s2's t1 got an unlocked operation without DDLs", || async {
        ws[1].ops().iter().any(|o| o.up_table == "t1" && o.conflict_stage == "unlocked" && o.ddls.is_empty())
    })
    .await;
    let listed = ctl(&c, &["shard-ddl-lock", "shard"]).await.ok();
    let messages = locks_of(&listed)[0]["messages"].to_string();
    assert!(!messages.contains("s2-`shop`.`t1`"), "s2's t1 is no longer conflicted: {messages}");
    assert!(messages.contains("s1-`shop`.`t1`"), "s1's t1 still waits: {messages}");
    assert!(down.log().iter().all(|d| d.executed.is_empty()), "nothing executed: {:?}", down.log());

    ctl(&c, &["shard-ddl-lock", "unlock", LOCK, "--force-remove"]).await.ok();
    assert!(locks_of(&ctl(&c, &["shard-ddl-lock", "shard"]).await.ok()).is_empty());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_bad_input() {
    let (c, _ctl, _ws, _down) = setup(1, "pessimistic").await;
    let r = ctl(&c, &["shard-ddl-lock", "unlock", "shard-`nope`.`nope`"]).await;
    assert_eq!((r.code, &r.json["result"]), (1, &json!(false)), "{}", r.out);
    assert!(r.out.contains("[code=47001]"), "{}", r.out);
    for usage in [
        &["shard-ddl-lock", "unlock"][..],
        &["shard-ddl-lock", "unlock", LOCK, "--action", "drop"],
        &["shard-ddl-lock", "unlock", LOCK, "--bogus"],
        &["unlock-ddl-lock"],
    ] {
        let r = ctl(&c, usage).await;
        assert_eq!(r.code, 2, "{usage:?}: stdout {} stderr {}", r.out, r.err);
        assert!(r.out.is_empty(), "{usage:?} printed {}", r.out);
    }
    c.shutdown().await;
}
