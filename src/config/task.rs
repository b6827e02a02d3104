//! DM's `task.yaml`: decoded strictly into [`TaskFile`] (DM's keys, nothing resolved), then checked
//! and resolved by DM's `adjust` rules (`task_check.rs`) into a [`TaskConfig`] whose instances carry
//! their final dump/load/sync/validate settings. The submitted text is what gets stored.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::db::DbConfig;
use super::task_rules::{BaList, ExpressionFilter, FilterRule, Meta, RouteRule};
use super::task_units::{LoaderConfig, MydumperConfig, SyncerConfig, ValidatorConfig};
use super::yaml::{self, nullable};

/// Which units a task runs (DM's `task-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskMode {
    /// Dump and load.
    #[serde(rename = "full")]
    Full,
    /// Binlog replication only.
    #[serde(rename = "incremental")]
    Incremental,
    /// Dump, load, then replicate.
    #[serde(rename = "all")]
    All,
    #[serde(rename = "dump")]
    Dump,
    #[serde(rename = "load")]
    Load,
    #[serde(rename = "load&sync")]
    LoadSync,
}

impl TaskMode {
    pub const ALL: [TaskMode; 6] =
        [TaskMode::Full, TaskMode::Incremental, TaskMode::All, TaskMode::Dump, TaskMode::Load, TaskMode::LoadSync];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskMode::Full => "full",
            TaskMode::Incremental => "incremental",
            TaskMode::All => "all",
            TaskMode::Dump => "dump",
            TaskMode::Load => "load",
            TaskMode::LoadSync => "load&sync",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// Whether the load unit runs (and so the dump directory is used).
    pub fn has_load(self) -> bool {
        matches!(self, TaskMode::Full | TaskMode::All | TaskMode::Load | TaskMode::LoadSync)
    }
}

/// How DDL of merged shard tables is coordinated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShardMode {
    Pessimistic,
    Optimistic,
}

impl ShardMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ShardMode::Pessimistic => "pessimistic",
            ShardMode::Optimistic => "optimistic",
        }
    }
}

/// DM's `collation_compatible`: whether CREATE statements get the upstream's default collation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CollationCompatible {
    Loose,
    Strict,
}

/// `experimental` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Experimental {
    pub async_checkpoint_flush: bool,
}

/// `mariadb2tidb` section (MariaDB schema conversion); `mode` is auto, on or off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct MariaDbToTiDb {
    pub mode: String,
    #[serde(deserialize_with = "nullable")]
    pub enabled_rules: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub disabled_rules: Vec<String>,
    pub strict_mode: bool,
}

impl Default for MariaDbToTiDb {
    fn default() -> Self {
        Self { mode: "auto".into(), enabled_rules: Vec::new(), disabled_rules: Vec::new(), strict_mode: true }
    }
}

fn yes() -> bool {
    true
}

/// The task file as written: every DM key, nothing resolved. Unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub(crate) struct TaskFile {
    pub name: String,
    pub task_mode: String,
    pub is_sharding: bool,
    pub shard_mode: String,
    pub strict_optimistic_shard_mode: bool,
    #[serde(deserialize_with = "nullable")]
    pub ignore_checking_items: Vec<String>,
    pub meta_schema: String,
    pub timezone: String,
    pub case_sensitive: bool,
    #[serde(rename = "collation_compatible")]
    pub collation_compatible: String,
    #[serde(default = "yes")]
    pub online_ddl: bool,
    #[serde(deserialize_with = "nullable")]
    pub shadow_table_rules: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub trash_table_rules: Vec<String>,
    #[serde(default = "yes")]
    pub clean_dump_file: bool,
    pub target_database: Option<DbConfig>,
    #[serde(deserialize_with = "nullable")]
    pub mysql_instances: Vec<InstanceFile>,
    #[serde(deserialize_with = "nullable")]
    pub routes: BTreeMap<String, RouteRule>,
    #[serde(deserialize_with = "nullable")]
    pub filters: BTreeMap<String, FilterRule>,
    #[serde(deserialize_with = "nullable")]
    pub block_allow_list: BTreeMap<String, BaList>,
    /// DM's old name for `block-allow-list`; used only when that is empty.
    #[serde(deserialize_with = "nullable")]
    pub black_white_list: BTreeMap<String, BaList>,
    #[serde(deserialize_with = "nullable")]
    pub expression_filter: BTreeMap<String, ExpressionFilter>,
    #[serde(deserialize_with = "nullable")]
    pub mydumpers: BTreeMap<String, MydumperConfig>,
    #[serde(deserialize_with = "nullable")]
    pub loaders: BTreeMap<String, LoaderConfig>,
    #[serde(deserialize_with = "nullable")]
    pub syncers: BTreeMap<String, SyncerConfig>,
    #[serde(deserialize_with = "nullable")]
    pub validators: BTreeMap<String, ValidatorConfig>,
    pub experimental: Experimental,
    pub mariadb2tidb: Option<MariaDbToTiDb>,
    /// Removed by DM: any entry is an error.
    #[serde(deserialize_with = "nullable")]
    pub column_mappings: BTreeMap<String, IgnoredAny>,
    /// Deprecated by DM: accepted with a warning.
    pub enable_heartbeat: bool,
    pub heartbeat_update_interval: Option<IgnoredAny>,
    pub heartbeat_report_interval: Option<IgnoredAny>,
    pub online_ddl_scheme: String,
    pub remove_meta: bool,
    pub ansi_quotes: bool,
}

/// One `mysql-instances` item as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub(crate) struct InstanceFile {
    pub source_id: String,
    pub meta: Option<Meta>,
    #[serde(deserialize_with = "nullable")]
    pub route_rules: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub filter_rules: Vec<String>,
    /// Removed by DM with `column-mappings`.
    #[serde(deserialize_with = "nullable")]
    pub column_mapping_rules: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub expression_filters: Vec<String>,
    pub block_allow_list: String,
    /// DM's old name for `block-allow-list`.
    pub black_white_list: String,
    pub mydumper_config_name: String,
    pub mydumper: Option<MydumperConfig>,
    pub mydumper_thread: u32,
    pub loader_config_name: String,
    pub loader: Option<LoaderConfig>,
    pub loader_thread: u32,
    pub syncer_config_name: String,
    pub syncer: Option<SyncerConfig>,
    pub syncer_thread: u32,
    pub validator_config_name: String,
}

/// A checked task: defaults filled, names checked, each instance's unit settings resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskConfig {
    pub name: String,
    pub task_mode: TaskMode,
    /// `None`: not a sharding task (`is-sharding` without a mode means pessimistic).
    pub shard_mode: Option<ShardMode>,
    pub strict_optimistic_shard_mode: bool,
    pub ignore_checking_items: Vec<String>,
    /// Downstream schema for checkpoints and other task meta.
    pub meta_schema: String,
    /// As written ("" = the system zone); checked for form only.
    pub timezone: String,
    pub case_sensitive: bool,
    pub collation_compatible: CollationCompatible,
    pub online_ddl: bool,
    pub shadow_table_rules: Vec<String>,
    pub trash_table_rules: Vec<String>,
    pub clean_dump_file: bool,
    pub target_database: DbConfig,
    pub mysql_instances: Vec<MysqlInstance>,
    pub routes: BTreeMap<String, RouteRule>,
    pub filters: BTreeMap<String, FilterRule>,
    /// `block-allow-list`, or `black-white-list` when only that is given.
    pub block_allow_list: BTreeMap<String, BaList>,
    pub expression_filter: BTreeMap<String, ExpressionFilter>,
    pub mydumpers: BTreeMap<String, MydumperConfig>,
    pub loaders: BTreeMap<String, LoaderConfig>,
    pub syncers: BTreeMap<String, SyncerConfig>,
    pub validators: BTreeMap<String, ValidatorConfig>,
    pub experimental: Experimental,
    pub mariadb2tidb: MariaDbToTiDb,
    /// What DM logs as warnings while adjusting (deprecated keys, unused meta…).
    pub warnings: Vec<String>,
}

/// A checked `mysql-instances` item.
#[derive(Debug, Clone, PartialEq)]
pub struct MysqlInstance {
    pub source_id: String,
    pub meta: Option<Meta>,
    pub route_rules: Vec<String>,
    pub filter_rules: Vec<String>,
    /// Name of the block-allow list (either spelling), if any.
    pub block_allow_list: Option<String>,
    pub expression_filters: Vec<String>,
    /// Names as written, for display; the settings below are already resolved.
    pub mydumper_config_name: Option<String>,
    pub loader_config_name: Option<String>,
    pub syncer_config_name: Option<String>,
    pub validator_config_name: Option<String>,
    /// The named, inline or default settings, with `mydumper-thread` applied.
    pub mydumper: MydumperConfig,
    /// With `loader-thread` applied.
    pub loader: LoaderConfig,
    /// With `syncer-thread` applied.
    pub syncer: SyncerConfig,
    pub validator: ValidatorConfig,
}

impl TaskConfig {
    /// Decodes a task file and checks it with DM's rules; every error says what to change.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let file: TaskFile = yaml::decode("task config", text)?;
        super::task_check::adjust(file)
    }

    /// Whether DDL of merged shard tables is coordinated.
    pub fn is_sharding(&self) -> bool {
        self.shard_mode.is_some()
    }

    /// A copy safe to show: the target password replaced by DM's mask.
    pub fn masked(&self) -> Self {
        Self { target_database: self.target_database.masked(), ..self.clone() }
    }

    /// A task file in the shape of DM's `task_basic.yaml` (`start-task --print-sample-config`).
    pub fn sample() -> &'static str {
        include_str!("samples/task.yaml")
    }
}

#[cfg(test)]
#[path = "task_tests.rs"]
pub(crate) mod tests;
