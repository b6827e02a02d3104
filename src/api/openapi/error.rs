//! The API's error answer: DM's `{"error_code", "error_msg"}` with an HTTP status chosen from
//! the code — 4xx for the caller's mistakes, 5xx only for ours.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoResponses, ToSchema};

use crate::error::{Coded, ErrorCode};
use crate::scheduler::SchedError;

/// An error answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ErrorBody {
    /// Stable code (the same as `dm ctl` prints as `[code=N]`).
    pub error_code: i32,
    /// What went wrong and what to do.
    pub error_msg: String,
}

/// In the spec only (`responses(..., BodyErrors)`): the answers to a JSON body the handler
/// could not read. Nothing is changed.
#[derive(IntoResponses)]
#[allow(dead_code)] // never built: the handlers answer with `ApiError`
pub enum BodyErrors {
    /// Not JSON, unknown or missing fields, wrong types or values.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// The body is larger than 1 MiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not sent as `Content-Type: application/json`.
    #[response(status = 415)]
    NotJson(ErrorBody),
}

/// In the spec only (`responses(..., ServerErrors)`): the cluster's own trouble, possible on
/// every route that reaches the leader.
#[derive(IntoResponses)]
#[allow(dead_code)] // never built: the handlers answer with `ApiError`
pub enum ServerErrors {
    /// Raft or storage failed (the master's log says why); retry later.
    #[response(status = 500)]
    Internal(ErrorBody),
    /// No leader is reachable, or this master stopped leading; retry.
    #[response(status = 503)]
    Unavailable(ErrorBody),
    /// The cluster or the workers did not confirm in time; the outcome is unknown, read it back.
    #[response(status = 504)]
    Timeout(ErrorBody),
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

/// The HTTP status for an error code.
pub fn status_of(code: i32) -> StatusCode {
    use ErrorCode as E;
    let is = |c: E| c.as_i32() == code;
    if [
        E::WorkerNotFound,
        E::SourceNotFound,
        E::TaskNotFound,
        E::MemberNotFound,
        E::WorkerConfigUnknown,
        E::ShardLockNotFound,
    ]
    .into_iter()
    .any(is)
    {
        StatusCode::NOT_FOUND
    } else if [
        E::SourceExists,
        E::SourceHasTasks,
        E::SourcesUnbound,
        E::TaskExists,
        E::TaskBusy,
        E::WorkerNotFree,
        E::WorkerOnline,
        E::WorkerNameTaken,
        E::PreconditionFailed,
        E::LastVoter,
        E::NoOtherMaster,
        E::MemberStateInvalid,
        E::StaleEpoch,
        // Shard DDL: the lock or an operation is not in a state that allows the request; the
        // message says what to look at (`shard-ddl-lock`).
        E::ShardOpDone,
        E::ShardOpNotFound,
        E::ShardTableUnknown,
        E::ShardInfoChanged,
        E::ShardUnlockRefused,
    ]
    .into_iter()
    .any(is)
    {
        StatusCode::CONFLICT
    } else if [E::InvalidArgument, E::ShardDdlInvalid, E::ShardModeMismatch].into_iter().any(is)
        || (10000..12000).contains(&code)
    {
        StatusCode::BAD_REQUEST
    } else if [E::NotLeader, E::ClusterNotReady, E::ForwardFailed, E::ClusterUnreachable, E::WorkerUnreachable]
        .into_iter()
        .any(is)
    {
        StatusCode::SERVICE_UNAVAILABLE
    } else if is(E::ApiRateLimited) {
        StatusCode::TOO_MANY_REQUESTS
    } else if [E::Timeout, E::ExpectResultTimeout, E::ShardOwnerTimeout].into_iter().any(is) {
        // ShardOwnerTimeout: a worker did not act in time, like ExpectResultTimeout (the lock is
        // put back to waiting; retry, choose another owner, or force-remove).
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> Self {
        Self::with_status(status_of(code.as_i32()), code.as_i32(), msg)
    }

    pub fn with_status(status: StatusCode, code: i32, msg: impl Into<String>) -> Self {
        ApiError { status, body: ErrorBody { error_code: code, error_msg: msg.into() } }
    }

    /// A bad request that reached no operation (unknown field, bad JSON, bad value).
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::with_status(StatusCode::BAD_REQUEST, ErrorCode::InvalidArgument.as_i32(), msg)
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::with_status(StatusCode::NOT_FOUND, ErrorCode::InvalidArgument.as_i32(), msg)
    }

    /// An answer with DM's `result`/`msg`/`code` fields that said no.
    pub fn from_reply(code: i32, msg: String) -> Self {
        Self::with_status(status_of(code), code, msg)
    }
}

impl<E: Coded> From<E> for ApiError {
    fn from(e: E) -> Self {
        let u = e.to_user();
        Self::from_reply(u.code.as_i32(), u.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// What scheduler operations return to handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// Scheduler errors keep their own codes.
pub fn sched(e: SchedError) -> ApiError {
    e.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_client_or_server_statuses() {
        let cases = [
            (ErrorCode::SourceNotFound, 404),
            (ErrorCode::TaskNotFound, 404),
            (ErrorCode::TaskExists, 409),
            (ErrorCode::WorkerNotFree, 409),
            (ErrorCode::InvalidArgument, 400),
            (ErrorCode::SpecUnknownKey, 400),
            (ErrorCode::ConfigInvalid, 400),
            (ErrorCode::NotLeader, 503),
            (ErrorCode::Timeout, 504),
            (ErrorCode::ApiRateLimited, 429),
            (ErrorCode::RaftFailed, 500),
            (ErrorCode::StorageIo, 500),
            (ErrorCode::ShardLockNotFound, 404),
            (ErrorCode::ShardOpDone, 409),
            (ErrorCode::ShardOpNotFound, 409),
            (ErrorCode::ShardTableUnknown, 409),
            (ErrorCode::ShardInfoChanged, 409),
            (ErrorCode::ShardDdlInvalid, 400),
            (ErrorCode::ShardModeMismatch, 400),
            (ErrorCode::ShardUnlockRefused, 409),
            (ErrorCode::ShardOwnerTimeout, 504),
        ];
        for (code, want) in cases {
            assert_eq!(status_of(code.as_i32()).as_u16(), want, "{code:?}");
        }
    }
}
