//! Configuration: the master's TOML file and flags (DM's names), validated into plain structs.
//! Later capabilities add the worker config and DM's source.yaml / task.yaml here.

pub mod addr;
pub mod duration;
pub mod master;
pub mod worker;

use thiserror::Error;

use crate::error::{Coded, ErrorCode};

/// A configuration that cannot be used; says which key or flag and what to change.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("config file {path}: {reason}")]
    UnknownKey { path: String, reason: String },
    #[error("invalid {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("invalid --initial-cluster: {0}")]
    InitialCluster(String),
    #[error(
        "--join {0} points at this master itself (its --advertise-addr); join self is forbidden, give the address of a running master"
    )]
    JoinSelf(String),
    #[error("{0}")]
    Conflict(String),
}

impl Coded for ConfigError {
    fn code(&self) -> ErrorCode {
        match self {
            ConfigError::File { .. } => ErrorCode::ConfigFile,
            ConfigError::UnknownKey { .. } => ErrorCode::ConfigUnknownKey,
            ConfigError::Invalid { .. } => ErrorCode::ConfigInvalid,
            ConfigError::InitialCluster(_) => ErrorCode::InitialClusterInvalid,
            ConfigError::JoinSelf(_) => ErrorCode::JoinSelf,
            ConfigError::Conflict(_) => ErrorCode::ConfigConflict,
        }
    }
}
