//! dmctl-like calls for the scheduler benchmarks, through `dm::client::ClusterClient` (which
//! follows NotLeader), and the DM-style source and task files they submit.

use std::collections::BTreeMap;
use std::time::Duration;

use dm::client::ClusterClient;
use dm::pb::master::*;

/// A source.yaml as a DM user writes it.
pub fn source_yaml(id: &str) -> String {
    format!("source-id: {id}\nfrom:\n  host: 127.0.0.1\n  port: 3306\n  user: root\n  password: x\n")
}

/// A task.yaml over `sources` (DM's task_basic shape, as in tests/cluster/harness/workers.rs).
pub fn task_yaml(name: &str, sources: &[String]) -> String {
    let mut t = format!(
        "name: {name}\ntask-mode: all\ntarget-database:\n  host: 127.0.0.1\n  port: 4000\n  user: root\n  password: \"\"\nmysql-instances:\n"
    );
    for s in sources {
        t.push_str(&format!("  - source-id: {s}\n    block-allow-list: instance\n"));
    }
    t.push_str("block-allow-list:\n  instance:\n    do-dbs: [\"shop\"]\n");
    t
}

/// A client over `masters` (tried in that order: put the leader first to avoid a forwarding hop).
pub fn client(masters: &[String], deadline: Duration) -> ClusterClient {
    ClusterClient::new(masters.to_vec(), deadline)
}

/// Worker name → (stage, bound source), as list-member shows them.
pub async fn workers(masters: &[String]) -> anyhow::Result<BTreeMap<String, (String, String)>> {
    let req = ListMemberRequest { worker: true, ..Default::default() };
    let r = dm::cluster_call!(client(masters, Duration::from_secs(10)), list_member, req)?;
    anyhow::ensure!(r.result, "list-member: {}", r.msg);
    let mut out = BTreeMap::new();
    for m in r.members {
        if let Some(members::Member::Worker(w)) = m.member {
            for w in w.workers {
                out.insert(w.name, (w.stage, w.source));
            }
        }
    }
    Ok(out)
}

/// Source → the worker it is bound to.
pub async fn bindings(masters: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(workers(masters).await?.into_iter().filter(|(_, (_, s))| !s.is_empty()).map(|(w, (_, s))| (s, w)).collect())
}

pub async fn create_sources(masters: &[String], ids: &[String]) -> anyhow::Result<OperateSourceResponse> {
    let req = OperateSourceRequest {
        op: SourceOp::StartSource as i32,
        config: ids.iter().map(|id| source_yaml(id)).collect(),
        ..Default::default()
    };
    Ok(dm::cluster_call!(client(masters, Duration::from_secs(600)), operate_source, req)?)
}

/// Waits until list-member satisfies `done`, polling every `every`.
pub async fn wait_workers(
    masters: &[String],
    within: Duration,
    every: Duration,
    what: &str,
    done: impl Fn(&BTreeMap<String, (String, String)>) -> bool,
) -> anyhow::Result<()> {
    let start = std::time::Instant::now();
    loop {
        if let Ok(w) = workers(masters).await
            && done(&w)
        {
            return Ok(());
        }
        anyhow::ensure!(start.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(every).await;
    }
}

/// A task over `sources` merging `shop.t*` into `shop.tb` in `mode` (pessimistic | optimistic),
/// as tests/cluster/harness/shard.rs writes it.
pub fn sharded_task_yaml(name: &str, sources: &[String], mode: &str) -> String {
    let mut t = format!(
        "name: {name}\ntask-mode: all\nshard-mode: {mode}\ntarget-database:\n  host: 127.0.0.1\n  port: 4000\n  user: root\n  password: \"\"\nmysql-instances:\n"
    );
    for s in sources {
        t.push_str(&format!("  - source-id: {s}\n    block-allow-list: instance\n    route-rules: [\"merge\"]\n"));
    }
    t.push_str("block-allow-list:\n  instance:\n    do-dbs: [\"shop\"]\n");
    t.push_str("routes:\n  merge:\n    schema-pattern: \"shop\"\n    table-pattern: \"t*\"\n    target-schema: \"shop\"\n    target-table: \"tb\"\n");
    t
}
