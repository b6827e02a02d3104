//! Subtask generation: names resolved to rules, thread overrides, dump dir, sources, storage.

use super::*;
use crate::config::PASSWORD_MASK;
use crate::config::task::tests::DM_ADVANCED;
use crate::error::{Coded, ErrorCode};

fn source(id: &str, host: &str) -> SourceConfig {
    SourceConfig::from_yaml(&format!("source-id: {id}\nfrom:\n  host: {host}\n  user: dm\n  password: up-pass\n"))
        .unwrap()
}

fn sources() -> BTreeMap<String, SourceConfig> {
    [source("instance118-4306", "10.0.0.1"), source("instance118-5306", "10.0.0.2")]
        .into_iter()
        .map(|s| (s.source_id.clone(), s))
        .collect()
}

#[test]
fn t10_one_subtask_per_instance_with_rules_resolved() {
    let task = TaskConfig::from_yaml(DM_ADVANCED).unwrap();
    let subs = task.subtasks(&sources()).unwrap();
    assert_eq!(subs.len(), 2);
    let (a, b) = (&subs[0], &subs[1]);
    assert_eq!((a.name.as_str(), a.source_id.as_str()), ("test", "instance118-4306"));
    assert_eq!(a.shard_mode, Some(ShardMode::Pessimistic));
    assert_eq!(a.from.host, "10.0.0.1");
    assert_eq!(b.from.host, "10.0.0.2");
    assert_eq!(a.to.host, "192.168.0.1");
    let targets: Vec<_> = a.route_rules.iter().map(|r| r.target_table.as_str()).collect();
    assert_eq!(targets, vec!["", "t"], "routes keep the instance's order");
    assert_eq!(a.filter_rules.len(), 2);
    assert_eq!(b.filter_rules[0].events, vec!["all dml"]);
    assert_eq!(a.block_allow_list.as_ref().map(|l| l.ignore_dbs.clone()), Some(vec!["mysql".into(), "ignored".into()]));
    assert_eq!(a.mydumper.extra_args, "-B test -T t1,t2 --consistency none");
    assert_eq!(b.syncer.worker_count, 32);
    assert_eq!(a.loader.dir, "./dumped_data.test");
    assert_eq!(a.meta.as_ref().map(|m| m.binlog_name.as_str()), Some("mysql-bin.000001"));
}

#[test]
fn t20_thread_overrides_beat_named_configs() {
    let text = "name: t2\ntask-mode: full\ntarget-database: {host: tidb, port: 4000, user: root}\n\
        mysql-instances:\n- source-id: instance118-4306\n  mydumper-config-name: m\n  loader-config-name: l\n  \
        syncer-config-name: y\n  mydumper-thread: 9\n  loader-thread: 7\n  syncer-thread: 5\n\
        mydumpers:\n  m: {threads: 2}\nloaders:\n  l: {pool-size: 3, dir: /data/dump.t2}\n\
        syncers:\n  y: {worker-count: 4}\n";
    let task = TaskConfig::from_yaml(text).unwrap();
    let sub = &task.subtasks(&sources()).unwrap()[0];
    assert_eq!((sub.mydumper.threads, sub.loader.pool_size, sub.syncer.worker_count), (9, 7, 5));
    assert_eq!(sub.loader.dir, "/data/dump.t2", "the suffix is not added twice");
    assert_eq!(task.mydumpers["m"].threads, 2, "the named config itself is unchanged");
}

#[test]
fn t30_dump_dir_follows_dm() {
    assert_eq!(dump_dir("./dumped_data", "t", "s"), "./dumped_data.t");
    assert_eq!(dump_dir("s3://bucket/dump/?endpoint=x", "t", "s"), "s3://bucket/dump/t.s?endpoint=x");
    assert_eq!(dump_dir("s3://bucket/dump/t.s", "t", "s"), "s3://bucket/dump/t.s");
    let inc = "name: t3\ntask-mode: incremental\ntarget-database: {host: tidb, user: root}\n\
        mysql-instances:\n- source-id: instance118-4306\n  meta: {binlog-name: mysql-bin.000002}\n";
    let sub = &TaskConfig::from_yaml(inc).unwrap().subtasks(&sources()).unwrap()[0];
    assert_eq!(sub.loader.dir, "./dumped_data", "no load unit, no suffix");
}

#[test]
fn t40_a_missing_source_is_named_with_the_fix() {
    let task = TaskConfig::from_yaml(DM_ADVANCED).unwrap();
    let mut only_one = sources();
    only_one.remove("instance118-5306");
    let err = task.subtasks(&only_one).unwrap_err();
    assert_eq!(err.code(), ErrorCode::SpecSourceMissing);
    assert!(err.to_string().contains("\"instance118-5306\""), "{err}");
    assert!(err.to_string().contains("operate-source create"), "{err}");
}

#[test]
fn t50_time_zone_reaches_both_sessions() {
    let text = "name: t4\ntask-mode: all\ntimezone: \"+08:00\"\n\
        target-database: {host: tidb, user: root, session: {Time_Zone: UTC, sql_mode: ANSI}}\n\
        mysql-instances:\n- source-id: instance118-4306\n";
    let sub = &TaskConfig::from_yaml(text).unwrap().subtasks(&sources()).unwrap()[0];
    assert_eq!(sub.from.session.get("time_zone").map(String::as_str), Some("+08:00"));
    assert_eq!(sub.to.session.get("Time_Zone").map(String::as_str), Some("+08:00"));
    assert_eq!(sub.to.session.len(), 2);
}

#[test]
fn t60_stored_json_round_trips_and_masking_hides_both_passwords() {
    let task = TaskConfig::from_yaml(DM_ADVANCED).unwrap();
    for sub in task.subtasks(&sources()).unwrap() {
        assert_eq!(SubtaskConfig::from_stored(&sub.to_stored()).unwrap(), sub);
        let m = sub.masked();
        assert_eq!((m.from.password.as_str(), m.to.password.as_str()), (PASSWORD_MASK, PASSWORD_MASK));
        let shown = m.to_stored();
        assert!(!shown.contains("up-pass") && !shown.contains("tidb-pass"), "{shown}");
    }
    let err = SubtaskConfig::from_stored("{}").unwrap_err();
    assert_eq!(err.code(), ErrorCode::SpecStoredCorrupt);
}
