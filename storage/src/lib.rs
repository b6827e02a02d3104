//! dm-storage: the replicated state of a dm master cluster.
//!
//! The state machine on sled (typed key spaces, the [`Command`] enum with its deterministic
//! all-or-nothing apply, snapshots, the change feed) and the Raft log as append-only segment files. Nothing here knows about
//! the network, HTTP or the CLI; everything outside this crate reaches sled only through it.

pub mod command;
pub mod error;
pub mod feed;
pub mod keys;
pub mod keyspace;
pub mod local;
pub mod log_store;
pub mod node;
pub mod scheduling;
pub mod shardddl;
pub mod snapshot;
pub mod spaces;
pub mod state;
pub mod state_machine;
pub mod store;
pub mod typ;
pub mod wal;

mod apply;
mod apply_sched;
mod apply_shard;

pub use command::{BatchItem, Command, CommandOutput, CommandResult, Rejected};
pub use error::{OpenError, StoreError};
pub use feed::{ChangeBatch, FeedEvent, Subscription};
pub use keyspace::{KeySpace, Record};
pub use local::{LocalMeta, NodeIdentity};
pub use log_store::LogStore;
pub use node::NodeInfo;
pub use state::StateReader;
pub use state_machine::StateMachine;
pub use store::{STORAGE_VERSION, Store, StoreOptions};
