//! Step 2 of the API: a follower reverse-proxies `/api/v1` requests to the leader's client
//! address, once. The leader (or a Raft leader whose components are still starting, waited for
//! briefly) serves them itself.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::error::ApiError;
use crate::error::ErrorCode;
use crate::node::NodeShared;
use crate::node::error::NodeError;
use crate::node::forward::{FORWARDED_HEADER, STARTING_LEADER_WAIT};
use crate::raft::typ::ServerState;

#[derive(Clone)]
pub struct Proxy {
    node: Arc<NodeShared>,
    client: Client<HttpConnector, Body>,
}

impl Proxy {
    pub fn new(node: Arc<NodeShared>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        Proxy { node, client: Client::builder(TokioExecutor::new()).build(connector) }
    }
}

pub async fn to_leader(State(p): State<Proxy>, req: Request, next: Next) -> Response {
    let node = &p.node;
    if node.leadership.current().is_some() {
        return next.run(req).await;
    }
    if node.ctx.raft_metrics().state == ServerState::Leader
        && node.leadership.wait(STARTING_LEADER_WAIT).await.is_some()
    {
        return next.run(req).await;
    }
    let leader = leader_with_address(node).await;
    let not_leader = NodeError::NotLeader { leader: leader.clone() };
    let Some((_, info)) = leader.filter(|_| !req.headers().contains_key(FORWARDED_HEADER)) else {
        return ApiError::from(not_leader).into_response();
    };
    if info.client_addr.is_empty() {
        let msg = format!("the leader {} has not announced its client address yet; retry in a moment", info.name);
        return ApiError::new(ErrorCode::ClusterNotReady, msg).into_response();
    }
    match forward(&p, &info.client_addr, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// The leader other than this node, waiting briefly while its client address is not announced
/// yet (a fresh leader announces it right after the election; see `node::announce`).
async fn leader_with_address(node: &NodeShared) -> Option<(crate::raft::typ::NodeId, dm_storage::NodeInfo)> {
    let deadline = tokio::time::Instant::now() + STARTING_LEADER_WAIT;
    loop {
        let leader = node.ctx.known_leader().filter(|(id, _)| *id != node.ctx.node_id);
        let known = leader.as_ref().is_some_and(|(_, info)| !info.client_addr.is_empty());
        if known || leader.is_none() || tokio::time::Instant::now() >= deadline {
            return leader;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn forward(p: &Proxy, leader_addr: &str, mut req: Request) -> Result<Response, ApiError> {
    let path = req.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or("/").to_string();
    let uri: Uri = format!("http://{leader_addr}{path}")
        .parse()
        .map_err(|e| ApiError::new(ErrorCode::ForwardFailed, format!("bad leader address {leader_addr}: {e}")))?;
    *req.uri_mut() = uri;
    req.headers_mut().insert(FORWARDED_HEADER, HeaderValue::from_static("1"));
    req.headers_mut().remove(axum::http::header::HOST);
    let timeout = p.node.config.rpc_timeout;
    let failed = |what: String| {
        ApiError::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ForwardFailed.as_i32(),
            format!("forwarding to the leader at {leader_addr} {what}; retry, or ask another master"),
        )
    };
    match tokio::time::timeout(timeout, p.client.request(req)).await {
        Ok(Ok(resp)) => Ok(resp.map(Body::new)),
        Ok(Err(e)) => Err(failed(format!("failed ({e})"))),
        Err(_) => Err(failed(format!("took longer than {}s (the outcome is unknown)", timeout.as_secs()))),
    }
}
