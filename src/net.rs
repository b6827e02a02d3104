//! Outbound gRPC channels: one place that sets connect timeouts, HTTP/2 keepalive and message
//! limits for every master→master and client→master connection.

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

/// Largest gRPC message we send or accept (Raft batches and snapshot chunks stay well below).
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// How long dialling a peer may take before the call fails as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A lazily connecting channel to `addr` (`host:port`); it reconnects on its own after failures.
pub fn dial(addr: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true)
        .connect_lazy())
}
