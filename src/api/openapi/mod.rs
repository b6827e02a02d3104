//! The OpenAPI on the client port under `/api/v1`, with DM's paths and shapes.
//!
//! A request is served like this:
//! 1. `/api/v1/dm.json` (the spec, generated from the handlers) is answered by any master.
//! 2. Every other route runs on the leader: a follower reverse-proxies the request to the
//!    leader's client address, once (`proxy.rs`); a forwarded request that meets no leader gets
//!    503 with code 38043.
//! 3. The handler checks its input (unknown JSON fields, bad values, bodies over 1 MiB are 4xx
//!    and change nothing), then calls the same scheduler operations as `dm ctl`.
//! 4. Errors are `{"error_code", "error_msg"}`: 4xx for the caller's mistakes, 5xx for ours.

mod cluster;
mod error;
mod extract;
mod proxy;
mod shard_locks;
mod sources;
mod task_json;
mod tasks;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ErrorBody};

use crate::node::NodeShared;

/// Bodies larger than this are refused with 413 before anything is read into memory.
pub const MAX_BODY_BYTES: usize = 1 << 20;

#[derive(OpenApi)]
#[openapi(
    info(title = "dm OpenAPI", description = "DM's /api/v1: sources, tasks and the cluster, served by any master"),
    tags(
        (name = "source", description = "upstream MySQL/MariaDB sources"),
        (name = "task", description = "migration tasks, their subtasks and their shard DDL locks"),
        (name = "cluster", description = "masters and workers"),
    )
)]
struct ApiDoc;

/// Everything under `/api/v1`.
pub fn router(node: Arc<NodeShared>) -> Router {
    let (api_routes, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(sources::list_sources, sources::create_source))
        .routes(routes!(sources::get_source, sources::delete_source))
        .routes(routes!(sources::source_status))
        .routes(routes!(sources::enable_source))
        .routes(routes!(sources::disable_source))
        .routes(routes!(sources::transfer_source))
        .routes(routes!(tasks::list_tasks, tasks::create_task))
        .routes(routes!(tasks::get_task, tasks::delete_task))
        .routes(routes!(tasks::task_status))
        .routes(routes!(tasks::start_task))
        .routes(routes!(tasks::stop_task))
        .routes(routes!(shard_locks::list_locks, shard_locks::unlock_lock, shard_locks::remove_lock))
        .routes(routes!(cluster::cluster_info))
        .routes(routes!(cluster::list_masters))
        .routes(routes!(cluster::offline_master))
        .routes(routes!(cluster::list_workers))
        .routes(routes!(cluster::offline_worker))
        .with_state(node.clone())
        .split_for_parts();
    let mut spec = spec;
    finish_spec(&mut spec);
    let spec = Arc::new(spec);
    let leader_only = api_routes
        .route("/api/v1/{*rest}", axum::routing::any(not_found))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(proxy::Proxy::new(node), proxy::to_leader));
    Router::new().route("/api/v1/dm.json", get(move || async move { Json(spec.as_ref().clone()) })).merge(leader_only)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no API route {}; the routes are listed in /api/v1/dm.json", uri.path()))
}

/// Completes the generated spec: every route may answer 429 (the per-client limit in
/// `api/ratelimit.rs` runs before them), and every response has the description OpenAPI
/// requires (utoipa leaves it out when a handler gives none).
fn finish_spec(spec: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let limited = ResponseBuilder::new()
        .description("over the per-client rate limit (`api-rate-limit`); retry after `Retry-After` seconds")
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
        .build();
    for item in spec.paths.paths.values_mut() {
        for op in
            [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch].into_iter().flatten()
        {
            op.responses.responses.insert("429".to_string(), limited.clone().into());
            for (code, answer) in op.responses.responses.iter_mut() {
                if let RefOr::T(r) = answer
                    && r.description.is_empty()
                {
                    let reason = code.parse::<u16>().ok().and_then(|c| axum::http::StatusCode::from_u16(c).ok());
                    let reason = reason.and_then(|c| c.canonical_reason()).unwrap_or("answer");
                    r.description = if code.starts_with('2') {
                        reason.to_string()
                    } else {
                        format!("{reason}: see error_code and error_msg")
                    };
                }
            }
        }
    }
}
