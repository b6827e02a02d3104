//! Simulated workers for the scheduler benchmarks, in the bench process. Each speaks the real
//! worker protocol with raw gRPC calls, as tests/cluster/harness/fake.rs does: it serves
//! `dm.worker.Worker/QueryStatus` on its own port (reporting its source, and every subtask it
//! received at its expected stage), registers, follows `WatchAssignments` and heartbeats every
//! interval with what it works on: source, epoch, assignment revision and its subtasks' stages,
//! from which the leader confirms operations. Like a real worker it keeps one connection for heartbeats and
//! one for the stream. It records heartbeat latencies and when it received a source or a subtask.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dm::client::ClusterClient;
use dm::pb::master::{RegisterWorkerRequest, WatchAssignmentsRequest, WorkerHeartbeatRequest};
use dm::pb::worker::worker_server::{Worker, WorkerServer};
use dm::pb::worker::{QueryStatusRequest, QueryStatusResponse, SourceStatus, SubTaskStatus};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

use crate::shard_ops::{Acker, ShardOps};

/// What every simulated worker shares.
#[derive(Clone)]
pub struct SimConfig {
    /// Masters to join, tried in this order.
    pub masters: Vec<String>,
    pub ttl: Duration,
    pub interval: Duration,
}

/// Counters and samples of all simulated workers.
#[derive(Default)]
pub struct Metrics {
    /// Heartbeat latencies are kept only while this is set.
    pub recording: AtomicBool,
    hb: Mutex<Vec<Duration>>,
    /// Heartbeats not acknowledged (error or result=false) while recording, and the first error.
    pub hb_failed: AtomicU64,
    pub hb_error: Mutex<Option<String>>,
    /// Workers holding a source.
    pub bound: AtomicUsize,
    /// Workers that have received at least one subtask, and when the last of them did.
    pub delivered: AtomicUsize,
    last_delivery: Mutex<Option<Instant>>,
    /// Shard-DDL operations received, and whether to ack them.
    pub shard: Arc<ShardOps>,
}

impl Metrics {
    /// Sorted heartbeat latencies recorded so far, emptied.
    pub fn take_heartbeats(&self) -> Vec<Duration> {
        let mut v = std::mem::take(&mut *self.hb.lock().unwrap());
        v.sort();
        v
    }

    pub fn last_delivery(&self) -> Option<Instant> {
        *self.last_delivery.lock().unwrap()
    }
}

#[derive(Debug, Clone, Default)]
struct Held {
    source: String,
    epoch: u64,
    revision: u64,
    /// (task, expected stage, revision of its last write)
    tasks: Vec<(String, String, u64)>,
}

impl Held {
    /// Every subtask (of `task`, or all) at its expected stage, as a well-behaved worker reports
    /// it in QueryStatus and in its heartbeats.
    fn statuses(&self, task: &str) -> Vec<SubTaskStatus> {
        self.tasks
            .iter()
            .filter(|(name, _, _)| task.is_empty() || name == task)
            .map(|(name, stage, revision)| SubTaskStatus {
                name: name.clone(),
                stage: stage.clone(),
                unit: "Sync".into(),
                expected_stage: stage.clone(),
                revision: *revision,
                ..Default::default()
            })
            .collect()
    }
}

struct Service {
    name: String,
    held: Arc<Mutex<Held>>,
}

#[tonic::async_trait]
impl Worker for Service {
    async fn query_status(&self, req: Request<QueryStatusRequest>) -> Result<Response<QueryStatusResponse>, Status> {
        let task = req.into_inner().name;
        let h = self.held.lock().unwrap().clone();
        let sub_task_status = h.statuses(&task);
        let source_status = SourceStatus {
            source: h.source,
            worker: self.name.clone(),
            result: true,
            epoch: h.epoch,
            ..Default::default()
        };
        Ok(Response::new(QueryStatusResponse {
            result: true,
            source_status: Some(source_status),
            sub_task_status,
            ..Default::default()
        }))
    }
}

pub struct SimWorker {
    pub name: String,
    held: Arc<Mutex<Held>>,
    loops: Vec<JoinHandle<()>>,
}

impl SimWorker {
    /// Serves QueryStatus, registers (an error if refused), then follows and heartbeats until
    /// dropped. The first heartbeat goes out at a random point of the first interval.
    pub async fn start(cfg: &SimConfig, name: String, m: Arc<Metrics>) -> anyhow::Result<SimWorker> {
        let held = Arc::new(Mutex::new(Held::default()));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?.to_string();
        let incoming = futures::stream::unfold(listener, |l| async move {
            let conn = l.accept().await.map(|(s, _)| {
                let _ = s.set_nodelay(true);
                s
            });
            Some((conn, l))
        });
        let svc = WorkerServer::new(Service { name: name.clone(), held: held.clone() });
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder().add_service(svc).serve_with_incoming(incoming).await;
        });
        let ttl_ms = cfg.ttl.as_millis() as u64;
        let req = RegisterWorkerRequest { name: name.clone(), address: addr, keepalive_ttl_ms: ttl_ms };
        let mut reg = ClusterClient::new(cfg.masters.clone(), Duration::from_secs(60))
            .idempotent()
            .with_attempt_timeout(Duration::from_secs(10));
        let r = match dm::cluster_call!(reg, register_worker, req) {
            Ok(r) => r,
            Err(e) => {
                server.abort();
                anyhow::bail!("register {name}: {e}");
            }
        };
        if !r.result {
            server.abort();
            anyhow::bail!("register {name}: {}", r.msg);
        }
        let watch = tokio::spawn(follow(cfg.masters.clone(), name.clone(), held.clone(), m.clone()));
        let beat = tokio::spawn(heartbeat(cfg.clone(), name.clone(), held.clone(), m));
        Ok(SimWorker { name, held, loops: vec![watch, beat, server] })
    }

    /// The source it holds and the binding's epoch.
    pub fn binding(&self) -> (String, u64) {
        let h = self.held.lock().unwrap();
        (h.source.clone(), h.epoch)
    }

    /// Who it calls as for shard DDL.
    pub fn caller(&self) -> dm::worker::shardddl::ShardDdlCaller {
        let (source, epoch) = self.binding();
        dm::worker::shardddl::ShardDdlCaller { worker: self.name.clone(), source, epoch }
    }
}

impl Drop for SimWorker {
    fn drop(&mut self) {
        for l in self.loops.drain(..) {
            l.abort();
        }
    }
}

/// Starts `n` workers named `prefix0001`… with at most `concurrency` registering at once.
pub async fn start_many(
    cfg: &SimConfig,
    prefix: &str,
    n: usize,
    concurrency: usize,
    m: &Arc<Metrics>,
) -> anyhow::Result<Vec<SimWorker>> {
    futures::stream::iter(0..n)
        .map(|i| SimWorker::start(cfg, format!("{prefix}{:04}", i + 1), m.clone()))
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

async fn heartbeat(cfg: SimConfig, name: String, held: Arc<Mutex<Held>>, m: Arc<Metrics>) {
    // A real worker bounds each heartbeat by its interval; a longer bound here lets slow answers
    // show in the latencies instead of being cut off.
    let mut client = ClusterClient::new(cfg.masters.clone(), Duration::from_secs(5))
        .idempotent()
        .with_attempt_timeout(Duration::from_secs(5));
    let mut next = tokio::time::Instant::now() + cfg.interval.mul_f64(rand::random::<f64>());
    loop {
        tokio::time::sleep_until(next).await;
        next += cfg.interval;
        let h = held.lock().unwrap().clone();
        let req = WorkerHeartbeatRequest {
            name: name.clone(),
            keepalive_ttl_ms: cfg.ttl.as_millis() as u64,
            subtasks: h.statuses(""),
            working_source: h.source,
            working_epoch: h.epoch,
            assignment_revision: h.revision,
        };
        let sent = Instant::now();
        let err = match dm::cluster_call!(client, worker_heartbeat, req) {
            Ok(r) if r.result => None,
            Ok(r) => Some(r.msg),
            Err(e) => Some(e.to_string()),
        };
        let took = sent.elapsed();
        if m.recording.load(Ordering::Relaxed) {
            match err {
                None => m.hb.lock().unwrap().push(took),
                Some(e) => {
                    m.hb_failed.fetch_add(1, Ordering::Relaxed);
                    m.hb_error.lock().unwrap().get_or_insert(e);
                }
            }
        }
    }
}

async fn follow(masters: Vec<String>, name: String, held: Arc<Mutex<Held>>, m: Arc<Metrics>) {
    let acker = Acker::new(masters.clone(), m.shard.clone());
    let mut client =
        ClusterClient::new(masters, Duration::from_secs(5)).idempotent().with_attempt_timeout(Duration::from_secs(3));
    loop {
        let from = held.lock().unwrap().revision;
        let req = WatchAssignmentsRequest { worker: name.clone(), from_revision: from };
        let Ok(mut stream) = dm::cluster_call!(client, watch_assignments, req) else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        while let Ok(Some(a)) = stream.message().await {
            let now = Instant::now();
            let mut g = held.lock().unwrap();
            g.revision = a.revision;
            if a.unchanged {
                continue;
            }
            let b = a.bound.unwrap_or_default();
            for op in m.shard.received(&name, &a.shard_ddl_ops, now) {
                acker.ack(&name, &b.source_id, b.epoch, op);
            }
            match (g.source.is_empty(), b.source_id.is_empty()) {
                (true, false) => m.bound.fetch_add(1, Ordering::Relaxed),
                (false, true) => m.bound.fetch_sub(1, Ordering::Relaxed),
                _ => 0,
            };
            let had_tasks = !g.tasks.is_empty();
            g.source = b.source_id;
            g.epoch = b.epoch;
            g.tasks = a.subtasks.into_iter().map(|s| (s.task, s.expected_stage, s.revision)).collect();
            if !had_tasks && !g.tasks.is_empty() {
                m.delivered.fetch_add(1, Ordering::Relaxed);
                let mut last = m.last_delivery.lock().unwrap();
                *last = Some(last.map_or(now, |l| l.max(now)));
            }
        }
    }
}
