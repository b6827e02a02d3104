//! Tests of the optimistic keeper without a cluster: the commands it writes for Infos and done
//! operations, strict mode, and the rebuild writing only what differs from the stored state.

use super::*;
use dm_storage::shardddl::{DropColumnStage, DroppedColumn};

const BEFORE: &str = "CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT)";

fn keeper(tables: usize) -> OptimistKeeper {
    let mut k = OptimistKeeper::default();
    let routes = (1..=tables)
        .map(|i| RoutedTable {
            up_schema: "shop".into(),
            up_table: format!("t{i}"),
            down_schema: "shop".into(),
            down_table: "tb".into(),
        })
        .collect();
    k.source_tables.insert(("task".into(), "s1".into()), routes);
    k
}

fn info(table: usize, ddl: &str) -> OptimismInfo {
    OptimismInfo {
        task: "task".into(),
        source: "s1".into(),
        up_schema: "shop".into(),
        up_table: format!("t{table}"),
        down_schema: "shop".into(),
        down_table: "tb".into(),
        ddls: vec![ddl.into()],
        table_before: BEFORE.into(),
        tables_after: vec![],
        ignore_conflict: false,
    }
}

/// The operations a plan writes.
fn ops(plan: &Plan) -> Vec<OptimismOp> {
    plan.cmds
        .iter()
        .flat_map(|c| match c {
            Command::PutOptimismOps { ops, .. } => ops.clone(),
            _ => vec![],
        })
        .collect()
}

#[test]
fn t10_an_info_gets_its_operation_and_the_last_one_removes_the_lock() {
    let mut k = keeper(2);
    let add = "ALTER TABLE t ADD COLUMN c INT";
    let p = k.handle_info(&info(1, add), 10);
    let o = ops(&p);
    assert_eq!(o.len(), 1);
    assert_eq!((o[0].stage, o[0].ddls.clone(), o[0].info_revision), (ConflictStage::None, vec![add.to_string()], 10));
    let mut done = o[0].clone();
    done.done = true;
    assert!(k.handle_done(&done).unwrap().cmds.is_empty(), "t2 has not added c yet");
    let p = k.handle_info(&info(2, add), 11);
    let mut done = ops(&p)[0].clone();
    done.done = true;
    let p = k.handle_done(&done).unwrap();
    match &p.cmds[..] {
        [Command::RemoveOptimismLock { tables, .. }] => {
            assert_eq!(tables.len(), 2);
            assert!(
                tables.iter().any(|(key, rev)| key.3 == "t2" && *rev == 11),
                "guarded by the Infos seen: {tables:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn t20_strict_mode_turns_a_conflict_into_an_error() {
    let rename = "ALTER TABLE t RENAME COLUMN a TO x";
    let mut k = keeper(2);
    assert_eq!(ops(&k.handle_info(&info(1, rename), 10))[0].stage, ConflictStage::SkipAndWaitRedirect);
    let mut k = keeper(2);
    k.strict.entry("task".into()).or_default().insert("s1".into());
    let o = &ops(&k.handle_info(&info(1, rename), 10))[0];
    assert_eq!(o.stage, ConflictStage::Error);
    assert!(o.message.starts_with("strict-optimistic-shard-mode"), "{}", o.message);
}

#[test]
fn t30_an_info_that_cannot_be_read_is_an_error_operation() {
    let mut k = keeper(1);
    let o = &ops(&k.handle_info(&info(1, "ALTER TABLE t DROP COLUMN nope"), 10))[0];
    assert_eq!(o.stage, ConflictStage::Error);
    assert!(o.message.contains("nope"), "{}", o.message);
    assert!(k.locks.is_empty());
}

#[test]
fn t40_rebuild_writes_only_what_differs_and_restores_dropped_columns() {
    let mut live = keeper(3);
    let drop = "ALTER TABLE t DROP COLUMN b";
    let add = "ALTER TABLE t ADD COLUMN c INT";
    let p1 = live.handle_info(&info(1, drop), 10);
    let p2 = live.handle_info(&info(2, add), 11);
    let mut stored_ops: BTreeMap<TableKey, OptimismOp> = BTreeMap::new();
    let mut first = ops(&p1)[0].clone();
    first.done = true;
    stored_ops.insert(first.key(), first);
    // t2's operation was decided but never written (the leader died): the rebuild writes it.
    let stored = Stored {
        subtasks: vec![],
        source_tables: live.source_tables.clone().into_iter().collect(),
        infos: vec![(10, info(1, drop)), (11, info(2, add))],
        ops: stored_ops,
        dropped: vec![(
            ("task".into(), "task-`shop`.`tb`".into()),
            vec![DroppedColumn {
                column: "b".into(),
                tables: vec![DroppedTable {
                    source: "s1".into(),
                    up_schema: "shop".into(),
                    up_table: "t1".into(),
                    stage: DropColumnStage::PartiallyDone,
                }],
            }],
        )],
    };
    let mut fresh = OptimistKeeper::default();
    let plans = rebuild::rebuild(&mut fresh, stored);
    let written: Vec<OptimismOp> = plans.iter().flat_map(ops).collect();
    assert_eq!(written, ops(&p2), "only t2's missing operation is written");
    let lock = &fresh.locks["task-`shop`.`tb`"];
    assert_eq!(lock.columns["b"][&TableId::new("s1", "shop", "t1")], DropColumnStage::PartiallyDone);
}
