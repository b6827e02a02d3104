//! Configuration: the master's and worker's TOML files and flags, and DM's source.yaml / task.yaml (DM's key
//! names), each decoded strictly and validated into plain structs; a task resolves into one
//! subtask per source.

pub mod addr;
pub mod db;
pub mod duration;
pub mod master;
pub mod show;
pub mod source;
pub mod subtask;
pub mod task;
mod task_check;
pub mod task_rules;
pub mod task_units;
pub mod worker;
mod yaml;

pub use yaml::PASSWORD_MASK;

use thiserror::Error;

use crate::error::{Coded, ErrorCode};

/// A configuration that cannot be used; says which key or flag and what to change.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("config file {path}: {reason}")]
    UnknownKey { path: String, reason: String },
    #[error("invalid {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("invalid --initial-cluster: {0}")]
    InitialCluster(String),
    #[error(
        "--join {0} points at this master itself (its --advertise-addr); join self is forbidden, give the address of a running master"
    )]
    JoinSelf(String),
    #[error("{0}")]
    Conflict(String),

    /// A source/task file that is not YAML or has a value of the wrong type; `reason` has line and column.
    #[error("{what}: {reason}")]
    Yaml { what: &'static str, reason: String },
    /// A source/task file key that DM's format does not have; `reason` names it with line and column.
    #[error("{what}: {reason}; remove the key or fix its spelling")]
    YamlUnknownKey { what: &'static str, reason: String },
    /// A missing, malformed or out-of-range value; `key` is its path in the file.
    #[error("invalid {key}: {reason}")]
    Value { key: String, reason: String },
    /// An instance names a rule or unit config that the task does not define.
    #[error("{instance}: {list} names \"{name}\", not defined under {section}; define it there or fix the name")]
    RuleNotFound { instance: String, list: &'static str, name: String, section: &'static str },
    /// Rules defined at the top level that no instance uses (DM refuses them too).
    #[error("no mysql-instance uses these rules or unit configs: {0}; use them in an instance or delete them")]
    RulesUnused(String),
    /// Two instances of one task with the same source.
    #[error(
        "mysql-instances[{first}] and [{second}] both use source-id \"{source_id}\"; a source may appear once per task"
    )]
    DuplicateSourceId { source_id: String, first: usize, second: usize },
    /// A feature DM has removed.
    #[error("{key} is no longer supported: {hint}")]
    Deprecated { key: &'static str, hint: &'static str },
    /// A task instance whose source does not exist yet.
    #[error(
        "task {task}: source \"{source_id}\" does not exist; create it with `operate-source create` or fix source-id"
    )]
    SourceMissing { task: String, source_id: String },
    /// An instance that both names a unit config and gives one inline.
    #[error("{instance}: {name_key} and {inline_key} are both set; keep only one of them")]
    NameAndInline { instance: String, name_key: &'static str, inline_key: &'static str },
    /// An instance listing a rule name more than once.
    #[error("{instance}: {list} lists {names} more than once; list each rule once")]
    DuplicateRuleRef { instance: String, list: &'static str, names: String },
    /// A stored record that cannot be read back.
    #[error("stored {what} cannot be decoded: {reason}")]
    Stored { what: &'static str, reason: String },
}

impl Coded for ConfigError {
    fn code(&self) -> ErrorCode {
        match self {
            ConfigError::File { .. } => ErrorCode::ConfigFile,
            ConfigError::UnknownKey { .. } => ErrorCode::ConfigUnknownKey,
            ConfigError::Invalid { .. } => ErrorCode::ConfigInvalid,
            ConfigError::InitialCluster(_) => ErrorCode::InitialClusterInvalid,
            ConfigError::JoinSelf(_) => ErrorCode::JoinSelf,
            ConfigError::Conflict(_) => ErrorCode::ConfigConflict,
            ConfigError::Yaml { .. } => ErrorCode::SpecYaml,
            ConfigError::YamlUnknownKey { .. } => ErrorCode::SpecUnknownKey,
            ConfigError::Value { .. } => ErrorCode::SpecInvalidValue,
            ConfigError::RuleNotFound { .. } => ErrorCode::SpecRuleNotFound,
            ConfigError::RulesUnused(_) => ErrorCode::SpecRulesUnused,
            ConfigError::DuplicateSourceId { .. } => ErrorCode::SpecDuplicateSourceId,
            ConfigError::Deprecated { .. } => ErrorCode::SpecDeprecated,
            ConfigError::SourceMissing { .. } => ErrorCode::SpecSourceMissing,
            ConfigError::NameAndInline { .. } => ErrorCode::SpecNameAndInline,
            ConfigError::DuplicateRuleRef { .. } => ErrorCode::SpecDuplicateRuleRef,
            ConfigError::Stored { .. } => ErrorCode::SpecStoredCorrupt,
        }
    }
}

/// Reads a TOML config file strictly: an unknown key names the key and its line.
pub fn load_toml<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, ConfigError> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::File { path: shown.clone(), reason: e.to_string() })?;
    toml::from_str(&text).map_err(|e| {
        let reason = e.to_string().trim().to_string();
        if reason.contains("unknown field") {
            ConfigError::UnknownKey { path: shown, reason }
        } else {
            ConfigError::File { path: shown, reason }
        }
    })
}
