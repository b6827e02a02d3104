//! Bad input to `dm master`: a clear error with its code, a non-zero exit, and the data dir
//! untouched (not even created).

use crate::harness::process::{free_port, run_dm};

fn refused(args: &[&str], code: &str, mention: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.display().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data-dir", &data_arg]);
    let out = run_dm(&all, dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} must fail");
    assert!(stderr.contains(&format!("[code={code}]")), "{args:?}: expected code {code} in: {stderr}");
    assert!(stderr.contains(mention), "{args:?}: expected \"{mention}\" in: {stderr}");
    assert!(!data.exists(), "{args:?}: the data dir must be untouched");
    assert!(!dir.path().join("dm-data").exists(), "{args:?}: no default data dir either");
}

#[test]
fn t10_unknown_config_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("dm-master.toml");
    std::fs::write(&cfg, "name = \"m1\"\nmaster-addr = \"127.0.0.1:8261\"\nbogus-key = 1\n").unwrap();
    refused(&["master", "--config", &cfg.display().to_string()], "10002", "bogus-key");
}

#[test]
fn t20_malformed_initial_cluster() {
    refused(&["master", "--name", "m1", "--initial-cluster", "m1"], "10004", "name=URL");
    refused(&["master", "--name", "m1", "--initial-cluster", "m1=127.0.0.1:notaport"], "10004", "port");
}

#[test]
fn t30_duplicate_names() {
    refused(
        &["master", "--name", "m1", "--initial-cluster", "m1=127.0.0.1:1,m1=127.0.0.1:2"],
        "10004",
        "appears twice",
    );
}

#[test]
fn t40_join_self() {
    let addr = format!("127.0.0.1:{}", free_port());
    refused(&["master", "--name", "m1", "--master-addr", &addr, "--join", &addr], "10005", "join self");
}

#[test]
fn t50_port_in_use() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    refused(&["master", "--name", "m1", "--master-addr", &addr], "10007", "cannot listen");
}
