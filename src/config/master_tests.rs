//! Table-driven tests of master config validation.

use super::*;

fn flags() -> MasterConfigFile {
    MasterConfigFile { name: Some("m1".into()), ..Default::default() }
}

#[test]
fn t10_defaults_are_a_single_node_dev_cluster() {
    let c = flags().validate().unwrap();
    assert_eq!(c.master_addr, "127.0.0.1:8261");
    assert_eq!(c.advertise_addr, "127.0.0.1:8261");
    assert_eq!(c.peer_addr, "127.0.0.1:8291");
    assert_eq!(c.data_dir, PathBuf::from("dm-data/m1"));
    assert_eq!(
        c.cluster,
        ClusterSpec::Initial(vec![InitialMember { name: "m1".into(), peer_addr: "127.0.0.1:8291".into() }])
    );
    assert_eq!(c.rpc_timeout, Duration::from_secs(30));
}

#[test]
fn t20_initial_cluster_sets_the_peer_address_when_no_peer_flag() {
    let mut f = flags();
    f.initial_cluster = Some("m1=http://10.0.0.1:8291, m2=10.0.0.2:8291,m3=http://10.0.0.3:8291/".into());
    let c = f.validate().unwrap();
    assert_eq!(c.peer_addr, "10.0.0.1:8291");
    match c.cluster {
        ClusterSpec::Initial(m) => {
            let names: Vec<_> = m.iter().map(|m| (m.name.as_str(), m.peer_addr.as_str())).collect();
            assert_eq!(names, vec![("m1", "10.0.0.1:8291"), ("m2", "10.0.0.2:8291"), ("m3", "10.0.0.3:8291")]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn t30_bad_input_is_refused_with_the_right_code() {
    use crate::error::{Coded, ErrorCode::*};
    let cases: Vec<(&str, MasterConfigFile, crate::error::ErrorCode)> = vec![
        (
            "malformed initial-cluster",
            MasterConfigFile { initial_cluster: Some("m1".into()), ..flags() },
            InitialClusterInvalid,
        ),
        (
            "duplicate names",
            MasterConfigFile { initial_cluster: Some("m1=h1:1,m1=h2:1".into()), ..flags() },
            InitialClusterInvalid,
        ),
        (
            "duplicate peer urls",
            MasterConfigFile { initial_cluster: Some("m1=h1:1,m2=h1:1".into()), ..flags() },
            InitialClusterInvalid,
        ),
        (
            "self not listed",
            MasterConfigFile { initial_cluster: Some("m2=h1:1".into()), ..flags() },
            InitialClusterInvalid,
        ),
        (
            "peer flag disagrees",
            MasterConfigFile { initial_cluster: Some("m1=h1:1".into()), peer_urls: Some("h1:2".into()), ..flags() },
            InitialClusterInvalid,
        ),
        ("join self", MasterConfigFile { join: Some("127.0.0.1:9,127.0.0.1:8261".into()), ..flags() }, JoinSelf),
        (
            "join with initial-cluster",
            MasterConfigFile { join: Some("h:1".into()), initial_cluster: Some("m1=h1:1".into()), ..flags() },
            ConfigConflict,
        ),
        ("bad name", MasterConfigFile { name: Some("a b".into()), ..Default::default() }, ConfigInvalid),
        ("bad addr", MasterConfigFile { master_addr: Some("nohost".into()), ..flags() }, ConfigInvalid),
        ("wildcard advertise", MasterConfigFile { master_addr: Some(":8261".into()), ..flags() }, ConfigInvalid),
        ("tls", MasterConfigFile { peer_urls: Some("https://h:1".into()), ..flags() }, ConfigInvalid),
        ("two peer urls", MasterConfigFile { peer_urls: Some("h:1,h:2".into()), ..flags() }, ConfigInvalid),
        ("log level", MasterConfigFile { log_level: Some("loud".into()), ..flags() }, ConfigInvalid),
        ("rpc timeout", MasterConfigFile { rpc_timeout: Some("10".into()), ..flags() }, ConfigInvalid),
        (
            "election vs heartbeat",
            MasterConfigFile {
                raft: Some(RaftFile { election_timeout: Some("100ms".into()), ..Default::default() }),
                ..flags()
            },
            ConfigInvalid,
        ),
        ("cluster state", MasterConfigFile { initial_cluster_state: Some("old".into()), ..flags() }, ConfigInvalid),
    ];
    for (what, input, code) in cases {
        match input.validate() {
            Ok(c) => panic!("{what}: accepted {c:?}"),
            Err(e) => assert_eq!(e.code(), code, "{what}: {e}"),
        }
    }
}

#[test]
fn t40_file_then_flags_flags_win_and_unknown_keys_fail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dm-master.toml");
    std::fs::write(
        &path,
        "name = \"from-file\"\nmaster-addr = \"127.0.0.1:1000\"\nlog-level = \"debug\"\n[raft]\nheartbeat-interval = \"50ms\"\n",
    )
    .unwrap();
    let file = MasterConfigFile::load(&path).unwrap();
    let merged = file.merge(MasterConfigFile { name: Some("from-flag".into()), ..Default::default() });
    let c = merged.validate().unwrap();
    assert_eq!(
        (c.name.as_str(), c.master_addr.as_str(), c.log_level.as_str()),
        ("from-flag", "127.0.0.1:1000", "debug")
    );
    assert_eq!(c.raft.heartbeat_interval, Duration::from_millis(50));

    std::fs::write(&path, "name = \"x\"\nquota-backend-bytz = 1\n").unwrap();
    match MasterConfigFile::load(&path) {
        Err(ConfigError::UnknownKey { reason, .. }) => {
            assert!(reason.contains("quota-backend-bytz"), "{reason}");
            assert!(reason.contains("line 2"), "names the line: {reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(MasterConfigFile::load(&dir.path().join("missing.toml")), Err(ConfigError::File { .. })));
}

#[test]
fn t50_api_rate_limit_defaults_file_keys_off_and_bad_values() {
    use crate::error::{Coded, ErrorCode};
    let c = flags().validate().unwrap();
    assert_eq!(c.api_rate, ApiRateLimit { rate: 100.0, burst: 200 });
    assert!(!c.api_rate.is_off());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dm-master.toml");
    std::fs::write(&path, "name = \"m1\"\napi-rate-limit = 2.5\napi-rate-burst = 7\n").unwrap();
    let c = MasterConfigFile::load(&path).unwrap().validate().unwrap();
    assert_eq!(c.api_rate, ApiRateLimit { rate: 2.5, burst: 7 });
    let shown = crate::config::show::master_toml(&c);
    assert!(shown.contains("api-rate-limit = 2.5") && shown.contains("api-rate-burst = 7"), "{shown}");

    // An integer in TOML is accepted for the rate too, and 0 turns the limit off.
    std::fs::write(&path, "name = \"m1\"\napi-rate-limit = 0\n").unwrap();
    let c = MasterConfigFile::load(&path).unwrap().validate().unwrap();
    assert!(c.api_rate.is_off(), "{:?}", c.api_rate);

    let cases = [
        ("negative rate", Some(-1.0), None, "api-rate-limit"),
        ("NaN rate", Some(f64::NAN), None, "api-rate-limit"),
        ("infinite rate", Some(f64::INFINITY), None, "api-rate-limit"),
        ("zero burst", Some(10.0), Some(0), "api-rate-burst"),
        ("zero burst with the default rate", None, Some(0), "api-rate-burst"),
    ];
    for (what, rate, burst, key) in cases {
        let f = MasterConfigFile { api_rate_limit: rate, api_rate_burst: burst, ..flags() };
        match f.validate() {
            Ok(c) => panic!("{what}: accepted {:?}", c.api_rate),
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::ConfigInvalid, "{what}: {e}");
                assert!(e.to_string().contains(key), "{what}: names the key: {e}");
            }
        }
    }
}
