//! `/api/v1/cluster`: the cluster's id and leader, masters and workers, and taking an offline
//! member out (DM's shapes). Masters are read through the same code as `list-member`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tonic::Request;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody, ServerErrors, sched};
use super::extract::{ApiPath, Leader, read_view};
use crate::api::grpc::master::MasterService;
use crate::node::NodeShared;
use crate::pb::master::master_server::Master;
use crate::pb::master::{GetClusterInfoRequest, ListMemberRequest, OfflineMemberRequest, members};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterInfo {
    /// Random id chosen when the cluster was created.
    pub cluster_id: u64,
    pub leader_name: String,
    pub leader_addr: String,
}

/// A dm master.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterMaster {
    pub name: String,
    /// Answers its peers.
    pub alive: bool,
    /// Is the leader (the master serving this request).
    pub leader: bool,
    /// Client address (gRPC, HTTP and this API).
    pub addr: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MasterList {
    pub total: usize,
    pub data: Vec<ClusterMaster>,
}

/// A dm worker.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterWorker {
    pub name: String,
    pub addr: String,
    /// offline | free | bound | relay
    pub bound_stage: String,
    /// The source it works on ("" when none).
    pub bound_source_name: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkerList {
    pub total: usize,
    pub data: Vec<ClusterWorker>,
}

fn service(node: &Arc<NodeShared>) -> MasterService {
    MasterService::new(node.clone())
}

#[utoipa::path(get, path = "/api/v1/cluster/info", tag = "cluster",
    responses((status = 200, body = ClusterInfo), ServerErrors))]
pub async fn cluster_info(State(node): State<Arc<NodeShared>>) -> ApiResult<axum::Json<ClusterInfo>> {
    let r = service(&node).get_cluster_info(Request::new(GetClusterInfoRequest::default())).await?.into_inner();
    if !r.result {
        return Err(ApiError::from_reply(r.code, r.msg));
    }
    Ok(axum::Json(ClusterInfo { cluster_id: r.cluster_id, leader_name: r.leader_name, leader_addr: r.leader_addr }))
}

#[utoipa::path(get, path = "/api/v1/cluster/masters", tag = "cluster",
    responses((status = 200, body = MasterList), ServerErrors))]
pub async fn list_masters(State(node): State<Arc<NodeShared>>) -> ApiResult<axum::Json<MasterList>> {
    let req = ListMemberRequest { master: true, ..Default::default() };
    let r = service(&node).list_member(Request::new(req)).await?.into_inner();
    if !r.result {
        return Err(ApiError::from_reply(r.code, r.msg));
    }
    let mut data = Vec::new();
    for m in r.members {
        if let Some(members::Member::Master(list)) = m.member {
            for m in list.masters {
                data.push(ClusterMaster {
                    leader: m.name == node.info.name,
                    addr: m.client_urls.first().cloned().unwrap_or_default(),
                    name: m.name,
                    alive: m.alive,
                });
            }
        }
    }
    Ok(axum::Json(MasterList { total: data.len(), data }))
}

#[utoipa::path(delete, path = "/api/v1/cluster/masters/{master_name}", tag = "cluster", params(("master_name" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), ServerErrors))]
pub async fn offline_master(
    State(node): State<Arc<NodeShared>>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let req = OfflineMemberRequest { r#type: "master".into(), name };
    let r = service(&node).offline_member(Request::new(req)).await?.into_inner();
    if !r.result {
        return Err(ApiError::from_reply(r.code, r.msg));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/cluster/workers", tag = "cluster",
    responses((status = 200, body = WorkerList), ServerErrors))]
pub async fn list_workers(Leader(l): Leader) -> ApiResult<axum::Json<WorkerList>> {
    read_view(&l, |_| ()).await?;
    let data: Vec<ClusterWorker> = l
        .scheduler
        .list_workers(&[])
        .into_iter()
        .map(|w| ClusterWorker { name: w.name, addr: w.addr, bound_stage: w.stage, bound_source_name: w.source })
        .collect();
    Ok(axum::Json(WorkerList { total: data.len(), data }))
}

#[utoipa::path(delete, path = "/api/v1/cluster/workers/{worker_name}", tag = "cluster", params(("worker_name" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), ServerErrors))]
pub async fn offline_worker(Leader(l): Leader, ApiPath(name): ApiPath<String>) -> ApiResult<StatusCode> {
    l.scheduler.offline_worker(&name).await.map_err(sched)?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<tonic::Status> for ApiError {
    fn from(s: tonic::Status) -> Self {
        ApiError::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            crate::error::ErrorCode::NotLeader.as_i32(),
            format!("{}; retry", s.message()),
        )
    }
}
