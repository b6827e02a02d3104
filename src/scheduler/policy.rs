//! The scheduler's decisions, as pure functions over the view, the liveness table and the time:
//! which bindings to drop (workers surely fenced) and which unbound sources to give to which free
//! workers. The coordinator proposes what these return; every command is conditional, so a
//! decision made on a stale view fails instead of overwriting a newer one.
//!
//! Binding priorities are DM's (reference dm-master §6.3/§6.4, without relay and load tasks): the
//! worker a source was last bound to, then any free worker (in name order, so runs repeat).
//!
//! Release rule: a source goes to a worker only when no *other* worker may still work on it. A
//! worker may hold source S if S was its last binding or it reported working on S; it has released
//! S when it is surely fenced (a full TTL unheard), or its last heartbeat says it works on something
//! else *and* it has applied an assignment at least as new as S's unbinding (so no older
//! assignment can make it start S again).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use dm_storage::Command;

use super::liveness::Liveness;
use super::stage::WorkerStage;
use super::view::SchedView;

/// Used for a worker registered without a TTL.
pub const DEFAULT_KEEPALIVE_TTL: Duration = Duration::from_secs(15);

/// What every decision reads.
pub struct Inputs<'a> {
    pub view: &'a SchedView,
    pub live: &'a Liveness,
    pub now: Instant,
    /// Source → the only worker it may go to (a transfer in progress).
    pub reserved: &'a HashMap<String, String>,
}

impl Inputs<'_> {
    fn ttl(&self, worker: &str) -> Duration {
        match self.view.workers.get(worker).map(|w| w.keepalive_ttl_ms) {
            Some(ms) if ms > 0 => Duration::from_millis(ms),
            _ => DEFAULT_KEEPALIVE_TTL,
        }
    }

    pub fn surely_fenced(&self, worker: &str) -> bool {
        self.live.surely_fenced(worker, self.ttl(worker), self.now)
    }

    /// The worker's stage: Bound from the bindings, Free/Offline from liveness.
    pub fn stage(&self, worker: &str) -> WorkerStage {
        if self.view.worker_source.contains_key(worker) {
            WorkerStage::Bound
        } else if self.live.online(worker, self.now) {
            WorkerStage::Free
        } else {
            WorkerStage::Offline
        }
    }

    /// Whether `worker` has released `source` (see the module doc).
    pub fn released(&self, worker: &str, source: &str) -> bool {
        if self.surely_fenced(worker) {
            return true;
        }
        let Some(report) = self.live.report(worker) else {
            return false;
        };
        let works_on_it = report.working.as_ref().is_some_and(|(s, _)| s == source);
        let since = self.view.unbound_at.get(source).copied().unwrap_or(self.view.revision);
        !works_on_it && report.assignment_revision >= since
    }
}

/// Bindings whose worker is surely fenced: unbind them (each at the epoch seen).
pub fn expired_bounds(i: &Inputs<'_>) -> Vec<Command> {
    i.view
        .bounds
        .values()
        .filter(|b| i.surely_fenced(&b.worker))
        .map(|b| Command::UnbindSource { source_id: b.source.clone(), epoch: b.epoch })
        .collect()
}

/// Unbound sources matched to free workers, by DM's priorities, honouring the release rule and
/// reservations.
pub fn plan_bindings(i: &Inputs<'_>) -> Vec<Command> {
    let view = i.view;
    let mut free: BTreeSet<&str> =
        view.workers.keys().map(String::as_str).filter(|w| i.stage(w) == WorkerStage::Free).collect();
    if free.is_empty() {
        return Vec::new();
    }
    // Source → workers that may still hold it.
    let mut holders: HashMap<&str, Vec<&str>> = HashMap::new();
    for (w, s) in &view.last_bounds {
        holders.entry(s.as_str()).or_default().push(w.as_str());
    }
    for w in i.live.known() {
        if let Some((s, _)) = i.live.report(w).and_then(|r| r.working.as_ref()) {
            holders.entry(s.as_str()).or_default().push(w);
        }
    }
    // Unbound sources, each with the one worker it must go to if some worker still holds it.
    let mut unbound: Vec<(&str, Option<&str>)> = Vec::new();
    for s in view.sources.keys().map(String::as_str).filter(|s| !view.bounds.contains_key(*s)) {
        let mut blockers: Vec<&str> =
            holders.get(s).into_iter().flatten().copied().filter(|w| !i.released(w, s)).collect();
        blockers.sort_unstable();
        blockers.dedup();
        match blockers.as_slice() {
            [] => unbound.push((s, None)),
            // Its holder may take it back: no other worker is involved.
            [only] => unbound.push((s, Some(*only))),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let mut bind = |source: &str, worker: &str, free: &mut BTreeSet<&str>| {
        free.remove(worker);
        out.push(Command::BindSource { source_id: source.to_string(), worker: worker.to_string() });
    };
    let last_bound_to: BTreeMap<&str, &str> = view
        .last_bounds
        .iter()
        .filter(|(w, _)| free.contains(w.as_str()))
        .map(|(w, s)| (s.as_str(), w.as_str()))
        .collect();
    let mut waiting = Vec::new();
    for (s, only) in unbound {
        let preferred = i.reserved.get(s).map(String::as_str).or(only).or_else(|| last_bound_to.get(s).copied());
        match (preferred, only) {
            (Some(w), Some(o)) if w != o => {}
            (Some(w), _) if free.contains(w) => bind(s, w, &mut free),
            (Some(_), _) if i.reserved.contains_key(s) || only.is_some() => {}
            _ => waiting.push(s),
        }
    }
    // Any free worker, skipping those reserved for a transfer.
    let reserved_workers: BTreeSet<&str> = i.reserved.values().map(String::as_str).collect();
    for s in waiting {
        let Some(w) = free.iter().copied().find(|w| !reserved_workers.contains(w)) else {
            break;
        };
        bind(s, w, &mut free);
    }
    out
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
