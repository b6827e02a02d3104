//! AgentPool: the leader's master→worker calls, one client per worker address, rate-limited as a
//! whole with a token bucket (DM's `rpc-rate-limit` 10/s, `rpc-rate-burst` 40) so a fan-out over
//! thousands of workers cannot flood the leader or the network.
//!
//! A call first waits for a token until the caller's deadline (past it: DM's "fail to get emit
//! opportunity"; query-status then falls back to the worker's heartbeat report), then runs with
//! the call timeout. Clients connect lazily and reconnect on their own.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use thiserror::Error;
use tonic::transport::Channel;

use crate::error::{Coded, ErrorCode};
use crate::net::{MAX_MESSAGE_BYTES, dial};
use crate::pb::worker::worker_client::WorkerClient;
use crate::pb::worker::{QueryStatusRequest, QueryStatusResponse};

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum AgentError {
    #[error("fail to get emit opportunity for dm-worker {0} (rate limit); retry later")]
    RateLimited(String),
    #[error("dm-worker {worker} at {addr} did not answer: {reason}")]
    Unreachable { worker: String, addr: String, reason: String },
}

impl Coded for AgentError {
    fn code(&self) -> ErrorCode {
        ErrorCode::WorkerUnreachable
    }
}

/// Rate limit and timeout of master→worker calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentLimits {
    /// Calls per second, on average.
    pub rate: f64,
    /// Calls allowed at once above the rate.
    pub burst: u32,
    /// Bound on one call, waiting for a token included.
    pub timeout: Duration,
}

impl Default for AgentLimits {
    fn default() -> Self {
        Self { rate: 10.0, burst: 40, timeout: Duration::from_secs(10) }
    }
}

pub struct AgentPool {
    limiter: DefaultDirectRateLimiter,
    clients: Mutex<HashMap<String, WorkerClient<Channel>>>,
    timeout: Duration,
}

impl AgentPool {
    pub fn new(limits: AgentLimits) -> Self {
        let burst = NonZeroU32::new(limits.burst.max(1)).expect("non-zero");
        let period = Duration::from_secs_f64(1.0 / limits.rate.max(0.001));
        let quota = Quota::with_period(period).expect("non-zero period").allow_burst(burst);
        Self { limiter: RateLimiter::direct(quota), clients: Mutex::new(HashMap::new()), timeout: limits.timeout }
    }

    fn client(&self, addr: &str) -> Result<WorkerClient<Channel>, String> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(addr) {
            return Ok(c.clone());
        }
        let ch = dial(addr).map_err(|e| format!("bad address: {e}"))?;
        let c = WorkerClient::new(ch).max_decoding_message_size(MAX_MESSAGE_BYTES);
        clients.insert(addr.to_string(), c.clone());
        Ok(c)
    }

    /// Forgets the client of a removed worker.
    pub fn drop_client(&self, addr: &str) {
        self.clients.lock().unwrap_or_else(|e| e.into_inner()).remove(addr);
    }

    /// The bound on one call.
    pub fn call_timeout(&self) -> Duration {
        self.timeout
    }

    /// `QueryStatus` on one worker (all tasks when `task` is empty); waits for a rate-limit token
    /// until `token_deadline`.
    pub async fn query_status(
        &self,
        worker: &str,
        addr: &str,
        task: &str,
        token_deadline: tokio::time::Instant,
    ) -> Result<QueryStatusResponse, AgentError> {
        if tokio::time::timeout_at(token_deadline, self.limiter.until_ready()).await.is_err() {
            return Err(AgentError::RateLimited(worker.to_string()));
        }
        let deadline = tokio::time::Instant::now() + self.timeout;
        let unreachable =
            |reason: String| AgentError::Unreachable { worker: worker.to_string(), addr: addr.to_string(), reason };
        let mut client = self.client(addr).map_err(unreachable)?;
        let req = QueryStatusRequest { name: task.to_string() };
        match tokio::time::timeout_at(deadline, client.query_status(req)).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(s)) => Err(unreachable(s.message().to_string())),
            Err(_) => Err(unreachable(format!("timed out after {}s", self.timeout.as_secs()))),
        }
    }
}
