//! A MySQL-protocol connection as DM's files write it: a source's `from` and a task's
//! `target-database`. Passwords are kept as written (DM may store them encrypted) and masked for display.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::yaml::{PASSWORD_MASK, invalid, nullable};

/// DM's `dbconfig.DBConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct DbConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Plain text or DM's encrypted form; never shown, see [`DbConfig::masked`].
    #[serde(deserialize_with = "nullable")]
    pub password: String,
    /// Deprecated in DM (the driver learns it); accepted and passed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_allowed_packet: Option<u64>,
    /// Session variables set on every connection.
    #[serde(deserialize_with = "nullable", skip_serializing_if = "BTreeMap::is_empty")]
    pub session: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 3306,
            user: String::new(),
            password: String::new(),
            max_allowed_packet: None,
            session: BTreeMap::new(),
            security: None,
        }
    }
}

/// TLS to the database (DM's `security.Security`; the raw-bytes keys are DM-internal and refused).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Security {
    pub ssl_ca: String,
    pub ssl_cert: String,
    pub ssl_key: String,
    #[serde(deserialize_with = "nullable")]
    pub cert_allowed_cn: Vec<String>,
    pub ssl_ca_base64: String,
    pub ssl_cert_base64: String,
    /// A private key in the file itself: masked like a password.
    pub ssl_key_base64: String,
}

impl DbConfig {
    /// A copy safe to show: the password (and an inline private key) replaced by DM's mask.
    pub fn masked(&self) -> Self {
        let mut out = self.clone();
        if !out.password.is_empty() {
            out.password = PASSWORD_MASK.to_string();
        }
        if let Some(sec) = out.security.as_mut()
            && !sec.ssl_key_base64.is_empty()
        {
            sec.ssl_key_base64 = PASSWORD_MASK.to_string();
        }
        out
    }

    /// Host, user and port must be set; `key` is where this connection sits in the file.
    pub(crate) fn check(&self, key: &str) -> Result<(), ConfigError> {
        if self.host.trim().is_empty() {
            return Err(invalid(format!("{key}.host"), "is empty; set the database host"));
        }
        if self.user.trim().is_empty() {
            return Err(invalid(format!("{key}.user"), "is empty; set the database user"));
        }
        if self.port == 0 {
            return Err(invalid(format!("{key}.port"), "is 0; set the database port (MySQL's is 3306, TiDB's 4000)"));
        }
        Ok(())
    }
}
