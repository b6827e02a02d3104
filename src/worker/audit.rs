//! The worker's record of when it starts and stops working on a source, for the invariant
//! checkers of the failure tests ("at no moment do two workers work on the same source").
//! A start is written before any work on the source begins; a stop after all of it has ended.
//! Lines: `<unix micros> <start|stop> <worker> <source> <epoch>`, and `<unix micros> crash
//! <worker> - 0` when a worker died (written by whoever killed it): it ends all its intervals.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    Start,
    Stop,
    /// The worker died: every interval of it ends here.
    Crash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub micros: u128,
    pub kind: AuditKind,
    pub worker: String,
    pub source: String,
    pub epoch: u64,
}

pub fn now_micros() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

impl AuditEvent {
    pub fn line(&self) -> String {
        let what = match self.kind {
            AuditKind::Start => "start",
            AuditKind::Stop => "stop",
            AuditKind::Crash => "crash",
        };
        format!("{} {what} {} {} {}", self.micros, self.worker, self.source, self.epoch)
    }

    pub fn parse(line: &str) -> Option<AuditEvent> {
        let mut it = line.split_whitespace();
        let micros = it.next()?.parse().ok()?;
        let kind = match it.next()? {
            "start" => AuditKind::Start,
            "stop" => AuditKind::Stop,
            "crash" => AuditKind::Crash,
            _ => return None,
        };
        let worker = it.next()?.to_string();
        let source = it.next()?.to_string();
        let epoch = it.next()?.parse().ok()?;
        Some(AuditEvent { micros, kind, worker, source, epoch })
    }
}

/// Where the events go: nowhere, a file (`--audit-log`), or memory (in-process tests).
#[derive(Clone, Default)]
pub enum AuditSink {
    #[default]
    Off,
    File(PathBuf),
    Memory(Arc<Mutex<Vec<AuditEvent>>>),
}

impl AuditSink {
    pub fn record(&self, kind: AuditKind, worker: &str, source: &str, epoch: u64) {
        let ev =
            AuditEvent { micros: now_micros(), kind, worker: worker.to_string(), source: source.to_string(), epoch };
        match self {
            AuditSink::Off => {}
            AuditSink::File(path) => {
                let res = std::fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut f| {
                    writeln!(f, "{}", ev.line())?;
                    f.sync_data()
                });
                if let Err(e) = res {
                    tracing::warn!(path = %path.display(), error = %e, "cannot write the audit log");
                }
            }
            AuditSink::Memory(m) => m.lock().unwrap_or_else(|e| e.into_inner()).push(ev),
        }
    }
}

/// Checks that no two workers' working intervals on one source overlap; returns the violations.
/// An interval still open at the end lasts until `now`.
pub fn overlaps(events: &[AuditEvent], now: u128) -> Vec<String> {
    use std::collections::BTreeMap;
    // (source) → list of (from, to, worker)
    let mut open: BTreeMap<(String, String), u128> = BTreeMap::new();
    let mut spans: BTreeMap<String, Vec<(u128, u128, String)>> = BTreeMap::new();
    let mut sorted = events.to_vec();
    sorted.sort_by_key(|e| e.micros);
    for e in &sorted {
        let key = (e.source.clone(), e.worker.clone());
        match e.kind {
            AuditKind::Start => {
                open.entry(key).or_insert(e.micros);
            }
            AuditKind::Stop => {
                if let Some(from) = open.remove(&key) {
                    spans.entry(e.source.clone()).or_default().push((from, e.micros, e.worker.clone()));
                }
            }
            AuditKind::Crash => {
                let ended: Vec<_> = open.keys().filter(|(_, w)| *w == e.worker).cloned().collect();
                for k in ended {
                    let from = open.remove(&k).expect("listed");
                    spans.entry(k.0).or_default().push((from, e.micros, e.worker.clone()));
                }
            }
        }
    }
    for ((source, worker), from) in open {
        spans.entry(source).or_default().push((from, now, worker));
    }
    let mut out = Vec::new();
    for (source, mut list) in spans {
        list.sort();
        for pair in list.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if b.0 < a.1 && a.2 != b.2 {
                out.push(format!("source {source}: {} worked {}..{} while {} started at {}", a.2, a.0, a.1, b.2, b.0));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(micros: u128, start: bool, worker: &str, source: &str) -> AuditEvent {
        let kind = if start { AuditKind::Start } else { AuditKind::Stop };
        AuditEvent { micros, kind, worker: worker.into(), source: source.into(), epoch: 1 }
    }

    #[test]
    fn t10_overlap_checker_finds_only_real_overlaps() {
        let ok = [ev(1, true, "w1", "s1"), ev(5, false, "w1", "s1"), ev(6, true, "w2", "s1"), ev(2, true, "w3", "s2")];
        assert!(overlaps(&ok, 100).is_empty());
        let bad = [ev(1, true, "w1", "s1"), ev(3, true, "w2", "s1"), ev(5, false, "w1", "s1")];
        assert_eq!(overlaps(&bad, 100).len(), 1);
        let open = [ev(1, true, "w1", "s1"), ev(50, true, "w2", "s1")];
        assert_eq!(overlaps(&open, 100).len(), 1, "an interval still open counts until now");
        let crash =
            AuditEvent { micros: 40, kind: AuditKind::Crash, worker: "w1".into(), source: "-".into(), epoch: 0 };
        let crashed = [ev(1, true, "w1", "s1"), crash, ev(50, true, "w2", "s1")];
        assert!(overlaps(&crashed, 100).is_empty(), "a crash ends the interval");
        let line = ev(7, false, "w1", "s1").line();
        assert_eq!(AuditEvent::parse(&line), Some(ev(7, false, "w1", "s1")));
    }
}
