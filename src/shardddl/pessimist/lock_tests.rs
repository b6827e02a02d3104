//! Table tests of the pessimistic lock model: stages, plans, DDL mismatch, sources leaving,
//! recovery from operations.

use super::*;

fn info(source: &str, ddls: &[&str]) -> PessimismInfo {
    PessimismInfo {
        task: "t".into(),
        source: source.into(),
        down_schema: "db".into(),
        down_table: "tb".into(),
        ddls: ddls.iter().map(|d| d.to_string()).collect(),
    }
}

fn sources(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("s{i}")).collect()
}

const ID: &str = "t-`db`.`tb`";
const ADD: &str = "ALTER TABLE tb ADD c INT";

/// The sources the plan's operations go to, with their exec flag; "remove" for a removal.
fn planned(lock: &Lock) -> Vec<String> {
    lock.plan()
        .into_iter()
        .flat_map(|c| match c {
            Command::PutPessimismOps { ops, skip_done: true } => {
                ops.into_iter().map(|o| format!("{}:{}", o.source, if o.exec { "exec" } else { "skip" })).collect()
            }
            Command::RemovePessimismLock { sources, with_infos: false, .. } => vec![format!("remove {sources:?}")],
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn t10_stage_transitions_are_the_table() {
    use LockStage::*;
    let all = [Waiting, Executing, Skipping, Resolved];
    let legal = [
        (Waiting, Executing),
        (Executing, Waiting),
        (Executing, Skipping),
        (Skipping, Resolved),
        (Waiting, Skipping),
        (Waiting, Resolved),
        (Executing, Resolved),
    ];
    for from in all {
        for to in all {
            assert_eq!(from.can_become(to), legal.contains(&(from, to)), "{} -> {}", from.as_str(), to.as_str());
        }
    }
}

#[test]
fn t20_owner_executes_then_others_skip_then_removed() {
    let mut k = LockKeeper::default();
    let all = sources(3);
    let mut stages = vec![];
    let record = |k: &LockKeeper, stages: &mut Vec<LockStage>| {
        let s = k.locks[ID].stage();
        if let Some(prev) = stages.last()
            && *prev != s
        {
            assert!(prev.can_become(s), "{prev:?} -> {s:?}");
        }
        stages.push(s);
    };
    k.try_sync(&info("s2", &[ADD]), &all).unwrap();
    assert_eq!(k.locks[ID].owner, "s2", "the first source to arrive owns the lock");
    record(&k, &mut stages);
    assert!(planned(&k.locks[ID]).is_empty());
    k.try_sync(&info("s1", &[ADD]), &all).unwrap();
    assert_eq!(k.locks[ID].unsynced(), vec!["s3"]);
    k.try_sync(&info("s3", &[ADD]), &all).unwrap();
    record(&k, &mut stages);
    assert_eq!(planned(&k.locks[ID]), vec!["s2:exec"]);
    // A replayed Info changes nothing.
    k.try_sync(&info("s3", &[ADD]), &all).unwrap();
    assert_eq!(planned(&k.locks[ID]), vec!["s2:exec"]);
    k.mark_done(ID, "s2", true);
    record(&k, &mut stages);
    assert_eq!(planned(&k.locks[ID]), vec!["s1:skip", "s3:skip"]);
    k.mark_done(ID, "s1", false);
    assert_eq!(planned(&k.locks[ID]), vec!["s3:skip"]);
    k.mark_done(ID, "s3", false);
    record(&k, &mut stages);
    assert_eq!(planned(&k.locks[ID]), vec![r#"remove ["s1", "s2", "s3"]"#]);
    stages.dedup();
    assert_eq!(stages, vec![LockStage::Waiting, LockStage::Executing, LockStage::Skipping, LockStage::Resolved]);
}

#[test]
fn t30_different_ddls_are_an_error_shown_on_the_lock() {
    let mut k = LockKeeper::default();
    let all = sources(2);
    k.try_sync(&info("s1", &[ADD]), &all).unwrap();
    let e = k.try_sync(&info("s2", &["ALTER TABLE tb ADD d INT"]), &all).unwrap_err();
    assert!(matches!(e, TrySyncError::DdlsDiffer { .. }));
    let lock = &k.locks[ID];
    assert_eq!(lock.stage(), LockStage::Waiting);
    assert!(lock.errors["s2"].contains("must be the same"), "{:?}", lock.errors);
    // The same DDLs in another order and spacing are the same set; the error clears.
    k.try_sync(&info("s2", &[" ALTER TABLE tb ADD c INT "]), &all).unwrap();
    assert!(k.locks[ID].errors.is_empty());
    assert_eq!(k.locks[ID].stage(), LockStage::Executing);
}

#[test]
fn t40_sources_leaving_the_task() {
    type Case<'a> = (&'a str, &'a [&'a str], &'a str, &'a str, &'a [&'a str]);
    let cases: &[Case] = &[
        // (case, ready sources, leaving, owner after, plan after)
        ("non-owner never arrived", &["s1", "s2"], "s3", "s1", &["s1:exec"]),
        ("owner leaves before executing", &["s1", "s2"], "s1", "s2", &[]),
        ("owner leaves, last one ready", &["s1", "s2", "s3"], "s1", "s2", &["s2:exec"]),
        ("everyone else left", &["s1"], "s2", "s1", &["s1:exec"]),
    ];
    for (case, ready, leaving, owner, plan) in cases {
        let mut k = LockKeeper::default();
        let all = sources(3);
        for s in *ready {
            k.try_sync(&info(s, &[ADD]), &all).unwrap();
        }
        assert_eq!(k.remove_source("t", leaving), vec![ID.to_string()], "{case}");
        if *case == "everyone else left" {
            k.remove_source("t", "s3");
        }
        let lock = &k.locks[ID];
        assert_eq!(lock.owner, *owner, "{case}");
        assert_eq!(planned(lock), plan.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{case}");
    }
    // A lock whose every source left is resolved: it is removed.
    let mut k = LockKeeper::default();
    k.try_sync(&info("s1", &[ADD]), &sources(1)).unwrap();
    k.remove_source("t", "s1");
    assert_eq!(k.locks[ID].stage(), LockStage::Resolved);
    // Another task's locks are not touched.
    assert!(k.remove_source("other", "s1").is_empty());
}

#[test]
fn t50_executed_owner_leaving_keeps_the_others_skipping() {
    let mut k = LockKeeper::default();
    let all = sources(2);
    k.try_sync(&info("s1", &[ADD]), &all).unwrap();
    k.try_sync(&info("s2", &[ADD]), &all).unwrap();
    k.mark_done(ID, "s1", true);
    k.remove_source("t", "s1");
    assert_eq!(planned(&k.locks[ID]), vec!["s2:skip"]);
}

#[test]
fn t60_recovery_from_operations() {
    // Owner s2 done (its Info deleted), s1 still has its Info, s3 has a skip op not done.
    let mut k = LockKeeper::default();
    let all = sources(3);
    k.try_sync(&info("s1", &[ADD]), &all).unwrap();
    k.force_synced(ID);
    k.locks.get_mut(ID).unwrap().owner = "s2".into();
    k.mark_done(ID, "s2", true);
    assert_eq!(planned(&k.locks[ID]), vec!["s1:skip", "s3:skip"]);
    assert!(k.mark_done("nope", "s1", false).is_none());
}

#[test]
fn t70_lock_recreated_from_operations_alone() {
    let mut k = LockKeeper::default();
    let all = sources(2);
    let op = |source: &str, exec: bool, done: bool| PessimismOp {
        lock_id: ID.into(),
        task: "t".into(),
        source: source.into(),
        ddls: vec![ADD.into()],
        exec,
        done,
    };
    k.recover_op(&op("s2", true, true), &all);
    k.recover_op(&op("s1", false, false), &all);
    let lock = &k.locks[ID];
    assert_eq!((lock.owner.as_str(), lock.down_schema.as_str(), lock.down_table.as_str()), ("s2", "db", "tb"));
    assert_eq!(planned(lock), vec!["s1:skip"]);
    assert_eq!(split_lock_id("t", "garbage"), (String::new(), "garbage".to_string()));
}

#[test]
fn t80_review_owner_gone_cases() {
    // The owner leaves before anyone else is waiting: the next source to arrive owns the lock.
    let mut k = LockKeeper::default();
    k.try_sync(&info("s1", &[ADD]), &sources(3)).unwrap();
    k.remove_source("t", "s1");
    let rest: Vec<String> = vec!["s2".into(), "s3".into()];
    k.try_sync(&info("s2", &[ADD]), &rest).unwrap();
    k.try_sync(&info("s3", &[ADD]), &rest).unwrap();
    assert_eq!(planned(&k.locks[ID]), vec!["s2:exec"]);
    // Rebuilt from skip operations alone (the executed owner's records left with its subtask):
    // never a second exec.
    let mut k = LockKeeper::default();
    k.try_sync(&info("s2", &[ADD]), &rest).unwrap();
    k.try_sync(&info("s3", &[ADD]), &rest).unwrap();
    for s in ["s2", "s3"] {
        let op = PessimismOp {
            lock_id: ID.into(),
            task: "t".into(),
            source: s.into(),
            ddls: vec![ADD.into()],
            exec: false,
            done: false,
        };
        k.recover_op(&op, &rest);
    }
    assert_eq!(planned(&k.locks[ID]), vec!["s2:skip", "s3:skip"]);
}
