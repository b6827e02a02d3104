//! The runner against scripted units: stage changes, unit order, auto-pause and resume, stop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::FutureExt;

use super::*;
use crate::error::{ErrorCode, UserError};
use crate::worker::unit::UnitKind;

/// A unit that finishes at once, fails `fails` times first, or (forever) runs until stopped.
struct Scripted {
    kind: UnitKind,
    fails: usize,
    forever: bool,
    runs: Arc<AtomicUsize>,
}

impl Unit for Scripted {
    fn kind(&self) -> UnitKind {
        self.kind
    }
    fn run(&mut self, stop: CancellationToken) -> futures::future::BoxFuture<'_, UnitOutcome> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        async move {
            if self.fails > 0 {
                self.fails -= 1;
                return UnitOutcome::Failed(UserError::new(ErrorCode::InvalidArgument, "upstream gone"));
            }
            if self.forever {
                stop.cancelled().await;
                return UnitOutcome::Stopped;
            }
            UnitOutcome::Done
        }
        .boxed()
    }
}

fn unit(kind: UnitKind, fails: usize, forever: bool, runs: &Arc<AtomicUsize>) -> Box<dyn Unit> {
    Box::new(Scripted { kind, fails, forever, runs: runs.clone() })
}

async fn until(r: &Runner, what: &str, f: impl Fn(&SubTaskStatus) -> bool) -> SubTaskStatus {
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = r.status();
        if f(&s) {
            return s;
        }
        assert!(tokio::time::Instant::now() < end, "{what}: last status {s:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn t10_without_units_a_running_subtask_says_so_and_follows_stages() {
    let r = Runner::spawn("t", String::new(), ExpectedStage::Running, Vec::new(), "no unit".into());
    let s = until(&r, "running", |s| s.stage == "Running").await;
    assert_eq!((s.unit.as_str(), s.msg.as_str()), ("", "no unit"));
    r.set_expected(ExpectedStage::Paused, false);
    until(&r, "paused", |s| s.stage == "Paused").await;
    r.set_expected(ExpectedStage::Running, false);
    until(&r, "resumed", |s| s.stage == "Running").await;
    r.set_expected(ExpectedStage::Stopped, false);
    until(&r, "stopped", |s| s.stage == "Stopped").await;
    r.stop().await;
}

#[tokio::test]
async fn t20_units_run_in_order_then_the_subtask_finishes() {
    let runs = Arc::new(AtomicUsize::new(0));
    let units = vec![unit(UnitKind::Dump, 0, false, &runs), unit(UnitKind::Load, 0, false, &runs)];
    let r = Runner::spawn("t", String::new(), ExpectedStage::Running, units, String::new());
    until(&r, "finished", |s| s.stage == "Finished").await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    // Finished is final.
    r.set_expected(ExpectedStage::Paused, false);
    r.set_expected(ExpectedStage::Running, true);
    tokio::task::yield_now().await;
    assert_eq!(r.status().stage, "Finished");
    r.stop().await;
}

#[tokio::test]
async fn t30_a_failed_unit_pauses_until_the_stage_is_written_again() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Runner::spawn(
        "t",
        String::new(),
        ExpectedStage::Running,
        vec![unit(UnitKind::Sync, 1, true, &runs)],
        String::new(),
    );
    let s = until(&r, "auto-paused", |s| s.stage == "Paused").await;
    assert!(s.msg.contains("upstream gone") && s.error_code != 0, "{s:?}");
    assert_eq!(s.expected_stage, "Running");
    // The same expected stage without a rewrite does not resume it.
    r.set_expected(ExpectedStage::Running, false);
    tokio::task::yield_now().await;
    assert_eq!(r.status().stage, "Paused");
    r.set_expected(ExpectedStage::Running, true);
    let s = until(&r, "resumed", |s| s.stage == "Running" && s.unit == "Sync").await;
    assert_eq!(s.error_code, 0);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    r.stop().await;
}

#[tokio::test]
async fn t40_stop_interrupts_a_running_unit() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Runner::spawn(
        "t",
        String::new(),
        ExpectedStage::Running,
        vec![unit(UnitKind::Sync, 0, true, &runs)],
        String::new(),
    );
    until(&r, "running", |s| s.unit == "Sync").await;
    let status = r.status.clone();
    tokio::time::timeout(Duration::from_secs(10), r.stop()).await.expect("stop returns");
    assert_eq!(lock(&status).stage, SubtaskStage::Stopped);
}
