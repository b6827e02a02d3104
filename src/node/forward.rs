//! Where a request is served: here (this node leads) or on the leader (one forwarding hop).
//!
//! 1. This node runs the leader components → serve locally.
//! 2. Raft says this node leads but the components are still starting → wait briefly for them.
//! 3. The request was already forwarded once → answer NotLeader (never a second hop).
//! 4. Another node is the known leader → forward to its client address.
//! 5. Otherwise → NotLeader with the last known leader; clients retry through their endpoint list.
//!
//! NotLeader travels as gRPC UNAVAILABLE with code 38043 in the message and the leader's client
//! address in the `dm-leader-addr` metadata, so clients can go straight there.

use std::sync::Arc;
use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Request, Status};

use super::NodeShared;
use super::error::NodeError;
use super::leader::LeaderHandle;
use crate::error::Coded;
use crate::pb::master::master_client::MasterClient;
use crate::raft::typ::ServerState;

pub const FORWARDED_HEADER: &str = "dm-forwarded";
pub const LEADER_ADDR_HEADER: &str = "dm-leader-addr";

/// How long a request waits for a freshly elected leader's components (DM waits 10 × 100 ms).
pub const STARTING_LEADER_WAIT: Duration = Duration::from_secs(2);

pub enum Route {
    Local(Arc<LeaderHandle>),
    Forward(MasterClient<Channel>),
}

/// gRPC status for a NotLeader error, with the leader hint.
pub fn not_leader_status(err: &NodeError) -> Status {
    let mut status = Status::unavailable(err.to_user().to_string());
    if let NodeError::NotLeader { leader: Some((_, info)) } = err
        && let Ok(v) = MetadataValue::try_from(info.client_addr.as_str())
    {
        status.metadata_mut().insert(LEADER_ADDR_HEADER, v);
    }
    status
}

/// The same request, marked as forwarded, with the forwarding deadline.
pub fn forwarded<T>(req: Request<T>, timeout: Duration) -> Request<T> {
    let mut out = Request::new(req.into_inner());
    out.metadata_mut().insert(FORWARDED_HEADER, MetadataValue::from_static("1"));
    out.set_timeout(timeout);
    out
}

impl NodeShared {
    /// Steps 1–5.
    pub async fn route<T>(&self, req: &Request<T>) -> Result<Route, Status> {
        if let Some(h) = self.leadership.current() {
            return Ok(Route::Local(h));
        }
        let m = self.ctx.raft_metrics();
        if m.state == ServerState::Leader
            && let Some(h) = self.leadership.wait(STARTING_LEADER_WAIT).await
        {
            return Ok(Route::Local(h));
        }
        let leader = self.ctx.known_leader().filter(|(id, _)| *id != self.ctx.node_id);
        let err = NodeError::NotLeader { leader: leader.clone() };
        if req.metadata().contains_key(FORWARDED_HEADER) {
            return Err(not_leader_status(&err));
        }
        match leader {
            Some((id, info)) => match self.peers.client(id, &info.peer_addr).await {
                Ok(client) => Ok(Route::Forward(client)),
                Err(_) => Err(not_leader_status(&err)),
            },
            None => Err(not_leader_status(&err)),
        }
    }

    /// The leader handle, or NotLeader (for leader-only work that must not be forwarded).
    pub fn leader(&self) -> Result<Arc<LeaderHandle>, NodeError> {
        self.leadership.current().ok_or_else(|| NodeError::NotLeader { leader: self.ctx.known_leader() })
    }
}
