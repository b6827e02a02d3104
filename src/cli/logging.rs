//! Tracing setup from `--log-level` / `--log-file`. Library chatter (openraft, sled, HTTP/2) is
//! kept at warn unless debug logging is asked for.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

pub fn init(level: &str, file: Option<&Path>) -> anyhow::Result<()> {
    let libs = if matches!(level, "debug" | "trace") { level } else { "warn" };
    let filter = EnvFilter::try_from_env("DM_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},openraft={libs},sled={libs},h2=warn,hyper=warn,tower=warn"))
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let res = match file {
        Some(path) => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot open --log-file {}: {e}", path.display()))?;
            builder.with_ansi(false).with_writer(Mutex::new(f)).try_init()
        }
        None => builder.with_writer(std::io::stderr).try_init(),
    };
    // Already initialised (tests start several nodes in one process): keep the first.
    let _ = res;
    Ok(())
}
