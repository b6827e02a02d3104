//! Fault injection between masters, for the test harness: block or delay traffic from one node
//! to another. Every master→master call (Raft, forwarding, probes, announcements) checks it before
//! sending. Production nodes carry an empty one.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;
use std::time::Duration;

use crate::raft::typ::NodeId;

#[derive(Default, Debug)]
pub struct Faults {
    blocked: RwLock<HashSet<(NodeId, NodeId)>>,
    delays: RwLock<HashMap<(NodeId, NodeId), Duration>>,
}

/// What a sender must do before a call.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Send,
    Delay(Duration),
    Drop,
}

impl Faults {
    pub fn check(&self, from: NodeId, to: NodeId) -> Verdict {
        if self.blocked.read().unwrap_or_else(|e| e.into_inner()).contains(&(from, to)) {
            return Verdict::Drop;
        }
        match self.delays.read().unwrap_or_else(|e| e.into_inner()).get(&(from, to)) {
            Some(d) => Verdict::Delay(*d),
            None => Verdict::Send,
        }
    }

    /// Drops traffic in both directions between `a` and `b`.
    pub fn cut(&self, a: NodeId, b: NodeId) {
        let mut blocked = self.blocked.write().unwrap_or_else(|e| e.into_inner());
        blocked.insert((a, b));
        blocked.insert((b, a));
    }

    /// Cuts `node` off from every node in `others`.
    pub fn isolate(&self, node: NodeId, others: impl IntoIterator<Item = NodeId>) {
        for o in others {
            if o != node {
                self.cut(node, o);
            }
        }
    }

    /// Delays traffic from `from` to `to`.
    pub fn delay(&self, from: NodeId, to: NodeId, by: Duration) {
        self.delays.write().unwrap_or_else(|e| e.into_inner()).insert((from, to), by);
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.blocked.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.delays.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Applies the verdict: waits out a delay; `false` means drop the call.
    pub async fn pass(&self, from: NodeId, to: NodeId) -> bool {
        match self.check(from, to) {
            Verdict::Send => true,
            Verdict::Drop => false,
            Verdict::Delay(d) => {
                tokio::time::sleep(d).await;
                self.check(from, to) != Verdict::Drop
            }
        }
    }
}
