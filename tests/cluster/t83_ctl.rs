//! The real `dm ctl` binary against a three-master cluster, always through a follower's address:
//! every command's normal path and its main error with the exit code (0 ok, 1 `result` false,
//! 2 usage), passwords never printed, and usage errors that change nothing.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::harness::ctl_run::{Run, ctl_at};
use crate::harness::process::DM;
use crate::harness::workers::{Audit, Ctl, TestWorker, source_yaml, task_yaml};
use crate::harness::{TIMEOUT, TestCluster, wait_until};

const TTL: Duration = Duration::from_secs(10);

async fn ctl(addr: &str, dir: &Path, args: &[&str]) -> Run {
    ctl_at(addr, dir, args).await
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// The names of the masters (or workers) a list-member answer lists.
fn listed(r: &Value, part: &str, list: &str) -> Vec<String> {
    let members = r["members"].as_array().cloned().unwrap_or_default();
    let entry = members.iter().find_map(|m| m.get(part)).cloned().unwrap_or(Value::Null);
    let items = entry[list].as_array().cloned().unwrap_or_default();
    items.iter().map(|m| m["name"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_every_command_through_a_follower() {
    let c = TestCluster::start(3).await;
    let leader = c.wait_leader().await;
    let follower = c.ids().into_iter().find(|id| *id != leader).unwrap();
    let masters: Vec<String> = c.ids().iter().map(|id| c.client_addr(*id)).collect();
    let audit = Audit::default();
    let _w1 = TestWorker::start("w1", &masters, TTL, &audit, false).await;
    let _w2 = TestWorker::start("w2", &masters, TTL, &audit, false).await;
    let via = c.client_addr(follower);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(p, "s1.yaml", &source_yaml("s1"));
    write(p, "s2.yaml", &source_yaml("s2"));
    let task = task_yaml("t1", &["s1", "s2"]).replace("password: \"\"", "password: tgt-secret");
    write(p, "task.yaml", &task);
    write(p, "missing.yaml", &task_yaml("t2", &["s1", "s9"]));
    write(p, "missing2.yaml", &task_yaml("t2", &["s8", "s9"]));
    write(p, "bad.yaml", &task.replace("task-mode", "task-mood"));

    // list-member, all parts and filtered by name.
    let r = ctl(&via, p, &["list-member"]).await.ok();
    assert_eq!(listed(&r.json, "master", "masters").len(), 3, "{}", r.out);
    let r = ctl(&via, p, &["list-member", "--name", "m1,w2"]).await.ok();
    assert_eq!(listed(&r.json, "master", "masters"), ["m1"], "{}", r.out);
    assert_eq!(listed(&r.json, "worker", "workers"), ["w2"], "{}", r.out);

    // Sources: create, its main error, show, config with the password masked.
    ctl(&via, p, &["operate-source", "create", "s1.yaml", "s2.yaml"]).await.ok();
    let bound = Ctl(masters.clone());
    wait_until(TIMEOUT, "both sources bound", || async { bound.bindings().await.len() == 2 }).await;
    ctl(&via, p, &["operate-source", "create", "s1.yaml"]).await.refused(46006);
    let r = ctl(&via, p, &["operate-source", "show", "-s", "s1"]).await.ok();
    assert_eq!(r.json["sources"].as_array().map(Vec::len), Some(1), "{}", r.out);
    let r = ctl(&via, p, &["config", "source", "s1"]).await.ok();
    assert!(r.out.contains("******") && !r.out.contains("secret-s1"), "{}", r.out);
    ctl(&via, p, &["config", "source", "nope"]).await.refused(46007);

    // check-task: passes, names what it did not run, and writes nothing.
    let r = ctl(&via, p, &["check-task", "task.yaml"]).await.ok();
    assert!(r.msg().contains("check pass") && r.msg().contains("not run"), "{}", r.out);
    let r = ctl(&via, p, &["check-task", "missing.yaml"]).await.refused(46007);
    assert!(r.msg().contains("s9") && r.msg().contains("not run"), "{}", r.out);
    let r = ctl(&via, p, &["check-task", "--error", "1", "missing2.yaml"]).await.refused(46007);
    assert!(r.msg().contains("s8") && !r.msg().contains("s9") && r.msg().contains("1 more error"), "{}", r.out);
    ctl(&via, p, &["check-task", "bad.yaml"]).await.refused(11002);
    ctl(&via, p, &["check-task", "--start-time", "2024-01-01 00:00:00", "task.yaml"]).await.refused(38055);
    ctl(&via, p, &["config", "task", "t1"]).await.refused(46011);

    // start-task on one source, then the rest; check-task now sees the task.
    ctl(&via, p, &["start-task", "-s", "s1", "task.yaml"]).await.ok();
    let r = ctl(&via, p, &["query-status", "t1"]).await.ok();
    assert_eq!(r.json["sources"].as_array().map(Vec::len), Some(1), "{}", r.out);
    ctl(&via, p, &["start-task", "task.yaml"]).await.ok();
    ctl(&via, p, &["start-task", "task.yaml"]).await.refused(46010);
    ctl(&via, p, &["check-task", "task.yaml"]).await.refused(46010);

    // config task / master / worker.
    let r = ctl(&via, p, &["config", "task", "t1"]).await.ok();
    assert!(r.out.contains("******") && !r.out.contains("tgt-secret") && r.out.contains("name: t1"), "{}", r.out);
    for m in ["m1", "m2", "m3"] {
        let r = ctl(&via, p, &["config", "master", m]).await.ok();
        assert!(r.json["cfg"].as_str().unwrap().contains(&format!("name = \"{m}\"")), "{}", r.out);
    }
    ctl(&via, p, &["config", "master", "m9"]).await.refused(38052);
    ctl(&via, p, &["config", "worker", "w1"]).await.refused(46016);
    ctl(&via, p, &["config", "worker", "w9"]).await.refused(46003);

    // query-status with -s and --more; pause/resume/stop by file name and by task name.
    let r = ctl(&via, p, &["query-status", "t1", "-s", "s2", "--more"]).await.ok();
    assert_eq!(r.json["sources"].as_array().map(Vec::len), Some(1), "{}", r.out);
    ctl(&via, p, &["query-status", "nope"]).await.refused(46011);
    ctl(&via, p, &["pause-task", "-s", "s1", "task.yaml"]).await.ok();
    ctl(&via, p, &["resume-task", "t1"]).await.ok();
    ctl(&via, p, &["pause-task", "nope"]).await.refused(46011);
    // A file argument that is not there is the caller's mistake, found before any master is asked.
    for args in [&["pause-task", "gone.yaml"][..], &["check-task", "gone.yaml"][..]] {
        let r = ctl(&via, p, args).await;
        assert!(r.code == 1 && r.err.contains("[code=10003]"), "{args:?}: {} {}", r.out, r.err);
    }
    ctl(&via, p, &["stop-task", "task.yaml"]).await.ok();
    ctl(&via, p, &["stop-task", "t1"]).await.refused(46011);

    // Members and sources.
    ctl(&via, p, &["transfer-source", "s1", "w9"]).await.refused(46003);
    ctl(&via, p, &["offline-member", "--worker", "--name", "w1"]).await.refused(46005);
    ctl(&via, p, &["operate-leader", "cancel-evict"]).await.ok();
    ctl(&via, p, &["operate-source", "stop", "-s", "s2"]).await.ok();
    ctl(&via, p, &["operate-source", "stop", "-s", "s2"]).await.refused(46007);

    // No output ever carried a password; the masters' logs are checked in the unit tests.
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_samples_and_unreachable_masters() {
    let dir = tempfile::tempdir().unwrap();
    let dead = "127.0.0.1:1";
    for (args, want) in [
        (&["operate-source", "create", "--print-sample-config"][..], "source-id:"),
        (&["operate-source", "--print-sample-config"][..], "source-id:"),
        (&["start-task", "--print-sample-config"][..], "mysql-instances:"),
    ] {
        let r = ctl(dead, dir.path(), args).await;
        assert_eq!(r.code, 0, "{args:?}: {}", r.err);
        assert!(r.out.contains(want), "{args:?}: {}", r.out);
    }
    let out = tokio::process::Command::new(DM)
        .args(["ctl", "--master-addr", "127.0.0.1:1,127.0.0.1:2", "--rpc-timeout", "1s", "list-member"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[code=38045]"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_usage_errors_exit_2_and_change_nothing() {
    let c = TestCluster::start(1).await;
    c.wait_leader().await;
    let via = c.client_addr(1);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(p, "task.yaml", &task_yaml("t1", &["s1"]));
    write(p, "s1.yaml", &source_yaml("s1"));
    let before = ctl(&via, p, &["operate-source", "show"]).await.ok().out;
    let table: &[&[&str]] = &[
        &["start-task"],
        &["start-task", "task.yaml", "extra.yaml"],
        &["start-task", "--bogus", "task.yaml"],
        &["check-task"],
        &["check-task", "--error", "many", "task.yaml"],
        &["config", "task"],
        &["config", "bogus", "x"],
        &["config", "task", "t1", "extra"],
        &["list-member", "--bogus"],
        &["pause-task"],
        &["resume-task", "t1", "extra"],
        &["stop-task", "-s"],
        &["query-status", "t1", "extra"],
        &["operate-source"],
        &["operate-source", "destroy", "s1.yaml"],
        &["offline-member", "--name", "w1"],
        &["offline-member", "--master", "--worker", "--name", "w1"],
        &["transfer-source", "s1"],
        &["operate-leader", "sideways"],
        &["no-such-command"],
    ];
    for args in table {
        let r = ctl(&via, p, args).await;
        assert_eq!(r.code, 2, "{args:?}: stdout {} stderr {}", r.out, r.err);
        // clap prints the usage line, or for a bad value the accepted ones and a pointer to --help.
        assert!(
            r.err.contains("error:") && (r.err.contains("Usage") || r.err.contains("--help")),
            "{args:?}: {}",
            r.err
        );
    }
    let out = tokio::process::Command::new(DM).args(["ctl", "--rpc-timeout", "soon", "list-member"]).output().await;
    assert_eq!(out.unwrap().status.code(), Some(2));
    assert_eq!(ctl(&via, p, &["operate-source", "show"]).await.ok().out, before);
    ctl(&via, p, &["query-status"]).await.ok();
    ctl(&via, p, &["config", "task", "t1"]).await.refused(46011);
    c.shutdown().await;
}
