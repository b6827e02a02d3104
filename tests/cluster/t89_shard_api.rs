//! The shard DDL lock routes of the OpenAPI (`/api/v1/tasks/{task_name}/shard-ddl-locks`) with
//! fake pessimistic workers, through the leader and a follower: list, unlock (POST),
//! force-remove (DELETE), the spec entries, and the 4xx answers (state read back unchanged).

use std::time::Duration;

use serde_json::json;

use crate::harness::http::{Answer, delete, get, post_json};
use crate::harness::shard::{ShardWorker, locks, setup_with, sharded_task_yaml};
use crate::harness::{TIMEOUT, wait_until};

const LOCK: &str = "shard-`shop`.`tb`";
const PATH: &str = "/api/v1/tasks/shard/shard-ddl-locks";

fn query_escaped(id: &str) -> String {
    id.replace('`', "%60")
}

fn refused(a: &Answer, status: u16, code: i64) {
    assert_eq!((a.status, a.code()), (status, code), "{a:?}");
    assert!(!a.json()["error_msg"].as_str().unwrap().is_empty(), "{a:?}");
}

async fn send(ws: &[ShardWorker], which: &[usize], ddl: &str) {
    for i in which {
        let r = ws[*i].put_pessimistic("shard", &[ddl]).await;
        assert!(r.is_ok(), "s{}: {r:?}", i + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_list_unlock_and_remove_through_leader_and_follower() {
    let wait = Duration::from_secs(2);
    let (c, ctl, ws, down) = setup_with(3, "pessimistic", |cfg| cfg.shard_ddl.unlock_wait = wait).await;
    let leader = c.wait_leader().await;
    let follower = c.ids().into_iter().find(|i| *i != leader).unwrap();
    let (l_addr, f_addr) = (c.client_addr(leader), c.client_addr(follower));
    let spec = get(&f_addr, "/api/v1/dm.json").await.json();
    let item = &spec["paths"]["/api/v1/tasks/{task_name}/shard-ddl-locks"];
    for method in ["get", "post", "delete"] {
        assert!(item.get(method).is_some(), "{method} missing from the spec: {item}");
    }
    // A second task over s1, so a lock id can belong to another task.
    let other = dm::pb::master::StartTaskRequest {
        task: sharded_task_yaml("other", &["s1"], "pessimistic"),
        ..Default::default()
    };
    let r = dm::cluster_call!(ctl.client(), start_task, other).unwrap();
    assert!(r.result, "{r:?}");

    send(&ws, &[0, 1], "ALTER TABLE tb ADD COLUMN c INT").await;
    wait_until(TIMEOUT, "s1 and s2 wait in the lock", || async {
        locks(&ctl, "shard").await.first().is_some_and(|l| l.synced.len() == 2)
    })
    .await;
    for addr in [&l_addr, &f_addr] {
        let a = get(addr, PATH).await;
        assert_eq!(a.status, 200, "{a:?}");
        let v = a.json();
        assert_eq!(v["total"], 1, "{v}");
        let l = &v["data"][0];
        assert_eq!((&l["id"], &l["owner"], &l["mode"]), (&json!(LOCK), &json!("s1"), &json!("pessimistic")), "{v}");
        assert_eq!((&l["synced"], &l["unsynced"]), (&json!(["s1", "s2"]), &json!(["s3"])), "{v}");
        assert_eq!(get(addr, &format!("{PATH}?source_name_list=s9")).await.json()["total"], 0);
    }
    refused(&get(&f_addr, "/api/v1/tasks/nope/shard-ddl-locks").await, 404, 46011);
    refused(&get(&f_addr, &format!("{PATH}?bogus=1")).await, 400, 38055);

    // Bad bodies and locks that are not the task's change nothing.
    for body in [json!({}), json!({"lock_id": LOCK, "bogus": 1}), json!({"lock_id": LOCK, "action": "drop"})] {
        refused(&post_json(&f_addr, PATH, &body).await, 400, 38055);
    }
    refused(&post_json(&f_addr, PATH, &json!({"lock_id": "shard-`x`.`y`"})).await, 404, 47001);
    let other_path = "/api/v1/tasks/other/shard-ddl-locks";
    refused(&post_json(&l_addr, other_path, &json!({"lock_id": LOCK})).await, 404, 47001);
    refused(&delete(&l_addr, &format!("{other_path}?lock_id={}", query_escaped(LOCK))).await, 404, 47001);
    refused(&delete(&f_addr, PATH).await, 400, 38055);
    // s3 never sent the DDLs, so it cannot execute them.
    refused(&post_json(&f_addr, PATH, &json!({"lock_id": LOCK, "owner": "s3"})).await, 409, 47008);
    assert_eq!(locks(&ctl, "shard").await.len(), 1);
    assert!(down.log().is_empty(), "{:?}", down.log());

    // Unlock through the follower: the owner executes, s2 skips.
    let a = post_json(&f_addr, PATH, &json!({"lock_id": LOCK})).await;
    assert_eq!((a.status, &a.json()["lock_id"]), (200, &json!(LOCK)), "{a:?}");
    assert_eq!(get(&f_addr, PATH).await.json()["total"], 0);
    assert_eq!(down.executed_by(LOCK), vec!["s1"]);

    // Force-remove a lock whose owner never acts.
    ws[0].set_auto(false);
    send(&ws, &[0, 1], "ALTER TABLE tb ADD COLUMN d INT").await;
    wait_until(TIMEOUT, "the second lock is listed", || async { locks(&ctl, "shard").await.len() == 1 }).await;
    let a = delete(&f_addr, &format!("{PATH}?lock_id={}", query_escaped(LOCK))).await;
    assert_eq!(a.status, 204, "{a:?}");
    assert_eq!(get(&l_addr, PATH).await.json()["total"], 0);
    refused(&delete(&f_addr, &format!("{PATH}?lock_id={}", query_escaped(LOCK))).await, 404, 47001);
    c.shutdown().await;
}
