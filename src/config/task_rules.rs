//! The named rules of DM's task file (routes, binlog event filters, block-allow lists, expression
//! filters) and an instance's binlog start point, with the checks DM runs on them when a task is
//! built. Source files reuse [`FilterRule`] for their own `filters`.

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::yaml::{invalid, nullable};

/// A table route (`routes.<name>`): upstream schema/table patterns to a downstream target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct RouteRule {
    /// Wildcard pattern (`*` last, `?`); required.
    pub schema_pattern: String,
    /// Empty: the rule routes the schema itself.
    pub table_pattern: String,
    pub target_schema: String,
    pub target_table: String,
    /// Write part of the table name into a column of the merged table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extract_table: Option<TableExtractor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extract_schema: Option<SchemaExtractor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extract_source: Option<SourceExtractor>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct TableExtractor {
    pub target_column: String,
    pub table_regexp: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SchemaExtractor {
    pub target_column: String,
    pub schema_regexp: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SourceExtractor {
    pub target_column: String,
    pub source_regexp: String,
}

/// A binlog event filter (`filters.<name>`, or an item of a source's `filters`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct FilterRule {
    pub schema_pattern: String,
    pub table_pattern: String,
    /// Event names as DM spells them ("all dml", "truncate table"…), normalised to lower case.
    #[serde(deserialize_with = "nullable")]
    pub events: Vec<String>,
    /// Regular expressions matched case-insensitively against DDL text.
    #[serde(deserialize_with = "nullable")]
    pub sql_pattern: Vec<String>,
    /// `Do`, `Ignore` or `Error` (DM's spelling; any case is accepted and normalised).
    pub action: String,
}

/// DM's binlog event names (`pkg/binlog-filter`).
const FILTER_EVENTS: &[&str] = &[
    "all",
    "all ddl",
    "all dml",
    "none",
    "none ddl",
    "none dml",
    "insert",
    "update",
    "delete",
    "create database",
    "drop database",
    "alter database",
    "create schema",
    "drop schema",
    "alter schema",
    "create table",
    "drop table",
    "truncate table",
    "rename table",
    "create index",
    "drop index",
    "create view",
    "drop view",
    "alter table",
    "add table partition",
    "drop table partition",
    "truncate table partition",
    "incompatible ddl changes",
    "value range decrease",
    "precision decrease",
    "modify column",
    "rename column",
    "rename index",
    "drop column",
    "drop primary key",
    "drop unique key",
    "modify default value",
    "modify constraint",
    "modify columns order",
    "modify charset",
    "modify collation",
    "remove auto increment",
    "modify storage engine",
    "reorganize table partition",
    "rebuild table partition",
    "coalesce table partition",
    "split table partition",
    "exchange table partition",
    "modify schema charset and collate",
    "modify table charset and collate",
    "modify table comment",
    "recover table",
    "alter table partitioning",
    "remove table partitioning",
    "add column",
    "set default value",
    "rebase auto id",
    "add primary key",
    "alter index visibility",
    "alter ttl info",
    "alter ttl remove",
    "multi schema change",
];

/// A block-allow list (`block-allow-list.<name>`); a `~` prefix makes an entry a regular expression.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct BaList {
    #[serde(deserialize_with = "nullable")]
    pub do_dbs: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub ignore_dbs: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub do_tables: Vec<BaTable>,
    #[serde(deserialize_with = "nullable")]
    pub ignore_tables: Vec<BaTable>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct BaTable {
    pub db_name: String,
    pub tbl_name: String,
}

/// A row filter by SQL expression (`expression-filter.<name>`): one kind of expression per filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ExpressionFilter {
    pub schema: String,
    pub table: String,
    pub insert_value_expr: String,
    pub update_old_value_expr: String,
    pub update_new_value_expr: String,
    pub delete_value_expr: String,
}

/// Where incremental replication of one instance starts (`mysql-instances[i].meta`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Meta {
    pub binlog_name: String,
    pub binlog_pos: u32,
    pub binlog_gtid: String,
}

impl Default for Meta {
    fn default() -> Self {
        // 4: the first event after the binlog file header.
        Self { binlog_name: String::new(), binlog_pos: 4, binlog_gtid: String::new() }
    }
}

impl Meta {
    pub(crate) fn check(&self, key: &str) -> Result<(), ConfigError> {
        if self.binlog_name.is_empty() && self.binlog_gtid.is_empty() {
            return Err(invalid(key, "sets neither binlog-name nor binlog-gtid; give one of them, or remove meta"));
        }
        Ok(())
    }
}

/// `*` may only end a wildcard pattern (DM's table selector refuses `a*b`).
fn check_wildcard(key: &str, pattern: &str) -> Result<(), ConfigError> {
    match pattern.find('*') {
        Some(i) if i + 1 != pattern.len() => {
            Err(invalid(key, format!("\"{pattern}\": '*' may only be the last character of a pattern")))
        }
        _ => Ok(()),
    }
}

fn check_regex(key: &str, re: &str) -> Result<(), ConfigError> {
    regex::Regex::new(re).map(|_| ()).map_err(|e| {
        // The regex crate draws a multi-line caret diagram; keep only its last line, the cause.
        let text = e.to_string();
        let cause = text.lines().last().unwrap_or_default().trim().trim_start_matches("error: ");
        invalid(key, format!("\"{re}\" is not a valid regular expression ({cause})"))
    })
}

impl RouteRule {
    pub(crate) fn check(&self, key: &str) -> Result<(), ConfigError> {
        if self.schema_pattern.is_empty() {
            return Err(invalid(format!("{key}.schema-pattern"), "is empty; a route needs a schema pattern"));
        }
        check_wildcard(&format!("{key}.schema-pattern"), &self.schema_pattern)?;
        check_wildcard(&format!("{key}.table-pattern"), &self.table_pattern)?;
        if let Some(x) = &self.extract_table {
            check_regex(&format!("{key}.extract-table.table-regexp"), &x.table_regexp)?;
        }
        if let Some(x) = &self.extract_schema {
            check_regex(&format!("{key}.extract-schema.schema-regexp"), &x.schema_regexp)?;
        }
        if let Some(x) = &self.extract_source {
            check_regex(&format!("{key}.extract-source.source-regexp"), &x.source_regexp)?;
        }
        Ok(())
    }
}

impl FilterRule {
    /// Checks and normalises action and event names.
    pub(crate) fn check(&mut self, key: &str) -> Result<(), ConfigError> {
        check_wildcard(&format!("{key}.schema-pattern"), &self.schema_pattern)?;
        check_wildcard(&format!("{key}.table-pattern"), &self.table_pattern)?;
        self.action = match self.action.to_ascii_lowercase().as_str() {
            "do" => "Do".into(),
            "ignore" => "Ignore".into(),
            "error" => "Error".into(),
            _ => return Err(invalid(format!("{key}.action"), format!("\"{}\": use Do, Ignore or Error", self.action))),
        };
        for event in &mut self.events {
            let lower = event.trim().to_ascii_lowercase();
            if !FILTER_EVENTS.contains(&lower.as_str()) {
                let hint = "use DM's event names, e.g. \"all dml\", \"truncate table\", \"drop table\"";
                return Err(invalid(format!("{key}.events"), format!("unknown event \"{event}\"; {hint}")));
            }
            *event = lower;
        }
        for pattern in &self.sql_pattern {
            check_regex(&format!("{key}.sql-pattern"), pattern)?;
        }
        Ok(())
    }
}

impl BaList {
    /// Compiles every `~` entry, as DM does when it builds the filter.
    pub(crate) fn check(&self, key: &str) -> Result<(), ConfigError> {
        let regex_of = |v: &str| v.strip_prefix('~').map(str::to_string);
        let dbs = self.do_dbs.iter().map(|d| ("do-dbs", d)).chain(self.ignore_dbs.iter().map(|d| ("ignore-dbs", d)));
        for (list, db) in dbs {
            if let Some(re) = regex_of(db) {
                check_regex(&format!("{key}.{list}"), &re)?;
            }
        }
        let tables = self
            .do_tables
            .iter()
            .map(|t| ("do-tables", t))
            .chain(self.ignore_tables.iter().map(|t| ("ignore-tables", t)));
        for (list, t) in tables {
            if t.db_name.is_empty() {
                return Err(invalid(format!("{key}.{list}"), "an entry has no db-name; set it"));
            }
            for v in [&t.db_name, &t.tbl_name] {
                if let Some(re) = regex_of(v) {
                    check_regex(&format!("{key}.{list}"), &re)?;
                }
            }
        }
        Ok(())
    }
}

impl ExpressionFilter {
    pub(crate) fn check(&self, key: &str) -> Result<(), ConfigError> {
        if self.schema.is_empty() {
            return Err(invalid(format!("{key}.schema"), "is empty; name the schema the filter applies to"));
        }
        if self.table.is_empty() {
            return Err(invalid(format!("{key}.table"), "is empty; name the table the filter applies to"));
        }
        let kinds = [
            !self.insert_value_expr.is_empty(),
            !self.update_old_value_expr.is_empty() || !self.update_new_value_expr.is_empty(),
            !self.delete_value_expr.is_empty(),
        ];
        if kinds.iter().filter(|k| **k).count() > 1 {
            return Err(invalid(
                key,
                "sets expressions of more than one kind (insert, update, delete); use one filter per kind",
            ));
        }
        Ok(())
    }
}
