//! The optimistic lock model, without I/O (DM's optimism Lock, reference dm-master §8.3): one
//! lock per downstream table over every upstream table routed to it. The lock keeps each
//! table's schema, the joined schema (the lattice join of all of them, the one the downstream
//! must have), the tables caught in a conflicting DDL, each table's done flag and the columns
//! some tables dropped while others still have them.
//!
//! `try_sync` takes one Info (a table's schema before and after each of its DDLs) and decides
//! which DDLs reach the downstream and the table's conflict stage.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dm_storage::shardddl::{ConflictStage, DropColumnStage};

use super::bag::Bag;
use crate::shardddl::schema::{Change, Table, apply, compare, join};

/// One upstream table of a lock.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableId {
    pub source: String,
    pub schema: String,
    pub table: String,
}

impl TableId {
    pub fn new(source: &str, schema: &str, table: &str) -> Self {
        TableId { source: source.into(), schema: schema.into(), table: table.into() }
    }

    /// DM's listing form: "<source>-`schema`.`table`".
    pub fn display(&self) -> String {
        format!("{}-`{}`.`{}`", self.source, self.schema, self.table)
    }
}

/// A table schema as a lock keeps it: without the parts that differ between shards and do not
/// matter downstream (the table name, the AUTO_INCREMENT counter).
pub fn normalize(mut t: Table) -> Arc<Table> {
    t.name.clear();
    t.options.remove("AUTO_INCREMENT");
    Arc::new(t)
}

/// One Info as the lock needs it.
#[derive(Debug, Clone)]
pub struct SyncInfo {
    pub table: TableId,
    pub ddls: Vec<String>,
    pub before: Arc<Table>,
    /// One per DDL.
    pub after: Vec<Arc<Table>>,
    pub ignore_conflict: bool,
    /// The Info's revision.
    pub revision: u64,
}

/// What `try_sync` decided for the caller's table.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOutcome {
    /// The DDLs the caller executes downstream.
    pub ddls: Vec<String>,
    pub stage: ConflictStage,
    pub message: String,
    /// Columns the caller's DDLs dropped while other tables still have them.
    pub cols: Vec<String>,
    /// Other tables whose conflict this Info resolved: they get a `resolved` operation.
    pub redirects: Vec<TableId>,
    /// Of `cols`, those whose DROP reaches the downstream with this operation.
    pub dropped_downstream: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Lock {
    pub id: String,
    pub task: String,
    pub down_schema: String,
    pub down_table: String,
    /// The schema a table has before the lock hears from it (the first Info's before).
    init: Arc<Table>,
    /// Each table's schema, every conflict DDL left out. Added by add_table/try_sync, removed
    /// by remove_table.
    tables: BTreeMap<TableId, Arc<Table>>,
    /// The multiset of `tables`' schemas.
    bag: Bag,
    /// Tables whose last DDL conflicts, with their schema after it.
    conflicts: BTreeMap<TableId, Arc<Table>>,
    /// Tables whose last operation is not done yet (a table without one has nothing pending).
    pending: BTreeSet<TableId>,
    /// The revision of each table's latest Info (0 = none).
    pub versions: BTreeMap<TableId, u64>,
    /// Partially dropped columns: column → tables that dropped it and how far.
    pub columns: BTreeMap<String, BTreeMap<TableId, DropColumnStage>>,
}

impl Lock {
    pub fn new(id: &str, task: &str, down_schema: &str, down_table: &str, init: Arc<Table>) -> Self {
        Lock {
            id: id.into(),
            task: task.into(),
            down_schema: down_schema.into(),
            down_table: down_table.into(),
            init,
            tables: BTreeMap::new(),
            bag: Bag::default(),
            conflicts: BTreeMap::new(),
            pending: BTreeSet::new(),
            versions: BTreeMap::new(),
            columns: BTreeMap::new(),
        }
    }

    fn set(&mut self, id: &TableId, t: &Arc<Table>) {
        let t = self.bag.add(t.clone());
        if let Some(old) = self.tables.insert(id.clone(), t) {
            self.bag.remove(&old);
        }
    }

    /// A table joins the lock with the initial schema (DM reads it from the downstream
    /// checkpoint when it can; the master has no downstream, so it is the lock's first schema).
    pub fn add_table(&mut self, id: &TableId) {
        if !self.tables.contains_key(id) {
            let init = self.init.clone();
            self.set(id, &init);
            self.versions.insert(id.clone(), 0);
        }
    }

    /// A table left the lock (dropped upstream, or its source left the task).
    pub fn remove_table(&mut self, id: &TableId) -> bool {
        let Some(old) = self.tables.remove(id) else { return false };
        self.bag.remove(&old);
        self.conflicts.remove(id);
        self.pending.remove(id);
        self.versions.remove(id);
        for tables in self.columns.values_mut() {
            tables.remove(id);
        }
        self.columns.retain(|_, t| !t.is_empty());
        true
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    pub fn table_ids(&self) -> impl Iterator<Item = &TableId> {
        self.tables.keys()
    }

    pub fn has_table(&self, id: &TableId) -> bool {
        self.tables.contains_key(id)
    }

    /// The joined schema of the tables, conflicts left out.
    pub fn joined(&self) -> Option<Table> {
        self.bag.join().and_then(Result::ok)
    }

    /// Each table and whether it has the joined schema (DM's ready).
    pub fn ready(&self) -> BTreeMap<TableId, bool> {
        let joined = self.joined();
        let same: Vec<(Arc<Table>, bool)> = self
            .bag
            .distinct()
            .map(|t| (t.clone(), joined.as_ref().is_some_and(|j| compare(j, t) == Ok(Ordering::Equal))))
            .collect();
        self.tables.iter().map(|(id, t)| (id.clone(), same.iter().any(|(s, eq)| *eq && Arc::ptr_eq(s, t)))).collect()
    }

    /// Every table has the joined schema and its operation done: the lock can go. Runs over
    /// the distinct schemas, not the tables (it runs after every Info).
    pub fn is_resolved(&self) -> bool {
        if !self.conflicts.is_empty() || !self.pending.is_empty() {
            return false;
        }
        let Some(joined) = self.joined() else { return self.tables.is_empty() };
        self.bag.distinct().all(|t| compare(&joined, t) == Ok(Ordering::Equal))
    }

    /// The table's operation is done; false if it had none pending.
    pub fn mark_done(&mut self, id: &TableId) -> bool {
        self.pending.remove(id)
    }

    /// The tables currently caught in a conflict.
    pub fn conflicted(&self) -> impl Iterator<Item = &TableId> {
        self.conflicts.keys()
    }
}

#[path = "sync.rs"]
mod sync;

#[cfg(test)]
#[path = "lock_tests.rs"]
mod tests;

/// Columns one DDL adds and drops (first of each, as DM looks at them).
fn add_drop_columns(prev: &Table, ddl: &str) -> (Option<String>, Option<String>) {
    let Ok(applied) = apply(prev, ddl) else { return (None, None) };
    let add = applied.changes.iter().find_map(|c| if let Change::AddColumn(n) = c { Some(n.clone()) } else { None });
    let drop = applied.changes.iter().find_map(|c| if let Change::DropColumn(n) = c { Some(n.clone()) } else { None });
    (add, drop)
}

/// The join of some schemas (None if there are none).
fn join_all<'a>(mut it: impl Iterator<Item = &'a Arc<Table>>) -> Option<Result<Table, String>> {
    let first = (**it.next()?).clone();
    Some(it.try_fold(first, |acc, t| join(&acc, t)).map_err(|e| e.to_string()))
}
