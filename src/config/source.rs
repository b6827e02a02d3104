//! DM's `source.yaml`: one upstream MySQL/MariaDB, decoded strictly, defaulted and checked like
//! DM's `ParseYaml` + `Verify`. Stored as JSON; checks that need the upstream itself (flavor and
//! server-id discovery, `gtid_mode`) belong to whoever connects to it.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::db::DbConfig;
use super::task_rules::FilterRule;
use super::yaml::{self, go_duration, invalid, nullable};

/// DM's limit on a source id (`MaxSourceIDLength`).
pub const MAX_SOURCE_ID_LEN: usize = 32;

/// A validated upstream source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SourceConfig {
    /// Names the source in tasks and storage keys.
    pub source_id: String,
    pub from: DbConfig,
    /// false: tasks on this source are stopped.
    pub enable: bool,
    pub enable_gtid: bool,
    /// Relay log pulled by the bound worker.
    pub enable_relay: bool,
    /// Where relay starts, if given.
    pub relay_binlog_name: String,
    pub relay_binlog_gtid: String,
    pub relay_dir: String,
    /// "" (detect from upstream), `mysql` or `mariadb`.
    pub flavor: String,
    /// Replica id used when reading binlog; 0 picks one when the source is created.
    pub server_id: u32,
    /// Deprecated in DM; kept for the DSN.
    pub charset: String,
    pub case_sensitive: bool,
    /// Binlog event filters applied to every task on this source.
    #[serde(deserialize_with = "nullable")]
    pub filters: Vec<FilterRule>,
    pub purge: PurgeConfig,
    pub checker: CheckerConfig,
    /// DM keys that no longer do anything: accepted, reported in `warnings`, not kept.
    #[serde(rename = "auto-fix-gtid", skip_serializing)]
    pub legacy_auto_fix_gtid: Option<IgnoredAny>,
    #[serde(rename = "meta-dir", skip_serializing)]
    pub legacy_meta_dir: Option<IgnoredAny>,
    #[serde(rename = "tracer", skip_serializing)]
    pub legacy_tracer: Option<IgnoredAny>,
    /// What DM would log as warnings while reading the file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Relay log purging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct PurgeConfig {
    /// Seconds between purge checks.
    pub interval: u64,
    /// Hours after which a relay file may be purged; 0 never by age.
    pub expires: u64,
    /// GB of free space below which relay files are purged.
    pub remain_space: u64,
}

impl Default for PurgeConfig {
    fn default() -> Self {
        Self { interval: 3600, expires: 0, remain_space: 15 }
    }
}

/// The task status checker that resumes paused tasks with backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct CheckerConfig {
    pub check_enable: bool,
    /// Go duration after which the backoff shrinks again.
    pub backoff_rollback: String,
    /// Go duration; at least DM's minimum backoff (1s).
    pub backoff_max: String,
    /// DM's unexposed knobs, which DM resets to fixed values: accepted and dropped.
    #[serde(skip_serializing)]
    pub check_interval: Option<IgnoredAny>,
    #[serde(skip_serializing)]
    pub backoff_min: Option<IgnoredAny>,
    #[serde(skip_serializing)]
    pub backoff_jitter: Option<IgnoredAny>,
    #[serde(skip_serializing)]
    pub backoff_factor: Option<IgnoredAny>,
}

impl Default for CheckerConfig {
    fn default() -> Self {
        Self {
            check_enable: true,
            backoff_rollback: "5m".into(),
            backoff_max: "5m".into(),
            check_interval: None,
            backoff_min: None,
            backoff_jitter: None,
            backoff_factor: None,
        }
    }
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            source_id: String::new(),
            from: DbConfig::default(),
            enable: true,
            enable_gtid: false,
            enable_relay: false,
            relay_binlog_name: String::new(),
            relay_binlog_gtid: String::new(),
            relay_dir: String::new(),
            flavor: String::new(),
            server_id: 0,
            charset: String::new(),
            case_sensitive: false,
            filters: Vec::new(),
            purge: PurgeConfig::default(),
            checker: CheckerConfig::default(),
            legacy_auto_fix_gtid: None,
            legacy_meta_dir: None,
            legacy_tracer: None,
            warnings: Vec::new(),
        }
    }
}

impl SourceConfig {
    /// Decodes, defaults and checks a `source.yaml`.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let mut cfg: SourceConfig = yaml::decode("source config", text)?;
        cfg.adjust()?;
        Ok(cfg)
    }

    /// The JSON kept in storage.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("a source config always serialises")
    }

    /// Reads back what [`SourceConfig::to_stored`] wrote.
    pub fn from_stored(text: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(text).map_err(|e| ConfigError::Stored { what: "source config", reason: e.to_string() })
    }

    /// A copy safe to show: passwords replaced by DM's mask.
    pub fn masked(&self) -> Self {
        Self { from: self.from.masked(), ..self.clone() }
    }

    /// DM's sample `source.yaml` (`operate-source --print-sample-config`).
    pub fn sample() -> &'static str {
        include_str!("samples/source.yaml")
    }

    fn adjust(&mut self) -> Result<(), ConfigError> {
        yaml::check_key_safe("source-id", &self.source_id, MAX_SOURCE_ID_LEN)?;
        self.from.check("from")?;
        self.flavor = self.flavor.to_ascii_lowercase();
        if !matches!(self.flavor.as_str(), "" | "mysql" | "mariadb") {
            return Err(invalid("flavor", format!("\"{}\": use mysql or mariadb, or leave it out", self.flavor)));
        }
        if !self.relay_binlog_name.is_empty() && !is_binlog_filename(&self.relay_binlog_name) {
            let reason = format!("\"{}\" is not a binlog file name like mysql-bin.000001", self.relay_binlog_name);
            return Err(invalid("relay-binlog-name", reason));
        }
        if !self.relay_binlog_gtid.is_empty() && !is_gtid_set(&self.flavor, &self.relay_binlog_gtid) {
            let reason = format!("\"{}\" is not a GTID set of flavor {}", self.relay_binlog_gtid, self.flavor_shown());
            return Err(invalid("relay-binlog-gtid", reason));
        }
        for (i, rule) in self.filters.iter_mut().enumerate() {
            rule.check(&format!("filters[{i}]"))?;
        }
        self.check_checker()?;
        self.take_legacy_keys();
        Ok(())
    }

    fn flavor_shown(&self) -> &str {
        if self.flavor.is_empty() { "mysql or mariadb" } else { &self.flavor }
    }

    fn check_checker(&self) -> Result<(), ConfigError> {
        let c = &self.checker;
        go_duration(&c.backoff_rollback).map_err(|e| invalid("checker.backoff-rollback", e))?;
        let max = go_duration(&c.backoff_max).map_err(|e| invalid("checker.backoff-max", e))?;
        if max < std::time::Duration::from_secs(1) {
            return Err(invalid("checker.backoff-max", format!("{} is below the minimum backoff 1s", c.backoff_max)));
        }
        Ok(())
    }

    /// Turns deprecated keys into warnings, so stored and re-read configs compare equal.
    fn take_legacy_keys(&mut self) {
        let legacy = [
            (self.legacy_auto_fix_gtid.take(), "auto-fix-gtid is deprecated and ignored"),
            (self.legacy_meta_dir.take(), "meta-dir is deprecated and ignored"),
            (self.legacy_tracer.take(), "tracer is deprecated and ignored"),
        ];
        for (seen, warning) in legacy {
            if seen.is_some() {
                self.warnings.push(warning.to_string());
            }
        }
        let c = &mut self.checker;
        (c.check_interval, c.backoff_min, c.backoff_jitter, c.backoff_factor) = (None, None, None, None);
    }
}

/// DM's relay/binlog file names: `<base>.<digits>`.
fn is_binlog_filename(name: &str) -> bool {
    match name.rsplit_once('.') {
        Some((base, seq)) => !base.is_empty() && !seq.is_empty() && seq.chars().all(|c| c.is_ascii_digit()),
        None => false,
    }
}

/// MySQL `uuid:1-5:7,uuid:1-3` or MariaDB `0-1-100,1-2-200`; either when the flavor is unknown.
fn is_gtid_set(flavor: &str, text: &str) -> bool {
    let mysql = || text.split(',').all(|part| is_mysql_gtid(part.trim()));
    let mariadb = || text.split(',').all(|part| is_mariadb_gtid(part.trim()));
    match flavor {
        "mysql" => mysql(),
        "mariadb" => mariadb(),
        _ => mysql() || mariadb(),
    }
}

fn is_mysql_gtid(part: &str) -> bool {
    let mut pieces = part.split(':');
    let uuid = pieces.next().unwrap_or("");
    let uuid_ok = uuid.len() == 36 && uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let mut intervals = pieces.peekable();
    uuid_ok
        && intervals.peek().is_some()
        && intervals.all(|iv| match iv.split_once('-') {
            Some((a, b)) => digits(a) && digits(b),
            None => digits(iv),
        })
}

fn is_mariadb_gtid(part: &str) -> bool {
    let nums: Vec<&str> = part.split('-').collect();
    nums.len() == 3 && nums.iter().all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
