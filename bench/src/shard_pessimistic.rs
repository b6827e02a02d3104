//! Pessimistic shard DDL over many sources (issue 5): N simulated workers, one pessimistic task
//! over all N sources. Per trial (a new `ADD COLUMN c{trial}`), every source but the last puts its
//! Info; then the last one does. Measured from the moment that last call returned until every
//! worker received its operation on its stream (the owner's exec operation; then, after the
//! owner's automatic ack, every other source's skip operation), and until ShowDdlLocks is empty
//! (the lock's records removed after every ack); the leader's CPU time over the first interval.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dm::client::ClusterClient;
use dm::pb::master::ShowDdlLocksRequest;
use futures::StreamExt;

use crate::procs::cpu_time;
use crate::shard_setup::{self, WAIT};
use crate::sim::SimWorker;
use crate::stats::{ms, percentile};

const TASK: &str = "shard";

/// One trial's intervals, from the return of the last Info.
struct Trial {
    last_put: Duration,
    owner_exec: Duration,
    all_delivered: Duration,
    lock_gone: Duration,
    cpu: Duration,
}

/// Puts the same pessimistic Info from each of `ws`, `concurrency` at once (one connection per lane).
async fn put_all(masters: &[String], ws: &[SimWorker], ddl: &str, concurrency: usize) -> anyhow::Result<()> {
    let lanes = ws.chunks(ws.len().div_ceil(concurrency).max(1)).map(|lane| async move {
        let mut c = ClusterClient::new(masters.to_vec(), WAIT);
        for w in lane {
            w.caller().put_pessimistic(&mut c, TASK, "shop", "tb", &[ddl.to_string()]).await?;
        }
        anyhow::Ok(())
    });
    let results: Vec<_> = futures::stream::iter(lanes).buffer_unordered(concurrency).collect().await;
    results.into_iter().collect()
}

async fn locks_empty(c: &mut ClusterClient) -> bool {
    let req = ShowDdlLocksRequest { task: TASK.into(), sources: vec![] };
    matches!(dm::cluster_call!(c, show_ddl_locks, req), Ok(r) if r.result && r.locks.is_empty())
}

async fn trial(s: &shard_setup::ShardSetup, t: usize) -> anyhow::Result<Trial> {
    let n = s.workers.len();
    let ddl = format!("ALTER TABLE tb ADD COLUMN c{t} INT");
    let this = |k: &crate::shard_ops::OpKey| k.6.len() == 1 && k.6[0] == ddl;
    put_all(&s.masters, &s.workers[..n - 1], &ddl, 64).await?;
    anyhow::ensure!(s.m.shard.count(this) == 0, "an operation came before the last Info");
    let leader_pid = s.cluster.masters[s.leader].pid().expect("running");
    let mut c = ClusterClient::new(s.masters.clone(), WAIT);
    let cpu0 = cpu_time(leader_pid).unwrap_or_default();
    let sent = Instant::now();
    s.workers[n - 1].caller().put_pessimistic(&mut c, TASK, "shop", "tb", std::slice::from_ref(&ddl)).await?;
    let returned = Instant::now();
    while s.m.shard.count(this) < n {
        anyhow::ensure!(returned.elapsed() < WAIT, "operations not delivered within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let cpu = cpu_time(leader_pid).unwrap_or_default().saturating_sub(cpu0);
    let ops = s.m.shard.select(this);
    let last = ops.iter().map(|(_, seen)| seen.at).max().expect("n > 0");
    let exec = ops.iter().filter(|(k, _)| k.5).map(|(_, seen)| seen.at).collect::<Vec<_>>();
    anyhow::ensure!(exec.len() == 1, "{} exec operations, expected 1", exec.len());
    while !locks_empty(&mut c).await {
        anyhow::ensure!(returned.elapsed() < WAIT, "the lock was not removed within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let lock_gone = returned.elapsed();
    Ok(Trial {
        last_put: returned - sent,
        owner_exec: exec[0].saturating_duration_since(returned),
        all_delivered: last.saturating_duration_since(returned),
        lock_gone,
        cpu,
    })
}

fn summary(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "| {name} | {} | {} | {} |",
        ms(v[0]),
        ms(percentile(&v, 50.0)),
        ms(*v.last().expect("at least one trial"))
    );
}

pub async fn run(bin: &Path, dir: &Path, n: usize, trials: usize) -> anyhow::Result<()> {
    anyhow::ensure!(n >= 2 && trials >= 1, "at least 2 sources and 1 trial");
    let s = shard_setup::start(bin, dir, n, TASK, "pessimistic").await?;
    s.m.shard.auto_ack.store(true, Ordering::Relaxed);
    let mut rows = Vec::new();
    println!(
        "| trial | last Info call ms | owner's exec op ms | every op delivered ms | lock removed ms | leader CPU ms |"
    );
    println!("|---|---|---|---|---|---|");
    for t in 1..=trials {
        let r = trial(&s, t).await?;
        println!(
            "| {t} | {} | {} | {} | {} | {} |",
            ms(r.last_put),
            ms(r.owner_exec),
            ms(r.all_delivered),
            ms(r.lock_gone),
            ms(r.cpu)
        );
        rows.push(r);
    }
    println!("\n| {n} sources, {trials} trials | min ms | median ms | max ms |");
    println!("|---|---|---|---|");
    summary("owner's exec op delivered", rows.iter().map(|r| r.owner_exec).collect());
    summary("every op delivered", rows.iter().map(|r| r.all_delivered).collect());
    summary("lock removed (ShowDdlLocks empty)", rows.iter().map(|r| r.lock_gone).collect());
    summary("leader CPU in 'every op delivered'", rows.iter().map(|r| r.cpu).collect());
    let failed = s.m.shard.ack_failed.load(Ordering::Relaxed);
    println!("\nacks failed: {failed} {}", s.m.shard.ack_error.lock().unwrap().clone().unwrap_or_default());
    let now = s.cluster.leaders_now().await;
    if now != [s.cluster.masters[s.leader].name.clone()] {
        println!("leader changed during the run: {now:?}");
    }
    Ok(())
}
