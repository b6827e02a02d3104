//! Single node: a cluster of one elects itself, serves reads and writes, keeps its data across a
//! restart, exposes /status, /health and /metrics; a data dir from a newer storage version is
//! refused.

use dm::error::{Coded, ErrorCode};
use dm::node::{Listeners, MasterNode};
use dm_storage::{STORAGE_VERSION, Store, StoreOptions};

use crate::harness::process::http_get;
use crate::harness::{TIMEOUT, TestCluster};
use crate::kv::{get, put};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_restart_keeps_data_and_cluster_id() {
    let mut c = TestCluster::start(1).await;
    assert_eq!(c.wait_leader().await, 1);
    let mut client = c.client(&[1]);
    for i in 0..50 {
        put(&mut client, &format!("k{i}"), &format!("v{i}")).await;
    }
    let cluster_id = c.node(1).shared.leadership.current().unwrap().cluster().unwrap().cluster_id;
    c.kill(1).await;
    c.restart(1).await;
    c.wait_leader().await;
    let mut client = c.client(&[1]);
    for i in 0..50 {
        assert_eq!(get(&mut client, &format!("k{i}")).await, Some(format!("v{i}")), "k{i} survives a restart");
    }
    assert_eq!(c.node(1).shared.leadership.current().unwrap().cluster().unwrap().cluster_id, cluster_id);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_http_status_health_and_metrics() {
    let c = TestCluster::start(1).await;
    c.wait_leader().await;
    let addr = c.client_addr(1);
    let status =
        crate::harness::wait_until_some(TIMEOUT, "/status answers", || crate::harness::process::status(&addr)).await;
    assert_eq!((status.name.as_str(), status.role.as_str(), status.leader.as_str()), ("m1", "leader", "m1"));
    assert!(http_get(&addr, "/health").await.unwrap().contains("true"));
    let metrics = http_get(&addr, "/metrics").await.unwrap();
    for name in [
        "dm_raft_term",
        "dm_raft_leader_id 1",
        "dm_raft_applied_index",
        "dm_is_leader 1",
        "dm_proposal_commit_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_newer_storage_version_is_refused() {
    let mut c = TestCluster::start(1).await;
    c.wait_leader().await;
    c.kill(1).await;
    let cfg = c.configs[0].clone();
    {
        let store = Store::open(&cfg.data_dir, &StoreOptions::default()).unwrap();
        store.force_storage_version(STORAGE_VERSION + 1).unwrap();
    }
    let client = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let faults = c.faults.clone();
    match MasterNode::start(cfg, Listeners { client, peer }, faults).await {
        Ok(_) => panic!("a data dir from a newer version must be refused"),
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::DataDirNewerVersion, "{e}");
            assert!(e.to_string().contains("newer"), "{e}");
        }
    }
}
