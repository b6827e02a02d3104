//! Strict YAML decoding for DM's source and task files (serde-saphyr, which knows the line and column
//! of every error), plus the small value helpers both formats share: null-tolerant fields, Go
//! durations, the password mask and key-safe names.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::ConfigError;
use super::duration;

/// What DM shows instead of a password (`ObfuscatedPasswordForFeedback`).
pub const PASSWORD_MASK: &str = "******";

/// Decodes one YAML document; an unknown key anywhere is an error naming the key, line and column.
pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T, ConfigError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let reason = describe(&e);
        if reason.contains("unknown field") {
            ConfigError::YamlUnknownKey { what, reason: reason.replace("unknown field", "unknown key") }
        } else {
            ConfigError::Yaml { what, reason }
        }
    })
}

/// `line L column C: message`, without the source snippet (messages travel over gRPC as one line).
fn describe(e: &serde_saphyr::Error) -> String {
    let plain = e.without_snippet().to_string();
    match e.location() {
        Some(loc) if loc.line() > 0 => {
            let (line, column) = (loc.line(), loc.column());
            let suffix = format!(" at line {line}, column {column}");
            let msg = plain.strip_suffix(&suffix).unwrap_or(&plain);
            format!("line {line} column {column}: {msg}")
        }
        _ => plain,
    }
}

/// Reads an empty or `~` value as the type's default, as DM's YAML library does (`routes:` with
/// every rule commented out is common in DM's samples).
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A Go `time.ParseDuration` string as DM writes them ("60s", "5m", "1h30m"; a bare "0" is zero).
pub(crate) fn go_duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" { Ok(Duration::ZERO) } else { duration::parse(text) }
}

/// A name used inside storage keys and file names: 1-`max` letters, digits, '-', '_' or '.'.
pub(crate) fn check_key_safe(key: &str, value: &str, max: usize) -> Result<(), ConfigError> {
    let bad = |reason: String| Err(ConfigError::Value { key: key.to_string(), reason });
    if value.is_empty() {
        return bad("is empty; set it".into());
    }
    if value.chars().count() > max {
        return bad(format!("\"{value}\" is longer than {max} characters; use a shorter one"));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return bad(format!("\"{value}\" may only use letters, digits, '-', '_' and '.'"));
    }
    Ok(())
}

/// Shorthand for a [`ConfigError::Value`].
pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Value { key: key.into(), reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    struct Probe {
        #[serde(default, deserialize_with = "nullable")]
        items: Vec<String>,
        #[serde(default)]
        name: String,
    }

    #[test]
    fn t10_unknown_key_names_line_and_column() {
        let err = decode::<Probe>("probe", "name: a\n  \nnmae: b\n").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::YamlUnknownKey { .. }), "{text}");
        assert!(text.contains("line 3 column 1"), "{text}");
        assert!(text.contains("unknown key `nmae`"), "{text}");
    }

    #[test]
    fn t20_null_collections_are_empty_and_durations_follow_go() {
        let p: Probe = decode("probe", "items:\nname: x\n").unwrap();
        assert!(p.items.is_empty() && p.name == "x");
        assert_eq!(go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(go_duration("60").is_err());
    }
}
