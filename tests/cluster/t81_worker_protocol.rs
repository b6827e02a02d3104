//! The worker protocol, spoken by fake workers: registration rules, stale epochs, the
//! assignment stream (leader only, resumable), and the refusals of transfer-source and
//! offline-member — each refusal leaving the state as it was.

use std::time::Duration;

use dm::pb::master::*;
use tonic::Code;

use crate::harness::fake::{FakeWorker, heartbeat, register};
use crate::harness::workers::Ctl;
use crate::harness::{TIMEOUT, TestCluster, wait_until, wait_until_some};

async fn cluster() -> (TestCluster, Vec<String>, Ctl) {
    let c = TestCluster::start(3).await;
    c.wait_leader().await;
    let masters: Vec<String> = c.ids().iter().map(|id| c.client_addr(*id)).collect();
    let ctl = Ctl(masters.clone());
    (c, masters, ctl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_registration_is_idempotent_and_names_are_unique() {
    let (c, m, ctl) = cluster().await;
    assert!(register(&m, "w1", "127.0.0.1:7001").await.result);
    assert!(register(&m, "w1", "127.0.0.1:7001").await.result, "a restarted worker registers again");
    let r = register(&m, "w1", "127.0.0.1:7002").await;
    assert!(!r.result && r.code == 46002 && r.msg.contains("already exists"), "{r:?}");
    let req = ListMemberRequest { worker: true, ..Default::default() };
    let l = dm::cluster_call!(ctl.client(), list_member, req).unwrap();
    let Some(members::Member::Worker(w)) = &l.members[0].member else { panic!("{l:?}") };
    assert_eq!((w.workers[0].name.as_str(), w.workers[0].addr.as_str()), ("w1", "127.0.0.1:7001"), "unchanged");
    let h = heartbeat(&m, "ghost", "", 0, 0).await;
    assert!(!h.result && h.code == 46003, "{h:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_stale_epochs_are_rejected() {
    let (c, m, ctl) = cluster().await;
    let f = FakeWorker::start(&m, "f1").await;
    assert!(ctl.create_sources(&["s1"]).await.result);
    let held = wait_until_some(TIMEOUT, "f1 holds s1", || async { Some(f.held()).filter(|h| h.source == "s1") }).await;
    let ok = heartbeat(&m, "f1", "s1", held.epoch, held.revision).await;
    assert!(ok.result && !ok.stale_epoch, "{ok:?}");
    let old = heartbeat(&m, "f1", "s1", held.epoch - 1, held.revision).await;
    assert!(!old.result && old.stale_epoch && old.msg.contains("46013"), "{old:?}");
    let other = heartbeat(&m, "f1", "s9", 3, held.revision).await;
    assert!(other.stale_epoch, "a source it was never bound to: {other:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_the_assignment_stream_is_served_by_the_leader_and_resumes() {
    let (c, m, ctl) = cluster().await;
    let f = FakeWorker::start(&m, "f1").await;
    assert!(ctl.create_sources(&["s1"]).await.result);
    wait_until(TIMEOUT, "f1 holds s1", || async { f.held().source == "s1" }).await;
    let leader = c.wait_leader().await;
    let follower = c.ids().into_iter().find(|id| *id != leader).unwrap();
    let req = WatchAssignmentsRequest { worker: "f1".into(), from_revision: 0 };
    let e = c.raw_client(follower).await.watch_assignments(req.clone()).await.expect_err("NotLeader");
    assert_eq!(e.code(), Code::Unavailable);
    assert_eq!(e.metadata().get("dm-leader-addr").unwrap().to_str().unwrap(), c.client_addr(leader));

    let mut s = c.raw_client(leader).await.watch_assignments(req).await.unwrap().into_inner();
    let first = s.message().await.unwrap().unwrap();
    assert!(!first.unchanged);
    assert_eq!(first.bound.as_ref().map(|b| b.source_id.as_str()), Some("s1"));
    // Resuming from that revision: nothing of f1's changed, so only "unchanged".
    let again = WatchAssignmentsRequest { worker: "f1".into(), from_revision: first.revision };
    let mut s2 = c.raw_client(leader).await.watch_assignments(again).await.unwrap().into_inner();
    let resumed = s2.message().await.unwrap().unwrap();
    assert!(resumed.unchanged && resumed.bound.is_none(), "{resumed:?}");
    // A task on its source reaches both streams, whole.
    assert!(ctl.start_task("t1", &["s1"]).await.result);
    let next = tokio::time::timeout(TIMEOUT, s2.message()).await.unwrap().unwrap().unwrap();
    assert!(!next.unchanged && next.subtasks.len() == 1 && next.subtasks[0].task == "t1", "{next:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t40_transfer_and_offline_member_refusals_change_nothing() {
    let (c, m, ctl) = cluster().await;
    let f1 = FakeWorker::start(&m, "f1").await;
    assert!(ctl.create_sources(&["s1"]).await.result);
    let mut f2 = FakeWorker::start(&m, "f2").await;
    assert!(ctl.create_sources(&["s2"]).await.result);
    wait_until(TIMEOUT, "both bound", || async { ctl.bindings().await.len() == 2 }).await;
    let before = ctl.bindings().await;
    let transfer = |source: &str, worker: &str| {
        let req = TransferSourceRequest { source: source.into(), worker: worker.into() };
        let ctl = ctl.clone();
        async move { dm::cluster_call!(ctl.client(), transfer_source, req).unwrap() }
    };
    let busy = transfer("s1", &before["s2"]).await;
    assert!(!busy.result && busy.code == 46004, "{busy:?}");
    let unknown = transfer("s1", "nobody").await;
    assert!(!unknown.result && unknown.code == 46003, "{unknown:?}");
    let no_source = transfer("s9", "f1").await;
    assert!(!no_source.result && no_source.code == 46007, "{no_source:?}");
    assert!(transfer("s1", &before["s1"]).await.result, "to its own worker: nothing to do");
    assert_eq!(ctl.bindings().await, before);

    let offline = |name: &str| {
        let req = OfflineMemberRequest { r#type: "worker".into(), name: name.into() };
        let ctl = ctl.clone();
        async move { dm::cluster_call!(ctl.client(), offline_member, req).unwrap() }
    };
    let online = offline("f1").await;
    assert!(!online.result && online.code == 46005, "{online:?}");
    // f2 dies: after its TTL it is offline, its source unbound, and it can be removed.
    f2.stop();
    wait_until(TIMEOUT, "f2 offline", || async {
        ctl.workers().await.get("f2").is_some_and(|(stage, src)| stage == "offline" && src.is_empty())
    })
    .await;
    assert!(offline("f2").await.result);
    assert!(!ctl.workers().await.contains_key("f2"));
    drop(f1);
    tokio::time::timeout(Duration::from_secs(60), c.shutdown()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t50_transfer_moves_a_source_once_its_worker_released_it() {
    let (c, m, ctl) = cluster().await;
    let f1 = FakeWorker::start(&m, "f1").await;
    assert!(ctl.create_sources(&["s1"]).await.result);
    wait_until(TIMEOUT, "f1 holds s1", || async { f1.held().source == "s1" }).await;
    let f2 = FakeWorker::start(&m, "f2").await;
    wait_until(TIMEOUT, "f2 free", || async { ctl.workers().await.get("f2").is_some_and(|(s, _)| s == "free") }).await;
    let req = TransferSourceRequest { source: "s1".into(), worker: "f2".into() };
    let r = dm::cluster_call!(ctl.client(), transfer_source, req).unwrap();
    assert!(r.result, "{r:?}");
    assert_eq!(ctl.bindings().await.get("s1").map(String::as_str), Some("f2"));
    wait_until(TIMEOUT, "f2 holds s1 and f1 does not", || async {
        f2.held().source == "s1" && f1.held().source.is_empty()
    })
    .await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t60_query_status_says_which_sources_did_not_answer() {
    let (c, m, ctl) = cluster().await;
    let f1 = FakeWorker::start(&m, "f1").await;
    assert!(ctl.create_sources(&["s1"]).await.result);
    let mut f2 = FakeWorker::start(&m, "f2").await;
    assert!(ctl.create_sources(&["s2", "s3"]).await.result, "s3 waits for a worker");
    assert!(ctl.start_task("t1", &["s1", "s2"]).await.result);
    f2.stop_status_service();
    let q = ctl.query_status("t1").await;
    assert!(q.result, "{q:?}");
    let by_source: std::collections::BTreeMap<String, _> =
        q.sources.iter().map(|s| (s.source_status.clone().unwrap_or_default().source, s)).collect();
    let s1 = by_source["s1"];
    assert!(s1.result && s1.sub_task_status[0].stage == "Running", "{s1:?}");
    let s2 = by_source["s2"];
    assert!(!s2.result && s2.msg.contains("46014"), "the silent worker is named: {s2:?}");
    assert_eq!(s2.sub_task_status[0].expected_stage, "Running", "expected stage still shown");
    drop(f1);
    c.shutdown().await;
}
