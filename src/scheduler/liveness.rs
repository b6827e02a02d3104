//! Worker liveness, in the leader's memory only (never in the Raft log): when each worker was
//! last heard from, with its TTL and what it reported working on.
//!
//! Two questions are asked of it, with different answers after a leader change:
//! - `online`: heard from within its TTL by *this* leader. Only online workers are Free (may be
//!   given a source). A new leader hears every live worker within a heartbeat interval.
//! - `surely_fenced`: unheard for a full TTL, counting from this leader's start at the earliest.
//!   Only then may its source go to another worker: by then the worker has stopped itself (it
//!   fences after 0.8 × TTL without an acknowledged heartbeat). A bound worker also keeps its
//!   source for that long after a leader change (no mass rescheduling on failover).
//!
//! Time is passed in, so the rules are tested without sleeping.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a worker said in its last heartbeat.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// The source and epoch it works under, if any.
    pub working: Option<(String, u64)>,
    /// Revision of the newest assignment it has applied.
    pub assignment_revision: u64,
    /// Its subtasks' actual stages (for confirmations).
    pub subtasks: Vec<crate::pb::worker::SubTaskStatus>,
}

#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    ttl: Duration,
    report: Report,
    /// Said goodbye (clean stop): holds nothing, offline until heard from again.
    stopped: bool,
}

#[derive(Debug)]
pub struct Liveness {
    /// When this leader started: the earliest "last heard" of any worker.
    started: Instant,
    seen: HashMap<String, Seen>,
}

impl Liveness {
    pub fn new(started: Instant) -> Self {
        Self { started, seen: HashMap::new() }
    }

    /// Moves this leader's start (the earliest "last heard") to `now`.
    pub fn restart_grace(&mut self, now: Instant) {
        self.started = now;
    }

    /// Records a heartbeat; returns true if the worker was not online before (it came online).
    /// A worker that said goodbye stays offline until it registers again: a heartbeat still in
    /// flight from before its goodbye must not bring it back.
    pub fn heartbeat(&mut self, name: &str, ttl: Duration, report: Report, now: Instant) -> bool {
        if self.seen.get(name).is_some_and(|s| s.stopped) {
            return false;
        }
        let was_online = self.online(name, now);
        self.seen.insert(name.to_string(), Seen { at: now, ttl, report, stopped: false });
        !was_online
    }

    /// The worker stopped cleanly (it stopped all work before saying so): offline and holding
    /// nothing from now on, until heard from again.
    pub fn gone(&mut self, name: &str, now: Instant) {
        let seen = Seen { at: now, ttl: Duration::ZERO, report: Report::default(), stopped: true };
        self.seen.insert(name.to_string(), seen);
    }

    /// The worker registered (again): a goodbye no longer holds.
    pub fn registered(&mut self, name: &str) {
        if self.seen.get(name).is_some_and(|s| s.stopped) {
            self.seen.remove(name);
        }
    }

    pub fn online(&self, name: &str, now: Instant) -> bool {
        self.seen.get(name).is_some_and(|s| !s.stopped && now.saturating_duration_since(s.at) < s.ttl)
    }

    /// `default_ttl` is the TTL the worker registered with (used before it is heard from).
    pub fn surely_fenced(&self, name: &str, default_ttl: Duration, now: Instant) -> bool {
        let (last, ttl) = match self.seen.get(name) {
            Some(s) if s.stopped => return true,
            Some(s) => (s.at.max(self.started), s.ttl),
            None => (self.started, default_ttl),
        };
        now.saturating_duration_since(last) >= ttl
    }

    /// What the worker last reported, if heard from by this leader.
    pub fn report(&self, name: &str) -> Option<&Report> {
        self.seen.get(name).map(|s| &s.report)
    }

    /// Workers heard from by this leader.
    pub fn known(&self) -> impl Iterator<Item = &str> {
        self.seen.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(15);

    #[test]
    fn t10_online_only_within_the_ttl_of_the_last_heartbeat() {
        let t0 = Instant::now();
        let mut l = Liveness::new(t0);
        assert!(!l.online("w1", t0), "a new leader has heard from nobody");
        assert!(l.heartbeat("w1", TTL, Report::default(), t0), "first heartbeat brings it online");
        assert!(!l.heartbeat("w1", TTL, Report::default(), t0 + Duration::from_secs(1)));
        assert!(l.online("w1", t0 + Duration::from_secs(15)));
        assert!(!l.online("w1", t0 + Duration::from_secs(16)));
        l.gone("w1", t0 + Duration::from_secs(2));
        assert!(!l.online("w1", t0 + Duration::from_secs(2)));
        assert!(l.surely_fenced("w1", TTL, t0 + Duration::from_secs(2)), "a clean stop releases at once");
        assert!(!l.heartbeat("w1", TTL, Report::default(), t0 + Duration::from_secs(3)), "a late heartbeat");
        assert!(!l.online("w1", t0 + Duration::from_secs(3)), "does not revive a worker that said goodbye");
        l.registered("w1");
        assert!(l.heartbeat("w1", TTL, Report::default(), t0 + Duration::from_secs(4)));
    }

    #[test]
    fn t20_fenced_only_a_full_ttl_after_the_later_of_last_heard_and_leader_start() {
        let start = Instant::now();
        let l = Liveness::new(start);
        // Never heard by this leader: a full TTL of grace from its start.
        assert!(!l.surely_fenced("w1", TTL, start + Duration::from_secs(14)));
        assert!(l.surely_fenced("w1", TTL, start + TTL));
        let mut l = Liveness::new(start);
        l.heartbeat("w1", Duration::from_secs(3), Report::default(), start + Duration::from_secs(5));
        // Its own (shorter) TTL counts once heard.
        assert!(!l.surely_fenced("w1", TTL, start + Duration::from_secs(7)));
        assert!(l.surely_fenced("w1", TTL, start + Duration::from_secs(8)));
    }
}
