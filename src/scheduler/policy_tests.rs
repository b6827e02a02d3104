//! Table-driven tests of the binding decisions: priorities, the release rule, reservations and
//! expiry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dm_storage::Command;
use dm_storage::scheduling::{BoundRecord, SourceRecord, WorkerRecord};

use super::*;
use crate::scheduler::liveness::Report;

const TTL: Duration = Duration::from_secs(15);

/// A scenario: registered workers, sources, bindings (source, worker), last bounds (worker,
/// source), heartbeats (worker, working source, assignment revision, seconds before now).
struct Case {
    name: &'static str,
    workers: &'static [&'static str],
    sources: &'static [&'static str],
    bounds: &'static [(&'static str, &'static str)],
    last: &'static [(&'static str, &'static str)],
    beats: &'static [(&'static str, Option<&'static str>, u64, u64)],
    reserved: &'static [(&'static str, &'static str)],
    /// Seconds since the leader started.
    uptime: u64,
    want_binds: &'static [(&'static str, &'static str)],
    want_unbinds: &'static [&'static str],
}

const BASE: Case = Case {
    name: "",
    workers: &[],
    sources: &[],
    bounds: &[],
    last: &[],
    beats: &[],
    reserved: &[],
    uptime: 100,
    want_binds: &[],
    want_unbinds: &[],
};

fn run(c: &Case) {
    let start = Instant::now();
    let now = start + Duration::from_secs(c.uptime);
    let mut view = SchedView { revision: 50, ..Default::default() };
    for w in c.workers {
        view.workers
            .insert(w.to_string(), WorkerRecord { name: w.to_string(), addr: String::new(), keepalive_ttl_ms: 15_000 });
    }
    for s in c.sources {
        view.sources.insert(s.to_string(), SourceRecord { source_id: s.to_string(), config: String::new() });
        view.unbound_at.insert(s.to_string(), 40);
    }
    for (s, w) in c.bounds {
        view.bounds.insert(s.to_string(), BoundRecord { source: s.to_string(), worker: w.to_string(), epoch: 10 });
        view.worker_source.insert(w.to_string(), s.to_string());
        view.unbound_at.remove(*s);
    }
    for (w, s) in c.last {
        view.last_bounds.insert(w.to_string(), s.to_string());
    }
    let mut live = Liveness::new(start);
    for (w, working, rev, ago) in c.beats {
        let report =
            Report { working: working.map(|s| (s.to_string(), 10)), assignment_revision: *rev, ..Default::default() };
        live.heartbeat(w, TTL, report, now - Duration::from_secs(*ago));
    }
    let reserved: HashMap<String, String> = c.reserved.iter().map(|(s, w)| (s.to_string(), w.to_string())).collect();
    let i = Inputs { view: &view, live: &live, now, reserved: &reserved };
    let binds: Vec<(String, String)> = plan_bindings(&i)
        .into_iter()
        .map(|c| match c {
            Command::BindSource { source_id, worker } => (source_id, worker),
            other => panic!("{other:?}"),
        })
        .collect();
    let want: Vec<(String, String)> = c.want_binds.iter().map(|(s, w)| (s.to_string(), w.to_string())).collect();
    assert_eq!(binds, want, "{}: bindings", c.name);
    let unbinds: Vec<String> = expired_bounds(&i)
        .into_iter()
        .map(|c| match c {
            Command::UnbindSource { source_id, .. } => source_id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(unbinds, c.want_unbinds.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{}: unbinds", c.name);
}

#[test]
fn t10_binding_priorities_and_release_rule() {
    let cases = [
        Case {
            name: "a source goes to any free worker, in name order",
            workers: &["w2", "w1"],
            sources: &["s1"],
            beats: &[("w1", None, 50, 0), ("w2", None, 50, 0)],
            want_binds: &[("s1", "w1")],
            ..BASE
        },
        Case {
            name: "last bound wins over name order",
            workers: &["w1", "w2"],
            sources: &["s1"],
            last: &[("w2", "s1")],
            beats: &[("w1", None, 50, 0), ("w2", None, 50, 0)],
            want_binds: &[("s1", "w2")],
            ..BASE
        },
        Case {
            name: "no free worker: the source waits",
            workers: &["w1"],
            sources: &["s1", "s2"],
            bounds: &[("s1", "w1")],
            beats: &[("w1", Some("s1"), 50, 0)],
            ..BASE
        },
        Case {
            name: "a worker not heard from by this leader is offline, not free",
            workers: &["w1"],
            sources: &["s1"],
            ..BASE
        },
        Case {
            name: "more sources than workers: each worker gets one",
            workers: &["w1", "w2"],
            sources: &["s1", "s2", "s3"],
            beats: &[("w1", None, 50, 0), ("w2", None, 50, 0)],
            want_binds: &[("s1", "w1"), ("s2", "w2")],
            ..BASE
        },
        Case {
            name: "an alive previous holder still working on it: the source can only go back to it",
            workers: &["w1", "w2"],
            sources: &["s1"],
            last: &[("w1", "s1")],
            beats: &[("w1", Some("s1"), 50, 0), ("w2", None, 50, 0)],
            want_binds: &[("s1", "w1")],
            ..BASE
        },
        Case {
            name: "a previous holder bound elsewhere and still working on it blocks the source",
            workers: &["w1", "w2"],
            sources: &["s1", "s2"],
            bounds: &[("s2", "w1")],
            last: &[("w1", "s2")],
            beats: &[("w1", Some("s1"), 50, 0), ("w2", None, 50, 0)],
            ..BASE
        },
        Case {
            name: "two workers may hold it: nobody gets it",
            workers: &["w1", "w2", "w3"],
            sources: &["s1"],
            last: &[("w1", "s1")],
            beats: &[("w1", None, 30, 0), ("w2", Some("s1"), 50, 0), ("w3", None, 50, 0)],
            ..BASE
        },
        Case {
            name: "a previous holder that has not applied the unbinding keeps it from other workers",
            workers: &["w1", "w2"],
            sources: &["s1"],
            last: &[("w1", "s1")],
            beats: &[("w1", None, 39, 0), ("w2", None, 50, 0)],
            want_binds: &[("s1", "w1")],
            ..BASE
        },
        Case {
            name: "the previous holder may take it back even before releasing",
            workers: &["w1"],
            sources: &["s1"],
            last: &[("w1", "s1")],
            beats: &[("w1", Some("s1"), 30, 0)],
            want_binds: &[("s1", "w1")],
            ..BASE
        },
        Case {
            name: "a released previous holder lets it go elsewhere",
            workers: &["w1", "w2"],
            sources: &["s1", "s2"],
            bounds: &[("s2", "w1")],
            last: &[("w1", "s2"), ("w2", "s9")],
            beats: &[("w1", Some("s2"), 40, 0), ("w2", None, 50, 0)],
            want_binds: &[("s1", "w2")],
            ..BASE
        },
        Case {
            name: "an unheard previous holder blocks until a full TTL after leader start",
            workers: &["w1", "w2"],
            sources: &["s1"],
            last: &[("w1", "s1")],
            beats: &[("w2", None, 50, 0)],
            uptime: 14,
            ..BASE
        },
        Case {
            name: "after a full TTL the unheard previous holder is surely fenced",
            workers: &["w1", "w2"],
            sources: &["s1"],
            last: &[("w1", "s1")],
            beats: &[("w2", None, 50, 0)],
            uptime: 15,
            want_binds: &[("s1", "w2")],
            ..BASE
        },
        Case {
            name: "a reserved source waits for its worker and others skip that worker",
            workers: &["w1", "w2"],
            sources: &["s1", "s2"],
            reserved: &[("s1", "w2")],
            beats: &[("w1", None, 50, 0), ("w2", None, 50, 0)],
            want_binds: &[("s1", "w2"), ("s2", "w1")],
            ..BASE
        },
        Case {
            name: "a worker still releasing its last source (a transfer) is not free for another",
            workers: &["w1", "w2"],
            sources: &["s1", "s2"],
            reserved: &[("s1", "w2")],
            last: &[("w1", "s1")],
            beats: &[("w1", Some("s1"), 50, 0), ("w2", None, 50, 0)],
            ..BASE
        },
        Case {
            name: "once released, the transfer completes and the old holder is free again",
            workers: &["w1", "w2"],
            sources: &["s1", "s2"],
            reserved: &[("s1", "w2")],
            last: &[("w1", "s1")],
            beats: &[("w1", None, 40, 0), ("w2", None, 50, 0)],
            want_binds: &[("s1", "w2"), ("s2", "w1")],
            ..BASE
        },
        Case {
            name: "a bound worker silent for a TTL is unbound",
            workers: &["w1", "w2"],
            sources: &["s1", "s2"],
            bounds: &[("s1", "w1"), ("s2", "w2")],
            beats: &[("w1", Some("s1"), 50, 15), ("w2", Some("s2"), 50, 14)],
            want_unbinds: &["s1"],
            ..BASE
        },
        Case {
            name: "after a leader change a bound worker keeps its source for a full TTL",
            workers: &["w1"],
            sources: &["s1"],
            bounds: &[("s1", "w1")],
            uptime: 14,
            ..BASE
        },
    ];
    for c in &cases {
        run(c);
    }
}

#[test]
fn t20_stage_is_derived_from_bindings_and_liveness() {
    let start = Instant::now();
    let mut view = SchedView::default();
    view.worker_source.insert("w1".into(), "s1".into());
    let mut live = Liveness::new(start);
    live.heartbeat("w2", TTL, Report::default(), start);
    let reserved = HashMap::new();
    let i = Inputs { view: &view, live: &live, now: start, reserved: &reserved };
    assert_eq!(i.stage("w1"), WorkerStage::Bound);
    assert_eq!(i.stage("w2"), WorkerStage::Free);
    assert_eq!(i.stage("w3"), WorkerStage::Offline);
}
