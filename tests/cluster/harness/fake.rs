//! A fake worker that speaks the real worker protocol with raw gRPC calls: register, follow the
//! assignment stream, heartbeat what it holds. Tests drive it (and break it) step by step.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dm::client::ClusterClient;
use dm::pb::master::*;
use dm::pb::worker::worker_server::{Worker, WorkerServer};
use dm::pb::worker::{QueryStatusRequest, QueryStatusResponse, SourceStatus, SubTaskStatus};
use dm::worker::shardddl::ShardDdlCaller;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

use super::TIMEOUT;

#[derive(Debug, Clone, Default)]
pub struct Held {
    pub source: String,
    pub epoch: u64,
    pub revision: u64,
    /// (task, expected stage, revision of its last write).
    pub tasks: Vec<(String, String, u64)>,
    /// Shard-DDL operations not done yet, as the last assignment listed them.
    pub ops: Vec<ShardDdlOperation>,
}

impl Held {
    /// Every subtask at its expected stage, as a well-behaved worker reports it.
    fn statuses(&self) -> Vec<SubTaskStatus> {
        self.tasks
            .iter()
            .map(|(name, stage, revision)| SubTaskStatus {
                name: name.clone(),
                stage: stage.clone(),
                expected_stage: stage.clone(),
                revision: *revision,
                ..Default::default()
            })
            .collect()
    }
}

pub struct FakeWorker {
    pub name: String,
    pub masters: Vec<String>,
    pub held: Arc<Mutex<Held>>,
    /// Notified whenever a new (not "unchanged") assignment is held.
    pub changed: Arc<tokio::sync::Notify>,
    loops: Vec<JoinHandle<()>>,
}

pub fn client(masters: &[String]) -> ClusterClient {
    ClusterClient::new(masters.to_vec(), TIMEOUT).idempotent().with_attempt_timeout(Duration::from_secs(5))
}

pub async fn register(masters: &[String], name: &str, addr: &str) -> RegisterWorkerResponse {
    let req = RegisterWorkerRequest { name: name.into(), address: addr.into(), keepalive_ttl_ms: 3000 };
    dm::cluster_call!(client(masters), register_worker, req).expect("register")
}

pub async fn heartbeat(masters: &[String], name: &str, source: &str, epoch: u64, rev: u64) -> WorkerHeartbeatResponse {
    let held = Held { source: source.into(), epoch, revision: rev, ..Default::default() };
    heartbeat_with(masters, name, &held).await
}

async fn heartbeat_with(masters: &[String], name: &str, held: &Held) -> WorkerHeartbeatResponse {
    let req = WorkerHeartbeatRequest {
        name: name.into(),
        keepalive_ttl_ms: 3000,
        working_source: held.source.clone(),
        working_epoch: held.epoch,
        assignment_revision: held.revision,
        subtasks: held.statuses(),
    };
    dm::cluster_call!(client(masters), worker_heartbeat, req).expect("heartbeat")
}

/// The worker-side service: reports what it holds, each subtask at its expected stage.
struct FakeService {
    name: String,
    held: Arc<Mutex<Held>>,
}

#[tonic::async_trait]
impl Worker for FakeService {
    async fn query_status(&self, _req: Request<QueryStatusRequest>) -> Result<Response<QueryStatusResponse>, Status> {
        let h = self.held.lock().unwrap().clone();
        let source_status = SourceStatus {
            source: h.source.clone(),
            worker: self.name.clone(),
            result: true,
            epoch: h.epoch,
            ..Default::default()
        };
        let sub_task_status = h.statuses();
        Ok(Response::new(QueryStatusResponse {
            result: true,
            source_status: Some(source_status),
            sub_task_status,
            ..Default::default()
        }))
    }
}

impl FakeWorker {
    /// Serves QueryStatus, registers, then follows its stream and heartbeats every 200 ms until
    /// dropped.
    pub async fn start(masters: &[String], name: &str) -> FakeWorker {
        let held = Arc::new(Mutex::new(Held::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let svc = WorkerServer::new(FakeService { name: name.into(), held: held.clone() });
        let server = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let _ = tonic::transport::Server::builder().add_service(svc).serve_with_incoming(incoming).await;
        });
        let r = register(masters, name, &addr).await;
        assert!(r.result, "{r:?}");
        let changed = Arc::new(tokio::sync::Notify::new());
        let changed_tx = changed.clone();
        let (m, n, h) = (masters.to_vec(), name.to_string(), held.clone());
        let watch = tokio::spawn(async move {
            loop {
                let from = h.lock().unwrap().revision;
                let req = WatchAssignmentsRequest { worker: n.clone(), from_revision: from };
                let Ok(mut stream) = dm::cluster_call!(client(&m), watch_assignments, req) else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                while let Ok(Some(a)) = stream.message().await {
                    let mut g = h.lock().unwrap();
                    g.revision = a.revision;
                    if a.unchanged {
                        continue;
                    }
                    let b = a.bound.unwrap_or_default();
                    g.source = b.source_id;
                    g.epoch = b.epoch;
                    g.tasks = a.subtasks.into_iter().map(|s| (s.task, s.expected_stage, s.revision)).collect();
                    g.ops = a.shard_ddl_ops;
                    drop(g);
                    changed_tx.notify_one();
                }
            }
        });
        let (m, n, h) = (masters.to_vec(), name.to_string(), held.clone());
        let beat = tokio::spawn(async move {
            loop {
                let g = h.lock().unwrap().clone();
                let _ = tokio::time::timeout(TIMEOUT, heartbeat_with(&m, &n, &g)).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        FakeWorker { name: name.into(), masters: masters.to_vec(), held, changed, loops: vec![watch, beat, server] }
    }

    /// The shard-DDL caller for what it holds now.
    pub fn caller(&self) -> ShardDdlCaller {
        let h = self.held();
        ShardDdlCaller { worker: self.name.clone(), source: h.source, epoch: h.epoch }
    }

    pub fn client(&self) -> ClusterClient {
        client(&self.masters)
    }

    pub fn held(&self) -> Held {
        self.held.lock().unwrap().clone()
    }

    /// Stops answering QueryStatus (its heartbeats go on).
    pub fn stop_status_service(&mut self) {
        if let Some(server) = self.loops.pop() {
            server.abort();
        }
    }

    /// Stops heartbeating and following (as if it died).
    pub fn stop(&mut self) {
        for l in self.loops.drain(..) {
            l.abort();
        }
    }
}

impl Drop for FakeWorker {
    fn drop(&mut self) {
        self.stop();
    }
}
