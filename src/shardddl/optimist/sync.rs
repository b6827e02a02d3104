//! `try_sync` and its rules: which DDLs reach the downstream, when a DDL conflicts, when a
//! conflict resolves, the add/drop-column checks, and the operator's unlock of a conflicted table.
//!
//! "Final" tables are the tables with every conflicting DDL applied; a conflict resolves when
//! the final tables agree: their join exists, every conflicted table's old schema is
//! incomparable with that join (the old column is gone everywhere, e.g. `a` after RENAME a TO
//! b), and the join of each old schema with every final table covers the conflicting schema
//! (the new column is everywhere).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use dm_storage::shardddl::{ConflictStage, DropColumnStage};

use super::{Lock, SyncInfo, SyncOutcome, TableId, add_drop_columns, join_all};
use crate::shardddl::optimist::bag::Bag;
use crate::shardddl::schema::{Table, compare, join};

type Conflicts = BTreeMap<TableId, Arc<Table>>;

impl Lock {
    /// One Info (DM's TrySync). On an error stage the caller's table is put back to its
    /// schema before the Info (or, with ignore_conflict, forward to its last schema).
    pub fn try_sync(&mut self, info: &SyncInfo) -> SyncOutcome {
        let id = info.table.clone();
        self.add_table(&id);
        let v = self.versions.entry(id.clone()).or_insert(0);
        *v = (*v).max(info.revision);
        let mut out = SyncOutcome {
            ddls: Vec::new(),
            stage: ConflictStage::None,
            message: String::new(),
            cols: Vec::new(),
            redirects: Vec::new(),
            dropped_downstream: Vec::new(),
        };
        if info.ddls.len() != info.after.len() || info.after.is_empty() {
            out.stage = ConflictStage::Error;
            out.message = format!("{} DDLs but {} schemas after them", info.ddls.len(), info.after.len());
            return self.fail(&id, info, out);
        }
        let mut prev = info.before.clone();
        for (ddl, post) in info.ddls.iter().zip(&info.after) {
            let (changed, stage) = self.try_sync_one(&id, &prev, post, &mut out.redirects);
            match stage {
                ConflictStage::Detected => {
                    out.stage = stage;
                    out.message = format!(
                        "lock {}: there will be conflicts if DDL `{ddl}` is applied to the downstream; wait for the \
                         other tables' DDLs, or `shard-ddl-lock unlock` this table",
                        self.id
                    );
                    out.ddls.clear();
                    out.cols.clear();
                    return self.fail(&id, info, out);
                }
                ConflictStage::SkipAndWaitRedirect => {
                    out.stage = stage;
                    out.message = format!(
                        "lock {}: DDL `{ddl}` changes the table in a way the other tables have not yet; its changes are \
                         skipped until they catch up",
                        self.id
                    );
                    return out;
                }
                _ => {}
            }
            if stage == ConflictStage::None {
                match self.check_add_drop(&id, ddl, &prev, post) {
                    Err(message) => {
                        out.stage = ConflictStage::Error;
                        out.message = message;
                        out.ddls.clear();
                        out.cols.clear();
                        return self.fail(&id, info, out);
                    }
                    Ok(Some(col)) => {
                        if changed {
                            out.dropped_downstream.push(col.clone());
                        }
                        out.cols.push(col);
                    }
                    Ok(None) => {}
                }
            }
            if changed {
                out.ddls.push(ddl.clone());
            }
            prev = post.clone();
        }
        for col in &out.cols {
            self.columns.entry(col.clone()).or_default().entry(id.clone()).or_insert(DropColumnStage::NotDone);
        }
        if !out.ddls.is_empty() || !out.redirects.is_empty() {
            self.pending.insert(id.clone());
        }
        // A redirected table must see its `resolved` operation before the lock may go.
        for r in &out.redirects {
            self.pending.insert(r.clone());
        }
        out
    }

    /// The error path: the table back to its schema before the Info (forward with
    /// ignore_conflict), its conflict forgotten.
    fn fail(&mut self, id: &TableId, info: &SyncInfo, out: SyncOutcome) -> SyncOutcome {
        let revert = if info.ignore_conflict { info.after.last().unwrap_or(&info.before) } else { &info.before };
        let revert = revert.clone();
        self.set(id, &revert);
        self.conflicts.remove(id);
        out
    }

    /// One DDL of one table (DM's TrySyncForOneDDL): whether the joined schema changed (the DDL
    /// is emitted) and the conflict stage.
    fn try_sync_one(
        &mut self,
        id: &TableId,
        prev: &Arc<Table>,
        post: &Arc<Table>,
        redirects: &mut Vec<TableId>,
    ) -> (bool, ConflictStage) {
        // One conflicting DDL per table at a time: a new schema replaces the old conflict.
        self.conflicts.remove(id);
        // Idempotency: a replayed Info starts from the schema it names.
        if self.tables.get(id).is_none_or(|t| compare(t, prev) != Ok(Ordering::Equal)) {
            self.set(id, prev);
        }
        let table_cmp = compare(prev, post);
        let old_joined = self.bag.join();
        if let Ok(table_cmp) = table_cmp {
            self.set(id, post);
            if let Some(Ok(new_joined)) = self.bag.join() {
                if !self.conflicts.is_empty() && self.no_conflict(&self.final_bag(&self.conflicts), &self.conflicts) {
                    redirects.extend(self.conflicts.keys().filter(|c| *c != id).cloned());
                    self.resolve_conflicts();
                    return (true, ConflictStage::Resolved);
                }
                let Some(Ok(old_joined)) = old_joined else { return (true, ConflictStage::None) };
                let joined_changed = compare(&old_joined, &new_joined) != Ok(Ordering::Equal);
                let post_is_old_joined = compare(post, &old_joined) == Ok(Ordering::Equal);
                return (joined_changed || post_is_old_joined || table_cmp == Ordering::Less, ConflictStage::None);
            }
        }
        // A conflicting DDL: the table keeps its old schema; the new one waits as a conflict.
        self.set(id, prev);
        self.conflicts.insert(id.clone(), post.clone());
        if self.conflicts.len() > 1 {
            // e.g. a table replays a rename others already did: no conflict with the normal tables.
            let only: Conflicts = [(id.clone(), post.clone())].into();
            if self.no_conflict(&self.final_bag(&only), &only) {
                self.conflicts.remove(id);
                self.set(id, post);
                return (true, ConflictStage::None);
            }
        }
        let conflict_schemas: Vec<Arc<Table>> = self.conflicts.values().cloned().collect();
        if !self.no_conflict_among(&conflict_schemas, &self.conflicts) {
            return (false, ConflictStage::Detected);
        }
        if self.no_conflict(&self.final_bag(&self.conflicts), &self.conflicts) {
            redirects.extend(self.conflicts.keys().filter(|c| *c != id).cloned());
            self.resolve_conflicts();
            return (true, ConflictStage::Resolved);
        }
        (false, ConflictStage::SkipAndWaitRedirect)
    }

    /// The schemas of the tables with `conflicts` applied.
    fn final_bag(&self, conflicts: &Conflicts) -> Bag {
        let mut bag = self.bag.clone();
        for (id, post) in conflicts {
            if let Some(normal) = self.tables.get(id) {
                bag.remove(normal);
            }
            bag.add(post.clone());
        }
        bag
    }

    fn no_conflict(&self, finals: &Bag, conflicts: &Conflicts) -> bool {
        let schemas: Vec<Arc<Table>> = finals.distinct().cloned().collect();
        self.no_conflict_among(&schemas, conflicts)
    }

    /// DM's noConflictFor…Tables over `judge` (the final or the conflict schemas).
    fn no_conflict_among(&self, judge: &[Arc<Table>], conflicts: &Conflicts) -> bool {
        let Some(Ok(joined)) = join_all(judge.iter()) else { return false };
        // Every conflicted table's old schema is out of the join (the old column is gone).
        let smaller = conflicts.keys().all(|id| self.tables.get(id).is_some_and(|old| compare(&joined, old).is_err()));
        if !smaller {
            return false;
        }
        // Every table, joined with a conflicted table's old schema, covers its new one.
        conflicts.iter().all(|(id, post)| {
            let Some(old) = self.tables.get(id) else { return false };
            judge.iter().all(|t| {
                let covered = join(old, t).unwrap_or_else(|_| (**t).clone());
                matches!(compare(&covered, post), Ok(Ordering::Equal | Ordering::Greater))
            })
        })
    }

    fn resolve_conflicts(&mut self) {
        for (id, post) in std::mem::take(&mut self.conflicts) {
            self.set(&id, &post);
        }
    }

    /// DM's checkAddDropColumn: an added column must have the joined length and must not be
    /// one still partially dropped; a dropped column that does not shrink the joined schema is
    /// returned (recorded as partially dropped, not dropped downstream).
    fn check_add_drop(
        &mut self,
        id: &TableId,
        ddl: &str,
        prev: &Arc<Table>,
        post: &Arc<Table>,
    ) -> Result<Option<String>, String> {
        let current = self.tables.get(id).cloned().unwrap_or_else(|| prev.clone());
        self.set(id, prev);
        let old_joined = self.bag.join();
        self.set(id, post);
        let new_joined = self.bag.join();
        self.set(id, &current);
        let (Some(Ok(old_joined)), Some(Ok(new_joined))) = (old_joined, new_joined) else { return Ok(None) };
        let Ok(cmp) = compare(&old_joined, &new_joined) else { return Ok(None) };
        let (added, dropped) = add_drop_columns(prev, ddl);
        if cmp != Ordering::Greater
            && let Some(col) = added
        {
            for (a, b) in [(&old_joined, &new_joined), (&**post, &new_joined)] {
                let (la, lb) = (a.column(&col).map(|c| c.ty.length), b.column(&col).map(|c| c.ty.length));
                if let (Some(la), Some(lb)) = (la, lb)
                    && la != lb
                {
                    return Err(format!(
                        "lock {}: column `{col}` is added with different field lengths ({} and {}); add it with the \
                         same definition on every table",
                        self.id,
                        la.map_or("default".into(), |l| l.to_string()),
                        lb.map_or("default".into(), |l| l.to_string())
                    ));
                }
            }
            if self.columns.get(&col).is_some_and(|t| t.contains_key(id)) {
                return Err(format!(
                    "lock {}: column `{col}` is added back before it was dropped on every table; drop it on every \
                     table first",
                    self.id
                ));
            }
        }
        if cmp != Ordering::Less
            && let Some(col) = dropped
        {
            return Ok(Some(col));
        }
        Ok(None)
    }

    /// A done operation moves its partially dropped columns on (DM's DeleteColumnsByOp):
    /// PartiallyDone, or Done if this operation dropped the column downstream. Returns the
    /// columns whose record changed, and whether each is now fully dropped (to forget).
    pub fn columns_done(&mut self, id: &TableId, cols: &[String], executed: &[String]) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for col in cols {
            let Some(tables) = self.columns.get_mut(col) else { continue };
            if let Some(stage) = tables.get_mut(id) {
                *stage = if executed.iter().any(|d| d.eq_ignore_ascii_case(col)) {
                    DropColumnStage::Done
                } else {
                    DropColumnStage::PartiallyDone
                };
            }
            let all_done = tables.values().all(|s| *s != DropColumnStage::NotDone);
            let dropped = tables.values().any(|s| *s == DropColumnStage::Done);
            if all_done && dropped {
                self.columns.remove(col);
                out.push((col.clone(), true));
            } else {
                out.push((col.clone(), false));
            }
        }
        out
    }

    /// The operator's unlock of a conflicted table (DM's UnlockLock for optimistic locks):
    /// with `exec` the table takes its last schema and executes its DDLs; with skip it keeps
    /// its old schema and skips them.
    pub fn unlock_table(&mut self, id: &TableId, exec: bool, last: Option<&Arc<Table>>) {
        self.conflicts.remove(id);
        if exec && let Some(last) = last {
            self.set(id, last);
        }
        self.pending.insert(id.clone());
    }
}
