//! Per-node, non-replicated metadata in the data dir: the storage version header and this node's
//! identity (name, node id, cluster id, join progress). Written with a flush before returning.

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::keyspace::{decode, encode};
use crate::node::NodeInfo;
use crate::typ::NodeId;

const KEY_VERSION: &[u8] = b"storage_version";
const KEY_IDENTITY: &[u8] = b"identity";

/// Who this node is; persisted so a restart needs no cluster flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentity {
    /// The master name the data dir belongs to.
    pub name: String,
    /// Raft node id: list position for `--initial-cluster`, assigned by the leader for `--join`.
    pub node_id: NodeId,
    /// The cluster the data dir belongs to, once known (join: at once; initial cluster: after the
    /// first leader records it).
    pub cluster_id: Option<u64>,
    /// False between a join's id reservation and its promotion to voter; a restart resumes the join.
    pub joined: bool,
    /// Client addresses to resume an unfinished join through.
    #[serde(default)]
    pub join_endpoints: Vec<String>,
    /// The `--initial-cluster` membership this node was created with, so a restart can finish an
    /// initialisation interrupted by a crash.
    #[serde(default)]
    pub initial_members: Vec<(NodeId, NodeInfo)>,
}

/// Handle on the `local` tree.
#[derive(Clone)]
pub struct LocalMeta {
    _alive: std::sync::Arc<()>,
    db: sled::Db,
    tree: sled::Tree,
}

impl LocalMeta {
    pub(crate) fn new(db: sled::Db, tree: sled::Tree, alive: std::sync::Arc<()>) -> Self {
        Self { _alive: alive, db, tree }
    }

    pub(crate) fn storage_version(&self) -> Result<Option<u32>, StoreError> {
        match self.tree.get(KEY_VERSION)? {
            None => Ok(None),
            Some(v) => {
                let bytes: [u8; 4] = v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    what: "storage version header",
                    reason: format!("{} bytes", v.len()),
                })?;
                Ok(Some(u32::from_be_bytes(bytes)))
            }
        }
    }

    pub(crate) fn set_storage_version(&self, version: u32) -> Result<(), StoreError> {
        self.tree.insert(KEY_VERSION, &version.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    pub fn identity(&self) -> Result<Option<NodeIdentity>, StoreError> {
        self.tree.get(KEY_IDENTITY)?.map(|v| decode(&v, "node identity")).transpose()
    }

    /// Persists the identity durably (fsync) before returning.
    pub async fn set_identity(&self, identity: &NodeIdentity) -> Result<(), StoreError> {
        self.tree.insert(KEY_IDENTITY, encode(identity))?;
        crate::store::flush(&self.db).await?;
        Ok(())
    }
}
