//! Running the real `dm ctl` binary from tests: its exit code, stdout as JSON, and checks of
//! dmctl's answer shape (exit 0 / `result` true; exit 1 / `result` false with a code).

use std::path::Path;

use serde_json::Value;

use super::process::DM;

/// One `dm ctl` run: exit code, stdout as JSON (Null when it is not JSON), raw stdout, stderr.
pub struct Run {
    pub code: i32,
    pub json: Value,
    pub out: String,
    pub err: String,
}

impl Run {
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success; stdout {} stderr {}", self.out, self.err);
        assert_eq!(self.json["result"], Value::Bool(true), "{}", self.out);
        self
    }

    /// `result` false with `code` in the message, and exit code 1.
    pub fn refused(self, code: u32) -> Self {
        assert_eq!(self.code, 1, "expected exit 1; stdout {} stderr {}", self.out, self.err);
        assert_eq!(self.json["result"], Value::Bool(false), "{}", self.out);
        assert!(self.out.contains(&format!("[code={code}]")), "code {code} not in {}", self.out);
        self
    }

    pub fn msg(&self) -> String {
        self.json["msg"].as_str().unwrap_or_default().to_string()
    }
}

/// `dm ctl --master-addr <addr> <args>` in `dir`.
pub async fn ctl_at(addr: &str, dir: &Path, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(DM)
        .args(["ctl", "--master-addr", addr, "--rpc-timeout", "30s"])
        .args(args)
        .current_dir(dir)
        .output()
        .await
        .expect("run dm ctl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    Run {
        code: out.status.code().expect("dm ctl exited"),
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        out: text,
        err: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}
