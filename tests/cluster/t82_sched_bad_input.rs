//! Bad input to the scheduler's calls: each is refused with its code and a message that says
//! what to do, and the state read back afterwards is what it was before.

use dm::pb::master::*;

use crate::harness::fake::FakeWorker;
use crate::harness::workers::{Ctl, source_yaml, task_yaml};
use crate::harness::{TIMEOUT, TestCluster, wait_until};

async fn sources(ctl: &Ctl) -> Vec<(String, String)> {
    let req = OperateSourceRequest { op: SourceOp::ShowSource as i32, ..Default::default() };
    let r = dm::cluster_call!(ctl.client(), operate_source, req).unwrap();
    assert!(r.result, "{r:?}");
    r.sources.into_iter().map(|s| (s.source, s.worker)).collect()
}

async fn create(ctl: &Ctl, configs: Vec<String>) -> OperateSourceResponse {
    let req = OperateSourceRequest { op: SourceOp::StartSource as i32, config: configs, ..Default::default() };
    dm::cluster_call!(ctl.client(), operate_source, req).unwrap()
}

fn refused(code: i32, msg: &str, want_code: i32, want: &str) {
    assert_eq!(code, want_code, "{msg}");
    assert!(msg.contains(want), "{want:?} not in {msg:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_bad_sources_are_refused_and_change_nothing() {
    let c = TestCluster::start(1).await;
    c.wait_leader().await;
    let ctl = Ctl(vec![c.client_addr(1)]);
    let _w = FakeWorker::start(&ctl.0, "f1").await;
    assert!(create(&ctl, vec![source_yaml("s1")]).await.result);
    let before = sources(&ctl).await;

    let r = create(&ctl, vec!["source-id: [unclosed".into()]).await;
    refused(r.code, &r.msg, 11001, "line");
    let r = create(&ctl, vec![source_yaml("s2").replace("flavor", "flavour")]).await;
    refused(r.code, &r.msg, 11002, "flavour");
    let r = create(&ctl, vec![source_yaml(&"x".repeat(33))]).await;
    refused(r.code, &r.msg, 11003, "32");
    let r = create(&ctl, vec![source_yaml("s1")]).await;
    refused(r.code, &r.msg, 46006, "already exists");
    // A batch with a duplicate: the sources it added first are taken back.
    let r = create(&ctl, vec![source_yaml("s2"), source_yaml("s1")]).await;
    refused(r.code, &r.msg, 46006, "s1");
    assert_eq!(sources(&ctl).await, before);

    let stop = |ids: Vec<String>| {
        let req = OperateSourceRequest { op: SourceOp::StopSource as i32, source_id: ids, ..Default::default() };
        let ctl = ctl.clone();
        async move { dm::cluster_call!(ctl.client(), operate_source, req).unwrap() }
    };
    let r = stop(vec!["nope".into()]).await;
    refused(r.code, &r.msg, 46007, "operate-source create");
    assert!(ctl.start_task("t1", &["s1"]).await.result);
    let r = stop(vec!["s1".into()]).await;
    refused(r.code, &r.msg, 46008, "stop-task");
    assert_eq!(sources(&ctl).await, before);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_bad_tasks_are_refused_and_change_nothing() {
    let c = TestCluster::start(1).await;
    c.wait_leader().await;
    let ctl = Ctl(vec![c.client_addr(1)]);
    let _w = FakeWorker::start(&ctl.0, "f1").await;
    assert!(create(&ctl, vec![source_yaml("s1"), source_yaml("s2")]).await.result);
    wait_until(TIMEOUT, "s1 or s2 bound", || async { ctl.bindings().await.len() == 1 }).await;
    let unbound = if ctl.bindings().await.contains_key("s1") { "s2" } else { "s1" };
    let bound = if unbound == "s1" { "s2" } else { "s1" };

    let start = |text: String| {
        let req = StartTaskRequest { task: text, ..Default::default() };
        let ctl = ctl.clone();
        async move { dm::cluster_call!(ctl.client(), start_task, req).unwrap() }
    };
    let r = start(task_yaml("t1", &[bound]).replace("task-mode", "task-mood")).await;
    refused(r.code, &r.msg, 11002, "task-mood");
    assert_eq!(r.msg.matches("[code=").count(), 1, "one code in the message: {}", r.msg);
    let r = start(task_yaml("t1", &[bound]).replace("task-mode: all", "task-mode: everything")).await;
    refused(r.code, &r.msg, 11003, "task-mode");
    let unused_route =
        format!("{}routes:\n  r1:\n    schema-pattern: shop\n    target-schema: shop\n", task_yaml("t1", &[bound]));
    let r = start(unused_route).await;
    refused(r.code, &r.msg, 11005, "r1");
    let r = start(task_yaml("t1", &["s9"])).await;
    refused(r.code, &r.msg, 46007, "s9");
    let r = start(task_yaml("t1", &[bound, unbound])).await;
    refused(r.code, &r.msg, 46009, unbound);
    let q = ctl.query_status("t1").await;
    refused(q.code, &q.msg, 46011, "t1");

    assert!(start(task_yaml("t1", &[bound])).await.result);
    let r = start(task_yaml("t1", &[bound])).await;
    refused(r.code, &r.msg, 46010, "already exist");
    let r = ctl.operate_task(TaskOp::Pause, "nope").await;
    refused(r.code, &r.msg, 46011, "nope");
    let req = OperateTaskRequest { op: TaskOp::Pause as i32, name: "t1".into(), sources: vec!["s9".into()] };
    let r = dm::cluster_call!(ctl.client(), operate_task, req).unwrap();
    refused(r.code, &r.msg, 38055, "s9");
    let st = ctl.task_stages("t1").await;
    assert_eq!(st.len(), 1);
    assert_eq!(st[bound].2, "Running", "the refused pause changed nothing");
    c.shutdown().await;
}
