//! The OpenAPI under `/api/v1` on a three-master cluster with one worker: every route through
//! the leader and through a follower (which reverse-proxies), the spec at `/api/v1/dm.json`,
//! DM's error body with 4xx for bad input (state read back unchanged), and passwords never shown.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::http::{Answer, delete, get, post_json, request};
use crate::harness::workers::{Audit, TestWorker};
use crate::harness::{TIMEOUT, TestCluster, wait_until};

const PASSWORD: &str = "s3cret-pw";

fn source(name: &str) -> Value {
    json!({"source": {"source_name": name, "host": "127.0.0.1", "port": 3306, "user": "dm", "password": PASSWORD}})
}

fn no_secret(a: &Answer) {
    assert!(!a.body.contains(PASSWORD), "a password in an answer: {}", a.body);
}

async fn source_names(addr: &str) -> Vec<String> {
    let a = get(addr, "/api/v1/sources").await;
    assert_eq!(a.status, 200, "{a:?}");
    no_secret(&a);
    let v = a.json();
    assert_eq!(v["total"].as_u64().unwrap() as usize, v["data"].as_array().unwrap().len());
    v["data"].as_array().unwrap().iter().map(|s| s["source_name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t10_every_route_through_leader_and_follower() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.wait_leader().await;
    let follower = cluster.ids().into_iter().find(|i| *i != leader).unwrap();
    let (l_addr, f_addr) = (cluster.client_addr(leader), cluster.client_addr(follower));
    let masters: Vec<String> = cluster.ids().iter().map(|i| cluster.client_addr(*i)).collect();
    let audit = Audit::default();
    let mut w1 = TestWorker::start("w1", &masters, Duration::from_secs(3), &audit, false).await;
    wait_until(TIMEOUT, "w1 listed as free", || async {
        let a = get(&f_addr, "/api/v1/cluster/workers").await;
        a.status == 200 && a.json()["data"][0]["bound_stage"] == "free"
    })
    .await;

    // The spec, from any master.
    for addr in [&l_addr, &f_addr] {
        let spec = get(addr, "/api/v1/dm.json").await;
        assert_eq!(spec.status, 200);
        let v = spec.json();
        assert!(v["openapi"].as_str().unwrap().starts_with("3."), "{}", spec.body);
        for path in [
            "/api/v1/sources",
            "/api/v1/sources/{source_name}",
            "/api/v1/sources/{source_name}/status",
            "/api/v1/sources/{source_name}/enable",
            "/api/v1/sources/{source_name}/disable",
            "/api/v1/sources/{source_name}/transfer",
            "/api/v1/cluster/info",
            "/api/v1/cluster/masters",
            "/api/v1/cluster/masters/{master_name}",
            "/api/v1/cluster/workers",
            "/api/v1/cluster/workers/{worker_name}",
            "/api/v1/tasks",
            "/api/v1/tasks/{task_name}",
            "/api/v1/tasks/{task_name}/status",
            "/api/v1/tasks/{task_name}/start",
            "/api/v1/tasks/{task_name}/stop",
        ] {
            assert!(v["paths"].get(path).is_some(), "{path} missing from the spec");
        }
        for (path, item) in v["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                assert!(op["responses"].get("429").is_some(), "{method} {path} does not document 429");
            }
        }
    }

    // Sources: s1 through the leader (bound to w1), s2 through the follower (no free worker).
    let a = post_json(&l_addr, "/api/v1/sources", &source("s1")).await;
    assert_eq!(a.status, 201, "{a:?}");
    no_secret(&a);
    assert_eq!(a.json()["password"], "******");
    let a = post_json(&f_addr, "/api/v1/sources", &source("s2")).await;
    assert_eq!(a.status, 201, "{a:?}");
    no_secret(&a);
    for addr in [&l_addr, &f_addr] {
        assert_eq!(source_names(addr).await, ["s1", "s2"]);
        let a = get(addr, "/api/v1/sources/s1?with_status=true").await;
        assert_eq!(a.status, 200, "{a:?}");
        no_secret(&a);
        assert_eq!(a.json()["status_list"][0]["worker_name"], "w1", "{}", a.body);
        let a = get(addr, "/api/v1/sources/s2/status").await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.json()["data"][0]["worker_name"], "", "{}", a.body);
        for op in ["enable", "disable"] {
            let a = request(addr, "POST", &format!("/api/v1/sources/s1/{op}"), None, &[]).await;
            assert_eq!(a.status, 200, "{op}: {a:?}");
        }
    }

    // Cluster.
    for addr in [&l_addr, &f_addr] {
        let a = get(addr, "/api/v1/cluster/masters").await;
        assert_eq!(a.status, 200, "{a:?}");
        let v = a.json();
        assert_eq!(v["total"], 3);
        let leaders: Vec<&Value> = v["data"].as_array().unwrap().iter().filter(|m| m["leader"] == true).collect();
        assert_eq!(leaders.len(), 1, "{}", a.body);
        assert_eq!(leaders[0]["name"], cluster.node(leader).shared.config.name.as_str());
        let a = get(addr, "/api/v1/cluster/info").await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.json()["leader_addr"], l_addr.as_str());
        let a = get(addr, "/api/v1/cluster/workers").await;
        assert_eq!(a.json()["data"][0]["bound_source_name"], "s1", "{}", a.body);
    }
    // An online worker cannot be taken out; an unknown master cannot either.
    let a = delete(&f_addr, "/api/v1/cluster/workers/w1").await;
    assert_eq!((a.status, a.code()), (409, 46005), "{a:?}");
    let a = delete(&f_addr, "/api/v1/cluster/masters/nobody").await;
    assert_eq!(a.status / 100, 4, "{a:?}");
    // Transfer to an unknown worker: 404, s1 stays on w1.
    let a = post_json(&f_addr, "/api/v1/sources/s1/transfer", &json!({"worker_name": "w9"})).await;
    assert_eq!((a.status, a.code()), (404, 46003), "{a:?}");

    // Delete through the follower, then the worker goes away and can be taken out.
    let a = delete(&f_addr, "/api/v1/sources/s1").await;
    assert_eq!(a.status, 204, "{a:?}");
    let a = delete(&l_addr, "/api/v1/sources/s2?force=true").await;
    assert_eq!(a.status, 204, "{a:?}");
    assert!(source_names(&f_addr).await.is_empty());
    w1.stop().await;
    wait_until(TIMEOUT, "w1 offline", || async {
        get(&l_addr, "/api/v1/cluster/workers").await.json()["data"][0]["bound_stage"] == "offline"
    })
    .await;
    let a = delete(&f_addr, "/api/v1/cluster/workers/w1").await;
    assert_eq!(a.status, 204, "{a:?}");
    assert_eq!(get(&l_addr, "/api/v1/cluster/workers").await.json()["total"], 0);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t20_bad_input_is_4xx_and_changes_nothing() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.wait_leader().await;
    let follower = cluster.ids().into_iter().find(|i| *i != leader).unwrap();
    let f_addr = cluster.client_addr(follower);
    assert_eq!(post_json(&f_addr, "/api/v1/sources", &source("s1")).await.status, 201);

    let mut unknown_field = source("s2");
    unknown_field["source"]["bogus"] = json!(1);
    let mut extra_top = source("s2");
    extra_top["extra"] = json!(true);
    let mut long_id = source("s2");
    long_id["source"]["source_name"] = json!("x".repeat(40));
    let mut read_only = source("s2");
    read_only["source"]["task_name_list"] = json!(["t1"]);
    let big = vec![b' '; (1 << 20) + 10];
    type Case<'a> = (&'a str, &'a str, &'a str, Option<(&'a str, &'a [u8])>, u16);
    let bodies: Vec<(String, String)> = vec![
        ("unknown field".into(), unknown_field.to_string()),
        ("unknown top-level field".into(), extra_top.to_string()),
        ("source id too long".into(), long_id.to_string()),
        ("a read-only field".into(), read_only.to_string()),
        ("a source that exists".into(), source("s1").to_string()),
    ];
    let mut cases: Vec<Case> = vec![
        ("invalid JSON", "POST", "/api/v1/sources", Some(("application/json", b"{\"source\": ")), 400),
        ("no content type", "POST", "/api/v1/sources", Some(("", b"{}")), 415),
        ("oversized body", "POST", "/api/v1/sources", Some(("application/json", &big)), 413),
        ("unknown source", "GET", "/api/v1/sources/nope", None, 404),
        ("delete unknown source", "DELETE", "/api/v1/sources/nope", None, 404),
        ("bad query value", "GET", "/api/v1/sources?with_status=maybe", None, 400),
        ("unknown query key", "GET", "/api/v1/sources?colour=red", None, 400),
        ("unknown route", "GET", "/api/v1/nothing/here", None, 404),
        ("path segment not UTF-8", "GET", "/api/v1/sources/%FF/status", None, 400),
        ("worker name not UTF-8", "DELETE", "/api/v1/cluster/workers/%C3%28", None, 400),
        ("transfer without body", "POST", "/api/v1/sources/s1/transfer", Some(("application/json", b"{}")), 400),
    ];
    for (what, body) in &bodies {
        let want = if what.contains("exists") { 409 } else { 400 };
        cases.push((what, "POST", "/api/v1/sources", Some(("application/json", body.as_bytes())), want));
    }
    for addr in [cluster.client_addr(leader), f_addr.clone()] {
        for (what, method, path, body, want) in &cases {
            let a = request(&addr, method, path, *body, &[]).await;
            assert_eq!(a.status, *want, "{what} via {addr}: {a:?}");
            let v = a.json();
            assert!(
                v["error_code"].as_i64().unwrap() > 0 && !v["error_msg"].as_str().unwrap().is_empty(),
                "{what}: {v}"
            );
            no_secret(&a);
        }
        assert_eq!(source_names(&addr).await, ["s1"], "nothing changed");
    }
    // A request already forwarded once is not forwarded again.
    let a = request(&f_addr, "GET", "/api/v1/sources", None, &[("dm-forwarded", "1")]).await;
    assert_eq!((a.status, a.code()), (503, 38043), "{a:?}");
    cluster.shutdown().await;
}

fn task(name: &str, sources: &[&str]) -> Value {
    let rules: Vec<Value> = sources
        .iter()
        .map(|s| json!({"source": {"source_name": s, "schema": "shop", "table": "orders_*"}, "target": {"schema": "shop", "table": "orders"}}))
        .collect();
    let conf: Vec<Value> = sources.iter().map(|s| json!({"source_name": s})).collect();
    json!({"task": {
        "name": name, "task_mode": "all", "shard_mode": "pessimistic",
        "target_config": {"host": "127.0.0.1", "port": 4000, "user": "root", "password": PASSWORD},
        "table_migrate_rule": rules,
        "source_config": {"source_conf": conf},
    }})
}

async fn stages(addr: &str, name: &str) -> Vec<(String, String)> {
    let a = get(addr, &format!("/api/v1/tasks/{name}/status")).await;
    assert_eq!(a.status, 200, "{a:?}");
    let v = a.json();
    let mut out: Vec<(String, String)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["source_name"].as_str().unwrap().to_string(), s["stage"].as_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_tasks_created_stopped_then_started_stopped_deleted() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.wait_leader().await;
    let follower = cluster.ids().into_iter().find(|i| *i != leader).unwrap();
    let (l_addr, f_addr) = (cluster.client_addr(leader), cluster.client_addr(follower));
    let masters: Vec<String> = cluster.ids().iter().map(|i| cluster.client_addr(*i)).collect();
    let audit = Audit::default();
    let mut w1 = TestWorker::start("w1", &masters, Duration::from_secs(3), &audit, false).await;
    let mut w2 = TestWorker::start("w2", &masters, Duration::from_secs(3), &audit, false).await;
    for s in ["s1", "s2"] {
        assert_eq!(post_json(&f_addr, "/api/v1/sources", &source(s)).await.status, 201);
    }

    // Bad tasks: 4xx, and no task appears.
    let mut unknown_field = task("t1", &["s1"]);
    unknown_field["task"]["extra"] = json!(1);
    let mut bad_mode = task("t1", &["s1"]);
    bad_mode["task"]["task_mode"] = json!("sometimes");
    let mut rule_on_other_source = task("t1", &["s1"]);
    rule_on_other_source["task"]["table_migrate_rule"][0]["source"]["source_name"] = json!("s2");
    let bad: [(&str, Value, u16); 4] = [
        ("unknown field", unknown_field, 400),
        ("bad task mode", bad_mode, 400),
        ("rule on a source not in source_conf", rule_on_other_source, 400),
        ("unknown source", task("t1", &["s9"]), 404),
    ];
    for (what, body, want) in bad {
        let a = post_json(&f_addr, "/api/v1/tasks", &body).await;
        assert_eq!(a.status, want, "{what}: {a:?}");
        no_secret(&a);
    }
    assert_eq!(get(&f_addr, "/api/v1/tasks").await.json()["total"], 0, "no task after bad input");

    // Created through the follower: Stopped on both sources, password masked.
    let a = post_json(&f_addr, "/api/v1/tasks", &task("t1", &["s1", "s2"])).await;
    assert_eq!(a.status, 201, "{a:?}");
    no_secret(&a);
    assert_eq!(a.json()["task"]["target_config"]["password"], "******");
    let a = post_json(&l_addr, "/api/v1/tasks", &task("t1", &["s1", "s2"])).await;
    assert_eq!((a.status, a.code()), (409, 46010), "created twice: {a:?}");
    let want = |stage: &str| vec![("s1".to_string(), stage.to_string()), ("s2".to_string(), stage.to_string())];
    assert_eq!(stages(&f_addr, "t1").await, want("Stopped"));
    let a = get(&l_addr, "/api/v1/tasks/t1").await;
    assert_eq!(a.status, 200, "{a:?}");
    no_secret(&a);
    assert_eq!(a.json()["table_migrate_rule"].as_array().unwrap().len(), 2, "{}", a.body);

    // Start (options that need the data path are refused), list filters, stop one source.
    let a = post_json(&f_addr, "/api/v1/tasks/t1/start", &json!({"start_time": "2026-01-01 00:00:00"})).await;
    assert_eq!(a.status, 400, "{a:?}");
    let a = request(&f_addr, "POST", "/api/v1/tasks/t1/start", None, &[]).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(stages(&l_addr, "t1").await, want("Running"));
    for (query, total) in
        [("stage=Running", 1), ("stage=Paused", 0), ("source_name_list=s2", 1), ("source_name_list=s9", 0)]
    {
        let a = get(&f_addr, &format!("/api/v1/tasks?{query}")).await;
        assert_eq!(a.json()["total"], total, "{query}: {}", a.body);
    }
    for addr in [&l_addr, &f_addr] {
        let a = get(addr, "/api/v1/tasks?with_status=true").await;
        assert_eq!(a.json()["data"][0]["status_list"].as_array().unwrap().len(), 2, "{}", a.body);
        let a = get(addr, "/api/v1/tasks/t1?with_status=true").await;
        assert_eq!(a.json()["status_list"].as_array().unwrap().len(), 2, "{}", a.body);
    }
    // Stop and start through the leader too.
    let a = post_json(&l_addr, "/api/v1/tasks/t1/stop", &json!({})).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(stages(&l_addr, "t1").await, want("Stopped"));
    let a = post_json(&l_addr, "/api/v1/tasks/t1/start", &json!({"source_name_list": ["s1", "s2"]})).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(stages(&f_addr, "t1").await, want("Running"));
    let a = delete(&f_addr, "/api/v1/tasks/t1").await;
    assert_eq!((a.status, a.code()), (409, 38056), "delete while running: {a:?}");
    let a = post_json(&f_addr, "/api/v1/tasks/t1/stop", &json!({"source_name_list": ["s2"]})).await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(stages(&f_addr, "t1").await, vec![("s1".into(), "Running".into()), ("s2".into(), "Stopped".into())]);

    // Delete with force; then it is gone everywhere.
    let a = delete(&f_addr, "/api/v1/tasks/t1?force=true").await;
    assert_eq!(a.status, 204, "{a:?}");
    // A second task created and deleted through the leader.
    let a = post_json(&l_addr, "/api/v1/tasks", &task("t2", &["s1"])).await;
    assert_eq!(a.status, 201, "{a:?}");
    let a = delete(&l_addr, "/api/v1/tasks/t2").await;
    assert_eq!(a.status, 204, "a stopped task is deleted without force: {a:?}");
    for path in ["/api/v1/tasks/t1", "/api/v1/tasks/t1/status"] {
        let a = get(&l_addr, path).await;
        assert_eq!((a.status, a.code()), (404, 46011), "{path}: {a:?}");
    }
    let a = request(&l_addr, "POST", "/api/v1/tasks/t1/start", None, &[]).await;
    assert_eq!(a.status, 404, "{a:?}");
    audit.assert_no_overlap();
    w1.stop().await;
    w2.stop().await;
    cluster.shutdown().await;
}
