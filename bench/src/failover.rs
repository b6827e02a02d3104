//! Failover: kill -9 the leader of a 3-process cluster; time until a surviving master runs its
//! leader components (Health.leader_ready) and answers a linearizable read through it.

use std::path::Path;
use std::time::{Duration, Instant};

use dm::pb::master::{KvGetRequest, KvPutRequest};

use crate::procs::{Cluster, client, health};
use crate::stats::{ms, percentile};

const WAIT: Duration = Duration::from_secs(60);

async fn linearizable_read(addr: &str) -> bool {
    let Some(mut c) = client(addr).await else { return false };
    let mut req = tonic::Request::new(KvGetRequest { key: "k0".into(), serializable: false });
    req.set_timeout(Duration::from_secs(1));
    matches!(c.kv_get(req).await, Ok(r) if r.get_ref().result && r.get_ref().found)
}

pub async fn run(bin: &Path, dir: &Path, trials: usize) -> anyhow::Result<()> {
    let mut cluster = Cluster::start(bin, dir, 3)?;
    let all = [0usize, 1, 2];
    let leader = cluster.wait_leader(&all, WAIT).await?;
    let mut c = client(&cluster.masters[leader].addr).await.expect("client");
    for i in 0..1000 {
        let req = KvPutRequest { key: format!("k{i}"), value: vec![b'x'; 256], expect_mod_revision: None };
        anyhow::ensure!(c.kv_put(req).await?.into_inner().result, "seed write failed");
    }
    let mut times = Vec::new();
    println!("| trial | killed | new leader | failover ms |");
    println!("|---|---|---|---|");
    for trial in 1..=trials {
        let leader = cluster.wait_leader(&all, WAIT).await?;
        let applied = health(&cluster.masters[leader].addr).await.map(|h| h.applied_index).unwrap_or(0);
        cluster.wait_caught_up(applied, WAIT).await?;
        // Land the kill anywhere in the heartbeat cycle.
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..100))).await;
        cluster.masters[leader].kill9();
        let killed_at = Instant::now();
        let survivors: Vec<usize> = all.iter().copied().filter(|i| *i != leader).collect();
        let (winner, took) = loop {
            let mut found = None;
            for s in &survivors {
                let addr = &cluster.masters[*s].addr;
                if health(addr).await.is_some_and(|h| h.leader_ready) && linearizable_read(addr).await {
                    found = Some(*s);
                    break;
                }
            }
            if let Some(s) = found {
                break (s, killed_at.elapsed());
            }
            anyhow::ensure!(killed_at.elapsed() < WAIT, "no new leader within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        println!("| {trial} | {} | {} | {} |", cluster.masters[leader].name, cluster.masters[winner].name, ms(took));
        times.push(took);
        cluster.masters[leader].restart()?;
        let applied = health(&cluster.masters[winner].addr).await.map(|h| h.applied_index).unwrap_or(0);
        cluster.wait_caught_up(applied, WAIT).await?;
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    println!();
    println!("| trials | p50 ms | p99 ms | max ms | mean ms |");
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} |",
        times.len(),
        ms(percentile(&times, 50.0)),
        ms(percentile(&times, 99.0)),
        ms(*times.last().unwrap_or(&Duration::ZERO)),
        ms(mean)
    );
    Ok(())
}
