//! Address forms DM accepts: `host:port`, `:port` (listen on all interfaces), and peer URLs with or
//! without `http://`. TLS (`https://`) is not supported yet and is refused with a clear message.

/// Normalises a URL or address to `host:port`. An empty host stays empty (`:8261`).
pub fn normalize(key: &'static str, text: &str) -> Result<String, super::ConfigError> {
    let invalid = |reason: String| super::ConfigError::Invalid { key, reason };
    let t = text.trim();
    if t.starts_with("https://") {
        return Err(invalid(format!("{t}: TLS is not supported yet; use plain host:port or http://host:port")));
    }
    let t = t.strip_prefix("http://").unwrap_or(t).trim_end_matches('/');
    let (host, port) = t.rsplit_once(':').ok_or_else(|| invalid(format!("\"{text}\" is not host:port")))?;
    if host.contains('/') || host.contains(' ') {
        return Err(invalid(format!("\"{text}\" is not host:port")));
    }
    let port: u16 = port.parse().map_err(|_| invalid(format!("\"{text}\" has no valid port")))?;
    Ok(format!("{host}:{port}"))
}

/// The address to bind for a listen address: an empty host means all interfaces.
pub fn bind_addr(addr: &str) -> String {
    match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_string(),
    }
}

/// Whether others can dial this address (a concrete host, not a wildcard).
pub fn is_dialable(addr: &str) -> bool {
    let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or("");
    !(host.is_empty() || host == "0.0.0.0" || host == "[::]" || host == "::")
}

/// Splits a comma-separated list, dropping empty items.
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t10_forms() {
        assert_eq!(normalize("k", "http://10.0.0.1:8291").unwrap(), "10.0.0.1:8291");
        assert_eq!(normalize("k", "10.0.0.1:8291/").unwrap(), "10.0.0.1:8291");
        assert_eq!(normalize("k", ":8261").unwrap(), ":8261");
        assert!(normalize("k", "https://h:1").is_err());
        assert!(normalize("k", "h").is_err());
        assert!(normalize("k", "h:99999").is_err());
        assert_eq!(bind_addr(":8261"), "0.0.0.0:8261");
        assert!(!is_dialable("0.0.0.0:1"));
        assert!(is_dialable("db1:1"));
        assert_eq!(split_list(" a, ,b,"), vec!["a", "b"]);
    }
}
