//! Worker failover: 3 masters, 3 real `dm worker` processes with `--keepalive-ttl 3s`, 2 sources.
//! Each trial kill -9s the worker bound to s1 at a random point of its heartbeat cycle and
//! measures until list-member shows s1 bound to another worker, and until that worker reports s1
//! in its own QueryStatus. The killed worker is restarted (same name and address) and waited for
//! before the next trial.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use dm::pb::worker::QueryStatusRequest;
use dm::pb::worker::worker_client::WorkerClient;

use crate::ctl;
use crate::procs::{Cluster, WorkerProc};
use crate::stats::{ms, percentile};

const WAIT: Duration = Duration::from_secs(60);
const TTL: &str = "3s";

async fn reports(addr: &str, source: &str) -> bool {
    let Ok(ch) = dm::net::dial(addr) else { return false };
    let mut req = tonic::Request::new(QueryStatusRequest { name: String::new() });
    req.set_timeout(Duration::from_millis(500));
    matches!(WorkerClient::new(ch).query_status(req).await,
        Ok(r) if r.get_ref().source_status.as_ref().is_some_and(|s| s.source == source))
}

fn summary(label: &str, mut v: Vec<Duration>) -> String {
    v.sort();
    let mean = v.iter().sum::<Duration>() / v.len().max(1) as u32;
    format!(
        "| {label} | {} | {} | {} | {} | {} |",
        v.len(),
        ms(percentile(&v, 50.0)),
        ms(percentile(&v, 99.0)),
        ms(*v.last().unwrap_or(&Duration::ZERO)),
        ms(mean)
    )
}

pub async fn run(bin: &Path, dir: &Path, trials: usize) -> anyhow::Result<()> {
    let cluster = Cluster::start(bin, dir, 3)?;
    cluster.wait_leader(&[0, 1, 2], WAIT).await?;
    // As an operator would give them: every master, in order.
    let masters: Vec<String> = cluster.masters.iter().map(|m| m.addr.clone()).collect();
    let mut workers = Vec::new();
    for i in 1..=3 {
        workers.push(WorkerProc::start(bin, dir, &format!("w{i}"), &masters, TTL)?);
    }
    let addrs: BTreeMap<String, String> = workers.iter().map(|w| (w.name.clone(), w.addr.clone())).collect();
    ctl::wait_workers(&masters, WAIT, Duration::from_millis(50), "three workers free", |w| {
        w.len() == 3 && w.values().all(|(s, _)| s == "free")
    })
    .await?;
    let r = ctl::create_sources(&masters, &["s1".to_string(), "s2".to_string()]).await?;
    anyhow::ensure!(r.result, "operate-source create: {} {:?}", r.msg, r.sources);

    let (mut bound_t, mut reported_t) = (Vec::new(), Vec::new());
    println!("| trial | killed | s1 now on | bound ms | reported ms | s2 moved |");
    println!("|---|---|---|---|---|---|");
    for trial in 1..=trials {
        // Both sources bound and the spare worker online.
        ctl::wait_workers(&masters, WAIT, Duration::from_millis(50), "s1, s2 bound and a free worker", |w| {
            w.values().filter(|(s, _)| s == "bound").count() == 2 && w.values().any(|(s, _)| s == "free")
        })
        .await?;
        let before = ctl::bindings(&masters).await?;
        let victim = before["s1"].clone();
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..1000))).await;
        let idx = workers.iter().position(|w| w.name == victim).expect("known worker");
        workers[idx].kill9();
        let killed = Instant::now();
        let (winner, bound) = loop {
            if let Ok(b) = ctl::bindings(&masters).await
                && let Some(w) = b.get("s1").filter(|w| **w != victim)
            {
                break (w.clone(), killed.elapsed());
            }
            anyhow::ensure!(killed.elapsed() < WAIT, "s1 not rebound within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let reported = loop {
            if reports(&addrs[&winner], "s1").await {
                break killed.elapsed();
            }
            anyhow::ensure!(killed.elapsed() < WAIT, "{winner} does not report s1 within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let s2_moved = ctl::bindings(&masters).await?.get("s2") != before.get("s2");
        println!("| {trial} | {victim} | {winner} | {} | {} | {s2_moved} |", ms(bound), ms(reported));
        bound_t.push(bound);
        reported_t.push(reported);
        workers[idx].spawn()?;
        ctl::wait_workers(&masters, WAIT, Duration::from_millis(50), "the restarted worker free", |w| {
            w.get(&victim).is_some_and(|(s, _)| s == "free")
        })
        .await?;
    }
    println!();
    println!("| kill -9 → | trials | p50 ms | p99 ms | max ms | mean ms |");
    println!("|---|---|---|---|---|---|");
    println!("{}", summary("s1 bound to another worker (list-member)", bound_t));
    println!("{}", summary("that worker reports s1 (its QueryStatus)", reported_t));
    Ok(())
}
