//! The leader's view of the master members (the `members` and `cluster` key spaces): what join,
//! promotion and removal decide on. Added by the leader components at start, removed with them.

use std::collections::BTreeMap;

use dm_storage::StoreError;
use dm_storage::feed::ChangeBatch;
use dm_storage::spaces::{Cluster, ClusterInfo, MemberRecord, Members};
use dm_storage::state::View;

use super::follow::Projection;

/// Members by name, and the cluster record.
#[derive(Default, Debug)]
pub struct MembersView {
    /// Added by InitCluster / ReserveMember, updated by MemberJoined, removed by RemoveMember.
    pub members: BTreeMap<String, MemberRecord>,
    /// Set by InitCluster; `next_node_id` advanced by ReserveMember.
    pub cluster: Option<ClusterInfo>,
}

impl MembersView {
    pub fn by_node_id(&self, id: u64) -> Option<&MemberRecord> {
        self.members.values().find(|m| m.node_id == id)
    }
}

impl Projection for MembersView {
    fn rebuild(&mut self, view: &View<'_>) -> Result<(), StoreError> {
        self.members = view.list::<Members>()?.into_iter().map(|(k, r)| (k, r.value)).collect();
        self.cluster = view.get::<Cluster>(&())?.map(|r| r.value);
        Ok(())
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), StoreError> {
        for change in &batch.changes {
            if let Some(decoded) = change.decode::<Members>() {
                match decoded? {
                    (name, Some(rec)) => self.members.insert(name, rec.value),
                    (name, None) => self.members.remove(&name),
                };
            } else if let Some(decoded) = change.decode::<Cluster>() {
                self.cluster = decoded?.1.map(|r| r.value);
            }
        }
        Ok(())
    }
}
