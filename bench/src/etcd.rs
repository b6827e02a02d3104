//! A 3-member etcd cluster from the Debian `etcd-server` package, for the write comparison.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::free_port;

pub struct EtcdCluster {
    children: Vec<Child>,
    pub endpoints: Vec<String>,
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn version(bin: &str) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

impl EtcdCluster {
    pub fn start(bin: &str, dir: &Path) -> anyhow::Result<EtcdCluster> {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> =
            ports.iter().enumerate().map(|(i, (_, p))| format!("e{}=http://127.0.0.1:{p}", i + 1)).collect();
        let mut children = Vec::new();
        let mut endpoints = Vec::new();
        for (i, (c, p)) in ports.iter().enumerate() {
            let name = format!("e{}", i + 1);
            let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
            let child = Command::new(bin)
                .args([
                    format!("--name={name}"),
                    format!("--data-dir={}", dir.join(&name).display()),
                    format!("--listen-client-urls=http://127.0.0.1:{c}"),
                    format!("--advertise-client-urls=http://127.0.0.1:{c}"),
                    format!("--listen-peer-urls=http://127.0.0.1:{p}"),
                    format!("--initial-advertise-peer-urls=http://127.0.0.1:{p}"),
                    format!("--initial-cluster={}", initial.join(",")),
                    "--initial-cluster-state=new".into(),
                    "--initial-cluster-token=dm-bench".into(),
                ])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?;
            children.push(child);
            endpoints.push(format!("http://127.0.0.1:{c}"));
        }
        Ok(EtcdCluster { children, endpoints })
    }

    /// The client URL of the current leader, once the cluster has one.
    pub async fn leader(&self, timeout: Duration) -> anyhow::Result<String> {
        let start = Instant::now();
        loop {
            for ep in &self.endpoints {
                let Ok(mut c) = etcd_client::Client::connect([ep.as_str()], None).await else { continue };
                if let Ok(s) = c.status().await
                    && s.leader() != 0
                    && s.header().map(|h| h.member_id()) == Some(s.leader())
                {
                    return Ok(ep.clone());
                }
            }
            anyhow::ensure!(start.elapsed() < timeout, "etcd elected no leader within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
