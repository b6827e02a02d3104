//! Membership: join (learner, then voter), refusals (duplicate name, a data dir of another
//! cluster), offline-member, and evict-leader / cancel-evict.

use std::time::Duration;

use dm::error::{Coded, ErrorCode};
use dm::node::{Listeners, MasterNode, StartError};
use dm::pb::master::members::Member;
use dm::pb::master::{LeaderOp, ListMemberRequest, MasterInfo, OfflineMemberRequest, OperateLeaderRequest};
use dm::raft::typ::NodeId;
use tokio::net::TcpListener;

use crate::harness::{ClusterFlag, TIMEOUT, TestCluster, master_config, restart_node, wait_until};
use crate::kv::{get, put};

async fn listeners() -> (Listeners, String, String) {
    let client = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (c, p) = (client.local_addr().unwrap().to_string(), peer.local_addr().unwrap().to_string());
    (Listeners { client, peer }, c, p)
}

async fn masters(c: &TestCluster, via: NodeId) -> Vec<MasterInfo> {
    let mut raw = c.raw_client(via).await;
    let r = raw.list_member(ListMemberRequest { master: true, ..Default::default() }).await.unwrap().into_inner();
    assert!(r.result, "{}", r.msg);
    match r.members.into_iter().next().and_then(|m| m.member) {
        Some(Member::Master(m)) => m.masters,
        other => panic!("expected masters, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_join_then_offline() {
    let c = TestCluster::start(3).await;
    let leader = c.wait_leader().await;
    let follower = c.ids().into_iter().find(|id| *id != leader).unwrap();
    let mut client = c.client(&c.ids());
    put(&mut client, "k", "v").await;

    // m4 joins through a follower (forwarded to the leader).
    let (l, ca, pa) = listeners().await;
    let dir = c.dir.path().join("m4");
    let cfg = master_config("m4", &ca, &pa, &dir, ClusterFlag::Join(c.client_addr(follower)));
    let m4 = MasterNode::start(cfg, l, c.faults.clone()).await.expect("m4 joins");
    assert_eq!(m4.shared.ctx.node_id, 4);
    wait_until(TIMEOUT, "m4 becomes a voter and every master is alive", || async {
        let ms = masters(&c, leader).await;
        ms.len() == 4 && ms.iter().all(|m| m.alive && m.role == "voter")
    })
    .await;
    let mut via_m4 = dm::client::ClusterClient::new(vec![ca.clone()], TIMEOUT);
    assert_eq!(get(&mut via_m4, "k").await.as_deref(), Some("v"), "m4 serves (by forwarding) after catching up");

    // A second master named m2 is refused, and its data dir is never created.
    let (l, ca2, pa2) = listeners().await;
    let dup_dir = c.dir.path().join("dup");
    let cfg = master_config("m2", &ca2, &pa2, &dup_dir, ClusterFlag::Join(c.client_addr(leader)));
    match MasterNode::start(cfg, l, c.faults.clone()).await {
        Ok(_) => panic!("duplicate name must be refused"),
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::MemberNameTaken, "{e}");
            assert!(e.to_string().contains("m2"), "{e}");
        }
    }
    assert!(!dup_dir.exists(), "a refused join leaves no data dir");

    // offline-member removes m4; an unknown name is a clear error.
    let mut raw = c.raw_client(follower).await;
    let r = offline(&mut raw, "master", "m4").await;
    assert!(r.result, "{}", r.msg);
    wait_until(TIMEOUT, "m4 is gone from list-member", || async { masters(&c, leader).await.len() == 3 }).await;
    let r = offline(&mut raw, "master", "nobody").await;
    assert!(!r.result);
    assert_eq!(r.code, ErrorCode::MemberNotFound as i32, "{}", r.msg);
    let r = offline(&mut raw, "worker", "w1").await;
    assert_eq!(r.code, ErrorCode::WorkerNotFound as i32, "{}", r.msg);
    let r = offline(&mut raw, "cat", "w1").await;
    assert_eq!(r.code, ErrorCode::InvalidArgument as i32, "{}", r.msg);
    m4.shutdown().await;
    c.shutdown().await;
}

/// `offline-member` through `raw`; returns the answer.
async fn offline(
    raw: &mut dm::pb::master::master_client::MasterClient<tonic::transport::Channel>,
    kind: &str,
    name: &str,
) -> dm::pb::master::OfflineMemberResponse {
    let req = OfflineMemberRequest { r#type: kind.into(), name: name.into() };
    raw.offline_member(req).await.expect("offline-member answers").into_inner()
}

/// `operate-leader` on master `id`; returns the answer.
async fn operate_leader(c: &TestCluster, id: NodeId, op: LeaderOp) -> dm::pb::master::OperateLeaderResponse {
    let mut raw = c.raw_client(id).await;
    raw.operate_leader(OperateLeaderRequest { op: op as i32 }).await.expect("operate-leader answers").into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_evict_moves_leadership_and_cancel_restores_candidacy() {
    let c = TestCluster::start(3).await;
    let old = c.wait_leader().await;
    let r = operate_leader(&c, old, LeaderOp::EvictLeader).await;
    assert!(r.result, "{}", r.msg);
    let new = c.wait_leader().await;
    assert_ne!(new, old, "an evicted master does not lead");
    assert!(c.node(old).shared.evicted.load(std::sync::atomic::Ordering::SeqCst));

    // Evict the new leader too: the only master left allowed to lead takes over.
    let r = operate_leader(&c, new, LeaderOp::EvictLeader).await;
    assert!(r.result, "{}", r.msg);
    let third = c.wait_leader().await;
    assert!(third != old && third != new);

    for id in [old, new] {
        let r = operate_leader(&c, id, LeaderOp::CancelEvictLeader).await;
        assert!(r.result, "{}", r.msg);
    }
    // The old leaders can lead again: evict the third one.
    let r = operate_leader(&c, third, LeaderOp::EvictLeader).await;
    assert!(r.result, "{}", r.msg);
    let again = c.wait_leader().await;
    assert!(again == old || again == new);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_single_master_refuses_evict_and_removing_itself() {
    let c = TestCluster::start(1).await;
    c.wait_leader().await;
    let r = operate_leader(&c, 1, LeaderOp::EvictLeader).await;
    assert_eq!(r.code, ErrorCode::NoOtherMaster as i32, "{}", r.msg);
    let mut raw = c.raw_client(1).await;
    let r = offline(&mut raw, "master", "m1").await;
    assert_eq!(r.code, ErrorCode::LastVoter as i32, "{}", r.msg);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t40_data_dir_of_another_cluster_is_refused() {
    let a = TestCluster::start(1).await;
    a.wait_leader().await;
    let mut b = TestCluster::start_beside(&a, 1).await;
    b.wait_leader().await;
    b.kill(1).await;
    let mut cfg = b.configs[0].clone();
    cfg.cluster = dm::config::master::ClusterSpec::Join(vec![a.client_addr(1)]);
    let client = TcpListener::bind(&cfg.master_addr).await.unwrap();
    let peer = TcpListener::bind(&cfg.peer_addr).await.unwrap();
    let res = tokio::time::timeout(
        Duration::from_secs(60),
        MasterNode::start(cfg.clone(), Listeners { client, peer }, b.faults.clone()),
    )
    .await;
    match res.expect("start answers") {
        Err(e @ StartError::OtherCluster { .. }) => assert_eq!(e.code(), ErrorCode::DataDirOtherCluster),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a data dir of another cluster must be refused"),
    }
    // Its own cluster still starts from it.
    let node = restart_node(b.configs[0].clone(), b.faults.clone()).await;
    node.shutdown().await;
    a.shutdown().await;
}
