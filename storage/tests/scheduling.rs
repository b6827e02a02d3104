//! Apply and preconditions of the scheduler's commands: workers, sources, bindings with epochs,
//! tasks and subtasks, and the indexes apply keeps in step.

use dm_storage::scheduling::*;
use dm_storage::{Command, CommandOutput, Rejected};

mod common;

use common::*;

#[tokio::test]
async fn t10_worker_registration_is_idempotent_per_address() {
    let mut t = T::new();
    t.ok(reg("w1", "127.0.0.1:8262")).await;
    let (_, again) = t.run(reg("w1", "127.0.0.1:8262")).await;
    assert!(again.is_ok());
    let e = t.rejected(reg("w1", "127.0.0.1:9999")).await;
    assert!(matches!(e, Rejected::WorkerNameTaken { ref addr, .. } if addr == "127.0.0.1:8262"), "{e:?}");
    assert!(e.to_string().contains("already exists"), "{e}");
}

#[tokio::test]
async fn t20_bind_checks_both_sides_and_returns_its_epoch() {
    let mut t = T::new();
    t.ok(reg("w1", "a1")).await;
    t.ok(reg("w2", "a2")).await;
    assert!(matches!(t.rejected(bind("s1", "w1")).await, Rejected::SourceNotFound { .. }));
    t.ok(source("s1")).await;
    t.ok(source("s2")).await;
    assert!(matches!(t.rejected(source("s1")).await, Rejected::SourceExists { .. }));
    assert!(matches!(t.rejected(bind("s1", "w9")).await, Rejected::WorkerNotFound { .. }));
    let (rev, out) = t.run(bind("s1", "w1")).await;
    assert_eq!(out, Ok(CommandOutput::Bound { epoch: rev }));
    assert!(matches!(t.rejected(bind("s1", "w2")).await, Rejected::SourceBound { .. }));
    assert!(matches!(t.rejected(bind("s2", "w1")).await, Rejected::WorkerBound { .. }));
    let r = &t.store.reader;
    assert_eq!(r.get::<Bounds>(&"s1".into()).unwrap().unwrap().value.epoch, rev);
    assert_eq!(r.get::<WorkerBounds>(&"w1".into()).unwrap().unwrap().value, "s1");
    assert_eq!(r.get::<LastBounds>(&"w1".into()).unwrap().unwrap().value, "s1");
}

#[tokio::test]
async fn t30_unbind_needs_the_current_epoch_and_keeps_the_last_bound() {
    let mut t = T::new();
    for w in ["w1", "w2", "w3"] {
        t.ok(reg(w, w)).await;
    }
    t.ok(source("s1")).await;
    let epoch = t.ok(bind("s1", "w1")).await;
    let stale = Command::UnbindSource { source_id: "s1".into(), epoch: epoch - 1 };
    assert!(matches!(t.rejected(stale).await, Rejected::BoundEpochMismatch { actual: Some(e), .. } if e == epoch));
    t.ok(Command::UnbindSource { source_id: "s1".into(), epoch }).await;
    let r = &t.store.reader;
    assert!(r.get::<WorkerBounds>(&"w1".into()).unwrap().is_none());
    assert!(r.get::<Bounds>(&"s1".into()).unwrap().is_none());
    assert_eq!(r.get::<LastBounds>(&"w1".into()).unwrap().unwrap().value, "s1", "last bound kept");
    let moved = t.ok(bind("s1", "w2")).await;
    assert!(moved > epoch, "a new binding has a newer epoch");
    // The old epoch no longer unbinds it.
    let again = Command::UnbindSource { source_id: "s1".into(), epoch };
    assert!(matches!(t.rejected(again).await, Rejected::BoundEpochMismatch { .. }));
    t.ok(Command::UnbindSource { source_id: "s1".into(), epoch: moved }).await;
    // A bound worker cannot be removed; an unbound one can.
    t.ok(bind("s1", "w3")).await;
    assert!(matches!(t.rejected(Command::RemoveWorker { name: "w3".into() }).await, Rejected::WorkerBound { .. }));
    t.ok(Command::RemoveWorker { name: "w1".into() }).await;
    assert!(t.store.reader.get::<LastBounds>(&"w1".into()).unwrap().is_none());
}

#[tokio::test]
async fn t40_subtasks_keep_the_source_index_and_block_source_removal() {
    let mut t = T::new();
    t.ok(reg("w1", "a")).await;
    t.ok(source("s1")).await;
    t.ok(source("s2")).await;
    t.ok(bind("s1", "w1")).await;
    let put = |sts: Vec<SubtaskRecord>| Command::PutSubtasks { subtasks: sts };
    assert!(matches!(t.rejected(put(vec![subtask("t1", "s1")])).await, Rejected::TaskNotFound { .. }));
    t.ok(task("t1", &["s1", "s2"])).await;
    assert!(matches!(t.rejected(task("t1", &["s1"])).await, Rejected::TaskExists { .. }));
    // All or nothing: the second item's missing source rejects the first too.
    let bad = put(vec![subtask("t1", "s1"), subtask("t1", "s9")]);
    assert!(matches!(t.rejected(bad).await, Rejected::SourceNotFound { .. }));
    t.ok(put(vec![subtask("t1", "s1"), subtask("t1", "s2")])).await;
    assert!(matches!(t.rejected(put(vec![subtask("t1", "s1")])).await, Rejected::SubtaskExists { .. }));
    let tasks = t.store.reader.get::<SourceTasks>(&"s1".into()).unwrap().unwrap().value;
    assert_eq!(tasks.into_iter().collect::<Vec<_>>(), vec!["t1".to_string()]);
    let e = t.rejected(Command::RemoveSource { source_id: "s1".into() }).await;
    assert!(e.to_string().contains("stop-task"), "{e}");

    let pause =
        Command::SetSubtaskStage { task: "t1".into(), sources: vec!["s1".into()], stage: ExpectedStage::Paused };
    t.ok(pause).await;
    let st = t.store.reader.get::<Subtasks>(&("s1".into(), "t1".into())).unwrap().unwrap();
    assert_eq!(st.value.stage, ExpectedStage::Paused);
    let unknown =
        Command::SetSubtaskStage { task: "t1".into(), sources: vec!["s9".into()], stage: ExpectedStage::Running };
    assert!(matches!(t.rejected(unknown).await, Rejected::SubtaskNotFound { .. }));

    assert!(matches!(t.rejected(Command::RemoveTask { name: "t1".into() }).await, Rejected::TaskHasSubtasks { .. }));
    t.ok(Command::RemoveSubtasks { task: "t1".into(), sources: vec!["s1".into(), "s2".into()] }).await;
    assert!(t.store.reader.list::<SourceTasks>().unwrap().is_empty());
    t.ok(Command::RemoveTask { name: "t1".into() }).await;
    // Removing the source drops its binding and its worker's last bound.
    t.ok(Command::RemoveSource { source_id: "s1".into() }).await;
    let r = &t.store.reader;
    assert!(r.list::<Bounds>().unwrap().is_empty());
    assert!(r.list::<WorkerBounds>().unwrap().is_empty());
    assert!(r.list::<LastBounds>().unwrap().is_empty());
}
