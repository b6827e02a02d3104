//! The scheduler's in-memory view of its key spaces (workers, sources, bindings, last bindings,
//! tasks, subtasks), rebuilt on promotion and kept in step by the change feed (see
//! `node::follow`). Decisions read it; only commands change what it reflects.

use std::collections::{BTreeMap, HashMap};

use dm_storage::StoreError;
use dm_storage::feed::ChangeBatch;
use dm_storage::scheduling::{
    BoundRecord, Bounds, LastBounds, SourceRecord, Sources, SubtaskRecord, Subtasks, TaskRecord, Tasks, WorkerRecord,
    Workers,
};
use dm_storage::state::View;

use crate::node::follow::Projection;

#[derive(Default, Debug)]
pub struct SchedView {
    /// Added by RegisterWorker, removed by RemoveWorker.
    pub workers: BTreeMap<String, WorkerRecord>,
    /// Added by CreateSource, removed by RemoveSource.
    pub sources: BTreeMap<String, SourceRecord>,
    /// Source → binding. Added by BindSource, removed by UnbindSource / RemoveSource.
    pub bounds: BTreeMap<String, BoundRecord>,
    /// Worker → bound source (the reverse of `bounds`).
    pub worker_source: BTreeMap<String, String>,
    /// Worker → the source it was last bound to (kept after unbind).
    pub last_bounds: BTreeMap<String, String>,
    /// Source → revision at which it lost its binding (for the release rule of `policy`). On a
    /// rebuild every unbound source gets the rebuild revision: the unbind was at or before it.
    pub unbound_at: HashMap<String, u64>,
    pub tasks: BTreeMap<String, TaskRecord>,
    /// (task, source) → subtask. Keyed by task first: task operations scan one task.
    pub subtasks: BTreeMap<(String, String), SubtaskRecord>,
    /// Revision the view reflects.
    pub revision: u64,
}

impl SchedView {
    /// The subtasks of one task, by source.
    pub fn task_subtasks(&self, task: &str) -> impl Iterator<Item = &SubtaskRecord> {
        self.subtasks
            .range((task.to_string(), String::new())..)
            .take_while(move |((t, _), _)| t == task)
            .map(|(_, s)| s)
    }

    /// Every subtask on one source.
    pub fn source_subtasks<'a>(&'a self, source: &'a str) -> impl Iterator<Item = &'a SubtaskRecord> {
        self.subtasks.values().filter(move |s| s.source == source)
    }

    /// The (name, address) of the worker `source` is bound to.
    pub fn bound_worker(&self, source: &str) -> Option<(String, String)> {
        let b = self.bounds.get(source)?;
        Some((b.worker.clone(), self.workers.get(&b.worker).map(|w| w.addr.clone()).unwrap_or_default()))
    }

    fn put_bound(&mut self, source: String, bound: BoundRecord) {
        if let Some(old) = self.bounds.get(&source) {
            self.worker_source.remove(&old.worker);
        }
        self.worker_source.insert(bound.worker.clone(), source.clone());
        self.unbound_at.remove(&source);
        self.bounds.insert(source, bound);
    }

    fn remove_bound(&mut self, source: &str, revision: u64) {
        if let Some(old) = self.bounds.remove(source) {
            self.worker_source.remove(&old.worker);
        }
        if self.sources.contains_key(source) {
            self.unbound_at.insert(source.to_string(), revision);
        }
    }
}

fn records<K: Ord, V>(list: Vec<(K, dm_storage::Record<V>)>) -> BTreeMap<K, V> {
    list.into_iter().map(|(k, r)| (k, r.value)).collect()
}

impl Projection for SchedView {
    fn rebuild(&mut self, view: &View<'_>) -> Result<(), StoreError> {
        let revision = view.revision();
        self.workers = records(view.list::<Workers>()?);
        self.sources = records(view.list::<Sources>()?);
        self.last_bounds = records(view.list::<LastBounds>()?);
        self.tasks = records(view.list::<Tasks>()?);
        self.subtasks =
            view.list::<Subtasks>()?.into_iter().map(|((source, task), r)| ((task, source), r.value)).collect();
        self.bounds.clear();
        self.worker_source.clear();
        self.unbound_at.clear();
        for (source, r) in view.list::<Bounds>()? {
            self.put_bound(source, r.value);
        }
        for source in self.sources.keys() {
            if !self.bounds.contains_key(source) {
                self.unbound_at.insert(source.clone(), revision);
            }
        }
        self.revision = revision;
        Ok(())
    }

    fn apply(&mut self, batch: &ChangeBatch) -> Result<(), StoreError> {
        for change in &batch.changes {
            if let Some(d) = change.decode::<Workers>() {
                match d? {
                    (k, Some(r)) => self.workers.insert(k, r.value),
                    (k, None) => self.workers.remove(&k),
                };
            } else if let Some(d) = change.decode::<Sources>() {
                match d? {
                    (k, Some(r)) => {
                        if !self.bounds.contains_key(&k) {
                            self.unbound_at.insert(k.clone(), batch.revision);
                        }
                        self.sources.insert(k, r.value)
                    }
                    (k, None) => {
                        self.unbound_at.remove(&k);
                        self.sources.remove(&k)
                    }
                };
            } else if let Some(d) = change.decode::<Bounds>() {
                match d? {
                    (k, Some(r)) => self.put_bound(k, r.value),
                    (k, None) => self.remove_bound(&k, batch.revision),
                }
            } else if let Some(d) = change.decode::<LastBounds>() {
                match d? {
                    (k, Some(r)) => self.last_bounds.insert(k, r.value),
                    (k, None) => self.last_bounds.remove(&k),
                };
            } else if let Some(d) = change.decode::<Tasks>() {
                match d? {
                    (k, Some(r)) => self.tasks.insert(k, r.value),
                    (k, None) => self.tasks.remove(&k),
                };
            } else if let Some(d) = change.decode::<Subtasks>() {
                match d? {
                    ((source, task), Some(r)) => self.subtasks.insert((task, source), r.value),
                    ((source, task), None) => self.subtasks.remove(&(task, source)),
                };
            }
        }
        self.revision = batch.revision;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use dm_storage::command::Expect;
    use dm_storage::scheduling::{ExpectedStage, SourceRecord, SubtaskRecord, TaskRecord};
    use dm_storage::typ::{Entry, EntryPayload, LogId};
    use dm_storage::{Command, Store, StoreOptions};
    use openraft::CommittedLeaderId;
    use openraft::storage::RaftStateMachine;

    use super::*;

    fn cmds() -> Vec<Command> {
        let reg = |n: &str| Command::RegisterWorker { name: n.into(), addr: format!("{n}:1"), keepalive_ttl_ms: 3000 };
        let src = |s: &str| Command::CreateSource { source: SourceRecord { source_id: s.into(), config: "c".into() } };
        let sub = |s: &str| SubtaskRecord {
            task: "t".into(),
            source: s.into(),
            config: "{}".into(),
            stage: ExpectedStage::Running,
        };
        vec![
            reg("w1"),
            reg("w2"),
            src("s1"),
            src("s2"),
            Command::BindSource { source_id: "s1".into(), worker: "w1".into() },
            Command::BindSource { source_id: "s2".into(), worker: "w2".into() },
            Command::PutTask {
                task: TaskRecord { name: "t".into(), config: "x".into(), sources: vec!["s1".into(), "s2".into()] },
                expect: Expect::Absent,
            },
            Command::PutSubtasks { subtasks: vec![sub("s1"), sub("s2")] },
            Command::SetSubtaskStage { task: "t".into(), sources: vec!["s2".into()], stage: ExpectedStage::Paused },
            Command::UnbindSource { source_id: "s1".into(), epoch: 5 },
            Command::RemoveSubtasks { task: "t".into(), sources: vec!["s1".into()] },
        ]
    }

    /// The view built by following the feed equals the view rebuilt from the state.
    #[tokio::test]
    async fn t10_following_the_feed_equals_a_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
        let (mut followed, mut sub) = store.reader.read_and_subscribe(|v| {
            let mut p = SchedView::default();
            p.rebuild(v).unwrap();
            p
        });
        for (i, cmd) in cmds().into_iter().enumerate() {
            let log_id = LogId::new(CommittedLeaderId::new(1, 1), i as u64 + 1);
            let r =
                store.state_machine.apply(vec![Entry { log_id, payload: EntryPayload::Normal(cmd) }]).await.unwrap();
            assert!(r[0].outcome.is_ok(), "{:?}", r[0]);
            followed.apply(&sub.next().await.unwrap()).unwrap();
        }
        let (rebuilt, _) = store.reader.read_and_subscribe(|v| {
            let mut p = SchedView::default();
            p.rebuild(v).unwrap();
            p
        });
        assert_eq!(format!("{:?}", followed.workers), format!("{:?}", rebuilt.workers));
        assert_eq!(followed.bounds, rebuilt.bounds);
        assert_eq!(followed.worker_source, rebuilt.worker_source);
        assert_eq!(followed.last_bounds, rebuilt.last_bounds);
        assert_eq!(followed.subtasks, rebuilt.subtasks);
        assert_eq!(followed.tasks, rebuilt.tasks);
        assert_eq!(followed.revision, rebuilt.revision);
        // s1 lost its binding at revision 10: the followed view knows when; a rebuild says "by now".
        assert_eq!(followed.unbound_at.get("s1"), Some(&10));
        assert_eq!(rebuilt.unbound_at.get("s1"), Some(&rebuilt.revision));
        assert_eq!(followed.bound_worker("s2"), Some(("w2".into(), "w2:1".into())));
        assert_eq!(followed.task_subtasks("t").map(|s| s.source.as_str()).collect::<Vec<_>>(), vec!["s2"]);
    }
}
