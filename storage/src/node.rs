//! `NodeInfo`: what the Raft membership records about each master, so peers' addresses live in
//! the membership itself and survive restarts with it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One master as the Raft membership knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The master's `--name`; unique in the cluster, what operators address it by.
    pub name: String,
    /// Raft peer address (`host:port`), dialled by the other masters' Raft network.
    pub peer_addr: String,
    /// Client address (`host:port`) for gRPC and HTTP; where followers forward requests to.
    pub client_addr: String,
}

impl fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(peer={}, client={})", self.name, self.peer_addr, self.client_addr)
    }
}
