//! The per-client rate limit on the client port (`api-rate-limit`, `api-rate-burst`): one axum
//! middleware in front of everything the port serves, HTTP and gRPC alike, keyed by the peer IP.
//!
//! Operator requests (the OpenAPI, dmctl's gRPC calls, anything unknown) are limited; probes,
//! scrapes and machine traffic bounded by design (worker protocol, master→master, the test/bench
//! key space) pass untouched — [`classify`] is the whole policy. Over the limit: HTTP 429 with
//! `Retry-After` and the API's error body, or gRPC RESOURCE_EXHAUSTED; both carry code 38060.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio_util::sync::CancellationToken;

use super::openapi::ApiError;
use crate::config::master::ApiRateLimit;
use crate::error::{Coded, ErrorCode, UserError};
use crate::node::NodeShared;
use crate::node::forward::FORWARDED_HEADER;

/// How often idle client addresses are dropped from the keyed store.
const RETAIN_INTERVAL: Duration = Duration::from_secs(60);

/// Whether a request counts against its client's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Operator traffic: the OpenAPI, dmctl's calls, and any path not listed as exempt.
    Limited,
    /// Never refused: probes, scrapes, and machine traffic bounded by the cluster's design.
    Exempt,
}

/// gRPC methods of `dm.master.Master` that are exempt, and why.
const EXEMPT_RPCS: &[&str] = &[
    // Worker protocol: one heartbeat per worker per interval, one stream per worker. In tests
    // and benchmarks a thousand workers share 127.0.0.1; throttling them would fence workers.
    "RegisterWorker",
    "WorkerHeartbeat",
    "WatchAssignments",
    "WorkerStopping",
    // Worker shard-DDL calls: one per DDL per upstream table and one ack each, bounded by the
    // upstream's DDL rate; a worker merging thousands of shards would otherwise be throttled
    // in the middle of a lock (and a refused ack leaves the lock waiting).
    "PutShardDdlInfo",
    "PutSourceTables",
    "AckShardDdl",
    // Master→master: joining and promotion (through --join's client addresses), campaign and
    // config requests (normally on the peer port); a handful per membership change.
    "JoinCluster",
    "PromoteMember",
    "Campaign",
    "GetMasterCfg",
    // This master's own view, the gRPC counterpart of /health: probes must not be refused.
    "Health",
    // The admin key space of tests and the write benchmark (thousands of puts/s from one
    // address); not part of dmctl or the OpenAPI.
    "KvPut",
    "KvGet",
    "KvDelete",
];

/// The policy: which requests the limit applies to, by path.
pub fn classify(path: &str) -> Class {
    match path {
        // Load balancers and Prometheus must never be refused; all three are local and cheap.
        "/health" | "/metrics" | "/status" => Class::Exempt,
        _ => match path.strip_prefix("/dm.master.Master/") {
            Some(method) if EXEMPT_RPCS.contains(&method) => Class::Exempt,
            _ => Class::Limited,
        },
    }
}

/// The keyed token buckets of one client port; `None` when the limit is off.
#[derive(Clone)]
pub struct ClientLimiter {
    limiter: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    /// For the messages: what the operator configured.
    limit: ApiRateLimit,
    /// To recognise a request a follower forwarded (already limited there).
    node: Arc<NodeShared>,
}

impl ClientLimiter {
    pub fn new(limit: ApiRateLimit, node: Arc<NodeShared>) -> Self {
        let limiter = (!limit.is_off()).then(|| {
            let burst = NonZeroU32::new(limit.burst.max(1)).expect("non-zero");
            let period = Duration::from_secs_f64(1.0 / limit.rate).max(Duration::from_nanos(1));
            let quota = Quota::with_period(period).expect("non-zero period").allow_burst(burst);
            Arc::new(RateLimiter::keyed(quota))
        });
        ClientLimiter { limiter, limit, node }
    }

    /// Drops idle addresses every minute until `shutdown`, so the store does not grow with every
    /// client that ever connected.
    pub fn spawn_retain(&self, shutdown: CancellationToken) {
        let Some(limiter) = self.limiter.clone() else { return };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETAIN_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {
                        limiter.retain_recent();
                        limiter.shrink_to_fit();
                    }
                }
            }
        });
    }

    /// `Err(wait)` when `ip` is over its budget.
    fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        let Some(l) = &self.limiter else { return Ok(()) };
        l.check_key(&ip).map_err(|not_until| not_until.wait_time_from(l.clock().now()))
    }

    /// A request forwarded by another master's OpenAPI proxy: that master limited it under the
    /// original client's address. Recognised by the header *and* a source IP that is a member's,
    /// so a client cannot skip the limit by setting the header.
    fn forwarded_by_member(&self, req: &Request, ip: IpAddr) -> bool {
        if !req.headers().contains_key(FORWARDED_HEADER) {
            return false;
        }
        let m = self.node.ctx.raft_metrics();
        let member_ip = |addr: &str| addr.parse::<SocketAddr>().ok().map(|a| a.ip());
        m.membership_config
            .membership()
            .nodes()
            .any(|(_, n)| member_ip(&n.client_addr) == Some(ip) || member_ip(&n.peer_addr) == Some(ip))
    }

    fn refusal(&self, ip: IpAddr, wait: Duration) -> UserError {
        UserError::new(
            ErrorCode::ApiRateLimited,
            format!(
                "too many requests from {ip}: over api-rate-limit ({}/s, burst {}); retry in {}s, or raise api-rate-limit in the master config",
                self.limit.rate,
                self.limit.burst,
                retry_after_secs(wait)
            ),
        )
    }
}

/// `Retry-After` in whole seconds, rounded up so a client that waits it gets a token.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// The middleware. Requests without a peer address (not served through `serve_client`) pass.
pub async fn limit(State(l): State<ClientLimiter>, req: Request, next: Next) -> Response {
    if l.limiter.is_none() || classify(req.uri().path()) == Class::Exempt {
        return next.run(req).await;
    }
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        return next.run(req).await;
    };
    let ip = peer.ip();
    if l.forwarded_by_member(&req, ip) {
        return next.run(req).await;
    }
    let Err(wait) = l.check(ip) else { return next.run(req).await };
    let err = l.refusal(ip, wait);
    tracing::debug!(%ip, path = req.uri().path(), "rate limited");
    let is_grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/grpc"));
    if is_grpc {
        return tonic::Status::resource_exhausted(err.to_string()).into_http();
    }
    let mut resp = ApiError::new(err.code(), err.message).into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs(wait)));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_calls_are_limited_and_machine_traffic_is_not() {
        let cases = [
            ("/api/v1/sources", Class::Limited),
            ("/api/v1/tasks/t1/status", Class::Limited),
            ("/api/v1/dm.json", Class::Limited),
            ("/no/such/path", Class::Limited),
            ("/dm.master.Master/ListMember", Class::Limited),
            ("/dm.master.Master/StartTask", Class::Limited),
            ("/dm.master.Master/QueryStatus", Class::Limited),
            ("/dm.master.Master/OperateLeader", Class::Limited),
            ("/dm.master.Master/NoSuchMethod", Class::Limited),
            ("/dm.master.Other/WorkerHeartbeat", Class::Limited),
            ("/health", Class::Exempt),
            ("/metrics", Class::Exempt),
            ("/status", Class::Exempt),
            ("/dm.master.Master/RegisterWorker", Class::Exempt),
            ("/dm.master.Master/WorkerHeartbeat", Class::Exempt),
            ("/dm.master.Master/WatchAssignments", Class::Exempt),
            ("/dm.master.Master/WorkerStopping", Class::Exempt),
            ("/dm.master.Master/PutShardDdlInfo", Class::Exempt),
            ("/dm.master.Master/AckShardDdl", Class::Exempt),
            ("/dm.master.Master/ShowDdlLocks", Class::Limited),
            ("/dm.master.Master/UnlockDdlLock", Class::Limited),
            ("/dm.master.Master/JoinCluster", Class::Exempt),
            ("/dm.master.Master/PromoteMember", Class::Exempt),
            ("/dm.master.Master/Health", Class::Exempt),
            ("/dm.master.Master/KvPut", Class::Exempt),
        ];
        for (path, want) in cases {
            assert_eq!(classify(path), want, "{path}");
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let cases = [(0, 1), (1, 1), (999_999_999, 1), (1_000_000_000, 1), (1_000_000_001, 2), (2_500_000_000, 3)];
        for (nanos, want) in cases {
            assert_eq!(retry_after_secs(Duration::from_nanos(nanos)), want, "{nanos} ns");
        }
    }
}
