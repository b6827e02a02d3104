//! dm-master configuration: the TOML file and the flags, both with DM's key names, merged (flags
//! win) and validated into [`MasterConfig`]. Validation touches nothing on disk.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::addr::{is_dialable, normalize, split_list};
use super::duration;

pub const DEFAULT_MASTER_ADDR: &str = "127.0.0.1:8261";
pub const DEFAULT_PEER_ADDR: &str = "127.0.0.1:8291";

/// The file and the flags, before validation. Every field optional; unknown keys are an error.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MasterConfigFile {
    pub name: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub master_addr: Option<String>,
    pub advertise_addr: Option<String>,
    pub peer_urls: Option<String>,
    pub advertise_peer_urls: Option<String>,
    pub initial_cluster: Option<String>,
    /// DM's `new` / `existing`; accepted for compatibility, the data dir decides.
    pub initial_cluster_state: Option<String>,
    pub join: Option<String>,
    pub log_level: Option<String>,
    pub log_file: Option<PathBuf>,
    /// Deadline of master→master forwarding and of waits inside a request.
    pub rpc_timeout: Option<String>,
    /// master→worker calls per second (DM's `rpc-rate-limit`).
    pub rpc_rate_limit: Option<f64>,
    /// master→worker calls allowed at once above the rate (DM's `rpc-rate-burst`).
    pub rpc_rate_burst: Option<u32>,
    /// Operator requests (API and dmctl calls) per second per client address on the client
    /// port; 0 turns the limit off.
    pub api_rate_limit: Option<f64>,
    /// Operator requests a client address may send at once above the rate.
    pub api_rate_burst: Option<u32>,
    pub raft: Option<RaftFile>,
}

/// `[raft]` table: dm's own tunables (DM has etcd's instead).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RaftFile {
    pub heartbeat_interval: Option<String>,
    /// Minimum election timeout; the maximum is twice it.
    pub election_timeout: Option<String>,
    /// Build a snapshot every this many applied entries.
    pub snapshot_interval: Option<u64>,
    /// Log entries kept after a snapshot for slow followers.
    pub snapshot_logs_to_keep: Option<u64>,
    pub max_payload_entries: Option<u64>,
    /// sled page cache, MiB.
    pub cache_capacity_mb: Option<u64>,
}

impl MasterConfigFile {
    /// Reads a TOML file; unknown keys name the key and its line.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        super::load_toml(path)
    }

    /// `self` overridden by every value set in `flags`.
    pub fn merge(self, flags: MasterConfigFile) -> Self {
        let raft = match (self.raft, flags.raft) {
            (Some(a), Some(b)) => Some(RaftFile {
                heartbeat_interval: b.heartbeat_interval.or(a.heartbeat_interval),
                election_timeout: b.election_timeout.or(a.election_timeout),
                snapshot_interval: b.snapshot_interval.or(a.snapshot_interval),
                snapshot_logs_to_keep: b.snapshot_logs_to_keep.or(a.snapshot_logs_to_keep),
                max_payload_entries: b.max_payload_entries.or(a.max_payload_entries),
                cache_capacity_mb: b.cache_capacity_mb.or(a.cache_capacity_mb),
            }),
            (a, b) => b.or(a),
        };
        MasterConfigFile {
            name: flags.name.or(self.name),
            data_dir: flags.data_dir.or(self.data_dir),
            master_addr: flags.master_addr.or(self.master_addr),
            advertise_addr: flags.advertise_addr.or(self.advertise_addr),
            peer_urls: flags.peer_urls.or(self.peer_urls),
            advertise_peer_urls: flags.advertise_peer_urls.or(self.advertise_peer_urls),
            initial_cluster: flags.initial_cluster.or(self.initial_cluster),
            initial_cluster_state: flags.initial_cluster_state.or(self.initial_cluster_state),
            join: flags.join.or(self.join),
            log_level: flags.log_level.or(self.log_level),
            log_file: flags.log_file.or(self.log_file),
            rpc_timeout: flags.rpc_timeout.or(self.rpc_timeout),
            rpc_rate_limit: flags.rpc_rate_limit.or(self.rpc_rate_limit),
            rpc_rate_burst: flags.rpc_rate_burst.or(self.rpc_rate_burst),
            api_rate_limit: flags.api_rate_limit.or(self.api_rate_limit),
            api_rate_burst: flags.api_rate_burst.or(self.api_rate_burst),
            raft,
        }
    }
}

/// How this node finds its cluster when its data dir is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterSpec {
    /// A fresh cluster of these members (single-node dev mode: just this one). Node ids are the
    /// 1-based list positions.
    Initial(Vec<InitialMember>),
    /// Join a running cluster through these client addresses.
    Join(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialMember {
    pub name: String,
    pub peer_addr: String,
}

/// Raft timing and log retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftTuning {
    pub heartbeat_interval: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    pub snapshot_interval: u64,
    pub snapshot_logs_to_keep: u64,
    pub max_payload_entries: u64,
}

impl Default for RaftTuning {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(200),
            election_timeout_max: Duration::from_millis(400),
            snapshot_interval: 5000,
            snapshot_logs_to_keep: 1000,
            max_payload_entries: 300,
        }
    }
}

/// The per-client limit on operator requests at the client port (`api-rate-limit`,
/// `api-rate-burst`; see `api::ratelimit` for what counts as one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiRateLimit {
    /// Requests per second per client address; 0 = no limit.
    pub rate: f64,
    /// Requests allowed at once above the rate (at least 1).
    pub burst: u32,
}

impl ApiRateLimit {
    /// A person at `dm ctl` or a dashboard polling a few endpoints never comes near 100/s, and a
    /// script creating 200 sources back to back fits in the burst; a runaway loop is held to
    /// 100 requests/s per address.
    pub const DEFAULT: ApiRateLimit = ApiRateLimit { rate: 100.0, burst: 200 };

    pub fn is_off(&self) -> bool {
        self.rate == 0.0
    }
}

impl Default for ApiRateLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A validated master configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct MasterConfig {
    pub name: String,
    pub data_dir: PathBuf,
    /// Client listen address (may be `:port` = all interfaces).
    pub master_addr: String,
    /// Client address others dial.
    pub advertise_addr: String,
    /// Peer (Raft) listen address.
    pub peer_addr: String,
    /// Peer address others dial.
    pub advertise_peer_addr: String,
    pub cluster: ClusterSpec,
    pub log_level: String,
    pub log_file: Option<PathBuf>,
    pub rpc_timeout: Duration,
    pub raft: RaftTuning,
    pub cache_capacity_bytes: u64,
    pub scheduler: crate::scheduler::SchedulerConfig,
    pub shard_ddl: crate::shardddl::ShardDdlConfig,
    pub api_rate: ApiRateLimit,
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, reason: reason.into() }
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    if host.is_empty() { "dm-master".to_string() } else { format!("dm-master-{host}") }
}

fn check_name(key: &'static str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok { Ok(()) } else { Err(invalid(key, format!("\"{name}\": use 1-64 letters, digits, '-', '_' or '.'"))) }
}

/// One peer URL (DM accepts a list; dm runs one peer listener).
fn single_url(key: &'static str, text: &str) -> Result<String, ConfigError> {
    match split_list(text).as_slice() {
        [one] => normalize(key, one),
        [] => Err(invalid(key, "empty")),
        _ => Err(invalid(key, format!("\"{text}\": only one URL is supported"))),
    }
}

/// Parses `name=URL,name=URL`.
pub fn parse_initial_cluster(text: &str) -> Result<Vec<InitialMember>, ConfigError> {
    let bad = |m: String| ConfigError::InitialCluster(m);
    let mut out: Vec<InitialMember> = Vec::new();
    let mut names = HashSet::new();
    let mut addrs = HashSet::new();
    for item in split_list(text) {
        let (name, url) = item
            .split_once('=')
            .ok_or_else(|| bad(format!("\"{item}\" is not name=URL (e.g. m1=http://10.0.0.1:8291)")))?;
        let name = name.trim();
        check_name("initial-cluster", name).map_err(|e| bad(e.to_string()))?;
        let peer_addr = normalize("initial-cluster", url).map_err(|e| bad(e.to_string()))?;
        if !is_dialable(&peer_addr) {
            return Err(bad(format!("{name}={url}: the peer URL needs a host others can dial")));
        }
        if !names.insert(name.to_string()) {
            return Err(bad(format!("name {name} appears twice; every master needs its own name")));
        }
        if !addrs.insert(peer_addr.clone()) {
            return Err(bad(format!("peer address {peer_addr} appears twice")));
        }
        out.push(InitialMember { name: name.to_string(), peer_addr });
    }
    if out.is_empty() {
        return Err(bad("empty; give name=URL pairs separated by commas".into()));
    }
    Ok(out)
}

impl MasterConfigFile {
    /// Validates and fills defaults. Nothing on disk is touched.
    pub fn validate(self) -> Result<MasterConfig, ConfigError> {
        let name = self.name.unwrap_or_else(default_name);
        check_name("name", &name)?;
        let master_addr = normalize("master-addr", self.master_addr.as_deref().unwrap_or(DEFAULT_MASTER_ADDR))?;
        let advertise_addr = match &self.advertise_addr {
            Some(a) => normalize("advertise-addr", a)?,
            None => master_addr.clone(),
        };
        if !is_dialable(&advertise_addr) {
            return Err(invalid(
                "advertise-addr",
                format!("\"{advertise_addr}\" has no host others can dial; set --advertise-addr HOST:PORT"),
            ));
        }
        let join = split_list(self.join.as_deref().unwrap_or(""))
            .iter()
            .map(|a| normalize("join", a))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(me) = join.iter().find(|a| **a == advertise_addr) {
            return Err(ConfigError::JoinSelf(me.clone()));
        }
        if !join.is_empty() && self.initial_cluster.is_some() {
            return Err(ConfigError::Conflict(
                "--join and --initial-cluster cannot be combined: --initial-cluster starts a new cluster, --join adds this master to a running one".into(),
            ));
        }
        if let Some(state) = &self.initial_cluster_state
            && state != "new"
            && state != "existing"
        {
            return Err(invalid("initial-cluster-state", format!("\"{state}\": use new or existing")));
        }
        let peer_given = self.peer_urls.is_some() || self.advertise_peer_urls.is_some();
        let mut peer_addr = single_url("peer-urls", self.peer_urls.as_deref().unwrap_or(DEFAULT_PEER_ADDR))?;
        let mut advertise_peer_addr = match &self.advertise_peer_urls {
            Some(u) => single_url("advertise-peer-urls", u)?,
            None => peer_addr.clone(),
        };
        let cluster = if join.is_empty() {
            let members = match &self.initial_cluster {
                Some(text) => parse_initial_cluster(text)?,
                None => {
                    if !is_dialable(&advertise_peer_addr) {
                        return Err(invalid("advertise-peer-urls", "set it when peer-urls has no host"));
                    }
                    vec![InitialMember { name: name.clone(), peer_addr: advertise_peer_addr.clone() }]
                }
            };
            let me = members.iter().find(|m| m.name == name).ok_or_else(|| {
                ConfigError::InitialCluster(format!("it does not contain this master's --name {name}"))
            })?;
            if !peer_given {
                // Like DM's sample configs that only set initial-cluster: listen where it says.
                peer_addr = me.peer_addr.clone();
                advertise_peer_addr = me.peer_addr.clone();
            } else if me.peer_addr != advertise_peer_addr {
                return Err(ConfigError::InitialCluster(format!(
                    "it gives {} for {name}, but --advertise-peer-urls/--peer-urls is {advertise_peer_addr}; make them the same",
                    me.peer_addr
                )));
            }
            ClusterSpec::Initial(members)
        } else {
            ClusterSpec::Join(join)
        };
        if !is_dialable(&advertise_peer_addr) {
            return Err(invalid(
                "advertise-peer-urls",
                format!("\"{advertise_peer_addr}\" has no host others can dial"),
            ));
        }
        let log_level = match self.log_level.as_deref().unwrap_or("info") {
            l @ ("trace" | "debug" | "info" | "warn" | "error") => l.to_string(),
            "fatal" => "error".to_string(),
            other => {
                return Err(invalid("log-level", format!("\"{other}\": use debug, info, warn or error")));
            }
        };
        let rpc_timeout = match &self.rpc_timeout {
            Some(t) => duration::parse(t).map_err(|e| invalid("rpc-timeout", e))?,
            None => Duration::from_secs(30),
        };
        let (raft, cache_capacity_bytes) = raft_tuning(self.raft.unwrap_or_default())?;
        let mut scheduler = crate::scheduler::SchedulerConfig::default();
        if let Some(rate) = self.rpc_rate_limit {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(invalid("rpc-rate-limit", format!("{rate}: use a positive number of calls per second")));
            }
            scheduler.agent.rate = rate;
        }
        if let Some(burst) = self.rpc_rate_burst {
            if burst == 0 {
                return Err(invalid("rpc-rate-burst", "0: use at least 1"));
            }
            scheduler.agent.burst = burst;
        }
        let api_rate = api_rate_limit(self.api_rate_limit, self.api_rate_burst)?;
        let data_dir = self.data_dir.unwrap_or_else(|| PathBuf::from("dm-data").join(&name));
        Ok(MasterConfig {
            name,
            data_dir,
            master_addr,
            advertise_addr,
            peer_addr,
            advertise_peer_addr,
            cluster,
            log_level,
            log_file: self.log_file,
            rpc_timeout,
            raft,
            cache_capacity_bytes,
            scheduler,
            shard_ddl: crate::shardddl::ShardDdlConfig::default(),
            api_rate,
        })
    }
}

fn api_rate_limit(rate: Option<f64>, burst: Option<u32>) -> Result<ApiRateLimit, ConfigError> {
    let d = ApiRateLimit::DEFAULT;
    let rate = rate.unwrap_or(d.rate);
    if !(rate.is_finite() && rate >= 0.0) {
        return Err(invalid(
            "api-rate-limit",
            format!("{rate}: use requests per second per client, or 0 for no limit"),
        ));
    }
    let burst = burst.unwrap_or(d.burst);
    if burst == 0 {
        return Err(invalid("api-rate-burst", "0: use at least 1 (to turn the limit off, set api-rate-limit = 0)"));
    }
    Ok(ApiRateLimit { rate, burst })
}

fn raft_tuning(f: RaftFile) -> Result<(RaftTuning, u64), ConfigError> {
    let d = RaftTuning::default();
    let dur = |key, v: Option<String>, default| match v {
        Some(t) => duration::parse(&t).map_err(|e| invalid(key, e)),
        None => Ok(default),
    };
    let heartbeat_interval = dur("raft.heartbeat-interval", f.heartbeat_interval, d.heartbeat_interval)?;
    let election_timeout_min = dur("raft.election-timeout", f.election_timeout, d.election_timeout_min)?;
    if heartbeat_interval.is_zero() || election_timeout_min < heartbeat_interval * 2 {
        return Err(invalid("raft.election-timeout", "must be at least twice raft.heartbeat-interval"));
    }
    let snapshot_interval = f.snapshot_interval.unwrap_or(d.snapshot_interval);
    if snapshot_interval == 0 {
        return Err(invalid("raft.snapshot-interval", "must be positive"));
    }
    let max_payload_entries = f.max_payload_entries.unwrap_or(d.max_payload_entries);
    if max_payload_entries == 0 {
        return Err(invalid("raft.max-payload-entries", "must be positive"));
    }
    let tuning = RaftTuning {
        heartbeat_interval,
        election_timeout_min,
        election_timeout_max: election_timeout_min * 2,
        snapshot_interval,
        snapshot_logs_to_keep: f.snapshot_logs_to_keep.unwrap_or(d.snapshot_logs_to_keep),
        max_payload_entries,
    };
    Ok((tuning, f.cache_capacity_mb.unwrap_or(64) << 20))
}

#[cfg(test)]
#[path = "master_tests.rs"]
mod tests;
