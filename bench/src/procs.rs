//! Real `dm master` and `dm worker` processes for the benchmarks: start three masters on free
//! loopback ports, find the leader, kill -9, restart, read a process's disk use, RSS and CPU time.

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

/// Spawns `bin args` with stderr appended to `log`.
fn spawn_logged(bin: &std::path::Path, args: &[String], log: &std::path::Path) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    Ok(Command::new(bin).args(args).stdout(Stdio::null()).stderr(log).spawn()?)
}

/// SIGKILL and reap.
fn kill_reap(child: &mut Option<Child>) {
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Master {
    fn spawn(&mut self) -> anyhow::Result<()> {
        self.child = Some(spawn_logged(&self.bin, &self.args, &self.log)?);
        Ok(())
    }

    pub fn kill9(&mut self) {
        kill_reap(&mut self.child);
    }

    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.spawn()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The file its stderr (the log) goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Resident set size from /proc, bytes.
    pub fn rss(&self) -> Option<u64> {
        rss_of(self.pid()?)
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

/// Resident set size of a process (VmRSS in /proc/<pid>/status), bytes.
pub fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time (user + system) a process has used so far, from utime and stime in /proc/<pid>/stat.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
}

/// Clock ticks per second of /proc times (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// A real `dm worker` process.
pub struct WorkerProc {
    pub name: String,
    pub addr: String,
    args: Vec<String>,
    log: PathBuf,
    bin: PathBuf,
    child: Option<Child>,
}

impl WorkerProc {
    /// `dm worker --name NAME --worker-addr 127.0.0.1:PORT --join MASTERS --keepalive-ttl TTL`.
    pub fn start(bin: &Path, dir: &Path, name: &str, join: &[String], ttl: &str) -> anyhow::Result<WorkerProc> {
        let addr = format!("127.0.0.1:{}", free_port());
        let args = vec![
            "worker".to_string(),
            format!("--name={name}"),
            format!("--worker-addr={addr}"),
            format!("--join={}", join.join(",")),
            format!("--keepalive-ttl={ttl}"),
        ];
        let mut w = WorkerProc {
            name: name.to_string(),
            addr,
            args,
            log: dir.join(format!("{name}.log")),
            bin: bin.to_path_buf(),
            child: None,
        };
        w.spawn()?;
        Ok(w)
    }

    /// Starts it again with the same name and address.
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        self.child = Some(spawn_logged(&self.bin, &self.args, &self.log)?);
        Ok(())
    }

    pub fn kill9(&mut self) {
        kill_reap(&mut self.child);
    }
}

impl Drop for WorkerProc {
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
        Self::start_with(bin, dir, n, &[])
    }

    /// Masters with `extra` arguments after the usual ones (e.g. `--config=FILE`).
    pub fn start_with(bin: &Path, dir: &Path, n: usize, extra: &[String]) -> anyhow::Result<Cluster> {
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
            let args = [args, extra.to_vec()].concat();
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

    /// Client addresses of the masters, `leader` first.
    pub fn addrs_leader_first(&self, leader: usize) -> Vec<String> {
        let mut out = vec![self.masters[leader].addr.clone()];
        out.extend(self.masters.iter().enumerate().filter(|(i, _)| *i != leader).map(|(_, m)| m.addr.clone()));
        out
    }

    /// Client addresses of the masters, a follower of `leader` first, then the leader.
    pub fn addrs_follower_first(&self, leader: usize) -> Vec<String> {
        let mut out = self.addrs_leader_first(leader);
        out.swap(0, 1);
        out
    }

    /// Client addresses with the master `via` names first.
    pub fn addrs_via(&self, leader: usize, via: crate::Via) -> Vec<String> {
        match via {
            crate::Via::Leader => self.addrs_leader_first(leader),
            crate::Via::Follower => self.addrs_follower_first(leader),
        }
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

    /// Names of the masters that say they run the leader components now.
    pub async fn leaders_now(&self) -> Vec<String> {
        let mut out = Vec::new();
        for m in &self.masters {
            if health(&m.addr).await.is_some_and(|h| h.leader_ready) {
                out.push(m.name.clone());
            }
        }
        out
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
