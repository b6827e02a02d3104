//! Outbound Raft RPCs: openraft's `RaftNetworkFactory` over gRPC on the peers' peer port.
//!
//! Each call checks the fault injector, sends the MessagePack-encoded request with openraft's
//! per-RPC deadline, and maps failures the way openraft expects: a peer that cannot be reached is
//! `Unreachable` (openraft backs off), a remote Raft error is `RemoteError`, the rest `Network`.

use std::io;
use std::sync::Arc;

use openraft::error::{NetworkError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::transport::Channel;

use super::faults::Faults;
use super::typ::*;
use super::wire::{decode, encode};
use crate::net::{MAX_MESSAGE_BYTES, dial};
use crate::pb::raft::RaftMessage;
use crate::pb::raft::raft_peer_client::RaftPeerClient;

/// Creates one connection per peer.
pub struct PeerNetwork {
    self_id: NodeId,
    faults: Arc<Faults>,
}

impl PeerNetwork {
    pub fn new(self_id: NodeId, faults: Arc<Faults>) -> Self {
        Self { self_id, faults }
    }
}

/// The connection to one peer.
pub struct PeerConnection {
    self_id: NodeId,
    target: NodeId,
    node: NodeInfo,
    client: Option<RaftPeerClient<Channel>>,
    faults: Arc<Faults>,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerConnection {
        let client = dial(&node.peer_addr).ok().map(|ch| {
            RaftPeerClient::new(ch)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES)
        });
        PeerConnection { self_id: self.self_id, target, node: node.clone(), client, faults: self.faults.clone() }
    }
}

#[derive(Clone, Copy)]
enum Rpc {
    Append,
    Vote,
    Snapshot,
}

impl PeerConnection {
    async fn call<Req, Resp, E>(&mut self, rpc: Rpc, req: &Req, option: RPCOption) -> Result<Resp, RPCError<E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        if !self.faults.pass(self.self_id, self.target).await {
            return Err(RPCError::Unreachable(Unreachable::new(&io::Error::other("dropped by fault injection"))));
        }
        let Some(client) = self.client.as_mut() else {
            let e = io::Error::other(format!("bad peer address {:?}", self.node.peer_addr));
            return Err(RPCError::Unreachable(Unreachable::new(&e)));
        };
        let mut request = tonic::Request::new(RaftMessage { data: encode(req) });
        request.set_timeout(option.hard_ttl());
        let reply = match rpc {
            Rpc::Append => client.append_entries(request).await,
            Rpc::Vote => client.vote(request).await,
            Rpc::Snapshot => client.install_snapshot(request).await,
        };
        let reply = reply.map_err(|status| match status.code() {
            tonic::Code::Unavailable => RPCError::Unreachable(Unreachable::new(&status)),
            _ => RPCError::Network(NetworkError::new(&status)),
        })?;
        let result: Result<Resp, RaftError<E>> =
            decode(&reply.into_inner().data).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new_with_node(self.target, self.node.clone(), e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse, RPCError> {
        self.call(Rpc::Append, &rpc, option).await
    }

    async fn vote(&mut self, rpc: VoteRequest, option: RPCOption) -> Result<VoteResponse, RPCError> {
        self.call(Rpc::Vote, &rpc, option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse, RPCError<InstallSnapshotError>> {
        self.call(Rpc::Snapshot, &rpc, option).await
    }
}
