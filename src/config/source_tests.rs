//! Table-driven tests of source.yaml decoding and validation.

use super::*;
use crate::config::PASSWORD_MASK;
use crate::error::{Coded, ErrorCode};

const MINIMAL: &str = "source-id: s1\nfrom:\n  host: 10.0.0.1\n  user: root\n";

#[test]
fn t10_sample_parses_with_dm_defaults() {
    let c = SourceConfig::from_yaml(SourceConfig::sample()).unwrap();
    assert_eq!(c.source_id, "mysql-replica-01");
    assert_eq!(c.flavor, "mysql");
    assert_eq!(c.server_id, 101);
    assert_eq!(c.from.password, "123456");
    assert!(c.enable && !c.enable_relay && !c.enable_gtid);
    assert_eq!(c.purge, PurgeConfig { interval: 3600, expires: 0, remain_space: 15 });
    assert_eq!((c.checker.backoff_rollback.as_str(), c.checker.backoff_max.as_str()), ("5m", "5m"));
    assert!(c.warnings.is_empty());
}

#[test]
fn t20_minimal_source_gets_defaults() {
    let c = SourceConfig::from_yaml(MINIMAL).unwrap();
    assert_eq!(c.from.port, 3306);
    assert!(c.enable);
    assert_eq!(c.server_id, 0);
    assert!(c.checker.check_enable);
}

#[test]
fn t30_bad_sources_are_refused_with_code_and_hint() {
    let long = format!("source-id: {}\nfrom: {{host: h, user: u}}\n", "a".repeat(33));
    let cases: Vec<(&str, String, ErrorCode, &str)> = vec![
        ("source-id missing", "from: {host: h, user: u}\n".into(), ErrorCode::SpecInvalidValue, "source-id"),
        ("source-id too long", long, ErrorCode::SpecInvalidValue, "longer than 32"),
        ("source-id unsafe", "source-id: a/b\nfrom: {host: h, user: u}\n".into(), ErrorCode::SpecInvalidValue, "'-'"),
        ("host missing", "source-id: s\nfrom: {user: u}\n".into(), ErrorCode::SpecInvalidValue, "from.host"),
        ("user missing", "source-id: s\nfrom: {host: h}\n".into(), ErrorCode::SpecInvalidValue, "from.user"),
        ("bad flavor", format!("{MINIMAL}flavor: oracle\n"), ErrorCode::SpecInvalidValue, "use mysql or mariadb"),
        ("unknown key", format!("{MINIMAL}enable-gtids: true\n"), ErrorCode::SpecUnknownKey, "line 5 column 1"),
        (
            "unknown key in from",
            "source-id: s\nfrom:\n  host: h\n  user: u\n  pasword: x\n".into(),
            ErrorCode::SpecUnknownKey,
            "unknown key `pasword`",
        ),
        (
            "port not a number",
            "source-id: s\nfrom: {host: h, user: u, port: abc}\n".into(),
            ErrorCode::SpecYaml,
            "line 2",
        ),
        ("not yaml", "source-id: [s\n".into(), ErrorCode::SpecYaml, "line 1"),
        (
            "bad relay-binlog-name",
            format!("{MINIMAL}relay-binlog-name: mysql-bin\n"),
            ErrorCode::SpecInvalidValue,
            "relay-binlog-name",
        ),
        ("bad relay gtid", format!("{MINIMAL}relay-binlog-gtid: abc\n"), ErrorCode::SpecInvalidValue, "GTID set"),
        (
            "filter action",
            format!("{MINIMAL}filters:\n- schema-pattern: a\n  action: Skip\n"),
            ErrorCode::SpecInvalidValue,
            "filters[0].action",
        ),
        (
            "checker backoff-max below min",
            format!("{MINIMAL}checker:\n  backoff-max: 500ms\n"),
            ErrorCode::SpecInvalidValue,
            "minimum backoff",
        ),
        (
            "checker bad duration",
            format!("{MINIMAL}checker:\n  backoff-rollback: 5\n"),
            ErrorCode::SpecInvalidValue,
            "unit",
        ),
    ];
    for (name, text, code, needle) in cases {
        let err = SourceConfig::from_yaml(&text).expect_err(name);
        assert_eq!(err.code(), code, "{name}: {err}");
        assert!(err.to_string().contains(needle), "{name}: {err}");
    }
}

#[test]
fn t40_flavor_is_normalised_and_gtids_follow_it() {
    let c = SourceConfig::from_yaml(&format!(
        "{MINIMAL}flavor: MariaDB\nrelay-binlog-gtid: 0-1-100,1-2-200\nrelay-binlog-name: mariadb-bin.000003\n"
    ))
    .unwrap();
    assert_eq!(c.flavor, "mariadb");
    let uuid = "3ccc475b-2343-11e7-be21-6c0b84d59f30";
    assert!(SourceConfig::from_yaml(&format!("{MINIMAL}relay-binlog-gtid: \"{uuid}:1-14:20\"\n")).is_ok());
    let mysql_on_mariadb = format!("{MINIMAL}flavor: mariadb\nrelay-binlog-gtid: \"{uuid}:1-14\"\n");
    assert!(SourceConfig::from_yaml(&mysql_on_mariadb).is_err());
}

#[test]
fn t50_deprecated_and_unexposed_dm_keys_are_accepted() {
    let text = format!(
        "{MINIMAL}auto-fix-gtid: true\nmeta-dir: ./meta\ntracer:\n  enable: false\n\
         checker:\n  check-interval: 5s\n  backoff-min: 1s\n"
    );
    let c = SourceConfig::from_yaml(&text).unwrap();
    assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    assert!(c.legacy_tracer.is_none() && c.checker.backoff_min.is_none());
}

#[test]
fn t60_stored_json_round_trips_exactly() {
    let text = format!(
        "{MINIMAL}  password: secret\n  session:\n    sql_mode: ANSI\n    max_execution_time: 100\nmeta-dir: x\n\
         filters:\n- schema-pattern: \"test_*\"\n  events: [\"All DML\"]\n  action: ignore\n"
    );
    let c = SourceConfig::from_yaml(&text).unwrap();
    assert_eq!(c.filters[0].action, "Ignore");
    assert_eq!(c.filters[0].events, vec!["all dml"]);
    assert_eq!(c.from.session.get("max_execution_time").map(String::as_str), Some("100"));
    let back = SourceConfig::from_stored(&c.to_stored()).unwrap();
    assert_eq!(back, c);
    let err = SourceConfig::from_stored("{\"source-id\": 5}").unwrap_err();
    assert_eq!(err.code(), ErrorCode::SpecStoredCorrupt);
}

#[test]
fn t70_masked_hides_the_password_only() {
    let c = SourceConfig::from_yaml(&format!("{MINIMAL}  password: secret\n")).unwrap();
    let m = c.masked();
    assert_eq!(m.from.password, PASSWORD_MASK);
    assert_eq!(c.from.password, "secret");
    assert!(!m.to_stored().contains("secret"));
    assert_eq!(SourceConfig { from: c.from.clone(), ..m }, c);
}
