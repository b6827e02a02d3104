//! A task resolved for one source (DM's `TaskConfigToSubTaskConfigs` + `SubTaskConfig.Adjust`):
//! task-level values copied, rule names replaced by the rules, unit settings final, connections
//! filled from the source and the target. What a worker runs; stored as JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::db::DbConfig;
use super::source::SourceConfig;
use super::task::{CollationCompatible, Experimental, MariaDbToTiDb, MysqlInstance, ShardMode, TaskConfig, TaskMode};
use super::task_rules::{BaList, ExpressionFilter, FilterRule, Meta, RouteRule};
use super::task_units::{LoaderConfig, MydumperConfig, SyncerConfig, ValidatorConfig};

/// One source's share of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SubtaskConfig {
    /// The task's name.
    pub name: String,
    pub task_mode: TaskMode,
    /// `None` when the task does not merge shards.
    pub shard_mode: Option<ShardMode>,
    pub strict_optimistic_shard_mode: bool,
    pub meta_schema: String,
    pub timezone: String,
    pub case_sensitive: bool,
    pub collation_compatible: CollationCompatible,
    pub online_ddl: bool,
    pub shadow_table_rules: Vec<String>,
    pub trash_table_rules: Vec<String>,
    pub ignore_checking_items: Vec<String>,
    pub clean_dump_file: bool,
    pub source_id: String,
    /// The source's connection (its `from`), with the task's time zone as a session variable.
    pub from: DbConfig,
    /// The task's `target-database`, likewise.
    pub to: DbConfig,
    /// Binlog start point from the task file, if any.
    pub meta: Option<Meta>,
    /// In the instance's order, which is the order DM applies them.
    pub route_rules: Vec<RouteRule>,
    pub filter_rules: Vec<FilterRule>,
    pub block_allow_list: Option<BaList>,
    pub expression_filters: Vec<ExpressionFilter>,
    pub mydumper: MydumperConfig,
    /// `dir` already carries the `.<task>` suffix when the task loads.
    pub loader: LoaderConfig,
    pub syncer: SyncerConfig,
    pub validator: ValidatorConfig,
    pub experimental: Experimental,
    pub mariadb2tidb: MariaDbToTiDb,
}

impl TaskConfig {
    /// One subtask per instance, in the file's order. Every source must exist already.
    pub fn subtasks(&self, sources: &BTreeMap<String, SourceConfig>) -> Result<Vec<SubtaskConfig>, ConfigError> {
        self.mysql_instances
            .iter()
            .map(|inst| {
                let source = sources.get(&inst.source_id).ok_or_else(|| ConfigError::SourceMissing {
                    task: self.name.clone(),
                    source_id: inst.source_id.clone(),
                })?;
                Ok(self.subtask(inst, source))
            })
            .collect()
    }

    fn subtask(&self, inst: &MysqlInstance, source: &SourceConfig) -> SubtaskConfig {
        let mut loader = inst.loader.clone();
        if self.task_mode.has_load() && self.task_mode != TaskMode::LoadSync {
            loader.dir = dump_dir(&loader.dir, &self.name, &inst.source_id);
        }
        SubtaskConfig {
            name: self.name.clone(),
            task_mode: self.task_mode,
            shard_mode: self.shard_mode,
            strict_optimistic_shard_mode: self.strict_optimistic_shard_mode,
            meta_schema: self.meta_schema.clone(),
            timezone: self.timezone.clone(),
            case_sensitive: self.case_sensitive,
            collation_compatible: self.collation_compatible,
            online_ddl: self.online_ddl,
            shadow_table_rules: self.shadow_table_rules.clone(),
            trash_table_rules: self.trash_table_rules.clone(),
            ignore_checking_items: self.ignore_checking_items.clone(),
            clean_dump_file: self.clean_dump_file,
            source_id: inst.source_id.clone(),
            from: with_time_zone(&source.from, &self.timezone),
            to: with_time_zone(&self.target_database, &self.timezone),
            meta: inst.meta.clone(),
            route_rules: pick(&inst.route_rules, &self.routes),
            filter_rules: pick(&inst.filter_rules, &self.filters),
            block_allow_list: inst.block_allow_list.as_ref().map(|n| self.block_allow_list[n].clone()),
            expression_filters: pick(&inst.expression_filters, &self.expression_filter),
            mydumper: inst.mydumper.clone(),
            loader,
            syncer: inst.syncer.clone(),
            validator: inst.validator.clone(),
            experimental: self.experimental.clone(),
            mariadb2tidb: self.mariadb2tidb.clone(),
        }
    }
}

/// The rules an instance names, in its order (names were checked when the task was built).
fn pick<T: Clone>(names: &[String], rules: &BTreeMap<String, T>) -> Vec<T> {
    names.iter().map(|n| rules[n].clone()).collect()
}

/// DM's `storage.AdjustPath`: a local dir gets `.<task>`, an object-store URL `/<task>.<source>`;
/// never twice.
fn dump_dir(dir: &str, task: &str, source_id: &str) -> String {
    if let Some((scheme, rest)) = dir.split_once("://") {
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, format!("?{q}")),
            None => (rest, String::new()),
        };
        let suffix = format!("/{task}.{source_id}");
        if path.ends_with(&suffix) {
            return dir.to_string();
        }
        return format!("{scheme}://{}{suffix}{query}", path.trim_end_matches('/'));
    }
    let suffix = format!(".{task}");
    if dir.ends_with(&suffix) { dir.to_string() } else { format!("{dir}{suffix}") }
}

/// DM's `AdjustWithTimeZone`: the task's zone overrides the session's `time_zone`.
fn with_time_zone(db: &DbConfig, timezone: &str) -> DbConfig {
    let mut out = db.clone();
    if !timezone.is_empty() {
        let key = out.session.keys().find(|k| k.eq_ignore_ascii_case("time_zone")).cloned();
        out.session.insert(key.unwrap_or_else(|| "time_zone".into()), timezone.to_string());
    }
    out
}

impl SubtaskConfig {
    /// The JSON kept in storage.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("a subtask config always serialises")
    }

    /// Reads back what [`SubtaskConfig::to_stored`] wrote.
    pub fn from_stored(text: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError::Stored { what: "subtask config", reason: e.to_string() })
    }

    /// A copy safe to show: both passwords replaced by DM's mask.
    pub fn masked(&self) -> Self {
        Self { from: self.from.masked(), to: self.to.masked(), ..self.clone() }
    }
}

#[cfg(test)]
#[path = "subtask_tests.rs"]
mod tests;
