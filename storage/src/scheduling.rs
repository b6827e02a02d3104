//! The scheduler's key spaces: registered workers, source configs, bindings (with their epochs),
//! last bindings, tasks as submitted, and subtasks with their expected stage.
//!
//! Configs are stored as opaque text (the master's config module owns their format), so this
//! crate stays free of DM's file formats. `bounds` and `worker_bounds` are the two directions of
//! one binding and `source_tasks` indexes `subtasks` by source; apply keeps them in step, so every
//! precondition is a point lookup inside the transaction.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::keyspace::KeySpace;
use crate::spaces::SpaceId;

/// `workers`: worker name → registration. Added by RegisterWorker, removed by RemoveWorker.
pub struct Workers;
impl KeySpace for Workers {
    const ID: SpaceId = SpaceId::Workers;
    type Key = String;
    type Value = WorkerRecord;
}

/// A worker as it registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    pub name: String,
    /// The address masters dial for QueryStatus (`--advertise-addr`).
    pub addr: String,
    /// The worker's keepalive TTL: a new leader gives it this long before declaring it offline.
    #[serde(default)]
    pub keepalive_ttl_ms: u64,
}

/// `sources`: source id → config. Added by CreateSource, removed by RemoveSource.
pub struct Sources;
impl KeySpace for Sources {
    const ID: SpaceId = SpaceId::Sources;
    type Key = String;
    type Value = SourceRecord;
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub source_id: String,
    /// The validated source config in the master's stored encoding.
    pub config: String,
}

/// `bounds`: source id → the worker it is bound to. Added by BindSource, replaced by
/// TransferSource, removed by UnbindSource and RemoveSource.
pub struct Bounds;
impl KeySpace for Bounds {
    const ID: SpaceId = SpaceId::Bounds;
    type Key = String;
    type Value = BoundRecord;
}

/// One binding. The epoch is the revision that made it: everything the worker reports about the
/// source carries it, and a report with an older epoch is stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundRecord {
    pub source: String,
    pub worker: String,
    pub epoch: u64,
}

/// `worker_bounds`: worker name → its bound source (the reverse of `bounds`, kept by apply).
pub struct WorkerBounds;
impl KeySpace for WorkerBounds {
    const ID: SpaceId = SpaceId::WorkerBounds;
    type Key = String;
    type Value = String;
}

/// `last_bounds`: worker name → the source it was last bound to; kept after unbind (DM's
/// last-bound: a returning worker gets its source back). Removed with the worker or the source.
pub struct LastBounds;
impl KeySpace for LastBounds {
    const ID: SpaceId = SpaceId::LastBounds;
    type Key = String;
    type Value = String;
}

/// `source_tasks`: source id → the tasks with a subtask on it (index of `subtasks`, kept by apply).
pub struct SourceTasks;
impl KeySpace for SourceTasks {
    const ID: SpaceId = SpaceId::SourceTasks;
    type Key = String;
    type Value = BTreeSet<String>;
}

/// `tasks`: task name → the task as submitted. Added by PutTask, removed by RemoveTask.
pub struct Tasks;
impl KeySpace for Tasks {
    const ID: SpaceId = SpaceId::Tasks;
    type Key = String;
    type Value = TaskRecord;
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub name: String,
    /// The task file text as the operator submitted it.
    pub config: String,
    /// The sources the task runs on (one subtask each once fully started).
    pub sources: Vec<String>,
}

/// `subtasks`: (source id, task name) → subtask config and expected stage. Keyed by source first
/// so a worker's subtasks are one prefix scan. Added by PutSubtasks, stage set by
/// SetSubtaskStage, removed by RemoveSubtasks.
pub struct Subtasks;
impl KeySpace for Subtasks {
    const ID: SpaceId = SpaceId::Subtasks;
    type Key = (String, String);
    type Value = SubtaskRecord;
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtaskRecord {
    pub task: String,
    pub source: String,
    /// The subtask config in the master's stored encoding.
    pub config: String,
    pub stage: ExpectedStage,
}

/// The stage the master wants a subtask in; the actual stage lives in the worker (DM stores only
/// Running / Paused / Stopped as expected stages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExpectedStage {
    Running,
    Paused,
    Stopped,
}

impl ExpectedStage {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectedStage::Running => "Running",
            ExpectedStage::Paused => "Paused",
            ExpectedStage::Stopped => "Stopped",
        }
    }
}

/// Stands in for a config in `Debug` output: configs hold passwords, and commands reach logs.
struct Hidden(usize);

impl std::fmt::Debug for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes, not shown: may hold passwords>", self.0)
    }
}

impl std::fmt::Debug for SourceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceRecord")
            .field("source_id", &self.source_id)
            .field("config", &Hidden(self.config.len()))
            .finish()
    }
}

impl std::fmt::Debug for TaskRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRecord")
            .field("name", &self.name)
            .field("config", &Hidden(self.config.len()))
            .field("sources", &self.sources)
            .finish()
    }
}

impl std::fmt::Debug for SubtaskRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubtaskRecord")
            .field("task", &self.task)
            .field("source", &self.source)
            .field("config", &Hidden(self.config.len()))
            .field("stage", &self.stage)
            .finish()
    }
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_configs() {
        let secret = "password: s3cret".to_string();
        let s = SourceRecord { source_id: "s".into(), config: secret.clone() };
        let t = TaskRecord { name: "t".into(), config: secret.clone(), sources: vec![] };
        let st = SubtaskRecord { task: "t".into(), source: "s".into(), config: secret, stage: ExpectedStage::Running };
        for out in [format!("{s:?}"), format!("{t:?}"), format!("{st:?}")] {
            assert!(!out.contains("s3cret"), "{out}");
        }
    }
}
