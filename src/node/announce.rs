//! Keeping each master's addresses in the Raft membership current. `--initial-cluster` lists only
//! peer URLs, and a restarted master may advertise new addresses, so each master announces itself.
//!
//! 1. Watch the Raft membership and leadership. When this node is in the membership with other
//!    addresses than it now has, and a leader is known:
//! 2. the leader updates the membership itself (`SetNodes`); a follower sends `AnnounceNode` to
//!    the leader's peer address (the leader's client address may be what is missing).
//! 3. The leader accepts an announcement only for a node id in the membership under the same
//!    name. The announcer retries every second until the membership shows its addresses.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::NodeShared;
use crate::net::dial;
use crate::pb::raft::RaftMessage;
use crate::pb::raft::peer_admin_client::PeerAdminClient;
use crate::pb::raft::peer_admin_server::PeerAdmin;
use crate::raft::typ::{NodeId, NodeInfo};
use crate::raft::wire::{decode, encode};

#[derive(Debug, Serialize, Deserialize)]
pub struct NodeAnnouncement {
    pub node_id: NodeId,
    pub info: NodeInfo,
}

/// Steps 1–2 and the retry of step 3, until shutdown.
pub async fn run(node: Arc<NodeShared>, shutdown: CancellationToken) {
    // Server metrics change only with leadership and membership, not with every entry.
    let mut metrics = node.ctx.raft.server_metrics();
    let mut leading = node.leadership.subscribe();
    let mut retry = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = metrics.changed() => if changed.is_err() { return },
            changed = leading.changed() => if changed.is_err() { return },
            _ = retry.tick() => {}
        }
        let m = metrics.borrow().clone();
        let me = node.ctx.node_id;
        let Some(recorded) = m.membership_config.membership().get_node(&me).cloned() else {
            continue;
        };
        if recorded == node.info || m.current_leader.is_none() {
            continue;
        }
        let res = if m.current_leader == Some(me) {
            match node.leadership.current() {
                Some(leader) => leader.update_node(me, node.info.clone()).await.map_err(|e| e.to_string()),
                None => continue,
            }
        } else {
            let leader =
                m.current_leader.and_then(|l| m.membership_config.membership().get_node(&l).cloned().map(|n| (l, n)));
            match leader {
                Some((id, info)) => send(&node, id, &info.peer_addr).await,
                None => continue,
            }
        };
        match res {
            Ok(()) => tracing::info!(info = %node.info, "announced this master's addresses"),
            Err(e) => tracing::debug!(error = %e, "announcing addresses failed; will retry"),
        }
        // Wait for the next tick before trying again, whatever happened.
        retry.reset();
    }
}

async fn send(node: &NodeShared, leader: NodeId, peer_addr: &str) -> Result<(), String> {
    if !node.faults.pass(node.ctx.node_id, leader).await {
        return Err("leader unreachable (fault injection)".into());
    }
    let mut client = PeerAdminClient::new(dial(peer_addr).map_err(|e| e.to_string())?);
    let msg = NodeAnnouncement { node_id: node.ctx.node_id, info: node.info.clone() };
    let mut req = Request::new(RaftMessage { data: encode(&msg) });
    req.set_timeout(Duration::from_secs(5));
    let reply = client.announce_node(req).await.map_err(|s| s.message().to_string())?;
    let result: Result<(), String> = decode(&reply.into_inner().data).map_err(|e| e.to_string())?;
    result
}

/// The leader side of `AnnounceNode` (step 3).
pub struct PeerAdminService {
    node: Arc<NodeShared>,
}

impl PeerAdminService {
    pub fn new(node: Arc<NodeShared>) -> Self {
        Self { node }
    }

    async fn accept(&self, a: NodeAnnouncement) -> Result<(), String> {
        let leader = self.node.leader().map_err(|e| e.to_string())?;
        let m = self.node.ctx.raft_metrics();
        match m.membership_config.membership().get_node(&a.node_id) {
            None => return Err(format!("node {} is not a member", a.node_id)),
            Some(n) if n.name != a.info.name => {
                return Err(format!("node {} is {}, not {}", a.node_id, n.name, a.info.name));
            }
            Some(n) if *n == a.info => return Ok(()),
            Some(_) => {}
        }
        leader.update_node(a.node_id, a.info).await.map_err(|e| e.to_string())
    }
}

#[tonic::async_trait]
impl PeerAdmin for PeerAdminService {
    async fn announce_node(&self, req: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let a: NodeAnnouncement =
            decode(&req.into_inner().data).map_err(|e| Status::invalid_argument(format!("bad announcement: {e}")))?;
        let result = self.accept(a).await;
        Ok(Response::new(RaftMessage { data: encode(&result) }))
    }
}
