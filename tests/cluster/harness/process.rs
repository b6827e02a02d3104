//! Multi-process clusters: real `dm master` and `dm worker` processes from the built binary,
//! killed with SIGKILL and restarted on the same ports and data dirs.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use dm::api::http::Status;

use super::{TIMEOUT, wait_until_some};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const DM: &str = env!("CARGO_BIN_EXE_dm");

/// Multi-process tests run alone: each starts up to seven processes (and TCP proxies in this
/// process), and sharing a loaded 2-core machine with other clusters starves their timers. They
/// take this for writing; every in-process `TestCluster` holds it for reading.
pub static EXCLUSIVE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// A free loopback port (bound then released; the process binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct MasterProcess {
    pub name: String,
    pub client_addr: String,
    pub log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl MasterProcess {
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child =
            Command::new(DM).args(&self.args).stdout(Stdio::null()).stderr(log).spawn().expect("spawn dm master");
        self.child = Some(child);
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running process");
        self.spawn();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for MasterProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub struct ProcessCluster {
    pub masters: Vec<MasterProcess>,
    /// Holds the data dirs and logs until the cluster is dropped.
    pub dir: TempDir,
}

impl ProcessCluster {
    /// Spawns `n` masters with `--initial-cluster`.
    pub fn start(n: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let initial: Vec<String> =
            ports.iter().enumerate().map(|(i, (_, p))| format!("m{}=http://127.0.0.1:{p}", i + 1)).collect();
        let initial = initial.join(",");
        let masters = ports
            .iter()
            .enumerate()
            .map(|(i, (c, p))| {
                let name = format!("m{}", i + 1);
                let data_dir = dir.path().join(&name);
                let client_addr = format!("127.0.0.1:{c}");
                let peer_addr = format!("127.0.0.1:{p}");
                let args = vec![
                    "master".into(),
                    "--name".into(),
                    name.clone(),
                    "--master-addr".into(),
                    client_addr.clone(),
                    "--peer-urls".into(),
                    format!("http://{peer_addr}"),
                    "--initial-cluster".into(),
                    initial.clone(),
                    "--data-dir".into(),
                    data_dir.display().to_string(),
                ];
                let mut m =
                    MasterProcess { log: dir.path().join(format!("{name}.log")), name, client_addr, args, child: None };
                m.spawn();
                m
            })
            .collect();
        ProcessCluster { masters, dir }
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.masters.iter().map(|m| m.client_addr.clone()).collect()
    }

    /// The logs of every master, for failure messages.
    pub fn logs(&self) -> String {
        self.masters
            .iter()
            .map(|m| format!("--- {} ---\n{}", m.name, std::fs::read_to_string(&m.log).unwrap_or_default()))
            .collect()
    }
}

/// Index of the master every live master names as leader.
pub async fn agreed_leader(c: &ProcessCluster, live: &[usize]) -> usize {
    wait_until_some(TIMEOUT, "live masters agree on a leader", || async {
        let mut names = Vec::new();
        for i in live {
            let s = status(&c.masters[*i].client_addr).await?;
            if s.leader.is_empty() {
                return None;
            }
            names.push(s.leader);
        }
        if names.windows(2).any(|w| w[0] != w[1]) {
            return None;
        }
        let idx = c.masters.iter().position(|m| m.name == names[0])?;
        let s = status(&c.masters[idx].client_addr).await?;
        (s.role == "leader").then_some(idx)
    })
    .await
}

/// GET `/status` of a master; `None` if it does not answer.
pub async fn status(addr: &str) -> Option<Status> {
    let body = http_get(addr, "/status").await?;
    serde_json::from_str(&body).ok()
}

/// A minimal HTTP/1.1 GET; returns the body of a 200 answer.
pub async fn http_get(addr: &str, path: &str) -> Option<String> {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8(buf).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200").then(|| body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), fut).await.ok().flatten()
}

/// Runs `dm` with `args` to completion (for bad-input tests).
pub fn run_dm(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(DM).args(args).current_dir(cwd).output().expect("run dm")
}

/// Runs `dm` with `args` and its stdout closed at once, as `dm … | head -0` would.
pub fn run_dm_unread(args: &[&str]) -> Output {
    let mut child =
        Command::new(DM).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn dm");
    drop(child.stdout.take());
    child.wait_with_output().expect("wait for dm")
}

/// A real `dm worker` process with an audit log (`--audit-log`).
pub struct WorkerProcess {
    pub name: String,
    pub audit: PathBuf,
    pub log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl WorkerProcess {
    /// Starts `dm worker` joined to `join` with `ttl` (e.g. "3s"), files in `dir`.
    pub fn start(dir: &std::path::Path, name: &str, join: &[String], ttl: &str) -> WorkerProcess {
        let audit = dir.join(format!("{name}.audit"));
        let args = vec![
            "worker".into(),
            "--name".into(),
            name.into(),
            "--worker-addr".into(),
            format!("127.0.0.1:{}", free_port()),
            "--join".into(),
            join.join(","),
            "--keepalive-ttl".into(),
            ttl.into(),
            "--audit-log".into(),
            audit.display().to_string(),
        ];
        let mut w = WorkerProcess { name: name.into(), audit, log: dir.join(format!("{name}.log")), args, child: None };
        w.spawn();
        w
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child =
            Command::new(DM).args(&self.args).stdout(Stdio::null()).stderr(log).spawn().expect("spawn dm worker");
        self.child = Some(child);
    }

    /// SIGKILL and reap, then record the crash in the audit log: its work ended now.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            let line = dm::worker::audit::AuditEvent {
                micros: dm::worker::audit::now_micros(),
                kind: dm::worker::audit::AuditKind::Crash,
                worker: self.name.clone(),
                source: "-".into(),
                epoch: 0,
            }
            .line();
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.audit).unwrap();
            writeln!(f, "{line}").unwrap();
        }
    }

    pub fn events(&self) -> Vec<dm::worker::audit::AuditEvent> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .filter_map(dm::worker::audit::AuditEvent::parse)
            .collect()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
