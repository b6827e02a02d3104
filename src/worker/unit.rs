//! The interface the data units (dump, load, sync) plug into. A subtask runs its units in order
//! (task-mode all: dump, load, sync; full: dump, load; incremental: sync); each runs until done,
//! failed, or told to stop, and resumes from its own checkpoint when run again.
//!
//! The units themselves come with the data path; until then the worker has none, and a running
//! subtask says so in its status instead of pretending to migrate.

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::config::subtask::SubtaskConfig;
use crate::error::UserError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    Dump,
    Load,
    Sync,
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Dump => "Dump",
            UnitKind::Load => "Load",
            UnitKind::Sync => "Sync",
        }
    }
}

#[derive(Debug)]
pub enum UnitOutcome {
    /// The unit's work is complete; the next unit starts.
    Done,
    /// Stopped on request; running it again resumes.
    Stopped,
    /// Failed; the subtask pauses with this error (DM's auto-pause).
    Failed(UserError),
}

pub trait Unit: Send + 'static {
    fn kind(&self) -> UnitKind;
    /// Runs until done, failed, or `stop` fires (then returns `Stopped` promptly).
    fn run(&mut self, stop: CancellationToken) -> BoxFuture<'_, UnitOutcome>;
}

/// Builds the units of a subtask.
pub trait UnitFactory: Send + Sync + 'static {
    /// The units for this subtask in order; empty when none is available.
    fn units(&self, cfg: &SubtaskConfig) -> Vec<Box<dyn Unit>>;
    /// Said in the status of a running subtask that has no unit.
    fn missing_reason(&self) -> &str;
}

/// The worker before the data path exists: no units.
pub struct NoUnits;

impl UnitFactory for NoUnits {
    fn units(&self, _cfg: &SubtaskConfig) -> Vec<Box<dyn Unit>> {
        Vec::new()
    }

    fn missing_reason(&self) -> &str {
        "no data unit is active: dump, load and sync are not part of this build yet; the subtask holds its source and stage"
    }
}
