//! Three `dm master` and three `dm worker` processes, two sources, one task: kill -9 of a bound
//! worker moves its source to the free worker within keepalive-ttl + 2 s with the task's stage;
//! kill -9 of the leader moves nothing and a paused task stays paused; a worker cut off from the
//! masters stops before its source is given to another. The workers' audit logs show that no two
//! workers ever worked on one source at the same time; no source password reaches any log.

use std::time::{Duration, Instant};

use dm::pb::master::TaskOp;

use crate::harness::process::{ProcessCluster, WorkerProcess, agreed_leader};
use crate::harness::proxy::Proxy;
use crate::harness::wait::hold_for;
use crate::harness::workers::Ctl;
use crate::harness::{TIMEOUT, wait_until, wait_until_some};

/// Long enough that a loaded machine gets a heartbeat to the new leader within its grace.
const TTL: Duration = Duration::from_secs(5);

struct Worker {
    process: WorkerProcess,
    proxies: Vec<Proxy>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_worker_and_leader_failures_keep_one_worker_per_source() {
    let _alone = crate::harness::process::EXCLUSIVE.write().await;
    let mut c = ProcessCluster::start(3);
    agreed_leader(&c, &[0, 1, 2]).await;
    let mut workers = Vec::new();
    for name in ["w1", "w2", "w3"] {
        let mut proxies = Vec::new();
        for m in c.endpoints() {
            proxies.push(Proxy::start(m).await);
        }
        let join: Vec<String> = proxies.iter().map(|p| p.addr.clone()).collect();
        workers.push(Worker { process: WorkerProcess::start(c.dir.path(), name, &join, "5s"), proxies });
    }
    let ctl = Ctl(c.endpoints());
    wait_until(TIMEOUT, "three workers registered and free", || async {
        let w = ctl.workers().await;
        w.len() == 3 && w.values().all(|(stage, _)| stage == "free")
    })
    .await;
    let r = ctl.create_sources(&["s1", "s2"]).await;
    assert!(r.result, "{r:?}");
    assert!(ctl.start_task("t1", &["s1", "s2"]).await.result);
    ctl.wait_stages("t1", "Running").await;
    assert!(ctl.operate_task(TaskOp::Pause, "t1").await.result);
    ctl.wait_stages("t1", "Paused").await;
    let idx = |name: &str| ["w1", "w2", "w3"].iter().position(|w| *w == name).unwrap();

    // 1. kill -9 the worker bound to s1: s1 moves to the free worker, still paused.
    let before = ctl.bindings().await;
    let victim = before["s1"].clone();
    let killed = Instant::now();
    workers[idx(&victim)].process.kill9();
    let taker = wait_until_some(TTL + TIMEOUT, "s1 bound to another worker", || async {
        ctl.bindings().await.get("s1").filter(|w| **w != victim).cloned()
    })
    .await;
    let took = killed.elapsed();
    assert!(took < TTL + Duration::from_secs(2), "s1 moved {took:?} after the kill; want < ttl + 2s");
    assert_ne!(taker, before["s2"]);
    ctl.wait_stages("t1", "Paused").await;

    // 2. kill -9 the leader: no source changes worker, the task stays paused.
    let bound = ctl.bindings().await;
    let leader = agreed_leader(&c, &[0, 1, 2]).await;
    c.masters[leader].kill9();
    let live: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    agreed_leader(&c, &live).await;
    let ctl = Ctl(live.iter().map(|i| c.masters[*i].client_addr.clone()).collect());
    let held = hold_for(TTL + Duration::from_secs(2), || async {
        let now = ctl.bindings().await;
        if now == bound { Ok(()) } else { Err(format!("{now:?} != {bound:?}")) }
    })
    .await;
    if let Err(e) = held {
        let wlogs: String = workers
            .iter()
            .map(|w| {
                format!("--- {} ---\n{}", w.process.name, std::fs::read_to_string(&w.process.log).unwrap_or_default())
            })
            .collect();
        panic!("a source changed worker after the leader was killed: {e}\n{}\n{wlogs}", c.logs());
    }
    ctl.wait_stages("t1", "Paused").await;

    // 3. Cut the worker holding s2 off the masters: it stops before anyone else takes s2.
    assert!(ctl.operate_task(TaskOp::Resume, "t1").await.result);
    ctl.wait_stages("t1", "Running").await;
    c.masters[leader].restart();
    let cut = bound["s2"].clone();
    let spare = WorkerProcess::start(c.dir.path(), "w4", &ctl.0, "5s");
    wait_until(TIMEOUT, "w4 free", || async { ctl.workers().await.get("w4").is_some_and(|(s, _)| s == "free") }).await;
    workers[idx(&cut)].proxies.iter().for_each(Proxy::cut);
    let taker2 = wait_until_some(TTL + TIMEOUT, "s2 bound to another worker", || async {
        ctl.bindings().await.get("s2").filter(|w| **w != cut).cloned()
    })
    .await;
    ctl.wait_stages("t1", "Running").await;
    let cut_events = workers[idx(&cut)].process.events();
    let stopped = cut_events.iter().filter(|e| e.source == "s2").max_by_key(|e| e.micros).expect("audit");
    assert_eq!(stopped.kind, dm::worker::audit::AuditKind::Stop, "the cut-off worker stopped work on s2");
    let mut all: Vec<_> = workers.iter().flat_map(|w| w.process.events()).collect();
    all.extend(spare.events());
    let started = all.iter().filter(|e| e.worker == taker2 && e.source == "s2").map(|e| e.micros).max().unwrap();
    assert!(stopped.micros < started, "{cut} stopped at {} but {taker2} started at {started}", stopped.micros);
    let overlaps = dm::worker::audit::overlaps(&all, dm::worker::audit::now_micros());
    assert!(overlaps.is_empty(), "two workers worked on one source at once: {overlaps:#?}\n{}", c.logs());

    // 4. No source password reached a log.
    let mut logs = c.logs();
    for w in workers.iter().map(|w| &w.process).chain([&spare]) {
        logs.push_str(&std::fs::read_to_string(&w.log).unwrap_or_default());
    }
    for secret in ["secret-s1", "secret-s2"] {
        assert!(!logs.contains(secret), "a source password in the logs");
    }
}
