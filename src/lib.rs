//! dm: a data-migration control plane in the shape of TiDB DM, in one binary.
//!
//! Masters form their own Raft group (openraft, storage on sled, in the `dm-storage` crate); the
//! Raft leader runs the leader components. See `docs/ARCHITECTURE.md` for the map.

pub mod agent;
pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod error;
pub mod net;
pub mod node;
pub mod raft;
pub mod scheduler;
pub mod shardddl;
pub mod worker;

/// Generated gRPC code (proto/).
pub mod pb {
    pub mod master {
        tonic::include_proto!("dm.master");
    }
    pub mod raft {
        tonic::include_proto!("dm.raft");
    }
    pub mod worker {
        tonic::include_proto!("dm.worker");
    }
}
