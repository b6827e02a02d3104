//! Admin key-space helpers over the gRPC API.

use dm::client::ClusterClient;
use dm::cluster_call;
use dm::pb::master::master_client::MasterClient;
use dm::pb::master::{KvGetRequest, KvPutRequest};
use tonic::transport::Channel;

/// Puts through the cluster (any node, following the leader); returns the revision.
pub async fn put(client: &mut ClusterClient, key: &str, value: &str) -> u64 {
    let req = KvPutRequest { key: key.into(), value: value.as_bytes().to_vec(), expect_mod_revision: None };
    let r = cluster_call!(client, kv_put, req).expect("put reaches the cluster");
    assert!(r.result, "put {key}: {}", r.msg);
    r.revision
}

/// Linearizable read through the cluster.
pub async fn get(client: &mut ClusterClient, key: &str) -> Option<String> {
    let req = KvGetRequest { key: key.into(), serializable: false };
    let r = cluster_call!(client, kv_get, req).expect("get reaches the cluster");
    assert!(r.result, "get {key}: {}", r.msg);
    r.found.then(|| String::from_utf8(r.value).unwrap())
}

/// Read from one node's own state (no leader involved).
pub async fn local_get(raw: &mut MasterClient<Channel>, key: &str) -> Option<String> {
    let r = raw.kv_get(KvGetRequest { key: key.into(), serializable: true }).await.ok()?.into_inner();
    r.found.then(|| String::from_utf8(r.value).unwrap())
}
