//! Raft plumbing for the masters: the type aliases, openraft's config from ours, the outbound
//! network (`network`), the inbound service (`service`) and test fault injection (`faults`).

pub mod faults;
pub mod network;
pub mod service;
pub mod typ;
pub mod wire;

use openraft::{Config, SnapshotPolicy};

use crate::config::master::RaftTuning;

/// openraft's config from ours. Leader lease = maximum election timeout (openraft's rule), which
/// is also how long a leader may go without a quorum acknowledgement before it stops acting.
pub fn openraft_config(t: &RaftTuning) -> Result<Config, String> {
    Config {
        cluster_name: "dm".to_string(),
        heartbeat_interval: t.heartbeat_interval.as_millis() as u64,
        election_timeout_min: t.election_timeout_min.as_millis() as u64,
        election_timeout_max: t.election_timeout_max.as_millis() as u64,
        install_snapshot_timeout: 5_000,
        max_payload_entries: t.max_payload_entries,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(t.snapshot_interval),
        max_in_snapshot_log_to_keep: t.snapshot_logs_to_keep,
        // Purge in batches, but never wait for more than a quarter of a snapshot interval.
        purge_batch_size: (t.snapshot_interval / 4).clamp(1, 256),
        ..Default::default()
    }
    .validate()
    .map_err(|e| e.to_string())
}
