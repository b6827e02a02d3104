//! Real `dm master` processes for the benchmarks: start three on free loopback ports, find the
//! leader, kill -9, restart, read a node's disk use and RSS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dm::pb::master::master_client::MasterClient;
use dm::pb::master::{HealthRequest, HealthResponse};
use tonic::transport::Channel;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Master {
    pub name: String,
    pub addr: String,
    pub data_dir: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
}

impl Master {
    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(&self.bin).args(&self.args).stdout(Stdio::null()).stderr(log).spawn()?;
        self.child = Some(child);
        Ok(())
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.spawn()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Resident set size from /proc, bytes.
    pub fn rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// Bytes of every file under the data dir.
    pub fn disk_bytes(&self) -> u64 {
        dir_size(&self.data_dir)
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn dir_size(p: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

pub struct Cluster {
    pub masters: Vec<Master>,
}

impl Cluster {
    /// Three masters with default settings, as an operator would run them.
    pub fn start(bin: &Path, dir: &Path, n: usize) -> anyhow::Result<Cluster> {
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> =
            ports.iter().enumerate().map(|(i, (_, p))| format!("m{}=127.0.0.1:{p}", i + 1)).collect();
        let mut masters = Vec::new();
        for (i, (c, p)) in ports.iter().enumerate() {
            let name = format!("m{}", i + 1);
            let data_dir = dir.join(&name);
            let args = vec![
                "master".to_string(),
                format!("--name={name}"),
                format!("--master-addr=127.0.0.1:{c}"),
                format!("--peer-urls=127.0.0.1:{p}"),
                format!("--initial-cluster={}", initial.join(",")),
                format!("--data-dir={}", data_dir.display()),
            ];
            let mut m = Master {
                log: dir.join(format!("{name}.log")),
                addr: format!("127.0.0.1:{c}"),
                name,
                data_dir,
                args,
                bin: bin.to_path_buf(),
                child: None,
            };
            m.spawn()?;
            masters.push(m);
        }
        Ok(Cluster { masters })
    }

    /// Index of the master running the leader components, waiting up to `timeout`.
    pub async fn wait_leader(&self, among: &[usize], timeout: Duration) -> anyhow::Result<usize> {
        let start = Instant::now();
        loop {
            for i in among {
                if let Some(h) = health(&self.masters[*i].addr).await
                    && h.leader_ready
                {
                    return Ok(*i);
                }
            }
            if start.elapsed() > timeout {
                anyhow::bail!("no leader among {among:?} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every master answers and has applied at least `index`.
    pub async fn wait_caught_up(&self, index: u64, timeout: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        loop {
            let mut ok = true;
            for m in &self.masters {
                match health(&m.addr).await {
                    Some(h) if h.applied_index >= index => {}
                    _ => ok = false,
                }
            }
            if ok {
                return Ok(());
            }
            if start.elapsed() > timeout {
                anyhow::bail!("masters did not catch up to {index} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub async fn client(addr: &str) -> Option<MasterClient<Channel>> {
    let ch = dm::net::dial(addr).ok()?;
    Some(MasterClient::new(ch))
}

pub async fn health(addr: &str) -> Option<HealthResponse> {
    let mut c = client(addr).await?;
    let mut req = tonic::Request::new(HealthRequest {});
    req.set_timeout(Duration::from_millis(500));
    c.health(req).await.ok().map(|r| r.into_inner())
}
