//! Bounded growth: a long write run over 10 000 keys; disk bytes and RSS of every node at each
//! checkpoint. With snapshots every 5 000 entries and 1 000 kept, both should stay flat.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dm::pb::master::KvPutRequest;

use crate::procs::{Cluster, client, dir_size};
use crate::stats::mib;
use crate::write::{key, value};

pub async fn run(bin: &Path, dir: &Path, writes: u64, checkpoints: &[u64], concurrency: usize) -> anyhow::Result<()> {
    let cluster = Cluster::start(bin, dir, 3)?;
    let leader = cluster.wait_leader(&[0, 1, 2], Duration::from_secs(60)).await?;
    let addr = cluster.masters[leader].addr.clone();
    let issued = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let value = Arc::new(value());
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut c = client(&addr).await.ok_or_else(|| anyhow::anyhow!("dial {addr}"))?;
        let (issued, done, value) = (issued.clone(), done.clone(), value.clone());
        tasks.push(tokio::spawn(async move {
            while issued.fetch_add(1, Ordering::Relaxed) < writes {
                let req = KvPutRequest { key: key(), value: value.to_vec(), expect_mod_revision: None };
                let r = c.kv_put(req).await?.into_inner();
                anyhow::ensure!(r.result, "write failed: {}", r.msg);
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    let start = Instant::now();
    println!("| writes | node | disk MiB | of which raft log | of which sled | RSS MiB | elapsed s |");
    println!("|---|---|---|---|---|---|---|");
    for &cp in checkpoints {
        while done.load(Ordering::Relaxed) < cp.min(writes) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for m in &cluster.masters {
            let rss = m.rss().map(mib).unwrap_or_else(|| "-".into());
            let log = dir_size(&m.data_dir.join("raft-log"));
            let sled = dir_size(&m.data_dir.join("db"));
            println!(
                "| {cp} | {} | {} | {} | {} | {rss} | {:.0} |",
                m.name,
                mib(m.disk_bytes()),
                mib(log),
                mib(sled),
                start.elapsed().as_secs_f64()
            );
        }
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}
