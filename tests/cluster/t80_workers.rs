//! Workers against an in-process 3-master cluster: binding, task stages, a crashed worker's
//! source moving with its stages, a leader failover that moves nothing, a cut-off worker that
//! fences itself before its source moves, and a clean stop that releases at once. Every test
//! checks that no two workers ever worked on one source at the same time.

use std::time::{Duration, Instant};

use dm::pb::master::TaskOp;

use crate::harness::wait::hold_for;
use crate::harness::workers::{Audit, Ctl, TestWorker};
use crate::harness::{TIMEOUT, TestCluster, wait_until, wait_until_some};

const TTL: Duration = Duration::from_secs(3);

struct Setup {
    cluster: TestCluster,
    workers: Vec<TestWorker>,
    audit: Audit,
}

impl Setup {
    /// 3 masters, `n` workers (w1..wn), sources s1 and s2 bound, task t1 running.
    async fn start(n: usize, proxied: bool) -> Setup {
        let cluster = TestCluster::start(3).await;
        cluster.wait_leader().await;
        let masters: Vec<String> = cluster.ids().iter().map(|id| cluster.client_addr(*id)).collect();
        let audit = Audit::default();
        let mut workers = Vec::new();
        for i in 1..=n {
            workers.push(TestWorker::start(&format!("w{i}"), &masters, TTL, &audit, proxied).await);
        }
        let s = Setup { cluster, workers, audit };
        let c = s.ctl();
        let r = c.create_sources(&["s1", "s2"]).await;
        assert!(r.result, "{r:?}");
        let r = c.start_task("t1", &["s1", "s2"]).await;
        assert!(r.result, "{r:?}");
        s
    }

    fn ctl(&self) -> Ctl {
        Ctl(self.cluster.live_ids().iter().map(|id| self.cluster.client_addr(*id)).collect())
    }

    fn worker(&mut self, name: &str) -> &mut TestWorker {
        self.workers.iter_mut().find(|w| w.name == name).expect("known worker")
    }

    async fn shutdown(mut self) {
        self.audit.assert_no_overlap();
        for w in &mut self.workers {
            w.stop().await;
        }
        self.cluster.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_sources_bind_and_tasks_follow_expected_stages() {
    let s = Setup::start(2, false).await;
    let c = s.ctl();
    let b = c.bindings().await;
    assert_eq!(b.len(), 2, "{b:?}");
    assert_ne!(b["s1"], b["s2"], "one source per worker");
    c.wait_stages("t1", "Running").await;
    assert!(c.operate_task(TaskOp::Pause, "t1").await.result);
    c.wait_stages("t1", "Paused").await;
    assert!(c.operate_task(TaskOp::Resume, "t1").await.result);
    c.wait_stages("t1", "Running").await;
    let r = c.operate_task(TaskOp::Delete, "t1").await;
    assert!(r.result, "{r:?}");
    let q = c.query_status("t1").await;
    assert!(!q.result && q.msg.contains("46011"), "stopped task is gone: {q:?}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_a_crashed_workers_source_moves_with_its_stages() {
    let mut s = Setup::start(3, false).await;
    let c = s.ctl();
    assert!(c.operate_task(TaskOp::Pause, "t1").await.result);
    c.wait_stages("t1", "Paused").await;
    let before = c.bindings().await;
    let victim = before["s1"].clone();
    let killed = Instant::now();
    s.worker(&victim).kill().await;
    let new = wait_until_some(TTL + TIMEOUT, "s1 bound to another worker", || async {
        c.bindings().await.get("s1").filter(|w| **w != victim).cloned()
    })
    .await;
    let took = killed.elapsed();
    assert!(took < TTL + Duration::from_secs(2), "s1 moved after {took:?}, want < ttl + 2s");
    assert_ne!(new, before["s2"], "the free worker took it");
    c.wait_stages("t1", "Paused").await;
    let st = c.task_stages("t1").await;
    assert_eq!(st["s1"].0, new, "s1's subtask runs on its new worker");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_leader_failover_moves_no_source_and_keeps_pauses() {
    let mut s = Setup::start(3, false).await;
    let c = s.ctl();
    assert!(c.operate_task(TaskOp::Pause, "t1").await.result);
    c.wait_stages("t1", "Paused").await;
    let before = c.bindings().await;
    let leader = s.cluster.wait_leader().await;
    s.cluster.kill(leader).await;
    s.cluster.wait_leader().await;
    let c = s.ctl();
    // Observe for longer than a TTL after the new leader started: nothing moves.
    let held = hold_for(TTL + Duration::from_secs(2), || async {
        let now = c.bindings().await;
        if now == before { Ok(()) } else { Err(format!("{now:?} != {before:?}")) }
    })
    .await;
    assert_eq!(held, Ok(()), "a source changed worker after a leader failover");
    c.wait_stages("t1", "Paused").await;
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t40_a_cut_off_worker_stops_before_its_source_moves() {
    let mut s = Setup::start(3, true).await;
    let c = s.ctl();
    c.wait_stages("t1", "Running").await;
    let before = c.bindings().await;
    let victim = before["s1"].clone();
    s.worker(&victim).cut();
    let new = wait_until_some(TTL + TIMEOUT, "s1 bound to another worker", || async {
        c.bindings().await.get("s1").filter(|w| **w != victim).cloned()
    })
    .await;
    c.wait_stages("t1", "Running").await;
    let events = s.audit.events();
    let last = events.iter().filter(|e| e.worker == victim && e.source == "s1").max_by_key(|e| e.micros).unwrap();
    assert_eq!(last.kind, dm::worker::audit::AuditKind::Stop, "the cut-off worker stopped work on s1");
    let stopped = last.micros;
    let started = events.iter().filter(|e| e.worker == new && e.source == "s1").map(|e| e.micros).max().unwrap();
    assert!(stopped < started, "the cut-off worker stopped ({stopped}) before {new} started ({started})");
    // Healed, it comes back as a free worker and does not take s1 back.
    s.worker(&victim).heal();
    wait_until(TIMEOUT, "the healed worker is free again", || async {
        c.workers().await.get(&victim).is_some_and(|(stage, _)| stage == "free")
    })
    .await;
    assert_eq!(c.bindings().await.get("s1"), Some(&new));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t50_a_clean_stop_releases_the_source_at_once() {
    let cluster = TestCluster::start(1).await;
    cluster.wait_leader().await;
    let masters = vec![cluster.client_addr(1)];
    let audit = Audit::default();
    // A long TTL: only the goodbye can move the source quickly.
    let long = Duration::from_secs(120);
    let mut w1 = TestWorker::start("w1", &masters, long, &audit, false).await;
    let c = Ctl(masters.clone());
    assert!(c.create_sources(&["s1"]).await.result);
    let mut w2 = TestWorker::start("w2", &masters, long, &audit, false).await;
    assert_eq!(c.bindings().await.get("s1").map(String::as_str), Some("w1"));
    w1.stop().await;
    wait_until(TIMEOUT, "s1 moves to w2 well before the TTL", || async {
        c.bindings().await.get("s1").map(String::as_str) == Some("w2")
    })
    .await;
    audit.assert_no_overlap();
    w2.stop().await;
    cluster.shutdown().await;
}

/// What a bad first address in a worker's join list does with the connections it accepts.
#[derive(Clone, Copy, Debug)]
enum BadAddress {
    /// Keeps them open and never answers (a blackholed host).
    Silent,
    /// Reads the request and closes them (a broken proxy or load balancer): calls break off
    /// mid-way with a transport error instead of an answer.
    Breaking,
}

/// A bad master address first in a worker's join list costs it at most a heartbeat: it is tried
/// last from then on, the worker stays online and keeps its source.
async fn bad_join_address_does_not_fence_the_worker(kind: BadAddress) {
    let cluster = TestCluster::start(1).await;
    cluster.wait_leader().await;
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_addr = hole.local_addr().unwrap().to_string();
    let bad = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((mut c, _)) = hole.accept().await {
            match kind {
                BadAddress::Silent => conns.push(c),
                BadAddress::Breaking => {
                    tokio::spawn(async move {
                        let mut buf = [0u8; 1024];
                        let _ = tokio::io::AsyncReadExt::read(&mut c, &mut buf).await;
                    });
                }
            }
        }
    });
    let audit = Audit::default();
    let join = vec![hole_addr, cluster.client_addr(1)];
    let mut w1 = TestWorker::start("w1", &join, TTL, &audit, false).await;
    let c = Ctl(vec![cluster.client_addr(1)]);
    assert!(c.create_sources(&["s1"]).await.result);
    let held = hold_for(TTL * 2, || async {
        match c.bindings().await.get("s1").map(String::as_str) {
            Some("w1") => Ok(()),
            other => Err(format!("s1 on {other:?}")),
        }
    })
    .await;
    assert_eq!(held, Ok(()), "{kind:?}: w1 keeps s1");
    let fenced = w1.node.as_ref().unwrap().shared.state.snapshot().fenced;
    assert!(!fenced, "{kind:?}: w1 never fenced");
    assert_eq!(audit.events().len(), 1, "{kind:?}: one start, no stop: {:?}", audit.events());
    w1.stop().await;
    bad.abort();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t60_a_silent_join_address_does_not_fence_the_worker() {
    bad_join_address_does_not_fence_the_worker(BadAddress::Silent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t61_a_join_address_that_breaks_calls_does_not_fence_the_worker() {
    bad_join_address_does_not_fence_the_worker(BadAddress::Breaking).await;
}
