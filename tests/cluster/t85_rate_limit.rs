//! The per-client rate limit on the client port (`api-rate-limit`): HTTP over the limit is 429
//! with `Retry-After` and the API's error body, gRPC operator calls get RESOURCE_EXHAUSTED, both
//! with code 38060; probes and worker heartbeats are never limited; 0 turns the limit off.
//! Every client here is 127.0.0.1, so all requests of a test share one budget (per master).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dm::config::master::ApiRateLimit;
use dm::error::Coded;
use dm::pb::master::{HealthRequest, ListMemberRequest, members};
use tonic::Code;

use crate::harness::http::{Answer, get};
use crate::harness::wait::hold_for;
use crate::harness::workers::{Audit, Ctl, TestWorker};
use crate::harness::{TIMEOUT, TestCluster, wait_until_some};

const LIMITED_PATH: &str = "/api/v1/cluster/info";

async fn one_master(rate: f64, burst: u32) -> TestCluster {
    let cluster = TestCluster::start_with(1, move |cfg| cfg.api_rate = ApiRateLimit { rate, burst }).await;
    cluster.wait_leader().await;
    cluster
}

/// Sends GETs until one is refused; every earlier one must have succeeded.
async fn http_until_refused(addr: &str, max: usize) -> (Answer, Instant) {
    for i in 0..max {
        let a = get(addr, LIMITED_PATH).await;
        if a.status == 429 {
            return (a, Instant::now());
        }
        assert_eq!(a.status, 200, "request {i}: {}", a.body);
    }
    panic!("{max} requests and none was refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_http_over_the_limit_is_429_with_retry_after_and_the_error_body() {
    let cluster = one_master(1.0, 3).await;
    let addr = cluster.client_addr(1);
    let (refused, at) = http_until_refused(&addr, 20).await;
    assert_eq!(refused.code(), 38060, "{}", refused.body);
    let msg = refused.json()["error_msg"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("api-rate-limit") && msg.contains("retry"), "says what to do: {msg}");
    let retry_after: u64 = refused
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", refused.headers))
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after} at 1 request/s");

    // Probes and scrapes are never refused, even with the budget spent.
    for path in ["/health", "/metrics", "/status"] {
        let a = get(&addr, path).await;
        assert_eq!(a.status, 200, "{path}: {}", a.body);
    }

    // Waiting exactly the advised time is the behaviour under test: the next request succeeds.
    tokio::time::sleep_until((at + Duration::from_secs(retry_after)).into()).await;
    let a = get(&addr, LIMITED_PATH).await;
    assert_eq!(a.status, 200, "after Retry-After: {}", a.body);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t20_grpc_operator_calls_over_the_limit_are_resource_exhausted() {
    let cluster = one_master(1.0, 3).await;
    let mut raw = cluster.raw_client(1).await;
    let mut refused = None;
    for _ in 0..20 {
        match raw.list_member(ListMemberRequest::default()).await {
            Ok(r) => assert!(r.get_ref().result, "{:?}", r.get_ref()),
            Err(s) => {
                refused = Some(s);
                break;
            }
        }
    }
    let s = refused.expect("20 list-member calls and none was refused");
    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
    assert!(s.message().contains("[code=38060]") && s.message().contains("api-rate-limit"), "{s:?}");

    // The cluster client gives the refusal back at once instead of trying other masters.
    let started = Instant::now();
    // `dm ctl` prints the refusal with its own code.
    match dm::cluster_call!(cluster.client(&[1]), list_member, ListMemberRequest::default()) {
        Err(e @ dm::client::ClientError::Status(_)) => {
            let shown = e.to_user().to_string();
            assert!(shown.starts_with("[code=38060] too many requests"), "{shown}");
        }
        other => panic!("want RESOURCE_EXHAUSTED, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "answered at once: {:?}", started.elapsed());

    // gRPC and HTTP share the client's budget (one layer in front of both) …
    assert_eq!(get(&cluster.client_addr(1), LIMITED_PATH).await.status, 429);
    // … and the Health RPC, like /health, is a probe: never refused.
    for _ in 0..10 {
        raw.health(HealthRequest::default()).await.expect("Health is not limited");
    }
    cluster.shutdown().await;
}

/// Source → worker from list-member, or None while the call is refused.
async fn bindings(cluster: &TestCluster) -> Option<BTreeMap<String, String>> {
    let mut raw = cluster.raw_client(1).await;
    let req = ListMemberRequest { worker: true, ..Default::default() };
    let r = raw.list_member(req).await.ok()?.into_inner();
    let mut out = BTreeMap::new();
    for m in r.members {
        if let Some(members::Member::Worker(w)) = m.member {
            for w in w.workers.into_iter().filter(|w| !w.source.is_empty()) {
                out.insert(w.source, w.name);
            }
        }
    }
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t30_worker_heartbeats_are_never_limited() {
    const TTL: Duration = Duration::from_secs(3);
    let cluster = one_master(2.0, 10).await;
    let masters = vec![cluster.client_addr(1)];
    let audit = Audit::default();
    let mut worker = TestWorker::start("w1", &masters, TTL, &audit, false).await;
    let r = Ctl(masters.clone()).create_sources(&["s1"]).await;
    assert!(r.result, "{r:?}");
    let want: BTreeMap<String, String> = [("s1".to_string(), "w1".to_string())].into();
    wait_until_some(TIMEOUT, "s1 bound to w1", || async { bindings(&cluster).await.filter(|b| *b == want) }).await;

    // Spend the operator budget of 127.0.0.1 for longer than a keepalive TTL: the worker
    // heartbeats (every 200 ms) from the same address all the while.
    let mut raw = cluster.raw_client(1).await;
    let (mut refused, mut served) = (0, 0);
    let until = Instant::now() + TTL + Duration::from_secs(1);
    while Instant::now() < until {
        match raw.list_member(ListMemberRequest::default()).await {
            Ok(_) => served += 1,
            Err(s) if s.code() == Code::ResourceExhausted => refused += 1,
            Err(s) => panic!("{s:?}"),
        }
    }
    assert!(refused > served, "the budget was spent: {refused} refused, {served} served");

    // Had a heartbeat been refused, w1 would have fenced itself and lost s1 after the TTL.
    let after = wait_until_some(TIMEOUT, "list-member answers again", || bindings(&cluster)).await;
    assert_eq!(after, want, "the worker kept its source");
    let held = hold_for(Duration::from_secs(1), || async {
        match bindings(&cluster).await {
            Some(b) if b != want => Err(format!("{b:?}")),
            _ => Ok(()),
        }
    })
    .await;
    assert_eq!(held, Ok(()), "s1 stays on w1");
    audit.assert_no_overlap();
    worker.stop().await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t40_a_limit_of_zero_limits_nothing() {
    let cluster = one_master(0.0, 1).await;
    let addr = cluster.client_addr(1);
    // Well past the default burst (200) from one address, back to back.
    for i in 0..250 {
        let a = get(&addr, LIMITED_PATH).await;
        assert_eq!(a.status, 200, "HTTP request {i}: {}", a.body);
    }
    let mut raw = cluster.raw_client(1).await;
    for i in 0..250 {
        let r = raw.list_member(ListMemberRequest::default()).await;
        assert!(r.is_ok(), "gRPC call {i}: {r:?}");
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t50_a_request_forwarded_by_a_follower_is_counted_there_only() {
    let cluster = TestCluster::start_with(3, |cfg| cfg.api_rate = ApiRateLimit { rate: 1.0, burst: 3 }).await;
    let leader = cluster.wait_leader().await;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).expect("a follower");
    // Through the follower, which proxies each request to the leader: its own budget runs out …
    let (refused, _) = http_until_refused(&cluster.client_addr(follower), 20).await;
    assert_eq!(refused.code(), 38060, "{}", refused.body);
    // … while the leader did not count the forwarded requests against 127.0.0.1.
    let a = get(&cluster.client_addr(leader), LIMITED_PATH).await;
    assert_eq!(a.status, 200, "the leader counted forwarded requests: {}", a.body);
    cluster.shutdown().await;
}
