//! Writes through Raft with fsync, 3 nodes: 256-byte values over 10 000 keys, N concurrent
//! clients each on its own connection to the leader; dm beside etcd in the same run.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dm::pb::master::KvPutRequest;

use crate::etcd::{EtcdCluster, version};
use crate::procs::{Cluster, client};
use crate::stats::{ms, percentile};

pub const KEYS: u64 = 10_000;
pub const VALUE_BYTES: usize = 256;
const WARMUP: Duration = Duration::from_secs(1);

pub struct Sample {
    pub ops_per_sec: f64,
    pub p50: Duration,
    pub p99: Duration,
}

pub fn value() -> Vec<u8> {
    (0..VALUE_BYTES).map(|i| b'a' + (i % 26) as u8).collect()
}

pub fn key() -> String {
    format!("key-{:05}", rand::random_range(0..KEYS))
}

/// One client connection that can write one key.
pub trait Writer: Send + 'static {
    /// Writes a random key; whether it was acknowledged.
    fn put(&mut self) -> impl Future<Output = bool> + Send;
}

/// Runs `concurrency` writers for `seconds` after a warm-up.
pub async fn drive<W, F, Fut>(concurrency: usize, seconds: u64, make: F) -> anyhow::Result<Sample>
where
    W: Writer,
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<W>>,
{
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let end = measure_from + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut conn = make().await?;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                anyhow::ensure!(conn.put().await, "a write failed");
                if t0 >= measure_from {
                    lat.push(t0.elapsed());
                }
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort();
    Ok(Sample {
        ops_per_sec: all.len() as f64 / seconds as f64,
        p50: percentile(&all, 50.0),
        p99: percentile(&all, 99.0),
    })
}

struct DmConn(dm::pb::master::master_client::MasterClient<tonic::transport::Channel>, Arc<Vec<u8>>);

impl Writer for DmConn {
    async fn put(&mut self) -> bool {
        let req = KvPutRequest { key: key(), value: self.1.to_vec(), expect_mod_revision: None };
        matches!(self.0.kv_put(req).await, Ok(r) if r.get_ref().result)
    }
}

struct EtcdConn(etcd_client::Client, Arc<Vec<u8>>);

impl Writer for EtcdConn {
    async fn put(&mut self) -> bool {
        self.0.put(key(), self.1.to_vec(), None).await.is_ok()
    }
}

pub async fn run(bin: &Path, dir: &Path, concurrency: &[usize], seconds: u64, etcd_bin: &str) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let value = Arc::new(value());
    {
        let dm_dir = dir.join("dm");
        std::fs::create_dir_all(&dm_dir)?;
        let cluster = Cluster::start(bin, &dm_dir, 3)?;
        let leader = cluster.wait_leader(&[0, 1, 2], Duration::from_secs(60)).await?;
        let addr = cluster.masters[leader].addr.clone();
        for &c in concurrency {
            let (addr, value) = (addr.clone(), value.clone());
            let s = drive(c, seconds, || {
                let (addr, value) = (addr.clone(), value.clone());
                async move {
                    let conn = client(&addr).await.ok_or_else(|| anyhow::anyhow!("dial {addr}"))?;
                    Ok(DmConn(conn, value))
                }
            })
            .await?;
            rows.push((format!("dm {}", env!("CARGO_PKG_VERSION")), c, s));
        }
    }
    if etcd_bin != "none" {
        let etcd_dir = dir.join("etcd");
        std::fs::create_dir_all(&etcd_dir)?;
        let etcd = EtcdCluster::start(etcd_bin, &etcd_dir)?;
        let leader = etcd.leader(Duration::from_secs(60)).await?;
        let name = version(etcd_bin);
        for &c in concurrency {
            let (leader, value) = (leader.clone(), value.clone());
            let s = drive(c, seconds, || {
                let (leader, value) = (leader.clone(), value.clone());
                async move {
                    let conn = etcd_client::Client::connect([leader.as_str()], None).await?;
                    Ok(EtcdConn(conn, value))
                }
            })
            .await?;
            rows.push((name.clone(), c, s));
        }
    }
    println!("| system | clients | ops/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for (system, c, s) in rows {
        println!("| {system} | {c} | {:.0} | {} | {} |", s.ops_per_sec, ms(s.p50), ms(s.p99));
    }
    Ok(())
}
