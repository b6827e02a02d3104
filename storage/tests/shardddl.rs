//! Apply and preconditions of the shard-DDL commands: worker writes fenced by the binding epoch,
//! the done/not-done rules of operations, guarded optimistic lock removal, and the records that
//! leave with their subtask or table.

mod common;

use common::*;
use dm_storage::Rejected;
use dm_storage::command::Command;
use dm_storage::shardddl::*;

/// Task `t` on sources s1 (bound to w1) and s2 (bound to w2); returns the epochs.
async fn setup(t: &mut T) -> (u64, u64) {
    for (s, w) in [("s1", "w1"), ("s2", "w2")] {
        t.ok(reg(w, &format!("{w}:8262"))).await;
        t.ok(source(s)).await;
    }
    let e1 = t.ok(bind("s1", "w1")).await;
    let e2 = t.ok(bind("s2", "w2")).await;
    t.ok(task("t", &["s1", "s2"])).await;
    t.ok(Command::PutSubtasks { subtasks: vec![subtask("t", "s1"), subtask("t", "s2")] }).await;
    (e1, e2)
}

fn p_info(source: &str, ddl: &str) -> PessimismInfo {
    PessimismInfo {
        task: "t".into(),
        source: source.into(),
        down_schema: "db".into(),
        down_table: "tb".into(),
        ddls: vec![ddl.into()],
    }
}

fn p_op(source: &str, exec: bool) -> PessimismOp {
    PessimismOp {
        lock_id: lock_id("t", "db", "tb"),
        task: "t".into(),
        source: source.into(),
        ddls: vec!["ALTER TABLE tb ADD c INT".into()],
        exec,
        done: false,
    }
}

#[tokio::test]
async fn t10_pessimism_info_is_fenced_by_subtask_and_epoch() {
    let mut t = T::new();
    let (e1, _) = setup(&mut t).await;
    let info = p_info("s1", "ALTER TABLE tb ADD c INT");
    let r = t.rejected(Command::PutPessimismInfo { info: info.clone(), epoch: e1 + 100 }).await;
    assert!(matches!(r, Rejected::BoundEpochMismatch { .. }), "{r:?}");
    let mut other_task = info.clone();
    other_task.task = "nope".into();
    let r = t.rejected(Command::PutPessimismInfo { info: other_task, epoch: e1 }).await;
    assert!(matches!(r, Rejected::SubtaskNotFound { .. }), "{r:?}");

    t.ok(Command::PutPessimismInfo { info: info.clone(), epoch: e1 }).await;
    let rev = t.store.reader.get::<PessimismInfos>(&("t".into(), "s1".into())).unwrap().unwrap().mod_revision;
    // A replayed Info changes nothing (no new revision).
    let (_, out) = t.run(Command::PutPessimismInfo { info, epoch: e1 }).await;
    assert!(out.is_ok());
    let again = t.store.reader.get::<PessimismInfos>(&("t".into(), "s1".into())).unwrap().unwrap().mod_revision;
    assert_eq!(rev, again);
}

#[tokio::test]
async fn t20_done_marks_the_op_and_deletes_the_info_once() {
    let mut t = T::new();
    let (e1, _) = setup(&mut t).await;
    let lock = lock_id("t", "db", "tb");
    t.ok(Command::PutPessimismInfo { info: p_info("s1", "ALTER TABLE tb ADD c INT"), epoch: e1 }).await;
    let done = Command::DonePessimismOp { task: "t".into(), source: "s1".into(), lock_id: lock.clone(), epoch: e1 };
    // An ack for an operation that does not exist.
    let r = t.rejected(done.clone()).await;
    assert!(matches!(r, Rejected::ShardDdlOpNotFound { .. }), "{r:?}");

    t.ok(Command::PutPessimismOps { ops: vec![p_op("s1", true)], skip_done: true }).await;
    let r = t
        .rejected(Command::DonePessimismOp { task: "t".into(), source: "s1".into(), lock_id: lock.clone(), epoch: 1 })
        .await;
    assert!(matches!(r, Rejected::BoundEpochMismatch { .. }), "{r:?}");
    t.ok(done.clone()).await;
    let key = ("t".to_string(), "s1".to_string());
    assert!(t.store.reader.get::<PessimismOps>(&key).unwrap().unwrap().value.done);
    assert!(t.store.reader.get::<PessimismInfos>(&key).unwrap().is_none());
    let before = t.dump();
    t.ok(done).await;
    assert_eq!(before, t.dump(), "a replayed ack changes nothing");

    // While the op is done, a new Info waits for the lock to go (DM's PutInfoIfOpNotDone).
    let r = t.rejected(Command::PutPessimismInfo { info: p_info("s1", "ALTER TABLE tb ADD d INT"), epoch: e1 }).await;
    assert!(matches!(r, Rejected::ShardDdlOpDone { .. }), "{r:?}");
    // skip_done keeps a done op; without it the op is replaced.
    t.ok(Command::PutPessimismOps { ops: vec![p_op("s1", true)], skip_done: true }).await;
    assert!(t.store.reader.get::<PessimismOps>(&key).unwrap().unwrap().value.done);
    t.ok(Command::RemovePessimismLock {
        task: "t".into(),
        lock_id: lock,
        sources: vec!["s1".into()],
        with_infos: true,
    })
    .await;
    assert!(t.store.reader.get::<PessimismOps>(&key).unwrap().is_none());
}

fn routed(table: &str) -> RoutedTable {
    RoutedTable { up_schema: "db".into(), up_table: table.into(), down_schema: "db".into(), down_table: "tb".into() }
}

fn tables(source: &str, names: &[&str]) -> SourceTablesRecord {
    SourceTablesRecord { task: "t".into(), source: source.into(), tables: names.iter().map(|n| routed(n)).collect() }
}

fn o_info(source: &str, table: &str, ddl: &str) -> OptimismInfo {
    OptimismInfo {
        task: "t".into(),
        source: source.into(),
        up_schema: "db".into(),
        up_table: table.into(),
        down_schema: "db".into(),
        down_table: "tb".into(),
        ddls: vec![ddl.into()],
        table_before: "CREATE TABLE tb (a INT)".into(),
        tables_after: vec![],
        ignore_conflict: false,
    }
}

fn o_op(source: &str, table: &str, info_revision: u64) -> OptimismOp {
    OptimismOp {
        lock_id: lock_id("t", "db", "tb"),
        task: "t".into(),
        source: source.into(),
        up_schema: "db".into(),
        up_table: table.into(),
        ddls: vec![],
        stage: ConflictStage::None,
        message: String::new(),
        done: false,
        cols: vec![],
        info_revision,
    }
}

#[tokio::test]
async fn t30_optimism_info_needs_a_listed_table_and_ops_answer_the_latest_info() {
    let mut t = T::new();
    let (e1, _) = setup(&mut t).await;
    let r =
        t.rejected(Command::PutOptimismInfo { info: o_info("s1", "t1", "ALTER TABLE t1 ADD c INT"), epoch: e1 }).await;
    assert!(matches!(r, Rejected::ShardTableUnknown { .. }), "{r:?}");
    let r = t.rejected(Command::PutSourceTables { tables: tables("s1", &["t1", "t2"]), epoch: e1 - 1 }).await;
    assert!(matches!(r, Rejected::BoundEpochMismatch { .. }), "{r:?}");
    t.ok(Command::PutSourceTables { tables: tables("s1", &["t1", "t2"]), epoch: e1 }).await;
    let first =
        t.ok(Command::PutOptimismInfo { info: o_info("s1", "t1", "ALTER TABLE t1 ADD c INT"), epoch: e1 }).await;
    let key = table_key("t", "s1", "db", "t1");

    t.ok(Command::PutOptimismOps { ops: vec![o_op("s1", "t1", first)], skip_done: true }).await;
    let r = t.rejected(Command::DoneOptimismOp { table: key.clone(), info_revision: first + 1, epoch: e1 }).await;
    assert!(matches!(r, Rejected::ShardDdlOpNotFound { .. }), "{r:?}");
    let pending = |t: &T| {
        t.store.reader.list::<OptimismPendingOps>().unwrap().into_iter().map(|(k, r)| (k, r.value)).collect::<Vec<_>>()
    };
    assert_eq!(pending(&t), vec![(key.clone(), first)], "a written operation is pending");
    t.ok(Command::DoneOptimismOp { table: key.clone(), info_revision: first, epoch: e1 }).await;
    assert!(pending(&t).is_empty(), "a done operation is not");
    // skip_done: the done op is not replaced by the same answer again.
    t.ok(Command::PutOptimismOps { ops: vec![o_op("s1", "t1", first)], skip_done: true }).await;
    assert!(t.store.reader.get::<OptimismOps>(&key).unwrap().unwrap().value.done);

    // A newer Info: an op answering the old one is skipped; the answer to the new one replaces
    // the done op.
    let second =
        t.ok(Command::PutOptimismInfo { info: o_info("s1", "t1", "ALTER TABLE t1 ADD d INT"), epoch: e1 }).await;
    let before = t.dump();
    t.ok(Command::PutOptimismOps { ops: vec![o_op("s1", "t1", first)], skip_done: false }).await;
    assert_eq!(before, t.dump());
    t.ok(Command::PutOptimismOps { ops: vec![o_op("s1", "t1", second)], skip_done: true }).await;
    let op = t.store.reader.get::<OptimismOps>(&key).unwrap().unwrap().value;
    assert!(!op.done && op.info_revision == second);

    // Lock removal is guarded by the Info revisions the keeper saw.
    let lock = lock_id("t", "db", "tb");
    let r = t
        .rejected(Command::RemoveOptimismLock {
            task: "t".into(),
            lock_id: lock.clone(),
            tables: vec![(key.clone(), first)],
        })
        .await;
    assert!(matches!(r, Rejected::ShardDdlInfoChanged { .. }), "{r:?}");
    t.ok(Command::RemoveOptimismLock { task: "t".into(), lock_id: lock, tables: vec![(key.clone(), second)] }).await;
    assert!(t.store.reader.get::<OptimismInfos>(&key).unwrap().is_none());
    assert!(t.store.reader.get::<OptimismOps>(&key).unwrap().is_none());
    assert!(pending(&t).is_empty());
}

#[tokio::test]
async fn t40_records_leave_with_their_table_and_their_subtask() {
    let mut t = T::new();
    let (e1, _) = setup(&mut t).await;
    let lock = lock_id("t", "db", "tb");
    t.ok(Command::PutSourceTables { tables: tables("s1", &["t1", "t2"]), epoch: e1 }).await;
    for tb in ["t1", "t2"] {
        let rev = t.ok(Command::PutOptimismInfo { info: o_info("s1", tb, "ALTER TABLE x DROP b"), epoch: e1 }).await;
        t.ok(Command::PutOptimismOps { ops: vec![o_op("s1", tb, rev)], skip_done: true }).await;
    }
    let dropped = |tb: &str| DroppedTable {
        source: "s1".into(),
        up_schema: "db".into(),
        up_table: tb.into(),
        stage: DropColumnStage::NotDone,
    };
    t.ok(Command::SetDroppedColumn {
        task: "t".into(),
        lock_id: lock.clone(),
        column: "b".into(),
        tables: vec![dropped("t1"), dropped("t2")],
    })
    .await;
    // t2 leaves the source's tables: its Info, op and dropped-column entry go.
    t.ok(Command::PutSourceTables { tables: tables("s1", &["t1"]), epoch: e1 }).await;
    let r = &t.store.reader;
    assert!(r.get::<OptimismInfos>(&table_key("t", "s1", "db", "t2")).unwrap().is_none());
    assert!(r.get::<OptimismOps>(&table_key("t", "s1", "db", "t2")).unwrap().is_none());
    let cols = r.get::<OptimismDroppedColumns>(&("t".into(), lock.clone())).unwrap().unwrap().value;
    assert_eq!(cols, vec![DroppedColumn { column: "b".into(), tables: vec![dropped("t1")] }]);

    t.ok(Command::PutPessimismInfo { info: p_info("s1", "ALTER TABLE tb ADD c INT"), epoch: e1 }).await;
    // stop-task on s1 takes every shard-DDL record of the subtask with it.
    t.ok(Command::RemoveSubtasks { task: "t".into(), sources: vec!["s1".into()] }).await;
    let r = &t.store.reader;
    assert!(r.list::<PessimismInfos>().unwrap().is_empty());
    assert!(r.list::<OptimismSourceTables>().unwrap().is_empty());
    assert!(r.list::<OptimismInfos>().unwrap().is_empty());
    assert!(r.list::<OptimismOps>().unwrap().is_empty());
    assert!(r.list::<OptimismDroppedColumns>().unwrap().is_empty());
}
