//! dm-worker configuration: the TOML file and the flags, with DM's dm-worker key names, merged
//! (flags win) and validated into [`WorkerConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::addr::{is_dialable, normalize, split_list};
use super::duration;

pub const DEFAULT_WORKER_ADDR: &str = "127.0.0.1:8262";
pub const DEFAULT_KEEPALIVE_TTL: Duration = Duration::from_secs(15);

/// The file and the flags, before validation. Unknown keys are an error.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkerConfigFile {
    pub name: Option<String>,
    pub worker_addr: Option<String>,
    pub advertise_addr: Option<String>,
    /// Masters' client addresses (comma-separated).
    pub join: Option<String>,
    /// DM takes seconds (`keepalive-ttl = 60`); a duration string (`"15s"`) works too.
    pub keepalive_ttl: Option<TtlValue>,
    /// Accepted for DM compatibility (relay comes with the data path).
    pub relay_keepalive_ttl: Option<TtlValue>,
    pub log_level: Option<String>,
    pub log_file: Option<PathBuf>,
    /// How often the worker heartbeats to the leader.
    pub heartbeat_interval: Option<String>,
}

/// A TTL in DM's form (whole seconds) or as a duration string.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TtlValue {
    Seconds(u64),
    Text(String),
}

impl TtlValue {
    fn parse(&self, key: &'static str) -> Result<Duration, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid { key, reason };
        match self {
            TtlValue::Seconds(s) => Ok(Duration::from_secs(*s)),
            TtlValue::Text(t) => match t.parse::<u64>() {
                Ok(s) => Ok(Duration::from_secs(s)),
                Err(_) => duration::parse(t).map_err(invalid),
            },
        }
    }
}

/// A validated worker configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    pub name: String,
    /// Listen address of the worker's gRPC service.
    pub worker_addr: String,
    /// Address masters dial.
    pub advertise_addr: String,
    pub join: Vec<String>,
    /// Unheard this long, the leader gives the worker's source to another worker; the worker
    /// itself stops work after 0.8 × this without an acknowledged heartbeat.
    pub keepalive_ttl: Duration,
    pub heartbeat_interval: Duration,
    pub log_level: String,
    pub log_file: Option<PathBuf>,
}

impl WorkerConfigFile {
    /// Reads a TOML file; unknown keys name the key and its line.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        super::load_toml(path)
    }

    /// `self` overridden by every value set in `flags`.
    pub fn merge(self, flags: WorkerConfigFile) -> Self {
        WorkerConfigFile {
            name: flags.name.or(self.name),
            worker_addr: flags.worker_addr.or(self.worker_addr),
            advertise_addr: flags.advertise_addr.or(self.advertise_addr),
            join: flags.join.or(self.join),
            keepalive_ttl: flags.keepalive_ttl.or(self.keepalive_ttl),
            relay_keepalive_ttl: flags.relay_keepalive_ttl.or(self.relay_keepalive_ttl),
            log_level: flags.log_level.or(self.log_level),
            log_file: flags.log_file.or(self.log_file),
            heartbeat_interval: flags.heartbeat_interval.or(self.heartbeat_interval),
        }
    }

    pub fn validate(self) -> Result<WorkerConfig, ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid { key, reason };
        let worker_addr = normalize("worker-addr", self.worker_addr.as_deref().unwrap_or(DEFAULT_WORKER_ADDR))?;
        let advertise_addr = match &self.advertise_addr {
            Some(a) => normalize("advertise-addr", a)?,
            None => worker_addr.clone(),
        };
        if !is_dialable(&advertise_addr) {
            return Err(invalid(
                "advertise-addr",
                format!("\"{advertise_addr}\" has no host masters can dial; set --advertise-addr HOST:PORT"),
            ));
        }
        let name = self.name.unwrap_or_else(|| advertise_addr.clone());
        let ok = !name.is_empty()
            && name.len() <= 128
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
        if !ok {
            return Err(invalid("name", format!("\"{name}\": use letters, digits, '-', '_', '.' or ':'")));
        }
        let join = split_list(self.join.as_deref().unwrap_or(""))
            .iter()
            .map(|a| normalize("join", a))
            .collect::<Result<Vec<_>, _>>()?;
        if join.is_empty() {
            return Err(invalid("join", "give the masters' addresses, e.g. --join 127.0.0.1:8261".into()));
        }
        let keepalive_ttl = match &self.keepalive_ttl {
            Some(v) => v.parse("keepalive-ttl")?,
            None => DEFAULT_KEEPALIVE_TTL,
        };
        let heartbeat_interval = match &self.heartbeat_interval {
            Some(t) => duration::parse(t).map_err(|e| invalid("heartbeat-interval", e))?,
            None => Duration::from_secs(1),
        };
        if heartbeat_interval.is_zero() || keepalive_ttl < heartbeat_interval * 2 {
            return Err(invalid(
                "keepalive-ttl",
                format!(
                    "{}s must be at least twice heartbeat-interval ({}ms) so one lost heartbeat is not an outage",
                    keepalive_ttl.as_secs_f64(),
                    heartbeat_interval.as_millis()
                ),
            ));
        }
        if let Some(v) = &self.relay_keepalive_ttl {
            v.parse("relay-keepalive-ttl")?;
        }
        let log_level = match self.log_level.as_deref().unwrap_or("info") {
            l @ ("trace" | "debug" | "info" | "warn" | "error") => l.to_string(),
            "fatal" => "error".to_string(),
            other => return Err(invalid("log-level", format!("\"{other}\": use debug, info, warn or error"))),
        };
        Ok(WorkerConfig {
            name,
            worker_addr,
            advertise_addr,
            join,
            keepalive_ttl,
            heartbeat_interval,
            log_level,
            log_file: self.log_file,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Coded, ErrorCode};

    fn flags() -> WorkerConfigFile {
        WorkerConfigFile { name: Some("w1".into()), join: Some("127.0.0.1:8261".into()), ..Default::default() }
    }

    #[test]
    fn t10_defaults() {
        let c = flags().validate().unwrap();
        assert_eq!(c.worker_addr, "127.0.0.1:8262");
        assert_eq!(c.advertise_addr, "127.0.0.1:8262");
        assert_eq!(c.keepalive_ttl, Duration::from_secs(15));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(c.join, vec!["127.0.0.1:8261"]);
    }

    #[test]
    fn t20_dm_file_keys_and_ttl_forms() {
        let file: WorkerConfigFile = toml::from_str(
            "name = \"w9\"\nworker-addr = \":8262\"\nadvertise-addr = \"10.0.0.9:8262\"\njoin = \"10.0.0.1:8261,10.0.0.2:8261\"\nkeepalive-ttl = 60\n",
        )
        .unwrap();
        let c = file.validate().unwrap();
        assert_eq!((c.name.as_str(), c.keepalive_ttl), ("w9", Duration::from_secs(60)));
        assert_eq!(c.join.len(), 2);
        let mut f = flags();
        f.keepalive_ttl = Some(TtlValue::Text("3s".into()));
        assert_eq!(f.validate().unwrap().keepalive_ttl, Duration::from_secs(3));
    }

    #[test]
    fn t30_bad_input_names_the_key() {
        let cases: Vec<(WorkerConfigFile, &str)> = vec![
            (WorkerConfigFile { join: None, ..flags() }, "join"),
            (WorkerConfigFile { keepalive_ttl: Some(TtlValue::Seconds(1)), ..flags() }, "keepalive-ttl"),
            (WorkerConfigFile { keepalive_ttl: Some(TtlValue::Text("soon".into())), ..flags() }, "keepalive-ttl"),
            (WorkerConfigFile { worker_addr: Some(":8262".into()), ..flags() }, "advertise-addr"),
            (WorkerConfigFile { name: Some("a b".into()), ..flags() }, "name"),
            (WorkerConfigFile { log_level: Some("loud".into()), ..flags() }, "log-level"),
        ];
        for (f, key) in cases {
            let e = f.validate().unwrap_err();
            assert_eq!(e.code(), ErrorCode::ConfigInvalid, "{e}");
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
        let unknown: Result<WorkerConfigFile, _> = toml::from_str("nmae = \"w\"\n");
        assert!(unknown.unwrap_err().to_string().contains("unknown field"));
    }
}
