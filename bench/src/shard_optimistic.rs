//! Optimistic shard DDL over many upstream tables (issue 5): S simulated workers, one optimistic
//! task; each source puts its T/S tables, then every table but the last puts one Info
//! (`ADD COLUMN c1 INT`), 64 calls in flight, and acks its operation. Measured: Infos per second,
//! the put call's latency and Info→operation-delivered latency, leader CPU and RSS. The last
//! table holds its Info back, so the lock stays unresolved with T−1 Infos and operations stored;
//! then kill -9 the leader and time the new leader's rebuild (its "shard DDL keeper rebuilt its
//! locks" log line for OptimistKeeper) and until ShowDdlLocks through it lists the lock. Last,
//! the held-back Info goes in and the lock must resolve on the new leader.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dm::client::ClusterClient;
use dm::pb::master::{ShardTable, ShowDdlLocksRequest};
use dm::worker::shardddl::OptimisticDdl;
use futures::StreamExt;

use crate::procs::{cpu_time, health, rss_of};
use crate::shard_setup::{self, ShardSetup, WAIT};
use crate::stats::{mib, ms, percentile};

const TASK: &str = "shard";
const DDL: &str = "ALTER TABLE tb ADD COLUMN c1 INT";

fn routed(i: usize) -> ShardTable {
    ShardTable {
        up_schema: "shop".into(),
        up_table: format!("t{i}"),
        down_schema: "shop".into(),
        down_table: "tb".into(),
    }
}

fn info(i: usize) -> OptimisticDdl {
    OptimisticDdl {
        table: routed(i),
        ddls: vec![DDL.into()],
        before: format!("CREATE TABLE t{i} (id INT PRIMARY KEY, a INT)"),
        ..Default::default()
    }
}

/// One Info: its table, when it was sent, when the call returned, and its revision.
struct Put {
    table: usize,
    sent: Instant,
    took: Duration,
    revision: u64,
}

/// Table `i` (1-based) belongs to source `(i - 1) / per`.
async fn put_infos(s: &ShardSetup, tables: &[usize], per: usize, concurrency: usize) -> anyhow::Result<Vec<Put>> {
    let lanes = (0..concurrency).map(|lane| async move {
        let mut c = ClusterClient::new(s.masters.clone(), WAIT);
        let mut out = Vec::new();
        for &i in tables.iter().skip(lane).step_by(concurrency) {
            let caller = s.workers[(i - 1) / per].caller();
            let sent = Instant::now();
            let revision = caller.put_optimistic(&mut c, TASK, &info(i)).await?;
            out.push(Put { table: i, sent, took: sent.elapsed(), revision });
        }
        anyhow::Ok(out)
    });
    let results: Vec<_> = futures::stream::iter(lanes).buffer_unordered(concurrency).collect().await;
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// Waits until the operation answering each put has arrived; returns Info→operation latencies.
async fn delivered(s: &ShardSetup, puts: &[Put]) -> anyhow::Result<Vec<Duration>> {
    let want: std::collections::HashMap<(String, u64), Instant> =
        puts.iter().map(|p| ((format!("t{}", p.table), p.revision), p.sent)).collect();
    let start = Instant::now();
    loop {
        let got = s.m.shard.select(|k| want.contains_key(&(k.3.clone(), k.4)));
        if got.len() >= want.len() {
            let mut v: Vec<Duration> =
                got.iter().map(|(k, seen)| seen.at.saturating_duration_since(want[&(k.3.clone(), k.4)])).collect();
            v.sort();
            return Ok(v);
        }
        anyhow::ensure!(start.elapsed() < WAIT, "{} of {} operations delivered", got.len(), want.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Bytes of each master's log now (to read only what a master logs after the kill).
fn log_offsets(s: &ShardSetup) -> Vec<u64> {
    s.cluster.masters.iter().map(|m| std::fs::metadata(m.log_path()).map(|x| x.len()).unwrap_or(0)).collect()
}

/// Drops ANSI colour sequences (the masters log to a file with tracing's default colours).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(ch);
        }
    }
    out
}

/// The elapsed_ms of an OptimistKeeper rebuild logged by master `i` after `offset`.
fn rebuild_logged(s: &ShardSetup, i: usize, offset: u64) -> Option<(u64, String)> {
    let text = std::fs::read(s.cluster.masters[i].log_path()).ok()?;
    let tail = strip_ansi(&String::from_utf8_lossy(text.get(offset as usize..)?));
    let line = tail.lines().find(|l| l.contains("rebuilt its locks") && l.contains("OptimistKeeper"))?;
    let after = &line[line.find("elapsed_ms=")? + "elapsed_ms=".len()..];
    let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((digits.parse().ok()?, line.to_string()))
}

/// Kills the leader; times its successor's rebuild and its first ShowDdlLocks with the lock.
async fn failover(s: &mut ShardSetup) -> anyhow::Result<usize> {
    let leader = s.leader;
    let applied = health(&s.cluster.masters[leader].addr).await.map(|h| h.applied_index).unwrap_or(0);
    s.cluster.wait_caught_up(applied, WAIT).await?;
    let offsets = log_offsets(s);
    s.cluster.masters[leader].kill9();
    let killed = Instant::now();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let new = s.cluster.wait_leader(&survivors, WAIT).await?;
    let ready = killed.elapsed();
    let (elapsed_ms, line, logged) = loop {
        if let Some((e, l)) = rebuild_logged(s, new, offsets[new]) {
            break (e, l, killed.elapsed());
        }
        anyhow::ensure!(killed.elapsed() < WAIT, "no rebuild logged by the new leader");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut c = ClusterClient::new(vec![s.cluster.masters[new].addr.clone()], Duration::from_secs(10));
    let (listed, lock) = loop {
        let req = ShowDdlLocksRequest { task: TASK.into(), sources: vec![] };
        if let Ok(r) = dm::cluster_call!(c, show_ddl_locks, req)
            && r.result
            && let Some(l) = r.locks.into_iter().next()
        {
            break (killed.elapsed(), l);
        }
        anyhow::ensure!(killed.elapsed() < WAIT, "the new leader did not list the lock");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    println!("\nkill -9 of {} → new leader {}:", s.cluster.masters[leader].name, s.cluster.masters[new].name);
    println!(
        "\n| leader_ready ms | rebuild logged ms (wall) | rebuild elapsed_ms (log) | ShowDdlLocks lists the lock ms | synced | unsynced |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {elapsed_ms} | {} | {} | {} |",
        ms(ready),
        ms(logged),
        ms(listed),
        lock.synced.len(),
        lock.unsynced.len()
    );
    println!("\nlog line: {}", line.trim());
    s.leader = new;
    s.masters = s.cluster.addrs_leader_first(new);
    Ok(new)
}

pub async fn run(bin: &Path, dir: &Path, tables: usize, sources: usize, concurrency: usize) -> anyhow::Result<()> {
    anyhow::ensure!(sources >= 1 && tables >= 2 * sources, "at least two tables per source");
    let per = tables.div_ceil(sources);
    let mut s = shard_setup::start(bin, dir, sources, TASK, "optimistic").await?;
    let t0 = Instant::now();
    for (j, w) in s.workers.iter().enumerate() {
        let mine: Vec<ShardTable> = (j * per + 1..=((j + 1) * per).min(tables)).map(routed).collect();
        let mut c = ClusterClient::new(s.masters.clone(), WAIT);
        w.caller().put_source_tables(&mut c, TASK, &mine).await?;
    }
    println!("| tables | sources | put source tables s |\n|---|---|---|");
    println!("| {tables} | {sources} | {:.2} |\n", t0.elapsed().as_secs_f64());

    s.m.shard.auto_ack.store(true, Ordering::Relaxed);
    let pid = s.cluster.masters[s.leader].pid().expect("running");
    let (cpu0, rss0) = (cpu_time(pid).unwrap_or_default(), rss_of(pid).unwrap_or(0));
    let first: Vec<usize> = (1..tables).collect();
    let start = Instant::now();
    let puts = put_infos(&s, &first, per, concurrency).await?;
    let put_all = start.elapsed();
    let lat = delivered(&s, &puts).await?;
    let all_delivered = start.elapsed();
    while s.m.shard.acked.load(Ordering::Relaxed) + s.m.shard.ack_failed.load(Ordering::Relaxed) < puts.len() as u64 {
        anyhow::ensure!(start.elapsed() < WAIT, "acks did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let acked = start.elapsed();
    let (cpu1, rss1) = (cpu_time(pid).unwrap_or_default(), rss_of(pid).unwrap_or(0));
    let mut took: Vec<Duration> = puts.iter().map(|p| p.took).collect();
    took.sort();
    println!(
        "| Infos | in flight | all put s | Infos/s | put p50 ms | put p99 ms | Info→op p50 ms | Info→op p99 ms | all ops delivered s | all acked s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {concurrency} | {:.2} | {:.0} | {} | {} | {} | {} | {:.2} | {:.2} |",
        puts.len(),
        put_all.as_secs_f64(),
        puts.len() as f64 / put_all.as_secs_f64(),
        ms(percentile(&took, 50.0)),
        ms(percentile(&took, 99.0)),
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 99.0)),
        all_delivered.as_secs_f64(),
        acked.as_secs_f64()
    );
    println!("\n| leader CPU s (Infos until all acked) | leader RSS MiB before | after |\n|---|---|---|");
    println!("| {:.2} | {} | {} |", cpu1.saturating_sub(cpu0).as_secs_f64(), mib(rss0), mib(rss1));
    let failed = s.m.shard.ack_failed.load(Ordering::Relaxed);
    println!("\nacks failed: {failed} {}", s.m.shard.ack_error.lock().unwrap().clone().unwrap_or_default());

    failover(&mut s).await?;

    // The held-back Info on the new leader: the lock must resolve and go.
    let t1 = Instant::now();
    let last = put_infos(&s, &[tables], per, 1).await?;
    let op = delivered(&s, &last).await?;
    let mut c = ClusterClient::new(s.masters.clone(), WAIT);
    loop {
        let req = ShowDdlLocksRequest { task: TASK.into(), sources: vec![] };
        if matches!(dm::cluster_call!(c, show_ddl_locks, req), Ok(r) if r.result && r.locks.is_empty()) {
            break;
        }
        anyhow::ensure!(t1.elapsed() < WAIT, "the lock was not removed after the last Info");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "\nlast table's Info on the new leader: op delivered in {} ms, lock removed after {} ms",
        ms(op[0]),
        ms(t1.elapsed())
    );
    Ok(())
}
