//! HTTP on the client port: `/status` (JSON: name, version, role, leader), `/health` and
//! `/metrics` (Prometheus text).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::node::NodeShared;
use crate::raft::typ::ServerState;

pub fn router(node: Arc<NodeShared>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(node)
}

/// `/status` body.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Status {
    pub name: String,
    pub version: String,
    /// leader | follower | candidate | learner | shutdown
    pub role: String,
    /// The leader's name ("" while none is known).
    pub leader: String,
}

/// This node's role as an operator names it.
pub fn role(node: &NodeShared) -> &'static str {
    let m = node.ctx.raft_metrics();
    match m.state {
        ServerState::Leader => "leader",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
        ServerState::Follower => {
            let is_voter = m.membership_config.membership().voter_ids().any(|v| v == m.id);
            if is_voter { "follower" } else { "learner" }
        }
    }
}

pub fn status_of(node: &NodeShared) -> Status {
    Status {
        name: node.config.name.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        role: role(node).to_string(),
        leader: node.ctx.known_leader().map(|(_, n)| n.name).unwrap_or_default(),
    }
}

async fn status(State(node): State<Arc<NodeShared>>) -> Json<Status> {
    Json(status_of(&node))
}

async fn health(State(node): State<Arc<NodeShared>>) -> impl IntoResponse {
    match node.ctx.known_leader() {
        Some(_) => (StatusCode::OK, Json(serde_json::json!({"health": "true"}))),
        None => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"health": "false", "reason": "no leader"}))),
    }
}

async fn metrics(State(node): State<Arc<NodeShared>>) -> impl IntoResponse {
    // The Raft gauges are read at scrape time, so they are never older than the scrape.
    node.ctx.metrics.observe_raft(&node.ctx.raft_metrics());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], node.ctx.metrics.render())
}
