//! Per-unit settings of a task (dump, load, sync, validate): DM's `mydumpers`, `loaders`, `syncers`
//! and `validators` entries and their inline forms. A partial entry starts from DM's defaults, as
//! DM's YAML decoding does; `adjust` fills zero values and checks the rest like DM's `adjust`.

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::yaml::{go_duration, invalid};

/// Dump unit (`mydumpers.<name>` or an instance's `mydumper`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct MydumperConfig {
    /// Kept for DM compatibility; DM dumps in-process today.
    pub mydumper_path: String,
    pub threads: u32,
    /// Chunk size: a bare number is MiB, or a size like "64M".
    pub chunk_filesize: String,
    pub statement_size: u64,
    pub rows: u64,
    #[serde(rename = "where")]
    pub where_clause: String,
    pub skip_tz_utc: bool,
    pub extra_args: String,
}

impl Default for MydumperConfig {
    fn default() -> Self {
        Self {
            mydumper_path: "./bin/mydumper".into(),
            threads: 4,
            chunk_filesize: "64".into(),
            statement_size: 0,
            rows: 0,
            where_clause: String::new(),
            skip_tz_utc: true,
            extra_args: String::new(),
        }
    }
}

/// Load unit (`loaders.<name>` or an instance's `loader`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct LoaderConfig {
    pub pool_size: u32,
    /// Where dumped files go; a subtask appends `.<task>`.
    pub dir: String,
    pub sorting_dir_physical: String,
    /// `logical` or `physical` (DM's old `sql` / `loader` mean `logical`).
    pub import_mode: String,
    /// Deprecated in DM for `on-duplicate-logical`; passed on.
    pub on_duplicate: String,
    pub on_duplicate_logical: String,
    pub on_duplicate_physical: String,
    pub disk_quota_physical: String,
    pub checksum_physical: String,
    pub analyze: String,
    pub range_concurrency: u32,
    pub compress_kv_pairs: String,
    pub pd_addr: String,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            pool_size: 16,
            dir: "./dumped_data".into(),
            sorting_dir_physical: String::new(),
            import_mode: "logical".into(),
            on_duplicate: String::new(),
            on_duplicate_logical: "replace".into(),
            on_duplicate_physical: "none".into(),
            disk_quota_physical: String::new(),
            checksum_physical: "required".into(),
            analyze: "optional".into(),
            range_concurrency: 0,
            compress_kv_pairs: String::new(),
            pd_addr: String::new(),
        }
    }
}

/// Sync unit (`syncers.<name>` or an instance's `syncer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct SyncerConfig {
    pub meta_file: String,
    pub worker_count: u32,
    pub batch: u32,
    pub queue_size: u32,
    /// Seconds between checkpoint flushes.
    pub checkpoint_flush_interval: u32,
    pub compact: bool,
    pub multiple_rows: bool,
    /// Deprecated in DM; accepted and ignored.
    pub max_retry: u32,
    /// Deprecated in DM; accepted and ignored.
    pub auto_fix_gtid: bool,
    pub enable_gtid: bool,
    /// Deprecated in DM (`disable-causality`); accepted with a warning.
    pub disable_detect: bool,
    pub safe_mode: bool,
    /// Go duration; empty means twice the flush interval.
    pub safe_mode_duration: String,
    /// Deprecated in DM (ANSI_QUOTES is discovered); accepted with a warning.
    pub enable_ansi_quotes: bool,
}

impl Default for SyncerConfig {
    fn default() -> Self {
        Self {
            meta_file: String::new(),
            worker_count: 16,
            batch: 100,
            queue_size: 1024,
            checkpoint_flush_interval: 30,
            compact: false,
            multiple_rows: false,
            max_retry: 0,
            auto_fix_gtid: false,
            enable_gtid: false,
            disable_detect: false,
            safe_mode: false,
            safe_mode_duration: "60s".into(),
            enable_ansi_quotes: false,
        }
    }
}

/// Continuous validator (`validators.<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ValidatorConfig {
    /// `none`, `fast` or `full`.
    pub mode: String,
    pub worker_count: u32,
    pub validate_interval: String,
    pub check_interval: String,
    pub row_error_delay: String,
    pub meta_flush_interval: String,
    pub batch_query_size: u32,
    pub max_pending_row_size: String,
    pub max_pending_row_count: u32,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        Self {
            mode: "none".into(),
            worker_count: 4,
            validate_interval: "10s".into(),
            check_interval: "5s".into(),
            row_error_delay: "30m".into(),
            meta_flush_interval: "5m".into(),
            batch_query_size: 100,
            max_pending_row_size: "500m".into(),
            max_pending_row_count: i32::MAX as u32,
        }
    }
}

/// DM's file sizes: a bare number, or a number with k/m/g/t/p and an optional `i`/`b` ("64M", "1GiB").
fn is_size(text: &str) -> bool {
    let t = text.trim();
    let num_len = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    if num_len == 0 || t[..num_len].parse::<f64>().is_err() {
        return false;
    }
    let unit = t[num_len..].trim_start().to_ascii_lowercase();
    let rest = unit.strip_prefix(['k', 'm', 'g', 't', 'p']).unwrap_or(&unit);
    let rest = rest.strip_prefix('i').unwrap_or(rest);
    rest.is_empty() || rest == "b"
}

fn one_of(key: String, value: &mut String, allowed: &[&str]) -> Result<(), ConfigError> {
    let lower = value.to_ascii_lowercase();
    if allowed.contains(&lower.as_str()) {
        *value = lower;
        Ok(())
    } else {
        Err(invalid(key, format!("\"{value}\": use {}", allowed.join(", "))))
    }
}

impl MydumperConfig {
    pub(crate) fn adjust(&mut self, key: &str) -> Result<(), ConfigError> {
        if self.chunk_filesize.is_empty() {
            self.chunk_filesize = "64".into();
        }
        if !is_size(&self.chunk_filesize) {
            let reason = format!("\"{}\": give MiB as a number (64) or a size like 64M", self.chunk_filesize);
            return Err(invalid(format!("{key}.chunk-filesize"), reason));
        }
        if self.threads == 0 {
            return Err(invalid(format!("{key}.threads"), "is 0; give at least 1"));
        }
        Ok(())
    }
}

impl LoaderConfig {
    pub(crate) fn adjust(&mut self, key: &str) -> Result<(), ConfigError> {
        if self.pool_size == 0 {
            self.pool_size = 16;
        }
        if self.dir.is_empty() {
            return Err(invalid(format!("{key}.dir"), "is empty; give the directory for dumped files"));
        }
        let mode = self.import_mode.to_ascii_lowercase();
        self.import_mode = match mode.as_str() {
            "" | "sql" | "loader" | "logical" => "logical".into(),
            "physical" => mode,
            _ => {
                let reason = format!("\"{}\": use logical or physical", self.import_mode);
                return Err(invalid(format!("{key}.import-mode"), reason));
            }
        };
        let fill = |v: &mut String, default: &str| {
            if v.is_empty() {
                *v = default.into();
            }
        };
        fill(&mut self.on_duplicate_logical, "replace");
        fill(&mut self.on_duplicate_physical, "none");
        fill(&mut self.checksum_physical, "required");
        fill(&mut self.analyze, "optional");
        one_of(format!("{key}.on-duplicate-logical"), &mut self.on_duplicate_logical, &["replace", "error", "ignore"])?;
        one_of(format!("{key}.on-duplicate-physical"), &mut self.on_duplicate_physical, &["none", "manual"])?;
        one_of(format!("{key}.checksum-physical"), &mut self.checksum_physical, &["required", "optional", "off"])?;
        one_of(format!("{key}.analyze"), &mut self.analyze, &["required", "optional", "off"])?;
        if !self.disk_quota_physical.is_empty() && !is_size(&self.disk_quota_physical) {
            let reason = format!("\"{}\": give a size like 100G", self.disk_quota_physical);
            return Err(invalid(format!("{key}.disk-quota-physical"), reason));
        }
        Ok(())
    }
}

impl SyncerConfig {
    /// Fills DM's zero-value defaults and checks safe mode; returns warnings for deprecated keys.
    pub(crate) fn adjust(&mut self, key: &str) -> Result<Vec<String>, ConfigError> {
        if self.queue_size == 0 {
            self.queue_size = 1024;
        }
        if self.checkpoint_flush_interval == 0 {
            self.checkpoint_flush_interval = 30;
        }
        if self.safe_mode_duration.is_empty() {
            self.safe_mode_duration = format!("{}s", 2 * self.checkpoint_flush_interval);
        }
        let duration = go_duration(&self.safe_mode_duration)
            .map_err(|e| invalid(format!("{key}.safe-mode-duration"), format!("{e}; use a duration like 60s or 5m")))?;
        if self.safe_mode && duration.is_zero() {
            let reason = "is 0 while safe-mode is true; set a non-zero duration or turn safe-mode off";
            return Err(invalid(format!("{key}.safe-mode-duration"), reason));
        }
        if self.worker_count == 0 {
            return Err(invalid(format!("{key}.worker-count"), "is 0; give at least 1"));
        }
        if self.batch == 0 {
            return Err(invalid(format!("{key}.batch"), "is 0; give at least 1"));
        }
        let mut warnings = Vec::new();
        if self.enable_ansi_quotes {
            warnings
                .push(format!("{key}.enable-ansi-quotes is deprecated and has no effect (ANSI_QUOTES is detected)"));
        }
        if self.disable_detect {
            warnings.push(format!("{key}.disable-detect is deprecated and has no effect"));
        }
        Ok(warnings)
    }
}

impl ValidatorConfig {
    pub(crate) fn adjust(&mut self, key: &str) -> Result<(), ConfigError> {
        let d = ValidatorConfig::default();
        if self.mode.is_empty() {
            self.mode = d.mode.clone();
        }
        one_of(format!("{key}.mode"), &mut self.mode, &["none", "fast", "full"])?;
        if self.worker_count == 0 {
            self.worker_count = d.worker_count;
        }
        if self.batch_query_size == 0 {
            self.batch_query_size = d.batch_query_size;
        }
        if self.max_pending_row_count == 0 {
            self.max_pending_row_count = d.max_pending_row_count;
        }
        let durations = [
            ("validate-interval", &mut self.validate_interval, d.validate_interval),
            ("check-interval", &mut self.check_interval, d.check_interval),
            ("row-error-delay", &mut self.row_error_delay, d.row_error_delay),
            ("meta-flush-interval", &mut self.meta_flush_interval, d.meta_flush_interval),
        ];
        for (name, value, default) in durations {
            if value.is_empty() || go_duration(value).is_ok_and(|v| v.is_zero()) {
                *value = default;
            }
            go_duration(value).map_err(|e| invalid(format!("{key}.{name}"), e))?;
        }
        if self.max_pending_row_size.is_empty() {
            self.max_pending_row_size = d.max_pending_row_size;
        }
        if !is_size(&self.max_pending_row_size) {
            let reason = format!("\"{}\": give a size like 500m", self.max_pending_row_size);
            return Err(invalid(format!("{key}.max-pending-row-size"), reason));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t10_sizes() {
        for ok in ["64", "64M", "64 MiB", "1.5g", "500m", "10kb"] {
            assert!(is_size(ok), "{ok}");
        }
        for bad in ["", "M", "64x", "64MBB", "-1"] {
            assert!(!is_size(bad), "{bad}");
        }
    }

    #[test]
    fn t20_syncer_safe_mode_duration_defaults_to_twice_the_flush_interval() {
        let mut s =
            SyncerConfig { checkpoint_flush_interval: 10, safe_mode_duration: String::new(), ..Default::default() };
        s.adjust("syncers.a").unwrap();
        assert_eq!(s.safe_mode_duration, "20s");
        let mut s = SyncerConfig { safe_mode: true, safe_mode_duration: "0s".into(), ..Default::default() };
        assert!(s.adjust("syncers.a").unwrap_err().to_string().contains("safe-mode is true"));
    }

    #[test]
    fn t30_loader_old_import_modes_mean_logical() {
        let mut l = LoaderConfig { import_mode: "SQL".into(), ..Default::default() };
        l.adjust("loaders.a").unwrap();
        assert_eq!(l.import_mode, "logical");
        let mut l = LoaderConfig { import_mode: "fast".into(), ..Default::default() };
        assert!(l.adjust("loaders.a").is_err());
    }
}
