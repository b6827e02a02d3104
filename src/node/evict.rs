//! What an evicted master does so that eviction never costs the cluster its availability.
//!
//! An evicted master does not campaign and does not run the leader components. Two cases would
//! otherwise leave the cluster without a leader for good: the masters still allowed to campaign
//! have shorter logs than an evicted one, or too few of them are up. So:
//! 1. After the cluster has had no leader for three leader leases, an evicted master campaigns
//!    again (it may be the only one that can win).
//! 2. An evicted master that has been Raft leader for one lease hands leadership on, and keeps
//!    trying while it still leads (the hand-over gate runs one attempt at a time).
//! 3. Once not evicted, elections are simply enabled.
//!
//! The decision is a pure function of the Raft metrics and the time, tested with a table below.

use std::time::{Duration, Instant};

use super::leadership::RaftView;

#[derive(Debug, PartialEq, Eq)]
pub enum EvictAction {
    /// Enable or disable this node's elections.
    SetElect(bool),
    /// Hand leadership to another master.
    HandOver,
}

#[derive(Debug)]
pub struct EvictState {
    /// Since when no leader has been known.
    leaderless_since: Option<Instant>,
    /// Whether elections are enabled, as last set.
    elect: bool,
    /// Term and time this node became leader while evicted.
    led_since: Option<(u64, Instant)>,
}

impl Default for EvictState {
    fn default() -> Self {
        Self { leaderless_since: None, elect: true, led_since: None }
    }
}

impl EvictState {
    pub fn step(&mut self, m: &RaftView, evicted: bool, now: Instant, lease: Duration) -> Vec<EvictAction> {
        let mut actions = Vec::new();
        self.leaderless_since = match m.current_leader {
            None => Some(self.leaderless_since.unwrap_or(now)),
            Some(_) => None,
        };
        let want_elect = !evicted || self.leaderless_since.is_some_and(|t| now.duration_since(t) >= lease * 3);
        if want_elect != self.elect {
            self.elect = want_elect;
            actions.push(EvictAction::SetElect(want_elect));
        }
        let leading = m.is_raft_leader();
        if !(evicted && leading) {
            self.led_since = None;
            return actions;
        }
        let since = match self.led_since {
            Some((term, t)) if term == m.term => t,
            _ => {
                self.led_since = Some((m.term, now));
                now
            }
        };
        if now.duration_since(since) >= lease {
            actions.push(EvictAction::HandOver);
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::typ::ServerState;

    fn metrics(state: ServerState, current_leader: Option<u64>, term: u64) -> RaftView {
        RaftView { id: 1, state, current_leader, term, applied_by: None, sole_voter: false, quorum_acked_at: None }
    }

    #[test]
    fn t10_evicted_master_campaigns_only_after_a_long_leaderless_period_and_hands_over() {
        let lease = Duration::from_millis(800);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let follower = metrics(ServerState::Follower, Some(2), 3);
        let leaderless = metrics(ServerState::Candidate, None, 4);
        let leader = metrics(ServerState::Leader, Some(1), 5);
        let mut s = EvictState::default();
        let steps: Vec<(&str, &RaftView, bool, u64, Vec<EvictAction>)> = vec![
            ("not evicted: nothing to do", &follower, false, 0, vec![]),
            ("evicted: stop campaigning", &follower, true, 10, vec![EvictAction::SetElect(false)]),
            ("leaderless, not long yet", &leaderless, true, 100, vec![]),
            ("still short of 3 leases", &leaderless, true, 2000, vec![]),
            ("3 leases without leader: campaign", &leaderless, true, 2500, vec![EvictAction::SetElect(true)]),
            ("won: stop campaigning, wait a lease", &leader, true, 2600, vec![EvictAction::SetElect(false)]),
            ("led one lease: hand over", &leader, true, 3400, vec![EvictAction::HandOver]),
            ("still leading: keep trying", &leader, true, 4500, vec![EvictAction::HandOver]),
            ("cancel-evict: campaign again", &follower, false, 5000, vec![EvictAction::SetElect(true)]),
        ];
        for (what, m, evicted, ms, want) in steps {
            assert_eq!(s.step(m, evicted, at(ms), lease), want, "{what}");
        }
    }
}
