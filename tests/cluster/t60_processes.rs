//! Three real `dm master` processes: they form a cluster; kill -9 of the leader elects a new one
//! and loses no acknowledged write; the killed master rejoins, catches up, and all three agree;
//! `dm ctl` whose reader went away exits cleanly.

use std::time::Duration;

use dm::client::ClusterClient;

use crate::harness::process::{ProcessCluster, agreed_leader, run_dm_unread};
use crate::harness::{TIMEOUT, wait_until};
use crate::kv::{get, local_get, put};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_kill9_leader_loses_no_acknowledged_write() {
    let _alone = crate::harness::process::EXCLUSIVE.write().await;
    let mut c = ProcessCluster::start(3);
    let all = [0, 1, 2];
    let leader = agreed_leader(&c, &all).await;
    let mut client = ClusterClient::new(c.endpoints(), TIMEOUT).with_attempt_timeout(Duration::from_secs(5));
    let mut acked = Vec::new();
    for i in 0..100 {
        put(&mut client, &format!("p{i}"), &format!("{i}")).await;
        acked.push(i);
    }

    c.masters[leader].kill9();
    let survivors: Vec<usize> = all.into_iter().filter(|i| *i != leader).collect();
    let new_leader = agreed_leader(&c, &survivors).await;
    assert_ne!(new_leader, leader);
    let mut surv_client =
        ClusterClient::new(survivors.iter().map(|i| c.masters[*i].client_addr.clone()).collect(), TIMEOUT);
    for i in &acked {
        assert_eq!(get(&mut surv_client, &format!("p{i}")).await, Some(i.to_string()), "acknowledged p{i} lost");
    }
    put(&mut surv_client, "after-failover", "yes").await;

    c.masters[leader].restart();
    agreed_leader(&c, &all).await;
    let endpoints = c.endpoints();
    wait_until(TIMEOUT, "every master holds every write", || async {
        for addr in &endpoints {
            let Ok(mut raw) = dm::pb::master::master_client::MasterClient::connect(format!("http://{addr}")).await
            else {
                return false;
            };
            if local_get(&mut raw, "after-failover").await.as_deref() != Some("yes") {
                return false;
            }
            for i in &acked {
                if local_get(&mut raw, &format!("p{i}")).await != Some(i.to_string()) {
                    return false;
                }
            }
        }
        true
    })
    .await;
    assert!(c.masters.iter_mut().all(|m| m.is_running()), "no master exited:\n{}", c.logs());

    // `dm ctl … | head`: a reader that went away is not an error of the command.
    let out = run_dm_unread(&["ctl", "--master-addr", &endpoints[0], "list-member"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("panicked"), "{:?}: {stderr}", out.status);
}
