//! The `Master` gRPC service: any master accepts any call and serves it here if it leads, or
//! forwards it to the leader (see `node::forward`). `OperateLeader`, `Health`, `Campaign` and
//! `GetMasterCfg` act on the receiving master and are never forwarded; neither is `GetCfg` for a
//! master (the receiving master asks the named one directly).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use dm_storage::command::Expect;
use dm_storage::spaces::{Kv, MemberState};
use dm_storage::{Command, CommandOutput};
use futures::future::join_all;
use tonic::{Request, Response, Status};

use super::inspect;
use super::reply::{answer, answer_as_is, answer_msg, err, ok};
use super::scheduling as sched;
use crate::error::{Coded, ErrorCode, UserError};
use crate::node::NodeShared;
use crate::node::error::NodeError;
use crate::node::forward::{Route, forwarded, not_leader_status};
use crate::node::leader::LeaderHandle;
use crate::pb::master::master_server::Master;
use crate::pb::master::*;
use crate::shardddl::service as shard;

/// How long `operate-leader evict` waits for leadership to move, at least.
const HAND_OVER_WAIT: Duration = Duration::from_secs(10);

/// How long `list-member` waits for each master's health answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

pub struct MasterService {
    node: Arc<NodeShared>,
}

impl MasterService {
    pub fn new(node: Arc<NodeShared>) -> Self {
        Self { node }
    }
}

/// Serve locally when leading, else forward the call to the leader and return its answer.
macro_rules! leader_or_forward {
    ($self:ident, $req:ident, $method:ident) => {
        match $self.node.route(&$req).await? {
            Route::Local(leader) => leader,
            Route::Forward(mut client) => {
                return client.$method(forwarded($req, $self.node.config.rpc_timeout)).await;
            }
        }
    };
}

fn expect_from(rev: Option<u64>) -> Expect {
    match rev {
        None => Expect::Any,
        Some(0) => Expect::Absent,
        Some(r) => Expect::ModRevision(r),
    }
}

impl MasterService {
    async fn list_members(
        &self,
        leader: &LeaderHandle,
        req: ListMemberRequest,
    ) -> Result<ListMemberResponse, NodeError> {
        leader.ctx.linearizable().await?;
        let all = !req.leader && !req.master && !req.worker;
        let mut members = Vec::new();
        let me = self.node.info.clone();
        if all || req.leader {
            let m = ListLeaderMember { msg: String::new(), name: me.name.clone(), addr: me.client_addr.clone() };
            members.push(Members { member: Some(members::Member::Leader(m)) });
        }
        if all || req.master {
            let membership = leader.ctx.raft_metrics().membership_config.membership().clone();
            let voters: Vec<u64> = membership.voter_ids().collect();
            let wanted = |name: &str| req.names.is_empty() || req.names.iter().any(|n| n == name);
            let nodes: Vec<_> =
                membership.nodes().filter(|(_, n)| wanted(&n.name)).map(|(id, n)| (*id, n.clone())).collect();
            let probes = nodes.iter().map(|(id, n)| async move {
                if *id == self.node.ctx.node_id {
                    true
                } else {
                    self.node.peers.health(*id, &n.peer_addr, PROBE_TIMEOUT).await.is_some()
                }
            });
            let alive = join_all(probes).await;
            let mut masters: Vec<MasterInfo> = nodes
                .iter()
                .zip(alive)
                .map(|((id, n), alive)| MasterInfo {
                    name: n.name.clone(),
                    member_id: *id,
                    alive,
                    peer_urls: vec![format!("http://{}", n.peer_addr)],
                    client_urls: if n.client_addr.is_empty() {
                        vec![]
                    } else {
                        vec![format!("http://{}", n.client_addr)]
                    },
                    role: if voters.contains(id) { "voter" } else { "learner" }.to_string(),
                })
                .collect();
            // Reserved ids whose master has not become a member yet.
            for m in leader.members.get().members.values() {
                if m.state == MemberState::Joining && membership.get_node(&m.node_id).is_none() && wanted(&m.name) {
                    masters.push(MasterInfo {
                        name: m.name.clone(),
                        member_id: m.node_id,
                        alive: false,
                        peer_urls: vec![format!("http://{}", m.peer_addr)],
                        client_urls: vec![format!("http://{}", m.client_addr)],
                        role: "joining".to_string(),
                    });
                }
            }
            let m = ListMasterMember { msg: String::new(), masters };
            members.push(Members { member: Some(members::Member::Master(m)) });
        }
        if all || req.worker {
            let workers = leader.scheduler.list_workers(&req.names);
            let m = ListWorkerMember { msg: String::new(), workers };
            members.push(Members { member: Some(members::Member::Worker(m)) });
        }
        Ok(ListMemberResponse { members, ..Default::default() })
    }

    /// `config master <name>`: this master's effective config, or the named member's, asked
    /// directly on its peer port.
    async fn master_cfg(&self, name: &str) -> Result<GetCfgResponse, UserError> {
        if name.is_empty() || name == self.node.info.name {
            let cfg = crate::config::show::master_toml(&self.node.config);
            return Ok(GetCfgResponse { cfg, ..Default::default() });
        }
        let membership = self.node.ctx.raft_metrics().membership_config.membership().clone();
        let Some((id, info)) = membership.nodes().find(|(_, n)| n.name == name).map(|(id, n)| (*id, n.clone())) else {
            return Err(UserError::new(
                ErrorCode::MemberNotFound,
                format!("no master named {name}; check the names with `list-member --master`"),
            ));
        };
        let unreachable = |e: String| {
            UserError::new(
                ErrorCode::ForwardFailed,
                format!(
                    "master {name} ({}) did not answer: {e}; check that it runs (`list-member --master`) and retry",
                    info.peer_addr
                ),
            )
        };
        let mut client =
            self.node.peers.client(id, &info.peer_addr).await.map_err(|e| unreachable(e.message().to_string()))?;
        let timeout = self.node.config.rpc_timeout.min(PROBE_TIMEOUT * 5);
        let mut req = Request::new(GetMasterCfgRequest {});
        req.set_timeout(timeout);
        let r = tokio::time::timeout(timeout, client.get_master_cfg(req))
            .await
            .map_err(|_| unreachable(format!("no answer within {}s", timeout.as_secs())))?
            .map_err(|e| unreachable(e.message().to_string()))?
            .into_inner();
        Ok(GetCfgResponse { cfg: r.cfg, ..Default::default() })
    }

    async fn operate_leader_local(&self, op: LeaderOp) -> Result<OperateLeaderResponse, NodeError> {
        let ctx = &self.node.ctx;
        match op {
            LeaderOp::EvictLeader => {
                let voters = ctx.raft_metrics().membership_config.membership().voter_ids().count();
                if voters <= 1 {
                    return Err(NodeError::NoOtherMaster);
                }
                self.node.evicted.store(true, Ordering::SeqCst);
                ctx.raft.runtime_config().elect(false);
                let wait = (self.node.config.raft.election_timeout_max * 8).max(HAND_OVER_WAIT);
                self.node.hand_over.run(ctx, &self.node.peers, wait).await?;
                Ok(OperateLeaderResponse::default())
            }
            LeaderOp::CancelEvictLeader => {
                self.node.evicted.store(false, Ordering::SeqCst);
                ctx.raft.runtime_config().elect(true);
                ctx.raft.runtime_config().heartbeat(true);
                Ok(OperateLeaderResponse::default())
            }
            LeaderOp::InvalidLeaderOp => {
                Err(NodeError::InvalidArgument("operate-leader needs evict or cancel-evict".into()))
            }
        }
    }
}

#[tonic::async_trait]
impl Master for MasterService {
    type WatchAssignmentsStream = tokio_stream::wrappers::ReceiverStream<Result<Assignment, Status>>;

    async fn register_worker(
        &self,
        req: Request<RegisterWorkerRequest>,
    ) -> Result<Response<RegisterWorkerResponse>, Status> {
        let leader = leader_or_forward!(self, req, register_worker);
        answer(sched::register_worker(&leader, req.into_inner()).await)
    }

    async fn worker_heartbeat(
        &self,
        req: Request<WorkerHeartbeatRequest>,
    ) -> Result<Response<WorkerHeartbeatResponse>, Status> {
        let leader = leader_or_forward!(self, req, worker_heartbeat);
        answer_as_is(sched::heartbeat(&leader, req.into_inner()).map(|mut r| {
            r.result = !r.stale_epoch;
            r
        }))
    }

    /// Served by the leader only: a stream cannot be forwarded, so a follower answers NotLeader
    /// with the leader's address and the worker reconnects there.
    async fn watch_assignments(
        &self,
        req: Request<WatchAssignmentsRequest>,
    ) -> Result<Response<Self::WatchAssignmentsStream>, Status> {
        let leader = self.node.leader().map_err(|e| not_leader_status(&e))?;
        let r = req.into_inner();
        if !leader.scheduler.view.get().workers.contains_key(&r.worker) {
            let e = crate::scheduler::SchedError::WorkerNotFound(r.worker);
            return Err(Status::not_found(e.to_user().to_string()));
        }
        let stream = crate::scheduler::assign::watch(
            leader.ctx.reader.clone(),
            leader.scheduler.touched.clone(),
            r.worker,
            r.from_revision,
            leader.cancel_token(),
        );
        Ok(Response::new(stream))
    }

    async fn worker_stopping(
        &self,
        req: Request<WorkerStoppingRequest>,
    ) -> Result<Response<WorkerStoppingResponse>, Status> {
        let leader = leader_or_forward!(self, req, worker_stopping);
        let name = req.into_inner().name;
        answer(leader.scheduler.worker_stopping(&name).await.map(|_| WorkerStoppingResponse::default()))
    }

    async fn operate_source(
        &self,
        req: Request<OperateSourceRequest>,
    ) -> Result<Response<OperateSourceResponse>, Status> {
        let leader = leader_or_forward!(self, req, operate_source);
        answer_as_is(sched::operate_source(&leader, req.into_inner()).await)
    }

    async fn start_task(&self, req: Request<StartTaskRequest>) -> Result<Response<StartTaskResponse>, Status> {
        let leader = leader_or_forward!(self, req, start_task);
        answer_as_is(sched::start_task(&leader, req.into_inner()).await)
    }

    async fn operate_task(&self, req: Request<OperateTaskRequest>) -> Result<Response<OperateTaskResponse>, Status> {
        let leader = leader_or_forward!(self, req, operate_task);
        answer_as_is(sched::operate_task(&leader, req.into_inner()).await)
    }

    async fn query_status(
        &self,
        req: Request<QueryStatusListRequest>,
    ) -> Result<Response<QueryStatusListResponse>, Status> {
        let leader = leader_or_forward!(self, req, query_status);
        answer(sched::query_status(&leader, req.into_inner()).await)
    }

    async fn transfer_source(
        &self,
        req: Request<TransferSourceRequest>,
    ) -> Result<Response<TransferSourceResponse>, Status> {
        let leader = leader_or_forward!(self, req, transfer_source);
        answer(sched::transfer_source(&leader, req.into_inner()).await)
    }

    async fn put_shard_ddl_info(
        &self,
        req: Request<PutShardDdlInfoRequest>,
    ) -> Result<Response<ShardDdlResponse>, Status> {
        let leader = leader_or_forward!(self, req, put_shard_ddl_info);
        answer(shard::put_info(&leader, req.into_inner()).await)
    }

    async fn put_source_tables(
        &self,
        req: Request<PutSourceTablesRequest>,
    ) -> Result<Response<ShardDdlResponse>, Status> {
        let leader = leader_or_forward!(self, req, put_source_tables);
        answer(shard::put_source_tables(&leader, req.into_inner()).await)
    }

    async fn ack_shard_ddl(&self, req: Request<AckShardDdlRequest>) -> Result<Response<ShardDdlResponse>, Status> {
        let leader = leader_or_forward!(self, req, ack_shard_ddl);
        answer(shard::ack(&leader, req.into_inner()).await)
    }

    async fn show_ddl_locks(
        &self,
        req: Request<ShowDdlLocksRequest>,
    ) -> Result<Response<ShowDdlLocksResponse>, Status> {
        let leader = leader_or_forward!(self, req, show_ddl_locks);
        answer(shard::show(&leader, req.into_inner()).await)
    }

    async fn unlock_ddl_lock(
        &self,
        req: Request<UnlockDdlLockRequest>,
    ) -> Result<Response<UnlockDdlLockResponse>, Status> {
        let leader = leader_or_forward!(self, req, unlock_ddl_lock);
        answer_msg(shard::unlock(&leader, req.into_inner()).await)
    }

    async fn check_task(&self, req: Request<CheckTaskRequest>) -> Result<Response<CheckTaskResponse>, Status> {
        let leader = leader_or_forward!(self, req, check_task);
        Ok(Response::new(inspect::check_task(&leader, req.into_inner())))
    }

    /// A master's config is answered by that master (never forwarded to the leader); the rest
    /// comes from the leader's view.
    async fn get_cfg(&self, req: Request<GetCfgRequest>) -> Result<Response<GetCfgResponse>, Status> {
        if req.get_ref().r#type == CfgType::MasterType as i32 {
            return answer(self.master_cfg(&req.get_ref().name).await);
        }
        let leader = leader_or_forward!(self, req, get_cfg);
        answer(inspect::get_cfg(&leader, req.get_ref()))
    }

    async fn get_master_cfg(
        &self,
        _req: Request<GetMasterCfgRequest>,
    ) -> Result<Response<GetMasterCfgResponse>, Status> {
        let cfg = crate::config::show::master_toml(&self.node.config);
        Ok(Response::new(GetMasterCfgResponse { name: self.node.info.name.clone(), cfg }))
    }

    async fn list_member(&self, req: Request<ListMemberRequest>) -> Result<Response<ListMemberResponse>, Status> {
        let leader = leader_or_forward!(self, req, list_member);
        answer(self.list_members(&leader, req.into_inner()).await)
    }

    async fn offline_member(
        &self,
        req: Request<OfflineMemberRequest>,
    ) -> Result<Response<OfflineMemberResponse>, Status> {
        let leader = leader_or_forward!(self, req, offline_member);
        let req = req.into_inner();
        if req.name.is_empty() {
            return err(NodeError::InvalidArgument("offline-member needs --name".into()));
        }
        match req.r#type.as_str() {
            "master" => answer(leader.remove_member(&req.name).await.map(|_| OfflineMemberResponse::default())),
            "worker" => {
                answer(leader.scheduler.offline_worker(&req.name).await.map(|_| OfflineMemberResponse::default()))
            }
            other => err(NodeError::InvalidArgument(format!(
                "offline-member type \"{other}\" is not supported; use --master or --worker"
            ))),
        }
    }

    async fn operate_leader(
        &self,
        req: Request<OperateLeaderRequest>,
    ) -> Result<Response<OperateLeaderResponse>, Status> {
        let op = LeaderOp::try_from(req.into_inner().op).unwrap_or(LeaderOp::InvalidLeaderOp);
        answer(self.operate_leader_local(op).await)
    }

    async fn get_cluster_info(
        &self,
        req: Request<GetClusterInfoRequest>,
    ) -> Result<Response<GetClusterInfoResponse>, Status> {
        let leader = leader_or_forward!(self, req, get_cluster_info);
        let Some(cluster) = leader.cluster() else {
            return err(NodeError::from(dm_storage::Rejected::ClusterNotInitialized));
        };
        ok(|r: &mut GetClusterInfoResponse| {
            r.cluster_id = cluster.cluster_id;
            r.version = cluster.version;
            r.leader_name = self.node.info.name.clone();
            r.leader_addr = self.node.info.client_addr.clone();
            r.revision = leader.ctx.reader.revision();
        })
    }

    async fn health(&self, _req: Request<HealthRequest>) -> Result<Response<HealthResponse>, Status> {
        let m = self.node.ctx.raft_metrics();
        let cluster_id =
            self.node.ctx.reader.get::<dm_storage::spaces::Cluster>(&()).ok().flatten().map(|r| r.value.cluster_id);
        Ok(Response::new(HealthResponse {
            name: self.node.info.name.clone(),
            node_id: self.node.ctx.node_id,
            role: crate::api::http::role(&self.node).to_string(),
            leader_name: self.node.ctx.known_leader().map(|(_, n)| n.name).unwrap_or_default(),
            term: m.current_term,
            applied_index: m.last_applied.map(|l| l.index).unwrap_or(0),
            leader_ready: self.node.leadership.current().is_some(),
            cluster_id: cluster_id.unwrap_or(0),
            evicted: self.node.evicted.load(Ordering::SeqCst),
        }))
    }

    async fn join_cluster(&self, req: Request<JoinClusterRequest>) -> Result<Response<JoinClusterResponse>, Status> {
        let leader = leader_or_forward!(self, req, join_cluster);
        let r = req.into_inner();
        let res = leader.reserve_member(&r.name, &r.peer_addr, &r.client_addr).await;
        answer(res.map(|(node_id, cluster_id)| JoinClusterResponse { node_id, cluster_id, ..Default::default() }))
    }

    async fn promote_member(
        &self,
        req: Request<PromoteMemberRequest>,
    ) -> Result<Response<PromoteMemberResponse>, Status> {
        let leader = leader_or_forward!(self, req, promote_member);
        let r = req.into_inner();
        answer(leader.promote_member(&r.name, r.node_id).await.map(|_| PromoteMemberResponse::default()))
    }

    async fn campaign(&self, _req: Request<CampaignRequest>) -> Result<Response<CampaignResponse>, Status> {
        if self.node.evicted.load(Ordering::SeqCst) {
            return err(NodeError::InvalidArgument("this master is evicted from leadership".into()));
        }
        let res = self.node.ctx.raft.trigger().elect().await.map_err(|e| NodeError::Raft(e.to_string()));
        answer(res.map(|_| CampaignResponse::default()))
    }

    async fn kv_put(&self, req: Request<KvPutRequest>) -> Result<Response<KvPutResponse>, Status> {
        let leader = leader_or_forward!(self, req, kv_put);
        let r = req.into_inner();
        let cmd = Command::KvPut { key: r.key, value: r.value, expect: expect_from(r.expect_mod_revision) };
        answer(leader.ctx.propose(cmd).await.map(|a| KvPutResponse { revision: a.revision, ..Default::default() }))
    }

    async fn kv_get(&self, req: Request<KvGetRequest>) -> Result<Response<KvGetResponse>, Status> {
        if req.get_ref().serializable {
            return answer(kv_read(&self.node.ctx.reader, &req.into_inner().key));
        }
        let leader = leader_or_forward!(self, req, kv_get);
        if let Err(e) = leader.ctx.linearizable().await {
            return err(e);
        }
        answer(kv_read(&leader.ctx.reader, &req.into_inner().key))
    }

    async fn kv_delete(&self, req: Request<KvDeleteRequest>) -> Result<Response<KvDeleteResponse>, Status> {
        let leader = leader_or_forward!(self, req, kv_delete);
        let r = req.into_inner();
        let cmd = Command::KvDelete { key: r.key, expect: expect_from(r.expect_mod_revision) };
        answer(leader.ctx.propose(cmd).await.map(|a| KvDeleteResponse {
            revision: a.revision,
            existed: matches!(a.output, CommandOutput::KvDeleted { existed: true }),
            ..Default::default()
        }))
    }
}

fn kv_read(reader: &dm_storage::StateReader, key: &str) -> Result<KvGetResponse, NodeError> {
    let revision = reader.revision();
    let rec = reader.get::<Kv>(&key.to_string())?;
    Ok(match rec {
        None => KvGetResponse { revision, ..Default::default() },
        Some(r) => KvGetResponse {
            found: true,
            value: r.value.0,
            create_revision: r.create_revision,
            mod_revision: r.mod_revision,
            version: r.version,
            revision,
            ..Default::default()
        },
    })
}
