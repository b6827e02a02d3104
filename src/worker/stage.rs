//! A subtask's actual stage on its worker (DM's names), with the legal transitions in one table.
//! The master stores only the *expected* stage (Running / Paused / Stopped); the runner moves
//! the actual stage towards it.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubtaskStage {
    /// Created, not started yet.
    New,
    Running,
    /// Paused by the operator, or by the runner after a unit failed (DM's auto-pause).
    Paused,
    /// Stopped by the operator (OpenAPI stop) or because the worker released the source.
    Stopped,
    /// Every unit finished (full mode); final.
    Finished,
}

impl SubtaskStage {
    pub fn can_become(self, next: SubtaskStage) -> bool {
        use SubtaskStage::*;
        matches!(
            (self, next),
            (New, Running)
                | (New, Paused)
                | (New, Stopped)
                | (Running, Paused)
                | (Running, Stopped)
                | (Running, Finished)
                | (Paused, Running)
                | (Paused, Stopped)
                | (Stopped, Running)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SubtaskStage::New => "New",
            SubtaskStage::Running => "Running",
            SubtaskStage::Paused => "Paused",
            SubtaskStage::Stopped => "Stopped",
            SubtaskStage::Finished => "Finished",
        }
    }
}

impl fmt::Display for SubtaskStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::SubtaskStage::{self, *};

    #[test]
    fn t10_subtask_stage_transitions() {
        let all = [New, Running, Paused, Stopped, Finished];
        let legal = [
            (New, Running),
            (New, Paused),
            (New, Stopped),
            (Running, Paused),
            (Running, Stopped),
            (Running, Finished),
            (Paused, Running),
            (Paused, Stopped),
            (Stopped, Running),
        ];
        for from in all {
            for to in all {
                assert_eq!(SubtaskStage::can_become(from, to), legal.contains(&(from, to)), "{from} -> {to}");
            }
        }
    }
}
