//! Workers for cluster tests: real `WorkerNode`s in this process (with an in-memory audit log),
//! joined to the masters directly or through cuttable proxies; DM-style source and task files;
//! and the calls a test makes through the cluster client.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dm::client::ClusterClient;
use dm::config::worker::{TtlValue, WorkerConfigFile};
use dm::pb::master::*;
use dm::worker::audit::{AuditEvent, AuditSink, now_micros, overlaps};
use dm::worker::{WorkerNode, WorkerOptions};
use tokio::net::TcpListener;

use super::TIMEOUT;
use super::proxy::Proxy;

/// A source.yaml as a DM user writes it.
pub fn source_yaml(id: &str) -> String {
    format!(
        "source-id: {id}\nflavor: mariadb\nenable-gtid: false\nfrom:\n  host: 127.0.0.1\n  port: 3306\n  user: root\n  password: secret-{id}\n"
    )
}

/// A task.yaml over `sources`, DM's task_basic shape.
pub fn task_yaml(name: &str, sources: &[&str]) -> String {
    let mut t = format!(
        "name: {name}\ntask-mode: all\ntarget-database:\n  host: 127.0.0.1\n  port: 4000\n  user: root\n  password: \"\"\nmysql-instances:\n"
    );
    for s in sources {
        t.push_str(&format!("  - source-id: {s}\n    block-allow-list: instance\n"));
    }
    t.push_str("block-allow-list:\n  instance:\n    do-dbs: [\"shop\"]\n");
    t
}

pub struct TestWorker {
    pub name: String,
    pub node: Option<WorkerNode>,
    /// Proxies to the masters when started cut-able.
    pub proxies: Vec<Proxy>,
}

impl TestWorker {
    /// Starts worker `name` joined to `masters` (through proxies when `proxied`).
    pub async fn start(name: &str, masters: &[String], ttl: Duration, audit: &Audit, proxied: bool) -> TestWorker {
        let mut proxies = Vec::new();
        let join: Vec<String> = if proxied {
            for m in masters {
                proxies.push(Proxy::start(m.clone()).await);
            }
            proxies.iter().map(|p| p.addr.clone()).collect()
        } else {
            masters.to_vec()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let cfg = WorkerConfigFile {
            name: Some(name.into()),
            worker_addr: Some(addr),
            join: Some(join.join(",")),
            keepalive_ttl: Some(TtlValue::Text(format!("{}ms", ttl.as_millis()))),
            heartbeat_interval: Some("200ms".into()),
            ..Default::default()
        }
        .validate()
        .expect("valid worker config");
        let opts = WorkerOptions { audit: audit.sink.clone(), join_timeout: TIMEOUT, ..Default::default() };
        let node = WorkerNode::start(cfg, listener, opts).await.expect("worker starts");
        TestWorker { name: name.into(), node: Some(node), proxies }
    }

    pub fn cut(&self) {
        assert!(!self.proxies.is_empty(), "worker was not started behind proxies");
        self.proxies.iter().for_each(Proxy::cut);
    }

    pub fn heal(&self) {
        self.proxies.iter().for_each(Proxy::heal);
    }

    /// A crash: work stops now, the masters are not told.
    pub async fn kill(&mut self) {
        if let Some(n) = self.node.take() {
            n.kill().await;
        }
    }

    pub async fn stop(&mut self) {
        if let Some(n) = self.node.take() {
            n.shutdown().await;
        }
    }
}

/// The shared audit log of in-process workers.
#[derive(Clone)]
pub struct Audit {
    pub sink: AuditSink,
    events: Arc<Mutex<Vec<AuditEvent>>>,
}

impl Default for Audit {
    fn default() -> Self {
        let events: Arc<Mutex<Vec<AuditEvent>>> = Arc::default();
        Audit { sink: AuditSink::Memory(events.clone()), events }
    }
}

impl Audit {
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Panics if two workers ever worked on one source at the same time.
    pub fn assert_no_overlap(&self) {
        let v = overlaps(&self.events(), now_micros());
        assert!(v.is_empty(), "two workers worked on one source at once: {v:#?}");
    }
}

/// dmctl-like calls through a fresh cluster client over `endpoints` (so they can be used inside
/// wait closures).
#[derive(Clone)]
pub struct Ctl(pub Vec<String>);

impl Ctl {
    pub fn client(&self) -> ClusterClient {
        ClusterClient::new(self.0.clone(), TIMEOUT).with_attempt_timeout(Duration::from_secs(15))
    }

    /// Worker name → (stage, bound source), as list-member shows them.
    pub async fn workers(&self) -> BTreeMap<String, (String, String)> {
        let req = ListMemberRequest { worker: true, ..Default::default() };
        let r = dm::cluster_call!(self.client(), list_member, req).expect("list-member");
        let mut out = BTreeMap::new();
        for m in r.members {
            if let Some(members::Member::Worker(w)) = m.member {
                for w in w.workers {
                    out.insert(w.name, (w.stage, w.source));
                }
            }
        }
        out
    }

    /// Source → bound worker.
    pub async fn bindings(&self) -> BTreeMap<String, String> {
        self.workers().await.into_iter().filter(|(_, (_, s))| !s.is_empty()).map(|(w, (_, s))| (s, w)).collect()
    }

    pub async fn create_sources(&self, ids: &[&str]) -> OperateSourceResponse {
        let req = OperateSourceRequest {
            op: SourceOp::StartSource as i32,
            config: ids.iter().map(|id| source_yaml(id)).collect(),
            ..Default::default()
        };
        dm::cluster_call!(self.client(), operate_source, req).expect("operate-source")
    }

    pub async fn start_task(&self, name: &str, sources: &[&str]) -> StartTaskResponse {
        let req = StartTaskRequest { task: task_yaml(name, sources), ..Default::default() };
        dm::cluster_call!(self.client(), start_task, req).expect("start-task")
    }

    pub async fn operate_task(&self, op: TaskOp, name: &str) -> OperateTaskResponse {
        let req = OperateTaskRequest { op: op as i32, name: name.into(), sources: vec![] };
        dm::cluster_call!(self.client(), operate_task, req).expect("operate-task")
    }

    pub async fn query_status(&self, name: &str) -> QueryStatusListResponse {
        let req = QueryStatusListRequest { name: name.into(), sources: vec![] };
        dm::cluster_call!(self.client(), query_status, req).expect("query-status")
    }

    /// Source → (worker, actual stage, expected stage) of task `name`, from query-status.
    pub async fn task_stages(&self, name: &str) -> BTreeMap<String, (String, String, String)> {
        let mut out = BTreeMap::new();
        for s in self.query_status(name).await.sources {
            let src = s.source_status.unwrap_or_default();
            let st = s.sub_task_status.into_iter().find(|t| t.name == name).unwrap_or_default();
            out.insert(src.source, (src.worker, st.stage, st.expected_stage));
        }
        out
    }

    /// Waits until every subtask of `task` is at `stage`, expected and actual.
    pub async fn wait_stages(&self, task: &str, stage: &str) {
        super::wait_until(TIMEOUT, &format!("every subtask of {task} is {stage}"), || async {
            let st = self.task_stages(task).await;
            !st.is_empty() && st.values().all(|(_, actual, expected)| actual == stage && expected == stage)
        })
        .await;
    }
}
