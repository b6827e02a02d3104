//! Many workers: N simulated workers (sim.rs) register with a 3-process master cluster, heartbeat
//! every second (TTL 15 s) and follow their assignment streams. After a warm-up, measure each
//! master's CPU (utime + stime from /proc over the window) and RSS, the bench process's own CPU
//! (it runs the N workers on the same two cores), and the heartbeat latency the workers see.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::Via;
use crate::procs::{Cluster, cpu_time, rss_of};
use crate::sim::{Metrics, SimConfig, start_many};
use crate::stats::{mib, ms, percentile};

const WAIT: Duration = Duration::from_secs(120);

pub async fn run(bin: &Path, dir: &Path, n: usize, seconds: u64, warmup: u64, via: Via) -> anyhow::Result<()> {
    let cluster = Cluster::start(bin, dir, 3)?;
    let leader = cluster.wait_leader(&[0, 1, 2], WAIT).await?;
    // With the leader first in the join list heartbeats go straight to it; with a follower first
    // (`--via follower`) they go through that follower, which forwards them (the stream cannot be
    // forwarded: it always goes to the leader).
    let masters = cluster.addrs_via(leader, via);
    let cfg = SimConfig { masters: masters.clone(), ttl: Duration::from_secs(15), interval: Duration::from_secs(1) };
    let m = Arc::new(Metrics::default());
    let t0 = Instant::now();
    let workers = start_many(&cfg, "w", n, 64, &m).await?;
    let registered = t0.elapsed();
    crate::ctl::wait_workers(&masters, WAIT, Duration::from_millis(200), "every worker free", |w| {
        w.len() == n && w.values().all(|(stage, _)| stage == "free")
    })
    .await?;
    let all_free = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(warmup)).await;

    let pids: Vec<u32> = cluster.masters.iter().map(|m| m.pid().expect("running")).collect();
    let me = std::process::id();
    let cpu0: Vec<Duration> = pids.iter().chain([&me]).map(|p| cpu_time(*p).unwrap_or_default()).collect();
    let start = Instant::now();
    m.recording.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    m.recording.store(false, Ordering::Relaxed);
    let window = start.elapsed();
    let cpu1: Vec<Duration> = pids.iter().chain([&me]).map(|p| cpu_time(*p).unwrap_or_default()).collect();
    let hb = m.take_heartbeats();
    let failed = m.hb_failed.load(Ordering::Relaxed);
    let free = match crate::ctl::workers(&masters).await {
        Ok(w) => w.values().filter(|(s, _)| s == "free").count().to_string(),
        Err(e) => format!("list-member failed: {e}"),
    };

    let pct = |i: usize| 100.0 * (cpu1[i] - cpu0[i]).as_secs_f64() / window.as_secs_f64();
    println!("| workers | registered in s | all free after s | free at the end |");
    println!("|---|---|---|---|");
    let now = cluster.leaders_now().await;
    if now != [cluster.masters[leader].name.clone()] {
        println!("leader changed during the run: {} at the start, {now:?} at the end\n", cluster.masters[leader].name);
    }
    println!("| {n} | {:.2} | {:.1} | {free} |", registered.as_secs_f64(), all_free.as_secs_f64());
    println!();
    println!("| process | role | CPU % of one core | RSS MiB |");
    println!("|---|---|---|---|");
    for (i, mm) in cluster.masters.iter().enumerate() {
        let role = if i == leader { "leader" } else { "follower" };
        println!("| {} | {role} | {:.1} | {} |", mm.name, pct(i), mib(rss_of(pids[i]).unwrap_or(0)));
    }
    println!("| dm-bench | {n} simulated workers | {:.1} | {} |", pct(3), mib(rss_of(me).unwrap_or(0)));
    println!();
    println!("| window s | heartbeats acked | per s | failed | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {:.0} | {} | {:.0} | {failed} | {} | {} | {} |",
        window.as_secs_f64(),
        hb.len(),
        hb.len() as f64 / window.as_secs_f64(),
        ms(percentile(&hb, 50.0)),
        ms(percentile(&hb, 99.0)),
        ms(*hb.last().unwrap_or(&Duration::ZERO)),
    );
    if let Some(e) = m.hb_error.lock().unwrap().as_ref() {
        println!("\nfirst failed heartbeat: {e}");
    }
    drop(workers);
    Ok(())
}
