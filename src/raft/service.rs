//! Inbound Raft RPCs on the peer port: decode, hand to the local Raft, encode its whole result.
//! Also `PeerAdmin.AnnounceNode`, through which a master gets its addresses into the membership.

use tonic::{Request, Response, Status};

use super::typ::*;
use super::wire::{decode, encode};
use crate::pb::raft::RaftMessage;
use crate::pb::raft::raft_peer_server::RaftPeer;

/// Serves openraft's three RPCs for one node.
pub struct PeerService {
    raft: Raft,
}

impl PeerService {
    pub fn new(raft: Raft) -> Self {
        Self { raft }
    }
}

fn decode_req<T: serde::de::DeserializeOwned>(req: Request<RaftMessage>) -> Result<T, Status> {
    decode(&req.into_inner().data).map_err(|e| Status::invalid_argument(format!("undecodable raft message: {e}")))
}

fn reply<T: serde::Serialize>(value: &T) -> Result<Response<RaftMessage>, Status> {
    Ok(Response::new(RaftMessage { data: encode(value) }))
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn append_entries(&self, req: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc: AppendEntriesRequest = decode_req(req)?;
        reply(&self.raft.append_entries(rpc).await)
    }

    async fn vote(&self, req: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc: VoteRequest = decode_req(req)?;
        reply(&self.raft.vote(rpc).await)
    }

    async fn install_snapshot(&self, req: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc: InstallSnapshotRequest = decode_req(req)?;
        reply(&self.raft.install_snapshot(rpc).await)
    }
}
