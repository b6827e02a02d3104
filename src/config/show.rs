//! Configs as `dm ctl config` shows them: a stored task file with its passwords masked (the text
//! kept when masking it line by line provably hides every secret, else re-emitted from its parsed
//! form), and a master's effective config as TOML with DM's key names.

use std::time::Duration;

use serde_json::Value;

use super::ConfigError;
use super::PASSWORD_MASK;
use super::master::{ClusterSpec, MasterConfig};

/// Keys whose values are never shown (DM masks the password; an inline private key is as secret).
const SECRET_KEYS: [&str; 2] = ["password", "ssl-key-base64"];

/// `text` (a YAML document) with the value of every secret key replaced by `******`.
pub fn mask_yaml(text: &str) -> Result<String, ConfigError> {
    let parsed: Value = super::yaml::decode("stored task config", text)?;
    let want = mask_value(parsed.clone());
    let by_line = mask_lines(text);
    if by_line != text {
        // Only keep the friendlier text if it reads back as exactly the masked document.
        if let Ok(v) = super::yaml::decode::<Value>("masked task config", &by_line)
            && v == want
        {
            return Ok(by_line);
        }
    } else if want == parsed {
        return Ok(text.to_string());
    }
    serde_saphyr::to_string(&want)
        .map_err(|e| ConfigError::Stored { what: "task config", reason: format!("cannot print it: {e}") })
}

/// The secret values of a parsed document replaced by the mask (empty ones stay empty, as DM).
fn mask_value(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let secret =
                        SECRET_KEYS.contains(&k.as_str()) && !matches!(&v, Value::Null) && v.as_str() != Some("");
                    let v = if secret { Value::String(PASSWORD_MASK.into()) } else { mask_value(v) };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(mask_value).collect()),
        other => other,
    }
}

/// Block-style `password: value` lines with the value replaced (comments and layout kept).
fn mask_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let indent = body.len() - body.trim_start().len();
        let rest = body[indent..].strip_prefix("- ").unwrap_or(&body[indent..]);
        let key_at = body.len() - rest.len();
        let masked = SECRET_KEYS.iter().find_map(|k| {
            let value = rest.strip_prefix(k)?.strip_prefix(':')?;
            let v = value.trim();
            let empty = v.is_empty() || v == "\"\"" || v == "''" || v == "~" || v == "null";
            (!empty).then(|| format!("{}{k}: \"{PASSWORD_MASK}\"", &body[..key_at]))
        });
        match masked {
            Some(m) => {
                out.push_str(&m);
                out.push_str(ending);
            }
            None => out.push_str(line),
        }
    }
    out
}

fn dur(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// A master's effective config (after flags, file and defaults) as TOML with DM's key names.
pub fn master_toml(c: &MasterConfig) -> String {
    let mut lines = vec![
        format!("name = {}", quoted(&c.name)),
        format!("master-addr = {}", quoted(&c.master_addr)),
        format!("advertise-addr = {}", quoted(&c.advertise_addr)),
        format!("peer-urls = {}", quoted(&format!("http://{}", c.peer_addr))),
        format!("advertise-peer-urls = {}", quoted(&format!("http://{}", c.advertise_peer_addr))),
    ];
    match &c.cluster {
        ClusterSpec::Initial(members) => {
            let list: Vec<String> = members.iter().map(|m| format!("{}=http://{}", m.name, m.peer_addr)).collect();
            lines.push(format!("initial-cluster = {}", quoted(&list.join(","))));
        }
        ClusterSpec::Join(addrs) => lines.push(format!("join = {}", quoted(&addrs.join(",")))),
    }
    lines.push(format!("data-dir = {}", quoted(&c.data_dir.display().to_string())));
    lines.push(format!("log-level = {}", quoted(&c.log_level)));
    if let Some(f) = &c.log_file {
        lines.push(format!("log-file = {}", quoted(&f.display().to_string())));
    }
    lines.push(format!("rpc-timeout = {}", quoted(&dur(c.rpc_timeout))));
    lines.push(format!("rpc-rate-limit = {:?}", c.scheduler.agent.rate));
    lines.push(format!("rpc-rate-burst = {}", c.scheduler.agent.burst));
    lines.push(format!("api-rate-limit = {:?}", c.api_rate.rate));
    lines.push(format!("api-rate-burst = {}", c.api_rate.burst));
    lines.push(String::new());
    lines.push("[raft]".into());
    lines.push(format!("heartbeat-interval = {}", quoted(&dur(c.raft.heartbeat_interval))));
    lines.push(format!("election-timeout = {}", quoted(&dur(c.raft.election_timeout_min))));
    lines.push(format!("snapshot-interval = {}", c.raft.snapshot_interval));
    lines.push(format!("snapshot-logs-to-keep = {}", c.raft.snapshot_logs_to_keep));
    lines.push(format!("max-payload-entries = {}", c.raft.max_payload_entries));
    lines.push(format!("cache-capacity-mb = {}", c.cache_capacity_bytes / (1024 * 1024)));
    lines.push(String::new());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_style_passwords_are_masked_and_layout_kept() {
        let text = "# my task\nname: t\ntarget-database:\n  host: h\n  password: s3cret  # root\n";
        let out = mask_yaml(text).unwrap();
        assert!(!out.contains("s3cret"), "{out}");
        assert!(out.starts_with("# my task\nname: t\n"), "{out}");
        assert!(out.contains("password: \"******\""), "{out}");
    }

    #[test]
    fn flow_style_and_multi_line_passwords_are_masked_too() {
        for text in [
            "name: t\ntarget-database: {host: h, password: s3cret}\n",
            "name: t\ntarget-database:\n  password: >-\n    s3cret\n",
            "name: t\ntarget-database:\n  \"password\": s3cret\n",
        ] {
            let out = mask_yaml(text).unwrap();
            assert!(!out.contains("s3cret"), "{text:?} -> {out}");
            assert!(out.contains(PASSWORD_MASK), "{text:?} -> {out}");
        }
    }

    #[test]
    fn empty_passwords_stay_empty_and_plain_text_is_unchanged() {
        let text = "name: t\ntarget-database:\n  password: \"\"\n";
        assert_eq!(mask_yaml(text).unwrap(), text);
    }

    #[test]
    fn master_toml_names_dm_keys() {
        let cfg = super::super::master::MasterConfigFile { name: Some("m1".into()), ..Default::default() }
            .validate()
            .unwrap();
        let out = master_toml(&cfg);
        for key in
            ["name = \"m1\"", "master-addr = ", "initial-cluster = \"m1=http://", "[raft]", "rpc-timeout = \"30s\""]
        {
            assert!(out.contains(key), "{key} missing from\n{out}");
        }
    }
}
