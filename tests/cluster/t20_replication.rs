//! Three masters in one process: one leader; writes through any master (forwarding); a killed
//! leader is replaced and no acknowledged write is lost; the restarted node catches up and all
//! three agree.

use dm::raft::typ::NodeId;
use dm_storage::spaces::Kv;

use crate::harness::{TIMEOUT, TestCluster, wait_until};
use crate::kv::{get, local_get, put};

/// Every live node has applied the same revision and holds the same admin key space.
async fn wait_agreement(c: &TestCluster) {
    wait_until(TIMEOUT, "all live nodes agree on the state", || async {
        let states: Vec<_> = c
            .live_ids()
            .iter()
            .map(|id| {
                let r = &c.node(*id).shared.ctx.reader;
                (r.revision(), r.list::<Kv>().unwrap())
            })
            .collect();
        states.windows(2).all(|w| w[0] == w[1])
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_forwarding_failover_and_catch_up() {
    let mut c = TestCluster::start(3).await;
    let leader = c.wait_leader().await;
    let followers: Vec<NodeId> = c.ids().into_iter().filter(|id| *id != leader).collect();

    // A client that only knows a follower: its writes are forwarded to the leader.
    let mut via_follower = c.client(&[followers[0]]);
    let mut acked = Vec::new();
    for i in 0..30 {
        put(&mut via_follower, &format!("a{i}"), &format!("{i}")).await;
        acked.push(format!("a{i}"));
    }
    assert_eq!(via_follower.preferred(), Some(c.client_addr(followers[0]).as_str()), "served by forwarding");

    c.kill(leader).await;
    let new_leader = c.wait_leader().await;
    assert_ne!(new_leader, leader);
    let mut survivors = c.client(&followers);
    for key in &acked {
        assert!(get(&mut survivors, key).await.is_some(), "acknowledged {key} lost after failover");
    }
    for i in 0..30 {
        put(&mut survivors, &format!("b{i}"), "after").await;
    }

    c.restart(leader).await;
    c.wait_leader().await;
    wait_agreement(&c).await;
    let mut raw = c.raw_client(leader).await;
    assert_eq!(local_get(&mut raw, "b29").await.as_deref(), Some("after"), "restarted node caught up");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_conditional_writes_change_nothing_when_the_compare_fails() {
    use dm::cluster_call;
    use dm::error::ErrorCode;
    use dm::pb::master::{KvDeleteRequest, KvPutRequest};
    let c = TestCluster::start(3).await;
    c.wait_leader().await;
    let mut client = c.client(&c.ids());
    let rev = put(&mut client, "cas", "one").await;
    let stale = KvPutRequest { key: "cas".into(), value: b"two".to_vec(), expect_mod_revision: Some(rev - 1) };
    let r = cluster_call!(client, kv_put, stale).unwrap();
    assert!(!r.result);
    assert_eq!(r.code, ErrorCode::PreconditionFailed as i32);
    assert!(r.msg.contains("[code=38056]"), "{}", r.msg);
    let absent = KvPutRequest { key: "cas".into(), value: b"two".to_vec(), expect_mod_revision: Some(0) };
    assert!(!cluster_call!(client, kv_put, absent).unwrap().result);
    assert_eq!(get(&mut client, "cas").await.as_deref(), Some("one"));
    let good = KvPutRequest { key: "cas".into(), value: b"two".to_vec(), expect_mod_revision: Some(rev) };
    assert!(cluster_call!(client, kv_put, good).unwrap().result);
    let del = KvDeleteRequest { key: "cas".into(), expect_mod_revision: Some(rev) };
    assert!(!cluster_call!(client, kv_delete, del).unwrap().result, "stale delete refused");
    assert_eq!(get(&mut client, "cas").await.as_deref(), Some("two"));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_a_slow_follower_does_not_block_commits_and_catches_up() {
    let c = TestCluster::start(3).await;
    let leader = c.wait_leader().await;
    let slow = c.ids().into_iter().find(|id| *id != leader).unwrap();
    // Every message to and from one follower is held back; the other follower is the quorum.
    c.faults.delay(leader, slow, std::time::Duration::from_millis(150));
    c.faults.delay(slow, leader, std::time::Duration::from_millis(150));
    let mut client = c.client(&[leader]);
    for i in 0..20 {
        put(&mut client, &format!("d{i}"), "v").await;
    }
    assert_eq!(c.leaders(), vec![leader], "a slow follower does not unseat the leader");
    c.faults.heal();
    wait_agreement(&c).await;
    c.shutdown().await;
}
