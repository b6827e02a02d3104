//! The Worker gRPC service the leader calls through its AgentPool: `QueryStatus`.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use super::WorkerShared;
use crate::pb::worker::worker_server::{Worker, WorkerServer};
use crate::pb::worker::{QueryStatusRequest, QueryStatusResponse};

pub struct WorkerService {
    shared: Arc<WorkerShared>,
}

#[tonic::async_trait]
impl Worker for WorkerService {
    async fn query_status(&self, req: Request<QueryStatusRequest>) -> Result<Response<QueryStatusResponse>, Status> {
        Ok(Response::new(self.shared.state.status(&req.into_inner().name).await))
    }
}

/// Serves until the worker shuts down.
pub async fn serve(listener: TcpListener, shared: Arc<WorkerShared>) {
    let shutdown = shared.shutdown.clone();
    let svc = WorkerServer::new(WorkerService { shared });
    let res = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(5)))
        .http2_keepalive_timeout(Some(Duration::from_secs(5)))
        .add_service(svc)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await;
    if let Err(e) = res {
        tracing::error!(error = %e, "worker server stopped");
    }
}
