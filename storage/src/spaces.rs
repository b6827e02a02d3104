//! The key spaces of the replicated state and the master-cluster record types. Later capabilities
//! add theirs with one `SpaceId` variant here and their marker and value types in their own module
//! (`scheduling` for workers, sources, bounds and tasks).

use serde::{Deserialize, Serialize};

use crate::keyspace::KeySpace;
use crate::typ::NodeId;

/// Every key space; the variant order is the tree order in snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SpaceId {
    Cluster,
    Members,
    Kv,
    Workers,
    Sources,
    Bounds,
    WorkerBounds,
    LastBounds,
    SourceTasks,
    Tasks,
    Subtasks,
    PessimismInfos,
    PessimismOps,
    OptimismSourceTables,
    OptimismInfos,
    OptimismOps,
    OptimismDroppedColumns,
    OptimismPendingOps,
}

impl SpaceId {
    pub const ALL: [SpaceId; 18] = [
        SpaceId::Cluster,
        SpaceId::Members,
        SpaceId::Kv,
        SpaceId::Workers,
        SpaceId::Sources,
        SpaceId::Bounds,
        SpaceId::WorkerBounds,
        SpaceId::LastBounds,
        SpaceId::SourceTasks,
        SpaceId::Tasks,
        SpaceId::Subtasks,
        SpaceId::PessimismInfos,
        SpaceId::PessimismOps,
        SpaceId::OptimismSourceTables,
        SpaceId::OptimismInfos,
        SpaceId::OptimismOps,
        SpaceId::OptimismDroppedColumns,
        SpaceId::OptimismPendingOps,
    ];

    /// The sled tree name, also the name in snapshots and errors.
    pub const fn tree_name(self) -> &'static str {
        match self {
            SpaceId::Cluster => "cluster",
            SpaceId::Members => "members",
            SpaceId::Kv => "kv",
            SpaceId::Workers => "workers",
            SpaceId::Sources => "sources",
            SpaceId::Bounds => "bounds",
            SpaceId::WorkerBounds => "worker_bounds",
            SpaceId::LastBounds => "last_bounds",
            SpaceId::SourceTasks => "source_tasks",
            SpaceId::Tasks => "tasks",
            SpaceId::Subtasks => "subtasks",
            SpaceId::PessimismInfos => "pessimism_infos",
            SpaceId::PessimismOps => "pessimism_ops",
            SpaceId::OptimismSourceTables => "optimism_source_tables",
            SpaceId::OptimismInfos => "optimism_infos",
            SpaceId::OptimismOps => "optimism_ops",
            SpaceId::OptimismDroppedColumns => "optimism_dropped_columns",
            SpaceId::OptimismPendingOps => "optimism_pending_ops",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }

    pub fn from_tree_name(name: &str) -> Option<SpaceId> {
        Self::ALL.into_iter().find(|s| s.tree_name() == name)
    }
}

/// `cluster`: one record, written once by the first leader.
pub struct Cluster;
impl KeySpace for Cluster {
    const ID: SpaceId = SpaceId::Cluster;
    type Key = ();
    type Value = ClusterInfo;
}

/// Identity of the cluster: what a joining node and a reused data dir are checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// Random id chosen by the first leader (DM: `(unix_ts << 32) + rand32`).
    pub cluster_id: u64,
    /// Internal version of the replicated data layout (DM keeps `/dm-cluster/version`).
    pub version: u32,
    /// Next node id to hand to a joining master; ids are never reused.
    pub next_node_id: NodeId,
}

/// `members`: master name → member record. Added by InitCluster / ReserveMember, updated by
/// MemberJoined, removed by RemoveMember.
pub struct Members;
impl KeySpace for Members {
    const ID: SpaceId = SpaceId::Members;
    type Key = String;
    type Value = MemberRecord;
}

/// A master as the cluster registered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub name: String,
    pub node_id: NodeId,
    pub peer_addr: String,
    pub client_addr: String,
    pub state: MemberState,
}

/// Where a master is in its life: Joining → Joined → Removing → (record deleted). A Joining
/// record is reused when the same node retries its join (same name and addresses); a Joining
/// master may also go straight to Removing (an abandoned join). Nothing goes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberState {
    /// Id reserved; not yet a voter.
    Joining,
    /// A voter (or an initial member).
    Joined,
    /// Being removed: promotion is refused; the next leader finishes the removal.
    Removing,
}

impl MemberState {
    /// The legal transitions, in one table.
    pub fn can_become(self, next: MemberState) -> bool {
        use MemberState::*;
        matches!((self, next), (Joining, Joined) | (Joining, Removing) | (Joined, Removing) | (Removing, Removing))
    }
}

/// `kv`: a small generic key space for admin calls, tests and benchmarks.
pub struct Kv;
impl KeySpace for Kv {
    const ID: SpaceId = SpaceId::Kv;
    type Key = String;
    type Value = KvValue;
}

/// An opaque value of the admin key space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvValue(#[serde(with = "serde_bytes")] pub Vec<u8>);

#[cfg(test)]
mod tests {
    use super::MemberState::{self, *};

    #[test]
    fn t10_member_state_transitions() {
        let all = [Joining, Joined, Removing];
        let legal = [(Joining, Joined), (Joining, Removing), (Joined, Removing), (Removing, Removing)];
        for from in all {
            for to in all {
                let want = legal.contains(&(from, to));
                assert_eq!(MemberState::can_become(from, to), want, "{from:?} -> {to:?}");
            }
        }
    }
}
