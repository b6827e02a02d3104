//! Partition: a leader cut off from both followers stops its leader components; the majority
//! elects a new leader; after healing there is exactly one leader and ListMember answers from
//! every node (DM's tiflow#12398).

use dm::pb::master::ListMemberRequest;
use dm::raft::typ::NodeId;

use crate::harness::{TIMEOUT, TestCluster, wait_until};
use crate::kv::{get, put};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_isolated_leader_steps_back_and_one_leader_after_heal() {
    let c = TestCluster::start(3).await;
    let old = c.wait_leader().await;
    let majority: Vec<NodeId> = c.ids().into_iter().filter(|id| *id != old).collect();
    let mut client = c.client(&c.ids());
    put(&mut client, "before", "1").await;

    c.faults.isolate(old, c.ids());
    wait_until(TIMEOUT, "isolated leader stops its leader components", || async {
        c.node(old).shared.leadership.current().is_none()
    })
    .await;
    let new = c.wait_leader_among(&majority).await;
    assert_ne!(new, old);
    assert_eq!(c.leaders(), vec![new], "never two leaders running leader components");
    let mut majority_client = c.client(&majority);
    put(&mut majority_client, "during", "2").await;

    c.faults.heal();
    let leader = c.wait_leader().await;
    assert_eq!(c.leaders(), vec![leader]);
    for id in c.ids() {
        let mut raw = c.raw_client(id).await;
        let r = raw.list_member(ListMemberRequest::default()).await.expect("ListMember answers").into_inner();
        assert!(r.result, "node {id}: {}", r.msg);
        assert_eq!(r.members.len(), 3, "leader, masters and workers parts");
    }
    let mut any = c.client(&[old]);
    assert_eq!(get(&mut any, "during").await.as_deref(), Some("2"), "old leader serves the new state after heal");
    c.shutdown().await;
}
