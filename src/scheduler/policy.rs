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

    /// Whether `worker` has released `source` (see the module doc). For a source bound to
    /// another worker now, that binding was only made after this one released it, so not
    /// working on it is enough.
    pub fn released(&self, worker: &str, source: &str) -> bool {
        if self.surely_fenced(worker) {
            return true;
        }
        let Some(report) = self.live.report(worker) else {
            return false;
        };
        let works_on_it = report.working.as_ref().is_some_and(|(s, _)| s == source);
        let caught_up = self.view.unbound_at.get(source).is_none_or(|since| report.assignment_revision >= *since);
        !works_on_it && caught_up
    }

    /// Free, and done with the source it last held: only then may it be given a source (its
    /// last binding, the durable record of what it may still hold, is overwritten by the next).
    pub fn free_for_work(&self, worker: &str) -> bool {
        self.may_take(worker, None)
    }

    /// Whether `worker` may be given `source` (or any source): Free, and its last binding is
    /// released — or is that same source (taking it back involves no other worker).
    pub fn may_take(&self, worker: &str, source: Option<&str>) -> bool {
        self.stage(worker) == WorkerStage::Free
            && self.view.last_bounds.get(worker).is_none_or(|l| Some(l.as_str()) == source || self.released(worker, l))
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
    let mut free: BTreeSet<&str> = view.workers.keys().map(String::as_str).filter(|w| i.free_for_work(w)).collect();
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
    // A holder that has not released its source is not free, so it cannot take it back here.
    let mut waiting = Vec::new();
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    for (s, only) in unbound {
        let preferred = i.reserved.get(s).map(String::as_str).or(only).or_else(|| last_bound_to.get(s).copied());
        match (preferred, only) {
            (Some(w), Some(o)) if w != o => {}
            (Some(w), Some(_)) if i.may_take(w, Some(s)) && !taken.contains(w) => {
                taken.insert(w);
                free.remove(w);
                bind(s, w, &mut free);
            }
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
