//! Table tests of the optimistic lock (DM's shard-DDL scenarios, reference §9): which DDLs reach
//! the downstream, conflict stages, redirects, partial drops, replays.

use super::*;
use crate::shardddl::schema::parse_create_table;

const BASE: &str = "CREATE TABLE tb (id INT PRIMARY KEY, a INT, b INT)";

fn table(sql: &str) -> Arc<Table> {
    normalize(parse_create_table(sql).unwrap())
}

fn id(n: usize) -> TableId {
    TableId::new(&format!("s{}", n.div_ceil(2)), "db", &format!("t{n}"))
}

/// A lock over `n` tables, all at BASE.
fn lock(n: usize) -> Lock {
    let mut l = Lock::new("t-`db`.`tb`", "t", "db", "tb", table(BASE));
    for i in 1..=n {
        l.add_table(&id(i));
    }
    l
}

/// Table `n` runs `ddls` on top of its current schema in the lock.
fn info(l: &Lock, n: usize, ddls: &[&str], rev: u64) -> SyncInfo {
    let before = l.tables.get(&id(n)).cloned().unwrap_or_else(|| table(BASE));
    let mut after = Vec::new();
    let mut t = (*before).clone();
    for d in ddls {
        t = apply(&t, d).unwrap().table;
        after.push(normalize(t.clone()));
    }
    SyncInfo {
        table: id(n),
        ddls: ddls.iter().map(|s| s.to_string()).collect(),
        before,
        after,
        ignore_conflict: false,
        revision: rev,
    }
}

fn sync(l: &mut Lock, n: usize, ddls: &[&str], rev: u64) -> SyncOutcome {
    let i = info(l, n, ddls, rev);
    l.try_sync(&i)
}

#[test]
fn t10_add_column_everywhere_then_resolved() {
    let mut l = lock(3);
    let add = "ALTER TABLE tb ADD COLUMN c INT";
    let o = sync(&mut l, 1, &[add], 10);
    assert_eq!(
        (o.stage, o.ddls.clone()),
        (ConflictStage::None, vec![add.to_string()]),
        "first add changes the joined schema"
    );
    assert_eq!(l.joined().unwrap().columns.len(), 4);
    assert!(!l.is_resolved());
    l.mark_done(&id(1));
    // Later tables re-add it: emitted again (prev < post), idempotent downstream.
    for (n, rev) in [(2, 11), (3, 12)] {
        let o = sync(&mut l, n, &[add], rev);
        assert_eq!(o.ddls, vec![add.to_string()]);
        assert!(!l.is_resolved(), "table {n}'s operation is not done");
        l.mark_done(&id(n));
    }
    assert!(l.is_resolved());
    assert!(l.ready().values().all(|r| *r));
}

#[test]
fn t20_partial_drop_then_last_drop_reaches_downstream() {
    let mut l = lock(2);
    let drop = "ALTER TABLE tb DROP COLUMN b";
    let o = sync(&mut l, 1, &[drop], 10);
    assert_eq!(o.stage, ConflictStage::None);
    assert!(o.ddls.is_empty(), "the joined schema keeps b while t2 has it: {o:?}");
    assert_eq!(o.cols, vec!["b".to_string()]);
    assert!(o.dropped_downstream.is_empty());
    assert_eq!(l.columns["b"][&id(1)], DropColumnStage::NotDone);
    l.mark_done(&id(1));
    assert_eq!(l.columns_done(&id(1), &["b".into()], &[]), vec![("b".to_string(), false)]);
    assert_eq!(l.columns["b"][&id(1)], DropColumnStage::PartiallyDone);
    // Adding b back on t1 before every table dropped it is an error.
    let o = sync(&mut l, 1, &["ALTER TABLE tb ADD COLUMN b INT"], 11);
    assert_eq!(o.stage, ConflictStage::Error, "{o:?}");
    assert!(o.message.contains("dropped on every table"), "{}", o.message);
    // t2 drops it: the joined schema shrinks, the DROP reaches the downstream.
    let o = sync(&mut l, 2, &[drop], 12);
    assert_eq!(o.ddls, vec![drop.to_string()]);
    assert_eq!(o.dropped_downstream, vec!["b".to_string()]);
    l.mark_done(&id(2));
    assert_eq!(l.columns_done(&id(2), &["b".into()], &["b".into()]), vec![("b".to_string(), true)]);
    assert!(l.columns.is_empty());
    assert!(l.is_resolved());
}

#[test]
fn t30_add_column_with_different_lengths_is_an_error() {
    let mut l = lock(2);
    sync(&mut l, 1, &["ALTER TABLE tb ADD COLUMN c VARCHAR(10)"], 10);
    let o = sync(&mut l, 2, &["ALTER TABLE tb ADD COLUMN c VARCHAR(20)"], 11);
    assert_eq!(o.stage, ConflictStage::Error, "{o:?}");
    assert!(o.message.contains("different field lengths"), "{}", o.message);
    // The table went back to its schema before the Info.
    assert_eq!(l.tables[&id(2)].columns.len(), 3);
}

#[test]
fn t40_rename_waits_for_every_table_then_redirects() {
    let mut l = lock(3);
    let rename = "ALTER TABLE tb RENAME COLUMN a TO a2";
    let o = sync(&mut l, 1, &[rename], 10);
    assert_eq!(o.stage, ConflictStage::SkipAndWaitRedirect, "{o:?}");
    assert!(o.ddls.is_empty());
    assert_eq!(l.conflicted().count(), 1);
    let o = sync(&mut l, 2, &[rename], 11);
    assert_eq!(o.stage, ConflictStage::SkipAndWaitRedirect, "{o:?}");
    // The caller's own operation is a plain one; the others get `resolved` (redirects).
    let o = sync(&mut l, 3, &[rename], 12);
    assert_eq!(o.stage, ConflictStage::None, "{o:?}");
    assert_eq!(o.ddls, vec![rename.to_string()], "the last rename reaches the downstream");
    assert_eq!(o.redirects, vec![id(1), id(2)]);
    assert_eq!(l.conflicted().count(), 0);
    assert!(l.joined().unwrap().column("a2").is_some());
}

#[test]
fn t50_conflicting_renames_are_detected() {
    let mut l = lock(2);
    let o = sync(&mut l, 1, &["ALTER TABLE tb RENAME COLUMN a TO x"], 10);
    assert_eq!(o.stage, ConflictStage::SkipAndWaitRedirect);
    let o = sync(&mut l, 2, &["ALTER TABLE tb RENAME COLUMN a TO y"], 11);
    assert_eq!(o.stage, ConflictStage::Detected, "{o:?}");
    assert!(o.message.contains("conflicts"), "{}", o.message);
    // t2 is back at its old schema; t1's conflict is still there.
    assert!(l.tables[&id(2)].column("a").is_some());
    assert_eq!(l.conflicted().collect::<Vec<_>>(), vec![&id(1)]);
    // The operator unlocks t2 with skip: it keeps its schema; t1 still waits.
    l.unlock_table(&id(2), false, None);
    assert!(!l.is_resolved());
}

#[test]
fn t60_modify_type_needs_every_table() {
    let mut l = lock(2);
    let modify = "ALTER TABLE tb MODIFY COLUMN a VARCHAR(10)";
    let o = sync(&mut l, 1, &[modify], 10);
    assert_eq!(o.stage, ConflictStage::SkipAndWaitRedirect, "{o:?}");
    let o = sync(&mut l, 2, &[modify], 11);
    assert_eq!(o.stage, ConflictStage::None, "{o:?}");
    assert_eq!(o.redirects, vec![id(1)]);
    // Widening is a normal DDL: bigint covers int.
    let o = sync(&mut l, 1, &["ALTER TABLE tb MODIFY COLUMN b BIGINT"], 12);
    assert_eq!((o.stage, o.ddls.len()), (ConflictStage::None, 1));
}

#[test]
fn t70_replayed_info_gives_the_same_answer() {
    let mut l = lock(2);
    let add = "ALTER TABLE tb ADD COLUMN c INT";
    let first = info(&l, 1, &[add], 10);
    let a = l.try_sync(&first);
    let b = l.try_sync(&first);
    assert_eq!(a.stage, b.stage);
    assert_eq!(a.ddls, b.ddls);
    assert_eq!(l.versions[&id(1)], 10);
}

#[test]
fn t80_not_null_without_default_and_ignore_conflict() {
    let mut l = lock(2);
    let add = "ALTER TABLE tb ADD COLUMN c INT NOT NULL";
    let o = sync(&mut l, 1, &[add], 10);
    assert_eq!(
        o.stage,
        ConflictStage::SkipAndWaitRedirect,
        "a NOT NULL column without default can't be missing: {o:?}"
    );
    // With ignore_conflict an error stage moves the table forward anyway.
    let mut l = lock(2);
    sync(&mut l, 1, &["ALTER TABLE tb RENAME COLUMN a TO x"], 10);
    let mut i = info(&l, 2, &["ALTER TABLE tb RENAME COLUMN a TO y"], 11);
    i.ignore_conflict = true;
    let o = l.try_sync(&i);
    assert_eq!(o.stage, ConflictStage::Detected);
    assert!(l.tables[&id(2)].column("y").is_some());
}

#[test]
fn t90_tables_leave_and_join() {
    let mut l = lock(2);
    sync(&mut l, 1, &["ALTER TABLE tb DROP COLUMN b"], 10);
    assert!(l.remove_table(&id(1)));
    assert!(l.columns.is_empty(), "a table that leaves takes its dropped columns with it");
    assert!(!l.remove_table(&id(1)));
    l.add_table(&id(3));
    assert_eq!(l.table_ids().count(), 2);
    assert!(l.is_resolved());
    l.remove_table(&id(2));
    l.remove_table(&id(3));
    assert!(l.is_empty());
}
