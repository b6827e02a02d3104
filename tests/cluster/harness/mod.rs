//! The test harness: N masters in one process on 127.0.0.1:0 with temp dirs and a shared fault
//! injector (drop/delay/partition between nodes), kill and restart of a node, clients, and
//! waiting for conditions with deadlines (never fixed sleeps).

pub mod ctl_run;
pub mod fake;
pub mod http;
pub mod process;
pub mod proxy;
pub mod shard;
pub mod wait;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use dm::client::ClusterClient;
use dm::config::master::{MasterConfig, MasterConfigFile};
use dm::node::{Listeners, MasterNode, StartError};
use dm::pb::master::master_client::MasterClient;
use dm::raft::faults::Faults;
use dm::raft::typ::NodeId;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tonic::transport::Channel;

pub use wait::{wait_until, wait_until_some};

/// Logs to stderr when `DM_TEST_LOG` is set (a tracing filter, e.g. `info,openraft=info`).
pub fn init_test_logging() {
    if let Ok(filter) = std::env::var("DM_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
}

/// Generous: cluster tests run on a loaded 2-core machine.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub struct TestCluster {
    /// Keeps multi-process tests from running beside this cluster (see `process::EXCLUSIVE`);
    /// None for a second cluster of a test that already holds one.
    _shared: Option<tokio::sync::RwLockReadGuard<'static, ()>>,
    pub faults: Arc<Faults>,
    /// Index = node id - 1; `None` while killed.
    pub nodes: Vec<Option<MasterNode>>,
    pub configs: Vec<MasterConfig>,
    pub dir: TempDir,
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind port 0")
}

/// A node's config as `dm master` would build it from flags.
pub fn master_config(
    name: &str,
    client: &str,
    peer: &str,
    data_dir: &std::path::Path,
    cluster: ClusterFlag,
) -> MasterConfig {
    let (initial_cluster, join) = match cluster {
        ClusterFlag::Initial(s) => (Some(s), None),
        ClusterFlag::Join(s) => (None, Some(s)),
    };
    MasterConfigFile {
        name: Some(name.into()),
        master_addr: Some(client.into()),
        peer_urls: Some(peer.into()),
        data_dir: Some(data_dir.to_path_buf()),
        initial_cluster,
        join,
        rpc_timeout: Some("10s".into()),
        ..Default::default()
    }
    .validate()
    .expect("valid test config")
}

pub enum ClusterFlag {
    Initial(String),
    Join(String),
}

impl TestCluster {
    /// Starts `n` masters forming one cluster.
    pub async fn start(n: usize) -> Self {
        Self::start_with(n, |_| {}).await
    }

    /// Starts `n` masters, letting `tweak` adjust each config first.
    pub async fn start_with(n: usize, tweak: impl Fn(&mut MasterConfig)) -> Self {
        let shared = process::EXCLUSIVE.read().await;
        Self::start_guarded(n, tweak, Some(shared)).await
    }

    /// A second cluster in a test that already runs one (taking the shared guard twice could
    /// deadlock behind a waiting multi-process test).
    pub async fn start_beside(_first: &TestCluster, n: usize) -> Self {
        Self::start_guarded(n, |_| {}, None).await
    }

    async fn start_guarded(
        n: usize,
        tweak: impl Fn(&mut MasterConfig),
        shared: Option<tokio::sync::RwLockReadGuard<'static, ()>>,
    ) -> Self {
        init_test_logging();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut listeners = Vec::new();
        for _ in 0..n {
            listeners.push((bind().await, bind().await));
        }
        let addr = |l: &TcpListener| l.local_addr().unwrap().to_string();
        let initial: Vec<String> =
            listeners.iter().enumerate().map(|(i, (_, p))| format!("m{}=http://{}", i + 1, addr(p))).collect();
        let initial = initial.join(",");
        let configs: Vec<MasterConfig> = listeners
            .iter()
            .enumerate()
            .map(|(i, (c, p))| {
                let name = format!("m{}", i + 1);
                let mut cfg = master_config(
                    &name,
                    &addr(c),
                    &addr(p),
                    &dir.path().join(&name),
                    ClusterFlag::Initial(initial.clone()),
                );
                tweak(&mut cfg);
                cfg
            })
            .collect();
        let faults = Arc::new(Faults::default());
        let starts = configs.iter().cloned().zip(listeners).map(|(cfg, (client, peer))| {
            let faults = faults.clone();
            async move { MasterNode::start(cfg, Listeners { client, peer }, faults).await.expect("node starts") }
        });
        let nodes = futures::future::join_all(starts).await.into_iter().map(Some).collect();
        TestCluster { _shared: shared, faults, nodes, configs, dir }
    }

    pub fn ids(&self) -> Vec<NodeId> {
        (1..=self.configs.len() as NodeId).collect()
    }

    pub fn live_ids(&self) -> Vec<NodeId> {
        self.ids().into_iter().filter(|id| self.nodes[*id as usize - 1].is_some()).collect()
    }

    pub fn node(&self, id: NodeId) -> &MasterNode {
        self.nodes[id as usize - 1].as_ref().expect("node is running")
    }

    pub fn client_addr(&self, id: NodeId) -> String {
        self.configs[id as usize - 1].advertise_addr.clone()
    }

    /// Live nodes that currently run the leader components.
    pub fn leaders(&self) -> Vec<NodeId> {
        self.live_ids().into_iter().filter(|id| self.node(*id).shared.leadership.current().is_some()).collect()
    }

    /// Waits until exactly one live node leads and every live node in `among` knows it.
    pub async fn wait_leader_among(&self, among: &[NodeId]) -> NodeId {
        wait_until_some(TIMEOUT, "one leader known by every live node", || async {
            let leaders: Vec<NodeId> = self.leaders().into_iter().filter(|l| among.contains(l)).collect();
            let [leader] = leaders.as_slice() else { return None };
            let agreed =
                among.iter().all(|id| self.node(*id).shared.ctx.raft_metrics().current_leader == Some(*leader));
            agreed.then_some(*leader)
        })
        .await
    }

    pub async fn wait_leader(&self) -> NodeId {
        let live = self.live_ids();
        self.wait_leader_among(&live).await
    }

    /// Stops a node abruptly from the cluster's point of view (no leadership hand-over).
    pub async fn kill(&mut self, id: NodeId) {
        let node = self.nodes[id as usize - 1].take().expect("node is running");
        node.shutdown().await;
    }

    /// Starts a killed node again on the same addresses and data dir.
    pub async fn restart(&mut self, id: NodeId) {
        let cfg = self.configs[id as usize - 1].clone();
        let node = restart_node(cfg, self.faults.clone()).await;
        self.nodes[id as usize - 1] = Some(node);
    }

    /// A raw gRPC client to one node (no retries, no leader following).
    pub async fn raw_client(&self, id: NodeId) -> MasterClient<Channel> {
        MasterClient::connect(format!("http://{}", self.client_addr(id))).await.expect("connect")
    }

    /// A cluster client over the given nodes.
    pub fn client(&self, ids: &[NodeId]) -> ClusterClient {
        ClusterClient::new(ids.iter().map(|id| self.client_addr(*id)).collect(), TIMEOUT)
            .with_attempt_timeout(Duration::from_secs(5))
    }

    pub async fn shutdown(mut self) {
        for id in self.live_ids() {
            self.kill(id).await;
        }
    }
}

/// Starts a node on its configured addresses; retries while the previous incarnation still holds
/// the ports or the data dir.
pub async fn restart_node(cfg: MasterConfig, faults: Arc<Faults>) -> MasterNode {
    wait_until_some(TIMEOUT, "node restarts on its old ports and data dir", || {
        let cfg = cfg.clone();
        let faults = faults.clone();
        async move {
            let client = TcpListener::bind(&cfg.master_addr).await.ok()?;
            let peer = TcpListener::bind(&cfg.peer_addr).await.ok()?;
            match MasterNode::start(cfg, Listeners { client, peer }, faults).await {
                Ok(n) => Some(n),
                Err(StartError::Open(dm_storage::OpenError::Locked { .. })) => None,
                Err(e) => panic!("restart failed: {e}"),
            }
        }
    })
    .await
}
