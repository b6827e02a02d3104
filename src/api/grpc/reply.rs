//! DM-style answers: every response has `result`, `msg` and a stable `code`; errors other than
//! NotLeader (which is a gRPC status so clients move on) are answers with `result = false`.

use tonic::{Response, Status};

use crate::error::Coded;
use crate::node::error::NodeError;
use crate::node::forward::not_leader_status;
use crate::pb::master::*;

/// A response type with the common result fields.
pub trait Reply: Default {
    fn set(&mut self, result: bool, msg: String, code: i32);
}

macro_rules! impl_reply {
    ($($t:ty),* $(,)?) => {$(
        impl Reply for $t {
            fn set(&mut self, result: bool, msg: String, code: i32) {
                self.result = result;
                self.msg = msg;
                self.code = code;
            }
        }
    )*};
}

impl_reply!(
    RegisterWorkerResponse,
    WorkerHeartbeatResponse,
    WorkerStoppingResponse,
    OperateSourceResponse,
    StartTaskResponse,
    CheckTaskResponse,
    GetCfgResponse,
    OperateTaskResponse,
    QueryStatusListResponse,
    TransferSourceResponse,
    ListMemberResponse,
    OfflineMemberResponse,
    OperateLeaderResponse,
    GetClusterInfoResponse,
    JoinClusterResponse,
    PromoteMemberResponse,
    CampaignResponse,
    KvPutResponse,
    KvGetResponse,
    KvDeleteResponse,
    ShardDdlResponse,
    ShowDdlLocksResponse,
    UnlockDdlLockResponse,
);

/// A successful answer built by `fill`.
pub fn ok<R: Reply>(fill: impl FnOnce(&mut R)) -> Result<Response<R>, Status> {
    let mut r = R::default();
    r.set(true, String::new(), 0);
    fill(&mut r);
    Ok(Response::new(r))
}

/// An error a handler can answer with: NotLeader becomes a status, the rest `result = false`.
pub trait ReplyError: Coded {
    fn as_not_leader(&self) -> Option<&NodeError>;
}

impl ReplyError for NodeError {
    fn as_not_leader(&self) -> Option<&NodeError> {
        matches!(self, NodeError::NotLeader { .. }).then_some(self)
    }
}

impl ReplyError for crate::error::UserError {
    fn as_not_leader(&self) -> Option<&NodeError> {
        None
    }
}

impl ReplyError for crate::scheduler::SchedError {
    fn as_not_leader(&self) -> Option<&NodeError> {
        match self {
            crate::scheduler::SchedError::Node(e) => e.as_not_leader(),
            _ => None,
        }
    }
}

impl ReplyError for crate::shardddl::error::ShardError {
    fn as_not_leader(&self) -> Option<&NodeError> {
        match self {
            crate::shardddl::error::ShardError::Node(e) => e.as_not_leader(),
            _ => None,
        }
    }
}

/// The answer for an error: NotLeader as a status, anything else as `result = false`.
pub fn err<R: Reply, E: ReplyError>(e: E) -> Result<Response<R>, Status> {
    if let Some(nl) = e.as_not_leader() {
        return Err(not_leader_status(nl));
    }
    let user = e.to_user();
    let mut r = R::default();
    r.set(false, user.to_string(), user.code.as_i32());
    Ok(Response::new(r))
}

/// Turns a handler's result into the gRPC answer.
pub fn answer<R: Reply, E: ReplyError>(res: Result<R, E>) -> Result<Response<R>, Status> {
    match res {
        Ok(mut r) => {
            r.set(true, String::new(), 0);
            Ok(Response::new(r))
        }
        Err(e) => err(e),
    }
}

/// Like [`answer`], but an `Ok` keeps the `result` and `msg` the handler set (answers whose
/// overall result is made of per-source results).
pub fn answer_as_is<R: Reply + HasResult, E: ReplyError>(res: Result<R, E>) -> Result<Response<R>, Status> {
    match res {
        Ok(mut r) => {
            let (result, msg) = r.result_msg();
            r.set(result, msg, 0);
            Ok(Response::new(r))
        }
        Err(e) => err(e),
    }
}

/// Read access to the common fields.
pub trait HasResult {
    fn result_msg(&self) -> (bool, String);
}

macro_rules! impl_has_result {
    ($($t:ty),* $(,)?) => {$(
        impl HasResult for $t {
            fn result_msg(&self) -> (bool, String) {
                (self.result, self.msg.clone())
            }
        }
    )*};
}

impl_has_result!(
    OperateSourceResponse,
    StartTaskResponse,
    OperateTaskResponse,
    WorkerHeartbeatResponse,
    UnlockDdlLockResponse
);

/// Like [`answer`], but an `Ok` keeps the `msg` the handler set (a success with notes).
pub fn answer_msg<R: Reply + HasResult, E: ReplyError>(res: Result<R, E>) -> Result<Response<R>, Status> {
    match res {
        Ok(mut r) => {
            let (_, msg) = r.result_msg();
            r.set(true, msg, 0);
            Ok(Response::new(r))
        }
        Err(e) => err(e),
    }
}
