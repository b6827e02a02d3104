//! A worker's stage as the scheduler sees it, with DM's legal transitions in one table.
//!
//! The stage is derived, not stored: Bound/Relay come from the replicated bindings, Free/Offline
//! from the leader's in-memory liveness. The table is what every derivation must respect: a
//! change of derived stage that is not in it is a scheduler bug and is logged.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkerStage {
    /// Not heartbeating to this leader (or not yet, after a leader change).
    Offline,
    /// Heartbeating and holding no source.
    Free,
    /// Holding a source.
    Bound,
    /// Running relay for a source without being bound to it (DM's per-worker relay).
    Relay,
}

impl WorkerStage {
    /// DM's transition table (reference dm-master §6.2). Offline can only become Free: a worker
    /// must be seen before it is given work.
    pub fn can_become(self, next: WorkerStage) -> bool {
        use WorkerStage::*;
        matches!(
            (self, next),
            (Offline, Free)
                | (Free, Offline)
                | (Bound, Offline)
                | (Relay, Offline)
                | (Free, Bound)
                | (Free, Relay)
                | (Bound, Free)
                | (Bound, Relay)
                | (Relay, Free)
                | (Relay, Bound)
        )
    }

    /// DM's lower-case names, as list-member prints them.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerStage::Offline => "offline",
            WorkerStage::Free => "free",
            WorkerStage::Bound => "bound",
            WorkerStage::Relay => "relay",
        }
    }
}

impl fmt::Display for WorkerStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::WorkerStage::{self, *};

    #[test]
    fn t10_worker_stage_transitions_are_dms() {
        let all = [Offline, Free, Bound, Relay];
        let legal = [
            (Offline, Free),
            (Free, Offline),
            (Bound, Offline),
            (Relay, Offline),
            (Free, Bound),
            (Free, Relay),
            (Bound, Free),
            (Bound, Relay),
            (Relay, Free),
            (Relay, Bound),
        ];
        for from in all {
            for to in all {
                let want = legal.contains(&(from, to));
                assert_eq!(WorkerStage::can_become(from, to), want, "{from} -> {to}");
            }
        }
    }
}
