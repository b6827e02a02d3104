//! Task file tests: one table row per DM validation rule, DM's own sample shapes, strict decoding.

use super::*;
use crate::config::PASSWORD_MASK;
use crate::error::{Coded, ErrorCode};

const HEAD: &str = "name: t1\ntask-mode: all\n";
const TARGET: &str = "target-database:\n  host: 10.0.0.9\n  port: 4000\n  user: root\n  password: s3cret\n";
const ONE: &str = "- source-id: s1\n";

/// A task with `head` lines, a target, `instances` under mysql-instances, and `extra` top-level keys.
fn doc(head: &str, instances: &str, extra: &str) -> String {
    format!("{head}{TARGET}mysql-instances:\n{instances}{extra}")
}

/// DM's task_basic.yaml as users copy it.
const DM_BASIC: &str = r#"---
name: test # global unique
task-mode: all  # full/incremental/all

target-database:
  host: "192.168.0.1"
  port: 4000
  user: "root"
  password: ""

mysql-instances:             # one or more source database, config more source database for sharding merge
  -
    source-id: "instance118-4306" # unique in all instances, used as id when save checkpoints, configs, etc.
    block-allow-list:  "instance"

    # number of threads to use for dump data
    mydumper-thread: 4

    # number of threads to use for load data
    loader-thread: 16

    # number of threads to use for replicate binlog
    syncer-thread: 16

  -
    source-id: "instance118-5306"
    block-allow-list: "instance"
    mydumper-thread: 4
    loader-thread: 16
    syncer-thread: 16

block-allow-list:
  instance:
    do-dbs: ["~^test.*", "do"]        # allow list of upstream schemas needs to be replicated
    do-tables:                        # allow list of upstream tables needs to be replicated
    - db-name: "~^test.*"
      tbl-name: "~^t.*"
    - db-name: "do"
      tbl-name: "do"
"#;

/// The shape of DM's task_advanced.yaml: sharding, routes, filters, named and inline units.
pub(crate) const DM_ADVANCED: &str = r#"---
name: test # global unique
task-mode: all  # full/incremental/all
is-sharding: true  # whether multi dm-worker do one sharding job
meta-schema: "dm_meta"
enable-heartbeat: false
# heartbeat-update-interval: 1

target-database:
  host: "192.168.0.1"
  port: 4000
  user: "root"
  password: "tidb-pass"

mysql-instances:
  -
    source-id: "instance118-4306"
    meta:
      binlog-name: mysql-bin.000001
      binlog-pos: 4
    route-rules: ["user-route-rules-schema", "user-route-rules"]
    filter-rules: ["user-filter-1", "user-filter-2"]
    block-allow-list:  "instance"
    mydumper-config-name: "global"   # ref `mydumpers` config
    loader-config-name: "global"    # ref `loaders` config
    syncer-config-name: "global"    # ref `syncers` config
    #syncer-thread: 32

  -
    source-id: "instance118-5306"
    meta:
      binlog-name: mysql-bin.000001
      binlog-pos: 320
    route-rules: ["user-route-rules-schema", "user-route-rules"]
    filter-rules: ["user-filter-2"]
    block-allow-list: "instance"
    mydumper:
      threads: 4
      chunk-filesize: 64
      skip-tz-utc: true
#      extra-args: "-B test -T t1,t2"
    loader:                  # local loader rule
      pool-size: 16
      dir: "./dumped_data"
    syncer:
      worker-count: 16
      batch: 100
    syncer-thread: 32

routes:
  user-route-rules-schema:
    schema-pattern: "test_*"
    target-schema: "test"
  user-route-rules:
    schema-pattern: "test_*"
    table-pattern: "t_*"
    target-schema: "test"
    target-table: "t"

filters:
  user-filter-1:
    schema-pattern: "test_*"
    table-pattern: "t_*"
    events: ["truncate table", "drop table"]
    sql-pattern: ["^DROP\\s+PROCEDURE", "^CREATE\\s+PROCEDURE"]
    action: Ignore
  user-filter-2:
    schema-pattern: "test_*"
    events: ["all dml"]
    action: Do

block-allow-list:
  instance:
    do-dbs: ["~^test.*", "do"]
    ignore-dbs: ["mysql", "ignored"]
    do-tables:
    - db-name: "~^test.*"
      tbl-name: "~^t.*"
    - db-name: "do"
      tbl-name: "do"
    ignore-tables:
    - db-name: "test"
      tbl-name: "log"

mydumpers:
  global:
    threads: 4
    chunk-filesize: 64
    skip-tz-utc: true
    extra-args: "-B test -T t1,t2 --consistency none"

loaders:
  global:
    pool-size: 16
    dir: "./dumped_data"

syncers:
  global:
    worker-count: 16
    batch: 100
"#;

/// (rule, a task that breaks it, expected code, a part of the message).
type Case = (&'static str, String, ErrorCode, &'static str);

fn refuse_all(cases: Vec<Case>) {
    for (rule, text, code, needle) in cases {
        let err = TaskConfig::from_yaml(&text).expect_err(rule);
        assert_eq!(err.code(), code, "{rule}: {err}");
        assert!(err.to_string().contains(needle), "{rule}: {err}\n--- yaml ---\n{text}");
    }
}

/// DM's task-level `adjust` rules, one row each.
#[test]
fn t10_task_level_rules() {
    use ErrorCode::*;
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("empty name", doc("task-mode: all\n", ONE, ""), SpecInvalidValue, "invalid name: is empty"),
        ("bad task-mode", doc("name: t1\ntask-mode: fast\n", ONE, ""), SpecInvalidValue, "use full, incremental or all"),
        ("no task-mode", doc("name: t1\n", ONE, ""), SpecInvalidValue, "task-mode"),
        ("bad shard-mode", doc(&format!("{HEAD}shard-mode: eager\n"), ONE, ""), SpecInvalidValue, "use pessimistic or optimistic"),
        ("strict w/o optimistic", doc(&format!("{HEAD}is-sharding: true\nstrict-optimistic-shard-mode: true\n"), ONE, ""), SpecInvalidValue, "set shard-mode: optimistic"),
        ("column-mappings", doc(HEAD, ONE, "column-mappings:\n  cm:\n    schema-pattern: a\n"), SpecDeprecated, "column-mappings is no longer supported"),
        ("column-mapping-rules", doc(HEAD, "- source-id: s1\n  column-mapping-rules: [cm]\n", ""), SpecDeprecated, "remove column-mappings"),
        ("bad collation", doc(&format!("{HEAD}collation_compatible: exact\n"), ONE, ""), SpecInvalidValue, "use loose or strict"),
        ("bad checking item", doc(&format!("{HEAD}ignore-checking-items: [bogus]\n"), ONE, ""), SpecInvalidValue, "unknown item \"bogus\""),
        ("bad online-ddl-scheme", doc(&format!("{HEAD}online-ddl-scheme: osc\n"), ONE, ""), SpecInvalidValue, "set online-ddl: true"),
        ("no target-database", format!("{HEAD}mysql-instances:\n{ONE}"), SpecInvalidValue, "target-database: is missing"),
        ("target without host", format!("{HEAD}target-database:\n  user: root\nmysql-instances:\n{ONE}"), SpecInvalidValue, "target-database.host"),
        ("no instances", doc(HEAD, "", ""), SpecInvalidValue, "list at least one source"),
    ];
    refuse_all(cases);
}

/// Per-instance rules: source-id, meta, references, name-or-inline, unused globals.
#[test]
fn t11_instance_rules() {
    use ErrorCode::*;
    let inc = "name: t1\ntask-mode: incremental\n";
    let bad_meta = "- source-id: s1\n  meta:\n    binlog-pos: 4\n";
    let with_g = |inst: &str, section: &str| doc(HEAD, inst, &format!("{section}:\n  g: {{}}\n"));
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("duplicate source-id", doc(HEAD, &format!("{ONE}{ONE}"), ""), SpecDuplicateSourceId, "mysql-instances[0] and [1]"),
        ("empty source-id", doc(HEAD, "- loader-thread: 2\n", ""), SpecInvalidValue, "mysql-instances[0].source-id"),
        ("source-id > 32", doc(HEAD, &format!("- source-id: {}\n", "s".repeat(33)), ""), SpecInvalidValue, "longer than 32"),
        ("incremental meta invalid", doc(inc, bad_meta, ""), SpecInvalidValue, "neither binlog-name nor binlog-gtid"),
        ("unknown route", doc(HEAD, "- source-id: s1\n  route-rules: [r9]\n", ""), SpecRuleNotFound, "not defined under routes"),
        ("unknown filter", doc(HEAD, "- source-id: s1\n  filter-rules: [f9]\n", ""), SpecRuleNotFound, "\"f9\""),
        ("unknown block-allow-list", doc(HEAD, "- source-id: s1\n  block-allow-list: b9\n", ""), SpecRuleNotFound, "not defined under block-allow-list"),
        ("unknown black-white-list", doc(HEAD, "- source-id: s1\n  black-white-list: b9\n", ""), SpecRuleNotFound, "\"b9\""),
        ("unknown expression filter", doc(HEAD, "- source-id: s1\n  expression-filters: [e9]\n", ""), SpecRuleNotFound, "not defined under expression-filter"),
        ("unknown mydumper", doc(HEAD, "- source-id: s1\n  mydumper-config-name: m9\n", ""), SpecRuleNotFound, "not defined under mydumpers"),
        ("unknown loader", doc(HEAD, "- source-id: s1\n  loader-config-name: l9\n", ""), SpecRuleNotFound, "not defined under loaders"),
        ("unknown syncer", doc(HEAD, "- source-id: s1\n  syncer-config-name: y9\n", ""), SpecRuleNotFound, "not defined under syncers"),
        ("unknown validator", doc(HEAD, "- source-id: s1\n  validator-config-name: v9\n", ""), SpecRuleNotFound, "not defined under validators"),
        ("mydumper name and inline", with_g("- source-id: s1\n  mydumper-config-name: g\n  mydumper: {threads: 2}\n", "mydumpers"), SpecNameAndInline, "mydumper-config-name and mydumper are both set"),
        ("loader name and inline", with_g("- source-id: s1\n  loader-config-name: g\n  loader: {pool-size: 2}\n", "loaders"), SpecNameAndInline, "loader-config-name and loader"),
        ("syncer name and inline", with_g("- source-id: s1\n  syncer-config-name: g\n  syncer: {batch: 2}\n", "syncers"), SpecNameAndInline, "syncer-config-name and syncer"),
        ("duplicate rule names", doc(HEAD, "- source-id: s1\n  route-rules: [r1, r1]\n", "routes:\n  r1: {schema-pattern: a}\n"), SpecDuplicateRuleRef, "route-rules lists r1 more than once"),
        ("unused route", doc(HEAD, ONE, "routes:\n  r1: {schema-pattern: a}\n"), SpecRulesUnused, "routes.r1"),
        ("unused mydumper", with_g(ONE, "mydumpers"), SpecRulesUnused, "mydumpers.g"),
        ("unused validator", with_g(ONE, "validators"), SpecRulesUnused, "validators.g"),
    ];
    refuse_all(cases);
}

/// Values inside rules and unit configs, and the time zone.
#[test]
fn t12_rule_and_unit_values() {
    use ErrorCode::*;
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("bad safe-mode-duration", doc(HEAD, "- source-id: s1\n  syncer: {safe-mode-duration: 10}\n", ""), SpecInvalidValue, "mysql-instances[0].syncer.safe-mode-duration"),
        ("safe-mode with zero duration", doc(HEAD, ONE, "syncers:\n  y: {safe-mode: true, safe-mode-duration: 0s}\n").replace(ONE, "- source-id: s1\n  syncer-config-name: y\n"), SpecInvalidValue, "syncers.y.safe-mode-duration"),
        ("bad timezone name", doc(&format!("{HEAD}timezone: Mars/Olympus\n"), ONE, ""), SpecInvalidValue, "like Asia/Shanghai"),
        ("timezone offset too far", doc(&format!("{HEAD}timezone: \"+15:00\"\n"), ONE, ""), SpecInvalidValue, "timezone"),
        ("bad block-allow-list regex", doc(HEAD, "- source-id: s1\n  block-allow-list: b\n", "block-allow-list:\n  b:\n    do-dbs: [\"~^(test\"]\n"), SpecInvalidValue, "block-allow-list.b.do-dbs"),
        ("bad table regex", doc(HEAD, "- source-id: s1\n  block-allow-list: b\n", "block-allow-list:\n  b:\n    do-tables:\n    - {db-name: a, tbl-name: \"~[\"}\n"), SpecInvalidValue, "not a valid regular expression"),
        ("bad filter action", doc(HEAD, "- source-id: s1\n  filter-rules: [f]\n", "filters:\n  f: {schema-pattern: a, action: Skip}\n"), SpecInvalidValue, "filters.f.action"),
        ("bad filter event", doc(HEAD, "- source-id: s1\n  filter-rules: [f]\n", "filters:\n  f: {schema-pattern: a, events: [explode], action: Do}\n"), SpecInvalidValue, "unknown event \"explode\""),
        ("bad sql-pattern", doc(HEAD, "- source-id: s1\n  filter-rules: [f]\n", "filters:\n  f: {schema-pattern: a, sql-pattern: [\"(\"], action: Ignore}\n"), SpecInvalidValue, "\"(\" is not a valid regular expression (unclosed group)"),
        ("route without schema", doc(HEAD, "- source-id: s1\n  route-rules: [r]\n", "routes:\n  r: {table-pattern: t, target-schema: x}\n"), SpecInvalidValue, "routes.r.schema-pattern"),
        ("route star inside", doc(HEAD, "- source-id: s1\n  route-rules: [r]\n", "routes:\n  r: {schema-pattern: \"a*b\"}\n"), SpecInvalidValue, "'*' may only be the last"),
        ("expression filter w/o table", doc(HEAD, "- source-id: s1\n  expression-filters: [e]\n", "expression-filter:\n  e: {schema: a, insert-value-expr: \"c > 1\"}\n"), SpecInvalidValue, "expression-filter.e.table"),
        ("expression filter two kinds", doc(HEAD, "- source-id: s1\n  expression-filters: [e]\n", "expression-filter:\n  e: {schema: a, table: b, insert-value-expr: \"c > 1\", delete-value-expr: \"c < 1\"}\n"), SpecInvalidValue, "one filter per kind"),
        ("bad import-mode", doc(HEAD, "- source-id: s1\n  loader: {import-mode: turbo}\n", ""), SpecInvalidValue, "use logical or physical"),
        ("mixed import modes", doc(HEAD, "- source-id: s1\n  loader: {import-mode: physical}\n- source-id: s2\n", ""), SpecInvalidValue, "use one import-mode"),
        ("bad chunk-filesize", doc(HEAD, "- source-id: s1\n  mydumper: {chunk-filesize: big}\n", ""), SpecInvalidValue, "chunk-filesize"),
        ("bad validator mode", doc(HEAD, "- source-id: s1\n  validator-config-name: v\n", "validators:\n  v: {mode: deep}\n"), SpecInvalidValue, "validators.v.mode"),
    ];
    refuse_all(cases);
}

/// Strict decoding: unknown keys, syntax and types, with line and column.
#[test]
fn t13_strict_decoding_names_line_and_column() {
    use ErrorCode::*;
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        ("unknown top-level key", doc(HEAD, ONE, "route:\n  r: {}\n"), SpecUnknownKey, "line 10 column 1: unknown key `route`"),
        ("unknown key in a unit", doc(HEAD, "- source-id: s1\n  syncer:\n    workers: 3\n", ""), SpecUnknownKey, "line 11 column 5"),
        ("not YAML", "name: [t1\n".to_string(), SpecYaml, "line 1"),
        ("wrong type", doc(HEAD, "- source-id: s1\n  mydumper-thread: many\n", ""), SpecYaml, "line 10 column 20"),
    ];
    refuse_all(cases);
}

#[test]
fn t20_the_printed_sample_parses_and_validates() {
    let t = TaskConfig::from_yaml(TaskConfig::sample()).unwrap();
    assert_eq!(t.mysql_instances.len(), 2);
    assert_eq!(t.mysql_instances[0].source_id, "mysql-replica-01");
    assert!(t.warnings.is_empty(), "{:?}", t.warnings);
}

#[test]
fn t30_dm_task_basic_loads_unchanged() {
    let t = TaskConfig::from_yaml(DM_BASIC).unwrap();
    assert_eq!((t.name.as_str(), t.task_mode), ("test", TaskMode::All));
    assert_eq!(t.meta_schema, "dm_meta");
    assert!(t.online_ddl && t.clean_dump_file && !t.is_sharding());
    assert_eq!(t.collation_compatible, CollationCompatible::Loose);
    let i = &t.mysql_instances[1];
    assert_eq!(i.block_allow_list.as_deref(), Some("instance"));
    assert_eq!((i.mydumper.threads, i.loader.pool_size, i.syncer.worker_count), (4, 16, 16));
    assert_eq!(i.syncer.safe_mode_duration, "60s");
    assert_eq!(t.block_allow_list["instance"].do_tables[0].tbl_name, "~^t.*");
}

#[test]
fn t40_dm_task_advanced_loads_with_named_and_inline_units() {
    let t = TaskConfig::from_yaml(DM_ADVANCED).unwrap();
    assert_eq!(t.shard_mode, Some(ShardMode::Pessimistic));
    assert!(t.warnings.iter().all(|w| w.contains("meta is not used in task-mode all")), "{:?}", t.warnings);
    let (a, b) = (&t.mysql_instances[0], &t.mysql_instances[1]);
    assert_eq!(a.mydumper.extra_args, "-B test -T t1,t2 --consistency none");
    assert_eq!(a.mydumper_config_name.as_deref(), Some("global"));
    assert_eq!(b.meta.as_ref().map(|m| m.binlog_pos), Some(320));
    assert_eq!((b.mydumper.chunk_filesize.as_str(), b.mydumper.extra_args.as_str()), ("64", ""));
    assert_eq!(b.syncer.worker_count, 32, "syncer-thread overrides the inline worker-count");
    assert_eq!(b.syncer.queue_size, 1024, "an inline syncer starts from DM's defaults");
    assert_eq!(t.filters["user-filter-1"].sql_pattern[0], "^DROP\\s+PROCEDURE");
    assert_eq!(t.filters["user-filter-1"].action, "Ignore");
}

#[test]
fn t50_defaults_and_aliases_follow_dm() {
    let text = doc(
        "name: t1\ntask-mode: incremental\nis-sharding: true\nshard-mode: optimistic\n",
        "- source-id: s1\n  black-white-list: old\n  meta: {binlog-gtid: \"3ccc475b-2343-11e7-be21-6c0b84d59f30:1-14\"}\n",
        "black-white-list:\n  old: {do-dbs: [a]}\nonline-ddl: false\nremove-meta: true\nenable-heartbeat: true\n",
    );
    let t = TaskConfig::from_yaml(&text).unwrap();
    assert_eq!(t.shard_mode, Some(ShardMode::Optimistic));
    assert!(!t.online_ddl);
    assert_eq!(t.mysql_instances[0].block_allow_list.as_deref(), Some("old"));
    assert!(t.block_allow_list.contains_key("old"));
    assert_eq!(t.mysql_instances[0].meta.as_ref().map(|m| m.binlog_pos), Some(4));
    assert!(t.warnings.iter().any(|w| w.contains("--remove-meta")), "{:?}", t.warnings);
    assert!(t.warnings.iter().any(|w| w.contains("heartbeat is deprecated")), "{:?}", t.warnings);
    let no_meta = TaskConfig::from_yaml(&doc("name: t1\ntask-mode: incremental\n", ONE, "")).unwrap();
    assert!(no_meta.warnings[0].contains("--start-time"), "{:?}", no_meta.warnings);
}

#[test]
fn t60_timezones_dm_accepts() {
    for tz in ["", "System", "UTC", "Asia/Shanghai", "America/Argentina/Buenos_Aires", "Etc/GMT+8", "+08:00", "-12:59"]
    {
        assert!(crate::config::task_check::check_timezone(tz).is_ok(), "{tz}");
    }
    for tz in ["asia/shanghai", "Shanghai", "+8", "+14:01", "-13:00", "08:00"] {
        assert!(crate::config::task_check::check_timezone(tz).is_err(), "{tz}");
    }
}

#[test]
fn t70_masked_hides_the_target_password() {
    let t = TaskConfig::from_yaml(&doc(HEAD, ONE, "")).unwrap();
    assert_eq!(t.target_database.password, "s3cret");
    let m = t.masked();
    assert_eq!(m.target_database.password, PASSWORD_MASK);
    assert_eq!(TaskConfig { target_database: t.target_database.clone(), ..m }, t);
}
