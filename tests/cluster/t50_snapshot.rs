//! Snapshots: a follower that was down while the leader snapshotted and purged its log catches up
//! by a snapshot installed over the network, and ends up with exactly the leader's state.

use dm::raft::typ::NodeId;
use dm_storage::spaces::Kv;

use crate::harness::{TIMEOUT, TestCluster, wait_until};
use crate::kv::put;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_lagging_follower_installs_a_snapshot() {
    let mut c = TestCluster::start_with(3, |cfg| {
        cfg.raft.snapshot_interval = 50;
        cfg.raft.snapshot_logs_to_keep = 5;
    })
    .await;
    let leader = c.wait_leader().await;
    let lagging: NodeId = c.ids().into_iter().find(|id| *id != leader).unwrap();
    c.kill(lagging).await;
    let mut client = c.client(&[leader]);
    for i in 0..200 {
        put(&mut client, &format!("s{i:03}"), &format!("{i}")).await;
    }
    wait_until(TIMEOUT, "leader purged its log after a snapshot", || async {
        let m = c.node(leader).shared.ctx.raft_metrics();
        m.purged.is_some_and(|p| p.index > 100) && m.snapshot.is_some()
    })
    .await;

    c.restart(lagging).await;
    wait_until(TIMEOUT, "restarted follower installed a snapshot and caught up", || async {
        let m = c.node(lagging).shared.ctx.raft_metrics();
        let lm = c.node(leader).shared.ctx.raft_metrics();
        m.snapshot.is_some() && m.last_applied == lm.last_applied
    })
    .await;
    let ours = c.node(lagging).shared.ctx.reader.list::<Kv>().unwrap();
    let theirs = c.node(leader).shared.ctx.reader.list::<Kv>().unwrap();
    assert_eq!(ours.len(), 200);
    assert_eq!(ours, theirs, "same keys, values and revisions");
    c.shutdown().await;
}
