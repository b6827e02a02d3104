//! The servers of a master: the client port (gRPC `Master`, the OpenAPI under `/api/v1`, and HTTP
//! `/status`, `/health`, `/metrics` on one port, as DM does) and the peer port (Raft, peer administration, and `Master`
//! again for master→master forwarding). The client port is rate-limited per client address
//! (`ratelimit.rs`); the peer port is not.

pub mod grpc;
pub mod http;
pub mod openapi;
pub mod ratelimit;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

use crate::net::MAX_MESSAGE_BYTES;
use crate::node::NodeShared;
use crate::node::announce::PeerAdminService;
use crate::pb::master::master_server::MasterServer;
use crate::pb::raft::peer_admin_server::PeerAdminServer;
use crate::pb::raft::raft_peer_server::RaftPeerServer;
use crate::raft::service::PeerService;

/// Serves Raft and peer administration until `shutdown`, with HTTP/2 keepalive so a dead peer's
/// connection is noticed.
pub async fn serve_peer(listener: TcpListener, node: Arc<NodeShared>, shutdown: CancellationToken) {
    let raft = RaftPeerServer::new(PeerService::new(node.ctx.raft.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let admin = PeerAdminServer::new(PeerAdminService::new(node.clone()));
    // The Master service again, for master→master forwarding and probes (see node::peers).
    let master = MasterServer::new(grpc::master::MasterService::new(node.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let res = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(5)))
        .http2_keepalive_timeout(Some(Duration::from_secs(5)))
        .add_service(raft)
        .add_service(admin)
        .add_service(master)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.cancelled_owned())
        .await;
    if let Err(e) = res {
        tracing::error!(error = %e, "peer server stopped");
    }
}

/// Serves gRPC and HTTP on the client port until `shutdown`, every request behind the
/// per-client rate limit (which needs the peer address: `into_make_service_with_connect_info`).
pub async fn serve_client(listener: TcpListener, node: Arc<NodeShared>, shutdown: CancellationToken) {
    let master = MasterServer::new(grpc::master::MasterService::new(node.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let grpc = tonic::service::Routes::new(master).prepare();
    let limiter = ratelimit::ClientLimiter::new(node.config.api_rate, node.clone());
    limiter.spawn_retain(shutdown.clone());
    let app = http::router(node.clone())
        .merge(openapi::router(node))
        .merge(grpc.into_axum_router())
        .layer(axum::middleware::from_fn_with_state(limiter, ratelimit::limit));
    // Without TCP_NODELAY small gRPC answers wait for delayed ACKs (~40 ms tails).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let res = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await;
    if let Err(e) = res {
        tracing::error!(error = %e, "client server stopped");
    }
}
