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
);

/// A successful answer built by `fill`.
pub fn ok<R: Reply>(fill: impl FnOnce(&mut R)) -> Result<Response<R>, Status> {
    let mut r = R::default();
    r.set(true, String::new(), 0);
    fill(&mut r);
    Ok(Response::new(r))
}

/// The answer for an error: NotLeader as a status, anything else as `result = false`.
pub fn err<R: Reply>(e: NodeError) -> Result<Response<R>, Status> {
    if matches!(e, NodeError::NotLeader { .. }) {
        return Err(not_leader_status(&e));
    }
    let user = e.to_user();
    let mut r = R::default();
    r.set(false, user.to_string(), user.code.as_i32());
    Ok(Response::new(r))
}

/// Turns a handler's result into the gRPC answer.
pub fn answer<R: Reply>(res: Result<R, NodeError>) -> Result<Response<R>, Status> {
    match res {
        Ok(mut r) => {
            r.set(true, String::new(), 0);
            Ok(Response::new(r))
        }
        Err(e) => err(e),
    }
}
