//! DM's OpenAPI `Task` object and its translation to and from a task file.
//!
//! A task created through the API is stored as the task file it stands for (generated here),
//! so `dm ctl config task`, start-task's checks and subtask generation treat both the same. The
//! translation follows DM's converter: each `table_migrate_rule` of a source adds its tables to
//! that source's block-allow list, a route when it has a target, and the named binlog filters on
//! its tables. Reading a task back inverts that; features the `Task` object cannot express
//! (column extractors, expression filters, ignore lists) are left out of it — `config task`
//! shows the whole file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::error::ApiError;
use super::sources::MASK;
use crate::config::task::TaskConfig;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub name: String,
    /// all | full | incremental
    pub task_mode: String,
    /// pessimistic | optimistic (absent: tables are not merged)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_mode: Option<String>,
    #[serde(default)]
    pub strict_optimistic_shard_mode: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub meta_schema: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub timezone: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_checking_items: Vec<String>,
    pub target_config: TargetConfig,
    pub table_migrate_rule: Vec<TableMigrateRule>,
    /// Named binlog event filters, used by `table_migrate_rule[].binlog_filter_rule`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binlog_filter_rule: BTreeMap<String, BinlogFilterRule>,
    pub source_config: TaskSourceConfig,
    /// Read-only, in answers (with `with_status`): each subtask's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(read_only)]
    pub status_list: Option<Vec<SubTaskStatus>>,
}

/// One subtask: a task on one source.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SubTaskStatus {
    pub name: String,
    pub source_name: String,
    /// The worker running it ("" when the source has none).
    pub worker_name: String,
    /// The stage the worker reports: New | Running | Paused | Stopped | Finished ("" unknown).
    pub stage: String,
    /// The stage asked for: Running | Paused | Stopped.
    pub expected_stage: String,
    /// The data unit at work ("" when none).
    pub unit: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error_msg: String,
}

/// The downstream database. The password is write-only (answers show `******`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    #[serde(default)]
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableMigrateRule {
    pub source: RuleSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<RuleTarget>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binlog_filter_rule: Vec<String>,
}

/// Upstream tables of one source (wildcards `*` and `?` allowed).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleSource {
    pub source_name: String,
    pub schema: String,
    /// Empty: every table of the schema.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub table: String,
}

/// Where the tables go (empty: the same names).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleTarget {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub schema: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub table: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BinlogFilterRule {
    /// Event names as in task.yaml filters ("all dml", "truncate table", …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_event: Vec<String>,
    /// Regular expressions of DDL statements to ignore.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_sql: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaskSourceConfig {
    pub source_conf: Vec<TaskSourceConf>,
}

/// A source of the task, with where incremental replication starts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TaskSourceConf {
    pub source_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_pos: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_gtid: Option<String>,
}

fn ba_name(source: &str) -> String {
    format!("ba-{source}")
}

impl Task {
    /// The task file this object stands for (JSON text, which is YAML), checked by the caller
    /// like any task file.
    pub fn to_task_file(&self) -> Result<String, ApiError> {
        // Read-only fields are in the schema (so answers match it) but refused in a request.
        if self.status_list.is_some() {
            return Err(ApiError::bad_request("status_list is read-only; leave it out"));
        }
        let mut instances = Vec::new();
        let (mut bas, mut routes, mut filters) =
            (serde_json::Map::new(), serde_json::Map::new(), serde_json::Map::new());
        for sc in &self.source_config.source_conf {
            let src = &sc.source_name;
            let mut inst = json!({"source-id": src});
            if sc.binlog_name.is_some() || sc.binlog_gtid.is_some() {
                let mut meta = json!({});
                if let Some(n) = &sc.binlog_name {
                    meta["binlog-name"] = n.clone().into();
                }
                if let Some(p) = sc.binlog_pos {
                    meta["binlog-pos"] = p.into();
                }
                if let Some(g) = &sc.binlog_gtid {
                    meta["binlog-gtid"] = g.clone().into();
                }
                inst["meta"] = meta;
            }
            let (mut do_dbs, mut do_tables, mut route_names, mut filter_names) = (vec![], vec![], vec![], vec![]);
            for (i, r) in self.table_migrate_rule.iter().enumerate().filter(|(_, r)| &r.source.source_name == src) {
                if r.source.table.is_empty() {
                    do_dbs.push(Value::from(r.source.schema.clone()));
                } else {
                    do_tables.push(json!({"db-name": r.source.schema, "tbl-name": r.source.table}));
                }
                if let Some(t) = &r.target {
                    let name = format!("route-{src}-{i}");
                    let mut rule = json!({"schema-pattern": r.source.schema, "target-schema": t.schema});
                    if !r.source.table.is_empty() {
                        rule["table-pattern"] = r.source.table.clone().into();
                        rule["target-table"] = t.table.clone().into();
                    }
                    routes.insert(name.clone(), rule);
                    route_names.push(Value::from(name));
                }
                for f in &r.binlog_filter_rule {
                    let Some(def) = self.binlog_filter_rule.get(f) else {
                        return Err(ApiError::bad_request(format!(
                            "table_migrate_rule[{i}] uses binlog_filter_rule \"{f}\", which is not defined; define it in binlog_filter_rule"
                        )));
                    };
                    let name = format!("{f}-{src}-{i}");
                    let mut rule = json!({"schema-pattern": r.source.schema, "action": "Ignore"});
                    if !r.source.table.is_empty() {
                        rule["table-pattern"] = r.source.table.clone().into();
                    }
                    rule["events"] = def.ignore_event.clone().into();
                    rule["sql-pattern"] = def.ignore_sql.clone().into();
                    filters.insert(name.clone(), rule);
                    filter_names.push(Value::from(name));
                }
            }
            if !do_dbs.is_empty() || !do_tables.is_empty() {
                bas.insert(ba_name(src), json!({"do-dbs": do_dbs, "do-tables": do_tables}));
                inst["block-allow-list"] = ba_name(src).into();
            }
            if !route_names.is_empty() {
                inst["route-rules"] = route_names.into();
            }
            if !filter_names.is_empty() {
                inst["filter-rules"] = filter_names.into();
            }
            instances.push(inst);
        }
        if let Some(r) = self
            .table_migrate_rule
            .iter()
            .find(|r| !self.source_config.source_conf.iter().any(|s| s.source_name == r.source.source_name))
        {
            return Err(ApiError::bad_request(format!(
                "table_migrate_rule names source \"{}\", which is not in source_config.source_conf; add it there",
                r.source.source_name
            )));
        }
        let t = &self.target_config;
        let mut doc = json!({
            "name": self.name,
            "task-mode": self.task_mode,
            "target-database": {"host": t.host, "port": t.port, "user": t.user, "password": t.password},
            "mysql-instances": instances,
        });
        if let Some(m) = &self.shard_mode {
            doc["shard-mode"] = m.clone().into();
        }
        if self.strict_optimistic_shard_mode {
            doc["strict-optimistic-shard-mode"] = true.into();
        }
        if !self.meta_schema.is_empty() {
            doc["meta-schema"] = self.meta_schema.clone().into();
        }
        if !self.timezone.is_empty() {
            doc["timezone"] = self.timezone.clone().into();
        }
        if !self.ignore_checking_items.is_empty() {
            doc["ignore-checking-items"] = self.ignore_checking_items.clone().into();
        }
        for (key, map) in [("block-allow-list", bas), ("routes", routes), ("filters", filters)] {
            if !map.is_empty() {
                doc[key] = Value::Object(map);
            }
        }
        Ok(serde_json::to_string_pretty(&doc).expect("a JSON value serialises"))
    }

    /// The `Task` object of a stored task (passwords masked).
    pub fn from_config(c: &TaskConfig) -> Task {
        let mut rules = Vec::new();
        let mut filter_defs = BTreeMap::new();
        let mut source_conf = Vec::new();
        for inst in &c.mysql_instances {
            let src = &inst.source_id;
            source_conf.push(TaskSourceConf {
                source_name: src.clone(),
                binlog_name: inst.meta.as_ref().map(|m| m.binlog_name.clone()).filter(|n| !n.is_empty()),
                binlog_pos: inst.meta.as_ref().filter(|m| !m.binlog_name.is_empty()).map(|m| m.binlog_pos),
                binlog_gtid: inst.meta.as_ref().map(|m| m.binlog_gtid.clone()).filter(|g| !g.is_empty()),
            });
            let mut mine: Vec<TableMigrateRule> = Vec::new();
            if let Some(ba) = inst.block_allow_list.as_ref().and_then(|n| c.block_allow_list.get(n)) {
                let dbs = ba.do_dbs.iter().map(|d| (d.clone(), String::new()));
                let tables = ba.do_tables.iter().map(|t| (t.db_name.clone(), t.tbl_name.clone()));
                for (schema, table) in dbs.chain(tables) {
                    let source = RuleSource { source_name: src.clone(), schema, table };
                    mine.push(TableMigrateRule { source, target: None, binlog_filter_rule: vec![] });
                }
            }
            for r in inst.route_rules.iter().filter_map(|n| c.routes.get(n)) {
                let target = RuleTarget { schema: r.target_schema.clone(), table: r.target_table.clone() };
                match mine.iter_mut().find(|m| {
                    m.target.is_none() && m.source.schema == r.schema_pattern && m.source.table == r.table_pattern
                }) {
                    Some(m) => m.target = Some(target),
                    None => {
                        let source = RuleSource {
                            source_name: src.clone(),
                            schema: r.schema_pattern.clone(),
                            table: r.table_pattern.clone(),
                        };
                        mine.push(TableMigrateRule { source, target: Some(target), binlog_filter_rule: vec![] });
                    }
                }
            }
            for (name, f) in inst.filter_rules.iter().filter_map(|n| c.filters.get(n).map(|f| (n, f))) {
                if !f.action.eq_ignore_ascii_case("ignore") {
                    continue;
                }
                let def = BinlogFilterRule { ignore_event: f.events.clone(), ignore_sql: f.sql_pattern.clone() };
                // A filter generated from an API rule is named `<name>-<source>-<i>`.
                let short = name.strip_suffix(&format!("-{src}")).unwrap_or(name);
                let short = short.rsplit_once(&format!("-{src}-")).map_or(short, |(n, _)| n).to_string();
                if let Some(m) =
                    mine.iter_mut().find(|m| m.source.schema == f.schema_pattern && m.source.table == f.table_pattern)
                {
                    m.binlog_filter_rule.push(short.clone());
                }
                filter_defs.insert(short, def);
            }
            rules.extend(mine);
        }
        let t = &c.target_database;
        Task {
            name: c.name.clone(),
            task_mode: c.task_mode.as_str().to_string(),
            shard_mode: c.shard_mode.map(|m| m.as_str().to_string()),
            strict_optimistic_shard_mode: c.strict_optimistic_shard_mode,
            meta_schema: c.meta_schema.clone(),
            timezone: c.timezone.clone(),
            ignore_checking_items: c.ignore_checking_items.clone(),
            target_config: TargetConfig {
                host: t.host.clone(),
                port: t.port,
                user: t.user.clone(),
                password: MASK.to_string(),
            },
            table_migrate_rule: rules,
            binlog_filter_rule: filter_defs,
            source_config: TaskSourceConfig { source_conf },
            status_list: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Task {
        serde_json::from_value(json!({
            "name": "shop", "task_mode": "all", "shard_mode": "pessimistic", "meta_schema": "dm_meta",
            "target_config": {"host": "127.0.0.1", "port": 4000, "user": "root", "password": "pw"},
            "table_migrate_rule": [
                {"source": {"source_name": "s1", "schema": "shop", "table": "orders_*"},
                 "target": {"schema": "shop", "table": "orders"}, "binlog_filter_rule": ["no-drop"]},
                {"source": {"source_name": "s2", "schema": "shop", "table": "orders_*"},
                 "target": {"schema": "shop", "table": "orders"}},
                {"source": {"source_name": "s2", "schema": "logs"}}
            ],
            "binlog_filter_rule": {"no-drop": {"ignore_event": ["drop database"]}},
            "source_config": {"source_conf": [
                {"source_name": "s1"},
                {"source_name": "s2", "binlog_name": "mysql-bin.000003", "binlog_pos": 194}
            ]}
        }))
        .unwrap()
    }

    #[test]
    fn a_task_object_becomes_a_valid_task_file_and_reads_back() {
        let t = sample();
        let file = t.to_task_file().unwrap();
        let cfg = TaskConfig::from_yaml(&file).unwrap_or_else(|e| panic!("{e}\n{file}"));
        assert_eq!(cfg.mysql_instances.len(), 2);
        let mut back = Task::from_config(&cfg);
        let mut want = t.clone();
        want.target_config.password = MASK.into();
        // Rules come back grouped by source, schemas before tables.
        let key =
            |r: &TableMigrateRule| (r.source.source_name.clone(), r.source.schema.clone(), r.source.table.clone());
        want.table_migrate_rule.sort_by_key(key);
        back.table_migrate_rule.sort_by_key(key);
        assert_eq!(back, want, "\n{file}");
    }

    #[test]
    fn rules_must_name_known_sources_and_filters() {
        let mut t = sample();
        t.table_migrate_rule[0].source.source_name = "s9".into();
        assert!(t.to_task_file().unwrap_err().body.error_msg.contains("s9"));
        let mut t = sample();
        t.table_migrate_rule[0].binlog_filter_rule = vec!["nope".into()];
        assert!(t.to_task_file().unwrap_err().body.error_msg.contains("nope"));
        let t: Result<Task, _> = serde_json::from_value(json!({"name": "x", "bogus": 1}));
        assert!(t.is_err());
    }
}
