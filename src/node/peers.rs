//! Clients to the other masters' `Master` service on their peer ports (forwarding, health probes,
//! campaign requests): master→master traffic uses the peer addresses every member knows from the
//! membership, even before a master's client address is announced. One cached channel per
//! address; every call is subject to the fault injector.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tonic::Status;
use tonic::transport::Channel;

use crate::net::{MAX_MESSAGE_BYTES, dial};
use crate::pb::master::master_client::MasterClient;
use crate::pb::master::{CampaignRequest, HealthRequest, HealthResponse};
use crate::raft::faults::Faults;
use crate::raft::typ::NodeId;

pub struct Peers {
    self_id: NodeId,
    faults: Arc<Faults>,
    clients: Mutex<HashMap<String, MasterClient<Channel>>>,
}

impl Peers {
    pub fn new(self_id: NodeId, faults: Arc<Faults>) -> Self {
        Self { self_id, faults, clients: Mutex::new(HashMap::new()) }
    }

    /// A client to master `to` at its peer address `addr`, or UNAVAILABLE if it cannot be dialled
    /// or is cut off.
    pub async fn client(&self, to: NodeId, addr: &str) -> Result<MasterClient<Channel>, Status> {
        if !self.faults.pass(self.self_id, to).await {
            return Err(Status::unavailable(format!("master {to} unreachable (fault injection)")));
        }
        if addr.is_empty() {
            return Err(Status::unavailable(format!("master {to} has no known address")));
        }
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(addr) {
            return Ok(c.clone());
        }
        let channel = dial(addr).map_err(|e| Status::unavailable(format!("bad master address {addr}: {e}")))?;
        let client = MasterClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        clients.insert(addr.to_string(), client.clone());
        Ok(client)
    }

    /// Asks master `to` how it is; `None` if it does not answer within `timeout`.
    pub async fn health(&self, to: NodeId, addr: &str, timeout: Duration) -> Option<HealthResponse> {
        let mut client = self.client(to, addr).await.ok()?;
        let mut req = tonic::Request::new(HealthRequest {});
        req.set_timeout(timeout);
        let res = tokio::time::timeout(timeout, client.health(req)).await;
        res.ok()?.ok().map(|r| r.into_inner())
    }

    /// Asks master `to` to start an election now.
    pub async fn campaign(&self, to: NodeId, addr: &str, timeout: Duration) -> Result<(), Status> {
        let mut client = self.client(to, addr).await?;
        let mut req = tonic::Request::new(CampaignRequest {});
        req.set_timeout(timeout);
        client.campaign(req).await.map(|_| ())
    }
}
