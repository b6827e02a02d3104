//! The cluster both shard-DDL benchmarks start from: 3 `dm master` processes, N simulated
//! workers (sim.rs) each bound to its own source, and one sharding task over all N sources
//! (route `shop.t*` → `shop.tb`) in the given shard mode, started and confirmed. The masters run
//! with default settings; `DM_BENCH_MASTER_TOML` adds a config file (e.g. `api-rate-limit = 0`, which
//! the first runs needed before the worker shard-DDL calls were exempt from that limit).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dm::pb::master::StartTaskRequest;

use crate::ctl;
use crate::procs::Cluster;
use crate::sim::{Metrics, SimConfig, SimWorker, start_many};

pub const WAIT: Duration = Duration::from_secs(600);

pub struct ShardSetup {
    pub cluster: Cluster,
    /// Index of the leader when the task started.
    pub leader: usize,
    /// Client addresses, leader first.
    pub masters: Vec<String>,
    /// Ordered by source: `workers[i]` holds `s{i+1}`.
    pub workers: Vec<SimWorker>,
    pub m: Arc<Metrics>,
}

pub async fn start(bin: &Path, dir: &Path, n: usize, task: &str, mode: &str) -> anyhow::Result<ShardSetup> {
    let extra = match std::env::var("DM_BENCH_MASTER_TOML") {
        Ok(toml) => {
            let cfg_file = dir.join("master.toml");
            std::fs::write(&cfg_file, toml)?;
            vec![format!("--config={}", cfg_file.display())]
        }
        Err(_) => Vec::new(),
    };
    let cluster = Cluster::start_with(bin, dir, 3, &extra)?;
    let leader = cluster.wait_leader(&[0, 1, 2], WAIT).await?;
    let masters = cluster.addrs_leader_first(leader);
    let cfg = SimConfig { masters: masters.clone(), ttl: Duration::from_secs(15), interval: Duration::from_secs(1) };
    let m = Arc::new(Metrics::default());
    let t0 = Instant::now();
    let workers = start_many(&cfg, "w", n, 64, &m).await?;
    let ids: Vec<String> = (1..=n).map(|i| format!("s{i}")).collect();
    for chunk in ids.chunks(100) {
        let r = ctl::create_sources(&masters, chunk).await?;
        anyhow::ensure!(r.result, "operate-source create: {}", r.msg);
    }
    while m.bound.load(Ordering::Relaxed) < n || workers.iter().any(|w| w.binding().0.is_empty()) {
        anyhow::ensure!(t0.elapsed() < WAIT, "simulated workers did not all receive their source");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let req = StartTaskRequest { task: ctl::sharded_task_yaml(task, &ids, mode), ..Default::default() };
    let r = dm::cluster_call!(ctl::client(&masters, WAIT), start_task, req)?;
    anyhow::ensure!(r.result, "start-task: {} {:?}", r.msg, r.sources.iter().find(|s| !s.result));
    let mut workers = workers;
    workers.sort_by_key(|w| w.binding().0.trim_start_matches('s').parse::<usize>().unwrap_or(0));
    eprintln!("{n} sources bound and task {task} ({mode}) started in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(ShardSetup { cluster, leader, masters, workers, m })
}
