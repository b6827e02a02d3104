//! One task over many sources: 3 masters, N simulated workers (sim.rs), N sources created in
//! batches through OperateSource (until all are bound), then one StartTask over all N. Measures
//! (a) from sending StartTask until every simulated worker has received its subtask on its
//! assignment stream (so every subtask is persisted through Raft and delivered), and (b) until
//! the StartTask call returns, after the master's declarative confirmation (until every worker
//! reports its subtask Running); checks the answer lists N sources. Also the leader's CPU time
//! during (a), and the heartbeats while the call runs. Then one query-status of the task (the
//! master asks every worker through its rate-limited AgentPool), timed. DM failed at about 80 sources before its etcd transaction
//! limit was raised. `DM_BENCH_PAUSE_MS=N` waits N ms before StartTask (to attach a profiler to
//! the leader, whose pid goes to stderr).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dm::pb::master::{QueryStatusListRequest, StartTaskRequest, StartTaskResponse};

use crate::Via;
use crate::ctl;
use crate::procs::{Cluster, cpu_time};
use crate::sim::{Metrics, SimConfig, start_many};
use crate::stats::ms;

const WAIT: Duration = Duration::from_secs(600);

pub async fn run(bin: &Path, dir: &Path, n: usize, batch: usize, via: Via) -> anyhow::Result<()> {
    let cluster = Cluster::start(bin, dir, 3)?;
    let leader = cluster.wait_leader(&[0, 1, 2], WAIT).await?;
    // Leader first: no call waits on a forwarding hop (a forwarded call is bounded by the
    // master's rpc-timeout, 30 s). `--via follower` sends the StartTask and query-status calls to a
    // follower, which forwards them.
    let masters = cluster.addrs_leader_first(leader);
    let cfg = SimConfig { masters: masters.clone(), ttl: Duration::from_secs(15), interval: Duration::from_secs(1) };
    let m = Arc::new(Metrics::default());
    let t0 = Instant::now();
    let _workers = start_many(&cfg, "w", n, 64, &m).await?;
    ctl::wait_workers(&masters, WAIT, Duration::from_millis(200), "every worker free", |w| {
        w.len() == n && w.values().all(|(stage, _)| stage == "free")
    })
    .await?;
    let workers_up = t0.elapsed();

    let ids: Vec<String> = (1..=n).map(|i| format!("s{i}")).collect();
    let t1 = Instant::now();
    let mut slowest = Duration::ZERO;
    for chunk in ids.chunks(batch) {
        let b0 = Instant::now();
        let r = ctl::create_sources(&masters, chunk).await?;
        slowest = slowest.max(b0.elapsed());
        let bad: Vec<_> = r.sources.iter().filter(|s| !s.result).collect();
        anyhow::ensure!(r.result && bad.is_empty(), "operate-source create: {} {:?}", r.msg, bad.first());
    }
    let created = t1.elapsed();
    ctl::wait_workers(&masters, WAIT, Duration::from_millis(200), "every source bound", |w| {
        w.values().filter(|(stage, s)| stage == "bound" && !s.is_empty()).count() == n
    })
    .await?;
    let bound_seen = t1.elapsed();
    let start = Instant::now();
    while m.bound.load(Ordering::Relaxed) < n {
        anyhow::ensure!(start.elapsed() < WAIT, "simulated workers did not all receive their source");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let leader_pid = cluster.masters[leader].pid().expect("running");
    eprintln!("{n} sources bound; sending StartTask (leader pid {leader_pid})");
    // For attaching a profiler to the leader before the task is sent.
    if let Some(ms) = std::env::var("DM_BENCH_PAUSE_MS").ok().and_then(|v| v.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let task = ctl::task_yaml("bench", &ids);
    let req = StartTaskRequest { task: task.clone(), ..Default::default() };
    let via_addrs = cluster.addrs_via(leader, via);
    let m2 = via_addrs.clone();
    let cpu0 = cpu_time(leader_pid).unwrap_or_default();
    m.recording.store(true, Ordering::Relaxed);
    let sent = Instant::now();
    let call = tokio::spawn(async move { dm::cluster_call!(ctl::client(&m2, WAIT), start_task, req) });
    while m.delivered.load(Ordering::Relaxed) < n {
        anyhow::ensure!(sent.elapsed() < WAIT, "subtasks not delivered to every worker within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let delivered = m.last_delivery().expect("delivered") - sent;
    let cpu_delivered = cpu_time(leader_pid).unwrap_or_default().saturating_sub(cpu0);
    let answer = call.await?;
    let returned = sent.elapsed();
    m.recording.store(false, Ordering::Relaxed);
    let hb = m.take_heartbeats();
    let hb_failed = m.hb_failed.load(Ordering::Relaxed);
    let r = match answer {
        Ok(r) => r,
        Err(e) => {
            println!("StartTask failed after {:.1} s: {e}", returned.as_secs_f64());
            StartTaskResponse::default()
        }
    };
    let ok = r.sources.iter().filter(|s| s.result).count();
    let first_failure = r.sources.iter().find(|s| !s.result).map(|s| s.msg.clone()).unwrap_or_default();

    let q0 = Instant::now();
    let req = QueryStatusListRequest { name: "bench".into(), sources: vec![] };
    let q = match dm::cluster_call!(ctl::client(&via_addrs, WAIT), query_status, req) {
        Ok(q) => q,
        Err(e) => {
            println!("query-status failed after {:.1} s: {e}", q0.elapsed().as_secs_f64());
            Default::default()
        }
    };
    let queried = q0.elapsed();
    let running = q
        .sources
        .iter()
        .filter(|s| s.result && s.sub_task_status.iter().any(|t| t.name == "bench" && t.stage == "Running"))
        .count();
    let q_failure = q.sources.iter().find(|s| !s.result).map(|s| s.msg.clone()).unwrap_or_default();
    let now = cluster.leaders_now().await;
    if now != [cluster.masters[leader].name.clone()] {
        println!("leader changed during the run: {} at the start, {now:?} at the end\n", cluster.masters[leader].name);
    }

    println!(
        "| sources | workers up s | create (batches of {batch}) s | slowest batch s | all bound s | task.yaml KiB |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {n} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
        workers_up.as_secs_f64(),
        created.as_secs_f64(),
        slowest.as_secs_f64(),
        bound_seen.as_secs_f64(),
        task.len() as f64 / 1024.0
    );
    println!();
    println!(
        "| sources | (a) all subtasks delivered s | leader CPU s in (a) | (b) StartTask returned s | result | sources listed | confirmed |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {n} | {:.2} | {:.2} | {:.1} | {} | {} | {ok} |",
        delivered.as_secs_f64(),
        cpu_delivered.as_secs_f64(),
        returned.as_secs_f64(),
        r.result,
        r.sources.len()
    );
    if !first_failure.is_empty() {
        println!("\nfirst unconfirmed source: {first_failure}");
    }
    println!(
        "\nheartbeats while StartTask ran: {} acknowledged (slowest {} ms), {hb_failed} failed",
        hb.len(),
        ms(*hb.last().unwrap_or(&Duration::ZERO))
    );
    println!();
    println!("| query-status of the task s | sources listed | Running |");
    println!("|---|---|---|");
    println!("| {:.1} | {} | {running} |", queried.as_secs_f64(), q.sources.len());
    if !q_failure.is_empty() {
        println!("\nfirst source without an answer: {q_failure}");
    }
    Ok(())
}
