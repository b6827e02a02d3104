//! Request extractors that answer bad input with the API's error body (axum's own answer
//! plain text): JSON bodies (syntax, unknown fields, wrong types, too large), query strings, path
//! parameters, the leader handle, and a linearizable read of the scheduler view.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::error::ApiResult;
use crate::error::ErrorCode;
use crate::node::NodeShared;
use crate::node::leader::LeaderHandle;
use crate::scheduler::view::SchedView;

/// A JSON body; request types deny unknown fields.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match <axum::Json<T> as FromRequest<S>>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

/// An optional JSON body: none when the request has no body at all.
impl<T: DeserializeOwned, S: Send + Sync> OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let h = req.headers();
        let empty = h.get(axum::http::header::CONTENT_TYPE).is_none()
            && h.get(axum::http::header::CONTENT_LENGTH).is_none_or(|v| v == "0")
            && h.get(axum::http::header::TRANSFER_ENCODING).is_none();
        if empty {
            return Ok(None);
        }
        <ApiJson<T> as FromRequest<S>>::from_request(req, state).await.map(Some)
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    let status = e.status();
    let text = e.body_text();
    match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::with_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::InvalidArgument.as_i32(),
            "send the body as JSON with `Content-Type: application/json`",
        ),
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => ApiError::with_status(
            status,
            ErrorCode::InvalidArgument.as_i32(),
            format!("the body is larger than {} bytes", super::MAX_BODY_BYTES),
        ),
        _ => ApiError::bad_request(format!("{text}; see the request schema in /api/v1/dm.json")),
    }
}

/// A query string.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(query_rejection(e)),
        }
    }
}

fn query_rejection(e: QueryRejection) -> ApiError {
    ApiError::bad_request(format!("{}; see the parameters in /api/v1/dm.json", e.body_text()))
}

/// Path parameters (a segment that is not UTF-8 once percent-decoded is a 400).
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(path_rejection(e)),
        }
    }
}

fn path_rejection(e: PathRejection) -> ApiError {
    ApiError::bad_request(format!("{}; see the paths in /api/v1/dm.json", e.body_text()))
}

/// The leader components of this master (the proxy sent the request here because it leads; a
/// leadership lost since then is a 503).
pub struct Leader(pub Arc<LeaderHandle>);

impl FromRequestParts<Arc<NodeShared>> for Leader {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, node: &Arc<NodeShared>) -> Result<Self, ApiError> {
        node.leader().map(Leader).map_err(ApiError::from)
    }
}

/// Reads the scheduler's view after confirming leadership, so everything acknowledged before
/// the request is in it.
pub async fn read_view<T>(l: &LeaderHandle, f: impl FnOnce(&SchedView) -> T) -> ApiResult<T> {
    l.ctx.linearizable().await?;
    Ok(f(&l.scheduler.view.get()))
}
